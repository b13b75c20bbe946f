"""Mergeable partial states of a log-sum-exp: :func:`softmax_stats` and
:func:`merge_stats`.

A state ``(m, s)`` stands for the number ``m + log(s)``, i.e. for the sum
``s * exp(m)``; ``m`` is a shift (the largest logit is a good one, any finite
value is legal) and ``s`` the sum of ``b * exp(x / T - m)`` relative to it.
States of disjoint parts of a reduction merge associatively::

    M = max(m_i over states with s_i != 0),   S = sum_i s_i * exp(m_i - M)

so chunks of a long row, Dask blocks or key shards of attention can be
reduced in any grouping (a tree) and the result is the log-sum-exp of the
whole.  ``s`` may be negative (signed weights ``b``) or 0 (nothing there, or
weights that cancel).

These are the NumPy functions; :mod:`softmax_c.dask` builds its reductions on
them.  The states are computed by the compiled stats kernel
(``sc_softmax_stats``), one read of `x`, float16/bfloat16 widened in
registers.
"""
from __future__ import annotations

import numbers

import numpy as np

# the argument rules of the softmax family (moving to _rules.py in the layout refactor)
from . import _rules

__all__ = ["softmax_stats", "merge_stats"]


def softmax_stats(x, axis=-1, *, temperature=1.0, b=None):
    r"""The partial state ``(m, s)`` of ``logsumexp(x / temperature, b=b)``
    along `axis`: ``m + log(s)`` is that log-sum-exp.

    .. math:: s \, e^{m} = \sum_j b_j \, e^{x_j / T}

    One read of `x` by the compiled kernel (``sc_softmax_stats``): ``m`` is
    the max of ``x / T`` (over the entries of non-zero weight), ``s`` the sum
    of ``b * exp(x / T - m)``, on every target, for float16, bfloat16,
    float32 and float64 input, any axis and layout.

    Parameters
    ----------
    x : array_like
        Logits (dtype rules as :func:`softmax_c.logsumexp`).
    axis : int, tuple of ints or None, optional
        The reduced axes (default the last; None means all).
    temperature : float, optional
        T > 0, finite: the state is that of ``x / T``, the same scaling as
        ``softmax(x, temperature=T) == softmax(x / T)``.
    b : array_like, optional
        Weights broadcastable against `x`, signs allowed (as
        :func:`scipy.special.logsumexp`'s `b`).  With a temperature the
        weighted state is that of the rounded ``x / T``.

    Returns
    -------
    m, s : ndarray
        Float arrays of `x`'s shape with the reduced axes kept as length 1;
        float32 for float16/bfloat16/float32 input, float64 otherwise.
        Contract (what every producer of a state guarantees, and all a
        consumer may assume):

        * ``m`` is a shift, not necessarily the maximum; ``s * exp(m)`` is
          the weighted sum, ``m + log(s)`` the log-sum-exp (NaN when
          ``s < 0``; with signs, ``m + log|s|`` and ``sign(s)``).
        * Nothing to sum (an empty axis, all ``-inf``, zero weights or
          weights that cancel): ``s == 0`` (``m`` is then ``-inf``, or any
          value when the weights cancel).
        * A ``+inf`` logit with non-zero weight: ``m == +inf`` and ``s`` the
          sign of its weight (``+inf`` entries of both signs: NaN).
        * A NaN (with non-zero weight): ``m`` and ``s`` NaN.

        This function returns ``m`` = the max (rounded once, so it is the
        max of the rounded ``x / T``) and ``s`` the sum relative to it; the
        precision of ``m + log(s)`` is then that of ``s`` (~1e-7 relative in
        float32): a log-sum-exp near 0 (``[0, -40]``: 4.2e-18) is not kept to
        its relative precision, as :func:`softmax_c.logsumexp` keeps it
        (scipy >= 1.15); :func:`softmax_c.dask.logsumexp` uses logsumexp's
        ``(lse, sign)`` states for that reason.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> m, s = softmax_c.softmax_stats(np.array([[0.0, 0.0]]))
    >>> float(m[0, 0]), float(s[0, 0])
    (0.0, 2.0)
    """
    from . import _core

    t = _rules.positive_finite(temperature, "temperature")
    x, b, kdt, _ = _rules.with_weights(x, b, "x")
    odt = _rules.lse_dtype(kdt)
    scalar = x.ndim == 0
    if scalar:
        x = x.reshape(1)
        b = None if b is None else b.reshape(1)
    axes = _rules.axes(axis, x.ndim)
    kshape = tuple(1 if d in axes else n for d, n in enumerate(x.shape))
    if x.size == 0:  # the state of nothing
        m, s = np.full(kshape, -np.inf, odt), np.zeros(kshape, odt)
    else:
        xin = x if x.dtype == kdt else x.astype(kdt)
        bin_ = None if b is None else (b if b.dtype == kdt else b.astype(kdt))
        if bin_ is not None and t != 1.0:  # the kernel's weighted sum has no temperature
            xin = np.divide(xin, t, dtype=odt).astype(kdt, copy=False)
            t = 1.0
        if len(axes) > 1:
            xin = _rules.moved(xin, axes)[0]
            bin_ = None if bin_ is None else _rules.moved(bin_, axes)[0]
            ax, oshape = xin.ndim - 1, xin.shape[:-1] + (1,)
        else:
            ax, oshape = axes[0], kshape
        m = np.empty(oshape, odt)
        s = np.empty(oshape, odt)
        _rules.call_kernel(_core.softmax_stats_into, xin, bin_, m, s, ax, t, writes=(2, 3))
        m, s = m.reshape(kshape), s.reshape(kshape)
    if scalar:
        m, s = m.reshape(()), s.reshape(())
    return m, s


