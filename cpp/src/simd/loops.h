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
#include <type_traits>

#include "core/half.h"
#include "core/sc_assert.h"

namespace sc {
namespace SC_NS {

struct Full {
  static constexpr bool kFull = true;
};
struct Tail {
  static constexpr bool kFull = false;
  int64_t n;  // elements left from this vector on (may exceed N: then all lanes)
};

// N lanes of V from storage S: V::T as it is, or (with V = VF) a half type
// (HalfLanes) or int8 (I8Lanes, tail fill 0 only) widened exactly to
// float32 in registers.  The one loader of every family's storage types:
// a half or int8 row is read at its own width and never copied to float32.
template <class V, class S>
inline V load_lanes(const S* p) {
  if constexpr (std::is_same_v<S, typename V::T>) {
    return V::load(p);
  } else if constexpr (std::is_same_v<S, int8_t>) {
    return I8Lanes<V>::load(p);
  } else {
    static_assert(is_half_v<S>, "storage: V::T, a half type or int8");
    return HalfLanes<V, S>::load(p);
  }
}
// The first n lanes (n < N), the rest `fill`.
template <class V, class S>
inline V load_lanes(const S* p, int64_t n, typename V::T fill) {
  if constexpr (std::is_same_v<S, typename V::T>) {
    return V::load_partial(p, n, fill);
  } else if constexpr (std::is_same_v<S, int8_t>) {
    SC_ASSERT(fill == 0);
    return I8Lanes<V>::load_partial(p, n);
  } else {
    return HalfLanes<V, S>::load_partial(p, n, fill);
  }
}

// The optional members of a target's HalfLanes: store2<kMayNaN>(p, a, b)
// (2 N outputs), load2_any(p, &a, &b) (2 N inputs in an order of its own).
template <class H, class = void>
struct has_store2 : std::false_type {};
template <class H>
struct has_store2<H, std::void_t<decltype(&H::template store2<true>)>> : std::true_type {};
template <class H, class = void>
struct has_load2_any : std::false_type {};
template <class H>
struct has_load2_any<H, std::void_t<decltype(&H::load2_any)>> : std::true_type {};

// The 2 N elements at p as two vectors, in any order of the elements: for
// order-free reductions (max, min).  AVX2 bf16 widens 16 with one 32-byte
// load and two vpunpck (lanes 0-3 8-11 and 4-7 12-15), not 2 x (vpmovzxwd
// + vpslld).
template <class V, class S>
inline void load2_any(const S* p, V* a, V* b) {
  if constexpr (std::conjunction_v<std::bool_constant<is_half_v<S>>, has_load2_any<HalfLanes<V, S>>>) {
    HalfLanes<V, S>::load2_any(p, a, b);
  } else {
    *a = load_lanes<V>(p);
    *b = load_lanes<V>(p + V::N);
  }
}

template <class V, class S>
inline V load(const S* p, Full, typename V::T) {
  return load_lanes<V>(p);
}
template <class V, class S>
inline V load(const S* p, Tail t, typename V::T fill) {
  return load_lanes<V>(p, t.n, fill);
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
