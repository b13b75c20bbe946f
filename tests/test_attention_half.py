"""Attention on float16 / bfloat16 arrays (issue 11): query, key and value
in any of float32, float16, bfloat16 (key and value share one), widened in
registers and computed in float32, the output in the query's dtype (rounded
once), the lse float32.

Two contracts, on every target and layout:
* exactness of the widening: the call equals, bit for bit, the float32 call
  on the exactly widened arrays, its output then rounded to the query's
  dtype -- the kernels see the same float32 values in the same order;
* accuracy: against the float64 reference on the same (half) inputs, max
  error <= 2 ULP of the output dtype at the row's scale (max |out| of the
  row; float32 outputs: the float32 bound of test_attention.py).
"""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import softmax_c
from conftest import make_layout
from softmax_c import reference as ref

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16, F32 = np.dtype(np.float16), np.dtype(np.float32)
sdpa = softmax_c.scaled_dot_product_attention
NAMES = {F16: "f16", BF16: "bf16", F32: "f32"}
# (query dtype, key/value dtype)
PAIRS = [(F16, F16), (BF16, BF16), (F32, F16), (F32, BF16), (BF16, F16), (F16, F32)]
PAIR_IDS = [f"q{NAMES[a]}-kv{NAMES[b]}" for a, b in PAIRS]
MANT = {F16: 10, BF16: 7}  # explicit mantissa bits


def widened(*xs):
    return [np.asarray(x).astype(np.float32) for x in xs]


def assert_rounded_float32(got, q, k, v, lse=None, **kw):
    """got is the float32 call on the widened arrays, rounded to q's dtype."""
    qf, kf, vf = widened(q, k, v)
    want = sdpa(qf, kf, vf, return_lse=lse is not None, **kw)
    if lse is not None:
        want, want_lse = want
        assert lse.dtype == F32
        np.testing.assert_array_equal(lse, want_lse)
    assert got.dtype == q.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.astype(np.float32), want.astype(q.dtype).astype(np.float32))


def assert_ulps(got, q, k, v, ulps=2.0, **kw):
    """max error vs the float64 reference <= `ulps` ULP of got's dtype at the
    row scale (float32 outputs: 2e-5 max|v|, test_attention.py's bound)."""
    exact = ref.scaled_dot_product_attention(*(np.asarray(x).astype(np.float64) for x in (q, k, v)), **kw)
    err = np.abs(got.astype(np.float64) - exact)
    if got.dtype == F32:
        vmax = max(1.0, float(np.abs(np.asarray(v).astype(np.float64)).max()))
        assert err.max() <= 2e-5 * vmax
        return
    scale = np.abs(exact).max(axis=-1, keepdims=True)
    ulp = np.exp2(np.floor(np.log2(np.maximum(scale, 1e-30))) - MANT[got.dtype])
    assert np.all(err <= ulps * ulp), f"max {float((err / ulp).max()):.2f} ULP"


SHAPES = [  # (B, Hq, H, L, S, E, Ev)
    (1, 2, 2, 1, 1, 8, 8),
    (1, 4, 2, 1, 700, 64, 64),     # decode: dot kernel, split into chunks
    (2, 4, 1, 3, 1100, 32, 48),    # 3 rows per group x 4 heads: panel kernel, Ev not a lane multiple
    (1, 2, 2, 40, 300, 80, 80),    # panel kernel, key tails
    (1, 1, 1, 250, 90, 16, 9),     # two row tiles, Ev = 9
]


