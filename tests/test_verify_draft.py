"""verify_draft: speculative-decoding verification.  Oracle:
softmax_c.reference_sampling.verify_draft (float64, given uniforms).

Exact tests on deterministic cases (p == q accepts everything; a draft token
the target gives probability 0 is always rejected and never emitted) and
against the oracle with the kernel's own uniforms (counter seeds: the same
uniforms are rebuilt in Python); distribution tests by chi-square at
p > 1e-4 (ALPHA, as test_serving_sampler.py) with fixed seeds, so the tests
are deterministic: the first emitted token follows the target distribution
whatever the draft, and the number accepted follows prod(beta) (1 - beta).
"""
from __future__ import annotations

import numpy as np
import pytest

import softmax_c
from softmax_c import reference_sampling as ref
from softmax_c.sampling import counter_uniform_block

ALPHA = 1e-4
V = 40
WARPS = [{}, dict(top_k=7), dict(top_p=0.8), dict(min_p=0.1, temperature=0.7), dict(top_k=12, top_p=0.9)]


def chi2_pvalue(obs, p):
    from scipy import stats

    exp = p * obs.sum()
    assert obs[p == 0].sum() == 0, f"drew excluded values {np.flatnonzero((p == 0) & (obs > 0))}"
    big = exp >= 5
    o = np.append(obs[big], obs[~big].sum())
    e = np.append(exp[big], exp[~big].sum())
    if e[-1] == 0:
        o, e = o[:-1], e[:-1]
    return 1.0 if e.size < 2 else stats.chisquare(o, e).pvalue


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _case(seed, rows=1, k=3, n=V, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(rows, k + 1, n)) * 1.5).astype(dtype)
    q = _softmax(rng.normal(size=(rows, k, n)) * 1.5).astype(dtype)
    q /= q.sum(axis=-1, keepdims=True)
    return x, q


def test_p_equals_q_accepts_everything(target):
    x, _ = _case(1, rows=8, k=4)
    q = _softmax(x[:, :4].astype(np.float64))
    rng = np.random.default_rng(2)
    d = np.array([[rng.choice(V, p=q[r, j]) for j in range(4)] for r in range(8)])
    acc, toks = softmax_c.verify_draft(x, d, q, seed=5)
    np.testing.assert_array_equal(acc, 4)
    np.testing.assert_array_equal(toks[:, :4], d)
    # the bonus is `sample` on the last target row with the last uniform
    u = np.random.default_rng(5).random((8, 5))[:, 4]
    assert ((toks[:, 4] >= 0) & (toks[:, 4] < V)).all()
    exp = [int(np.searchsorted(np.cumsum(p := ref.sampling_distribution(x[r, 4])), u[r] * p.sum(), "right"))
           for r in range(8)]
    np.testing.assert_array_equal(toks[:, 4], exp)


@pytest.mark.parametrize("draft", ["probs", "deterministic"])
def test_zero_target_probability_always_rejected(target, draft):
    x, q = _case(3, rows=200, k=2)
    x[:, 0, 5] = -np.inf  # p_0(5) = 0
    d = np.full((200, 2), 5)
    if draft == "probs":
        q[:, 0] = 0.0
        q[:, 0, 5], q[:, 0, 6] = 0.7, 0.3  # the draft puts mass on 5
    acc, toks = softmax_c.verify_draft(x, d, q if draft == "probs" else None, seed=np.arange(200), offset=0)
    np.testing.assert_array_equal(acc, 0)
    assert (toks[:, 0] != 5).all() and (toks[:, 0] >= 0).all()
    assert (toks[:, 1:] == -1).all()
    if draft == "probs":  # the residual max(0, p - q) has no mass on 6 when q(6) > p(6)
        p6 = np.array([ref.sampling_distribution(x[r, 0])[6] for r in range(200)])
        assert (toks[p6 < 0.3, 0] != 6).all()


@pytest.mark.parametrize("warp", WARPS, ids=str)
@pytest.mark.parametrize("draft", ["probs", "deterministic"])
def test_equals_oracle_with_its_uniforms(target, warp, draft):
    rows, k = 64, 3
    x, q = _case(4, rows=rows, k=k)
    rng = np.random.default_rng(6)
    d = np.array([[rng.choice(V, p=q[r, j]) for j in range(k)] for r in range(rows)])
    seeds, off = rng.integers(0, 2**40, rows), rng.integers(0, 100, rows)
    qq = q if draft == "probs" else None
    got = softmax_c.verify_draft(x, d, qq, seed=seeds, offset=off, **warp)
    exp = ref.verify_draft(x, d, qq, counter_uniform_block(seeds, off, k + 1), **warp)
    np.testing.assert_array_equal(got.num_accepted, exp[0])
    np.testing.assert_array_equal(got.tokens, exp[1])


