"""scaled_dot_product_attention and merge_attention against the float64
oracle (softmax_c.reference) and torch, on every target this CPU runs.

Tolerances: the output is a convex combination of value rows, so errors are
measured against max|v|: float32 2e-5 (S products and exps rounded in float32,
about 2**-23 * sqrt(S) * a few), float64 1e-12.  The lse: the same bounds
against max(1, |lse|).
"""
from __future__ import annotations

import numpy as np
import pytest

import softmax_c
from softmax_c import _core
from softmax_c import reference as ref

sdpa = softmax_c.scaled_dot_product_attention
TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


# `target` (every supported kernel table, restored after) comes from conftest.py.


@pytest.fixture
def threads():
    saved = softmax_c.get_num_threads()
    yield
    softmax_c.set_num_threads(saved)


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def check(got, q, k, v, lse=None, **kw):
    exp, exp_lse = ref.scaled_dot_product_attention(q, k, v, return_lse=True, **kw)
    tol = TOL[np.asarray(q).dtype]
    vmax = max(1.0, float(np.max(np.abs(np.where(np.isfinite(v), v, 0))))) if np.size(v) else 1.0
    assert got.shape == exp.shape and got.dtype == np.asarray(q).dtype
    np.testing.assert_allclose(got, exp, rtol=0, atol=tol * vmax)
    if lse is not None:
        assert lse.shape == exp_lse.shape
        fin = np.isfinite(exp_lse)
        assert np.array_equal(fin, np.isfinite(lse)) and np.all(lse[~fin] == exp_lse[~fin])
        np.testing.assert_allclose(lse[fin], exp_lse[fin], rtol=0,
                                   atol=tol * max(1.0, float(np.max(np.abs(exp_lse[fin]), initial=0))))


