"""Speed goals of the sampling family (issue 6), float32, one thread.

  sample (32, 128256), temperature 0.7, top_p 0.9:
      >= 10x NumPy (softmax, argsort, cumsum, rng.choice per row)
      >=  3x torch as transformers does it (sort, softmax, cumsum, mask,
             multinomial)
  topk_softmax (32, 128256), k = 5:
      >=  5x NumPy argpartition + softmax
Also reported (no goal): the goal case on flat N(0, 1) logits (the worst
case of the candidate selection: a nucleus of ~half the vocabulary), plain
temperature sampling, top-k 50, min-p 0.05, greedy, all warpers together.

Each case checks its result first (same token set / same top-k as the
baseline), then times: median of `--repeat` runs, all in one process,
side by side.  The baselines (and the peaked logits) are those of the
benchmark CLI, softmax_c._bench.ops (`python -m softmax_c bench --ops
sample,topk_softmax` runs the goal cases with its checks).
Usage: python benchmarks/sampling_speed.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import softmax_c
from softmax_c._bench.ops import numpy_top_p, numpy_topk_softmax, peaked_logits, torch_top_p


def median_time(f, repeat):
    f()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=128256)
    a = ap.parse_args(argv)
    softmax_c.set_num_threads(1)
    rng = np.random.default_rng(0)
    # LM-like logits: a Gaussian bulk plus a few strong candidates per row.
    x = peaked_logits(rng, (a.rows, a.vocab), np.float32)
    print(f"softmax_c {softmax_c.__version__}, target {softmax_c.cpu_info()['target']}, 1 thread, "
          f"x float32 {x.shape}, median of {a.repeat}")

    T, P = 0.7, 0.9
    # correctness first: every sampled token lies in the top-p set
    tok = softmax_c.sample(x, temperature=T, top_p=P, seed=1)
    ref_np = numpy_top_p(x.astype(np.float64), T, P, np.random.default_rng(1))
    for r in range(a.rows):
        z = x[r].astype(np.float64) / T
        p = np.exp(z - z.max())
        p /= p.sum()
        assert p[tok[r]] >= np.sort(p)[::-1][np.searchsorted(np.cumsum(np.sort(p)[::-1]), P)] * (1 - 1e-6)
    assert ref_np.shape == tok.shape
    t_sc = median_time(lambda: softmax_c.sample(x, temperature=T, top_p=P, seed=1), a.repeat)
    g = np.random.default_rng(2)
    t_np = median_time(lambda: numpy_top_p(x, T, P, g), max(3, a.repeat // 2))
    print(f"sample T={T} top_p={P}: softmax_c {t_sc * 1e3:8.2f} ms | NumPy {t_np * 1e3:8.2f} ms "
          f"-> {t_np / t_sc:6.1f}x (goal >= 10x)")
    try:
        import torch
    except ImportError:
        print("  torch not installed: torch comparison skipped")
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        xt = torch.from_numpy(x)
        gen = torch.Generator().manual_seed(0)
        t_t = median_time(lambda: torch_top_p(xt, T, P, gen), max(3, a.repeat // 2))
        print(f"{'':29s}torch {t_t * 1e3:8.2f} ms -> {t_t / t_sc:6.1f}x (goal >= 3x)")

    k = 5
    p, i = softmax_c.topk_softmax(x, k)
    rp, ri = numpy_topk_softmax(x.astype(np.float64), k)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(p, rp, rtol=3e-6)
    t_sc = median_time(lambda: softmax_c.topk_softmax(x, k), a.repeat)
    t_np = median_time(lambda: numpy_topk_softmax(x, k), a.repeat)
    print(f"topk_softmax k={k}: softmax_c {t_sc * 1e3:8.2f} ms | NumPy {t_np * 1e3:8.2f} ms "
          f"-> {t_np / t_sc:6.1f}x (goal >= 5x)")

    # The worst case for the candidate selection: flat logits N(0, 1), where
    # the top-0.9 nucleus at T=0.7 holds about half of the vocabulary.
    xf = rng.standard_normal((a.rows, a.vocab)).astype(np.float32)
    t_sc = median_time(lambda: softmax_c.sample(xf, temperature=T, top_p=P, seed=1), a.repeat)
    t_np = median_time(lambda: numpy_top_p(xf, T, P, g), max(3, a.repeat // 2))
    line = (f"sample T={T} top_p={P}, flat N(0,1) logits: softmax_c {t_sc * 1e3:8.2f} ms | NumPy "
            f"{t_np * 1e3:8.2f} ms -> {t_np / t_sc:6.1f}x")
    if torch is not None:
        xft = torch.from_numpy(xf)
        t_t = median_time(lambda: torch_top_p(xft, T, P, gen), max(3, a.repeat // 2))
        line += f" | torch {t_t * 1e3:8.2f} ms -> {t_t / t_sc:6.1f}x"
    print(line)

    for name, kw in [("T=0.7", dict(temperature=0.7)), ("top_k=50", dict(top_k=50)),
                     ("min_p=0.05", dict(min_p=0.05)), ("greedy", dict(temperature=0)),
                     ("T=0.7 top_k=50 top_p=0.9 min_p=0.05", dict(temperature=0.7, top_k=50, top_p=0.9, min_p=0.05))]:
        t = median_time(lambda: softmax_c.sample(x, seed=1, **kw), a.repeat)
        print(f"sample {name:38s} {t * 1e3:8.2f} ms  ({x.size / t / 1e9:5.2f} Gelem/s)")


if __name__ == "__main__":
    main()
