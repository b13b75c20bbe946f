"""The serving sampler against a NumPy recipe and a torch (vLLM /
transformers style) recipe: (32, 128256) float32 logits, per-row
temperatures in [0.5, 1.2], top_k 50 on half the rows, top_p 0.9,
repetition 1.1 and frequency 0.2 over a 512-token history, logprobs=5.

    SOFTMAX_C_NUM_THREADS=1 python benchmarks/sampler_speed.py [--threads 1]

Each recipe is checked (greedy rows agree) before it is timed; the median
of the repeats is reported.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import softmax_c as sc

R, V, H = 32, 128256, 512


def case(seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((R, V)) * 2).astype(np.float32)
    t = rng.uniform(0.5, 1.2, R)
    t[0] = 0.0  # one greedy row: the check
    k = np.where(np.arange(R) % 2 == 0, 50, 0)
    hist = rng.integers(0, V, size=(R, H))
    return x, t, k, hist


def ours(x, t, k, hist):
    return sc.sample(x, temperature=t, top_k=k, top_p=0.9, prev_tokens=hist, repetition_penalty=1.1,
                     frequency_penalty=0.2, seed=np.arange(R), offset=np.zeros(R, int), logprobs=5).tokens


def numpy_recipe(x, t, k, hist, rng=np.random.default_rng(0)):
    raw = x.astype(np.float64)
    lse = np.log(np.exp(raw - raw.max(1, keepdims=True)).sum(1)) + raw.max(1)
    top = np.argpartition(-raw, 5, axis=1)[:, :5]
    _ = raw[np.arange(R)[:, None], top] - lse[:, None]
    y = x.copy()
    out = np.empty(R, dtype=np.int64)
    for r in range(R):
        u, c = np.unique(hist[r], return_counts=True)
        v = y[r, u]
        y[r, u] = np.where(v > 0, v / 1.1, v * 1.1) - 0.2 * c
        if t[r] == 0:
            out[r] = int(np.argmax(y[r]))
            continue
        z = y[r] / t[r]
        if k[r] > 0:
            kth = np.partition(z, -k[r])[-k[r]]
            z = np.where(z >= kth, z, -np.inf)
        o = np.argsort(-z, kind="stable")
        p = np.exp(z[o] - z[o[0]])
        p /= p.sum()
        m = int(np.searchsorted(np.cumsum(p), 0.9)) + 1
        p = p[:m] / p[:m].sum()
        out[r] = o[min(int(np.searchsorted(np.cumsum(p), rng.random(), side="right")), m - 1)]
    return out


def torch_recipe(x, t, k, hist):
    import torch
    lg = torch.from_numpy(x)
    raw_lp = torch.log_softmax(lg, dim=-1)
    _ = torch.topk(raw_lp, 5, dim=-1)
    h = torch.from_numpy(hist)
    # repetition (transformers): gather / scatter over the history
    sc_ = torch.gather(lg, 1, h)
    sc_ = torch.where(sc_ > 0, sc_ / 1.1, sc_ * 1.1)
    lg = lg.scatter(1, h, sc_)
    # frequency (vLLM): bincount counts
    counts = torch.zeros_like(lg).scatter_add_(1, h, torch.ones_like(h, dtype=lg.dtype))
    lg = lg - 0.2 * counts
    tt = torch.from_numpy(t).to(lg.dtype)
    greedy = lg.argmax(-1)
    lg = lg / torch.where(tt > 0, tt, torch.ones_like(tt))[:, None]
    # top-k / top-p by one sort (vLLM's apply_top_k_top_p)
    srt, idx = lg.sort(dim=-1, descending=False)
    kk = torch.from_numpy(np.where(k > 0, k, V))
    kth = srt.gather(1, (V - kk).clamp(min=0)[:, None])
    srt = srt.masked_fill(srt < kth, -float("inf"))
    cum = srt.softmax(-1).cumsum(-1)
    srt = srt.masked_fill(cum <= 1 - 0.9, -float("inf"))
    srt[:, -1] = srt[:, -1]
    lg = torch.empty_like(srt).scatter_(1, idx, srt)
    probs = lg.softmax(-1)
    tok = torch.multinomial(probs, 1)[:, 0]
    return torch.where(tt == 0, greedy, tok).numpy()


def timeit(f, args, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f(*args)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    sc.set_num_threads(a.threads)
    import torch
    torch.set_num_threads(a.threads)
    args = case()
    g = ours(*args)[0]
    assert g == numpy_recipe(*args)[0] == torch_recipe(*args)[0], "the greedy row differs"
    t_ours = timeit(ours, args, a.reps)
    t_np = timeit(numpy_recipe, args, max(1, a.reps // 2))
    t_torch = timeit(torch_recipe, args, a.reps)
    print(f"threads={a.threads} ({R}, {V}) f32, per-row T/top-k, top_p 0.9, penalties over {H}, logprobs=5")
    print(f"softmax_c {t_ours * 1e3:8.2f} ms")
    print(f"numpy     {t_np * 1e3:8.2f} ms  ({t_np / t_ours:5.1f}x)")
    print(f"torch     {t_torch * 1e3:8.2f} ms  ({t_torch / t_ours:5.1f}x)")


if __name__ == "__main__":
    main()
