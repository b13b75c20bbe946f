"""pytest-benchmark suite of softmax_c: shared fixtures and options.

The cases are :data:`softmax_c.bench.CASES` -- the same list as
``python -m softmax_c bench`` -- set up and checked by the same helpers.
Every benchmark asserts its result against :mod:`softmax_c.reference`
before it is timed; nothing asserts on a time.

Running
-------
Quick correctness pass (tiny shapes, nothing timed, well under a minute)::

    pytest benchmarks --benchmark-disable

Timed run (full shapes; one group per case, implementations side by side)::

    pytest benchmarks --benchmark-only
    pytest benchmarks --benchmark-only -k "softmax_c or numpy"   # a subset
    pytest benchmarks --benchmark-only --bench-tier full --bench-dtype float32,float64

Saving and comparing runs (stored under ``.benchmarks/``)::

    pytest benchmarks --benchmark-only --benchmark-autosave
    # ... change something, rebuild ...
    pytest benchmarks --benchmark-only --benchmark-compare          # vs the latest save
    pytest benchmarks --benchmark-only --benchmark-compare=0001 \\
        --benchmark-compare-fail=median:10%                          # fail on a 10% slowdown
    pytest-benchmark compare 0001 0002 --group-by=group              # offline

The attention memory test is marked ``slow`` and skipped unless asked for::

    pytest benchmarks -m slow            # or --run-slow
"""

from __future__ import annotations

import functools
import importlib.util

import pytest

from softmax_c.bench import IMPLS, OPS, available_cores, make_inputs, oracle, select_cases

if importlib.util.find_spec("pytest_benchmark") is None:  # pip install pytest-benchmark
    collect_ignore = ["test_bench_ops.py"]


def pytest_addoption(parser):
    group = parser.getgroup("softmax_c benchmarks")
    group.addoption("--bench-tier", default="default", choices=("default", "full"),
                    help="which cases of softmax_c.bench.CASES to run (default: default)")
    group.addoption("--bench-dtype", default="float32",
                    help="comma-separated dtypes (float32, float64)")
    group.addoption("--run-slow", action="store_true",
                    help="also run tests marked slow (attention memory)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: needs lots of memory or time")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def thread_counts():
    """1 thread and all cores (once when the machine has a single core)."""
    return sorted({1, available_cores()})


def _runs(config):
    """(case, impl name, threads, dtype) tuples, case-major so caches hit."""
    dtypes = [d.strip() for d in config.getoption("--bench-dtype").split(",") if d.strip()]
    cases = select_cases(config.getoption("--bench-tier"))
    out = []
    for dtype in dtypes:
        for case in cases:
            names = [i.name for i in IMPLS if i.name in OPS[case.op].adapters]
            for threads in thread_counts():
                out += [(case, name, threads, dtype) for name in names]
    return out


def pytest_generate_tests(metafunc):
    if "bench_run" in metafunc.fixturenames:
        runs = _runs(metafunc.config)
        ids = [f"{c.id}-{name}-t{t}-{d}" for c, name, t, d in runs]
        metafunc.parametrize("bench_run", runs, ids=ids)


@functools.lru_cache(maxsize=2)
def _case_data(case, dtype):
    inputs = make_inputs(case, dtype)
    return inputs, oracle(case, inputs)


@pytest.fixture
def case_data():
    """``case_data(case, dtype) -> (inputs, float64 reference)``, cached."""
    return _case_data
