// One-lane reference implementation of the vector layer (see README.md).
// Used as the portable fallback target and to define what the others mean.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace sc {
namespace SC_NS {

template <class T_>
struct Scalar1 {
  using T = T_;
  static constexpr bool kFma = false;  // fma() is a*b+c: two roundings
  static constexpr bool kScalef = false;  // no vscalef: exp_neg forms 2^n from the exponent bits
  static constexpr int N = 1;
  using M = bool;
  T v;
  static Scalar1 set1(T a) { return {a}; }
  static Scalar1 zero() { return {T(0)}; }
  static Scalar1 load(const T* p) { return {*p}; }
  static Scalar1 load_partial(const T* p, int64_t n, T fill) { return {n > 0 ? *p : fill}; }
  static Scalar1 load_strided(const T* p, int64_t) { return {*p}; }
};
using VF = Scalar1<float>;
using VD = Scalar1<double>;

template <class T> inline Scalar1<T> operator+(Scalar1<T> a, Scalar1<T> b) { return {a.v + b.v}; }
template <class T> inline Scalar1<T> operator-(Scalar1<T> a, Scalar1<T> b) { return {a.v - b.v}; }
template <class T> inline Scalar1<T> operator*(Scalar1<T> a, Scalar1<T> b) { return {a.v * b.v}; }
template <class T> inline Scalar1<T> operator/(Scalar1<T> a, Scalar1<T> b) { return {a.v / b.v}; }
// fma: the reference target uses a separate multiply and add (no FMA on the
// baseline x86-64); precision is still within the documented bounds.
template <class T> inline Scalar1<T> fma(Scalar1<T> a, Scalar1<T> b, Scalar1<T> c) { return {a.v * b.v + c.v}; }
template <class T> inline Scalar1<T> fnma(Scalar1<T> a, Scalar1<T> b, Scalar1<T> c) { return {c.v - a.v * b.v}; }
template <class T> inline Scalar1<T> max(Scalar1<T> a, Scalar1<T> b) { return {a.v > b.v ? a.v : b.v}; }
template <class T> inline Scalar1<T> min(Scalar1<T> a, Scalar1<T> b) { return {a.v < b.v ? a.v : b.v}; }
template <class T> inline bool lt(Scalar1<T> a, Scalar1<T> b) { return a.v < b.v; }
template <class T> inline bool le(Scalar1<T> a, Scalar1<T> b) { return a.v <= b.v; }
inline uint32_t mask_bits(bool m) { return m ? 1u : 0u; }
template <class T> inline bool eq(Scalar1<T> a, Scalar1<T> b) { return a.v == b.v; }
template <class T> inline Scalar1<T> zero_if(bool m, Scalar1<T> a) { return m ? Scalar1<T>{T(0)} : a; }
// a*b - p exactly (p = fl(a*b)); the portable target uses std::fma.
template <class T> inline Scalar1<T> mul_err(Scalar1<T> a, Scalar1<T> b, Scalar1<T> p) { return {std::fma(a.v, b.v, -p.v)}; }
template <class T> inline Scalar1<T> select(bool m, Scalar1<T> a, Scalar1<T> b) { return m ? a : b; }
template <class T> inline T reduce_add(Scalar1<T> a) { return a.v; }
template <class T> inline T reduce_max(Scalar1<T> a) { return a.v; }
template <class T> inline void store(T* p, Scalar1<T> a) { *p = a.v; }
template <class T> inline void store_partial(T* p, int64_t n, Scalar1<T> a) { if (n > 0) *p = a.v; }
template <class T> inline void store_strided(T* p, int64_t, Scalar1<T> a) { *p = a.v; }
template <class T> inline void stream(T* p, Scalar1<T> a) { *p = a.v; }
inline void stream_fence() {}
inline void prefetch(const void* p) { __builtin_prefetch(p, 0, 2); }  // into L2 (see avx512.h)

// Round to nearest-even with the 1.5*2^mant trick (valid for |x| < 2^22 / 2^51,
// all the exp path needs); no libm call.
inline VF round_nearest(VF x) {
  const float m = 0x1.8p23f;  // IEEE arithmetic: (x + m) - m is not folded
  return {(x.v + m) - m};
}
inline VD round_nearest(VD x) {
  const double m = 0x1.8p52;
  return {(x.v + m) - m};
}
// 2^n from z = n + 1.5*2^mant + bias (computed by an FMA): the low bits of z
// hold n + bias, shifted into the exponent field (XNNPACK's "magic bias").
inline VF pow2_from_biased(VF z) {
  int32_t bits;
  std::memcpy(&bits, &z.v, 4);
  bits = int32_t(uint32_t(bits) << 23);
  float r;
  std::memcpy(&r, &bits, 4);
  return {r};
}
inline VD pow2_from_biased(VD z) {
  int64_t bits;
  std::memcpy(&bits, &z.v, 8);
  bits = int64_t(uint64_t(bits) << 52);
  double r;
  std::memcpy(&r, &bits, 8);
  return {r};
}
// 2^k for integer-valued k in the normal exponent range, by building the bits.
// (k is clamped first and the shift done unsigned: no UB for NaN or a
// negative biased exponent; such lanes are discarded by the caller anyway.)
inline VF pow2i(VF k) {
  const float kk = k.v > -200.0f ? (k.v < 200.0f ? k.v : 200.0f) : -200.0f;  // NaN -> -200
  int32_t bits = int32_t(uint32_t(int32_t(kk) + 127) << 23);
  float r;
  std::memcpy(&r, &bits, 4);
  return {r};
}
inline VD pow2i(VD k) {
  const double kk = k.v > -2000.0 ? (k.v < 2000.0 ? k.v : 2000.0) : -2000.0;  // NaN -> -2000
  int64_t bits = int64_t(uint64_t(int64_t(kk) + 1023) << 52);
  double r;
  std::memcpy(&r, &bits, 8);
  return {r};
}

}  // namespace SC_NS
}  // namespace sc

#include "common.h"
