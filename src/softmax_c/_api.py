"""The Python front of the softmax family: argument rules, dtype policy,
``out=``, axes; the kernels are reached through the thin ``_core`` binding.

Every argument is validated here, before any output is written.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import _core

try:  # NumPy >= 2
    from numpy.lib.array_utils import normalize_axis_tuple
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.numeric import normalize_axis_tuple

__all__ = ["softmax", "log_softmax", "logsumexp"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_F16 = np.dtype(np.float16)


# ----------------------------------------------------------------- helpers --

def _compute_dtypes(dtype, name):
    """(kernel dtype, result dtype) for an input dtype, or TypeError.  Both
    are native byte order (a '>f4' input computes and returns float32)."""
    if not dtype.isnative:
        dtype = dtype.newbyteorder("=")
    if dtype == _F32 or dtype == _F64:
        return dtype, dtype
    if dtype == _F16:
        return _F32, _F16
    kind = dtype.kind
    if kind in "biu":
        return _F64, _F64
    if kind == "f":  # longdouble: computed and returned in float64
        return _F64, _F64
    if kind == "c":
        raise TypeError(f"{name}: complex input is not supported (got {dtype})")
    raise TypeError(f"{name}: expected a real numeric array, got dtype {dtype}")


def _as_array(x, name):
    if type(x) is not np.ndarray:
        try:
            x = np.asarray(x)
        except Exception as e:  # ragged lists and the like
            raise TypeError(f"{name}: cannot be converted to an array ({e})") from None
    return x


def _temperature(t):
    if isinstance(t, bool) or not isinstance(t, numbers.Real):
        raise TypeError(f"temperature must be a real number, got {type(t).__name__}")
    t = float(t)
    if not (math.isfinite(t) and t > 0.0):
        raise ValueError(f"temperature must be finite and > 0, got {t}")
    return t


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, bool):
        raise TypeError("axis must be an int, a tuple of ints or None, got bool")
    return tuple(sorted(normalize_axis_tuple(axis, ndim, "axis")))


def _check_out(out, shape, dtype):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def _overlaps(a, b):
    """True when a and b share memory but are not the very same view (an
    in-place call with identical layout is fine for the kernels)."""
    if not np.may_share_memory(a, b):
        return False
    same = (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides and a.shape == b.shape)
    return not same and np.shares_memory(a, b)


def _moved(x, axes):
    """x with `axes` moved to the end and merged into one (a view when the
    layout allows, else a copy), and the permutation used."""
    other = [d for d in range(x.ndim) if d not in axes]
    perm = other + list(axes)
    xt = np.transpose(x, perm)
    n = 1
    for d in axes:
        n *= x.shape[d]
    return xt.reshape(xt.shape[: len(other)] + (n,)), perm


# ----------------------------------------------------------------- softmax --

def _softmax_family(x, axis, temperature, out, log_mode):
    name = "log_softmax" if log_mode else "softmax"
    x = _as_array(x, "x")
    kdt, rdt = _compute_dtypes(x.dtype, "x")
    t = _temperature(temperature)  # always: True == 1.0 must still be a TypeError
    axes = _axes(axis, x.ndim)
    if out is not None:
        _check_out(out, x.shape, rdt)
    for d in axes:
        if x.shape[d] == 0:
            raise ValueError(f"{name}: zero-size array along reduced axis {d} (scipy raises here too)")
    if x.ndim == 0:
        r = _softmax_family(x.reshape(1), 0, t, None, log_mode).reshape(())
        if out is not None:
            out[()] = r
            return out
        return r

    xin = x if x.dtype == kdt else x.astype(kdt)
    direct = out is not None and out.dtype == kdt
    if direct and _overlaps(out, xin):
        xin = xin.copy()
    if len(axes) == 1:
        y = out if direct else np.empty_like(xin)
        if not _core.softmax_into(xin, y, axes[0], t, log_mode):
            xc = np.require(xin, requirements="CA")
            if y is out:
                yc = np.empty_like(xc)
                _core.softmax_into(xc, yc, axes[0], t, log_mode)
                out[...] = yc
            else:
                y = np.empty_like(xc)
                _core.softmax_into(xc, y, axes[0], t, log_mode)
    else:
        x2, perm = _moved(xin, axes)
        y2 = np.empty(x2.shape, dtype=kdt)
        if not _core.softmax_into(x2, y2, x2.ndim - 1, t, log_mode):
            x2 = np.require(x2, requirements="CA")
            _core.softmax_into(x2, y2, x2.ndim - 1, t, log_mode)
        yt = y2.reshape([xin.shape[d] for d in perm])
        y = np.transpose(yt, np.argsort(perm))
        if direct:
            out[...] = y
            y = out
        else:
            y = np.ascontiguousarray(y)
    if out is None:
        if y.dtype == rdt:
            return y
        with np.errstate(over="ignore"):  # float16 results: overflow to inf is the answer
            return y.astype(rdt)
    if y is not out:
        out[...] = y
    return out


def softmax(x, axis=None, *, temperature=1.0, out=None):
    """Softmax: ``exp(x / T) / sum(exp(x / T))`` along `axis`, numerically stable.

    Drop-in for :func:`scipy.special.softmax` (same signature, semantics and
    edge cases); ``temperature`` and ``out`` are keyword-only extras.

    Parameters
    ----------
    x : array_like
        Input.  float32 is computed and returned in float32, float64 in
        float64, float16 computed in float32 and returned as float16; bool,
        integer and list input as float64.  Complex input raises TypeError.
    axis : int, tuple of ints or None, optional
        Axis or axes to normalise over; None (the default, as in scipy) means
        the whole array.
    temperature : float, optional
        T > 0, finite: the inputs are divided by T (fused into the kernel).
    out : ndarray, optional
        Where to write the result (x's shape, the result dtype, writeable; any
        strides; may be `x` itself).  Returned.

    Returns
    -------
    ndarray
        Probabilities summing to 1 along `axis`.  A row containing +inf, or
        all -inf, or NaN, gives NaN (as scipy).

    Raises
    ------
    ValueError
        Empty reduced axis, bad temperature, bad `out` shape or read-only out.
    TypeError
        Complex or non-numeric input, `out` of the wrong dtype.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> softmax_c.softmax(np.array([1.0, 2.0, 3.0]))
    array([0.09003057, 0.24472847, 0.66524096])
    """
    if out is None:
        y = _core.softmax_fast(x, axis, temperature, False)
        if y is not None:
            return y
    return _softmax_family(x, axis, temperature, out, False)


def log_softmax(x, axis=None, *, temperature=1.0, out=None):
    """Logarithm of the softmax, ``x/T - logsumexp(x/T)``, computed without
    forming the softmax (no underflow to -inf for very negative entries).

    Drop-in for :func:`scipy.special.log_softmax`; parameters, dtypes and
    errors as :func:`softmax`.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> softmax_c.log_softmax(np.array([0.0, 1000.0]))
    array([-1000.,     0.])
    """
    if out is None:
        y = _core.softmax_fast(x, axis, temperature, True)
        if y is not None:
            return y
    return _softmax_family(x, axis, temperature, out, True)


# --------------------------------------------------------------- logsumexp --

def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``log(sum(b * exp(a)))`` along `axis`, numerically stable.

    Drop-in for :func:`scipy.special.logsumexp` (same signature and
    semantics): `b` broadcasts against `a`; a zero weight removes its element
    even where `a` is inf or NaN; with ``return_sign`` the result is
    ``(log|s|, sign(s))``, without it a negative sum gives NaN.

    Parameters
    ----------
    a : array_like
        Input (dtype rules as :func:`softmax`; `a` and `b` are promoted
        together).
    axis : int, tuple of ints or None, optional
        Axes to reduce; None means all.
    b : array_like, optional
        Weights, broadcastable with `a`.
    keepdims : bool, optional
        Keep the reduced axes with length 1.
    return_sign : bool, optional
        Also return the sign of the sum.

    Returns
    -------
    res : ndarray or scalar
        The log-sum-exp; -inf for an empty or all -inf reduction.
    sgn : ndarray or scalar
        Only with ``return_sign``: +1, -1, or 0 for a zero sum.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> float(softmax_c.logsumexp(np.array([0.0, 0.0])))  # log 2
    0.6931471805599453
    """
    a = _as_array(a, "a")
    if b is not None:
        b_obj = b
        b = _as_array(b, "b")
        _compute_dtypes(b.dtype, "b")
        _compute_dtypes(a.dtype, "a")
        # NEP 50: a Python scalar weight does not widen a's dtype (as scipy).
        weak = isinstance(b_obj, (int, float)) and not isinstance(b_obj, bool)
        dt = np.result_type(a.dtype, b_obj) if weak else np.result_type(a.dtype, b.dtype)
        if dt.kind != "f":
            dt = np.result_type(dt, np.float64) if dt.kind in "biu" else dt
        try:
            a, b = np.broadcast_arrays(a, b)
        except ValueError:
            raise ValueError(f"b with shape {b.shape} does not broadcast against a with shape {a.shape}") from None
        kdt, rdt = _compute_dtypes(dt, "a")
    else:
        kdt, rdt = _compute_dtypes(a.dtype, "a")
    if a.ndim == 0:
        a = a.reshape(1)
        b = None if b is None else b.reshape(1)
    axes = _axes(axis, a.ndim)
    kshape = tuple(1 if d in axes else s for d, s in enumerate(a.shape))

    if a.size == 0:  # scipy: -inf everywhere, sign(-inf)
        res = np.full(kshape, -np.inf, dtype=rdt)
        sgn = np.sign(res)
    else:
        ain = a if a.dtype == kdt else a.astype(kdt)
        bin_ = None if b is None else (b if b.dtype == kdt else b.astype(kdt))
        if len(axes) > 1:
            ain, perm = _moved(ain, axes)
            bin_ = None if bin_ is None else _moved(bin_, axes)[0]
            ax = ain.ndim - 1
            oshape = ain.shape[:-1] + (1,)
        else:
            ax, perm = axes[0], None
            oshape = kshape
        res = np.empty(oshape, dtype=kdt)
        sgn = np.empty(oshape, dtype=kdt) if return_sign else None
        if not _core.logsumexp_into(ain, bin_, res, sgn, ax):
            ain = np.require(ain, requirements="CA")
            bin_ = None if bin_ is None else np.require(bin_, requirements="CA")
            _core.logsumexp_into(ain, bin_, res, sgn, ax)
        if perm is not None:  # back to a's axis order, reduced axes of length 1
            res = res.reshape(kshape)
            sgn = None if sgn is None else sgn.reshape(kshape)
        if res.dtype != rdt:
            res = res.astype(rdt)
            sgn = None if sgn is None else sgn.astype(rdt)
    if not keepdims:
        res = res.reshape(tuple(s for d, s in enumerate(kshape) if d not in axes))
        sgn = None if sgn is None else sgn.reshape(res.shape)
    if res.ndim == 0:
        res = res[()]
        sgn = None if sgn is None else sgn[()]
    return (res, sgn) if return_sign else res
