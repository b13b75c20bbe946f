// Flat row primitives: one pass over a contiguous row each, written once over
// the vector layer.  The softmax family (softmax/driver.cpp) composes them; they know
// nothing about shapes, strides or threads.
//
// Unrolling: 2-4 vectors per step with independent accumulators, so the max
// and add chains (latency 3-4 cycles) do not serialise the loop.
// Sums: blocked.  Each block is summed in T by the 2 * N lanes of two vector
// accumulators, kSumTermsPerLane terms per lane, and the block total is added
// to a double.  The block is counted in lanes, not elements: a fixed 4096
// elements gave the one-lane scalar target 2048 float terms per accumulator
// and a biased 6.8e-6 relative error on rows of 4096 (rows summed to
// 1 - 6.8e-6; the bound is 3e-6), against 5.7e-7 on AVX-512 (128 per lane).
// With 128 terms per lane every target has AVX-512's error.  Measured on
// (256, 4096) float32 standard_normal * 4, max relative error of softmax
// against float64 (before -> after): scalar 6.95e-6 -> 7.7e-7, baseline
// 2.5e-6 -> 6.1e-7, AVX2 1.7e-6 -> 1.0e-6, AVX-512 8.7e-7 (unchanged: its
// block is still 4096 elements); log_softmax scalar 6.8e-6 -> 6.5e-7.  The
// exp without FMA was not the cause (scalar's error after the fix is
// AVX-512's).  Accuracy contract: tests/test_softmax.py::
// test_big_rows_float32_accuracy.
#pragma once
#include <cstdint>
#include <cmath>

#include "core/sc_assert.h"
#include "simd/exp.h"
#include "simd/loops.h"

