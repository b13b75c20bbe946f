// AVX2 + FMA (compiled with -mavx2 -mfma only; chosen at run time).
#define SC_NS avx2
#include "../simd/avx2.h"
#include "target_impl.inc"
