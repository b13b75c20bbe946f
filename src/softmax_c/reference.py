"""Float64 NumPy reference implementations (the test oracle).

Everything here is written to be obviously right, not fast: it is the oracle
the tests compare the SIMD kernels against and the baseline the benchmarks
time.  It depends on NumPy only (it never imports ``softmax_c._core``), so it
can be loaded on its own.

Conventions
-----------
* Every function computes in float64 and returns float64, whatever the input
  dtype (int, bool, float16/32/64 are accepted; complex raises ``TypeError``).
* Sums and exponentials of the reductions are taken in ``np.longdouble``
  (80-bit extended on x86-64, binary128 on aarch64) so the oracle's own
  rounding error stays well below the tolerances the tests use.
* ``softmax``, ``log_softmax`` and ``logsumexp`` follow ``scipy.special``
  (1.17) semantics: ``axis=None`` reduces the whole array, ``axis`` may be an
  int or a tuple, and rows with ``-inf``/``+inf``/NaN give what SciPy gives.
  The one deliberate difference is documented in :func:`logsumexp`.
* ``scaled_dot_product_attention`` follows
  ``torch.nn.functional.scaled_dot_product_attention`` (torch >= 2.5):
  a fully masked query row gives zeros, never NaN.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = [
    "softmax",
    "log_softmax",
    "logsumexp",
    "expit",
    "log_expit",
    "scaled_dot_product_attention",
    "merge_attention",
]

_LD = np.longdouble


def _as_float64(x, name: str) -> np.ndarray:
    """Return ``x`` as a float64 ndarray; reject complex input."""
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name}: complex input is not supported (got {arr.dtype})")
    if arr.dtype.kind not in "biuf" and arr.dtype.name != "bfloat16":  # ml_dtypes' bfloat16: exact in float64
        raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _check_temperature(temperature) -> float:
    t = float(temperature)
    if not (math.isfinite(t) and t > 0.0):
        raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
    return t


def _scalar_if_0d(arr: np.ndarray):
    """Mirror NumPy/SciPy: a 0-d result comes back as a NumPy scalar."""
    return arr[()] if arr.ndim == 0 else arr


def softmax(x, axis=None, *, temperature=1.0):
    r"""Softmax along ``axis``, in float64.

    .. math:: \sigma(x)_j = \frac{e^{x_j / T}}{\sum_k e^{x_k / T}}

    Parameters
    ----------
    x : array_like
        Real input (int, bool, float16/32/64).
    axis : None or int or tuple of ints, optional
        Axis or axes to normalise over; ``None`` (the default) means the
        whole array, as in :func:`scipy.special.softmax`.
    temperature : float, optional
        ``T`` above; must be finite and > 0.  The inputs are divided by it.

    Returns
    -------
    numpy.ndarray or numpy.float64
        Same shape as ``x``, dtype float64.

    Raises
    ------
    TypeError
        For complex input.
    ValueError
        If ``temperature`` is not finite and positive, or if a reduced axis
        is empty (as ``np.max`` raises, like SciPy).
    numpy.exceptions.AxisError
        For an out-of-range axis.

    Notes
    -----
    Same edge cases as SciPy: ``-inf`` entries give exactly 0; a row that is
    all ``-inf``, or holds a ``+inf`` or a NaN, is all NaN.
    """
    t = _check_temperature(temperature)
    xl = _as_float64(x, "x").astype(_LD) / _LD(t)  # divided in long double: exact enough
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.max(xl, axis=axis, keepdims=True)
        e = np.exp(xl - m)
        s = np.sum(e, axis=axis, keepdims=True)
        out = (e / s).astype(np.float64)
    return _scalar_if_0d(out)


def log_softmax(x, axis=None, *, temperature=1.0):
    r"""Log of the softmax along ``axis``, in float64.

    .. math:: \log\sigma(x)_j = x_j/T - \log\sum_k e^{x_k/T}

    Parameters
    ----------
    x : array_like
        Real input (int, bool, float16/32/64).
    axis : None or int or tuple of ints, optional
        Axis or axes to normalise over; ``None`` means the whole array.
    temperature : float, optional
        Must be finite and > 0; the inputs are divided by it.

    Returns
    -------
    numpy.ndarray or numpy.float64
        Same shape as ``x``, dtype float64.

    Raises
    ------
    TypeError, ValueError, numpy.exceptions.AxisError
        As :func:`softmax`.

    Notes
    -----
    Mirrors :func:`scipy.special.log_softmax` exactly, including its edge
    cases: the shift is the row max, replaced by 0 where that max is not
    finite.  So ``-inf`` entries give ``-inf``; an all ``-inf`` row is NaN;
    in a row holding ``+inf`` the ``+inf`` entries are NaN and the finite
    ones ``-inf``; a row holding NaN is all NaN.
    """
    t = _check_temperature(temperature)
    xl = _as_float64(x, "x").astype(_LD) / _LD(t)  # divided in long double: exact enough
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m = np.max(xl, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, _LD(0))
        tmp = xl - m
        s = np.sum(np.exp(tmp), axis=axis, keepdims=True)
        out = (tmp - np.log(s)).astype(np.float64)
    return _scalar_if_0d(out)


try:  # NumPy >= 2.0
    from numpy.lib.array_utils import normalize_axis_index as _normalize_axis_index
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import normalize_axis_index as _normalize_axis_index


def expit(x):
    """``1 / (1 + exp(-x))`` elementwise, as ``scipy.special.expit``; in
    ``np.longdouble`` as ``e / (1 + e)`` or ``1 / (1 + e)`` with
    ``e = exp(-|x|)`` (no overflow), returned as float64."""
    xl = _as_float64(x, "x").astype(_LD)
    e = np.exp(-np.abs(xl))
    return _scalar_if_0d((np.where(xl < 0, e, _LD(1)) / (1 + e)).astype(np.float64))


def log_expit(x):
    """``-log1p(exp(-x))`` elementwise, as ``scipy.special.log_expit``: in
    ``np.longdouble`` as ``min(x, 0) - log1p(exp(-|x|))`` (exact for large
    ``|x|``), returned as float64."""
    xl = _as_float64(x, "x").astype(_LD)
    with np.errstate(invalid="ignore"):
        r = -(np.log1p(np.exp(-np.abs(xl))) - np.minimum(xl, 0))
    return _scalar_if_0d(r.astype(np.float64))


def _normalize_axis(axis, ndim: int) -> tuple:
    """``axis`` (None, int or tuple) as a tuple of non-negative ints; AxisError if bad."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    axes = tuple(_normalize_axis_index(int(a), ndim) for a in axes)
    if len(set(axes)) != len(axes):
        raise ValueError("duplicate value in 'axis'")
    return axes


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    r"""``log(sum(b * exp(a)))`` along ``axis``, in float64.

    Parameters
    ----------
    a : array_like
        Real input.
    axis : None or int or tuple of ints, optional
        Axis or axes to reduce; ``None`` means all of them.
    b : array_like, optional
        Weights broadcast together with ``a`` (either may be the larger one,
        as in SciPy).  May be negative; ``b == 0`` removes the matching
        element even where ``a`` is ``inf`` or NaN.
    keepdims : bool, optional
        Keep the reduced axes as size-1 dimensions.
    return_sign : bool, optional
        Also return the sign of the sum; otherwise a negative sum gives NaN.

    Returns
    -------
    res : numpy.ndarray or numpy.float64
        ``log|sum|``, float64.
    sgn : numpy.ndarray or numpy.float64
        Only if ``return_sign``: +1, 0, -1 (NaN where the sum is NaN).

    Notes
    -----
    SciPy semantics: 0-d input is treated as 1-d (so ``keepdims=True`` gives
    shape ``(1,)``), a reduction over an empty axis gives ``-inf`` with sign
    ``-1`` (SciPy's quirk; a non-empty all ``-inf`` row has sign 0),
    an all ``-inf`` row gives ``-inf``, ``+inf`` gives ``+inf``, NaN gives
    NaN.  Where the shifted computation ``m + log(sum(b*exp(a - m)))`` is not
    finite the direct ``log(sum(b*exp(a)))`` is returned, like SciPy.

    Deliberate difference: the direct fallback is evaluated in long double,
    so an exact cancellation of huge terms (``a=[1000, 1000], b=[1, -1]``)
    gives the mathematically right ``-inf`` with sign 0 where SciPy's float64
    fallback overflows to ``inf - inf`` and returns NaN.
    """
    a = _as_float64(a, "a")
    if b is not None:
        b = _as_float64(b, "b")
        a, b = np.broadcast_arrays(a, b)
    if a.ndim == 0:
        a = a.reshape(1)
        b = None if b is None else b.reshape(1)
    axes = _normalize_axis(axis, a.ndim)

    al = a.astype(_LD)
    bl = None if b is None else b.astype(_LD)
    if bl is not None:
        # b == 0 removes the element, whatever a holds there (SciPy's rule).
        al = np.where(bl == 0, _LD(-np.inf), al)
        bl = np.where(bl == 0, _LD(0), bl)

    if a.size == 0:
        out = np.full(tuple(1 if i in axes else n for i, n in enumerate(a.shape)),
                      -np.inf, dtype=_LD)
        sgn = np.sign(out)  # -1: SciPy takes the sign of the -inf it fills in
    else:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            m = np.max(al, axis=axes, keepdims=True)
            m_safe = np.where(np.isfinite(m), m, _LD(0))
            terms = np.exp(al - m_safe)
            if bl is not None:
                terms = np.where(bl == 0, _LD(0), bl * terms)
            s = np.sum(terms, axis=axes, keepdims=True)
            shifted = m_safe + np.log(np.abs(s))
            # SciPy >= 1.15's precision (scipy issue 18295): the entries at
            # the max (tie weight c) leave the sum, log|c + s'| =
            # log|c| + log1p(q), q = s'/c (q -> -q - 2 where q < -1), so a
            # result near 0 keeps its relative precision.
            tie = (al == m) & np.isfinite(m)
            c = np.sum(np.where(tie, _LD(1) if bl is None else bl, _LD(0)), axis=axes, keepdims=True)
            q = np.sum(np.where(tie, _LD(0), terms), axis=axes, keepdims=True) / np.where(c != 0, c, _LD(1))
            q = np.where(q < -1, -q - 2, q)
            excl = np.log1p(q) + np.log(np.abs(c)) + m_safe
            shifted = np.where(c != 0, excl, shifted)
            # Direct fallback (SciPy's ``out_inf``), used where not finite.
            direct = np.exp(al)
            if bl is not None:
                direct = np.where(bl == 0, _LD(0), bl * direct)
            d = np.sum(direct, axis=axes, keepdims=True)
            finite = np.isfinite(m) & np.isfinite(shifted)
            out = np.where(finite, shifted, np.log(np.abs(d)))
            sgn = np.where(finite, np.sign(s), np.sign(d))
            if not return_sign:
                out = np.where(sgn < 0, _LD(np.nan), out)

    out = out.astype(np.float64)
    sgn = sgn.astype(np.float64)
    if not keepdims:
        out = np.squeeze(out, axis=axes)
        sgn = np.squeeze(sgn, axis=axes)
    out, sgn = _scalar_if_0d(out), _scalar_if_0d(sgn)
    return (out, sgn) if return_sign else out


