"""The argument rules every front follows (special.py, attention.py,
sampling.py): array coercion, number checks, axes, the dtype policy, ``out=``
checks, the kernels' layout rule and the copy fallback.

One place, so that a rule (and its error message) reads the same in every
public function.  Errors name the argument: ``TypeError`` for a wrong kind,
``ValueError`` for a wrong value or shape.  Nothing here writes to a caller's
array.
"""
from __future__ import annotations

import math
import numbers
import operator

import numpy as np

try:  # NumPy >= 2
    from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import normalize_axis_index
    from numpy.core.numeric import normalize_axis_tuple

F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
I64 = np.dtype(np.int64)
_INF = math.inf


# ------------------------------------------------------------- dtype policy --

# The one dtype table: input dtype -> (kernel dtype, result dtype).  A dtype
# with a native kernel maps to itself: float16 and bfloat16 are storage
# dtypes of the softmax family (widened in registers, computed in float32,
# each result rounded once to the input's dtype); their logsumexp is float32
# (lse_dtype).  bfloat16 is ml_dtypes' dtype, recognised by name (a user who
# holds one has imported ml_dtypes; softmax_c never imports it): its row is
# added by compute_dtypes when first seen.  Dtypes not in the table:
# bool/int and longdouble compute in float64 (see compute_dtypes).
DTYPE_POLICY = {
    F32: (F32, F32),
    F64: (F64, F64),
    F16: (F16, F16),
}
# The dtypes every family's kernels take as they are (attention accepts only
# these); the softmax family also takes the half dtypes (HALF_DTYPES).
KERNEL_DTYPES = frozenset((F32, F64))
BF16_EXTRA = 'pip install "softmax_c[bf16]"'


def is_bfloat16(dtype):
    """Whether `dtype` is a bfloat16 (ml_dtypes'; by name, no import)."""
    # kind 'V' and size 2 first: dtype.name is slow (NumPy builds it in Python)
    return dtype.itemsize == 2 and dtype.kind == "V" and dtype.name == "bfloat16"


def is_half(dtype):
    """float16 or bfloat16: the storage dtypes computed in float32."""
    return dtype == F16 or is_bfloat16(dtype)


def with_weights(a, b, name):
    """The logsumexp-family rules for an input `a` (named `name`) and
    optional weights `b` (scipy's): both coerced, `b` broadcast against `a`,
    their common dtype promoted as scipy does (NEP 50: a Python scalar
    weight does not widen a's dtype; integers and bools compute in float64).
    Returns (a, b or None, kernel dtype, result dtype)."""
    a = as_array(a, name)
    if b is None:
        kdt, rdt = compute_dtypes(a.dtype, name)
        return a, None, kdt, rdt
    b_obj = b
    b = as_array(b, "b")
    compute_dtypes(b.dtype, "b")
    compute_dtypes(a.dtype, name)
    weak = isinstance(b_obj, (int, float)) and not isinstance(b_obj, bool)
    dt = np.result_type(a.dtype, b_obj) if weak else np.result_type(a.dtype, b.dtype)
    if dt.kind != "f":
        dt = np.result_type(dt, np.float64) if dt.kind in "biu" else dt
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError:
        raise ValueError(f"b with shape {b.shape} does not broadcast against {name} with shape {a.shape}") from None
    kdt, rdt = compute_dtypes(dt, name)
    return a, b, kdt, rdt


def lse_dtype(kdt):
    """The dtype logsumexp's kernel writes for kernel dtype `kdt`: float32 for
    the halves (a half-precision lse would lose the merge), else `kdt`."""
    return kdt if kdt is F32 or kdt is F64 or not is_half(kdt) else F32


