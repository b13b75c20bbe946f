// The sampling family over rows: threads, scratch, candidate selection and
// the choice of token.  ISA-free: the passes over a row are the target's
// kernels (sampling/row_kernels.h, through the kernel table).
//
// sample, one row (m = row max, e_i = exp((x_i - m) / T), e_max = 1):
//  * greedy (T = 0): the first index holding the max.  Two passes, the second
//    stops at the argmax.
//  * plain temperature: S = sum e (one pass), then the inverse CDF in index
//    order: the first i whose running sum exceeds u*S (stops there: on
//    average half a pass).  Nothing is stored.
//  * with top-k / top-p / min-p: each warper keeps a prefix of one total
//    order (value descending, index ascending), min-p in addition a set
//    {e >= min_p} that is also a prefix.  So only a prefix C = {x >= t} of the
//    row can matter, and C is gathered (in index order) for a threshold t:
//      - top-k: t = the k-th largest of 2k block maxima.  k distinct blocks
//        have their max >= t, so |C| >= k; on ordinary rows |C| is ~k..3k.
//      - otherwise t from a bound e >= tau (tau = 2^-6, then 2^-14, or
//        min_p) while C provably holds the answer: tau <= min_p (the final
//        set is inside {e >= min_p}), or mass(C) >= top_p * S (the top-p
//        prefix is inside C).  When neither bound does (a nucleus of more
//        than ~n/32 tokens, typical of flat rows), the top-p boundary comes
//        from a mass histogram of the row (top_p_by_histogram) and C is the
//        prefix it ends.
//    On C: top-k by nth_element, top-p by a mass-weighted quickselect (the
//    shortest prefix with mass >= top_p * S_k, S_k the mass kept by top-k);
//    the result is a boundary element b of the order.  The token is then
//    drawn by the inverse CDF over C in index order, keeping the i that are
//    not after b and have e_i >= min_p.  No sort of the row, no stored
//    probability row.
// Every step is a function of the row and its uniform: results do not depend
// on the thread count, and a seed reproduces them.
//
// Rows are of a storage type S with a compute type T (sampling/table.h):
// S = T, or S = f16 / bf16 with T = float (sample, topk_softmax,
// verify_draft, temperature moments).  The kernels widen a half row in
// registers, so candidates and every sum are those of the row's float32
// copy, bit for bit, and no float32 copy of the input is made; a strided
// half row is packed as halves.  topk_softmax rounds its float32
// probabilities once to S.  sample_batch stays on S = T (its processors
// edit a copy of the row in T anyway).  Measured (benchmarks/
// half_sampling_speed.py, (32, 128256) peaked logits, 1 thread, avx512,
// interleaved medians; a shared 2-core box): bf16 / float32 rate 1.17x plain
// sample, 1.35x top-k 50, 1.23x topk_softmax k = 5, 1.11x k = 50, 0.97-1.01x
// temperature 0.7 + top-p 0.9 (f16 within 0.04 of bf16): the passes after the
// first run from L2, where a half row saves no time and costs the widening.
// With the set-bit compaction of vec_gather_ge (2026-12-07, AMD Zen 4):
// 1.09x plain, 1.31x top-k 50, 1.13x / 1.08x topk_softmax k = 5 / 50, 1.04x
// top-p (float32 top-p 3.7 -> 2.9 ms a call).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/driver.h"
#include "core/kernel_table.h"
#include "core/sc_assert.h"
#include "core/scratch.h"
#include "core/strided.h"
#include "softmax_c/sampling.h"
#include "softmax_c/softmax_c.h"

namespace sc {
namespace {

template <class T>
struct Cand {
  T x;
  int64_t i;
  T e;
};

// The order every warper keeps a prefix of: value descending, index ascending.
template <class T>
inline bool before(const Cand<T>& a, const Cand<T>& b) {
  return a.x > b.x || (a.x == b.x && a.i < b.i);
}

// The per-thread scratch of one task (core/scratch.h): a packed row (of the
// storage type S) and the candidate arrays, each of n elements (bm: n / 4 + 1).
template <class T>
struct RowScratch {
  void* pack = nullptr;
  T *cx = nullptr, *ce = nullptr, *bm = nullptr;
  int64_t* ci = nullptr;
  Cand<T>* w = nullptr;

  // false when an allocation failed.
  template <class S>
  bool reserve(int64_t n, bool packed, bool candidates) {
    if (packed && !(pack = scratch<S>(Scratch::kPackX, n))) return false;
    if (!candidates) return true;
    cx = scratch<T>(Scratch::kCandX, n);
    ce = scratch<T>(Scratch::kCandE, n);
    ci = scratch<int64_t>(Scratch::kCandI, n);
    w = scratch<Cand<T>>(Scratch::kCandSort, n);
    bm = scratch<T>(Scratch::kBlockMax, n / 4 + 1);
    return cx && ce && ci && w && bm;
  }

