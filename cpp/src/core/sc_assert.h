// SC_ASSERT(cond): a kernel precondition, checked in debug builds only
// (SOFTMAX_C_DEBUG defined, or NDEBUG not defined; the sanitizer build turns
// it on).  A failed check prints the condition and aborts: it is a bug in a
// driver, never a user error (those are SC_EINVAL with sc_last_error()).
#pragma once

#if defined(SOFTMAX_C_DEBUG) || !defined(NDEBUG)
#include <cstdio>
#include <cstdlib>
#define SC_ASSERT(cond)                                                                       \
  ((cond) ? (void)0                                                                           \
          : (std::fprintf(stderr, "softmax_c: %s:%d: assertion failed: %s\n", __FILE__, __LINE__, \
                          #cond),                                                             \
             std::abort()))
#define SC_ASSERTS_ON 1
#else
#define SC_ASSERT(cond) ((void)0)
#define SC_ASSERTS_ON 0
#endif
