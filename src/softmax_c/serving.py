"""Serving attention: ragged batches, paged KV caches, sliding windows,
soft-capping, ALiBi and attention sinks, with FlashAttention-2 semantics
(``flash_attn_varlen_func`` / ``flash_attn_with_kvcache``).

Every argument is validated here (vectorised NumPy, no loop over the
sequences), before anything is read through an index or written to a cache
or an output.  Then one kernel call runs the whole ragged batch
(``sc_attention_ragged``): every (sequence, head, tile) is a work item of the
thread pool, and a paged sequence's keys are read through its block table by
the kernel itself.
"""
from __future__ import annotations

import math

import numpy as np

from . import _core
from . import _rules as R

__all__ = ["flash_attn_varlen_func", "flash_attn_with_kvcache"]

_INT = (np.dtype(np.int32), np.dtype(np.int64))


def _index(x, name, ndim):
    x = R.as_array(x, name)
    if x.dtype not in _INT:
        raise TypeError(f"{name}: expected int32 or int64, got dtype {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimension(s), got shape {x.shape}")
    return x.astype(np.int64)


def _cu(x, name, total):
    c = _index(x, name, 1)
    if c.size < 1:
        raise ValueError(f"{name}: needs at least one entry (0)")
    if c[0] != 0:
        raise ValueError(f"{name}: must start at 0, got {c[0]}")
    d = np.diff(c)
    if (d < 0).any():
        b = int(np.argmax(d < 0))
        raise ValueError(f"{name}: decreases at sequence {b} ({c[b]} -> {c[b + 1]})")
    if total is not None and c[-1] != total:
        raise ValueError(f"{name}: ends at {c[-1]}, but the packed array has {total} rows")
    return c


def _per_head(x, name, hq, batch, dtype, allow_batch):
    """(batch, Hq) contiguous slopes/sinks in the kernel dtype, or None."""
    if x is None:
        return None
    x = R.as_array(x, name)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a float array, got dtype {x.dtype}")
    if x.shape == (hq,):
        x = np.broadcast_to(x, (batch, hq))
    elif not (allow_batch and x.shape == (batch, hq)):
        shapes = f"({hq},)" + (f" or ({batch}, {hq})" if allow_batch else "")
        raise ValueError(f"{name}: expected shape {shapes}, got {x.shape}")
    return np.ascontiguousarray(x, dtype=dtype)


def _window(window_size):
    try:
        left, right = (int(w) for w in window_size)
    except (TypeError, ValueError):
        raise TypeError(f"window_size: expected a pair of ints, got {window_size!r}") from None
    if left < -1 or right < -1:
        raise ValueError(f"window_size: each bound must be >= -1 (-1: unbounded), got {window_size!r}")
    return left, right


def _alloc(shape, dtype):
    """The one place outputs of this module are allocated."""
    return _core.output_empty(shape, dtype)


def _outputs(out, return_lse, shape, lse_shape, dtype, ldt):
    """(out, lse): out in q's dtype, lse in the compute dtype `ldt` (float32
    for half precision)."""
    lse_out = None
    if out is not None and return_lse and isinstance(out, (tuple, list)):
        out, lse_out = R.check_outs(out, ((shape, dtype), (lse_shape, ldt)))
    elif out is not None:
        R.check_out(out, shape, dtype)
    res = _alloc(shape, dtype) if out is None else out
    lse = (_alloc(lse_shape, ldt) if lse_out is None else lse_out) if return_lse else None
    return res, lse


