// The softmax family over any (outer..., n, inner) view: shapes, strides,
// threads and the choice of algorithm.  The arithmetic is in the target's
// kernels (kernels/vec_ops.h, kernels/cols.h); this file is ISA-free.
//
// Algorithms (DESIGN.md, "Algorithms"):
//  * rows that stay in cache (n*sizeof(T) <= kCachedRowBytes, contiguous):
//    max -> exp, store, sum -> scale.  One exp per element.
//  * longer rows: fixed chunks of kChunk elements; per chunk (max, sum of
//    exp) with the chunk in cache; the chunk stats of a row are merged by the
//    log-sum-exp rule in chunk order; then one pass y = exp(x - M) / S.  The
//    chunks of one row run on different threads, and since the chunking does
//    not depend on the thread count, neither do the results.
//  * strided rows (n stride != 1): each chunk (or the whole row when it fits
//    one chunk) is packed into a per-thread scratch buffer first.
//  * inner > 1: tiles of one cache line of columns, reduced along n
//    (kernels/cols.h); no transpose.
//  * a row whose n stride is 0 (broadcast) is constant: closed form.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "kernel_table.h"
#include "softmax_c/softmax_c.h"
#include "thread_pool.h"

namespace sc {
namespace {

constexpr int64_t kChunk = 16384;              // elements per chunk of a long row
constexpr int64_t kCachedRowBytes = 1 << 20;    // one-exp 3-pass up to here (x + y ~ L2)
constexpr int64_t kStreamBytes = 16 << 20;     // outputs above this bypass the cache

// Per-thread scratch of n elements in slot 0 or 1 (thread_pool.h).
template <class T>
T* scratch(int slot, int64_t n) {
  return static_cast<T*>(thread_scratch(slot, size_t(n) * sizeof(T) + 64));
}

template <class T>
void pack(const T* x, int64_t s, int64_t n, T* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = x[i * s];
}
template <class T>
void unpack(const T* src, int64_t n, T* y, int64_t s) {
  for (int64_t i = 0; i < n; ++i) y[i * s] = src[i];
}

bool finite(double v) { return std::isfinite(v); }

// Element offsets of outer item r (C order over outer_shape).
struct Offsets {
  int64_t x = 0, y = 0, b = 0;
};
Offsets outer_offsets(const sc_view& v, int64_t r) {
  Offsets o;
  for (int d = v.outer_ndim - 1; d >= 0; --d) {
    const int64_t len = v.outer_shape[d];
    const int64_t i = r % len;
    r /= len;
    o.x += i * v.x_outer[d];
    o.y += i * v.y_outer[d];
    o.b += i * v.b_outer[d];
  }
  return o;
}

int64_t outer_count(const sc_view& v) {
  int64_t c = 1;
  for (int d = 0; d < v.outer_ndim; ++d) c *= v.outer_shape[d];
  return c;
}

// 1/T split in two parts: it + it_lo = 1/T to about twice T's precision.
template <class T>
void inverse_temperature(double temperature, T* it, T* it_lo) {
  *it = T(1.0 / temperature);
  // residual of the rounded reciprocal, computed in long double
  long double r = (1.0L - (long double)temperature * (long double)*it) / (long double)temperature;
  *it_lo = T(r);
}

// ---------------------------------------------------------------- softmax --

template <class T>
struct SoftmaxJob {
  const ReduceKernels<T>* k;
  const T* x;
  T* y;
  const sc_view* v;
  T it, it_lo;
  int scaled;
  bool log_mode;
  bool nt;
  bool failed = false;
  // long rows
  int64_t chunks_per_row = 0;
  std::vector<T> cmax, cmin;
  std::vector<double> csum;     // relative to the chunk shift
  std::vector<T> row_m, row_c;  // per row: shift and coefficient of pass 2
  std::vector<int> row_mode;
};

template <class T>
T shift_of(T m) {
  return finite(m) ? m : T(0);
}

// The exp variant for a row with max m, min mn, inverse temperature it
// (simd/exp.h, ExpMode).
template <class T>
int choose_mode(T m, T mn, T it) {
  if (!finite(m)) return 2;                                 // kGeneral
  return (double(m) - double(mn)) * double(it) < 16.0 ? 0  // kFast
                                                       : 1;  // kCompensated
}

// A row that fits in cache: x, y contiguous (or packed).
template <class T>
void softmax_row_cached(const SoftmaxJob<T>& j, const T* x, T* y, int64_t n, T* e_scratch, const T* pf) {
  const ReduceKernels<T>& k = *j.k;
  T m, mn;
  k.minmax(x, n, &m, &mn);
  const int mode = choose_mode(m, mn, j.it);
  if (!j.log_mode) {
    T* e = e_scratch ? e_scratch : y;
    const double s = k.sum_exp[mode][j.scaled](x, e, n, m, j.it, j.it_lo, pf);
    k.scale(e, y, n, T(1.0 / s), e_scratch != nullptr);
  } else {
    const T sh = shift_of(m);
    const double s = k.sum_exp[mode][j.scaled](x, nullptr, n, sh, j.it, j.it_lo, pf);
    k.affine(x, y, n, sh, j.it, T(std::log(s)));
  }
}

// Constant row (n stride 0): every element is c.
template <class T>
void softmax_row_constant(const SoftmaxJob<T>& j, T c, T* y, int64_t ys, int64_t n) {
  const double d = double(c) - double(c);  // NaN for inf/NaN c, else 0
  const double val = j.log_mode ? (finite(c) ? -std::log(double(n)) : NAN) : (d == 0 ? 1.0 / double(n) : NAN);
  for (int64_t i = 0; i < n; ++i) y[i * ys] = T(val);
}

template <class T>
void softmax_rows_task(SoftmaxJob<T>& j, int64_t r0, int64_t r1) {
  const sc_view& v = *j.v;
  const int64_t n = v.n;
  const bool contiguous = v.x_n == 1 && v.y_n == 1;
  T* pk = nullptr;
  T* es = nullptr;
  if (!contiguous) {
    pk = scratch<T>(0, n);
    if (!pk) { j.failed = true; return; }
  } else if (j.nt && !j.log_mode) {
    es = scratch<T>(1, n);
    if (!es) { j.failed = true; return; }
  }
  for (int64_t r = r0; r < r1; ++r) {
    const Offsets o = outer_offsets(v, r);
    const T* x = j.x + o.x;
    T* y = j.y + o.y;
    if (v.x_n == 0) {
      softmax_row_constant(j, *x, y, v.y_n, n);
    } else if (contiguous) {
      // Out of cache: fetch the next row while this one computes.
      const T* pf = j.nt && r + 1 < r1 ? j.x + outer_offsets(v, r + 1).x : nullptr;
      softmax_row_cached(j, x, y, n, es, pf);
    } else {
      pack(x, v.x_n, n, pk);
      softmax_row_cached<T>(j, pk, pk, n, nullptr, nullptr);
      unpack(pk, n, y, v.y_n);
    }
  }
}

// Long rows, phase 1: per (row, chunk) max and sum relative to the chunk shift.
template <class T>
void softmax_chunk_stats(SoftmaxJob<T>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  const bool contiguous = v.x_n == 1;
  T* pk = contiguous ? nullptr : scratch<T>(0, kChunk);
  if (!contiguous && !pk) { j.failed = true; return; }
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t r = i / j.chunks_per_row, c = i % j.chunks_per_row;
    const int64_t b = c * kChunk, len = v.n - b < kChunk ? v.n - b : kChunk;
    const T* x = j.x + outer_offsets(v, r).x + b * v.x_n;
    if (!contiguous) { pack(x, v.x_n, len, pk); x = pk; }
    T m, mn;
    j.k->minmax(x, len, &m, &mn);
    j.cmax[i] = m;
    j.cmin[i] = mn;
    j.csum[i] = j.k->sum_exp[choose_mode(m, mn, j.it)][j.scaled](x, nullptr, len, shift_of(m), j.it, j.it_lo,
                                                                 nullptr);
  }
}

// Merge of chunk stats (chunk order, so independent of the thread count).
template <class T>
void softmax_merge_row(SoftmaxJob<T>& j, int64_t r) {
  const int64_t c0 = r * j.chunks_per_row;
  T M = -INFINITY, MN = INFINITY;
  bool nan = false;
  for (int64_t c = 0; c < j.chunks_per_row; ++c) {
    const T m = j.cmax[c0 + c];
    nan |= std::isnan(m);
    M = m > M ? m : M;
    MN = j.cmin[c0 + c] < MN ? j.cmin[c0 + c] : MN;
  }
  j.row_mode[r] = choose_mode(M, MN, j.it);
  const T sh = shift_of(M);
  double S = 0.0;
  for (int64_t c = 0; c < j.chunks_per_row; ++c) {
    const double s = j.csum[c0 + c];
    if (s == 0.0) continue;  // an all -inf chunk adds nothing
    S += s * std::exp((double(shift_of(j.cmax[c0 + c])) - double(sh)) * double(j.it));
  }
  if (nan) S = NAN;
  if (!j.log_mode) {
    // scipy: exp(x - max) / sum; a non-finite max gives NaN everywhere.
    j.row_m[r] = finite(M) ? M : T(NAN);
    j.row_c[r] = T(1.0 / S);
  } else {
    j.row_m[r] = sh;
    j.row_c[r] = T(std::log(S));
  }
}

template <class T>
void softmax_chunk_write(SoftmaxJob<T>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  const bool contiguous = v.x_n == 1 && v.y_n == 1;
  T* pk = contiguous ? nullptr : scratch<T>(0, kChunk);
  if (!contiguous && !pk) { j.failed = true; return; }
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t r = i / j.chunks_per_row, c = i % j.chunks_per_row;
    const int64_t b = c * kChunk, len = v.n - b < kChunk ? v.n - b : kChunk;
    const Offsets o = outer_offsets(v, r);
    const T* x = j.x + o.x + b * v.x_n;
    T* y = j.y + o.y + b * v.y_n;
    T* dst = y;
    if (!contiguous) { pack(x, v.x_n, len, pk); x = pk; dst = pk; }
    if (j.log_mode) j.k->affine(x, dst, len, j.row_m[r], j.it, j.row_c[r]);
    else j.k->exp_scale[j.row_mode[r]][j.scaled](x, dst, len, j.row_m[r], j.it, j.it_lo, j.row_c[r]);
    if (!contiguous) unpack(pk, len, y, v.y_n);
  }
}

