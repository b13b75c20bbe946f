// The softmax family over any (outer..., n, inner) view: shapes, strides,
// threads and the choice of algorithm.  The arithmetic is in the target's
// kernels (softmax/row_kernels.h, softmax/col_kernels.h); this file is ISA-free.
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
//  * inner > 1: blocks of 4 KiB of columns (ReduceKernels::col_tile), reduced
//    along n (softmax/col_kernels.h); no transpose.
//  * a row whose n stride is 0 (broadcast) is constant: closed form.
#include <array>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/driver.h"
#include "core/exp_mode.h"
#include "core/kernel_table.h"
#include "core/offsets.h"
#include "core/sc_assert.h"
#include "core/scratch.h"
#include "core/strided.h"
#include "softmax_c/softmax_c.h"

namespace sc {
namespace {

constexpr int64_t kChunk = 16384;              // elements per chunk of a long row
constexpr int64_t kCachedRowBytes = 1 << 20;    // one-exp 3-pass up to here (x + y ~ L2)
constexpr int64_t kStreamBytes = 16 << 20;     // outputs above this bypass the cache
// Inputs up to this size carry each row's max and min in the previous
// row's exp loop (RowStats); larger ones keep the minmax pass, since there
// the next row's demand loads (from L3 or memory) stalled the FMA-bound exp
// loop.  Measured (float32, AVX-512, AMD Zen 4, 1 thread, the builds before
// and after imported into one process and called in alternation): (128,
// 1000) 1.26-1.28x, (32, 32000) (3.9 MiB) 1.08-1.23x, (8, 128256)
// 1.21-1.29x, (1024, 1000) 1.06-1.12x, (4096, 256) 1.10-1.20x faster;
// carried at every size, (64, 32000) (7.8 MiB) was 0.96x, (1024, 2048)
// 0.83x, (2048, 1024) 0.80x, (512, 4096) 0.85x.  AVX2 target (same
// machine): 0.95-1.10x, 1.06-1.10x at (128, 1000) and (32, 32000); 2
// threads (32, 32000): 1.00x (the shared cache bounds it, see README).
constexpr int64_t kCarryBytes = 4 << 20;

bool finite(double v) { return std::isfinite(v); }

// The outer multi-index of a view -> offsets of x, y and b.
OuterOffsets<3> outer_of(const sc_view& v) {
  OuterOffsets<3> o;
  o.ndim = v.outer_ndim;
  o.shape = v.outer_shape;
  o.strides = {v.x_outer, v.y_outer, v.b_outer};
  return o;
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
  OuterOffsets<3> outer;
  T it, it_lo;
  int scaled;
  bool log_mode;
  bool nt;
  bool carry = false;  // RowStats over contiguous rows (kCarryBytes)
  // long rows
  int64_t chunks_per_row = 0;
  std::vector<T> cmax, cmin;
  std::vector<double> csum;     // relative to the chunk shift
  std::vector<T> row_m, row_c;  // per row: shift and coefficient of pass 2
  std::vector<ExpMode> row_mode;
};

template <class T>
T shift_of(T m) {
  return finite(m) ? m : T(0);
}

// Whether log_softmax_value of a row is (x - m) * it - L alone (the plain
// affine kernels): m and L finite, and no finite x - m overflows (m - min
// finite, or m <= 0 so that x <= m <= 0); x = -inf gives -inf by that
// formula too.  The general form's selects were ~2/3 of the pass (callgrind,
// AVX2, (32, 32000) float32: 18.5 -> 5.5 instructions per vector of 8).
template <class T>
bool plain_affine(T m, T mn, T L) {
  return finite(m) && finite(L) && (finite(T(m - mn)) || m <= T(0));
}

// A row's max and min, carried from one row's exp loop to the next row
// (sum_exp_next) so that a run of contiguous rows reads each row for them
// inside the previous row's exp loop, not in a pass of its own.
template <class T>
struct RowStats {
  T m, mn;
  bool have = false;
};

// A row's max and min into *m, *mn: those st carries (taken: st->have is
// cleared until the row's exp loop carries the next row's), else from
// minmax(m, mn).
template <class T, class F>
void row_minmax(RowStats<T>* st, T* m, T* mn, F&& minmax) {
  if (st && st->have) {
    *m = st->m;
    *mn = st->mn;
    st->have = false;
  } else {
    minmax(m, mn);
  }
}

// A row that fits in cache: x, y contiguous (or packed).  st: the row's
// max and min when st->have (else computed here); with xn (the next row,
// n contiguous elements) st comes back holding the next row's.
template <class T>
void softmax_row_cached(const SoftmaxJob<T>& j, const T* x, T* y, int64_t n, T* e_scratch, const T* pf,
                        const T* xn = nullptr, RowStats<T>* st = nullptr) {
  SC_ASSERT(n >= 1 && x && y && (!xn || st));
  const ReduceKernels<T>& k = *j.k;
  T m, mn;
  row_minmax(st, &m, &mn, [&](T* a, T* b) { k.minmax(x, n, a, b); });
  const ExpMode mode = choose_exp_mode(m, mn, j.it, !j.scaled);
  // exp + sum of the row relative to shift, the exps to e when non-null
  const auto sum_exp = [&](T* e, T shift) {
    if (!xn) return k.sum_exp[mode][j.scaled](x, e, n, shift, j.it, j.it_lo, pf);
    const double s = k.sum_exp_next[mode][j.scaled](x, e, n, shift, j.it, j.it_lo, xn, &st->m, &st->mn);
    st->have = true;
    return s;
  };
  if (!j.log_mode) {
    T* e = e_scratch ? e_scratch : y;
    const double s = sum_exp(e, m);
    k.scale(e, y, n, T(1.0 / s), e_scratch != nullptr);
  } else {
    const T sh = shift_of(m);
    const double s = sum_exp(nullptr, sh);
    const T L = T(std::log(s));
    k.affine(x, y, n, sh, j.it, L, plain_affine(m, mn, L));
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
bool softmax_rows_task(const SoftmaxJob<T>& j, int64_t r0, int64_t r1) {
  const sc_view& v = *j.v;
  const int64_t n = v.n;
  const bool contiguous = v.x_n == 1 && v.y_n == 1;
  T* pk = nullptr;
  T* es = nullptr;
  if (!contiguous) {
    pk = scratch<T>(Scratch::kPackX, n);
    if (!pk) return false;
  } else if (j.nt && !j.log_mode) {
    es = scratch<T>(Scratch::kExp, n);
    if (!es) return false;
  }
  RowStats<T> st;
  for (int64_t r = r0; r < r1; ++r) {
    const auto [ox, oy, ob] = j.outer(r);
    const T* x = j.x + ox;
    T* y = j.y + oy;
    if (v.x_n == 0) {
      softmax_row_constant(j, *x, y, v.y_n, n);
    } else if (contiguous) {
      // The next row's max and min in this row's exp loop (j.carry), else
      // out of cache (nt) a prefetch of the next row while this one
      // computes.  The prefetch below nt as well did not hold up: (1024,
      // 2048) float32, 1 thread, 1.12-1.18x faster in one session, 0.85x in
      // a later one (21 rounds toggled in one process); (512, 4096) 1.05x.
      const T* next = r + 1 < r1 ? j.x + j.outer(r + 1)[0] : nullptr;
      if (j.carry) softmax_row_cached<T>(j, x, y, n, es, nullptr, next, &st);
      else softmax_row_cached(j, x, y, n, es, j.nt ? next : nullptr);
    } else {
      copy_strided(x, v.x_n, n, pk, 1);
      softmax_row_cached<T>(j, pk, pk, n, nullptr, nullptr);
      copy_strided(pk, 1, n, y, v.y_n);
    }
  }
  return true;
}

// Long rows, phase 1: per (row, chunk) max and sum relative to the chunk shift.
template <class T>
bool softmax_chunk_stats(SoftmaxJob<T>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  const bool contiguous = v.x_n == 1;
  T* pk = contiguous ? nullptr : scratch<T>(Scratch::kPackX, kChunk);
  if (!contiguous && !pk) return false;
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t r = i / j.chunks_per_row, c = i % j.chunks_per_row;
    const int64_t b = c * kChunk, len = v.n - b < kChunk ? v.n - b : kChunk;
    const T* x = contiguous_row(j.x + j.outer(r)[0] + b * v.x_n, v.x_n, len, pk);
    T m, mn;
    j.k->minmax(x, len, &m, &mn);
    j.cmax[i] = m;
    j.cmin[i] = mn;
    j.csum[i] = j.k->sum_exp[choose_exp_mode(m, mn, j.it)][j.scaled](x, nullptr, len, shift_of(m), j.it, j.it_lo,
                                                                 nullptr);
  }
  return true;
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
  j.row_mode[r] = choose_exp_mode(M, MN, j.it);
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
bool softmax_chunk_write(const SoftmaxJob<T>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  const bool contiguous = v.x_n == 1 && v.y_n == 1;
  T* pk = contiguous ? nullptr : scratch<T>(Scratch::kPackX, kChunk);
  if (!contiguous && !pk) return false;
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t r = i / j.chunks_per_row, c = i % j.chunks_per_row;
    const int64_t b = c * kChunk, len = v.n - b < kChunk ? v.n - b : kChunk;
    const auto [ox, oy, ob] = j.outer(r);
    const T* x = j.x + ox + b * v.x_n;
    T* y = j.y + oy + b * v.y_n;
    T* dst = y;
    if (!contiguous) {
      copy_strided(x, v.x_n, len, pk, 1);
      x = dst = pk;
    }
    if (j.log_mode) j.k->affine(x, dst, len, j.row_m[r], j.it, j.row_c[r], false);
    else j.k->exp_scale[j.row_mode[r]][j.scaled](x, dst, len, j.row_m[r], j.it, j.it_lo, j.row_c[r]);
    if (!contiguous) copy_strided(pk, 1, len, y, v.y_n);
  }
  return true;
}

// inner > 1: item i is (outer row r, block of columns [c0, c0 + w)), blocks
// of col_tile columns (the last may be narrower).
struct ColBlock {
  int64_t r, c0, w;
};
inline int64_t col_blocks(int64_t inner, int64_t W) { return (inner + W - 1) / W; }
inline ColBlock col_block(int64_t i, int64_t inner, int64_t W) {
  const int64_t tiles = col_blocks(inner, W), c0 = i % tiles * W;
  return {i / tiles, c0, inner - c0 < W ? inner - c0 : W};
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

// log of the sum of exp((w - m) * it) over a row whose sum is near 1 (one
// term dominates): the float32 blocked sum carries ~1e-7 of absolute error,
// which -log(s) ~ -(s - 1) would show as many half ULPs at the max element
// (seen: 23 bfloat16 ULP for s - 1 = 1.1e-6).  Here the terms below the max
// are summed in double apart from the k exact 1s of the max: log1p(k - 1 +
// rest).  Only for such peaked rows (s - 1 < 1/64), so scalar.
// w's elements ws apart; w may be of a half storage type (widened exactly).
template <class S, class T>
double log_sum_peaked(const S* w, int64_t ws, int64_t n, T m, double it) {
  double k = 0.0, rest = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const T wi = widened(w[i * ws]);
    if (wi == m) k += 1.0;
    else rest += std::exp((double(wi) - double(m)) * it);
  }
  return std::log1p((k - 1.0) + rest);
}

// One block of w columns (softmax/col_kernels.h): x and y rows n apart by
// xn / yn, columns by xi / yi; y may be x.  The column statistics in one
// sweep over x, then a second sweep writes exp((x - m) * it) / s (softmax)
// or (x - m) * it - log(s) (log_softmax).  log_peaked (the half-precision
// callers): log s of a column whose sum is near 1 by log_sum_peaked, as
// the half rows do.
template <class T>
void softmax_col_block(const ReduceKernels<T>& k, const T* x, int64_t xn, int64_t xi, T* y, int64_t yn, int64_t yi,
                       int64_t n, int64_t w, T it, T it_lo, int scaled, bool log_mode, bool log_peaked) {
  SC_ASSERT(k.col_tile <= 1024 && w <= k.col_tile);
  T m[1024], coef[1024];
  double s[1024];
  const bool fast = k.cols_stats[scaled](x, xn, xi, nullptr, 0, 0, n, w, it, it_lo, m, s);
  for (int64_t c = 0; c < w; ++c) {
    if (!log_mode) {
      coef[c] = T(1.0 / s[c]);
      if (!finite(m[c])) m[c] = T(NAN);  // the column is NaN (scipy's arithmetic)
    } else if (!finite(m[c])) {  // scipy shifts by 0 here
      coef[c] = T(std::log(column_plain_sum(x + c * xi, xn, (const T*)nullptr, 0, n, it)));
      m[c] = T(0);
    } else if (log_peaked && s[c] - 1.0 < 1.0 / 64) {
      coef[c] = T(log_sum_peaked(x + c * xi, xn, n, m[c], double(it) + double(it_lo)));
    } else {
      coef[c] = T(std::log(s[c]));
    }
  }
  k.cols_write[scaled](x, xn, xi, y, yn, yi, n, w, m, coef, it, it_lo, log_mode, fast);
}

// inner > 1: item i is a block of k.col_tile columns of an outer row.
template <class T>
bool softmax_cols_task(const SoftmaxJob<T>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  const ReduceKernels<T>& k = *j.k;
  const int64_t W = k.col_tile;
  for (int64_t i = i0; i < i1; ++i) {
    const auto [r, c0, w] = col_block(i, v.inner, W);
    const auto [ox, oy, ob] = j.outer(r);
    softmax_col_block(k, j.x + ox + c0 * v.x_inner, v.x_n, v.x_inner, j.y + oy + c0 * v.y_inner, v.y_n, v.y_inner,
                      v.n, w, j.it, j.it_lo, j.scaled, j.log_mode, false);
  }
  return true;
}

template <class T>
int softmax_impl(const ReduceKernels<T>& k, const T* x, T* y, const sc_view& v, double temperature, bool log_mode) {
  const OuterOffsets<3> outer = outer_of(v);
  const int64_t rows = outer.count();
  if (rows == 0 || v.n == 0 || v.inner == 0) return SC_OK;
  SoftmaxJob<T> j;
  j.outer = outer;
  j.k = &k;
  j.x = x;
  j.y = y;
  j.v = &v;
  j.log_mode = log_mode;
  j.scaled = temperature != 1.0;
  inverse_temperature<T>(temperature, &j.it, &j.it_lo);
  const int64_t total = rows * v.n * v.inner;
  j.nt = total * int64_t(sizeof(T)) > kStreamBytes && reinterpret_cast<uintptr_t>(y) % sizeof(T) == 0;
  j.carry = total * int64_t(sizeof(T)) <= kCarryBytes;

  if (v.inner > 1) {
    const int64_t W = k.col_tile, items = rows * col_blocks(v.inner, W);
    return run_items(items, grain_for(v.n * W), [&](int64_t b, int64_t e) { return softmax_cols_task(j, b, e); });
  }
  const bool cached = v.x_n == 0 || (v.x_n == 1 && v.y_n == 1 ? v.n * int64_t(sizeof(T)) <= kCachedRowBytes
                                                               : v.n <= kChunk);
  if (cached)
    return run_items(rows, grain_for(v.n), [&](int64_t b, int64_t e) { return softmax_rows_task(j, b, e); });
  {
    j.chunks_per_row = (v.n + kChunk - 1) / kChunk;
    const int64_t items = rows * j.chunks_per_row;
    j.cmax.resize(size_t(items));
    j.cmin.resize(size_t(items));
    j.row_mode.resize(size_t(rows));
    j.csum.resize(size_t(items));
    j.row_m.resize(size_t(rows));
    j.row_c.resize(size_t(rows));
    const int st = run_items(items, grain_for(kChunk), [&](int64_t b, int64_t e) { return softmax_chunk_stats(j, b, e); });
    if (st != SC_OK) return st;
    for (int64_t r = 0; r < rows; ++r) softmax_merge_row(j, r);
    return run_items(items, grain_for(kChunk), [&](int64_t b, int64_t e) { return softmax_chunk_write(j, b, e); });
  }
}

// -------------------------------------------------------------- logsumexp --

// What a reduction's (M, S) becomes: logsumexp's (out, sign), or with
// stats the partial state (m, s) of sc_softmax_stats, of x / temperature
// (scaled: temperature != 1; logsumexp has none, weights b only with T = 1).
template <class T>
struct LseFinish {
  bool stats = false;
  int scaled = 0;
  T it = 1, it_lo = 0;
  double temperature = 1.0;
};

template <class T>
struct LseJob {
  const ReduceKernels<T>* k;
  const T* x;
  const T* b;
  T* out;   // stats: m
  T* sign;  // stats: s
  const sc_view* v;
  OuterOffsets<3> outer;
  LseFinish<T> fin;
  bool carry = false;  // RowStats over contiguous rows (kCarryBytes)
};

// The state of sc_softmax_stats from the running max M of x and the sum S of
// b * exp((x - shift_of(M)) / T): m = M / T rounded once (so m is the max of
// the rounded x / T, what the normalising pass subtracts), s relative to
// that m (the rounding of m moved into s, in double).  Nothing to sum:
// (-inf, 0); +inf: (+inf, sign of S); NaN: (NaN, NaN).
template <class T>
void stats_finish(T M, double S, double temperature, T* m, T* s) {
  if (std::isnan(double(M)) || std::isnan(S)) {
    *m = *s = T(NAN);
  } else if (M == T(INFINITY)) {
    *m = M;
    *s = T((S > 0) - (S < 0));
  } else if (M == T(-INFINITY)) {
    *m = M;
    *s = T(0);
  } else {
    const double exact = double(M) / temperature;
    const T mo = T(exact);
    *m = mo;
    *s = T(S * std::exp(exact - double(mo)));
  }
}

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

// The one-pass result M + log|S| carries an absolute error of about the
// relative error of S (~1e-7 in float32 lanes, ~1e-16 in float64), which is
// a large RELATIVE error once |result| is small: logsumexp([0, -40]) is
// 4.2e-18 but S = 1 + 4.2e-18 rounds to 1.  Results below kLseSmall in
// magnitude are recomputed by the exclusion pass (vec_sum_exp_below), as
// scipy >= 1.15 does for every row (scipy issue 18295).  Rows with
// |lse| >= 1 (LLM logits) pay nothing; lse of log-probabilities (~0) pays
// one extra vectorised pass.
constexpr double kLseSmall = 1.0;

template <class T>
bool lse_small(T M, double S) {
  if (!finite(M) || !std::isfinite(S) || S == 0.0) return false;
  return std::fabs(double(M) + std::log(std::fabs(S))) < kLseSmall;
}

// scipy's finish from the exclusion sums: s (entries below the max M) and
// c (the tie weight): q = s / c, sign = sign(q + 1) sign(c), out =
// log|s + c| + M as log1p(q) + log|c| + M (scipy.special._logsumexp) while
// |q| <= 1, and as log|s| + log1p(c / s) + M when s outweighs c: there s / c
// may overflow (a subnormal tie weight: log1p(inf) gave +inf, fuzz seed
// 5550339653234), and q < -1 needs no reflection.
template <class T>
void lse_finish_excluded(T M, double s, double c, T* out, T* sign) {
  if (c == 0.0) return lse_finish(M, s, out, sign);  // ties of weights summing to 0
  const double q = s / c;
  const double sg = double((q + 1 > 0) - (q + 1 < 0)) * ((c > 0) - (c < 0));
  const double l = (std::fabs(q) > 1 ? std::log(std::fabs(s)) + std::log1p(c / s)
                                     : std::log1p(q) + std::log(std::fabs(c))) + double(M);
  if (sign) {
    *out = T(l);
    *sign = T(sg);
  } else {
    *out = T(sg < 0 ? NAN : l);
  }
}

// The exclusion pass over one row or column (element strides xs, bs), in
// chunks packed to px / pb when strided: sc[0], sc[1] as vec_sum_exp_below.
template <class T>
void lse_exclusion(const ReduceKernels<T>& k, const T* x, int64_t xs, const T* b, int64_t bs, int64_t n, T M,
                   T* px, T* pb, double* sc) {
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int64_t len = n - c0 < kChunk ? n - c0 : kChunk;
    const T* xc = contiguous_row(x + c0 * xs, xs, len, px);
    const T* bc = b ? contiguous_row(b + c0 * bs, bs, len, pb) : nullptr;
    k.sum_exp_below[b != nullptr](xc, bc, len, M, sc);
  }
}

// One row in chunks: per chunk (max, sum relative to its shift), merged.
// chunk(c0, len) -> {x, b}: the chunk's elements as contiguous rows (b null
// without weights).  One read of the row from memory: each chunk (kChunk
// elements, 64 KiB of float32) is read twice while it sits in L2 (max, then
// sum).  Not built: an online (max, sum) per vector lane (XNNPACK / ONNX
// style), which needs a rescale exp whenever a lane's max rises and a second
// exp per element in the branch-free SIMD form; the chunked form already
// reads memory once (not measured against it).
// direct (HalfInPlace): the chunks are of a half row, unweighted, read in
// place by the half kernels (widened in registers); the exclusion pass
// widens a chunk into direct.w first.
template <class S>
struct HalfInPlace {
  const HalfKernels<S>* h;
  float* w;  // kChunk floats
};

template <class T, class F, class D = std::nullptr_t>
void lse_chunks(const ReduceKernels<T>& k, int64_t n, F&& chunk, T* out, T* sign, const LseFinish<T>& fin,
                D direct = nullptr, const T* xn = nullptr, RowStats<T>* st = nullptr) {
  constexpr bool kDirect = !std::is_same_v<D, std::nullptr_t>;
  // xn, st (a row of one chunk, unweighted, not kDirect): as
  // softmax_row_cached's, the row's max and min carried in and the next
  // row's (xn, n elements) carried out
  SC_ASSERT(!st || (!kDirect && n <= kChunk));
  T M = -INFINITY;
  bool nan = false;
  double S = 0.0;
  const double it = 1.0 / fin.temperature;
  // Two passes over each chunk (max, then sum); the running (M, S) is
  // rescaled when a later chunk raises the max.
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int64_t len = n - c0 < kChunk ? n - c0 : kChunk;
    const auto [xc_, bc_] = chunk(c0, len);
    T m, mn;
    double s;
    const auto mode = [&] { return choose_exp_mode(m, mn, double(fin.it), !fin.scaled); };
    if constexpr (kDirect) {
      direct.h->minmax(xc_, len, &m, &mn);
      s = direct.h->sum_exp[mode()][fin.scaled](xc_, nullptr, len, shift_of(m), fin.it, fin.it_lo, nullptr);
    } else {
      if (bc_) m = k.max_where(xc_, bc_, len);
      else row_minmax(st, &m, &mn, [&](T* a, T* b) { k.minmax(xc_, len, a, b); });
      const T sh = shift_of(m);
      if (bc_) {
        s = k.sum_exp_weighted(xc_, bc_, len, sh);
      } else if (xn) {
        s = k.sum_exp_next[mode()][fin.scaled](xc_, nullptr, len, sh, fin.it, fin.it_lo, xn, &st->m, &st->mn);
        st->have = true;
      } else {
        s = k.sum_exp[mode()][fin.scaled](xc_, nullptr, len, sh, fin.it, fin.it_lo, nullptr);
      }
    }
    nan |= std::isnan(m);
    const T sh = shift_of(m);
    const T newM = m > M ? m : M;
    const double nsh = double(shift_of(newM));
    if (S != 0.0) S *= std::exp((double(shift_of(M)) - nsh) * it);
    if (s != 0.0) S += s * std::exp((double(sh) - nsh) * it);
    M = newM;
  }
  if (nan) S = NAN;
  if (fin.stats) return stats_finish(M, S, fin.temperature, out, sign);
  if (lse_small(M, S)) {
    double sc[2] = {0.0, 0.0};  // the exclusion pass, over the same chunks
    for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
      const int64_t len = n - c0 < kChunk ? n - c0 : kChunk;
      const auto [xc_, bc_] = chunk(c0, len);
      if constexpr (kDirect) {
        direct.h->widen(xc_, 1, direct.w, len);
        k.sum_exp_below[0](direct.w, nullptr, len, M, sc);
      } else {
        k.sum_exp_below[bc_ != nullptr](xc_, bc_, len, M, sc);
      }
    }
    return lse_finish_excluded(M, sc[0], sc[1], out, sign);
  }
  lse_finish(M, S, out, sign);
}

