# Sampling bindings (cpp/include/softmax_c/sampling.h).  Included by _core.pyx.
#
# Design notes
# ------------
# 1. The front (sampling.py) validates everything, moves the axis last and
#    hands over a 2-D (rows, n) view of x; here it becomes a pointer and two
#    element strides (False returned when a byte stride is not a multiple of
#    the item size: the front then passes a contiguous copy).
# 2. The per-row uniforms are drawn in Python, so the kernels are pure
#    functions of (x, u): reproducible and thread-count invariant.
# 3. x may be float16 / bfloat16 for sample_rows, verify_draft_rows,
#    topk_softmax_rows (probs then in x's dtype) and temperature_moments: the
#    dtype code goes through and the kernels widen in registers.
#    sample_batch_rows takes float32 / float64 (the front casts halves).

cdef extern from "softmax_c/sampling.h" nogil:
    int sc_sample(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride, int64_t n_stride,
                  const double* u, double temperature, int64_t top_k, double top_p, double min_p,
                  int64_t* out)
    int sc_topk_softmax(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride,
                        int64_t n_stride, int64_t k, double temperature, void* probs, int64_t* idx)
    ctypedef struct sc_sample_params:
        const double* u
        const double* temperature
        const int64_t* top_k
        const double* top_p
        const double* min_p
        const unsigned char* allowed
        int64_t allowed_row_stride
        const int64_t* bias_ids
        const double* bias
        int64_t n_bias
        int64_t bias_row_stride
        const int64_t* history
        int64_t n_history
        const double* repetition
        const double* presence
        const double* frequency
        int64_t logprobs
        int raw
        double* logprob
        int64_t* top_ids
        double* top_logprobs
    int sc_sample_batch(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride,
                        int64_t n_stride, const sc_sample_params* params, int64_t* out)
    ctypedef struct sc_verify_params:
        const double* u
        const double* temperature
        const int64_t* top_k
        const double* top_p
        const double* min_p
        const int64_t* draft_tokens
        const void* draft_probs
        int64_t* num_accepted
        int64_t* tokens
    int sc_verify_draft(int dtype, const void* x, int64_t rows, int64_t k, int64_t n, int64_t row_stride,
                        int64_t n_stride, const sc_verify_params* params)
    int sc_temperature_moments(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride,
                               int64_t n_stride, double beta, double* sums)


cdef bint _row_strides(cnp.ndarray x, int64_t* rs, int64_t* ns):
    if not cnp.PyArray_ISALIGNED(x):  # odd byte offset: the front copies
        return False
    cdef int64_t isz = cnp.PyArray_ITEMSIZE(x)
    cdef cnp.npy_intp* st = cnp.PyArray_STRIDES(x)
    if st[0] % isz or st[1] % isz:
        return False
    rs[0] = st[0] // isz
    ns[0] = st[1] // isz
    return True


def sample_rows(cnp.ndarray x, cnp.ndarray u, double temperature, int64_t top_k, double top_p,
                double min_p, cnp.ndarray out):
    """out[r] = token of row r of the 2-D x (# IN x, u: float64 (rows,),
    contiguous; # OUT out: int64 (rows,), contiguous).  -1 marks an invalid
    row.  False when x's strides cannot be described."""
    cdef int64_t rs, ns
    cdef int status, dt = _dtype_code(x)
    if not _row_strides(x, &rs, &ns):
        return False
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef const double* up = <const double*>cnp.PyArray_DATA(u)
    cdef int64_t* op = <int64_t*>cnp.PyArray_DATA(out)
    cdef int64_t rows = x.shape[0], n = x.shape[1]
    with nogil:
        status = sc_sample(dt, xp, rows, n, rs, ns, up, temperature, top_k, top_p, min_p, op)
    if status != SC_OK:
        raise_status(status, "sample")
    return True


cdef inline void* _ptr(object a):
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


