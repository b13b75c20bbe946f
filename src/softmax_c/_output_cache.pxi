# The output cache (cpp/include/softmax_c/output_cache.h): big outputs are
# allocated under a NEP 49 PyDataMem_Handler named "softmax_c", installed
# only around that one allocation (PyDataMem_SetHandler is a context
# variable: set, allocate, restore).  NumPy stores the handler in the array
# and frees through it when the array dies, into a bounded cache the next big
# output is taken from, so a loop `y = softmax(x)` reuses mapped pages instead
# of faulting in fresh ones.  Every big output of every front goes through
# `output_empty` (Python) or `_big_empty` (softmax_fast).
import os as _os
from cpython.pycapsule cimport PyCapsule_New

cdef extern from "softmax_c/output_cache.h" nogil:
    ctypedef struct sc_oc_stats:
        int64_t budget, cached_bytes, cached_buffers, live_buffers, hits, misses
    void sc_oc_set_budget(int64_t bytes)
    int64_t sc_oc_budget()
    void sc_oc_trim()
    void sc_oc_get_stats(sc_oc_stats* s)

cdef extern from *:
    """
    static PyDataMem_Handler sc_output_handler = {
        "softmax_c", 1, {NULL, sc_oc_malloc, sc_oc_calloc, sc_oc_realloc, sc_oc_free}};
    """
    void* sc_output_handler_ptr "((void*)&sc_output_handler)"

# Outputs below this many bytes never touch the handler: below ~1 MiB glibc
# serves them from its heap (reused, already-mapped pages: the mmap threshold
# rises to 32 MiB once a big block is freed), and a (1, 1000) call pays one
# compare.  The page-fault cost the cache removes is per 4 KiB page, so it
# matters from a few hundred pages up.
cdef enum:
    _OC_MIN_BYTES = 1 << 20

cdef object _oc_capsule = PyCapsule_New(sc_output_handler_ptr, b"mem_handler", NULL)
cdef bint _oc_on = True  # budget > 0: skip the handler entirely when disabled


cdef cnp.ndarray _big_empty(int nd, cnp.npy_intp* shape, int typenum):
    """PyArray_EMPTY under the softmax_c handler (caller checked the size)."""
    prev = cnp.PyDataMem_SetHandler(_oc_capsule)
    try:
        return cnp.PyArray_EMPTY(nd, shape, typenum, 0)
    finally:
        cnp.PyDataMem_SetHandler(prev)


def output_empty(shape, dtype, like=None):
    """An uninitialised output: ``np.empty(shape, dtype)``, or
    ``np.empty_like(like, dtype)`` (same layout as `like`) when `like` is
    given; from the output cache when it is at least 1 MiB and the cache is
    enabled.  The one allocation helper of every front."""
    dt = np.dtype(dtype)
    cdef Py_ssize_t n
    if like is not None:
        n = like.size
    else:
        n = 1
        for s in ((shape,) if type(shape) is int else shape):
            n *= s
    if not _oc_on or n * dt.itemsize < _OC_MIN_BYTES:
        return np.empty(shape, dt) if like is None else np.empty_like(like, dt)
    prev = cnp.PyDataMem_SetHandler(_oc_capsule)
    try:
        return np.empty(shape, dt) if like is None else np.empty_like(like, dt)
    finally:
        cnp.PyDataMem_SetHandler(prev)


def _output_zeros(shape, dtype):
    """np.zeros under the handler, whatever the size (tests its calloc)."""
    prev = cnp.PyDataMem_SetHandler(_oc_capsule)
    try:
        return np.zeros(shape, dtype)
    finally:
        cnp.PyDataMem_SetHandler(prev)


def set_output_cache_bytes(n):
    """Set the output cache's budget: the most bytes of released output
    buffers softmax_c keeps for reuse.

    Parameters
    ----------
    n : int
        Bytes, >= 0.  0 disables the cache and frees every cached buffer;
        arrays already allocated stay valid and are freed normally.

    Notes
    -----
    Buffers beyond the budget are freed oldest first; a buffer idle for more
    than 5 s is freed at the next cache operation (or `trim_output_cache`).
    The default is 256 MiB, or ``SOFTMAX_C_OUTPUT_CACHE_BYTES`` at import.
    """
    global _oc_on
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_output_cache_bytes: n must be an int, not {type(n).__name__}")
    if n < 0:
        raise ValueError(f"set_output_cache_bytes: n must be >= 0, got {n}")
    sc_oc_set_budget(<int64_t>min(int(n), 2**62))
    _oc_on = n > 0


def get_output_cache_bytes():
    """The output cache's budget in bytes (0: disabled)."""
    return sc_oc_budget()


def trim_output_cache():
    """Free every buffer the output cache holds (live arrays are untouched)."""
    with nogil:
        sc_oc_trim()


def output_cache_info():
    """The output cache's state: a dict with ``budget``, ``cached_bytes``,
    ``cached_buffers``, ``live_buffers`` (arrays alive that were allocated
    through it), ``hits`` and ``misses`` (allocations served from the cache
    or newly mapped, since import)."""
    cdef sc_oc_stats s
    sc_oc_get_stats(&s)
    return {"budget": s.budget, "cached_bytes": s.cached_bytes, "cached_buffers": s.cached_buffers,
            "live_buffers": s.live_buffers, "hits": s.hits, "misses": s.misses}


def _oc_apply_env():
    v = _os.environ.get("SOFTMAX_C_OUTPUT_CACHE_BYTES", "").strip()
    if not v:
        return
    try:
        n = int(v)
    except ValueError:
        raise ImportError(f"SOFTMAX_C_OUTPUT_CACHE_BYTES={v!r} is not a whole number of bytes") from None
    if n < 0:
        raise ImportError(f"SOFTMAX_C_OUTPUT_CACHE_BYTES={v!r} must be >= 0")
    set_output_cache_bytes(n)


_oc_apply_env()
