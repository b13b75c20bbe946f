// Attention entries of the kernel table (owned by the attention kernels,
// attention/flash_kernels.h; driven by attention/driver.cpp).
#pragma once
#include <cstdint>

#include "softmax_c/softmax_c.h"

namespace sc {

// One kernel call: a set of query rows that share one K/V head, against the
// keys [j0, j1).  The kernel leaves the *unnormalised* FlashAttention state:
// o[r, :] = sum_j exp(s_rj - m_r) v_j, m[r] = max_j s_rj (-inf when every key
// is masked), l[r] = sum_j exp(s_rj - m_r), with s_rj = scale * q_r . k_j
// (+ mask), or continues such a state (resume).  The driver normalises (o / l) or merges several key ranges.
template <class T>
struct AttnRowSet {
  int64_t rows, E, Ev;
  const T* const* q;  // rows pointers to q_r[0]; element stride q_e
  int64_t q_e;
  const int64_t* lim;  // causal: key j is allowed iff j <= lim[r]; nullptr: no causal limit
  const int64_t* lo;   // window: key j is allowed iff j >= lo[r]; nullptr: no lower limit
  // Score transforms before the masks (serving extras): softcap > 0:
  // s = softcap tanh(s / softcap); slope: s -= slope[r] |diag[r] - j|.
  T softcap;
  const T* slope;      // per row; nullptr: no ALiBi
  const int64_t* diag; // per row, with slope
  const void* const* mask;  // rows pointers to the mask at key 0 (nullptr: no mask)
  int64_t mask_s;           // mask element stride along keys
  int mask_float;           // 0: bool (uint8, nonzero = attend); 1: T added to the score
  // Key head: k_j[e] = k[j * k_s + e * k_e] (element strides) in the
  // storage kv_dtype: T's own code, or SC_F16 / SC_BF16 (with T = float).
  const void* k;
  int64_t k_s, k_e;
  const void* v;
  int64_t v_s, v_e;
  int kv_dtype;
  // kv_dtype SC_I8 (not paged): key j is ks[j * ks_s] * k_j, value j
  // vs[j * vs_s] * v_j; nullptr otherwise.
  const float* ks;
  const float* vs;
  int64_t ks_s, vs_s;
  // Paged keys (nullptr: key j's rows are k + j * k_s, v + j * v_s): key j
  // lives in block blocks[j / block], row j % block, i.e. at
  // k + blocks[j / block] * k_blk + (j % block) * k_s (v: v_blk, v_s).
  const int64_t* blocks;
  int64_t block, k_blk, v_blk;
  // heads > 1: rows = heads x R (R <= 4, the decode kernel): head h's rows
  // are h R .. h R + R - 1, its keys / values at k + h k_h, v + h v_h (the
  // same block walk), its state at o + h o_h and m, l + h ml_h.  heads = 1:
  // one K/V head; k_h .. ml_h unused.
  int64_t heads, k_h, v_h, o_h, ml_h;
  int64_t j0, j1;
  T scale;
  T* o;  // rows x ldo, ldo >= Ev rounded up to `lanes`
  int64_t ldo;
  T* m;
  T* l;
  // resume: o, m, l already hold the state of earlier keys of these rows
  // (with their ldo): the kernel goes on from it instead of from zero.
  bool resume;
  T* work;  // work_elems(rows, E, Ev) elements of scratch
};

template <class T>
struct AttnKernelsT {
  int lanes;
  int dot_rows;  // the most rows per head of a multi-head (heads > 1) call
  int64_t (*work_elems)(int64_t rows, int64_t E, int64_t Ev);
  void (*flash)(const AttnRowSet<T>* a);
};

struct AttentionKernels {
  AttnKernelsT<float> f32;
  AttnKernelsT<double> f64;
};

}  // namespace sc