def _attention_allowed(L, S, attn_mask, is_causal, causal_alignment):
    """Boolean 'may attend' mask (or None for all) and the additive float bias."""
    allowed = None
    bias = None
    if is_causal:
        if causal_alignment == "upper_left":
            allowed = np.tril(np.ones((L, S), dtype=bool))
        elif causal_alignment == "lower_right":
            allowed = np.tril(np.ones((L, S), dtype=bool), k=S - L)
        else:
            raise ValueError(
                "causal_alignment must be 'upper_left' or 'lower_right', "
                f"got {causal_alignment!r}")
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        if mask.dtype == bool:
            allowed = mask if allowed is None else (allowed & mask)
        elif mask.dtype.kind in "iuf":
            bias = mask.astype(np.float64)
            not_neg_inf = bias != -np.inf
            allowed = not_neg_inf if allowed is None else (allowed & not_neg_inf)
            bias = np.where(not_neg_inf, bias, 0.0)
        else:
            raise TypeError(f"attn_mask: expected bool or float, got {mask.dtype}")
    return allowed, bias


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False, *,
                                 causal_alignment="upper_left", return_lse=False):
    r"""Scaled dot-product attention in float64 (torch semantics).

    .. math:: O = \mathrm{softmax}(Q K^T \cdot s + M)\, V

    Parameters
    ----------
    query : array_like, shape (..., Hq, L, E)
    key : array_like, shape (..., H, S, E)
    value : array_like, shape (..., H, S, Ev)
        Leading (batch) dimensions broadcast against each other.
    attn_mask : array_like, optional
        Broadcastable to ``(..., Hq, L, S)``.  bool: True means "may attend".
        float: added to the scaled scores (``-inf`` entries mask out).
    dropout_p : float, optional
        Must be 0 (there to keep the positional arguments of
        :func:`softmax_c.scaled_dot_product_attention` and torch's).
    is_causal : bool, optional
        Apply a causal mask; cannot be combined with ``attn_mask``.
    scale : float, optional
        Score scale ``s``; default ``1 / sqrt(E)``.
    enable_gqa : bool, optional
        Grouped-query attention: ``Hq`` a multiple of ``H``; query head ``h``
        uses key/value head ``h // (Hq // H)``.
    causal_alignment : {"upper_left", "lower_right"}, optional
        ``upper_left`` (torch's ``is_causal``): query ``i`` sees key ``j``
        iff ``j <= i``.  ``lower_right``: iff ``j <= i + (S - L)`` (the
        queries are the last ``L`` positions of the sequence).
    return_lse : bool, optional
        Also return the log-sum-exp of the scaled, masked scores.

    Returns
    -------
    out : numpy.ndarray, shape (..., Hq, L, Ev), float64
        A fully masked query row is all zeros (never NaN).
    lse : numpy.ndarray, shape (..., Hq, L), float64
        Only if ``return_lse``; ``-inf`` for a fully masked row.

    Notes
    -----
    Masked-out keys contribute nothing even where ``key`` or ``value`` hold
    NaN or inf there: selection is done with ``np.where``, never by
    multiplying with 0.
    """
    if dropout_p != 0:
        raise ValueError(f"dropout_p must be 0 (inference only), got {dropout_p}")
    q = _as_float64(query, "query")
    k = _as_float64(key, "key")
    v = _as_float64(value, "value")
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError("query, key and value need at least 2 dimensions (..., L, E)")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"query and key disagree on E: {q.shape[-1]} vs {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"key and value disagree on S: {k.shape[-2]} vs {v.shape[-2]}")
    if is_causal and attn_mask is not None:
        raise ValueError("attn_mask cannot be given together with is_causal=True")
    L, E = q.shape[-2], q.shape[-1]
    S = k.shape[-2]

    if enable_gqa:
        if q.ndim < 3 or k.ndim < 3 or v.ndim < 3:
            raise ValueError("enable_gqa needs a head dimension (..., H, L, E)")
        hq, hk = q.shape[-3], k.shape[-3]
        if v.shape[-3] != hk or hq % hk != 0:
            raise ValueError(f"enable_gqa: query heads {hq} must be a multiple of "
                             f"key/value heads {hk}")
        group = hq // hk
        # query head h uses kv head h // group
        k = np.repeat(k, group, axis=-3)
        v = np.repeat(v, group, axis=-3)

    s = (1.0 / math.sqrt(E)) if scale is None else float(scale)
    allowed, bias = _attention_allowed(L, S, attn_mask, is_causal, causal_alignment)

    with np.errstate(invalid="ignore", over="ignore"):
        scores = np.matmul(q, np.swapaxes(k, -1, -2)) * s        # (..., Hq, L, S)
        if bias is not None:
            scores = scores + bias
        if allowed is None:
            allowed = np.ones(scores.shape[-2:], dtype=bool)
        allowed = np.broadcast_to(allowed, np.broadcast_shapes(allowed.shape, scores.shape))
        scores = np.broadcast_to(scores, allowed.shape)
        scores = np.where(allowed, scores, -np.inf).astype(_LD)

        # S == 0 (no keys): every row is fully masked
        m = np.max(scores, axis=-1, keepdims=True, initial=-np.inf)
        # fully masked row -- also one whose every allowed score is -inf (an
        # inf in q, say), which torch >= 2.5 also answers with zeros
        empty = ~np.any(allowed & ~np.isneginf(scores), axis=-1, keepdims=True)
        m = np.where(empty, _LD(0), m)
        p = np.where(allowed, np.exp(scores - m), _LD(0))
        denom = np.sum(p, axis=-1, keepdims=True)
        w = np.where(empty, _LD(0), p / np.where(empty, _LD(1), denom)).astype(np.float64)
        lse = np.where(empty, _LD(-np.inf), m + np.log(np.where(empty, _LD(1), denom)))
        lse = lse[..., 0].astype(np.float64)

        if np.isfinite(v).all():
            out = np.matmul(w, v)
        else:
            # (..., L, S, 1) * (..., 1, S, Ev): only allowed keys may contribute.
            contrib = np.where(allowed[..., None], w[..., None] * v[..., None, :, :], 0.0)
            out = contrib.sum(axis=-2)
    return (out, lse) if return_lse else out


