"""softmax_stats / merge_stats: the mergeable (m, s) states (NumPy only).

Tolerance: a merged state reorders the sum, so it agrees with the one-shot
logsumexp to LSE_TOL (abs / max(1, |lse|)); float64 1e-13."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import LSE_TOL, assert_close, import_softmax_c, ref

sc = import_softmax_c()
inf, nan = np.inf, np.nan


def lse_of(m, s):
    with np.errstate(divide="ignore", invalid="ignore"):
        return m + np.log(s)


def split_merge(x, cuts, axis=-1, b=None, temperature=1.0):
    """States of the pieces of x between `cuts` along axis, merged."""
    pieces = np.split(x, cuts, axis=axis)
    bs = [None] * len(pieces) if b is None else np.split(np.broadcast_to(b, x.shape), cuts, axis=axis)
    st = [sc.softmax_stats(p, axis, b=w, temperature=temperature) for p, w in zip(pieces, bs)]
    return sc.merge_stats(np.concatenate([m for m, _ in st], axis), np.concatenate([s for _, s in st], axis), axis)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cuts", [[1], [3, 4, 9], list(range(1, 40))])
def test_split_and_merge_equals_logsumexp(rng, dtype, cuts):
    x = (rng.normal(size=(5, 40)) * 30).astype(dtype)
    m, s = split_merge(x, cuts)
    assert m.shape == s.shape == (5, 1)
    assert_close(lse_of(m, s), sc.logsumexp(x.astype(np.float64), axis=-1, keepdims=True), "log",
                 tol=2 * LSE_TOL[np.dtype(dtype)])


def test_state_shapes_axes(rng):
    x = rng.normal(size=(3, 4, 5))
    for axis, shape in ((0, (1, 4, 5)), ((0, 2), (1, 4, 1)), (None, (1, 1, 1)), (-1, (3, 4, 1))):
        m, s = sc.softmax_stats(x, axis)
        assert m.shape == s.shape == shape
        assert_close(lse_of(m, s), sc.logsumexp(x, axis, keepdims=True), "log", tol=1e-13)
    m, s = sc.softmax_stats(np.float64(2.0))
    assert m.shape == () and float(lse_of(m, s)) == 2.0


def test_float16_states_are_float32(rng):
    x = rng.normal(size=(4, 9)).astype(np.float16)
    m, s = sc.softmax_stats(x)
    assert m.dtype == s.dtype == np.float32


def test_temperature_is_division(rng):
    """softmax(x, temperature=T) == softmax(x / T): the state is x / T's."""
    x = rng.normal(size=(4, 33)) * 4
    for t in (0.3, 1.0, 7.0):
        m, s = split_merge(x, [5, 20], temperature=t)
        assert_close(lse_of(m, s), sc.logsumexp(x / t, axis=-1, keepdims=True), "log", tol=1e-13)
        p = np.exp(x / t - lse_of(m, s))
        assert_close(p, sc.softmax(x, axis=-1, temperature=t), "prob", tol=1e-13)
    with pytest.raises(ValueError):
        sc.softmax_stats(x, temperature=0.0)
    with pytest.raises(TypeError):
        sc.softmax_stats(x, temperature=True)


def test_signed_weights(rng):
    x = rng.normal(size=(6, 30))
    b = rng.normal(size=(6, 30))
    m, s = split_merge(x, [7, 8, 22], b=b)
    r, sg = sc.logsumexp(x, -1, b=b, keepdims=True, return_sign=True)
    assert_close(m + np.log(np.abs(s)), r, "log", tol=1e-12, scale=np.abs(b).sum(-1, keepdims=True))
    assert np.array_equal(np.sign(s), sg)


