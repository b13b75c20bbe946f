"""The serving sampler: `sample` with per-row parameters, counter-based
seeds, the logits processors (allowed tokens, logit bias, repetition /
presence / frequency penalties), logprobs.  Oracle:
softmax_c.reference_sampling (float64).  Draws pass a chi-square test at
p > 1e-4 (ALPHA) against the oracle's processed distribution; every seed is
fixed, so the tests are deterministic.
"""
from __future__ import annotations

import numpy as np
import pytest

import softmax_c
from softmax_c import reference_sampling as ref

ALPHA = 1e-4
V = 50


def chi2_check(tokens, p, what):
    from scipy import stats

    counts = np.bincount(tokens, minlength=p.size)
    assert counts[p == 0].sum() == 0, f"{what}: drew excluded tokens {np.flatnonzero((p == 0) & (counts > 0))}"
    exp = p * tokens.size
    big = exp >= 5
    obs = np.append(counts[big], counts[~big].sum())
    ex = np.append(exp[big], exp[~big].sum())
    if ex[-1] == 0:
        obs, ex = obs[:-1], ex[:-1]
    if ex.size < 2:
        return
    pval = stats.chisquare(obs, ex).pvalue
    assert pval > ALPHA, f"{what}: chi-square p = {pval:.2e}"


def _row(seed=3, n=V):
    return np.random.default_rng(seed).normal(size=n) * 1.5


HIST = np.array([3, 3, 7, 1, 3, 20, -1, -1])
PROC = dict(allowed=None, bias={2: 1.5, 7: -0.5}, prev_tokens=HIST, repetition_penalty=1.3,
            presence_penalty=0.4, frequency_penalty=0.25)


def _kw(proc):
    """ref.process_logits keywords -> sample keywords (one row)."""
    kw = dict(logit_bias=proc["bias"], prev_tokens=proc["prev_tokens"],
              repetition_penalty=proc["repetition_penalty"], presence_penalty=proc["presence_penalty"],
              frequency_penalty=proc["frequency_penalty"])
    if proc.get("allowed") is not None:
        kw["allowed_tokens"] = proc["allowed"]
    return kw


def test_order_of_processors_greedy(target):
    # each processor alone and all together: greedy equals the oracle's argmax
    x = _row()
    allowed = np.ones(V, bool)
    allowed[np.argsort(-x)[:3]] = False
    for proc in [dict(PROC), dict(PROC, allowed=allowed), dict(PROC, bias={5: 30.0}),
                 dict(PROC, repetition_penalty=5.0), dict(PROC, frequency_penalty=-3.0)]:
        y = ref.process_logits(x, **proc)
        assert softmax_c.sample(x, temperature=0, **_kw(proc)) == int(np.argmax(y))


def test_order_is_the_documented_one():
    # repetition before presence/frequency: for x > 0, (x / r) - f*c, not (x - f*c) / r
    x = np.zeros(4)
    x[1] = 2.0
    y = ref.process_logits(x, prev_tokens=[1, 1], repetition_penalty=2.0, frequency_penalty=0.6)
    assert y[1] == pytest.approx(2.0 / 2 - 1.2)
    # bias before repetition: a negative logit biased positive is divided
    y = ref.process_logits(np.array([-1.0, 0.0]), bias={0: 3.0}, prev_tokens=[0], repetition_penalty=2.0)
    assert y[0] == pytest.approx(1.0)
    x = np.array([-1.0, 0.0, 0.9])
    tok = softmax_c.sample(x, temperature=0, logit_bias={0: 3.0}, prev_tokens=np.array([0]), repetition_penalty=2.0)
    assert tok == 0  # bias first: (-1 + 3) / 2 = 1 > 0.9 (penalty first: -1 * 2 + 3 = 1 as well)
    assert tok == int(np.argmax(ref.process_logits(x, bias={0: 3.0}, prev_tokens=[0], repetition_penalty=2.0)))


@pytest.mark.parametrize("warp", [dict(temperature=1.0), dict(temperature=0.7, top_k=10),
                                  dict(temperature=1.3, top_p=0.8), dict(temperature=1.0, min_p=0.1)])
def test_chi_square_processed(target, warp):
    x = _row(5)
    allowed = np.ones(V, bool)
    allowed[::7] = False
    proc = dict(PROC, allowed=allowed)
    p = ref.serving_distribution(x, **warp, **proc)
    N = 20000
    xs = np.tile(x, (N, 1))
    kw = _kw(proc)
    kw["prev_tokens"] = np.tile(HIST, (N, 1))
    tok = softmax_c.sample(xs, seed=11, **warp, **kw)
    chi2_check(tok, p, str(warp))