def merge_attention(outputs: Sequence, lses: Sequence):
    r"""Merge partial attention results computed over disjoint KV shards.

    For shards ``k`` with outputs ``O_k`` (each normalised over its own keys)
    and log-sum-exps ``l_k``:

    .. math:: l = \log\sum_k e^{l_k}, \qquad O = \sum_k e^{l_k - l} O_k

    The rule is associative, so shards may be merged in any grouping.

    Parameters
    ----------
    outputs : sequence of array_like, each shape (..., L, Ev)
        Or one array with the shard axis first.
    lses : sequence of array_like, each shape (..., L)
        Or one array with the shard axis first.

    Returns
    -------
    out : numpy.ndarray, shape (..., L, Ev), float64
    lse : numpy.ndarray, shape (..., L), float64
        A shard whose lse is ``-inf`` contributes nothing (its output is never
        read, so NaN there does not leak); if all are ``-inf`` the output is
        zeros and the lse ``-inf``.
    """
    o = np.stack([_as_float64(x, "outputs") for x in outputs])
    l = np.stack([_as_float64(x, "lses") for x in lses]).astype(_LD)
    if o.shape[:-1] != l.shape:
        raise ValueError(f"outputs {o.shape} and lses {l.shape} do not match")
    with np.errstate(invalid="ignore", divide="ignore"):
        live = l != -np.inf
        m = np.max(l, axis=0)
        empty = ~np.any(live, axis=0)
        m = np.where(empty, _LD(0), m)
        wts = np.where(live, np.exp(l - m), _LD(0))
        total = np.sum(wts, axis=0)
        lse = np.where(empty, _LD(-np.inf), m + np.log(np.where(empty, _LD(1), total)))
        frac = np.where(live, wts / np.where(empty, _LD(1), total), _LD(0))
        frac = frac.astype(np.float64)[..., None]
        out = np.where(live[..., None], frac * o, 0.0).sum(axis=0)
    return out, lse.astype(np.float64)


