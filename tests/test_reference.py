"""The oracle itself: softmax_c.reference against SciPy and brute-force loops.

Runs without the compiled extension (conftest loads reference.py from the
source tree if ``softmax_c`` cannot be imported).
"""

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.special as sp

from conftest import ref

inf, nan = np.inf, np.nan

EDGE_ROWS = [
    [1.0, 2.0, 3.0],
    [1.0, -inf, 2.0],
    [-inf, -inf],
    [1.0, inf],
    [inf, inf],
    [inf, -inf],
    [1.0, nan],
    [nan, -inf],
    [0.0],
    [1000.0, 1.0],
    [-inf, 0.0],
    [-1000.0, -1001.0, -1e300],
]


def _same(a, b, rtol=1e-15, atol=0.0):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    fin = np.isfinite(b)
    np.testing.assert_array_equal(a[~fin & ~np.isnan(b)], b[~fin & ~np.isnan(b)])
    np.testing.assert_allclose(a[fin], b[fin], rtol=rtol, atol=atol)


@pytest.mark.parametrize("row", EDGE_ROWS, ids=str)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "logsumexp"])
def test_edge_rows_match_scipy(fn, row):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = getattr(sp, fn)(np.array(row))
    got = getattr(ref, fn)(row)
    _same(got, expected)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (2, 0), (0, 1, 2)])
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_axes_match_scipy(fn, axis):
    x = np.random.default_rng(1).standard_normal((4, 5, 6)) * 5
    # log_softmax = x - lse cancels: absolute error ~ eps * |x|
    _same(getattr(ref, fn)(x, axis=axis), getattr(sp, fn)(x, axis=axis), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("return_sign", [False, True])
@pytest.mark.parametrize("bshape", [None, (6,), (5, 1), (4, 5, 6), (2, 4, 5, 6)])
def test_logsumexp_matches_scipy(axis, keepdims, return_sign, bshape):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 5, 6)) * 3
    b = None if bshape is None else rng.standard_normal(bshape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sp.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)
    got = ref.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)
    if return_sign:
        _same(got[0], expected[0], rtol=1e-12)
        _same(got[1], expected[1])
    else:
        _same(got, expected, rtol=1e-12)


def test_logsumexp_special_values():
    assert ref.logsumexp([1, 2], b=[1, -1], return_sign=True) == pytest.approx(
        (math.log(math.e**2 - math.e), -1.0), rel=1e-15)
    assert math.isnan(ref.logsumexp([1, 2], b=[1, -1]))
    assert ref.logsumexp([1.0, inf, nan], b=[1, 0, 0]) == 1.0
    assert ref.logsumexp([inf], b=[-1], return_sign=True) == (inf, -1.0)
    assert ref.logsumexp([-inf, -inf], return_sign=True) == (-inf, 0.0)
    assert ref.logsumexp([1.0, 1.0], b=[1, -1], return_sign=True) == (-inf, 0.0)
    # deliberate difference from SciPy (which gives NaN here): exact cancellation
    assert ref.logsumexp([1000.0, 1000.0], b=[1, -1], return_sign=True) == (-inf, 0.0)
    assert ref.logsumexp(np.zeros((0, 3)), axis=0).tolist() == [-inf] * 3
    assert ref.logsumexp(np.zeros(0), return_sign=True) == (-inf, -1.0)  # SciPy's sign
    assert ref.logsumexp(np.zeros((0, 3)), axis=1).shape == (0,)
    assert ref.logsumexp(3.0) == 3.0
    assert ref.logsumexp(3.0, keepdims=True).shape == (1,)
    # b larger than a broadcasts the result up, as in SciPy
    np.testing.assert_allclose(ref.logsumexp(np.zeros(4), b=np.ones((3, 4)), axis=-1),
                               [math.log(4)] * 3, rtol=1e-15)


def test_softmax_errors_and_dtypes():
    with pytest.raises(ValueError):
        ref.softmax(np.zeros((3, 0)), axis=1)
    assert ref.softmax(np.zeros((0, 3)), axis=1).shape == (0, 3)
    with pytest.raises(np.exceptions.AxisError):
        ref.softmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(TypeError):
        ref.softmax(np.ones(3, np.complex128))
    for t in (0, -1.0, inf, nan):
        with pytest.raises(ValueError, match="temperature"):
            ref.log_softmax([1.0, 2.0], temperature=t)
    for dt in (np.int32, np.float16, np.float32, bool):
        assert ref.softmax(np.ones(3, dt)).dtype == np.float64
    assert ref.softmax(3.0) == 1.0 and ref.log_softmax(3.0) == 0.0


def test_temperature_divides():
    x = np.random.default_rng(3).standard_normal((3, 10)) * 4
    for t in (0.25, 2.0, 7.0):
        _same(ref.softmax(x, axis=1, temperature=t), sp.softmax(x / t, axis=1), rtol=1e-14)
        _same(ref.log_softmax(x, axis=1, temperature=t), sp.log_softmax(x / t, axis=1), rtol=1e-14,
              atol=1e-14)