@pytest.mark.parametrize("qdt,kvdt", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_half_matches_widened_float32_and_reference(target, rng, qdt, kvdt, shape):
    B, hq, h, L, S, E, Ev = shape
    q = rng.standard_normal((B, hq, L, E)).astype(qdt)
    k = rng.standard_normal((B, h, S, E)).astype(kvdt)
    v = rng.standard_normal((B, h, S, Ev)).astype(kvdt)
    kw = dict(enable_gqa=hq != h)
    got, lse = sdpa(q, k, v, return_lse=True, **kw)
    assert_rounded_float32(got, q, k, v, lse=lse, **kw)
    assert_ulps(got, q, k, v, **kw)


@pytest.mark.parametrize("qdt,kvdt", PAIRS[:4], ids=PAIR_IDS[:4])
@pytest.mark.parametrize("layout", ["strided", "negative", "transposed", "misaligned", "broadcast"])
def test_half_layouts(target, rng, qdt, kvdt, layout):
    q = rng.standard_normal((2, 4, 5, 24)).astype(qdt)
    k = rng.standard_normal((2, 4, 600, 24)).astype(kvdt)
    v = rng.standard_normal((2, 4, 600, 20)).astype(kvdt)
    ql, kl, vl = (make_layout(x, layout) for x in (q, k, v))
    got = sdpa(ql, kl, vl)
    assert_rounded_float32(got, ql, kl, vl)
    assert_ulps(got, ql, kl, vl)


@pytest.mark.parametrize("qdt,kvdt", PAIRS[:4], ids=PAIR_IDS[:4])
@pytest.mark.parametrize("L,S", [(1, 1500), (4, 600), (37, 200)])
def test_half_causal_masks_and_extras(target, rng, qdt, kvdt, L, S):
    q = rng.standard_normal((1, 2, L, 32)).astype(qdt)
    k = (rng.standard_normal((1, 2, S, 32)) * 3).astype(kvdt)
    v = rng.standard_normal((1, 2, S, 32)).astype(kvdt)
    for kw in (dict(is_causal=True, causal_alignment="lower_right"),
               dict(attn_mask=rng.standard_normal((L, S)).astype(qdt)),   # a half float mask
               dict(attn_mask=rng.random((2, L, S)) < 0.7),
               dict(window_size=(64, 0), softcap=5.0, causal_alignment="lower_right",
                    alibi_slopes=np.array([0.25, 0.5], np.float32), sinks=np.array([0.5, -1.0], np.float32))):
        got = sdpa(q, k, v, **kw)
        assert_rounded_float32(got, q, k, v, **kw)


@pytest.mark.parametrize("kvdt", [F16, BF16], ids=["f16", "bf16"])
def test_half_special_values(target, kvdt):
    """The dtype's max, subnormals, inf / NaN in masked keys, NaN in a value
    row, a fully masked row: as the float32 call on the widened arrays."""
    fmax = float(np.finfo(kvdt).max) if kvdt == F16 else float(ml_dtypes.finfo(BF16).max)
    tiny = float(np.finfo(kvdt).smallest_subnormal) if kvdt == F16 else float(ml_dtypes.finfo(BF16).smallest_subnormal)
    rng = np.random.default_rng(5)
    S = 700
    q = rng.standard_normal((1, 2, 3, 16)).astype(np.float32)
    k = rng.standard_normal((1, 2, S, 16))
    v = rng.standard_normal((1, 2, S, 16))
    k[0, 0, 5] = np.inf
    k[0, 1, 9] = np.nan
    v[0, 0, 11, 3] = fmax
    v[0, 1, 12] = tiny
    v[0, 1, 600, 2] = np.nan
    k, v = k.astype(kvdt), v.astype(kvdt)
    mask = np.ones((3, S), bool)
    mask[:, [5, 9]] = False
    mask[2] = False  # a fully masked row: zeros
    got = sdpa(q, k, v, attn_mask=mask)
    assert_rounded_float32(got, q, k, v, attn_mask=mask)
    assert np.all(got[..., 2, :] == 0)
    assert np.isnan(got[0, 1, :2, 2]).all() and np.isfinite(got[0, 0, :2]).all()


def test_half_output_overflow_rounds_to_inf():
    """A float32 result beyond float16's range is inf in a float16 output
    (one rounding), as NumPy's cast."""
    q = np.zeros((1, 1, 4), np.float16)
    v = np.full((1, 3, 4), 60000.0, np.float32)
    k = np.zeros((1, 3, 4), np.float32)
    v[0, :, 1] = 70000.0
    got = sdpa(q, k.astype(np.float32), v)  # float16 query, float32 cache: float16 output
    assert got.dtype == F16
    np.testing.assert_array_equal(got[0, 0], np.array([60000.0, np.inf, 60000.0, 60000.0], np.float16))


def test_half_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for qdt, tdt in ((BF16, torch.bfloat16), (F16, torch.float16)):
        q = rng.standard_normal((1, 4, 33, 64)).astype(qdt)
        k = rng.standard_normal((1, 4, 300, 64)).astype(qdt)
        v = rng.standard_normal((1, 4, 300, 64)).astype(qdt)
        got = sdpa(q, k, v, is_causal=True).astype(np.float64)
        tt = [torch.from_numpy(x.astype(np.float32)).to(tdt) for x in (q, k, v)]
        want = torch.nn.functional.scaled_dot_product_attention(*tt, is_causal=True).float().numpy()
        exact = ref.scaled_dot_product_attention(*(x.astype(np.float64) for x in (q, k, v)), is_causal=True)
        ours, theirs = np.abs(got - exact).max(), np.abs(want - exact).max()
        assert ours <= theirs * 1.01 + 1e-6, (qdt, ours, theirs)  # no worse than torch's own error
        np.testing.assert_allclose(got, want, atol=2 * 2.0 ** -MANT[qdt] * np.abs(exact).max())


def test_half_cache_is_never_copied_to_float32():
    """Decode over a 24 MiB bfloat16 cache allocates far less than its
    float32 copy (48 MiB): the cache is read as it is."""
    rng = np.random.default_rng(3)
    k = rng.standard_normal((1, 8, 12288, 64), np.float32).astype(BF16)
    v = rng.standard_normal((1, 8, 12288, 64), np.float32).astype(BF16)
    q = rng.standard_normal((1, 8, 1, 64)).astype(np.float32)
    sdpa(q, k, v)  # warm the output cache and thread scratch
    tracemalloc.start()
    try:
        got = sdpa(q, k, v)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak} bytes allocated"
    assert_rounded_float32(got, q, k, v)


