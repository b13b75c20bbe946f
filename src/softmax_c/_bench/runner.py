"""Running the cases: inputs, oracle, check, then timing, per implementation.

The shared steps (:func:`prepare_call`, :func:`check_call`) are used both
by the CLI and by ``benchmarks/`` so that a case is set up and checked the
same way everywhere.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

from .cases import Case
from .check import CheckResult, check_result, tolerance_for
from .impls import HALF_DTYPES, IMPLS, LIBRARY, Impl, np_dtype
from .ops import OPS, NotApplicable, make_inputs, oracle
from .limits import Limit, case_limit
from .timing import Timing, measure

__all__ = ["Row", "CaseResult", "Progress", "prepare_call", "check_call", "count_steps",
           "applicable_impls", "run_case", "run_all"]


@dataclass
class Row:
    """One implementation on one case.

    ``status`` is ``"ok"``, ``"mismatch"`` (failed the check: not timed),
    ``"error"`` (raised) or ``"skipped"`` (not applicable; see ``note``).
    """

    impl: str
    status: str
    note: str = ""
    timing: Optional[Timing] = None
    check: Optional[CheckResult] = None


@dataclass
class CaseResult:
    """All implementations on one case, dtype and thread count."""

    case: Case
    dtype: str
    threads: int
    work: int
    unit: str
    limit: Limit
    rows: List[Row] = field(default_factory=list)

    @property
    def failed(self) -> List[Row]:
        """Rows that make the run fail: any mismatch, or softmax_c raising."""
        return [r for r in self.rows
                if r.status == "mismatch" or (r.status == "error" and r.impl == LIBRARY)]


def applicable_impls(case: Case, impls=IMPLS) -> List[Impl]:
    """Available implementations that have an adapter for ``case.op``."""
    adapters = OPS[case.op].adapters
    return [i for i in impls if i.name in adapters and i.available()]


def prepare_call(case: Case, impl: str, inputs, threads: int) -> Callable:
    """The zero-argument call of ``impl`` on ``inputs``.

    Raises
    ------
    NotApplicable
        When ``impl`` cannot run this case.
    """
    adapter = OPS[case.op].adapters.get(impl)
    if adapter is None:
        raise NotApplicable(f"{impl} has no {case.op}")
    return adapter(case, inputs, threads)


def check_call(case: Case, impl: str, result, ref, inputs, call=None) -> CheckResult:
    """Check ``result`` of ``impl`` against the oracle's ``ref``.

    ``call`` (the prepared call that gave ``result``) lets a check run it
    again: ``sample`` must give the same tokens for the same seed.
    """
    op = OPS[case.op]
    if op.check is not None:
        return op.check(case, impl, result, ref, inputs, call)
    scale = float(np.abs(inputs["v"]).max()) if op.domain == "attn" else None
    dtype = next(iter(inputs.values())).dtype
    tol = tolerance_for(impl, dtype, op.domain)
    return check_result(result, ref, tol, op.domain, scale)


def _run_impl(case, impl: Impl, inputs, ref, threads, budget) -> Row:
    """Set up, check, then time one implementation."""
    with impl.threads(threads):
        try:
            call = prepare_call(case, impl.name, inputs, threads)
        except NotApplicable as exc:
            return Row(impl.name, "skipped", str(exc))
        try:
            result = call()
        except Exception as exc:  # reported, never hidden
            return Row(impl.name, "error", f"{type(exc).__name__}: {exc}")
        try:
            chk = check_call(case, impl.name, result, ref, inputs, call)
        except Exception as exc:  # e.g. the second call of a sample check
            return Row(impl.name, "error", f"{type(exc).__name__}: {exc}")
        del result
        if not chk.ok:
            return Row(impl.name, "mismatch", chk.message, check=chk)
        return Row(impl.name, "ok", timing=measure(call, budget), check=chk)


class Progress:
    """A plain-text progress bar on stderr (a line per step off a terminal)."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.done = max(1, total), 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.t0 = time.perf_counter()
        self._last = None

    def step(self, what: str, detail: str = "") -> None:
        """Announce the step about to run, counting the previous one.

        On a terminal the bar is redrawn at every step; elsewhere (logs) a
        line is written only when ``what`` changes.
        """
        if not self.enabled:
            return
        frac = self.done / self.total
        elapsed = time.perf_counter() - self.t0
        if self.tty:
            bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
            line = f"[{bar}] {self.done}/{self.total} {elapsed:4.0f}s {what} {detail}"
            self.stream.write("\r" + line[:100].ljust(100))
        elif what != self._last:
            self.stream.write(f"[{self.done + 1}/{self.total} {elapsed:.0f}s] {what}\n")
        self._last = what
        self.stream.flush()
        self.done += 1

    def clear(self) -> None:
        """Erase the bar before other output goes to the terminal."""
        if self.tty:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def run_case(case: Case, dtype, threads_list, budget: float, progress: Progress,
             limit_cache: dict, impls=IMPLS) -> List[CaseResult]:
    """Run one case at every thread count; the oracle is computed once.

    ``limit_cache`` keeps the bounds measured so far in the run (see
    :func:`softmax_c._bench.limits.case_limit`)."""
    op = OPS[case.op]
    if not any(runs(case, dtype, i) for i in impls):
        return []
    dtype = np_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)
    inputs = make_inputs(case, dtype)
    ref = oracle(case, inputs)
    work = op.work(case, inputs)
    out = []
    for threads in threads_list:
        res = CaseResult(case, np.dtype(dtype).name, threads, work, op.unit,
                         case_limit(op, inputs, work, threads, limit_cache))
        for impl in impls:
            if not runs(case, dtype, impl):
                continue
            progress.step(f"{case.id} {res.dtype} threads={threads}", impl.name)
            if not impl.available():
                what = "not built" if impl.name == LIBRARY else "not installed"
                res.rows.append(Row(impl.name, "skipped", what))
                continue
            res.rows.append(_run_impl(case, impl, inputs, ref, threads, budget))
        out.append(res)
    return out


