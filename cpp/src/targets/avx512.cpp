// AVX-512 F/BW/DQ/VL (compiled with those flags only; chosen at run time).
#define SC_NS avx512
#include "../simd/avx512.h"
#include "target_impl.inc"
