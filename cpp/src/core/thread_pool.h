// A persistent pool of std::threads (no OpenMP: its runtimes clash with
// torch's and scikit-learn's in one process).  Work is cut by the caller into
// items whose boundaries depend on the data only, so results never depend on
// the thread count; the pool only decides who runs which item.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sc {

using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);

// Threads a call may use (>= 1).  Default: the CPUs this process may run on,
// or SOFTMAX_C_NUM_THREADS.
int num_threads();
void set_num_threads(int n);

// Runs fn(ctx, b, e) over [0, n) in chunks of `grain` items (the last may be
// shorter), on up to num_threads() threads including the caller; returns when
// all are done.  Runs inline when n <= grain, when called from a pool thread,
// or when another caller holds the pool (concurrent Python threads then run
// on their own threads instead of queueing).
void parallel_for(int64_t n, int64_t grain, RangeFn fn, void* ctx);

// Work per task below which a thread wake-up does not pay (elements touched:
// 32768, i.e. 128 KiB of float32 per task).  grain_for(w): items per task when each item
// is w elements of work.
constexpr int64_t kWorkPerTask = 32768;
inline int64_t grain_for(int64_t work_per_item) {
  const int64_t g = kWorkPerTask / (work_per_item < 1 ? 1 : work_per_item);
  return g < 1 ? 1 : g;
}

// Lambda adaptor (header-only, so it is instantiated in the caller's target
// namespace and never shared between translation units compiled for
// different ISAs).
template <class F>
inline void parallel_for(int64_t n, int64_t grain, F& f) {
  parallel_for(
      n, grain, [](void* c, int64_t b, int64_t e) { (*static_cast<F*>(c))(b, e); }, &f);
}

}  // namespace sc