namespace sc {
namespace SC_NS {

constexpr int64_t kSumTermsPerLane = 128;
template <class V>
constexpr int64_t sum_block() {
  return kSumTermsPerLane * 2 * V::N;  // AVX-512 float32: 4096 elements, as before
}

// The blocked sums above for K quantities at once: per block of [b, e),
// body(i, k, part, acc) adds vector i's terms into acc[0..K) (accumulator
// set k of 2, vector_loop), then each block's 2 * N lanes go to total[q] in
// double.  The tail vectors add to set 0.
template <class V, int K, class F>
inline void blocked_sums(int64_t b, int64_t e, double* total, F&& body) {
  constexpr int64_t kBlock = sum_block<V>();
  for (int64_t b0 = b; b0 < e; b0 += kBlock) {
    const int64_t b1 = e - b0 < kBlock ? e : b0 + kBlock;
    V acc[2][K];
    for (int k = 0; k < 2; ++k)
      for (int q = 0; q < K; ++q) acc[k][q] = V::zero();
    vector_loop<V, 2>(b0, b1, [&](int64_t i, int k, auto part) { body(i, k, part, acc[k]); });
    for (int q = 0; q < K; ++q) total[q] += double(reduce_add(acc[0][q] + acc[1][q]));
  }
}

// max and min over x[0..n), n >= 1 (the min picks the exp mode, see
// exp_minus_max).  NaN may or may not win (x86 max rule); callers that care
// test the result of the following sum, which is NaN either way.
// x may be of a storage type S (half, read widened: the half rows).
template <class V, class S = typename V::T>
void vec_minmax(const S* x, int64_t n, typename V::T* mx, typename V::T* mn) {
  using T = typename V::T;
  SC_ASSERT(n >= 1 && x);
  const V ninf = V::set1(-INFINITY), pinf = V::set1(INFINITY);
  V mxs[2] = {ninf, ninf}, mns[2] = {pinf, pinf};
  int64_t i = 0;
  for (; i + 2 * V::N <= n; i += 2 * V::N) {  // order-free: load2_any
    V a, b;
    load2_any(x + i, &a, &b);
    mxs[0] = max(mxs[0], a);
    mns[0] = min(mns[0], a);
    mxs[1] = max(mxs[1], b);
    mns[1] = min(mns[1], b);
  }
  vector_loop<V, 1>(i, n, [&](int64_t j, int, auto part) {
    mxs[0] = max(mxs[0], load<V>(x + j, part, T(-INFINITY)));
    mns[0] = min(mns[0], load<V>(x + j, part, T(INFINITY)));
  });
  *mx = reduce_max(max(mxs[0], mxs[1]));
  *mn = -reduce_max(V::zero() - min(mns[0], mns[1]));
}

// max of a[i] over the i with b[i] != 0 (scipy: a zero weight removes the
// element, even an inf or NaN); -inf when there is none.
template <class V>
typename V::T vec_max_where(const typename V::T* a, const typename V::T* b, int64_t n) {
  using T = typename V::T;
  const V ninf = V::set1(-INFINITY), zero = V::zero();
  V m[2] = {ninf, ninf};
  vector_loop<V, 2>(0, n, [&](int64_t i, int k, auto part) {
    m[k] = max(m[k], select(eq(load<V>(b + i, part, T(0)), zero), ninf, load<V>(a + i, part, T(-INFINITY))));
  });
  return reduce_max(max(m[0], m[1]));
}

// The exp mode of one step of a vector loop over a row the driver gave
// kMode: a tail (its unused lanes filled, -inf or 0) takes kFast's clamped
// form, kFastUnchecked; a full vector of a kFast row the unclamped one.
template <int kMode, class Part>
constexpr int exp_mode_of = kMode == kFast && !Part::kFull ? kFastUnchecked : kMode;

// Sum of e_i = exp((x_i - m) * it); stores e_i to e when e != nullptr (e may
// alias x).  it_lo: see exp_shifted.  Returns the sum in double.
// x may be of a storage type S (half, read widened: the sampling kernels).
// pf: when not null, the next row, prefetched one line per step while this
// row's exps are computed, so the memory reads of a matrix too large for the
// caches overlap the arithmetic (4096 x 4096 float32, 2 threads: 7.9 ms
// without the prefetch, 6.4 ms with it; then on AVX-512 Zen 4 into L2
// instead of L1, simd prefetch: 3.93-4.21 -> 3.45-3.54 ms).
// kNext: also the max and min of the next row xn (n elements, read as
// vec_minmax reads them; the same values) into *nmx, *nmn, in the same
// loop: the driver's next row then needs no minmax pass of its own.  Its
// loads overlap this row's exps, and its max / min go to the vector adder
// pipes the FMA-bound exp leaves idle.  Measured (C harness over these
// kernels, AMD Zen 4, AVX-512, 1 thread, 128 rows of 992 float32, x and y
// together 1 MiB): minmax + exp + scale 272-345 ns a row, with the minmax
// carried in the previous row's exp loop 218-258 ns; a software prefetch
// of the next row in place of it 271-279 ns.
template <class V, bool kScaled, int kMode, class S, bool kNext>
double sum_exp_impl(const S* x, typename V::T* e, int64_t n, typename V::T m, typename V::T it,
                    typename V::T it_lo, const typename V::T* pf, const S* xn, typename V::T* nmx,
                    typename V::T* nmn) {
  // Unrolled by 2, not 4: the exp keeps ~10 constants in registers, and at 4
  // the accumulators spilled to the stack (seen in objdump of the AVX2 build).
  using T = typename V::T;
  constexpr int64_t N = V::N;
  SC_ASSERT(n >= 0 && (n == 0 || x) && (!kNext || (n >= 1 && xn && nmx && nmn)));
  const V vm = V::set1(m), vit = V::set1(it), vlo = V::set1(it_lo);
  V hi[2] = {V::set1(T(-INFINITY)), V::set1(T(-INFINITY))}, lo[2] = {V::set1(T(INFINITY)), V::set1(T(INFINITY))};
  double total = 0.0;
  blocked_sums<V, 1>(0, n, &total, [&](int64_t i, int k, auto part, V* acc) {
    if (decltype(part)::kFull && k == 0 && pf) {  // one line (two for 2N > 64 bytes) per step
      prefetch(pf + i);
      if (2 * N * int64_t(sizeof(T)) > 64) prefetch(pf + i + 64 / int64_t(sizeof(T)));
    }
    // The tail's fill -inf gives exp = 0 in the unused lanes (the clamped exp).
    const V ei = exp_minus_max<V, kScaled, exp_mode_of<kMode, decltype(part)>>(load<V>(x + i, part, T(-INFINITY)), vm, vit, vlo);
    if (e) store(e + i, part, ei);
    acc[0] = acc[0] + ei;
    if constexpr (kNext) {
      if constexpr (decltype(part)::kFull) {
        const V y = load_lanes<V>(xn + i);
        hi[k] = max(hi[k], y);
        lo[k] = min(lo[k], y);
      } else {
        hi[k] = max(hi[k], load<V>(xn + i, part, T(-INFINITY)));
        lo[k] = min(lo[k], load<V>(xn + i, part, T(INFINITY)));
      }
    }
  });
  if constexpr (kNext) {
    *nmx = reduce_max(max(hi[0], hi[1]));
    *nmn = -reduce_max(V::zero() - min(lo[0], lo[1]));
  }
  return total;
}

template <class V, bool kScaled, int kMode, class S = typename V::T>
double vec_sum_exp(const S* x, typename V::T* e, int64_t n, typename V::T m, typename V::T it,
                   typename V::T it_lo, const typename V::T* pf) {
  return sum_exp_impl<V, kScaled, kMode, S, false>(x, e, n, m, it, it_lo, pf, nullptr, nullptr, nullptr);
}

template <class V, bool kScaled, int kMode, class S = typename V::T>
double vec_sum_exp_next(const S* x, typename V::T* e, int64_t n, typename V::T m, typename V::T it,
                        typename V::T it_lo, const S* xn, typename V::T* nmx, typename V::T* nmn) {
  return sum_exp_impl<V, kScaled, kMode, S, true>(x, e, n, m, it, it_lo, nullptr, xn, nmx, nmn);
}

// Sum of b_i * exp(a_i - m) over b_i != 0 (weighted logsumexp); double result.
template <class V>
double vec_sum_exp_weighted(const typename V::T* a, const typename V::T* b, int64_t n, typename V::T m) {
  using T = typename V::T;
  const V vm = V::set1(m), zero = V::zero(), one = V::set1(T(1)), lo = V::zero();
  double total = 0.0;
  blocked_sums<V, 1>(0, n, &total, [&](int64_t i, int, auto part, V* acc) {
    const V w = load<V>(b + i, part, T(0));
    const V ei = exp_shifted<V, false>(load<V>(a + i, part, T(-INFINITY)), vm, one, lo);
    acc[0] = acc[0] + select(eq(w, zero), zero, w * ei);
  });
  return total;
}

// logsumexp's exclusion pass (scipy >= 1.15, scipy issue 18295): with m the
// row max, adds to sc[0] the sum of b_i * exp(x_i - m) over x_i < m and to
// sc[1] the tie weight, the sum of b_i over x_i == m (b_i = 1 unweighted).
// The driver then forms m + log(c) + log1p(s / c) in double, so a result
// near 0 (logsumexp([0, -40]) = 4.2e-18) keeps its relative precision, which
// the one-pass sum S = c + s loses (S rounds to c).  Only rows whose result
// is small in magnitude take this pass (softmax/driver.cpp, lse_small).
// exp: the compensated general form (exp_shifted: x - m carried exactly,
// gradual underflow as NumPy's exp); x = -inf gives 0, and a NaN or an
// entry above m (an inf or NaN of zero weight) is neither below nor tied.
// Recipe: rr2 (two_diff + Cody-Waite), p5, u2, acc 2x2, blocked in T.
template <class V, bool kWeighted>
void vec_sum_exp_below(const typename V::T* a, const typename V::T* b, int64_t n, typename V::T m, double* sc) {
  using T = typename V::T;
  SC_ASSERT(n >= 0 && (n == 0 || (a && (!kWeighted || b))));
  const V vm = V::set1(m), zero = V::zero(), one = V::set1(T(1));
  blocked_sums<V, 2>(0, n, sc, [&](int64_t i, int, auto part, V* acc) {
    const V x = load<V>(a + i, part, T(-INFINITY));
    const V w = kWeighted ? load<V>(b + i, part, T(0)) : one;
    const V e = exp_shifted<V, false>(x, vm, one, zero);
    acc[0] = acc[0] + select(lt(x, vm), kWeighted ? w * e : e, zero);
    acc[1] = acc[1] + select(eq(x, vm), w, zero);
  });
}

// y = e * s.  e may alias y.  With nt, full vectors go out by non-temporal
// stores (the caller checked that y is element-aligned); the output then
// bypasses the cache and costs no read-for-ownership.
template <class V>
void vec_scale(const typename V::T* e, typename V::T* y, int64_t n, typename V::T s, bool nt) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  SC_ASSERT(n >= 0 && (!nt || reinterpret_cast<uintptr_t>(y) % sizeof(T) == 0));
  const V vs = V::set1(s);
  int64_t i = 0;
  if (nt) {
    constexpr uintptr_t kAlign = sizeof(T) * N;
    for (; i < n && (reinterpret_cast<uintptr_t>(y + i) % kAlign) != 0; ++i) y[i] = e[i] * s;
    for (; i + N <= n; i += N) stream(y + i, V::load(e + i) * vs);
    stream_fence();
  }
  vector_loop<V, 4>(i, n, [&](int64_t j, int, auto part) { store(y + j, part, load<V>(e + j, part, T(0)) * vs); });
}

// y = exp((x - m) * it) * s: the second pass of the two-pass softmax for rows
// that do not stay in cache.
template <class V, bool kScaled, int kMode>
void vec_exp_scale(const typename V::T* x, typename V::T* y, int64_t n, typename V::T m, typename V::T it,
                   typename V::T it_lo, typename V::T s) {
  using T = typename V::T;
  const V vm = V::set1(m), vit = V::set1(it), vlo = V::set1(it_lo), vs = V::set1(s);
  vector_loop<V, 2>(0, n, [&](int64_t i, int, auto part) {
    store(y + i, part, exp_minus_max<V, kScaled, exp_mode_of<kMode, decltype(part)>>(load<V>(x + i, part, T(0)), vm, vit, vlo) * vs);
  });
}

// y = exp(x), the general exp of simd/exp.h (for the accuracy tests).
template <class V>
void vec_exp(const typename V::T* x, typename V::T* y, int64_t n) {
  using T = typename V::T;
  vector_loop<V, 1>(0, n, [&](int64_t i, int, auto part) { store(y + i, part, exp(load<V>(x + i, part, T(0)))); });
}

// y = (x - m) * it - L: log_softmax's last pass, in scipy's order (the
// shift first, so rows of large magnitude lose nothing: x - m is exact near
// the max by Sterbenz's lemma).  Where x - m overflows (x and m of opposite
// signs near the float limit) but (x - m) * it would not (T > 1), the form
// x*it - m*it is used instead.
// A row or column with +inf (log sum = +inf): scipy gives -inf at finite and
// -inf entries and NaN at +inf and NaN, written without x * it (which could
// overflow to inf - inf on a target without FMA).
template <class V>
inline V log_softmax_value(V x, V m, V it, V mit, V negL) {
  const V ninf = V::set1(typename V::T(-INFINITY));
  V d = x - m;
  V r = fma(d, it, negL);
  V alt = select(eq(x, ninf), ninf + negL, fma(x, it, V::zero() - mit) + negL);  // NaN L stays NaN
  r = select(eq(d, ninf), alt, r);
  return select(eq(negL, ninf), select(eq(x, ninf), ninf, (x - x) + negL), r);
}

// y = log_softmax_value(x); plain: the row's values are (x - m) * it - L,
// the general form's selects left out (softmax/driver.cpp, plain_affine).
// x may be of a storage type S (half, read widened).  loop(value) runs the
// row's loop, value(i, part) giving the vector at x + i (the plain test
// hoisted out of it); affine_loop's loop stores each by put(i, part, r).
template <class V, class S, class Loop>
inline void affine_with(const S* x, typename V::T m, typename V::T it, typename V::T L, bool plain, Loop&& loop) {
  using T = typename V::T;
  const V vm = V::set1(m), vit = V::set1(it), vl = V::set1(-L), vmit = V::set1(m * it);
  if (plain)
    loop([&](int64_t i, auto part) { return fma(load<V>(x + i, part, T(0)) - vm, vit, vl); });
  else
    loop([&](int64_t i, auto part) { return log_softmax_value(load<V>(x + i, part, T(0)), vm, vit, vmit, vl); });
}

template <class V, class S, class Put>
inline void affine_loop(const S* x, int64_t n, typename V::T m, typename V::T it, typename V::T L, bool plain,
                        Put&& put) {
  affine_with<V>(x, m, it, L, plain, [&](auto&& value) {
    vector_loop<V, 2>(0, n, [&](int64_t i, int, auto part) { put(i, part, value(i, part)); });
  });
}

template <class V>
void vec_affine(const typename V::T* x, typename V::T* y, int64_t n, typename V::T m, typename V::T it,
                typename V::T L, bool plain) {
  affine_loop<V>(x, n, m, it, L, plain, [&](int64_t i, auto part, V r) { store(y + i, part, r); });
}

}  // namespace SC_NS
}  // namespace sc