template <class T>
void lse_row(const LseJob<T>& j, const T* x, const T* b, int64_t n, T* out, T* sign, T* px, T* pb,
             const T* xn = nullptr, RowStats<T>* st = nullptr) {
  const sc_view& v = *j.v;
  const bool xc = v.x_n == 1, bc = !b || v.b_n == 1;
  lse_chunks(*j.k, n, [&](int64_t c0, int64_t len) {
    const T* xc_ = x + c0 * v.x_n;
    const T* bc_ = b ? b + c0 * v.b_n : nullptr;
    if (!xc) xc_ = contiguous_row(xc_, v.x_n, len, px);
    if (b && !bc) bc_ = contiguous_row(bc_, v.b_n, len, pb);
    return std::pair<const T*, const T*>(xc_, bc_);
  }, out, sign, j.fin, nullptr, xn, st);
}

template <class T>
bool lse_rows_task(const LseJob<T>& j, int64_t r0, int64_t r1) {
  const sc_view& v = *j.v;
  T* px = nullptr;
  T* pb = nullptr;
  if (v.x_n != 1) px = scratch<T>(Scratch::kPackX, v.n < kChunk ? v.n : kChunk);
  if (j.b && v.b_n != 1) pb = scratch<T>(Scratch::kPackB, v.n < kChunk ? v.n : kChunk);
  if ((v.x_n != 1 && !px) || (j.b && v.b_n != 1 && !pb)) return false;
  // contiguous unweighted rows of one chunk: RowStats (see softmax_rows_task)
  const bool carry = j.carry && v.x_n == 1 && !j.b && v.n <= kChunk;
  RowStats<T> st;
  for (int64_t r = r0; r < r1; ++r) {
    const auto [ox, oy, ob] = j.outer(r);
    T* sign = j.sign ? j.sign + oy : nullptr;
    if (v.x_n == 0 && (!j.b || v.b_n == 0)) {  // constant row: closed form
      const T c = j.x[ox];
      const double w = j.b ? double(j.b[ob]) : 1.0;
      const double S = w * double(v.n) * std::exp((double(c) - double(shift_of(c))) / j.fin.temperature);
      if (j.fin.stats) stats_finish<T>(w == 0.0 ? T(-INFINITY) : c, w == 0.0 ? 0.0 : S, j.fin.temperature,
                                       j.out + oy, sign);
      else if (w == 0.0) lse_finish<T>(-INFINITY, 0.0, j.out + oy, sign);
      else lse_finish<T>(c, std::isnan(c) ? NAN : S, j.out + oy, sign);
      continue;
    }
    lse_row<T>(j, j.x + ox, j.b ? j.b + ob : nullptr, v.n, j.out + oy, sign, px, pb,
               carry && r + 1 < r1 ? j.x + j.outer(r + 1)[0] : nullptr, carry ? &st : nullptr);
  }
  return true;
}

