// The driver toolkit: what every C ABI entry of every family is made of.
//   validate -> c_abi(...) { dispatch_dtype(dtype, ...) -> run_items(...) }
// ISA-free; included by the <family>/driver.cpp files only.
#pragma once
#include <atomic>
#include <cstdint>
#include <new>

#include "core/errors.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "softmax_c/softmax_c.h"

namespace sc {

// The dtypes of the C ABI: (code, C++ type, member of a per-family table).
// Adding a dtype is one line here (and its kernels in the family tables).
#define SC_FOR_EACH_DTYPE(X) \
  X(SC_F32, float, f32)      \
  X(SC_F64, double, f64)

// The half-precision storage dtypes (core/half.h): computed in float32 by
// the families that take them (softmax, log_softmax, logsumexp so far), with
// tables of their own; dispatch_dtype_half includes them.
#define SC_FOR_EACH_HALF_DTYPE(X) \
  X(SC_F16, f16, h16)             \
  X(SC_BF16, bf16, hbf16)

// of<T>(pair): the member of a per-family table for element type T.
template <class T>
struct DtypeMember;
#define SC_DTYPE_MEMBER(code, type, member)                    \
  template <>                                                  \
  struct DtypeMember<type> {                                   \
    template <class P>                                         \
    static const auto& of(const P& p) { return p.member; }     \
  };
SC_FOR_EACH_DTYPE(SC_DTYPE_MEMBER)
SC_FOR_EACH_HALF_DTYPE(SC_DTYPE_MEMBER)
#undef SC_DTYPE_MEMBER
template <class T, class P>
const auto& of(const P& p) {
  return DtypeMember<T>::of(p);
}

// One `case` of the dtype switches below: f(T{}) for the dtype's C++ type.
#define SC_DTYPE_CASE(code, type, member) \
  case code:                              \
    return f(type{});

// f(T{}) with T the element type of dtype; SC_EINVAL for an unknown code.
template <class F>
int dispatch_dtype(int dtype, F&& f) {
  switch (dtype) {
    SC_FOR_EACH_DTYPE(SC_DTYPE_CASE)
    default:
      return invalid("dtype: unknown dtype code %d", dtype);
  }
}

// dispatch_dtype with the half storage dtypes too: f(f16{}) / f(bf16{}).
template <class F>
int dispatch_dtype_half(int dtype, F&& f) {
  switch (dtype) {
    SC_FOR_EACH_HALF_DTYPE(SC_DTYPE_CASE)
    default:
      return dispatch_dtype(dtype, f);
  }
}
#undef SC_DTYPE_CASE

// The one guard of the C ABI: body() returns a status; nothing escapes.
// bad_alloc -> SC_ENOMEM, any other exception -> SC_EINTERNAL.
template <class F>
int c_abi(F&& body) noexcept {
  clear_error();
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return SC_ENOMEM;
  } catch (...) {
    return SC_EINTERNAL;
  }
}

// Runs fn(begin, end) -> bool over the items [0, n) on the pool, `grain`
// items per task (thread_pool.h).  A task that returns false (its scratch
// allocation failed) or throws sets one shared atomic flag, and the tasks
// that start after it do nothing; the result is SC_ENOMEM then, else SC_OK.
template <class F>
int run_items(int64_t n, int64_t grain, F&& fn) {
  std::atomic<bool> failed{false};
  auto task = [&](int64_t b, int64_t e) {
    if (failed.load(std::memory_order_relaxed)) return;
    bool ok = false;
    try {
      ok = fn(b, e);
    } catch (...) {
      ok = false;
    }
    if (!ok) failed.store(true, std::memory_order_relaxed);
  };
  parallel_for(n, grain, task);
  return failed.load() ? SC_ENOMEM : SC_OK;
}

}  // namespace sc
