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

cdef extern from "softmax_c/sampling.h" nogil:
    int sc_sample(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride, int64_t n_stride,
                  const double* u, double temperature, int64_t top_k, double top_p, double min_p,
                  int64_t* out)
    int sc_topk_softmax(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride,
                        int64_t n_stride, int64_t k, double temperature, void* probs, int64_t* idx)
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