def _lse_stats(x, axis=-1, *, temperature=1.0, b=None):
    """The ``(lse, sign)`` state by the logsumexp kernel: ``m`` the chunk's
    log-sum-exp, ``|s|`` 1 or 0.  Obeys :func:`softmax_stats`' contract and
    keeps logsumexp's precision near 0 (scipy >= 1.15's exclusion of the
    max term), which ``(max, sum)`` cannot carry: the state of
    :func:`softmax_c.dask.logsumexp`'s chunks (the same speed: both are the
    kernel's one read, 19.3 ms logsumexp vs 19.8 ms softmax_stats per (4096,
    8000) float32 chunk, one thread, medians of 9 interleaved, load 9)."""
    from . import logsumexp  # the package's kernel front, wherever it is defined

    t = _rules.positive_finite(temperature, "temperature")
    x = np.asarray(x)
    if x.dtype == np.float16:  # states in float32: no float16 rounding of the lse
        x = x.astype(np.float32)
    if t != 1.0:
        # x / T, not x * (1 / T): the rounding of softmax(x, temperature=T)
        x = np.divide(x, t, dtype=np.float64 if x.dtype.kind in "biu" else None)
    m, s = logsumexp(x, axis=axis, b=b, keepdims=True, return_sign=True)
    m = np.asarray(m)
    s = np.asarray(s)
    if x.ndim == 0:
        m, s = m.reshape(()), s.reshape(())
    # an empty reduction gives sign(-inf) == -1 in scipy's logsumexp; the
    # state of "nothing" is s == 0
    if x.size == 0 or 0 in m.shape:
        s = np.zeros_like(s) if s.size else s
    return m, s


def merge_stats(m, s, axis):
    """Merge a stack of partial states ``(m, s)`` along `axis` into one.

    .. math:: M = \\max_{i: s_i \\ne 0} m_i, \\qquad S = \\sum_i s_i\\, e^{m_i - M}

    The rule is associative and commutative: states may be merged in any
    grouping; the result obeys :func:`softmax_stats`' contract.

    Parameters
    ----------
    m, s : array_like
        Shifts and relative sums, the same shape (or broadcastable), the
        states stacked along `axis`.
    axis : int or tuple of ints
        The stacking axis (or axes); kept as length 1 in the result.

    Returns
    -------
    m, s : ndarray
        The merged state, in the float dtype of the inputs.  Edge cases as
        :func:`scipy.special.logsumexp` treats them: a NaN state makes the
        result NaN; ``+inf`` shifts win (their ``s`` are added: signs that
        cancel give NaN); states with ``s == 0`` contribute nothing; no live
        state at all gives ``(-inf, 0)``.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> x = np.array([[1.0, 2.0, 3.0, 4.0]])
    >>> a = softmax_c.softmax_stats(x[:, :1]); b = softmax_c.softmax_stats(x[:, 1:])
    >>> m, s = softmax_c.merge_stats(np.concatenate([a[0], b[0]], 1), np.concatenate([a[1], b[1]], 1), 1)
    >>> bool(np.isclose(m + np.log(s), softmax_c.logsumexp(x, axis=1, keepdims=True)))
    True
    """
    m = np.asarray(m)
    s = np.asarray(s)
    dt = np.result_type(m.dtype, s.dtype, np.float32)
    m, s = np.broadcast_arrays(m.astype(dt, copy=False), s.astype(dt, copy=False))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    kshape = tuple(1 if d in [a % m.ndim for a in axes] else n for d, n in enumerate(m.shape))
    if m.size == 0:  # nothing stacked: the state of nothing
        return np.full(kshape, -np.inf, dt), np.zeros(kshape, dt)
    with np.errstate(invalid="ignore", over="ignore"):
        live = s != 0  # NaN s is live
        ml = np.where(live, m, -np.inf)
        big = np.max(ml, axis=axes, keepdims=True)  # NaN propagates
        finite = np.isfinite(big)
        shift = np.where(finite, big, 0)
        terms = np.where(live, s * np.exp(ml - shift), 0)
        total = np.sum(terms, axis=axes, keepdims=True)
        posinf = big == np.inf
        if posinf.any():  # only the +inf shifts count, by their signs
            inf_sum = np.sum(np.where(ml == np.inf, s, 0), axis=axes, keepdims=True)
            total = np.where(posinf, np.where(inf_sum == 0, np.nan, inf_sum), total)
            big = np.where(posinf & (inf_sum == 0), np.nan, big)
        total = np.where(big == -np.inf, 0, total)
        nan = np.isnan(big) | np.isnan(total)
        big = np.where(nan, np.nan, big)
        total = np.where(nan, np.nan, total)
    return big.astype(dt, copy=False), total.astype(dt, copy=False)
