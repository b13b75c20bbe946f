# Attention binding (cpp/include/softmax_c/attention.h).  Included by _core.pyx.
#
# Design notes
# ------------
# 1. The front (attention.py) validates, broadcasts the batch dimensions (zero
#    strides, no copies) and allocates out/lse; here arrays become a pointer
#    and element strides each, the GIL is released around the kernel and a
#    status becomes an exception.
# 2. Every array arrives with ndim = batch_ndim + 3 (lse: + 2): (..., H, L, E).

cdef extern from "softmax_c/attention.h" nogil:
    enum:
        SC_ATTN_MAX_BATCH
        SC_MASK_NONE
        SC_MASK_BOOL
        SC_MASK_FLOAT
    ctypedef struct sc_attn:
        int32_t dtype
        int32_t batch_ndim
        int64_t batch_shape[SC_ATTN_MAX_BATCH]
        int64_t q_batch[SC_ATTN_MAX_BATCH]
        int64_t k_batch[SC_ATTN_MAX_BATCH]
        int64_t v_batch[SC_ATTN_MAX_BATCH]
        int64_t o_batch[SC_ATTN_MAX_BATCH]
        int64_t lse_batch[SC_ATTN_MAX_BATCH]
        int64_t mask_batch[SC_ATTN_MAX_BATCH]
        int64_t Hq, H, L, S, E, Ev
        const void* q
        int64_t q_h, q_l, q_e
        const void* k
        int64_t k_h, k_s, k_e
        const void* v
        int64_t v_h, v_s, v_e
        void* out
        int64_t o_h, o_l, o_e
        void* lse
        int64_t lse_h, lse_l
        const void* mask
        int32_t mask_kind
        int64_t mask_h, mask_l, mask_s
        int32_t causal
        double scale
        int32_t band
        int32_t align
        int64_t window_left, window_right
        double softcap
        const void* alibi
        int64_t alibi_h
        const void* sinks
        int64_t sinks_h
        int32_t kv_dtype
        const void* k_scale
        int64_t ks_batch[SC_ATTN_MAX_BATCH]
        int64_t ks_h, ks_s
        const void* v_scale
        int64_t vs_batch[SC_ATTN_MAX_BATCH]
        int64_t vs_h, vs_s
    ctypedef struct sc_attn_ragged:
        int64_t batch
        const int64_t* cu_q
        const int64_t* k_len
        const int64_t* k_first
        int64_t q_b, o_b, lse_b, k_b, v_b, alibi_b
        const int64_t* block_table
        int64_t bt_s, block_size, k_block, v_block
    int sc_attention(const sc_attn* a)
    int sc_attention_ragged(const sc_attn* a, const sc_attn_ragged* r)
    int64_t sc_attention_chunk_keys()


ATTENTION_MAX_BATCH = SC_ATTN_MAX_BATCH


def attention_chunk_keys():
    """Keys per chunk of the decode split (fixed)."""
    return sc_attention_chunk_keys()


cdef inline int64_t _estride(cnp.ndarray x, int d):
    return cnp.PyArray_STRIDES(x)[d] // cnp.PyArray_ITEMSIZE(x)


cdef void _fill_band(sc_attn* a, band):
    """band: None, or (align, left, right, softcap, alibi (Hq,) / (batch, Hq)
    or None, sinks (Hq,) or None).  A 2-D alibi's batch stride is left to the
    caller (ragged batches)."""
    cdef cnp.ndarray al, sk
    a.band = 0
    a.align = 1
    a.window_left = a.window_right = -1
    a.softcap = 0.0
    a.alibi = NULL
    a.sinks = NULL
    a.alibi_h = a.sinks_h = 0
    if band is None:
        return
    a.band = 1
    a.align, a.window_left, a.window_right, a.softcap = band[0], band[1], band[2], band[3]
    if band[4] is not None:
        al = band[4]
        a.alibi = cnp.PyArray_DATA(al)
        a.alibi_h = _estride(al, cnp.PyArray_NDIM(al) - 1)
    if band[5] is not None:
        sk = band[5]
        a.sinks = cnp.PyArray_DATA(sk)
        a.sinks_h = _estride(sk, 0)


