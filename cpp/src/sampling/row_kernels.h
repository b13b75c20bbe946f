// Row primitives of the sampling family (sample, topk_softmax,
// fit_temperature), written once over the vector layer.  They see one
// contiguous row; sampling/driver.cpp does rows, threads, selection and the choice
// of token.
//
// The exp is the softmax path's exp_minus_max in its kFast form: a sampling
// decision needs the relative probabilities to ~1e-6, not the 3e-6 bound of
// tiny softmax outputs (simd/exp.h), and the argument (x - m) * it is <= 0
// because m is the row max (rows with NaN or a non-finite max never get here).
// Every kernel below that needs e_i computes it with the same function of x_i,
// so a candidate's e_i equals the e_i of the full-row sums bit for bit.
//
// Row storage S: the kernels read rows (x, and verify_draft's q) of S = V::T,
// or of a half storage type (f16, bf16, with V = VF) that the loader below
// widens exactly in registers (simd HalfLanes); everything is then computed
// in float32 and stored (candidates, exps, weights) as float32.  So a half
// row gives, bit for bit, what its float32 copy gives, with no copy made.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "sampling/table.h"
#include "simd/exp.h"
#include "simd/loops.h"
#include "softmax/row_kernels.h"

namespace sc {
namespace SC_NS {

template <class T>
constexpr T m_fill() {
  return -INFINITY;  // unused lanes: e = 0, last bin
}

// The 4 vectors at x (4N elements) to a, and the bits of their lanes >= t
// (lane j of the block at 1 << j; NaN never): one word per 4N elements
// decides whether the block needs a look, and its set bits say where.
template <class V, class S>
inline uint64_t ge_bits4(const S* x, V t, V* a) {
  static_assert(4 * V::N <= 64, "the block's bits fit one word");
  uint64_t bits = 0;
  for (int k = 0; k < 4; ++k) {
    a[k] = load_lanes<V>(x + k * V::N);
    bits |= uint64_t(mask_bits(le(t, a[k]))) << (k * V::N);
  }
  return bits;
}

// Those 4N elements as T for the scalar look: x itself, or a stored to buf.
template <class V, class S>
inline const typename V::T* widened4(const S* x, const V* a, typename V::T* buf) {
  if constexpr (std::is_same_v<S, typename V::T>) {
    return x;
  } else {
    for (int k = 0; k < 4; ++k) store(buf + k * V::N, a[k]);
    return buf;
  }
}

template <class V>
inline V sample_exp(V x, V m, V it) {
  return exp_minus_max<V, true, kFastUnchecked>(x, m, it, V::zero());
}

template <class V, class S>
bool vec_max_nan(const S* x, int64_t n, typename V::T* mx) {
  SC_ASSERT(n >= 1 && x);
  using T = typename V::T;
  const V ninf = V::set1(-INFINITY), zero = V::zero(), one = V::set1(T(1));
  V m[2] = {ninf, ninf}, bad[2] = {zero, zero};
  vector_loop<V, 2>(0, n, [&](int64_t i, int k, auto part) {
    const V a = load<V>(x + i, part, T(-INFINITY));
    m[k] = max(m[k], a);
    bad[k] = max(bad[k], select(eq(a, a), zero, one));
  });
  *mx = reduce_max(max(m[0], m[1]));
  return reduce_max(max(bad[0], bad[1])) > T(0);
}

template <class V, class S>
int64_t vec_find_first_ge(const S* x, int64_t n, typename V::T v) {
  constexpr int64_t N = V::N;
  const V vv = V::set1(v);
  V a[4];
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N)
    if (const uint64_t bits = ge_bits4(x + i, vv, a)) return i + __builtin_ctzll(bits);
  for (; i < n; ++i)
    if (wide(x[i]) >= v) return i;
  return -1;
}

template <class V, class S>
void vec_block_max(const S* x, int64_t n, int64_t b, typename V::T* out) {
  using T = typename V::T;
  for (int64_t j = 0, s = 0; s < n; ++j, s += b) {
    const int64_t e = n - s < b ? n : s + b;
    V m[2] = {V::set1(-INFINITY), V::set1(-INFINITY)};
    vector_loop<V, 2>(s, e, [&](int64_t i, int k, auto part) { m[k] = max(m[k], load<V>(x + i, part, T(-INFINITY))); });
    out[j] = reduce_max(max(m[0], m[1]));
  }
}

// Candidates are usually a small fraction of the row: the vector test skips
// the blocks of 4N elements holding none, so the pass costs about one load
// and one compare per element.  A block with candidates walks the set bits
// of its four masks (one word, lowest first: index order), one step per
// candidate and one loop exit to mispredict, not a branch per element (on a
// flat row about half the elements pass, a coin flip the predictor loses:
// a branchy loop was a third of a flat top-p row's time).  It compacted all
// 4N elements of such a block branch-free before, and a threshold with a
// few % of the row above it leaves one in most blocks: (32, 128256) peaked
// logits, T = 0.7, top-p 0.9 (about 2000 of 128256 above the second
// threshold), 1 thread.
template <class V, class S>
int64_t vec_gather_ge(const S* x, int64_t n, typename V::T t, typename V::T* cx, int64_t* ci) {
  constexpr int64_t N = V::N;
  typename V::T buf[4 * N];
  const V vt = V::set1(t);
  int64_t c = 0, i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    V a[4];
    uint64_t bits = ge_bits4(x + i, vt, a);
    if (!bits) continue;
    const typename V::T* b = widened4<V>(x + i, a, buf);
    for (; bits; bits &= bits - 1) {
      const int j = __builtin_ctzll(bits);
      cx[c] = b[j];
      ci[c++] = i + j;
    }
  }
  for (; i < n; ++i)
    if (wide(x[i]) >= t) {
      cx[c] = wide(x[i]);
      ci[c++] = i;
    }
  return c;
}

