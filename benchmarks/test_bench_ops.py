"""Benchmarks of every case of :data:`softmax_c.bench.CASES`.

One test per (case, implementation, thread count, dtype); ``benchmark.group``
is the case, so softmax_c, the NumPy baseline and the peers are reported
side by side. The result is checked against the float64 reference before
anything is timed. With ``--benchmark-disable`` the tiny ``quick`` shape of
each case is used, which makes the run a fast correctness pass. See
``conftest.py`` for how to save and compare runs.
"""

import pytest

from softmax_c.bench import NotApplicable, check_call, get_impl, prepare_call


def test_bench(benchmark, bench_run, case_data):
    case, name, threads, dtype = bench_run
    impl = get_impl(name)
    if not impl.available():
        pytest.skip(f"{name} missing: {impl.install}")
    if benchmark.disabled:
        case = case.shrunk()
    inputs, ref = case_data(case, dtype)
    benchmark.group = f"{case.id} {dtype}"
    benchmark.extra_info.update(impl=name, threads=threads, shape=list(case.shape))
    with impl.threads(threads):
        try:
            call = prepare_call(case, name, inputs, threads)
        except NotApplicable as exc:
            pytest.skip(str(exc))
        check = check_call(case, name, call(), ref, inputs, call)
        assert check.ok, f"{name} on {case.id}: {check.message}"
        benchmark(call)