  // The row at p (element stride ns) as a contiguous pointer (core/strided.h).
  template <class S>
  const S* row(const S* p, int64_t ns, int64_t n) const {
    return contiguous_row(p, ns, n, static_cast<S*>(pack));
  }
};

// The rows of one call: the kernels, x, and its shape (rows of n elements,
// row stride rs, element stride ns).  Every job below extends it.
template <class T, class S = T>
struct RowsIn {
  const SamplingRowKernels<T, S>* k;
  const S* x;
  int64_t rows, n, rs, ns;
};

// row(r, x_r, scratch) for every row, on the pool; x_r is contiguous (packed
// when ns != 1).  candidates: whether the rows use the candidate arrays.
template <class T, class S, class F>
int for_each_row(const RowsIn<T, S>& in, bool candidates, F&& row) {
  return run_items(in.rows, grain_for(in.n), [&](int64_t r0, int64_t r1) {
    RowScratch<T> s;
    if (!s.template reserve<S>(in.n, in.ns != 1, candidates)) return false;
    for (int64_t r = r0; r < r1; ++r) row(r, s.row(in.x + r * in.rs, in.ns, in.n), s);
    return true;
  });
}

// 1/T in the kernel's type; an overflow (T below 1/max) saturates: the row is
// then all but greedy, e = 1 at the max and 0 elsewhere.
template <class T>
T inverse_temperature(double t) {
  const double it = 1.0 / t;
  return it < double(std::numeric_limits<T>::max()) ? T(it) : std::numeric_limits<T>::max();
}

// A threshold t on x with {x >= t} containing every e_i >= tau: the bound
// x >= m + T*log(tau), widened by 1e-3 in the exponent and a few ulps of m so
// that exp rounding cannot drop a boundary element.
template <class T>
T threshold_for(T m, T it, double tau) {
  const double ulps = std::fabs(double(m)) * (sizeof(T) == 4 ? 0x1p-20 : 0x1p-49);
  const double t = double(m) + (std::log(tau) - 1e-3) / double(it) - ulps;
  return t > -double(std::numeric_limits<T>::max()) ? T(t) : T(-INFINITY);
}

// A threshold with at least k elements x >= t: the k-th largest of >= 2k
// block maxima (k distinct blocks reach it).  -inf (all) for k > n/8.
template <class T, class S>
T topk_threshold(const SamplingRowKernels<T, S>& k, const S* x, int64_t n, int64_t kk, T* bm) {
  int64_t b = n / (2 * kk);
  if (b >= 16) b -= b % 16;
  if (b < 4) return T(-INFINITY);
  const int64_t nb = (n + b - 1) / b;
  k.block_max(x, n, b, bm);
  std::nth_element(bm, bm + (kk - 1), bm + nb, [](T a, T c) { return a > c; });
  return bm[kk - 1];
}

// Mass-weighted quickselect: the position p after which w[0..p] holds, in
// the order, the shortest prefix of w[0..len) whose mass e is >= target;
// -1 when all of w has less.  Median-of-3 pivots; expected O(len).
template <class T>
int64_t weighted_prefix(Cand<T>* w, int64_t len, double target) {
  double total = 0;
  for (int64_t i = 0; i < len; ++i) total += double(w[i].e);
  if (!(total >= target)) return -1;
  int64_t lo = 0, hi = len;
  double acc = 0;  // mass of w[0..lo), all of it before w[lo..)
  while (hi - lo > 16) {
    const int64_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (before(w[mid], w[lo])) std::swap(w[mid], w[lo]);
    if (before(w[last], w[lo])) std::swap(w[last], w[lo]);
    if (before(w[mid], w[last])) std::swap(w[mid], w[last]);  // median now at last
    const Cand<T> piv = w[last];
    int64_t p = lo;
    double mb = 0;
    for (int64_t i = lo; i < last; ++i)
      if (before(w[i], piv)) {
        std::swap(w[i], w[p]);
        mb += double(w[p].e);
        ++p;
      }
    std::swap(w[p], w[last]);
    if (acc + mb >= target) {
      hi = p;
    } else if (acc + mb + double(w[p].e) >= target) {
      return p;
    } else {
      acc += mb + double(w[p].e);
      lo = p + 1;
    }
  }
  std::sort(w + lo, w + hi, before<T>);
  for (int64_t i = lo; i < hi; ++i) {
    acc += double(w[i].e);
    if (acc >= target) return i;
  }
  return hi > lo ? hi - 1 : (lo > 0 ? lo - 1 : 0);  // rounding: the region's last
}

// The top-p boundary among the candidates (cx, ci, ce)[0..cnt) in index
// order: false when their whole mass is below target (keep them all).  Up to
// kSmallSelect candidates go straight to the weighted quickselect.  Above,
// a histogram of mass over kBuckets equal bins of d = (m - x) / T (monotone
// in x, so a bin holds a slice of the order) finds the bin where the running
// mass passes the target, and only that bin's candidates are ranked: the
// quickselect's data-dependent branches over a nucleus of ~1e5 tokens cost
// ~10x more than two branch-free passes.
constexpr int64_t kSmallSelect = 4096;
constexpr int kBuckets = 2048;

// The walk of a mass histogram: the first bin where the running mass
// reaches target, and the mass of the bins before it (*before); bins when
// the target is never reached (rounding).
inline int mass_walk(const double* hist, int bins, double target, double* before) {
  double acc = 0.0;
  int b = 0;
  for (; b < bins; ++b) {
    if (acc + hist[b] >= target) break;
    acc += hist[b];
  }
  *before = acc;
  return b;
}

// The top-p boundary inside the candidates w[0..nb) of the bin mass_walk
// found, given the mass still missing: their weighted prefix, or, when
// rounding left the bin's mass short, its last element in the order.
template <class T>
Cand<T> bin_boundary(Cand<T>* w, int64_t nb, double missing) {
  int64_t p = weighted_prefix(w, nb, missing);
  if (p < 0) {
    p = 0;
    for (int64_t i = 1; i < nb; ++i)
      if (before(w[p], w[i])) p = i;
  }
  return w[p];
}

template <class T>
bool top_p_boundary(RowScratch<T>& s, int64_t cnt, T m, T it, double target, Cand<T>* b) {
  Cand<T>* w = s.w;
  if (cnt <= kSmallSelect) {
    for (int64_t i = 0; i < cnt; ++i) w[i] = Cand<T>{s.cx[i], s.ci[i], s.ce[i]};
    const int64_t p = weighted_prefix(w, cnt, target);
    if (p < 0) return false;
    *b = w[p];
    return true;
  }
  const double md = double(m), itd = double(it);
  double dmax = 0.0;
  for (int64_t i = 0; i < cnt; ++i)
    if (s.ce[i] > T(0)) dmax = std::max(dmax, (md - double(s.cx[i])) * itd);
  const double scale = dmax > 0 ? (kBuckets - 1) / dmax : 0.0;
  auto bin = [&](int64_t i) {
    const double v = (md - double(s.cx[i])) * itd * scale;  // >= 0; inf for -inf x
    return v < double(kBuckets - 1) ? int(v) : kBuckets - 1;
  };
  double hist[kBuckets] = {};
  for (int64_t i = 0; i < cnt; ++i) hist[bin(i)] += double(s.ce[i]);
  double acc;
  const int bs = mass_walk(hist, kBuckets, target, &acc);
  if (bs == kBuckets) return false;
  int64_t nb = 0;
  for (int64_t i = 0; i < cnt; ++i)
    if (bin(i) == bs) w[nb++] = Cand<T>{s.cx[i], s.ci[i], s.ce[i]};
  *b = bin_boundary(w, nb, target - acc);
  return true;
}

// The top-p boundary of a whole row from its mass histogram (sampling/
// row_kernels.h, vec_mass_hist): bins of width 1/kHistScale in d = (m - x) / T
// up to d = 32 (e^-32 ~ 1e-14: the last bin holds a negligible tail); the bin
// where the running mass passes top_p * S is gathered and ranked.  Three
// vector passes and no sort, whatever the size of the nucleus.  False when
// rounding leaves the target unreached (keep the whole row).  (Its own bin
// count: the results depend on the binning, so both stay as they were.)
constexpr int kHistBins = 4096;
constexpr double kHistScale = 128.0;

template <class T, class S>
bool top_p_by_histogram(const SamplingRowKernels<T, S>& k, const S* x, int64_t n, T m, T it, double top_p,
                        RowScratch<T>& s, Cand<T>* b) {
  double hist[kHistBins] = {};
  const double target = top_p * k.mass_hist(x, n, m, it, T(kHistScale), kHistBins, hist);
  double acc;
  const int bs = mass_walk(hist, kHistBins, target, &acc);
  if (bs == kHistBins) return false;
  const int64_t nb = k.gather_bin(x, n, m, it, T(kHistScale), kHistBins, bs, s.cx, s.ci);
  if (nb == 0) return false;  // not reached: the bin has mass
  k.cand_exp(s.cx, s.ce, nb, m, it);
  Cand<T>* w = s.w;
  for (int64_t i = 0; i < nb; ++i) w[i] = Cand<T>{s.cx[i], s.ci[i], s.ce[i]};
  *b = bin_boundary(w, nb, target - acc);
  return true;
}

// ------------------------------------------------------------------ sample --

template <class T, class S = T>
struct SampleJob : RowsIn<T, S> {
  const double* u;
  double temperature;
  int64_t top_k;
  double top_p, min_p;
  int64_t* out;
};

// Row r's warpers from a params struct of per-row arrays (sc_sample_params,
// sc_verify_params: the same field names) into j, "off" values normalised:
// top_k outside (0, n) -> 0, top_p >= 1 -> 1.
template <class T, class S, class P>
void set_row_warpers(SampleJob<T, S>& j, const P& p, int64_t r, int64_t n) {
  j.temperature = p.temperature[r];
  j.top_k = p.top_k[r] > 0 && p.top_k[r] < n ? p.top_k[r] : 0;
  j.top_p = p.top_p[r] < 1.0 ? p.top_p[r] : 1.0;
  j.min_p = p.min_p[r];
}

// The warpers' result on one row: the candidates (cx, ci, ce)[0..cnt) of the
// thread's scratch, in index order, and the rule that keeps a prefix of them
// (the order's boundary element (bx, bi), and e >= emin for min-p).
template <class T>
struct Kept {
  int64_t cnt;
  T bxx;
  int64_t bi;
  T emin;
  int unb;  // 1: no boundary (keep every candidate with e >= emin)
  // The kept mass of candidate i: branch-free (the keep test is a coin flip
  // per candidate on a big nucleus, and mispredicted branches were a third
  // of the time), a multiply, not a branch.
  double e(const RowScratch<T>& s, int64_t i) const {
    const T x = s.cx[i], e = s.ce[i];
    const int k = (int(x > bxx) | (int(x == bxx) & int(s.ci[i] <= bi)) | unb) & int(e >= emin);
    return double(e) * double(k);
  }
};

// The candidates and kept rule of top-k / top-p / min-p on row x (module
// comment), with m its max and it = 1/T.
template <class T, class S>
Kept<T> warp_candidates(const SampleJob<T, S>& j, const S* x, T m, T it, RowScratch<T>& s) {
  const SamplingRowKernels<T, S>& k = *j.k;
  const int64_t n = j.n;
  const bool topk = j.top_k > 0 && j.top_k < n, topp = j.top_p < 1.0, minp = j.min_p > 0.0;
  const double S_all = topp && !topk ? k.sum_exp(x, nullptr, n, m, it) : 0.0;
  double tau = 0.0;
  T xt;
  if (topk) {
    xt = topk_threshold(k, x, n, j.top_k, s.bm);
  } else {
    tau = topp ? 0x1p-6 : j.min_p;
    if (minp && tau < j.min_p) tau = j.min_p;
    xt = threshold_for(m, it, tau);
  }
  int64_t cnt;
  bool by_hist = false, bounded = false;
  Cand<T> b{};
  for (;;) {
    cnt = k.gather_ge(x, n, xt, s.cx, s.ci);
    const double mass = k.cand_exp(s.cx, s.ce, cnt, m, it);
    if (cnt == n || xt == T(-INFINITY)) break;
    if (topk) {
      if (cnt >= j.top_k) break;
      xt = T(-INFINITY);  // not reached: the threshold guarantees k
      continue;
    }
    if ((minp && tau <= j.min_p) || (topp && mass >= j.top_p * S_all)) break;
    if (tau > 0x1p-10 && cnt <= n / 32) {  // one more, wider bound: 2^-14
      tau *= 0x1p-8;
      if (minp && tau <= j.min_p) tau = j.min_p;
      xt = threshold_for(m, it, tau);
      continue;
    }
    // A big nucleus (top-p without top-k, and the bounds so far held too
    // little mass or too many tokens): the boundary from the mass histogram,
    // then C = {x >= boundary}.
    by_hist = true;
    bounded = top_p_by_histogram(k, x, n, m, it, j.top_p, s, &b);
    cnt = k.gather_ge(x, n, bounded ? b.x : T(-INFINITY), s.cx, s.ci);
    k.cand_exp(s.cx, s.ce, cnt, m, it);
    break;
  }

  Cand<T>* w = s.w;
  if (by_hist) {
    // boundary known
  } else if (topk && j.top_k < cnt) {
    for (int64_t i = 0; i < cnt; ++i) w[i] = Cand<T>{s.cx[i], s.ci[i], s.ce[i]};
    std::nth_element(w, w + (j.top_k - 1), w + cnt, before<T>);
    b = w[j.top_k - 1];
    bounded = true;
    if (topp) {
      double Sk = 0.0;
      for (int64_t i = 0; i < j.top_k; ++i) Sk += double(w[i].e);
      const int64_t p = weighted_prefix(w, j.top_k, j.top_p * Sk);
      if (p >= 0) b = w[p];
    }
  } else if (topp) {
    double Sk = S_all;
    if (topk) {  // C is the whole row and within top-k
      Sk = 0.0;
      for (int64_t i = 0; i < cnt; ++i) Sk += double(s.ce[i]);
    }
    bounded = top_p_boundary(s, cnt, m, it, j.top_p * Sk, &b);
  }
  const int64_t bi = bounded ? b.i : INT64_MAX;
  const T bxx = bounded ? b.x : T(-INFINITY);
  const T emin = minp ? T(j.min_p) : T(0);
  return Kept<T>{cnt, bxx, bi, emin, bounded ? 0 : 1};
}

// Inverse CDF over the candidates 0..cnt of s with weights w(i) >= 0, in
// index order: the token s.ci[i] of the first i whose running weight
// exceeds u * (total weight); the last positive one when rounding keeps it
// from being reached; -1 when every weight is 0.  Sums in blocks of 16.
template <class T, class W>
int64_t draw_candidates(const RowScratch<T>& s, int64_t cnt, W&& w, double u) {
  constexpr int64_t kBlk = 16;
  double p0 = 0, p1 = 0, p2 = 0, p3 = 0;
  int64_t i4 = 0;
  for (; i4 + 4 <= cnt; i4 += 4) {
    p0 += w(i4);
    p1 += w(i4 + 1);
    p2 += w(i4 + 2);
    p3 += w(i4 + 3);
  }
  for (; i4 < cnt; ++i4) p0 += w(i4);
  const double target = u * ((p0 + p1) + (p2 + p3));
  double acc = 0.0;
  int64_t last = -1;
  for (int64_t i0 = 0; i0 < cnt; i0 += kBlk) {
    const int64_t i1 = cnt - i0 < kBlk ? cnt : i0 + kBlk;
    double bs = 0.0;
    for (int64_t i = i0; i < i1; ++i) bs += w(i);
    if (bs > 0) last = i0;
    if (acc + bs <= target) {
      acc += bs;
      continue;
    }
    for (int64_t i = i0; i < i1; ++i) {
      const double e = w(i);
      acc += e;
      if (e > 0 && acc > target) return s.ci[i];
    }
  }
  if (last < 0) return -1;
  for (int64_t i = (cnt - last < kBlk ? cnt : last + kBlk) - 1; i >= last; --i)
    if (w(i) > 0) return s.ci[i];
  return -1;
}

template <class T, class S>
int64_t sample_filtered(const SampleJob<T, S>& j, const S* x, T m, T it, double u, RowScratch<T>& s) {
  const Kept<T> kp = warp_candidates(j, x, m, it, s);
  return draw_candidates(s, kp.cnt, [&](int64_t i) { return kp.e(s, i); }, u);
}

template <class T, class S>
int64_t sample_row(const SampleJob<T, S>& j, const S* x, double u, RowScratch<T>& s) {
  const SamplingRowKernels<T, S>& k = *j.k;
  const int64_t n = j.n;
  T m;
  if (k.max_nan(x, n, &m) || !std::isfinite(m)) return -1;
  if (j.temperature == 0.0 || 1.0 / j.temperature >= double(std::numeric_limits<T>::max()))
    return k.find_first_ge(x, n, m);
  const T it = inverse_temperature<T>(j.temperature);
  const bool filtered = (j.top_k > 0 && j.top_k < n) || j.top_p < 1.0 || j.min_p > 0.0;
  if (!filtered) {
    const double sum = k.sum_exp(x, nullptr, n, m, it);
    return k.pick_cumulative(x, n, m, it, u * sum);
  }
  return sample_filtered(j, x, m, it, u, s);
}

template <class T, class S>
int sample_impl(const SamplingRowKernels<T, S>& k, const S* x, int64_t rows, int64_t n, int64_t rs, int64_t ns,
                const double* u, double temperature, int64_t top_k, double top_p, double min_p, int64_t* out) {
  const SampleJob<T, S> j{{&k, x, rows, n, rs, ns}, u, temperature, top_k, top_p, min_p, out};
  return for_each_row(j, true, [&](int64_t r, const S* xr, RowScratch<T>& s) { out[r] = sample_row(j, xr, u[r], s); });
}

// ------------------------------------------------------------ sample_batch --
// The serving sampler.  The processors are sparse edits of the row: one pass
// copies it into the thread's scratch (the allowed mask fused into the copy,
// or a plain copy), then the bias ids and the distinct history tokens edit a
// few entries in place; the selection above runs on that copy.  Rows without
// processors are not copied.  Everything is a function of the row, its
// parameters and its uniform, so the thread count changes nothing.

// The processed row y (module comment of sc_sample_batch), or x itself when
// no processor applies; nullptr when the scratch cannot be had.
template <class T>
const T* processed_row(const sc_sample_params& p, int64_t r, const T* x, int64_t n) {
  const unsigned char* a = p.allowed ? p.allowed + r * p.allowed_row_stride : nullptr;
  const int64_t* ids = p.n_bias > 0 ? p.bias_ids + r * p.bias_row_stride : nullptr;
  const double* bv = p.n_bias > 0 ? p.bias + r * p.bias_row_stride : nullptr;
  const double rep = p.repetition[r], pres = p.presence[r], freq = p.frequency[r];
  const bool pen = p.n_history > 0 && (rep != 1.0 || pres != 0.0 || freq != 0.0);
  if (!a && !ids && !pen) return x;
  T* y = scratch<T>(Scratch::kProcRow, n);
  if (!y) return nullptr;
  if (a) {
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] ? x[i] : T(-INFINITY);
  } else {
    std::copy(x, x + n, y);
  }
  if (ids)
    for (int64_t j = 0; j < p.n_bias; ++j)
      if (ids[j] >= 0) y[ids[j]] = T(double(y[ids[j]]) + bv[j]);
  if (pen) {
    int64_t* h = scratch<int64_t>(Scratch::kHistory, p.n_history);
    if (!h) return nullptr;
    const int64_t* src = p.history + r * p.n_history;
    int64_t nh = 0;
    for (int64_t j = 0; j < p.n_history; ++j)
      if (src[j] >= 0) h[nh++] = src[j];
    std::sort(h, h + nh);
    for (int64_t j = 0; j < nh;) {
      int64_t e = j;
      while (e < nh && h[e] == h[j]) ++e;
      const int64_t t = h[j];
      double v = double(y[t]);
      if (rep != 1.0) v = v > 0 ? v / rep : v * rep;
      v -= pres + freq * double(e - j);
      y[t] = T(v);
      j = e;
    }
  }
  return y;
}

// logprob / top-n of one row z under softmax(z * it): log p_i = (z_i - m) * it
// - log S, S summed by the sampling exp, the top-n numerators in double.
template <class T>
void row_logprobs(const SamplingRowKernels<T>& k, const sc_sample_params& p, int64_t r, const T* z, int64_t n,
                  double t, int64_t tok, RowScratch<T>& s) {
  const double itd = t > 0 ? 1.0 / t : 1.0;
  const T it = t > 0 ? inverse_temperature<T>(t) : T(1);
  T m;
  k.max_nan(z, n, &m);
  const double lS = std::log(k.sum_exp(z, nullptr, n, m, it));
  auto lp = [&](T v) { return v == T(-INFINITY) ? -INFINITY : (double(v) - double(m)) * itd - lS; };
  p.logprob[r] = tok >= 0 ? lp(z[tok]) : NAN;
  const int64_t kk = p.logprobs;
  if (kk == 0) return;
  int64_t* ids = p.top_ids + r * kk;
  double* lps = p.top_logprobs + r * kk;
  const T xt = topk_threshold(k, z, n, kk, s.bm);
  const int64_t cnt = k.gather_ge(z, n, xt, s.cx, s.ci);
  Cand<T>* w = s.w;
  for (int64_t i = 0; i < cnt; ++i) w[i] = Cand<T>{s.cx[i], s.ci[i], T(0)};
  if (kk < cnt) std::nth_element(w, w + (kk - 1), w + cnt, before<T>);
  std::sort(w, w + kk, before<T>);
  for (int64_t i = 0; i < kk; ++i) {
    ids[i] = w[i].i;
    lps[i] = lp(w[i].x);
  }
}

template <class T>
int sample_batch_impl(const SamplingRowKernels<T>& k, const T* x, int64_t rows, int64_t n, int64_t rs, int64_t ns,
                      const sc_sample_params& p, int64_t* out) {
  const SampleJob<T> j0{{&k, x, rows, n, rs, ns}, p.u, 1.0, 0, 1.0, 0.0, out};
  return run_items(rows, grain_for(n), [&](int64_t r0, int64_t r1) {
    RowScratch<T> s;
    if (!s.template reserve<T>(n, ns != 1, true)) return false;
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = s.row(x + r * rs, ns, n);
      const T* y = processed_row(p, r, xr, n);
      if (!y) return false;
      SampleJob<T> j = j0;
      set_row_warpers(j, p, r, n);
      const int64_t tok = sample_row(j, y, p.u[r], s);
      out[r] = tok;
      if (p.logprob && tok >= 0) {
        if (p.raw) row_logprobs(k, p, r, xr, n, 1.0, tok, s);
        else row_logprobs(k, p, r, y, n, j.temperature, tok, s);
      }
    }
    return true;
  });
}

