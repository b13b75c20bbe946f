// Item r of a C-order multi-index over shape[0..ndim) -> its element offset
// in each of K arrays (each with its own strides).  The softmax family's
// outer axes and attention's batch axes are both this.
#pragma once
#include <array>
#include <cstdint>

namespace sc {

template <int K>
struct OuterOffsets {
  int ndim = 0;
  const int64_t* shape = nullptr;
  std::array<const int64_t*, K> strides{};

  int64_t count() const {
    int64_t c = 1;
    for (int d = 0; d < ndim; ++d) c *= shape[d];
    return c;
  }
  // Requires count() > 0 and 0 <= r < count().
  std::array<int64_t, K> operator()(int64_t r) const {
    std::array<int64_t, K> o{};
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t i = r % shape[d];
      r /= shape[d];
      for (int k = 0; k < K; ++k) o[k] += i * strides[k][d];
    }
    return o;
  }
};

}  // namespace sc
