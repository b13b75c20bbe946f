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
them.  The states are computed by the compiled logsumexp kernel, one read of
`x` (float16 input is widened to float32 first).
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
        :func:`scipy.special.logsumexp`'s `b`).

    Returns
    -------
    m, s : ndarray
        Float arrays of `x`'s shape with the reduced axes kept as length 1;
        float32 for float16/float32 input, float64 otherwise.  Contract (what
        every producer of a state guarantees, and all a consumer may assume):

        * ``m`` is a shift, not necessarily the maximum; ``s * exp(m)`` is
          the weighted sum, ``m + log(s)`` the log-sum-exp (NaN when
          ``s < 0``; with signs, ``m + log|s|`` and ``sign(s)``).
        * Nothing to sum (an empty axis, all ``-inf``, zero weights or
          weights that cancel): ``s == 0`` (``m`` is then ``-inf``, or any
          value when the weights cancel).
        * A ``+inf`` logit with non-zero weight: ``m == +inf`` and ``s`` the
          sign of its weight (``+inf`` entries of both signs: NaN).
        * A NaN (with non-zero weight): ``m`` and ``s`` NaN.

        This version takes ``m = logsumexp`` and ``s = sign`` (so ``|s|`` is
        1 or 0); a kernel returning ``(max, sum relative to max)`` obeys the
        same contract.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> m, s = softmax_c.softmax_stats(np.array([[0.0, 0.0]]))
    >>> float((m + np.log(s))[0, 0])  # log 2
    0.6931471805599453
    """
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


def _max_stats(x, axis=-1, *, temperature=1.0):
    """``(max(x / T), sum(exp(x / T - max)))``: the state with the exact
    shift that softmax and log_softmax need (no weights).

    The ``(lse, sign)`` state of :func:`softmax_stats` stores the chunk's
    log-sum-exp rounded to the input precision: the lost ``ulp(lse) / 2``
    comes back as a relative error of each probability (float32 logits near
    1000: 3e-5; float64 rows of equal 1e300 entries lose their count).
    Here the sum is taken relative to the exact max, ``log s`` by the
    logsumexp kernel on ``x / T - max`` (its absolute error is ~1 ulp of
    ``log s <= log n``).  Three passes (max, shift, kernel) until a kernel
    returns this state in one.
    """
    from . import logsumexp

    t = _rules.positive_finite(temperature, "temperature")
    x = np.asarray(x)
    kdt = np.float32 if x.dtype in (np.float16, np.float32) else np.float64
    z = np.divide(x, t, dtype=kdt) if (t != 1.0 or x.dtype != kdt) else x
    kshape = tuple(1 if d in _rules.axes(axis, x.ndim) else n for d, n in enumerate(x.shape))
    if z.size == 0:
        return np.full(kshape, -np.inf, kdt), np.zeros(kshape, kdt)
    m = np.max(z, axis=axis, keepdims=True)
    fin = np.isfinite(m)
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = z - np.where(fin, m, 0).astype(kdt)
        s = np.exp(np.asarray(logsumexp(shifted, axis=axis, keepdims=True), dtype=kdt))
        s = np.where(fin, s, np.where(m == np.inf, 1, np.where(m == -np.inf, 0, np.nan))).astype(kdt)
    return m.reshape(kshape), s.reshape(kshape)


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