// ------------------------------------------------------------ verify_draft --
// Speculative-decoding verification (sc_verify_draft).  The target
// distribution p_j of a position is the warpers' kept candidates
// (warp_candidates, or the argmax for greedy), so p_j(d) is a binary search
// in the candidates (index order) and the residual max(0, p - q) is nonzero
// only on them: the correction is the same inverse CDF over the candidates
// with the residual as weights.  Without warpers p_j is the row's softmax,
// stored once (verify_position).  The
// bonus token is sample_row itself.  Per request: the checks of its draft
// rows, then the positions up to the first rejection.

constexpr double kDraftSumTol = 1e-3;  // |sum q - 1| allowed (sampling.h)

// p_j of one target row with warpers (or greedy): the candidates in s and
// their rule; false for an invalid row.
template <class T, class S>
bool target_candidates(const SampleJob<T, S>& j, const S* x, RowScratch<T>& s, Kept<T>* kp) {
  const SamplingRowKernels<T, S>& k = *j.k;
  const int64_t n = j.n;
  T m;
  if (k.max_nan(x, n, &m) || !std::isfinite(m)) return false;
  if (j.temperature == 0.0 || 1.0 / j.temperature >= double(std::numeric_limits<T>::max())) {
    s.cx[0] = m;
    s.ci[0] = k.find_first_ge(x, n, m);
    s.ce[0] = T(1);
    *kp = Kept<T>{1, T(-INFINITY), INT64_MAX, T(0), 1};
    return true;
  }
  SC_ASSERT((j.top_k > 0 && j.top_k < n) || j.top_p < 1.0 || j.min_p > 0.0);
  *kp = warp_candidates(j, x, m, inverse_temperature<T>(j.temperature), s);
  return true;
}

