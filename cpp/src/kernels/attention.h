// Attention kernels (placeholder until the attention work lands).
#pragma once
#include "../attention_table.h"

namespace sc {
namespace SC_NS {
inline void fill_attention(AttentionKernels&) {}
}  // namespace SC_NS
}  // namespace sc
