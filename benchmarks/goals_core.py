"""Speed goals of the core issue, measured side by side in one process.

Run:  python benchmarks/goals_core.py
Prints each goal with the measured ratio (medians of repeated calls).  Peers
(torch, onnxruntime) are skipped when not installed.  Timings only; the
correctness of every implementation is checked by `python -m softmax_c bench`.
"""
from __future__ import annotations

import time

import numpy as np

import softmax_c as sc


def median_time(f, min_time=0.4, max_reps=2000):
    f()
    ts = []
    t_end = time.perf_counter() + min_time
    while len(ts) < 5 or (time.perf_counter() < t_end and len(ts) < max_reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def numpy_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def ort_session(op, shape, threads):
    import onnx  # noqa: F401
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node(op, ["x"], ["y"], axis=-1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def main():
    rng = np.random.default_rng(0)
    info = sc.cpu_info()
    try:
        import torch
    except ImportError:
        torch = None
    print(f"softmax_c {info['version']}  target {info['target']}  cpus {info['num_threads']}")
    rows = []

    def goal(name, ratio, target):
        rows.append((name, ratio, target))
        print(f"  {name:62s} {ratio:6.2f}x  (goal >= {target}x)  {'met' if ratio >= target else 'NOT met'}")

    sc.set_num_threads(1)
    x = rng.standard_normal((32, 32000)).astype(np.float32)
    t_sc = median_time(lambda: sc.softmax(x, axis=-1))
    t_np = median_time(lambda: numpy_softmax(x))
    goal("softmax (32,32000) 1 thread vs NumPy", t_np / t_sc, 5)
    try:
        sess = ort_session("Softmax", x.shape, 1)
        t_ort = median_time(lambda: sess.run(None, {"x": x}))
        goal("softmax (32,32000) 1 thread vs ONNX Runtime 1 thread", t_ort / t_sc, 1.5)
    except ImportError:
        print("  onnxruntime not installed: skipped")
    if torch is not None:
        torch.set_num_threads(1)
        xt = torch.from_numpy(x)
        t_tl = median_time(lambda: torch.logsumexp(xt, -1))
        t_l = median_time(lambda: sc.logsumexp(x, axis=-1))
        goal("logsumexp (32,32000) 1 thread vs torch.logsumexp", t_tl / t_l, 3)
        x1 = rng.standard_normal((1, 1000)).astype(np.float32)
        x1t = torch.from_numpy(x1)
        t_t1 = median_time(lambda: torch.softmax(x1t, -1))
        t_s1 = median_time(lambda: sc.softmax(x1, axis=-1))
        goal("softmax (1,1000) per call vs torch.softmax", t_t1 / t_s1, 1.7)

    # expit / log_expit (issue 10): >= 4x scipy.special, (32, 32000) float32, 1 thread, interleaved
    try:
        import scipy.special as ss
    except ImportError:
        ss = None
        print("  scipy not installed: expit goals skipped")
    if ss is not None:
        xe = (rng.standard_normal((32, 32000)) * 5).astype(np.float32)
        ye = np.empty_like(xe)
        for name in ("expit", "log_expit"):
            mine, theirs = getattr(sc, name), getattr(ss, name)
            t_sc_e, t_sp_e = [], []
            for _ in range(3):  # A, B, A, B ...: load changes hit both
                t_sc_e.append(median_time(lambda: mine(xe, out=ye), min_time=0.15))
                t_sp_e.append(median_time(lambda: theirs(xe, out=ye), min_time=0.15))
            goal(f"{name} (32,32000) f32 1 thread vs scipy.special.{name}",
                 float(np.median(t_sp_e)) / float(np.median(t_sc_e)), 4)

    xa = rng.standard_normal((4096, 1024)).astype(np.float32)
    ya = np.empty_like(xa)
    ratios = []
    for _ in range(5):  # interleaved pairs: on a shared machine the load moves between runs
        t_last = median_time(lambda: sc.softmax(xa, axis=-1, out=ya), min_time=0.1)
        t_first = median_time(lambda: sc.softmax(xa, axis=0, out=ya), min_time=0.1)
        ratios.append(t_last / t_first)
    goal("axis=0 of C (4096,1024): last-axis time / axis-0 time (>= 1/1.5)", float(np.median(ratios)),
         round(1 / 1.5, 3))

    sc.set_num_threads(2)
    xb = rng.standard_normal((4096, 4096)).astype(np.float32)
    yb = np.empty_like(xb)
    t_sm = median_time(lambda: sc.softmax(xb, axis=-1, out=yb))
    t_cp = median_time(lambda: np.copyto(yb, xb))
    goal("softmax (4096,4096) out=, 2 threads: speed vs np.copyto", t_cp / t_sm, 0.85)

    for shape in ((32, 32000), (1024, 2048)):
        xs = rng.standard_normal(shape).astype(np.float32)
        ys = np.empty_like(xs)
        sc.set_num_threads(1)
        t1 = median_time(lambda: sc.softmax(xs, axis=-1, out=ys))
        sc.set_num_threads(2)
        t2 = median_time(lambda: sc.softmax(xs, axis=-1, out=ys))
        goal(f"softmax {shape}: 2-thread / 1-thread throughput", t1 / t2, 1.8)
    return rows


if __name__ == "__main__":
    main()
