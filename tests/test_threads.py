"""Threads: results bitwise identical for any pool size; concurrent callers safe.

Work is cut by data, never by thread count (DESIGN.md), so outputs computed
with 1, 2, 3 or 4 pool threads must be equal bit for bit.
"""

import concurrent.futures as cf
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_close, ref

CASES = [
    ((256, 4096), -1),      # many rows: split across rows
    ((4096, 1024), 0),      # reduction over a strided axis: split across columns
    ((1, 2**20), -1),       # one huge row: split within the row (or not at all)
    ((64, 3, 4096), (0, 2)),
]


def _calls(sc, x, axis):
    return {
        "softmax": sc.softmax(x, axis=axis),
        "log_softmax": sc.log_softmax(x, axis=axis),
        "logsumexp": sc.logsumexp(x, axis=axis),
        "logsumexp_b": sc.logsumexp(x, axis=axis, b=np.abs(x) + 0.5, return_sign=True)[0],
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", CASES, ids=str)
def test_thread_count_invariance(sc, target, restore_threads, shape, axis, dtype, rng):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    sc.set_num_threads(1)
    assert sc.get_num_threads() == 1
    base = _calls(sc, x, axis)
    for n in (2, 3, 4):  # 3: uneven splits
        sc.set_num_threads(n)
        assert sc.get_num_threads() == n
        got = _calls(sc, x, axis)
        for name, val in got.items():
            assert val.dtype == base[name].dtype
            assert np.array_equal(val, base[name], equal_nan=True), \
                f"{name} with {n} threads differs from 1 thread " \
                f"(max |diff| {np.nanmax(np.abs(val.astype(float) - base[name])):.3e})"


def test_thread_count_result_is_correct(sc, restore_threads, rng):
    x = (rng.standard_normal((256, 4096)) * 4).astype(np.float32)
    sc.set_num_threads(4)
    assert_close(sc.softmax(x, axis=1), ref.softmax(x, axis=1), "prob", dtype=np.float32)
    assert_close(sc.logsumexp(x, axis=1), ref.logsumexp(x, axis=1), "log", dtype=np.float32)


def test_set_num_threads_roundtrip(sc, restore_threads):
    for n in (1, 2, 5):
        sc.set_num_threads(n)
        assert sc.get_num_threads() == n
        assert sc.cpu_info()["num_threads"] == n


def _job(sc, x, axis, fn, expected, reps):
    for _ in range(reps):
        got = getattr(sc, fn)(x, axis=axis)
        if not np.array_equal(got, expected, equal_nan=True):
            return f"{fn} {x.shape} axis={axis}: result differs under concurrency"
    return None


@pytest.mark.parametrize("pool_threads", [1, 4])
def test_eight_python_threads_at_once(sc, restore_threads, pool_threads, rng):
    sc.set_num_threads(pool_threads)
    jobs = []
    for i in range(8):
        dtype = (np.float32, np.float64)[i % 2]
        shape, axis = [((64, 2048), -1), ((1024, 96), 0), ((1, 200_000), -1),
                       ((33, 7, 129), (0, 2))][i % 4]
        fn = ("softmax", "log_softmax", "logsumexp")[i % 3]
        x = (rng.standard_normal(shape) * 4).astype(dtype)
        # expected computed serially first; also checked against the oracle
        expected = getattr(sc, fn)(x, axis=axis)
        kind = {"softmax": "prob", "log_softmax": "logsm", "logsumexp": "log"}[fn]
        assert_close(expected, getattr(ref, fn)(x, axis=axis), kind, dtype=dtype)
        jobs.append((x, axis, fn, expected))
    with cf.ThreadPoolExecutor(max_workers=8) as ex:
        futs = [ex.submit(_job, sc, x, axis, fn, exp, 6) for x, axis, fn, exp in jobs]
        errors = [f.result() for f in futs]
    assert errors == [None] * 8, [e for e in errors if e]


def test_threads_with_out_are_independent(sc, restore_threads, rng):
    # each thread writes into its own out; no cross-talk
    sc.set_num_threads(2)
    xs = [(rng.standard_normal((128, 1000)) * 3).astype(np.float32) for _ in range(8)]
    outs = [np.empty_like(x) for x in xs]
    with cf.ThreadPoolExecutor(max_workers=8) as ex:
        list(ex.map(lambda p: sc.softmax(p[0], axis=1, out=p[1]), zip(xs, outs)))
    for x, o in zip(xs, outs):
        assert_close(o, ref.softmax(x, axis=1), "prob", dtype=np.float32)


def test_env_num_threads(sc):
    env = dict(os.environ, SOFTMAX_C_NUM_THREADS="3")
    code = ("import softmax_c, sys; "
            "print(softmax_c.get_num_threads(), softmax_c.cpu_info()['num_threads'])")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["3", "3"]
