// Pieces of the vector layer shared by every ISA header. Included inside the
// per-target namespace by each <isa>.h (never on its own).
#pragma once
#include <cstdint>
#include <cstring>

#include "core/half.h"

namespace sc {
namespace SC_NS {

// A compiler barrier for memory accesses (no instruction): the loads before
// it are emitted before the loads after it.  For kernels whose out-of-cache
// speed depends on the order they touch lines in (attn_dot_block).
inline void keep_access_order() { asm volatile("" ::: "memory"); }

// p * 2^n for integer-valued n with |n| <= 1100, correct for overflow (inf)
// and gradual underflow: 2^n is applied as two normal powers 2^n1 * 2^n2 so
// that each factor is representable; the second product rounds once into the
// subnormal range.  ISAs with a native instruction (AVX-512 scalef) overload
// this with a non-template function, which wins overload resolution.
template <class V>
inline V scale_by_pow2(V p, V n) {
  V n1 = round_nearest(n * V::set1(typename V::T(0.5)));
  V n2 = n - n1;
  return (p * pow2i(n1)) * pow2i(n2);
}

// a*b - p exactly, where p = fl(a*b), without an FMA: Veltkamp's split of each
// factor into halves whose products are exact, then Dekker's two-product
// (Dekker 1971; Muller et al., Handbook of Floating-Point Arithmetic, 4.4).
template <class V>
inline V mul_err_dekker(V a, V b, V p) {
  using T = typename V::T;
  const V c = V::set1(sizeof(T) == 4 ? T(4097) : T(134217729));  // 2^ceil(p/2) + 1
  V ca = c * a, cb = c * b;
  V ah = ca - (ca - a), bh = cb - (cb - b);
  V al = a - ah, bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

// out[i] = reduce_add(a[i]) for i < 8: the horizontal sums of eight
// vectors (the scores of eight keys).  AVX2 and AVX-512 overload it with a
// transpose-and-add tree (about 3 instructions per sum instead of 8-9)
// that adds each vector in reduce_add's order: bitwise the same sums.
template <class V>
inline void reduce_add_8(const V* a, typename V::T* out) {
  for (int i = 0; i < 8; ++i) out[i] = reduce_add(a[i]);
}

template <class V>
inline V clamp(V x, V lo, V hi) {
  return min(hi, max(lo, x));  // NaN in x survives (x86 rule: b when unordered)
}

// Half-precision storage lanes of VF: load widens exactly to float32, store
// rounds once to nearest even (core/half.h).  This portable form goes lane by
// lane through the scalar conversions (scalar, baseline, NEON targets); AVX2
// (F16C) and AVX-512 specialise it after including this file.
template <class V, class S>
struct HalfLanes {
  static V load(const S* p) { return load_partial(p, V::N, 0.0f); }
  static V load_partial(const S* p, int64_t n, float fill) {
    alignas(64) float t[V::N];
    for (int64_t k = 0; k < V::N; ++k) t[k] = k < n ? to_f32(p[k]) : fill;
    return V::load(t);
  }
  static void store(S* p, V v) { store_partial(p, V::N, v); }
  static void store_partial(S* p, int64_t n, V v) {
    alignas(64) float t[V::N];
    sc::SC_NS::store(t, v);
    for (int64_t k = 0; k < V::N && k < n; ++k) p[k] = from_f32<S>(t[k]);
  }
};

// int8 storage lanes of VF (an int8 KV cache): load widens exactly to
// float32 (the row's scale is applied by the caller).  Lane by lane here;
// AVX2 and AVX-512 specialise it (vpmovsxbd + vcvtdq2ps).
template <class V>
struct I8Lanes {
  static V load(const int8_t* p) { return load_partial(p, V::N); }
  static V load_partial(const int8_t* p, int64_t n) {
    alignas(64) float t[V::N];
    for (int64_t k = 0; k < V::N; ++k) t[k] = k < n ? float(p[k]) : 0.0f;
    return V::load(t);
  }
};

}  // namespace SC_NS
}  // namespace sc
