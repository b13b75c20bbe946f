/* softmax_c: the C ABI of scaled dot-product attention.
 *
 * out[b, h, i, :] = softmax(scale * q[b,h,i,:] . k[b,g(h),j,:] + mask) v[b,g(h),j,:]
 * with g(h) = h / (Hq / H) (grouped-query attention when Hq > H).
 * Every array is given by a base pointer and *element* strides (any sign,
 * zero for broadcast dimensions).  Nothing here aborts, throws or prints;
 * the Python front validates, the driver re-checks what guards memory.
 */
#ifndef SOFTMAX_C_ATTENTION_H_
#define SOFTMAX_C_ATTENTION_H_

#include <stdint.h>

#include "softmax_c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_ATTN_MAX_BATCH 16

enum sc_attn_mask { SC_MASK_NONE = 0, SC_MASK_BOOL = 1, SC_MASK_FLOAT = 2 };
enum sc_attn_causal { SC_CAUSAL_NONE = 0, SC_CAUSAL_UPPER_LEFT = 1, SC_CAUSAL_LOWER_RIGHT = 2 };

typedef struct sc_attn {
  /* Storage dtypes: dtype of q and out (SC_F32, SC_F64, SC_F16, SC_BF16),
   * kv_dtype of k and v (the same codes, or SC_I8 with scales below; SC_F64
   * only with SC_F64).  The
   * kernels compute in float64 for SC_F64, else in float32 (halves widened
   * in registers, each output rounded once): lse, a float mask, alibi and
   * sinks are in that compute dtype. */
  int32_t dtype;
  int32_t batch_ndim; /* leading (batch) dimensions, <= SC_ATTN_MAX_BATCH */
  int64_t batch_shape[SC_ATTN_MAX_BATCH];
  int64_t q_batch[SC_ATTN_MAX_BATCH], k_batch[SC_ATTN_MAX_BATCH], v_batch[SC_ATTN_MAX_BATCH];
  int64_t o_batch[SC_ATTN_MAX_BATCH], lse_batch[SC_ATTN_MAX_BATCH], mask_batch[SC_ATTN_MAX_BATCH];
  int64_t Hq, H, L, S, E, Ev; /* Hq a multiple of H */
  const void* q;
  int64_t q_h, q_l, q_e;
  const void* k;
  int64_t k_h, k_s, k_e;
  const void* v;
  int64_t v_h, v_s, v_e;
  void* out;
  int64_t o_h, o_l, o_e;
  void* lse; /* NULL: not wanted; else (batch..., Hq, L) */
  int64_t lse_h, lse_l;
  const void* mask; /* bool (1 byte, nonzero = attend) or compute dtype (added); -inf masks out */
  int32_t mask_kind;
  int64_t mask_h, mask_l, mask_s;
  int32_t causal; /* sc_attn_causal; lower-right: key j <= i + S - L */
  double scale;
  /* Serving extras (FlashAttention-2 semantics), all off when band == 0.
   * With d(i) = i + S - L (align lower-right) or i (upper-left), query i sees
   * keys j in [d(i) - window_left, d(i) + window_right] (-1: unbounded;
   * causal forces the right bound to <= 0).  Score order:
   * s = scale q.k; softcap > 0: s = softcap tanh(s / softcap);
   * alibi: s -= alibi[h] |d(i) - j|; then the masks.  sinks: one extra
   * logit per query head in the softmax denominator (no value). */
  int32_t band;
  int32_t align; /* sc_attn_causal code of the diagonal d(i) when causal is NONE */
  int64_t window_left, window_right;
  double softcap;
  const void* alibi; /* NULL or compute dtype per query head, stride alibi_h */
  int64_t alibi_h;
  const void* sinks; /* NULL or compute dtype per query head, stride sinks_h */
  int64_t sinks_h;
  int32_t kv_dtype;
  /* kv_dtype SC_I8 (sc_attention only, not ragged): k and v are int8 with
   * one float32 scale per key row, k_j[e] = k_scale[j] * k[j, e] (v alike,
   * v_scale); the scales are indexed (batch..., H, S) by element strides
   * ks_batch, ks_h, ks_s (vs_*).  Ignored for the other kv dtypes. */
  const void* k_scale;
  int64_t ks_batch[SC_ATTN_MAX_BATCH];
  int64_t ks_h, ks_s;
  const void* v_scale;
  int64_t vs_batch[SC_ATTN_MAX_BATCH];
  int64_t vs_h, vs_s;
} sc_attn;

/* SC_OK, SC_EINVAL (bad sizes), SC_ENOMEM (scratch). */
int sc_attention(const sc_attn* a);

/* A ragged batch (FlashAttention-2's varlen / kvcache calls) in one call:
 * `batch` sequences sharing the heads, sizes, strides, scale and serving
 * extras of an sc_attn whose batch_ndim is 0 (its L, S are ignored; no
 * mask).  Sequence b has Lq = cu_q[b+1] - cu_q[b] queries and Lk = k_len[b]
 * keys; its arrays start at (element offsets)
 *   q:   b * q_b + cu_q[b] * q_l        (out: o_b, o_l; lse: lse_b, lse_l)
 *   k:   b * k_b + k_first[b] * k_s     (v: v_b, v_s) -- dense keys;
 *   paged (block_table != NULL): key j of head h is row j % block_size of
 *        block id = block_table[b * bt_s + j / block_size]:
 *        k + id * k_block + (j % block_size) * k_s + h * k_h (v alike);
 *   alibi: b * alibi_b + hq * alibi_h.
 * The diagonal is aligned per sequence as the sc_attn says (lower right:
 * d(i) = i + Lk - Lq).  The caller validates every index (block ids in
 * range, lengths within the blocks); the driver reads through them. */
typedef struct sc_attn_ragged {
  int64_t batch;
  const int64_t* cu_q;    /* batch + 1 */
  const int64_t* k_len;   /* batch */
  const int64_t* k_first; /* batch (dense keys; NULL when paged) */
  int64_t q_b, o_b, lse_b, k_b, v_b, alibi_b;
  const int64_t* block_table; /* NULL: dense keys */
  int64_t bt_s, block_size, k_block, v_block;
} sc_attn_ragged;

/* SC_OK, SC_EINVAL, SC_ENOMEM. */
int sc_attention_ragged(const sc_attn* a, const sc_attn_ragged* r);

/* Keys per chunk of the decode split (fixed: never depends on the thread
 * count, so results are bitwise identical for any number of threads). */
int64_t sc_attention_chunk_keys(void);

#ifdef __cplusplus
}
#endif

#endif /* SOFTMAX_C_ATTENTION_H_ */
