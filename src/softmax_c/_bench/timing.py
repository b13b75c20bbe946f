"""Timing: medians with adaptive repeats, and the physical limits.

:func:`measure` times a call repeatedly and reports the median. Fast calls
are grouped (``inner`` calls per sample) so that the clock's resolution and
overhead are negligible; the number of samples is chosen so that the
measurement fits a time budget.

The limits are measured in the same run: memory-copy bandwidth for
memory-bound cases (:func:`copy_bandwidth`), the FMA peak for attention
(:func:`fma_peak`).
"""

from __future__ import annotations

import gc
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .impls import blas_threads, load_softmax_c, torch_threads, try_import

__all__ = ["Timing", "measure", "copy_bandwidth", "fma_peak", "Limit"]

#: Shortest sample worth timing with perf_counter (s).
MIN_SAMPLE_S = 2e-4
#: Sample count bounds: at least 3 for a median, at most this many.
MIN_SAMPLES, MAX_SAMPLES = 3, 2000


@dataclass(frozen=True)
class Timing:
    """Result of :func:`measure`.

    Attributes
    ----------
    median : float
        Median seconds per call.
    best : float
        Fastest sample, seconds per call.
    samples : int
        Number of samples.
    inner : int
        Calls per sample.
    """

    median: float
    best: float
    samples: int
    inner: int

    @property
    def calls(self) -> int:
        """Total timed calls."""
        return self.samples * self.inner


def _time_once(fn, inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def measure(fn, budget: float = 0.3, warmup: int = 1) -> Timing:
    """Median time of ``fn()`` within about ``budget`` seconds.

    Parameters
    ----------
    fn : callable
        The zero-argument call to time.
    budget : float, optional
        Seconds to spend (a minimum of 3 samples may exceed it for slow
        calls).
    warmup : int, optional
        Untimed calls first (caches, thread pools, lazy initialisation).

    Returns
    -------
    Timing
    """
    for _ in range(warmup):
        fn()
    one = _time_once(fn, 1)
    inner = max(1, math.ceil(MIN_SAMPLE_S / max(one, 1e-9)))
    if inner > 1:  # re-estimate on a group: single fast calls are noisy
        one = _time_once(fn, inner)
    samples = int(min(MAX_SAMPLES, max(MIN_SAMPLES, budget / (one * inner))))
    enabled = gc.isenabled()
    gc.disable()
    try:
        times = [_time_once(fn, inner) for _ in range(samples)]
    finally:
        if enabled:
            gc.enable()
    return Timing(float(np.median(times)), float(min(times)), samples, inner)


# ------------------------------------------------------------------ limits --

@dataclass(frozen=True)
class Limit:
    """A physical limit: throughput ``value`` in ``unit`` and how it was got."""

    value: float
    unit: str
    how: str


def _chunked_copy(dst, src, pool, parts: int):
    """``np.copyto`` split into ``parts`` slices run on ``pool``."""
    d, s = dst.reshape(-1), src.reshape(-1)
    step = -(-d.size // parts)
    futures = [pool.submit(np.copyto, d[i:i + step], s[i:i + step])
               for i in range(0, d.size, step)]
    for f in futures:
        f.result()


def copy_bandwidth(nbytes: int, threads: int = 1, budget: float = 0.1) -> Limit:
    """Memory-copy bandwidth for arrays of ``nbytes`` (GB/s read+written).

    Small sizes give cache bandwidth, as they should: it is the limit for a
    case of that size. With ``threads > 1`` the copy is also timed split
    across threads (NumPy releases the GIL while copying) and the faster of
    the two is kept.
    """
    n = max(1, nbytes // 4)
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    best = measure(lambda: np.copyto(dst, src), budget / 2).median
    how = "np.copyto"
    if threads > 1 and nbytes >= 1 << 20:
        with ThreadPoolExecutor(threads) as pool:
            t = measure(lambda: _chunked_copy(dst, src, pool, threads), budget / 2).median
        if t < best:
            best, how = t, f"np.copyto x{threads} threads"
    return Limit(2 * src.nbytes / best / 1e9, "GB/s", how)


def fma_peak(threads: int = 1, budget: float = 0.3) -> Limit:
    """Peak float32 FMA throughput (GFLOP/s) of ``threads`` cores.

    Uses ``softmax_c._core.fma_peak_gflops(threads)`` when the library has
    it; otherwise estimates it as the best float32 1024³ matmul rate of
    NumPy's BLAS and of torch (labelled "est.": a GEMM stays below the peak;
    NumPy's thread count follows ``threads`` only with threadpoolctl).
    """
    lib = load_softmax_c()
    core = try_import("softmax_c._core") if lib is not None else None
    peak = getattr(core, "fma_peak_gflops", None)
    if peak is not None:
        return Limit(float(peak(threads)), "GFLOP/s", "fma_peak_gflops")
    est = max(_sgemm_gflops_numpy(threads, budget / 2), _sgemm_gflops_torch(threads, budget / 2))
    return Limit(est, "GFLOP/s", "est. from sgemm")


def _sgemm_operands(n: int = 1024):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    return a, rng.standard_normal((n, n), dtype=np.float32), np.empty_like(a)


def _sgemm_gflops_numpy(threads: int, budget: float) -> float:
    """Best float32 matmul rate of NumPy's BLAS (GFLOP/s)."""
    a, b, c = _sgemm_operands()
    with blas_threads(threads):
        t = measure(lambda: np.matmul(a, b, out=c), budget).best
    return 2 * a.shape[0] ** 3 / t / 1e9


def _sgemm_gflops_torch(threads: int, budget: float) -> float:
    """Best float32 matmul rate of torch (0 when torch is missing)."""
    torch = try_import("torch")
    if torch is None:
        return 0.0
    a, b, c = (torch.from_numpy(m) for m in _sgemm_operands())
    with torch_threads(threads):
        t = measure(lambda: torch.matmul(a, b, out=c), budget).best
    return 2 * a.shape[0] ** 3 / t / 1e9