def _block_table(block_table, batch, nk, block_size, num_blocks, name="block_table"):
    """The (batch, max_blocks) int64 table, C-contiguous, once every block a
    sequence of nk[b] keys uses is checked to lie in [0, num_blocks)."""
    bt = np.ascontiguousarray(_index(block_table, name, 2))
    if bt.shape[0] != batch:
        raise ValueError(f"{name}: {bt.shape[0]} rows for {batch} sequences")
    need = -(-nk // block_size)
    over = need > bt.shape[1]
    if over.any():
        b = int(np.argmax(over))
        raise ValueError(f"{name}: sequence {b} has {nk[b]} keys, more than its {bt.shape[1]} blocks of "
                         f"{block_size} hold")
    bad = (np.arange(bt.shape[1]) < need[:, None]) & ((bt < 0) | (bt >= num_blocks))
    if bad.any():
        b, j = np.argwhere(bad)[0]
        raise ValueError(f"{name}: sequence {b} uses block {bt[b, j]}, outside [0, {num_blocks})")
    return bt


def _attend(q, k, v, res, lse, causal, scale, left, right, softcap, slopes, sinks, cu_q, k_len, k_first, bt):
    """The one kernel call of a ragged batch (see ``_core.attention_ragged_into``)."""
    band = (2, left, right, softcap, slopes, None if sinks is None else sinks[0])
    R.call_kernel(_core.attention_ragged_into, R.kernel_view(q), R.kernel_view(k), R.kernel_view(v), res, lse,
                  2 if causal else 0, scale, band, np.ascontiguousarray(cu_q), np.ascontiguousarray(k_len),
                  None if k_first is None else np.ascontiguousarray(k_first), bt, writes=(3, 4))


def _check_appends(slots, block_size, lnew):
    """No two appends (rows: sequences) may write one cache slot."""
    flat = slots.ravel()
    order = np.argsort(flat, kind="stable")
    srt = flat[order]
    dup = srt[1:] == srt[:-1]
    if dup.any():
        later = int(order[1:][dup].min())  # the first append, in sequence order, to a slot written before
        first = int(order[np.searchsorted(srt, flat[later])])
        slot = int(flat[later])
        raise ValueError(f"block_table: sequences {first // lnew} and {later // lnew} both append to block "
                         f"{slot // block_size} slot {slot % block_size}")


def _check_qkv(q, k, v, qdims, kdims):
    q = R.as_array(q, "q", native=True)
    k = R.as_array(k, "k", native=True)
    v = R.as_array(v, "v", native=True)
    cdt = R.attention_dtypes(q, k, v, ("q", "k", "v"))
    for name, x, nd in (("q", q, qdims), ("k", k, kdims), ("v", v, kdims)):
        if x.ndim != nd:
            raise ValueError(f"{name}: expected {nd} dimensions, got shape {x.shape}")
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"k {k.shape} and v {v.shape} must agree except in the last dimension")
    hq, e = q.shape[-2:]
    h = k.shape[-2]
    if k.shape[-1] != e:
        raise ValueError(f"k: head size {k.shape[-1]}, q's is {e}")
    if e == 0:
        raise ValueError("q: the head size must be >= 1")
    if h == 0 or hq % h != 0:
        raise ValueError(f"q has {hq} heads, not a multiple of k/v's {h}")
    return q, k, v, cdt


