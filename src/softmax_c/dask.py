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
   states (:func:`~softmax_c.softmax_stats`, one kernel read: the shift must
   be the exact max), then one ``map_blocks`` that normalises each
   chunk: the kernel's softmax (log_softmax) of the chunk times (plus) the
   chunk's share of its row, ``exp(m_c - M) s_c / S`` (``m_c - M + log s_c
   - log S``), from the chunk's own state; rows where a state is not finite
   and half-precision chunks take ``exp((x / T - M) - log S)``, with ``M``
   the exact max, the order of scipy's ``(x - max) - log(sum)`` (a shift of
   ``M + log S`` would cost ``ulp(lse)`` per element: 3e-5 relative for
   float32 logits near 1000).  Each chunk is read three times (the
   reduction's state, its own state, the softmax) and written once; nothing
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
from . import _rules
from .sampling import _GAMMA, _mix64  # SplitMix64's constants, shared with the per-row streams
from .stats import _lse_stats, merge_stats, softmax_stats

__all__ = ["logsumexp", "softmax", "log_softmax", "scaled_dot_product_attention", "sample", "topk_softmax"]

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
    (``exact_shift``: the (max, sum) state softmax needs, by the stats
    kernel; else logsumexp's (lse, sign) state, see stats._lse_stats)."""
    _task_threads()
    if exact_shift:
        m, s = softmax_stats(x, axis=axis, temperature=temperature)
    else:
        m, s = _lse_stats(x, axis=axis, temperature=temperature, b=b)
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
    axes = _rules.axes(axis, a.ndim)
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

def _normalise_chunk(x, p, *, temperature, log_mode, rdt, axes):
    """map_blocks step: one block of x and its rows' state -> softmax or
    log_softmax of the block.

    float32 / float64: the block's own softmax by the kernel (one read, one
    write, one exp per element), then per row the block's share of the row,
    ``exp(m_c - M) s_c / S`` (softmax) or ``m_c + log s_c - M - log S``
    (log_softmax), with ``(m_c, s_c)`` the block's state (one more kernel
    read).  Measured (sync scheduler, (8192, 32000) float32 in (4096, 8000)
    blocks, softmax then row sums, load ~6): 0.88 s with the NumPy form for
    every block, 0.58 s this way.  With the row in one block the share is
    exactly 1 (0).
    Rows whose block or row state is not finite (a block of all -inf, +inf,
    NaN) and float16 / bfloat16 blocks (a second rounding) take the NumPy
    form below.
    """
    _task_threads()
    kdt = np.float64 if rdt == np.float64 else np.float32
    if x.size == 0:
        return np.empty(x.shape, rdt)
    if x.dtype in (np.float32, np.float64) and x.dtype == rdt:
        mc, sc_ = softmax_stats(x, axes, temperature=temperature)
        M, S = p["m"], p["s"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ok = np.isfinite(mc) & (sc_ > 0) & np.isfinite(M) & (S > 0) & np.isfinite(S)
            if log_mode:
                share = (mc.astype(np.float64) - M) + (np.log(sc_.astype(np.float64)) - np.log(S))
                trivial = np.all(share[ok] == 0)
            else:
                share = np.exp(mc.astype(np.float64) - M) * sc_.astype(np.float64) / S
                trivial = np.all(share[ok] == 1)
        fn = _np_log_softmax if log_mode else _np_softmax
        y = fn(x, axis=axes, temperature=temperature)
        if not trivial:
            if log_mode:
                y += np.where(ok, share, 0).astype(kdt)
            else:
                y *= np.where(ok, share, 1).astype(kdt)
        if not ok.all():
            bad = np.broadcast_to(~ok, x.shape)
            y[bad] = _normalise_numpy(x, p, temperature=temperature, log_mode=log_mode, rdt=rdt)[bad]
        return y
    return _normalise_numpy(x, p, temperature=temperature, log_mode=log_mode, rdt=rdt)


def _normalise_numpy(x, p, *, temperature, log_mode, rdt):
    """``exp((x / T - m) - log s)`` in place in the output (float16:
    computed in float32, rounded once), m the exact row max."""
    kdt = np.float64 if rdt == np.float64 else np.float32
    y = np.empty(x.shape, kdt)
    m = p["m"].astype(kdt)  # exact: the max of x / T in kdt
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not log_mode:  # a row holding +inf: all NaN (scipy), not [nan, 0, ...]
            m = np.where(m == np.inf, np.nan, m).astype(kdt)
        logs = np.log(p["s"]).astype(kdt)
        if temperature != 1.0:
            np.divide(x, temperature, out=y, dtype=kdt)
            y -= m
        else:
            np.subtract(x, m, out=y, dtype=kdt)
        y -= logs  # (x - max) - log s, as scipy: no ulp(lse) lost
        if not log_mode:
            np.exp(y, out=y)
    return y if y.dtype == rdt else y.astype(rdt)


def _softmax_family(x, axis, temperature, split_every, log_mode):
    name = "log_softmax" if log_mode else "softmax"
    x = _dask(x, "x")
    t = _rules.positive_finite(temperature, "temperature")
    fn = _np_log_softmax if log_mode else _np_softmax
    rdt = fn(np.zeros(1, x.dtype)).dtype  # the NumPy function's dtype rules and TypeErrors
    if x.ndim == 0:
        return _softmax_family(x.reshape(1), 0, t, split_every, log_mode).reshape(())
    axes = _rules.axes(axis, x.ndim)
    for d in axes:
        if x.shape[d] == 0:
            raise ValueError(f"{name}: zero-size array along reduced axis {d} (scipy raises here too)")
    st = _state_reduction(x, axes, temperature=t, exact_shift=True, keepdims=True, split_every=split_every,
                          name=f"softmax_c-{name}-stats")
    return da.map_blocks(_normalise_chunk, x, st, temperature=t, log_mode=log_mode, rdt=rdt, axes=axes, dtype=rdt,
                         meta=np.empty((0,) * x.ndim, rdt), token=f"softmax_c-{name}")


def softmax(x, axis=None, *, temperature=1.0, split_every=None):
    """Softmax along `axis` of a Dask array: the states' tree reduction, then
    one ``map_blocks`` normalising each chunk.

    Same signature and semantics as :func:`softmax_c.softmax` (scipy's
    softmax; `axis` None means the whole array), on any chunking, including
    along `axis`.  ``split_every`` as :func:`logsumexp`.  Results agree with
    the NumPy function to twice its accuracy bounds (float64 about 1e-13
    relative): each chunk's softmax scaled by its share of the row, the
    sum merged.

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


# ------------------------------------------------------------------ sampling --
#
# Uniforms.  Row r (flat, C order over the batch) draws from a stream keyed
# by (seed, r) and never by the chunking:
#   u(r)  = numpy.random.default_rng(seed).random(rows)[r]   -- the very
#           uniform softmax_c.sample uses for row r; reached in a block
#           starting at row r0 by PCG64.advance(r0), no client-side array.
#
# * temperature > 0 without top_k / top_p / min_p (whatever the chunking,
#   the vocabulary in one chunk or many): Gumbel-max.  Token t of row r gets
#   the noise G(r, t) = -log(-log U(seed, r, t)), U a counter-based uniform
#   (a splitmix64 hash of (seed, r, t), 53 bits, in (0, 1); _gumbel), and the
#   token is argmax_t (x_t / T + G(r, t)), ties to the lower index.  Why the
#   distribution is exact: for iid Gumbel(0, 1) noise,
#   P(argmax = t) = e^{x_t/T} / sum_j e^{x_j/T} (the Gumbel-max trick: the
#   max of z_j + G_j is Gumbel(log sum e^{z_j}) and the argmax is
#   independent of it with these probabilities).  Why the tokens do not
#   depend on the chunking: the noise of (r, t) is a function of the global
#   token id, not of where t sits, and an argmax merges exactly: each chunk
#   returns its (best score, its lowest index), the row keeps the chunk
#   with the highest score, the lowest chunk on ties.  Each chunk is read
#   once.  These tokens are not softmax_c.sample's (an inverse CDF), they are
#   draws from the same distribution.
# * temperature 0 (greedy): per-chunk argmax, merged by (max value, lowest
#   index): exact, chunking-invariant.
# * top_k (with or without top_p / min_p), vocabulary chunked: each chunk's
#   top-k by (value desc, index asc); the top-k of their union is the global
#   top-k set exactly; top-p and min-p then act on that set (they only keep
#   prefixes of it), and the token is the inverse CDF in index order with
#   u(r): the one-machine draw (to rounding), whatever the chunking.  With
#   the vocabulary in one chunk the NumPy function runs per row block: the
#   same tokens.
# * top_p or min_p without top_k on a chunked vocabulary:
#   NotImplementedError (they need the global order of the whole row);
#   rechunk the vocabulary into one chunk.


def _gumbel(seed, rows, c0, width):
    """G(r, t) = -log(-log U) for rows `rows` (global, int64) and tokens
    c0 .. c0 + width - 1: U from the hash of (seed, r, t), in (0, 1)."""
    with np.errstate(over="ignore"):
        ks = _mix64(np.uint64(int(seed) % 2**64) * _GAMMA + np.uint64(1))
        kr = _mix64(ks ^ (np.asarray(rows, np.uint64) * _GAMMA))[:, None]
        t = np.arange(c0, c0 + width, dtype=np.uint64)[None, :]
        h = _mix64(kr + t * _GAMMA + np.uint64(0x632BE59BD9B4E019))
    u = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return -np.log(-np.log(u))


def _row_stream(seed, r0):
    g = np.random.default_rng(seed)
    g.bit_generator.advance(int(r0))
    return g


def _sample_rows_block(x, rowpos, *, seed, kw):
    from . import sample as _np_sample

    _task_threads()
    rowpos = rowpos.reshape(-1)  # (rows, 1): map_blocks aligns trailing axes
    g = _row_stream(seed, rowpos[0]) if rowpos.size else None
    if x.shape[0] == 0:
        return np.empty(0, np.int64)
    return np.asarray(_np_sample(x, seed=g, **kw), np.int64).reshape(x.shape[0])


def _vocab_part(x, rowpos, colpos, *, seed, temperature, top_k):
    """One (rows, vocabulary chunk) block -> float64 (rows, width) partials:
    greedy [max, index]; temperature (Gumbel-max) [best score, index];
    top-k [values, indices]."""
    from . import topk_softmax as _np_topk

    _task_threads()
    rows = x.shape[0]
    c0 = int(colpos[0])
    xf = np.asarray(x, np.float64) if x.dtype.kind != "f" else x
    if rows == 0:
        return np.empty((0, 2 * (top_k or 1)))
    if temperature == 0:
        i = np.argmax(xf, axis=1)
        return np.stack([xf[np.arange(rows), i].astype(np.float64), (i + c0).astype(np.float64)], 1)
    z = np.divide(xf, temperature, dtype=np.float64)
    if top_k:
        k = min(top_k, x.shape[1])
        zmax = np.max(z, axis=1)  # NaN for a NaN anywhere
        ok = np.isfinite(zmax)
        _, idx = _np_topk(np.where(ok[:, None], xf, 0), k, temperature=temperature)
        vals = np.take_along_axis(z, idx, 1)
        vals[~ok] = zmax[~ok, None]  # NaN, +inf: invalid rows; -inf: nothing here
        idx[~ok] = -1
        out = np.full((rows, 2 * top_k), -np.inf)
        out[:, top_k:] = -1
        out[:, :k] = vals
        out[:, top_k:top_k + k] = idx + c0
        return out
    with np.errstate(invalid="ignore"):
        z += _gumbel(seed, rowpos, c0, x.shape[1])  # NaN stays NaN, +inf stays +inf: flagged in the merge
    i = np.argmax(z, axis=1)  # the first max: the lowest index (the first NaN for a NaN)
    return np.stack([z[np.arange(rows), i], (i + c0).astype(np.float64)], 1)


def _invalid(bad, rowpos):
    r = int(rowpos[np.flatnonzero(bad)[0]])
    raise ValueError(f"sample: logits row {r} (flat) has a NaN or +inf entry, or no finite entry "
                     "(it defines no probability distribution)")


def _vocab_choose(parts, rowpos, *, seed, temperature, top_k, top_p, min_p):
    """All vocabulary chunks' partials of a row block -> the tokens."""
    rowpos = rowpos.reshape(-1)  # (rows, 1): map_blocks aligns trailing axes
    rows = parts.shape[0]
    if rows == 0:
        return np.empty(0, np.int64)
    if temperature == 0 or not top_k:  # greedy, or Gumbel-max: the best (score, lowest index)
        v, i = parts[:, 0::2], parts[:, 1::2]
        if np.isnan(v).any() or (v == np.inf).any() or (v == -np.inf).all(axis=1).any():
            _invalid(np.isnan(v).any(1) | (v == np.inf).any(1) | (v == -np.inf).all(1), rowpos)
        c = np.argmax(v, axis=1)  # first max: the lowest chunk, hence the lowest index
        return i[np.arange(rows), c].astype(np.int64)
    u = _row_stream(seed, rowpos[0]).random(rows)
    if top_k:
        w = parts.shape[1] // (2 * top_k)
        v = parts.reshape(rows, w, 2, top_k)[:, :, 0, :].reshape(rows, -1)
        i = parts.reshape(rows, w, 2, top_k)[:, :, 1, :].reshape(rows, -1)
        bad = np.isnan(v).any(1) | (v == np.inf).any(1) | (v == -np.inf).all(1)
        if bad.any():
            _invalid(bad, rowpos)
        out = np.empty(rows, np.int64)
        for r in range(rows):  # k * chunks candidates per row: small
            live = i[r] >= 0
            vr, ir = v[r][live], i[r][live].astype(np.int64)
            order = np.lexsort((ir, -vr))[:top_k]
            vr, ir = vr[order], ir[order]
            p = np.exp(vr - vr[0])
            p /= p.sum()
            keep = len(p)
            if top_p is not None and top_p < 1:
                keep = min(keep, int(np.searchsorted(np.cumsum(p), top_p, side="left")) + 1)
            p, ir = p[:keep], ir[:keep]
            if min_p:
                sel = p / p.sum() >= min_p * (p[0] / p.sum())
                p, ir = p[sel], ir[sel]
            o = np.argsort(ir)  # inverse CDF in index order, as the kernel
            c = np.cumsum(p[o])
            out[r] = ir[o][min(int(np.searchsorted(c, u[r] * c[-1], side="right")), len(c) - 1)]
        return out
    raise AssertionError("unreachable: greedy, Gumbel-max and top-k cover every mode")


def sample(logits, *, temperature=1.0, top_k=None, top_p=None, min_p=None, axis=-1, seed=None):
    """:func:`softmax_c.sample` on a Dask array: one token per row.

    Same seed, same tokens, whatever the chunking (rows and vocabulary):

    * temperature only (no top_k / top_p / min_p): Gumbel-max with a
      counter-based noise keyed by (seed, row, global token id), each chunk
      read once, its best (score, index) merged by an argmax; an exact draw
      from ``softmax(x / T)`` (see the notes above this function in the
      source), not the one-machine call's tokens;
    * greedy (temperature 0): the argmax, ties to the lower index;
    * with top_k: the NumPy function's draw (the vocabulary in one chunk:
      blockwise; chunked: the per-chunk top-k merged exactly).

    `seed` must be an int (None draws one).  ``top_p`` / ``min_p`` without
    ``top_k`` on a chunked vocabulary raise NotImplementedError.

    Returns
    -------
    dask.array.Array of int64
        `logits`' shape without `axis`.  An invalid row raises ValueError at
        compute time (its flat row index in the message).
    """
    from . import sample as _np_sample

    x = _dask(logits, "logits")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be an int >= 0 or None on Dask arrays (per-row streams are keyed by it), "
                        f"got {seed!r}")
    kw = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    if x.ndim == 0:
        raise ValueError("logits: expected at least one dimension (the vocabulary), got a scalar")
    _np_sample(np.zeros((1, 2), x.dtype), **kw)  # argument rules of the NumPy function
    x = da.moveaxis(x, axis, -1)
    batch, n = x.shape[:-1], x.shape[-1]
    if n == 0:
        raise ValueError("logits: empty vocabulary")
    x2 = x.reshape((-1, n))
    rowpos = da.arange(x2.shape[0], chunks=(x2.chunks[0],))
    t = float(temperature)
    k = None if top_k is None or top_k >= n else int(top_k)
    filtered = (top_p is not None and top_p < 1) or (min_p is not None and min_p > 0)
    gumbel = t > 0 and k is None and not filtered  # temperature only: Gumbel-max for every chunking
    if x2.numblocks[1] == 1 and not gumbel:
        tok = da.map_blocks(partial(_sample_rows_block, seed=int(seed), kw=kw), x2, rowpos[:, None],
                            drop_axis=1, dtype=np.int64, meta=np.empty(0, np.int64),
                            token="softmax_c-sample")
        return tok.reshape(batch)
    if k is None and filtered and t > 0:
        raise NotImplementedError(
            "sample: top_p / min_p without top_k need the order of the whole row; on a vocabulary "
            "split over chunks pass top_k too, or rechunk the vocabulary axis into one chunk")
    colpos = da.arange(n, chunks=(x2.chunks[1],))
    width = 2 * (k or 1) if t > 0 else 2
    parts = da.blockwise(partial(_vocab_part, seed=int(seed), temperature=t, top_k=k if t > 0 else None),
                         ("r", "c"), x2, ("r", "c"), rowpos, ("r",), colpos, ("c",),
                         adjust_chunks={"c": width}, dtype=np.float64, meta=np.empty((0, 0)),
                         token="softmax_c-sample-part")
    tok = da.map_blocks(partial(_vocab_choose, seed=int(seed), temperature=t, top_k=k if t > 0 else None,
                                top_p=top_p, min_p=min_p),
                        parts.rechunk({1: -1}), rowpos[:, None], drop_axis=1, dtype=np.int64,
                        meta=np.empty(0, np.int64), token="softmax_c-sample")
    return tok.reshape(batch)


# -------------------------------------------------------------- topk_softmax --
#
# Vocabulary chunked: chunk c of a row gives its exact-shift state (m_c, s_c)
# of x / T (softmax_stats, one kernel read) and its top-min(k, width)
# candidates (raw logit, global index), ordered by (logit desc, index asc).
# One aggregate per row block merges the states into the row's (M, S) and
# takes the first k of the union of the candidates in the same order: the
# global top-k, since every member of it is among its own chunk's first k.
# Probabilities are exp(x / T - M) / S: over the FULL row, as the NumPy
# function defines them (not renormalised over the k).  Ties (equal logits)
# go to the lower global index, whatever the chunking: the order compares
# the raw logits (not x / T, whose rounding could tie distinct logits) and
# breaks ties by the global index.

def _topk_invalid(bad, rowpos):
    r = int(rowpos[np.flatnonzero(bad)[0]])
    raise ValueError(f"topk_softmax: logits row {r} (flat) has a NaN or +inf entry, or no finite entry "
                     "(it defines no probability distribution)")


def _topk_rows_block(x, rowpos, *, k, temperature):
    """Vocabulary in one chunk: the NumPy function on the row block, packed
    float64 [probabilities, indices]."""
    from . import topk_softmax as _np_topk

    _task_threads()
    rowpos = rowpos.reshape(-1)
    if x.shape[0] == 0:
        return np.empty((0, 2 * k))
    bad = ~np.isfinite(np.max(x, axis=1))  # NaN, +inf or all -inf: the global row in the message
    if bad.any():
        _topk_invalid(bad, rowpos)
    p, i = _np_topk(x, k, temperature=temperature)
    return np.concatenate([p.astype(np.float64), i.astype(np.float64)], axis=1)


def _topk_part(x, colpos, *, k, temperature):
    """One (rows, vocabulary chunk) block -> float64 (rows, 2 + 2k):
    [m, s, candidate logits (k), global indices (k)]; -inf / -1 padding."""
    from . import topk_softmax as _np_topk

    _task_threads()
    rows, w = x.shape
    out = np.full((rows, 2 + 2 * k), -np.inf)
    out[:, 2 + k:] = -1
    if rows == 0 or w == 0:
        return out
    m, s = softmax_stats(x, -1, temperature=temperature)
    out[:, 0], out[:, 1] = m[:, 0], s[:, 0]
    kc = min(k, w)
    top = np.max(x, axis=1)  # NaN for a NaN anywhere
    ok = np.isfinite(top)
    # a chunk of all -inf (or a NaN / +inf row, which the state flags): its
    # candidates are its first kc entries, the order's ties by index
    xs = np.where(ok[:, None], x, 0) if not ok.all() else x
    _, idx = _np_topk(xs, kc)  # order only: (logit desc, index asc)
    idx[~ok] = np.arange(kc)
    vals = np.take_along_axis(x, idx, 1).astype(np.float64)
    vals[~ok] = -np.inf
    out[:, 2:2 + kc] = vals
    out[:, 2 + k:2 + k + kc] = idx + int(colpos[0])
    return out


def _topk_merge(parts, rowpos, *, k, temperature, rdt):
    rowpos = rowpos.reshape(-1)
    rows = parts.shape[0]
    if rows == 0:
        return np.empty((0, 2 * k))
    q = parts.reshape(rows, -1, 2 + 2 * k)
    M, S = merge_stats(q[:, :, 0], q[:, :, 1], 1)
    bad = ~np.isfinite(M[:, 0]) | ~(S[:, 0] > 0)
    if bad.any():
        _topk_invalid(bad, rowpos)
    v = q[:, :, 2:2 + k].reshape(rows, -1)
    i = q[:, :, 2 + k:].reshape(rows, -1)
    # (logit desc, index asc); padding (-inf, -1) sorts after every real -inf entry
    order = np.lexsort((np.where(i < 0, np.inf, i), -v), axis=1)[:, :k]
    v = np.take_along_axis(v, order, 1)
    i = np.take_along_axis(i, order, 1)
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.exp(np.divide(v, temperature) - M) / S
    p = np.where(v == -np.inf, 0.0, p)
    return np.concatenate([p.astype(rdt).astype(np.float64), i], axis=1)


def topk_softmax(logits, top_k, *, axis=-1, temperature=1.0):
    """:func:`softmax_c.topk_softmax` on a Dask array: the `top_k` most likely
    entries of ``softmax(logits / temperature)`` along `axis`.

    Rows chunked, vocabulary in one chunk: blockwise, the NumPy function per
    block (bitwise its results).  Vocabulary chunked: each chunk's state and
    top-k candidates, merged in one aggregate per row block (see the notes
    above this function in the source).  Probabilities are normalised over
    the full row (they sum to < 1 unless the k cover the mass), sorted
    descending; ties go to the lower index, whatever the chunking.

    Returns
    -------
    probabilities, indices : dask.array.Array
        `logits`' shape with `axis` replaced by top_k; the NumPy function's
        dtype and int64.  A row holding a NaN or +inf, or every entry -inf,
        raises ValueError at compute time (its flat row index in the
        message).  With the vocabulary chunked, probabilities agree with the
        NumPy function to its accuracy bounds (the sum is merged), indices
        exactly.
    """
    from . import topk_softmax as _np_topk

    x = _dask(logits, "logits")
    k = _rules.integer(top_k, "top_k")
    t = _rules.positive_finite(temperature, "temperature")
    if x.ndim == 0:
        raise ValueError("logits: expected at least one dimension (the vocabulary), got a scalar")
    ax = _rules.axes(axis, x.ndim)[0] if not isinstance(axis, tuple) else None
    if ax is None:
        raise TypeError("axis must be an int")
    n = x.shape[ax]
    if not (1 <= k <= n):
        raise ValueError(f"top_k must be in [1, {n}] (the length of axis {ax}), got {k}")
    rdt = _np_topk(np.zeros((1, 1), x.dtype), 1)[0].dtype  # the NumPy function's dtype rules and TypeErrors
    x = da.moveaxis(x, ax, -1)
    batch = x.shape[:-1]
    x2 = x.reshape((-1, n))
    rowpos = da.arange(x2.shape[0], chunks=(x2.chunks[0],))
    if x2.numblocks[1] == 1:
        packed = da.map_blocks(partial(_topk_rows_block, k=k, temperature=t), x2, rowpos[:, None],
                               chunks=(x2.chunks[0], (2 * k,)), dtype=np.float64, meta=np.empty((0, 0)),
                               token="softmax_c-topk")
    else:
        colpos = da.arange(n, chunks=(x2.chunks[1],))
        parts = da.blockwise(partial(_topk_part, k=k, temperature=t), ("r", "c"), x2, ("r", "c"), colpos, ("c",),
                             adjust_chunks={"c": 2 + 2 * k}, dtype=np.float64, meta=np.empty((0, 0)),
                             token="softmax_c-topk-part")
        packed = da.map_blocks(partial(_topk_merge, k=k, temperature=t, rdt=rdt), parts.rechunk({1: -1}),
                               rowpos[:, None], chunks=(x2.chunks[0], (2 * k,)), dtype=np.float64,
                               meta=np.empty((0, 0)), token="softmax_c-topk")
    probs = packed[:, :k].astype(rdt).reshape(batch + (k,))
    idx = packed[:, k:].astype(np.int64).reshape(batch + (k,))
    return da.moveaxis(probs, -1, ax), da.moveaxis(idx, -1, ax)
