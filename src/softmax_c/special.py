"""The scipy.special-compatible functions: :func:`softmax`,
:func:`log_softmax`, :func:`logsumexp`, :func:`expit`, :func:`log_expit`.

Every argument is checked by the shared rules (``_rules.py``) before any
output is written; the kernels are reached through the thin ``_core``
binding.
"""
from __future__ import annotations

import numpy as np

from . import _core
from . import _rules as R


__all__ = ["softmax", "log_softmax", "logsumexp", "expit", "log_expit"]


# ----------------------------------------------------------------- softmax --

def _softmax_family(x, axis, temperature, out, log_mode):
    name = "log_softmax" if log_mode else "softmax"
    x = R.as_array(x, "x")
    kdt, rdt = R.compute_dtypes(x.dtype, "x")
    t = R.positive_finite(temperature, "temperature")  # always: True == 1.0 must still be a TypeError
    axes = R.axes(axis, x.ndim)
    if out is not None:
        R.check_out(out, x.shape, rdt)
    for d in axes:
        if x.shape[d] == 0:
            raise ValueError(f"{name}: x has a zero-size reduced axis {d} (scipy raises here too)")
    if x.ndim == 0:
        r = _softmax_family(x.reshape(1), 0, t, None, log_mode).reshape(())
        if out is not None:
            out[()] = r
            return out
        return r

    xin = x if x.dtype == kdt else x.astype(kdt)
    direct = out is not None and out.dtype == kdt
    if direct and R.overlaps(out, xin):
        xin = xin.copy()
    if len(axes) == 1:
        y = out if direct else _core.output_empty(None, kdt, like=xin)
        R.call_kernel(_core.softmax_into, xin, y, axes[0], t, log_mode, writes=(1,))
    else:
        x2, perm = R.moved(xin, axes)
        y2 = _core.output_empty(x2.shape, kdt)
        R.call_kernel(_core.softmax_into, x2, y2, x2.ndim - 1, t, log_mode, writes=(1,))
        y = np.transpose(y2.reshape([xin.shape[d] for d in perm]), np.argsort(perm))
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
        float64; float16 and bfloat16 (``ml_dtypes``) are widened in
        registers, computed in float32 and each result rounded once to the
        input's dtype (within 1 ULP of the exact result); bool, integer and
        list input as float64.  Complex input raises TypeError.
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
    # the common call (layout, float temperature) goes straight to the kernel
    y = _core.softmax_fast(x, axis, temperature, False, out)  # None: not the common call
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
    # the common call (layout, float temperature) goes straight to the kernel
    y = _core.softmax_fast(x, axis, temperature, True, out)  # None: not the common call
    if y is not None:
        return y
    return _softmax_family(x, axis, temperature, out, True)


# --------------------------------------------------------------- logsumexp --

def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, *, out=None):
    """``log(sum(b * exp(a)))`` along `axis`, numerically stable.

    Drop-in for :func:`scipy.special.logsumexp` (same signature and
    semantics): `b` broadcasts against `a`; a zero weight removes its element
    even where `a` is inf or NaN; with ``return_sign`` the result is
    ``(log|s|, sign(s))``, without it a negative sum gives NaN.  ``out`` is a
    keyword-only extra (scipy has none).

    Parameters
    ----------
    a : array_like
        Input (dtype rules as :func:`softmax`, except that float16 and
        bfloat16 give a float32 result; `a` and `b` are promoted together).
    axis : int, tuple of ints or None, optional
        Axes to reduce; None means all.
    b : array_like, optional
        Weights, broadcastable with `a`.
    keepdims : bool, optional
        Keep the reduced axes with length 1.
    return_sign : bool, optional
        Also return the sign of the sum.
    out : ndarray, or tuple of two ndarrays with ``return_sign``, optional
        Where to write the result: the result's shape (with `keepdims`
        applied; ``()`` for a reduction over every axis), the result dtype,
        writeable, any strides.  With ``return_sign`` a pair
        ``(res, sgn)`` of such arrays.  Checked before anything is written;
        returned in place of the new arrays (a 0-d `out` stays an array, as
        NumPy's ufuncs return it).

    Returns
    -------
    res : ndarray or scalar
        The log-sum-exp; -inf for an empty or all -inf reduction.
    sgn : ndarray or scalar
        Only with ``return_sign``: +1, -1, or 0 for a zero sum.

    Raises
    ------
    ValueError
        `b` does not broadcast against `a`, a bad axis, `out` of the wrong
        shape or read-only.
    TypeError
        Complex or non-numeric input, `out` of the wrong type or dtype.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> float(softmax_c.logsumexp(np.array([0.0, 0.0])))  # log 2
    0.6931471805599453
    """
    if b is None and not return_sign and out is None and type(keepdims) is bool:
        res = _core.logsumexp_fast(a, axis, keepdims)  # None: not the common layout
        if res is not None:
            return res
    a, b, kdt, rdt = R.with_weights(a, b, "a")
    rdt = R.lse_dtype(rdt)  # float16 / bfloat16 input: float32 result
    if a.ndim == 0:
        a = a.reshape(1)
        b = None if b is None else b.reshape(1)
    axes = R.axes(axis, a.ndim)
    kshape = tuple(1 if d in axes else s for d, s in enumerate(a.shape))
    rshape = kshape if keepdims else tuple(s for d, s in enumerate(kshape) if d not in axes)
    if out is not None and return_sign:
        outs = R.check_outs(out, ((rshape, rdt), (rshape, rdt)))
    elif out is not None:
        R.check_out(out, rshape, rdt)
        outs = (out,)

    if a.size == 0:  # scipy: -inf everywhere, sign(-inf)
        res = np.full(kshape, -np.inf, dtype=rdt)
        sgn = np.sign(res)
    else:
        ain = a if a.dtype == kdt else a.astype(kdt)
        bin_ = None if b is None else (b if b.dtype == kdt else b.astype(kdt))
        if len(axes) > 1:
            ain, perm = R.moved(ain, axes)
            bin_ = None if bin_ is None else R.moved(bin_, axes)[0]
            ax = ain.ndim - 1
            oshape = ain.shape[:-1] + (1,)
        else:
            ax, perm = axes[0], None
            oshape = kshape
        odt = R.lse_dtype(kdt)  # float32 for the halves
        res = _core.output_empty(oshape, odt)
        sgn = _core.output_empty(oshape, odt) if return_sign else None
        R.call_kernel(_core.logsumexp_into, ain, bin_, res, sgn, ax, writes=(2, 3))
        if perm is not None:  # back to a's axis order, reduced axes of length 1
            res = res.reshape(kshape)
            sgn = None if sgn is None else sgn.reshape(kshape)
        if res.dtype != rdt:
            res = res.astype(rdt)
            sgn = None if sgn is None else sgn.astype(rdt)
    res = res.reshape(rshape)
    sgn = None if sgn is None else sgn.reshape(rshape)
    if out is not None:
        outs[0][...] = res
        if return_sign:
            outs[1][...] = sgn
            return outs
        return outs[0]
    if res.ndim == 0:
        res = res[()]
        sgn = None if sgn is None else sgn[()]
    return (res, sgn) if return_sign else res


