// log1p(e) for e in [0, 1] (or NaN) for every vector type of the layer,
// written once: what log_expit needs (e = exp(-|x|), elementwise/kernels.h).
//
// Method: range reduction on the mantissa of 1 + e without forming it:
// 1 + e = 2^k (1 + f) with k = (e >= 1/2) and f = e (k = 0) or (e - 1)/2
// (k = 1).  Both are exact (e - 1 by Sterbenz's lemma for e in [1/2, 1]), so
// f in [-1/4, 1/2) carries no rounding -- unlike 1 + e, whose rounding would
// need a compensation term and a second division.  Then with s = f/(2 + f),
// z = s^2:
//     log(1 + f) = 2s + s*R(z) = f - (f^2/2 - s*(f^2/2 + R(z))),
//     R(z) = z*P(z) ~ 2z/3 + 2z^2/5 + ...,  z in [0, 1/25],
// (the identity f - 2s = s*f = f^2/2 - s*f^2/2 makes f, exact, the leading
// term; the rounding of s is damped by the factor f^2/2 + R <= 0.13).
// P is fitted at Chebyshev nodes in 60-digit arithmetic by
// tools/gen_log1p_coeffs.py, which prints these literals: degree 2 for
// float32 (truncation 9.5e-9 relative, 0.16 ULP), degree 7 for float64
// (5.0e-19, 0.005 ULP).  Finally + k*ln2 in two parts (exp.h's Cody-Waite
// split, so k*ln2_hi is exact).
//
// Accuracy (tests/test_expit.py scans log_expit densely against a long
// double reference): <= 2 ULP over [0, 1].  log1p(0) = +0, tiny and
// subnormal e give e exactly (z underflows to 0), NaN gives NaN.
// Cost: one division and 2 (f32) / 7 (f64, in Estrin pairs) FMAs of polynomial.
#pragma once
#include "simd/exp.h"

namespace sc {
namespace SC_NS {

template <class T>
struct Log1pConst;

template <>
struct Log1pConst<float> {
  static constexpr float p0 = 0x1.555566p-1f;
  static constexpr float p1 = 0x1.996298p-2f;
  static constexpr float p2 = 0x1.32bed2p-2f;
};

template <>
struct Log1pConst<double> {
  static constexpr double p0 = 0x1.5555555555555p-1;
  static constexpr double p1 = 0x1.9999999999f17p-2;
  static constexpr double p2 = 0x1.24924923de6edp-2;
  static constexpr double p3 = 0x1.c71c72df580fcp-3;
  static constexpr double p4 = 0x1.745cac43cc003p-3;
  static constexpr double p5 = 0x1.3b29d0452d426p-3;
  static constexpr double p6 = 0x1.0e8c55b42945fp-3;
  static constexpr double p7 = 0x1.169c38cc826bep-3;
};

template <class V>
inline V log1p_p(V z, const Log1pConst<float>*) {
  using L = Log1pConst<float>;
  return fma(fma(V::set1(L::p2), z, V::set1(L::p1)), z, V::set1(L::p0));
}

template <class V>
inline V log1p_p(V z, const Log1pConst<double>*) {
  using L = Log1pConst<double>;
  const V z2 = z * z;
  V a = fma(V::set1(L::p7), z, V::set1(L::p6));
  a = fma(a, z2, fma(V::set1(L::p5), z, V::set1(L::p4)));
  a = fma(a, z2, fma(V::set1(L::p3), z, V::set1(L::p2)));
  return fma(a, z2, fma(V::set1(L::p1), z, V::set1(L::p0)));
}

// log(1 + e) for 0 <= e <= 1 (or NaN).
template <class V>
inline V log1p_unit(V e) {
  using T = typename V::T;
  using C = ExpConst<T>;
  const V one = V::set1(T(1)), half = V::set1(T(0.5));
  const auto big = le(half, e);  // k = 1; false for NaN
  const V f = select(big, (e - one) * half, e);
  const V k = select(big, one, V::zero());
  const V s = f / (f + V::set1(T(2)));
  const V z = s * s;
  const V r = z * log1p_p(z, static_cast<const Log1pConst<T>*>(nullptr));
  const V hfsq = half * f * f;
  const V lg = f - fnma(s, hfsq + r, hfsq);
  return fma(k, V::set1(C::ln2_hi), fma(k, V::set1(C::ln2_lo), lg));
}

}  // namespace SC_NS
}  // namespace sc