constexpr int64_t kAccepted = -2;

// One draft position: kAccepted when d passes u * q(d) < p(d), else the
// correction token drawn with u_draw (-1: an invalid target row).  Without
// warpers p is the whole row's softmax: an accepted position is the max and
// sum passes, a rejected one adds the residual pass (stored) and a pick over
// it (the candidate path's scalar loops over 128k entries cost ~1.5 ms a
// position).  pf: a row to prefetch during the sum pass (the pass runs
// from L2; the next row's memory reads overlap it, as softmax's prefetch;
// not A/B-timed alone here: the box was at load 8-10).
template <class T, class S>
int64_t verify_position(const SampleJob<T, S>& j, const S* x, int64_t d, const T* q, const T* pf, double u,
                        double u_draw, RowScratch<T>& s) {
  const SamplingRowKernels<T, S>& k = *j.k;
  const int64_t n = j.n;
  const double qd = q ? double(q[d]) : 1.0;
  const bool greedy = j.temperature == 0.0 || 1.0 / j.temperature >= double(std::numeric_limits<T>::max());
  if (!greedy && j.top_k == 0 && j.top_p >= 1.0 && j.min_p == 0.0) {
    T m;
    if (k.max_nan(x, n, &m) || !std::isfinite(m)) return -1;
    const T it = inverse_temperature<T>(j.temperature);
    const double Z = pf ? k.sum_exp_prefetch(x, n, m, it, pf) : k.sum_exp(x, nullptr, n, m, it);
    T ed;
    k.sum_exp(x + d, &ed, 1, m, it);  // the same exp as the sum's
    if (u * qd < double(ed) / Z) return kAccepted;
    T* w = s.cx;
    double W = k.residual(x, q, n, m, it, T(1.0 / Z), w);
    if (!q) {  // q one-hot at d: the residual is p without d
      W -= double(w[d]);
      w[d] = T(0);
    }
    const int64_t tok = k.pick_stored(w, n, u_draw * W);
    return tok >= 0 ? tok : k.pick_cumulative(x, n, m, it, u_draw * Z);  // rounding: p itself
  }
  Kept<T> kp;
  if (!target_candidates(j, x, s, &kp)) return -1;
  double Z = 0.0;
  for (int64_t i = 0; i < kp.cnt; ++i) Z += kp.e(s, i);
  const double iz = 1.0 / Z;
  const int64_t at = std::lower_bound(s.ci, s.ci + kp.cnt, d) - s.ci;
  const double pd = at < kp.cnt && s.ci[at] == d ? kp.e(s, at) * iz : 0.0;
  if (u * qd < pd) return kAccepted;  // accept with probability min(1, p/q)
  auto residual = [&](int64_t i) {
    const int64_t t = s.ci[i];
    const double w = kp.e(s, i) * iz - (q ? double(q[t]) : double(t == d));
    return w > 0 ? w : 0.0;
  };
  const int64_t tok = draw_candidates(s, kp.cnt, residual, u_draw);
  return tok >= 0 ? tok : draw_candidates(s, kp.cnt, [&](int64_t i) { return kp.e(s, i); }, u_draw);
}

