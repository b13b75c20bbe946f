// How a softmax-family kernel forms the exp argument (x - m) * it; chosen
// per row (or column block) by the driver from the row's max and min, and
// named here so drivers and kernels share the names, not the numbers.
// ISA-free: the kernels' side is simd/exp.h (exp_minus_max).
//  kFast:        d = x - m rounded once.  Used when the scaled range
//                (max - min) * it < kFastRange, where that rounding costs
//                < 1e-6 relative in the output.
//  kCompensated: d and its exact rounding error (TwoSum), the temperature
//                product's exact error (mul_err): the argument is carried to
//                ~2^-48 relative, so outputs near 1e-30 (|d| ~ 69, where one
//                float32 rounding alone is 3.8e-6) keep the 3e-6 bound.
//  kGeneral:     the max is not finite (+inf, or an all -inf row): the full
//                range exp, as scipy's arithmetic (NaN for inf - inf).
#pragma once
#include <cmath>

namespace sc {

enum ExpMode { kFast = 0, kCompensated = 1, kGeneral = 2 };
constexpr int kExpModes = 3;
// Not a table mode: kFast's argument on inputs of any range (the sampling
// kernels' rows, which may hold -inf and are not range-checked; the tails
// of a vector loop, filled with -inf; the column kernels' online blocks):
// the exp clamps its argument (-inf gives 0, not NaN).  kFast itself is
// taken only where the driver checked the range, so its arguments are
// >= -kFastRangeUnscaled and its exp needs no clamp.
constexpr int kFastUnchecked = kExpModes;

// The scaled range below which kFast is exact enough: for |d| < 16 the one
// rounding of d is at most 2^-24 * 16 = 2^-20 ~ 9.5e-7 absolute in the
// exponent, so < 1e-6 relative in e^d.
constexpr double kFastRange = 16.0;

// True when (max - min) * it is below kFastRange (in double: no overflow).
inline bool fast_range(double mx, double mn, double it) { return (mx - mn) * it < kFastRange; }

// The softmax of an unscaled row (no temperature: d = x - m is the whole
// argument, rounded once): for |d| < 64 that rounding is at most half an ULP
// of d, 2^-19 = 1.9e-6 (the binade [32, 64)), relative in each output;
// with the exp's 1.7 ULP, the rounding of 1 / S and of e / S (1.2e-7 each
// at worst) < 2.5e-6, inside the 3e-6 bound.  Measured: worst 2.44e-6 over
// 400 adversarial rows of range 63.9 (rows straddling 0, so that x - m
// rounds), 1.40e-6 at 31.9, on every target.  LLM logit rows (range
// 16..64, sd up to ~7) then take kFast: AVX-512, (32, 32000) float32,
// 1 thread: sd 3 0.52 -> 0.34 ms (limit 16 -> 32), sd 4 0.31 -> 0.26 ms
// and sd 6 0.32 -> 0.23 ms (32 -> 64).
// log_softmax and logsumexp without a temperature too: their exps only form
// S = sum e, and a term with |d| >= 16 weighs < e^-16 = 1.1e-7 against the
// max's 1, so even 2^20 of them at 1.9e-6 each move S by < 2.2e-7
// relative, log S by as much absolute: inside 2e-6 max(1, |y|) and
// 1e-6 max(1, |lse|) (a logsumexp near 0 takes the exclusion pass, whose
// exp is the compensated general one either way).  Measured: worst 1.5e-7
// (log_softmax) and 2.1e-7 (logsumexp) over 300 rows of range 63.9, every
// target; (32, 32000) float32 of sd 3-4, 1 thread, 4 alternating pairs:
// log_softmax 0.39-0.41 -> 0.31 ms, logsumexp 0.30 -> 0.20 ms.
// (Rows of a long-row chunk (> 1 MiB) keep kFastRange.)
constexpr double kFastRangeUnscaled = 64.0;

// The mode for a row with max mx, min mn and inverse temperature it;
// unscaled: the row has no temperature (d = x - m is the whole argument).
inline ExpMode choose_exp_mode(double mx, double mn, double it, bool unscaled = false) {
  if (!std::isfinite(mx)) return kGeneral;
  if (unscaled) return (mx - mn) < kFastRangeUnscaled ? kFast : kCompensated;
  return fast_range(mx, mn, it) ? kFast : kCompensated;
}

}  // namespace sc
