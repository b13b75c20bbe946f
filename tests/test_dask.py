"""softmax_c.dask on a real scheduler: a distributed.LocalCluster with two
worker processes, one thread each (started once per session).

Tolerances: the Dask results merge chunk states, which reorders the sums;
they are compared with the NumPy functions at twice the library's accuracy
bound (float64 ~1e-13, float32 LSE_TOL / TOL), with NaN and inf exactly where
the NumPy function has them.  Float32 probabilities: both sides round
x - max in float32, a relative error of |x - max| * 2**-24 each, so the test
logits span |x - max| <= ~40 (2 x TOL = 6e-6 holds there).
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from conftest import LSE_TOL, TOL, assert_close, import_softmax_c, ref

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

sc = import_softmax_c()
import softmax_c.dask as scd  # noqa: E402

inf, nan = np.inf, np.nan


@pytest.fixture(scope="session")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, scheduler_port=0)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def tol(kind, dtype):
    t = (LSE_TOL if kind in ("log", "logsm") else TOL)[np.dtype(dtype)]
    return 2 * t


CHUNKINGS = [(5, 9), (2, 4), (1, 1), (5, 1), (2, (4, 1, 4)), (-1, (1, 8))]


def test_import_softmax_c_does_not_import_dask():
    import subprocess
    import sys
    code = "import sys, softmax_c; assert not any(m == 'dask' or m.startswith('dask.') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------- logsumexp / softmax --

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_softmax_log_softmax(client, rng, dtype):
    """Every chunking (along and across the axis, uneven, size 1) x axes, in
    one compute."""
    x = (rng.normal(size=(5, 9)) * 10).astype(dtype)
    cases, lazy = [], []
    for chunks in CHUNKINGS:
        dx = da.from_array(x, chunks=chunks)
        for axis in (-1, 0, None, (0, 1)):
            cases.append((chunks, axis))
            lazy += [scd.logsumexp(dx, axis), scd.softmax(dx, axis), scd.log_softmax(dx, axis)]
    got = client.compute(lazy, sync=True)
    for i, (chunks, axis) in enumerate(cases):
        lse, p, lp = got[3 * i: 3 * i + 3]
        what = f"chunks={chunks} axis={axis}"
        assert_close(lse, sc.logsumexp(x, axis), "log", dtype=dtype, tol=tol("log", dtype), what=what)
        assert_close(p, sc.softmax(x, axis), "prob", dtype=dtype, tol=tol("prob", dtype), what=what)
        assert_close(lp, sc.log_softmax(x, axis), "logsm", dtype=dtype, tol=tol("log", dtype), what=what)


@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_signed_weights_and_keepdims(client, rng, keepdims):
    x = rng.normal(size=(6, 3, 10)) * 5
    b = rng.normal(size=(3, 10))  # broadcast against x, and chunked differently
    dx = da.from_array(x, chunks=(2, 2, 3))
    db = da.from_array(b, chunks=(3, 5))
    r, s = client.compute(scd.logsumexp(dx, (0, 2), b=db, keepdims=keepdims, return_sign=True), sync=True)
    r0, s0 = sc.logsumexp(x, (0, 2), b=np.broadcast_to(b, x.shape), keepdims=keepdims, return_sign=True)
    assert r.shape == r0.shape
    assert_close(r, r0, "log", tol=1e-12, scale=np.abs(b).sum())
    np.testing.assert_array_equal(s, s0)
    got = client.compute(scd.logsumexp(dx, -1, b=2.0), sync=True)
    assert_close(got, sc.logsumexp(x, -1, b=2.0), "log", tol=1e-13)


def test_temperature(client, rng):
    x = rng.normal(size=(5, 40)).astype(np.float32) * 2
    dx = da.from_array(x, chunks=(2, 7))
    for t in (0.25, 3.0):
        p, lp = client.compute([scd.softmax(dx, -1, temperature=t), scd.log_softmax(dx, 1, temperature=t)],
                               sync=True)
        assert_close(p, sc.softmax(x, -1, temperature=t), "prob", tol=tol("prob", np.float32))
        assert_close(lp, sc.log_softmax(x, 1, temperature=t), "logsm", tol=tol("log", np.float32))


def test_edge_rows(client):
    x = np.array([
        [-inf, -inf, -inf, -inf, -inf, -inf],
        [1.0, 2.0, nan, 3.0, 4.0, 5.0],
        [1.0, 2.0, 3.0, inf, 4.0, 5.0],
        [inf, 2.0, 3.0, inf, 4.0, 5.0],
        [-inf, -inf, -inf, 0.0, -inf, -inf],
        [3.0, 3.0, -1e300, 0.0, 5.0, 1e300],
    ])
    b = np.ones_like(x)
    b[3, 3] = -1  # inf - inf across chunks
    b[5, :] = [1, -1, 1, 1, 1, 0]
    dx = da.from_array(x, chunks=(2, 2))
    db = da.from_array(b, chunks=(3, 3))
    res = client.compute([scd.logsumexp(dx, -1), scd.softmax(dx, -1), scd.log_softmax(dx, -1),
                          scd.logsumexp(dx, -1, b=db, return_sign=True)], sync=True)
    with np.errstate(all="ignore"):
        assert_close(res[0], sc.logsumexp(x, -1), "log", tol=1e-13)
        assert_close(res[1], sc.softmax(x, -1), "prob", tol=1e-13)
        assert_close(res[2], sc.log_softmax(x, -1), "logsm", tol=1e-13)
        r0, s0 = sc.logsumexp(x, -1, b=b, return_sign=True)
        assert_close(res[3][0], r0, "log", tol=1e-13)
        np.testing.assert_array_equal(res[3][1], s0)


def test_empty_arrays(client):
    x = np.zeros((0, 5))
    dx = da.from_array(x, chunks=(1, 2))
    assert client.compute(scd.softmax(dx, -1), sync=True).shape == (0, 5)
    assert client.compute(scd.logsumexp(dx, -1), sync=True).shape == (0,)
    r, s = client.compute(scd.logsumexp(dx, 0, return_sign=True), sync=True)
    r0, s0 = sc.logsumexp(x, 0, return_sign=True)
    np.testing.assert_array_equal(r, r0)
    np.testing.assert_array_equal(s, s0)
    with pytest.raises(ValueError, match="zero-size"):
        scd.softmax(dx, 0)


def test_dtypes_and_errors(client, rng):
    x16 = rng.normal(size=(4, 9)).astype(np.float16)
    got = client.compute(scd.softmax(da.from_array(x16, chunks=(2, 4)), -1), sync=True)
    assert_close(got, sc.softmax(x16, -1), "prob", dtype=np.float16, tol=2e-3)
    xi = np.arange(12).reshape(3, 4)
    got = client.compute(scd.logsumexp(da.from_array(xi, chunks=2), 1), sync=True)
    assert_close(got, sc.logsumexp(xi, 1), "log", dtype=np.float64, tol=1e-13)
    with pytest.raises(TypeError):
        scd.softmax(da.zeros(3, dtype=complex))
    with pytest.raises(ValueError):
        scd.softmax(da.zeros(3), temperature=-1.0)
    with pytest.raises(ValueError):
        scd.logsumexp(da.zeros((3, 4)), b=np.ones(3))


def test_split_every(client, rng):
    x = rng.normal(size=(3, 64))
    dx = da.from_array(x, chunks=(3, 4))
    got = client.compute([scd.logsumexp(dx, -1, split_every=k) for k in (2, 3, 16, {1: 5})], sync=True)
    for g in got:
        assert_close(g, sc.logsumexp(x, -1), "log", tol=1e-13)


# --------------------------------------------------------------- the graph --

def _new_layers(result, source):
    return [n for n in result.dask.layers if n not in source.dask.layers]


def test_logsumexp_is_one_reduction():
    dx = da.random.random((8, 64), chunks=(4, 8))
    names = _new_layers(scd.logsumexp(dx, -1), dx)
    # one dask.array.reduction: the chunk step, the tree's partial steps, the aggregate
    assert all(n.startswith("softmax_c-logsumexp") for n in names), names
    assert sum(1 for n in names if "aggregate" not in n and "partial" not in n) == 1, names
    assert len(names) <= 3
    recipe = da.log(da.exp(dx - dx.max(-1, keepdims=True)).sum(-1))
    assert len(_new_layers(recipe, dx)) > len(names)


@pytest.mark.parametrize("op", ["logsumexp", "softmax"])
def test_no_task_reads_more_than_one_input_chunk(op):
    from dask.core import get_dependencies
    dx = da.random.random((8, 64), chunks=(4, 8))
    y = getattr(scd, op)(dx, -1)
    graph = dict(y.__dask_graph__())
    inputs = set(map(tuple, np.array(dx.__dask_keys__(), dtype=object).reshape(-1, 3).tolist()))
    for key in graph:
        if key in inputs:
            continue
        assert len(set(get_dependencies(graph, key)) & inputs) <= 1, key


def test_worker_threads_policy(client):
    """Inside a worker, kernels run on one thread (the worker thread).  Run
    as a task on each worker: ``client.run`` is no task (``get_worker()``
    finds none there), so it saw the policy only when an earlier test had
    already run a task on that worker."""
    def threads_after_a_task(_):
        scd._task_threads()
        return sc.get_num_threads()
    workers = list(client.scheduler_info()["workers"])
    futures = [client.submit(threads_after_a_task, i, workers=[w], pure=False) for i, w in enumerate(workers)]
    assert len(futures) == 2 and set(client.gather(futures)) == {1}


def test_worker_killed_mid_computation(client, rng):
    x = rng.normal(size=(16, 64))
    dx = da.from_array(x, chunks=(4, 8)).map_blocks(lambda b: (time.sleep(0.05), b)[1], dtype=x.dtype)
    fut = client.compute(scd.softmax(dx, -1))
    deadline = time.time() + 20
    while not client.processing() or not any(client.processing().values()):
        assert time.time() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    import os
    import signal
    pid = sorted(client.run(os.getpid).values())[0]
    os.kill(pid, signal.SIGKILL)  # the nanny restarts it; the scheduler recomputes its tasks
    got = fut.result(timeout=60)
    assert_close(got, sc.softmax(x, -1), "prob", tol=1e-13)
    client.wait_for_workers(2, timeout=60)


# ----------------------------------------------------------------- attention --

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_sharded_kv(client, rng, dtype):
    """1..7 KV chunks (uneven; split between the two dtypes to keep CI fast),
    query chunked along L, masks and both causal alignments, GQA and 2-D
    inputs; one compute for all cases."""
    q = rng.normal(size=(2, 4, 5, 8)).astype(dtype)
    k = rng.normal(size=(2, 2, 13, 8)).astype(dtype)
    v = rng.normal(size=(2, 2, 13, 3)).astype(dtype)
    bmask = rng.random((5, 13)) > 0.4
    bmask[2] = False  # a fully masked query row: zeros, lse -inf
    fmask = np.where(rng.random((4, 1, 13)) > 0.3, 0.0, -np.inf).astype(dtype)
    variants = [dict(), dict(is_causal=True), dict(is_causal=True, causal_alignment="lower_right"),
                dict(attn_mask=bmask), dict(attn_mask=fmask), dict(scale=0.3)]
    lazy, want = [], []
    for n in ((1, 4, 7) if dtype == np.float32 else (2, 3, 5, 6)):
        cut = np.linspace(0, 13, n + 1).astype(int)
        ch = tuple(int(c) for c in np.diff(cut))
        dk = da.from_array(k, chunks=(2, 2, ch, 8))
        dv = da.from_array(v, chunks=(2, 2, ch, 3))
        dq = da.from_array(q, chunks=(2, 4, (2, 3), 8))
        for kw in variants:
            dkw = dict(kw)
            if "attn_mask" in kw:
                dkw["attn_mask"] = da.from_array(kw["attn_mask"], chunks=2)
            lazy.append(scd.scaled_dot_product_attention(dq, dk, dv, enable_gqa=True, return_lse=True, **dkw))
            want.append((n, kw))
    lazy.append(scd.scaled_dot_product_attention(q[0, 0], da.from_array(k[0, 0], chunks=(4, 8)),
                                                 da.from_array(v[0, 0], chunks=(4, 3)), is_causal=True))
    got = client.compute(lazy, sync=True)
    atol = 2e-5 if dtype == np.float32 else 1e-12
    for (o, l), (n, kw) in zip(got[:-1], want):
        o0, l0 = sc.scaled_dot_product_attention(q, k, v, enable_gqa=True, return_lse=True, **kw)
        assert o.shape == o0.shape and o.dtype == dtype
        np.testing.assert_allclose(o, o0, rtol=0, atol=atol, err_msg=f"{n} chunks {kw}")
        np.testing.assert_allclose(l, l0, rtol=0, atol=atol * 10, err_msg=f"{n} chunks {kw}")
    o0 = sc.scaled_dot_product_attention(q[0, 0], k[0, 0], v[0, 0], is_causal=True)
    np.testing.assert_allclose(got[-1], o0, rtol=0, atol=atol)


def test_attention_validates_like_numpy():
    q = np.zeros((2, 4, 8))
    with pytest.raises(ValueError):
        scd.scaled_dot_product_attention(q, da.zeros((2, 6, 7)), da.zeros((2, 6, 3)))
    with pytest.raises(ValueError):
        scd.scaled_dot_product_attention(q, da.zeros((2, 6, 8)), da.zeros((2, 6, 3)), dropout_p=0.1)
    with pytest.raises(TypeError):
        scd.scaled_dot_product_attention(q.astype(np.float32), da.zeros((2, 6, 8)), da.zeros((2, 6, 3)))


# ------------------------------------------------------------------ sampling --

def test_sample_row_chunked_is_the_numpy_draw(client, rng):
    x = rng.normal(size=(3, 10, 50)) * 2
    want = sc.sample(x, temperature=0.8, top_k=7, top_p=0.9, seed=5)
    lazy = [scd.sample(da.from_array(x, chunks=(c, d, 50)), temperature=0.8, top_k=7, top_p=0.9, seed=5)
            for c, d in ((3, 10), (1, 3), (2, 1))]
    for got in client.compute(lazy, sync=True):
        np.testing.assert_array_equal(got, want)


def test_sample_vocab_chunked(client, rng):
    x = rng.normal(size=(6, 40)) * 2
    x[1, 10:] = -np.inf  # whole chunks with nothing in them
    chunkings = [(2, 10), (3, (1, 13, 26)), (6, 7)]
    lazy = []
    for ch in chunkings:
        dx = da.from_array(x, chunks=ch)
        lazy += [scd.sample(dx, temperature=0, seed=1), scd.sample(dx, top_k=5, top_p=0.8, min_p=0.05, seed=3),
                 scd.sample(dx, temperature=1.3, seed=9)]
    got = client.compute(lazy, sync=True)
    greedy = sc.sample(x, temperature=0)
    topk = sc.sample(x, top_k=5, top_p=0.8, min_p=0.05, seed=3)
    for j in range(len(chunkings)):
        np.testing.assert_array_equal(got[3 * j], greedy)       # exact, any chunking
        np.testing.assert_array_equal(got[3 * j + 1], topk)     # top-k merge: the one-machine draw
        assert got[3 * j + 2][1] < 10                           # never a -inf token
        np.testing.assert_array_equal(got[3 * j + 2], got[2])   # Gumbel-max: the same tokens, any chunking
    again = client.compute(scd.sample(da.from_array(x, chunks=(2, 10)), temperature=1.3, seed=9), sync=True)
    np.testing.assert_array_equal(again, got[2])               # reproducible
    with pytest.raises(NotImplementedError):
        scd.sample(da.from_array(x, chunks=(2, 10)), top_p=0.5, seed=0)
    bad = x.copy()
    bad[4, 33] = np.nan
    with pytest.raises(ValueError, match="row 4"):
        client.compute(scd.sample(da.from_array(bad, chunks=(6, 10)), seed=0), sync=True)


def test_vocab_parallel_frequencies_chi_square(client):
    """4000 rows of one distribution over 12 tokens, the vocabulary in 3
    uneven chunks: the token counts fit softmax(x / T) (chi-square)."""
    from scipy import stats
    logits = np.log(np.array([0.2, 0.01, 0.05, 0.1, 0.04, 0.15, 0.05, 0.1, 0.02, 0.08, 0.1, 0.1]))
    x = np.broadcast_to(logits, (4000, 12))
    dx = da.from_array(x, chunks=(1000, (2, 7, 3)))
    tok = client.compute(scd.sample(dx, temperature=1.5, seed=2024), sync=True)
    p = np.exp(logits / 1.5)
    p /= p.sum()
    counts = np.bincount(tok, minlength=12)
    assert stats.chisquare(counts, p * counts.sum()).pvalue > 1e-4


# -------------------------------------------------------------- topk_softmax --

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_topk_softmax_any_chunking(client, rng, dtype):
    """Probabilities over the full row (TOL x 2: the sum is merged), indices
    exact, for chunkings along and across the vocabulary (chunks narrower
    than k, size-1 chunks, uneven chunks)."""
    x = (rng.normal(size=(7, 60)) * 3).astype(dtype)
    x[2, 5:50] = -inf  # whole chunks of nothing
    x[3, 1:] = -inf    # one finite entry: the other k - 1 are -inf, p = 0
    x[4, :] = x[4, 0]  # all tied: the k lowest indices
    x[5, [3, 17, 40, 59]] = 9.0  # ties across chunks
    k = 5
    pw, iw = sc.topk_softmax(x, k, temperature=0.9)
    chunkings = [(7, 60), (2, 60), (3, 10), (7, 3), (1, 1), (4, (1, 29, 2, 28))]
    lazy = [scd.topk_softmax(da.from_array(x, chunks=ch), k, temperature=0.9) for ch in chunkings]
    for ch, (p, i) in zip(chunkings, client.compute(lazy, sync=True)):
        assert p.dtype == pw.dtype and i.dtype == np.int64 and p.shape == i.shape == (7, k)
        np.testing.assert_array_equal(i, iw, err_msg=str(ch))
        assert_close(p, ref.softmax(x.astype(np.float64) / 0.9, axis=-1)[np.arange(7)[:, None], iw], "prob",
                     tol=2 * TOL[np.dtype(dtype)], what=str(ch))
    np.testing.assert_array_equal(iw[4], np.arange(k))
    np.testing.assert_array_equal(iw[5, :4], [3, 17, 40, 59])


def test_topk_softmax_axis_batch_and_errors(client, rng):
    x = rng.normal(size=(3, 20, 4))
    pw, iw = sc.topk_softmax(x, 3, axis=1)
    p, i = client.compute(scd.topk_softmax(da.from_array(x, chunks=(2, 6, 3)), 3, axis=1), sync=True)
    np.testing.assert_array_equal(i, iw)
    assert_close(p, pw, "prob", tol=2 * TOL[np.dtype(np.float64)])
    p, i = client.compute(scd.topk_softmax(da.from_array(x, chunks=(1, 20, 1)), 20, axis=1), sync=True)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-13)  # k = n: the whole mass
    with pytest.raises(ValueError, match="top_k"):
        scd.topk_softmax(da.from_array(x), 21, axis=1)
    with pytest.raises(TypeError):
        scd.topk_softmax(da.from_array(x), 2.0)
    with pytest.raises(ValueError, match="temperature"):
        scd.topk_softmax(da.from_array(x), 2, temperature=0)
    bad = rng.normal(size=(5, 12))
    bad[3] = -inf  # every entry -inf: no distribution (as the NumPy function)
    for ch in ((5, 12), (2, 5)):
        with pytest.raises(ValueError, match="row 3"):
            client.compute(scd.topk_softmax(da.from_array(bad, chunks=ch), 2), sync=True)
    bad[3] = 0
    bad[1, 7] = nan
    with pytest.raises(ValueError, match="row 1"):
        client.compute(scd.topk_softmax(da.from_array(bad, chunks=(5, 4)), 2), sync=True)


def test_sample_temperature_same_tokens_any_chunking(client, rng):
    """Temperature only: the same seed gives the same tokens for the
    vocabulary in one chunk or many, and rows chunked any way; another seed
    other tokens; -inf entries are never drawn; ties of the noise-free
    scores do not matter (the noise is continuous)."""
    x = rng.normal(size=(9, 3, 37)) * 2
    x[0, 0, ::2] = -inf
    chunkings = [(9, 3, 37), (2, 1, 37), (9, 3, 5), (1, 2, (1, 20, 16)), (4, 3, 1)]
    lazy = [scd.sample(da.from_array(x, chunks=ch), temperature=0.7, seed=11) for ch in chunkings]
    lazy.append(scd.sample(da.from_array(x, chunks=(9, 3, 5)), temperature=0.7, seed=12))
    got = client.compute(lazy, sync=True)
    for g, ch in zip(got[:-1], chunkings):
        assert g.shape == (9, 3) and g.dtype == np.int64
        np.testing.assert_array_equal(g, got[0], err_msg=str(ch))
    assert got[0][0, 0] % 2 == 1
    assert not np.array_equal(got[-1], got[0])
    # the axis argument: the vocabulary on axis 1
    moved = client.compute(scd.sample(da.from_array(np.moveaxis(x, 2, 1), chunks=(3, 7, 3)), temperature=0.7,
                                      seed=11, axis=1), sync=True)
    np.testing.assert_array_equal(moved, got[0])


def test_gumbel_noise_is_uniform_and_keyed_by_token():
    """The counter-based uniforms behind the Gumbel noise: a function of
    (seed, row, token) only, and uniform (Kolmogorov-Smirnov on 2e5 draws)."""
    from scipy import stats
    g = scd._gumbel(3, np.arange(40), 0, 5000)
    np.testing.assert_array_equal(scd._gumbel(3, np.arange(10, 20), 1000, 2000), g[10:20, 1000:3000])
    u = np.exp(-np.exp(-g.ravel()))
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert stats.kstest(g.ravel(), "gumbel_r").pvalue > 1e-3
    assert not np.array_equal(scd._gumbel(4, np.arange(40), 0, 5000), g)
