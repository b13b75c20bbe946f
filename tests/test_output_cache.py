"""The output cache (cpp/src/core/output_cache.cpp, _output_cache.pxi): big
outputs come from a NEP 49 handler over a bounded cache of released buffers."""

from __future__ import annotations

import gc
import os
import sys
import threading

import numpy as np
import pytest

import softmax_c as sc
from softmax_c import _core
from conftest import assert_close

MIB = 1 << 20
BIG = (1024, 1024)  # 4 MiB of float32: above the 1 MiB threshold


def handler_name(a):
    from numpy._core.multiarray import get_handler_name
    return get_handler_name(a)


@pytest.fixture(autouse=True)
def restore_budget():
    before = sc.get_output_cache_bytes()
    yield
    sc.set_output_cache_bytes(before)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_big_outputs_use_the_handler_and_own_their_data():
    x = np.random.default_rng(0).standard_normal(BIG, dtype=np.float32)
    assert handler_name(sc.softmax(x, axis=(0, 1)).base) == "softmax_c"  # a view of the kernel's output
    for y in (sc.softmax(x, axis=-1), sc.log_softmax(x, axis=0), sc.softmax(x.astype(np.float64), axis=-1)):
        assert handler_name(y) == "softmax_c"
        assert y.flags.owndata and y.flags.c_contiguous
        assert y.ctypes.data % 4096 == 0
    y = sc.logsumexp(np.ones((4, 1 << 19), np.float32), axis=0)  # a reshaped view of the kernel's output
    assert handler_name(y if y.base is None else y.base) == "softmax_c"


def test_small_outputs_never_touch_the_handler():
    x = np.ones((1, 1000), np.float32)
    assert handler_name(sc.softmax(x, axis=-1)) != "softmax_c"
    assert handler_name(sc.logsumexp(x, axis=-1)) != "softmax_c"
    assert handler_name(np.empty(BIG, np.float32)) != "softmax_c"  # the handler is restored


def test_reused_buffers_give_the_uncached_values():
    rng = np.random.default_rng(1)
    sc.set_output_cache_bytes(0)
    xs = [rng.standard_normal(BIG, dtype=np.float32) * 5 for _ in range(3)]
    expected = [sc.softmax(x, axis=-1) for x in xs]
    sc.set_output_cache_bytes(64 * MIB)
    hits = sc.output_cache_info()["hits"]
    for _ in range(3):
        for x, e in zip(xs, expected):
            y = sc.softmax(x, axis=-1)
            np.testing.assert_array_equal(y, e)
            del y
    assert sc.output_cache_info()["hits"] > hits


def test_arrays_outlive_disabling_and_free_correctly():
    sc.set_output_cache_bytes(64 * MIB)
    gc.collect()
    x = np.ones(BIG, np.float32)
    ys = [sc.softmax(x, axis=-1) for _ in range(3)]
    live = sc.output_cache_info()["live_buffers"]
    sc.set_output_cache_bytes(0)
    assert sc.output_cache_info()["cached_bytes"] == 0
    for y in ys:
        assert np.all(y == np.float32(1.0 / 1024))
    assert handler_name(sc.softmax(x, axis=-1)) != "softmax_c"  # disabled: plain NumPy memory
    del ys, y
    gc.collect()
    info = sc.output_cache_info()
    assert info["live_buffers"] == live - 3
    assert info["cached_bytes"] == 0  # freed straight away, not cached


def test_budget_bounds_the_cached_total():
    sc.set_output_cache_bytes(10 * MIB)
    x = np.ones(BIG, np.float32)
    ys = [sc.softmax(x, axis=-1) for _ in range(6)]
    del ys
    info = sc.output_cache_info()
    assert 0 < info["cached_bytes"] <= 10 * MIB
    sc.set_output_cache_bytes(5 * MIB)
    assert sc.output_cache_info()["cached_bytes"] <= 5 * MIB
    sc.trim_output_cache()
    assert sc.output_cache_info()["cached_bytes"] == 0
    assert sc.get_output_cache_bytes() == 5 * MIB


def test_set_output_cache_bytes_checks_its_argument():
    with pytest.raises(ValueError, match="n must be >= 0"):
        sc.set_output_cache_bytes(-1)
    with pytest.raises(TypeError):
        sc.set_output_cache_bytes(1.5)
    with pytest.raises(TypeError):
        sc.set_output_cache_bytes(True)


