// The half-precision storage types of the C ABI (SC_F16, SC_BF16): 16-bit
// patterns with no arithmetic; kernels widen them to float32 in registers
// (simd/<isa>.h, HalfLanes) and round once on store.  The portable scalar
// conversions below define what the vector ones must give, bit for bit.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sc {

struct f16 {
  uint16_t bits;
};
struct bf16 {
  uint16_t bits;
};

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Exact: every bfloat16 is the float32 with the same top 16 bits.
inline float to_f32(bf16 h) { return bits_float(uint32_t(h.bits) << 16); }

// Round to nearest even on the top 16 bits (+0x7FFF + lsb); a NaN keeps its
// sign and top payload and is made quiet (bit 6), so it cannot round to inf.
inline bf16 narrow_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return {uint16_t((u >> 16) | 0x40u)};
  return {uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16)};
}

// Exact (float16 subnormals are float32 normals).
inline float to_f32(f16 h) {
  const uint32_t s = uint32_t(h.bits & 0x8000u) << 16, e = (h.bits >> 10) & 0x1Fu, m = h.bits & 0x3FFu;
  if (e == 0x1F) return bits_float(s | 0x7F800000u | (m << 13) | (m ? 0x400000u : 0u));
  if (e == 0) {  // zero or subnormal: m * 2^-24 exactly
    const float v = float(m) * 5.9604644775390625e-8f;
    return s ? -v : v;
  }
  return bits_float(s | ((e + 112u) << 23) | (m << 13));
}

// Round to nearest even, with float16 subnormals (no flush) and overflow to
// inf; the same results as F16C's vcvtps2ph with imm 0 (round to nearest).
inline f16 narrow_f16(float f) {
  const uint32_t u = float_bits(f), s = (u >> 16) & 0x8000u, a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return {uint16_t(s | 0x7E00u | ((a >> 13) & 0x3FFu))};  // quiet NaN
  if (a >= 0x477FF000u) return {uint16_t(s | 0x7C00u)};                       // >= 65520: inf
  if (a < 0x38800000u) {  // below 2^-14: subnormal; the float addition rounds (RNE) at 2^-24
    const float r = bits_float(a) + 0.5f;  // 0.5 = 2^-1: ulp 2^-24 in [0.5, 1)
    return {uint16_t(s | (float_bits(r) - 0x3F000000u))};
  }
  const uint32_t r = a + 0x0FFFu + ((a >> 13) & 1u) - (112u << 23);
  return {uint16_t(s | (r >> 13))};
}

// S(f) rounded to nearest even, for S = f16 or bf16.
template <class S>
S from_f32(float f);
template <>
inline f16 from_f32<f16>(float f) { return narrow_f16(f); }
template <>
inline bf16 from_f32<bf16>(float f) { return narrow_bf16(f); }

template <class T>
constexpr bool is_half_v = std::is_same_v<T, f16> || std::is_same_v<T, bf16>;

// x as a number: a half widened exactly (to_f32), any other type as is.
template <class T>
inline auto widened(T x) {
  if constexpr (is_half_v<T>) return to_f32(x);
  else return x;
}

}  // namespace sc