def serving_attention(q, k, v, causal=False, window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                      sinks=None, scale=None):
    """One sequence of serving attention in float64, from the formulas.

    q (Lq, Hq, E), k (Lk, H, E), v (Lk, H, Ev) (the sequence's keys, already
    gathered from its blocks); returns out (Lq, Hq, Ev) and lse (Hq, Lq).
    Diagonal d(i) = i + Lk - Lq; query i sees keys in
    [d - left, d + right] (-1 unbounded; causal: right <= 0).  Scores:
    s = scale q.k, softcap c tanh(s / c), ALiBi s -= slope |d - j|, masks;
    the sink joins the denominator only.
    """
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    Lq, Hq, E = q.shape
    Lk, H = k.shape[:2]
    Ev = v.shape[-1]
    scale = 1.0 / np.sqrt(E) if scale is None else float(scale)
    g = Hq // H
    left, right = window_size
    if causal:
        right = 0 if right < 0 else min(right, 0)
    d = np.arange(Lq)[:, None] + Lk - Lq
    j = np.arange(Lk)[None, :]
    allowed = np.ones((Lq, Lk), bool)
    if right >= 0:
        allowed &= j <= d + right
    if left >= 0:
        allowed &= j >= d - left
    out = np.zeros((Lq, Hq, Ev))
    lse = np.full((Hq, Lq), -np.inf)
    for h in range(Hq):
        s = scale * q[:, h] @ k[:, h // g].T
        if softcap > 0:
            s = softcap * np.tanh(s / softcap)
        if alibi_slopes is not None:
            s = s - float(alibi_slopes[h]) * np.abs(d - j)
        s = np.where(allowed, s, -np.inf)
        cols = [s] if sinks is None else [s, np.full((Lq, 1), float(sinks[h]))]
        full = np.concatenate(cols, axis=1)
        m = full.max(axis=1, keepdims=True) if full.shape[1] else np.full((Lq, 1), -np.inf)
        m = np.where(np.isfinite(m), m, 0.0)
        w = np.exp(full - m)
        tot = w.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            lse[h] = np.where(tot > 0, m[:, 0] + np.log(tot), -np.inf)
            p = np.where(tot[:, None] > 0, w[:, :Lk] / np.where(tot > 0, tot, 1)[:, None], 0.0)
        out[:, h] = p @ v[:, h // g] if Lk else 0.0
    return out, lse