@pytest.mark.parametrize("row, b", [
    ([-inf, -inf, -inf, -inf], None),
    ([1.0, nan, 2.0, 3.0], None),
    ([1.0, 2.0, inf, 3.0], None),
    ([inf, 2.0, inf, 3.0], None),
    ([inf, 2.0, inf, 3.0], [1, 1, -1, 1]),   # inf - inf across pieces: NaN
    ([1.0, 2.0, inf, 3.0], [1, 1, -1, 1]),   # -inf sum: sign -1, log|s| = inf
    ([1.0, 1.0, 2.0, 2.0], [1, 1, -1, -1]),  # exact cancellation
    ([nan, 1.0, inf, 2.0], [0, 1, 0, 1]),    # zero weights drop inf and NaN
    ([-inf, 1.0, -inf, 2.0], None),
])
@pytest.mark.parametrize("cuts", [[1], [2], [1, 2, 3]])
def test_edge_rows_as_logsumexp(row, b, cuts):
    x = np.array([row])
    bb = None if b is None else np.array([b], float)
    m, s = split_merge(x, cuts, b=bb)
    r, sg = sc.logsumexp(x, -1, b=bb, keepdims=True, return_sign=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        got = m + np.log(np.abs(s))
    assert_close(got, r, "log", tol=1e-13)
    np.testing.assert_array_equal(np.sign(s), sg)
    assert_close(lse_of(m, s), sc.logsumexp(x, -1, b=bb, keepdims=True), "log", tol=1e-13)


def test_empty_and_all_neg_inf_state_is_nothing():
    m, s = sc.softmax_stats(np.zeros((3, 0)))
    assert m.shape == (3, 1) and np.all(m == -inf) and np.all(s == 0)
    m, s = sc.softmax_stats(np.full((2, 3), -inf))
    assert np.all(m == -inf) and np.all(s == 0)
    m, s = sc.merge_stats(np.zeros((2, 0)), np.zeros((2, 0)), 1)
    assert m.shape == (2, 1) and np.all(m == -inf) and np.all(s == 0)


def test_max_sum_states_are_a_drop_in(rng):
    """A (max, sum relative to max) state -- what a dedicated kernel returns
    -- merges with the kernel's (lse, sign) states."""
    x = rng.normal(size=(4, 50)) * 10
    a, b = x[:, :20], x[:, 20:]
    ma = a.max(-1, keepdims=True)
    sa = np.exp(a - ma).sum(-1, keepdims=True)
    mb, sb = sc.softmax_stats(b)
    m, s = sc.merge_stats(np.concatenate([ma, mb], 1), np.concatenate([sa, sb], 1), 1)
    assert_close(lse_of(m, s), sc.logsumexp(x, -1, keepdims=True), "log", tol=1e-13)
    # a state with s == 0 and a large finite shift (weights that cancel) is nothing
    m, s = sc.merge_stats(np.array([[1000.0, 0.0]]), np.array([[0.0, 1.0]]), 1)
    assert float(lse_of(m, s)[0, 0]) == 0.0


def test_merge_is_associative(rng):
    x = rng.normal(size=(3, 24)) * 5
    st = [sc.softmax_stats(x[:, i:i + 4]) for i in range(0, 24, 4)]
    M = np.concatenate([m for m, _ in st], 1)
    S = np.concatenate([s for _, s in st], 1)
    flat = sc.merge_stats(M, S, 1)
    left = sc.merge_stats(M[:, :2], S[:, :2], 1)
    right = sc.merge_stats(M[:, 2:], S[:, 2:], 1)
    tree = sc.merge_stats(np.concatenate([left[0], right[0]], 1), np.concatenate([left[1], right[1]], 1), 1)
    np.testing.assert_allclose(lse_of(*flat), lse_of(*tree), rtol=0, atol=1e-14)


# ------------------------------------------- the one-read kernel, every target --

def _dtypes():
    out = [np.float32, np.float64, np.float16]
    try:
        import ml_dtypes
        out.append(ml_dtypes.bfloat16)
    except ImportError:  # pragma: no cover
        pass
    return out


def _oracle_state(x, axis, t, b=None):
    """float64 (max of x / T, sum of b exp(x / T - max)) and its lse."""
    z = np.asarray(x, np.float64) / t
    w = np.ones_like(z) if b is None else np.broadcast_to(np.asarray(b, np.float64), z.shape)
    zm = np.where(w != 0, z, -inf)
    m = zm.max(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):  # 0 * inf of a removed +inf entry
        s = np.sum(np.where(w != 0, w * np.exp(z - np.where(np.isfinite(m), m, 0)), 0), axis=axis, keepdims=True)
    return m, s


@pytest.mark.parametrize("dtype", _dtypes(), ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape,axis", [((7, 33), -1), ((3, 40000), -1), ((33, 6), 0), ((4, 5, 70), 1),
                                        ((2, 3, 17), (0, 2)), ((1, 1), -1)])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_stats_kernel_matches_float64_state(target, rng, dtype, shape, axis, temperature):
    """m is the max of x / T in the state dtype, s the sum relative to it,
    for rows, strided rows (axis 0 / 1), several axes and rows longer than a
    kernel chunk (40000 > 16384)."""
    x = (rng.normal(size=shape) * 20).astype(dtype)
    m, s = sc.softmax_stats(x, axis, temperature=temperature)
    odt = np.float64 if dtype == np.float64 else np.float32
    assert m.dtype == s.dtype == odt
    mr, sr = _oracle_state(x, axis, temperature)
    # the max: exact to the rounding of x / T in the state dtype
    np.testing.assert_allclose(m, mr, rtol=2 * np.finfo(odt).eps, atol=0)
    tol = 1e-13 if dtype == np.float64 else 2e-6
    assert_close(lse_of(m, s), lse_of(mr, sr), "log", tol=tol)
    assert np.all(s >= 1 - 4 * np.finfo(odt).eps * 8)  # relative to the max: its own term is 1 (m rounded)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stats_kernel_weights_and_layouts(target, rng, dtype):
    x = (rng.normal(size=(6, 50)) * 10).astype(dtype)
    b = rng.normal(size=(6, 50)).astype(dtype)
    b[:, ::7] = 0
    x[0, 3] = inf
    b[0, 3] = 0  # a zero weight removes even +inf
    for xx, bb, ax in ((x, b, -1), (x.T, b.T, 0), (x[:, ::2], b[:, ::2], -1)):
        m, s = sc.softmax_stats(xx, ax, b=bb)
        mr, sr = _oracle_state(xx, ax, 1.0, bb)
        np.testing.assert_allclose(m, mr, rtol=0, atol=0)
        with np.errstate(invalid="ignore"):
            e = np.where(bb != 0, np.exp(np.asarray(xx, np.float64) - mr), 0)
        scale = np.sum(np.abs(bb) * e, axis=ax, keepdims=True)
        np.testing.assert_allclose(s, sr, rtol=0, atol=float(np.max(scale)) * (1e-13 if dtype == np.float64 else 2e-6))
    # a temperature with weights: the state of the rounded x / T
    m, s = sc.softmax_stats(x, -1, b=b, temperature=2.0)
    mr, sr = _oracle_state(x / dtype(2), -1, 1.0, b)
    np.testing.assert_allclose(m, mr, rtol=1e-15, atol=0)