def compute_dtypes(dtype, name):
    """(kernel dtype, result dtype) of an input dtype, both native byte order
    (a '>f4' input computes and returns float32); TypeError naming `name` for
    complex or non-numeric dtypes (naming the bf16 extra)."""
    if not dtype.isnative:
        dtype = dtype.newbyteorder("=")
    pair = DTYPE_POLICY.get(dtype)
    if pair is not None:
        return pair
    if is_bfloat16(dtype):
        DTYPE_POLICY[dtype] = (dtype, dtype)
        return dtype, dtype
    kind = dtype.kind
    if kind in "biuf":  # bool, integers, longdouble: float64
        return F64, F64
    if kind == "c":
        raise TypeError(f"{name}: complex input is not supported (got {dtype})")
    raise TypeError(
        f"{name}: expected a real numeric array (float16, bfloat16, float32, float64, integer or bool), "
        f"got dtype {dtype}; for bfloat16 arrays install ml_dtypes: {BF16_EXTRA}"
    )


def kernel_float(x, name, dtypes=None):
    """TypeError unless x's dtype is one the kernels take natively (or one of
    `dtypes`): for the functions that do not convert (attention)."""
    allowed = KERNEL_DTYPES if dtypes is None else dtypes
    if x.dtype not in allowed:
        names = " or ".join(sorted(str(d) for d in allowed))
        raise TypeError(f"{name}: expected {names}, got dtype {x.dtype}")


def attention_dtypes(q, k, v, names=("query", "key", "value"), quantized=False):
    """The compute dtype of an attention call on arrays q, k, v: float64 when
    they are float64, else float32 (float16 / bfloat16 storage widened in
    registers, as float32 q with a half cache).  TypeError naming the array:
    a dtype other than float16, bfloat16, float32, float64; k and v of
    different dtypes; float64 mixed with another dtype.  quantized: k, v are
    the int8 values of QuantizedKV caches, q must be float32 or half."""
    if quantized:
        if not (q.dtype == F32 or is_half(q.dtype)):
            raise TypeError(f"{names[0]}: int8 (QuantizedKV) key and value need a float32, float16 or bfloat16 "
                            f"query, got dtype {q.dtype}")
        return F32
    for name, x in zip(names, (q, k, v)):
        if not (x.dtype in KERNEL_DTYPES or is_half(x.dtype)):
            raise TypeError(f"{name}: expected float16, bfloat16, float32 or float64, got dtype {x.dtype}"
                            + ("" if x.dtype.kind in "biufc" else f"; for bfloat16 install ml_dtypes: {BF16_EXTRA}"))
    if k.dtype != v.dtype:
        raise TypeError(f"{names[1]} and {names[2]} must share a dtype, got {k.dtype} and {v.dtype}")
    if (q.dtype == F64) != (k.dtype == F64):
        raise TypeError(f"{names[0]} ({q.dtype}) and {names[1]}/{names[2]} ({k.dtype}): float64 attention "
                        "needs float64 throughout")
    return F64 if q.dtype == F64 else F32


# ----------------------------------------------------------------- coercion --

def as_array(x, name, native=False):
    """x as an ndarray (a ndarray is returned as it is); TypeError naming
    `name` for what NumPy cannot convert (ragged lists).  With `native`, a
    byte-swapped array is converted to native byte order."""
    if type(x) is not np.ndarray:
        try:
            x = np.asarray(x)
        except Exception as e:  # ragged lists and the like
            raise TypeError(f"{name}: cannot be converted to an array ({e})") from None
    if native and not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    return x


# ------------------------------------------------------------------ numbers --

def real(v, name):
    """v as a float; TypeError unless it is a real number (bool is not)."""
    if type(v) is float:
        return v
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    return float(v)


def positive_finite(v, name):
    """v as a float, finite and > 0 (a temperature).  The first line is the
    whole check of the common call; softmax/log_softmax inline it in front of
    their fast path."""
    if type(v) is float and 0.0 < v < _INF:
        return v
    v = real(v, name)
    if not (math.isfinite(v) and v > 0.0):
        raise ValueError(f"{name} must be finite and > 0, got {v}")
    return v


def in_range(v, name, lo, hi, *, lo_open=False, hi_open=False):
    """v as a float in [lo, hi] (an end open when asked); an infinite `hi`
    still requires a finite value."""
    v = real(v, name)
    ok = (lo < v if lo_open else lo <= v) and (v < hi if hi_open else v <= hi) and math.isfinite(v)
    if not ok:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        what = f">= {lo}" if hi == _INF and not lo_open else f"in {left}{lo}, {hi}{right}"
        raise ValueError(f"{name} must be finite and {what}, got {v}")
    return v


