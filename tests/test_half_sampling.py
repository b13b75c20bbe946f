"""float16 / bfloat16 logits in the sampling family (sample, topk_softmax,
verify_draft, fit_temperature): the kernels widen half rows in registers and
compute in float32, so every result must be exactly the float32 call's on the
exactly widened array (same seed), on every target, in every layout; and
topk_softmax's probabilities come back in the input dtype, the float32 values
rounded once (nearest even), within the half dtype's rounding of the float64
oracle (softmax_c.reference_sampling).
"""
from __future__ import annotations

import numpy as np
import pytest

import softmax_c
from conftest import make_layout
from softmax_c import reference_sampling as ref

ml_dtypes = pytest.importorskip("ml_dtypes")

HALVES = [np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)]
HALF_IDS = ["float16", "bfloat16"]
# Half-ulp of the dtype (relative): the one rounding of a probability.
EPS = {np.dtype(np.float16): 2.0**-11, np.dtype(ml_dtypes.bfloat16): 2.0**-8}

WARPERS = [dict(), dict(top_k=1), dict(top_k=20), dict(top_p=0.9), dict(top_p=0.3, temperature=0.7),
           dict(min_p=0.1), dict(top_k=50, top_p=0.95, min_p=0.02), dict(temperature=0)]


def _logits(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _wide(h):
    return h.astype(np.float32)


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
@pytest.mark.parametrize("n", [1, 7, 16, 33, 65, 257, 1025, 4097])
def test_sample_is_the_float32_call(target, dtype, n):
    rng = np.random.default_rng(n)
    h = _logits(rng, (24, n), dtype)
    for kw in WARPERS:
        got = softmax_c.sample(h, seed=3, **kw)
        np.testing.assert_array_equal(got, softmax_c.sample(_wide(h), seed=3, **kw), err_msg=str(kw))
        assert ((got >= 0) & (got < n)).all()
        for r in range(0, 24, 5):  # never a token the oracle excludes
            p = ref.sampling_distribution(_wide(h[r]), kw.get("temperature", 1.0), kw.get("top_k"),
                                          kw.get("top_p"), kw.get("min_p"))
            assert p[got[r]] > 0, (kw, r)


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_sample_big_flat_nucleus(target, dtype):
    # flat rows with top-p: the nucleus exceeds n/32, the histogram path
    rng = np.random.default_rng(7)
    h = (rng.standard_normal((6, 40000)) * 0.05).astype(dtype)
    for kw in [dict(top_p=0.9), dict(top_p=0.5, min_p=0.001), dict(top_k=5000, top_p=0.8)]:
        got = softmax_c.sample(h, seed=11, **kw)
        np.testing.assert_array_equal(got, softmax_c.sample(_wide(h), seed=11, **kw), err_msg=str(kw))


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
@pytest.mark.parametrize("layout", ["strided", "negative", "transposed", "misaligned", "broadcast"])
def test_sample_and_topk_layouts(target, dtype, layout):
    rng = np.random.default_rng(5)
    h = make_layout(_logits(rng, (3, 5, 300), dtype), layout)
    w = _wide(h)
    for ax in (-1, 0, 1):
        kw = dict(top_k=30, top_p=0.9)
        np.testing.assert_array_equal(softmax_c.sample(h, axis=ax, seed=2, **kw),
                                      softmax_c.sample(w, axis=ax, seed=2, **kw))
        p, i = softmax_c.topk_softmax(h, 3, axis=ax)
        p32, i32 = softmax_c.topk_softmax(w, 3, axis=ax)
        np.testing.assert_array_equal(i, i32)
        assert p.dtype == dtype
        np.testing.assert_array_equal(p.view(np.uint16), p32.astype(dtype).view(np.uint16))


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
@pytest.mark.parametrize("n,k", [(1, 1), (9, 3), (100, 50), (3000, 50), (3000, 3000)])
def test_topk_softmax_rounds_once(target, dtype, n, k):
    rng = np.random.default_rng(n + k)
    h = _logits(rng, (10, n), dtype)
    for t in (1.0, 0.6):
        p, i = softmax_c.topk_softmax(h, k, temperature=t)
        p32, i32 = softmax_c.topk_softmax(_wide(h), k, temperature=t)
        assert p.dtype == dtype and p.shape == (10, k)
        np.testing.assert_array_equal(i, i32)
        np.testing.assert_array_equal(p.view(np.uint16), p32.astype(dtype).view(np.uint16))
        pr, ir = ref.topk_softmax(_wide(h).astype(np.float64), k, t)
        np.testing.assert_array_equal(i, ir)
        pf = p.astype(np.float64)
        err = np.abs(pf - pr) / np.maximum(pr, 1e-30)
        # one half rounding plus the float32 sum; float16 subnormals: absolute
        small = pr < (6.2e-5 if dtype == np.float16 else 1.2e-38)
        assert (err[~small] <= EPS[dtype] + 1e-5).all(), err.max()
        assert (np.abs(pf - pr)[small] <= 6e-8).all()


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_topk_softmax_out(target, dtype):
    rng = np.random.default_rng(1)
    h = _logits(rng, (4, 6, 50), dtype)
    p = np.zeros((4, 3, 50), dtype)[:, :, ::-1]  # a strided output, axis 1 the top-k axis
    i = np.zeros((4, 3, 50), np.int64)
    softmax_c.topk_softmax(h, 3, axis=1, out=(p, i))
    p32, i32 = softmax_c.topk_softmax(_wide(h), 3, axis=1)
    np.testing.assert_array_equal(i, i32)
    np.testing.assert_array_equal(p.view(np.uint16), p32.astype(dtype).view(np.uint16))
    with pytest.raises(TypeError, match="out"):
        softmax_c.topk_softmax(h, 3, axis=1, out=(p.astype(np.float32), i))


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_invalid_rows(target, dtype):
    h = _logits(np.random.default_rng(2), (5, 40), dtype)
    h[1, 3] = np.nan
    h[2, :] = -np.inf
    h[3, 7] = np.inf
    ok = h[[0, 4]]
    for bad in (1, 2, 3):
        for f in (lambda a: softmax_c.sample(a, seed=0), lambda a: softmax_c.sample(a, temperature=0),
                  lambda a: softmax_c.sample(a, top_k=3, seed=0), lambda a: softmax_c.topk_softmax(a, 2)):
            with pytest.raises(ValueError, match=r"row \(1,\) has a NaN or \+inf"):
                f(h[[0, bad]])
    # -inf entries (not a whole row) are excluded tokens, never drawn
    ok[:, ::2] = -np.inf
    for kw in WARPERS:
        got = softmax_c.sample(ok, seed=4, **kw)
        assert (got % 2 == 1).all()
        np.testing.assert_array_equal(got, softmax_c.sample(_wide(ok), seed=4, **kw))
    p, i = softmax_c.topk_softmax(ok, 25)
    assert (i[:, :20] % 2 == 1).all() and (p[:, 20:] == 0).all()


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_extreme_values(target, dtype):
    big = 6.0e4 if dtype == np.float16 else 3.0e38
    h = np.array([[big, -big, 0, big], [-big, -big, -big, -big + 1], [1e-7, 0, -1e-7, 5e-8]]).astype(dtype)
    for kw in WARPERS:
        np.testing.assert_array_equal(softmax_c.sample(h, seed=9, **kw), softmax_c.sample(_wide(h), seed=9, **kw))
    p, i = softmax_c.topk_softmax(h, 4)
    p32, i32 = softmax_c.topk_softmax(_wide(h), 4)
    np.testing.assert_array_equal(i, i32)
    np.testing.assert_array_equal(p.view(np.uint16), p32.astype(dtype).view(np.uint16))


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_verify_draft_is_the_float32_call(target, dtype):
    rng = np.random.default_rng(8)
    rows, k, n = 6, 3, 700
    h = make_layout(_logits(rng, (rows, k + 1, n), dtype), "strided")
    q = rng.dirichlet(np.ones(n) * 0.3, size=(rows, k))
    d = np.argmax(q, axis=-1)
    for kw in [dict(), dict(top_k=20), dict(top_p=0.8, temperature=0.5), dict(temperature=0)]:
        for qq in (None, q, q.astype(dtype)):
            q32 = None if qq is None else qq.astype(np.float32)
            got = softmax_c.verify_draft(h, d, qq, seed=np.arange(rows), offset=3, **kw)
            exp = softmax_c.verify_draft(_wide(h), d, q32, seed=np.arange(rows), offset=3, **kw)
            np.testing.assert_array_equal(got.tokens, exp.tokens)
            np.testing.assert_array_equal(got.num_accepted, exp.num_accepted)


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_fit_temperature_is_the_float32_call(target, dtype):
    rng = np.random.default_rng(4)
    h = _logits(rng, (300, 37), dtype)
    y = softmax_c.sample(h, temperature=1.7, seed=1)
    t = softmax_c.fit_temperature(h, y)
    assert t == softmax_c.fit_temperature(_wide(h), y)
    assert abs(t - 1.7) < 0.3


def test_serving_sampler_halves(target):
    # per-row warpers and processors still run on the float32 copy
    rng = np.random.default_rng(6)
    for dtype in HALVES:
        h = _logits(rng, (5, 200), dtype)
        kw = dict(temperature=np.linspace(0.5, 1.5, 5), top_k=[0, 5, 10, 0, 3], logit_bias={3: 2.0})
        np.testing.assert_array_equal(softmax_c.sample(h, seed=1, **kw), softmax_c.sample(_wide(h), seed=1, **kw))


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
@pytest.mark.parametrize("layout", ["C", "strided", "negative", "transposed"])
def test_no_float32_copy_of_the_input(dtype, layout):
    import tracemalloc

    h = make_layout(_logits(np.random.default_rng(3), (16, 30000), dtype), layout)
    calls = [lambda a: softmax_c.sample(a, seed=1), lambda a: softmax_c.sample(a, top_k=50, top_p=0.9, seed=1),
             lambda a: softmax_c.sample(a, top_p=0.9, seed=1), lambda a: softmax_c.topk_softmax(a, 50),
             lambda a: softmax_c.sample(a, axis=0, seed=1), lambda a: softmax_c.topk_softmax(a, 8, axis=0)]
    def peak(f, a):
        f(a)  # warm: the per-thread scratch is allocated once
        tracemalloc.start()
        try:
            f(a)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    w = make_layout(_wide(h), layout)  # the same outputs (topk: larger), no copy of its own
    for f in calls:
        # a copy of the input, float32 or even half, would add h.size * 4 or * 2 bytes
        assert peak(f, h) < peak(f, w) + h.size, f
