"""The serving sampler's speed goals (issue 13), each ratio printed beside
its goal, at 1 and 2 threads:

* (64, 128256) float32 logits, per-row temperatures in [0.5, 1.2] (row 0
  greedy), top_p 0.9, top_k 50 on half the rows, repetition 1.1 and
  frequency 0.2 over 256 previous tokens per row, a 16-token logit bias,
  logprobs=5: >= 20x NumPy, >= 5x torch (vLLM / transformers recipe);
* the same call with per-row parameter arrays costs <= 1.1x the call with
  scalars;
* verify_draft, 64 rows, k = 4, V = 128256: >= 10x NumPy.

    python benchmarks/sampler_speed.py [--threads 1 2] [--reps 7]

The workloads and baselines are softmax_c._bench.serving (the CLI's
``serving_sample`` and ``verify_draft`` cases).  Every recipe is checked
before it is timed (the greedy row agrees with the float64 oracle; verify
outputs are well formed); calls are timed interleaved (A, B, A, B, ...) and
the medians compared.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import softmax_c as sc
from softmax_c._bench import serving as S

ROWS, V, HIST, K = 64, 128256, 256, 4


def interleaved(calls, reps):
    """Median seconds of each call, timed A, B, C, A, B, C, ..."""
    ts = [[] for _ in calls]
    for _ in range(reps):
        for i, f in enumerate(calls):
            t0 = time.perf_counter()
            f()
            ts[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in ts]


def check(inp, vin):
    g = S.serving_greedy_token(inp)
    assert S.softmax_c_serving(sc, inp).tokens[0] == g, "softmax_c: greedy row differs from the oracle"
    assert S.softmax_c_serving(sc, inp, scalars=True).tokens[0] == g, "softmax_c scalars: greedy row differs"
    assert S.numpy_serving(inp, np.random.default_rng(0))[0][0] == g, "numpy: greedy row differs"
    assert S.torch_serving(inp)[0] == g, "torch: greedy row differs"
    for acc, toks in (S.softmax_c_verify(sc, vin), S.numpy_verify(vin, np.random.default_rng(0))):
        assert ((acc >= 0) & (acc <= K)).all()
        for r in range(ROWS):
            a = acc[r]
            assert (toks[r, :a] == vin["draft_tokens"][r, :a]).all() and 0 <= toks[r, a] < V
            assert (toks[r, a + 1:] == -1).all()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    import torch

    rng = np.random.default_rng(0)
    inp = S.serving_inputs(rng, ROWS, V, HIST)
    same = dict(inp, temperature=np.full(ROWS, 0.8), top_k=np.full(ROWS, S.TOP_K))  # all-equal per-row arrays
    vin = S.verify_inputs(rng, ROWS, K, V)
    check(inp, vin)
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {a.reps} interleaved repeats")
    for nt in a.threads:
        sc.set_num_threads(nt)
        torch.set_num_threads(nt)
        nrng = np.random.default_rng(1)
        t_ours, t_np, t_torch = interleaved([lambda: S.softmax_c_serving(sc, inp),
                                             lambda: S.numpy_serving(inp, nrng),
                                             lambda: S.torch_serving(inp)], a.reps)
        t_arr, t_sca = interleaved([lambda: S.softmax_c_serving(sc, same),
                                    lambda: S.softmax_c_serving(sc, same, scalars=True)], a.reps)
        t_v, t_vnp = interleaved([lambda: S.softmax_c_verify(sc, vin), lambda: S.numpy_verify(vin, nrng)], a.reps)
        print(f"threads={nt}")
        print(f"  serving sample ({ROWS}, {V}) f32: softmax_c {t_ours * 1e3:7.2f} ms  numpy {t_np * 1e3:8.2f} ms"
              f" -> {t_np / t_ours:5.1f}x (goal >= 20x)  torch {t_torch * 1e3:7.2f} ms -> {t_torch / t_ours:5.1f}x"
              f" (goal >= 5x)")
        print(f"  per-row arrays {t_arr * 1e3:7.2f} ms vs scalars {t_sca * 1e3:7.2f} ms -> {t_arr / t_sca:5.3f}x"
              f" (goal <= 1.1x)")
        print(f"  verify_draft ({ROWS}, {K}+1, {V}) f32: softmax_c {t_v * 1e3:7.2f} ms  numpy {t_vnp * 1e3:8.2f} ms"
              f" -> {t_vnp / t_v:5.1f}x (goal >= 10x)")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
