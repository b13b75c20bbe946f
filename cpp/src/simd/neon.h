// AArch64 Advanced SIMD (NEON): baseline on every 64-bit Arm CPU.
#pragma once
#include <arm_neon.h>
#include <cstdint>

namespace sc {
namespace SC_NS {

struct VF {
  using T = float;
  static constexpr bool kFma = true;  // fma() is fused (one rounding)
  static constexpr bool kScalef = false;  // no vscalef: exp_neg forms 2^n from the exponent bits
  static constexpr int N = 4;
  float32x4_t v;
  using M = uint32x4_t;
  static VF set1(float a) { return {vdupq_n_f32(a)}; }
  static VF zero() { return {vdupq_n_f32(0.0f)}; }
  static VF load(const float* p) { return {vld1q_f32(p)}; }
  static VF load_partial(const float* p, int64_t n, float fill) {
    float t[4] = {fill, fill, fill, fill};
    for (int64_t i = 0; i < n && i < 4; ++i) t[i] = p[i];
    return {vld1q_f32(t)};
  }
  static VF load_strided(const float* p, int64_t s) {
    float t[4] = {p[0], p[s], p[2 * s], p[3 * s]};
    return {vld1q_f32(t)};
  }
};
struct VD {
  using T = double;
  static constexpr bool kFma = true;  // fma() is fused (one rounding)
  static constexpr bool kScalef = false;  // no vscalef: exp_neg forms 2^n from the exponent bits
  static constexpr int N = 2;
  float64x2_t v;
  using M = uint64x2_t;
  static VD set1(double a) { return {vdupq_n_f64(a)}; }
  static VD zero() { return {vdupq_n_f64(0.0)}; }
  static VD load(const double* p) { return {vld1q_f64(p)}; }
  static VD load_partial(const double* p, int64_t n, double fill) {
    double t[2] = {n > 0 ? p[0] : fill, n > 1 ? p[1] : fill};
    return {vld1q_f64(t)};
  }
  static VD load_strided(const double* p, int64_t s) {
    double t[2] = {p[0], p[s]};
    return {vld1q_f64(t)};
  }
};

inline VF operator+(VF a, VF b) { return {vaddq_f32(a.v, b.v)}; }
inline VF operator-(VF a, VF b) { return {vsubq_f32(a.v, b.v)}; }
inline VF operator*(VF a, VF b) { return {vmulq_f32(a.v, b.v)}; }
inline VF operator/(VF a, VF b) { return {vdivq_f32(a.v, b.v)}; }
inline VF fma(VF a, VF b, VF c) { return {vfmaq_f32(c.v, a.v, b.v)}; }
inline VF fnma(VF a, VF b, VF c) { return {vfmsq_f32(c.v, a.v, b.v)}; }
// x86 rule (b when unordered) so that clamp and reductions agree across ISAs.
inline VF max(VF a, VF b) { return {vbslq_f32(vcgtq_f32(a.v, b.v), a.v, b.v)}; }
inline VF min(VF a, VF b) { return {vbslq_f32(vcltq_f32(a.v, b.v), a.v, b.v)}; }
inline uint32x4_t lt(VF a, VF b) { return vcltq_f32(a.v, b.v); }
inline uint32x4_t le(VF a, VF b) { return vcleq_f32(a.v, b.v); }
inline uint32_t mask_bits(uint32x4_t m) {
  const int32x4_t sh = {0, 1, 2, 3};
  return vaddvq_u32(vshlq_u32(vshrq_n_u32(m, 31), sh));
}
inline uint32x4_t eq(VF a, VF b) { return vceqq_f32(a.v, b.v); }
inline VF zero_if(uint32x4_t m, VF a) { return {vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(a.v), m))}; }
inline VF mul_err(VF a, VF b, VF p) { return {vfmaq_f32(vnegq_f32(p.v), a.v, b.v)}; }
inline VF select(uint32x4_t m, VF a, VF b) { return {vbslq_f32(m, a.v, b.v)}; }
inline float reduce_add(VF a) { return vaddvq_f32(a.v); }
inline float reduce_max(VF a) {
  float t[4];
  vst1q_f32(t, a.v);
  float m = t[0];
  for (int i = 1; i < 4; ++i) m = t[i] > m ? t[i] : m;
  return m;
}
inline void store(float* p, VF a) { vst1q_f32(p, a.v); }
inline void store_partial(float* p, int64_t n, VF a) {
  float t[4];
  vst1q_f32(t, a.v);
  for (int64_t i = 0; i < n && i < 4; ++i) p[i] = t[i];
}
inline void store_strided(float* p, int64_t s, VF a) {
  float t[4];
  vst1q_f32(t, a.v);
  p[0] = t[0]; p[s] = t[1]; p[2 * s] = t[2]; p[3 * s] = t[3];
}
inline void stream(float* p, VF a) { vst1q_f32(p, a.v); }
inline void stream_fence() {}
inline void prefetch(const void* p) { __builtin_prefetch(p, 0, 2); }  // into L2 (see avx512.h)
inline VF round_nearest(VF x) { return {vrndnq_f32(x.v)}; }
inline VF pow2_from_biased(VF z) { return {vreinterpretq_f32_s32(vshlq_n_s32(vreinterpretq_s32_f32(z.v), 23))}; }
inline VD pow2_from_biased(VD z) { return {vreinterpretq_f64_s64(vshlq_n_s64(vreinterpretq_s64_f64(z.v), 52))}; }
inline VF pow2i(VF k) {
  int32x4_t i = vcvtq_s32_f32(k.v);
  return {vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(i, vdupq_n_s32(127)), 23))};
}