def test_threads_allocating_and_freeing():
    sc.set_output_cache_bytes(32 * MIB)
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((256 + 64 * i, 1024), dtype=np.float32) for i in range(8)]
    expected = [sc.softmax(x, axis=-1) for x in xs]
    errors = []

    def work(i):
        try:
            keep = []
            for j in range(30):
                y = sc.softmax(xs[i], axis=-1)
                if not np.array_equal(y, expected[i]):
                    errors.append(i)
                keep.append(y)
                if len(keep) > 2:
                    keep.pop(j % 3)  # freed on this thread, while others allocate
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert sc.output_cache_info()["cached_bytes"] <= 32 * MIB


def test_free_on_another_thread_without_the_gil():
    # The last reference dies in a thread: NumPy frees through the handler there.
    y = sc.softmax(np.ones(BIG, np.float32), axis=-1)
    box = [y]
    del y
    t = threading.Thread(target=box.clear)
    t.start()
    t.join()
    assert sc.output_cache_info()["cached_bytes"] >= 4 * MIB


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_works_and_frees():
    sc.set_output_cache_bytes(64 * MIB)
    x = np.ones(BIG, np.float32)
    held = sc.softmax(x, axis=-1)
    cached = sc.softmax(x, axis=-1)
    del cached  # one buffer in the cache across the fork
    stop = threading.Event()

    def churn():  # another thread inside the cache while we fork
        while not stop.is_set():
            sc.softmax(x, axis=-1)

    t = threading.Thread(target=churn)
    t.start()
    try:
        pid = os.fork()
        if pid == 0:  # child: allocate from and free into its copy of the cache
            code = 1
            try:
                ok = bool(np.all(held == np.float32(1 / 1024)))
                for _ in range(5):
                    y = sc.softmax(x * 2, axis=-1)
                    ok = ok and bool(np.all(y == np.float32(1 / 1024)))
                    del y
                del held
                ok = ok and sc.output_cache_info()["cached_bytes"] <= 64 * MIB
                code = 0 if ok else 2
            finally:
                os._exit(code)
    finally:
        stop.set()
        t.join()
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert np.all(held == np.float32(1 / 1024))


def test_resize_reallocates_through_the_handler():
    x = np.arange(1 << 20, dtype=np.float64).reshape(1024, 1024) / (1 << 20)
    y = sc.softmax(x, axis=-1)
    expected = y.copy()
    y.resize((4096, 1024), refcheck=False)  # larger: a new buffer, contents copied
    np.testing.assert_array_equal(y[:1024], expected)
    assert handler_name(y) == "softmax_c" and y.flags.owndata
    y.resize((1024, 1024), refcheck=False)  # smaller
    np.testing.assert_array_equal(y, expected)
    z = np.zeros((1000, 1000))
    del y, z


def test_calloc_is_zeroed():
    sc.set_output_cache_bytes(64 * MIB)
    y = sc.softmax(np.ones(BIG, np.float32), axis=-1)  # a dirty buffer into the cache
    del y
    hits = sc.output_cache_info()["hits"]
    z = _core._output_zeros(BIG, np.float32)  # np.zeros under the handler: calloc
    assert sc.output_cache_info()["hits"] == hits + 1
    assert handler_name(z) == "softmax_c" and not z.any()
    w = _core._output_zeros((3, 1 << 20), np.float32)  # a fresh mapping
    assert not w.any()


def test_attention_outputs_use_the_cache():
    rng = np.random.default_rng(3)
    q = rng.standard_normal((1, 4, 512, 128), dtype=np.float32)
    o, lse = sc.scaled_dot_product_attention(q, q, q, return_lse=True)
    assert handler_name(o) == "softmax_c" and o.flags.owndata
    o2 = sc.scaled_dot_product_attention(q, q, q)
    np.testing.assert_array_equal(o, o2)


def test_rss_flat_over_many_big_calls():
    sc.set_output_cache_bytes(256 * MIB)
    x = np.ones((2048, 2048), np.float32)  # 16 MiB per output
    for _ in range(5):
        y = sc.softmax(x, axis=-1)
    base = rss_bytes()
    for _ in range(200):
        y = sc.softmax(x, axis=-1)
    del y
    assert rss_bytes() - base < 40 * MIB


def test_info_keys():
    info = sc.output_cache_info()
    assert set(info) == {"budget", "cached_bytes", "cached_buffers", "live_buffers", "hits", "misses"}
    assert info["budget"] == sc.get_output_cache_bytes()


def test_env_sets_the_budget():
    import subprocess
    code = "import softmax_c as sc; print(sc.get_output_cache_bytes())"
    env = dict(os.environ, SOFTMAX_C_OUTPUT_CACHE_BYTES="12345")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "12345"
    env["SOFTMAX_C_OUTPUT_CACHE_BYTES"] = "lots"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "SOFTMAX_C_OUTPUT_CACHE_BYTES" in bad.stderr
