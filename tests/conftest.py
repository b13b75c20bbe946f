"""Shared fixtures and helpers for the softmax_c test suite.

* ``target``: parametrizes a test over every kernel table this CPU can run
  (``cpu_info()["targets_supported"]``), switches to it, restores after.
* ``make_layout(a, kind)``: a view with ``a``'s shape and dtype in a given
  memory layout (C, F, strided, negative strides, transposed, broadcast,
  misaligned).  Expected values are always computed from the view itself,
  so a layout may change values (``broadcast`` does).
* ``assert_close(got, expected, kind, ...)``: the accuracy contract, one
  place: exact agreement on NaN/inf positions, the documented bounds on
  finite values, dtype and shape.
* ``ref``: the float64 oracle, ``softmax_c.reference``; it is loaded from
  the source tree when the compiled package cannot be imported, so
  ``test_reference.py`` runs without a build.

Test modules import the helpers with ``from conftest import ...`` (pytest's
default ``prepend`` import mode puts this folder on ``sys.path``).
"""

from __future__ import annotations

import importlib.util
import pathlib
import zlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Row lengths below, at and above every vector width and unroll factor
# (4/8/16 lanes x 1/2/4 accumulators) and a few tile sizes.
ROW_LENGTHS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65,
               127, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025]

LAYOUTS = ["C", "F", "strided", "negative", "transposed", "broadcast", "misaligned"]

# ISA ladder; a larger rank is a better target ("scalar": the portable
# reference vector type of DESIGN.md, compiled everywhere, never the best).
# dispatch's target names, worst to best (cpp/src/dispatch.cpp kTargets); on
# aarch64 "baseline" is NEON
TARGET_RANK = {"scalar": -1, "baseline": 0, "avx2": 1, "avx512": 2}

# Accuracy contract (relative for softmax, abs/max(1,|v|) for log-domain).
TOL = {
    np.dtype(np.float16): 1e-3,   # rounding to float16 (2**-11) dominates
    np.dtype(np.float32): 3e-6,
    np.dtype(np.float64): 1e-13,
}
# Below these outputs the softmax bound is absolute: TOL * TINY.
TINY = {
    np.dtype(np.float16): 6e-5,   # float16 subnormal range
    np.dtype(np.float32): 1e-30,
    np.dtype(np.float64): 1e-290,
}
LSE_TOL = {
    np.dtype(np.float16): 1e-3,
    np.dtype(np.float32): 1e-6,
    np.dtype(np.float64): 1e-13,
}


# --------------------------------------------------------------------------
# Loading the package and the oracle
# --------------------------------------------------------------------------

