// Attention entries of the kernel table (owned by the attention kernels).
#pragma once
#include <cstdint>

namespace sc {
struct AttentionKernels {
  void* reserved = nullptr;
};
}  // namespace sc
