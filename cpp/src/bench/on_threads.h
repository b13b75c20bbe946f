// The benchmark entries' one way to use several cores: run `fn` (a rate, one
// thread's worth) on `threads` std::threads started for the measurement and
// add the rates, so the library's pool and thread count are left alone.
// 0.0 when a thread could not start.
#pragma once
#include <thread>
#include <vector>

namespace sc {

template <class F>
double sum_over_threads(int threads, const F& fn) {
  if (threads <= 1) return fn();
  std::vector<double> r(size_t(threads), 0.0);
  std::vector<std::thread> pool;
  bool started = true;
  try {
    pool.reserve(size_t(threads));
    for (int i = 0; i < threads; ++i) pool.emplace_back([&r, &fn, i] { r[size_t(i)] = fn(); });
  } catch (...) {
    started = false;
  }
  for (std::thread& th : pool) th.join();
  if (!started) return 0.0;
  double sum = 0;
  for (double g : r) sum += g;
  return sum;
}

}  // namespace sc
