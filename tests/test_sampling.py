"""sample, topk_softmax, fit_temperature, expected_calibration_error.

Statistical tests use fixed seeds, so they are deterministic: a sampled
histogram must pass a chi-square goodness-of-fit test at p > 1e-4 against the
float64 oracle (softmax_c.reference_sampling), and tokens the oracle gives
probability 0 must never be drawn.  Kernel-level tests run on every target
this CPU supports (fixture ``target``).
"""
from __future__ import annotations

import numpy as np
import pytest

import softmax_c
from softmax_c import reference_sampling as ref

ALPHA = 1e-4  # chi-square significance level (fixed seeds: deterministic)


# `target` (every supported kernel table, restored after) comes from conftest.py.


@pytest.fixture
def threads():
    n = softmax_c.get_num_threads()
    yield
    softmax_c.set_num_threads(n)


def chi2_check(tokens, p, what):
    from scipy import stats

    counts = np.bincount(tokens, minlength=p.size)
    assert counts[p == 0].sum() == 0, f"{what}: drew excluded tokens {np.flatnonzero((p == 0) & (counts > 0))}"
    exp = p * tokens.size
    big = exp >= 5  # pool the small expected counts into one cell
    obs = np.append(counts[big], counts[~big].sum())
    ex = np.append(exp[big], exp[~big].sum())
    if ex[-1] == 0:
        obs, ex = obs[:-1], ex[:-1]
    if ex.size < 2:
        assert obs.sum() == tokens.size
        return
    pval = stats.chisquare(obs, ex).pvalue
    assert pval > ALPHA, f"{what}: chi-square p = {pval:.2e}"


ROW = np.array([2.0, 1.5, 0.3, -1.0, 0.9, 2.2, -3.0, 0.0, 1.1, -0.5])
WARPERS = [
    dict(temperature=1.0),
    dict(temperature=0.7),
    dict(temperature=1.8),
    dict(top_k=3),
    dict(top_k=1),
    dict(temperature=0.7, top_p=0.6),
    dict(top_p=0.93),
    dict(min_p=0.3),
    dict(temperature=1.3, top_k=6, top_p=0.8),
    dict(temperature=0.9, top_k=7, top_p=0.9, min_p=0.15),
    dict(top_p=0.9, min_p=0.05),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", WARPERS, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
def test_chi_square_small_vocab(target, kw, dtype):
    draws = 40000
    x = np.tile(ROW.astype(dtype), (draws, 1))
    tok = softmax_c.sample(x, seed=1234, **kw)
    p = ref.sampling_distribution(ROW, kw.get("temperature", 1.0), kw.get("top_k"), kw.get("top_p"),
                                  kw.get("min_p"))
    chi2_check(tok, p, str(kw))


@pytest.mark.parametrize("kw", [dict(temperature=0.8), dict(top_k=40), dict(top_p=0.7), dict(min_p=0.02),
                                dict(temperature=0.7, top_k=100, top_p=0.9, min_p=0.01)],
                         ids=str)
def test_chi_square_large_vocab(target, kw):
    # A peaked row of 3000 tokens; 64 rows per call, many calls (seeded).
    rng = np.random.default_rng(7)
    row = (rng.standard_normal(3000) * 2.5).astype(np.float32)
    p = ref.sampling_distribution(row.astype(np.float64), kw.get("temperature", 1.0), kw.get("top_k"),
                                  kw.get("top_p"), kw.get("min_p"))
    gen = np.random.default_rng(99)
    x = np.tile(row, (2000, 1))
    tok = np.concatenate([softmax_c.sample(x, seed=gen, **kw) for _ in range(10)])
    chi2_check(tok, p, str(kw))


def test_inverse_cdf_in_index_order():
    # With a Generator the uniforms are rng.random(rows); the token is the first
    # index whose running probability exceeds u.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((500, 77))
    tok = softmax_c.sample(x, temperature=0.8, seed=np.random.default_rng(11))
    u = np.random.default_rng(11).random(500)
    for r in range(500):
        c = np.cumsum(ref.sampling_distribution(x[r], 0.8))
        expect = int(np.searchsorted(c, u[r], side="right"))
        if tok[r] != expect:  # only on a rounding tie with the uniform
            assert abs(c[min(tok[r], expect)] - u[r]) < 1e-9


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32])
def test_greedy_is_argmax(target, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((37, 1000)) * 3).astype(dtype)
    x[5, [3, 700]] = x[5].max() + 1  # tie: lowest index wins
    x[6, :] = 1  # all tied
    got = softmax_c.sample(x, temperature=0, seed=0)
    assert got.dtype == np.int64 and got.shape == (37,)
    np.testing.assert_array_equal(got, np.argmax(x, axis=-1))
    assert got[5] == 3 and got[6] == 0
    got0 = softmax_c.sample(x.T, temperature=0, axis=0, top_k=5, top_p=0.3, min_p=0.5)
    np.testing.assert_array_equal(got0, np.argmax(x, axis=-1))
    # a temperature below 1/max of the dtype acts as greedy
    np.testing.assert_array_equal(softmax_c.sample(x, temperature=1e-320, seed=1), np.argmax(x, axis=-1))


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 31, 33, 64, 65, 129, 1000, 4097])
def test_lengths_and_excluded_tokens(target, n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((200, n)) * 2).astype(np.float32)
    for kw in [dict(), dict(top_k=3), dict(top_p=0.5), dict(min_p=0.5), dict(top_k=2, top_p=0.9, min_p=0.1)]:
        tok = softmax_c.sample(x, seed=5, **kw)
        assert ((tok >= 0) & (tok < n)).all()
        for r in range(0, 200, 7):
            p = ref.sampling_distribution(x[r].astype(np.float64), 1.0, kw.get("top_k"), kw.get("top_p"),
                                          kw.get("min_p"))
            assert p[tok[r]] > 0, (kw, r)


