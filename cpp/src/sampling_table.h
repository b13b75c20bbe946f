// Sampling entries of the kernel table (owned by the sampling kernels).
#pragma once
#include <cstdint>

namespace sc {
struct SamplingKernels {
  void* reserved = nullptr;
};
}  // namespace sc
