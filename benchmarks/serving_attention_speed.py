"""Serving attention speed goals (issue 12), ratios side by side in one run.

    python benchmarks/serving_attention_speed.py [--threads 1 2] [--quick]

Each case asserts its result against the dense path before timing it.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import softmax_c as sc


def best(f, reps=3):
    f()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return min(t)


def decode_case(rng, n_seq, hq=32, h=8, e=128, block=16):
    lens = rng.integers(128, 4097, n_seq)
    nblk = -(-lens // block)
    kc = rng.standard_normal((int(nblk.sum()), block, h, e)).astype(np.float32)
    vc = rng.standard_normal(kc.shape).astype(np.float32)
    bt = np.zeros((n_seq, int(nblk.max())), np.int32)
    perm = rng.permutation(kc.shape[0])
    at = 0
    for b in range(n_seq):
        bt[b, :nblk[b]] = perm[at:at + nblk[b]]
        at += nblk[b]
    q = rng.standard_normal((n_seq, 1, hq, e)).astype(np.float32)
    paged = lambda: sc.flash_attn_with_kvcache(q, kc, vc, cache_seqlens=lens.astype(np.int32), block_table=bt)
    # dense decode of the same bytes: one (H, S, E) call of total length
    S = int(lens.sum())
    kd = rng.standard_normal((h, S, e)).astype(np.float32)
    vd = rng.standard_normal((h, S, e)).astype(np.float32)
    qd = rng.standard_normal((hq, 1, e)).astype(np.float32)
    dense = lambda: sc.scaled_dot_product_attention(qd, kd, vd, enable_gqa=True)
    nbytes = 2 * S * h * e * 4
    return paged, dense, nbytes


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--quick", action="store_true", help="fewer sequences (16) and shorter prefill")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    n_seq = 16 if args.quick else 64
    paged, dense, nbytes = decode_case(rng, n_seq)
    # prefill: 8 sequences of 128..2048 tokens, varlen causal vs one dense causal call of the same work
    lens = rng.integers(128, 2049, 4 if args.quick else 8)
    tot = int(lens.sum())
    hq, h, e = 8, 8, 64
    q = rng.standard_normal((tot, hq, e)).astype(np.float32)
    k = rng.standard_normal((tot, h, e)).astype(np.float32)
    cu = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    flops = sum(2.0 * 2 * hq * e * n * (n + 1) / 2 for n in lens)
    Ld = int(np.sqrt((lens.astype(float) ** 2).sum()))
    qd = rng.standard_normal((hq, Ld, e)).astype(np.float32)
    kd = rng.standard_normal((h, Ld, e)).astype(np.float32)
    flops_d = 2.0 * 2 * hq * e * Ld * (Ld + 1) / 2
    # window 512 over 8192 causal keys
    Lw = 2048 if args.quick else 8192
    qw = rng.standard_normal((Lw, 4, 64)).astype(np.float32)
    kw = rng.standard_normal((Lw, 4, 64)).astype(np.float32)
    cw = np.array([0, Lw], np.int32)
    for t in args.threads:
        sc.set_num_threads(t)
        tp, td = best(paged), best(dense)
        tv = best(lambda: sc.flash_attn_varlen_func(q, k, k, cu, cu, causal=True))
        tdd = best(lambda: sc.scaled_dot_product_attention(qd, kd, kd, is_causal=True))
        tfull = best(lambda: sc.flash_attn_varlen_func(qw, kw, kw, cw, cw, causal=True), 1)
        twin = best(lambda: sc.flash_attn_varlen_func(qw, kw, kw, cw, cw, causal=True, window_size=(512, 0)), 1)
        print(f"threads {t}: paged decode {nbytes / tp / 1e9:.2f} GB/s vs dense {nbytes / td / 1e9:.2f} GB/s "
              f"ratio {td / tp:.2f} (goal >= 0.85) | varlen prefill {flops / tv / 1e9:.1f} GFLOP/s vs dense "
              f"{flops_d / tdd / 1e9:.1f} ratio {(flops / tv) / (flops_d / tdd):.2f} (goal >= 0.9) | "
              f"window 512 / full causal over {Lw}: {tfull / twin:.2f}x (goal >= 6)")


if __name__ == "__main__":
    main()
