"""The limit of a case: the least time its work can take here, measured in the same run.

A case's limit is ``work / t_min`` in the case's unit (GB/s or GFLOP/s),
where ``t_min`` is the largest of the lower bounds that apply to its op
(:attr:`softmax_c._bench.ops.Op.traffic`, :attr:`~softmax_c._bench.ops.Op.exps`):

traffic
    the case's input bytes moved the cheapest way we know, warm, on the same
    threads: ``np.copyto`` of the input into a preallocated output of the
    same size, or, where it is less, the larger of a read of the input and
    a write of the output (``fill``: streamed stores skip the copy's read
    for ownership) (softmax, log_softmax: they write as much as they read);
    or a read-only pass, ``x.max()`` (logsumexp, sample, topk_softmax and
    attention's q, k, v: they read and write next to nothing).
exp
    one exp per input element at the rate of softmax_c's own fastest exp
    path (:func:`exp_rate`: the kernels' exp-and-sum loop on an L2-resident
    row, nothing stored; elements/s): softmax, log_softmax, logsumexp. It is
    the fastest exp here: NumPy's and torch's were 2.5x and 5x slower
    (float32, AVX-512 EPYC).
flops
    attention's flops at the FMA peak, ``softmax_c._core.fma_peak_gflops``
    (float32; half of it for float64: the same instructions, half the lanes).

So that each bound is a bound and not a typical speed, every one is the
fastest sample (not the median), and the best of several ways: plain calls;
for arrays up to :data:`REPEAT_MAX`, one call over a stride-0 view that
passes over the same bytes :data:`REPEAT_BYTES` worth of times (no per-call
overhead: a tiny case's limit is its cache bandwidth, and its own call
overhead is what keeps it below); and with ``threads > 1`` also split into
that many slices run concurrently (NumPy and softmax_c release the GIL),
each thread passing over its slice repeatedly so that the pool's hand-off is
amortised. The bounds are cached per (bytes, dtype, threads), so cases of
one shape share them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .impls import load_softmax_c, try_import
from .timing import measure

__all__ = ["Limit", "case_limit", "exp_rate", "fma_peak", "traffic_time"]

#: Bytes one timed call passes over when small arrays are repeated
#: (a few ms: the ~1 us of a Python call is then < 0.1 %).
REPEAT_BYTES = 4 << 20
#: Arrays (per thread) up to this size are also timed repeated through a
#: stride-0 view. Above it the call overhead is negligible, and NumPy's copy
#: into a self-overlapping view got slower (7 vs 113 GB/s at 4 MiB).
REPEAT_MAX = 256 << 10
#: Elements per thread for the exp rate: input and output in L2 (64K float32:
#: 512 KiB) and long enough (~10 us) that the call costs a few %. The best of
#: both sizes is kept (8.7 Gelem/s float32 at 64K vs 7.4 at 16K, 1 thread).
EXP_SIZES = (16384, 65536)
#: Seconds of timing per measurement of a bound.
BUDGET = 0.02


@dataclass(frozen=True)
class Limit:
    """The limit of one case: ``value`` in ``unit``, and how it was got
    (every bound in the case's unit, the binding one first)."""

    value: float
    unit: str
    how: str


# ----------------------------------------------------------------- helpers --

def _slices(a: np.ndarray, parts: int) -> List[np.ndarray]:
    """``a`` flattened and cut into at most ``parts`` contiguous slices."""
    flat = a.reshape(-1)
    step = -(-flat.size // parts)
    return [flat[i:i + step] for i in range(0, flat.size, step)]


def _repeat(a: np.ndarray, reps: int) -> np.ndarray:
    """A ``(reps, a.size)`` view of 1-D ``a`` whose rows are ``a`` itself."""
    return as_strided(a, (reps, a.size), (0, a.itemsize))


def _concurrently(pool, tasks):
    """Run zero-argument ``tasks`` on ``pool`` (the caller runs the first) and wait."""
    futures = [pool.submit(t) for t in tasks[1:]]
    tasks[0]()
    for f in futures:
        f.result()


def _fastest(task_for, parts_list, threads: int) -> Tuple[float, int]:
    """Seconds of one pass and the thread count that gave them.

    ``task_for(part, parts)`` returns ``(call, passes)``: a call that makes
    ``passes`` passes over slice ``part`` of ``parts``, or None to skip.
    """
    best = (float("inf"), 1)
    with ThreadPoolExecutor(max(1, threads - 1)) as pool:
        for parts in parts_list:
            tasks = [task_for(i, parts) for i in range(parts)]
            if any(t is None for t in tasks):
                continue
            calls, passes = [t[0] for t in tasks], tasks[0][1]
            run = calls[0] if parts == 1 else (lambda c=calls: _concurrently(pool, c))
            t = measure(run, BUDGET).best / passes
            best = min(best, (t, parts))
    return best


def _thread_counts(threads: int) -> List[int]:
    return [1] if threads <= 1 else [1, threads]


# ----------------------------------------------------------------- traffic --

def _copy_task(src, dst, repeated):
    def task_for(i, parts):
        s, d = _slices(src, parts)[i], _slices(dst, parts)[i]
        reps = max(1, REPEAT_BYTES // max(1, s.nbytes))
        if repeated:
            if s.nbytes > REPEAT_MAX:
                return None
            rs, rd = _repeat(s, reps), _repeat(d, reps)
            return (lambda: np.copyto(rd, rs)), reps
        if parts == 1:
            return (lambda: np.copyto(d, s)), 1
        reps = min(reps, 1000)  # the pool's hand-off amortised over the loop

        def loop():
            for _ in range(reps):
                np.copyto(d, s)
        return loop, reps
    return task_for


def _read_task(src, repeated):
    def task_for(i, parts):
        s = _slices(src, parts)[i]
        reps = max(1, REPEAT_BYTES // max(1, s.nbytes))
        if repeated:
            if s.nbytes > REPEAT_MAX:
                return None
            rs = _repeat(s, reps)
            return (lambda: rs.max()), reps
        if parts == 1:
            return (lambda: s.max()), 1
        reps = min(reps, 1000)

        def loop():
            for _ in range(reps):
                s.max()
        return loop, reps
    return task_for


def _fill_task(dst, repeated):
    def task_for(i, parts):
        d = _slices(dst, parts)[i]
        reps = max(1, REPEAT_BYTES // max(1, d.nbytes))
        if repeated:
            return None  # a stride-0 view cannot be written: a loop instead
        reps = min(reps, 1000)  # the call overhead amortised over the loop

        def loop():
            for _ in range(reps):
                d.fill(0)
        return loop, reps
    return task_for


def _best_pass(task_of, threads: int) -> Tuple[float, int, str]:
    """Least seconds of one pass, its thread count and " repeated" or ""."""
    best = (float("inf"), 1, "")
    for repeated in (False, True):
        t, parts = _fastest(task_of(repeated), _thread_counts(threads), threads)
        best = min(best, (t, parts, " repeated" if repeated else ""))
    return best


def _how(name: str, parts: int, rep: str) -> str:
    return f"{name}{rep} x{parts} thread{'s' if parts > 1 else ''}"


def traffic_time(x: np.ndarray, kind: str, threads: int = 1) -> Tuple[float, str]:
    """Least seconds to pass over ``x``'s bytes, and how that was measured.

    Parameters
    ----------
    x : ndarray
        The case's input (its bytes are what is timed; it is not modified).
    kind : {"copy", "read"}
        ``np.copyto`` of ``x`` into a warm array of the same size (or the
        larger of a read of ``x`` and a write of that array, where less),
        or the read-only ``x.max()``.
    threads : int
        Also try ``threads`` slices run concurrently.
    """
    if kind not in ("copy", "read"):
        raise ValueError(f"kind must be 'copy' or 'read', got {kind!r}")
    if x.dtype.itemsize < 4 and x.flags.c_contiguous and x.nbytes % 4 == 0:
        # the same bytes as float32: NumPy's float16 / bfloat16 max() is no
        # vector loop, and its uint16 / int8 max() reads slower (28 vs 43 GB/s
        # on one core here) than its float32 one
        x = x.reshape(-1).view(np.float32)
    x = np.ascontiguousarray(x)
    read = _best_pass(lambda rep: _read_task(x, rep), threads)
    if kind == "read":
        return read[0], _how("max()", *read[1:])
    dst = np.empty_like(x)
    copy = _best_pass(lambda rep: _copy_task(x, dst, rep), threads)
    # A copy's stores first read each destination line (read for ownership);
    # a kernel that streams its output with non-temporal stores does not, so
    # out of cache it can beat np.copyto. It cannot beat reading its input,
    # nor writing its output (ndarray.fill): the larger of those two bounds
    # it too, and the smaller of that and the copy is the bound.
    fill = _best_pass(lambda rep: _fill_task(dst, rep), threads)
    stream = max((read, "max()"), (fill, "fill"))
    if stream[0][0] < copy[0]:
        return stream[0][0], _how(stream[1], *stream[0][1:]) + " (streamed: max of read, write)"
    return copy[0], _how("np.copyto", *copy[1:])


# --------------------------------------------------------------------- exp --

def exp_rate(dtype, threads: int = 1) -> Optional[Tuple[float, str]]:
    """Best exp rate (elements/s) of softmax_c's own kernels and how, or None
    when the library is missing.

    The fastest of ``softmax_c._core.bench_exp_rate`` (the kernels' fast-mode
    exp-and-sum loop, nothing stored, on ``threads`` threads of its own) and
    ``softmax_c._core.vector_exp`` (the general exp with a store), so that no
    case computes its exps faster than its bound says. Half precision
    computes in float32: its rate is float32's.
    """
    core = try_import("softmax_c._core") if load_softmax_c() is not None else None
    if core is None:
        return None
    work = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    best = []  # (rate, text)
    kernel = getattr(core, "bench_exp_rate", None)
    if kernel is not None:
        for parts in _thread_counts(threads):
            rate = float(kernel(work, parts, BUDGET))
            best.append((rate, f"sum_exp {rate / 1e9:.2f} Gelem/s x{parts} thread{'s' if parts > 1 else ''}"))
    vexp = getattr(core, "vector_exp", None)
    rng = np.random.default_rng(0)
    for n in EXP_SIZES if vexp is not None else ():
        arrays = [rng.uniform(-80, 0, n).astype(work) for _ in range(max(1, threads))]

        def task_for(i, parts, arrays=arrays):
            a = arrays[i]
            if parts == 1:
                return (lambda: vexp(a)), 1
            reps = max(1, REPEAT_BYTES // a.nbytes)

            def loop():
                for _ in range(reps):
                    vexp(a)
            return loop, reps

        t, parts = _fastest(task_for, _thread_counts(threads), threads)
        rate = parts * n / t
        best.append((rate, f"vector_exp {rate / 1e9:.2f} Gelem/s x{parts} thread{'s' if parts > 1 else ''}"))
    return max(best) if best else None


# ------------------------------------------------------------------- flops --

def fma_peak(threads: int = 1) -> Optional[float]:
    """Float32 FMA peak of ``threads`` cores (GFLOP/s), measured by
    ``softmax_c._core.fma_peak_gflops``; None when the library is missing."""
    core = try_import("softmax_c._core") if load_softmax_c() is not None else None
    peak = getattr(core, "fma_peak_gflops", None)
    return float(peak(threads)) if peak is not None else None


# -------------------------------------------------------------------- case --

def case_limit(op, inputs: Dict[str, np.ndarray], work: int, threads: int,
               cache: dict) -> Limit:
    """The :class:`Limit` of one case of ``op`` on ``inputs``.

    Parameters
    ----------
    op : softmax_c._bench.ops.Op
        Its ``unit``, ``traffic`` and ``exps`` say which bounds apply.
    inputs : dict of ndarray
        The case's inputs (traffic: all of them, or ``op.read``'s; exp: the
        elements of ``x``).
    work : int
        The case's work (bytes or flops): the limit is ``work / t_min``.
    threads : int
    cache : dict
        Bounds already measured in this run, keyed by what they depend on.
    """
    unit = "GB/s" if op.unit == "bytes" else "GFLOP/s"
    bounds = []  # (seconds, text)
    t_traffic, hows = 0.0, []
    read = op.read(inputs) if getattr(op, "read", None) is not None else inputs
    for a in read.values():
        key = ("traffic", op.traffic, a.nbytes, threads)
        if key not in cache:
            cache[key] = traffic_time(a, op.traffic, threads)
        t, how = cache[key]
        t_traffic += t
        hows.append(how)
    bounds.append((t_traffic, f"{op.traffic} {' + '.join(sorted(set(hows)))}"))
    if op.exps:
        x = inputs["x"]
        key = ("exp", x.dtype.name, threads)
        if key not in cache:
            cache[key] = exp_rate(x.dtype, threads)
        if cache[key] is not None:
            rate, how = cache[key]
            bounds.append((op.exps * x.size / rate, f"exp {how}"))
    if op.unit == "flops":
        key = ("fma", threads)
        if key not in cache:
            cache[key] = fma_peak(threads)
        peak = cache[key]
        if peak is not None:
            half = next(iter(inputs.values())).dtype == np.float64
            peak = peak / 2 if half else peak
            bounds.append((work / (peak * 1e9),
                           f"FMA peak fma_peak_gflops{'/2 (float64)' if half else ''}"))
    bounds.sort(reverse=True)  # the binding (slowest) bound first
    value = work / bounds[0][0] / 1e9
    how = "; ".join(f"{text} {work / t / 1e9:.1f}" for t, text in bounds)
    return Limit(value, unit, how)
