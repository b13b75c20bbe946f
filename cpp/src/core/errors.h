// The message behind the last SC_EINVAL of this thread (sc_last_error()):
// every validation failure names the argument and the value it got.
#pragma once
#include "softmax_c/softmax_c.h"

namespace sc {

// Records the printf-style message and returns SC_EINVAL.
int invalid(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Forgets the last message (each C ABI entry starts with it).
void clear_error();

}  // namespace sc
