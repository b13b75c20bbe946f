"""Attention speed against torch's CPU scaled_dot_product_attention, same
process, float32, medians of interleaved runs.

    python benchmarks/attention_speed.py [--quick]

Prints: prefill (1, 8, 1024, 1024, 64) non-causal and causal at 1 thread
(ratio to torch, GFLOP/s vs the measured FMA peak), 2 threads vs 1 thread;
decode (1, 32, 1, 4096, 128) at 1 thread (ratio, GB/s of K+V read vs
np.copyto bandwidth).  Each result is checked against torch before timing.
"""
from __future__ import annotations

import sys
import time

import numpy as np

import softmax_c
from softmax_c import _core


def median_time(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def pair(fa, fb, reps):
    """Interleaved medians of two functions (noise hits both alike)."""
    ta, tb = [], []
    for _ in range(reps):
        ta.append(median_time(fa, 1))
        tb.append(median_time(fb, 1))
    return float(np.median(ta)), float(np.median(tb))


def main():
    quick = "--quick" in sys.argv
    reps = 5 if quick else 11
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    softmax_c.set_num_threads(1)
    rng = np.random.default_rng(0)
    peak = _core.fma_peak_gflops(1, 0.3)
    print(f"target {_core.get_target()}, FMA peak 1 thread {peak:.1f} GFLOP/s, torch {torch.__version__}")

    B, H, L, S, E = 1, 8, 1024, 1024, 64
    q, k, v = (rng.standard_normal((B, H, n, E), dtype=np.float32) for n in (L, S, S))
    tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
    for causal in (False, True):
        ours = lambda: softmax_c.scaled_dot_product_attention(q, k, v, is_causal=causal)
        theirs = lambda: F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
        np.testing.assert_allclose(ours(), theirs().numpy(), rtol=1e-4, atol=1e-5)
        ta, tb = pair(ours, theirs, reps)
        flops = 4.0 * B * H * L * S * E / (2 if causal else 1)
        print(f"prefill {(B, H, L, S, E)} causal={causal}: {ta * 1e3:.2f} ms vs torch {tb * 1e3:.2f} ms "
              f"-> {tb / ta:.2f}x torch, {flops / ta * 1e-9:.1f} GFLOP/s = {flops / ta * 1e-9 / peak:.0%} of peak")
    ours = lambda: softmax_c.scaled_dot_product_attention(q, k, v)
    softmax_c.set_num_threads(1)
    t1 = median_time(ours, reps)
    softmax_c.set_num_threads(2)
    t2 = median_time(ours, reps)
    softmax_c.set_num_threads(1)
    print(f"prefill 2 threads: {t2 * 1e3:.2f} ms vs 1 thread {t1 * 1e3:.2f} ms -> {t1 / t2:.2f}x")

    B, H, L, S, E = 1, 32, 1, 4096, 128
    q, k, v = (rng.standard_normal((B, H, n, E), dtype=np.float32) for n in (L, S, S))
    tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
    ours = lambda: softmax_c.scaled_dot_product_attention(q, k, v)
    theirs = lambda: F.scaled_dot_product_attention(tq, tk, tv)
    np.testing.assert_allclose(ours(), theirs().numpy(), rtol=1e-4, atol=1e-5)
    ta, tb = pair(ours, theirs, reps)
    kv_bytes = k.nbytes + v.nbytes
    src = rng.standard_normal(kv_bytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    tc = median_time(lambda: np.copyto(dst, src), reps)
    print(f"decode {(B, H, L, S, E)}: {ta * 1e3:.2f} ms vs torch {tb * 1e3:.2f} ms -> {tb / ta:.2f}x torch, "
          f"K+V read {kv_bytes / ta * 1e-9:.1f} GB/s (np.copyto of {kv_bytes >> 20} MiB: "
          f"{kv_bytes / tc * 1e-9:.1f} GB/s read, {2 * kv_bytes / tc * 1e-9:.1f} GB/s read+write)")


if __name__ == "__main__":
    main()
