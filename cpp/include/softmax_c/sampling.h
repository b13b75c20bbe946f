/* softmax_c: the C ABI of the sampling family (sample, topk_softmax,
 * fit_temperature).  Conventions as softmax_c.h: plain pointers, int64 sizes
 * and element strides, a status code, nothing aborts or prints.
 *
 * The input is a set of rows: row r, element i is x[r*row_stride + i*n_stride]
 * (strides in elements, any sign, 0 allowed), n >= 1.
 *
 * A row is *invalid* when it holds a NaN or its max is not finite (+inf, or
 * every entry -inf).  The kernels report it (index -1) and the front raises.
 */
#ifndef SOFTMAX_C_SAMPLING_H_
#define SOFTMAX_C_SAMPLING_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One token per row from softmax(x / temperature) after the warpers, in the
 * order of Hugging Face transformers: top-k, top-p, min-p.
 *  u[r] in [0, 1): the row's uniform (inverse CDF).
 *  temperature: 0 = greedy (argmax, lowest index on ties), else > 0.
 *  top_k: 0 = off, else keep the top_k first tokens of the order (value
 *         descending, index ascending).
 *  top_p: >= 1 = off, else in (0, 1): keep the shortest prefix of that order
 *         whose mass (renormalised after top-k) is >= top_p.
 *  min_p: 0 = off, else keep p >= min_p * p_max.
 * out[r]: the token, or -1 for an invalid row. */
int sc_sample(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride, int64_t n_stride,
              const double* u, double temperature, int64_t top_k, double top_p, double min_p, int64_t* out);

/* The k (1 <= k <= n) first entries of the order above with their
 * probabilities softmax(x / temperature) over the whole row, sorted.
 * probs (dtype of x) and idx are contiguous (rows, k); an invalid row gets
 * idx = -1 and NaN probabilities. */
int sc_topk_softmax(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride, int64_t n_stride,
                    int64_t k, double temperature, void* probs, int64_t* idx);

/* For every row, with p = softmax(beta * x): lse = log sum exp(beta * x),
 * mean = E_p[x], var = Var_p[x]; sums[0..3) = their sums over the rows, in
 * row order (so independent of the thread count).  Rows must be finite. */
int sc_temperature_moments(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride,
                           int64_t n_stride, double beta, double* sums);

#ifdef __cplusplus
}
#endif

#endif /* SOFTMAX_C_SAMPLING_H_ */
