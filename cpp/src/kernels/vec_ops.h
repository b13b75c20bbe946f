// Flat row primitives: one pass over a contiguous row each, written once over
// the vector layer.  The softmax family (reduce.cpp) composes them; they know
// nothing about shapes, strides or threads.
//
// Unrolling: 2-4 vectors per step with independent accumulators, so the max
// and add chains (latency 3-4 cycles) do not serialise the loop.
// Sums: blocked.  Each block of kSumBlock elements is summed in T by 4*N
// independent lanes (kSumBlock/(4N) terms per lane) and the block total is
// added to a double, so a float32 row of 2^20 elements keeps ~1e-7 relative
// accuracy (measured in tests/test_softmax.py::test_accuracy_big_rows).
#pragma once
#include <cstdint>
#include <cmath>

#include "../simd/exp.h"

namespace sc {
namespace SC_NS {

constexpr int64_t kSumBlock = 4096;

// max and min over x[0..n), n >= 1 (the min picks the exp mode, see
// exp_minus_max).  NaN may or may not win (x86 max rule); callers that care
// test the result of the following sum, which is NaN either way.
template <class V>
void vec_minmax(const typename V::T* x, int64_t n, typename V::T* mx, typename V::T* mn) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  const V ninf = V::set1(-INFINITY), pinf = V::set1(INFINITY);
  V m0 = ninf, m1 = ninf, l0 = pinf, l1 = pinf;
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    V a = V::load(x + i), b = V::load(x + i + N);
    m0 = max(m0, a);
    l0 = min(l0, a);
    m1 = max(m1, b);
    l1 = min(l1, b);
  }
  for (; i < n; i += N) {
    m0 = max(m0, V::load_partial(x + i, n - i, T(-INFINITY)));
    l0 = min(l0, V::load_partial(x + i, n - i, T(INFINITY)));
  }
  *mx = reduce_max(max(m0, m1));
  *mn = -reduce_max(V::zero() - min(l0, l1));
}

// max of a[i] over the i with b[i] != 0 (scipy: a zero weight removes the
// element, even an inf or NaN); -inf when there is none.
template <class V>
typename V::T vec_max_where(const typename V::T* a, const typename V::T* b, int64_t n) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  const V ninf = V::set1(-INFINITY), zero = V::zero();
  V m0 = ninf, m1 = ninf;
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    m0 = max(m0, select(eq(V::load(b + i), zero), ninf, V::load(a + i)));
    m1 = max(m1, select(eq(V::load(b + i + N), zero), ninf, V::load(a + i + N)));
  }
  for (; i < n; i += N) {
    V bv = V::load_partial(b + i, n - i, T(0));
    m0 = max(m0, select(eq(bv, zero), ninf, V::load_partial(a + i, n - i, T(-INFINITY))));
  }
  return reduce_max(max(m0, m1));
}

// Sum of e_i = exp((x_i - m) * it); stores e_i to e when e != nullptr (e may
// alias x).  it_lo: see exp_shifted.  Returns the sum in double.
template <class V, bool kScaled, int kMode>
//
// pf: when not null, the next row, prefetched one line per step while this
// row's exps are computed, so the memory reads of a matrix too large for the
// caches overlap the arithmetic (4096 x 4096 float32, 2 threads: 7.9 ms ->
// see the commit log for the measurement).
double vec_sum_exp(const typename V::T* x, typename V::T* e, int64_t n, typename V::T m, typename V::T it,
                   typename V::T it_lo, const typename V::T* pf) {
  // Unrolled by 2, not 4: the exp keeps ~10 constants in registers, and at 4
  // the accumulators spilled to the stack (seen in objdump of the AVX2 build).
  using T = typename V::T;
  constexpr int64_t N = V::N;
  const V vm = V::set1(m), vit = V::set1(it), vlo = V::set1(it_lo);
  double total = 0.0;
  for (int64_t b0 = 0; b0 < n; b0 += kSumBlock) {
    const int64_t b1 = n - b0 < kSumBlock ? n : b0 + kSumBlock;
    V s0 = V::zero(), s1 = V::zero();
    int64_t i = b0;
    for (; i + 2 * N <= b1; i += 2 * N) {
      if (pf) {
        prefetch(pf + i);
        if (2 * N * int64_t(sizeof(T)) > 64) prefetch(pf + i + 64 / int64_t(sizeof(T)));
      }
      V e0 = exp_minus_max<V, kScaled, kMode>(V::load(x + i), vm, vit, vlo);
      V e1 = exp_minus_max<V, kScaled, kMode>(V::load(x + i + N), vm, vit, vlo);
      if (e) {
        store(e + i, e0);
        store(e + i + N, e1);
      }
      s0 = s0 + e0;
      s1 = s1 + e1;
    }
    for (; i < b1; i += N) {
      // The fill -inf gives exp = 0 in the unused lanes.
      V e0 = exp_minus_max<V, kScaled, kMode>(V::load_partial(x + i, b1 - i, T(-INFINITY)), vm, vit, vlo);
      if (e) store_partial(e + i, b1 - i, e0);
      s0 = s0 + e0;
    }
    total += double(reduce_add(s0 + s1));
  }
  return total;
}