def test_ties_and_flat_rows(target):
    x = np.zeros((50, 1000), dtype=np.float32)
    tok = softmax_c.sample(x, top_k=10, seed=2)
    assert tok.max() < 10  # ties go to the lower index
    tok = softmax_c.sample(x, top_p=0.25, seed=3)
    assert tok.max() < 250
    tok = softmax_c.sample(x, min_p=1.0, seed=4)
    assert len(np.unique(tok)) > 10  # all tied at p_max: all kept


def test_big_vocabulary_membership(target):
    # The candidate threshold paths on a (8, 128256) batch: every token lies in
    # the oracle's kept set.
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((8, 128256)) * 2).astype(np.float32)
    for kw in [dict(temperature=0.7, top_p=0.9), dict(top_k=50), dict(top_p=0.3), dict(min_p=0.1),
               dict(temperature=1.5, top_k=1000, top_p=0.5)]:
        for s in range(3):
            tok = softmax_c.sample(x, seed=s, **kw)
            for r in range(8):
                p = ref.sampling_distribution(x[r].astype(np.float64), kw.get("temperature", 1.0),
                                              kw.get("top_k"), kw.get("top_p"), kw.get("min_p"))
                assert p[tok[r]] > 0, (kw, r)


def test_reproducible_and_layouts():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 5, 300)).astype(np.float32)
    a = softmax_c.sample(x, temperature=0.9, top_p=0.8, seed=42)
    b = softmax_c.sample(x, temperature=0.9, top_p=0.8, seed=42)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6, 5)
    c = softmax_c.sample(x, temperature=0.9, top_p=0.8, seed=np.random.default_rng(42))
    np.testing.assert_array_equal(a, c)
    # the vocabulary on another axis, non-contiguous views, float16/int/list
    np.testing.assert_array_equal(softmax_c.sample(np.moveaxis(x, 2, 0), axis=0, temperature=0.9, top_p=0.8,
                                                   seed=42), a)
    big = np.zeros((6, 5, 900), np.float32)
    big[..., ::3] = x
    np.testing.assert_array_equal(softmax_c.sample(big[..., ::3], temperature=0.9, top_p=0.8, seed=42), a)
    assert isinstance(softmax_c.sample(x[0, 0], seed=1), np.integer)
    assert softmax_c.sample([1, 2, 3], seed=1).shape == ()
    softmax_c.sample(x.astype(np.float16), seed=1)
    softmax_c.sample(np.arange(10), seed=1)
    assert softmax_c.sample(np.zeros((0, 4)), seed=1).shape == (0,)


