// Reductions along a strided axis, vectorised across the columns: the
// (outer, n, inner > 1) case, e.g. axis 0 of a C-contiguous matrix.  No
// transpose copy.  Two sweeps over a block of up to kColTile columns (4 KiB
// of each row), row by row, so memory is read as whole contiguous rows:
//  1. online statistics: per block of kRowBlock rows, the block max per
//     column, then the running (max, sum) of each column is rescaled where
//     the max rose and the block's exps are added (one exp per element, the
//     block re-read from L1/L2);
//  2. y = exp((x - max) * it) / sum   or   (x - max) * it - log(sum).
// Measured alternatives (4096 x 1024 float32, axis 0): register tiles of one
// 64-byte line per row visited a new 4 KiB page per row and ran at 28 ms;
// three sweeps of 1 KiB per row (max; exp, store, sum; scale) at 22 ms, bound
// by page-crossing misses; the last axis of the same data takes ~2 ms.
#pragma once
#include <cstdint>
#include <cmath>

#include "simd/exp.h"
#include "softmax/row_kernels.h"

namespace sc {
namespace SC_NS {

template <class V>
struct ColTile {
  using T = typename V::T;
  static constexpr int64_t W = 4096 / int64_t(sizeof(T));  // columns per block
  static constexpr int64_t kRowBlock = 16;
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

// Per-column max and sum of exp((x - max) * it) over n rows of a block of
// w <= W columns, online (see the top of the file).  Optional weights b
// (b == 0 removes the element; the sum is then of b * exp).  Outputs m[w]
// (the max; NaN-free only if the column is) and s[w] relative to m; returns
// whether (max - min) * it < kFastRange (core/exp_mode.h) over the whole block (the fast exp form).
//
// With y (softmax), the exps are also stored to y, relative to the running
// max of their row block, and that max is recorded in mblk (one row of w per
// block); cols_rescale then turns them into probabilities without a second
// exp per element.  x may be y (in place): a block is read before written.
template <class V, bool kScaled>
bool cols_stats(const typename V::T* x, int64_t xn, int64_t xi, const typename V::T* b, int64_t bn, int64_t bi,
                int64_t n, int64_t w, typename V::T it, typename V::T it_lo, typename V::T* m, double* s,
                typename V::T* y, int64_t yn, int64_t yi, typename V::T* mblk) {
  SC_ASSERT(n >= 1 && w >= 1 && w <= ColTile<V>::W && (!y || mblk));
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
    for (int64_t c = 0; c < w; c += N) {
      store_lanes<V>(bm + c, 1, w - c, ninf);
      store_lanes<V>(bmin + c, 1, w - c, pinf);
    }
    for (int64_t i = i0; i < i1; ++i) {
      const T* xr = x + i * xn;
      const T* br = b ? b + i * bn : nullptr;
      for (int64_t c = 0; c < w; c += N) {
        V v = load_lanes<V>(xr + c * xi, xi, w - c, T(-INFINITY));
        if (br) v = select(eq(load_lanes<V>(br + c * bi, bi, w - c, T(0)), zero), ninf, v);
        store_lanes<V>(bm + c, 1, w - c, max(load_lanes<V>(bm + c, 1, w - c, T(-INFINITY)), v));
        store_lanes<V>(bmin + c, 1, w - c, min(load_lanes<V>(bmin + c, 1, w - c, T(INFINITY)), v));
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
    for (int64_t i = i0; i < i1; ++i) {
      const T* xr = x + i * xn;
      const T* br = b ? b + i * bn : nullptr;
      for (int64_t c = 0; c < w; c += N) {
        V xv = load_lanes<V>(xr + c * xi, xi, w - c, T(0)), mv = load_lanes<V>(m + c, 1, w - c, T(0));
        // A column whose rows so far are all -inf (or weighted out) shifts by
        // 0, as the row kernels do: e^(-inf - 0) = 0, not e^(-inf + inf) = NaN.
        mv = select(eq(mv, ninf), zero, mv);
        V e = fast         ? exp_minus_max<V, kScaled, kFast>(xv, mv, vit, vlo)
              : finite_all ? exp_minus_max<V, kScaled, kCompensated>(xv, mv, vit, vlo)
                           : exp_minus_max<V, kScaled, kGeneral>(xv, mv, vit, vlo);
        if (br) {
          V wv = load_lanes<V>(br + c * bi, bi, w - c, T(0));
          e = select(eq(wv, zero), zero, wv * e);
        }
        if (y) store_lanes<V>(y + i * yn + c * yi, yi, w - c, e);
        store_lanes<V>(blk + c, 1, w - c, load_lanes<V>(blk + c, 1, w - c, T(0)) + e);
      }
    }
    for (int64_t c = 0; c < w; ++c) s[c] += double(blk[c]);
    if (mblk) {
      for (int64_t c = 0; c < w; ++c) mblk[c] = m[c];
      mblk += w;
    }
  }
  // Whether the write pass may use the fast argument form.
  T hi_all = T(-INFINITY);
  for (int64_t c = 0; c < w; ++c) hi_all = m[c] > hi_all ? m[c] : hi_all;
  return fast_range(double(hi_all), double(lo_all), double(it));
}

// Softmax from the exps cols_stats stored: y *= exp((mblk - m) * it) * inv_s
// per row block and column (one exp per block and column, not per element).
// A column whose max is not finite is NaN (scipy's arithmetic); rows of a
// block whose running max was still -inf (all -inf so far) are 0.
template <class V, bool kScaled>
void cols_rescale(typename V::T* y, int64_t yn, int64_t yi, int64_t n, int64_t w, const typename V::T* mblk,
                  const typename V::T* m, const typename V::T* inv_s, typename V::T it, typename V::T it_lo) {
  SC_ASSERT(n >= 1 && w >= 1 && w <= ColTile<V>::W && mblk);
  using T = typename V::T;
  constexpr int64_t N = V::N, R = ColTile<V>::kRowBlock;
  const V vit = V::set1(it), vlo = V::set1(it_lo), ninf = V::set1(-INFINITY);
  T f[ColTile<V>::W];
  T mf[ColTile<V>::W];  // m where finite, else NaN: the column is NaN
  for (int64_t c = 0; c < w; ++c) mf[c] = std::isfinite(m[c]) ? m[c] : T(NAN);
  for (int64_t i0 = 0; i0 < n; i0 += R, mblk += w) {
    const int64_t i1 = n - i0 < R ? n : i0 + R;
    for (int64_t c = 0; c < w; c += N) {
      V mb = load_lanes<V>(mblk + c, 1, w - c, T(0)), mv = load_lanes<V>(mf + c, 1, w - c, T(0));
      V e = exp_minus_max<V, kScaled, kCompensated>(mb, mv, vit, vlo);
      e = zero_if(eq(mb, ninf), e);
      store_lanes<V>(f + c, 1, w - c, e * load_lanes<V>(inv_s + c, 1, w - c, T(0)));
    }
    for (int64_t i = i0; i < i1; ++i) {
      T* yr = y + i * yn;
      for (int64_t c = 0; c < w; c += N)
        store_lanes<V>(yr + c * yi, yi, w - c, load_lanes<V>(yr + c * yi, yi, w - c, T(0)) * load_lanes<V>(f + c, 1, w - c, T(0)));
    }
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
  for (int64_t i = 0; i < n; ++i) {
    const T* xr = x + i * xn;
    T* yr = y + i * yn;
    for (int64_t c = 0; c < w; c += N) {
      V xv = load_lanes<V>(xr + c * xi, xi, w - c, T(0)), mv = load_lanes<V>(m + c, 1, w - c, T(0));
      V k = load_lanes<V>(coef + c, 1, w - c, T(0));
      V r;
      if (log_mode) r = log_softmax_value(xv, mv, vit, mv * vit, V::zero() - k);
      else if (fast && finite_all) r = exp_minus_max<V, kScaled, kFast>(xv, mv, vit, vlo) * k;
      else if (finite_all) r = exp_minus_max<V, kScaled, kCompensated>(xv, mv, vit, vlo) * k;
      else r = exp_minus_max<V, kScaled, kGeneral>(xv, mv, vit, vlo) * k;
      store_lanes<V>(yr + c * yi, yi, w - c, r);
    }
  }
}

}  // namespace SC_NS
}  // namespace sc
