"""``python -m softmax_c bench`` / ``softmax-c-bench``: the command line."""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from .cases import select_cases
from .impls import DTYPES, IMPLS, LIBRARY, np_dtype, try_import
from .ops import OPS
from .report import (PLOT_NEEDS, available_cores, format_case, format_header, format_summary,
                     plot, system_info, write_json)
from .runner import Progress, count_steps, run_all

__all__ = ["main", "build_parser"]

#: Seconds of timing for the whole run, per tier (split over the runs).
TIME_BUDGET = {"quick": 2.0, "default": 40.0, "full": 400.0}
#: Bounds of the timing budget of one implementation on one case.
MIN_BUDGET, MAX_BUDGET = 0.005, 2.0


def _csv(text: str) -> List[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _threads(text: str) -> List[int]:
    if text == "all":
        return [available_cores()]
    try:
        out = [available_cores() if t == "all" else int(t) for t in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threads takes N, N,M or all; got {text!r}")
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError("--threads must be >= 1")
    return out


def _choices(text: str, names, what: str) -> List[str]:
    got = _csv(text)
    bad = [n for n in got if n not in names]
    if bad or not got:
        raise argparse.ArgumentTypeError(f"unknown {what} {bad}; choose from {','.join(names)}")
    return got


def _ops(text: str) -> List[str]:
    return _choices(text, list(OPS), "op(s)")


def _impls(text: str) -> List[str]:
    return _choices(text, [i.name for i in IMPLS], "implementation(s)")


def _dtypes(text: str) -> List[str]:
    return _choices(text, list(DTYPES), "dtype(s)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the benchmark command."""
    p = argparse.ArgumentParser(
        prog="python -m softmax_c bench",
        description="Time softmax_c against a NumPy baseline and peers (scipy, torch, "
                    "onnxruntime), after checking every result against the float64 "
                    "reference. Exits 1 if any result is out of tolerance.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="tiny cases, a few seconds in all (smoke test)")
    size.add_argument("--full", action="store_true",
                      help="more cases, float32 and float64")
    p.add_argument("--ops", type=_ops, default=None,
                   help=f"comma-separated subset of {','.join(OPS)}")
    p.add_argument("--impls", type=_impls, default=None,
                   help="comma-separated implementations to run (default: all installed)")
    p.add_argument("--threads", type=_threads, default=None,
                   help="thread count(s): N, a list 1,2, or all (default: all cores)")
    p.add_argument("--dtype", type=_dtypes, default=None,
                   help=f"comma-separated element types of {','.join(DTYPES)} (default float32; --full runs "
                        "float32,float64; the half types run softmax, log_softmax, logsumexp, attention, "
                        "sample and topk_softmax)")
    p.add_argument("--time", type=float, default=None, metavar="SECONDS",
                   help="seconds of timing for the whole run (default: "
                        + ", ".join(f"{k} {v:g}" for k, v in TIME_BUDGET.items()) + ")")
    p.add_argument("--json", metavar="FILE", help="write machine-readable results")
    p.add_argument("--plot", metavar="FILE.png",
                   help="bar chart of throughput with the limits (needs matplotlib)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return p


def _plan(args):
    tier = "quick" if args.quick else "full" if args.full else "default"
    cases = select_cases(tier, args.ops)
    dtypes = args.dtype if args.dtype else (["float32", "float64"] if args.full
                                            else ["float32"])
    for d in dtypes:
        np_dtype(d)
    threads = args.threads or [available_cores()]
    impls = [i for i in IMPLS if args.impls is None or i.name in args.impls]
    return tier, cases, dtypes, threads, impls


def _report_failures(results, out) -> int:
    """Repeat every failure at the end (and count them on stderr); exit status."""
    failed = [(res, row) for res in results for row in res.failed]
    for res, row in failed:
        print(f"FAILED: {row.impl} on {res.case.id} {res.dtype} t={res.threads}: "
              f"{row.status}: {row.note}", file=out)
    if failed:
        print(f"error: {len(failed)} result(s) out of tolerance or raising; "
              "see FAILED lines", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark command; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every checked result is within tolerance, 1 otherwise.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _run(parser, args) -> int:
    if args.plot and try_import("matplotlib") is None:
        parser.error(PLOT_NEEDS)
    tier, cases, dtypes, threads, impls = _plan(args)
    out = sys.stdout
    steps = count_steps(cases, dtypes, threads, impls)
    total = args.time if args.time is not None else TIME_BUDGET[tier]
    budget = min(MAX_BUDGET, max(MIN_BUDGET, total / max(1, steps)))
    info = system_info()
    print(format_header(info, threads, dtypes, budget), file=out)
    if not any(i.name == LIBRARY and i.available() for i in impls):
        print("note: softmax_c rows are skipped (the compiled core is not built)", file=out)
    print(file=out, flush=True)

    def show(res):
        print(format_case(res) + "\n", file=out, flush=True)

    progress = Progress(steps, enabled=not args.no_progress)
    results = run_all(cases, dtypes, threads, budget, show, progress, impls)
    print(format_summary(results), file=out)
    _write_files(args, info, results, out)
    for name, hint in info["missing"].items():
        if name != LIBRARY:
            print(f"peer {name} skipped: {hint}", file=out)
    return _report_failures(results, out)


def _write_files(args, info, results, out) -> None:
    """The ``--json`` and ``--plot`` outputs."""
    if args.json:
        write_json(args.json, info, results)
        print(f"wrote {args.json}", file=out)
    if args.plot:
        plot(args.plot, results)
        print(f"wrote {args.plot}", file=out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