// Sum of b_i * exp(a_i - m) over b_i != 0 (weighted logsumexp); double result.
template <class V>
double vec_sum_exp_weighted(const typename V::T* a, const typename V::T* b, int64_t n, typename V::T m) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  const V vm = V::set1(m), zero = V::zero(), one = V::set1(T(1)), lo = V::zero();
  double total = 0.0;
  for (int64_t b0 = 0; b0 < n; b0 += kSumBlock) {
    const int64_t b1 = n - b0 < kSumBlock ? n : b0 + kSumBlock;
    V s0 = V::zero(), s1 = V::zero();
    int64_t i = b0;
    for (; i + 2 * N <= b1; i += 2 * N) {
      V w0 = V::load(b + i), w1 = V::load(b + i + N);
      V e0 = exp_shifted<V, false>(V::load(a + i), vm, one, lo);
      V e1 = exp_shifted<V, false>(V::load(a + i + N), vm, one, lo);
      s0 = s0 + select(eq(w0, zero), zero, w0 * e0);
      s1 = s1 + select(eq(w1, zero), zero, w1 * e1);
    }
    for (; i < b1; i += N) {
      V w0 = V::load_partial(b + i, b1 - i, T(0));
      V e0 = exp_shifted<V, false>(V::load_partial(a + i, b1 - i, T(-INFINITY)), vm, one, lo);
      s0 = s0 + select(eq(w0, zero), zero, w0 * e0);
    }
    total += double(reduce_add(s0 + s1));
  }
  return total;
}

// y = e * s.  e may alias y.  With nt, full vectors go out by non-temporal
// stores (the caller checked that y is element-aligned); the output then
// bypasses the cache and costs no read-for-ownership.
template <class V>
void vec_scale(const typename V::T* e, typename V::T* y, int64_t n, typename V::T s, bool nt) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  const V vs = V::set1(s);
  int64_t i = 0;
  if (nt) {
    constexpr uintptr_t kAlign = sizeof(T) * N;
    for (; i < n && (reinterpret_cast<uintptr_t>(y + i) % kAlign) != 0; ++i) y[i] = e[i] * s;
    for (; i + N <= n; i += N) stream(y + i, V::load(e + i) * vs);
    stream_fence();
  }
  for (; i + 4 * N <= n; i += 4 * N) {
    store(y + i, V::load(e + i) * vs);
    store(y + i + N, V::load(e + i + N) * vs);
    store(y + i + 2 * N, V::load(e + i + 2 * N) * vs);
    store(y + i + 3 * N, V::load(e + i + 3 * N) * vs);
  }
  for (; i < n; i += N) store_partial(y + i, n - i, V::load_partial(e + i, n - i, T(0)) * vs);
}

// y = exp((x - m) * it) * s: the second pass of the two-pass softmax for rows
// that do not stay in cache.
template <class V, bool kScaled, int kMode>
void vec_exp_scale(const typename V::T* x, typename V::T* y, int64_t n, typename V::T m, typename V::T it,
                   typename V::T it_lo, typename V::T s) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  const V vm = V::set1(m), vit = V::set1(it), vlo = V::set1(it_lo), vs = V::set1(s);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    store(y + i, exp_minus_max<V, kScaled, kMode>(V::load(x + i), vm, vit, vlo) * vs);
    store(y + i + N, exp_minus_max<V, kScaled, kMode>(V::load(x + i + N), vm, vit, vlo) * vs);
  }
  for (; i < n; i += N)
    store_partial(y + i, n - i, exp_minus_max<V, kScaled, kMode>(V::load_partial(x + i, n - i, T(0)), vm, vit, vlo) * vs);
}

// y = exp(x), the general exp of simd/exp.h (for the accuracy tests).
template <class V>
void vec_exp(const typename V::T* x, typename V::T* y, int64_t n) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  int64_t i = 0;
  for (; i + N <= n; i += N) store(y + i, exp(V::load(x + i)));
  if (i < n) store_partial(y + i, n - i, exp(V::load_partial(x + i, n - i, T(0))));
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

template <class V>
void vec_affine(const typename V::T* x, typename V::T* y, int64_t n, typename V::T m, typename V::T it,
                typename V::T L) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  const V vm = V::set1(m), vit = V::set1(it), vl = V::set1(-L), vmit = V::set1(m * it);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    store(y + i, log_softmax_value(V::load(x + i), vm, vit, vmit, vl));
    store(y + i + N, log_softmax_value(V::load(x + i + N), vm, vit, vmit, vl));
  }
  for (; i < n; i += N)
    store_partial(y + i, n - i, log_softmax_value(V::load_partial(x + i, n - i, T(0)), vm, vit, vmit, vl));
}

}  // namespace SC_NS
}  // namespace sc
