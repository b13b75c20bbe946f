# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Thin binding of the C ABI (cpp/include/softmax_c/softmax_c.h).

Design notes
------------
1. The Python fronts (``special.py``, ``attention.py``, ``sampling.py``, with
   the shared rules of ``_rules.py``) validate every argument and allocate every
   output; this module only turns NumPy arrays into pointers and element
   strides, releases the GIL around each kernel call and turns a status code
   into an exception.
2. A reduction is described to the kernels as (outer..., n, inner): ``n`` is the
   reduced axis; ``inner`` is the non-reduced axis with the smallest non-zero
   stride when it is more contiguous than the reduced axis (then the kernels
   vectorise across it: no transpose copy), else 1 (row kernels).  Adjacent
   outer axes are merged when their strides allow.
3. ``_fill_view`` returns False when the view cannot be described (a byte
   stride that is not a multiple of the item size, misaligned data, or more
   than SC_MAX_OUTER outer axes left after merging); the front then works on
   an aligned C-contiguous copy.
"""
from libc.stdint cimport int64_t, int32_t
cimport numpy as cnp
import numpy as np

cnp.import_array()

include "_output_cache.pxi"

cdef extern from "softmax_c/softmax_c.h" nogil:
    enum:
        SC_OK
        SC_EINVAL
        SC_ENOMEM
        SC_EISA
        SC_EINTERNAL
        SC_F32
        SC_F64
        SC_F16
        SC_BF16
        SC_I8
        SC_MAX_OUTER
    ctypedef struct sc_view:
        int64_t n, inner
        int64_t x_n, x_inner
        int64_t y_n, y_inner
        int64_t b_n, b_inner
        int32_t outer_ndim
        int64_t outer_shape[SC_MAX_OUTER]
        int64_t x_outer[SC_MAX_OUTER]
        int64_t y_outer[SC_MAX_OUTER]
        int64_t b_outer[SC_MAX_OUTER]
    int sc_softmax(int dtype, const void* x, void* y, const sc_view* v, double temperature, int log_mode)
    int sc_logsumexp(int dtype, const void* x, const void* b, void* out, void* sign, const sc_view* v)
    int sc_softmax_stats(int dtype, const void* x, const void* b, void* m, void* s, const sc_view* v,
                         double temperature)
    const char* sc_target_name()
    int sc_set_target(const char* name)
    const char* sc_targets_compiled()
    const char* sc_targets_supported()
    const char* sc_cpu_features()
    int sc_num_threads()
    void sc_set_num_threads(int n)
    int sc_exp(int dtype, const void* x, void* y, int64_t n)
    const char* sc_last_error()

cdef extern from "softmax_c/bench.h" nogil:
    double sc_bench_fma_peak_gflops(int threads, double seconds)
    double sc_bench_exp_rate(int dtype, int threads, double seconds)


cdef int raise_status(int status, str what) except -1:
    if status == SC_ENOMEM:
        raise MemoryError(f"{what}: out of memory for scratch buffers")
    if status == SC_EISA:
        raise ValueError(f"{what}: target not available")
    if status == SC_EINTERNAL:
        raise RuntimeError(f"{what}: internal error in the kernels (status {status})")
    # SC_EINVAL: the kernels' message names the argument (this thread's last).
    msg = sc_last_error().decode(errors="replace")
    raise ValueError(f"{what}: {msg}" if msg else f"{what}: invalid arguments (status {status})")


# ------------------------------------------------------------------ dispatch --

def get_target():
    """Name of the active kernel target."""
    return sc_target_name().decode()


def set_target(str name):
    """Switch the kernel table (tests and benchmarks); ValueError if `name` is
    not compiled in or not supported by this CPU and OS."""
    if sc_set_target(name.encode()) != SC_OK:
        raise ValueError(
            f"target {name!r} is not available here: compiled "
            f"{targets_compiled()}, supported by this CPU/OS {targets_supported()}")


def targets_compiled():
    return [t for t in sc_targets_compiled().decode().split(",") if t]


def targets_supported():
    return [t for t in sc_targets_supported().decode().split(",") if t]


def cpu_features():
    return [t for t in sc_cpu_features().decode().split(",") if t]


def get_num_threads():
    return sc_num_threads()


def set_num_threads(int n):
    sc_set_num_threads(n)


def fma_peak_gflops(int threads=1, double seconds=0.2):
    """Measured float32 FMA peak of the active target, GFLOP/s, on `threads`
    threads of its own (softmax_c/bench.h; the pool's thread count is left
    alone)."""
    cdef double r
    with nogil:
        r = sc_bench_fma_peak_gflops(threads, seconds)
    return r


def bench_exp_rate(dtype, int threads=1, double seconds=0.05):
    """Elements/s of the softmax kernels' fastest exp path on the active
    target (softmax_c/bench.h): float64 for a float64 `dtype`, float32 for
    the others (half precision computes in float32); `threads` threads of
    its own."""
    cdef int dt = SC_F64 if np.dtype(dtype) == np.float64 else SC_F32
    cdef double r
    with nogil:
        r = sc_bench_exp_rate(dt, threads, seconds)
    return r


def vector_exp(cnp.ndarray x):
    """exp of a contiguous float32/float64 array with the active target's
    vector exp (for the accuracy tests)."""
    if not cnp.PyArray_IS_C_CONTIGUOUS(x):
        raise ValueError("x must be C-contiguous")
    cdef int dt = _dtype_code(x)
    cdef cnp.ndarray y = np.empty_like(x)
    cdef int64_t n = cnp.PyArray_SIZE(x)
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef void* yp = cnp.PyArray_DATA(y)
    with nogil:
        sc_exp(dt, xp, yp, n)
    return y


# ---------------------------------------------------------------------- views --

cdef inline int64_t _abs(int64_t v) nogil:
    return -v if v < 0 else v


cdef bint _fill_view(sc_view* v, cnp.ndarray x, cnp.ndarray y, cnp.ndarray b, int axis, bint y_has_axis):
    """Describe the reduction of x over `axis` (y, b: same shape as x; b may be
    None).  False when not describable (see the module notes)."""
    cdef int nd = cnp.PyArray_NDIM(x)
    cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(x)
    cdef cnp.npy_intp* xs = cnp.PyArray_STRIDES(x)
    cdef cnp.npy_intp* ys = cnp.PyArray_STRIDES(y)
    cdef cnp.npy_intp* bs = NULL
    cdef int64_t isz = cnp.PyArray_ITEMSIZE(x)
    cdef int64_t ysz = cnp.PyArray_ITEMSIZE(y)  # logsumexp of halves: float32 out
    cdef int d, inner = -1, k
    cdef int64_t best = 0, s
    if b is not None:
        bs = cnp.PyArray_STRIDES(b)
    # Misaligned data (a view at an odd byte offset) would be undefined
    # behaviour for T* loads: the front copies it.
    if not cnp.PyArray_ISALIGNED(x) or not cnp.PyArray_ISALIGNED(y) or (b is not None and not cnp.PyArray_ISALIGNED(b)):
        return False
    for d in range(nd):
        if xs[d] % isz or ys[d] % ysz or (bs != NULL and bs[d] % isz):
            return False
    v.n = shape[axis]
    v.x_n = xs[axis] // isz
    v.y_n = ys[axis] // ysz if y_has_axis else 0
    v.b_n = bs[axis] // isz if bs != NULL else 0
    # The inner axis: the most contiguous non-reduced axis, when it beats the
    # reduced one (zero strides -- broadcasts -- never count as contiguous).
    if v.x_n != 1 and v.x_n != 0:
        best = _abs(v.x_n)
        for d in range(nd):
            if d == axis or shape[d] <= 1 or xs[d] == 0:
                continue
            s = _abs(xs[d] // isz)
            if s < best:
                best = s
                inner = d
    if inner >= 0:
        v.inner = shape[inner]
        v.x_inner = xs[inner] // isz
        v.y_inner = ys[inner] // ysz
        v.b_inner = bs[inner] // isz if bs != NULL else 0
    else:
        v.inner = 1
        v.x_inner = v.y_inner = v.b_inner = 0
    # Outer axes, merging neighbours whose strides nest.
    k = 0
    for d in range(nd):
        if d == axis or d == inner or shape[d] == 1:
            continue
        if k > 0 and (v.x_outer[k - 1] == (xs[d] // isz) * shape[d]
                      and v.y_outer[k - 1] == (ys[d] // ysz) * shape[d]
                      and (bs == NULL or v.b_outer[k - 1] == (bs[d] // isz) * shape[d])):
            v.outer_shape[k - 1] *= shape[d]
            v.x_outer[k - 1] = xs[d] // isz
            v.y_outer[k - 1] = ys[d] // ysz
            v.b_outer[k - 1] = bs[d] // isz if bs != NULL else 0
            continue
        if k == SC_MAX_OUTER:
            return False
        v.outer_shape[k] = shape[d]
        v.x_outer[k] = xs[d] // isz
        v.y_outer[k] = ys[d] // ysz
        v.b_outer[k] = bs[d] // isz if bs != NULL else 0
        k += 1
    v.outer_ndim = k
    return True


# ml_dtypes' bfloat16 typenum once an array of it has been seen: the
# bindings' one bfloat16 test (by name, as _rules.is_bfloat16; softmax_c never
# imports ml_dtypes), then a typenum compare (a user dtype's number is fixed
# for the process).
cdef int _bf16_type = -1


cdef inline bint _is_bf16_type(cnp.ndarray a, int t):
    global _bf16_type
    if t == _bf16_type:
        return True
    if _bf16_type < 0 and t >= 256 and a.dtype.name == "bfloat16" and a.dtype.itemsize == 2:  # NPY_USERDEF
        _bf16_type = t
        return True
    return False


cdef int _dtype_code(cnp.ndarray x) except -1:
    cdef int t = cnp.PyArray_TYPE(x)
    if not cnp.PyArray_ISNOTSWAPPED(x):
        raise TypeError(f"internal: kernels take native byte order, got {x.dtype}")
    if t == cnp.NPY_FLOAT32:
        return SC_F32
    if t == cnp.NPY_FLOAT64:
        return SC_F64
    if t == cnp.NPY_FLOAT16:
        return SC_F16
    if _is_bf16_type(x, t):
        return SC_BF16
    raise TypeError(f"internal: kernels take float16, bfloat16, float32 or float64, got {x.dtype}")


cdef int _run_softmax(int dt, cnp.ndarray x, cnp.ndarray y, sc_view* v, double temperature,
                     bint log_mode) except -1:
    """The kernel call, GIL released, status -> exception."""
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef void* yp = cnp.PyArray_DATA(y)
    cdef int status
    with nogil:
        status = sc_softmax(dt, xp, yp, v, temperature, log_mode)
    if status != SC_OK:
        raise_status(status, "log_softmax" if log_mode else "softmax")
    return 0


def softmax_into(cnp.ndarray x, cnp.ndarray y, int axis, double temperature, bint log_mode):
    """y = (log_)softmax(x / temperature) over `axis`.  x, y: same shape and
    dtype (float32/float64), y writeable; y may be x.  Returns False when the
    layout cannot be described (the caller then passes copies)."""
    cdef sc_view v
    cdef int dt = _dtype_code(x)
    if not _fill_view(&v, x, y, None, axis, True):
        return False
    _run_softmax(dt, x, y, &v, temperature, log_mode)
    return True


def logsumexp_into(cnp.ndarray x, b, cnp.ndarray out, sign, int axis):
    """out (and sign) = logsumexp of x (weights b) over `axis`.  b: None or an
    array of x's shape and dtype (a broadcast view is fine); out, sign: x's
    shape with `axis` of length 1."""
    cdef sc_view v
    cdef int status, dt = _dtype_code(x)
    cdef cnp.ndarray bb = b
    cdef cnp.ndarray ss = sign
    if not _fill_view(&v, x, out, bb, axis, False):
        return False
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef const void* bp = NULL if b is None else cnp.PyArray_DATA(bb)
    cdef void* op = cnp.PyArray_DATA(out)
    cdef void* sp = NULL if sign is None else cnp.PyArray_DATA(ss)
    with nogil:
        status = sc_logsumexp(dt, xp, bp, op, sp, &v)
    if status != SC_OK:
        raise_status(status, "logsumexp")
    return True


def softmax_stats_into(cnp.ndarray x, b, cnp.ndarray m, cnp.ndarray s, int axis, double temperature):
    """(m, s) = the partial state of logsumexp(x / temperature, b) over
    `axis` (sc_softmax_stats).  b: None or an array of x's shape and dtype;
    m, s (OUT): x's shape with `axis` of length 1, logsumexp's out dtype."""
    cdef sc_view v
    cdef int status, dt = _dtype_code(x)
    cdef cnp.ndarray bb = b
    if not _fill_view(&v, x, m, bb, axis, False):
        return False
    if any(m.strides[d] * cnp.PyArray_ITEMSIZE(s) != s.strides[d] * cnp.PyArray_ITEMSIZE(m)
           for d in range(m.ndim) if m.shape[d] > 1):
        return False  # s is indexed with m's view
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef const void* bp = NULL if b is None else cnp.PyArray_DATA(bb)
    cdef void* mp = cnp.PyArray_DATA(m)
    cdef void* sp = cnp.PyArray_DATA(s)
    with nogil:
        status = sc_softmax_stats(dt, xp, bp, mp, sp, &v, temperature)
    if status != SC_OK:
        raise_status(status, "softmax_stats")
    return True


cdef int _fast_view(object x, object axis, sc_view* v):
    """The common layout of the fast paths: x a C-contiguous native
    float32/float64/float16/bfloat16 ndarray of at least one element, `axis`
    None or the last axis (as an int).  Returns x's typenum and fills v with
    its rows (v.y_outer left to the caller), or -1 for any other layout."""
    if type(x) is not cnp.ndarray:
        return -1
    cdef cnp.ndarray a = <cnp.ndarray>x
    cdef int t = cnp.PyArray_TYPE(a)
    if ((t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64 and t != cnp.NPY_FLOAT16 and not _is_bf16_type(a, t))
            or not cnp.PyArray_IS_C_CONTIGUOUS(a) or not cnp.PyArray_ISNOTSWAPPED(a)):
        return -1
    cdef int nd = cnp.PyArray_NDIM(a)
    cdef int64_t size = cnp.PyArray_SIZE(a), rows = 1
    if nd == 0 or size == 0:
        return -1
    if axis is None:
        v.n = size
    elif type(axis) is int and (axis == -1 or axis == nd - 1):
        v.n = cnp.PyArray_DIMS(a)[nd - 1]
        rows = size // v.n
    else:
        return -1
    v.inner = 1
    v.x_n = v.y_n = 1
    v.x_inner = v.y_inner = v.b_n = v.b_inner = 0
    v.outer_ndim = 1 if rows > 1 else 0
    v.outer_shape[0] = rows
    v.x_outer[0] = v.n
    v.b_outer[0] = 0
    return t


cdef inline int _code_of(int t):
    """The kernel code of a typenum _fast_view accepted."""
    return (SC_F32 if t == cnp.NPY_FLOAT32 else SC_F64 if t == cnp.NPY_FLOAT64 else SC_F16 if t == cnp.NPY_FLOAT16
            else SC_BF16)


cdef bint _fast_out(cnp.ndarray a, object out):
    """`out` fit for the fast path with input a: an ndarray of a's type,
    shape and dtype, C-contiguous, aligned, writeable, and either a itself
    or sharing no byte with it.  Anything else takes the general path, which
    raises the errors (_rules.check_out) or copies around an overlap."""
    if type(out) is not cnp.ndarray:
        return False
    cdef cnp.ndarray o = <cnp.ndarray>out
    cdef int nd = cnp.PyArray_NDIM(a), d
    if (cnp.PyArray_TYPE(o) != cnp.PyArray_TYPE(a) or cnp.PyArray_NDIM(o) != nd
            or not cnp.PyArray_IS_C_CONTIGUOUS(o) or not cnp.PyArray_ISALIGNED(o)
            or not cnp.PyArray_ISWRITEABLE(o) or not cnp.PyArray_ISNOTSWAPPED(o)):
        return False
    for d in range(nd):
        if cnp.PyArray_DIMS(o)[d] != cnp.PyArray_DIMS(a)[d]:
            return False
    cdef char* op = <char*>cnp.PyArray_DATA(o)
    cdef char* ap = <char*>cnp.PyArray_DATA(a)
    cdef cnp.npy_intp nb = cnp.PyArray_NBYTES(a)
    return op == ap or op + nb <= ap or ap + nb <= op


def softmax_fast(x, axis, temperature, bint log_mode, out):
    """The common call without Python-level overhead, recognised by layout
    only (_fast_view; `out` None or as _fast_out says) and by a `temperature`
    that is a Python float in (0, inf) (the first line of
    ``_rules.positive_finite``: True == 1.0 is not one).  Returns the result
    (`out` when given), or None for anything else (the front then takes the
    general path, where every argument rule lives: ``_rules.py``)."""
    if type(temperature) is not float:
        return None
    cdef double tt = <double>temperature
    if not (0.0 < tt <= 1.7976931348623157e308):  # finite and > 0 (NaN fails too)
        return None
    cdef sc_view v
    cdef int t = _fast_view(x, axis, &v)
    if t < 0:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    if out is not None and not _fast_out(a, out):
        return None
    cdef int nd = cnp.PyArray_NDIM(a)
    cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(a)
    v.y_outer[0] = v.n
    cdef cnp.ndarray y
    if out is not None:
        y = <cnp.ndarray>out
    elif _oc_on and cnp.PyArray_SIZE(a) * cnp.PyArray_ITEMSIZE(a) >= _OC_MIN_BYTES:
        y = _big_empty(nd, shape, t)  # the output cache (_output_cache.pxi)
    else:
        y = cnp.PyArray_EMPTY(nd, shape, t, 0)
    _run_softmax(_code_of(t), a, y, &v, tt, log_mode)
    return y


def logsumexp_fast(x, axis, bint keepdims):
    """logsumexp's common call (no `b`, no `return_sign`, no `out`) without
    Python-level overhead, recognised by layout only (_fast_view).  Returns
    the result (a NumPy scalar for a 0-d one, as the front does), or None
    for any other layout.  float16 and bfloat16 give float32 (``_rules.lse_dtype``)."""
    cdef sc_view v
    cdef int t = _fast_view(x, axis, &v)
    if t < 0:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    cdef int nd = cnp.PyArray_NDIM(a), ond = 0, d
    cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(a)
    cdef cnp.npy_intp oshape[32]
    if axis is None:
        if keepdims:
            ond = nd
            for d in range(nd):
                oshape[d] = 1
    else:
        ond = nd if keepdims else nd - 1
        for d in range(nd - 1):
            oshape[d] = shape[d]
        if keepdims:
            oshape[nd - 1] = 1
    v.y_outer[0] = 1
    cdef int ot = cnp.NPY_FLOAT32 if t == cnp.NPY_FLOAT16 or t == _bf16_type else t  # _rules.lse_dtype
    cdef int64_t rows = v.outer_shape[0]
    cdef cnp.ndarray y
    if _oc_on and rows * (4 if ot == cnp.NPY_FLOAT32 else 8) >= _OC_MIN_BYTES:
        y = _big_empty(ond, oshape, ot)  # the output cache (_output_cache.pxi)
    else:
        y = cnp.PyArray_EMPTY(ond, oshape, ot, 0)
    cdef int status, dt = _code_of(t)
    cdef const void* xp = cnp.PyArray_DATA(a)
    cdef void* op = cnp.PyArray_DATA(y)
    with nogil:
        status = sc_logsumexp(dt, xp, NULL, op, NULL, &v)
    if status != SC_OK:
        raise_status(status, "logsumexp")
    return y[()] if ond == 0 else y


include "_attention.pxi"
include "_sampling.pxi"
include "_elementwise.pxi"