SHAPES = [  # (B, H, L, S, E, Ev)
    (1, 1, 1, 1, 1, 1),
    (1, 2, 5, 7, 3, 3),
    (2, 3, 17, 33, 80, 80),
    (1, 2, 30, 70, 16, 9),      # Ev != E, Ev not a vector multiple
    (1, 1, 200, 77, 64, 64),    # L > S, several row panels, key tails
    (1, 2, 3, 600, 64, 64),     # 3 rows, S > 512: dot kernel + decode split
    (1, 1, 40, 1100, 32, 48),   # 40 rows: panel kernel, one row tile, no split
    (1, 1, 250, 300, 64, 64),   # two row tiles
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_reference(target, shape, dtype):
    B, H, L, S, E, Ev = shape
    rng = np.random.default_rng(hash(shape) % 2**32)
    q, k, v = rand(rng, (B, H, L, E), dtype), rand(rng, (B, H, S, E), dtype), rand(rng, (B, H, S, Ev), dtype)
    out, lse = sdpa(q, k, v, return_lse=True)
    check(out, q, k, v, lse)


@pytest.mark.parametrize("L,S", [(1, 1), (7, 7), (30, 70), (70, 30), (1, 1500), (5, 1300), (130, 900), (300, 260)])
@pytest.mark.parametrize("align", ["upper_left", "lower_right"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_causal(target, L, S, align, dtype):
    rng = np.random.default_rng(L * 1000 + S)
    q, k, v = rand(rng, (2, L, 24), dtype), rand(rng, (2, S, 24), dtype), rand(rng, (2, S, 20), dtype)
    out, lse = sdpa(q, k, v, is_causal=True, causal_alignment=align, return_lse=True)
    check(out, q, k, v, lse, is_causal=True, causal_alignment=align)
    if align == "lower_right" and L > S:  # rows that see no key at all
        assert np.all(out[:, : L - S] == 0) and np.all(lse[:, : L - S] == -np.inf)


MASK_SHAPES = [(9, 40), (1, 9, 40), (3, 1, 40), (2, 1, 1, 40), (2, 3, 9, 40), (40,)]


@pytest.mark.parametrize("mshape", MASK_SHAPES)
@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("S", [40])
def test_masks(target, mshape, kind, S):
    rng = np.random.default_rng(len(mshape))
    q, k, v = rand(rng, (2, 3, 9, 16), np.float64), rand(rng, (2, 3, S, 16), np.float64), rand(rng, (2, 3, S, 8), np.float64)
    if kind == "bool":
        mask = rng.random(mshape) < 0.6
    else:
        mask = rng.standard_normal(mshape)
        mask[rng.random(mshape) < 0.3] = -np.inf
    out, lse = sdpa(q, k, v, attn_mask=mask, return_lse=True)
    check(out, q, k, v, lse, attn_mask=mask)
    out32 = sdpa(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), attn_mask=mask)
    check(out32, q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), attn_mask=mask)


@pytest.mark.parametrize("L,S", [(5, 40), (40, 900), (2, 2000)])
def test_fully_masked_rows_and_poisoned_keys(target, L, S):
    rng = np.random.default_rng(7)
    q, k, v = rand(rng, (2, L, 16), np.float32), rand(rng, (2, S, 16), np.float32), rand(rng, (2, S, 12), np.float32)
    mask = rng.random((2, L, S)) < 0.5
    mask[:, 1, :] = False                # a fully masked row
    mask[:, :, 3] = False                # a key nobody sees: poison it
    k[:, 3] = np.nan
    v[:, 3] = np.inf
    mask[:, :, S - 1] = False
    k[:, S - 1] = np.inf
    v[:, S - 1] = np.nan
    out, lse = sdpa(q, k, v, attn_mask=mask, return_lse=True)
    assert np.all(np.isfinite(out))
    assert np.all(out[:, 1] == 0) and np.all(lse[:, 1] == -np.inf)
    check(out, q, k, v, lse, attn_mask=mask)
    fmask = np.where(mask, 0.0, -np.inf).astype(np.float32)
    out2 = sdpa(q, k, v, attn_mask=fmask)
    np.testing.assert_allclose(out2, out, rtol=0, atol=1e-6)
    # causal: poisoned keys above the diagonal never leak either
    kc, vc = rand(rng, k.shape, np.float32), rand(rng, v.shape, np.float32)
    kc[:, min(L, S) - 1:] = np.nan
    vc[:, min(L, S) - 1:] = np.inf
    outc = sdpa(q[:, : min(L, S) - 1], kc, vc, is_causal=True)
    assert np.all(np.isfinite(outc))


@pytest.mark.parametrize("hq,hk", [(8, 2), (6, 1), (4, 4)])
@pytest.mark.parametrize("L,S", [(1, 1200), (9, 50), (60, 70)])
def test_gqa(target, hq, hk, L, S):
    rng = np.random.default_rng(hq * 10 + hk)
    q, k, v = rand(rng, (2, hq, L, 32), np.float32), rand(rng, (2, hk, S, 32), np.float32), rand(rng, (2, hk, S, 32), np.float32)
    out, lse = sdpa(q, k, v, enable_gqa=True, is_causal=L > 1, causal_alignment="lower_right", return_lse=True)
    check(out, q, k, v, lse, enable_gqa=True, is_causal=L > 1, causal_alignment="lower_right")


def test_strided_views(target):
    """(B, T, H, D) storage seen through a transpose, negative strides,
    a strided out: nothing is copied and results match."""
    rng = np.random.default_rng(3)
    base_q = rand(rng, (2, 50, 4, 16), np.float32)
    base_kv = rand(rng, (2, 90, 4, 2, 16), np.float32)
    q = base_q.transpose(0, 2, 1, 3)
    k = base_kv[:, :, :, 0].transpose(0, 2, 1, 3)
    v = base_kv[:, ::-1, :, 1, ::-1].transpose(0, 2, 1, 3)  # negative strides
    out_base = np.zeros((2, 50, 4, 16), np.float32)
    out = out_base.transpose(0, 2, 1, 3)
    r = sdpa(q, k, v, is_causal=True, out=out)
    assert r is out
    check(out, q, k, v, is_causal=True)
    q64 = base_q.astype(np.float64)[:, ::2].transpose(0, 2, 1, 3)
    kv64 = base_kv.astype(np.float64)
    check(sdpa(q64, kv64[..., 0, :].transpose(0, 2, 1, 3), kv64[..., 1, :].transpose(0, 2, 3, 1).swapaxes(-1, -2)),
          q64, kv64[..., 0, :].transpose(0, 2, 1, 3), kv64[..., 1, :].transpose(0, 2, 1, 3))


def test_ranks_and_broadcast():
    rng = np.random.default_rng(4)
    q, k, v = rand(rng, (6, 8), np.float64), rand(rng, (10, 8), np.float64), rand(rng, (10, 5), np.float64)
    out = sdpa(q, k, v)
    assert out.shape == (6, 5)
    check(out, q, k, v)
    out2 = np.zeros((5, 6), np.float64).T  # a strided 2-D out
    assert sdpa(q, k, v, out=out2) is out2
    np.testing.assert_array_equal(out2, out)
    out3 = sdpa(q[None], k[None], v[None])
    assert out3.shape == (1, 6, 5)
    np.testing.assert_array_equal(out3[0], out)
    # batch dimensions broadcast (torch's matmul rule)
    q4 = rand(rng, (3, 2, 6, 8), np.float64)
    out4 = sdpa(q4, k[None, None].repeat(2, 1), v[None, None].repeat(2, 1))
    assert out4.shape == (3, 2, 6, 5)
    check(out4, q4, np.broadcast_to(k, (3, 2, 10, 8)), np.broadcast_to(v, (3, 2, 10, 5)))


def test_large_logits(target):
    """Scores ~1e3, exactly representable (integer inputs, scale 1): a naive
    exp would overflow; the result must still match the float64 oracle."""
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        q = rng.integers(-8, 9, (2, 20, 16)).astype(dtype)
        k = rng.integers(-8, 9, (2, 700, 16)).astype(dtype)
        v = rand(rng, (2, 700, 16), dtype)
        for L in (20, 2):
            out, lse = sdpa(q[:, :L], k, v, scale=1.0, return_lse=True)
            assert np.max(np.abs(lse)) > 300
            check(out, q[:, :L], k, v, lse, scale=1.0)


def test_scale_and_extremes(target):
    rng = np.random.default_rng(6)
    q, k, v = rand(rng, (3, 11, 40), np.float32), rand(rng, (3, 31, 40), np.float32), rand(rng, (3, 31, 40), np.float32)
    for s in (0.0, 0.01, 3.0, -1.0):
        check(sdpa(q, k, v, scale=s), q, k, v, scale=s)


def test_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    for (B, H, L, S, E, Ev) in [(1, 4, 37, 91, 64, 64), (2, 2, 1, 700, 128, 128), (1, 2, 64, 64, 80, 48)]:
        q, k, v = rand(rng, (B, H, L, E), np.float32), rand(rng, (B, H, S, E), np.float32), rand(rng, (B, H, S, Ev), np.float32)
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
        for causal in (False, True):
            np.testing.assert_allclose(sdpa(q, k, v, is_causal=causal),
                                       F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal).numpy(),
                                       rtol=0, atol=3e-5 * float(np.abs(v).max()))
        mask = rng.random((L, S)) < 0.5
        mask[0] = False  # torch >= 2.5: fully masked row -> zeros
        np.testing.assert_allclose(sdpa(q, k, v, attn_mask=mask),
                                   np.nan_to_num(F.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.from_numpy(mask)).numpy()),
                                   rtol=0, atol=3e-5 * float(np.abs(v).max()))