// One block of w columns: out[c * os] (and sign) = logsumexp of column c
// (rows xn apart, columns xi; weights b likewise), or with fin.stats the
// state (m, s) of sc_softmax_stats.  px, pb: the exclusion
// pass's packs, taken from the scratch when first needed.  False when that
// allocation failed.
template <class T>
bool lse_col_block(const ReduceKernels<T>& k, const T* x, int64_t xn, int64_t xi, const T* b, int64_t bn, int64_t bi,
                   int64_t n, int64_t w, T* out, T* sign, int64_t os, const LseFinish<T>& fin, T** px, T** pb) {
  SC_ASSERT(k.col_tile <= 1024 && w <= k.col_tile);
  T m[1024];
  double s[1024];
  k.cols_stats[fin.scaled](x, xn, xi, b, bn, bi, n, w, fin.it, fin.it_lo, m, s);
  for (int64_t c = 0; c < w; ++c) {
    if (!finite(m[c])) s[c] = column_plain_sum(x + c * xi, xn, b ? b + c * bi : nullptr, bn, n, 1.0 / fin.temperature);
    T* sg = sign ? sign + c * os : nullptr;
    if (fin.stats) {
      stats_finish(m[c], s[c], fin.temperature, out + c * os, sg);
      continue;
    }
    if (lse_small(m[c], s[c])) {  // the exclusion pass, the column packed chunk by chunk
      const int64_t len = n < kChunk ? n : kChunk;
      if (!*px) *px = scratch<T>(Scratch::kPackX, len);
      if (b && !*pb) *pb = scratch<T>(Scratch::kPackB, len);
      if (!*px || (b && !*pb)) return false;
      double sc[2] = {0.0, 0.0};
      lse_exclusion(k, x + c * xi, xn, b ? b + c * bi : nullptr, bn, n, m[c], *px, *pb, sc);
      lse_finish_excluded(m[c], sc[0], sc[1], out + c * os, sg);
      continue;
    }
    lse_finish(m[c], s[c], out + c * os, sg);
  }
  return true;
}

