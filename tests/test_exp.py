"""The vector exp against a float64 / long double exp: <= 2 ULP over the whole
non-overflowing range, on every target; inf, NaN and underflow behaviour."""
import numpy as np
import pytest

import softmax_c
from softmax_c import _core


def ulp_error(got, exact, dtype):
    """|got - exact| in units of the last place of the exact value (rounded
    to dtype); subnormal results use the subnormal spacing."""
    exact_r = exact.astype(dtype)
    spacing = np.spacing(np.abs(exact_r)).astype(np.longdouble)
    return np.abs(got.astype(np.longdouble) - exact) / spacing


def test_exp_float32_dense_scan(target):
    # Every 256th float32 between the underflow and overflow thresholds
    # (~330,000 inputs, both signs, every binade in between).
    lo, hi = np.float32(-103.9), np.float32(88.72)
    pos = np.arange(0, np.float32(hi).view(np.int32), 256, dtype=np.int32).view(np.float32)
    neg = -np.arange(0, np.float32(-lo).view(np.int32), 256, dtype=np.int32).view(np.float32)
    x = np.concatenate([pos, neg])
    got = _core.vector_exp(x)
    exact = np.exp(x.astype(np.float64)).astype(np.longdouble)
    err = ulp_error(got, exact, np.float32)
    worst = int(np.argmax(err))
    assert err[worst] <= 2.0, f"{err[worst]:.2f} ULP at x={x[worst]!r}: got {got[worst]!r}, exact {exact[worst]}"


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps,
                    reason="needs an extended long double for the float64 oracle")
def test_exp_float64_dense_scan(target):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-745.0, 709.7, 100_000), rng.uniform(-1, 1, 30_000),
                        np.linspace(-708.4, -745.0, 10_000)])
    got = _core.vector_exp(x)
    exact = np.exp(x.astype(np.longdouble))
    err = ulp_error(got, exact, np.float64)
    worst = int(np.argmax(err))
    assert err[worst] <= 2.0, f"{err[worst]:.2f} ULP at x={x[worst]!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_special_values(target, dtype):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 800.0, -800.0, 1.0], dtype=dtype)
    got = _core.vector_exp(x)
    assert got[0] == 1.0 and got[1] == 1.0
    assert got[2] == np.inf and got[3] == 0.0 and np.isnan(got[4])
    assert got[5] == np.inf and got[6] == 0.0 and got[7] == np.inf and got[8] == 0.0
    assert abs(got[9] - np.e) <= 2 * np.spacing(dtype(np.e))


def test_exp_subnormal_results_float32(target):
    x = np.linspace(-103.0, -87.4, 5000, dtype=np.float32)
    got = _core.vector_exp(x)
    exact = np.exp(x.astype(np.float64))
    # subnormal outputs: within 2 subnormal spacings of the exact value
    assert np.all(np.abs(got.astype(np.float64) - exact) <= 2 * np.float64(np.finfo(np.float32).smallest_subnormal))