# ------------------------------------------------------------------- expit --

def _expit_family(x, out, log_mode):
    x = R.as_array(x, "x")
    kdt, rdt = R.compute_dtypes(x.dtype, "x")
    if out is not None:
        R.check_out(out, x.shape, rdt)
    xin = x if x.dtype == kdt else x.astype(kdt)
    if out is not None and R.overlaps(out, xin):
        xin = xin.copy()
    y = out if out is not None else _core.output_empty(None, kdt, like=xin)
    R.call_kernel(_core.expit_into, xin, y, log_mode, writes=(1,))
    if out is None and y.ndim == 0:
        return y[()]  # as scipy's ufunc: a 0-d input gives a NumPy scalar
    return y


def expit(x, *, out=None):
    """The logistic sigmoid ``1 / (1 + exp(-x))``, elementwise.

    Drop-in for :func:`scipy.special.expit` (same values and edge cases:
    ``expit(-inf) = 0``, ``expit(inf) = 1``, NaN gives NaN); ``out`` is
    keyword-only.  Computed as ``e / (1 + e)`` or ``1 / (1 + e)`` with
    ``e = exp(-|x|)``, so nothing overflows and very negative x keep their
    relative accuracy (down to the subnormals, where scipy's float32 loop
    returns 0).

    Parameters
    ----------
    x : array_like
        Input, any shape and strides.  float32 and float64 are computed in
        their own dtype; float16 and bfloat16 (``ml_dtypes``) are widened in
        registers, computed in float32 and each result rounded once (scipy
        returns float32 for float16); bool, integer and list input as
        float64.  Complex input raises TypeError.
    out : ndarray, optional
        Where to write the result (x's shape, the result dtype, writeable;
        any strides; may be `x` itself).  Returned.

    Returns
    -------
    ndarray or scalar
        Values in [0, 1]; a NumPy scalar for 0-d input.

    Raises
    ------
    ValueError
        `out` of the wrong shape or read-only.
    TypeError
        Complex or non-numeric input, `out` of the wrong type or dtype.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> softmax_c.expit(np.array([-1.0, 0.0, 1.0]))
    array([0.26894142, 0.5       , 0.73105858])
    """
    return _expit_family(x, out, False)


def log_expit(x, *, out=None):
    """The log of the logistic sigmoid, ``-log1p(exp(-x))``, elementwise.

    Drop-in for :func:`scipy.special.log_expit`: exact for large ``|x|``
    (``log_expit(x) = x - log1p(exp(x))`` for x < 0 and ``-log1p(exp(-x))``
    for x >= 0, so ``log_expit(-100) = -100`` and ``log_expit(40) =
    -4.248e-18``), ``log_expit(-inf) = -inf``, ``log_expit(inf) = -0.0``, NaN
    gives NaN.  Parameters, dtypes and errors as :func:`expit`.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> softmax_c.log_expit(np.array([-100.0, 0.0, 40.0]))
    array([-1.00000000e+02, -6.93147181e-01, -4.24835426e-18])
    """
    return _expit_family(x, out, True)
