// Sampling kernels (placeholder until the sampling work lands).
#pragma once
#include "../sampling_table.h"

namespace sc {
namespace SC_NS {
inline void fill_sampling(SamplingKernels&) {}
}  // namespace SC_NS
}  // namespace sc
