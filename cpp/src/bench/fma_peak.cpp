// sc_bench_fma_peak_gflops: the active target's FMA kernel
// (bench/fma_peak_kernel.h) on `threads` std::threads started for the
// measurement (bench/on_threads.h), so the library's pool and thread count
// are left alone.
#include "bench/on_threads.h"
#include "core/kernel_table.h"
#include "softmax_c/bench.h"

extern "C" double sc_bench_fma_peak_gflops(int threads, double seconds) {
  const sc::KernelTable* t = sc::active();
  return sc::sum_over_threads(threads, [t, seconds] { return t->fma_peak_gflops(seconds); });
}
