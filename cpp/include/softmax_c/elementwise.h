/* softmax_c: the C ABI of the elementwise family (expit, log_expit).
 * Conventions as softmax_c.h: plain pointers, int64 sizes and element
 * strides, a status code, nothing aborts or prints.  dtype: any sc_dtype
 * (SC_F16 / SC_BF16 computed in float32, each result rounded once). */
#ifndef SOFTMAX_C_ELEMENTWISE_H_
#define SOFTMAX_C_ELEMENTWISE_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y = expit(x) = 1 / (1 + exp(-x)) (log_mode = 0) or log_expit(x) =
 * -log1p(exp(-x)) (log_mode = 1), elementwise over an ndim array of `shape`;
 * x and y have the element strides x_strides / y_strides (any sign, 0 for x
 * allowed).  y may be x with the same strides (in place); otherwise x and y
 * must not overlap.  Any size, 0 included. */
int sc_expit(int dtype, const void* x, void* y, int ndim, const int64_t* shape, const int64_t* x_strides,
             const int64_t* y_strides, int log_mode);

#ifdef __cplusplus
}
#endif

#endif /* SOFTMAX_C_ELEMENTWISE_H_ */
