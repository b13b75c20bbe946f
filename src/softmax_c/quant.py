"""An int8 KV cache: :func:`quantize_kv` and :class:`QuantizedKV` (issue 11).

One symmetric scale per vector along `axis` (per token and head when the
axis is the head size, as a KV cache is written one token at a time):
``values = rint(x / scale)`` in [-127, 127] with ``scale = max|x| / 127``
(0 for an all-zero vector), so ``|x - scale * values| <= scale / 2``.
:func:`~softmax_c.scaled_dot_product_attention` takes a :class:`QuantizedKV`
for both key and value and dequantizes in registers.
"""
from __future__ import annotations

import numpy as np

from . import _rules as R

__all__ = ["QuantizedKV", "quantize_kv"]


class QuantizedKV:
    """int8 values with one float32 scale per vector along `axis`.

    Attributes
    ----------
    values : ndarray of int8
        ``x``'s shape.
    scales : ndarray of float32
        ``x``'s shape without `axis`.
    axis : int
        The quantized axis, non-negative.
    """

    __slots__ = ("values", "scales", "axis")

    def __init__(self, values, scales, axis=-1):
        values = np.asarray(values)
        scales = np.asarray(scales)
        if values.dtype != np.int8:
            raise TypeError(f"values: expected int8, got dtype {values.dtype}")
        if scales.dtype != np.float32:
            raise TypeError(f"scales: expected float32, got dtype {scales.dtype}")
        if values.ndim == 0:
            raise ValueError("values: expected at least one dimension")
        ax = R.axis(axis, values.ndim)
        want = values.shape[:ax] + values.shape[ax + 1:]
        if scales.shape != want:
            raise ValueError(f"scales: expected shape {want} (values' without axis {ax}), got {scales.shape}")
        self.values, self.scales, self.axis = values, scales, ax

    @property
    def shape(self):
        return self.values.shape

    @property
    def ndim(self):
        return self.values.ndim

    def dequantize(self, dtype=np.float32):
        """``scales * values`` (broadcast along `axis`) in `dtype`."""
        return (np.expand_dims(self.scales, self.axis) * self.values.astype(np.float32)).astype(dtype, copy=False)

    def __repr__(self):
        return f"QuantizedKV(shape={self.values.shape}, axis={self.axis})"


def quantize_kv(x, *, axis=-1):
    """Quantize a key or value cache to int8 with one symmetric float32 scale
    per vector along `axis`.

    Parameters
    ----------
    x : array_like
        float16, bfloat16, float32 or float64; finite.
    axis : int, optional
        The axis each scale covers (default the last: one scale per token and
        head of a ``(..., H, S, E)`` cache).

    Returns
    -------
    QuantizedKV
        ``values`` int8 (x's shape), ``scales`` float32 (x's shape without
        `axis`); ``|x - dequantize()| <= scale / 2`` elementwise (plus the
        float32 rounding of the product).

    Raises
    ------
    TypeError
        A dtype other than the floats above.
    ValueError
        A scalar, an empty axis, or a non-finite entry.
    """
    x = R.as_array(x, "x", native=True)
    if not (x.dtype.kind == "f" or R.is_bfloat16(x.dtype)):
        raise TypeError(f"x: expected float16, bfloat16, float32 or float64, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError("x: expected at least one dimension")
    ax = R.axis(axis, x.ndim)
    if x.shape[ax] == 0:
        raise ValueError(f"x: axis {ax} is empty")
    xf = x.astype(np.float32, copy=False)
    if not np.isfinite(xf).all():
        raise ValueError("x: must be finite to quantize")
    amax = np.max(np.abs(xf), axis=ax)
    scales = (amax / np.float32(127)).astype(np.float32)
    inv = np.where(scales > 0, np.float32(1) / np.where(scales > 0, scales, 1), 0).astype(np.float32)
    q = np.rint(xf * np.expand_dims(inv, ax))
    values = np.clip(q, -127, 127).astype(np.int8)
    return QuantizedKV(values, scales, ax)
