// Half-precision (float16 / bfloat16) storage around the float32 row
// kernels: the softmax family of an S row is computed in float32, S widened
// exactly in registers on the way in and each result rounded once, to
// nearest even, on the way out.
//
// A contiguous row that fits the cache (softmax/driver.cpp half_row_cached)
// runs the float32 row's passes on the S row itself, widened by every load:
//   vec_minmax<VF, S>, vec_sum_exp<..., S> (exps to float32 scratch w),
//   half_scale_narrow: y = S(w * (1/s)); log_softmax: half_affine_narrow
//   from x, y = S((x - m) * it - log s).
// A strided row, a chunk of a long row, or a block of columns is widened
// into w first (half_widen_minmax / half_widen) and the passes run on w.
//
// Why float32 scratch, not the output, between the passes: storing the exps
// to a half output and rescaling them would round twice (and float16 exps of
// a wide row underflow before the scale brings them back).  The scratch row
// stays in L2 (n <= 256 Ki floats: softmax/driver.cpp).
// Instructions (callgrind, AVX2, (32, 32000), per call of 1.02M elements):
// softmax f32 4.6M, f16 5.2M (was 7.2M widening first), bf16 6.8M (the
// narrow alone 2.1M: AVX2 has no bf16 conversion, the rounding is ~16
// instructions per 8 outputs against F16C's ~6).  Now the bf16 narrow is
// 1.15M (9 per 8: round 5, pack / permute / store 1.5, the scale and the
// loop): two vectors per store (half_narrow_loop), no NaN select where the
// row's sum rules NaN out (half_scale_narrow finite), and vec_minmax reads
// 16 per load (load2_any); the three passes' kernels 5.98M -> 4.89M against
// float32's 3.83M.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/half.h"
#include "core/sc_assert.h"
#include "simd/loops.h"
#include "softmax/row_kernels.h"

namespace sc {
namespace SC_NS {

// n lanes from p with element stride s (s may be 0 or negative).
template <class S>
inline VF half_load(const S* p, int64_t s, int64_t n, float fill) {
  if (s == 1) return n >= VF::N ? HalfLanes<VF, S>::load(p) : HalfLanes<VF, S>::load_partial(p, n, fill);
  alignas(64) float t[VF::N];
  for (int64_t k = 0; k < VF::N; ++k) t[k] = k < n ? to_f32(p[k * s]) : fill;
  return VF::load(t);
}

template <class S>
inline void half_store(S* p, int64_t s, int64_t n, VF v) {
  if (s == 1) {
    if (n >= VF::N) HalfLanes<VF, S>::store(p, v);
    else HalfLanes<VF, S>::store_partial(p, n, v);
    return;
  }
  alignas(64) float t[VF::N];
  store(t, v);
  for (int64_t k = 0; k < VF::N && k < n; ++k) p[k * s] = from_f32<S>(t[k]);
}

// w[i] = float(x[i * xs]) for i < n; with mx/mn also the max and min.
template <class S>
void half_widen_minmax(const S* x, int64_t xs, float* w, int64_t n, float* mx, float* mn) {
  SC_ASSERT(n >= 1 && x && w);
  const VF ninf = VF::set1(-INFINITY), pinf = VF::set1(INFINITY);
  VF mxs[2] = {ninf, ninf}, mns[2] = {pinf, pinf};
  vector_loop<VF, 2>(0, n, [&](int64_t i, int k, auto part) {
    const int64_t left = decltype(part)::kFull ? VF::N : n - i;
    const VF v = half_load(x + i * xs, xs, left, -INFINITY);
    store(w + i, part, v);
    mxs[k] = max(mxs[k], v);
    // the tail's min sees +inf in the unused lanes (as vec_minmax)
    mns[k] = min(mns[k], decltype(part)::kFull ? v : half_load(x + i * xs, xs, left, INFINITY));
  });
  if (!mx) return;
  *mx = reduce_max(max(mxs[0], mxs[1]));
  *mn = -reduce_max(VF::zero() - min(mns[0], mns[1]));
}

// Only the widening (the chunks of long rows, logsumexp).
template <class S>
void half_widen(const S* x, int64_t xs, float* w, int64_t n) {
  vector_loop<VF, 2>(0, n, [&](int64_t i, int, auto part) {
    const int64_t left = decltype(part)::kFull ? VF::N : n - i;
    store(w + i, part, half_load(x + i * xs, xs, left, 0.0f));
  });
}

// HalfLanes<VF, S>::store2(p, a, b), where a target has one (AVX2 bf16:
// 16 outputs in one vpackusdw + vpermq and one 32-byte store, not two of
// each per 8), else two stores.  !kMayNaN: the caller knows a and b hold
// no NaN (a store may then leave out its NaN select).
template <bool kMayNaN, class S>
inline void half_store2(S* p, VF a, VF b) {
  using H = HalfLanes<VF, S>;
  if constexpr (has_store2<H>::value) {
    H::template store2<kMayNaN>(p, a, b);
  } else {
    H::store(p, a);
    H::store(p + VF::N, b);
  }
}

// y[i * ys] = S(value(i, part)) for i < n, each rounded once; a contiguous
// y two vectors per half_store2, the stride test out of the loop.
template <bool kMayNaN = true, class S, class F>
inline void half_narrow_loop(S* y, int64_t ys, int64_t n, F&& value) {
  constexpr int64_t N = VF::N;
  int64_t i = 0;
  if (ys == 1)
    for (; i + 2 * N <= n; i += 2 * N) half_store2<kMayNaN>(y + i, value(i, Full{}), value(i + N, Full{}));
  for (; i < n; i += N) {
    const int64_t left = n - i < N ? n - i : N;
    half_store(y + i * ys, ys, left, left == N ? value(i, Full{}) : value(i, Tail{left}));
  }
}

// y[i * ys] = S(e[i] * s), rounded once.  finite: the caller knows every
// e[i] * s is finite (softmax/driver.cpp half_row_cached: s = 1 / sum of
// the e, both finite, so no e is NaN or inf and e s <= 1).
template <class S>
void half_scale_narrow(const float* e, S* y, int64_t ys, int64_t n, float s, bool finite) {
  const VF vs = VF::set1(s);
  const auto value = [&](int64_t i, auto part) { return load<VF>(e + i, part, 0.0f) * vs; };
  if (finite) half_narrow_loop<false>(y, ys, n, value);
  else half_narrow_loop<true>(y, ys, n, value);
}

// y[i * ys] = S((x[i] - m) * it - L) (log_softmax_value), rounded once; x
// float32 scratch, or the contiguous S row itself (X = S).
// plain: see plain_affine (softmax/row_kernels.h).
template <class S, class X = float>
void half_affine_narrow(const X* x, S* y, int64_t ys, int64_t n, float m, float it, float L, bool plain) {
  affine_with<VF>(x, m, it, L, plain, [&](auto&& value) { half_narrow_loop(y, ys, n, value); });
}

}  // namespace SC_NS
}  // namespace sc