@pytest.mark.parametrize("shape,causal", [((1, 3, 1, 5000, 64), None), ((1, 2, 4, 3000, 32), "lower_right"),
                                          ((2, 2, 300, 400, 64), "upper_left"), ((1, 1, 600, 500, 16), None)])
def test_thread_count_invariance(threads, shape, causal):
    B, H, L, S, E = shape
    rng = np.random.default_rng(9)
    q, k, v = rand(rng, (B, H, L, E), np.float32), rand(rng, (B, H, S, E), np.float32), rand(rng, (B, H, S, E), np.float32)
    kw = dict(is_causal=causal is not None, causal_alignment=causal or "upper_left", return_lse=True)
    results = []
    for n in (1, 2, 3):
        softmax_c.set_num_threads(n)
        results.append(sdpa(q, k, v, **kw))
    for o, lse in results[1:]:
        assert np.array_equal(o, results[0][0]) and np.array_equal(lse, results[0][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("L", [1, 3, 40])
def test_merge_over_shards(target, dtype, L):
    rng = np.random.default_rng(10)
    S = 1000
    q, k, v = rand(rng, (2, L, 32), dtype), rand(rng, (2, S, 32), dtype), rand(rng, (2, S, 24), dtype)
    mask = rng.random((2, L, S)) < 0.7
    mask[:, 0, 300:] = False          # row 0 sees only the first shard
    whole, whole_lse = sdpa(q, k, v, attn_mask=mask, return_lse=True)
    cuts = [0, 300, 301, 700, S]
    parts = [sdpa(q, k[:, a:b], v[:, a:b], attn_mask=mask[..., a:b], return_lse=True) for a, b in zip(cuts, cuts[1:])]
    out, lse = softmax_c.merge_attention([p[0] for p in parts], [p[1] for p in parts])
    tol = TOL[np.dtype(dtype)] * 10
    np.testing.assert_allclose(out, whole, rtol=0, atol=tol)
    np.testing.assert_allclose(lse, whole_lse, rtol=tol)
    # associativity: merge two merged halves
    a = softmax_c.merge_attention([p[0] for p in parts[:2]], [p[1] for p in parts[:2]])
    b = softmax_c.merge_attention([p[0] for p in parts[2:]], [p[1] for p in parts[2:]])
    out2, lse2 = softmax_c.merge_attention([a[0], b[0]], [a[1], b[1]])
    np.testing.assert_allclose(out2, whole, rtol=0, atol=tol)
    ro, rl = ref.merge_attention([p[0] for p in parts], [p[1] for p in parts])
    np.testing.assert_allclose(out, ro, rtol=0, atol=tol)


def test_merge_all_empty():
    o = np.full((2, 3), np.nan, np.float32)
    out, lse = softmax_c.merge_attention([o, o], [np.full(2, -np.inf, np.float32)] * 2)
    assert np.all(out == 0) and np.all(lse == -np.inf)


def test_empty_sizes():
    z = np.zeros
    assert sdpa(z((0, 3, 4)), z((0, 5, 4)), z((0, 5, 2))).shape == (0, 3, 2)
    assert sdpa(z((2, 0, 4)), z((2, 5, 4)), z((2, 5, 2))).shape == (2, 0, 2)
    out, lse = sdpa(z((2, 3, 4)), z((2, 0, 4)), z((2, 0, 2)), return_lse=True)
    assert np.all(out == 0) and np.all(lse == -np.inf)


# ------------------------------------------------------------------ errors --

def _qkv(dtype=np.float32):
    return np.zeros((2, 3, 4), dtype), np.zeros((2, 5, 4), dtype), np.zeros((2, 5, 6), dtype)


@pytest.mark.parametrize("call,exc,words", [
    (lambda q, k, v: sdpa(q, k.astype(np.float64), v), TypeError, "dtype"),
    (lambda q, k, v: sdpa(q.astype(np.int32), k, v), TypeError, "query"),
    (lambda q, k, v: sdpa(q.astype(np.complex64), k, v), TypeError, "query"),
    (lambda q, k, v: sdpa(q[0, 0], k, v), ValueError, "query"),
    (lambda q, k, v: sdpa(q, k[..., :3], v), ValueError, "key"),
    (lambda q, k, v: sdpa(q, k, v[:, :4]), ValueError, "value"),
    (lambda q, k, v: sdpa(q, k, v, attn_mask=np.ones((4, 5), bool)), ValueError, "attn_mask"),
    (lambda q, k, v: sdpa(q, k, v, attn_mask=np.ones((3, 5), np.int64)), TypeError, "attn_mask"),
    (lambda q, k, v: sdpa(q, k, v, attn_mask=np.ones((3, 5), bool), is_causal=True), ValueError, "is_causal"),
    (lambda q, k, v: sdpa(q, k, v, dropout_p=0.1), ValueError, "dropout_p"),
    (lambda q, k, v: sdpa(q, k, v, is_causal=True, causal_alignment="bottom"), ValueError, "causal_alignment"),
    (lambda q, k, v: sdpa(q, k, v, scale="x"), TypeError, "scale"),
    (lambda q, k, v: sdpa(q[None].repeat(4, 1), k[None], v[None]), ValueError, "heads"),
    (lambda q, k, v: sdpa(q[None].repeat(3, 1), k[None].repeat(2, 1), v[None].repeat(2, 1), enable_gqa=True),
     ValueError, "multiple"),
    (lambda q, k, v: sdpa(q[None].repeat(3, 0), k[None].repeat(2, 0), v[None].repeat(2, 0)), ValueError, "batch"),
    (lambda q, k, v: sdpa(q, k, v, out=np.zeros((2, 3, 5), np.float32)), ValueError, "out"),
    (lambda q, k, v: sdpa(q, k, v, out=np.zeros((2, 3, 6), np.float64)), TypeError, "out"),
    (lambda q, k, v: sdpa(q, k, v, out=[0]), TypeError, "out"),
    (lambda q, k, v: softmax_c.merge_attention([], []), ValueError, "shard"),
    (lambda q, k, v: softmax_c.merge_attention([q], [q[..., 0], q[..., 0]]), ValueError, "shards"),
    (lambda q, k, v: softmax_c.merge_attention([q], [q[..., 0].astype(np.float64)]), TypeError, "lses"),
])
def test_errors(call, exc, words):
    q, k, v = _qkv()
    with pytest.raises(exc, match=words):
        call(q, k, v)


def test_readonly_out_and_no_partial_write():
    q, k, v = _qkv()
    out = np.full((2, 3, 6), 7.0, np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        sdpa(q, k, v, out=out)
    out = np.full((2, 3, 6), 7.0, np.float32)
    with pytest.raises(ValueError):
        sdpa(q, k, v, attn_mask=np.ones((4, 5), bool), out=out)
    assert np.all(out == 7.0)


def test_out_aliasing_input():
    rng = np.random.default_rng(11)
    q = rand(rng, (2, 6, 8), np.float64)
    k, v = rand(rng, (2, 9, 8), np.float64), rand(rng, (2, 9, 8), np.float64)
    exp = sdpa(q, k, v)
    r = sdpa(q, k, v, out=q)
    assert r is q
    np.testing.assert_array_equal(q, exp)


def test_out_overlapping_an_input_in_part(threads):
    """An out whose memory holds the keys of a later head (one thread: head 0
    is written before head 1's keys are read), and one that only shares the
    buffer, not its bytes: each result equals the call on copies.  The front
    checks overlap exactly (np.shares_memory behind np.may_share_memory)."""
    softmax_c.set_num_threads(1)
    rng = np.random.default_rng(12)
    q, v = rand(rng, (2, 6, 8), np.float64), rand(rng, (2, 9, 8), np.float64)
    for lo in (72, 144):  # out[0] on k[1]'s first rows; out after k in the same buffer
        buf = rand(rng, (240,), np.float64)
        k = buf[:144].reshape(2, 9, 8)
        exp = sdpa(q, k.copy(), v)
        out = buf[lo:lo + 96].reshape(2, 6, 8)
        assert sdpa(q, k, v, out=out) is out
        np.testing.assert_array_equal(out, exp)


def test_batch_dimensions_that_do_not_broadcast():
    rng = np.random.default_rng(13)
    q = rand(rng, (3, 2, 6, 8), np.float32)
    k = rand(rng, (2, 2, 9, 8), np.float32)
    with pytest.raises(ValueError, match="batch dimensions do not broadcast"):
        sdpa(q, k, k)
    with pytest.raises(ValueError, match="batch dimensions do not broadcast"):
        sdpa(q, q[:, :, :5], rand(rng, (4, 2, 5, 8), np.float32))  # key matches query, value does not


# ------------------------------------------------------------------- out= --

def test_out_pair_with_lse():
    rng = np.random.default_rng(31)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 6)))
    eo, el = sdpa(q, k, v, return_lse=True)
    o, l = np.zeros((2, 3, 6), np.float32), np.zeros((2, 3), np.float32)
    got = sdpa(q, k, v, return_lse=True, out=(o, l))
    assert got[0] is o and got[1] is l
    np.testing.assert_array_equal(o, eo)
    np.testing.assert_array_equal(l, el)
    o2 = np.zeros((2, 3, 6), np.float32)  # an array alone: the lse is allocated
    got = sdpa(q, k, v, return_lse=True, out=o2)
    assert got[0] is o2
    np.testing.assert_array_equal(got[1], el)
    lt = np.zeros((3, 2), np.float32).T  # a strided lse
    sdpa(q, k, v, return_lse=True, out=(np.zeros((2, 3, 6), np.float32), lt))
    np.testing.assert_array_equal(lt, el)
    with pytest.raises(ValueError, match=r"out\[1\]"):
        sdpa(q, k, v, return_lse=True, out=(o, np.zeros((2, 4), np.float32)))
    with pytest.raises(TypeError, match=r"out\[1\]"):
        sdpa(q, k, v, return_lse=True, out=(o, np.zeros((2, 3))))