def test_half_serving_paged_cache_append(target):
    """flash_attn_with_kvcache on a bfloat16 paged cache with a float32 and a
    bfloat16 query: the appended rows land in the cache (rounded to bf16) and
    the output equals the float32 call on the widened cache."""
    rng = np.random.default_rng(9)
    nb, bs, h, hq, e = 12, 16, 2, 4, 32
    kc = rng.standard_normal((nb, bs, h, e)).astype(BF16)
    vc = rng.standard_normal((nb, bs, h, e)).astype(BF16)
    bt = np.array([[3, 7, 1, 0], [5, 2, 9, 11]], np.int32)
    seqlens = np.array([40, 17], np.int32)
    knew = rng.standard_normal((2, 1, h, e)).astype(BF16)
    vnew = rng.standard_normal((2, 1, h, e)).astype(BF16)
    for qdt in (F32, BF16):
        q = rng.standard_normal((2, 1, hq, e)).astype(qdt)
        k1, v1 = kc.copy(), vc.copy()
        got, lse = softmax_c.flash_attn_with_kvcache(q, k1, v1, knew, vnew, cache_seqlens=seqlens, block_table=bt,
                                                     causal=True, return_lse=True)
        assert got.dtype == qdt and lse.dtype == F32
        # position 40 of sequence 0: block bt[0, 2] = 1, slot 8; 17 of sequence 1: bt[1, 1] = 2, slot 1
        assert k1[1, 8].tobytes() == knew[0, 0].tobytes() and v1[2, 1].tobytes() == vnew[1, 0].tobytes()
        kf, vf = widened(k1, v1)
        want, want_lse = softmax_c.flash_attn_with_kvcache(q.astype(np.float32), kf, vf, cache_seqlens=seqlens + 1,
                                                           block_table=bt, causal=True, return_lse=True)
        np.testing.assert_array_equal(got.astype(np.float32), want.astype(qdt).astype(np.float32))
        np.testing.assert_array_equal(lse, want_lse)