// The sampling row sums: vec_sum_exp of softmax/row_kernels.h over a row of
// S (the same blocks, exps and order: the same sums for every storage).
template <class V, class S>
double vec_sample_sum_exp(const S* x, typename V::T* e, int64_t n, typename V::T m, typename V::T it) {
  return vec_sum_exp<V, true, kFastUnchecked>(x, e, n, m, it, typename V::T(0), nullptr);
}

template <class V, class S>
double vec_sample_sum_exp_prefetch(const S* x, int64_t n, typename V::T m, typename V::T it,
                                   const typename V::T* pf) {
  return vec_sum_exp<V, true, kFastUnchecked>(x, nullptr, n, m, it, typename V::T(0), pf);
}

// buf[0..4N) = e of x[0..len), zeros beyond len (len <= 4N).
template <class V, class S>
inline void exp_block(const S* x, int64_t len, V vm, V vit, typename V::T* buf) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  for (int64_t k = 0; k < 4 * N; k += N) {
    if (len - k >= N) store(buf + k, sample_exp(load_lanes<V>(x + k), vm, vit));
    else if (len - k > 0) store(buf + k, sample_exp(load_lanes<V>(x + k, len - k, T(-INFINITY)), vm, vit));
    else store(buf + k, V::zero());
  }
}

// Block sums (4N elements, added to a double) find the block where the
// running sum passes the target; the block's e values are then scanned one by
// one.  On average half the row is read.
template <class V, class S>
int64_t vec_pick_cumulative(const S* x, int64_t n, typename V::T m, typename V::T it,
                            double target) {
  using T = typename V::T;
  constexpr int64_t N = V::N, B = 4 * N;
  const V vm = V::set1(m), vit = V::set1(it);
  T buf[B];
  double acc = 0.0;
  int64_t last_block = -1;  // start of the last block with a positive sum
  for (int64_t i = 0; i < n; i += B) {
    const int64_t len = n - i < B ? n - i : B;
    exp_block<V>(x + i, len, vm, vit, buf);
    V s = (V::load(buf) + V::load(buf + N)) + (V::load(buf + 2 * N) + V::load(buf + 3 * N));
    const double bs = double(reduce_add(s));
    if (bs > 0) last_block = i;
    if (acc + bs > target) {
      for (int64_t k = 0; k < len; ++k) {
        acc += double(buf[k]);
        if (acc > target && buf[k] > T(0)) return i + k;
      }
    } else {
      acc += bs;
    }
  }
  if (last_block < 0) return -1;
  const int64_t len = n - last_block < B ? n - last_block : B;
  exp_block<V>(x + last_block, len, vm, vit, buf);
  for (int64_t k = len - 1; k >= 0; --k)
    if (buf[k] > T(0)) return last_block + k;
  return -1;
}