#: The ops run in the half dtypes (the others take float32/float64 only)
#: and the implementations compared there.  The sampling ones run softmax_c
#: only: a peer's top-k / top-p computed in a half dtype rounds the
#: probabilities, whose ties then break the oracle's order (the float32 row
#: of the same case is the comparison).
HALF_OPS = ("softmax", "log_softmax", "logsumexp", "attention", "sample", "topk_softmax")
HALF_IMPLS = (LIBRARY, "torch")
HALF_LIBRARY_ONLY = ("sample", "topk_softmax")


def runs(case, dtype, impl) -> bool:
    """Whether ``impl`` runs ``case`` in ``dtype``."""
    if impl.name not in OPS[case.op].adapters:
        return False
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    if name not in HALF_DTYPES:
        return True
    return case.op in HALF_OPS and impl.name in ((LIBRARY,) if case.op in HALF_LIBRARY_ONLY else HALF_IMPLS)


def count_steps(cases, dtypes, threads_list, impls=IMPLS) -> int:
    """Number of (case, dtype, threads, implementation) runs."""
    return sum(runs(c, d, i) for c in cases for d in dtypes for i in impls) * len(threads_list)


def run_all(cases, dtypes, threads_list, budget: float, on_result=None,
            progress: Optional[Progress] = None, impls=IMPLS) -> List[CaseResult]:
    """Run every case; ``on_result(case_result)`` is called as each finishes.

    Parameters
    ----------
    cases : list of Case
    dtypes : list of str
    threads_list : list of int
    budget : float
        Seconds of timing per implementation and case.
    on_result : callable, optional
        Called with each :class:`CaseResult` (to print tables as they come).
    progress : Progress, optional
    impls : sequence of Impl, optional

    Returns
    -------
    list of CaseResult
    """
    progress = progress or Progress(0, enabled=False)
    limits: dict = {}
    results = []
    for dtype in dtypes:
        for case in cases:
            for res in run_case(case, dtype, threads_list, budget, progress, limits, impls):
                results.append(res)
                if on_result is not None:
                    progress.clear()
                    on_result(res)
    progress.clear()
    return results
