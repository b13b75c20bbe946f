"""softmax_c.logsumexp against the float64 oracle and scipy.special.logsumexp.

Contract: float32 |err| <= 1e-6 * max(1, |lse|), float64 <= 1e-13 * max(1, |lse|);
SciPy's signature and edge cases (b weights, signs, b == 0, empty axes).
"""

import math
import warnings

import numpy as np
import pytest
import scipy.special as sp

from conftest import LAYOUTS, ROW_LENGTHS, assert_close, make_layout, ref, result_dtype

inf, nan = np.inf, np.nan
FLOATS = [np.float32, np.float64]


def _cancellation_scale(a, kw):
    """max(1,|lse|) * kappa, kappa = sum|b e^a| / |sum b e^a| (1 without negative b).

    With signed weights the sum cancels; its relative error is eps * kappa,
    which becomes an absolute error of the log.
    """
    b = kw.get("b")
    if b is None or not np.any(np.asarray(b) < 0):
        return None
    rkw = {k: v for k, v in kw.items() if k not in ("b", "return_sign")}
    with np.errstate(all="ignore"):
        l_abs = np.asarray(ref.logsumexp(a, b=np.abs(b), **rkw))
        l_sgn = np.asarray(ref.logsumexp(a, b=b, return_sign=True, **rkw)[0])
        kappa = np.exp(np.where(np.isfinite(l_sgn), l_abs - l_sgn, 0.0))
    return np.maximum(1.0, np.abs(l_sgn)) * kappa


def check_lse(got, a, dtype=None, **kw):
    a = np.asarray(a, np.float64)
    exp = ref.logsumexp(a, **kw)
    scale = _cancellation_scale(a, kw)
    if kw.get("return_sign"):
        assert isinstance(got, tuple) and len(got) == 2, "return_sign=True must give (res, sgn)"
        assert_close(got[0], exp[0], "log", dtype=dtype, scale=scale, what="logsumexp")
        s = np.asarray(got[1])
        assert s.shape == np.shape(exp[1])
        np.testing.assert_array_equal(s, np.asarray(exp[1]), err_msg="logsumexp sign")
    else:
        assert_close(got, exp, "log", dtype=dtype, scale=scale, what="logsumexp")


# --------------------------------------------------------------------------
# lengths, big rows
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n", ROW_LENGTHS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_row_lengths(sc, target, dtype, n, rng):
    a = (rng.standard_normal((3, n)) * 4).astype(dtype)
    a[1] += 200
    check_lse(sc.logsumexp(a, axis=-1), a, dtype=dtype, axis=-1)
    # reductions along a strided axis, both orientations
    check_lse(sc.logsumexp(a.T.copy(), axis=0), a.T, dtype=dtype, axis=0)
    b = (rng.standard_normal((5, n)) * 4).astype(dtype)
    check_lse(sc.logsumexp(b, axis=0), b, dtype=dtype, axis=0)


@pytest.mark.parametrize("n", [4096, 32000, 2**20])
def test_big_rows_float32(sc, target, n, rng):
    a = (rng.standard_normal(n) * 3).astype(np.float32)
    check_lse(sc.logsumexp(a), a, dtype=np.float32)
    # a row whose lse is large: the bound is relative to |lse|
    a2 = a + np.float32(5000)
    check_lse(sc.logsumexp(a2), a2, dtype=np.float32)


def test_big_row_float64(sc, target, rng):
    a = rng.standard_normal(2**20) * 3
    check_lse(sc.logsumexp(a), a, dtype=np.float64)


# --------------------------------------------------------------------------
# axes, keepdims, scipy
# --------------------------------------------------------------------------

