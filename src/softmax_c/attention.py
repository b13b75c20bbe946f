"""The Python front of attention: argument rules, broadcasting, ``out=``; the
FlashAttention kernels are reached through the thin ``_core`` binding.

Every argument is validated here, before any output is written.
"""
from __future__ import annotations

import math

import numpy as np

from . import _core
from . import _rules as R
from .quant import QuantizedKV

__all__ = ["scaled_dot_product_attention", "merge_attention"]

_CAUSAL = {"upper_left": 1, "lower_right": 2}


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False, *, causal_alignment="upper_left",
                                 return_lse=False, out=None, window_size=(-1, -1), softcap=0.0,
                                 alibi_slopes=None, sinks=None):
    r"""Scaled dot-product attention, FlashAttention-2 style on the CPU.

    .. math:: O = \mathrm{softmax}(Q K^T \cdot s + M)\, V

    Same signature and semantics as
    :func:`torch.nn.functional.scaled_dot_product_attention` (torch >= 2.5);
    ``causal_alignment``, ``return_lse`` and ``out`` are keyword-only extras.
    The ``L x S`` score matrix is never formed: extra memory is a few tiles
    per thread.  Results are bitwise identical for any thread count.

    Parameters
    ----------
    query : array_like, shape (..., Hq, L, E)
    key : array_like or QuantizedKV, shape (..., H, S, E)
    value : array_like or QuantizedKV, shape (..., H, S, Ev)
        float32, float16, bfloat16 (``ml_dtypes``) or float64.  `key` and
        `value` share a dtype; `query` may differ (a float32 query against a
        bfloat16 cache), except that float64 goes with float64 only.  Half
        precision is widened in registers and computed in float32 (no
        float32 copy of any array).  An int8 cache: `key` and `value` both
        :class:`QuantizedKV` from :func:`quantize_kv` (``axis=-1``, one scale
        per key row), dequantized in registers; the query float32 or half.  2-D inputs ``(L, E)``
        are accepted.  The leading (batch) dimensions broadcast against each
        other, as in torch's matmul.  Any strides (e.g. a transposed
        ``(B, T, H, D)`` view): nothing is copied.
    attn_mask : array_like, optional
        Broadcastable to ``(..., Hq, L, S)``.  bool: True means the key takes
        part.  float: added to the scaled scores; ``-inf`` masks the key out
        (even when the key or value holds NaN or inf there).
    dropout_p : float, optional
        Must be 0 (inference only).
    is_causal : bool, optional
        Causal mask (see ``causal_alignment``); not together with `attn_mask`.
    scale : float, optional
        Score scale; default ``1 / sqrt(E)``.
    enable_gqa : bool, optional
        Grouped-query attention: ``Hq`` a multiple of ``H``; query head ``h``
        uses key/value head ``h // (Hq // H)``.  Each key/value head is read
        once per group, never repeated.  Without it ``Hq`` must equal ``H``.
    causal_alignment : {"upper_left", "lower_right"}, optional
        ``"upper_left"`` (torch's ``is_causal``, ``tril(ones(L, S))``): query
        ``i`` sees keys ``j <= i``.  ``"lower_right"``: keys
        ``j <= i + S - L``, the queries being the last ``L`` positions
        (decode with a KV cache).
    return_lse : bool, optional
        Also return the log-sum-exp of the scaled, masked scores.
    out : ndarray, or tuple of two ndarrays with ``return_lse``, optional
        Where to write the output: shape ``(..., Hq, L, Ev)``, the query's
        dtype, writeable, any strides.  With ``return_lse`` either that array
        (the lse is then allocated) or a pair ``(out, lse)``, the lse of shape
        ``(..., Hq, L)`` and the lse's dtype.  Checked before anything is written.
    window_size, softcap, alibi_slopes, sinks : optional
        The serving extras of :func:`flash_attn_varlen_func` (window measured
        from the diagonal that `causal_alignment` picks; ``alibi_slopes`` and
        ``sinks`` of shape ``(Hq,)``).

    Returns
    -------
    out : ndarray, shape (..., Hq, L, Ev)
        In the query's dtype (half precision: rounded once from the float32
        result).  A fully masked query row gives zeros (never NaN).
    lse : ndarray, shape (..., Hq, L)
        Only with ``return_lse``; ``-inf`` for a fully masked row.  float32
        (float64 for float64 inputs): a half-precision lse would lose the merge.  Partial
        results over key shards combine exactly with :func:`merge_attention`.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, a mask that is neither bool nor float,
        `out` of the wrong type or dtype.
    ValueError
        Wrong ranks, mismatched E / S / heads / batch dimensions, a mask that
        does not broadcast, ``dropout_p != 0``, `is_causal` with a mask, a bad
        `causal_alignment`, `out` of the wrong shape or read-only.

    Notes
    -----
    Accuracy: float32 results agree with a float64 evaluation to about
    ``2e-5`` relative to the output scale (sums of ``S`` products rounded in
    float32); float64 to about ``1e-12``.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> q = np.ones((1, 2, 4), np.float32); kv = np.ones((1, 3, 4), np.float32)
    >>> softmax_c.scaled_dot_product_attention(q, kv, kv).shape
    (1, 2, 4)
    """
    q = R.as_array(query, "query", native=True)
    kq, vq = isinstance(key, QuantizedKV), isinstance(value, QuantizedKV)
    scales = None
    if kq != vq:
        raise TypeError("key and value: both QuantizedKV (int8) or neither")
    if kq:
        for name, x in (("key", key), ("value", value)):
            if x.axis != x.ndim - 1:
                raise ValueError(f"{name}: attention needs one scale per key row (quantize_kv(..., axis=-1)), "
                                 f"got axis {x.axis}")
        scales = (key.scales, value.scales)
        key, value = key.values, value.values
    k = R.as_array(key, "key", native=True)
    v = R.as_array(value, "value", native=True)
    cdt = R.attention_dtypes(q, k, v, quantized=kq)  # the compute dtype: lse, a float mask, alibi, sinks
    for name, x in (("query", q), ("key", k), ("value", v)):
        if x.ndim < 2:
            raise ValueError(f"{name}: expected at least 2 dimensions (..., L, E), got shape {x.shape}")
    dtype = q.dtype  # the output's
    if R.real(dropout_p, "dropout_p") != 0.0:
        raise ValueError(f"dropout_p must be 0 (inference only), got {dropout_p}")
    is_causal = R.boolean(is_causal, "is_causal")
    enable_gqa = R.boolean(enable_gqa, "enable_gqa")
    if causal_alignment not in _CAUSAL:
        raise ValueError(f"causal_alignment must be 'upper_left' or 'lower_right', got {causal_alignment!r}")
    if is_causal and attn_mask is not None:
        raise ValueError("attn_mask cannot be given together with is_causal=True")
    L, E = q.shape[-2:]
    S, Ev = v.shape[-2:]
    if k.shape[-1] != E:
        raise ValueError(f"key: last dimension (E) is {k.shape[-1]}, query's is {E}")
    if k.shape[-2] != S:
        raise ValueError(f"value: S = {S} keys, key has {k.shape[-2]}")
    if E == 0:
        raise ValueError("query: E (the last dimension) must be >= 1")
    s = 1.0 / math.sqrt(E) if scale is None else R.real(scale, "scale")

    # Heads and batch: every array seen as (*batch, heads, rows, cols).
    def heads(x):
        return x.shape[-3] if x.ndim >= 3 else 1
    hq, hk, hv = heads(q), heads(k), heads(v)
    if hk != hv:
        raise ValueError(f"key has {hk} heads, value has {hv}")
    if enable_gqa:
        if hk == 0 or hq % hk != 0:
            raise ValueError(f"enable_gqa: query heads ({hq}) must be a multiple of key/value heads ({hk})")
    elif hq != hk:
        raise ValueError(f"query has {hq} heads, key/value have {hk}: pass enable_gqa=True for grouped-query attention")
    try:
        batch = R.broadcast_shape(q.shape[:-3], k.shape[:-3], v.shape[:-3])
    except ValueError:
        raise ValueError(f"batch dimensions do not broadcast: query {q.shape}, key {k.shape}, "
                         f"value {v.shape}") from None
    two_d = q.ndim == k.ndim == v.ndim == 2

    mask = None
    if attn_mask is not None:
        mask = R.as_array(attn_mask, "attn_mask", native=True)
        if mask.dtype == np.bool_:
            pass
        elif mask.dtype.kind == "f" or R.is_bfloat16(mask.dtype):
            mask = mask.astype(cdt, copy=False)
        else:
            raise TypeError(f"attn_mask: expected a bool or float mask, got dtype {mask.dtype}")
        try:
            mshape = R.broadcast_shape(mask.shape, batch + (hq, L, S))
        except ValueError:
            raise ValueError(f"attn_mask of shape {mask.shape} does not broadcast to "
                             f"{batch + (hq, L, S)}") from None
        if mshape != batch + (hq, L, S):
            raise ValueError(f"attn_mask of shape {mask.shape} does not broadcast to "
                             f"{batch + (hq, L, S)}")
        two_d = two_d and mask.ndim <= 2
    if len(batch) > _core.ATTENTION_MAX_BATCH:
        raise ValueError(f"query: at most {_core.ATTENTION_MAX_BATCH} batch dimensions, got {len(batch)}")
    band = None
    if window_size != (-1, -1) or softcap != 0.0 or alibi_slopes is not None or sinks is not None:
        from .serving import _per_head, _window
        left, right = _window(window_size)
        cap = R.real(softcap, "softcap")
        if not cap >= 0.0:
            raise ValueError(f"softcap must be >= 0, got {softcap}")
        al = _per_head(alibi_slopes, "alibi_slopes", hq, 1, cdt, False)
        sk = _per_head(sinks, "sinks", hq, 1, cdt, False)
        band = (_CAUSAL[causal_alignment], left, right, cap, None if al is None else al[0],
                None if sk is None else sk[0])
    full_q = batch + (hq, L, E)
    result_shape = (L, Ev) if two_d else batch + (hq, L, Ev)
    lse_shape = result_shape[:-1]

    lse_out = None
    if out is not None and return_lse and isinstance(out, (tuple, list)):
        out, lse_out = R.check_outs(out, ((result_shape, dtype), (lse_shape, cdt)))
    elif out is not None:
        R.check_out(out, result_shape, dtype)

    # ---- validated: views for the kernel (no copies of q, k, v) ----
    def full(x, shape):  # x as is when it has the shape (np.broadcast_to costs ~10 us a call)
        x = R.kernel_view(x)
        if x.ndim == len(shape) - 1:
            x = x[None]
        return x if x.shape == shape else np.broadcast_to(x, shape)
    qf = full(q, full_q)
    kf = full(k, batch + (hk, S, E))
    vf = full(v, batch + (hk, S, Ev))
    mf = None if mask is None else full(mask, batch + (hq, L, S))
    ksf = vsf = None
    if scales is not None:  # (..., H, S) float32 per key row, broadcast as key / value
        ksf, vsf = (full(x, batch + (hk, S)) for x in scales)
    inputs = (q, k, v) + (() if mask is None else (mask,))

    def target(o, shape, dt):  # the caller's array, unless it overlaps an input
        if o is None or any(R.shares(o, x) for x in inputs):
            return _core.output_empty(shape, dt)
        return o
    res = target(out, result_shape, dtype)
    lse = target(lse_out, lse_shape, cdt) if return_lse else None
    of = res[None] if two_d else res  # views, even of a strided out
    lf = None if lse is None else (lse[None] if two_d else lse)
    R.call_kernel(_core.attention_into, qf, kf, vf, mf, of, lf,
                  _CAUSAL[causal_alignment] if is_causal else 0, s, band, ksf, vsf, writes=(4, 5))
    if out is not None and res is not out:
        out[...] = res
        res = out
    if lse_out is not None and lse is not lse_out:
        lse_out[...] = lse
        lse = lse_out
    return (res, lse) if return_lse else res


