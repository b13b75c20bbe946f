// The portable reference target: one lane, plain C++ (also the fallback on
// any architecture without a vector target here).
#define SC_NS scalar
#include "../simd/scalar.h"
#include "target_impl.inc"
