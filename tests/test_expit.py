"""expit / log_expit (issue 10): scipy.special semantics, every target.

Contract: float32 and float64 within 2.5 ULP of the long double oracle
(softmax_c.reference) rounded to the dtype (measured 2.25 / ~1.5: the exp
of simd/exp.h, the division, the log1p of simd/log1p.h), on a dense scan of
the whole range; float16 / bfloat16 within 1 ULP (computed in float32,
rounded once); log_expit exact for large |x| (x << 0 gives x, x >> 0 gives
-exp(-x)); NaN, +-inf, subnormals and signed zeros as scipy; any layout
without a copy of x; out= checked before anything is written."""
import numpy as np
import pytest
import scipy.special as ss

from conftest import LAYOUTS, make_layout, ref

FUNCS = ["expit", "log_expit"]
FLOATS = [np.float32, np.float64]


def ulp_error(got, exact, dtype):
    """|got - exact| in ULPs of the exact value rounded to `dtype` (the
    subnormal spacing below the normals); 0 where both are equal (inf)."""
    exact = np.asarray(exact, np.float64)
    want = exact.astype(dtype)
    sp = np.maximum(np.spacing(np.abs(want)).astype(np.float64), float(np.finfo(dtype).smallest_subnormal))
    with np.errstate(invalid="ignore"):
        d = np.abs(got.astype(np.float64) - exact) / sp
    return np.where(got.astype(np.float64) == exact, 0.0, d)


def scan(dtype):
    lim = 110.0 if dtype == np.float32 else 750.0
    parts = [np.linspace(-lim, lim, 400_001), np.linspace(-3, 3, 200_001),
             np.geomspace(1e-30, 2, 20_001), -np.geomspace(1e-30, 2, 20_001)]
    return np.concatenate(parts).astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", FUNCS)