def attention_into(cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, mask, cnp.ndarray out, lse,
                   int causal, double scale, band=None, k_scale=None, v_scale=None):
    """out (and lse) = attention(q, k, v).  q (..., Hq, L, E), k (..., H, S, E),
    v (..., H, S, Ev), out (..., Hq, L, Ev), lse None or (..., Hq, L), mask None
    or (..., Hq, L, S) bool / the compute dtype (float32, or float64 for float64 q); same batch shape everywhere; every byte
    stride a multiple of the item size (the front makes sure).  k_scale,
    v_scale: with int8 k, v (quantize_kv), float32 (..., H, S) per-row
    scales.  Returns True (the answer ``_rules.call_kernel`` expects of a
    binding that ran)."""
    cdef sc_attn a
    cdef cnp.ndarray ksc = k_scale
    cdef cnp.ndarray vsc = v_scale
    cdef cnp.ndarray m = mask
    cdef cnp.ndarray ls = lse
    cdef int nb = cnp.PyArray_NDIM(q) - 3
    cdef int d, st
    if nb > SC_ATTN_MAX_BATCH:
        raise ValueError(f"at most {SC_ATTN_MAX_BATCH} batch dimensions")
    a.dtype = _dtype_code(q)
    a.kv_dtype = SC_I8 if k_scale is not None else _dtype_code(k)
    a.k_scale = a.v_scale = NULL
    a.ks_h = a.ks_s = a.vs_h = a.vs_s = 0
    if k_scale is not None:
        a.k_scale = cnp.PyArray_DATA(ksc)
        a.v_scale = cnp.PyArray_DATA(vsc)
        a.ks_h, a.ks_s = _estride(ksc, nb), _estride(ksc, nb + 1)
        a.vs_h, a.vs_s = _estride(vsc, nb), _estride(vsc, nb + 1)
    a.batch_ndim = nb
    for d in range(nb):
        a.batch_shape[d] = q.shape[d]
        a.q_batch[d] = _estride(q, d)
        a.k_batch[d] = _estride(k, d)
        a.v_batch[d] = _estride(v, d)
        a.o_batch[d] = _estride(out, d)
        a.lse_batch[d] = _estride(ls, d) if lse is not None else 0
        a.mask_batch[d] = _estride(m, d) if mask is not None else 0
        a.ks_batch[d] = _estride(ksc, d) if k_scale is not None else 0
        a.vs_batch[d] = _estride(vsc, d) if k_scale is not None else 0
    a.Hq, a.L, a.E = q.shape[nb], q.shape[nb + 1], q.shape[nb + 2]
    a.H, a.S, a.Ev = k.shape[nb], k.shape[nb + 1], v.shape[nb + 2]
    a.q = cnp.PyArray_DATA(q)
    a.q_h, a.q_l, a.q_e = _estride(q, nb), _estride(q, nb + 1), _estride(q, nb + 2)
    a.k = cnp.PyArray_DATA(k)
    a.k_h, a.k_s, a.k_e = _estride(k, nb), _estride(k, nb + 1), _estride(k, nb + 2)
    a.v = cnp.PyArray_DATA(v)
    a.v_h, a.v_s, a.v_e = _estride(v, nb), _estride(v, nb + 1), _estride(v, nb + 2)
    a.out = cnp.PyArray_DATA(out)
    a.o_h, a.o_l, a.o_e = _estride(out, nb), _estride(out, nb + 1), _estride(out, nb + 2)
    a.lse = NULL
    a.lse_h = a.lse_l = 0
    if lse is not None:
        a.lse = cnp.PyArray_DATA(ls)
        a.lse_h, a.lse_l = _estride(ls, nb), _estride(ls, nb + 1)
    a.mask = NULL
    a.mask_kind = SC_MASK_NONE
    a.mask_h = a.mask_l = a.mask_s = 0
    if mask is not None:
        a.mask = cnp.PyArray_DATA(m)
        a.mask_kind = SC_MASK_BOOL if cnp.PyArray_TYPE(m) == cnp.NPY_BOOL else SC_MASK_FLOAT
        a.mask_h, a.mask_l, a.mask_s = _estride(m, nb), _estride(m, nb + 1), _estride(m, nb + 2)
    a.causal = causal
    a.scale = scale
    _fill_band(&a, band)
    with nogil:
        st = sc_attention(&a)
    if st != SC_OK:
        raise_status(st, "scaled_dot_product_attention")
    return True


