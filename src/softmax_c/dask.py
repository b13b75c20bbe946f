"""softmax_c on Dask arrays: logsumexp, softmax, log_softmax, attention over
a sharded KV cache, and vocabulary-parallel sampling, built on mergeable
partial states (:func:`softmax_c.softmax_stats`, :func:`softmax_c.merge_stats`).

Needs the optional extra (``pip install "softmax_c[dask]"``: dask[array] and
distributed); ``import softmax_c`` never imports Dask, ``import
softmax_c.dask`` does.

Design notes
------------
1. **One tree reduction of states.**  A chunk becomes its state ``(m, s)``
   (one kernel read of the chunk); states are packed in a small structured
   array (fields ``m``, ``s``, float64 whatever the input: merging in float64
   keeps the reordering of the sum from costing float32 digits) and merged by
   :func:`~softmax_c.merge_stats` in ``dask.array.reduction``'s tree
   (``split_every`` states per task).  ``logsumexp`` is that one reduction;
   its aggregate step returns ``m + log s``.
2. **softmax / log_softmax** are the same reduction with ``keepdims=True``
   (the row's state, broadcast), on ``(max, sum relative to max)`` chunk
   states (``stats._max_stats``: the shift must be exact, see there), then one ``map_blocks`` that normalises each
   chunk: ``exp((x / T - m) - log s)``, in float64 slabs of 32 Ki elements
   rounded once to the result dtype (in float32, ``x - shift`` would lose
   ``|x - shift|`` ulps of a tiny probability: measured 1.1x the float32
   bound at p ~ 1e-28).  Each chunk is read twice and written once; nothing
   but states crosses chunks.
3. **Kernel threads inside workers.**  Every task runs :func:`_task_threads`
   first: inside a ``distributed`` worker it sets softmax_c's kernel threads
   for that process, once, to ``SOFTMAX_C_NUM_THREADS`` from the worker's
   environment or else 1, i.e. one kernel thread per worker thread (the
   worker's own threads already fill the cores; more would oversubscribe
   them).  Local schedulers (threaded, synchronous) leave the calling
   process's setting alone: the pool then runs concurrent callers inline.
"""
from __future__ import annotations

import numbers
import os
from functools import partial

import numpy as np

try:
    import dask.array as da
except ImportError as e:  # pragma: no cover - exercised without the extra
    raise ImportError('softmax_c.dask needs the optional extra: pip install "softmax_c[dask]" '
                      f"(dask[array] and distributed): {e}") from None

from . import get_num_threads, set_num_threads
from . import log_softmax as _np_log_softmax
from . import logsumexp as _np_logsumexp
from . import softmax as _np_softmax
from .stats import _check_temperature, _max_stats, merge_stats, softmax_stats

try:  # NumPy >= 2
    from numpy.lib.array_utils import normalize_axis_tuple
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.numeric import normalize_axis_tuple

__all__ = ["logsumexp", "softmax", "log_softmax", "scaled_dot_product_attention", "sample",
           "topk_softmax"]

_STATE = np.dtype([("m", np.float64), ("s", np.float64)])


# ------------------------------------------------------------ kernel threads --

_threads_set = False


def _task_threads():
    """Once per process, inside a distributed worker: kernel threads =
    SOFTMAX_C_NUM_THREADS (the worker's environment) or 1."""
    global _threads_set
    if _threads_set:
        return
    try:
        from distributed import get_worker
        get_worker()
    except (ImportError, ValueError):
        return  # not in a worker (yet): a local scheduler, the client
    _threads_set = True
    want = os.environ.get("SOFTMAX_C_NUM_THREADS", "").strip()
    n = int(want) if want.isdigit() and int(want) >= 1 else 1
    if get_num_threads() != n:
        set_num_threads(n)


# ---------------------------------------------------------------- the states --

def _pack(m, s):
    p = np.empty(np.shape(m), _STATE)
    p["m"] = m
    p["s"] = s
    return p