def _common(dropout_p, softmax_scale, e, causal, window_size, softcap):
    if R.real(dropout_p, "dropout_p") != 0.0:
        raise ValueError(f"dropout_p must be 0 (inference only), got {dropout_p}")
    scale = 1.0 / math.sqrt(e) if softmax_scale is None else R.real(softmax_scale, "softmax_scale")
    causal = R.boolean(causal, "causal")
    left, right = _window(window_size)
    softcap = R.real(softcap, "softcap")
    if not softcap >= 0.0:
        raise ValueError(f"softcap must be >= 0, got {softcap}")
    return scale, causal, left, right, softcap


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q=None, max_seqlen_k=None,
                           dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                           alibi_slopes=None, *, block_table=None, sinks=None, return_lse=False, out=None):
    r"""Attention over a ragged batch of sequences (FlashAttention-2's
    ``flash_attn_varlen_func``), optionally over a paged KV cache.

    Parameters
    ----------
    q : ndarray, shape (total_q, Hq, E)
        Packed queries; sequence ``b`` is rows ``cu_seqlens_q[b]:cu_seqlens_q[b+1]``.
    k, v : ndarray, shape (total_k, H, E) / (total_k, H, Ev)
        Packed keys and values, or with `block_table` a paged cache
        ``(num_blocks, block_size, H, E)``: sequence ``b``'s keys are the first
        ``cu_seqlens_k[b+1] - cu_seqlens_k[b]`` slots of its blocks in order.
        float32, float16, bfloat16 or float64 (dtype rules of
        :func:`scaled_dot_product_attention`: a half cache with a float32 or
        half `q`; output in q's dtype, lse float32); ``Hq`` a multiple of
        ``H`` (GQA / MQA).
    cu_seqlens_q, cu_seqlens_k : ndarray of int32 or int64, shape (batch + 1,)
        Non-decreasing, starting at 0; the last entry is ``total`` (packed).
    max_seqlen_q, max_seqlen_k : int, optional
        Accepted for compatibility; not needed.
    dropout_p : float
        Must be 0.
    softmax_scale : float, optional
        Default ``1 / sqrt(E)``.
    causal : bool
        Bottom-right aligned per sequence: query ``i`` sees keys ``j <= i + Lk - Lq``.
    window_size : (int, int)
        ``(left, right)``: query ``i`` sees keys in
        ``[i + Lk - Lq - left, i + Lk - Lq + right]``; -1 unbounded.  Key tiles
        outside the band are skipped, not masked.
    softcap : float
        ``> 0``: scores become ``softcap * tanh(s / softcap)``.
    alibi_slopes : ndarray, shape (Hq,) or (batch, Hq), optional
        ``s -= slope[h] * |i + Lk - Lq - j|`` (after the softcap, before the masks).
    block_table : ndarray of int32 or int64, shape (batch, max_blocks), optional
    sinks : ndarray, shape (Hq,), optional
        One extra logit per head in the softmax denominator, with no value.
    return_lse : bool
        Also return the ``(Hq, total_q)`` log-sum-exp (sinks included).
    out : ndarray (total_q, Hq, Ev), or a pair with `return_lse`, optional

    Returns
    -------
    out : ndarray, shape (total_q, Hq, Ev)
        A query row that sees no key gives zeros (lse ``-inf``, or the sink).
    lse : ndarray, shape (Hq, total_q)
        Only with `return_lse`.

    Raises
    ------
    TypeError
        Wrong dtypes (floats, index arrays).
    ValueError
        Shapes, heads, cu_seqlens, block ids or lengths that do not fit, named
        with the sequence; checked before anything is read or written.
    """
    paged = block_table is not None
    q, k, v, dt = _check_qkv(q, k, v, 3, 4 if paged else 3)  # dt: the compute dtype
    hq, e = q.shape[1:]
    h, ev = k.shape[-2], v.shape[-1]
    scale, causal, left, right, softcap = _common(dropout_p, softmax_scale, e, causal, window_size, softcap)
    cq = _cu(cu_seqlens_q, "cu_seqlens_q", q.shape[0])
    ck = _cu(cu_seqlens_k, "cu_seqlens_k", None if paged else k.shape[0])
    if cq.size != ck.size:
        raise ValueError(f"cu_seqlens_q has {cq.size - 1} sequences, cu_seqlens_k has {ck.size - 1}")
    batch = cq.size - 1
    nk = np.diff(ck)
    bt = _block_table(block_table, batch, nk, k.shape[1], k.shape[0]) if paged else None
    slopes = _per_head(alibi_slopes, "alibi_slopes", hq, batch, dt, True)
    sk = _per_head(sinks, "sinks", hq, 1, dt, False)
    res, lse = _outputs(out, return_lse, (q.shape[0], hq, ev), (hq, q.shape[0]), q.dtype, dt)
    _attend(q, k, v, res, lse, causal, scale, left, right, softcap, slopes, sk, cq, nk, None if paged else ck[:-1], bt)
    return (res, lse) if return_lse else res