// A column whose max is not finite, in scipy's arithmetic: the sum of
// b*exp(x) with no shift (scalar; only for such columns).
template <class T>
double column_plain_sum(const T* x, int64_t xn, const T* b, int64_t bn, int64_t n, double it) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double w = b ? double(b[i * bn]) : 1.0;
    if (w != 0.0) s += w * std::exp(double(x[i * xn]) * it);
  }
  return s;
}

// inner > 1: blocks of columns (kernels/cols.h).  Softmax stores the exps in
// the stats sweep and rescales them per row block (one exp per element);
// log_softmax writes (x - m) * it - log(s) in a second sweep over x.
template <class T>
void softmax_cols_task(SoftmaxJob<T>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  const ReduceKernels<T>& k = *j.k;
  const int64_t W = k.col_tile, tiles = (v.inner + W - 1) / W;
  T m[1024], coef[1024];
  double s[1024];
  T* mblk = nullptr;
  if (!j.log_mode) {
    const int64_t blocks = (v.n + 15) / 16;  // ColTile::kRowBlock
    mblk = scratch<T>(1, blocks * W);
    if (!mblk) { j.failed = true; return; }
  }
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t r = i / tiles, t = i % tiles;
    const int64_t c0 = t * W, w = v.inner - c0 < W ? v.inner - c0 : W;
    const Offsets o = outer_offsets(v, r);
    const T* x = j.x + o.x + c0 * v.x_inner;
    T* y = j.y + o.y + c0 * v.y_inner;
    if (!j.log_mode) {
      k.cols_stats[j.scaled](x, v.x_n, v.x_inner, nullptr, 0, 0, v.n, w, j.it, j.it_lo, m, s, y, v.y_n, v.y_inner,
                             mblk);
      for (int64_t c = 0; c < w; ++c) coef[c] = T(1.0 / s[c]);
      k.cols_rescale[j.scaled](y, v.y_n, v.y_inner, v.n, w, mblk, m, coef, j.it, j.it_lo);
      continue;
    }
    const bool fast = k.cols_stats[j.scaled](x, v.x_n, v.x_inner, nullptr, 0, 0, v.n, w, j.it, j.it_lo, m, s,
                                             nullptr, 0, 0, nullptr);
    for (int64_t c = 0; c < w; ++c) {
      if (finite(m[c])) {
        coef[c] = T(std::log(s[c]));
      } else {  // scipy shifts by 0 here
        coef[c] = T(std::log(column_plain_sum(x + c * v.x_inner, v.x_n, (const T*)nullptr, 0, v.n, j.it)));
        m[c] = T(0);
      }
    }
    k.cols_write[j.scaled](x, v.x_n, v.x_inner, y, v.y_n, v.y_inner, v.n, w, m, coef, j.it, j.it_lo, j.log_mode,
                           fast);
  }
}