def _stats_chunk(x, b=None, *, axis, keepdims, temperature=1.0, exact_shift=False, **_):
    """dask.array.reduction's chunk step: one block -> its packed state
    (``exact_shift``: the (max, sum) state softmax needs, see _max_stats)."""
    _task_threads()
    if exact_shift:
        m, s = _max_stats(x, axis=axis, temperature=temperature)
    else:
        m, s = softmax_stats(x, axis=axis, temperature=temperature, b=b)
    return _pack(m, s)


def _stats_combine(p, *, axis, keepdims, **_):
    """The combine step: a concatenated stack of states -> one state."""
    m, s = merge_stats(p["m"], p["s"], axis)
    out = _pack(m, s)
    return out if keepdims else out.reshape(_drop(out.shape, axis))


def _drop(shape, axes):
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def _lse_aggregate(p, *, axis, keepdims, dtype, **_):
    """logsumexp's aggregate step: merge, then m + log s."""
    m, s = merge_stats(p["m"], p["s"], axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (m + np.log(s)).astype(dtype)
    return r if keepdims else r.reshape(_drop(r.shape, axis))


def _state_lse(p, dtype):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (p["m"] + np.log(np.abs(p["s"]))).astype(dtype)


def _state_sign(p, dtype):
    return np.sign(p["s"]).astype(dtype)


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, bool):
        raise TypeError("axis must be an int, a tuple of ints or None, got bool")
    return tuple(sorted(normalize_axis_tuple(axis, ndim, "axis")))


def _state_reduction(x, axes, *, b=None, temperature=1.0, exact_shift=False, keepdims, split_every, name):
    """The one tree reduction: x -> packed states over `axes`."""
    return da.reduction(
        x, partial(_stats_chunk, temperature=temperature, exact_shift=exact_shift), _stats_combine,
        combine=_stats_combine, axis=axes, keepdims=keepdims, dtype=_STATE,
        split_every=split_every, concatenate=True, weights=b, name=name,
        meta=np.empty((0,) * (x.ndim if keepdims else x.ndim - len(axes)), _STATE))


def _dask(x, name):
    if isinstance(x, da.Array):
        return x
    try:
        return da.asarray(x)
    except Exception as e:
        raise TypeError(f"{name}: cannot be converted to an array ({e})") from None


# ----------------------------------------------------------------- logsumexp --