def flash_attn_with_kvcache(q, k_cache, v_cache, k=None, v=None, cache_seqlens=None, block_table=None,
                            softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                            alibi_slopes=None, *, sinks=None, return_lse=False, out=None):
    r"""Attention against a KV cache, appending new keys in place first
    (FlashAttention-2's ``flash_attn_with_kvcache``): the decode step of a server.

    Parameters
    ----------
    q : ndarray, shape (batch, Lq, Hq, E)
    k_cache, v_cache : ndarray, shape (batch, capacity, H, E) or, with
        `block_table`, (num_blocks, block_size, H, E)
        Written in place when `k`/`v` are given (must be writeable then).
    k, v : ndarray, shape (batch, Lnew, H, E), optional
        Written at positions ``cache_seqlens[b] ...`` of sequence ``b``, then
        attended in the same call.
    cache_seqlens : int or ndarray of int32/int64, shape (batch,), optional
        Keys already in each sequence's cache (default: the full capacity).
    block_table : ndarray of int32/int64, shape (batch, max_blocks), optional
    softmax_scale, causal, window_size, softcap, alibi_slopes, sinks, return_lse, out
        As in :func:`flash_attn_varlen_func`; sequence ``b`` has
        ``Lk = cache_seqlens[b] + Lnew`` keys.

    Returns
    -------
    out : ndarray, shape (batch, Lq, Hq, Ev)
    lse : ndarray, shape (batch, Hq, Lq)
        Only with `return_lse`.

    Raises
    ------
    TypeError, ValueError
        As in :func:`flash_attn_varlen_func`, plus: lengths beyond the capacity
        or the sequence's blocks, appends to one slot from two sequences, a
        read-only cache with `k`/`v`.  Nothing is written before the checks pass.
    """
    paged = block_table is not None
    q, kc, vc, dt = _check_qkv(q, k_cache, v_cache, 4, 4)  # dt: the compute dtype
    batch, lq, hq, e = q.shape
    h, ev = kc.shape[-2], vc.shape[-1]
    scale, causal, left, right, softcap = _common(0.0, softmax_scale, e, causal, window_size, softcap)
    if (k is None) != (v is None):
        raise ValueError("k and v must be given together")
    lnew = 0
    if k is not None:
        k = R.as_array(k, "k", native=True)
        v = R.as_array(v, "v", native=True)
        for name, x, want in (("k", k, (batch, None, h, e)), ("v", v, (batch, None, h, ev))):
            if x.dtype != kc.dtype:
                raise TypeError(f"{name}: dtype {x.dtype}, the cache's is {kc.dtype}")
            if x.ndim != 4 or x.shape[0] != batch or x.shape[2:] != want[2:]:
                raise ValueError(f"{name}: expected shape ({batch}, Lnew, {h}, {want[3]}), got {x.shape}")
        if k.shape[1] != v.shape[1]:
            raise ValueError(f"k has {k.shape[1]} new keys per sequence, v has {v.shape[1]}")
        lnew = k.shape[1]
        for name, c in (("k_cache", kc), ("v_cache", vc)):
            if not c.flags.writeable:
                raise ValueError(f"{name}: read-only, but k/v are to be appended")
    if paged:
        bt = _index(block_table, "block_table", 2)
        if bt.shape[0] != batch:
            raise ValueError(f"block_table: {bt.shape[0]} rows for {batch} sequences")
        capacity = bt.shape[1] * kc.shape[1]
    else:
        if kc.shape[0] != batch:
            raise ValueError(f"k_cache: {kc.shape[0]} sequences, q has {batch}")
        capacity = kc.shape[1]
    if cache_seqlens is None:
        sl = np.full(batch, capacity - lnew, np.int64)
    elif isinstance(cache_seqlens, (int, np.integer)) and not isinstance(cache_seqlens, bool):
        sl = np.full(batch, int(cache_seqlens), np.int64)
    else:
        sl = _index(cache_seqlens, "cache_seqlens", 1)
        if sl.shape[0] != batch:
            raise ValueError(f"cache_seqlens: {sl.shape[0]} entries for {batch} sequences")
    if (sl < 0).any():
        b = int(np.argmax(sl < 0))
        raise ValueError(f"cache_seqlens: sequence {b} has length {sl[b]} < 0")
    if (sl + lnew > capacity).any():
        b = int(np.argmax(sl + lnew > capacity))
        raise ValueError(f"cache_seqlens: sequence {b} needs {sl[b] + lnew} slots, its cache holds {capacity}")
    nk = sl + lnew
    pos = sl[:, None] + np.arange(lnew)  # (batch, Lnew): the appended positions
    if paged:
        bs = kc.shape[1]
        bt = _block_table(bt, batch, nk, bs, kc.shape[0])
        ids = np.take_along_axis(bt, pos // bs, axis=1) if lnew else None
        if lnew:
            _check_appends(ids * bs + pos % bs, bs, lnew)
    slopes = _per_head(alibi_slopes, "alibi_slopes", hq, batch, dt, True)
    sk = _per_head(sinks, "sinks", hq, 1, dt, False)
    res, lse = _outputs(out, return_lse, (batch, lq, hq, ev), (batch, hq, lq), q.dtype, dt)
    # ---- validated: append, then attend ----
    if lnew:
        if paged:
            kc[ids, pos % bs] = k
            vc[ids, pos % bs] = v
        else:
            rows = np.arange(batch)[:, None]
            kc[rows, pos] = k
            vc[rows, pos] = v
    cu_q = np.arange(batch + 1, dtype=np.int64) * lq
    _attend(q, kc, vc, res, lse, causal, scale, left, right, softcap, slopes, sk, cu_q, nk,
            None if paged else np.zeros(batch, np.int64), bt if paged else None)
    return (res, lse) if return_lse else res
