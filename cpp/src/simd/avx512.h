// AVX-512 F/BW/DQ/VL (Skylake-SP and later, Zen 4 and later).
#pragma once
#include <immintrin.h>
#include <cstdint>

namespace sc {
namespace SC_NS {

namespace detail {
inline __mmask16 tail16(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }
inline __mmask8 tail8(int64_t n) { return n >= 8 ? __mmask8(0xFF) : __mmask8((1u << n) - 1u); }
}  // namespace detail

struct VF {
  using T = float;
  static constexpr bool kFma = true;  // fma() is fused (one rounding)
  static constexpr bool kScalef = true;  // vscalef: p * 2^n with IEEE underflow in one instruction
  static constexpr int N = 16;
  __m512 v;
  using M = __mmask16;
  static VF set1(float a) { return {_mm512_set1_ps(a)}; }
  static VF zero() { return {_mm512_setzero_ps()}; }
  static VF load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static VF load_partial(const float* p, int64_t n, float fill) {
    return {_mm512_mask_loadu_ps(_mm512_set1_ps(fill), detail::tail16(n), p)};
  }
  static VF load_strided(const float* p, int64_t s) {
    if (s < (int64_t(1) << 26) && s > -(int64_t(1) << 26)) {
      const __m512i idx = _mm512_mullo_epi32(_mm512_set1_epi32(int32_t(s)),
                                             _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
      return {_mm512_i32gather_ps(idx, p, 4)};
    }
    alignas(64) float t[16];
    for (int i = 0; i < 16; ++i) t[i] = p[i * s];
    return {_mm512_load_ps(t)};
  }
};
struct VD {
  using T = double;
  static constexpr bool kFma = true;  // fma() is fused (one rounding)
  static constexpr bool kScalef = true;  // vscalef: p * 2^n with IEEE underflow in one instruction
  static constexpr int N = 8;
  __m512d v;
  using M = __mmask8;
  static VD set1(double a) { return {_mm512_set1_pd(a)}; }
  static VD zero() { return {_mm512_setzero_pd()}; }
  static VD load(const double* p) { return {_mm512_loadu_pd(p)}; }
  static VD load_partial(const double* p, int64_t n, double fill) {
    return {_mm512_mask_loadu_pd(_mm512_set1_pd(fill), detail::tail8(n), p)};
  }
  static VD load_strided(const double* p, int64_t s) {
    alignas(64) double t[8];
    for (int i = 0; i < 8; ++i) t[i] = p[i * s];
    return {_mm512_load_pd(t)};
  }
};

inline VF operator+(VF a, VF b) { return {_mm512_add_ps(a.v, b.v)}; }
inline VF operator-(VF a, VF b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline VF operator*(VF a, VF b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline VF operator/(VF a, VF b) { return {_mm512_div_ps(a.v, b.v)}; }
inline VF fma(VF a, VF b, VF c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline VF fnma(VF a, VF b, VF c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
inline VF max(VF a, VF b) { return {_mm512_max_ps(a.v, b.v)}; }
inline VF min(VF a, VF b) { return {_mm512_min_ps(a.v, b.v)}; }
inline __mmask16 lt(VF a, VF b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ); }
inline __mmask16 le(VF a, VF b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ); }
inline uint32_t mask_bits(__mmask16 m) { return m; }
inline __mmask16 eq(VF a, VF b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ); }
inline VF zero_if(__mmask16 m, VF a) { return {_mm512_maskz_mov_ps(__mmask16(~m), a.v)}; }
inline VF mul_err(VF a, VF b, VF p) { return {_mm512_fmsub_ps(a.v, b.v, p.v)}; }
inline VF select(__mmask16 m, VF a, VF b) { return {_mm512_mask_blend_ps(m, b.v, a.v)}; }
inline float reduce_add(VF a) {
  __m256 s = _mm256_add_ps(_mm512_castps512_ps256(a.v), _mm512_extractf32x8_ps(a.v, 1));
  __m128 t = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  t = _mm_add_ps(t, _mm_movehl_ps(t, t));
  t = _mm_add_ss(t, _mm_movehdup_ps(t));
  return _mm_cvtss_f32(t);
}
inline float reduce_max(VF a) {
  __m256 s = _mm256_max_ps(_mm512_castps512_ps256(a.v), _mm512_extractf32x8_ps(a.v, 1));
  __m128 t = _mm_max_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  t = _mm_max_ps(t, _mm_movehl_ps(t, t));
  t = _mm_max_ss(t, _mm_movehdup_ps(t));
  return _mm_cvtss_f32(t);
}
inline void store(float* p, VF a) { _mm512_storeu_ps(p, a.v); }
inline void store_partial(float* p, int64_t n, VF a) { _mm512_mask_storeu_ps(p, detail::tail16(n), a.v); }
inline void store_strided(float* p, int64_t s, VF a) {
  alignas(64) float t[16];
  _mm512_store_ps(t, a.v);
  for (int i = 0; i < 16; ++i) p[i * s] = t[i];
}
inline void stream(float* p, VF a) { _mm512_stream_ps(p, a.v); }
inline void stream_fence() { _mm_sfence(); }
// Software prefetch into L2 (prefetcht1), not L1: a prefetcht0 stream ahead
// of a loop's loads made the hardware's own streaming worse.  Measured (AMD
// Zen 4, 1 thread): a C read loop over 256 MiB with 2 FMAs per line, one
// prefetch per line 1-4 KiB ahead: none 29-31 GB/s, t0 21-24, t1 / t2
// 30-32; in the library, 3 alternating pairs t0 -> t1: 64 paged decode
// sequences (block 16, float32) 10.8-11.7 -> 15.6-16.1 GB/s (0.69-0.73 ->
// 0.91-0.99x the dense decode), softmax (4096, 4096) float32 7.05-7.32 ->
// 6.21-6.28 ms (2 threads 3.93-4.21 -> 3.45-3.54); avx2 target: GQA decode
// (1, 32, 1, 16384, 128) 8 K/V heads 13.0-14.1 -> 8.6-9.6 ms.
inline void prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }
inline VF round_nearest(VF x) { return {_mm512_roundscale_ps(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
// vscalefps: p * 2^floor(n) with IEEE overflow/underflow in one instruction.
inline VF scale_by_pow2(VF p, VF n) { return {_mm512_scalef_ps(p.v, n.v)}; }
inline VF pow2_from_biased(VF z) { return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(z.v), 23))}; }
inline VD pow2_from_biased(VD z) { return {_mm512_castsi512_pd(_mm512_slli_epi64(_mm512_castpd_si512(z.v), 52))}; }
inline VF pow2i(VF k) { return {_mm512_scalef_ps(_mm512_set1_ps(1.0f), k.v)}; }

inline VD operator+(VD a, VD b) { return {_mm512_add_pd(a.v, b.v)}; }
inline VD operator-(VD a, VD b) { return {_mm512_sub_pd(a.v, b.v)}; }
inline VD operator*(VD a, VD b) { return {_mm512_mul_pd(a.v, b.v)}; }
inline VD operator/(VD a, VD b) { return {_mm512_div_pd(a.v, b.v)}; }
inline VD fma(VD a, VD b, VD c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
inline VD fnma(VD a, VD b, VD c) { return {_mm512_fnmadd_pd(a.v, b.v, c.v)}; }
inline VD max(VD a, VD b) { return {_mm512_max_pd(a.v, b.v)}; }
inline VD min(VD a, VD b) { return {_mm512_min_pd(a.v, b.v)}; }
inline __mmask8 lt(VD a, VD b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_LT_OQ); }
inline __mmask8 le(VD a, VD b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_LE_OQ); }
inline uint32_t mask_bits(__mmask8 m) { return m; }
inline __mmask8 eq(VD a, VD b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_EQ_OQ); }
inline VD zero_if(__mmask8 m, VD a) { return {_mm512_maskz_mov_pd(__mmask8(~m), a.v)}; }
inline VD mul_err(VD a, VD b, VD p) { return {_mm512_fmsub_pd(a.v, b.v, p.v)}; }
inline VD select(__mmask8 m, VD a, VD b) { return {_mm512_mask_blend_pd(m, b.v, a.v)}; }
inline double reduce_add(VD a) {
  __m256d s = _mm256_add_pd(_mm512_castpd512_pd256(a.v), _mm512_extractf64x4_pd(a.v, 1));
  __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
}
inline double reduce_max(VD a) {
  __m256d s = _mm256_max_pd(_mm512_castpd512_pd256(a.v), _mm512_extractf64x4_pd(a.v, 1));
  __m128d t = _mm_max_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_max_sd(t, _mm_unpackhi_pd(t, t)));
}
inline void store(double* p, VD a) { _mm512_storeu_pd(p, a.v); }
inline void store_partial(double* p, int64_t n, VD a) { _mm512_mask_storeu_pd(p, detail::tail8(n), a.v); }
inline void store_strided(double* p, int64_t s, VD a) {
  alignas(64) double t[8];
  _mm512_store_pd(t, a.v);
  for (int i = 0; i < 8; ++i) p[i * s] = t[i];
}
inline void stream(double* p, VD a) { _mm512_stream_pd(p, a.v); }
inline VD round_nearest(VD x) { return {_mm512_roundscale_pd(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline VD scale_by_pow2(VD p, VD n) { return {_mm512_scalef_pd(p.v, n.v)}; }
inline VD pow2i(VD k) { return {_mm512_scalef_pd(_mm512_set1_pd(1.0), k.v)}; }

}  // namespace SC_NS
}  // namespace sc

#include "common.h"

namespace sc {
namespace SC_NS {

template <>
struct I8Lanes<VF> {
  static VF load(const int8_t* p) {
    return {_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))))};
  }
  static VF load_partial(const int8_t* p, int64_t n) {
    return {_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(detail::tail16(n), p)))};
  }
};