template <class T>
bool lse_cols_task(const LseJob<T>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  T* px = nullptr;
  T* pb = nullptr;
  for (int64_t i = i0; i < i1; ++i) {
    const auto [r, c0, w] = col_block(i, v.inner, j.k->col_tile);
    const auto [ox, oy, ob] = j.outer(r);
    const int64_t yo = oy + c0 * v.y_inner;
    if (!lse_col_block(*j.k, j.x + ox + c0 * v.x_inner, v.x_n, v.x_inner, j.b ? j.b + ob + c0 * v.b_inner : nullptr,
                       v.b_n, v.b_inner, v.n, w, j.out + yo, j.sign ? j.sign + yo : nullptr, v.y_inner, j.fin, &px,
                       &pb))
      return false;
  }
  return true;
}

template <class T>
int lse_impl(const ReduceKernels<T>& k, const T* x, const T* b, T* out, T* sign, const sc_view& v,
             const LseFinish<T>& fin = {}) {
  const OuterOffsets<3> outer = outer_of(v);
  const int64_t rows = outer.count();
  if (rows == 0 || v.inner == 0) return SC_OK;
  LseJob<T> j;
  j.outer = outer;
  j.k = &k;
  j.x = x;
  j.b = b;
  j.out = out;
  j.sign = sign;
  j.v = &v;
  j.fin = fin;
  j.carry = rows * v.n * v.inner * int64_t(sizeof(T)) <= kCarryBytes;
  if (v.n == 0) {  // empty sum: -inf (scipy), sign 0; the state (-inf, 0)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t oy = outer(r)[1];
      for (int64_t c = 0; c < v.inner; ++c) {
        T* sp = sign ? sign + oy + c * v.y_inner : nullptr;
        if (fin.stats) stats_finish<T>(-INFINITY, 0.0, 1.0, out + oy + c * v.y_inner, sp);
        else lse_finish<T>(-INFINITY, 0.0, out + oy + c * v.y_inner, sp);
      }
    }
    return SC_OK;
  }
  if (v.inner > 1) {
    const int64_t W = k.col_tile, items = rows * col_blocks(v.inner, W);
    return run_items(items, grain_for(v.n * W), [&](int64_t b0, int64_t e0) { return lse_cols_task(j, b0, e0); });
  }
  return run_items(rows, grain_for(v.n), [&](int64_t b0, int64_t e0) { return lse_rows_task(j, b0, e0); });
}

