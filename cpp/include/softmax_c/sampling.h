/* softmax_c: the C ABI of the sampling family (sample, topk_softmax,
 * fit_temperature).  Conventions as softmax_c.h: plain pointers, int64 sizes
 * and element strides, a status code, nothing aborts or prints.
 *
 * The input is a set of rows: row r, element i is x[r*row_stride + i*n_stride]
 * (strides in elements, any sign, 0 allowed), n >= 1.
 *
 * A row is *invalid* when it holds a NaN or its max is not finite (+inf, or
 * every entry -inf).  The kernels report it (index -1) and the front raises.
 *
 * dtype: SC_F32 or SC_F64; sc_sample, sc_verify_draft, sc_topk_softmax and
 * sc_temperature_moments also take SC_F16 / SC_BF16 rows, widened exactly and
 * computed in float32 (the results of the float32 call on the widened rows;
 * topk probabilities rounded once to x's dtype, draft_probs float32).
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

/* The serving sampler: per-row parameters, logits processors and logprobs.
 * Every per-row array has `rows` entries (contiguous).  Row r:
 *  1. y = x_r, with y_i = -inf where allowed (when not NULL) is 0:
 *     allowed + r * allowed_row_stride, n bytes;
 *  2. y[id] += bias for the n_bias pairs (bias_ids, bias) + r * bias_row_stride
 *     with id >= 0 (id < 0: padding; repeated ids add);
 *  3. for every distinct token t >= 0 of history + r * n_history, c its count:
 *     y_t = y_t > 0 ? y_t / repetition : y_t * repetition, then
 *     y_t -= presence * (c > 0) + frequency * c;
 *  4. the token of sc_sample on y with temperature[r], top_k[r] (<= 0 or >= n:
 *     off), top_p[r] (>= 1: off), min_p[r] (0: off) and the uniform u[r].
 * out[r] = the token, -1 for an invalid y (NaN, +inf or no finite entry).
 * logprobs = L >= 0: with z = x_r (raw != 0) or y / T (T = temperature[r],
 * 1 for greedy rows), logprob[r] = log_softmax(z)[out[r]] and top_ids /
 * top_logprobs (rows, L) the L first entries of the order on z with their
 * log_softmax.  Ids out of [0, n) are the caller's error (checked before). */
typedef struct {
  const double* u;
  const double* temperature;
  const int64_t* top_k;
  const double* top_p;
  const double* min_p;
  const unsigned char* allowed;
  int64_t allowed_row_stride;
  const int64_t* bias_ids;
  const double* bias;
  int64_t n_bias, bias_row_stride;
  const int64_t* history;
  int64_t n_history;
  const double* repetition;
  const double* presence;
  const double* frequency;
  int64_t logprobs;
  int raw;
  double* logprob;
  int64_t* top_ids;
  double* top_logprobs;
} sc_sample_params;

int sc_sample_batch(int dtype, const void* x, int64_t rows, int64_t n, int64_t row_stride, int64_t n_stride,
                    const sc_sample_params* params, int64_t* out);

/* Speculative-decoding verification (Leviathan et al. 2023; Chen et al.
 * 2023), one call for a batch of requests.  Request r has k draft tokens and
 * k + 1 target rows: target row j of request r is row r * (k + 1) + j of x
 * (rows * (k + 1) rows of n, strides as above).  p_j = the distribution of
 * sc_sample_batch's step 4 on target row j with the request's temperature,
 * top_k, top_p, min_p (same "off" values); q_j = draft_probs + (r * k + j) * n
 * (x's dtype, float32 for SC_F16 / SC_BF16; contiguous) or, when
 * draft_probs is NULL, one-hot at the draft token d_j = draft_tokens[r * k + j] (in [0, n): the caller's check).
 * With the request's uniforms u[r * (k + 1) + 0..k]:
 *  for j = 0..k-1: accept d_j when u_j * q_j(d_j) < p_j(d_j); at the first
 *  rejection emit a token drawn (inverse CDF, u_k) from norm(max(0, p_j - q_j))
 *  and stop; when all k are accepted emit the bonus token of sc_sample_batch
 *  on target row k with u_k.
 * num_accepted[r] = the accepted count (-1: some target row j <= the stop is
 * invalid, as sc_sample); tokens[r * (k + 1) + ..] = the accepted drafts,
 * the emitted token, then -1.  Every draft row q_j is checked first (entries
 * >= 0, finite, |sum - 1| <= 1e-3): SC_EINVAL naming the first bad (r, j). */
typedef struct {
  const double* u;
  const double* temperature;
  const int64_t* top_k;
  const double* top_p;
  const double* min_p;
  const int64_t* draft_tokens;
  const void* draft_probs;
  int64_t* num_accepted;
  int64_t* tokens;
} sc_verify_params;

int sc_verify_draft(int dtype, const void* x, int64_t rows, int64_t k, int64_t n, int64_t row_stride,
                    int64_t n_stride, const sc_verify_params* params);

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
