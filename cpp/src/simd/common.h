// Pieces of the vector layer shared by every ISA header. Included inside the
// per-target namespace by each <isa>.h (never on its own).
#pragma once
#include <cstdint>
#include <cstring>

namespace sc {
namespace SC_NS {

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

template <class V>
inline V clamp(V x, V lo, V hi) {
  return min(hi, max(lo, x));  // NaN in x survives (x86 rule: b when unordered)
}

}  // namespace SC_NS
}  // namespace sc
