"""Algebraic properties, checked on Hypothesis-generated arrays, on every target.

Inputs are drawn on a grid of multiples of 1/8 so that ``x + c`` (integer c)
is exact in float32 and float64: the shift-invariance checks then compare the
library with itself on mathematically identical rows.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

PROFILE = settings(max_examples=30, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])

FLOATS = [np.float32, np.float64]
REL = {np.float32: 3e-6, np.float64: 1e-13}
LSE = {np.float32: 1e-6, np.float64: 1e-13}


@st.composite
def grid_arrays(draw, max_rows=4, max_len=300, lo=-400, hi=400):
    """2-D arrays of k/8 with k in [lo, hi], plus a reduction axis."""
    shape = draw(st.tuples(st.integers(1, max_rows), st.integers(1, max_len)))
    k = draw(hnp.arrays(np.int64, shape, elements=st.integers(lo, hi)))
    axis = draw(st.sampled_from([0, 1, -1]))
    return k / 8.0, axis


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_sums_to_one(sc, target, dtype):
    @PROFILE
    @given(grid_arrays())
    def prop(case):
        x, axis = case
        y = sc.softmax(x.astype(dtype), axis=axis)
        assert y.dtype == dtype
        assert np.all(y >= 0) and np.all(y <= 1)
        n = x.shape[axis]
        tot = np.sum(y.astype(np.float64), axis=axis)
        # each output within REL of exact; the float64 check-sum adds n*eps
        assert np.all(np.abs(tot - 1.0) <= REL[dtype] + n * 2.3e-16), tot

    prop()


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_shift_invariant(sc, target, dtype):
    @PROFILE
    @given(grid_arrays(), st.integers(-300, 300))
    def prop(case, c):
        x, axis = case
        y0 = sc.softmax(x.astype(dtype), axis=axis).astype(np.float64)
        y1 = sc.softmax((x + c).astype(dtype), axis=axis).astype(np.float64)
        big = np.maximum(y0, y1) >= 1e-30
        # both within REL of the same exact value
        np.testing.assert_allclose(y1[big], y0[big], rtol=2.01 * REL[dtype], atol=0)
        assert np.all(np.abs(y1[~big] - y0[~big]) <= 1e-35)

    prop()


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_softmax_is_log_of_softmax(sc, target, dtype):
    @PROFILE
    @given(grid_arrays())
    def prop(case):
        x, axis = case
        xs = x.astype(dtype)
        ls = sc.log_softmax(xs, axis=axis).astype(np.float64)
        s = sc.softmax(xs, axis=axis).astype(np.float64)
        ok = s >= 1e-30
        # log(s) has abs error ~REL; log_softmax = x - lse has abs error
        # ~LSE * max(1, |x|, |lse|)
        scale = np.maximum(1.0, np.abs(x) + np.abs(ls))
        err = np.abs(ls[ok] - np.log(s[ok]))
        assert np.all(err <= 1.01 * REL[dtype] + LSE[dtype] * scale[ok]), err.max()
        # and exp(log_softmax) == softmax
        np.testing.assert_allclose(np.exp(ls[ok]), s[ok],
                                   rtol=2 * REL[dtype] + 2 * LSE[dtype] * scale[ok].max())

    prop()


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_softmax_shift_invariant(sc, target, dtype):
    @PROFILE
    @given(grid_arrays(), st.integers(-300, 300))
    def prop(case, c):
        x, axis = case
        l0 = sc.log_softmax(x.astype(dtype), axis=axis).astype(np.float64)
        l1 = sc.log_softmax((x + c).astype(dtype), axis=axis).astype(np.float64)
        scale = np.maximum(1.0, np.abs(x) + abs(c) + np.abs(l0))
        assert np.all(np.abs(l1 - l0) <= 2 * LSE[dtype] * scale)

    prop()


@pytest.mark.parametrize("dtype", FLOATS)
def test_logsumexp_shift(sc, target, dtype):
    @PROFILE
    @given(grid_arrays(), st.integers(-300, 300))
    def prop(case, c):
        x, axis = case
        l0 = sc.logsumexp(x.astype(dtype), axis=axis).astype(np.float64)
        l1 = sc.logsumexp((x + c).astype(dtype), axis=axis).astype(np.float64)
        tol = LSE[dtype] * (np.maximum(1.0, np.abs(l0)) + np.maximum(1.0, np.abs(l1)))
        assert np.all(np.abs(l1 - (l0 + c)) <= tol)

    prop()


@pytest.mark.parametrize("dtype", FLOATS)
def test_logsumexp_bounds(sc, target, dtype):
    # max(x) <= lse(x) <= max(x) + log(n)
    @PROFILE
    @given(grid_arrays())
    def prop(case):
        x, axis = case
        lse = sc.logsumexp(x.astype(dtype), axis=axis).astype(np.float64)
        m = np.max(x, axis=axis)
        n = x.shape[axis]
        slack = LSE[dtype] * np.maximum(1.0, np.abs(m) + math.log(n))
        assert np.all(lse >= m - slack) and np.all(lse <= m + math.log(n) + slack)

    prop()


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_is_exp_of_x_minus_logsumexp(sc, target, dtype):
    @PROFILE
    @given(grid_arrays(lo=-200, hi=200))
    def prop(case):
        x, axis = case
        xs = x.astype(dtype)
        lse = sc.logsumexp(xs, axis=axis, keepdims=True).astype(np.float64)
        s = sc.softmax(xs, axis=axis).astype(np.float64)
        want = np.exp(x - lse)
        ok = want >= 1e-30
        # the lse error (abs <= LSE*|lse|, |lse| <= 25 + log n) becomes relative
        tol = REL[dtype] + LSE[dtype] * np.maximum(1.0, np.abs(lse)) * 1.01
        assert np.all(np.abs(s - want)[ok] <= (tol * want)[ok] * 1.5)

    prop()