def test_oracle_is_more_accurate_than_float32():
    # float32 row of 2**20: the oracle sums in long double; compare with an
    # independent fsum-based value on a sample of outputs.
    x = np.random.default_rng(4).standard_normal(2**20).astype(np.float32)
    y = ref.softmax(x)
    xd = x.astype(np.float64)
    m = xd.max()
    s = math.fsum(np.exp(xd - m))
    for i in (0, 1, 12345, 2**20 - 1):
        assert abs(y[i] - math.exp(xd[i] - m) / s) <= 1e-15 * y[i]
    assert abs(ref.logsumexp(x) - (m + math.log(s))) <= 1e-15 * abs(m + math.log(s))


# --------------------------------------------------------------------------
# attention: brute force with explicit loops
# --------------------------------------------------------------------------

def _naive_attention(q, k, v, allowed, bias, scale):
    """q (Hq,L,E) k (H,S,E) v (H,S,Ev) with GQA by integer division, loops only."""
    hq, L, _ = q.shape
    h, S, _ = k.shape
    ev = v.shape[-1]
    group = hq // h
    out = np.zeros((hq, L, ev))
    lse = np.full((hq, L), -inf)
    for hh in range(hq):
        kv = hh // group
        for i in range(L):
            js = [j for j in range(S) if allowed[hh, i, j]]
            if not js:
                continue
            sc = [float(np.dot(q[hh, i], k[kv, j])) * scale + bias[hh, i, j] for j in js]
            m = max(sc)
            w = [math.exp(s - m) for s in sc]
            tot = math.fsum(w)
            lse[hh, i] = m + math.log(tot)
            for wj, j in zip(w, js):
                out[hh, i] += (wj / tot) * v[kv, j]
    return out, lse


