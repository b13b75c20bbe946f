"""Every limit the benchmark prints is an upper bound: no case passes it.

A quick run (tiny shapes, every op, all cores) is timed and every checked
row's throughput compared with its case's limit. The limit is the fastest
sample of the cheapest pass over the same bytes (or exps, or flops), the row
its median, so a row can pass it only by noise in the bound's own
measurement: a bound timed while another process held the core reads low.
:data:`NOISE` allows 5 % of that; a case over it is measured again, limit
and rows, and fails only when it is over a second time (a slow sample of
the bound twice running is not noise but a wrong bound).
"""

from softmax_c._bench.cases import select_cases
from softmax_c._bench.report import available_cores, row_metrics
from softmax_c._bench.runner import Progress, run_case

#: Allowed excess over the limit (a fraction): timing noise of the bound.
NOISE = 0.05
#: Seconds of timing per implementation and case.
BUDGET = 0.02


def _over(results):
    """``(result, impl, fraction of limit)`` of every row above the limit + noise."""
    return [(res, row.impl, m["of_limit"]) for res in results for row in res.rows
            for m in [row_metrics(res, row)] if m and m["of_limit"] > 1 + NOISE]


def _run(case, threads, cache):
    return run_case(case, "float32", [threads], BUDGET, Progress(0, enabled=False), cache)


def test_no_case_passes_its_limit():
    threads = available_cores()
    shared = {}  # the bounds, measured once per shape as in the CLI
    first = [res for case in select_cases("quick") for res in _run(case, threads, shared)]
    assert all(res.limit.value > 0 for res in first)
    suspects = {res.case for res, _, _ in _over(first)}
    again = [res for case in suspects for res in _run(case, threads, {})]  # bounds re-measured
    over = _over(again)
    assert not over, "\n".join(f"{res.case.id} {impl}: {100 * f:.1f} % of the limit "
                               f"({res.limit.how})" for res, impl, f in over)
