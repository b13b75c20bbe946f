"""Benchmarks of softmax_c against a NumPy baseline and peer libraries.

Run ``python -m softmax_c bench --help`` (or the ``softmax-c-bench`` console
script). With no options it takes about two minutes on a 2-core machine and
covers softmax, log_softmax, logsumexp and attention on classifier, LLM-vocab,
attention-score, out-of-cache, non-last-axis, prefill and decode shapes, and
top-p sampling and top-k softmax on 128k-vocabulary logits.

Before a case is timed, every implementation's result is checked against
:mod:`softmax_c.reference` or :mod:`softmax_c.reference_sampling` (float64;
sampled tokens must lie in the reference's support); a mismatch is reported and the command
exits 1. Times are medians over adaptive repeats; throughput is compared with
the case's limit measured in the same run: the least time its bytes take to
copy or read, its exps take at softmax_c's vector-exp rate, or (attention)
its flops take at the FMA peak, on the same threads
(:mod:`softmax_c._bench.limits`).

The case list (:data:`CASES`) and the set-up/check helpers are shared with
the pytest-benchmark suite in ``benchmarks/``.

Examples
--------
>>> python -m softmax_c bench --quick                       # doctest: +SKIP
>>> python -m softmax_c bench --ops softmax --threads 1,2 --json out.json  # doctest: +SKIP
"""

from ._bench.cases import CASES, Case, select_cases
from ._bench.check import CheckResult, check_result, tolerance_for
from ._bench.cli import build_parser, main
from ._bench.impls import BASELINE, IMPLS, LIBRARY, Impl, get_impl, load_softmax_c
from ._bench.ops import OPS, NotApplicable, Op, make_inputs, oracle
from ._bench.report import available_cores
from ._bench.runner import applicable_impls, check_call, prepare_call
from ._bench.limits import case_limit, exp_rate, fma_peak, traffic_time
from ._bench.timing import measure

__all__ = [
    "CASES", "Case", "select_cases", "OPS", "Op", "NotApplicable", "make_inputs",
    "oracle", "IMPLS", "Impl", "LIBRARY", "BASELINE", "get_impl", "load_softmax_c",
    "applicable_impls", "prepare_call", "check_call", "check_result",
    "tolerance_for", "CheckResult", "measure", "case_limit", "traffic_time", "exp_rate", "fma_peak",
    "available_cores", "build_parser", "main",
]

if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main())