def test_thread_count_invariance(threads):
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((64, 20000)) * 2).astype(np.float32)
    outs = []
    for nt in (1, 2, 3):
        softmax_c.set_num_threads(nt)
        outs.append([softmax_c.sample(x, seed=7, **kw) for kw in
                     (dict(), dict(top_k=20), dict(top_p=0.9, temperature=0.7), dict(min_p=0.05))]
                    + [softmax_c.topk_softmax(x, 8)[1], softmax_c.topk_softmax(x, 8)[0]])
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            np.testing.assert_array_equal(a, b)
    z = x[:, :50].astype(np.float64)
    y = z.argmax(1)
    y[::3] = 0
    softmax_c.set_num_threads(1)
    t1 = softmax_c.fit_temperature(z, y)
    softmax_c.set_num_threads(2)
    assert softmax_c.fit_temperature(z, y) == t1


@pytest.mark.parametrize("bad", ["nan", "inf", "allneg"])
def test_invalid_rows(target, bad):
    x = np.zeros((3, 4, 17))
    x[1, 2, 5] = {"nan": np.nan, "inf": np.inf, "allneg": -np.inf}[bad]
    if bad == "allneg":
        x[1, 2, :] = -np.inf
    for kw in (dict(), dict(temperature=0), dict(top_k=2), dict(top_p=0.5)):
        with pytest.raises(ValueError, match=r"row \(1, 2\)"):
            softmax_c.sample(x, seed=0, **kw)
    with pytest.raises(ValueError, match=r"row \(1, 2\)"):
        softmax_c.topk_softmax(x, 3)
    # -inf entries in an otherwise valid row are never drawn
    y = np.array([-np.inf, 0.0, -np.inf, 0.0])
    tok = softmax_c.sample(np.tile(y, (1000, 1)), seed=0)
    assert set(np.unique(tok)) == {1, 3}


def test_sample_errors():
    x = np.zeros((2, 5))
    bad = [
        (dict(temperature=-1.0), ValueError), (dict(temperature=np.inf), ValueError),
        (dict(temperature=np.nan), ValueError), (dict(temperature="1"), TypeError),
        (dict(top_k=0), ValueError), (dict(top_k=2.0), TypeError), (dict(top_k=True), TypeError),
        (dict(top_p=0.0), ValueError), (dict(top_p=1.5), ValueError), (dict(top_p=np.nan), ValueError),
        (dict(top_p="a"), TypeError), (dict(min_p=-0.1), ValueError), (dict(min_p=1.1), ValueError),
        (dict(min_p=None, top_p=None, axis=2), np.exceptions.AxisError), (dict(axis=1.0), TypeError),
        (dict(seed=-1), ValueError), (dict(seed="x"), TypeError), (dict(seed=1.5), TypeError),
    ]
    for kw, exc in bad:
        with pytest.raises(exc):
            softmax_c.sample(x, **kw)
    with pytest.raises(TypeError):
        softmax_c.sample(np.zeros(4, complex))
    with pytest.raises(TypeError):
        softmax_c.sample([[1, 2], [3]])
    with pytest.raises(ValueError, match="empty vocabulary"):
        softmax_c.sample(np.zeros((3, 0)))
    with pytest.raises(ValueError):
        softmax_c.sample(np.float64(1.0))
    # validation happens before a Generator is used
    g = np.random.default_rng(0)
    with pytest.raises(ValueError):
        softmax_c.sample(x, top_p=2, seed=g)
    assert g.random() == np.random.default_rng(0).random()


