// A C++-only smoke test of the C ABI, for cross builds (e.g. aarch64 under
// qemu-user) where no Python is at hand:
//   aarch64-linux-gnu-g++ -std=c++17 -O2 -static -Icpp/include -Icpp/src \
//     tools/abi_smoke.cpp cpp/src/{core,softmax,attention,sampling,bench}/*.cpp \
//     cpp/src/targets/{scalar,baseline}.cpp -o /tmp/smoke -pthread
//   qemu-aarch64 /tmp/smoke
// Checks softmax / log_softmax / logsumexp of every supported target against
// a long double loop; exits non-zero on a mismatch.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "softmax_c/softmax_c.h"

static int check_target(const char* name) {
  if (sc_set_target(name) != SC_OK) return 0;
  int bad = 0;
  const int64_t rows = 3, n = 1037;
  std::vector<float> x(rows * n), y(rows * n), lse(rows);
  for (int64_t i = 0; i < rows * n; ++i) x[i] = float(std::sin(0.37 * double(i)) * 20.0);
  sc_view v;
  std::memset(&v, 0, sizeof v);
  v.n = n;
  v.inner = 1;
  v.x_n = v.y_n = 1;
  v.outer_ndim = 1;
  v.outer_shape[0] = rows;
  v.x_outer[0] = v.y_outer[0] = n;
  for (int log_mode = 0; log_mode < 2; ++log_mode) {
    if (sc_softmax(SC_F32, x.data(), y.data(), &v, 1.0, log_mode) != SC_OK) return 1;
    for (int64_t r = 0; r < rows; ++r) {
      long double m = -INFINITY, s = 0;
      for (int64_t i = 0; i < n; ++i) m = std::fmax(m, (long double)x[r * n + i]);
      for (int64_t i = 0; i < n; ++i) s += std::exp((long double)x[r * n + i] - m);
      for (int64_t i = 0; i < n; ++i) {
        long double d = (long double)x[r * n + i] - m;
        long double ref = log_mode ? d - std::log(s) : std::exp(d) / s;
        long double err = log_mode ? std::fabs(y[r * n + i] - ref) / std::fmax(1.0L, std::fabs(ref))
                                   : (ref >= 1e-30L ? std::fabs(y[r * n + i] - ref) / ref : 0.0L);
        if (err > 3e-6L) { ++bad; if (bad < 5) std::printf("%s mode %d row %ld i %ld err %Lg\n", name, log_mode, (long)r, (long)i, err); }
      }
    }
  }
  v.y_outer[0] = 1;
  if (sc_logsumexp(SC_F32, x.data(), nullptr, lse.data(), nullptr, &v) != SC_OK) return 1;
  for (int64_t r = 0; r < rows; ++r) {
    long double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < n; ++i) m = std::fmax(m, (long double)x[r * n + i]);
    for (int64_t i = 0; i < n; ++i) s += std::exp((long double)x[r * n + i] - m);
    long double ref = m + std::log(s);
    if (std::fabs(lse[r] - ref) > 1e-6L * std::fmax(1.0L, std::fabs(ref))) { ++bad; std::printf("%s lse row %ld\n", name, (long)r); }
  }
  std::vector<float> sm(rows), ss(rows);  // sc_softmax_stats: (max, sum relative to it), one read
  if (sc_softmax_stats(SC_F32, x.data(), nullptr, sm.data(), ss.data(), &v, 1.0) != SC_OK) return 1;
  for (int64_t r = 0; r < rows; ++r) {
    long double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < n; ++i) m = std::fmax(m, (long double)x[r * n + i]);
    for (int64_t i = 0; i < n; ++i) s += std::exp((long double)x[r * n + i] - m);
    if (sm[r] != (float)m || std::fabs(ss[r] - s) > 1e-6L * s) { ++bad; std::printf("%s stats row %ld\n", name, (long)r); }
  }
  std::printf("%-9s %s\n", name, bad ? "MISMATCH" : "ok");
  return bad;
}

int main() {
  std::printf("targets supported: %s (features: %s)\n", sc_targets_supported(), sc_cpu_features());
  int bad = 0;
  for (const char* t : {"scalar", "baseline", "avx2", "avx512"}) bad += check_target(t);
  return bad ? 1 : 0;
}