def test_per_row_parameters_equal_one_request_calls(target):
    rows, k = 16, 2
    x, q = _case(7, rows=rows, k=k, dtype=np.float32)
    d = np.argmax(q, axis=-1)
    rng = np.random.default_rng(8)
    t = rng.uniform(0.5, 1.2, rows)
    t[3] = 0.0
    tk = np.where(np.arange(rows) % 2 == 0, 5, 0)
    tp = np.where(np.arange(rows) % 3 == 0, 0.85, 1.0)
    mp = np.where(np.arange(rows) % 4 == 1, 0.05, 0.0)
    seeds = np.arange(rows) * 11
    full = softmax_c.verify_draft(x, d, q, temperature=t, top_k=tk, top_p=tp, min_p=mp, seed=seeds, offset=3)
    for r in range(rows):
        one = softmax_c.verify_draft(x[r:r + 1], d[r:r + 1], q[r:r + 1], temperature=t[r], top_k=int(tk[r]) or None,
                                     top_p=float(tp[r]), min_p=float(mp[r]), seed=seeds[r:r + 1], offset=3)
        assert one.num_accepted[0] == full.num_accepted[r]
        np.testing.assert_array_equal(one.tokens[0], full.tokens[r])
    # greedy row: p is one-hot at the argmax
    g = np.argmax(x[3], axis=-1)
    a = full.num_accepted[3]
    assert (full.tokens[3, :a] == g[:a]).all() and full.tokens[3, a] == g[a]


def test_batch_composition_and_threads(target):
    rows, k = 64, 4
    x, q = _case(9, rows=rows, k=k, n=3000, dtype=np.float32)
    d = np.argmax(q, axis=-1)
    rng = np.random.default_rng(10)
    seeds, off = rng.integers(0, 2**62, rows), rng.integers(0, 10**6, rows)
    kw = dict(top_p=0.95, temperature=0.9)
    full = softmax_c.verify_draft(x, d, q, seed=seeds, offset=off, **kw)
    for r in (0, 31, 63):  # alone == inside the batch of 64
        one = softmax_c.verify_draft(x[r:r + 1], d[r:r + 1], q[r:r + 1], seed=int(seeds[r]), offset=int(off[r]), **kw)
        assert one.num_accepted[0] == full.num_accepted[r]
        np.testing.assert_array_equal(one.tokens[0], full.tokens[r])
    perm = rng.permutation(rows)
    got = softmax_c.verify_draft(x[perm], d[perm], q[perm], seed=seeds[perm], offset=off[perm], **kw)
    np.testing.assert_array_equal(got.tokens, full.tokens[perm])
    nt0 = softmax_c.get_num_threads()
    try:
        for nt in (1, 2, 3):
            softmax_c.set_num_threads(nt)
            got = softmax_c.verify_draft(x, d, q, seed=seeds, offset=off, **kw)
            np.testing.assert_array_equal(got.tokens, full.tokens)
            np.testing.assert_array_equal(got.num_accepted, full.num_accepted)
    finally:
        softmax_c.set_num_threads(nt0)


@pytest.mark.parametrize("warp", [{}, dict(top_k=10, top_p=0.9)], ids=str)
@pytest.mark.parametrize("draft", ["probs", "deterministic", "bad_draft"])
def test_first_token_and_accept_count_distributions(warp, draft):
    # One request repeated N times with distinct counter seeds: the first
    # emitted token is distributed as p_0, whatever the draft.
    N, k = 20000, 2
    x, q = _case(11, k=k)
    rng = np.random.default_rng(12)
    if draft == "bad_draft":  # a draft far from the target
        q = _softmax(-x[0, :k].astype(np.float64) * 2)[None]
    xs = np.broadcast_to(x, (N,) + x.shape[1:])
    d = np.stack([rng.choice(V, size=N, p=q[0, j]) for j in range(k)], axis=1)
    if draft == "deterministic":  # the draft is its greedy token; q one-hot
        d = np.broadcast_to(np.argmax(q[0], axis=-1), (N, k))
    qq = None if draft == "deterministic" else np.broadcast_to(q, (N,) + q.shape[1:])
    acc, toks = softmax_c.verify_draft(xs, d, qq, seed=np.full(N, 77), offset=np.arange(N), **warp)
    p0 = ref.sampling_distribution(x[0, 0], 1.0, warp.get("top_k"), warp.get("top_p"))
    pv = chi2_pvalue(np.bincount(toks[:, 0], minlength=V), p0)
    assert pv > ALPHA, f"first token: chi-square p = {pv:.2e}"
    if draft == "deterministic":
        qd = np.zeros((k, V))
        qd[np.arange(k), np.argmax(q[0], axis=-1)] = 1.0
    else:
        qd = q[0]
    pa = ref.verify_accept_distribution(x[0], qd, **warp)
    pv = chi2_pvalue(np.bincount(acc, minlength=k + 1).astype(float), pa)
    assert pv > ALPHA, f"accepted count: chi-square p = {pv:.2e} (expected {pa})"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_dtypes_and_layouts(dtype):
    import ml_dtypes

    dt = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    x, q = _case(13, rows=8, k=3)
    xh = x.astype(dt)
    d = np.argmax(q, axis=-1)
    x32 = xh.astype(np.float32)
    exp = softmax_c.verify_draft(x32, d, q.astype(np.float32), seed=np.arange(8), offset=1)
    got = softmax_c.verify_draft(xh, d, q, seed=np.arange(8), offset=1)
    np.testing.assert_array_equal(got.tokens, exp.tokens)
    # a strided (non-contiguous) view of the logits
    big = np.zeros((8, 4, 2 * V), np.float32)
    big[:, :, ::2] = x32
    got = softmax_c.verify_draft(big[:, :, ::2], d, q.astype(np.float32), seed=np.arange(8), offset=1)
    np.testing.assert_array_equal(got.tokens, exp.tokens)


