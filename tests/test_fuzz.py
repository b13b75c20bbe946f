"""Seeded fuzzing of every public function against the float64 oracle.

Each public function is one entry of ``ENTRIES``: a case generator that draws
arguments (shapes including zero sizes, negative / stride-0 / overlapping /
unaligned / byte-swapped views, every dtype, axes, special values, extras
such as temperature, ``b`` weights, masks, GQA) and a checker.  A case either
matches ``softmax_c.reference`` (or, for sampling, the support of the
filtered distribution) or raises a clean ``TypeError`` / ``ValueError`` /
``MemoryError``; bad arguments must raise one of those.  Entries whose
function the package does not (yet) export are skipped.

Budget: a few seconds per entry by default (CI); ``SOFTMAX_C_FUZZ_SECONDS``
sets the total for the long run (split evenly over the entries present),
``SOFTMAX_C_FUZZ_SEED`` the base seed.  A failure prints the entry and the
case seed; ``python tests/test_fuzz.py ENTRY SEED`` replays that one case.
"""
from __future__ import annotations

import math
import os
import sys
import time
import warnings

import numpy as np
import pytest

softmax_c = pytest.importorskip("softmax_c") if __name__ != "__main__" else __import__("softmax_c")
from softmax_c import reference as ref  # noqa: E402

CLEAN = (TypeError, ValueError, MemoryError)

FUZZ_TOTAL = float(os.environ.get("SOFTMAX_C_FUZZ_SECONDS", "0") or 0)
SHORT_SECONDS = 6.0  # per entry when SOFTMAX_C_FUZZ_SECONDS is not set
SHORT_CASES = int(os.environ.get("SOFTMAX_C_FUZZ_CASES", "400"))  # per function, CI mode
BASE_SEED = int(os.environ.get("SOFTMAX_C_FUZZ_SEED", "20260527"))

# Accuracy: looser than the unit tests' contract -- the fuzz is after wrong
# answers (garbage, wrong element, wrong NaN/inf), not the last ulp.
REL = {np.dtype(np.float16): 2e-3, np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}
TINY = {np.dtype(np.float16): 1e-4, np.dtype(np.float32): 1e-30, np.dtype(np.float64): 1e-290}


class Skip(Exception):
    """A generated case the oracle itself cannot judge (not a failure)."""


# --------------------------------------------------------------------------
# Values and views
# --------------------------------------------------------------------------

DTYPES = [np.float32, np.float32, np.float32, np.float64, np.float64, np.float16,
          np.int32, np.int64, np.uint8, np.bool_, ">f4", ">f8"]


def _specials(dt):
    dt = np.dtype(dt)
    if dt.kind != "f":
        return []
    big = float(np.finfo(dt).max) * 0.88  # 3e38 for float32
    den = float(np.finfo(dt).smallest_subnormal) * 3
    return [np.inf, -np.inf, np.nan, big, -big, den, -den, 0.0, -0.0]


def values(rng, shape, dt):
    """float64 values for an array of dtype dt (exactly representable)."""
    dt = np.dtype(dt)
    size = int(np.prod(shape, dtype=np.int64))
    if dt.kind == "b":
        return rng.random(size).reshape(shape) < 0.5
    if dt.kind in "iu":
        lo = 0 if dt.kind == "u" else -60
        return rng.integers(lo, 60, size=size).reshape(shape).astype(np.float64)
    scale = float(rng.choice([1e-3, 1.0, 1.0, 5.0, 30.0, 300.0, 1e4]))
    v = rng.standard_normal(size) * scale
    if rng.random() < 0.1:
        v[:] = v[0] if size else 0.0  # constant rows
    p = float(rng.choice([0.0, 0.0, 0.002, 0.02, 0.2, 0.7]))
    sp = _specials(dt)
    if p and size and sp:
        hit = rng.random(size) < p
        v[hit] = rng.choice(sp, size=int(hit.sum()))
    with np.errstate(over="ignore"):
        v = v.astype(dt.newbyteorder("=")).astype(np.float64)
    return v.reshape(shape)


def make_view(rng, vals, dt, writeable=False):
    """A view of dtype dt holding vals in a randomly chosen layout; with
    writeable, only layouts usable as out= (native, no aliasing).
    Returns (view, kind)."""
    dt = np.dtype(dt)
    shape = vals.shape
    kinds = ["C", "C", "F", "neg", "step", "unaligned"]
    if not writeable:
        kinds += ["swapped"]
        kinds += ["bcast", "overlap"]
    kind = kinds[int(rng.integers(len(kinds)))]
    if (dt.kind == "b" and kind in ("unaligned", "swapped")) or (not shape and kind == "step"):
        kind = "C"
    if not shape and kind in ("F", "neg", "step", "overlap"):
        kind = "C"  # asfortranarray & co. make 0-d arrays 1-d
    with np.errstate(over="ignore", invalid="ignore"):
        if kind == "C":
            return np.array(vals, dtype=dt), kind
        if kind == "F":
            return np.asfortranarray(vals.astype(dt)), kind
        if kind == "neg":
            if not shape:
                return np.array(vals, dtype=dt), kind
            flip = tuple(slice(None, None, -1) if rng.random() < 0.6 else slice(None) for _ in shape)
            return vals[flip].astype(dt)[flip], kind
        if kind == "step":
            steps = [int(rng.integers(1, 4)) for _ in shape]
            big = np.zeros(tuple(max(1, n) * s for n, s in zip(shape, steps)), dtype=dt)
            v = big[tuple(slice(0, n * s, s) for n, s in zip(shape, steps))]
            v[...] = vals
            return v, kind
        if kind == "unaligned":
            off = int(rng.integers(1, 4))
            buf = bytearray(vals.size * dt.itemsize + off)
            v = np.frombuffer(buf, dtype=dt, count=vals.size, offset=off).reshape(shape)
            v[...] = vals
            if not writeable:
                v.flags.writeable = False
            return v, kind
        if kind == "swapped":
            return np.array(vals, dtype=dt.newbyteorder("S")), kind
        if kind == "bcast":  # stride 0 along random axes: values repeated
            if not shape:
                return np.array(vals, dtype=dt), kind
            sub = tuple(slice(0, 1) if rng.random() < 0.5 else slice(None) for _ in shape)
            return np.broadcast_to(vals[sub].astype(dt), shape), kind
        if kind == "overlap":  # as_strided rows that share elements
            if len(shape) < 2 or 0 in shape:
                return np.array(vals, dtype=dt), kind
            # last axis contiguous, the others step by less than a row
            strides, span = [], 1
            for n in reversed(shape):
                st = int(rng.integers(0, span + 1)) if strides else 1
                strides.append(st)
                span = max(span, (n - 1) * st + 1)
            strides = strides[::-1]
            need = 1 + sum((n - 1) * s for n, s in zip(shape, strides))
            flat = values(rng, (need,), dt).astype(dt)
            v = np.lib.stride_tricks.as_strided(flat, shape, [s * dt.itemsize for s in strides], writeable=False)
            return v, kind
    raise AssertionError(kind)


