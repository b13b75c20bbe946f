# Elementwise bindings (cpp/include/softmax_c/elementwise.h).  Included by _core.pyx.
#
# Design notes
# ------------
# 1. The front (special.py) validates x and out and allocates the output;
#    here x and y become pointers, the shape and element strides (False
#    returned when a byte stride is not a multiple of the item size or the
#    data is misaligned: the front then passes a contiguous copy).  The
#    driver orders and merges the axes itself.

cdef extern from "softmax_c/elementwise.h" nogil:
    int sc_expit(int dtype, const void* x, void* y, int ndim, const int64_t* shape, const int64_t* x_strides,
                 const int64_t* y_strides, int log_mode)


def expit_into(cnp.ndarray x, cnp.ndarray y, bint log_mode):
    """y = expit(x) (log_expit with log_mode).  x, y: same shape and kernel
    dtype, y writeable; y may be x.  False when the layout cannot be
    described (the caller then passes copies)."""
    cdef int nd = cnp.PyArray_NDIM(x), d, status
    cdef int dt = _dtype_code(x)
    cdef int64_t isz = cnp.PyArray_ITEMSIZE(x)
    cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(x)
    cdef cnp.npy_intp* xs = cnp.PyArray_STRIDES(x)
    cdef cnp.npy_intp* ys = cnp.PyArray_STRIDES(y)
    cdef int64_t sh[64]
    cdef int64_t xe[64]
    cdef int64_t ye[64]
    if nd > 64 or not cnp.PyArray_ISALIGNED(x) or not cnp.PyArray_ISALIGNED(y):
        return False
    for d in range(nd):
        if xs[d] % isz or ys[d] % isz:
            return False
        sh[d] = shape[d]
        xe[d] = xs[d] // isz
        ye[d] = ys[d] // isz
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef void* yp = cnp.PyArray_DATA(y)
    with nogil:
        status = sc_expit(dt, xp, yp, nd, sh, xe, ye, log_mode)
    if status != SC_OK:
        raise_status(status, "log_expit" if log_mode else "expit")
    return True