template <class T>
int softmax_impl(const ReduceKernels<T>& k, const T* x, T* y, const sc_view& v, double temperature, bool log_mode) {
  const int64_t rows = outer_count(v);
  if (rows == 0 || v.n == 0 || v.inner == 0) return SC_OK;
  SoftmaxJob<T> j;
  j.k = &k;
  j.x = x;
  j.y = y;
  j.v = &v;
  j.log_mode = log_mode;
  j.scaled = temperature != 1.0;
  inverse_temperature<T>(temperature, &j.it, &j.it_lo);
  const int64_t total = rows * v.n * v.inner;
  j.nt = total * int64_t(sizeof(T)) > kStreamBytes && reinterpret_cast<uintptr_t>(y) % sizeof(T) == 0;

  if (v.inner > 1) {
    const int64_t W = k.col_tile, items = rows * ((v.inner + W - 1) / W);
    auto f = [&](int64_t b, int64_t e) { softmax_cols_task(j, b, e); };
    parallel_for(items, grain_for(v.n * W), f);
    return SC_OK;
  }
  const bool cached = v.x_n == 0 || (v.x_n == 1 && v.y_n == 1 ? v.n * int64_t(sizeof(T)) <= kCachedRowBytes
                                                               : v.n <= kChunk);
  if (cached) {
    auto f = [&](int64_t b, int64_t e) { softmax_rows_task(j, b, e); };
    parallel_for(rows, grain_for(v.n), f);
  } else {
    j.chunks_per_row = (v.n + kChunk - 1) / kChunk;
    const int64_t items = rows * j.chunks_per_row;
    j.cmax.resize(size_t(items));
    j.cmin.resize(size_t(items));
    j.row_mode.resize(size_t(rows));
    j.csum.resize(size_t(items));
    j.row_m.resize(size_t(rows));
    j.row_c.resize(size_t(rows));
    auto f1 = [&](int64_t b, int64_t e) { softmax_chunk_stats(j, b, e); };
    parallel_for(items, grain_for(kChunk), f1);
    if (j.failed) return SC_ENOMEM;
    for (int64_t r = 0; r < rows; ++r) softmax_merge_row(j, r);
    auto f2 = [&](int64_t b, int64_t e) { softmax_chunk_write(j, b, e); };
    parallel_for(items, grain_for(kChunk), f2);
  }
  return j.failed ? SC_ENOMEM : SC_OK;
}

