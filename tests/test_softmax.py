"""softmax_c.softmax / log_softmax against the float64 oracle and SciPy.

Kernel-level tests take the ``target`` fixture, so they run once per kernel
table this CPU supports.  Expected values always come from
``softmax_c.reference`` (float64/long double); SciPy pins the semantics.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.special as sp

from conftest import LAYOUTS, ROW_LENGTHS, assert_close, make_layout, ref, result_dtype

inf, nan = np.inf, np.nan
FUNCS = ["softmax", "log_softmax"]
FLOATS = [np.float32, np.float64]


def run(sc, fn, x, **kw):
    return getattr(sc, fn)(x, **kw)


def expect(fn, x, **kw):
    return getattr(ref, fn)(np.asarray(x), **kw)


def check_fn(fn, got, x, dtype=None, temperature=1.0, **kw):
    """Compare ``got`` with the oracle for ``fn(x, **kw)``."""
    x64 = np.asarray(x, dtype=np.float64)
    exp = expect(fn, x64, temperature=temperature, **kw)
    if fn == "softmax":
        assert_close(got, exp, "prob", dtype=dtype, what=fn)
    else:
        assert_close(got, exp, "logsm", dtype=dtype, what=fn)


# --------------------------------------------------------------------------
# row lengths around every vector width, both reduction directions
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n", ROW_LENGTHS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", FUNCS)
def test_row_lengths_last_axis(sc, target, fn, dtype, n, rng):
    x = (rng.standard_normal((3, n)) * 4).astype(dtype)
    x[1] += 100  # a row far from 0: exercises the max subtraction
    got = run(sc, fn, x, axis=-1)
    check_fn(fn, got, x, dtype=dtype, axis=-1)


@pytest.mark.parametrize("n", ROW_LENGTHS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", FUNCS)
def test_row_lengths_axis0(sc, target, fn, dtype, n, rng):
    # (n, 3) over axis 0: strided reduction of length n, inner 3;
    # (5, n) over axis 0: vectorised across an inner dimension of length n.
    for shape in ((n, 3), (5, n)):
        x = (rng.standard_normal(shape) * 4).astype(dtype)
        got = run(sc, fn, x, axis=0)
        check_fn(fn, got, x, dtype=dtype, axis=0)


# The row algorithm switches (cpp/src/softmax/driver.cpp): a contiguous row of up to
# kCachedRowBytes = 1 MB is done in cache, a longer one in kChunk = 16384
# element chunks; a strided row is packed when n <= kChunk, else chunked.
SWITCH_LENGTHS = {np.float32: [16383, 16384, 16385, 262143, 262144, 262145],
                  np.float64: [16383, 16384, 16385, 131071, 131072, 131073]}


@pytest.mark.parametrize("n_index", range(6))
@pytest.mark.parametrize("layout", ["C", "strided"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", FUNCS)
def test_row_lengths_at_algorithm_switches(sc, target, fn, dtype, layout, n_index, rng):
    n = SWITCH_LENGTHS[dtype][n_index]
    x = (rng.standard_normal((2, n)) * 4).astype(dtype)
    x[1, n - 1] = 80.0 if dtype == np.float32 else 700.0  # the max in the last element: a naive exp overflows
    xv = make_layout(x, layout)
    got = run(sc, fn, xv, axis=-1)
    check_fn(fn, got, xv, dtype=dtype, axis=-1)


@pytest.mark.parametrize("n", [4096, 32000, 2**20])
@pytest.mark.parametrize("fn", FUNCS)
def test_big_rows_float32_accuracy(sc, target, fn, n, rng):
    # The contract: float32 softmax rel err <= 3e-6 (outputs >= 1e-30) on rows
    # up to 2**20 elements; blocked summation must keep this.
    x = (rng.standard_normal((1, n)) * 3).astype(np.float32)
    got = run(sc, fn, x, axis=1)
    check_fn(fn, got, x, dtype=np.float32, axis=1)


@pytest.mark.parametrize("fn", FUNCS)
def test_big_row_float64_accuracy(sc, target, fn, rng):
    x = rng.standard_normal(2**20) * 3
    check_fn(fn, run(sc, fn, x), x, dtype=np.float64)


def test_wide_range_float32(sc, target, rng):
    # outputs spanning 1 .. ~1e-30: x - max up to ~69
    x = rng.uniform(-69.0, 0.0, size=(4, 1000)).astype(np.float32)
    x[:, 0] = 0.0
    for fn in FUNCS:
        check_fn(fn, run(sc, fn, x, axis=1), x, dtype=np.float32, axis=1)


# --------------------------------------------------------------------------
# shapes and axes, against SciPy as well
# --------------------------------------------------------------------------

AXES_3D = [None, 0, 1, 2, -1, -2, -3, (0, 1), (1, 2), (0, 2), (2, 0), (0, 1, 2)]


@pytest.mark.parametrize("axis", AXES_3D, ids=str)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", FUNCS)
def test_axes_3d(sc, target, fn, dtype, axis, rng):
    x = (rng.standard_normal((6, 7, 19)) * 3).astype(dtype)
    got = run(sc, fn, x, axis=axis)
    check_fn(fn, got, x, dtype=dtype, axis=axis)
    if dtype == np.float64:
        np.testing.assert_allclose(got, getattr(sp, fn)(x, axis=axis), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("shape,axis", [
    ((17,), None), ((17,), 0), ((17,), -1), ((1, 1), None), ((2, 3, 4, 5), 1),
    ((2, 3, 4, 5), (1, 3)), ((2, 3, 4, 5), (0, 3)), ((3, 1, 40), 1), ((3, 1, 40), -1),
    ((1000, 2), 1), ((2, 1000), 0),
], ids=str)
@pytest.mark.parametrize("fn", FUNCS)
def test_shapes_match_scipy(sc, fn, shape, axis, rng):
    x = rng.standard_normal(shape) * 5
    got = run(sc, fn, x, axis=axis)
    exp = getattr(sp, fn)(x, axis=axis)
    assert np.shape(got) == np.shape(exp)
    np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-13)
    check_fn(fn, got, x, dtype=np.float64, axis=axis)


def test_default_axis_is_whole_array(sc, rng):
    x = rng.standard_normal((4, 6))
    got = sc.softmax(x)
    assert got.shape == (4, 6)
    assert math.isclose(float(np.sum(got)), 1.0, rel_tol=1e-14)
    assert_close(got, ref.softmax(x), "prob", dtype=np.float64)
    assert_close(sc.log_softmax(x), ref.log_softmax(x), "logsm", dtype=np.float64)


# --------------------------------------------------------------------------
# layouts
# --------------------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("axis", [-1, 0, 1, (0, 2), None], ids=str)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", FUNCS)
def test_layouts(sc, target, fn, dtype, axis, layout, rng):
    base = (rng.standard_normal((5, 6, 37)) * 4).astype(dtype)
    x = make_layout(base, layout)
    before = np.array(x, copy=True)
    got = run(sc, fn, x, axis=axis)
    assert got.shape == x.shape
    check_fn(fn, got, before, dtype=dtype, axis=axis)
    np.testing.assert_array_equal(x, before)  # input untouched


@pytest.mark.parametrize("layout", ["strided", "negative", "F", "misaligned"])
@pytest.mark.parametrize("n", [7, 33, 1025])
def test_layouts_long_rows(sc, target, layout, n, rng):
    x = make_layout(rng.standard_normal((3, n)).astype(np.float32), layout)
    for axis in (0, 1):
        for fn in FUNCS:
            check_fn(fn, run(sc, fn, x, axis=axis), np.array(x), dtype=np.float32, axis=axis)


# --------------------------------------------------------------------------
# dtype policy
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint16, bool])
@pytest.mark.parametrize("fn", FUNCS)
def test_integer_and_bool_give_float64(sc, fn, dtype, rng):
    x = rng.integers(0, 2 if dtype is bool else 20, size=(4, 9)).astype(dtype)
    got = run(sc, fn, x, axis=1)
    check_fn(fn, got, x, dtype=np.float64, axis=1)


@pytest.mark.parametrize("fn", FUNCS)
def test_list_input(sc, fn):
    got = run(sc, fn, [[1, 2, 3], [4, 5, 7]], axis=1)
    check_fn(fn, got, np.array([[1, 2, 3], [4, 5, 7]], float), dtype=np.float64, axis=1)
    got = run(sc, fn, [0.5, 1.5])
    check_fn(fn, got, np.array([0.5, 1.5]), dtype=np.float64)


@pytest.mark.parametrize("fn", FUNCS)
def test_float16(sc, target, fn, rng):
    x = (rng.standard_normal((3, 70)) * 4).astype(np.float16)
    x[2, :3] = [65504.0, -65504.0, 65504.0]  # extremes of float16: no overflow
    got = run(sc, fn, x, axis=1)
    check_fn(fn, got, x, dtype=np.float16, axis=1)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("fn", FUNCS)
def test_complex_raises_typeerror(sc, fn, dtype):
    with pytest.raises(TypeError):
        run(sc, fn, np.ones(4, dtype))


# --------------------------------------------------------------------------
# edge cases with exact expected values
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS)
def test_neg_inf_entries_are_exact_zero(sc, target, dtype):
    x = np.array([[1.0, -inf, 2.0] + [-inf] * 14], dtype)
    y = sc.softmax(x, axis=1)
    e = math.e
    assert y[0, 1] == 0.0 and np.all(y[0, 3:] == 0.0)
    assert_close(y[0, [0, 2]], [1 / (1 + e), e / (1 + e)], "prob")
    ly = sc.log_softmax(x, axis=1)
    assert ly[0, 1] == -inf and np.all(ly[0, 3:] == -inf)
    assert_close(ly[0, [0, 2]], [-math.log1p(e), 1 - math.log1p(e)], "logsm")


# (row, expected softmax, expected log_softmax): SciPy's values
SPECIAL_ROWS = [
    ([-inf, -inf, -inf], [nan, nan, nan], [nan, nan, nan]),
    ([1.0, inf], [nan, nan], [-inf, nan]),
    ([inf, inf], [nan, nan], [nan, nan]),
    ([inf, -inf], [nan, nan], [nan, -inf]),
    ([1.0, nan, 2.0], [nan, nan, nan], [nan, nan, nan]),
    ([nan, -inf], [nan, nan], [nan, nan]),
    ([-inf, 0.0], [0.0, 1.0], [-inf, 0.0]),
    ([5.0], [1.0], [0.0]),
    ([-inf], [nan], [nan]),
    ([inf], [nan], [nan]),
]


@pytest.mark.parametrize("row,exp_sm,exp_lsm", SPECIAL_ROWS, ids=lambda r: str(r))
@pytest.mark.parametrize("dtype", FLOATS)
def test_special_rows(sc, target, dtype, row, exp_sm, exp_lsm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.array_equal(sp.softmax(np.array(row)), exp_sm, equal_nan=True)
        assert np.array_equal(sp.log_softmax(np.array(row)), exp_lsm, equal_nan=True)
    tol = 3e-6 if dtype == np.float32 else 1e-13
    # the row as given, then padded with -inf past several vector widths;
    # a normal row beside it must be unaffected; also as a column (axis=0).
    for r in (row, row + [-inf] * 37):
        x = np.array([r, np.linspace(-1, 1, len(r))], dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp_s = sp.softmax(x.astype(np.float64), axis=1)
            exp_l = sp.log_softmax(x.astype(np.float64), axis=1)
        for axis, xx, es, el in ((1, x, exp_s, exp_l), (0, x.T.copy(), exp_s.T, exp_l.T)):
            ys = sc.softmax(xx, axis=axis)
            yl = sc.log_softmax(xx, axis=axis)
            assert ys.dtype == dtype and yl.dtype == dtype
            np.testing.assert_allclose(ys, es, rtol=tol, atol=0, err_msg=f"softmax {r} axis={axis}")
            np.testing.assert_allclose(yl, el, rtol=tol, atol=tol,
                                       err_msg=f"log_softmax {r} axis={axis}")
    # the literal expectations for the unpadded row
    x = np.array(row, dtype)
    np.testing.assert_array_equal(sc.softmax(x), np.array(exp_sm, dtype))
    np.testing.assert_array_equal(sc.log_softmax(x), np.array(exp_lsm, dtype))


def test_special_rows_log_softmax_plus_inf_pattern(sc, target):
    # SciPy: finite entries -inf, +inf entries NaN (the shift is 0 for a non-finite max)
    x = np.array([1.0, inf, -inf, 3.0, inf])
    got = sc.log_softmax(x)
    np.testing.assert_array_equal(got, [-inf, nan, -inf, -inf, nan])


@pytest.mark.parametrize("dtype", FLOATS)
def test_one_element_rows_are_exact(sc, target, dtype, rng):
    x = (rng.standard_normal((50, 1)) * 100).astype(dtype)
    assert np.all(sc.softmax(x, axis=1) == 1.0)
    assert np.all(sc.log_softmax(x, axis=1) == 0.0)


def test_no_overflow_float32_extremes(sc, target):
    big = np.float32(3e38)
    x = np.array([[big, -big, big, -big] * 5,
                  [big] * 20,
                  [-big] * 20,
                  [big] + [-big] * 19], np.float32)
    y = sc.softmax(x, axis=1)
    assert y.dtype == np.float32
    assert_close(y, ref.softmax(x.astype(np.float64), axis=1), "prob")
    np.testing.assert_allclose(y[0], [0.1, 0, 0.1, 0] * 5, rtol=3e-6)
    np.testing.assert_allclose(y[1], [0.05] * 20, rtol=3e-6)
    np.testing.assert_allclose(y[2], [0.05] * 20, rtol=3e-6)
    assert y[3, 0] == 1.0 and np.all(y[3, 1:] == 0.0)
    ly = sc.log_softmax(x, axis=1)
    assert np.all(np.isfinite(ly[1:3]))
    np.testing.assert_allclose(ly[1], [-math.log(20)] * 20, rtol=1e-6)
    assert ly[3, 0] == 0.0
    # -6e38 is below -FLT_MAX: -inf is the correctly rounded float32 value
    assert_close(ly, ref.log_softmax(x.astype(np.float64), axis=1), "logsm")


def affine_rows(big):
    """Rows on both sides of the plain / general choice of log_softmax's last
    pass (softmax/driver.cpp plain_affine): max <= 0 with -inf entries and
    huge negatives (plain), max > 0 with -inf, and max - min beyond the
    dtype's range (general)."""
    return np.array([
        [0.0, -inf, -1.0, -2.0, -3.5],
        [-5.0, -inf, -big / 4, -6.0, -5.0],
        [5.0, -inf, 1.0, 2.0, 5.0],
        [big / 2, -big, 0.0, 1.0, -big / 2],
        [big, -big / 4, 0.0, big, -1.0],
        [-big / 2, -big, -big / 2, -big / 3, -big],
        [0.5, -0.25, 3.0, 2.0, -7.0],
    ])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("temperature", [1.0, 0.5, 4.0])