// Eight horizontal sums in one tree, each added in reduce_add's order (so
// a sum never depends on how the keys were grouped): 256-bit halves of pairs added (8
// shuffles, 4 adds), then 128-bit lanes of quadruples (4 shuffles, 2 adds),
// then within each lane (2 unpacks, 1 shuffle, 2 adds): lane l holds the
// sums of a[l] and a[l + 4]; one permute puts them in order.  25
// instructions for 8 sums (reduce_add: 8 each).
inline void reduce_add_8(const VF* a, float* out) {
  __m512 b[4];
  for (int i = 0; i < 4; ++i) {
    const __m512 x = a[2 * i].v, y = a[2 * i + 1].v;
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x44), _mm512_shuffle_f32x4(x, y, 0xEE));
  }
  const __m512 c0 = _mm512_add_ps(_mm512_shuffle_f32x4(b[0], b[1], 0x88), _mm512_shuffle_f32x4(b[0], b[1], 0xDD));
  const __m512 c1 = _mm512_add_ps(_mm512_shuffle_f32x4(b[2], b[3], 0x88), _mm512_shuffle_f32x4(b[2], b[3], 0xDD));
  const __m512 u = _mm512_add_ps(_mm512_unpacklo_ps(c0, c1), _mm512_unpackhi_ps(c0, c1));
  const __m512 w = _mm512_add_ps(u, _mm512_shuffle_ps(u, u, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 idx = _mm512_castsi512_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0));
  _mm256_storeu_ps(out, _mm512_castps512_ps256(_mm512_permutexvar_ps(_mm512_castps_si512(idx), w)));
}