template <class T, class S>
struct VerifyJob {
  const SamplingRowKernels<T, S>* k;
  const S* x;
  int64_t rows, kd, n, rs, ns;
  const sc_verify_params* p;
  signed char* bad;  // per draft row: 0 ok, 1 negative / non-finite, 2 sum off
  double* sums;
};

// Request r: its accepted count (-1: an invalid target row) and tokens.
template <class T, class S>
void verify_request(const VerifyJob<T, S>& v, int64_t r, RowScratch<T>& s) {
  const sc_verify_params& p = *v.p;
  const int64_t kd = v.kd, n = v.n;
  const T* q0 = static_cast<const T*>(p.draft_probs);
  int64_t* toks = p.tokens + r * (kd + 1);
  for (int64_t j = 0; j <= kd; ++j) toks[j] = -1;
  p.num_accepted[r] = 0;
  // Each draft row is checked just before its position uses it (then it is
  // still in cache for the residual); the rows after the stop are checked
  // all the same.  Once a row is bad the request only checks.
  auto check = [&](int64_t pos) {
    if (!q0) return true;
    const int64_t row = r * kd + pos;
    double sum;
    const bool neg = v.k->prob_sum(q0 + row * n, n, &sum);
    v.sums[row] = sum;
    v.bad[row] = neg ? 1 : (std::fabs(sum - 1.0) > kDraftSumTol ? 2 : 0);
    return v.bad[row] == 0;
  };
  SampleJob<T, S> j{{v.k, nullptr, 1, n, 0, 1}, nullptr, 1.0, 0, 1.0, 0.0, nullptr};
  set_row_warpers(j, p, r, n);
  const double* u = p.u + r * (kd + 1);
  const S* xr0 = v.x + r * (kd + 1) * v.rs;
  bool ok = true;
  for (int64_t pos = 0; pos < kd; ++pos) {
    ok = check(pos) && ok;
    if (!ok) continue;  // reported by the caller
    const S* x = s.row(xr0 + pos * v.rs, v.ns, n);
    const int64_t d = p.draft_tokens[r * kd + pos];
    const T* q = q0 ? q0 + (r * kd + pos) * n : nullptr;
    const T* pf = q && pos + 1 < kd ? q + n : nullptr;  // the next draft row, read next whatever happens
    const int64_t tok = verify_position(j, x, d, q, pf, u[pos], u[kd], s);
    if (tok == kAccepted) {
      toks[pos] = d;
      p.num_accepted[r] = pos + 1;
      continue;
    }
    if (tok < 0) p.num_accepted[r] = -1;
    toks[pos] = tok;
    for (int64_t rest = pos + 1; rest < kd; ++rest) check(rest);
    return;
  }
  if (!ok) return;
  const int64_t tok = sample_row(j, s.row(xr0 + kd * v.rs, v.ns, n), u[kd], s);
  if (tok < 0) p.num_accepted[r] = -1;
  toks[kd] = tok;
}