AXES_3D = [None, 0, 1, 2, -1, -3, (0, 1), (1, 2), (0, 2), (2, 0), (0, 1, 2)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES_3D, ids=str)
@pytest.mark.parametrize("dtype", FLOATS)
def test_axes_keepdims(sc, target, dtype, axis, keepdims, rng):
    a = (rng.standard_normal((5, 6, 19)) * 3).astype(dtype)
    got = sc.logsumexp(a, axis=axis, keepdims=keepdims)
    exp_sp = sp.logsumexp(a, axis=axis, keepdims=keepdims)
    assert np.shape(got) == np.shape(exp_sp)
    check_lse(got, a, dtype=dtype, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(got, exp_sp, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_scalar_result_for_full_reduction(sc, rng):
    a = rng.standard_normal((3, 4))
    r = sc.logsumexp(a)
    assert np.ndim(r) == 0
    assert r == pytest.approx(sp.logsumexp(a), rel=1e-13)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("axis", [-1, 0, (0, 2), None], ids=str)
@pytest.mark.parametrize("dtype", FLOATS)
def test_layouts(sc, target, dtype, axis, layout, rng):
    a = make_layout((rng.standard_normal((5, 6, 37)) * 4).astype(dtype), layout)
    before = np.array(a, copy=True)
    got = sc.logsumexp(a, axis=axis)
    check_lse(got, before, dtype=dtype, axis=axis)
    np.testing.assert_array_equal(a, before)


# --------------------------------------------------------------------------
# b weights and signs
# --------------------------------------------------------------------------

@pytest.mark.parametrize("bshape", [(), (37,), (6, 1), (1, 37), (6, 37), (2, 6, 37)], ids=str)
@pytest.mark.parametrize("return_sign", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_b_broadcasting(sc, target, dtype, bshape, return_sign, rng):
    a = (rng.standard_normal((6, 37)) * 3).astype(dtype)
    b = rng.uniform(0.1, 2.0, size=bshape).astype(dtype)
    got = sc.logsumexp(a, axis=-1, b=b, return_sign=return_sign)
    check_lse(got, a, dtype=dtype, axis=-1, b=b.astype(np.float64), return_sign=return_sign)
    exp_sp = sp.logsumexp(a, axis=-1, b=b, return_sign=return_sign)
    res = got[0] if return_sign else got
    res_sp = exp_sp[0] if return_sign else exp_sp
    assert np.shape(res) == np.shape(res_sp)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_b_layouts(sc, target, layout, rng):
    a = make_layout((rng.standard_normal((4, 5, 37)) * 3).astype(np.float32), "strided")
    b = make_layout(rng.uniform(-1.0, 2.0, size=(4, 5, 37)).astype(np.float32), layout)
    a0, b0 = np.array(a), np.array(b)
    for axis in (-1, 0, (0, 2)):
        got = sc.logsumexp(a, axis=axis, b=b, return_sign=True)
        check_lse(got, a0, dtype=np.float32, axis=axis, b=b0.astype(np.float64),
                  return_sign=True)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_negative_b_and_sign(sc, target, dtype, rng):
    a = (rng.standard_normal((8, 45)) * 2).astype(dtype)
    b = rng.standard_normal((8, 45)).astype(dtype)
    b[0] = -np.abs(b[0])  # a negative row
    res, sgn = sc.logsumexp(a, axis=1, b=b, return_sign=True)
    check_lse((res, sgn), a, dtype=dtype, axis=1, b=b.astype(np.float64), return_sign=True)
    assert sgn[0] == -1.0
    es, ss = sp.logsumexp(a.astype(np.float64), axis=1, b=b.astype(np.float64), return_sign=True)
    np.testing.assert_array_equal(sgn, ss)
    # without return_sign a negative sum is NaN
    plain = sc.logsumexp(a, axis=1, b=b)
    np.testing.assert_array_equal(np.isnan(plain), ss < 0)


def test_b_literal_values(sc, target):
    r, s = sc.logsumexp([1.0, 2.0], b=[1.0, -1.0], return_sign=True)
    assert r == pytest.approx(math.log(math.e**2 - math.e), rel=1e-14) and s == -1.0
    assert math.isnan(sc.logsumexp([1.0, 2.0], b=[1.0, -1.0]))
    # exact cancellation: log(0) = -inf with sign 0
    assert sc.logsumexp([1.0, 1.0], b=[1.0, -1.0], return_sign=True) == (-inf, 0.0)
    assert sc.logsumexp([0.0, 0.0, 0.0], b=[2.0, 0.5, 0.5]) == pytest.approx(math.log(3), rel=1e-15)
    assert sc.logsumexp([5.0], b=[0.0]) == -inf


@pytest.mark.parametrize("dtype", FLOATS)
def test_b_zero_removes_inf_and_nan(sc, target, dtype):
    a = np.array([[1.0, inf, nan, 2.0] + [0.0] * 30,
                  [nan, -inf, inf, 0.5] + [0.0] * 30], dtype)
    b = np.ones_like(a)
    b[0, 1:3] = 0
    b[1, [0, 2]] = 0
    b[:, 4:] = 0
    got = sc.logsumexp(a, axis=1, b=b)
    np.testing.assert_allclose(got, [np.logaddexp(1.0, 2.0), 0.5],
                               rtol=1e-6 if dtype == np.float32 else 1e-14)
    assert got.dtype == dtype


def test_b_dtype_promotion(sc):
    a32 = np.zeros(3, np.float32)
    # SciPy promotes a and b together: float32 with float64 b -> float64
    assert sc.logsumexp(a32, b=np.ones(3, np.float32)).dtype == np.float32
    assert np.asarray(sc.logsumexp(a32, b=np.ones(3))).dtype == np.float64
    assert np.asarray(sc.logsumexp(a32, b=2.0)).dtype == np.float32
    r = sc.logsumexp(a32, b=np.ones(3))
    assert r == pytest.approx(math.log(3), rel=1e-15)


def test_b_bigger_than_a(sc):
    # b broadcasts a up (SciPy: a and b are broadcast together)
    a = np.arange(4.0)
    b = np.array([[1.0], [2.0], [3.0]]) * np.ones(4)
    got = sc.logsumexp(a, b=b, axis=-1)
    exp = sp.logsumexp(a, b=b, axis=-1)
    assert np.shape(got) == (3,)
    np.testing.assert_allclose(got, exp, rtol=1e-14)


def test_b_shape_mismatch_raises(sc):
    with pytest.raises(ValueError):
        sc.logsumexp(np.zeros((3, 4)), b=np.ones(3), axis=1)


# --------------------------------------------------------------------------
# edge cases (SciPy's values)
# --------------------------------------------------------------------------

EDGE = [
    ([-inf, -inf, -inf], -inf),
    ([1.0, inf], inf),
    ([inf, -inf], inf),
    ([inf, inf], inf),
    ([1.0, nan], nan),
    ([inf, nan], nan),
    ([-inf, nan], nan),
    ([-inf, 0.0], 0.0),
    ([3.0], 3.0),
    ([0.0, 0.0], math.log(2)),
]


@pytest.mark.parametrize("row,expected", EDGE, ids=str)
@pytest.mark.parametrize("dtype", FLOATS)
def test_edge_values(sc, target, dtype, row, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sp_val = sp.logsumexp(np.array(row))
    assert np.array_equal(sp_val, expected, equal_nan=True) or sp_val == pytest.approx(expected)
    for r in (row, row + [-inf] * 40):        # and past the vector width
        a = np.array([r, [0.0] * len(r)], dtype)
        got = sc.logsumexp(a, axis=1)
        assert got.dtype == dtype
        if math.isnan(expected):
            assert math.isnan(got[0]), f"{r}: got {got[0]}"
        elif math.isinf(expected):
            assert got[0] == expected, f"{r}: got {got[0]}"
        else:
            assert got[0] == pytest.approx(expected, rel=1e-6, abs=1e-7)
        assert got[1] == pytest.approx(math.log(len(r)), rel=1e-6)
        got0 = sc.logsumexp(a.T.copy(), axis=0)
        np.testing.assert_array_equal(np.isnan(got0), np.isnan(got))
        np.testing.assert_allclose(got0, got, rtol=1e-6)


def test_all_neg_inf_with_sign(sc, target):
    r, s = sc.logsumexp(np.full((2, 20), -inf), axis=1, return_sign=True)
    np.testing.assert_array_equal(r, [-inf, -inf])
    np.testing.assert_array_equal(s, [0.0, 0.0])


def test_inf_with_negative_b(sc):
    assert sc.logsumexp([inf], b=[-1.0], return_sign=True) == (inf, -1.0)
    assert math.isnan(sc.logsumexp([inf], b=[-1.0]))
    assert math.isnan(sc.logsumexp([inf, inf], b=[1.0, -1.0]))


@pytest.mark.parametrize("dtype", FLOATS)
def test_empty(sc, dtype):
    np.testing.assert_array_equal(sc.logsumexp(np.zeros((0, 3), dtype), axis=0), [-inf] * 3)
    assert sc.logsumexp(np.zeros((0, 3), dtype), axis=1).shape == (0,)
    assert sc.logsumexp(np.zeros(0, dtype)) == -inf
    r, s = sc.logsumexp(np.zeros((4, 0), dtype), axis=1, return_sign=True)
    np.testing.assert_array_equal(r, [-inf] * 4)
    # SciPy quirk: the sign of an empty reduction is sign(-inf) = -1
    # (a non-empty all -inf row has sign 0: test_all_neg_inf_with_sign)
    np.testing.assert_array_equal(s, sp.logsumexp(np.zeros((4, 0)), axis=1, return_sign=True)[1])
    np.testing.assert_array_equal(s, [-1.0] * 4)
    assert sc.logsumexp(np.zeros((0, 3), dtype), axis=0, keepdims=True).shape == (1, 3)


def test_zero_dim(sc):
    assert sc.logsumexp(3.0) == 3.0
    assert np.ndim(sc.logsumexp(np.float64(-2.5))) == 0
    assert sc.logsumexp(np.float32(1.5)) == np.float32(1.5)
    assert np.asarray(sc.logsumexp(np.float32(1.5))).dtype == np.float32
    k = sc.logsumexp(np.array(3.0), keepdims=True)  # SciPy: 0-d is treated as 1-d
    assert np.shape(k) == (1,) and k[0] == 3.0


@pytest.mark.parametrize("dtype", FLOATS)
def test_no_overflow(sc, target, dtype):
    big = 3e38 if dtype == np.float32 else 1.7e308
    a = np.array([[big, big], [big, -big], [-big, -big]] , dtype)
    got = sc.logsumexp(a, axis=1)
    assert np.all(np.isfinite(got))
    check_lse(got, a, dtype=dtype, axis=1)
    assert got[1] == dtype(big) and got[2] == pytest.approx(-big + math.log(2), rel=1e-6)


# --------------------------------------------------------------------------
# dtype policy and errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, bool])
def test_int_bool_give_float64(sc, dtype, rng):
    a = rng.integers(0, 2 if dtype is bool else 50, size=(4, 11)).astype(dtype)
    got = sc.logsumexp(a, axis=1)
    check_lse(got, a, dtype=np.float64, axis=1)


def test_list_input(sc):
    got = sc.logsumexp([[1, 2, 3], [4, 5, 6]], axis=1)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, sp.logsumexp([[1, 2, 3], [4, 5, 6]], axis=1), rtol=1e-14)


def test_float16(sc, target, rng):
    # issue 11: a float16 logsumexp is float32 (a float16 lse would lose the
    # merge), held to float32's bounds on the exactly widened input.
    a = (rng.standard_normal((3, 70)) * 4).astype(np.float16)
    a[2, :2] = [65504.0, 65504.0]  # float16 max: lse = 65504.7, beyond float16 (it rounded to 65504)
    got = sc.logsumexp(a, axis=1)
    assert got.dtype == np.float32
    check_lse(got, a, dtype=np.float32, axis=1)
    assert abs(float(got[2]) - 65504.69314718056) < 65504 * 2e-7
    assert result_dtype(np.float16) == np.float16


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_raises(sc, dtype):
    with pytest.raises(TypeError):
        sc.logsumexp(np.ones(3, dtype))
    with pytest.raises(TypeError):
        sc.logsumexp(np.ones(3), b=np.ones(3, dtype))


@pytest.mark.parametrize("axis", [2, -3, (0, 2)])
def test_bad_axis(sc, axis):
    with pytest.raises(ValueError) as info:
        sc.logsumexp(np.zeros((3, 4)), axis=axis)
    assert isinstance(info.value, IndexError), \
        f"bad axis should raise an AxisError-like ValueError+IndexError, got {info.type}"


def test_duplicate_axis(sc):
    with pytest.raises(ValueError):
        sc.logsumexp(np.zeros((3, 4)), axis=(0, 0))


# --------------------------------------------------------------------------
# out= (a keyword-only extra: scipy has none)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("axis,keepdims", [(None, False), (None, True), (1, False), (1, True), ((0, 2), False)])
@pytest.mark.parametrize("return_sign", [False, True])
def test_out(sc, axis, keepdims, return_sign, rng):
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    b = rng.standard_normal((3, 4, 5)).astype(np.float32)
    exp = sc.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)
    shape = np.shape(exp[0] if return_sign else exp)
    res = np.full(shape, 42.0, np.float32)
    if return_sign:
        sgn = np.full(shape, 42.0, np.float32)
        got = sc.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True, out=(res, sgn))
        assert got[0] is res and got[1] is sgn
        np.testing.assert_array_equal(sgn, exp[1])
        np.testing.assert_array_equal(res, exp[0])
    else:
        got = sc.logsumexp(a, axis=axis, b=b, keepdims=keepdims, out=res)
        assert got is res
        np.testing.assert_array_equal(res, exp)


def test_out_strided_and_float16(sc, rng):
    a = rng.standard_normal((6, 7))
    out = np.zeros((6, 2))[:, 0]  # a strided view
    assert sc.logsumexp(a, axis=1, out=out) is out
    np.testing.assert_array_equal(out, sc.logsumexp(a, axis=1))
    out32 = np.zeros(6, np.float32)  # float16 input: float32 result (issue 11)
    sc.logsumexp(a.astype(np.float16), axis=1, out=out32)
    np.testing.assert_array_equal(out32, sc.logsumexp(a.astype(np.float16), axis=1))
    with pytest.raises(TypeError):
        sc.logsumexp(a.astype(np.float16), axis=1, out=np.zeros(6, np.float16))


@pytest.mark.parametrize("kw,out,exc,words", [
    (dict(axis=1), np.zeros(4, np.float64), ValueError, "shape"),
    (dict(axis=1, keepdims=True), np.zeros(3, np.float64), ValueError, "shape"),
    (dict(axis=1), np.zeros(3, np.float32), TypeError, "dtype"),
    (dict(axis=1), [0.0, 0.0, 0.0], TypeError, "out"),
    (dict(axis=1, return_sign=True), np.zeros(3), TypeError, "tuple"),
    (dict(axis=1, return_sign=True), (np.zeros(3), np.zeros(2)), ValueError, r"out\[1\]"),
    (dict(axis=1), (np.zeros(3), np.zeros(3)), TypeError, "out"),
])
def test_out_errors_leave_out_untouched(sc, kw, out, exc, words):
    a = np.arange(12.0).reshape(3, 4)
    with pytest.raises(exc, match=words):
        sc.logsumexp(a, out=out, **kw)
    for o in (out if isinstance(out, tuple) else (out,)):
        assert np.all(np.asarray(o) == 0)


def test_out_readonly(sc):
    out = np.zeros(3)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        sc.logsumexp(np.ones((3, 4)), axis=1, out=out)
    res, sgn = np.zeros(3), np.zeros(3)
    with pytest.raises(ValueError, match="share memory"):
        sc.logsumexp(np.ones((3, 4)), axis=1, return_sign=True, out=(res, res))


# --------------------------------------------------------------------------
# results near 0: scipy >= 1.15's precision (scipy issue 18295), RELATIVE
# --------------------------------------------------------------------------

# Relative bound for |lse| < 1 (the exclusion pass, softmax/driver.cpp).
REL_NEAR_ZERO = {np.float32: 2e-6, np.float64: 1e-13}


def assert_rel(got, expected, dtype):
    got = np.asarray(got, np.float64)
    expected = np.asarray(expected, np.float64)
    tiny = np.finfo(dtype).smallest_subnormal * 4
    err = np.abs(got - expected)
    bound = REL_NEAR_ZERO[dtype] * np.abs(expected) + tiny
    worst = np.max(err / np.maximum(np.abs(expected), tiny))
    assert np.all(err <= bound), f"max relative error {worst:.3g}"


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("row", [[0, -40], [0, -100], [0, -1000], [0, 0, -30], [1e-3, -5], [-1e-3, -1e-3, -60],
                                 [0, -20, -25, -33]])
def test_scipy_near_zero_examples(sc, target, dtype, row):
    a = np.array(row, dtype)
    got = sc.logsumexp(a)
    assert_rel(got, ref.logsumexp(a), dtype)
    assert_rel(got, sp.logsumexp(a), dtype)


def test_scipy_issue_18295_value(sc, target):
    assert sc.logsumexp(np.array([0, -40.0])) == pytest.approx(4.248354255291589e-18, rel=1e-15)
    assert sc.logsumexp(np.array([0, -40.0], np.float32)) == pytest.approx(4.248354e-18, rel=1e-6)


def _dominant_rows(rng, rows, n, dtype, spread=30.0):
    a = (rng.standard_normal((rows, n)) * 3 - spread).astype(dtype)
    a[np.arange(rows), rng.integers(0, n, rows)] = rng.uniform(-0.5, 0.5, rows).astype(dtype) * 1e-3
    return a


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 17, 33, 64, 65, 1000, 4097])
@pytest.mark.parametrize("dtype", FLOATS)
def test_dominant_rows_relative(sc, target, dtype, n, rng):
    a = _dominant_rows(rng, 8, n, dtype)
    got = sc.logsumexp(a, axis=-1)
    assert_rel(got, ref.logsumexp(a, axis=-1), dtype)
    assert_rel(got, sp.logsumexp(a, axis=-1), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("signed", [False, True])
def test_dominant_weighted_and_sign(sc, target, dtype, signed, rng):
    a = _dominant_rows(rng, 8, 129, dtype)
    b = rng.uniform(0.5, 2.0, a.shape).astype(dtype)
    if signed:
        b = b * np.where(rng.random(a.shape) < 0.5, -1, 1).astype(dtype)
    b[a == a.max(axis=-1, keepdims=True)] = 1  # the tie weight: result near 0
    got, sg = sc.logsumexp(a, b=b, axis=-1, return_sign=True)
    exp, esg = ref.logsumexp(a, b=b, axis=-1, return_sign=True)
    assert_rel(got, exp, dtype)
    np.testing.assert_array_equal(sg, esg)
    assert_rel(got, sp.logsumexp(a, b=b, axis=-1, return_sign=True)[0], dtype)
    # the tie weight -1: sum negative, sign -1, NaN without return_sign
    b[a == a.max(axis=-1, keepdims=True)] = -1
    got, sg = sc.logsumexp(a, b=b, axis=-1, return_sign=True)
    exp, esg = ref.logsumexp(a, b=b, axis=-1, return_sign=True)
    assert_rel(got, exp, dtype)
    np.testing.assert_array_equal(sg, esg)
    assert np.all(np.isnan(sc.logsumexp(a, b=b, axis=-1)))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("weighted", [False, True])
def test_dominant_columns(sc, target, dtype, weighted, rng):
    a = np.ascontiguousarray(_dominant_rows(rng, 37, 200, dtype).T)  # reduce axis 0, inner = 37
    b = rng.uniform(0.5, 2.0, a.shape).astype(dtype) if weighted else None
    if weighted:
        b[a == a.max(axis=0, keepdims=True)] = 1
    got = sc.logsumexp(a, axis=0, b=b)
    assert_rel(got, ref.logsumexp(a, axis=0, b=b), dtype)
    assert_rel(got, sp.logsumexp(a, axis=0, b=b), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_dominant_chunked_rows(sc, target, dtype, rng):
    a = _dominant_rows(rng, 2, 40000, dtype, spread=20.0)  # > 16384: chunked
    a[0, :] = a[0, ::-1]  # the max in a later chunk for one row
    got = sc.logsumexp(a, axis=-1)
    assert_rel(got, ref.logsumexp(a, axis=-1), dtype)
    strided = np.repeat(a, 2, axis=-1)[:, ::2]  # packed path
    assert_rel(sc.logsumexp(strided, axis=-1), ref.logsumexp(a, axis=-1), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("axis", [None, -1, 2])
@pytest.mark.parametrize("keepdims", [False, True])
def test_fast_path_equals_general_path(sc, target, dtype, axis, keepdims, rng):
    # The common call (C-contiguous, axis None or last, no b/out/sign) takes
    # _core.logsumexp_fast; the same call with return_sign takes the general
    # path over the same layout: same values bitwise, same type, shape, dtype.
    x = (rng.standard_normal((3, 4, 37)) * 4).astype(dtype)
    x[0, 1, :5] = -np.inf
    fast = sc.logsumexp(x, axis=axis, keepdims=keepdims)
    general, sign = sc.logsumexp(x, axis=axis, keepdims=keepdims, return_sign=True)
    assert np.all(sign == 1)
    assert type(fast) is type(general)
    assert np.shape(fast) == np.shape(general) and np.asarray(fast).dtype == np.asarray(general).dtype
    np.testing.assert_array_equal(fast, general)
    expect = sp.logsumexp(x.astype(np.float64), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(fast, expect, rtol=3e-6 if dtype != np.float64 else 1e-13)
    if axis is None:
        assert sc.logsumexp(np.array([0.0, -40.0], dtype=np.float64)) == pytest.approx(4.248354255291589e-18, rel=1e-12)


@pytest.mark.parametrize("axis", [0, 1])
def test_subnormal_tie_weight_does_not_overflow(sc, target, axis):
    # The max element carries a subnormal weight, so the exclusion finish's
    # s / c overflowed and log1p(inf) gave +inf (fuzz seed 5550339653234);
    # the result is log of the other terms, about -0.588.
    a = np.array([1.788e-07, 1.067e+01, 2.041e+00, -1.772e+01, -9.898e+00])
    b = np.array([6.38645191e-02, 1.48219694e-323, 6.38645191e-02, 6.38645191e-02, 6.38645191e-02])
    a2, b2 = (np.stack([v, v], axis=1 - axis) for v in (a, b))
    got, sign = sc.logsumexp(a2, axis=axis, b=b2, return_sign=True)
    want = ref.logsumexp(a, b=b)
    assert np.all(np.isfinite(got)) and np.all(sign == 1)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert -0.6 < want < -0.58
