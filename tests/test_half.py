"""float16 and bfloat16 in the softmax family (issue 11): widened in
registers, computed in float32, each result rounded once to the input's
dtype.  Contract: every softmax / log_softmax output within 1 ULP of the
float64 result rounded to the output dtype; logsumexp float32, to float32's
bounds on the exactly widened input.  Every target, every layout."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import LAYOUTS, assert_close, make_layout, ref

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
HALVES = [np.dtype(np.float16), BF16]
IDS = ["float16", "bfloat16"]


def ordered(a):
    """The bit patterns of a half array as integers in the order of the
    values (adjacent representable values differ by 1; -0 == +0)."""
    b = np.ascontiguousarray(a).view(np.uint16).astype(np.int64)
    return np.where(b & 0x8000, -(b & 0x7FFF), b)


def assert_ulp(got, exact, dtype, what):
    """got within 1 ULP of the float64 `exact` rounded to `dtype`; NaN where
    exact is NaN."""
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}"
    want = np.asarray(exact, np.float64).astype(dtype)
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    nan = np.isnan(w64)
    np.testing.assert_array_equal(np.isnan(g64), nan, err_msg=f"{what}: NaN pattern")
    d = np.abs(ordered(got) - ordered(want))[~nan]
    assert d.size == 0 or d.max() <= 1, f"{what}: {d.max()} ULP at {np.argmax(d)}"


def logits(rng, shape, dtype, scale=6.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", HALVES, ids=IDS)
@pytest.mark.parametrize("n", [1, 5, 8, 16, 17, 33, 100, 1000, 16385, 300000])
def test_rows_ulp(sc, target, rng, dtype, n):
    x = logits(rng, (2, n), dtype)
    x64 = x.astype(np.float64)
    assert_ulp(sc.softmax(x, axis=-1), ref.softmax(x64, axis=-1), dtype, "softmax")
    assert_ulp(sc.log_softmax(x, axis=-1), ref.log_softmax(x64, axis=-1), dtype, "log_softmax")
    assert_ulp(sc.softmax(x, axis=-1, temperature=0.7), ref.softmax(x64, axis=-1, temperature=0.7), dtype,
               "softmax T")


@pytest.mark.parametrize("dtype", HALVES, ids=IDS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_layouts(sc, target, rng, dtype, layout, axis):
    x = make_layout(logits(rng, (7, 37), dtype), layout)
    x64 = np.asarray(x).astype(np.float64)
    assert_ulp(sc.softmax(x, axis=axis), ref.softmax(x64, axis=axis), dtype, f"softmax {layout}")
    assert_ulp(sc.log_softmax(x, axis=axis), ref.log_softmax(x64, axis=axis), dtype, f"log_softmax {layout}")
    got = sc.logsumexp(x, axis=axis)
    assert np.asarray(got).dtype == np.float32
    assert_close(got, ref.logsumexp(x64, axis=axis), "log", dtype=np.float32, what=f"logsumexp {layout}")


@pytest.mark.parametrize("dtype", HALVES, ids=IDS)
def test_out_and_in_place(sc, target, rng, dtype):
    x = logits(rng, (5, 300), dtype)
    want = sc.softmax(x, axis=1)
    out = np.empty_like(x)
    assert sc.softmax(x, axis=1, out=out) is out
    np.testing.assert_array_equal(out.view(np.uint16), want.view(np.uint16))
    y = x.copy()
    sc.log_softmax(y, axis=1, out=y)
    np.testing.assert_array_equal(y.view(np.uint16), sc.log_softmax(x, axis=1).view(np.uint16))
    col = x.copy()
    sc.softmax(col, axis=0, out=col)  # in place along the strided axis
    np.testing.assert_array_equal(col.view(np.uint16), sc.softmax(x, axis=0).view(np.uint16))
    with pytest.raises(TypeError):
        sc.softmax(x, axis=1, out=np.empty(x.shape, np.float32))  # out in the input's dtype
    res = np.empty(5, np.float32)
    assert sc.logsumexp(x, axis=1, out=res) is res


@pytest.mark.parametrize("dtype", HALVES, ids=IDS)
@pytest.mark.parametrize("axis", [-1, None])
def test_fast_path_equals_general_path(sc, target, rng, dtype, axis):
    # The common call (C-contiguous, axis None or last, a float temperature)
    # takes _core.softmax_fast / logsumexp_fast for both halves; the same
    # call with the axis as a tuple takes the general path: same bits, same
    # dtype, and logsumexp float32.
    x = logits(rng, (3, 4, 37), dtype)
    x[0, 1, :5] = -np.inf
    as_tuple = (0, 1, 2) if axis is None else (x.ndim - 1,)
    for log_mode, f in ((False, sc.softmax), (True, sc.log_softmax)):
        fast = sc._core.softmax_fast(x, axis, 0.75, log_mode, None)
        assert fast is not None and fast.dtype == dtype
        general = f(x, axis=as_tuple, temperature=0.75)
        np.testing.assert_array_equal(fast.view(np.uint16), general.view(np.uint16))
        out = np.empty_like(x)
        assert sc._core.softmax_fast(x, axis, 0.75, log_mode, out) is out
        np.testing.assert_array_equal(out.view(np.uint16), general.view(np.uint16))
        assert_ulp(f(x, axis=axis, temperature=0.75),
                   (ref.log_softmax if log_mode else ref.softmax)(x.astype(np.float64), axis=axis, temperature=0.75),
                   dtype, f.__name__)
    for keepdims in (False, True):
        fast = sc._core.logsumexp_fast(x, axis, keepdims)
        assert fast is not None
        general, sign = sc.logsumexp(x, axis=axis, keepdims=keepdims, return_sign=True)
        assert type(fast) is type(general) and np.asarray(fast).dtype == np.float32
        assert np.shape(fast) == np.shape(general)
        np.testing.assert_array_equal(fast, general)


def test_float16_subnormal_outputs(sc, target):
    # probabilities down to 2^-24 (float16's smallest subnormal): rounded, not flushed
    d = np.arange(0, 18, 0.25)
    x = np.concatenate([[0.0], -d]).astype(np.float16)
    got = sc.softmax(x)
    exact = ref.softmax(x.astype(np.float64))
    assert_ulp(got, exact, np.dtype(np.float16), "subnormal softmax")
    sub = (exact < 2.0 ** -14) & (exact > 2.0 ** -25)
    assert sub.any() and (got[sub] != 0).all()


@pytest.mark.parametrize("dtype", HALVES, ids=IDS)
def test_special_values(sc, target, dtype):
    big = float(np.finfo(dtype).max)
    rows = np.array([
        [0.0, -np.inf, 1.0, 2.0],
        [big, big, -big, 0.0],      # float16: the sum overflows if summed in float16
        [np.inf, 0.0, 1.0, 2.0],
        [np.nan, 0.0, 1.0, 2.0],
        [-np.inf] * 4,
    ]).astype(dtype)
    x64 = rows.astype(np.float64)
    with np.errstate(all="ignore"):
        assert_ulp(sc.softmax(rows, axis=1), ref.softmax(x64, axis=1), dtype, "softmax specials")
        assert_ulp(sc.log_softmax(rows, axis=1), ref.log_softmax(x64, axis=1), dtype, "log_softmax specials")
        lse = sc.logsumexp(rows, axis=1)
        np.testing.assert_allclose(lse, ref.logsumexp(x64, axis=1), rtol=1e-6)


@pytest.mark.parametrize("dtype", HALVES, ids=IDS)
@pytest.mark.parametrize("temperature", [1.0, 0.5, 4.0])
@pytest.mark.parametrize("stride", [1, 2])
def test_log_softmax_plain_and_general_rows(sc, target, dtype, temperature, stride):
    # the rows of test_softmax.affine_rows at the half's range; stride 2 is
    # the widened-scratch path, 1 the rows read in place
    from test_softmax import affine_rows
    wide = np.repeat(affine_rows(float(np.finfo(dtype).max)), stride, axis=1)
    x = wide.astype(dtype)[:, ::stride]
    with np.errstate(all="ignore"):
        want = ref.log_softmax(x.astype(np.float64), axis=1, temperature=temperature)
        assert_ulp(sc.log_softmax(x, axis=1, temperature=temperature), want, dtype, f"T={temperature}")


@pytest.mark.parametrize("dtype", HALVES, ids=IDS)
@pytest.mark.parametrize("n", [3, 37, 20000])
def test_logsumexp_small_results(sc, target, dtype, n):
    # results near 0 take the exclusion pass (scipy >= 1.15): a row read in
    # place is widened for it; ties of the max, -inf and a row > one chunk
    rows = np.full((4, n), -np.inf)
    rows[0, :2] = [0.0, -12.0]
    rows[1, :3] = [-0.5, -0.5, -9.0]
    rows[2, 0] = 0.0
    rows[2, n // 2:] = -10.0
    rows[3, :] = -16.0
    rows[3, n - 1] = 0.0
    x = rows.astype(dtype)
    x64 = x.astype(np.float64)
    got = sc.logsumexp(x, axis=1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref.logsumexp(x64, axis=1), rtol=2e-6, atol=0)


def test_float16_overflowing_row(sc, target, rng):
    # 70000 ones: their sum overflows float16 (65504); the float32 sum does not
    x = np.ones(70000, np.float16)
    assert_ulp(sc.softmax(x), np.full(70000, 1 / 70000), np.dtype(np.float16), "uniform")
    np.testing.assert_allclose(sc.logsumexp(x), 1 + np.log(70000), rtol=1e-6)


@pytest.mark.parametrize("dtype", HALVES, ids=IDS)
def test_weighted_logsumexp(sc, target, rng, dtype):
    a = logits(rng, (4, 50), dtype)
    b = rng.uniform(-1, 2, (4, 50)).astype(dtype)
    res, sgn = sc.logsumexp(a, axis=1, b=b, return_sign=True)
    e_res, e_sgn = ref.logsumexp(a.astype(np.float64), axis=1, b=b.astype(np.float64), return_sign=True)
    assert res.dtype == np.float32 and sgn.dtype == np.float32
    np.testing.assert_array_equal(sgn, e_sgn)
    assert_close(res, e_res, "log", dtype=np.float32, scale=8.0, what="weighted lse")


def test_bfloat16_rounding_is_nearest_even(sc, target):
    # softmax of [0, log 3]: 1/4 and 3/4 exactly; of n equal logits: 1/n
    for n in (3, 7, 11, 13):
        x = np.zeros(n, BF16)
        got = sc.softmax(x)
        assert_ulp(got, np.full(n, 1.0 / n), BF16, f"1/{n}")
        assert got.astype(np.float64)[0] == np.float64(1.0 / n).astype(BF16).astype(np.float64)


@pytest.mark.parametrize("n", [31, 32, 47, 64])
def test_bfloat16_narrow_ties_and_nan_in_long_rows(sc, target, n):
    # log_softmax of [256, 0.5, 1.5, ...]: the sum is 1 in float32 (e^-128
    # and below vanish), so the float32 results are x - 256 exactly, each a
    # tie halfway between two bfloat16 values (spacing 1 in [128, 256)):
    # every lane of the two-vector narrow (AVX2 packs 16 at a time) and the
    # tail must round the tie to the even neighbour, bit for bit.
    x = np.concatenate([[256.0], np.arange(n - 1) + 0.5]).astype(BF16)
    want = (x.astype(np.float32) - np.float32(256)).astype(BF16)
    assert np.any(want.astype(np.float64) != x.astype(np.float64) - 256)  # ties, not exact values
    got = sc.log_softmax(x)
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
    # softmax of n equal logits, then the same with a NaN in each lane
    # position: 1/n rounded once everywhere, or NaN everywhere (scipy)
    p = sc.softmax(np.zeros(n, BF16))
    np.testing.assert_array_equal(p.view(np.uint16), np.full(n, np.float32(1.0 / n)).astype(BF16).view(np.uint16))
    for pos in (0, 7, 8, 15, 16, n - 1):
        y = np.zeros(n, BF16)
        y[pos] = np.nan
        with np.errstate(invalid="ignore"):
            assert np.isnan(sc.softmax(y).astype(np.float32)).all(), pos
            assert np.isnan(sc.log_softmax(y).astype(np.float32)).all(), pos


def test_unknown_dtype_names_the_extra(sc):
    with pytest.raises(TypeError, match=r"softmax_c\[bf16\]"):
        sc.softmax(np.zeros(3, "V2"))


def test_import_does_not_load_ml_dtypes():
    code = "import sys, softmax_c, numpy as np; softmax_c.softmax(np.ones(3, np.float16)); print('ml_dtypes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("dtype", HALVES, ids=IDS)
@pytest.mark.parametrize("shape", [(3, 40), (700, 37), (4100, 300), (2, 9, 1100)])
def test_columns_ulp(sc, target, rng, dtype, shape):
    # Reductions over a non-last axis run in blocks of columns widened into
    # float32 scratch (several blocks, a partial one, 3-D outer rows); peaked
    # columns (one dominant term: log_softmax's log s near 0) and -inf / NaN
    # columns; temperature.  Same 1-ULP contract as the rows.
    x = logits(rng, shape, dtype)
    x[..., 3] = -np.inf
    x[(0,) * (len(shape) - 1) + (5,)] = np.nan
    x[..., 7] = -4.0
    x[(1,) * (len(shape) - 1) + (7,)] = 4.0  # column 7: one term ~1, the others e^-8 (log s < 1/64)
    x64 = x.astype(np.float64)
    for axis in range(len(shape) - 1):
        with np.errstate(invalid="ignore"):
            assert_ulp(sc.softmax(x, axis=axis), ref.softmax(x64, axis=axis), dtype, f"softmax axis {axis}")
            assert_ulp(sc.log_softmax(x, axis=axis), ref.log_softmax(x64, axis=axis), dtype,
                       f"log_softmax axis {axis}")
            assert_ulp(sc.softmax(x, axis=axis, temperature=1.7), ref.softmax(x64, axis=axis, temperature=1.7),
                       dtype, f"softmax T axis {axis}")
        w = np.abs(logits(rng, shape, dtype, 1.0))  # weights, some zero (the element is removed)
        w[..., 1] = 0
        with np.errstate(invalid="ignore", divide="ignore"):
            assert_close(sc.logsumexp(x, axis=axis), ref.logsumexp(x64, axis=axis), "log", dtype=np.float32,
                         what=f"logsumexp axis {axis}")
            r, sg = sc.logsumexp(x, axis=axis, b=w, return_sign=True)
            er, esg = ref.logsumexp(x64, axis=axis, b=w.astype(np.float64), return_sign=True)
            assert r.dtype == np.float32
            assert_close(r, er, "log", dtype=np.float32, what=f"logsumexp b axis {axis}")
            np.testing.assert_array_equal(sg[np.isfinite(er)], esg[np.isfinite(er)])
    lp = sc.log_softmax(x, axis=0).astype(np.float64)  # columns of log-probabilities: lse ~ 0, the exclusion pass
    with np.errstate(invalid="ignore"):
        assert_close(sc.logsumexp(lp.astype(dtype), axis=0), ref.logsumexp(lp.astype(dtype).astype(np.float64), axis=0),
                     "log", dtype=np.float32, what="logsumexp of log-probabilities")
    y = np.empty_like(x)
    assert sc.softmax(x, axis=0, out=y) is y
    np.testing.assert_array_equal(y.view(np.uint16), sc.softmax(x, axis=0).view(np.uint16))
