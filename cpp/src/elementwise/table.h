// Elementwise entries of the kernel table (elementwise/kernels.h); the
// driver that cuts arrays into runs and runs is elementwise/driver.cpp.
#pragma once
#include <cstdint>

#include "core/half.h"

namespace sc {

// y[i * ys] = f(x[i * xs]) for i < n; element strides of any sign (or 0).
// S is the storage type: float, double, or f16 / bf16 (computed in float32,
// each result rounded once).
template <class S>
struct UnaryKernels {
  void (*expit[2])(const S* x, int64_t xs, S* y, int64_t ys, int64_t n);  // [log_mode]: expit, log_expit
};

struct ElementwiseKernels {
  UnaryKernels<float> f32;
  UnaryKernels<double> f64;
  UnaryKernels<f16> h16;
  UnaryKernels<bf16> hbf16;
};

}  // namespace sc
