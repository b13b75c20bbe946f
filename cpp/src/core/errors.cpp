#include "core/errors.h"

#include <cstdarg>
#include <cstdio>

namespace sc {
namespace {
thread_local char t_message[256];
}

int invalid(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(t_message, sizeof t_message, fmt, ap);
  va_end(ap);
  return SC_EINVAL;
}

void clear_error() { t_message[0] = '\0'; }

}  // namespace sc

extern "C" const char* sc_last_error(void) { return sc::t_message; }