// ------------------------------------------------------------ half storage --
//
// f16 / bf16 x (core/half.h): each row, or each kChunk chunk of a longer
// row, is widened into float32 scratch of that size (never the whole array),
// computed there by the float32 kernels, and each result is rounded once to
// S on its store (softmax/half_kernels.h).  Every layout goes this way: a
// strided row is widened by the same pass that packs it, and inner > 1 is
// taken in blocks of columns (half_cols_task; one strided row per column
// when a block would not fit its scratch).  A long row's chunks run on
// one thread (the row is the work item), so results do not depend on the
// thread count either.

constexpr int64_t kHalfCachedRow = kCachedRowBytes / int64_t(sizeof(float));

template <class S>
struct HalfJob {
  const HalfKernels<S>* h;
  const ReduceKernels<float>* k;
  const S* x;
  const S* b;  // logsumexp weights (S), or null
  S* y;
  float* out;   // logsumexp: float32 results (stats: m)
  float* sign;  // (stats: s)
  LseFinish<float> fin;  // logsumexp / softmax_stats
  const sc_view* v;
  OuterOffsets<3> outer;
  float it = 1, it_lo = 0;
  int scaled = 0;
  bool log_mode = false;
  int64_t col_w = 0;  // softmax with inner > 1: columns per block (half_cols_task), 0: one column per item
  bool carry = false;  // softmax: RowStats over contiguous rows (kCarryBytes)
  // item i (outer row i / inner, column i % inner) -> offsets of x, y, b
  std::array<int64_t, 3> at(int64_t i) const {
    const auto o = outer(i / v->inner);
    const int64_t c = i % v->inner;
    return {o[0] + c * v->x_inner, o[1] + c * v->y_inner, o[2] + c * v->b_inner};
  }
};