def test_merge_attention_out():
    rng = np.random.default_rng(32)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 4), (2, 8, 4), (2, 8, 6)))
    parts = [sdpa(q, k[:, a:b], v[:, a:b], return_lse=True) for a, b in ((0, 3), (3, 8))]
    eo, el = softmax_c.merge_attention([p[0] for p in parts], [p[1] for p in parts])
    o, l = np.zeros((2, 3, 6)), np.zeros((2, 3))
    got = softmax_c.merge_attention([p[0] for p in parts], [p[1] for p in parts], out=(o, l))
    assert got[0] is o and got[1] is l
    np.testing.assert_array_equal(o, eo)
    np.testing.assert_array_equal(l, el)


@pytest.mark.parametrize("out,exc,words", [
    ((np.zeros((2, 3, 5)), np.zeros((2, 3))), ValueError, r"out\[0\]"),
    ((np.zeros((2, 3, 6)), np.zeros((2, 3), np.float32)), TypeError, r"out\[1\]"),
    (np.zeros((2, 3, 6)), TypeError, "tuple"),
])
def test_merge_attention_bad_out_untouched(out, exc, words):
    o = np.ones((2, 2, 3, 6))
    lse = np.ones((2, 2, 3))
    with pytest.raises(exc, match=words):
        softmax_c.merge_attention(o, lse, out=out)
    for a in (out if isinstance(out, tuple) else (out,)):
        assert np.all(a == 0)
    ro = (np.zeros((2, 3, 6)), np.zeros((2, 3)))
    ro[1].flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        softmax_c.merge_attention(o, lse, out=ro)
    assert np.all(ro[0] == 0)