def test_log_softmax_plain_and_general_rows(sc, target, dtype, temperature):
    x = affine_rows(float(np.finfo(dtype).max)).astype(dtype)
    with np.errstate(all="ignore"):
        want = ref.log_softmax(x.astype(np.float64), axis=1, temperature=temperature)
    got = sc.log_softmax(x, axis=1, temperature=temperature)
    assert_close(got, want, "logsm", dtype=dtype, what=f"T={temperature}")
    assert got[0, 1] == -inf and got[2, 1] == -inf
    # the same rows as columns (the column kernels) and one long row each
    assert_close(sc.log_softmax(np.ascontiguousarray(x.T), axis=0, temperature=temperature).T, want, "logsm",
                 dtype=dtype, what="columns")


def test_no_overflow_float64_extremes(sc, target):
    big = 1.7e308
    x = np.array([[big, -big, big], [big, big, big]])
    y = sc.softmax(x, axis=1)
    np.testing.assert_allclose(y, [[0.5, 0.0, 0.5], [1 / 3] * 3], rtol=1e-13)
    ly = sc.log_softmax(x, axis=1)
    np.testing.assert_allclose(ly[1], [-math.log(3)] * 3, rtol=1e-13)
    assert ly[0, 0] == pytest.approx(-math.log(2), rel=1e-13)