// f = min((m - x) * it * scale, bins - 1) for x[0..len), len <= 4N, and e;
// zeros (bin 0, e = 0) beyond len.  xb (when not null): the widened x.
template <class V, class S>
inline void bin_block(const S* x, int64_t len, V vm, V vit, V vsc, V vtop, typename V::T* fb,
                      typename V::T* eb, typename V::T* xb) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  for (int64_t k = 0; k < 4 * N; k += N) {
    V xv = len - k >= N ? load_lanes<V>(x + k) : load_lanes<V>(x + k, len - k > 0 ? len - k : 0, m_fill<T>());
    if (xb) store(xb + k, xv);
    store(fb + k, min((vm - xv) * vit * vsc, vtop));
    store(eb + k, sample_exp(xv, vm, vit));
  }
}

// Mass histogram over d = (m - x) / T in bins of width 1/scale (the last bin
// takes the rest): hist[b] += e_i.  Vector bins and exps, scalar adds.
// Returns the total mass.  Used for the top-p boundary on rows whose nucleus
// is large (sampling/driver.cpp): bins are monotone in x, so a bin is a slice of the
// order and only the bin where the running mass crosses is ranked.
template <class V, class S>
double vec_mass_hist(const S* x, int64_t n, typename V::T m, typename V::T it, typename V::T scale,
                     int bins, double* hist) {
  using T = typename V::T;
  constexpr int64_t B = 4 * V::N;
  const V vm = V::set1(m), vit = V::set1(it), vsc = V::set1(scale), vtop = V::set1(T(bins - 1));
  T fb[B], eb[B];
  double total = 0.0;
  for (int64_t i = 0; i < n; i += B) {
    const int64_t len = n - i < B ? n - i : B;
    bin_block<V>(x + i, len, vm, vit, vsc, vtop, fb, eb, nullptr);
    for (int64_t k = 0; k < len; ++k) hist[int(fb[k])] += double(eb[k]);
  }
  for (int b = 0; b < bins; ++b) total += hist[b];
  return total;
}

// The (x_i, i) whose bin (as in vec_mass_hist) is `bin`, in index order.
template <class V, class S>
int64_t vec_gather_bin(const S* x, int64_t n, typename V::T m, typename V::T it, typename V::T scale,
                       int bins, int bin, typename V::T* cx, int64_t* ci) {
  using T = typename V::T;
  constexpr int64_t B = 4 * V::N;
  const V vm = V::set1(m), vit = V::set1(it), vsc = V::set1(scale), vtop = V::set1(T(bins - 1));
  const T lo = T(bin), hi = T(bin + 1);
  T fb[B], eb[B], xb[B];
  int64_t c = 0;
  for (int64_t i = 0; i < n; i += B) {
    const int64_t len = n - i < B ? n - i : B;
    bin_block<V>(x + i, len, vm, vit, vsc, vtop, fb, eb, xb);
    for (int64_t k = 0; k < len; ++k) {
      cx[c] = xb[k];
      ci[c] = i + k;
      c += (fb[k] >= lo) & (fb[k] < hi);
    }
  }
  return c;
}

// Moments of d = x - m under weights exp(beta * d): the NLL of temperature
// scaling and its first two derivatives in beta (sampling/driver.cpp).  Blocked
// sums as vec_sum_exp.
template <class V, class S>
void vec_moments(const S* x, int64_t n, typename V::T m, typename V::T beta, double* s) {
  using T = typename V::T;
  const V vm = V::set1(m), vb = V::set1(beta);
  s[0] = s[1] = s[2] = 0.0;
  blocked_sums<V, 3>(0, n, s, [&](int64_t i, int, auto part, V* acc) {
    // tail fill m: d = 0 there, and its e = 1 is masked out by the select
    const V xa = load<V>(x + i, part, m);
    const V da = xa - vm;
    V ea = sample_exp(xa, vm, vb);
    if constexpr (!decltype(part)::kFull)
      ea = select(eq(load<V>(x + i, part, T(-INFINITY)), V::set1(T(-INFINITY))), V::zero(), ea);
    const V ga = ea * da;
    acc[0] = acc[0] + ea;
    acc[1] = acc[1] + ga;
    acc[2] = fma(ga, da, acc[2]);
  });
}