def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, *, split_every=None):
    """``log(sum(b * exp(a)))`` along `axis` of a Dask array, as one tree
    reduction of partial states.

    Same signature and semantics as :func:`softmax_c.logsumexp` (that is,
    :func:`scipy.special.logsumexp`), on a :class:`dask.array.Array` chunked
    any way, including along the reduced axes.  Each chunk is read once by
    the kernel; only ``(m, s)`` states (16 bytes per output element and
    chunk) travel between tasks.

    Parameters
    ----------
    a : dask.array.Array or array_like
    axis : int, tuple of ints or None, optional
    b : dask.array.Array or array_like, optional
        Weights (signs allowed), broadcast against `a` and rechunked to it.
    keepdims, return_sign : bool, optional
        As the NumPy function.
    split_every : int or dict, optional
        States merged per task of the tree (dask's default, 4, when None).

    Returns
    -------
    dask.array.Array, or a pair of them with ``return_sign``
        Lazy; the NumPy function's dtype.  Agreement with the NumPy function:
        merging reorders the sum, so the results differ by rounding (about
        1e-13 relative in float64, 1e-6 in float32).
    """
    a = _dask(a, "a")
    if b is not None:
        b_obj = b
        b = b if isinstance(b, da.Array) else np.asarray(b)
        weak = isinstance(b_obj, (int, float)) and not isinstance(b_obj, bool)
        rdt = np.asarray(_np_logsumexp(np.zeros(1, a.dtype), b=b_obj if weak else np.ones(1, b.dtype))).dtype
        if weak:
            b = np.asarray(b_obj, dtype=rdt)
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"b with shape {b.shape} does not broadcast against a with shape {a.shape}") from None
        if shape != a.shape:
            a = da.broadcast_to(a, shape)
    else:
        rdt = np.asarray(_np_logsumexp(np.zeros(1, a.dtype))).dtype
    scalar = a.ndim == 0
    if scalar:
        a = a.reshape(1)
        b = None if b is None else (b.reshape(1) if np.ndim(b) else b)
    axes = _axes(axis, a.ndim)
    empty = any(a.shape[d] == 0 for d in axes)
    keep = keepdims and not scalar
    if not return_sign:
        r = da.reduction(
            a, _stats_chunk, partial(_lse_aggregate, dtype=rdt), combine=_stats_combine,
            axis=axes, keepdims=keep, dtype=_STATE, split_every=split_every, concatenate=True,
            weights=b, name="softmax_c-logsumexp",  # dtype: the intermediates'; meta: the result's
            meta=np.empty((0,) * (a.ndim if keep else a.ndim - len(axes)), rdt))
        return r.reshape(()) if scalar else r
    st = _state_reduction(a, axes, b=b, keepdims=keep, split_every=split_every,
                          name="softmax_c-logsumexp")
    meta = np.empty((0,) * st.ndim, rdt)
    res = st.map_blocks(_state_lse, rdt, dtype=rdt, meta=meta, token="softmax_c-logsumexp-value")
    if empty:  # scipy: sign(-inf) for an empty reduction
        sgn = da.full(st.shape, -1.0, dtype=rdt, chunks=st.chunks)
    else:
        sgn = st.map_blocks(_state_sign, rdt, dtype=rdt, meta=meta, token="softmax_c-logsumexp-sign")
    if scalar:
        res, sgn = res.reshape(()), sgn.reshape(())
    return res, sgn


# ------------------------------------------------------------------- softmax --

_SLAB = 1 << 15  # elements normalised per step: float64 temporaries stay in L2


