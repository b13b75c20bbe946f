// The baseline every CPU of the architecture runs: SSE2 on x86-64, NEON on
// AArch64.  Compiled with the architecture's default flags only.
#define SC_NS baseline
#if defined(__x86_64__) || defined(_M_X64)
#include "../simd/sse2.h"
#elif defined(__aarch64__)
#include "../simd/neon.h"
#else
#include "../simd/scalar.h"
#endif
#include "target_impl.inc"
