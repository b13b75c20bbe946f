"""Timing: medians with adaptive repeats.

:func:`measure` times a call repeatedly and reports the median. Fast calls
are grouped (``inner`` calls per sample) so that the clock's resolution and
overhead are negligible; the number of samples is chosen so that the
measurement fits a time budget.

The limits a case is compared with are measured with it, in
:mod:`softmax_c._bench.limits`.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["Timing", "measure"]

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