template <class T, class S>
int verify_impl(const SamplingRowKernels<T, S>& k, const S* x, int64_t rows, int64_t kd, int64_t n, int64_t rs,
                int64_t ns, const sc_verify_params& p) {
  std::vector<signed char> bad(size_t(p.draft_probs ? rows * kd : 0), 0);  // bad_alloc: SC_ENOMEM at the ABI
  std::vector<double> sums(bad.size(), 0.0);
  const VerifyJob<T, S> v{&k, x, rows, kd, n, rs, ns, &p, bad.data(), sums.data()};
  const int st = run_items(rows, grain_for(n * (kd + 1)), [&](int64_t r0, int64_t r1) {
    RowScratch<T> s;
    if (!s.template reserve<S>(n, ns != 1, true)) return false;
    for (int64_t r = r0; r < r1; ++r) verify_request(v, r, s);
    return true;
  });
  if (st != SC_OK) return st;
  for (size_t i = 0; i < bad.size(); ++i) {
    const long long r = (long long)(int64_t(i) / kd), j = (long long)(int64_t(i) % kd);
    if (bad[i] == 1) return invalid("draft_probs: row (%lld, %lld) has a negative or non-finite entry", r, j);
    if (bad[i] == 2)
      return invalid("draft_probs: row (%lld, %lld) sums to %.9g, not 1 (tolerance %g)", r, j, sums[i], kDraftSumTol);
  }
  return SC_OK;
}

