"""Speed goal of half-precision logits in the sampling family (issue 11).

    python benchmarks/half_sampling_speed.py [--rows 32] [--vocab 128256] [--threads 1] [--repeat 21]

sample and topk_softmax on (rows, vocab) peaked LM logits (the benchmark
CLI's, softmax_c._bench.ops.peaked_logits) in float32, bfloat16 and float16.
Each half call is first checked to give exactly the float32 call's result on
the widened logits (same seed; topk_softmax: the float32 probabilities
rounded once).  Then the dtypes are timed interleaved (one call of each in
turn, `--repeat` rounds) and the medians reported with the goal ratio: half
rate / float32 rate (goal >= 1.0).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=128256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=21)
    args = ap.parse_args(argv)

    import ml_dtypes
    import softmax_c
    from softmax_c._bench.ops import peaked_logits

    softmax_c.set_num_threads(args.threads)
    x32 = peaked_logits(np.random.default_rng(0), (args.rows, args.vocab), np.float32)
    halves = {"bfloat16": x32.astype(ml_dtypes.bfloat16), "float16": x32.astype(np.float16)}
    ops = {
        "sample T=1": lambda x: softmax_c.sample(x, seed=1),
        "sample T=0.7 top_p=0.9": lambda x: softmax_c.sample(x, temperature=0.7, top_p=0.9, seed=1),
        "sample top_k=50": lambda x: softmax_c.sample(x, top_k=50, seed=1),
        "topk_softmax k=5": lambda x: softmax_c.topk_softmax(x, 5),
        "topk_softmax k=50": lambda x: softmax_c.topk_softmax(x, 50),
    }
    for op, f in ops.items():  # checks first
        for name, h in halves.items():
            got, want = f(h), f(h.astype(np.float32))
            if isinstance(got, tuple):
                assert got[0].dtype == h.dtype, (op, name)
                np.testing.assert_array_equal(got[1], want[1], err_msg=f"{op} {name}")
                np.testing.assert_array_equal(got[0].view(np.uint16), want[0].astype(h.dtype).view(np.uint16))
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{op} {name}")

    inputs = {"float32": x32, **halves}
    times = {(op, d): [] for op in ops for d in inputs}
    for _ in range(args.repeat):
        for op, f in ops.items():
            for d, x in inputs.items():
                t0 = time.perf_counter()
                f(x)
                times[(op, d)].append(time.perf_counter() - t0)
    print(f"shape ({args.rows}, {args.vocab}), {args.threads} thread(s), median of {args.repeat} interleaved; "
          f"target {softmax_c._core.get_target()}")
    print(f"{'op':24} {'float32 ms':>10} {'bf16 ms':>8} {'f16 ms':>8} {'bf16/f32 rate':>13} {'f16/f32 rate':>12}")
    for op in ops:
        m = {d: float(np.median(times[(op, d)])) for d in inputs}
        print(f"{op:24} {m['float32'] * 1e3:10.3f} {m['bfloat16'] * 1e3:8.3f} {m['float16'] * 1e3:8.3f} "
              f"{m['float32'] / m['bfloat16']:13.2f} {m['float32'] / m['float16']:12.2f}")


if __name__ == "__main__":
    main()
