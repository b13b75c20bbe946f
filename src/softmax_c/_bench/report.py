"""Reporting: the header, one table per case, JSON and an optional plot.

Derived numbers, per row of a :class:`~softmax_c._bench.runner.CaseResult`:

throughput
    ``work / median``: GB/s of bytes read and written (memory-bound ops) or
    GFLOP/s (attention).
vs numpy
    NumPy baseline's median / this median (> 1: faster than NumPy).
vs best peer
    Fastest peer's median / this median; peers are every implementation
    except softmax_c.
of limit
    throughput / the case's limit measured in the same run (the least time
    of its traffic, its exps or its flops: :mod:`softmax_c._bench.limits`);
    never above 100 % beyond timing noise.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from typing import Dict, List, Optional

import numpy as np

from .impls import BASELINE, IMPLS, LIBRARY, install_command, load_softmax_c, numpy_threads_note
from .runner import CaseResult, Row

__all__ = ["cpu_model", "available_cores", "system_info", "format_system", "format_header", "format_case",
           "format_summary", "row_metrics", "to_json", "write_json", "plot"]


#: Why ``--plot`` cannot run, and the command that fixes it.
PLOT_NEEDS = "--plot needs matplotlib (not installed); " + install_command(["matplotlib"])


# ------------------------------------------------------------------ header --

def cpu_model() -> str:
    """The CPU's marketing name, from /proc/cpuinfo when possible."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model", "Hardware"):
                    return value.strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        import subprocess

        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                  capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def system_info() -> Dict:
    """CPU, softmax_c dispatch information, library versions and date."""
    lib = load_softmax_c()
    cpu = {}
    if lib is not None and callable(getattr(lib, "cpu_info", None)):
        cpu = dict(lib.cpu_info())
    versions = {i.name: i.version() for i in IMPLS}
    if lib is not None:
        versions[LIBRARY] = getattr(lib, "__version__", None) or cpu.get("version")
    return {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": available_cores(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "softmax_c": {k: _jsonable(v) for k, v in cpu.items()},
        "versions": versions,
        "missing": {i.name: i.install for i in IMPLS if not i.available()},
    }


def format_system(info: Dict) -> str:
    """CPU, softmax_c dispatch, versions and missing peers, one per line."""
    sc = info["softmax_c"]
    lines = [f"CPU: {info['cpu']} ({info['cores']} cores available)  {info['platform']}"]
    if sc:
        lines.append(f"softmax_c: target {sc.get('target')}  "
                     f"features {_words(sc.get('features'))}  "
                     f"compiled {_words(sc.get('targets_compiled'))}  "
                     f"supported {_words(sc.get('targets_supported'))}  "
                     f"threads {sc.get('num_threads')}")
    vers = "  ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    lines.append(f"versions: python {info['python']}  {vers}")
    for name, hint in info["missing"].items():
        lines.append(f"missing: {name} -- {hint}")
    return "\n".join(lines)


def format_header(info: Dict, threads_list, dtypes, budget: float) -> str:
    """The lines printed before the tables."""
    lines = [f"softmax_c benchmark  {info['date']}", format_system(info),
             f"run: threads {','.join(map(str, threads_list))}  dtype "
             f"{','.join(dtypes)}  {budget:.2g}s of timing per implementation "
             "and case, median reported"]
    note = numpy_threads_note()
    if note:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _words(v) -> str:
    return " ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def _jsonable(v):
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


# ----------------------------------------------------------------- metrics --

def _fastest(rows: List[Row], names=None) -> Optional[float]:
    ts = [r.timing.median for r in rows
          if r.status == "ok" and (names is None or r.impl in names)]
    return min(ts) if ts else None


def row_metrics(res: CaseResult, row: Row) -> Dict:
    """Throughput, speed-ups and fraction of the limit of one row."""
    if row.status != "ok":
        return {}
    t = row.timing.median
    thr = res.work / t / 1e9
    base = _fastest(res.rows, {BASELINE})
    peer = _fastest(res.rows, {r.impl for r in res.rows if r.impl != LIBRARY})
    return {
        "median_s": t,
        "best_s": row.timing.best,
        "calls": row.timing.calls,
        "throughput": thr,
        "vs_numpy": base / t if base else None,
        "vs_best_peer": peer / t if peer else None,
        "of_limit": thr / res.limit.value if res.limit.value else None,
    }


# ------------------------------------------------------------------ tables --

def _fmt_time(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:7.2f} {unit}"
    return f"{s / 1e-9:7.1f} ns"


def _fmt_x(v) -> str:
    return f"{v:8.2f}x" if v is not None else " " * 9


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.4g} {unit}"
        n /= 1024


def _case_title(res: CaseResult) -> str:
    c = res.case
    if c.op in ("attention_paged", "attention_varlen"):
        n, hq, h, smax, e = c.shape
        layout = f"n_seq={n} Hq={hq} H={h} max_len={smax} E={e}" + "".join(f" {k}={v}" for k, v in c.options)
        work = f"{res.work / 1e9:.3g} GFLOP" if res.unit == "flops" else f"{_fmt_bytes(res.work)} of K/V read"
    elif res.unit == "flops":
        b, h, l, s, e = c.shape
        layout = f"B={b} H={h} L={l} S={s} E={e}" + (" causal" if c.causal else "")
        if c.kv_heads:
            layout += f" kv_heads={c.kv_heads}"
        work = f"{res.work / 1e9:.3g} GFLOP"
    else:
        layout = f"{c.shape} axis={c.axis}"
        layout += "".join(f" {k}={v}" for k, v in c.options)
        work = f"{_fmt_bytes(res.work)} moved"
    note = f"  -- {c.note}" if c.note else ""
    return (f"{c.id}  {layout}  {res.dtype}  threads={res.threads}{note}\n"
            f"  work {work}; limit {res.limit.value:.1f} {res.limit.unit} "
            f"({res.limit.how})")