// ------------------------------------------------------------ topk_softmax --

template <class T, class S>
struct TopkJob : RowsIn<T, S> {
  int64_t kk;
  T it;
  double it_d;  // 1/T in double
  S* probs;
  int64_t* idx;
};

// A T result as S: T itself, or rounded once to nearest even (core/half.h).
template <class S, class T>
inline S narrow_to(T v) {
  if constexpr (is_half_v<S>) return from_f32<S>(v);
  else return v;
}

template <class T, class S>
void topk_row(const TopkJob<T, S>& j, const S* x, S* probs, int64_t* idx, RowScratch<T>& s) {
  const SamplingRowKernels<T, S>& k = *j.k;
  const int64_t n = j.n, kk = j.kk;
  T m;
  if (k.max_nan(x, n, &m) || !std::isfinite(m)) {
    for (int64_t i = 0; i < kk; ++i) {
      probs[i] = narrow_to<S>(T(NAN));
      idx[i] = -1;
    }
    return;
  }
  const double sum = k.sum_exp(x, nullptr, n, m, j.it);
  const T xt = topk_threshold(k, x, n, kk, s.bm);
  const int64_t cnt = k.gather_ge(x, n, xt, s.cx, s.ci);  // >= kk
  Cand<T>* w = s.w;
  for (int64_t i = 0; i < cnt; ++i) w[i] = Cand<T>{s.cx[i], s.ci[i], T(0)};
  if (kk < cnt) std::nth_element(w, w + (kk - 1), w + cnt, before<T>);
  std::sort(w, w + kk, before<T>);  // the k winners only
  // The k numerators in double (k scalar exps): only the sum carries the
  // kernel exp's error, which averages over the row.
  for (int64_t i = 0; i < kk; ++i) {
    probs[i] = narrow_to<S>(T(std::exp((double(w[i].x) - double(m)) * j.it_d) / sum));
    idx[i] = w[i].i;
  }
}

template <class T, class S>
int topk_impl(const SamplingRowKernels<T, S>& k, const S* x, int64_t rows, int64_t n, int64_t rs, int64_t ns,
              int64_t kk, double temperature, S* probs, int64_t* idx) {
  const TopkJob<T, S> j{{&k, x, rows, n, rs, ns}, kk, inverse_temperature<T>(temperature), 1.0 / temperature, probs, idx};
  return for_each_row(j, true, [&](int64_t r, const S* xr, RowScratch<T>& s) {
    topk_row(j, xr, probs + r * kk, idx + r * kk, s);
  });
}

// --------------------------------------------------------- fit_temperature --