# ------------------------------------------------------------ topk_softmax --

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 5, 17, 100, 999, 1000])
def test_topk_softmax_matches_reference(target, dtype, k):
    rng = np.random.default_rng(k)
    x = rng.standard_normal((9, 1000)).astype(dtype)
    x[0] = np.round(x[0] * 2)  # many ties
    x[1, :] = 3.0
    for t in (1.0, 0.6):
        p, i = softmax_c.topk_softmax(x, k, temperature=t)
        rp, ri = ref.topk_softmax(x.astype(np.float64), k, t)
        assert p.dtype == dtype and i.dtype == np.int64 and p.shape == (9, k)
        np.testing.assert_array_equal(i, ri)
        np.testing.assert_allclose(p, rp, rtol=3e-6 if dtype == np.float32 else 1e-13, atol=1e-30)


def test_topk_softmax_axes_and_dtypes():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 300, 3))
    p, i = softmax_c.topk_softmax(x, 5, axis=1)
    assert p.shape == i.shape == (4, 5, 3)
    rp, ri = ref.topk_softmax(np.moveaxis(x, 1, -1), 5)
    np.testing.assert_array_equal(np.moveaxis(i, 1, -1), ri)
    np.testing.assert_allclose(np.moveaxis(p, 1, -1), rp, rtol=1e-13)
    p16, _ = softmax_c.topk_softmax(x.astype(np.float16), 3)
    assert p16.dtype == np.float16
    pi, _ = softmax_c.topk_softmax(np.arange(10), 2)
    assert pi.dtype == np.float64
    p1, i1 = softmax_c.topk_softmax(np.log([0.1, 0.6, 0.3]), 2)
    np.testing.assert_array_equal(i1, [1, 2])
    np.testing.assert_allclose(p1, [0.6, 0.3])


def test_topk_softmax_errors():
    x = np.zeros((2, 5))
    for k, exc in [(0, ValueError), (6, ValueError), (2.0, TypeError), (True, TypeError)]:
        with pytest.raises(exc):
            softmax_c.topk_softmax(x, k)
    with pytest.raises(ValueError):
        softmax_c.topk_softmax(x, 2, temperature=0)
    with pytest.raises(TypeError):
        softmax_c.topk_softmax(np.zeros(3, complex), 1)
    with pytest.raises(ValueError, match="empty vocabulary"):
        softmax_c.topk_softmax(np.zeros((2, 0)), 1)


# ------------------------------------------------------------- calibration --

_FIT_CASES = {}


def _fit_case(T):
    if T not in _FIT_CASES:  # data and oracle shared by the targets and dtypes
        rng = np.random.default_rng(int(T * 10))
        z = rng.standard_normal((20000, 12)) * 3
        y = softmax_c.sample(z, temperature=T, seed=rng)
        _FIT_CASES[T] = (z, y, ref.fit_temperature(z, y))
    return _FIT_CASES[T]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [0.5, 1.0, 2.0, 3.5])
def test_fit_temperature_recovers_T(target, dtype, T):
    z, y, t_ref = _fit_case(T)
    got = softmax_c.fit_temperature(z.astype(dtype), y)
    assert abs(got / T - 1) < 0.02, got
    assert abs(got / t_ref - 1) < 1e-4


