/* softmax_c: the C ABI of the kernels.
 *
 * Plain pointers, int64 sizes and *element* strides, a status code.  Nothing
 * here aborts, throws or prints; the Python front validates arguments before
 * any call, and the kernels re-check only what guards memory safety.
 */
#ifndef SOFTMAX_C_H_
#define SOFTMAX_C_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sc_status {
  SC_OK = 0,
  SC_EINVAL = 1,   /* bad argument (a front bug if it ever reaches here) */
  SC_ENOMEM = 2,   /* scratch allocation failed */
  SC_EISA = 3,     /* target not compiled in or not supported by this CPU/OS */
  SC_EINTERNAL = 4 /* an unexpected C++ exception, caught at the ABI (a bug) */
};

/* The message behind the last SC_EINVAL returned on this thread, naming the
 * argument and the value it got (e.g. "temperature: must be finite and > 0,
 * got -1"); "" when the last call on this thread succeeded. */
const char* sc_last_error(void);

/* SC_F16 (IEEE binary16) and SC_BF16 (bfloat16) are storage dtypes: widened
 * to float32, computed in float32, each result rounded once to nearest even
 * (softmax, log_softmax); logsumexp's out and sign are float32 for them.
 * The other families take SC_F32 / SC_F64 only. */
/* SC_I8: int8 with one float32 scale per row, attention's k / v only
 * (softmax_c.quantize_kv; sc_attn's k_scale, v_scale). */
enum sc_dtype { SC_F32 = 0, SC_F64 = 1, SC_F16 = 2, SC_BF16 = 3, SC_I8 = 4 };

#define SC_MAX_OUTER 32  /* outer axes of an sc_view */

/* A reduction seen as (outer..., n, inner): reduce over n for every outer
 * multi-index and inner position.  inner == 1 means rows (vectorised along n);
 * inner > 1 is vectorised across inner.  Strides are in elements and may be
 * zero or negative.  For logsumexp the output has no n axis (y_n unused). */
typedef struct sc_view {
  int64_t n, inner;
  int64_t x_n, x_inner;
  int64_t y_n, y_inner;
  int64_t b_n, b_inner;          /* weights b (logsumexp), same shape as x */
  int32_t outer_ndim;
  int64_t outer_shape[SC_MAX_OUTER];
  int64_t x_outer[SC_MAX_OUTER];
  int64_t y_outer[SC_MAX_OUTER];
  int64_t b_outer[SC_MAX_OUTER];
} sc_view;

/* softmax (log_mode = 0) or log_softmax (1) of x / temperature into y.
 * x and y may be the same memory with the same strides (in place). */
int sc_softmax(int dtype, const void* x, void* y, const sc_view* v, double temperature, int log_mode);

/* logsumexp over n: out = log|sum b*exp(x)| (b optional: NULL means 1),
 * sign (optional) = sign of the sum (float32 for SC_F16 / SC_BF16 x, b).  Without sign, a negative sum gives NaN
 * (scipy).  out/sign are indexed with y_outer / y_inner. */
int sc_logsumexp(int dtype, const void* x, const void* b, void* out, void* sign, const sc_view* v);

/* The partial state of logsumexp(x / temperature, b) over n, one read of x:
 * m = max(x) / temperature (over b != 0; rounded once, so it is the max of
 * the rounded x / T), s = sum of b * exp(x / T - m), so that
 * logsumexp = m + log(s).  Nothing to sum: m = -inf, s = 0; a +inf entry:
 * m = +inf, s = sign of its weight (NaN for both signs); a NaN: both NaN.
 * m, s are indexed as logsumexp's out (float32 for SC_F16 / SC_BF16).
 * Weights b (optional) need temperature == 1 (SC_EINVAL otherwise). */
int sc_softmax_stats(int dtype, const void* x, const void* b, void* m, void* s, const sc_view* v,
                     double temperature);

/* y = exp(x) elementwise with the active target's vector exp (contiguous;
 * for the accuracy tests). */
int sc_exp(int dtype, const void* x, void* y, int64_t n);

/* Dispatch. */
const char* sc_target_name(void);            /* the active target */
int sc_set_target(const char* name);         /* SC_EISA if unknown/unsupported */
const char* sc_targets_compiled(void);       /* comma separated */
const char* sc_targets_supported(void);      /* compiled and runnable here */
const char* sc_cpu_features(void);           /* comma separated */
int sc_num_threads(void);
void sc_set_num_threads(int n);

#ifdef __cplusplus
}
#endif

#endif /* SOFTMAX_C_H_ */
