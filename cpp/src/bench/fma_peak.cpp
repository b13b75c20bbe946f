// sc_bench_fma_peak_gflops: the active target's FMA kernel
// (bench/fma_peak_kernel.h) on `threads` std::threads started for the
// measurement, so the library's pool and thread count are left alone.
#include <thread>
#include <vector>

#include "core/kernel_table.h"
#include "softmax_c/bench.h"

extern "C" double sc_bench_fma_peak_gflops(int threads, double seconds) {
  const sc::KernelTable* t = sc::active();
  if (threads <= 1) return t->fma_peak_gflops(seconds);
  std::vector<double> r(size_t(threads), 0.0);
  std::vector<std::thread> pool;
  bool started = true;
  try {
    pool.reserve(size_t(threads));
    for (int i = 0; i < threads; ++i)
      pool.emplace_back([&r, t, seconds, i] { r[size_t(i)] = t->fma_peak_gflops(seconds); });
  } catch (...) {  // a thread could not start: no measurement
    started = false;
  }
  for (std::thread& th : pool) th.join();
  if (!started) return 0.0;
  double sum = 0;
  for (double g : r) sum += g;
  return sum;
}
