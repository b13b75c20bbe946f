// dst[i * ds] = src[i * ss] for i < n: the one strided copy the drivers use
// to pack a strided row into contiguous scratch and to write it back.
#pragma once
#include <cstdint>

namespace sc {

template <class T>
void copy_strided(const T* src, int64_t ss, int64_t n, T* dst, int64_t ds) {
  for (int64_t i = 0; i < n; ++i) dst[i * ds] = src[i * ss];
}

// The row at p with element stride s as a contiguous pointer: p itself when
// s == 1, else packed into buf (n elements).
template <class T>
const T* contiguous_row(const T* p, int64_t s, int64_t n, T* buf) {
  if (s == 1) return p;
  copy_strided(p, s, n, buf, 1);
  return buf;
}

}  // namespace sc