// A row of n <= kHalfCachedRow.  Contiguous x is read in place, widened in
// registers by every pass (minmax; exp + sum, the exps stored to w for
// softmax; the write pass of log_softmax from x), the float32 row's passes
// on half the bytes; a strided x is widened into w by the minmax pass first
// and the passes run on w.  Either way the one rounding is on the store.
// xn, st: as softmax_row_cached's (contiguous rows only).
template <class S>
void half_row_cached(const HalfJob<S>& j, const S* x, S* y, float* w, const S* xn = nullptr,
                     RowStats<float>* st = nullptr) {
  const sc_view& v = *j.v;
  const int64_t n = v.n;
  const bool direct = v.x_n == 1;
  SC_ASSERT(!xn || (direct && st));
  float m, mn;
  row_minmax(st, &m, &mn, [&](float* a, float* b) {
    if (direct) j.h->minmax(x, n, a, b);
    else j.h->widen_minmax(x, v.x_n, w, n, a, b);
  });
  const ExpMode mode = choose_exp_mode(m, mn, j.it, !j.scaled);
  // exp + sum of the row (x in place, or w), the exps to e when non-null
  const auto sum_exp = [&](float* e, float shift) {
    if (xn) {
      st->have = true;
      return j.h->sum_exp_next[mode][j.scaled](x, e, n, shift, j.it, j.it_lo, xn, &st->m, &st->mn);
    }
    return direct ? j.h->sum_exp[mode][j.scaled](x, e, n, shift, j.it, j.it_lo, nullptr)
                  : j.k->sum_exp[mode][j.scaled](w, e, n, shift, j.it, j.it_lo, nullptr);
  };
  if (!j.log_mode) {
    const double s = sum_exp(w, m);
    const float r = float(1.0 / s);
    j.h->scale_narrow(w, y, v.y_n, n, r, std::isfinite(s) && std::isfinite(r));  // a NaN or inf e makes s NaN or inf
  } else {
    const float sh = shift_of(m);
    const double s = sum_exp(nullptr, sh);
    const double it = double(j.it) + double(j.it_lo);
    const double L = s - 1.0 < 1.0 / 64 && finite(m) ? (direct ? log_sum_peaked(x, 1, n, m, it)
                                                               : log_sum_peaked(w, 1, n, m, it))
                                                     : std::log(s);
    const bool plain = plain_affine(m, mn, float(L));
    if (direct) j.h->affine_narrow_s(x, y, v.y_n, n, sh, j.it, float(L), plain);
    else j.h->affine_narrow(w, y, v.y_n, n, sh, j.it, float(L), plain);
  }
}

// A longer row: per chunk (max, sum) merged online, then per chunk the
// write pass (exp or affine from the widened chunk, rounded on store).
template <class S>
void half_row_long(const HalfJob<S>& j, const S* x, S* y, float* w) {
  const sc_view& v = *j.v;
  float M = -INFINITY, MN = INFINITY;
  bool nan = false;
  double sum = 0.0;
  for (int64_t c0 = 0; c0 < v.n; c0 += kChunk) {
    const int64_t len = v.n - c0 < kChunk ? v.n - c0 : kChunk;
    float m, mn;
    j.h->widen_minmax(x + c0 * v.x_n, v.x_n, w, len, &m, &mn);
    nan |= std::isnan(m);
    const float sh = shift_of(m);
    const double s = j.k->sum_exp[choose_exp_mode(m, mn, j.it)][j.scaled](w, nullptr, len, sh, j.it, j.it_lo, nullptr);
    const float newM = m > M ? m : M;
    const double nsh = double(shift_of(newM));
    if (sum != 0.0) sum *= std::exp((double(shift_of(M)) - nsh) * double(j.it));
    if (s != 0.0) sum += s * std::exp((double(sh) - nsh) * double(j.it));
    M = newM;
    MN = mn < MN ? mn : MN;
  }
  if (nan) sum = NAN;
  const ExpMode mode = choose_exp_mode(M, MN, j.it);
  for (int64_t c0 = 0; c0 < v.n; c0 += kChunk) {
    const int64_t len = v.n - c0 < kChunk ? v.n - c0 : kChunk;
    j.h->widen(x + c0 * v.x_n, v.x_n, w, len);
    S* yc = y + c0 * v.y_n;
    if (j.log_mode) {
      const float L = float(std::log(sum));
      j.h->affine_narrow(w, yc, v.y_n, len, shift_of(M), j.it, L, plain_affine(M, MN, L));
    } else {  // scipy: a non-finite max gives NaN everywhere
      j.k->exp_scale[mode][j.scaled](w, w, len, finite(M) ? M : float(NAN), j.it, j.it_lo, float(1.0 / sum));
      j.h->scale_narrow(w, yc, v.y_n, len, 1.0f, false);  // exact: the one rounding is S's
    }
  }
}

template <class S>
bool half_rows_task(const HalfJob<S>& j, int64_t i0, int64_t i1) {
  const bool cached = j.v->n <= kHalfCachedRow;
  float* w = scratch<float>(Scratch::kPackX, cached ? j.v->n : kChunk);
  if (!w) return false;
  RowStats<float> st;
  const bool carry = j.carry && cached && j.v->x_n == 1;  // contiguous rows: RowStats
  for (int64_t i = i0; i < i1; ++i) {
    const auto [ox, oy, ob] = j.at(i);
    if (cached) half_row_cached(j, j.x + ox, j.y + oy, w, carry && i + 1 < i1 ? j.x + j.at(i + 1)[0] : nullptr,
                                carry ? &st : nullptr);
    else half_row_long(j, j.x + ox, j.y + oy, w);
  }
  return true;
}

