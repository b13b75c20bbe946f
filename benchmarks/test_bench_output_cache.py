"""The output cache (issue 10): softmax (4096, 4096) float32 without ``out=``,
called in a loop, vs the same call with ``out=`` vs ONNX Runtime, 2 threads.

    pytest benchmarks/test_bench_output_cache.py --benchmark-only   # pytest-benchmark, one group
    python benchmarks/test_bench_output_cache.py [--rounds 30]       # interleaved rounds: medians, IQR

Goal: fresh output >= 1.0x ONNX Runtime and within 1.25x of ``out=``.  The
script interleaves the contenders round by round (the machine is shared, so
drifting load hits all of them alike) and prints each median with its
25-75 % spread.  ``np.empty + out=`` is what a fresh
output costs without the cache: every call faults in new pages.
Each contender is checked against scipy-equivalent values before timing.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pytest

import softmax_c as sc
from softmax_c import reference
from softmax_c.bench import NotApplicable
from softmax_c._bench.ops import onnx_single_node

SHAPE = (4096, 4096)
THREADS = 2


def _x():
    return np.random.default_rng(0).standard_normal(SHAPE, dtype=np.float32)


def contenders(x):
    y = np.empty_like(x)
    calls = {"softmax_c fresh": lambda: sc.softmax(x, axis=-1),
             "softmax_c out=": lambda: sc.softmax(x, axis=-1, out=y),
             # what a fresh output costs without the cache: new pages every call
             "np.empty + out=": lambda: sc.softmax(x, axis=-1, out=np.empty_like(x))}
    try:
        calls["onnxruntime"] = onnx_single_node("Softmax", x, THREADS, axis=-1)
    except (ImportError, NotApplicable):
        pass
    return calls


def _check(call, x):
    expected = reference.softmax(x[:64].astype(np.float64), axis=-1)
    got = call()[:64]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("name", ["softmax_c fresh", "softmax_c out=", "np.empty + out=", "onnxruntime"])
def test_fresh_output(benchmark, name):
    x = _x()
    calls = contenders(x)
    if name not in calls:
        pytest.skip("onnxruntime missing")
    before = sc.get_num_threads()
    sc.set_num_threads(THREADS)
    try:
        _check(calls[name], x)
        benchmark.group = f"softmax {SHAPE} float32 fresh output, {THREADS} threads"
        benchmark(calls[name])
    finally:
        sc.set_num_threads(before)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--reps", type=int, default=5, help="calls per round (a loop, results dropped)")
    args = p.parse_args()
    x = _x()
    sc.set_num_threads(THREADS)
    calls = contenders(x)
    times = {k: [] for k in calls}
    for k, f in calls.items():
        _check(f, x)
        for _ in range(3):
            f()
    for _ in range(args.rounds):
        for k, f in calls.items():
            t = time.perf_counter()
            for _ in range(args.reps):
                y = f()
            times[k].append((time.perf_counter() - t) / args.reps)
            del y
    med = {k: float(np.median(v)) for k, v in times.items()}
    for k, v in times.items():
        q1, q3 = np.percentile(v, [25, 75]) * 1e3
        print(f"{k:22s} median {med[k] * 1e3:7.2f} ms   IQR {q1:6.2f}-{q3:6.2f} ms")
    f = med["softmax_c fresh"]
    print(f"fresh / out=       {f / med['softmax_c out=']:.2f}x  (goal <= 1.25)")
    if "onnxruntime" in med:
        print(f"ORT / fresh        {med['onnxruntime'] / f:.2f}x  (goal >= 1.0)")
    print(sc.output_cache_info())


if __name__ == "__main__":
    main()