// -------------------------------------------------------------- logsumexp --

template <class T>
struct LseJob {
  const ReduceKernels<T>* k;
  const T* x;
  const T* b;
  T* out;
  T* sign;
  const sc_view* v;
  bool failed = false;
};

// out = shift + log|S|, sign = sign(S); without sign a negative S is NaN.
template <class T>
void lse_finish(T M, double S, T* out, T* sign) {
  const double sh = finite(M) ? double(M) : 0.0;
  const double l = sh + std::log(std::fabs(S));
  const double sg = std::isnan(S) ? S : (S > 0) - (S < 0);
  if (sign) {
    *out = T(l);
    *sign = T(sg);
  } else {
    *out = T(sg < 0 ? NAN : l);
  }
}

// One row in chunks: per chunk (max, sum relative to its shift), merged.
template <class T>
void lse_row(LseJob<T>& j, const T* x, const T* b, int64_t n, T* out, T* sign, T* px, T* pb) {
  const sc_view& v = *j.v;
  const ReduceKernels<T>& k = *j.k;
  const bool xc = v.x_n == 1, bc = !b || v.b_n == 1;
  T M = -INFINITY;
  bool nan = false;
  double S = 0.0;
  // Two passes over each chunk (max, then sum); the running (M, S) is
  // rescaled when a later chunk raises the max.
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int64_t len = n - c0 < kChunk ? n - c0 : kChunk;
    const T* xc_ = x + c0 * v.x_n;
    const T* bc_ = b ? b + c0 * v.b_n : nullptr;
    if (!xc) { pack(xc_, v.x_n, len, px); xc_ = px; }
    if (b && !bc) { pack(bc_, v.b_n, len, pb); bc_ = pb; }
    T m, mn;
    if (bc_) m = k.max_where(xc_, bc_, len);
    else k.minmax(xc_, len, &m, &mn);
    nan |= std::isnan(m);
    const T sh = shift_of(m);
    const double s = bc_ ? k.sum_exp_weighted(xc_, bc_, len, sh)
                         : k.sum_exp[choose_mode(m, mn, T(1))][0](xc_, nullptr, len, sh, T(1), T(0), nullptr);
    const T newM = m > M ? m : M;
    const double nsh = double(shift_of(newM));
    if (S != 0.0) S *= std::exp(double(shift_of(M)) - nsh);
    if (s != 0.0) S += s * std::exp(double(sh) - nsh);
    M = newM;
  }
  if (nan) S = NAN;
  lse_finish(M, S, out, sign);
}

