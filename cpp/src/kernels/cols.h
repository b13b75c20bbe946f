// Reductions along a strided axis, vectorised across the columns: the
// (outer, n, inner > 1) case, e.g. axis 0 of a C-contiguous matrix.  No
// transpose copy: a tile of kColTile columns is read row by row (each row of
// the tile is one 64-byte line when the inner stride is 1), three passes over
// the tile (max, exp+sum, finish) that stays in L2 for n up to ~4096.
#pragma once
#include <cstdint>
#include <cmath>

#include "../simd/exp.h"

namespace sc {
namespace SC_NS {

template <class V>
struct ColTile {
  using T = typename V::T;
  // One cache line of columns; at least one vector.
  static constexpr int64_t NV = (64 / int64_t(sizeof(T) * V::N)) > 0 ? 64 / int64_t(sizeof(T) * V::N) : 1;
  static constexpr int64_t W = NV * V::N;
};

// cnt (<= N) lanes starting at p with element stride s; the rest are fill.
template <class V>
inline V load_lanes(const typename V::T* p, int64_t s, int64_t cnt, typename V::T fill) {
  using T = typename V::T;
  if (s == 1) return cnt >= V::N ? V::load(p) : V::load_partial(p, cnt, fill);
  if (cnt >= V::N) return V::load_strided(p, s);
  T t[V::N];
  for (int64_t k = 0; k < V::N; ++k) t[k] = k < cnt ? p[k * s] : fill;
  return V::load(t);
}

template <class V>
inline void store_lanes(typename V::T* p, int64_t s, int64_t cnt, V v) {
  using T = typename V::T;
  if (s == 1) {
    if (cnt >= V::N) store(p, v); else store_partial(p, cnt, v);
    return;
  }
  if (cnt >= V::N) { store_strided(p, s, v); return; }
  T t[V::N];
  store(t, v);
  for (int64_t k = 0; k < cnt; ++k) p[k * s] = t[k];
}

// Column max over n rows of a tile of w <= W columns; optional weights b
// (b == 0 removes the element).  Writes w maxima to m.
template <class V>
void cols_max(const typename V::T* x, int64_t xn, int64_t xi, const typename V::T* b, int64_t bn, int64_t bi,
              int64_t n, int64_t w, typename V::T* m) {
  using T = typename V::T;
  constexpr int64_t NV = ColTile<V>::NV, N = V::N;
  const V ninf = V::set1(-INFINITY), zero = V::zero();
  V acc[NV];
  for (int64_t j = 0; j < NV; ++j) acc[j] = ninf;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < NV && j * N < w; ++j) {
      V v = load_lanes<V>(x + i * xn + j * N * xi, xi, w - j * N, T(-INFINITY));
      if (b) v = select(eq(load_lanes<V>(b + i * bn + j * N * bi, bi, w - j * N, T(0)), zero), ninf, v);
      acc[j] = max(acc[j], v);
    }
  }
  T t[NV * N];
  for (int64_t j = 0; j < NV; ++j) store(t + j * N, acc[j]);
  for (int64_t k = 0; k < w; ++k) m[k] = t[k];
}

// Column sums of exp((x - shift) * it) (times b where given; b == 0 removes
// the element); writes e to y when y != nullptr.  Blocked sums: 256 rows per
// block in T, block totals added in T (n/256 terms).
template <class V, bool kScaled, int kMode>
void cols_sum_exp(const typename V::T* x, int64_t xn, int64_t xi, const typename V::T* b, int64_t bn, int64_t bi,
                  typename V::T* y, int64_t yn, int64_t yi, int64_t n, int64_t w, const typename V::T* shift,
                  typename V::T it, typename V::T it_lo, double* sums) {
  using T = typename V::T;
  constexpr int64_t NV = ColTile<V>::NV, N = V::N;
  const V vit = V::set1(it), vlo = V::set1(it_lo), zero = V::zero();
  V vm[NV], tot[NV], blk[NV];
  for (int64_t j = 0; j < NV; ++j) {
    vm[j] = load_lanes<V>(shift + j * N, 1, w - j * N, T(0));
    tot[j] = V::zero();
  }
  for (int64_t i0 = 0; i0 < n; i0 += 256) {
    const int64_t i1 = n - i0 < 256 ? n : i0 + 256;
    for (int64_t j = 0; j < NV; ++j) blk[j] = V::zero();
    for (int64_t i = i0; i < i1; ++i) {
      for (int64_t j = 0; j < NV && j * N < w; ++j) {
        V e = exp_minus_max<V, kScaled, kMode>(load_lanes<V>(x + i * xn + j * N * xi, xi, w - j * N, T(0)), vm[j], vit, vlo);
        if (b) {
          V wv = load_lanes<V>(b + i * bn + j * N * bi, bi, w - j * N, T(0));
          e = select(eq(wv, zero), zero, wv * e);
        }
        if (y) store_lanes<V>(y + i * yn + j * N * yi, yi, w - j * N, e);
        blk[j] = blk[j] + e;
      }
    }
    for (int64_t j = 0; j < NV; ++j) tot[j] = tot[j] + blk[j];
  }
  T t[NV * N];
  for (int64_t j = 0; j < NV; ++j) store(t + j * N, tot[j]);
  for (int64_t k = 0; k < w; ++k) sums[k] = double(t[k]);
}

// y[i, k] = y[i, k] * s[k]  (softmax) or  x[i, k] * it - c[k]  (log_softmax).
template <class V>
void cols_finish(const typename V::T* x, int64_t xn, int64_t xi, typename V::T* y, int64_t yn, int64_t yi,
                 int64_t n, int64_t w, const typename V::T* coef, typename V::T it, bool log_mode) {
  using T = typename V::T;
  constexpr int64_t NV = ColTile<V>::NV, N = V::N;
  V c[NV];  // the scale s, or -c for the log form so that one FMA rounds once
  for (int64_t j = 0; j < NV; ++j) {
    c[j] = load_lanes<V>(coef + j * N, 1, w - j * N, T(0));
    if (log_mode) c[j] = V::zero() - c[j];
  }
  const V vit = V::set1(it);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < NV && j * N < w; ++j) {
      T* yp = y + i * yn + j * N * yi;
      V r = log_mode ? fma(load_lanes<V>(x + i * xn + j * N * xi, xi, w - j * N, T(0)), vit, c[j])
                     : load_lanes<V>(yp, yi, w - j * N, T(0)) * c[j];
      store_lanes<V>(yp, yi, w - j * N, r);
    }
  }
}

}  // namespace SC_NS
}  // namespace sc
