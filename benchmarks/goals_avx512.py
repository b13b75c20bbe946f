"""Speed goals of the AVX-512 issue, measured side by side in one process.

Run:  python benchmarks/goals_avx512.py [--rounds N]
Each goal times its implementations interleaved (A, B, A, B, ... for
``--rounds`` rounds of ~0.1 s each) and compares the medians, so a load
change on a shared machine hits both sides alike.  Prints the CPU, the
target chosen and the thread counts, then one line per goal with the ratio
and whether it is met.  Peers (torch, onnxruntime) are skipped when absent.
Timings only: correctness is checked by ``python -m softmax_c bench``.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import softmax_c as sc
from softmax_c._bench.limits import fma_peak

from goals_core import ort_session  # benchmarks/ is on sys.path when run as a script


def _per_call(f, seconds):
    """Median seconds per call of f over about `seconds` of calls."""
    f()
    ts, end = [], time.perf_counter() + seconds
    while len(ts) < 3 or time.perf_counter() < end:
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def paired(fs, rounds, seconds=0.1):
    """Median per-call seconds of each of `fs`, timed interleaved."""
    samples = [[] for _ in fs]
    for _ in range(rounds):
        for s, f in zip(samples, fs):
            s.append(_per_call(f, seconds))
    return [float(np.median(s)) for s in samples]


def ort_softmax(shape, threads):
    """A callable running ONNX Runtime's Softmax on `threads` threads
    (goals_core.ort_session), or None without onnxruntime."""
    try:
        sess = ort_session("Softmax", shape, threads)
    except ImportError:
        return None
    return lambda x: sess.run(None, {"x": x})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    R = args.rounds
    try:
        import torch
    except ImportError:
        torch = None
    info = sc.cpu_info()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"softmax_c {info['version']}  target {info['target']}  cpus {os.cpu_count()}  "
          f"load {load:.1f}  rounds {R}  torch {torch.__version__ if torch else 'absent'}")
    rows = []

    def goal(name, ratio, target, extra=""):
        ok = ratio >= target
        rows.append((name, ratio, target, ok))
        print(f"  {name:58s} {ratio:6.2f}x  (goal >= {target}x)  {'met' if ok else 'NOT met'}{extra}")

    def threads(n):
        sc.set_num_threads(n)
        if torch is not None:
            torch.set_num_threads(n)

    rng = np.random.default_rng(0)
    # ---- softmax f32 vs ONNX Runtime and np.copyto (out= on both sides)
    for n_thr, shapes in ((1, ((128, 1000), (32, 32000), (8, 128256), (1024, 2048))), (2, ((32, 32000),))):
        threads(n_thr)
        for shape in shapes:
            x = rng.standard_normal(shape).astype(np.float32)
            y = np.empty_like(x)
            ort = ort_softmax(shape, n_thr)
            fs = [lambda: sc.softmax(x, axis=-1, out=y), lambda: np.copyto(y, x)]
            if ort is not None:
                fs.append(lambda: ort(x))
            t = paired(fs, R)
            tag = f"softmax {shape} {n_thr} thr"
            if ort is not None:
                want = 1.5 if shape == (128, 1000) else 1.3
                if shape != (1024, 2048):
                    goal(f"{tag}: vs ONNX Runtime", t[2] / t[0], want)
            if shape[1] >= 2048 and n_thr == 1:
                goal(f"{tag}: rate vs np.copyto", t[1] / t[0], 0.85)

    # ---- (4096, 4096) without out=, 2 threads, in a loop
    threads(2)
    xb = rng.standard_normal((4096, 4096)).astype(np.float32)
    yb = np.empty_like(xb)
    ort = ort_softmax(xb.shape, 2)
    fs = [lambda: sc.softmax(xb, axis=-1), lambda: sc.softmax(xb, axis=-1, out=yb)]
    if ort is not None:
        fs.append(lambda: ort(xb))
    t = paired(fs, R)
    goal("softmax (4096,4096) no out=, 2 thr: out= time / fresh time", t[1] / t[0], round(1 / 1.25, 2))
    if ort is not None:
        goal("softmax (4096,4096) no out=, 2 thr: vs ONNX Runtime", t[2] / t[0], 1.0)

    # ---- logsumexp (32, 32000), 1 thread
    threads(1)
    x = rng.standard_normal((32, 32000)).astype(np.float32)
    fs = [lambda: sc.logsumexp(x, axis=-1), lambda: x.sum(axis=-1)]
    if torch is not None:
        xt = torch.from_numpy(x)
        fs.append(lambda: torch.logsumexp(xt, -1))
    t = paired(fs, R)
    goal("logsumexp (32,32000) 1 thr: rate vs np.sum", t[1] / t[0], 0.8)
    if torch is not None:
        goal("logsumexp (32,32000) 1 thr: vs torch.logsumexp", t[2] / t[0], 3.5)
        x1 = rng.standard_normal((1, 1000)).astype(np.float32)
        x1t = torch.from_numpy(x1)
        t = paired([lambda: sc.softmax(x1, axis=-1), lambda: torch.softmax(x1t, -1)], R)
        goal("softmax (1,1000) per call vs torch.softmax", t[1] / t[0], 2.0)

    if torch is None:
        return rows
    import torch.nn.functional as F

    # ---- attention prefill (1, 8, 1024, 1024, 64) and decode (1, 32, 1, 4096, 128)
    peak = fma_peak(1)
    q = rng.standard_normal((1, 8, 1024, 64)).astype(np.float32)
    k = rng.standard_normal((1, 8, 1024, 64)).astype(np.float32)
    v = rng.standard_normal((1, 8, 1024, 64)).astype(np.float32)
    qt, kt, vt = (torch.from_numpy(a) for a in (q, k, v))
    for n_thr in (1, 2):
        threads(n_thr)
        for causal in (False, True) if n_thr == 1 else (False,):
            t = paired([lambda: sc.scaled_dot_product_attention(q, k, v, is_causal=causal),
                        lambda: F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)], R)
            flops = 4 * 8 * 1024 * 1024 * 64 / (2 if causal else 1)
            gf = flops / t[0] / 1e9
            want = (1.6 if causal else 1.25) if n_thr == 1 else 1.2
            extra = f"   {gf:.0f} GFLOP/s = {100 * gf / peak:.0f}% of FMA peak {peak:.0f}" if n_thr == 1 else ""
            goal(f"prefill{' causal' if causal else ''} (1,8,1024,1024,64) {n_thr} thr vs torch",
                 t[1] / t[0], want, extra)
            if n_thr == 1 and not causal:
                goal("prefill (1,8,1024,1024,64) 1 thr: share of FMA peak", gf / peak, 0.78)
    q = rng.standard_normal((1, 32, 1, 128)).astype(np.float32)
    k = rng.standard_normal((1, 32, 4096, 128)).astype(np.float32)
    v = rng.standard_normal((1, 32, 4096, 128)).astype(np.float32)
    qt, kt, vt = (torch.from_numpy(a) for a in (q, k, v))
    kv = np.concatenate([k.reshape(-1), v.reshape(-1)])
    for n_thr in (1, 2):
        threads(n_thr)
        t = paired([lambda: sc.scaled_dot_product_attention(q, k, v),
                    lambda: F.scaled_dot_product_attention(qt, kt, vt),
                    lambda: kv.max()], R)
        gbs = kv.nbytes / t[0] / 1e9
        goal(f"decode (1,32,1,4096,128) {n_thr} thr vs torch", t[1] / t[0], 1.3 if n_thr == 1 else 1.5,
             f"   K+V {gbs:.1f} GB/s; a read of the same bytes (max()) {kv.nbytes / t[2] / 1e9:.1f} GB/s")
    return rows


if __name__ == "__main__":
    main()
