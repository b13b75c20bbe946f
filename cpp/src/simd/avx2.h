// AVX2 + FMA (Haswell and later, Zen and later).
#pragma once
#include <immintrin.h>
#include <cstdint>
#include <cstring>

namespace sc {
namespace SC_NS {

namespace detail {
// Lane masks for the tails: the 8 entries starting at kTail + 8 - n are
// n times -1 followed by zeros.
alignas(32) static const int32_t kTail32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i tail_mask32(int64_t n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTail32 + 8 - (n < 8 ? n : 8)));
}
alignas(32) static const int64_t kTail64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
inline __m256i tail_mask64(int64_t n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTail64 + 4 - (n < 4 ? n : 4)));
}
}  // namespace detail

struct VF {
  using T = float;
  static constexpr bool kFma = true;  // fma() is fused (one rounding)
  static constexpr bool kScalef = false;  // no vscalef: exp_neg forms 2^n from the exponent bits
  static constexpr int N = 8;
  __m256 v;
  using M = __m256;
  static VF set1(float a) { return {_mm256_set1_ps(a)}; }
  static VF zero() { return {_mm256_setzero_ps()}; }
  static VF load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static VF load_partial(const float* p, int64_t n, float fill) {
    __m256i m = detail::tail_mask32(n);
    return {_mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m))};
  }
  static VF load_strided(const float* p, int64_t s) {
    return {_mm256_setr_ps(p[0], p[s], p[2 * s], p[3 * s], p[4 * s], p[5 * s], p[6 * s], p[7 * s])};
  }
};
struct VD {
  using T = double;
  static constexpr bool kFma = true;  // fma() is fused (one rounding)
  static constexpr bool kScalef = false;  // no vscalef: exp_neg forms 2^n from the exponent bits
  static constexpr int N = 4;
  __m256d v;
  using M = __m256d;
  static VD set1(double a) { return {_mm256_set1_pd(a)}; }
  static VD zero() { return {_mm256_setzero_pd()}; }
  static VD load(const double* p) { return {_mm256_loadu_pd(p)}; }
  static VD load_partial(const double* p, int64_t n, double fill) {
    __m256i m = detail::tail_mask64(n);
    return {_mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m))};
  }
  static VD load_strided(const double* p, int64_t s) { return {_mm256_setr_pd(p[0], p[s], p[2 * s], p[3 * s])}; }
};

inline VF operator+(VF a, VF b) { return {_mm256_add_ps(a.v, b.v)}; }
inline VF operator-(VF a, VF b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline VF operator*(VF a, VF b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline VF operator/(VF a, VF b) { return {_mm256_div_ps(a.v, b.v)}; }
inline VF fma(VF a, VF b, VF c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline VF fnma(VF a, VF b, VF c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
inline VF max(VF a, VF b) { return {_mm256_max_ps(a.v, b.v)}; }
inline VF min(VF a, VF b) { return {_mm256_min_ps(a.v, b.v)}; }
inline __m256 lt(VF a, VF b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ); }
inline __m256 le(VF a, VF b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ); }
inline uint32_t mask_bits(__m256 m) { return uint32_t(_mm256_movemask_ps(m)); }
inline __m256 eq(VF a, VF b) { return _mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ); }
inline VF zero_if(__m256 m, VF a) { return {_mm256_andnot_ps(m, a.v)}; }
inline VF mul_err(VF a, VF b, VF p) { return {_mm256_fmsub_ps(a.v, b.v, p.v)}; }
inline VF select(__m256 m, VF a, VF b) { return {_mm256_blendv_ps(b.v, a.v, m)}; }
inline float reduce_add(VF a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float reduce_max(VF a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline void store(float* p, VF a) { _mm256_storeu_ps(p, a.v); }
inline void store_partial(float* p, int64_t n, VF a) { _mm256_maskstore_ps(p, detail::tail_mask32(n), a.v); }
inline void store_strided(float* p, int64_t s, VF a) {
  alignas(32) float t[8];
  _mm256_store_ps(t, a.v);
  for (int i = 0; i < 8; ++i) p[i * s] = t[i];
}
inline void stream(float* p, VF a) { _mm256_stream_ps(p, a.v); }
inline void stream_fence() { _mm_sfence(); }
inline void prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }  // into L2: see avx512.h
inline VF round_nearest(VF x) { return {_mm256_round_ps(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline VF pow2_from_biased(VF z) { return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(z.v), 23))}; }
inline VD pow2_from_biased(VD z) { return {_mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(z.v), 52))}; }
inline VF pow2i(VF k) {
  __m256i i = _mm256_cvttps_epi32(k.v);
  return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23))};
}