@pytest.mark.parametrize("hq", [1, 2, 4])
def test_score_sums_do_not_depend_on_key_grouping(target, hq):
    """The decode kernel sums a key's score in groups of keys (a tree of
    eight sums) or one at a time (tails): bitwise the same, so a key range
    split anywhere gives the same scores (paged vs packed, any S)."""
    rng = np.random.default_rng(hq)
    q = rng.standard_normal((1, hq, 1, 100)).astype(np.float32)
    k = rng.standard_normal((1, 1, 37, 100)).astype(np.float32)
    v = rng.standard_normal((1, 1, 37, 16)).astype(np.float32)
    full = sdpa(q, k, v, enable_gqa=True)
    # the same 37 keys as one run (grouped) and as 37 runs of one key (a paged cache of block size 1)
    bt1 = np.arange(37, dtype=np.int32)[None]
    kc1, vc1 = k[0].transpose(1, 0, 2)[:, None], v[0].transpose(1, 0, 2)[:, None]
    qv = q[0].transpose(1, 0, 2)[None]  # (1, 1, hq, E)
    paged = softmax_c.flash_attn_with_kvcache(qv, kc1, vc1, cache_seqlens=np.array([37]), block_table=bt1)
    dense = softmax_c.flash_attn_with_kvcache(qv, k[0].transpose(1, 0, 2)[None], v[0].transpose(1, 0, 2)[None],
                                              cache_seqlens=np.array([37]))
    assert np.array_equal(paged, dense)
    np.testing.assert_allclose(paged[0, 0], full[0, :, 0], rtol=0, atol=2e-5 * 4)