// One pass for verify_draft's check of a draft distribution: the blocked
// sum of softmax/row_kernels.h and a running min (tail fill 0 touches
// neither).  A NaN may escape the min (x86 min rule) but not the sum.
template <class V>
bool vec_prob_sum(const typename V::T* q, int64_t n, double* sum) {
  using T = typename V::T;
  V mn[2] = {V::zero(), V::zero()};
  double total = 0.0;
  blocked_sums<V, 1>(0, n, &total, [&](int64_t i, int k, auto part, V* acc) {
    const V a = load<V>(q + i, part, T(0));
    acc[0] = acc[0] + a;
    mn[k] = min(mn[k], a);
  });
  *sum = total;
  return reduce_max(V::zero() - min(mn[0], mn[1])) > T(0) || !std::isfinite(total);
}

// The exps are recomputed from x rather than stored by the sum pass: a
// stored row is one more 512 KiB stream per accepted position (128k float32),
// and most positions are accepted.
template <class V, class S>
double vec_residual(const S* x, const typename V::T* q, int64_t n, typename V::T m,
                    typename V::T it, typename V::T iz, typename V::T* w) {
  using T = typename V::T;
  const V viz = V::set1(iz), zero = V::zero(), vm = V::set1(m), vit = V::set1(it);
  double total = 0.0;
  blocked_sums<V, 1>(0, n, &total, [&](int64_t i, int, auto part, V* acc) {
    const V e = sample_exp(load<V>(x + i, part, T(-INFINITY)), vm, vit);
    const V r = max(e * viz - (q ? load<V>(q + i, part, T(0)) : zero), zero);
    store(w + i, part, r);
    acc[0] = acc[0] + r;
  });
  return total;
}

// As vec_pick_cumulative, on weights already stored: block sums of 4N find
// the block where the running sum passes the target, then a scalar scan.
template <class V>
int64_t vec_pick_stored(const typename V::T* w, int64_t n, double target) {
  using T = typename V::T;
  constexpr int64_t N = V::N, B = 4 * N;
  double acc = 0.0;
  int64_t last_block = -1;
  for (int64_t i = 0; i < n; i += B) {
    const int64_t len = n - i < B ? n - i : B;
    double bs = 0.0;
    if (len == B) {
      const V s = (V::load(w + i) + V::load(w + i + N)) + (V::load(w + i + 2 * N) + V::load(w + i + 3 * N));
      bs = double(reduce_add(s));
    } else {
      for (int64_t k = 0; k < len; ++k) bs += double(w[i + k]);
    }
    if (bs > 0) last_block = i;
    if (acc + bs > target) {
      for (int64_t k = 0; k < len; ++k) {
        acc += double(w[i + k]);
        if (acc > target && w[i + k] > T(0)) return i + k;
      }
    } else {
      acc += bs;
    }
  }
  if (last_block < 0) return -1;
  for (int64_t k = (n - last_block < B ? n : last_block + B) - 1; k >= last_block; --k)
    if (w[k] > T(0)) return k;
  return -1;
}

template <class V, class S = typename V::T>
SamplingRowKernels<typename V::T, S> make_sampling() {
  using T = typename V::T;
  SamplingRowKernels<T, S> k{};
  k.max_nan = &vec_max_nan<V, S>;
  k.find_first_ge = &vec_find_first_ge<V, S>;
  k.block_max = &vec_block_max<V, S>;
  k.gather_ge = &vec_gather_ge<V, S>;
  k.sum_exp = &vec_sample_sum_exp<V, S>;
  k.cand_exp = &vec_sample_sum_exp<V, T>;
  k.sum_exp_prefetch = &vec_sample_sum_exp_prefetch<V, S>;
  k.pick_cumulative = &vec_pick_cumulative<V, S>;
  k.moments = &vec_moments<V, S>;
  k.mass_hist = &vec_mass_hist<V, S>;
  k.gather_bin = &vec_gather_bin<V, S>;
  k.prob_sum = &vec_prob_sum<V>;
  k.residual = &vec_residual<V, S>;
  k.pick_stored = &vec_pick_stored<V>;
  return k;
}

inline void fill_sampling(SamplingKernels& k) {
  k.f32 = make_sampling<VF>();
  k.f64 = make_sampling<VD>();
  k.h16 = make_sampling<VF, f16>();
  k.hbf16 = make_sampling<VF, bf16>();
}

}  // namespace SC_NS
}  // namespace sc