inline VD operator+(VD a, VD b) { return {_mm256_add_pd(a.v, b.v)}; }
inline VD operator-(VD a, VD b) { return {_mm256_sub_pd(a.v, b.v)}; }
inline VD operator*(VD a, VD b) { return {_mm256_mul_pd(a.v, b.v)}; }
inline VD operator/(VD a, VD b) { return {_mm256_div_pd(a.v, b.v)}; }
inline VD fma(VD a, VD b, VD c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
inline VD fnma(VD a, VD b, VD c) { return {_mm256_fnmadd_pd(a.v, b.v, c.v)}; }
inline VD max(VD a, VD b) { return {_mm256_max_pd(a.v, b.v)}; }
inline VD min(VD a, VD b) { return {_mm256_min_pd(a.v, b.v)}; }
inline __m256d lt(VD a, VD b) { return _mm256_cmp_pd(a.v, b.v, _CMP_LT_OQ); }
inline __m256d le(VD a, VD b) { return _mm256_cmp_pd(a.v, b.v, _CMP_LE_OQ); }
inline uint32_t mask_bits(__m256d m) { return uint32_t(_mm256_movemask_pd(m)); }
inline __m256d eq(VD a, VD b) { return _mm256_cmp_pd(a.v, b.v, _CMP_EQ_OQ); }
inline VD zero_if(__m256d m, VD a) { return {_mm256_andnot_pd(m, a.v)}; }
inline VD mul_err(VD a, VD b, VD p) { return {_mm256_fmsub_pd(a.v, b.v, p.v)}; }
inline VD select(__m256d m, VD a, VD b) { return {_mm256_blendv_pd(b.v, a.v, m)}; }
inline double reduce_add(VD a) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a.v), _mm256_extractf128_pd(a.v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
inline double reduce_max(VD a) {
  __m128d s = _mm_max_pd(_mm256_castpd256_pd128(a.v), _mm256_extractf128_pd(a.v, 1));
  return _mm_cvtsd_f64(_mm_max_sd(s, _mm_unpackhi_pd(s, s)));
}
inline void store(double* p, VD a) { _mm256_storeu_pd(p, a.v); }
inline void store_partial(double* p, int64_t n, VD a) { _mm256_maskstore_pd(p, detail::tail_mask64(n), a.v); }
inline void store_strided(double* p, int64_t s, VD a) {
  alignas(32) double t[4];
  _mm256_store_pd(t, a.v);
  for (int i = 0; i < 4; ++i) p[i * s] = t[i];
}
inline void stream(double* p, VD a) { _mm256_stream_pd(p, a.v); }
inline VD round_nearest(VD x) { return {_mm256_round_pd(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline VD pow2i(VD k) {  // bits of k + 1.5*2^52 hold k in their low bits
  __m256i i = _mm256_castpd_si256(_mm256_add_pd(k.v, _mm256_set1_pd(0x1.8p52)));
  return {_mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(i, _mm256_set1_epi64x(1023)), 52))};
}

}  // namespace SC_NS
}  // namespace sc

#include "common.h"

namespace sc {
namespace SC_NS {

template <>
struct I8Lanes<VF> {
  static VF load(const int8_t* p) {
    return {_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))))};
  }
  static VF load_partial(const int8_t* p, int64_t n) {
    int64_t b = 0;
    std::memcpy(&b, p, size_t(n < 8 ? n : 8));
    return {_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(b)))};
  }
};