def test_per_row_params_equal_one_row_calls(target):
    rng = np.random.default_rng(1)
    R = 12
    x = rng.normal(size=(R, V)) * 2
    t = rng.uniform(0.5, 1.2, R)
    t[3] = 0.0
    k = np.where(np.arange(R) % 2 == 0, 5, 0)
    p = np.where(np.arange(R) % 3 == 0, 0.9, 1.0)
    mp = np.where(np.arange(R) % 4 == 0, 0.05, 0.0)
    rep = rng.uniform(1.0, 1.5, R)
    freq = rng.uniform(0, 0.5, R)
    hist = rng.integers(-1, V, size=(R, 16))
    seeds = np.arange(R) * 7 + 1
    off = np.arange(R)
    kw = dict(prev_tokens=hist, repetition_penalty=rep, frequency_penalty=freq, seed=seeds, offset=off)
    got = softmax_c.sample(x, temperature=t, top_k=k, top_p=p, min_p=mp, **kw)
    for r in range(R):
        one = softmax_c.sample(x[r:r + 1], temperature=t[r:r + 1], top_k=k[r:r + 1], top_p=p[r:r + 1],
                               min_p=mp[r:r + 1], prev_tokens=hist[r:r + 1], repetition_penalty=rep[r:r + 1],
                               frequency_penalty=freq[r:r + 1], seed=seeds[r:r + 1], offset=off[r:r + 1])
        assert got[r] == one[0], r
    assert got[3] == int(np.argmax(ref.process_logits(x[3], prev_tokens=hist[3], repetition_penalty=rep[3],
                                                      frequency_penalty=freq[3])))


def test_scalar_calls_unchanged():
    # the old path: same tokens as with the same values as per-row arrays and a scalar seed
    x = np.random.default_rng(2).normal(size=(64, 300))
    a = softmax_c.sample(x, temperature=0.8, top_k=20, top_p=0.9, seed=4)
    b = softmax_c.sample(x, temperature=np.full(64, 0.8), top_k=np.full(64, 20), top_p=np.full(64, 0.9), seed=4)
    np.testing.assert_array_equal(a, b)


def test_counter_seed_batch_composition_and_threads(target):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 2000)).astype(np.float32)
    seeds = rng.integers(0, 2**62, 64)
    off = rng.integers(0, 1000, 64)
    full = softmax_c.sample(x, seed=seeds, offset=off, top_p=0.95)
    perm = rng.permutation(64)
    np.testing.assert_array_equal(softmax_c.sample(x[perm], seed=seeds[perm], offset=off[perm], top_p=0.95),
                                  full[perm])
    for r in (0, 17, 63):
        assert softmax_c.sample(x[r], seed=int(seeds[r]), offset=int(off[r]), top_p=0.95) == full[r]
    n = softmax_c.get_num_threads()
    try:
        for nt in (1, 2, 3):
            softmax_c.set_num_threads(nt)
            np.testing.assert_array_equal(softmax_c.sample(x, seed=seeds, offset=off, top_p=0.95), full)
    finally:
        softmax_c.set_num_threads(n)
    # a different offset is a different draw stream
    u0 = softmax_c.sampling.counter_uniforms(seeds, off)
    u1 = softmax_c.sampling.counter_uniforms(seeds, off + 1)
    assert (u0 != u1).all() and ((u0 >= 0) & (u0 < 1)).all()


def test_counter_seed_distribution():
    # one row, many (seed, offset): the draws follow the distribution
    x = _row(9)
    N = 20000
    tok = softmax_c.sample(np.tile(x, (N, 1)), seed=np.full(N, 5), offset=np.arange(N))
    chi2_check(tok, ref.sampling_distribution(x), "offsets")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["raw", "processed"])
def test_logprobs(target, dtype, mode):
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(6, 300)) * 3).astype(dtype)
    t = np.array([1.0, 0.5, 0.0, 2.0, 1.0, 0.8])
    hist = rng.integers(-1, 300, size=(6, 20))
    res = softmax_c.sample(x, temperature=t, prev_tokens=hist, repetition_penalty=1.2, presence_penalty=0.5,
                           logit_bias={4: 2.0}, logprobs=5, logprobs_mode=mode, seed=1)
    assert isinstance(res, softmax_c.SampleResult)
    tol = 1e-9 if dtype == np.float64 else 2e-5
    for r in range(6):
        if mode == "raw":
            z = x[r].astype(np.float64)
        else:
            z = ref.process_logits(x[r], bias={4: 2.0}, prev_tokens=hist[r], repetition_penalty=1.2,
                                   presence_penalty=0.5)
            z = z / (t[r] if t[r] > 0 else 1.0)
        ls = ref.log_softmax(z)
        order = np.lexsort((np.arange(300), -z))[:5]
        np.testing.assert_allclose(res.top_logprobs[r], ls[order], atol=tol * 10, rtol=tol)
        if dtype == np.float64:
            np.testing.assert_array_equal(res.top_ids[r], order)
        assert res.logprob[r] == pytest.approx(ls[res.tokens[r]], abs=tol * 10, rel=tol)
    assert res.top_ids.shape == (6, 5) and res.logprob.shape == (6,)


