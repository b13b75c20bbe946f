"""The serving-sampler workloads of issue 13 and their baselines, shared by
the CLI cases (``serving_sample``, ``verify_draft`` in :mod:`.ops`) and
``benchmarks/sampler_speed.py``.

``serving_sample``: (rows, V) float32 LM logits, per-row temperatures in
[0.5, 1.2] (row 0 greedy: the check), top_p 0.9, top_k 50 on half the rows,
repetition 1.1 and frequency 0.2 over ``hist`` previous tokens per row, a
16-token logit bias, ``logprobs=5``.  Baselines: :func:`numpy_serving` (a
straightforward NumPy version of the same processors, row by row) and
:func:`torch_serving` (what vLLM / transformers do: gather / scatter
penalties, one sort for top-k + top-p, softmax, multinomial, log_softmax +
topk for the logprobs).

``verify_draft``: (rows, k + 1, V) float32 target logits, k draft tokens per
row drawn from a draft distribution near the target's.  Baseline:
:func:`numpy_verify`, the rejection rule vectorised over the rows.
"""
from __future__ import annotations

import numpy as np

__all__ = ["serving_inputs", "softmax_c_serving", "numpy_serving", "torch_serving", "verify_inputs",
           "softmax_c_verify", "numpy_verify"]

REPETITION, FREQUENCY, TOP_P, TOP_K, LOGPROBS, N_BIAS = 1.1, 0.2, 0.9, 50, 5, 16


def _peaked(rng, shape):
    from .ops import peaked_logits

    return peaked_logits(rng, shape, np.float32)


def serving_inputs(rng, rows, n, hist=256):
    """The arrays of one serving-sampler call (module docstring)."""
    t = rng.uniform(0.5, 1.2, rows)
    t[0] = 0.0
    return {
        "x": _peaked(rng, (rows, n)),
        "temperature": t,
        "top_k": np.where(np.arange(rows) % 2 == 0, min(TOP_K, n), 0).astype(np.int64),
        "prev_tokens": rng.integers(0, n, size=(rows, hist)),
        "bias_ids": rng.choice(n, size=N_BIAS, replace=False).astype(np.int64),
        "bias": rng.uniform(-2, 2, N_BIAS),
        "seed": np.arange(rows, dtype=np.int64),
    }


def softmax_c_serving(sc, inp, scalars=False):
    """softmax_c.sample on the inputs; with `scalars` every per-row array
    whose entries are all equal is passed as one scalar instead (the
    per-row-parameter cost goal compares the two)."""
    def arg(a):
        return a.flat[0].item() if scalars and (a == a.flat[0]).all() else a

    rows = inp["x"].shape[0]
    return sc.sample(inp["x"], temperature=arg(inp["temperature"]), top_k=arg(inp["top_k"]), top_p=TOP_P,
                     prev_tokens=inp["prev_tokens"],
                     repetition_penalty=REPETITION if scalars else np.full(rows, REPETITION),
                     frequency_penalty=FREQUENCY if scalars else np.full(rows, FREQUENCY),
                     logit_bias=dict(zip(inp["bias_ids"].tolist(), inp["bias"].tolist())),
                     seed=inp["seed"], offset=0, logprobs=LOGPROBS)


def numpy_serving(inp, rng):
    """The same processors and draw in NumPy, row by row: logprobs of the raw
    row, bias, penalties over np.unique of the history, temperature, top-k by
    partition, top-p by argsort + cumsum, inverse CDF."""
    x = inp["x"]
    rows, n = x.shape
    out = np.empty(rows, dtype=np.int64)
    lp = np.empty(rows)
    top_ids = np.empty((rows, LOGPROBS), dtype=np.int64)
    top_lp = np.empty((rows, LOGPROBS))
    for r in range(rows):
        raw = x[r]
        m = raw.max()
        logz = raw - m - np.log(np.exp(raw - m).sum())
        y = raw.copy()
        y[inp["bias_ids"]] += inp["bias"].astype(np.float32)
        u, c = np.unique(inp["prev_tokens"][r], return_counts=True)
        v = y[u]
        y[u] = np.where(v > 0, v / REPETITION, v * REPETITION) - FREQUENCY * c
        t, k = inp["temperature"][r], inp["top_k"][r]
        if t == 0:
            tok = int(np.argmax(y))
        else:
            z = y / t
            if k > 0:
                kth = np.partition(z, -k)[-k]
                z = np.where(z >= kth, z, -np.inf)
            o = np.argsort(-z, kind="stable")
            p = np.exp(z[o] - z[o[0]])
            p /= p.sum()
            keep = int(np.searchsorted(np.cumsum(p), TOP_P)) + 1
            p = p[:keep] / p[:keep].sum()
            tok = int(o[min(int(np.searchsorted(np.cumsum(p), rng.random(), side="right")), keep - 1)])
        out[r] = tok
        lp[r] = logz[tok]
        ti = np.argpartition(-logz, LOGPROBS)[:LOGPROBS]
        ti = ti[np.argsort(-logz[ti], kind="stable")]
        top_ids[r], top_lp[r] = ti, logz[ti]
    return out, lp, top_ids, top_lp