def test_half_varlen(target):
    rng = np.random.default_rng(4)
    cu = np.array([0, 5, 5, 300], np.int32)
    q = rng.standard_normal((300, 4, 16)).astype(BF16)
    k = rng.standard_normal((300, 2, 16)).astype(F16)
    v = rng.standard_normal((300, 2, 16)).astype(F16)
    with pytest.raises(TypeError, match="k and v"):
        softmax_c.flash_attn_varlen_func(q, k, v.astype(BF16), cu, cu)
    got = softmax_c.flash_attn_varlen_func(q, k, v, cu, cu, causal=True)
    want = softmax_c.flash_attn_varlen_func(*widened(q, k, v), cu, cu, causal=True)
    np.testing.assert_array_equal(got.astype(np.float32), want.astype(BF16).astype(np.float32))


@pytest.mark.parametrize("call,exc,words", [
    (lambda q, k, v: sdpa(q, k.astype(F16), v.astype(BF16)), TypeError, "key and value"),
    (lambda q, k, v: sdpa(q.astype(np.float64), k.astype(F16), v.astype(F16)), TypeError, "float64"),
    (lambda q, k, v: sdpa(q.astype(BF16), k.astype(np.float64), v.astype(np.float64)), TypeError, "float64"),
    (lambda q, k, v: sdpa(q, k.astype(np.int8), v.astype(np.int8)), TypeError, "key"),
    (lambda q, k, v: sdpa(q.astype(np.complex64), k, v), TypeError, "query"),
    (lambda q, k, v: sdpa(q.astype(F16), k, v, out=np.zeros((2, 3, 6), np.float32)), TypeError, "out"),
    (lambda q, k, v: sdpa(q.astype(F16), k, v, return_lse=True,
                          out=(np.zeros((2, 3, 6), F16), np.zeros((2, 3), F16))), TypeError, "out"),
])
def test_half_errors(call, exc, words):
    q, k, v = np.zeros((2, 3, 4), F32), np.zeros((2, 5, 4), F32), np.zeros((2, 5, 6), F32)
    with pytest.raises(exc, match=words):
        call(q, k, v)


def test_half_out_argument():
    rng = np.random.default_rng(2)
    q = rng.standard_normal((2, 3, 8)).astype(BF16)
    k = rng.standard_normal((2, 50, 8)).astype(BF16)
    v = rng.standard_normal((2, 50, 8)).astype(BF16)
    o, l = np.empty((2, 3, 8), BF16), np.empty((2, 3), np.float32)
    r = sdpa(q, k, v, return_lse=True, out=(o, l))
    assert r[0] is o and r[1] is l
    want, want_lse = sdpa(q, k, v, return_lse=True)
    assert o.tobytes() == want.tobytes() and np.array_equal(l, want_lse)


@pytest.mark.parametrize("dt", [F16, BF16, F32], ids=["f16", "bf16", "f32"])
def test_half_merge_attention(rng, dt):
    """Shards of a bf16 / f16 cache: half outputs, float32 lses; the merge
    equals one call over all the keys to float32 rounding, in the outputs'
    dtype."""
    q = rng.standard_normal((2, 3, 16)).astype(dt)
    k = rng.standard_normal((2, 90, 16)).astype(dt)
    v = rng.standard_normal((2, 90, 16)).astype(dt)
    parts = [sdpa(q, k[:, a:b], v[:, a:b], return_lse=True) for a, b in ((0, 30), (30, 31), (31, 90))]
    o, l = softmax_c.merge_attention([p[0] for p in parts], [p[1] for p in parts])
    want, want_lse = sdpa(q, k, v, return_lse=True)
    assert o.dtype == dt and l.dtype == F32
    np.testing.assert_allclose(l, want_lse, rtol=0, atol=1e-5)
    tol = 2e-5 if dt == F32 else 2.0 * 2.0 ** -MANT[dt]
    np.testing.assert_allclose(o.astype(np.float32), want.astype(np.float32), rtol=0, atol=tol * 4)