def merge_attention(outputs, lses, *, out=None):
    r"""Merge attention results computed over disjoint key/value shards.

    For shards ``k`` with outputs ``O_k`` (each normalised over its own keys)
    and log-sum-exps ``l_k`` (from ``return_lse=True``):

    .. math:: l = \log\sum_k e^{l_k}, \qquad O = \sum_k e^{l_k - l}\, O_k

    The result equals one call over all the keys (to rounding); the rule is
    associative, so shards may be merged in any grouping.

    Parameters
    ----------
    outputs : sequence of array_like, each shape (..., L, Ev)
    lses : sequence of array_like, each shape (..., L)
        One per output.  Outputs float32, float16 or bfloat16 (as
        :func:`scaled_dot_product_attention` returns them) with float32 lses;
        float64 with float64.
    out : tuple of two ndarrays, optional
        ``(out, lse)``: where to write the results (shapes as returned, the
        inputs' dtype, writeable, any strides).  Checked before anything is
        written; returned.

    Returns
    -------
    out : ndarray, shape (..., L, Ev)
    lse : ndarray, shape (..., L)
        out in the outputs' dtype, lse in the lses'.  A shard with ``lse = -inf`` (no key seen)
        contributes nothing, whatever its output holds; if every shard has
        ``-inf`` the output is zeros and the lse ``-inf``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, `out` not a pair of arrays of the right
        dtype.
    ValueError
        No shards, different counts, shapes that do not match, `out` of the
        wrong shape or read-only.
    """
    if isinstance(outputs, np.ndarray):
        outputs = list(outputs)
    if isinstance(lses, np.ndarray):
        lses = list(lses)
    outputs = [R.as_array(o, "outputs", native=True) for o in outputs]
    lses = [R.as_array(x, "lses", native=True) for x in lses]
    if not outputs:
        raise ValueError("outputs: at least one shard is needed")
    if len(outputs) != len(lses):
        raise ValueError(f"outputs has {len(outputs)} shards, lses has {len(lses)}")
    dtype = outputs[0].dtype
    for x in outputs:
        cdt = R.attention_dtypes(x, x, x, ("outputs",) * 3)  # the lse's and the arithmetic's
        if x.dtype != dtype:
            raise TypeError(f"outputs: every shard must have dtype {dtype}, got {x.dtype}")
    for x in lses:
        if x.dtype != cdt:
            raise TypeError(f"lses: every shard must have dtype {cdt} (outputs are {dtype}), got {x.dtype}")
    o = np.stack(outputs)
    lv = np.stack(lses)
    if o.ndim < 2 or o.shape[:-1] != lv.shape:
        raise ValueError(f"outputs (stacked {o.shape}) and lses (stacked {lv.shape}) do not match")
    if out is not None:
        out = R.check_outs(out, ((o.shape[1:], dtype), (lv.shape[1:], cdt)))
    live = lv != -np.inf
    m = np.max(np.where(live, lv, -np.inf), axis=0)
    shift = np.where(np.isfinite(m), m, 0).astype(cdt)
    with np.errstate(over="ignore", invalid="ignore"):
        w = np.where(live, np.exp(lv - shift), 0).astype(cdt)
        total = w.sum(axis=0)
        empty = total == 0
        safe = np.where(empty, 1, total)
        # half shards are widened by the product (float32 arithmetic), the
        # sum rounded once to the outputs' dtype
        merged = np.where(live[..., None], (w / safe)[..., None] * o, 0).sum(axis=0).astype(dtype)
        lse = np.where(empty, -np.inf, shift + np.log(safe)).astype(cdt)
    if out is None:
        return merged, lse
    out[0][...] = merged
    out[1][...] = lse
    return out