// w (n x cw, rows contiguous) = float(x) for n rows xn apart of cw columns
// xi apart: a block of half-precision columns widened, one row at a time.
template <class S>
void widen_cols(const HalfKernels<S>& h, const S* x, int64_t xn, int64_t xi, int64_t n, int64_t cw, float* w) {
  for (int64_t row = 0; row < n; ++row) h.widen(x + row * xn, xi, w + row * cw, cw);
}

// inner > 1: a block of col_w columns of an outer row is widened into
// float32 scratch (n x col_w, rows contiguous), computed there in place by
// the float32 column kernels (softmax_col_block) and rounded once on store.
template <class S>
bool half_cols_task(const HalfJob<S>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  const int64_t W = j.col_w, n = v.n;
  float* w = scratch<float>(Scratch::kColHalfX, n * W);
  if (!w) return false;
  for (int64_t i = i0; i < i1; ++i) {
    const auto [r, c0, cw] = col_block(i, v.inner, W);
    const auto [ox, oy, ob] = j.outer(r);
    const S* x = j.x + ox + c0 * v.x_inner;
    S* y = j.y + oy + c0 * v.y_inner;
    widen_cols(*j.h, x, v.x_n, v.x_inner, n, cw, w);
    softmax_col_block(*j.k, w, cw, 1, w, cw, 1, n, cw, j.it, j.it_lo, j.scaled, j.log_mode, true);
    for (int64_t row = 0; row < n; ++row) j.h->scale_narrow(w + row * cw, y + row * v.y_n, v.y_inner, cw, 1.0f, false);
  }
  return true;
}

// Column block width of half_cols_task: n x col_w float32 in kHalfColBytes,
// at least one vector of columns, at most the float32 column tile; 0 (one
// strided column per item) when even one vector of columns would take more
// than kHalfColMaxBytes of scratch.  Measured (float16, 1 thread, AVX-512,
// softmax over axis 0 of C-contiguous (4096, 1024)): 256 KiB 8.5 ms, 1 MiB
// 14 ms (loaded), 4 MiB 4.1 ms, against 81 ms one column at a time and
// 2.9 ms for float32 (wide blocks widen longer runs per call).
constexpr int64_t kHalfColBytes = 4 << 20;
constexpr int64_t kHalfColMaxBytes = 16 << 20;
inline int64_t half_col_width(const KernelTable& t, int64_t n, int64_t inner) {
  const int64_t lanes = 64 / int64_t(sizeof(float)), per_col = n * int64_t(sizeof(float));
  if (inner <= 1 || per_col * lanes > kHalfColMaxBytes) return 0;
  int64_t w = kHalfColBytes / per_col / lanes * lanes;
  w = w < lanes ? lanes : w;
  return w < t.f32.col_tile ? w : t.f32.col_tile;
}

// The items of a half-precision job: blocks of col_w columns (cols_task)
// when inner > 1 and a block fits its scratch (half_col_width), else one
// (strided) row per item (rows_task).  Sets j.col_w.
template <class S, class Cols, class Rows>
int run_half(const KernelTable& t, HalfJob<S>& j, int64_t rows, Cols&& cols_task, Rows&& rows_task) {
  const sc_view& v = *j.v;
  j.col_w = v.x_n == 0 ? 0 : half_col_width(t, v.n, v.inner);
  if (j.col_w > 0) return run_items(rows * col_blocks(v.inner, j.col_w), grain_for(v.n * j.col_w), cols_task);
  return run_items(rows * v.inner, grain_for(v.n), rows_task);
}

template <class S>
int softmax_half_impl(const KernelTable& t, const S* x, S* y, const sc_view& v, double temperature, bool log_mode) {
  HalfJob<S> j;
  j.outer = outer_of(v);
  const int64_t rows = j.outer.count();
  if (rows == 0 || v.n == 0 || v.inner == 0) return SC_OK;
  j.h = &of<S>(t);
  j.k = &t.f32;
  j.x = x;
  j.b = nullptr;
  j.y = y;
  j.v = &v;
  j.log_mode = log_mode;
  j.scaled = temperature != 1.0;
  inverse_temperature<float>(temperature, &j.it, &j.it_lo);
  // Not bfloat16: its own minmax widens two vectors at once by a shift and a
  // mask (load2_any), the carried one one at a time; measured (32, 32000),
  // 1 thread: 0.99-1.00x on AVX-512, 0.92-1.02x on AVX2 (float16 1.02-1.05x).
  j.carry = !std::is_same_v<S, bf16> && rows * v.n * v.inner * int64_t(sizeof(S)) <= kCarryBytes;
  return run_half(t, j, rows, [&](int64_t b, int64_t e) { return half_cols_task(j, b, e); },
                  [&](int64_t b, int64_t e) { return half_rows_task(j, b, e); });
}

// logsumexp of S x (and S weights b) into float32 out / sign: a contiguous
// unweighted row read in place by lse_chunks (HalfInPlace), else its chunks
// widened into float32 scratch.
template <class S>
bool lse_half_task(const HalfJob<S>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  const int64_t len = v.n < kChunk ? v.n : kChunk;
  float* wx = scratch<float>(Scratch::kPackX, len);
  float* wb = j.b ? scratch<float>(Scratch::kPackB, len) : nullptr;
  if (!wx || (j.b && !wb)) return false;
  for (int64_t i = i0; i < i1; ++i) {
    const auto [ox, oy, ob] = j.at(i);
    const S* x = j.x + ox;
    const S* b = j.b ? j.b + ob : nullptr;
    if (!b && v.x_n == 1) {  // read in place, widened in registers
      lse_chunks(*j.k, v.n, [&](int64_t c0, int64_t) { return std::pair<const S*, const S*>(x + c0, nullptr); },
                 j.out + oy, j.sign ? j.sign + oy : nullptr, j.fin, HalfInPlace<S>{j.h, wx});
      continue;
    }
    lse_chunks(*j.k, v.n, [&](int64_t c0, int64_t n) {
      j.h->widen(x + c0 * v.x_n, v.x_n, wx, n);
      if (b) j.h->widen(b + c0 * v.b_n, v.b_n, wb, n);
      return std::pair<const float*, const float*>(wx, b ? wb : nullptr);
    }, j.out + oy, j.sign ? j.sign + oy : nullptr, j.fin);
  }
  return true;
}

