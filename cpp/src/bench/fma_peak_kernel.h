// Peak float32 FMA throughput of one core for this target: 12 independent
// accumulator chains (enough to cover FMA latency x ports on current x86 and
// Arm cores), timed for a fixed duration.  Only for the benchmarks' roofline.
#pragma once
#include <chrono>
#include <cstdint>

namespace sc {
namespace SC_NS {

inline double fma_peak_gflops(double seconds) {
  constexpr int K = 12;
  VF acc[K];
  for (int k = 0; k < K; ++k) acc[k] = VF::set1(1.0f + 1e-3f * float(k));
  const VF a = VF::set1(0.999999f), b = VF::set1(1e-7f);
  int64_t iters = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0.0;
  do {
    for (int r = 0; r < 4096; ++r)
      for (int k = 0; k < K; ++k) acc[k] = fma(acc[k], a, b);
    iters += 4096;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (elapsed < seconds);
  VF s = acc[0];
  for (int k = 1; k < K; ++k) s = s + acc[k];
  volatile float sink = reduce_add(s);  // keep the loop
  (void)sink;
  return double(iters) * K * VF::N * 2.0 / elapsed * 1e-9;
}

}  // namespace SC_NS
}  // namespace sc