// float16: vcvtph2ps / vcvtps2ph (AVX-512F; imm: nearest even, subnormals
// kept), tails by 16-bit masked loads and stores (AVX-512BW/VL).
template <>
struct HalfLanes<VF, f16> {
  static VF load(const f16* p) { return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))}; }
  static VF load_partial(const f16* p, int64_t n, float fill) {
    const __mmask16 m = detail::tail16(n);
    return {_mm512_mask_mov_ps(_mm512_set1_ps(fill), m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)))};
  }
  static void store(f16* p, VF v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  static void store_partial(f16* p, int64_t n, VF v) {
    _mm256_mask_storeu_epi16(p, detail::tail16(n), _mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
};

// bfloat16: widen = each word above a zero word (vpermw, below; tails:
// zero-extend and shift left 16); narrow = round to nearest
// even on the top half (+0x7FFF + lsb, core/half.h), NaN made quiet, vpmovdw.
// Not AVX512-BF16's vcvtneps2bf16: it flushes subnormal inputs and outputs
// to zero, and bfloat16 subnormal results must round correctly.
template <>
struct HalfLanes<VF, bf16> {
  static __m512i round(VF v) {
    const __m512i u = _mm512_castps_si512(v.v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), lsb), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v.v, v.v, _CMP_UNORD_Q);
    return _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  }
  // One vpermw puts each word above a zero word (its float32), in order:
  // one shuffle per 16 where vpmovzxwd + vpslld took two.  Measured (AMD
  // Zen 4, 1 thread, 3 alternating pairs, results bit-identical): decode
  // (1, 8, 1, 1024, 128) from L3 0.121-0.162 -> 0.114-0.115 ms, softmax
  // (32, 32000) sd 4 0.34 -> 0.295 ms, topk_softmax k = 50 of (32, 128256)
  // 1.82 -> 1.64 ms, top-p 3.06 -> 2.87 ms.
  static VF load(const bf16* p) {
    const __m512i idx = _mm512_set_epi16(15, 0, 14, 0, 13, 0, 12, 0, 11, 0, 10, 0, 9, 0, 8, 0, 7, 0, 6, 0, 5, 0, 4, 0, 3,
                                         0, 2, 0, 1, 0, 0, 0);
    const __m512i h = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return {_mm512_castsi512_ps(_mm512_maskz_permutexvar_epi16(__mmask32(0xAAAAAAAAu), idx, h))};
  }
  static VF load_partial(const bf16* p, int64_t n, float fill) {
    const __mmask16 m = detail::tail16(n);
    const __m512i w = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16);
    return {_mm512_mask_mov_ps(_mm512_set1_ps(fill), m, _mm512_castsi512_ps(w))};
  }
  static void store(bf16* p, VF v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(round(v))); }
  static void store_partial(bf16* p, int64_t n, VF v) {
    _mm512_mask_cvtepi32_storeu_epi16(p, detail::tail16(n), round(v));
  }
};

}  // namespace SC_NS
}  // namespace sc
