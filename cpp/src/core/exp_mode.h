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

// The scaled range below which kFast is exact enough: for |d| < 16 the one
// rounding of d is at most 2^-24 * 16 = 2^-20 ~ 9.5e-7 absolute in the
// exponent, so < 1e-6 relative in e^d.
constexpr double kFastRange = 16.0;

// True when (max - min) * it is below kFastRange (in double: no overflow).
inline bool fast_range(double mx, double mn, double it) { return (mx - mn) * it < kFastRange; }

// The mode for a row with max mx, min mn and inverse temperature it.
inline ExpMode choose_exp_mode(double mx, double mn, double it) {
  if (!std::isfinite(mx)) return kGeneral;
  return fast_range(mx, mn, it) ? kFast : kCompensated;
}

}  // namespace sc
