// Reductions along a strided axis, vectorised across the columns: the
// (outer, n, inner > 1) case, e.g. axis 0 of a C-contiguous matrix.  No
// transpose copy.  Two sweeps over a block of up to kColTile columns (4 KiB
// of each row), row by row, so memory is read as whole contiguous rows:
//  1. online statistics: per block of kRowBlock rows (256 KiB: stays in L2),
//     the block max per column, then the running (max, sum) of each column
//     is rescaled where the max rose and the block's exps are added (one exp
//     per element, the block re-read from L2).  Both sweeps of a block go
//     down its rows G vectors of columns at a time with the accumulators in
//     registers (a 256-byte strip of each row: 4 lines).
//  2. y = exp((x - max) * it) / sum   or   (x - max) * it - log(sum): x read
//     again (a second exp per element, cheaper than storing the exps to y and
//     rescaling them in a third sweep over y).
// Measured (4096 x 1024 float32, axis 0, 1 thread; instructions by callgrind,
// which runs the avx2 target; speed on the AVX-512 EPYC as last-axis time /
// axis-0 time, best of 9 calls, 5 alternating runs): the stats with
// per-column accumulators in L1 arrays, 16-row blocks, exps stored to y and
// a rescale sweep over y: 17.6 instr/element, 0.56x (avx512), 0.54x (avx2);
// this form: 5.6 instr/element (stats 3.2, write 2.5), 0.83x, 0.59x.  With
// medians under a load of ~10 on 2 cores: 0.46-0.52x (was 0.24x): the second
// read of x then misses the shared L3.  Earlier:
// register tiles of one 64-byte line per row visited a new 4 KiB page per
// row and ran at 28 ms (the last axis: ~2 ms).
#pragma once
#include <cstdint>
#include <cmath>

#include "simd/exp.h"
#include "simd/loops.h"
#include "softmax/row_kernels.h"