def _status_text(row: Row) -> str:
    if row.status == "ok":
        return f"ok {row.check.worst:.2f}"
    if row.status == "mismatch":
        return "MISMATCH: " + row.note
    if row.status == "error":
        return "ERROR: " + row.note
    return "skipped: " + row.note


def format_case(res: CaseResult) -> str:
    """The table of one case (median, throughput, speed-ups, % of limit)."""
    unit = "GB/s" if res.unit == "bytes" else "GFLOP/s"
    lines = [_case_title(res),
             f"  {'impl':<12} {'median':>10} {unit:>9} {'vs numpy':>9} "
             f"{'vs best peer':>12} {'of limit':>9}  check (error/tol)"]
    for row in res.rows:
        m = row_metrics(res, row)
        if m:
            frac = f"{100 * m['of_limit']:8.1f}%" if m["of_limit"] else " " * 9
            lines.append(f"  {row.impl:<12} {_fmt_time(m['median_s']):>10} "
                         f"{m['throughput']:9.2f} {_fmt_x(m['vs_numpy'])} "
                         f"{_fmt_x(m['vs_best_peer']):>12} {frac}  {_status_text(row)}")
        else:
            lines.append(f"  {row.impl:<12} {'-':>10} {'':9} {'':9} {'':12} {'':9}  "
                         f"{_status_text(row)}")
    return "\n".join(lines)


def format_summary(results: List[CaseResult]) -> str:
    """softmax_c against NumPy and the best peer, one line per case."""
    lines = ["summary: softmax_c speed-up vs numpy / vs best peer, % of limit"]
    for res in results:
        row = next((r for r in res.rows if r.impl == LIBRARY), None)
        m = row_metrics(res, row) if row is not None else {}
        tag = f"{res.case.id} {res.dtype} t={res.threads}"
        if not m:
            lines.append(f"  {tag:<44} {row.status if row else 'not run'}")
            continue
        lim = f"{100 * m['of_limit']:6.1f}%" if m["of_limit"] else ""
        lines.append(f"  {tag:<44} {_fmt_x(m['vs_numpy'])} {_fmt_x(m['vs_best_peer'])} {lim}")
    return "\n".join(lines)


# -------------------------------------------------------------------- json --

def to_json(info: Dict, results: List[CaseResult]) -> Dict:
    """Machine-readable results: ``{"system": ..., "results": [...]}``."""
    out = []
    for res in results:
        c = res.case
        for row in res.rows:
            out.append({
                "op": c.op, "case": c.name, "id": c.id, "shape": list(c.shape),
                "axis": c.axis, "causal": c.causal, "kv_heads": c.kv_heads,
                "options": dict(c.options),
                "dtype": res.dtype, "threads": res.threads, "impl": row.impl,
                "status": row.status, "note": row.note,
                "work": res.work, "work_unit": res.unit,
                "limit": res.limit.value, "limit_unit": res.limit.unit,
                "limit_how": res.limit.how,
                "check_error_over_tol": _finite(row.check.worst) if row.check else None,
                **row_metrics(res, row),
            })
    return {"system": _jsonable(info), "results": out}


def _finite(v: float) -> Optional[float]:
    """``v``, or None when it is inf or NaN (not JSON): a shape or index
    mismatch has no finite error."""
    return v if np.isfinite(v) else None


def write_json(path: str, info: Dict, results: List[CaseResult]) -> None:
    """Write :func:`to_json` to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(to_json(info, results), f, indent=1, allow_nan=False,
                  default=lambda v: None)
        f.write("\n")


# -------------------------------------------------------------------- plot --

def plot(path: str, results: List[CaseResult]) -> None:
    """Bar chart of throughput per case and implementation, limits as lines.

    One panel per (unit, thread count), log scale. Needs matplotlib.

    Raises
    ------
    ImportError
        With an install hint when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(PLOT_NEEDS) from exc
    panels = sorted({(r.unit, r.threads, r.dtype) for r in results})
    fig, axes = plt.subplots(len(panels), 1, squeeze=False,
                             figsize=(max(8, 0.9 * len(results) / max(1, len(panels)) + 3),
                                      4 * len(panels)))
    names = [i.name for i in IMPLS]
    for ax, (unit, threads, dtype) in zip(axes[:, 0], panels):
        group = [r for r in results if (r.unit, r.threads, r.dtype) == (unit, threads, dtype)]
        _plot_panel(ax, group, names)
        label = "GB/s (read+written)" if unit == "bytes" else "GFLOP/s"
        ax.set_ylabel(label)
        ax.set_title(f"{dtype}, {threads} thread{'s' if threads > 1 else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_panel(ax, group: List[CaseResult], names: List[str]) -> None:
    width = 0.8 / len(names)
    xs = np.arange(len(group))
    colors = [f"C{i}" for i in range(len(names))]  # one colour per impl, all panels
    for j, name in enumerate(names):
        vals = []
        for res in group:
            row = next((r for r in res.rows if r.impl == name), None)
            m = row_metrics(res, row) if row is not None else {}
            vals.append(m.get("throughput", np.nan))
        if not np.all(np.isnan(vals)):
            ax.bar(xs - 0.4 + (j + 0.5) * width, vals, width, label=name, color=colors[j])
    for x, res in zip(xs, group):
        ax.hlines(res.limit.value, x - 0.45, x + 0.45, colors="black",
                  linestyles="--", linewidth=1.2,
                  label="limit (traffic / exp / FMA peak)" if x == 0 else None)
    ax.set_xticks(xs)
    ax.set_xticklabels([r.case.id for r in group], rotation=35, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
