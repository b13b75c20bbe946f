"""Speed goals of half precision in the softmax family (issue 11).

    python benchmarks/half_speed.py [--shape 32 32000] [--threads 1] [--repeat 50]

softmax, log_softmax and logsumexp of one (rows, cols) array in float32,
float16 and bfloat16, side by side in one run: softmax_c, and torch on the
same dtype (skipped without torch).  Each result is checked against the
float64 reference (1 ULP of the half dtype; float32's bound) before it is
timed.  Reported: the median time, Gelem/s, and the goal ratios: half rate /
softmax_c's own float32 rate (goal >= 1.0) and / torch's rate on the same
dtype (goal >= 2.5).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def medians(fns, repeat):
    """{name: median seconds} of the callables, interleaved: every round
    calls each once, in turn, so all see the same machine state (timed one
    dtype after another, the float32 rows ran faster or slower than the
    half rows by whatever the machine did in between)."""
    ts = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(repeat):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            ts[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in ts.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", type=int, nargs=2, default=(32, 32000))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()

    import ml_dtypes
    import softmax_c as sc
    from softmax_c import reference as ref
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    sc._core.set_num_threads(args.threads)

    x32 = np.random.default_rng(0).standard_normal(tuple(args.shape)).astype(np.float32) * 4
    inputs = {"float32": x32, "float16": x32.astype(np.float16), "bfloat16": x32.astype(ml_dtypes.bfloat16)}
    tdt = {} if torch is None else {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    ops = {"softmax": (sc.softmax, ref.softmax, "softmax"), "log_softmax": (sc.log_softmax, ref.log_softmax, "log_softmax"),
           "logsumexp": (sc.logsumexp, ref.logsumexp, "logsumexp")}
    n = x32.size
    print(f"shape {tuple(args.shape)}, {args.threads} thread(s), median of {args.repeat} interleaved rounds; "
          f"target {sc._core.get_target()}")
    print(f"{'op':12} {'dtype':9} {'softmax_c ms':>12} {'Gelem/s':>8} {'torch ms':>9} {'vs own f32':>10} {'vs torch':>9}")
    for op, (fn, rf, tname) in ops.items():
        fns = {}
        for name, x in inputs.items():
            exact = rf(x.astype(np.float64), axis=-1)
            got = fn(x, axis=-1)
            if name == "float32" or op == "logsumexp":
                err = np.max(np.abs(np.asarray(got, np.float64) - exact) / np.maximum(np.abs(exact), 1e-30 if op == "softmax" else 1.0))
                assert err < 3e-6, (op, name, err)
            else:  # 1 ULP of the half dtype
                want = exact.astype(x.dtype)
                g, w = got.view(np.uint16).astype(np.int64), want.view(np.uint16).astype(np.int64)
                d = np.abs(np.where(g & 0x8000, -(g & 0x7FFF), g) - np.where(w & 0x8000, -(w & 0x7FFF), w))
                assert d.max() <= 1, (op, name, d.max())
            fns[name] = (lambda fn=fn, x=x: fn(x, axis=-1))
            if torch is not None:
                xt = torch.from_numpy(x32).to(tdt[name])
                fns["torch " + name] = {"softmax": lambda xt=xt: torch.softmax(xt, -1),
                                        "log_softmax": lambda xt=xt: torch.log_softmax(xt, -1),
                                        "logsumexp": lambda xt=xt: torch.logsumexp(xt, -1)}[tname]
        med = medians(fns, args.repeat)
        for name in inputs:
            t, tt = med[name], med.get("torch " + name)
            print(f"{op:12} {name:9} {t * 1e3:12.3f} {n / t / 1e9:8.2f} "
                  f"{'' if tt is None else f'{tt * 1e3:9.3f}':>9} {med['float32'] / t:10.2f} "
                  f"{'' if tt is None else f'{tt / t:9.2f}':>9}")


if __name__ == "__main__":
    main()