namespace sc {
namespace SC_NS {

template <class V>
struct ColTile {
  using T = typename V::T;
  static constexpr int64_t W = 4096 / int64_t(sizeof(T));  // columns per block
  static constexpr int64_t kRowBlock = 64;
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

// Column groups of cols_stats: G vectors of columns (64 floats on AVX-512)
// swept down a row block with their accumulators in registers.
constexpr int G = 4;

// f(g, v, wv) for every row i in [i0, i1) and every vector g < G of the
// column group starting at c0 (columns < w): v the x lanes (fill past w),
// wv the weight lanes or nullptr without weights.  Contiguous whole vectors
// without weights take the plain-load loop (the common case).
template <class V, class F>
inline void group_rows(const typename V::T* x, int64_t xn, int64_t xi, const typename V::T* b, int64_t bn, int64_t bi,
                       int64_t i0, int64_t i1, int64_t c0, int64_t w, typename V::T fill, F&& f) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  if (xi == 1 && !b && c0 + G * N <= w) {
    for (int64_t i = i0; i < i1; ++i)
      for (int g = 0; g < G; ++g) f(g, V::load(x + i * xn + c0 + g * N), static_cast<const V*>(nullptr));
    return;
  }
  for (int64_t i = i0; i < i1; ++i)
    for (int g = 0; g < G && c0 + g * N < w; ++g) {
      const int64_t c = c0 + g * N;
      const V v = load_lanes<V>(x + i * xn + c * xi, xi, w - c, fill);
      if (!b) {
        f(g, v, static_cast<const V*>(nullptr));
        continue;
      }
      const V wv = load_lanes<V>(b + i * bn + c * bi, bi, w - c, T(0));
      f(g, v, &wv);
    }
}

// blk[c] = sum over rows [i0, i1) of exp((x - m) * it) (times the weight b),
// per column c < w.
template <class V, bool kScaled, int kMode>
void cols_block_sums(const typename V::T* x, int64_t xn, int64_t xi, const typename V::T* b, int64_t bn, int64_t bi,
                     int64_t i0, int64_t i1, int64_t w, V vit, V vlo, const typename V::T* m, typename V::T* blk) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  const V ninf = V::set1(-INFINITY), zero = V::zero();
  for (int64_t c0 = 0; c0 < w; c0 += G * N) {
    V mv[G], acc[G];
    for (int g = 0; g < G; ++g) {
      const int64_t c = c0 + g * N;
      // A column whose rows so far are all -inf (or weighted out) shifts by
      // 0, as the row kernels do: e^(-inf - 0) = 0, not e^(-inf + inf) = NaN.
      mv[g] = c < w ? load_lanes<V>(m + c, 1, w - c, T(0)) : zero;
      mv[g] = select(eq(mv[g], ninf), zero, mv[g]);
      acc[g] = zero;
    }
    group_rows<V>(x, xn, xi, b, bn, bi, i0, i1, c0, w, T(0), [&](int g, V v, const V* wv) {
      V e = exp_minus_max<V, kScaled, kMode>(v, mv[g], vit, vlo);
      if (wv) e = select(eq(*wv, zero), zero, *wv * e);
      acc[g] = acc[g] + e;
    });
    for (int g = 0; g < G && c0 + g * N < w; ++g) store_lanes<V>(blk + c0 + g * N, 1, w - c0 - g * N, acc[g]);
  }
}

// Per-column max and sum of exp((x - max) * it) over n rows of a block of
// w <= W columns, online (see the top of the file).  Optional weights b
// (b == 0 removes the element; the sum is then of b * exp).  Outputs m[w]
// (the max; NaN-free only if the column is) and s[w] relative to m; returns
// whether (max - min) * it < kFastRange (core/exp_mode.h) over the whole block (the fast exp form).
template <class V, bool kScaled>
bool cols_stats(const typename V::T* x, int64_t xn, int64_t xi, const typename V::T* b, int64_t bn, int64_t bi,
                int64_t n, int64_t w, typename V::T it, typename V::T it_lo, typename V::T* m, double* s) {
  SC_ASSERT(n >= 1 && w >= 1 && w <= ColTile<V>::W);
  using T = typename V::T;
  constexpr int64_t N = V::N, R = ColTile<V>::kRowBlock;
  const V ninf = V::set1(-INFINITY), zero = V::zero(), vit = V::set1(it), vlo = V::set1(it_lo);
  T bm[ColTile<V>::W], bmin[ColTile<V>::W], blk[ColTile<V>::W];
  T lo_all = T(INFINITY);  // running min over the whole block of columns
  for (int64_t c = 0; c < w; ++c) {
    m[c] = T(-INFINITY);
    s[c] = 0.0;
  }
  const V pinf = V::set1(INFINITY);
  for (int64_t i0 = 0; i0 < n; i0 += R) {
    const int64_t i1 = n - i0 < R ? n : i0 + R;
    // Block max and min per column: G vectors of columns at a time, down the
    // block's rows, in registers (lanes past w hold junk and are not stored).
    for (int64_t c0 = 0; c0 < w; c0 += G * N) {
      V mx[G], mn[G];
      for (int g = 0; g < G; ++g) mx[g] = ninf, mn[g] = pinf;
      group_rows<V>(x, xn, xi, b, bn, bi, i0, i1, c0, w, T(-INFINITY), [&](int g, V v, const V* wv) {
        if (wv) v = select(eq(*wv, zero), ninf, v);
        mx[g] = max(mx[g], v);
        mn[g] = min(mn[g], v);
      });
      for (int g = 0; g < G && c0 + g * N < w; ++g) {
        store_lanes<V>(bm + c0 + g * N, 1, w - c0 - g * N, mx[g]);
        store_lanes<V>(bmin + c0 + g * N, 1, w - c0 - g * N, mn[g]);
      }
    }
    // New running max; rescale the sums where it rose (rare after a few blocks).
    bool finite_all = true;
    T hi_all = T(-INFINITY);
    for (int64_t c = 0; c < w; ++c) {
      const T mn = bm[c] > m[c] ? bm[c] : m[c];
      if (mn > m[c] && s[c] != 0.0) s[c] *= std::exp((double(m[c]) - double(mn)) * double(it));
      m[c] = mn;  // a NaN reaches the sum through exp, not through the max
      finite_all &= std::isfinite(m[c]);
      hi_all = m[c] > hi_all ? m[c] : hi_all;
      lo_all = bmin[c] < lo_all ? bmin[c] : lo_all;
      blk[c] = T(0);
    }
    // The fast argument form when every column's range so far is small
    // (simd/exp.h, ExpMode; the same threshold as the row kernels).
    const bool fast = finite_all && fast_range(double(hi_all), double(lo_all), double(it));
    const int mode = fast ? kFast : finite_all ? kCompensated : kGeneral;
    if (mode == kFast) cols_block_sums<V, kScaled, kFastUnchecked>(x, xn, xi, b, bn, bi, i0, i1, w, vit, vlo, m, blk);
    else if (mode == kCompensated)
      cols_block_sums<V, kScaled, kCompensated>(x, xn, xi, b, bn, bi, i0, i1, w, vit, vlo, m, blk);
    else cols_block_sums<V, kScaled, kGeneral>(x, xn, xi, b, bn, bi, i0, i1, w, vit, vlo, m, blk);
    for (int64_t c = 0; c < w; ++c) s[c] += double(blk[c]);
  }
  // Whether the write pass may use the fast argument form.
  T hi_all = T(-INFINITY);
  for (int64_t c = 0; c < w; ++c) hi_all = m[c] > hi_all ? m[c] : hi_all;
  return fast_range(double(hi_all), double(lo_all), double(it));
}

// y = exp((x - m) * it) * coef over contiguous rows (xi = yi = 1), row by
// row, tails masked (simd/loops.h); m and coef are re-read from L1.
template <class V, bool kScaled, int kMode>
void cols_write_exp(const typename V::T* x, int64_t xn, typename V::T* y, int64_t yn, int64_t n, int64_t w,
                    const typename V::T* m, const typename V::T* coef, V vit, V vlo) {
  using T = typename V::T;
  for (int64_t i = 0; i < n; ++i) {
    const T* xr = x + i * xn;
    T* yr = y + i * yn;
    vector_loop<V, 2>(0, w, [&](int64_t c, int, auto part) {
      const V e = exp_minus_max<V, kScaled, kMode>(load<V>(xr + c, part, T(0)), load<V>(m + c, part, T(0)), vit, vlo);
      store(yr + c, part, e * load<V>(coef + c, part, T(0)));
    });
  }
}

// y = exp((x - m) * it) * coef  (softmax)  or  (x - m) * it - coef  (log).
template <class V, bool kScaled>
void cols_write(const typename V::T* x, int64_t xn, int64_t xi, typename V::T* y, int64_t yn, int64_t yi, int64_t n,
                int64_t w, const typename V::T* m, const typename V::T* coef, typename V::T it, typename V::T it_lo,
                bool log_mode, bool fast) {
  SC_ASSERT(n >= 1 && w >= 1 && w <= ColTile<V>::W);
  using T = typename V::T;
  constexpr int64_t N = V::N;
  const V vit = V::set1(it), vlo = V::set1(it_lo);
  bool finite_all = true;
  for (int64_t c = 0; c < w; ++c) finite_all &= std::isfinite(m[c]);
  if (xi == 1 && yi == 1 && !log_mode && finite_all) {  // the common case: contiguous rows of the block
    if (fast) cols_write_exp<V, kScaled, kFastUnchecked>(x, xn, y, yn, n, w, m, coef, vit, vlo);
    else cols_write_exp<V, kScaled, kCompensated>(x, xn, y, yn, n, w, m, coef, vit, vlo);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const T* xr = x + i * xn;
    T* yr = y + i * yn;
    for (int64_t c = 0; c < w; c += N) {
      V xv = load_lanes<V>(xr + c * xi, xi, w - c, T(0)), mv = load_lanes<V>(m + c, 1, w - c, T(0));
      V k = load_lanes<V>(coef + c, 1, w - c, T(0));
      V r;
      if (log_mode) r = log_softmax_value(xv, mv, vit, mv * vit, V::zero() - k);
      else if (fast && finite_all) r = exp_minus_max<V, kScaled, kFastUnchecked>(xv, mv, vit, vlo) * k;
      else if (finite_all) r = exp_minus_max<V, kScaled, kCompensated>(xv, mv, vit, vlo) * k;
      else r = exp_minus_max<V, kScaled, kGeneral>(xv, mv, vit, vlo) * k;
      store_lanes<V>(yr + c * yi, yi, w - c, r);
    }
  }
}

}  // namespace SC_NS
}  // namespace sc