def test_k_zero_is_sample():
    x, _ = _case(14, rows=5, k=0)
    acc, toks = softmax_c.verify_draft(x, np.zeros((5, 0), int), seed=np.arange(5), offset=2)
    np.testing.assert_array_equal(acc, 0)
    u = counter_uniform_block(np.arange(5), np.full(5, 2), 1)
    for r in range(5):
        p = ref.sampling_distribution(x[r, 0])
        assert toks[r, 0] == int(np.searchsorted(np.cumsum(p), u[r, 0] * p.sum(), "right"))


def test_errors():
    x, q = _case(15, rows=3, k=2)
    d = np.zeros((3, 2), int)
    with pytest.raises(ValueError, match=r"target_logits must have shape \(rows, k \+ 1, V\)"):
        softmax_c.verify_draft(x[0], d)
    with pytest.raises(ValueError, match="draft_tokens has shape"):
        softmax_c.verify_draft(x, d[:, :1])
    with pytest.raises(TypeError, match="draft_tokens must be an integer array"):
        softmax_c.verify_draft(x, d.astype(float))
    with pytest.raises(ValueError, match=r"draft_tokens: row \(1,\) has a token outside \[0, 40\)"):
        softmax_c.verify_draft(x, np.array([[0, 0], [0, 40], [0, 0]]))
    with pytest.raises(ValueError, match=r"draft_tokens: row \(2,\)"):
        softmax_c.verify_draft(x, np.array([[0, 0], [0, 0], [-1, 0]]))
    with pytest.raises(ValueError, match="draft_probs has shape"):
        softmax_c.verify_draft(x, d, q[:, :, :5])
    with pytest.raises(TypeError, match="draft_probs must be a real array"):
        softmax_c.verify_draft(x, d, q.astype(complex))
    bad = q.copy()
    bad[1, 1, 3] = -0.01
    bad[1, 1, 4] += 0.01
    with pytest.raises(ValueError, match=r"draft_probs: row \(1, 1\) has a negative or non-finite entry"):
        softmax_c.verify_draft(x, d, bad)
    bad = q.copy()
    bad[2, 0] *= 1.01
    with pytest.raises(ValueError, match=r"draft_probs: row \(2, 0\) sums to 1.01"):
        softmax_c.verify_draft(x, d, bad)
    bad = q.copy()
    bad[0, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"draft_probs: row \(0, 1\) has a negative or non-finite"):
        softmax_c.verify_draft(x, d, bad)
    with pytest.raises(ValueError, match=r"temperature: row \(1,\)"):
        softmax_c.verify_draft(x, d, temperature=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="top_p has shape"):
        softmax_c.verify_draft(x, d, top_p=np.ones(4))
    with pytest.raises(ValueError, match="min_p"):
        softmax_c.verify_draft(x, d, min_p=2.0)
    with pytest.raises(TypeError, match="offset needs integer seeds"):
        softmax_c.verify_draft(x, d, offset=1)
    with pytest.raises(ValueError, match=r"seed: row \(0,\)"):
        softmax_c.verify_draft(x, d, seed=np.array([-1, 0, 0]))
    y = x.copy()
    y[1, 0, 3] = np.nan
    with pytest.raises(ValueError, match=r"verify_draft: row \(1,\) of target_logits has a NaN"):
        softmax_c.verify_draft(y, d, seed=0)
    with pytest.raises(ValueError, match="the second axis"):
        softmax_c.verify_draft(np.zeros((3, 0, 4)), np.zeros((3, -1 + 1), int))
    with pytest.raises(TypeError, match="target_logits"):
        softmax_c.verify_draft(x.astype(complex), d)


def test_prev_tokens_shared_1d(target):
    x = np.random.default_rng(16).normal(size=(6, 30))
    hist = np.array([3, 3, 7, -1])
    kw = dict(repetition_penalty=1.4, frequency_penalty=0.3, temperature=0)
    np.testing.assert_array_equal(softmax_c.sample(x, prev_tokens=hist, **kw),
                                  softmax_c.sample(x, prev_tokens=np.tile(hist, (6, 1)), **kw))
    for r in range(6):
        y = ref.process_logits(x[r], prev_tokens=hist, repetition_penalty=1.4, frequency_penalty=0.3)
        assert softmax_c.sample(x, prev_tokens=hist, **kw)[r] == int(np.argmax(y))