def test_logprobs_zero_and_shapes():
    x = np.random.default_rng(0).normal(size=(2, 3, 40))
    res = softmax_c.sample(x, logprobs=0, seed=0)
    assert res.tokens.shape == (2, 3) and res.top_ids.shape == (2, 3, 0)
    one = softmax_c.sample(x[0, 0], logprobs=2, seed=0)
    assert np.ndim(one.tokens) == 0 and one.top_ids.shape == (2,)


def test_bias_arrays_and_allowed_per_row(target):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, V))
    ids = np.array([[1, 2, -1], [4, -1, -1], [-1, -1, -1]])
    b = np.array([[50.0, 1.0, 0.0], [60.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    got = softmax_c.sample(x, temperature=0, logit_bias=(ids, b))
    assert list(got[:2]) == [1, 4] and got[2] == int(np.argmax(x[2]))
    allowed = np.zeros((3, V), bool)
    allowed[0, 9] = allowed[1, [10, 11]] = allowed[2, :] = True
    got = softmax_c.sample(x, allowed_tokens=allowed, seed=0)
    assert got[0] == 9 and got[1] in (10, 11)


def test_bad_inputs():
    x = np.zeros((3, 10))
    with pytest.raises(ValueError, match=r"temperature: row \(1,\)"):
        softmax_c.sample(x, temperature=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="temperature has shape"):
        softmax_c.sample(x, temperature=np.ones(4))
    with pytest.raises(ValueError, match=r"top_p: row \(2,\)"):
        softmax_c.sample(x, top_p=np.array([1.0, 0.5, 0.0]))
    with pytest.raises(ValueError, match=r"min_p: row \(0,\)"):
        softmax_c.sample(x, min_p=np.array([1.5, 0.0, 0.0]))
    with pytest.raises(TypeError, match="top_k"):
        softmax_c.sample(x, top_k=np.ones(3))
    with pytest.raises(ValueError, match="repetition_penalty"):
        softmax_c.sample(x, repetition_penalty=0.0)
    with pytest.raises(ValueError, match=r"repetition_penalty: row \(1,\)"):
        softmax_c.sample(x, repetition_penalty=np.array([1.0, -2.0, 1.0]))
    with pytest.raises(ValueError, match=r"prev_tokens: row \(0,\)"):
        softmax_c.sample(x, prev_tokens=np.array([[10], [1], [1]]))
    with pytest.raises(ValueError, match=r"prev_tokens has shape"):
        softmax_c.sample(x, prev_tokens=np.array([[1, 2]]))
    with pytest.raises(TypeError, match="prev_tokens"):
        softmax_c.sample(x, prev_tokens=np.ones((3, 2)))
    with pytest.raises(ValueError, match="logit_bias: token 11"):
        softmax_c.sample(x, logit_bias={11: 1.0})
    with pytest.raises(ValueError, match=r"logit_bias\[1\]"):
        softmax_c.sample(x, logit_bias={1: float("inf")})
    with pytest.raises(TypeError, match="logit_bias"):
        softmax_c.sample(x, logit_bias=[1, 2])
    with pytest.raises(TypeError, match="allowed_tokens"):
        softmax_c.sample(x, allowed_tokens=np.ones(10))
    with pytest.raises(ValueError, match="allowed_tokens has shape"):
        softmax_c.sample(x, allowed_tokens=np.ones(9, bool))
    with pytest.raises(ValueError, match=r"sample: row \(1,\) has no finite logit"):
        a = np.ones((3, 10), bool)
        a[1] = False
        softmax_c.sample(x, allowed_tokens=a)
    with pytest.raises(ValueError, match="logprobs must be >= 0"):
        softmax_c.sample(x, logprobs=-1)
    with pytest.raises(ValueError, match="logprobs must be <= 10"):
        softmax_c.sample(x, logprobs=11)
    with pytest.raises(ValueError, match="logprobs_mode"):
        softmax_c.sample(x, logprobs=1, logprobs_mode="final")
    with pytest.raises(ValueError, match=r"seed: row \(0,\)"):
        softmax_c.sample(x, seed=np.array([-1, 0, 0]))
    with pytest.raises(TypeError, match="offset"):
        softmax_c.sample(x, seed=None, offset=np.zeros(3, int))
    with pytest.raises(ValueError, match="NaN"):
        y = x.copy()
        y[2, 3] = np.nan
        softmax_c.sample(y, logit_bias={1: 1.0})