// inner > 1: a block of col_w columns of x (and b) widened into float32
// scratch, then lse_col_block on it (as half_cols_task).
template <class S>
bool lse_half_cols_task(const HalfJob<S>& j, int64_t i0, int64_t i1) {
  const sc_view& v = *j.v;
  const int64_t W = j.col_w, n = v.n;
  float* wx = scratch<float>(Scratch::kColHalfX, n * W);
  float* wb = j.b ? scratch<float>(Scratch::kColHalfB, n * W) : nullptr;
  if (!wx || (j.b && !wb)) return false;
  float* px = nullptr;
  float* pb = nullptr;
  for (int64_t i = i0; i < i1; ++i) {
    const auto [r, c0, cw] = col_block(i, v.inner, W);
    const auto [ox, oy, ob] = j.outer(r);
    widen_cols(*j.h, j.x + ox + c0 * v.x_inner, v.x_n, v.x_inner, n, cw, wx);
    if (j.b) widen_cols(*j.h, j.b + ob + c0 * v.b_inner, v.b_n, v.b_inner, n, cw, wb);
    const int64_t yo = oy + c0 * v.y_inner;
    if (!lse_col_block(*j.k, wx, cw, 1, j.b ? wb : nullptr, cw, 1, n, cw, j.out + yo, j.sign ? j.sign + yo : nullptr,
                       v.y_inner, j.fin, &px, &pb))
      return false;
  }
  return true;
}

template <class S>
int lse_half_impl(const KernelTable& t, const S* x, const S* b, float* out, float* sign, const sc_view& v,
                  const LseFinish<float>& fin = {}) {
  HalfJob<S> j;
  j.outer = outer_of(v);
  const int64_t rows = j.outer.count();
  if (rows == 0 || v.inner == 0) return SC_OK;
  j.h = &of<S>(t);
  j.k = &t.f32;
  j.x = x;
  j.b = b;
  j.y = nullptr;
  j.out = out;
  j.sign = sign;
  j.v = &v;
  j.fin = fin;
  if (v.n == 0) {  // empty sum: -inf (scipy), sign 0; the state (-inf, 0)
    for (int64_t i = 0; i < rows * v.inner; ++i) {
      const int64_t oy = j.at(i)[1];
      if (fin.stats) stats_finish<float>(-INFINITY, 0.0, 1.0, out + oy, sign + oy);
      else lse_finish<float>(-INFINITY, 0.0, out + oy, sign ? sign + oy : nullptr);
    }
    return SC_OK;
  }
  return run_half(t, j, rows, [&](int64_t b0, int64_t e0) { return lse_half_cols_task(j, b0, e0); },
                  [&](int64_t b0, int64_t e0) { return lse_half_task(j, b0, e0); });
}

// SC_OK, or SC_EINVAL naming the first bad field.
int check_view(const sc_view* v) {
  if (!v) return invalid("view: must not be NULL");
  if (v->n < 0) return invalid("n: must be >= 0, got %lld", (long long)v->n);
  if (v->inner < 0) return invalid("inner: must be >= 0, got %lld", (long long)v->inner);
  if (v->outer_ndim < 0 || v->outer_ndim > SC_MAX_OUTER)
    return invalid("outer_ndim: must be in [0, %d], got %d", SC_MAX_OUTER, int(v->outer_ndim));
  for (int d = 0; d < v->outer_ndim; ++d)
    if (v->outer_shape[d] < 0)
      return invalid("outer_shape[%d]: must be >= 0, got %lld", d, (long long)v->outer_shape[d]);
  return SC_OK;
}

int check_temperature(double t) {
  if (!(t > 0) || !std::isfinite(t)) return invalid("temperature: must be finite and > 0, got %g", t);
  return SC_OK;
}

}  // namespace
}  // namespace sc

extern "C" {

int sc_softmax(int dtype, const void* x, void* y, const sc_view* v, double temperature, int log_mode) {
  return sc::c_abi([&] {
    if (int st = sc::check_view(v)) return st;
    if (int st = sc::check_temperature(temperature)) return st;
    return sc::dispatch_dtype_half(dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (sc::is_half_v<T>)
        return sc::softmax_half_impl<T>(*sc::active(), static_cast<const T*>(x), static_cast<T*>(y), *v, temperature,
                                        log_mode != 0);
      else
        return sc::softmax_impl<T>(sc::of<T>(*sc::active()), static_cast<const T*>(x), static_cast<T*>(y), *v,
                                   temperature, log_mode != 0);
    });
  });
}

int sc_logsumexp(int dtype, const void* x, const void* b, void* out, void* sign, const sc_view* v) {
  return sc::c_abi([&] {
    if (int st = sc::check_view(v)) return st;
    return sc::dispatch_dtype_half(dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (sc::is_half_v<T>)
        return sc::lse_half_impl<T>(*sc::active(), static_cast<const T*>(x), static_cast<const T*>(b),
                                    static_cast<float*>(out), static_cast<float*>(sign), *v);
      else
        return sc::lse_impl<T>(sc::of<T>(*sc::active()), static_cast<const T*>(x), static_cast<const T*>(b),
                               static_cast<T*>(out), static_cast<T*>(sign), *v);
    });
  });
}

int sc_softmax_stats(int dtype, const void* x, const void* b, void* m, void* s, const sc_view* v,
                     double temperature) {
  return sc::c_abi([&] {
    if (int st = sc::check_view(v)) return st;
    if (int st = sc::check_temperature(temperature)) return st;
    if (b && temperature != 1.0) return sc::invalid("b: weights need temperature 1, got %g", temperature);
    if (!m || !s) return sc::invalid("m, s: must not be NULL");
    return sc::dispatch_dtype_half(dtype, [&](auto tag) {
      using T = decltype(tag);
      using K = std::conditional_t<sc::is_half_v<T>, float, T>;
      sc::LseFinish<K> fin;
      fin.stats = true;
      fin.scaled = temperature != 1.0;
      fin.temperature = temperature;
      sc::inverse_temperature<K>(temperature, &fin.it, &fin.it_lo);
      if constexpr (sc::is_half_v<T>)
        return sc::lse_half_impl<T>(*sc::active(), static_cast<const T*>(x), static_cast<const T*>(b),
                                    static_cast<float*>(m), static_cast<float*>(s), *v, fin);
      else
        return sc::lse_impl<T>(sc::of<T>(*sc::active()), static_cast<const T*>(x), static_cast<const T*>(b),
                               static_cast<T*>(m), static_cast<T*>(s), *v, fin);
    });
  });
}

int sc_exp(int dtype, const void* x, void* y, int64_t n) {
  return sc::c_abi([&] {
    if (n < 0) return sc::invalid("n: must be >= 0, got %lld", (long long)n);
    return sc::dispatch_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      sc::of<T>(*sc::active()).exp(static_cast<const T*>(x), static_cast<T*>(y), n);
      return int(SC_OK);
    });
  });
}

}  // extern "C"