// Eight horizontal sums in one tree, each added in reduce_add's order
// ((s0 + s2) + (s1 + s3) of s = lo + hi), so a sum never depends on how the
// keys were grouped: 128-bit halves of pairs added (8 permutes, 4 adds),
// lanes 0,1 + 2,3 of quadruples (4 shuffles, 2 adds), one hadd; lane l of
// the low half holds a[2l]'s sum, of the high half a[2l + 1]'s; one
// permute orders them.
inline void reduce_add_8(const VF* a, float* out) {
  __m256 b[4];
  for (int i = 0; i < 4; ++i) {
    const __m256 x = a[2 * i].v, y = a[2 * i + 1].v;
    b[i] = _mm256_add_ps(_mm256_permute2f128_ps(x, y, 0x20), _mm256_permute2f128_ps(x, y, 0x31));
  }
  const __m256 z01 = _mm256_add_ps(_mm256_shuffle_ps(b[0], b[1], 0x44), _mm256_shuffle_ps(b[0], b[1], 0xEE));
  const __m256 z23 = _mm256_add_ps(_mm256_shuffle_ps(b[2], b[3], 0x44), _mm256_shuffle_ps(b[2], b[3], 0xEE));
  const __m256 h = _mm256_hadd_ps(z01, z23);
  _mm256_storeu_ps(out, _mm256_permutevar8x32_ps(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}


namespace detail {
// bf16 round to nearest even of 8 floats (core/half.h narrow_bf16): the
// 16-bit patterns in the low half of each 32-bit lane, +0x7FFF + lsb, NaN
// made quiet (kMayNaN; without it a NaN's +0x7FFF may carry it to inf or
// -0: only for lanes the caller knows are not NaN).
template <bool kMayNaN = true>
inline __m256i bf16_round32(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i hi = _mm256_srli_epi32(u, 16);
  const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
  const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), lsb), 16);
  if constexpr (!kMayNaN) return r;
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  return _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
}
// ... packed to 8 x 16 bits.
inline __m128i bf16_round(__m256 v) {
  const __m256i r = bf16_round32(v);
  const __m256i p = _mm256_packus_epi32(r, r);  // per 128-bit lane: values < 2^16, no saturation
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(p, 0x08));
}
}  // namespace detail

// F16C: vcvtph2ps / vcvtps2ph (imm: nearest even, float16 subnormals kept).
template <>
struct HalfLanes<VF, f16> {
  static VF load(const f16* p) { return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))}; }
  static VF load_partial(const f16* p, int64_t n, float fill) {
    if (n >= 8) return load(p);
    alignas(16) uint16_t t[8] = {};
    std::memcpy(t, p, size_t(n) * 2);
    const __m256 v = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
    return {_mm256_blendv_ps(_mm256_set1_ps(fill), v, _mm256_castsi256_ps(detail::tail_mask32(n)))};
  }
  static void store(f16* p, VF v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  static void store_partial(f16* p, int64_t n, VF v) {
    if (n >= 8) return store(p, v);
    alignas(16) uint16_t t[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(t), _mm256_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    std::memcpy(p, t, size_t(n) * 2);
  }
};

// bfloat16: widen = zero-extend and shift left 16; narrow = detail::bf16_round.
template <>
struct HalfLanes<VF, bf16> {
  static VF load(const bf16* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(w, 16))};
  }
  static VF load_partial(const bf16* p, int64_t n, float fill) {
    if (n >= 8) return load(p);
    alignas(16) uint16_t t[8] = {};
    std::memcpy(t, p, size_t(n) * 2);
    const VF v = load(reinterpret_cast<const bf16*>(t));
    return {_mm256_blendv_ps(_mm256_set1_ps(fill), v.v, _mm256_castsi256_ps(detail::tail_mask32(n)))};
  }
  // 16 inputs, lanes 0-3 8-11 in *a and 4-7 12-15 in *b (loops.h
  // load2_any): a word unpacked above a zero word is its float32.
  static void load2_any(const bf16* p, VF* a, VF* b) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), z = _mm256_setzero_si256();
    *a = {_mm256_castsi256_ps(_mm256_unpacklo_epi16(z, x))};
    *b = {_mm256_castsi256_ps(_mm256_unpackhi_epi16(z, x))};
  }
  static void store(bf16* p, VF v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), detail::bf16_round(v.v)); }
  // 16 outputs (half_narrow_loop): one pack of both, lanes a0-3 b0-3 a4-7
  // b4-7, put in order.  !kMayNaN: a and b hold no NaN (3 of 12
  // instructions per 8 outputs saved).
  template <bool kMayNaN>
  static void store2(bf16* p, VF a, VF b) {
    const __m256i ab = _mm256_packus_epi32(detail::bf16_round32<kMayNaN>(a.v), detail::bf16_round32<kMayNaN>(b.v));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_permute4x64_epi64(ab, 0xD8));
  }
  static void store_partial(bf16* p, int64_t n, VF v) {
    if (n >= 8) return store(p, v);
    alignas(16) uint16_t t[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(t), detail::bf16_round(v.v));
    std::memcpy(p, t, size_t(n) * 2);
  }
};

}  // namespace SC_NS
}  // namespace sc