template <class T>
void lse_rows_task(LseJob<T>& j, int64_t r0, int64_t r1) {
  const sc_view& v = *j.v;
  T* px = nullptr;
  T* pb = nullptr;
  if (v.x_n != 1) px = scratch<T>(0, v.n < kChunk ? v.n : kChunk);
  if (j.b && v.b_n != 1) pb = scratch<T>(1, v.n < kChunk ? v.n : kChunk);
  if ((v.x_n != 1 && !px) || (j.b && v.b_n != 1 && !pb)) { j.failed = true; return; }
  for (int64_t r = r0; r < r1; ++r) {
    const Offsets o = outer_offsets(v, r);
    T* sign = j.sign ? j.sign + o.y : nullptr;
    if (v.x_n == 0 && (!j.b || v.b_n == 0)) {  // constant row: closed form
      const T c = j.x[o.x];
      const double w = j.b ? double(j.b[o.b]) : 1.0;
      if (w == 0.0) { lse_finish<T>(-INFINITY, 0.0, j.out + o.y, sign); continue; }
      const double S = w * double(v.n) * std::exp(double(c) - double(shift_of(c)));
      lse_finish<T>(c, std::isnan(c) ? NAN : S, j.out + o.y, sign);
      continue;
    }
    lse_row(j, j.x + o.x, j.b ? j.b + o.b : nullptr, v.n, j.out + o.y, sign, px, pb);
  }
}

template <class T>
void lse_cols_task(LseJob<T>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  const ReduceKernels<T>& k = *j.k;
  const int64_t W = k.col_tile, tiles = (v.inner + W - 1) / W;
  T m[1024];
  double s[1024];
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t r = i / tiles, t = i % tiles;
    const int64_t c0 = t * W, w = v.inner - c0 < W ? v.inner - c0 : W;
    const Offsets o = outer_offsets(v, r);
    const T* x = j.x + o.x + c0 * v.x_inner;
    const T* b = j.b ? j.b + o.b + c0 * v.b_inner : nullptr;
    k.cols_stats[0](x, v.x_n, v.x_inner, b, v.b_n, v.b_inner, v.n, w, T(1), T(0), m, s, nullptr, 0, 0, nullptr);
    for (int64_t c = 0; c < w; ++c) {
      const int64_t yo = o.y + (c0 + c) * v.y_inner;
      if (!finite(m[c]))
        s[c] = column_plain_sum(x + c * v.x_inner, v.x_n, b ? b + c * v.b_inner : nullptr, v.b_n, v.n, 1.0);
      lse_finish(m[c], s[c], j.out + yo, j.sign ? j.sign + yo : nullptr);
    }
  }
}