def random_shape(rng, max_ndim=4, max_size=12000):
    ndim = int(rng.choice([0, 1, 1, 2, 2, 2, 3, 3, 4][: max_ndim * 2 + 1]))
    dims = [1, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 129, 257, 1000, 1025]
    shape = [int(rng.choice(dims)) for _ in range(ndim)]
    if shape and rng.random() < 0.04:
        shape[int(rng.integers(ndim))] = 0
    # max(1, n): a zero-size shape still gets views (steps, F order) whose
    # buffers are sized by the other dimensions
    while np.prod([max(1, n) for n in shape], dtype=np.int64) > max_size:
        i = int(np.argmax(shape))
        shape[i] = max(1, shape[i] // 3)
    if ndim == 1 and rng.random() < 0.03:  # long rows: the chunked paths
        shape = [int(rng.choice([16385, 40000, 70001]))]
    return tuple(shape)


def random_axis(rng, ndim):
    r = rng.random()
    if r < 0.15 or ndim == 0:
        return None
    if r < 0.75:
        return int(rng.integers(-ndim, ndim))
    if r < 0.95:
        k = int(rng.integers(1, ndim + 1))
        axes = [int(a) for a in rng.permutation(ndim)[:k]]
        return tuple(a - ndim if rng.random() < 0.3 else a for a in axes)
    return int(rng.choice([ndim, -ndim - 1, ndim + 3]))  # out of range


def policy_dtype(dt):
    """The result dtype of the front: float16/32/64 as themselves (the native
    twin of a byte-swapped one), everything else float64."""
    dt = np.dtype(dt).newbyteorder("=")
    if dt in (np.float16, np.float32, np.float64):
        return dt
    return np.dtype(np.float64)


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------

def compare(got, expected, kind, what, mag=None, extra=None):
    """got (library) vs expected (float64 oracle).  kind: 'prob' (relative),
    'log' (absolute, scaled by max(1, |e|, mag)).  extra: an absolute error
    bound added to that one (broadcast to expected), from an error analysis
    of the case (see _lse_floor_bound, _score_error_bound)."""
    got = np.asarray(got)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    dt = got.dtype
    assert dt.kind == "f", f"{what}: dtype {dt}"
    with np.errstate(over="ignore", invalid="ignore"):
        e_cast = expected.astype(dt)
    gn, en = np.isnan(got), np.isnan(e_cast)
    if not np.array_equal(gn, en):
        i = tuple(np.argwhere(gn != en)[0])
        raise AssertionError(f"{what}: NaN mismatch at {i}: got {got[i]!r}, expected {expected[i]!r}")
    gi, ei = np.isinf(got), np.isinf(e_cast)
    bad = (gi | ei) & ~(got == e_cast)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{what}: inf mismatch at {i}: got {got[i]!r}, expected {expected[i]!r}")
    fin = np.isfinite(e_cast)
    g = got[fin].astype(np.float64)
    e = expected[fin]
    t = REL[np.dtype(dt.newbyteorder("="))]
    if kind == "prob":
        bound = t * np.abs(e) + t * TINY[np.dtype(dt.newbyteorder("="))]
    else:
        m = np.maximum(1.0, np.abs(e))
        if mag is not None:
            m = np.maximum(m, np.broadcast_to(mag, expected.shape)[fin])
        bound = t * m
    if extra is not None:
        bound = bound + np.broadcast_to(np.nan_to_num(np.asarray(extra, np.float64), nan=np.inf),
                                        expected.shape)[fin]
    err = np.abs(g - e)
    if not np.all(err <= bound):
        i = int(np.argmax(err - bound))
        pos = tuple(np.argwhere(fin)[i])
        raise AssertionError(f"{what} ({dt}, {kind}): worst at {pos}: got {g[i]!r} expected {e[i]!r} "
                             f"err {err[i]:.3e} > {bound[i]:.3e}")


class Case:
    """fn(*args, **kwargs); expect_error: the call must raise a clean error;
    oracle(): expected result (may raise: then the call must raise too);
    check(result, expected): raises AssertionError; inputs: arrays that must
    not be modified (unless they are the output)."""

    def __init__(self, args, kwargs, oracle=None, check=None, expect_error=False, inputs=(), note=""):
        self.args, self.kwargs = args, kwargs
        self.oracle, self.check = oracle, check
        self.expect_error = expect_error
        self.inputs = inputs
        self.note = note


# --------------------------------------------------------------------------
# softmax / log_softmax
# --------------------------------------------------------------------------

def _bad_scalar(rng):
    return [0.0, -1.0, float("nan"), float("inf"), -0.0, "2", True, None, 1j][int(rng.integers(9))]


def gen_softmax_family(rng, log_mode):
    shape = random_shape(rng)
    dt = DTYPES[int(rng.integers(len(DTYPES)))]
    vals = values(rng, shape, dt)
    want_out = rng.random()
    x, kind = make_view(rng, vals, dt, writeable=want_out < 0.15)
    axis = random_axis(rng, x.ndim)
    kwargs = {"axis": axis}
    bad = False
    r = rng.random()
    if r < 0.3:
        kwargs["temperature"] = float(np.exp(rng.uniform(np.log(0.05), np.log(20))))
    elif r < 0.33:
        kwargs["temperature"] = _bad_scalar(rng)
        bad = True
    rdt = policy_dtype(x.dtype)
    out = None
    if want_out < 0.15 and x.flags.writeable and x.dtype == rdt:
        out = x  # in place
        kind += "+inplace"
    elif want_out < 0.3:
        out = make_view(rng, np.zeros(shape), rdt, writeable=True)[0]
    elif want_out < 0.34 and x.ndim >= 1 and x.size:  # out overlapping x, shifted by one element
        buf = np.zeros(x.size + 1, dtype=rdt)
        xv = buf[:-1].reshape(shape)
        with np.errstate(over="ignore", invalid="ignore"):
            xv[...] = vals
        x, out = xv, buf[1:].reshape(shape)
        kind = "partial-overlap"
        vals = x.astype(np.float64)
    elif want_out < 0.38:  # wrong out: dtype, shape, read-only, type
        w = int(rng.integers(4))
        if w == 0:
            out = np.zeros(shape, dtype=np.float64 if rdt != np.float64 else np.float32)
        elif w == 1:
            out = np.zeros(shape + (2,), dtype=rdt)
        elif w == 2:
            out = np.zeros(shape, dtype=rdt)
            out.flags.writeable = False
        else:
            out = [0.0] * 3
        bad = True
    if out is not None:
        kwargs["out"] = out
    snapshot = np.asarray(x).astype(np.float64)  # the view's values (bcast/overlap differ from vals)
    fn = ref.log_softmax if log_mode else ref.softmax
    t = kwargs.get("temperature", 1.0)

    def oracle():
        return fn(snapshot, axis=axis, temperature=t)

    def check(res, exp):
        if out is not None:
            assert res is out, "out= was not returned"
        gdt = np.asarray(res).dtype
        # non-native input: float64, or the native twin of its dtype
        assert gdt == rdt or (not x.dtype.isnative and gdt == x.dtype.newbyteorder("=")), f"dtype {gdt} != {rdt}"
        compare(res, exp, "log" if log_mode else "prob", f"{'log_softmax' if log_mode else 'softmax'}[{kind}]")

    inputs = () if out is not None and np.shares_memory(x, out) else (x,)
    return Case((x,), kwargs, oracle, check, expect_error=bad, inputs=inputs,
                note=f"shape={shape} dtype={np.dtype(dt).str} view={kind} axis={axis} T={t!r}")


def gen_softmax(rng):
    return gen_softmax_family(rng, False)


def gen_log_softmax(rng):
    return gen_softmax_family(rng, True)


# --------------------------------------------------------------------------
# logsumexp
# --------------------------------------------------------------------------

def _lse_floor_bound(snap_a, snap_b, axis, keepdims, log_abs_sum, compute_dtype):
    """Absolute error bound of log|sum_i b_i exp(a_i)| from the terms that
    leave the compute format's normal range.

    The kernel (like scipy) sums t_i = b_i * exp(a_i - m), m = max(a), in
    compute_dtype.  A term below the smallest normal number is rounded to the
    subnormal grid or flushed (exp of a very negative argument, or a
    subnormal weight such as 3 * 2**-149): absolute error up to
    (|b_i| + 1) * tiny, whatever its size.  So the sum carries an absolute
    error delta <= tiny * sum_i (|b_i| + 1) besides the relative one, and
    log|S| an error of -log1p(-delta / |S|), |S| = exp(log_abs_sum - m);
    where delta >= |S| the value is undetermined (inf bound).  Using the
    largest m over the row (all finite a) gives the largest such bound."""
    tiny = float(np.finfo(compute_dtype).tiny)
    aa = snap_a
    bb = np.ones_like(snap_a) if snap_b is None else snap_b
    aa, bb = np.broadcast_arrays(aa, bb)
    if aa.ndim == 0:  # scipy: 0-d as 1-d
        aa, bb = aa[None], bb[None]
    with np.errstate(all="ignore"):
        fin = np.isfinite(aa)
        m = np.max(np.where(fin, aa, -np.inf), axis=axis, keepdims=keepdims, initial=-np.inf)
        delta = tiny * np.sum(np.where(fin & (bb != 0), np.abs(bb) + 1.0, 0.0), axis=axis, keepdims=keepdims)
        rel = delta / np.exp(np.asarray(log_abs_sum, np.float64) - m)
        return np.where(rel < 1, -np.log1p(-np.where(rel < 1, rel, 0.0)), np.inf)


def gen_logsumexp(rng):
    shape = random_shape(rng)
    dt = DTYPES[int(rng.integers(len(DTYPES)))]
    vals = values(rng, shape, dt)
    a, kind = make_view(rng, vals, dt)
    kwargs = {"axis": random_axis(rng, max(a.ndim, 1) if a.ndim == 0 else a.ndim)}
    if a.ndim == 0 and kwargs["axis"] is not None and not isinstance(kwargs["axis"], tuple):
        kwargs["axis"] = int(rng.choice([0, -1, 1]))
    bad = False
    bvals = None
    r = rng.random()
    if r < 0.45:
        bshape = tuple(1 if rng.random() < 0.3 else n for n in shape)
        if bshape and rng.random() < 0.2:
            bshape = bshape[int(rng.integers(len(bshape))):]  # fewer dims: broadcast
        bdt = [np.float32, np.float64, np.float16, np.int32, ">f8"][int(rng.integers(5))]
        bvals = rng.standard_normal(bshape) * float(rng.choice([0.5, 3.0]))
        z = rng.random(bshape) < 0.15
        bvals = np.where(z, 0.0, bvals)
        if rng.random() < 0.5:
            bvals = np.abs(bvals)  # positive weights: well conditioned
        if np.dtype(bdt).kind == "i":
            bvals = np.round(bvals)
        bvals = bvals.astype(bdt).astype(np.float64)
        b, _ = make_view(rng, bvals, bdt)
        if not np.all(np.abs(b) < 1e4):  # overlap views draw fresh values; weights stay moderate
            b = np.where(np.abs(b) < 1e4, b, 1.0).astype(bdt)
        kwargs["b"] = b
    elif r < 0.5 and any(n != 1 for n in shape):  # b that does not broadcast
        kwargs["b"] = np.ones(tuple(n + 2 if n != 1 else 1 for n in shape), dtype=np.float32)
        bad = True
    if rng.random() < 0.3:
        kwargs["keepdims"] = True
    return_sign = rng.random() < 0.4
    if return_sign:
        kwargs["return_sign"] = True
    snap_a = np.asarray(a).astype(np.float64)
    snap_b = None if bvals is None else np.asarray(kwargs["b"]).astype(np.float64)
    axis = kwargs["axis"]
    keepdims = kwargs.get("keepdims", False)
    rdt = policy_dtype(np.result_type(a.dtype, kwargs["b"].dtype) if bvals is not None else a.dtype)
    if bvals is not None and np.dtype(rdt).kind != "f":
        rdt = np.dtype(np.float64)
    if rdt == np.float16:  # issue 11: a half-precision logsumexp is float32
        rdt = np.dtype(np.float32)

    def oracle():
        res = ref.logsumexp(snap_a, axis=axis, b=snap_b, keepdims=keepdims, return_sign=True)
        cdt = np.float64 if rdt == np.float64 else np.float32
        floor = _lse_floor_bound(snap_a, snap_b, axis, keepdims, res[0], cdt)
        if not return_sign:  # NaN for a negative sum, but -inf for an empty one
            res = (ref.logsumexp(snap_a, axis=axis, b=snap_b, keepdims=keepdims), res[1])
        # conditioning of the signed sum: sum|terms| / |sum terms|
        if snap_b is None:
            return res, None, floor
        aa, bb = np.broadcast_arrays(snap_a, snap_b)
        with np.errstate(all="ignore"):
            absres = ref.logsumexp(aa, axis=axis, b=np.abs(bb), keepdims=keepdims)
            cond = np.exp(np.asarray(absres, np.float64) - np.asarray(res[0], np.float64))
        return res, cond, floor

    def check(res, exp):
        (e, es), cond, floor = exp
        if return_sign:
            assert isinstance(res, tuple) and len(res) == 2
            got, gs = res
        else:
            got, gs = res, None
        gdt = np.asarray(got).dtype
        assert gdt == rdt or gdt == np.float64 or not a.dtype.isnative, f"dtype {gdt}, expected {rdt}"
        e = np.asarray(e, np.float64)
        es = np.asarray(es, np.float64)
        ok = np.ones(e.shape, bool)
        if cond is not None:
            # ill-conditioned signed sums: neither value nor sign is determined
            # (inf - inf with signed weights: the oracle's long double fallback
            # and scipy disagree, so only finite expectations are judged)
            ok = ~(np.asarray(cond) > 1e-2 / REL[np.dtype(gdt)]) & np.isfinite(e)
        # terms below the normal range can carry the whole sum: where their
        # rounding (the floor bound) reaches |S|, value and sign are undetermined
        # (e.g. opposite subnormal weights on tied maxima: the kernel's sum may
        # be exactly 0, -inf)
        ok &= np.isfinite(np.broadcast_to(floor, e.shape))
        g = np.asarray(got)
        compare(np.where(ok, g, 0).astype(gdt), np.where(ok, e, 0), "log", f"logsumexp[{kind}]",
                mag=None if cond is None else np.where(ok, np.nan_to_num(cond, posinf=0), 0),
                extra=np.where(ok, floor, 0))
        if return_sign:
            gsa = np.asarray(gs)
            assert gsa.shape == e.shape
            sel = ok & np.isfinite(e)
            assert np.array_equal(gsa[sel], es[sel]), f"sign: got {gsa[sel]} expected {es[sel]}"

    inputs = (a,) if bvals is None else (a, kwargs["b"])
    return Case((a,), kwargs, oracle, check, expect_error=bad, inputs=inputs,
                note=f"shape={shape} dtype={np.dtype(dt).str} view={kind} axis={axis} b={snap_b is not None} "
                     f"keepdims={keepdims} sign={return_sign}")


# --------------------------------------------------------------------------
# attention (torch's scaled_dot_product_attention)
# --------------------------------------------------------------------------

def _score_error_bound(sq, sk, smask, kwargs, dt):
    """Absolute error bound of each query row's scores, (..., Hq, L).

    A score s_j = scale * sum_e q_e k_{j,e} (+ mask_j) computed in dt by any
    summation order errs by at most gamma * (scale * sum_e |q_e k_{j,e}| +
    |mask_j|), gamma = (E + 3) u (E products and additions, the scale, the
    mask and the max subtraction; Higham, Accuracy and Stability, 3.1): it
    follows the size of the terms, not of the score, which can cancel to far
    less.  The row maximum over the keys that may be attended bounds every
    score's error; it carries 1:1 into the lse and (through exp) into the
    output as a relative error <= expm1(2 delta) of the weights."""
    u = float(np.finfo(dt).eps) / 2
    E = sq.shape[-1]
    q, k = np.abs(sq), np.abs(sk)
    if kwargs.get("enable_gqa") and q.ndim >= 3 and k.ndim >= 3 and k.shape[-3] and q.shape[-3] % k.shape[-3] == 0:
        k = np.repeat(k, q.shape[-3] // k.shape[-3], axis=-3)
    s = kwargs.get("scale", 1.0 / math.sqrt(E) if E else 1.0)
    L, S = sq.shape[-2], sk.shape[-2]
    allowed, bias = ref._attention_allowed(L, S, smask, kwargs.get("is_causal", False), "upper_left")
    with np.errstate(all="ignore"):
        terms = np.matmul(q, np.swapaxes(k, -1, -2)) * abs(s)          # (..., Hq, L, S)
        if bias is not None:
            terms = terms + np.where(np.isfinite(bias), np.abs(bias), 0.0)
        if allowed is not None:
            terms = np.where(allowed, terms, 0.0)
        terms = np.nan_to_num(terms, nan=np.inf)
        return (E + 3) * u * np.max(terms, axis=-1, initial=0.0)


def _undetermined_outputs(sq, sk, sv, smask, kwargs, dt, delta):
    """Bool (..., Hq, L, Ev): outputs whose NaN/inf status depends on the
    working precision, not on the inputs -- an attended key whose value is
    inf or NaN but whose weight exp(s_j - m) is below the smallest normal
    number of dt (plus the scores' error delta).  The kernel may flush that
    weight to 0 and skip the key (a finite output), the long-double oracle
    keeps a positive weight (inf) or underflows to 0 * inf (NaN); the exact
    answer (positive weight times inf) is inf.  Such elements are not
    judged."""
    nonfin = ~np.isfinite(sv)
    if not nonfin.any():
        return None
    k, v = sk, nonfin
    if kwargs.get("enable_gqa") and sq.ndim >= 3 and k.ndim >= 3 and k.shape[-3] and sq.shape[-3] % k.shape[-3] == 0:
        g = sq.shape[-3] // k.shape[-3]
        k, v = np.repeat(k, g, axis=-3), np.repeat(v, g, axis=-3)
    E = sq.shape[-1]
    s = kwargs.get("scale", 1.0 / math.sqrt(E) if E else 1.0)
    allowed, bias = ref._attention_allowed(sq.shape[-2], sk.shape[-2], smask, kwargs.get("is_causal", False),
                                           "upper_left")
    with np.errstate(all="ignore"):
        sc = np.matmul(sq, np.swapaxes(k, -1, -2)) * s                # (..., Hq, L, S)
        if bias is not None:
            sc = sc + bias
        if allowed is not None:
            sc = np.where(allowed, sc, -np.inf)
        m = np.max(sc, axis=-1, keepdims=True, initial=-np.inf)
        logw = sc - m
        tiny = np.log(np.finfo(dt).tiny) + 2 * np.asarray(delta)[..., None]
        faint = (logw < tiny) & np.isfinite(sc)                       # (..., Hq, L, S)
        # (..., Hq, L, S) x (..., Hq, S, Ev) -> any faint key with a non-finite value
        return np.matmul(faint.astype(np.float64), v.astype(np.float64)) > 0


def gen_attention(rng):
    dt = [np.float32, np.float32, np.float64, np.float16][int(rng.integers(4))]
    batch = [(), (1,), (2,), (2, 1)][int(rng.integers(4))]
    hk = int(rng.choice([1, 2, 3]))
    gqa = rng.random() < 0.3
    hq = hk * int(rng.choice([1, 2, 4])) if gqa else hk
    L = int(rng.choice([0, 1, 1, 2, 5, 16, 17, 64, 100]))
    S = int(rng.choice([0, 1, 3, 8, 31, 64, 65, 200]))
    E = int(rng.choice([1, 4, 8, 16, 64, 65]))
    Ev = E if rng.random() < 0.7 else int(rng.choice([1, 8, 32]))
    q_vals = rng.standard_normal(batch + (hq, L, E))
    k_vals = rng.standard_normal(batch + (hk, S, E))
    v_vals = rng.standard_normal(batch + (hk, S, Ev)) * float(rng.choice([1.0, 10.0]))
    q_vals, k_vals, v_vals = (a.astype(dt).astype(np.float64) for a in (q_vals, k_vals, v_vals))
    q, kq = make_view(rng, q_vals, dt)
    k, _ = make_view(rng, k_vals, dt)
    v, _ = make_view(rng, v_vals, dt)
    kwargs = {}
    mask_vals = None
    r = rng.random()
    mshape = [(L, S), (hq, L, S), (1, S), (L, 1)][int(rng.integers(4))]
    if r < 0.2:
        mask_vals = rng.random(mshape) < 0.7
        kwargs["attn_mask"] = make_view(rng, mask_vals.astype(np.float64), np.bool_)[0].astype(bool)
    elif r < 0.35:
        mv = rng.standard_normal(mshape)
        mv[rng.random(mshape) < 0.3] = -np.inf
        mask_vals = mv.astype(dt).astype(np.float64)
        kwargs["attn_mask"] = make_view(rng, mask_vals, dt)[0]
    elif r < 0.55:
        kwargs["is_causal"] = True
    if rng.random() < 0.25:
        kwargs["scale"] = float(rng.choice([0.01, 0.5, 2.0]))
    if gqa or rng.random() < 0.1:
        kwargs["enable_gqa"] = True
    if rng.random() < 0.3:
        kwargs["return_lse"] = True
    bad = False
    if rng.random() < 0.08:  # mismatched E or rank
        w = int(rng.integers(3))
        if w == 0:
            k = np.zeros(k.shape[:-1] + (E + 1,), dtype=dt)
        elif w == 1:
            q = np.zeros((3,), dtype=dt)
        else:
            kwargs["dropout_p"] = 0.5
        bad = True
    sq, sk, sv = (np.asarray(a).astype(np.float64) for a in (q, k, v))
    smask = None
    if mask_vals is not None:
        m = np.asarray(kwargs["attn_mask"])
        smask = m.copy() if m.dtype == bool else m.astype(np.float64)
    rkw = {key: kwargs[key] for key in ("is_causal", "scale", "enable_gqa", "return_lse") if key in kwargs}

    def oracle():
        return ref.scaled_dot_product_attention(sq, sk, sv, attn_mask=smask, **rkw)

    def check(res, exp):
        # Scores beyond the dtype's range (a value near 3e38 in q or k) are
        # inf in the dtype but finite in the float64 oracle: no comparison.
        fq, fk = sq[np.isfinite(sq)], sk[np.isfinite(sk)]
        big = np.finfo(dt).max ** 0.5 / 16
        if (fq.size and np.max(np.abs(fq)) > big) or (fk.size and np.max(np.abs(fk)) > big):
            raise Skip("scores outside the dtype's range")
        fv = sv[np.isfinite(sv)]  # values near the dtype's max: sums of p*v may overflow
        if fv.size and np.max(np.abs(fv)) > np.finfo(dt).max / 64:
            raise Skip("values near the dtype's range")
        delta = _score_error_bound(sq, sk, smask, kwargs, dt)
        if kwargs.get("return_lse"):
            o, lse = res
            eo, else_ = exp
            compare(lse, else_, "log", "attention lse", extra=delta)
        else:
            o, eo = res, exp
        # the output is a convex combination of value rows
        fin = np.abs(sv[np.isfinite(sv)])  # masked-out rows of v may hold inf/NaN
        vmax = float(np.max(fin)) if fin.size else 1.0
        with np.errstate(over="ignore"):
            wrel = np.expm1(2 * delta)[..., None]  # relative error of the weights
        und = _undetermined_outputs(sq, sk, sv, smask, kwargs, dt, delta)
        if und is not None:
            und = np.broadcast_to(und, np.shape(eo))
            o, eo = np.where(und, 0, o).astype(np.asarray(o).dtype), np.where(und, 0.0, eo)
        compare(o, eo, "log", f"attention[{kq}]", mag=vmax * 4, extra=wrel * vmax)

    # float16 attention (issue 11) computes in float32 and rounds the output
    # once: compare() takes float16's tolerance from the output's dtype
    return Case((q, k, v), kwargs, oracle, check, expect_error=bad, inputs=(q, k, v),
                note=f"dtype={np.dtype(dt).str} q={q.shape} k={k.shape} v={v.shape} view={kq} "
                     f"{ {key: val for key, val in kwargs.items() if key != 'attn_mask'} } mask={mshape if mask_vals is not None else None}")


# --------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------

def _filtered_support(row, temperature, top_k, top_p, min_p, slack=1e-5):
    """Bool mask of tokens a correct sampler may return for one finite row
    (generous at ties and at the top_p / min_p edges)."""
    p = ref.softmax(row, temperature=temperature)
    ok = p > 0
    if top_k is not None and top_k < row.size:
        kth = np.sort(row)[-top_k]
        ok &= row >= kth
    if top_p is not None:
        # tokens whose strictly-more-probable mass is below top_p
        order = np.argsort(-p, kind="stable")
        ps = p[order]
        before = np.concatenate([[0.0], np.cumsum(ps)[:-1]])
        strictly_before = np.empty_like(before)
        for i in range(ps.size):  # mass of tokens strictly more probable
            strictly_before[i] = ps[ps > ps[i] * (1 + 1e-6)].sum()
        keep = np.zeros(row.size, bool)
        keep[order] = strictly_before < top_p + slack
        ok &= keep
    if min_p is not None:
        ok &= p >= min_p * p.max() * (1 - 1e-4)
    return ok | (p >= p.max() * (1 - 1e-6))  # the argmax is always allowed


def gen_sample(rng):
    rows = int(rng.choice([1, 2, 5]))
    n = int(rng.choice([1, 2, 7, 100, 1000, 5000]))
    dt = [np.float32, np.float64, np.float16][int(rng.integers(3))]
    vals = rng.standard_normal((rows, n)) * float(rng.choice([1.0, 3.0, 10.0]))
    if rng.random() < 0.2:
        vals[rng.random(vals.shape) < 0.3] = -np.inf
        vals[:, 0] = 0.0  # keep every row non-empty
    vals = vals.astype(dt).astype(np.float64)
    axis = -1
    if rng.random() < 0.2:
        vals, axis = vals.T.copy(), 0
    x, kind = make_view(rng, vals, dt)
    kwargs = {"axis": axis, "seed": int(rng.integers(2**31))}
    if rng.random() < 0.4:
        kwargs["temperature"] = float(rng.choice([0.3, 0.7, 1.5]))
    if rng.random() < 0.4:
        kwargs["top_k"] = int(rng.choice([1, 2, 5, 50]))
    if rng.random() < 0.4:
        kwargs["top_p"] = float(rng.choice([0.1, 0.5, 0.9, 1.0]))
    if rng.random() < 0.3:
        kwargs["min_p"] = float(rng.choice([0.0, 0.05, 0.2]))
    bad = False
    if rng.random() < 0.1:
        key = ["temperature", "top_k", "top_p", "min_p"][int(rng.integers(4))]
        kwargs[key] = {"temperature": -1.0, "top_k": 0, "top_p": 1.5, "min_p": -0.1}[key]
        bad = True
    snap = np.asarray(x).astype(np.float64)
    rows_chk = np.moveaxis(snap, axis, -1)
    if rows_chk.size and (np.any(np.isnan(rows_chk) | (rows_chk == np.inf))
                          or np.any(~np.any(np.isfinite(rows_chk), axis=-1))):
        bad = True  # documented: a row with NaN/+inf or no finite entry is a ValueError

    def check(res, _exp):
        idx = np.asarray(res)
        rows_ = np.moveaxis(snap, axis, -1)
        assert idx.shape == rows_.shape[:-1], f"shape {idx.shape}"
        assert idx.dtype.kind in "iu", f"dtype {idx.dtype}"
        for r in range(rows_.shape[0]):
            i = int(idx[r])
            assert 0 <= i < rows_.shape[-1], f"index {i} out of range"
            sup = _filtered_support(rows_[r], kwargs.get("temperature", 1.0), kwargs.get("top_k"),
                                    kwargs.get("top_p"), kwargs.get("min_p"))
            assert sup[i], f"row {r}: sampled token {i} (logit {rows_[r][i]}) is outside the filtered support"
        again = softmax_c.sample(x, **kwargs)
        assert np.array_equal(np.asarray(again), idx), "same seed, different sample"

    return Case((x,), kwargs, lambda: None, check, expect_error=bad, inputs=(x,),
                note=f"shape={x.shape} dtype={np.dtype(dt).str} view={kind} {kwargs}")


def gen_topk_softmax(rng):
    rows = int(rng.choice([1, 3]))
    n = int(rng.choice([1, 2, 8, 100, 3000]))
    dt = [np.float32, np.float64][int(rng.integers(2))]
    vals = (rng.standard_normal((rows, n)) * 3).astype(dt).astype(np.float64)
    x, kind = make_view(rng, vals, dt)
    k = int(rng.integers(1, n + 1))
    kwargs = {}
    if rng.random() < 0.3:
        kwargs["temperature"] = float(rng.choice([0.5, 2.0]))
    bad = False
    if rng.random() < 0.1:
        k = int(rng.choice([0, -1, n + 1]))
        bad = True
    snap = np.asarray(x).astype(np.float64)
    if snap.size and (np.any(np.isnan(snap) | (snap == np.inf)) or np.any(~np.any(np.isfinite(snap), axis=-1))):
        bad = True  # documented: a row with NaN/+inf or no finite entry is a ValueError
    t = kwargs.get("temperature", 1.0)

    def check(res, _exp):
        assert isinstance(res, tuple) and len(res) == 2, f"expected (values, indices), got {type(res)}"
        a0, a1 = (np.asarray(r) for r in res)
        probs, idx = (a0, a1) if a1.dtype.kind in "iu" else (a1, a0)
        assert idx.dtype.kind in "iu" and probs.shape == idx.shape == (rows, k)
        picked = np.take_along_axis(snap, idx.astype(np.int64), axis=-1)
        kth = np.sort(snap, axis=-1)[:, -k][:, None]
        assert np.all(picked >= kth), "indices are not the top k"
        # probabilities normalised over the full row (the spec), not the top k
        full = ref.softmax(snap, axis=-1, temperature=t)
        compare(probs, np.take_along_axis(full, idx.astype(np.int64), axis=-1), "prob", f"topk_softmax[{kind}]")

    return Case((x, k), kwargs, lambda: None, check, expect_error=bad, inputs=(x,),
                note=f"shape={x.shape} dtype={np.dtype(dt).str} view={kind} k={k} {kwargs}")


# --------------------------------------------------------------------------
# serving attention (flash_attn_varlen_func / flash_attn_with_kvcache)
# --------------------------------------------------------------------------

def _ragged_draw(rng):
    """A ragged batch: lengths (empty ones included), heads, a dtype, and
    either packed keys or a paged cache with shuffled blocks."""
    batch = int(rng.integers(0, 6))
    lk = rng.integers(0, 90, batch) * (rng.random(batch) > 0.15)
    lq = np.where(rng.random(batch) < 0.5, np.minimum(rng.integers(0, 5, batch), lk + 1), rng.integers(0, 70, batch))
    h = int(rng.choice([1, 2, 3]))
    hq = h * int(rng.choice([1, 2, 4]))
    e, ev = int(rng.choice([1, 7, 16, 33])), int(rng.choice([1, 8, 20]))
    dt = [np.float32, np.float64][int(rng.integers(2))]
    return batch, lq, lk, h, hq, e, ev, dt


def _paged_cache(rng, lk, h, e, ev, dt, bs):
    """A paged cache holding sequences of lk[b] keys in shuffled blocks, plus
    a spare block; returns kc, vc, block_table (int32), the packed keys/values."""
    nblk = -(-lk // bs)
    nb = int(nblk.sum()) + 1
    kc = rng.standard_normal((nb, bs, h, e)).astype(dt)
    vc = rng.standard_normal((nb, bs, h, ev)).astype(dt)
    bt = np.full((len(lk), int(nblk.max(initial=0)) + 1), nb - 1, np.int32)
    perm = rng.permutation(nb - 1)
    at = 0
    for b, n in enumerate(nblk):
        bt[b, :n] = perm[at:at + n]
        at += n
    return kc, vc, bt


def _gather(kc, bt, b, n):
    return kc[bt[b]].reshape(-1, *kc.shape[2:])[:n]


def _serving_kwargs(rng, hq, batch):
    kw = {}
    if rng.random() < 0.5:
        kw["causal"] = True
    if rng.random() < 0.4:
        kw["window_size"] = (int(rng.integers(-1, 40)), int(rng.integers(-1, 10)))
    if rng.random() < 0.3:
        kw["softcap"] = float(rng.uniform(0.5, 5))
    if rng.random() < 0.3:
        kw["alibi_slopes"] = rng.uniform(0, 0.3, (batch, hq) if rng.random() < 0.5 else hq).astype(np.float32)
    if rng.random() < 0.3:
        kw["sinks"] = (rng.standard_normal(hq) * 3).astype(np.float32)
    return kw


def _serving_oracle(q, cq, keys, vals, kw, batch, ev):
    outs, lses = [], []
    for b in range(batch):
        sl = kw.get("alibi_slopes")
        if sl is not None and sl.ndim == 2:
            sl = sl[b]
        o, l = ref.serving_attention(q[cq[b]:cq[b + 1]], keys[b], vals[b], causal=kw.get("causal", False),
                                     window_size=kw.get("window_size", (-1, -1)), softcap=kw.get("softcap", 0.0),
                                     alibi_slopes=sl, sinks=kw.get("sinks"))
        outs.append(o)
        lses.append(l)
    if not outs:
        return np.zeros((0, q.shape[1], ev)), np.zeros((q.shape[1], 0))
    return np.concatenate(outs), np.concatenate(lses, axis=1)


def _serving_check(dt, what):
    def check(res, exp):
        (o, l), (wo, wl) = res, exp
        tol = REL[np.dtype(dt)] * 10
        assert o.shape == wo.shape, f"{what}: shape {o.shape}, expected {wo.shape}"
        mag = max(1.0, float(np.abs(wo).max(initial=0)))
        np.testing.assert_allclose(o, wo, rtol=tol, atol=tol * mag, err_msg=what)
        assert np.array_equal(np.isinf(l), np.isinf(wl)), f"{what}: lse -inf pattern"
        fin = np.isfinite(wl)
        np.testing.assert_allclose(l[fin], wl[fin], rtol=tol, atol=tol * 10, err_msg=what)
    return check


def gen_flash_attn_varlen_func(rng):
    batch, lq, lk, h, hq, e, ev, dt = _ragged_draw(rng)
    q = rng.standard_normal((int(lq.sum()), hq, e)).astype(dt) * 2
    cq = np.concatenate([[0], np.cumsum(lq)]).astype(np.int64)
    ck = np.concatenate([[0], np.cumsum(lk)]).astype(np.int32)
    kw = _serving_kwargs(rng, hq, batch)
    paged = rng.random() < 0.6
    if paged:
        bs = int(rng.choice([1, 3, 16, 64, 256]))
        kc, vc, bt = _paged_cache(rng, lk, h, e, ev, dt, bs)
        keys = [_gather(kc, bt, b, lk[b]) for b in range(batch)]
        vals = [_gather(vc, bt, b, lk[b]) for b in range(batch)]
        args = (q, kc, vc, cq, ck)
        kw["block_table"] = bt
    else:
        kc = rng.standard_normal((int(lk.sum()), h, e)).astype(dt)
        vc = rng.standard_normal((int(lk.sum()), h, ev)).astype(dt)
        keys = [kc[ck[b]:ck[b + 1]] for b in range(batch)]
        vals = [vc[ck[b]:ck[b + 1]] for b in range(batch)]
        args = (q, kc, vc, cq, ck)
    bad = rng.random() < 0.35 and batch > 0  # the bad inputs of issue 12
    if bad:
        kind = int(rng.integers(6 if paged else 4))
        cq2, ck2 = cq.copy(), ck.copy()
        if kind == 0:
            cq2[0] = 1  # does not start at 0
        elif kind == 1:  # total_k mismatch (packed) / lengths beyond the blocks (paged)
            ck2[-1 if not paged else slice(1, None)] += 1 if not paged else 10 ** 6
        elif kind == 2:
            cq2[1] = -1  # decreases
        elif kind == 3:
            cq2 = cq2.astype(np.float64)  # wrong index dtype
        else:  # a block id out of range (4) or negative (5) in a block the sequence uses
            if lk.max(initial=0) == 0:
                ck2[1:] += 1  # sequence 0 gets a key
            b = int(np.argmax(np.diff(ck2) > 0))
            bt2 = bt.copy()
            bt2[b, 0] = kc.shape[0] + int(rng.integers(0, 3)) if kind == 4 else -1 - int(rng.integers(0, 3))
            kw["block_table"] = bt2
        args = (q, kc, vc, cq2, ck2)
    kw["return_lse"] = True
    oracle = (lambda: None) if bad else (lambda: _serving_oracle(q, cq, keys, vals, kw, batch, ev))
    inputs = (q, kc, vc) + tuple(a for a in (kw.get("block_table"),) if a is not None)
    return Case(args, kw, oracle, _serving_check(dt, "flash_attn_varlen_func"), expect_error=bad, inputs=inputs,
                note=f"batch={batch} lq={lq.tolist()} lk={lk.tolist()} hq={hq} h={h} e={e} ev={ev} paged={paged}")


def gen_flash_attn_with_kvcache(rng):
    batch, _, lk, h, hq, e, ev, dt = _ragged_draw(rng)
    lnew = int(rng.integers(0, 4))
    lq = int(rng.integers(1, 5))
    bs = int(rng.choice([1, 2, 16, 64]))
    kc, vc, bt = _paged_cache(rng, lk + lnew, h, e, ev, dt, bs)
    q = rng.standard_normal((batch, lq, hq, e)).astype(dt)
    kn = rng.standard_normal((batch, lnew, h, e)).astype(dt)
    vn = rng.standard_normal((batch, lnew, h, ev)).astype(dt)
    kw = _serving_kwargs(rng, hq, batch)
    sl = lk.astype(np.int32)
    bad = False
    if rng.random() < 0.35 and batch > 0 and lnew > 0:
        bad = True
        kind = int(rng.integers(4))
        if kind == 0:  # an append that overflows the sequence's blocks
            sl = sl.copy()
            sl[int(rng.integers(batch))] = bt.shape[1] * bs
        elif kind == 1 and batch > 1:  # two sequences append to one slot
            bt = bt.copy()
            bt[1] = bt[0]
            sl = sl.copy()
            sl[1] = sl[0]
        elif kind == 1:
            sl = sl.copy()
            sl[0] = bt.shape[1] * bs  # overflow
        elif kind == 2:
            bt = bt.copy()
            bt[int(rng.integers(batch)), 0] = kc.shape[0] + 2  # block out of range
        else:
            sl = sl.copy()
            sl[int(rng.integers(batch))] = -1
    kw["return_lse"] = True
    kw.update(k=kn, v=vn, cache_seqlens=sl, block_table=bt)

    def oracle():
        kk, vv = kc.copy(), vc.copy()
        for b in range(batch):
            for i in range(lnew):
                p = int(sl[b]) + i
                kk[bt[b, p // bs], p % bs] = kn[b, i]
                vv[bt[b, p // bs], p % bs] = vn[b, i]
        n = sl.astype(np.int64) + lnew
        keys = [_gather(kk, bt, b, n[b]) for b in range(batch)]
        vals = [_gather(vv, bt, b, n[b]) for b in range(batch)]
        cq = np.arange(batch + 1) * lq
        o, l = _serving_oracle(q.reshape(-1, hq, e), cq, keys, vals, kw, batch, ev)
        return o.reshape(batch, lq, hq, ev), l.reshape(hq, batch, lq).transpose(1, 0, 2)

    # the caches are written in place: on a bad call they must stay as they were
    inputs = (q, kn, vn) + ((kc, vc) if bad else ())
    return Case((q, kc, vc), kw, oracle if not bad else (lambda: None), _serving_check(dt, "flash_attn_with_kvcache"),
                expect_error=bad, inputs=inputs,
                note=f"batch={batch} lk={lk.tolist()} lnew={lnew} lq={lq} hq={hq} h={h} bs={bs} bad={bad}")


# name -> generator; entries whose function is missing are skipped
ENTRIES = {
    "softmax": gen_softmax,
    "log_softmax": gen_log_softmax,
    "logsumexp": gen_logsumexp,
    "scaled_dot_product_attention": gen_attention,
    "sample": gen_sample,
    "topk_softmax": gen_topk_softmax,
    "flash_attn_varlen_func": gen_flash_attn_varlen_func,
    "flash_attn_with_kvcache": gen_flash_attn_with_kvcache,
}


def present_entries():
    return [name for name in ENTRIES if getattr(softmax_c, name, None) is not None]


# --------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------

def _same(a_before, a_after):
    return a_before.tobytes() == a_after.tobytes()


def run_case(name, seed):
    """Run one case; returns 'ok', 'error' (clean exception) or 'skip'."""
    rng = np.random.default_rng(seed)
    case = ENTRIES[name](rng)
    fn = getattr(softmax_c, name)
    before = [np.array(a, copy=True) for a in case.inputs]
    ctx = f"{name} seed={seed} ({case.note})"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                res = fn(*case.args, **case.kwargs)
            except CLEAN as e:
                res, err = None, e
            except Exception as e:  # noqa: BLE001
                raise AssertionError(f"{ctx}: unclean exception {type(e).__name__}: {e}") from e
            else:
                err = None
            for a, b in zip(before, case.inputs):
                assert _same(a, np.asarray(b)), f"{ctx}: an input was modified"
            if case.expect_error:
                if err is None:
                    raise AssertionError(f"{ctx}: bad arguments {case.kwargs} were accepted")
                return "error"
            try:
                exp = case.oracle()
                oracle_err = None
            except CLEAN as e:
                exp, oracle_err = None, e
            if oracle_err is not None:
                if err is None:
                    raise AssertionError(f"{ctx}: the oracle raises {oracle_err!r} but the call returned")
                return "error"
            if err is not None:
                raise AssertionError(f"{ctx}: raised {type(err).__name__}: {err} on valid input") from err
            try:
                case.check(res, exp)
            except Skip:
                return "skip"
            except AssertionError as e:
                raise AssertionError(f"{ctx}: {e}") from None
    return "ok"


def fuzz(name, seconds, max_cases=None):
    idx = list(ENTRIES).index(name)
    stats = {"ok": 0, "error": 0, "skip": 0}
    t_end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < t_end and (max_cases is None or i < max_cases):
        seed = BASE_SEED * 1000003 + idx * 100000007 + i
        stats[run_case(name, seed)] += 1
        i += 1
    return stats


@pytest.mark.parametrize("name", list(ENTRIES))
def test_fuzz(name):
    if getattr(softmax_c, name, None) is None:
        pytest.skip(f"softmax_c.{name} does not exist in this build")
    if FUZZ_TOTAL > 0:  # the long mode: a time budget
        stats = fuzz(name, FUZZ_TOTAL / len(present_entries()))
    else:  # CI: a fixed, reproducible set of cases (the time is only a safety cap)
        stats = fuzz(name, 10 * SHORT_SECONDS, max_cases=SHORT_CASES)
    print(f"fuzz {name}: {sum(stats.values())} cases {stats}")
    assert stats["ok"] > 0


@pytest.mark.parametrize("name", list(ENTRIES))
def test_fuzz_threads(name):
    """The same cases with the pool at 1 and at several threads: bitwise the
    same (work is cut by data, not by thread count)."""
    if getattr(softmax_c, name, None) is None:
        pytest.skip(f"softmax_c.{name} does not exist in this build")
    n0 = softmax_c.get_num_threads()
    idx = list(ENTRIES).index(name)
    try:
        for i in range(40):
            seed = BASE_SEED * 7 + idx * 1000 + i
            case = ENTRIES[name](np.random.default_rng(seed))
            if case.expect_error or "out" in case.kwargs:
                continue
            outs = []
            for t in (1, 3):
                softmax_c.set_num_threads(t)
                with np.errstate(all="ignore"):
                    try:
                        outs.append(getattr(softmax_c, name)(*case.args, **case.kwargs))
                    except CLEAN:
                        outs.append(None)
            a, b = outs
            if a is None or b is None:
                assert a is None and b is None, f"seed {seed}: fails with one thread count only"
                continue
            fa = [np.asarray(r) for r in (a if isinstance(a, tuple) else (a,))]
            fb = [np.asarray(r) for r in (b if isinstance(b, tuple) else (b,))]
            for u, w in zip(fa, fb):
                assert u.tobytes() == w.tobytes(), f"{name} seed {seed}: results depend on the thread count"
    finally:
        softmax_c.set_num_threads(n0)


if __name__ == "__main__":  # replay: python tests/test_fuzz.py ENTRY SEED
    print(run_case(sys.argv[1], int(sys.argv[2])))