@pytest.mark.parametrize("fn", FUNCS)
def test_empty_reduced_axis_raises(sc, fn):
    for x, axis in ((np.zeros((3, 0)), 1), (np.zeros((0,)), None), (np.zeros((0, 4)), 0),
                    (np.zeros((2, 0, 3)), (1, 2))):
        with pytest.raises(ValueError):
            run(sc, fn, x, axis=axis)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", FUNCS)
def test_empty_outer_axis_ok(sc, fn, dtype):
    got = run(sc, fn, np.zeros((0, 5), dtype), axis=1)
    assert got.shape == (0, 5) and got.dtype == dtype
    got = run(sc, fn, np.zeros((4, 0), dtype), axis=0)
    assert got.shape == (4, 0) and got.dtype == dtype


@pytest.mark.parametrize("x", [3.0, np.float64(-2.0), np.array(7.5), np.float32(1.0), 4])
def test_zero_dim(sc, x):
    y = sc.softmax(x)
    ly = sc.log_softmax(x)
    assert np.shape(y) == () and np.shape(ly) == ()
    assert float(y) == 1.0 and float(ly) == 0.0
    assert np.asarray(y).dtype == result_dtype(np.asarray(x).dtype)


def test_zero_dim_nonfinite(sc):
    for v in (inf, -inf, nan):
        assert math.isnan(float(sc.softmax(np.float64(v))))
        assert math.isnan(float(sc.log_softmax(np.float64(v))))


