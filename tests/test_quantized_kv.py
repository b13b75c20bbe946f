"""The int8 KV cache (issue 11): quantize_kv / QuantizedKV, and attention
over QuantizedKV keys and values, dequantized in registers, on every target.

Contracts:
* quantization: values in [-127, 127], |x - dequantize()| <= scale / 2
  (+ float32 rounding), one scale per vector along `axis`;
* attention equals the float64 reference of the *dequantized* cache to
  float32 rounding (the float32 bound of test_attention.py, 2e-5 max|v|);
* against the unquantized cache, the documented bound: max error <=
  0.01 max|v| for standard normal q, k, v (measured 1.4e-3 .. 2e-3 max|v|).
"""
from __future__ import annotations

import numpy as np
import pytest

import softmax_c
from softmax_c import reference as ref

sdpa = softmax_c.scaled_dot_product_attention


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_quantize_roundtrip(rng, axis):
    x = (rng.standard_normal((5, 7, 33)) * rng.uniform(0.01, 100, (5, 7, 1))).astype(np.float32)
    x[1, 2] = 0.0  # an all-zero vector along the last axis
    qk = softmax_c.quantize_kv(x, axis=axis)
    ax = axis % x.ndim
    assert qk.values.dtype == np.int8 and qk.values.shape == x.shape
    assert qk.scales.dtype == np.float32 and qk.scales.shape == x.shape[:ax] + x.shape[ax + 1:]
    assert qk.values.min() >= -127 and qk.values.max() <= 127
    amax = np.abs(x).max(axis=ax)
    np.testing.assert_allclose(qk.scales, amax / 127, rtol=1e-6)
    # the largest entry of each vector maps to +-127
    assert np.all(np.abs(qk.values).max(axis=ax)[amax > 0] == 127)
    err = np.abs(qk.dequantize() - x)
    bound = np.expand_dims(qk.scales, ax) * (0.5 + 1e-5) + 1e-6 * np.abs(x)
    assert np.all(err <= bound)


def test_quantize_half_and_errors():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.linspace(-3, 3, 64, dtype=np.float32).reshape(2, 32)
    for dt in (np.float16, ml_dtypes.bfloat16, np.float64):
        q = softmax_c.quantize_kv(x.astype(dt))
        np.testing.assert_array_equal(q.values, softmax_c.quantize_kv(x.astype(dt).astype(np.float32)).values)
    with pytest.raises(TypeError, match="x"):
        softmax_c.quantize_kv(np.ones((2, 3), np.int32))
    with pytest.raises(ValueError, match="finite"):
        softmax_c.quantize_kv(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match="axis"):
        softmax_c.quantize_kv(np.ones((2, 0)))
    with pytest.raises(ValueError, match="scales"):
        softmax_c.QuantizedKV(np.zeros((2, 3), np.int8), np.zeros((3,), np.float32))
    with pytest.raises(TypeError, match="values"):
        softmax_c.QuantizedKV(np.zeros((2, 3), np.int16), np.zeros((2,), np.float32))


SHAPES = [  # (B, Hq, H, L, S, E, Ev)
    (1, 4, 2, 1, 700, 64, 64),     # decode: dot kernel, split into chunks
    (2, 4, 1, 3, 1100, 32, 48),    # GQA, panel kernel, Ev not a lane multiple
    (1, 2, 2, 40, 300, 80, 80),    # panel kernel, key tails
    (1, 1, 1, 200, 90, 16, 9),     # two row tiles
    (1, 1, 1, 1, 5, 8, 8),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("causal", [False, True])
def test_quantized_attention(target, rng, shape, causal):
    B, hq, h, L, S, E, Ev = shape
    q = rng.standard_normal((B, hq, L, E)).astype(np.float32)
    k = rng.standard_normal((B, h, S, E)).astype(np.float32)
    v = rng.standard_normal((B, h, S, Ev)).astype(np.float32)
    qk, qv = softmax_c.quantize_kv(k), softmax_c.quantize_kv(v)
    kw = dict(enable_gqa=hq != h, is_causal=causal, causal_alignment="lower_right")
    got, lse = sdpa(q, qk, qv, return_lse=True, **kw)
    assert got.dtype == np.float32 and lse.dtype == np.float32
    kd, vd = qk.dequantize(np.float64), qv.dequantize(np.float64)
    exp, exp_lse = ref.scaled_dot_product_attention(q.astype(np.float64), kd, vd, return_lse=True, **kw)
    vmax = max(1.0, float(np.abs(vd).max()))
    np.testing.assert_allclose(got, exp, rtol=0, atol=2e-5 * vmax)
    fin = np.isfinite(exp_lse)  # rows that see no key (causal, L > S): -inf exactly
    assert np.array_equal(np.isfinite(lse), fin) and np.all(lse[~fin] == exp_lse[~fin])
    np.testing.assert_allclose(lse[fin], exp_lse[fin], rtol=0,
                               atol=2e-5 * max(1.0, float(np.abs(exp_lse[fin]).max(initial=0))))
    full = ref.scaled_dot_product_attention(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), **kw)
    assert np.abs(got - full).max() <= 0.01 * float(np.abs(v).max())


def test_quantized_attention_half_query_and_views(target, rng):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    k = rng.standard_normal((2, 3, 600, 32)).astype(np.float32)
    v = rng.standard_normal((2, 3, 600, 32)).astype(np.float32)
    # a (B, T, H, D) cache viewed as (B, H, T, D): strided rows and scales
    qk = softmax_c.quantize_kv(np.ascontiguousarray(k.transpose(0, 2, 1, 3)))
    qv = softmax_c.quantize_kv(np.ascontiguousarray(v.transpose(0, 2, 1, 3)))
    qk = softmax_c.QuantizedKV(qk.values.transpose(0, 2, 1, 3), qk.scales.transpose(0, 2, 1))
    qv = softmax_c.QuantizedKV(qv.values.transpose(0, 2, 1, 3), qv.scales.transpose(0, 2, 1))
    for qdt in (np.float32, np.float16, ml_dtypes.bfloat16):
        q = rng.standard_normal((2, 3, 2, 32)).astype(qdt)
        got = sdpa(q, qk, qv)
        assert got.dtype == q.dtype
        want = sdpa(q, qk.dequantize(), qv.dequantize())  # the float32 cache of the same values
        tol = 2e-5 if qdt == np.float32 else 2.0 ** -7
        np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=0, atol=tol * 4)


def test_quantized_attention_errors():
    q = np.zeros((2, 3, 4), np.float32)
    k = softmax_c.quantize_kv(np.ones((2, 5, 4), np.float32))
    v = softmax_c.quantize_kv(np.ones((2, 5, 6), np.float32))
    with pytest.raises(TypeError, match="both QuantizedKV"):
        sdpa(q, k, np.ones((2, 5, 6), np.float32))
    with pytest.raises(TypeError, match="query"):
        sdpa(q.astype(np.float64), k, v)
    with pytest.raises(ValueError, match="axis"):
        sdpa(q, softmax_c.quantize_kv(np.ones((2, 5, 4), np.float32), axis=1), v)
    with pytest.raises(ValueError, match="key"):
        sdpa(q, softmax_c.quantize_kv(np.ones((2, 5, 3), np.float32)), v)