template <class T>
int lse_impl(const ReduceKernels<T>& k, const T* x, const T* b, T* out, T* sign, const sc_view& v) {
  const int64_t rows = outer_count(v);
  if (rows == 0 || v.inner == 0) return SC_OK;
  LseJob<T> j;
  j.k = &k;
  j.x = x;
  j.b = b;
  j.out = out;
  j.sign = sign;
  j.v = &v;
  if (v.n == 0) {  // empty sum: -inf (scipy), sign 0
    for (int64_t r = 0; r < rows; ++r) {
      const Offsets o = outer_offsets(v, r);
      for (int64_t c = 0; c < v.inner; ++c) {
        T* sp = sign ? sign + o.y + c * v.y_inner : nullptr;
        lse_finish<T>(-INFINITY, 0.0, out + o.y + c * v.y_inner, sp);
      }
    }
    return SC_OK;
  }
  if (v.inner > 1) {
    const int64_t W = k.col_tile, items = rows * ((v.inner + W - 1) / W);
    auto f = [&](int64_t b0, int64_t e0) { lse_cols_task(j, b0, e0); };
    parallel_for(items, grain_for(v.n * W), f);
  } else {
    auto f = [&](int64_t b0, int64_t e0) { lse_rows_task(j, b0, e0); };
    parallel_for(rows, grain_for(v.n), f);
  }
  return j.failed ? SC_ENOMEM : SC_OK;
}

bool view_ok(const sc_view* v) {
  if (!v || v->n < 0 || v->inner < 0 || v->outer_ndim < 0 || v->outer_ndim > SC_MAX_OUTER) return false;
  for (int d = 0; d < v->outer_ndim; ++d)
    if (v->outer_shape[d] < 0) return false;
  return true;
}

}  // namespace
}  // namespace sc

extern "C" {

int sc_softmax(int dtype, const void* x, void* y, const sc_view* v, double temperature, int log_mode) {
  if (!sc::view_ok(v) || !(temperature > 0) || !std::isfinite(temperature)) return SC_EINVAL;
  const sc::KernelTable* t = sc::active();
  try {  // the long-row stats vectors may throw bad_alloc: never past the C ABI
    if (dtype == SC_F32)
      return sc::softmax_impl<float>(t->f32, static_cast<const float*>(x), static_cast<float*>(y), *v, temperature,
                                     log_mode != 0);
    if (dtype == SC_F64)
      return sc::softmax_impl<double>(t->f64, static_cast<const double*>(x), static_cast<double*>(y), *v,
                                      temperature, log_mode != 0);
  } catch (...) {
    return SC_ENOMEM;
  }
  return SC_EINVAL;
}

int sc_logsumexp(int dtype, const void* x, const void* b, void* out, void* sign, const sc_view* v) {
  if (!sc::view_ok(v)) return SC_EINVAL;
  const sc::KernelTable* t = sc::active();
  try {
    if (dtype == SC_F32)
      return sc::lse_impl<float>(t->f32, static_cast<const float*>(x), static_cast<const float*>(b),
                                 static_cast<float*>(out), static_cast<float*>(sign), *v);
    if (dtype == SC_F64)
      return sc::lse_impl<double>(t->f64, static_cast<const double*>(x), static_cast<const double*>(b),
                                  static_cast<double*>(out), static_cast<double*>(sign), *v);
  } catch (...) {
    return SC_ENOMEM;
  }
  return SC_EINVAL;
}

int sc_exp(int dtype, const void* x, void* y, int64_t n) {
  if (n < 0) return SC_EINVAL;
  const sc::KernelTable* t = sc::active();
  if (dtype == SC_F32) t->f32.exp(static_cast<const float*>(x), static_cast<float*>(y), n);
  else if (dtype == SC_F64) t->f64.exp(static_cast<const double*>(x), static_cast<double*>(y), n);
  else return SC_EINVAL;
  return SC_OK;
}

double sc_fma_peak_gflops(int threads, double seconds) {
  const sc::KernelTable* t = sc::active();
  if (threads <= 1) return t->fma_peak_gflops(seconds);
  std::vector<double> r(size_t(threads), 0.0);
  struct Ctx { const sc::KernelTable* t; double s; double* r; } ctx{t, seconds, r.data()};
  // one item per thread; run concurrently on the pool (this is a benchmark)
  const int saved = sc::num_threads();
  sc::set_num_threads(threads);
  sc::parallel_for(threads, 1, [](void* c, int64_t b, int64_t e) {
    Ctx* k = static_cast<Ctx*>(c);
    for (int64_t i = b; i < e; ++i) k->r[i] = k->t->fma_peak_gflops(k->s);
  }, &ctx);
  sc::set_num_threads(saved);
  double sum = 0;
  for (double g : r) sum += g;
  return sum;
}

}  // extern "C"
