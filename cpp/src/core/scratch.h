// Per-thread scratch memory: one named buffer per use, grown on demand and
// kept for the thread's life (pool threads live as long as the process), so
// steady-state calls allocate nothing.  Growing a buffer invalidates the
// earlier pointer to *that* buffer only; a function may hold several
// different ones at once.  nullptr when the allocation fails (SC_ENOMEM).
#pragma once
#include <cstddef>
#include <cstdint>

namespace sc {

enum class Scratch : int {
  kPackX,        // a strided row or chunk of x packed contiguous (softmax, sampling)
  kPackB,        // the same for the weights b (logsumexp)
  kExp,          // the exps of a row before the non-temporal scale (softmax)
  kColHalfX,     // a block of half-precision columns of x widened to float32
  kColHalfB,     //   the same for the weights b (logsumexp)
  kAttnWork,     // the attention kernel's workspace (Q^T panels, tiles)
  kAttnOut,      // a prefill item's unnormalised O, m, l
  kAttnMerge,    // the decode merge's accumulator row (double)
  kCandX,        // sampling candidates: values
  kCandE,        //   their exps
  kCandI,        //   their indices
  kCandSort,     //   (x, i, e) records for selection
  kBlockMax,     //   block maxima of the top-k threshold
  kProcRow,      // sampling: the row after the logits processors (mask, bias, penalties)
  kHistory,      //   the sorted token history of the penalties
  kCount
};

void* thread_scratch(Scratch which, size_t bytes);

// n elements of U (64 bytes of slack for vector tails).
template <class U>
U* scratch(Scratch which, int64_t n) {
  return static_cast<U*>(thread_scratch(which, size_t(n < 0 ? 0 : n) * sizeof(U) + 64));
}

}  // namespace sc
