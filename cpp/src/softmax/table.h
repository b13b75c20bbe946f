// Softmax-family entries of the kernel table: the row kernels
// (softmax/row_kernels.h) and the column kernels (softmax/col_kernels.h);
// the driver that composes them is softmax/driver.cpp.
#pragma once
#include <cstdint>

#include "core/exp_mode.h"
#include "core/half.h"

namespace sc {

template <class T>
struct ReduceKernels {
  void (*minmax)(const T* x, int64_t n, T* mx, T* mn);
  void (*exp)(const T* x, T* y, int64_t n);  // the general exp (tests)
  T (*max_where)(const T* a, const T* b, int64_t n);
  // sum of exp((x - m) * it), stored to e when non-null.  Variants
  // [mode][scaled]: mode is the ExpMode of core/exp_mode.h (fast, compensated,
  // general), scaled = 1 when there is a temperature (it != 1).
  double (*sum_exp[kExpModes][2])(const T* x, T* e, int64_t n, T m, T it, T it_lo, const T* prefetch_next);
  // sum_exp, and the max and min of the next row xn (n elements) as
  // minmax gives them, computed in the same loop (vec_sum_exp_next).
  double (*sum_exp_next[kExpModes][2])(const T* x, T* e, int64_t n, T m, T it, T it_lo, const T* xn, T* mx, T* mn);
  double (*sum_exp_weighted)(const T* a, const T* b, int64_t n, T m);
  // logsumexp's exclusion pass, [weighted]: sc[0] += sum over x < m of
  // b exp(x - m), sc[1] += sum of b over x == m (row_kernels.h).
  void (*sum_exp_below[2])(const T* a, const T* b, int64_t n, T m, double* sc);
  void (*scale)(const T* e, T* y, int64_t n, T s, bool nt);
  void (*exp_scale[kExpModes][2])(const T* x, T* y, int64_t n, T m, T it, T it_lo, T s);
  void (*affine)(const T* x, T* y, int64_t n, T m, T it, T L, bool plain);  // plain_affine
  int64_t col_tile;  // columns per block of the cols_* kernels (<= 1024)
  bool (*cols_stats[2])(const T* x, int64_t xn, int64_t xi, const T* b, int64_t bn, int64_t bi, int64_t n, int64_t w,
                        T it, T it_lo, T* m, double* s);
  void (*cols_write[2])(const T* x, int64_t xn, int64_t xi, T* y, int64_t yn, int64_t yi, int64_t n, int64_t w,
                        const T* m, const T* coef, T it, T it_lo, bool log_mode, bool fast);
};

// Half-precision storage S (f16, bf16) around the float32 kernels
// (softmax/half_kernels.h): widen into float32 scratch, round once on store.
// Element strides xs / ys may be any value (0, negative).
template <class S>
struct HalfKernels {
  // w = float(x); with mx (non-null), also the max and min of w.  n >= 1.
  void (*widen_minmax)(const S* x, int64_t xs, float* w, int64_t n, float* mx, float* mn);
  void (*widen)(const S* x, int64_t xs, float* w, int64_t n);
  void (*scale_narrow)(const float* e, S* y, int64_t ys, int64_t n, float s, bool finite);  // y = S(e * s)
  void (*affine_narrow)(const float* x, S* y, int64_t ys, int64_t n, float m, float it, float L, bool plain);
  // The float32 row kernels on a contiguous S row, widened in registers
  // (vec_minmax, vec_sum_exp; affine_narrow from x itself).
  void (*minmax)(const S* x, int64_t n, float* mx, float* mn);
  double (*sum_exp[kExpModes][2])(const S* x, float* e, int64_t n, float m, float it, float it_lo, const float* pf);
  double (*sum_exp_next[kExpModes][2])(const S* x, float* e, int64_t n, float m, float it, float it_lo, const S* xn,
                                       float* mx, float* mn);
  void (*affine_narrow_s)(const S* x, S* y, int64_t ys, int64_t n, float m, float it, float L, bool plain);
};

}  // namespace sc