def test_fit_temperature_errors():
    z = np.array([[2.0, 0.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match="T -> 0"):
        softmax_c.fit_temperature(z, [0, 1])
    with pytest.raises(ValueError, match="T -> inf"):
        softmax_c.fit_temperature(z, [1, 0])
    with pytest.raises(ValueError):
        softmax_c.fit_temperature(np.array([[np.nan, 0.0]]), [0])
    with pytest.raises(ValueError):
        softmax_c.fit_temperature(z, [0, 2])
    with pytest.raises(ValueError):
        softmax_c.fit_temperature(z, [0])
    with pytest.raises(TypeError):
        softmax_c.fit_temperature(z, [0.0, 1.0])
    with pytest.raises(ValueError):
        softmax_c.fit_temperature(np.zeros((0, 3)), np.zeros(0, int))


def test_expected_calibration_error():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((5000, 7)) * 2
    probs = softmax_c.softmax(logits, axis=1)
    y = rng.integers(0, 7, 5000)
    for nb in (1, 10, 15, 40):
        assert softmax_c.expected_calibration_error(probs, y, n_bins=nb) == pytest.approx(
            ref.expected_calibration_error(probs, y, nb), rel=1e-12, abs=1e-15)
    # confidences on the bin edges go to the bin (lo, hi]
    edges = np.linspace(0, 1, 16)
    p = np.stack([edges[1:], 1 - edges[1:]], axis=1)
    lab = np.zeros(15, int)
    assert softmax_c.expected_calibration_error(p, lab) == pytest.approx(ref.expected_calibration_error(p, lab))
    assert softmax_c.expected_calibration_error(probs.astype(np.float32), y) == pytest.approx(
        ref.expected_calibration_error(probs.astype(np.float32), y), rel=1e-6)
    assert softmax_c.expected_calibration_error([[0.9, 0.1], [0.6, 0.4]], [0, 1]) == pytest.approx(0.35)
    with pytest.raises(ValueError):
        softmax_c.expected_calibration_error(probs, y, n_bins=0)
    with pytest.raises(TypeError):
        softmax_c.expected_calibration_error(probs, y, n_bins=2.0)
    with pytest.raises(ValueError):
        softmax_c.expected_calibration_error(-probs, y)
    with pytest.raises(ValueError):
        softmax_c.expected_calibration_error(probs, y[:10])


@pytest.mark.parametrize("kw", [dict(top_p=0.95), dict(temperature=0.7, top_p=0.95), dict(top_p=0.97, min_p=0.005),
                                dict(temperature=0.5, top_p=0.9)], ids=str)
def test_chi_square_flat_big_nucleus(target, kw):
    # Flat N(0, 1) logits: the nucleus holds hundreds to thousands of tokens and
    # the bound e >= 2^-6 holds less mass than top_p but > n/32 tokens, so the top-p
    # boundary comes from the mass histogram path (cpp/src/sampling/driver.cpp).  Tokens are
    # grouped into 40 runs of equal expected mass (index order) for the test.
    rng = np.random.default_rng(21)
    row = rng.standard_normal(8192).astype(np.float32)
    p = ref.sampling_distribution(row.astype(np.float64), kw.get("temperature", 1.0), None, kw.get("top_p"),
                                  kw.get("min_p"))
    assert (p > 0).sum() > 300
    x = np.broadcast_to(row, (12000, row.size))  # row stride 0
    tok = softmax_c.sample(x, seed=5, **kw)
    assert (p[tok] > 0).all(), "drew an excluded token"
    group = np.minimum((np.cumsum(p) - p / 2) * 40, 39).astype(int)
    chi2_check(group[tok], np.bincount(group, weights=p, minlength=40), str(kw))


# ------------------------------------------------------------------- out= --

def test_sample_out():
    rng = np.random.default_rng(21)
    x = rng.standard_normal((3, 4, 50))
    exp = softmax_c.sample(x, top_k=5, seed=3)
    out = np.full((3, 4), -7, np.int64)
    assert softmax_c.sample(x, top_k=5, seed=3, out=out) is out
    np.testing.assert_array_equal(out, exp)
    strided = np.full((4, 6), -7, np.int64)[:, ::2].T  # (3, 4), non-contiguous
    softmax_c.sample(x, top_k=5, seed=3, out=strided)
    np.testing.assert_array_equal(strided, exp)
    out1 = np.full((3, 4), -7, np.int64)  # axis=1: the shape without that axis
    softmax_c.sample(np.moveaxis(x, 2, 1), axis=1, top_k=5, seed=3, out=out1)
    np.testing.assert_array_equal(out1, exp)
    out0 = np.zeros((), np.int64)
    assert softmax_c.sample(x[0, 0], temperature=0, out=out0) is out0
    assert out0 == np.argmax(x[0, 0])


@pytest.mark.parametrize("out,exc,words", [
    (np.zeros((3,), np.int64), ValueError, "shape"),
    (np.zeros((3, 4), np.int32), TypeError, "dtype"),
    ([0] * 12, TypeError, "out"),
])
def test_sample_bad_out_untouched(out, exc, words):
    x = np.zeros((3, 4, 5))
    gen = np.random.default_rng(0)
    state = gen.bit_generator.state
    with pytest.raises(exc, match=words):
        softmax_c.sample(x, seed=gen, out=out)
    assert gen.bit_generator.state == state, "uniforms drawn before out was checked"
    assert np.all(np.asarray(out) == 0)


def test_sample_out_readonly_and_invalid_row():
    out = np.zeros((2,), np.int64)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        softmax_c.sample(np.zeros((2, 3)), out=out)
    out = np.full((2,), 9, np.int64)
    x = np.zeros((2, 3))
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"row \(1,\)"):
        softmax_c.sample(x, seed=0, out=out)
    assert np.all(out == 9), "out written for a call that failed"


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_topk_softmax_out(axis):
    rng = np.random.default_rng(22)
    x = rng.standard_normal((6, 7, 8)).astype(np.float32)
    ep, ei = softmax_c.topk_softmax(x, 3, axis=axis, temperature=0.7)
    p = np.full(ep.shape, 42.0, np.float32)
    i = np.full(ei.shape, 42, np.int64)
    got = softmax_c.topk_softmax(x, 3, axis=axis, temperature=0.7, out=(p, i))
    assert got[0] is p and got[1] is i
    np.testing.assert_array_equal(p, ep)
    np.testing.assert_array_equal(i, ei)
    p16 = np.zeros((6, 7, 3), np.float16)
    softmax_c.topk_softmax(x.astype(np.float16), top_k=3, out=(p16, np.zeros((6, 7, 3), np.int64)))
    np.testing.assert_array_equal(p16, softmax_c.topk_softmax(x.astype(np.float16), 3)[0])


@pytest.mark.parametrize("out,exc,words", [
    ((np.zeros((2, 3)), np.zeros((2, 2), np.int64)), ValueError, r"out\[0\]"),
    ((np.zeros((2, 2), np.float32), np.zeros((2, 2), np.int64)), TypeError, r"out\[0\]"),
    ((np.zeros((2, 2)), np.zeros((2, 2), np.int32)), TypeError, r"out\[1\]"),
    (np.zeros((2, 2)), TypeError, "tuple"),
    ((np.zeros((2, 2)),), TypeError, "tuple"),
])
def test_topk_softmax_bad_out_untouched(out, exc, words):
    with pytest.raises(exc, match=words):
        softmax_c.topk_softmax(np.zeros((2, 5)), 2, out=out)
    for o in (out if isinstance(out, tuple) else (out,)):
        assert np.all(o == 0)


def test_topk_softmax_out_readonly_and_invalid_row():
    p, i = np.zeros((2, 2)), np.zeros((2, 2), np.int64)
    i.flags.writeable = False
    with pytest.raises(ValueError, match=r"out\[1\] is read-only"):
        softmax_c.topk_softmax(np.zeros((2, 5)), 2, out=(p, i))
    x = np.zeros((2, 5))
    x[0, 1] = np.inf
    i = np.zeros((2, 2), np.int64)
    with pytest.raises(ValueError, match=r"row \(0,\)"):
        softmax_c.topk_softmax(x, 2, out=(p, i))
    assert np.all(p == 0) and np.all(i == 0)


def test_topk_softmax_top_k_named():
    x = np.log([0.1, 0.6, 0.3])
    p, i = softmax_c.topk_softmax(x, top_k=2)
    np.testing.assert_array_equal(i, [1, 2])
    with pytest.raises(ValueError, match="top_k"):
        softmax_c.topk_softmax(x, 4)
    with pytest.raises(TypeError, match="top_k"):
        softmax_c.topk_softmax(x, 2.0)
