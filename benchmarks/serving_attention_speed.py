"""Serving attention speed goals (issue 12), ratios side by side in one run.

    python benchmarks/serving_attention_speed.py [--threads 1 2] [--quick]

Paged decode is timed interleaved with the dense decode of the same bytes and
the two torch recipes a CPU user would write today (a padded batch SDPA with
a mask over gathered blocks; a loop of per-sequence SDPA over gathered
blocks), medians of a few rounds.  The paged result is asserted against the
padded torch recipe before anything is timed.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import softmax_c as sc


def medians(fns, reps=5):
    """Median seconds of each function, timed interleaved (A, B, C, A, B, C ...)."""
    for f in fns:
        f()
    t = [[] for _ in fns]
    for _ in range(reps):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            t[i].append(time.perf_counter() - t0)
    return [float(np.median(x)) for x in t]


def torch_recipes(q, kc, vc, lens, bt):
    """The two torch recipes for a paged decode step; None without torch."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    n, _, hq, e = q.shape
    h = kc.shape[2]
    qt = torch.from_numpy(q).transpose(1, 2)  # (n, Hq, 1, E)
    kt, vt = torch.from_numpy(kc), torch.from_numpy(vc)
    rows = torch.from_numpy(bt).long()
    smax = int(lens.max())
    pad = torch.arange(smax)[None] >= torch.from_numpy(lens)[:, None].long()
    bias = torch.zeros(n, smax).masked_fill(pad, float("-inf"))[:, None, None, :]

    def padded():
        kk = kt[rows].reshape(n, -1, h, e)[:, :smax].transpose(1, 2)
        vv = vt[rows].reshape(n, -1, h, e)[:, :smax].transpose(1, 2)
        return F.scaled_dot_product_attention(qt, kk, vv, attn_mask=bias, enable_gqa=True).transpose(1, 2)

    nblk = [int(-(-int(x) // kc.shape[1])) for x in lens]

    def loop():
        outs = []
        for b in range(n):
            kk = kt[rows[b, :nblk[b]]].reshape(-1, h, e)[:int(lens[b])].transpose(0, 1)[None]
            vv = vt[rows[b, :nblk[b]]].reshape(-1, h, e)[:int(lens[b])].transpose(0, 1)[None]
            outs.append(F.scaled_dot_product_attention(qt[b:b + 1], kk, vv, enable_gqa=True))
        return torch.cat(outs).transpose(1, 2)
    return padded, loop


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
    recipes = torch_recipes(q, kc, vc, lens, bt)
    if recipes is not None:  # assert before timing
        np.testing.assert_allclose(paged(), recipes[0]().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(paged(), recipes[1]().numpy(), rtol=1e-4, atol=1e-5)
    # dense decode of the same bytes: one (H, S, E) call of total length
    S = int(lens.sum())
    kd = rng.standard_normal((h, S, e)).astype(np.float32)
    vd = rng.standard_normal((h, S, e)).astype(np.float32)
    qd = rng.standard_normal((hq, 1, e)).astype(np.float32)
    dense = lambda: sc.scaled_dot_product_attention(qd, kd, vd, enable_gqa=True)
    nbytes = 2 * S * h * e * 4
    return paged, dense, nbytes, recipes


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--quick", action="store_true", help="fewer sequences (16) and shorter prefill")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    n_seq = 16 if args.quick else 64
    paged, dense, nbytes, recipes = decode_case(rng, n_seq)
    # prefill: 8 sequences of 128..2048 tokens, varlen causal vs one dense causal call of the same work
    lens = rng.integers(128, 2049, 4 if args.quick else 8)
    tot = int(lens.sum())
    hq, h, e = 8, 8, 64
    q = rng.standard_normal((tot, hq, e)).astype(np.float32)
    k = rng.standard_normal((tot, h, e)).astype(np.float32)
    v = rng.standard_normal((tot, h, e)).astype(np.float32)  # its own V: K = V would halve the bytes in cache
    cu = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    flops = sum(2.0 * 2 * hq * e * n * (n + 1) / 2 for n in lens)
    Ld = int(np.sqrt((lens.astype(float) ** 2).sum()))
    qd = rng.standard_normal((hq, Ld, e)).astype(np.float32)
    kd = rng.standard_normal((h, Ld, e)).astype(np.float32)
    vd = rng.standard_normal((h, Ld, e)).astype(np.float32)
    flops_d = 2.0 * 2 * hq * e * Ld * (Ld + 1) / 2
    # window 512 over 8192 causal keys
    Lw = 2048 if args.quick else 8192
    qw = rng.standard_normal((Lw, 4, 64)).astype(np.float32)
    kw = rng.standard_normal((Lw, 4, 64)).astype(np.float32)
    vw = rng.standard_normal((Lw, 4, 64)).astype(np.float32)
    cw = np.array([0, Lw], np.int32)
    gb = lambda t: nbytes / t / 1e9
    for t in args.threads:
        sc.set_num_threads(t)
        if recipes is not None:
            import torch
            torch.set_num_threads(t)
            tp, td, tpad, tloop = medians([paged, dense, *recipes])
        else:
            (tp, td), tpad, tloop = medians([paged, dense]), float("nan"), float("nan")
        tv, tdd = medians([lambda: sc.flash_attn_varlen_func(q, k, v, cu, cu, causal=True),
                           lambda: sc.scaled_dot_product_attention(qd, kd, vd, is_causal=True)])
        tfull, twin = medians([lambda: sc.flash_attn_varlen_func(qw, kw, vw, cw, cw, causal=True),
                               lambda: sc.flash_attn_varlen_func(qw, kw, vw, cw, cw, causal=True,
                                                                 window_size=(512, 0))], 3)
        tt = min(tpad, tloop)
        print(f"threads {t}: paged decode {gb(tp):.2f} GB/s vs dense {gb(td):.2f} GB/s: ratio {td / tp:.2f} "
              f"(goal >= 0.85); torch padded {gb(tpad):.2f} GB/s, torch loop {gb(tloop):.2f} GB/s: "
              f"{tt / tp:.2f}x the better (goal >= 3)")
        print(f"threads {t}: varlen prefill {flops / tv / 1e9:.1f} GFLOP/s vs dense {flops_d / tdd / 1e9:.1f}: "
              f"ratio {(flops / tv) / (flops_d / tdd):.2f} (goal >= 0.9) | window 512 / full causal over {Lw}: "
              f"{tfull / twin:.2f}x (goal >= 6)", flush=True)


if __name__ == "__main__":
    main()