def torch_serving(inp, gen=None):
    """vLLM / transformers in torch (module docstring); returns the tokens."""
    import torch

    x = torch.from_numpy(inp["x"])
    rows, n = x.shape
    raw_lp = torch.log_softmax(x, dim=-1)
    _ = torch.topk(raw_lp, LOGPROBS, dim=-1)
    lg = x.clone()
    bias = torch.zeros(n, dtype=lg.dtype)
    bias[torch.from_numpy(inp["bias_ids"])] = torch.from_numpy(inp["bias"]).to(lg.dtype)
    lg += bias
    h = torch.from_numpy(inp["prev_tokens"])
    g = torch.gather(lg, 1, h)
    lg = lg.scatter(1, h, torch.where(g > 0, g / REPETITION, g * REPETITION))  # transformers
    counts = torch.zeros_like(lg).scatter_add_(1, h, torch.ones_like(h, dtype=lg.dtype))  # vLLM
    lg -= FREQUENCY * counts
    tt = torch.from_numpy(inp["temperature"]).to(lg.dtype)
    greedy = lg.argmax(-1)
    lg = lg / torch.where(tt > 0, tt, torch.ones_like(tt))[:, None]
    srt, idx = lg.sort(dim=-1, descending=False)  # vLLM's apply_top_k_top_p
    kk = torch.from_numpy(np.where(inp["top_k"] > 0, inp["top_k"], n))
    kth = srt.gather(1, (n - kk).clamp(min=0)[:, None])
    srt = srt.masked_fill(srt < kth, -float("inf"))
    cum = srt.softmax(-1).cumsum(-1)
    mask = cum <= 1 - TOP_P
    mask[:, -1] = False
    srt = srt.masked_fill(mask, -float("inf"))
    lg = torch.empty_like(srt).scatter_(1, idx, srt)
    probs = lg.softmax(-1)
    tok = torch.multinomial(probs, 1, generator=gen)[:, 0]
    tok = torch.where(tt == 0, greedy, tok)
    _ = raw_lp.gather(1, tok[:, None])
    return tok.numpy()


def serving_greedy_token(inp):
    """Row 0's token (greedy) by the float64 oracle."""
    from .. import reference_sampling as ref

    y = ref.process_logits(inp["x"][0], bias=(inp["bias_ids"], inp["bias"]), prev_tokens=inp["prev_tokens"][0],
                           repetition_penalty=REPETITION, frequency_penalty=FREQUENCY)
    return int(np.argmax(y))


# ---------------------------------------------------------------- verify --

def _softmax32(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def verify_inputs(rng, rows, k, n):
    """Target logits (rows, k + 1, n), a draft distribution softmax(target +
    N(0, 1)) (rows, k, n) and draft tokens drawn from it (rows, k)."""
    x = _peaked(rng, (rows, k + 1, n))
    q = _softmax32(x[:, :k] + rng.standard_normal((rows, k, n), dtype=np.float32))
    c = np.cumsum(q, axis=-1, dtype=np.float64)
    u = rng.random((rows, k, 1)) * c[..., -1:]
    d = np.minimum((c <= u).sum(axis=-1), n - 1).astype(np.int64)
    return {"x": x, "draft_tokens": d, "draft_probs": q, "seed": np.arange(rows, dtype=np.int64)}


def softmax_c_verify(sc, inp):
    return sc.verify_draft(inp["x"], inp["draft_tokens"], inp["draft_probs"], seed=inp["seed"], offset=0)


def numpy_verify(inp, rng):
    """The rejection rule in NumPy, vectorised over the rows: softmax of every
    target row, the acceptance tests, the residual of the first rejection
    (or the bonus row), and an inverse-CDF draw per row."""
    x, d, q = inp["x"], inp["draft_tokens"], inp["draft_probs"]
    rows, k1, n = x.shape
    k = k1 - 1
    p = _softmax32(x)
    ar = np.arange(rows)
    pd = np.take_along_axis(p[:, :k], d[..., None], -1)[..., 0]
    qd = np.take_along_axis(q, d[..., None], -1)[..., 0]
    u = rng.random((rows, k1))
    ok = u[:, :k] * qd < pd
    acc = np.where(ok.all(axis=1), k, np.argmin(ok, axis=1))
    last = p[ar, acc]
    rej = acc < k
    qq = np.zeros_like(last)
    qq[rej] = q[ar[rej], acc[rej]]
    w = np.maximum(last - qq, 0)
    c = np.cumsum(w, axis=1, dtype=np.float64)
    tok = np.minimum((c <= u[:, k:] * c[:, -1:]).sum(axis=1), n - 1)
    toks = np.full((rows, k1), -1, dtype=np.int64)
    cols = np.arange(k1)[None, :]
    toks = np.where(cols < acc[:, None], np.pad(d, ((0, 0), (0, 1))), toks)
    toks[ar, acc] = tok
    return acc, toks