inline VD operator+(VD a, VD b) { return {vaddq_f64(a.v, b.v)}; }
inline VD operator-(VD a, VD b) { return {vsubq_f64(a.v, b.v)}; }
inline VD operator*(VD a, VD b) { return {vmulq_f64(a.v, b.v)}; }
inline VD operator/(VD a, VD b) { return {vdivq_f64(a.v, b.v)}; }
inline VD fma(VD a, VD b, VD c) { return {vfmaq_f64(c.v, a.v, b.v)}; }
inline VD fnma(VD a, VD b, VD c) { return {vfmsq_f64(c.v, a.v, b.v)}; }
inline VD max(VD a, VD b) { return {vbslq_f64(vcgtq_f64(a.v, b.v), a.v, b.v)}; }
inline VD min(VD a, VD b) { return {vbslq_f64(vcltq_f64(a.v, b.v), a.v, b.v)}; }
inline uint64x2_t lt(VD a, VD b) { return vcltq_f64(a.v, b.v); }
inline uint64x2_t le(VD a, VD b) { return vcleq_f64(a.v, b.v); }
inline uint32_t mask_bits(uint64x2_t m) {
  return uint32_t(vgetq_lane_u64(m, 0) & 1) | uint32_t(vgetq_lane_u64(m, 1) & 1) << 1;
}
inline uint64x2_t eq(VD a, VD b) { return vceqq_f64(a.v, b.v); }
inline VD zero_if(uint64x2_t m, VD a) { return {vreinterpretq_f64_u64(vbicq_u64(vreinterpretq_u64_f64(a.v), m))}; }
inline VD mul_err(VD a, VD b, VD p) { return {vfmaq_f64(vnegq_f64(p.v), a.v, b.v)}; }
inline VD select(uint64x2_t m, VD a, VD b) { return {vbslq_f64(m, a.v, b.v)}; }
inline double reduce_add(VD a) { return vaddvq_f64(a.v); }
inline double reduce_max(VD a) {
  double x = vgetq_lane_f64(a.v, 0), y = vgetq_lane_f64(a.v, 1);
  return y > x ? y : x;
}
inline void store(double* p, VD a) { vst1q_f64(p, a.v); }
inline void store_partial(double* p, int64_t n, VD a) {
  if (n > 0) p[0] = vgetq_lane_f64(a.v, 0);
  if (n > 1) p[1] = vgetq_lane_f64(a.v, 1);
}
inline void store_strided(double* p, int64_t s, VD a) {
  p[0] = vgetq_lane_f64(a.v, 0);
  p[s] = vgetq_lane_f64(a.v, 1);
}
inline void stream(double* p, VD a) { vst1q_f64(p, a.v); }
inline VD round_nearest(VD x) { return {vrndnq_f64(x.v)}; }
inline VD pow2i(VD k) {
  int64x2_t i = vcvtq_s64_f64(k.v);
  return {vreinterpretq_f64_s64(vshlq_n_s64(vaddq_s64(i, vdupq_n_s64(1023)), 52))};
}

}  // namespace SC_NS
}  // namespace sc

#include "common.h"
