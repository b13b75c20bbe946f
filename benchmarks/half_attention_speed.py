"""Speed goals of half-precision and int8 attention (issue 11), side by side
in one run.

    python benchmarks/half_attention_speed.py [--threads 1 2] [--rounds 7]

Decode (1, 32, 1, 4096, 128) with a float32 query against a bfloat16,
float16, int8 (quantize_kv) and float32 cache: softmax_c, torch SDPA on
bf16 / f16 tensors, and a plain read of the cache's bytes (the benchmark
CLI's read bound: ``max()`` of the bytes viewed as float32, on up to the
call's threads), K and V together in one pass as a call reads them (and,
for comparison, K and V read apart); KV GB/s and
the goal ratios (bf16 / f16: >= 1.0x torch bf16 at 1 thread, >= 1.3x at 2,
>= 0.9x the read; int8 >= 1.8x torch bf16).  Prefill (1, 8, 1024, 1024, 64)
in bf16 and f16 against torch on the same dtype (goals 1.0x, 1.5x).  Each
result is checked against the float64 reference of its inputs first; all
timings are medians of interleaved rounds.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def medians(fns, rounds):
    """Median seconds of each function, timed interleaved.  After a torch
    call the loop sleeps 20 ms untimed: torch's OpenMP threads spin-wait for
    work after each call and would take the next call's cores (softmax_c at
    2 threads ran at the speed of 1 behind them)."""
    for f in fns.values():
        f()
    t = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            t[k].append(time.perf_counter() - t0)
            if k.startswith("torch"):
                time.sleep(0.02)
    return {k: float(np.median(v)) for k, v in t.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()

    import ml_dtypes
    import softmax_c as sc
    from softmax_c import reference as ref
    from softmax_c._bench.limits import traffic_time  # the bench's read bound: max() of the bytes, 1..t threads
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        torch = None
    bf16 = np.dtype(ml_dtypes.bfloat16)
    rng = np.random.default_rng(0)

    # ---- decode ----
    q = rng.standard_normal((1, 32, 1, 128), dtype=np.float32)
    k32 = rng.standard_normal((1, 32, 4096, 128), dtype=np.float32)
    v32 = rng.standard_normal((1, 32, 4096, 128), dtype=np.float32)
    caches = {"bfloat16": (k32.astype(bf16), v32.astype(bf16)),
              "float16": (k32.astype(np.float16), v32.astype(np.float16)),
              "int8": (sc.quantize_kv(k32), sc.quantize_kv(v32)),
              "float32": (k32, v32)}
    del k32, v32

    def raw(x):
        if isinstance(x, sc.QuantizedKV):
            return x.values
        return x.view(np.uint16) if x.dtype.itemsize == 2 else x

    def nbytes(kv):
        return sum(raw(x).nbytes + (x.scales.nbytes if isinstance(x, sc.QuantizedKV) else 0) for x in kv)

    for name, (k, v) in caches.items():  # checked before anything is timed
        kd = k.dequantize(np.float64) if isinstance(k, sc.QuantizedKV) else k.astype(np.float64)
        vd = v.dequantize(np.float64) if isinstance(v, sc.QuantizedKV) else v.astype(np.float64)
        want = ref.scaled_dot_product_attention(q.astype(np.float64), kd, vd)
        err = np.abs(sc.scaled_dot_product_attention(q, k, v) - want).max()
        assert err <= 2e-5 * np.abs(vd).max(), (name, err)
    tt = {}
    if torch is not None:
        k, v = caches["bfloat16"]
        tt["torch bf16"] = tuple(torch.from_numpy(x.astype(np.float32)).to(torch.bfloat16) for x in (q, k, v))
        k, v = caches["float16"]
        tt["torch f16"] = tuple(torch.from_numpy(x.astype(np.float32)).to(torch.float16) for x in (q, k, v))

    # ---- prefill ----
    pq = rng.standard_normal((1, 8, 1024, 64), dtype=np.float32)
    pk = rng.standard_normal((1, 8, 1024, 64), dtype=np.float32)
    pv = rng.standard_normal((1, 8, 1024, 64), dtype=np.float32)
    pre = {name: tuple(x.astype(dt) for x in (pq, pk, pv)) for name, dt in (("bfloat16", bf16), ("float16", np.float16))}
    flops = 4.0 * 8 * 1024 * 1024 * 64

    for t in args.threads:
        sc.set_num_threads(t)
        fns = {f"softmax_c {n}": (lambda k=k, v=v: sc.scaled_dot_product_attention(q, k, v))
               for n, (k, v) in caches.items()}
        # The read bound: the call's K and V bytes in one pass, as the call
        # reads them (64 MiB at bf16).  Read apart, each half is re-read
        # from a warm L3 (32 MiB here), which is not what a call sees.
        read, apart = {}, {}
        for n, kv in caches.items():
            both = np.concatenate([raw(x).reshape(-1).view(np.uint8) for x in kv])
            read[n] = traffic_time(both, "read", t)[0]
            del both
            apart[n] = sum(traffic_time(raw(x), "read", t)[0] for x in kv)
        if torch is not None:
            torch.set_num_threads(t)
            for n, (a, b, c) in tt.items():
                fns[n] = lambda a=a, b=b, c=c: F.scaled_dot_product_attention(a, b, c)
        m = medians(fns, args.rounds)
        print(f"threads {t}: decode (1, 32, 1, 4096, 128), float32 query")
        for n, kv in caches.items():
            s = m[f"softmax_c {n}"]
            line = (f"  {n:9s} cache: {s * 1e3:6.2f} ms  {nbytes(kv) / s / 1e9:5.1f} GB/s  "
                    f"read of the bytes in one pass {nbytes(kv) / read[n] / 1e9:5.1f} GB/s -> {read[n] / s:.2f}x "
                    f"(K, V apart {nbytes(kv) / apart[n] / 1e9:5.1f} -> {apart[n] / s:.2f}x)")
            if "torch bf16" in m:
                line += f"  vs torch bf16 {m['torch bf16'] / s:6.2f}x"
            print(line)
        if torch is not None:
            print(f"  torch bf16 {m['torch bf16'] * 1e3:.2f} ms, torch f16 {m['torch f16'] * 1e3:.2f} ms")

        fns = {}
        for n, (a, b, c) in pre.items():
            fns[f"softmax_c {n}"] = lambda a=a, b=b, c=c: sc.scaled_dot_product_attention(a, b, c)
            if torch is not None:
                tdt = torch.bfloat16 if n == "bfloat16" else torch.float16
                ta, tb, tc = (torch.from_numpy(x.astype(np.float32)).to(tdt) for x in (a, b, c))
                fns[f"torch {n}"] = lambda ta=ta, tb=tb, tc=tc: F.scaled_dot_product_attention(ta, tb, tc)
        m = medians(fns, max(3, args.rounds // 2))
        print(f"threads {t}: prefill (1, 8, 1024, 1024, 64)")
        for n in pre:
            s = m[f"softmax_c {n}"]
            line = f"  {n:9s}: {s * 1e3:6.2f} ms  {flops / s / 1e9:6.1f} GFLOP/s"
            if f"torch {n}" in m:
                line += f"  torch {flops / m[f'torch {n}'] / 1e9:6.1f} GFLOP/s -> {m[f'torch {n}'] / s:.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()
