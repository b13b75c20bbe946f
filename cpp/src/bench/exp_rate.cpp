// sc_bench_exp_rate: the element rate of the softmax kernels' own fastest
// exp path (sum_exp in ExpMode kFast, no temperature, nothing stored) over a
// cache-resident row, on `threads` std::threads of its own.  It is the exp
// bound of the benchmark limits (softmax_c._bench.limits): no softmax-family
// call can compute its exps faster than this loop that does nothing else.
#include <algorithm>
#include <chrono>
#include <vector>

#include "bench/on_threads.h"
#include "core/kernel_table.h"
#include "softmax_c/bench.h"
#include "softmax_c/softmax_c.h"

namespace {

template <class T>
double one_thread(const sc::ReduceKernels<T>& k, double seconds) {
  // 16K elements (64 KiB float32): in L2 on every x86-64 and arm64 core,
  // ~5 us per pass, so the clock read is < 0.1 % of a pass.
  constexpr int64_t n = 16384;
  std::vector<T> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = T(-15.0 * double(i % 1021) / 1021.0);  // [-15, 0]: kFast range
  using clock = std::chrono::steady_clock;
  double best = 0.0, sink = 0.0;
  const auto end = clock::now() + std::chrono::duration<double>(seconds);
  do {
    const auto t0 = clock::now();
    for (int r = 0; r < 8; ++r) sink += k.sum_exp[sc::kFast][0](x.data(), nullptr, n, T(0), T(1), T(0), nullptr);
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    if (dt > 0) best = std::max(best, 8.0 * double(n) / dt);
  } while (clock::now() < end);
  volatile double keep = sink;  // the calls are not dead code
  (void)keep;
  return best;
}

}  // namespace

extern "C" double sc_bench_exp_rate(int dtype, int threads, double seconds) {
  const sc::KernelTable* t = sc::active();
  return sc::sum_over_threads(threads, [t, dtype, seconds] {
    return dtype == SC_F64 ? one_thread(t->f64, seconds) : one_thread(t->f32, seconds);
  });
}
