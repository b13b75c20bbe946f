// The kernel table: what one target (ISA) provides, one sub-table per op
// family (<family>/table.h).  dispatch.cpp picks one table at import; the
// drivers call through these pointers.
#pragma once
#include <cstdint>

#include "attention/table.h"
#include "elementwise/table.h"
#include "sampling/table.h"
#include "softmax/table.h"

namespace sc {

struct KernelTable {
  const char* name;
  ReduceKernels<float> f32;  // the softmax family
  ReduceKernels<double> f64;
  HalfKernels<f16> h16;  // half storage around f32 (softmax/half_kernels.h)
  HalfKernels<bf16> hbf16;
  AttentionKernels attn;
  SamplingKernels sampling;
  ElementwiseKernels elementwise;  // expit, log_expit (elementwise/kernels.h)
  double (*fma_peak_gflops)(double seconds);  // benchmarks only (softmax_c/bench.h); one thread
};

// One per compiled target (targets/*.cpp); nullptr entries are not compiled.
const KernelTable* table_scalar();
const KernelTable* table_baseline();
const KernelTable* table_avx2();
const KernelTable* table_avx512();

// The active table (never null after import).
const KernelTable* active();

}  // namespace sc