def _normalise_chunk(x, p, *, temperature, log_mode, rdt):
    """map_blocks step: one block of x and its rows' state -> softmax or
    log_softmax of the block, ``exp(x / T - m - log s)``.

    Computed in float64 slabs along the first axis whatever the dtype, then
    rounded once: the float32 argument ``x - m`` of a tiny probability would
    otherwise lose |x - m| ulps (the merged shift is not the row's max)."""
    _task_threads()
    y = np.empty(x.shape, rdt)
    if x.size == 0:
        return y
    m = p["m"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not log_mode:  # a row holding +inf: all NaN (scipy), not [nan, 0, ...]
            m = np.where(m == np.inf, np.nan, m)
        logs = np.log(p["s"])
        step = max(1, _SLAB // max(1, x.size // x.shape[0]))
        for r in range(0, x.shape[0], step):
            sl = slice(r, r + step)
            z = np.divide(x[sl], temperature, dtype=np.float64)
            z -= m[sl] if m.shape[0] != 1 else m  # (x - max) - log s, as scipy: no ulp(lse) lost
            z -= logs[sl] if logs.shape[0] != 1 else logs
            if not log_mode:
                np.exp(z, out=z)
            y[sl] = z
    return y


def _softmax_family(x, axis, temperature, split_every, log_mode):
    name = "log_softmax" if log_mode else "softmax"
    x = _dask(x, "x")
    t = _check_temperature(temperature)
    fn = _np_log_softmax if log_mode else _np_softmax
    rdt = fn(np.zeros(1, x.dtype)).dtype  # the NumPy function's dtype rules and TypeErrors
    if x.ndim == 0:
        return _softmax_family(x.reshape(1), 0, t, split_every, log_mode).reshape(())
    axes = _axes(axis, x.ndim)
    for d in axes:
        if x.shape[d] == 0:
            raise ValueError(f"{name}: zero-size array along reduced axis {d} (scipy raises here too)")
    st = _state_reduction(x, axes, temperature=t, exact_shift=True, keepdims=True, split_every=split_every,
                          name=f"softmax_c-{name}-stats")
    return da.map_blocks(_normalise_chunk, x, st, temperature=t, log_mode=log_mode, rdt=rdt, dtype=rdt,
                         meta=np.empty((0,) * x.ndim, rdt), token=f"softmax_c-{name}")


def softmax(x, axis=None, *, temperature=1.0, split_every=None):
    """Softmax along `axis` of a Dask array: the states' tree reduction, then
    one ``map_blocks`` normalising each chunk.

    Same signature and semantics as :func:`softmax_c.softmax` (scipy's
    softmax; `axis` None means the whole array), on any chunking, including
    along `axis`.  ``split_every`` as :func:`logsumexp`.  Results agree with
    the NumPy function to its accuracy bounds (float64 about 1e-13 relative;
    the normalisation runs in float64 and rounds once).

    Returns
    -------
    dask.array.Array
        Lazy, `x`'s shape and chunks.
    """
    return _softmax_family(x, axis, temperature, split_every, False)


def log_softmax(x, axis=None, *, temperature=1.0, split_every=None):
    """Log-softmax along `axis` of a Dask array, ``x / T - logsumexp(x / T)``;
    as :func:`softmax` (same reduction, one ``map_blocks``)."""
    return _softmax_family(x, axis, temperature, split_every, True)


# ----------------------------------------------------------------- attention --

def _attention_block(q, k, v, *rest, has_mask, causal, L, S, scale, enable_gqa, ev):
    """One (query chunk, key chunk) pair -> (1, ..., Lc, Ev + 1): the chunk's
    output with its lse in the last column.  Causal masks are rebuilt from
    the absolute positions of the chunk's queries and keys."""
    from . import scaled_dot_product_attention as _np_sdpa

    _task_threads()
    mask = rest[0] if has_mask else None
    qpos, kpos = rest[-2], rest[-1]
    if causal:
        limit = qpos[:, None] + (S - L if causal == "lower_right" else 0)
        band = kpos[None, :] <= limit
        if band.all():
            mask = None
        elif not band.any():  # wholly outside the band: no keys seen, skipped
            shape = np.broadcast_shapes(q.shape[:-1], k.shape[:-3] + (q.shape[-3], q.shape[-2]))
            r = np.zeros((1,) + shape + (ev + 1,), q.dtype)
            r[..., ev] = -np.inf
            return r
        else:
            mask = band
    out, lse = _np_sdpa(q, k, v, attn_mask=mask, scale=scale, enable_gqa=enable_gqa, return_lse=True)
    r = np.empty((1,) + out.shape[:-1] + (ev + 1,), out.dtype)
    r[0, ..., :ev] = out
    r[0, ..., ev] = lse
    return r


def _attention_merge(p, *, axis, keepdims, **_):
    """A stack of packed (output, lse) partials along axis 0 -> one."""
    from . import merge_attention

    ev = p.shape[-1] - 1
    out, lse = merge_attention(list(p[..., :ev]), list(p[..., ev]))
    r = np.empty((1,) + out.shape[:-1] + (ev + 1,), out.dtype)
    r[0, ..., :ev] = out
    r[0, ..., ev] = lse
    return r if keepdims else r[0]


def _identity_chunk(x, *, axis, keepdims, **_):
    return x


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False, *, causal_alignment="upper_left",
                                 return_lse=False, split_every=None):
    """Attention over a sharded KV cache: `key` and `value` chunked along the
    sequence axis (-2), one task per (query chunk, key chunk), the partial
    results merged in a tree by :func:`softmax_c.merge_attention`.

    Same signature and semantics as :func:`softmax_c.scaled_dot_product_attention`
    (and its validation: the same errors, raised before anything is built),
    on Dask arrays or NumPy arrays.  The query may be chunked along L; every
    other axis (batch, heads, E, Ev) is kept in one chunk.  Masks: a user
    mask is chunked like the scores (L by the query's chunks, S by the
    keys'); ``is_causal`` with either alignment is rebuilt per chunk from the
    absolute positions (upper-left: key j is seen by query i iff j <= i;
    lower-right: iff j <= i + S - L); chunks wholly outside the band are not
    computed and contribute nothing (their lse is -inf).  ``split_every``:
    partials merged per task.

    Returns
    -------
    dask.array.Array (and its lse with ``return_lse``)
        Equal to the one-machine call to rounding (the merge reorders the
        softmax sum: float32 ~2e-5 relative to the output scale, float64
        ~1e-12).
    """
    from . import scaled_dot_product_attention as _np_sdpa

    q, k, v = (_dask(a, n) for a, n in ((query, "query"), (key, "key"), (value, "value")))
    m = None if attn_mask is None else _dask(attn_mask, "attn_mask")
    # validate with the one-machine front on tiny stand-ins (L = S = 1)
    def tiny(a, rows):
        shape = list(a.shape)
        for d in rows:
            if a.ndim >= -d and shape[d] > 1:
                shape[d] = 1
        return np.zeros(shape, a.dtype)
    _np_sdpa(tiny(q, (-2,)), tiny(k, (-2,)), tiny(v, (-2,)),
             None if m is None else tiny(m, (-2, -1)), dropout_p, is_causal, scale, enable_gqa,
             causal_alignment=causal_alignment)
    two_d = q.ndim == k.ndim == v.ndim == 2 and (m is None or m.ndim <= 2)
    q, k, v = (a[None] if a.ndim == 2 else a for a in (q, k, v))
    L, E = q.shape[-2:]
    S, Ev = v.shape[-2:]
    nb = max(q.ndim, k.ndim, v.ndim) - 3
    B = tuple(f"b{i}" for i in range(nb))
    idx = lambda a, tail: B[nb - (a.ndim - 3):] + tail  # noqa: E731
    q = q.rechunk({d: -1 for d in range(q.ndim) if d != q.ndim - 2})
    k = k.rechunk({d: -1 for d in range(k.ndim) if d != k.ndim - 2})
    v = v.rechunk({d: -1 for d in range(v.ndim) if d != v.ndim - 2})
    v = v.rechunk({v.ndim - 2: k.chunks[-2]})
    args = [q, idx(q, ("hq", "l", "d")), k, idx(k, ("hk", "j", "d")), v, idx(v, ("hk", "j", "e"))]
    if m is not None:
        full = B + ("hq", "l", "j")
        mi = full[len(full) - m.ndim:]
        want = {}
        for d, name in enumerate(mi):
            if m.shape[d] == 1:
                want[d] = -1
            elif name == "l":
                want[d] = q.chunks[-2]
            elif name == "j":
                want[d] = k.chunks[-2]
            else:
                want[d] = -1
        args += [m.rechunk(want), mi]
    qpos = da.arange(L, chunks=(q.chunks[-2],))
    kpos = da.arange(S, chunks=(k.chunks[-2],))
    args += [qpos, ("l",), kpos, ("j",)]
    causal = causal_alignment if is_causal else None
    parts = da.blockwise(
        partial(_attention_block, has_mask=m is not None, causal=causal, L=L, S=S, scale=scale,
                enable_gqa=enable_gqa, ev=Ev),
        ("j",) + B + ("hq", "l", "e"), *args,
        adjust_chunks={"j": 1, "e": Ev + 1}, new_axes={}, concatenate=True, dtype=q.dtype,
        meta=np.empty((0,) * (nb + 4), q.dtype), name=None, token="softmax_c-attention-part",
        align_arrays=True)
    merged = da.reduction(
        parts, _identity_chunk, _attention_merge, combine=_attention_merge, axis=0, keepdims=False,
        dtype=q.dtype, split_every=split_every, concatenate=True, name="softmax_c-attention-merge",
        meta=np.empty((0,) * (nb + 3), q.dtype))
    out, lse = merged[..., :Ev], merged[..., Ev]
    if two_d:
        out, lse = out[0], lse[0]
    return (out, lse) if return_lse else out