def test_dense_scan_ulp(sc, target, dtype, name):
    x = scan(dtype)
    got = getattr(sc, name)(x)
    assert got.dtype == dtype and got.shape == x.shape
    u = ulp_error(got, getattr(ref, name)(x), dtype)
    assert u.max() <= 2.5, f"{name} {target}: {u.max():.2f} ULP at x={x[np.argmax(u)]!r}"


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", FUNCS)
def test_matches_scipy(sc, target, rng, dtype, name):
    x = (rng.standard_normal(10_000) * 20).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(getattr(sc, name)(x), getattr(ss, name)(x), rtol=tol, atol=0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_special_values(sc, target, dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype)
    for name in FUNCS:
        got, want = getattr(sc, name)(x), getattr(ss, name)(x)
        np.testing.assert_array_equal(got, want, err_msg=name)
        np.testing.assert_array_equal(np.signbit(got[1:]), np.signbit(want[1:]), err_msg=f"{name}: signed zeros")


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_expit_exact_for_large_abs(sc, target, dtype):
    big = np.array([20, 40, 80, 100, 300, 700], dtype)
    big = big[big < (104 if dtype == np.float32 else 745)]
    # x >> 0: -exp(-x) to the ULP (the oracle in long double); x << 0: x itself
    u = ulp_error(sc.log_expit(big), ref.log_expit(big), dtype)
    assert u.max() <= 1.0
    assert ulp_error(sc.log_expit(-big), ref.log_expit(-big), dtype).max() <= 1.0
    far = np.array([-300, -1e10, -3e38], dtype)  # x - e rounds to x
    np.testing.assert_array_equal(sc.log_expit(far), far)
    np.testing.assert_allclose(sc.log_expit(dtype(40)), -np.exp(-40.0), rtol=2e-7)


@pytest.mark.parametrize("dtype", FLOATS)
def test_subnormals(sc, target, dtype):
    fi = np.finfo(dtype)
    tiny = np.array([fi.smallest_subnormal, fi.smallest_normal / 2, fi.smallest_normal], dtype)
    x = np.concatenate([tiny, -tiny])
    np.testing.assert_array_equal(sc.expit(x), np.full(x.shape, 0.5, dtype))
    np.testing.assert_allclose(sc.log_expit(x), np.full(x.shape, -np.log(2), dtype), rtol=2 * fi.eps)
    # outputs in the subnormal range (expit of very negative x): gradual, not flushed
    lo = np.array([-90, -95, -100, -103], np.float32) if dtype == np.float32 else np.array([-710, -730, -744.0])
    got = sc.expit(lo.astype(dtype))
    assert np.all(got > 0)
    assert ulp_error(got, ref.expit(lo), dtype).max() <= 1.0


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(sc, target, rng, name, layout):
    a = (rng.standard_normal((37, 29)) * 10).astype(np.float32)
    x = make_layout(a, layout)
    got = getattr(sc, name)(x)
    assert got.shape == x.shape
    assert ulp_error(got, getattr(ref, name)(x), np.float32).max() <= 2.5


@pytest.mark.parametrize("shape", [(), (1,), (0,), (3, 0, 2), (5, 1, 17), (2, 3, 4, 5), (70001,), (3, 40000)])
def test_shapes(sc, target, rng, shape):
    x = rng.standard_normal(shape) * 5
    got = sc.expit(x)
    want = ss.expit(x)
    if shape == ():
        assert isinstance(got, np.float64) and type(got) is type(want)
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_strided_views_no_copy_values(sc, target, rng):
    base = (rng.standard_normal((64, 96)) * 8).astype(np.float32)
    for x in (base[::-3, 1::5], base.T[::2], base[:, ::-1], np.broadcast_to(base[0], (7, 96))):
        np.testing.assert_array_equal(sc.expit(x), sc.expit(np.ascontiguousarray(x)))
        np.testing.assert_array_equal(sc.log_expit(x), sc.log_expit(np.ascontiguousarray(x)))


@pytest.mark.parametrize("name", FUNCS)
def test_out_and_in_place(sc, target, rng, name):
    f = getattr(sc, name)
    x = (rng.standard_normal((40, 50)) * 10).astype(np.float32)
    want = f(x)
    out = np.empty((50, 40), np.float32).T  # Fortran-ordered out
    assert f(x, out=out) is out
    np.testing.assert_array_equal(out, want)
    y = x.copy()
    assert f(y, out=y) is y
    np.testing.assert_array_equal(y, want)
    z = x.copy()  # partial overlap: computed from a copy
    f(z[:, :-1], out=z[:, 1:])
    np.testing.assert_array_equal(z[:, 1:], want[:, :-1])
    half = np.empty((40, 100), np.float32)[:, ::2]  # strided out
    f(x, out=half)
    np.testing.assert_array_equal(half, want)


def test_dtypes(sc, target):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    xs = np.linspace(-30, 30, 20001)
    for dt in (np.float16, np.dtype(ml_dtypes.bfloat16)):
        x = xs.astype(dt)
        for name in FUNCS:
            got = getattr(sc, name)(x)
            assert got.dtype == dt
            want = getattr(ref, name)(x.astype(np.float64)).astype(dt)
            g, w = got.astype(np.float64), want.astype(np.float64)
            # within 1 ULP of the exact result rounded to the half dtype
            sp = np.spacing(np.abs(w).astype(np.float32)).astype(np.float64) * (2**13 if dt == np.float16 else 2**16)
            sp = np.maximum(sp, 6e-8 if dt == np.float16 else 1e-40)
            assert np.all(np.abs(g - w) <= sp + 0.0), f"{name} {dt}"
    for x, dt in ((np.arange(-5, 5), np.float64), (np.array([True, False]), np.float64),
                  (np.arange(-5, 5, dtype=np.int8), np.float64), ([0.5, 1], np.float64),
                  (np.arange(4, dtype=">f4"), np.float32)):
        for name in FUNCS:
            got = getattr(sc, name)(x)
            assert got.dtype == dt
            np.testing.assert_allclose(got, getattr(ss, name)(np.asarray(x, dt)), rtol=1e-6)


def test_errors_before_any_write(sc):
    x = np.ones((3, 4), np.float32)
    out = np.full((3, 4), 7.0, np.float32)
    with pytest.raises(TypeError, match="x: complex"):
        sc.expit(np.ones(3, np.complex64))
    with pytest.raises(TypeError, match="x"):
        sc.log_expit(np.array(["a"]))
    with pytest.raises(ValueError, match="out has shape"):
        sc.expit(x, out=np.empty((4, 3), np.float32))
    with pytest.raises(TypeError, match="out has dtype"):
        sc.expit(x, out=np.empty((3, 4), np.float64))
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        sc.log_expit(x, out=[0] * 12)
    ro = out.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        sc.expit(x, out=ro)
    with pytest.raises(TypeError):
        sc.expit(x, x)  # out is keyword-only
    np.testing.assert_array_equal(out, 7.0)


def test_threads_bitwise_identical(sc, rng):
    x = (rng.standard_normal((8, 100_003)) * 10).astype(np.float32)
    n0 = sc.get_num_threads()
    try:
        sc.set_num_threads(1)
        a = sc.log_expit(x)
        sc.set_num_threads(2)
        b = sc.log_expit(x)
    finally:
        sc.set_num_threads(n0)
    np.testing.assert_array_equal(a, b)