def sample_batch_rows(cnp.ndarray x, cnp.ndarray u, cnp.ndarray temperature, cnp.ndarray top_k,
                      cnp.ndarray top_p, cnp.ndarray min_p, object allowed, int64_t allowed_row_stride,
                      object bias_ids, object bias, int64_t bias_row_stride, object history,
                      cnp.ndarray repetition, cnp.ndarray presence, cnp.ndarray frequency,
                      int64_t logprobs, int raw, object logprob, object top_ids, object top_logprobs,
                      cnp.ndarray out):
    """The serving sampler over the rows of the 2-D x (sc_sample_batch).
    # IN: u, temperature, top_p, min_p, repetition, presence, frequency:
    float64 (rows,); top_k: int64 (rows,); allowed: uint8 (rows or 1, n) or
    None; bias_ids int64 / bias float64 (rows or 1, nb) or None; history:
    int64 (rows, nh) or None; all C-contiguous.  # OUT: out int64 (rows,),
    logprob float64 (rows,), top_ids int64 / top_logprobs float64 (rows, L),
    or None.  False when x's strides cannot be described."""
    cdef int64_t rs, ns
    cdef int status, dt = _dtype_code(x)
    if not _row_strides(x, &rs, &ns):
        return False
    cdef sc_sample_params p
    p.u = <const double*>cnp.PyArray_DATA(u)
    p.temperature = <const double*>cnp.PyArray_DATA(temperature)
    p.top_k = <const int64_t*>cnp.PyArray_DATA(top_k)
    p.top_p = <const double*>cnp.PyArray_DATA(top_p)
    p.min_p = <const double*>cnp.PyArray_DATA(min_p)
    p.allowed = <const unsigned char*>_ptr(allowed)
    p.allowed_row_stride = allowed_row_stride
    p.bias_ids = <const int64_t*>_ptr(bias_ids)
    p.bias = <const double*>_ptr(bias)
    p.n_bias = 0 if bias_ids is None else (<cnp.ndarray>bias_ids).shape[1]
    p.bias_row_stride = bias_row_stride
    p.history = <const int64_t*>_ptr(history)
    p.n_history = 0 if history is None else (<cnp.ndarray>history).shape[1]
    p.repetition = <const double*>cnp.PyArray_DATA(repetition)
    p.presence = <const double*>cnp.PyArray_DATA(presence)
    p.frequency = <const double*>cnp.PyArray_DATA(frequency)
    p.logprobs = logprobs
    p.raw = raw
    p.logprob = <double*>_ptr(logprob)
    p.top_ids = <int64_t*>_ptr(top_ids)
    p.top_logprobs = <double*>_ptr(top_logprobs)
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef int64_t* op = <int64_t*>cnp.PyArray_DATA(out)
    cdef int64_t rows = x.shape[0], n = x.shape[1]
    with nogil:
        status = sc_sample_batch(dt, xp, rows, n, rs, ns, &p, op)
    if status != SC_OK:
        raise_status(status, "sample")
    return True


def verify_draft_rows(cnp.ndarray x, int64_t k, cnp.ndarray u, cnp.ndarray temperature, cnp.ndarray top_k,
                      cnp.ndarray top_p, cnp.ndarray min_p, cnp.ndarray draft_tokens, object draft_probs,
                      cnp.ndarray num_accepted, cnp.ndarray tokens):
    """Speculative-decoding verification (sc_verify_draft) of the requests
    whose k + 1 target rows are consecutive rows of the 2-D x.  # IN: u
    float64 (rows, k + 1); temperature, top_p, min_p float64 / top_k int64
    (rows,); draft_tokens int64 (rows, k); draft_probs x's compute dtype
    (float32 for halves) (rows, k, n) or None; all C-contiguous.  # OUT: num_accepted int64 (rows,), tokens
    int64 (rows, k + 1).  False when x's strides cannot be described."""
    cdef int64_t rs, ns
    cdef int status, dt = _dtype_code(x)
    if not _row_strides(x, &rs, &ns):
        return False
    cdef sc_verify_params p
    p.u = <const double*>cnp.PyArray_DATA(u)
    p.temperature = <const double*>cnp.PyArray_DATA(temperature)
    p.top_k = <const int64_t*>cnp.PyArray_DATA(top_k)
    p.top_p = <const double*>cnp.PyArray_DATA(top_p)
    p.min_p = <const double*>cnp.PyArray_DATA(min_p)
    p.draft_tokens = <const int64_t*>cnp.PyArray_DATA(draft_tokens)
    p.draft_probs = _ptr(draft_probs)
    p.num_accepted = <int64_t*>cnp.PyArray_DATA(num_accepted)
    p.tokens = <int64_t*>cnp.PyArray_DATA(tokens)
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef int64_t rows = num_accepted.shape[0], n = x.shape[1]
    with nogil:
        status = sc_verify_draft(dt, xp, rows, k, n, rs, ns, &p)
    if status != SC_OK:
        raise_status(status, "verify_draft")
    return True


def topk_softmax_rows(cnp.ndarray x, int64_t k, double temperature, cnp.ndarray probs, cnp.ndarray idx):
    """(# OUT probs: x's dtype, idx: int64, both contiguous (rows, k)) = the
    top k of each row of the 2-D x and their softmax probabilities."""
    cdef int64_t rs, ns
    cdef int status, dt = _dtype_code(x)
    if not _row_strides(x, &rs, &ns):
        return False
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef void* pp = cnp.PyArray_DATA(probs)
    cdef int64_t* ip = <int64_t*>cnp.PyArray_DATA(idx)
    cdef int64_t rows = x.shape[0], n = x.shape[1]
    with nogil:
        status = sc_topk_softmax(dt, xp, rows, n, rs, ns, k, temperature, pp, ip)
    if status != SC_OK:
        raise_status(status, "topk_softmax")
    return True


def temperature_moments(cnp.ndarray x, double beta):
    """(sum lse, sum E[x], sum Var[x]) over the rows of the 2-D x under
    softmax(beta * x); None when x's strides cannot be described."""
    cdef int64_t rs, ns
    cdef int status, dt = _dtype_code(x)
    cdef double s[3]
    if not _row_strides(x, &rs, &ns):
        return None
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef int64_t rows = x.shape[0], n = x.shape[1]
    with nogil:
        status = sc_temperature_moments(dt, xp, rows, n, rs, ns, beta, s)
    if status != SC_OK:
        raise_status(status, "fit_temperature")
    return (s[0], s[1], s[2])