template <class T, class S>
int moments_impl(const SamplingRowKernels<T, S>& k, const S* x, int64_t rows, int64_t n, int64_t rs, int64_t ns,
                 double beta, double* sums) {
  std::vector<double> res(size_t(3 * rows), 0.0);  // bad_alloc: SC_ENOMEM at the ABI
  const RowsIn<T, S> in{&k, x, rows, n, rs, ns};
  const int st = for_each_row(in, false, [&](int64_t r, const S* xr, RowScratch<T>&) {
    T m;
    k.max_nan(xr, n, &m);
    double q[3];
    k.moments(xr, n, m, T(beta), q);
    const double mu = q[1] / q[0];
    double var = q[2] / q[0] - mu * mu;
    res[size_t(3 * r)] = beta * double(m) + std::log(q[0]);
    res[size_t(3 * r + 1)] = double(m) + mu;
    res[size_t(3 * r + 2)] = var > 0 ? var : 0.0;
  });
  if (st != SC_OK) return st;
  sums[0] = sums[1] = sums[2] = 0.0;
  for (int64_t r = 0; r < rows; ++r)
    for (int c = 0; c < 3; ++c) sums[c] += res[size_t(3 * r + c)];
  return SC_OK;
}

// SC_OK, or SC_EINVAL naming the first bad argument.
int check_rows(int64_t rows, int64_t n) {
  if (rows < 0) return invalid("rows: must be >= 0, got %lld", (long long)rows);
  if (n < 1) return invalid("n: must be >= 1, got %lld", (long long)n);
  return SC_OK;
}

int check_sample(double temperature, int64_t top_k, double top_p, double min_p) {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    return invalid("temperature: must be finite and >= 0, got %g", temperature);
  if (top_k < 0) return invalid("top_k: must be >= 0, got %lld", (long long)top_k);
  if (!(top_p > 0)) return invalid("top_p: must be > 0, got %g", top_p);
  if (!(min_p >= 0 && min_p <= 1)) return invalid("min_p: must be in [0, 1], got %g", min_p);
  return SC_OK;
}

// check_sample on every row of a params struct of per-row warpers.
template <class P>
int check_row_warpers(const P& p, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    if (int st = check_sample(p.temperature[r], p.top_k[r] < 0 ? 0 : p.top_k[r], p.top_p[r], p.min_p[r])) return st;
  return SC_OK;
}

}  // namespace
}  // namespace sc

extern "C" {

int sc_sample(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride, int64_t n_stride,
              const double* u, double temperature, int64_t top_k, double top_p, double min_p, int64_t* out) {
  return sc::c_abi([&] {
    if (int st = sc::check_rows(rows, n)) return st;
    if (int st = sc::check_sample(temperature, top_k, top_p, min_p)) return st;
    return sc::dispatch_dtype_half(dtype, [&](auto tag) {
      using S = decltype(tag);
      return sc::sample_impl(sc::of<S>(sc::active()->sampling), static_cast<const S*>(x), rows, n, row_stride,
                             n_stride, u, temperature, top_k, top_p, min_p, out);
    });
  });
}

int sc_sample_batch(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride, int64_t n_stride,
                    const sc_sample_params* params, int64_t* out) {
  return sc::c_abi([&] {
    if (int st = sc::check_rows(rows, n)) return st;
    if (!params) return sc::invalid("params: NULL");
    const sc_sample_params& p = *params;
    if (int st = sc::check_row_warpers(p, rows)) return st;
    if (p.logprobs < 0 || p.logprobs > n) return sc::invalid("logprobs: must be in [0, n], got %lld", (long long)p.logprobs);
    return sc::dispatch_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      return sc::sample_batch_impl<T>(sc::of<T>(sc::active()->sampling), static_cast<const T*>(x), rows, n,
                                      row_stride, n_stride, p, out);
    });
  });
}

int sc_verify_draft(int dtype, const void* x, int64_t rows, int64_t k, int64_t n, int64_t row_stride,
                    int64_t n_stride, const sc_verify_params* params) {
  return sc::c_abi([&] {
    if (int st = sc::check_rows(rows, n)) return st;
    if (k < 0) return sc::invalid("k: must be >= 0, got %lld", (long long)k);
    if (!params) return sc::invalid("params: NULL");
    const sc_verify_params& p = *params;
    if (int st = sc::check_row_warpers(p, rows)) return st;
    for (int64_t i = 0; i < rows * k; ++i)
      if (p.draft_tokens[i] < 0 || p.draft_tokens[i] >= n)
        return sc::invalid("draft_tokens: %lld outside [0, %lld)", (long long)p.draft_tokens[i], (long long)n);
    return sc::dispatch_dtype_half(dtype, [&](auto tag) {
      using S = decltype(tag);
      return sc::verify_impl(sc::of<S>(sc::active()->sampling), static_cast<const S*>(x), rows, k, n, row_stride,
                             n_stride, p);
    });
  });
}

int sc_topk_softmax(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride, int64_t n_stride,
                    int64_t k, double temperature, void* probs, int64_t* idx) {
  return sc::c_abi([&] {
    if (int st = sc::check_rows(rows, n)) return st;
    if (k < 1 || k > n) return sc::invalid("k: must be in [1, n = %lld], got %lld", (long long)n, (long long)k);
    if (!(temperature > 0) || !std::isfinite(temperature))
      return sc::invalid("temperature: must be finite and > 0, got %g", temperature);
    return sc::dispatch_dtype_half(dtype, [&](auto tag) {
      using S = decltype(tag);
      return sc::topk_impl(sc::of<S>(sc::active()->sampling), static_cast<const S*>(x), rows, n, row_stride,
                           n_stride, k, temperature, static_cast<S*>(probs), idx);
    });
  });
}

int sc_temperature_moments(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride,
                           int64_t n_stride, double beta, double* sums) {
  return sc::c_abi([&] {
    if (int st = sc::check_rows(rows, n)) return st;
    if (!(beta > 0) || !std::isfinite(beta)) return sc::invalid("beta: must be finite and > 0, got %g", beta);
    return sc::dispatch_dtype_half(dtype, [&](auto tag) {
      using S = decltype(tag);
      return sc::moments_impl(sc::of<S>(sc::active()->sampling), static_cast<const S*>(x), rows, n, row_stride,
                              n_stride, beta, sums);
    });
  });
}

}  // extern "C"
