// exp(x) for every vector type of the layer, written once.
//
// Method: Cody & Waite range reduction, x = n*ln2 + r with n = round(x/ln2)
// and |r| <= ln2/2, using ln2 = ln2_hi + ln2_lo where ln2_hi has enough
// trailing zero bits that n*ln2_hi is exact for every n that can occur.
// Then e^r = 1 + r + r^2*q(r) with q fitted at Chebyshev nodes in 60-digit
// arithmetic (tools/gen_exp_coeffs.py, which prints these literals); the
// truncation error is 1.0e-8 (f32, 0.17 ULP) and 1.7e-17 (f64, 0.15 ULP).
// Finally 2^n is applied by scale_by_pow2 (exponent bits in two normal halves,
// or vscalef on AVX-512), which also produces inf and gradual underflow.
//
// Accuracy (tests/test_exp.py scans it densely against a float64/long double
// exp): <= 2 ULP in float32 and float64 over the whole range; x above the
// overflow threshold gives +inf, below the underflow threshold +0, NaN gives
// NaN, -inf gives 0.
// Valid range: every input.  Inputs are clamped to [lo, hi] first, beyond
// which the result is already 0 or inf, so n stays in [-1100, 1100].
#pragma once
#include "core/exp_mode.h"

namespace sc {
namespace SC_NS {

template <class T>
struct ExpConst;

template <>
struct ExpConst<float> {
  static constexpr float lo = -104.0f;  // e^-104 < 2^-150: rounds to +0
  static constexpr float hi = 89.0f;    // e^89 > FLT_MAX: overflows to inf
  static constexpr float log2e = 0x1.715476p+0f;
  static constexpr float ln2_hi = 0x1.62e400p-1f;   // 16 significant bits
  static constexpr float ln2_lo = 0x1.7f7d1cp-20f;  // ln2 - ln2_hi
  static constexpr float q0 = 0x1p-1f;
  static constexpr float q1 = 0x1.5554dep-3f;
  static constexpr float q2 = 0x1.55551ap-5f;
  static constexpr float q3 = 0x1.120b62p-7f;
  static constexpr float q4 = 0x1.6d10fcp-10f;
};

template <>
struct ExpConst<double> {
  static constexpr double lo = -746.0;  // e^-746 < 2^-1075
  static constexpr double hi = 710.0;   // e^710 > DBL_MAX
  static constexpr double log2e = 0x1.71547652b82fep+0;
  static constexpr double ln2_hi = 0x1.62e42fee00000p-1;  // fdlibm's split
  static constexpr double ln2_lo = 0x1.a39ef35793c76p-33;
  static constexpr double q0 = 0x1.0000000000001p-1;
  static constexpr double q1 = 0x1.5555555555556p-3;
  static constexpr double q2 = 0x1.5555555553d68p-5;
  static constexpr double q3 = 0x1.11111111109b5p-7;
  static constexpr double q4 = 0x1.6c16c17889ef1p-10;
  static constexpr double q5 = 0x1.a01a01a7c2efep-13;
  static constexpr double q6 = 0x1.a019b9149a41cp-16;
  static constexpr double q7 = 0x1.71de0db2f6b19p-19;
  static constexpr double q8 = 0x1.28917c89a43a7p-22;
  static constexpr double q9 = 0x1.af389ecfc4b9cp-26;
};

template <class V>
inline V exp_q(V r, const ExpConst<float>*) {
  using C = ExpConst<float>;
  V q = fma(V::set1(C::q4), r, V::set1(C::q3));
  q = fma(q, r, V::set1(C::q2));
  q = fma(q, r, V::set1(C::q1));
  return fma(q, r, V::set1(C::q0));
}

template <class V>
inline V exp_q(V r, const ExpConst<double>*) {
  using C = ExpConst<double>;
  // Estrin-like split into two Horner chains for more instruction parallelism.
  V r2 = r * r;
  V a = fma(V::set1(C::q9), r, V::set1(C::q8));
  a = fma(a, r2, fma(V::set1(C::q7), r, V::set1(C::q6)));
  a = fma(a, r2, fma(V::set1(C::q5), r, V::set1(C::q4)));
  a = fma(a, r2, fma(V::set1(C::q3), r, V::set1(C::q2)));
  return fma(a, r2, fma(V::set1(C::q1), r, V::set1(C::q0)));
}

// e^(hi + lo) for a small correction |lo| <= 2^-10 carried beside hi (see
// exp_shifted below); lo enters only the reduced argument.
template <class V>
inline V exp_hilo(V hi, V lo) {
  using T = typename V::T;
  using C = ExpConst<T>;
  hi = clamp(hi, V::set1(C::lo), V::set1(C::hi));
  V n = round_nearest(hi * V::set1(C::log2e));
  V r = fnma(n, V::set1(C::ln2_hi), hi);
  r = fnma(n, V::set1(C::ln2_lo), r + lo);
  V q = exp_q(r, static_cast<const C*>(nullptr));
  V p = fma(r * r, q, r) + V::set1(T(1));
  return scale_by_pow2(p, n);
}

template <class V>
inline V exp(V x) {
  using T = typename V::T;
  using C = ExpConst<T>;
  x = clamp(x, V::set1(C::lo), V::set1(C::hi));
  V n = round_nearest(x * V::set1(C::log2e));
  V r = fnma(n, V::set1(C::ln2_hi), x);
  r = fnma(n, V::set1(C::ln2_lo), r);
  V q = exp_q(r, static_cast<const C*>(nullptr));
  V p = fma(r * r, q, r) + V::set1(T(1));
  return scale_by_pow2(p, n);
}

// d = fl(x - m) and *err = (x - m) - d exactly: Knuth's TwoSum with the
// addend -m (6 flops, no branch, valid for any magnitudes; Knuth TAOCP 2,
// 4.2.2, Theorem B).
template <class V>
inline V two_diff(V x, V m, V* err) {
  const V d = x - m;
  const V z = d - x;
  *err = (x - (d - z)) - (m + z);
  return d;
}

// exp((x - m) * it) where the argument is carried exactly in two parts.
//
// Why: for float32, x - m rounds to 24 bits. When |x - m| is near 69 (outputs
// near 1e-30) and x is small, that rounding is up to 2^-18 ~ 3.8e-6 of the
// output, above our 3e-6 bound against a float64 reference.  two_diff (TwoSum)
// gives the rounding error of x - m exactly, the exact product error
// of the temperature multiply comes from mul_err, and both enter the reduced
// argument through exp_hilo.  lo is clamped so that an inf/NaN produced only
// by the compensation (x = -inf gives inf - inf) cannot reach the result.
// it_lo is the rounding error of it = 1/T (it + it_lo ~ 1/T to 2x precision).
template <class V, bool kScaled>
inline V exp_shifted(V x, V m, V it, V it_lo) {
  using T = typename V::T;
  V err;
  const V d = two_diff(x, m, &err);
  V hi = d, lo = err;
  if (kScaled) {
    hi = d * it;
    lo = mul_err(d, it, hi) + fma(d, it_lo, err * it);
  }
  lo = min(max(lo, V::set1(T(-1e-3))), V::set1(T(1e-3)));  // NaN -> -1e-3: see above
  return exp_hilo(hi, lo);
}

// ---- the softmax path: e^(x - max) ----------------------------------------
//
// In softmax and logsumexp the argument x - max is <= 0 (or NaN) whenever the
// row max is finite, so the kernels use a leaner exp (XNNPACK's "magic bias"
// form): n = round(d*log2e) comes out of one FMA whose low bits already hold
// n + bias, 2^n is those bits shifted into the exponent field, and results
// below 2^-126 (2^-1022) -- where 2^n would not be normal -- are flushed to
// +0 by one compare-and-select.  Absolute error of the flush: < 1.2e-38
// (2.3e-308).  The general exp above serves rows whose max is not finite.
template <class T>
struct ExpNegConst;
template <>
struct ExpNegConst<float> {
  static constexpr float cutoff = -0x1.5d589ep+6f;  // ln(2^-126) = -87.336544
  static constexpr float magic = 0x1.8000fep+23f;   // 1.5*2^23 + 127
  static constexpr float floor = -110.0f;           // e^-110 * 2^... rounds to +0 (vscalef path)
};
template <>
struct ExpNegConst<double> {
  static constexpr double cutoff = -0x1.6232bdd7abcd2p+9;  // ln(2^-1022) = -708.39642
  static constexpr double magic = 0x1.80000000003ffp+52;   // 1.5*2^52 + 1023
  static constexpr double floor = -760.0;                   // below e^-745: rounds to +0 (vscalef path)
};

// float32 softmax path with a fused FMA: one-constant reduction (ln2 rounded
// to float: the error |n|*2e-9 <= 2.4e-7 relative; without an FMA the
// product n*ln2 would round, up to 3.8e-6 at n = 100, so those targets keep
// the two-constant Cody-Waite form) and e^r = 1 + r*p(r), p of degree 4
// fitted at Chebyshev nodes (tools/gen_exp_coeffs.py: truncation 2.0e-7).
// About 1.7 ULP worst case: ample for the 3e-6 bound of softmax, and two
// instructions fewer than exp() -- the exp is most of the softmax's time.
struct ExpNegF32 {
  static constexpr float ln2 = 0x1.62e430p-1f;
  static constexpr float p1 = 0x1.fffe5ap-2f;
  static constexpr float p2 = 0x1.5554dep-3f;
  static constexpr float p3 = 0x1.570b98p-5f;
  static constexpr float p4 = 0x1.120b62p-7f;
};

// e^r for the reduced argument |r| <= ln2/2 (+ a small correction): the
// degree-5 float32 fit above with a fused FMA, exp_q (degree 11 rational
// form of the general exp) otherwise.
template <class V>
inline V exp_neg_poly(V r) {
  using T = typename V::T;
  if constexpr (sizeof(T) == 4 && V::kFma) {
    using P = ExpNegF32;
    V a = fma(V::set1(P::p4), r, V::set1(P::p3));
    a = fma(a, r, V::set1(P::p2));
    a = fma(a, r, V::set1(P::p1));
    a = fma(a, r, V::set1(T(1)));
    return fma(a, r, V::set1(T(1)));
  } else {
    using C = ExpConst<T>;
    V q = exp_q(r, static_cast<const C*>(nullptr));
    return fma(r * r, q, r) + V::set1(T(1));
  }
}

// e^(hi + lo) for hi <= 0 or NaN; lo (when kLo) a small correction.
// !kClamp: the caller knows hi >= -64 (kFast on a range-checked row), so
// the clamp at K::floor (AVX-512) or the flush below K::cutoff is left out:
// one instruction of 13 per 16 elements on AVX-512, two of ~16 elsewhere.
template <class V, bool kLo, bool kClamp = true>
inline V exp_neg(V hi, V lo) {
  using T = typename V::T;
  using C = ExpConst<T>;
  using K = ExpNegConst<T>;
  if constexpr (V::kScalef) {
    // AVX-512: n = round(hi log2e) by vrndscale, 2^n by vscalef, which also
    // rounds results below 2^-126 correctly (subnormals kept, not flushed).
    // hi is clamped at K::floor first (NaN passes: max returns its second
    // operand), so -inf gives e^floor * 2^... = +0 exactly, not NaN.
    // Recipe, float32 (objdump of vec_sum_exp<VF, false, kFast>, GCC 12):
    // per 16 elements load, sub, max, mul, vrndscaleps, fnmadd, 5 fmadd
    // (degree 5), vscalefps, add to 1 of 2 accumulators (unroll 2) = 13
    // instructions (+ a register move), against 16 for the magic-bias form
    // below (fma, sub, shift, mul, compare, masked move in place of mul,
    // vrndscale, vscalef).  (32, 32000) float32, 1 thread, quiet machine,
    // medians of 200 calls, three interleaved runs: softmax 172-212 ->
    // 161-208 us, logsumexp 141-142 -> 129-141 us (5-8 % typical).
    // kFast (no clamp: 12 instructions), AVX-512 Zen 4, 1 thread, 8
    // alternating pairs of processes, warm standard-normal rows: softmax
    // (32, 32000) 0.283 -> 0.270 ms, (8, 128256) 0.281 -> 0.270, (1024,
    // 2048) 0.598 -> 0.570 (pairs 0.95-0.97 median; bit-identical results);
    // the AVX2 target (no compare and select: 2 of ~16 per 8) 0.383 ->
    // 0.331, 0.376 -> 0.330, 0.784 -> 0.686 ms (5 pairs, 0.85-0.89).
    const V h = kClamp ? max(V::set1(K::floor), hi) : hi;
    const V n = round_nearest(h * V::set1(C::log2e));
    V r;
    if constexpr (sizeof(T) == 4) {
      r = fnma(n, V::set1(ExpNegF32::ln2), h);
      if (kLo) r = r + lo;
    } else {
      r = fnma(n, V::set1(C::ln2_hi), h);
      if (kLo) r = r + lo;
      r = fnma(n, V::set1(C::ln2_lo), r);
    }
    const V y = scale_by_pow2(exp_neg_poly(r), n);
    // A correction lo is NaN where hi = -inf (TwoSum of -inf): zero those.
    return kLo ? zero_if(lt(hi, V::set1(K::floor)), y) : y;
  }
  const V magic = V::set1(K::magic);
  V z = fma(hi, V::set1(C::log2e), magic);
  V n = z - magic;
  V p;
  if constexpr (sizeof(T) == 4 && V::kFma) {
    using P = ExpNegF32;
    V r = fnma(n, V::set1(P::ln2), hi);
    if (kLo) r = r + lo;
    p = exp_neg_poly(r);
  } else {
    V r = fnma(n, V::set1(C::ln2_hi), hi);
    if (kLo) r = r + lo;
    r = fnma(n, V::set1(C::ln2_lo), r);
    p = exp_neg_poly(r);
  }
  const V y = p * pow2_from_biased(z);
  return kClamp ? zero_if(lt(hi, V::set1(K::cutoff)), y) : y;
}

// e^((x - m) * it), the argument formed as the ExpMode says (core/exp_mode.h).
template <class V, bool kScaled, int kMode>
inline V exp_minus_max(V x, V m, V it, V it_lo) {
  if (kMode == kGeneral) return exp_shifted<V, kScaled>(x, m, it, it_lo);
  if (kMode == kFast || kMode == kFastUnchecked) {
    const V d = x - m;
    return exp_neg<V, false, kMode == kFastUnchecked>(kScaled ? d * it : d, d);
  }
  V err;
  const V d = two_diff(x, m, &err);
  if (!kScaled) return exp_neg<V, true>(d, err);
  V hi = d * it;
  return exp_neg<V, true>(hi, mul_err(d, it, hi) + fma(d, it_lo, err * it));
}

}  // namespace SC_NS
}  // namespace sc
