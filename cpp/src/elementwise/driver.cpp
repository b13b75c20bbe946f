// The elementwise family's driver (ISA-free): expit / log_expit of any
// shape and strides.  The axes are put in one order (the run axis, where x
// is most contiguous, last), length-1 axes dropped and neighbours whose
// strides nest merged, so a C- or F-contiguous array is one run and a
// strided view a few; each run is cut into fixed chunks of kChunk elements
// (the work items: the same cut for any thread count, so results do not
// depend on it), and a chunk is one call of the target's strided kernel
// (gathers / scatters where a stride is not 1: no copy of the array).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "core/driver.h"
#include "core/kernel_table.h"
#include "core/offsets.h"
#include "softmax_c/softmax_c.h"

namespace sc {
namespace {

constexpr int64_t kChunk = 16384;  // elements per work item (64 KiB of float32)

struct Layout {
  std::vector<int64_t> shape, xs, ys;  // outer axes, C order
  int64_t n = 1, x_n = 1, y_n = 1;     // the run axis
};

// The canonical layout of (shape, xs, ys); false when the array is empty.
bool make_layout(int ndim, const int64_t* shape, const int64_t* xs, const int64_t* ys, Layout* L) {
  std::vector<int> ax;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 0) return false;
    if (shape[d] > 1) ax.push_back(d);
  }
  // Descending |x stride| (ties: y's), so the most contiguous axis comes last.
  std::stable_sort(ax.begin(), ax.end(), [&](int a, int b) {
    const int64_t sa = std::llabs(xs[a]), sb = std::llabs(xs[b]);
    return sa != sb ? sa > sb : std::llabs(ys[a]) > std::llabs(ys[b]);
  });
  std::vector<int64_t> s, x, y;
  for (int d : ax) {
    if (!s.empty() && x.back() == xs[d] * shape[d] && y.back() == ys[d] * shape[d]) {
      s.back() *= shape[d];
      x.back() = xs[d];
      y.back() = ys[d];
      continue;
    }
    s.push_back(shape[d]);
    x.push_back(xs[d]);
    y.push_back(ys[d]);
  }
  if (!s.empty()) {
    L->n = s.back(), L->x_n = x.back(), L->y_n = y.back();
    s.pop_back(), x.pop_back(), y.pop_back();
  }
  L->shape = std::move(s), L->xs = std::move(x), L->ys = std::move(y);
  return true;
}

template <class S>
int expit_impl(const UnaryKernels<S>& k, const S* x, S* y, const Layout& L, bool log_mode) {
  OuterOffsets<2> outer;
  outer.ndim = int(L.shape.size());
  outer.shape = L.shape.data();
  outer.strides = {L.xs.data(), L.ys.data()};
  const int64_t chunks = (L.n + kChunk - 1) / kChunk, items = outer.count() * chunks;
  const auto fn = k.expit[log_mode ? 1 : 0];
  return run_items(items, grain_for(kChunk), [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const auto o = outer(it / chunks);
      const int64_t c0 = (it % chunks) * kChunk, len = std::min(kChunk, L.n - c0);
      fn(x + o[0] + c0 * L.x_n, L.x_n, y + o[1] + c0 * L.y_n, L.y_n, len);
    }
    return true;
  });
}

}  // namespace
}  // namespace sc

extern "C" {

int sc_expit(int dtype, const void* x, void* y, int ndim, const int64_t* shape, const int64_t* x_strides,
             const int64_t* y_strides, int log_mode) {
  return sc::c_abi([&] {
    if (ndim < 0) return sc::invalid("ndim: must be >= 0, got %d", ndim);
    for (int d = 0; d < ndim; ++d)
      if (shape[d] < 0) return sc::invalid("shape[%d]: must be >= 0, got %lld", d, (long long)shape[d]);
    sc::Layout L;
    if (!sc::make_layout(ndim, shape, x_strides, y_strides, &L)) return int(SC_OK);  // empty
    return sc::dispatch_dtype_half(dtype, [&](auto tag) {
      using S = decltype(tag);
      return sc::expit_impl<S>(sc::of<S>(sc::active()->elementwise), static_cast<const S*>(x), static_cast<S*>(y), L,
                               log_mode != 0);
    });
  });
}

}  // extern "C"
