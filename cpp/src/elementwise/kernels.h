// The logistic sigmoid and its log, elementwise (scipy.special.expit /
// log_expit semantics), on the exp of the softmax kernels (simd/exp.h, the
// general form: gradual underflow, <= 2 ULP) and simd/log1p.h.
//
//   expit:     e = exp(-|x|);  y = (x < 0 ? e : 1) / (1 + e)
//   log_expit: e = exp(-|x|);  y = -(log1p(e) - min(x, 0))
//
// Why these forms: exp(-|x|) is in [0, 1], so nothing overflows and 1 + e
// never cancels; for x < 0 the quotient e/(1 + e) keeps the relative
// accuracy of e down to the subnormals (1/(1 + exp(-x)) would round to 0 or
// lose it).  log_expit is exact for large |x| as scipy's: x >> 0 gives
// -log1p(e) = -e to the ULP (log1p_unit returns tiny e unchanged), x << 0
// gives x - e (no cancellation: both terms have one sign).  NaN gives NaN,
// expit(+-inf) = 1, 0; log_expit(+inf) = -0, (-inf) = -inf.
//
// Recipe (XNNPACK-style): <isa>_rr2_p6_div_u2 (Cody-Waite two-constant
// reduction, exp polynomial 1 + r + r^2 q(r) of degree 6 (float32; 11 for
// float64), one division, unrolled twice);
// log_expit adds log1p: mantissa reduction k in {0, 1}, s = f/(2+f), P of
// degree 2 (f32) / 7 (f64), a second division.
// Instructions per element, float32, (32, 32000), callgrind (valgrind has no
// AVX-512, so it runs the avx2 target, 8 lanes): expit 4.4 (35 per vector),
// log_expit 6.6 (52 per vector).  Measured 1 thread on the AVX-512 EPYC
// (benchmarks/goals_core.py): expit 5.3-5.5 Gelem/s (avx512),
// 2.1-2.2 (avx2); 16-36x scipy.special.expit, 41-62x log_expit.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/half.h"
#include "simd/exp.h"
#include "simd/log1p.h"
#include "simd/loops.h"
#include "softmax/col_kernels.h"
#include "softmax/half_kernels.h"

namespace sc {
namespace SC_NS {

template <class V>
inline V expit_value(V x) {
  using T = typename V::T;
  const V zero = V::zero(), one = V::set1(T(1));
  const V e = exp(min(x, zero - x));  // exp(-|x|); NaN stays NaN
  return select(lt(x, zero), e, one) / (one + e);
}

template <class V>
inline V log_expit_value(V x) {
  using T = typename V::T;
  const V zero = V::zero();
  const V e = exp(min(x, zero - x));
  return (log1p_unit(e) - min(x, zero)) * V::set1(T(-1));  // * -1, not 0 - : log_expit(inf) = -0
}

// cnt (<= N) lanes of storage S at p with element stride s, as V.
template <class V, class S>
inline V unary_load(const S* p, int64_t s, int64_t cnt) {
  if constexpr (is_half_v<S>) return half_load(p, s, cnt, 0.0f);
  else return load_lanes<V>(p, s, cnt, S(0));
}
template <class V, class S>
inline void unary_store(S* p, int64_t s, int64_t cnt, V v) {
  if constexpr (is_half_v<S>) half_store(p, s, cnt, v);
  else store_lanes<V>(p, s, cnt, v);
}

template <class V, class S, bool kLog, bool kUnit>
inline void expit_loop(const S* x, int64_t xs, S* y, int64_t ys, int64_t n) {
  if (kUnit) xs = ys = 1;  // constant strides: the contiguous loads and stores inline
  vector_loop<V, 2>(0, n, [&](int64_t i, int, auto part) {
    const int64_t left = decltype(part)::kFull ? V::N : n - i;
    const V v = unary_load<V>(x + i * xs, xs, left);
    unary_store(y + i * ys, ys, left, kLog ? log_expit_value(v) : expit_value(v));
  });
}

// y[i * ys] = expit(x[i * xs]) (or log_expit), i < n.  x may be y.
template <class V, class S, bool kLog>
void expit_strided(const S* x, int64_t xs, S* y, int64_t ys, int64_t n) {
  if (xs == 1 && ys == 1) expit_loop<V, S, kLog, true>(x, 1, y, 1, n);
  else expit_loop<V, S, kLog, false>(x, xs, y, ys, n);
}

template <class V, class S>
UnaryKernels<S> make_unary() {
  UnaryKernels<S> k{};
  k.expit[0] = &expit_strided<V, S, false>;
  k.expit[1] = &expit_strided<V, S, true>;
  return k;
}

inline void fill_elementwise(ElementwiseKernels& k) {
  k.f32 = make_unary<VF, float>();
  k.f64 = make_unary<VD, double>();
  k.h16 = make_unary<VF, f16>();
  k.hbf16 = make_unary<VF, bf16>();
}

}  // namespace SC_NS
}  // namespace sc