def test_stats_kernel_edge_rows(target):
    x = np.array([[-inf, -inf, -inf], [1.0, inf, 2.0], [1.0, nan, 2.0], [3.0, 3.0, 3.0], [-1e300, -1e300, 0.0]])
    for dt in (np.float64, np.float32):
        with np.errstate(over="ignore"):  # -1e300 -> -inf in float32: still a valid row
            xd = x.astype(dt)
        m, s = sc.softmax_stats(xd)
        assert m[0, 0] == -inf and s[0, 0] == 0
        assert m[1, 0] == inf and s[1, 0] == 1
        assert np.isnan(m[2, 0]) and np.isnan(s[2, 0])
        assert m[3, 0] == 3 and s[3, 0] == 3
    m, s = sc.softmax_stats(np.broadcast_to(np.float64(2.5), (2, 9)))  # stride 0: the closed form
    assert np.all(m == 2.5) and np.all(s == 9)
    m, s = sc.softmax_stats(np.array([[inf, 1.0, inf]]), b=np.array([[1.0, 1.0, -1.0]]))
    assert np.isnan(m[0, 0]) and np.isnan(s[0, 0])  # +inf of both signs


def test_softmax_from_state_is_exact_shift(rng):
    """The shift is the max itself, so exp((x - m) - log s) is scipy's
    softmax to the usual bound, for logits near 1000 (float32)."""
    x = (rng.normal(size=(5, 300)) + 1000).astype(np.float32)
    m, s = sc.softmax_stats(x)
    p = np.exp((x - m) - np.log(s))
    assert_close(p, ref.softmax(x.astype(np.float64), axis=-1), "prob", tol=2 * 3e-6)