@pytest.mark.parametrize("fn", FUNCS)
@pytest.mark.parametrize("axis", [2, -3, (0, 2), 5])
def test_bad_axis(sc, fn, axis):
    x = np.zeros((3, 4))
    with pytest.raises(ValueError) as info:
        run(sc, fn, x, axis=axis)
    assert isinstance(info.value, IndexError), \
        f"bad axis should raise an AxisError-like ValueError+IndexError, got {info.type}"


@pytest.mark.parametrize("fn", FUNCS)
def test_duplicate_axis(sc, fn):
    with pytest.raises(ValueError):
        run(sc, fn, np.zeros((3, 4)), axis=(1, 1))
    with pytest.raises(ValueError):
        run(sc, fn, np.zeros((3, 4)), axis=(1, -1))


# --------------------------------------------------------------------------
# temperature
# --------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [0.25, 0.5, 2, 3.7, 1e-3, 1e3])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", FUNCS)
def test_temperature(sc, target, fn, dtype, temperature, rng):
    x = (rng.standard_normal((4, 67)) * 3).astype(dtype)
    got = run(sc, fn, x, axis=1, temperature=temperature)
    check_fn(fn, got, x, dtype=dtype, axis=1, temperature=temperature)
    # same as dividing first (within the float64 contract)
    if dtype == np.float64 and temperature >= 0.25:
        # (SciPy's x/T in float64 carries ulp(|x/T|) errors: skip for tiny T)
        np.testing.assert_allclose(got, getattr(sp, fn)(x / temperature, axis=1),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("temperature", [0, 0.0, -1.0, -0.0, inf, -inf, nan])
@pytest.mark.parametrize("fn", FUNCS)
def test_bad_temperature(sc, fn, temperature):
    x = np.arange(6.0).reshape(2, 3)
    out = np.full_like(x, 42.0)
    with pytest.raises(ValueError, match="temperature"):
        run(sc, fn, x, axis=1, temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        run(sc, fn, x, axis=1, temperature=temperature, out=out)
    assert np.all(out == 42.0), "out written before temperature was validated"


# --------------------------------------------------------------------------
# out=
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", FUNCS)
def test_out_contiguous(sc, target, fn, dtype, rng):
    x = (rng.standard_normal((5, 40)) * 3).astype(dtype)
    out = np.empty_like(x)
    res = run(sc, fn, x, axis=1, out=out)
    assert res is out
    check_fn(fn, out, x, dtype=dtype, axis=1)


@pytest.mark.parametrize("axis", [0, 1, None])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", FUNCS)
def test_out_noncontiguous(sc, target, fn, dtype, axis, rng):
    x = (rng.standard_normal((6, 33)) * 3).astype(dtype)
    big = np.full((12, 99), 7.0, dtype)
    out = big[::2, ::3]
    res = run(sc, fn, x, axis=axis, out=out)
    assert res is out
    check_fn(fn, out, x, dtype=dtype, axis=axis)
    # nothing outside the view was touched
    mask = np.ones(big.shape, bool)
    mask[::2, ::3] = False
    assert np.all(big[mask] == 7.0)
    # F-ordered and negative-stride outs too
    for out2 in (np.empty(x.shape, dtype, order="F"), np.empty(x.shape, dtype)[::-1, ::-1]):
        assert run(sc, fn, x, axis=axis, out=out2) is out2
        check_fn(fn, out2, x, dtype=dtype, axis=axis)


@pytest.mark.parametrize("axis", [0, 1, -1, None])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", FUNCS)
def test_out_is_x_in_place(sc, target, fn, dtype, axis, rng):
    x = (rng.standard_normal((7, 130)) * 3).astype(dtype)
    x0 = x.copy()
    res = run(sc, fn, x, axis=axis, out=x)
    assert res is x
    check_fn(fn, x, x0, dtype=dtype, axis=axis)
    # in place on a strided, negatively strided view
    big = (rng.standard_normal((14, 130)) * 3).astype(dtype)
    v = big[::-2]
    v0 = v.copy()
    assert run(sc, fn, v, axis=axis, out=v) is v
    check_fn(fn, v, v0, dtype=dtype, axis=axis)


def test_out_for_int_and_float16(sc):
    x = np.arange(12).reshape(3, 4)
    out = np.empty((3, 4))
    assert sc.softmax(x, axis=1, out=out) is out
    assert_close(out, ref.softmax(x, axis=1), "prob", dtype=np.float64)
    xh = np.linspace(-3, 3, 12).astype(np.float16).reshape(3, 4)
    outh = np.empty((3, 4), np.float16)
    assert sc.log_softmax(xh, axis=1, out=outh) is outh
    assert_close(outh, ref.log_softmax(xh, axis=1), "logsm", dtype=np.float16)


@pytest.mark.parametrize("fn", FUNCS)
def test_out_errors_leave_out_untouched(sc, fn):
    x = np.arange(12.0).reshape(3, 4)
    cases = [
        (np.full((4, 3), 5.0), (ValueError,)),                    # wrong shape
        (np.full((3, 4, 1), 5.0), (ValueError,)),                 # wrong ndim
        (np.full((3, 4), 5.0, np.float32), (TypeError, ValueError)),  # wrong dtype
        (np.full((3, 4), 5, np.int64), (TypeError, ValueError)),  # wrong dtype
    ]
    ro = np.full((3, 4), 5.0)
    ro.flags.writeable = False
    cases.append((ro, (ValueError, TypeError)))                   # read-only
    for out, exc in cases:
        before = out.copy()
        with pytest.raises(exc) as info:
            run(sc, fn, x, axis=1, out=out)
        assert "out" in str(info.value), f"message should name 'out': {info.value!r}"
        np.testing.assert_array_equal(out, before)
    with pytest.raises(TypeError):
        run(sc, fn, x, axis=1, out=[[0.0] * 4] * 3)
    # float32 input with a float64 out is a dtype mismatch too
    out = np.full((3, 4), 5.0)
    with pytest.raises((TypeError, ValueError), match="out"):
        run(sc, fn, x.astype(np.float32), axis=1, out=out)
    assert np.all(out == 5.0)


@pytest.mark.parametrize("offset", [1e3, 1e4, -1e4, 1e6])
@pytest.mark.parametrize("dtype", FLOATS)
def test_log_softmax_large_magnitude_rows(sc, target, dtype, offset, rng):
    # log_softmax is shift invariant, and SciPy computes (x - max) - log(sum),
    # whose error is relative to the result.  x - (max + log(sum)) instead
    # loses ulp(|x|): 5e-4 absolute for float32 logits near 1e4.
    base = rng.standard_normal((3, 100)) * 2
    x = (base + offset).astype(dtype)
    got = sc.log_softmax(x, axis=1)
    check_fn("log_softmax", got, x, dtype=dtype, axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lead", [1, 15, 16, 17, 40])
def test_axis0_columns_starting_with_minus_inf(sc, target, dtype, lead):
    """A column whose first rows are all -inf (padding along axis 0) shifts
    its first row blocks by 0, as scipy does: no NaN from -inf - (-inf)."""
    rng = np.random.default_rng(lead)
    a = rng.standard_normal((lead + 5, 37)).astype(dtype)
    a[:lead, ::3] = -np.inf
    a[:, 1] = -np.inf  # a fully -inf column: NaN for softmax, -inf for logsumexp
    for fn, kind in ((sc.softmax, "prob"), (sc.log_softmax, "logsm")):
        got = fn(a, axis=0)
        with np.errstate(invalid="ignore"):
            exp = getattr(sp, fn.__name__)(a.astype(np.float64), axis=0)
        assert_close(got, exp, kind, dtype=dtype)
    assert_close(sc.logsumexp(a, axis=0), sp.logsumexp(a.astype(np.float64), axis=0), "log", dtype=dtype)
    b = np.where(rng.random(a.shape) < 0.3, 0, 1).astype(dtype)
    a2 = a.copy()
    a2[(b == 0) & (rng.random(a.shape) < 0.5)] = np.nan  # weighted out: ignored
    got = sc.logsumexp(a2, axis=0, b=b)
    exp = sp.logsumexp(np.where(b == 0, -np.inf, a2).astype(np.float64), axis=0, b=b.astype(np.float64))
    assert_close(got, exp, "log", dtype=dtype)


@pytest.mark.parametrize("log_mode", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_out_fast_path_and_its_fallbacks(sc, target, dtype, log_mode, rng):
    # out= of the common layout takes _core.softmax_fast; every other out
    # (overlapping, strided, wrong dtype, read-only) the general path.
    f = sc.log_softmax if log_mode else sc.softmax
    x = (rng.standard_normal((5, 300)) * 3).astype(dtype)
    want = f(x, axis=-1)
    expect = (ref.log_softmax if log_mode else ref.softmax)(x.astype(np.float64), axis=-1)
    assert_close(want, expect, "logsm" if log_mode else "prob", dtype=dtype)
    out = np.full_like(x, 7)
    assert f(x, axis=-1, out=out) is out
    np.testing.assert_array_equal(out, want)
    inplace = x.copy()
    assert f(inplace, axis=-1, out=inplace) is inplace
    np.testing.assert_array_equal(inplace, want)
    buf = np.concatenate([x.reshape(-1), np.zeros(300, dtype)])  # out shifted by one row over x
    xv, ov = buf[:1500].reshape(5, 300), buf[300:].reshape(5, 300)
    assert f(xv, axis=-1, out=ov) is ov
    np.testing.assert_array_equal(ov, want)
    fo = np.asfortranarray(np.zeros_like(x))
    f(x, axis=-1, out=fo)
    np.testing.assert_array_equal(fo, want)
    with pytest.raises(TypeError, match="out"):
        f(x, axis=-1, out=np.empty(x.shape, np.complex128))
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        f(x, axis=-1, out=ro)
    with pytest.raises(ValueError, match="shape"):
        f(x, axis=-1, out=np.empty((5, 299), dtype))


def wide_row(rng, span, t, peaked=False):
    """Row t of a wide-row test: range `span` exactly (0 and -span present),
    shifted so that x - max rounds -- odd t by up to +-100, even t so that the
    row straddles 0 (its small x have finer ULPs than x - max).  peaked: the
    rest at least span / 2 below the max (the sum S is then near 1)."""
    n = int(rng.integers(2, 3000))
    x = rng.uniform(-span, 0, n)
    x[0] = 0.0
    if peaked:
        x[1:] = -span * rng.uniform(0.5, 1, n - 1)
    x[-1] = -span
    return (x + (rng.uniform(-100, 100) if t % 2 else rng.uniform(0, span))).astype(np.float32)


@pytest.mark.parametrize("span", [15.9, 16.1, 31.9, 32.1, 47.9, 63.9, 64.1])
def test_wide_rows_without_temperature_keep_the_bound(sc, target, rng, span):
    # A softmax without temperature takes the one-rounding argument x - max
    # for rows whose range is below 64 (core/exp_mode.h), the compensated
    # one above; both sides of 16, 32 and 64 stay within the float32 bound
    # of every output.
    worst = 0.0
    for t in range(40):
        x = wide_row(rng, span, t)
        got = sc.softmax(x, axis=-1)
        want = ref.softmax(x.astype(np.float64), axis=-1)
        worst = max(worst, float(np.max(np.abs(got - want) / want)))
    assert worst <= 3e-6, worst


@pytest.mark.parametrize("span", [15.9, 31.9, 63.9, 64.1, 150.0])
def test_wide_rows_without_temperature_log_and_lse_bounds(sc, target, rng, span):
    # log_softmax and logsumexp without temperature take the one-rounding
    # argument below 64 as well (core/exp_mode.h): their bounds, on rows
    # that straddle 0 and on peaked rows (S near 1: the max's own output
    # -log S is then small).
    wl = wlse = 0.0
    for t in range(40):
        x = wide_row(rng, span, t, peaked=t % 4 == 3)
        want = ref.log_softmax(x.astype(np.float64), axis=-1)
        got = sc.log_softmax(x, axis=-1)
        wl = max(wl, float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))))
        w2 = float(ref.logsumexp(x.astype(np.float64)))
        wlse = max(wlse, abs(float(sc.logsumexp(x)) - w2) / max(1.0, abs(w2)))
    assert wl <= 2e-6, wl
    assert wlse <= 1e-6, wlse


# --------------------------------------------------------------------------
# rows that carry the next row's max and min (RowStats, softmax/driver.cpp)
# --------------------------------------------------------------------------

def mixed_rows(rng, n, dtype):
    """Rows of length n whose exp modes differ from one row to the next:
    narrow, wide (range > 64: the compensated argument), far from 0, with
    -inf entries, all -inf, with +inf, with NaN, constant."""
    rows = []
    for t in range(14):
        x = rng.standard_normal(n) * 3
        kind = t % 7
        if kind == 1:
            x = rng.uniform(-150.0, 0.0, n)
            x[0] = 0.0
        elif kind == 2:
            x += 1e4 if dtype != np.float16 else 3e4
        elif kind == 3:
            x[rng.integers(0, n, max(1, n // 3))] = -inf
        elif kind == 4:
            x[:] = -inf if t < 7 else 5.0
        elif kind == 5:
            x[rng.integers(0, n)] = inf if t < 7 else nan
        elif kind == 6 and n > 1:
            x[n // 2] = -80.0 + x.max()
        rows.append(x)
    return np.array(rows).astype(dtype)


@pytest.mark.parametrize("n", [1, 7, 16, 17, 33, 64, 100, 1000, 4099])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("fn", FUNCS + ["logsumexp"])
def test_carried_row_stats_equal_each_row_alone(sc, target, fn, dtype, n, rng):
    # A run of contiguous rows computes each row's max and min in the
    # previous row's exp loop; a row alone (one row: nothing carried) computes
    # them in a pass of its own.  Same values, so the same mode and the same
    # bits, whatever the neighbours' modes; and the bound holds.
    x = mixed_rows(rng, n, dtype)
    got = run(sc, fn, x, axis=-1)
    for i in range(x.shape[0]):
        alone = run(sc, fn, x[i:i + 1], axis=-1)
        np.testing.assert_array_equal(got[i:i + 1], alone, err_msg=f"row {i}")
    if fn == "logsumexp":
        assert_close(got, ref.logsumexp(x.astype(np.float64), axis=-1), "log", what=fn)
    elif dtype != np.float16:
        check_fn(fn, got, x, dtype=dtype, axis=-1)
