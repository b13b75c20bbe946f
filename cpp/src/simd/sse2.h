// x86-64 baseline (SSE2 only: no FMA, no roundps, no masked loads).
#pragma once
#include <emmintrin.h>
#include <cstdint>

namespace sc {
namespace SC_NS {

struct VF {
  using T = float;
  static constexpr bool kFma = false;  // fma() is a*b+c: two roundings
  static constexpr bool kScalef = false;  // no vscalef: exp_neg forms 2^n from the exponent bits
  static constexpr int N = 4;
  __m128 v;
  using M = __m128;
  static VF set1(float a) { return {_mm_set1_ps(a)}; }
  static VF zero() { return {_mm_setzero_ps()}; }
  static VF load(const float* p) { return {_mm_loadu_ps(p)}; }
  static VF load_partial(const float* p, int64_t n, float fill) {
    alignas(16) float t[4] = {fill, fill, fill, fill};
    for (int64_t i = 0; i < n && i < 4; ++i) t[i] = p[i];
    return {_mm_load_ps(t)};
  }
  static VF load_strided(const float* p, int64_t s) {
    return {_mm_setr_ps(p[0], p[s], p[2 * s], p[3 * s])};
  }
};
struct VD {
  using T = double;
  static constexpr bool kFma = false;  // fma() is a*b+c: two roundings
  static constexpr bool kScalef = false;  // no vscalef: exp_neg forms 2^n from the exponent bits
  static constexpr int N = 2;
  __m128d v;
  using M = __m128d;
  static VD set1(double a) { return {_mm_set1_pd(a)}; }
  static VD zero() { return {_mm_setzero_pd()}; }
  static VD load(const double* p) { return {_mm_loadu_pd(p)}; }
  static VD load_partial(const double* p, int64_t n, double fill) {
    return {_mm_setr_pd(n > 0 ? p[0] : fill, n > 1 ? p[1] : fill)};
  }
  static VD load_strided(const double* p, int64_t s) { return {_mm_setr_pd(p[0], p[s])}; }
};

inline VF operator+(VF a, VF b) { return {_mm_add_ps(a.v, b.v)}; }
inline VF operator-(VF a, VF b) { return {_mm_sub_ps(a.v, b.v)}; }
inline VF operator*(VF a, VF b) { return {_mm_mul_ps(a.v, b.v)}; }
inline VF operator/(VF a, VF b) { return {_mm_div_ps(a.v, b.v)}; }
inline VF fma(VF a, VF b, VF c) { return {_mm_add_ps(_mm_mul_ps(a.v, b.v), c.v)}; }
inline VF fnma(VF a, VF b, VF c) { return {_mm_sub_ps(c.v, _mm_mul_ps(a.v, b.v))}; }
inline VF max(VF a, VF b) { return {_mm_max_ps(a.v, b.v)}; }
inline VF min(VF a, VF b) { return {_mm_min_ps(a.v, b.v)}; }
inline __m128 lt(VF a, VF b) { return _mm_cmplt_ps(a.v, b.v); }
inline __m128 le(VF a, VF b) { return _mm_cmple_ps(a.v, b.v); }
inline uint32_t mask_bits(__m128 m) { return uint32_t(_mm_movemask_ps(m)); }
inline __m128 eq(VF a, VF b) { return _mm_cmpeq_ps(a.v, b.v); }
inline VF zero_if(__m128 m, VF a) { return {_mm_andnot_ps(m, a.v)}; }
inline VF select(__m128 m, VF a, VF b) { return {_mm_or_ps(_mm_and_ps(m, a.v), _mm_andnot_ps(m, b.v))}; }
inline float reduce_add(VF a) {
  __m128 s = _mm_add_ps(a.v, _mm_movehl_ps(a.v, a.v));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
inline float reduce_max(VF a) {
  __m128 s = _mm_max_ps(a.v, _mm_movehl_ps(a.v, a.v));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
inline void store(float* p, VF a) { _mm_storeu_ps(p, a.v); }
inline void store_partial(float* p, int64_t n, VF a) {
  alignas(16) float t[4];
  _mm_store_ps(t, a.v);
  for (int64_t i = 0; i < n && i < 4; ++i) p[i] = t[i];
}
inline void store_strided(float* p, int64_t s, VF a) {
  alignas(16) float t[4];
  _mm_store_ps(t, a.v);
  p[0] = t[0]; p[s] = t[1]; p[2 * s] = t[2]; p[3 * s] = t[3];
}
inline void stream(float* p, VF a) { _mm_stream_ps(p, a.v); }
inline void stream_fence() { _mm_sfence(); }
inline void prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }  // into L2: see avx512.h
inline VF round_nearest(VF x) {  // 1.5*2^23 trick, |x| < 2^22
  const __m128 m = _mm_set1_ps(0x1.8p23f);
  return {_mm_sub_ps(_mm_add_ps(x.v, m), m)};
}
inline VF pow2_from_biased(VF z) { return {_mm_castsi128_ps(_mm_slli_epi32(_mm_castps_si128(z.v), 23))}; }
inline VD pow2_from_biased(VD z) { return {_mm_castsi128_pd(_mm_slli_epi64(_mm_castpd_si128(z.v), 52))}; }
inline VF pow2i(VF k) {  // 2^k, k integer-valued in [-126, 127]
  __m128i i = _mm_cvttps_epi32(k.v);
  return {_mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(i, _mm_set1_epi32(127)), 23))};
}

inline VD operator+(VD a, VD b) { return {_mm_add_pd(a.v, b.v)}; }
inline VD operator-(VD a, VD b) { return {_mm_sub_pd(a.v, b.v)}; }
inline VD operator*(VD a, VD b) { return {_mm_mul_pd(a.v, b.v)}; }
inline VD operator/(VD a, VD b) { return {_mm_div_pd(a.v, b.v)}; }
inline VD fma(VD a, VD b, VD c) { return {_mm_add_pd(_mm_mul_pd(a.v, b.v), c.v)}; }
inline VD fnma(VD a, VD b, VD c) { return {_mm_sub_pd(c.v, _mm_mul_pd(a.v, b.v))}; }
inline VD max(VD a, VD b) { return {_mm_max_pd(a.v, b.v)}; }
inline VD min(VD a, VD b) { return {_mm_min_pd(a.v, b.v)}; }
inline __m128d lt(VD a, VD b) { return _mm_cmplt_pd(a.v, b.v); }
inline __m128d le(VD a, VD b) { return _mm_cmple_pd(a.v, b.v); }
inline uint32_t mask_bits(__m128d m) { return uint32_t(_mm_movemask_pd(m)); }
inline __m128d eq(VD a, VD b) { return _mm_cmpeq_pd(a.v, b.v); }
inline VD zero_if(__m128d m, VD a) { return {_mm_andnot_pd(m, a.v)}; }
inline VD select(__m128d m, VD a, VD b) { return {_mm_or_pd(_mm_and_pd(m, a.v), _mm_andnot_pd(m, b.v))}; }
inline double reduce_add(VD a) { return _mm_cvtsd_f64(_mm_add_sd(a.v, _mm_unpackhi_pd(a.v, a.v))); }
inline double reduce_max(VD a) { return _mm_cvtsd_f64(_mm_max_sd(a.v, _mm_unpackhi_pd(a.v, a.v))); }
inline void store(double* p, VD a) { _mm_storeu_pd(p, a.v); }
inline void store_partial(double* p, int64_t n, VD a) {
  if (n >= 2) { _mm_storeu_pd(p, a.v); return; }
  if (n == 1) _mm_store_sd(p, a.v);
}
inline void store_strided(double* p, int64_t s, VD a) {
  _mm_store_sd(p, a.v);
  _mm_storeh_pd(p + s, a.v);
}
inline void stream(double* p, VD a) { _mm_stream_pd(p, a.v); }
inline VD round_nearest(VD x) {  // 1.5*2^52 trick, |x| < 2^51
  const __m128d m = _mm_set1_pd(0x1.8p52);
  return {_mm_sub_pd(_mm_add_pd(x.v, m), m)};
}
inline VD pow2i(VD k) {  // 2^k, k integer-valued in [-1022, 1023]: bits of k + 1.5*2^52 hold k
  __m128i i = _mm_castpd_si128(_mm_add_pd(k.v, _mm_set1_pd(0x1.8p52)));
  return {_mm_castsi128_pd(_mm_slli_epi64(_mm_add_epi64(i, _mm_set1_epi64x(1023)), 52))};
}

}  // namespace SC_NS
}  // namespace sc

#include "common.h"

namespace sc {
namespace SC_NS {
// No FMA on the baseline: the exact product error by Dekker/Veltkamp splitting.
inline VF mul_err(VF a, VF b, VF p) { return mul_err_dekker(a, b, p); }
inline VD mul_err(VD a, VD b, VD p) { return mul_err_dekker(a, b, p); }
}  // namespace SC_NS
}  // namespace sc
