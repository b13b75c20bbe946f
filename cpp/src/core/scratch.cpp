#include "core/scratch.h"

#include <memory>
#include <new>

namespace sc {

void* thread_scratch(Scratch which, size_t bytes) {
  constexpr int kSlots = int(Scratch::kCount);
  thread_local std::unique_ptr<char[]> buf[kSlots];
  thread_local size_t cap[kSlots] = {};
  const int s = int(which);
  if (cap[s] < bytes) {
    buf[s].reset(new (std::nothrow) char[bytes]);
    cap[s] = buf[s] ? bytes : 0;
  }
  return buf[s].get();
}

}  // namespace sc