def _load_reference():
    try:
        from softmax_c import reference
        return reference
    except ImportError:
        path = ROOT / "src" / "softmax_c" / "reference.py"
        spec = importlib.util.spec_from_file_location("softmax_c_reference", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod


ref = _load_reference()


def import_softmax_c():
    """Import the compiled package, failing the test with the reason if absent."""
    try:
        import softmax_c
        import softmax_c._core  # noqa: F401
    except ImportError as exc:  # pragma: no cover - only without a build
        pytest.fail(f"softmax_c is not importable (build it first): {exc!r}")
    return softmax_c


def _supported_targets():
    try:
        import softmax_c
        return list(softmax_c.cpu_info()["targets_supported"])
    except Exception:  # reported by the fixture, not at collection
        return ["<softmax_c unavailable>"]


def pytest_generate_tests(metafunc):
    if "target" in metafunc.fixturenames:
        metafunc.parametrize("target", _supported_targets(), indirect=True)


@pytest.fixture
def target(request):
    """Run the test with kernel table ``request.param``; restore the old one."""
    sc = import_softmax_c()
    prev = sc._core.get_target()
    sc._core.set_target(request.param)
    assert sc._core.get_target() == request.param
    try:
        yield request.param
    finally:
        sc._core.set_target(prev)


@pytest.fixture
def sc():
    """The compiled package (fails the test meaningfully when not built)."""
    return import_softmax_c()


@pytest.fixture
def rng(request):
    """A generator seeded from the test id: reproducible, different per test."""
    seed = zlib.crc32(request.node.nodeid.encode())  # hash() is salted per process
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------

def make_layout(a, kind):
    """Return a view of a new buffer holding ``a`` (same shape and dtype).

    kind:
      C           C-contiguous copy
      F           Fortran-contiguous copy
      strided     every axis has a step (last axis step 3, others 2)
      negative    every axis has a negative stride
      transposed  stored with the axes rotated, viewed back (neither C nor F
                  for ndim >= 3; for 2-D it equals F)
      broadcast   stride 0 along axis 0 (values of row 0 repeated; the
                  result is read-only)
      misaligned  C-contiguous, start offset by one element from an aligned
                  allocation (so never 16/32/64-byte aligned for itemsize<16)
    """
    a = np.asarray(a)
    if kind == "C":
        return np.ascontiguousarray(a).copy()
    if kind == "F":
        return np.asfortranarray(a).copy(order="K")
    if kind == "strided":
        if a.ndim == 0:
            return a.copy()
        steps = [2] * (a.ndim - 1) + [3]
        big = np.zeros(tuple(max(1, n) * s for n, s in zip(a.shape, steps)), dtype=a.dtype)
        view = big[tuple(slice(0, n * s, s) for n, s in zip(a.shape, steps))]
        view[...] = a
        return view
    if kind == "negative":
        flip = tuple(slice(None, None, -1) for _ in range(a.ndim))
        return a[flip].copy()[flip]
    if kind == "transposed":
        if a.ndim < 2:
            return a.copy()
        perm = tuple(range(1, a.ndim)) + (0,)
        inv = tuple(np.argsort(perm))
        return np.ascontiguousarray(a.transpose(perm)).transpose(inv)
    if kind == "broadcast":
        if a.ndim == 0 or a.shape[0] == 0:
            return a.copy()
        return np.broadcast_to(a[:1].copy(), a.shape)
    if kind == "misaligned":
        buf = np.zeros(a.size + 1, dtype=a.dtype)
        view = buf[1:].reshape(a.shape)
        view[...] = a
        return view
    raise ValueError(f"unknown layout {kind!r}")


@pytest.fixture
def layout_of():
    return make_layout


# --------------------------------------------------------------------------
# Accuracy checks
# --------------------------------------------------------------------------

def result_dtype(x_dtype):
    """The library's dtype policy: float16/32/64 kept, everything else -> float64."""
    dt = np.dtype(x_dtype)
    if dt in (np.float16, np.float32, np.float64):
        return dt
    return np.dtype(np.float64)


def _check_nonfinite(got, exp_cast, what):
    g_nan, e_nan = np.isnan(got), np.isnan(exp_cast)
    if not np.array_equal(g_nan, e_nan):
        idx = np.argwhere(g_nan != e_nan)[:5]
        raise AssertionError(
            f"{what}: NaN positions differ at {idx.tolist()}: "
            f"got {[got[tuple(i)] for i in idx]} expected {[exp_cast[tuple(i)] for i in idx]}")
    g_inf = np.isinf(got)
    e_inf = np.isinf(exp_cast)
    bad = (g_inf | e_inf) & ~((got == exp_cast) & g_inf)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        raise AssertionError(
            f"{what}: inf mismatch at {idx.tolist()}: got {[got[tuple(i)] for i in idx]} "
            f"expected {[exp_cast[tuple(i)] for i in idx]}")


def assert_close(got, expected, kind, dtype=None, scale=None, what="result", tol=None):
    """Check ``got`` against the float64 oracle ``expected``.

    kind:
      "prob"  softmax: relative error <= TOL where expected >= TINY, absolute
              TOL*TINY below it.
      "log"   logsumexp: |err| <= TOL * max(1, |expected|, scale)
              (``scale``: e.g. the cancellation factor of signed weights).
      "logsm" log_softmax: |err| <= 2 * TOL * max(1, |expected|).  Computed
              as (x - max) - log(sum), as SciPy does, the error is relative
              to the result, not to |x|: x - (max + log(sum)) would lose
              ulp(|x|) (e.g. 5e-4 for float32 logits near 1e4).
    NaN and inf must sit exactly where the oracle, rounded to the result
    dtype, has them.  ``dtype`` (default: got's) is asserted when given.
    """
    got = np.asarray(got)
    expected = np.asarray(expected, dtype=np.float64)
    if dtype is not None:
        assert got.dtype == np.dtype(dtype), f"{what}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    dt = got.dtype
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    with np.errstate(over="ignore"):
        exp_cast = expected.astype(dt)
    _check_nonfinite(got, exp_cast, what)
    fin = np.isfinite(exp_cast)
    if not fin.any():
        return
    g = got[fin].astype(np.float64)
    e = expected[fin]
    if kind == "prob":
        t = TOL[dt] if tol is None else tol
        tiny = TINY[dt]
        bound = np.where(np.abs(e) >= tiny, t * np.abs(e), t * tiny)
    elif kind in ("log", "logsm"):
        t = (LSE_TOL[dt] if tol is None else tol) * (2 if kind == "logsm" else 1)
        mag = np.maximum(1.0, np.abs(e))
        if scale is not None:
            mag = np.maximum(mag, np.broadcast_to(np.abs(np.asarray(scale, np.float64)),
                                                  expected.shape)[fin])
        bound = t * mag
    else:
        raise ValueError(kind)
    err = np.abs(g - e)
    if not np.all(err <= bound):
        ratio = np.where(bound > 0, err / bound, np.inf)
        i = int(np.argmax(ratio))
        pos = np.argwhere(fin)[i].tolist()
        raise AssertionError(
            f"{what} ({dt}, {kind}): {int(np.sum(err > bound))} of {e.size} values out of "
            f"bound; worst at {pos}: got {g[i]!r} expected {e[i]!r} "
            f"|err|={err[i]:.3e} > bound {bound[i]:.3e} (x{ratio[i]:.2f})")


@pytest.fixture
def check():
    return assert_close


@pytest.fixture
def restore_threads():
    """Restore the library's thread count after a test that changes it."""
    sc = import_softmax_c()
    n = sc.get_num_threads()
    yield sc
    sc.set_num_threads(n)
