// Loop helpers of the vector layer: a kernel writes its per-vector body once,
// and the helper runs it over whole vectors (unrolled U times, the unroll
// index k selects one of U independent accumulators) and then over the tail,
// where the same body sees a Tail part: its loads and stores are masked
// (V::load_partial / store_partial), so no scalar tail loop is written by hand.
//
//   vector_loop<V, 2>(0, n, [&](int64_t i, int k, auto part) {
//     const V e = exp(load<V>(x + i, part, T(0)));
//     store(y + i, part, e);
//     acc[k] = acc[k] + e;
//   });
//
// The part is an empty type for whole vectors, so the body inlines to the
// hand-written main loop (checked with objdump on vec_sum_exp: same
// instructions as the two-loop form).  The tail vectors accumulate into k = 0,
// as the hand-written loops did, so results are unchanged bit for bit.
#pragma once
#include <cstdint>

namespace sc {
namespace SC_NS {

struct Full {
  static constexpr bool kFull = true;
};
struct Tail {
  static constexpr bool kFull = false;
  int64_t n;  // elements left from this vector on (may exceed N: then all lanes)
};

template <class V>
inline V load(const typename V::T* p, Full, typename V::T) {
  return V::load(p);
}
template <class V>
inline V load(const typename V::T* p, Tail t, typename V::T fill) {
  return V::load_partial(p, t.n, fill);
}
template <class T, class V>
inline void store(T* p, Full, V v) {
  store(p, v);
}
template <class T, class V>
inline void store(T* p, Tail t, V v) {
  store_partial(p, t.n, v);
}

// body(i, k, part) for i = b, b + N, ... < e: U vectors per step with k =
// 0..U-1 while U whole vectors remain, then one vector at a time with k = 0
// and a Tail part.
template <class V, int U, class F>
inline void vector_loop(int64_t b, int64_t e, F&& body) {
  constexpr int64_t N = V::N;
  int64_t i = b;
  for (; i + U * N <= e; i += U * N)
    for (int k = 0; k < U; ++k) body(i + k * N, k, Full{});
  for (; i < e; i += N) body(i, 0, Tail{e - i});
}

}  // namespace SC_NS
}  // namespace sc