def attention_ragged_into(cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, cnp.ndarray out, lse, int causal,
                          double scale, band, cnp.ndarray cu_q, cnp.ndarray k_len, k_first, block_table):
    """One call for a ragged batch (sc_attention_ragged).  q / out packed
    (total_q, Hq, E) with lse (Hq, total_q), or batched (batch, Lq, Hq, E)
    with lse (batch, Hq, Lq) and cu_q = b * Lq; k / v packed (total_k, H, E)
    with k_first, batched (batch, capacity, H, E) with k_first = 0, or paged
    (num_blocks, block_size, H, E) with block_table (batch, max_blocks);
    cu_q, k_len, k_first, block_table C-contiguous int64, validated by the
    front.  Returns True."""
    cdef sc_attn a
    cdef sc_attn_ragged g
    cdef cnp.ndarray ls = lse
    cdef cnp.ndarray kf = k_first
    cdef cnp.ndarray bt = block_table
    cdef cnp.ndarray al
    cdef int nd = cnp.PyArray_NDIM(q)
    cdef int kd = cnp.PyArray_NDIM(k)
    cdef int64_t lq = q.shape[1] if nd == 4 else 0
    cdef int st
    a.dtype = _dtype_code(q)
    a.kv_dtype = _dtype_code(k)
    a.k_scale = a.v_scale = NULL
    a.batch_ndim = 0
    a.Hq, a.E, a.H, a.Ev = q.shape[nd - 2], q.shape[nd - 1], k.shape[kd - 2], v.shape[kd - 1]
    a.L = a.S = 0
    a.q = cnp.PyArray_DATA(q)
    a.q_l, a.q_h, a.q_e = _estride(q, nd - 3), _estride(q, nd - 2), _estride(q, nd - 1)
    a.k = cnp.PyArray_DATA(k)
    a.k_s, a.k_h, a.k_e = _estride(k, kd - 3), _estride(k, kd - 2), _estride(k, kd - 1)
    a.v = cnp.PyArray_DATA(v)
    a.v_s, a.v_h, a.v_e = _estride(v, kd - 3), _estride(v, kd - 2), _estride(v, kd - 1)
    a.out = cnp.PyArray_DATA(out)
    a.o_l, a.o_h, a.o_e = _estride(out, nd - 3), _estride(out, nd - 2), _estride(out, nd - 1)
    a.lse = NULL
    a.lse_h = a.lse_l = 0
    g.lse_b = 0
    if lse is not None:
        a.lse = cnp.PyArray_DATA(ls)
        a.lse_h, a.lse_l = _estride(ls, nd - 3), _estride(ls, nd - 2)
        if nd == 4:
            g.lse_b = _estride(ls, 0) - lq * a.lse_l
    a.mask = NULL
    a.mask_kind = SC_MASK_NONE
    a.mask_h = a.mask_l = a.mask_s = 0
    a.causal = causal
    a.scale = scale
    _fill_band(&a, band)
    g.batch = k_len.shape[0]
    g.cu_q = <const int64_t*>cnp.PyArray_DATA(cu_q)
    g.k_len = <const int64_t*>cnp.PyArray_DATA(k_len)
    g.k_first = NULL
    if k_first is not None:
        g.k_first = <const int64_t*>cnp.PyArray_DATA(kf)
    g.q_b = _estride(q, 0) - lq * a.q_l if nd == 4 else 0
    g.o_b = _estride(out, 0) - lq * a.o_l if nd == 4 else 0
    g.k_b = _estride(k, 0) if kd == 4 and block_table is None else 0
    g.v_b = _estride(v, 0) if kd == 4 and block_table is None else 0
    g.alibi_b = 0
    if band is not None and band[4] is not None and cnp.PyArray_NDIM(band[4]) == 2:
        al = band[4]
        g.alibi_b = _estride(al, 0)
    g.block_table = NULL
    g.bt_s = g.block_size = g.k_block = g.v_block = 0
    if block_table is not None:
        g.block_table = <const int64_t*>cnp.PyArray_DATA(bt)
        g.bt_s = _estride(bt, 0)
        g.block_size = k.shape[1]
        g.k_block, g.v_block = _estride(k, 0), _estride(v, 0)
    with nogil:
        st = sc_attention_ragged(&a, &g)
    if st != SC_OK:
        raise_status(st, "flash_attn")
    return True