@pytest.mark.parametrize("L,S", [(1, 1), (1, 9), (5, 5), (5, 9), (9, 5)])
@pytest.mark.parametrize("hq,h", [(2, 2), (4, 2), (4, 1)])
@pytest.mark.parametrize("mode", ["none", "bool", "float", "causal_ul", "causal_lr"])
def test_attention_matches_loops(L, S, hq, h, mode):
    rng = np.random.default_rng(5)
    E, Ev = 6, 3
    q = rng.standard_normal((hq, L, E))
    k = rng.standard_normal((h, S, E))
    v = rng.standard_normal((h, S, Ev))
    allowed = np.ones((hq, L, S), bool)
    bias = np.zeros((hq, L, S))
    kw = {}
    if mode == "bool":
        mask = rng.random((hq, L, S)) < 0.6
        mask[0, 0] = False  # one fully masked row
        allowed = mask
        kw["attn_mask"] = mask
    elif mode == "float":
        fmask = rng.standard_normal((L, S))
        fmask[rng.random((L, S)) < 0.3] = -inf
        fmask[-1] = -inf
        allowed = np.broadcast_to(fmask != -inf, (hq, L, S))
        bias = np.broadcast_to(np.where(fmask == -inf, 0, fmask), (hq, L, S))
        kw["attn_mask"] = fmask
    elif mode == "causal_ul":
        allowed = np.broadcast_to(np.tril(np.ones((L, S), bool)), (hq, L, S))
        kw["is_causal"] = True
    elif mode == "causal_lr":
        i, j = np.indices((L, S))
        allowed = np.broadcast_to(j <= i + (S - L), (hq, L, S))
        kw.update(is_causal=True, causal_alignment="lower_right")
    scale = 0.3
    out, lse = ref.scaled_dot_product_attention(
        q, k, v, scale=scale, enable_gqa=(hq != h), return_lse=True, **kw)
    exp_out, exp_lse = _naive_attention(q, k, v, allowed, bias, scale)
    assert out.dtype == np.float64 and out.shape == (hq, L, Ev) and lse.shape == (hq, L)
    np.testing.assert_allclose(out, exp_out, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(np.isneginf(lse), np.isneginf(exp_lse))
    fin = np.isfinite(exp_lse)
    np.testing.assert_allclose(lse[fin], exp_lse[fin], rtol=1e-13, atol=1e-14)
    assert np.all(out[~fin] == 0.0)


def test_attention_default_scale_and_batch_broadcast():
    rng = np.random.default_rng(6)
    q = rng.standard_normal((2, 3, 4, 8))
    k = rng.standard_normal((1, 3, 5, 8))
    v = rng.standard_normal((1, 3, 5, 2))
    out = ref.scaled_dot_product_attention(q, k, v)
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(8)
    np.testing.assert_allclose(out, sp.softmax(s, axis=-1) @ v, rtol=1e-13)


def test_attention_masked_keys_do_not_leak_nan():
    rng = np.random.default_rng(7)
    q = rng.standard_normal((1, 3, 4))
    k = rng.standard_normal((1, 5, 4))
    v = rng.standard_normal((1, 5, 2))
    k[0, 4] = nan
    v[0, 4] = inf
    v[0, 3] = nan
    mask = np.ones((3, 5), bool)
    mask[:, 3:] = False
    out, lse = ref.scaled_dot_product_attention(q, k, v, attn_mask=mask, return_lse=True)
    exp = ref.scaled_dot_product_attention(q, k[:, :3], v[:, :3], return_lse=True)
    np.testing.assert_allclose(out, exp[0], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(lse, exp[1], rtol=1e-14, atol=1e-15)
    fout, flse = ref.scaled_dot_product_attention(
        q, k, v, attn_mask=np.where(mask, 0.0, -inf), return_lse=True)
    np.testing.assert_array_equal(fout, out)
    np.testing.assert_array_equal(flse, lse)
    # causal lower-right with L > S: the first rows see nothing -> zeros, lse -inf
    out2, lse2 = ref.scaled_dot_product_attention(
        rng.standard_normal((1, 6, 4)), k[:, :3], v[:, :3], is_causal=True,
        causal_alignment="lower_right", return_lse=True)
    assert np.all(out2[0, :3] == 0) and np.all(lse2[0, :3] == -inf)
    assert np.all(np.isfinite(out2)) and np.all(np.isfinite(lse2[0, 3:]))


def test_attention_argument_errors():
    q = np.zeros((4, 2, 3))
    k = np.zeros((3, 5, 3))
    with pytest.raises(ValueError):
        ref.scaled_dot_product_attention(q, k, k, enable_gqa=True)
    with pytest.raises(ValueError):
        ref.scaled_dot_product_attention(q, k[:1], k[:1], is_causal=True,
                                         attn_mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError):
        ref.scaled_dot_product_attention(q, np.zeros((4, 5, 2)), np.zeros((4, 5, 2)))


# --------------------------------------------------------------------------
# merge_attention
# --------------------------------------------------------------------------

def _shards(q, k, v, mask, cuts):
    outs, lses = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        o, l = ref.scaled_dot_product_attention(q, k[:, a:b], v[:, a:b],
                                                attn_mask=mask[:, a:b], return_lse=True)
        outs.append(o)
        lses.append(l)
    return outs, lses


def test_merge_equals_full_and_is_associative():
    rng = np.random.default_rng(8)
    q = rng.standard_normal((2, 4, 5))
    k = rng.standard_normal((2, 12, 5))
    v = rng.standard_normal((2, 12, 3))
    mask = rng.random((4, 12)) < 0.7
    mask[1] = False            # fully masked row
    mask[2, :6] = False        # row dead in the first shards only
    full_o, full_l = ref.scaled_dot_product_attention(q, k, v, attn_mask=mask, return_lse=True)
    outs, lses = _shards(q, k, v, mask, [0, 3, 6, 12])
    o, l = ref.merge_attention(outs, lses)
    np.testing.assert_allclose(o, full_o, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(np.isneginf(l), np.isneginf(full_l))
    np.testing.assert_allclose(l[np.isfinite(l)], full_l[np.isfinite(full_l)], rtol=1e-13)
    assert np.all(o[:, 1] == 0) and np.all(l[:, 1] == -inf)
    # ((a, b), c) == (a, (b, c)) == (a, b, c)
    ab = ref.merge_attention(outs[:2], lses[:2])
    bc = ref.merge_attention(outs[1:], lses[1:])
    left = ref.merge_attention([ab[0], outs[2]], [ab[1], lses[2]])
    right = ref.merge_attention([outs[0], bc[0]], [lses[0], bc[1]])
    for other in (left, right):
        np.testing.assert_allclose(other[0], o, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(other[1], l, rtol=1e-13)


def test_merge_ignores_dead_shard_even_with_nan():
    o1 = np.array([[1.0, 2.0]])
    l1 = np.array([0.5])
    dead_o = np.array([[nan, inf]])
    dead_l = np.array([-inf])
    o, l = ref.merge_attention([o1, dead_o], [l1, dead_l])
    np.testing.assert_array_equal(o, o1)
    np.testing.assert_array_equal(l, l1)
    o, l = ref.merge_attention([dead_o, dead_o], [dead_l, dead_l])
    np.testing.assert_array_equal(o, [[0.0, 0.0]])
    np.testing.assert_array_equal(l, [-inf])
    # two equal shards: same output, lse + log 2
    o, l = ref.merge_attention([o1, o1], [l1, l1])
    np.testing.assert_allclose(o, o1, rtol=1e-15)
    np.testing.assert_allclose(l, l1 + math.log(2), rtol=1e-15)


def test_attention_positional_arguments_match_the_public_function(sc):
    # (query, key, value, attn_mask, dropout_p, is_causal, ...) as torch and softmax_c
    rng = np.random.default_rng(8)
    q, k, v = (rng.standard_normal(s) for s in ((1, 4, 3), (1, 4, 3), (1, 4, 2)))
    np.testing.assert_array_equal(ref.scaled_dot_product_attention(q, k, v, None, 0.0, True),
                                  ref.scaled_dot_product_attention(q, k, v, is_causal=True))
    np.testing.assert_allclose(sc.scaled_dot_product_attention(q, k, v, None, 0.0, True),
                               ref.scaled_dot_product_attention(q, k, v, None, 0.0, True), rtol=1e-12)
    with pytest.raises(ValueError, match="dropout_p"):
        ref.scaled_dot_product_attention(q, k, v, dropout_p=0.1)