def integer(v, name, lo=None):
    """v as an int (numpy integers too, bool not); ValueError below `lo`."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    v = operator.index(v)
    if lo is not None and v < lo:
        raise ValueError(f"{name} must be >= {lo}, got {v}")
    return v


def boolean(v, name):
    """v as a bool (Python or NumPy bool only: 0 and 1 are not)."""
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(v).__name__}")
    return bool(v)


# --------------------------------------------------------------------- axes --

def axes(axis, ndim):
    """Sorted tuple of non-negative axes: None is every axis (scipy's rule),
    an int or a tuple of ints is normalised (AxisError out of range,
    ValueError for a repeated axis)."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the common call, without NumPy's normaliser
        return (axis % ndim,)
    if isinstance(axis, bool):
        raise TypeError("axis must be an int, a tuple of ints or None, got bool")
    return tuple(sorted(normalize_axis_tuple(axis, ndim, "axis")))


def axis(ax, ndim):
    """One axis (an int, bool not) as a non-negative index; AxisError out of
    range."""
    if isinstance(ax, bool) or not isinstance(ax, numbers.Integral):
        raise TypeError(f"axis must be an int, got {type(ax).__name__}")
    return normalize_axis_index(operator.index(ax), ndim)


def rows(x, ax, name, half=False):
    """A 2-D (rows, n) kernel-dtype view (or copy) of x with axis `ax` last,
    for the functions over a vocabulary axis.  Returns (x2, batch shape,
    normalised axis, result dtype).  half: the caller's kernel takes float16
    / bfloat16 rows as they are (widened in registers); otherwise they become
    float32.  ValueError for a scalar or an empty axis."""
    x = as_array(x, name)
    kdt, rdt = compute_dtypes(x.dtype, name)
    if not half and is_half(kdt):
        kdt = F32
    if x.ndim == 0:
        raise ValueError(f"{name}: expected at least one dimension (the vocabulary), got a scalar")
    ax = axis(ax, x.ndim)
    n = x.shape[ax]
    if n == 0:
        raise ValueError(f"{name}: empty vocabulary (axis {ax} has length 0)")
    xm = x if ax == x.ndim - 1 else np.moveaxis(x, ax, -1)
    batch = xm.shape[:-1]
    x2 = xm.reshape(-1, n)
    if x2.dtype != kdt:
        x2 = x2.astype(kdt)
    return x2, batch, ax, rdt


def moved(x, axs):
    """x with axes `axs` moved to the end and merged into one (a view when the
    layout allows, else a copy), and the permutation used."""
    other = [d for d in range(x.ndim) if d not in axs]
    perm = other + list(axs)
    xt = np.transpose(x, perm)
    n = 1
    for d in axs:
        n *= x.shape[d]
    return xt.reshape(xt.shape[: len(other)] + (n,)), perm


# --------------------------------------------------------------------- out= --

def check_out(out, shape, dtype, name="out"):
    """Validate a caller's output array before anything is written: an
    ndarray of exactly `shape` and `dtype`, writeable (any strides)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} has shape {out.shape}, expected {shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")


def check_outs(out, specs, name="out"):
    """`out` for a function returning a tuple: a tuple (or list) of arrays, one
    per (shape, dtype) in `specs`, each checked as :func:`check_out` (named
    ``out[i]``).  Returns the arrays as a tuple."""
    if not isinstance(out, (tuple, list)) or len(out) != len(specs):
        raise TypeError(f"{name} must be a tuple of {len(specs)} arrays, got {type(out).__name__}"
                        + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    for i, (o, (shape, dtype)) in enumerate(zip(out, specs)):
        check_out(o, shape, dtype, f"{name}[{i}]")
    arrays = tuple(out)
    for i in range(len(arrays)):
        for j in range(i):
            if shares(arrays[i], arrays[j]):
                raise ValueError(f"{name}[{j}] and {name}[{i}] share memory")
    return arrays


def shares(a, b):
    """np.shares_memory(a, b) (exact), behind the cheap bounds test
    np.may_share_memory that settles disjoint buffers without it."""
    return np.may_share_memory(a, b) and np.shares_memory(a, b)


def broadcast_shape(*shapes):
    """np.broadcast_shapes(*shapes) (ValueError where they do not broadcast),
    without its ~5 us a call where every shape is the same."""
    if all(s == shapes[0] for s in shapes[1:]):
        return tuple(shapes[0])
    return np.broadcast_shapes(*shapes)


def overlaps(a, b):
    """True when a and b share memory but are not the very same view (an
    in-place call with identical layout is fine for the kernels)."""
    if not np.may_share_memory(a, b):
        return False
    same = (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides and a.shape == b.shape)
    return not same and np.shares_memory(a, b)


# ------------------------------------------------------------------- layout --

def strided_ok(x):
    """The kernels' layout rule: they take element strides of aligned data,
    so a byte stride that is not a multiple of the item size (a view into a
    structured array, say) or data at an odd byte offset needs a copy.  Zero
    and negative strides are fine."""
    flags = x.flags
    if not flags.aligned:
        return False
    if flags.c_contiguous:  # the common case: no per-axis look
        return True
    isz = x.itemsize
    return all(s % isz == 0 for s in x.strides)


def kernel_view(x):
    """x itself when :func:`strided_ok`, else an aligned C-contiguous copy."""
    return x if strided_ok(x) else np.require(x, requirements="CA")


def call_kernel(kernel, *args, writes=()):
    """``kernel(*args)`` on layouts the kernels can describe: the one copy
    fallback of every front.

    Array arguments that break :func:`strided_ok` are replaced by aligned
    C-contiguous copies before the call.  A binding may still answer False
    or None (a softmax view with more outer axes than ``SC_MAX_OUTER`` after
    merging); then every array argument is copied and the call repeated.
    `writes` lists the positions of the arrays the kernel writes: those get
    fresh C-contiguous buffers instead of copies and are copied back into
    the caller's array afterwards.  Returns the kernel's answer.
    """
    def substitute(force):
        new = list(args)
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray) and (force or not strided_ok(a)):
                new[i] = np.empty(a.shape, a.dtype) if i in writes else np.require(a, requirements="CA")
        return new

    for a in args:  # usually every array is fine: no list, no copies
        if isinstance(a, np.ndarray) and not strided_ok(a):
            new = substitute(False)
            break
    else:
        new = args
    r = kernel(*new)
    if r is False or r is None:
        new = substitute(True)
        r = kernel(*new)
    for i in writes:
        if new[i] is not args[i]:
            args[i][...] = new[i]
    return r


def per_row(v, name, batch, *, integral=False):
    """A per-row parameter: None for a scalar (the caller validates it as
    one), else an array of exactly `batch` (the input's shape without the
    reduced axis), int64 when `integral`, else float64."""
    if np.ndim(v) == 0 and not isinstance(v, np.ndarray):
        return None
    a = as_array(v, name)
    if integral:
        if a.dtype.kind not in "iu" or a.dtype == np.bool_:
            raise TypeError(f"{name} must be an int or an integer array, got dtype {a.dtype}")
    elif a.dtype.kind not in "iuf" or a.dtype == np.bool_:
        raise TypeError(f"{name} must be a float or a real array, got dtype {a.dtype}")
    if a.shape != tuple(batch):
        raise ValueError(f"{name} has shape {a.shape}, expected {tuple(batch)} (one value per row)")
    return np.ascontiguousarray(a.reshape(-1), dtype=np.int64 if integral else np.float64)


def bad_row(name, batch, bad, what):
    """ValueError naming `name` and the first row where `bad` (flat over
    the rows) holds."""
    r = int(np.flatnonzero(bad)[0])
    where = tuple(int(i) for i in np.unravel_index(r, batch)) if batch else ()
    raise ValueError(f"{name}: row {where} {what}")
