// Sampling entries of the kernel table: flat row primitives of the sampling
// family (sampling/row_kernels.h); the driver that composes them is
// sampling/driver.cpp.
#pragma once
#include <cstdint>
#include <type_traits>

#include "core/half.h"

namespace sc {

// The compute type of rows stored as S: float for the half types (f16,
// bf16: widened exactly, computed in float32), else S.
template <class S>
using compute_t = std::conditional_t<is_half_v<S>, float, S>;

// One row element in its compute type (scalar reads of a row).
template <class T>
inline T wide(T v) {
  return v;
}
inline float wide(f16 v) { return to_f32(v); }
inline float wide(bf16 v) { return to_f32(v); }

// The kernels over rows x of storage type S (T itself, or a half type with
// T = float); candidates, exps, weights and draft rows q are T.
template <class T, class S = T>
struct SamplingRowKernels {
  // Row max (n >= 1); returns true when some element is NaN.
  bool (*max_nan)(const S* x, int64_t n, T* mx);
  // First i with x[i] >= v (v = the row max: the argmax, ties -> lowest), or -1.
  int64_t (*find_first_ge)(const S* x, int64_t n, T v);
  // out[j] = max of x[j*b .. min(n, (j+1)*b)), j < ceil(n / b).
  void (*block_max)(const S* x, int64_t n, int64_t b, T* out);
  // Compacts the x[i] >= t (value to cx, index to ci) in index order; count.
  int64_t (*gather_ge)(const S* x, int64_t n, T t, T* cx, int64_t* ci);
  // Sum of e_i = exp((x_i - m) * it), stored to e when non-null (m = the row max).
  double (*sum_exp)(const S* x, T* e, int64_t n, T m, T it);
  // sum_exp over candidate values (gather_ge's cx): the same e_i bit for bit.
  double (*cand_exp)(const T* x, T* e, int64_t n, T m, T it);
  // sum_exp without the store, prefetching the row pf (n elements) meanwhile.
  double (*sum_exp_prefetch)(const S* x, int64_t n, T m, T it, const T* pf);
  // Inverse CDF in index order: the first i whose running sum of e_i exceeds
  // target; the last i with e_i > 0 when rounding keeps it from being reached.
  int64_t (*pick_cumulative)(const S* x, int64_t n, T m, T it, double target);
  // Mass histogram: hist[min(int((m - x_i) * it * scale), bins - 1)] += e_i
  // (hist zeroed by the caller); returns the total mass.
  double (*mass_hist)(const S* x, int64_t n, T m, T it, T scale, int bins, double* hist);
  // Compacts the (x_i, i) of one bin of mass_hist, in index order; count.
  int64_t (*gather_bin)(const S* x, int64_t n, T m, T it, T scale, int bins, int bin, T* cx, int64_t* ci);
  // With e_i = exp((x_i - m) * beta), d_i = x_i - m: s = (sum e, sum e*d, sum e*d^2).
  void (*moments)(const S* x, int64_t n, T m, T beta, double* s);
  // *sum = sum of q[0..n) (double); returns true when some entry is negative
  // or the sum is not finite (an inf or NaN entry): a draft distribution's check.
  bool (*prob_sum)(const T* q, int64_t n, double* sum);
  // w_i = max(0, e_i * iz - q_i) stored, e_i = exp((x_i - m) * it) as
  // sum_exp (the residual of speculative decoding); q NULL: q = 0.
  // Returns sum w.
  double (*residual)(const S* x, const T* q, int64_t n, T m, T it, T iz, T* w);
  // Inverse CDF over stored weights w >= 0 in index order: the first i whose
  // running sum exceeds target; the last i with w_i > 0 when rounding keeps
  // it from being reached; -1 when every w_i is 0.
  int64_t (*pick_stored)(const T* w, int64_t n, double target);
};

// Members named as the dtype list of core/driver.h (of<S>()).
struct SamplingKernels {
  SamplingRowKernels<float> f32;
  SamplingRowKernels<double> f64;
  SamplingRowKernels<float, f16> h16;
  SamplingRowKernels<float, bf16> hbf16;
};

}  // namespace sc
