// Scaled dot-product attention: shapes, strides, threads and the decode
// split.  The arithmetic is the target's FlashAttention kernel
// (attention/flash_kernels.h); this file is ISA-free.
//
// Work items (DESIGN.md, "attention" and "threads"):
//  * a *group* is one (batch, K/V head): its rows are the (query position l,
//    query head of the group) pairs, l-major, so one K/V head is read once
//    for all the query heads that share it (GQA / MQA), and rows next to each
//    other have nearby causal limits.
//  * prefill: items are (group, tile of kRowTile rows); each runs the kernel
//    over all the keys its rows may see (causal: up to the last row's limit)
//    and normalises.  Work per item ~ kRowTile * S * (E + Ev) flops.
//  * decode (a group of at most kSplitRows rows and more than kChunkKeys
//    keys): items are (group, chunk of kChunkKeys keys); each leaves
//    (m, l, O) per row, merged afterwards in chunk order by the log-sum-exp
//    rule.  Chunk size and merge order depend on the data only, so results
//    are bitwise identical for any thread count.  Partial results live in a
//    buffer of at most kPartialBytes: groups are processed in batches.
// Extra memory: per thread, one kernel workspace (kRowTile rows of Q^T and
// O, one K/V tile), plus the decode partials: O(threads x tile).
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "core/driver.h"
#include "core/kernel_table.h"
#include "core/offsets.h"
#include "core/sc_assert.h"
#include "core/scratch.h"
#include "softmax_c/attention.h"

namespace sc {
namespace {

// Rows per prefill item.  A multiple of every panel height (3 x lanes: 3, 6,
// 12, 24, 48), large enough that packing Q^T and re-reading each K/V tile per
// item cost little, small enough that (1, 8, 1024, 1024, 64) still makes 48
// items for the threads.  Measured (AVX2, 1 thread, ratio to torch, loaded
// machine): 96 / 192 / 384 rows gave 1.11 / 1.15 / 1.19x non-causal and
// 1.52 / 1.61 / 1.66x causal: flat within the noise, so the middle one.
constexpr int64_t kRowTile = 192;
constexpr int64_t kChunkKeys = 512;          // keys per decode chunk (a multiple of the kernels' tiles)
// Keys per step of a ragged decode chunk, all heads in turn (ragged_items).
// Measured (benchmarks/serving_attention_speed.py decode case, 1 thread,
// interleaved medians, load average 9-10 on the shared 2-core machine):
// head after head over whole 512-key chunks ran at 0.42x the dense decode;
// steps of 8 / 16 / 32 / 64 / 128 / 256 keys gave 0.46 / 0.55 / 0.59 / 0.64 /
// 0.60 / 0.64x (noisy); a software prefetch of the next block's rows per
// head changed nothing (0.62 vs 0.64x) and was dropped.
constexpr int64_t kSubKeys = 64;
constexpr int64_t kSplitRows = 16;           // groups with at most this many rows split their keys
constexpr int64_t kPartialBytes = 8 << 20;   // decode partials per batch of groups
constexpr double kInlineFlops = 4e6;         // below this, no thread wake-up

size_t align64(size_t b) { return (b + 63) / 64 * 64; }

// Bytes per element of a storage dtype (q/out: dtype; k/v: kv_dtype).
int64_t dtype_bytes(int dt) { return dt == SC_F64 ? 8 : dt == SC_F32 ? 4 : dt == SC_I8 ? 1 : 2; }
bool is_half_code(int dt) { return dt == SC_F16 || dt == SC_BF16; }

// One query row (element offset off, stride q_e) widened to T in dst (E
// elements) when the query is stored in half precision: the kernels pack
// float32 Q^T from it.  Per kernel call, never the whole query.
template <class S, class T>
void widen_row(const void* q, int64_t off, int64_t E, int64_t q_e, T* dst) {
  const S* p = static_cast<const S*>(q) + off;
  for (int64_t e = 0; e < E; ++e) dst[e] = T(to_f32(p[e * q_e]));
}

// One output row in the storage dtype of q/out (a.dtype): put(e, v) writes
// element e, rounded once from double (float32 output) or from the float32
// value (half output: the row is a float32 computation; the double
// normalisation rounds to float first).
struct OutRow {
  char* p;
  int64_t step;
  int dt;
  void put(int64_t e, double v) const {
    char* d = p + e * step;
    switch (dt) {
      case SC_F64: *reinterpret_cast<double*>(d) = v; break;
      case SC_F16: *reinterpret_cast<f16*>(d) = from_f32<f16>(float(v)); break;
      case SC_BF16: *reinterpret_cast<bf16*>(d) = from_f32<bf16>(float(v)); break;
      default: *reinterpret_cast<float*>(d) = float(v); break;
    }
  }
};

template <class T>
struct Job {
  const sc_attn* a;
  const AttnKernelsT<T>* k;
  int64_t gs, R, ldo, off;  // group size, rows per group, O row stride, diagonal offset
  // band: row i sees keys [i + off - left, i + off + right] (when has_lo / has_lim)
  int64_t left = 0, right = 0;
  bool has_lo = false, has_lim = false;
  OuterOffsets<8> batch;    // batch index -> offsets of q, k, v, out, lse, mask, k / v scales
  bool lower_right = false;  // the diagonal offset is S - L (per sequence in a ragged batch)
  int64_t block = 0, k_blk = 0, v_blk = 0;  // paged keys (ragged batches)
  // decode split
  int64_t chunks = 0, g_begin = 0;
  T *part_o = nullptr, *part_m = nullptr, *part_l = nullptr;
};

OuterOffsets<8> batch_of(const sc_attn& a) {
  OuterOffsets<8> o;
  o.ndim = a.batch_ndim;
  o.shape = a.batch_shape;
  o.strides = {a.q_batch, a.k_batch, a.v_batch, a.o_batch, a.lse_batch, a.mask_batch, a.ks_batch, a.vs_batch};
  return o;
}
enum BatchArray { kQ, kK, kV, kOut, kLse, kMask, kKs, kVs };
using Offsets = std::array<int64_t, 8>;

// Where one sequence (one batch entry) lives: offsets of q, k, v, out, lse
// and mask, its diagonal offset, its keys, its ALiBi offset, and for a paged
// cache its row of the block table (nullptr: keys at k + j * k_s).
struct SeqAt {
  Offsets bo;
  int64_t off, S, alibi;
  const int64_t* blocks;
};

template <class T>
SeqAt dense_seq(const Job<T>& job, int64_t b) {
  return SeqAt{job.batch(b), job.off, job.a->S, 0, nullptr};
}

// The kernel over rows [r0, r1) of group g and keys [j0, j1): O, m, l into
// o (rows x ldo), m, l.  False when the scratch allocation failed.
template <class T>
// heads > 1: the same rows of heads h .. h + heads - 1 in one decode-kernel
// call (attn_flash_dot), head h + t's state at o + t * o_h, m / l + t * ml_h.
bool run_rows(const Job<T>& job, const SeqAt& sq, int64_t h, int64_t r0, int64_t r1, int64_t j0, int64_t j1, T* o,
              T* m, T* l, bool resume = false, int64_t heads = 1, int64_t o_h = 0, int64_t ml_h = 0) {
  const sc_attn& a = *job.a;
  const int64_t hrows = r1 - r0, rows = hrows * heads;
  SC_ASSERT(hrows >= 1 && heads >= 1 && j0 <= j1);
  const auto& bo = sq.bo;
  const int64_t work = job.k->work_elems(rows, a.E, a.Ev);
  const bool half_q = is_half_code(a.dtype);
  const size_t pb = align64(sizeof(T*) * rows), ib = align64(sizeof(int64_t) * rows), tb = align64(sizeof(T) * rows);
  const size_t wb = align64(sizeof(T) * work), qb = half_q ? align64(sizeof(T) * rows * a.E) : 0;
  const size_t bytes = pb * 2 + ib * 3 + tb + wb + qb;
  char* s = static_cast<char*>(thread_scratch(Scratch::kAttnWork, bytes));
  if (!s) return false;
  const T** qp = reinterpret_cast<const T**>(s);
  const void** mp = reinterpret_cast<const void**>(s + pb);
  int64_t* lim = reinterpret_cast<int64_t*>(s + 2 * pb);
  int64_t* lo = reinterpret_cast<int64_t*>(s + 2 * pb + ib);
  int64_t* dg = reinterpret_cast<int64_t*>(s + 2 * pb + 2 * ib);
  T* slope = reinterpret_cast<T*>(s + 2 * pb + 3 * ib);
  T* wk = reinterpret_cast<T*>(s + 2 * pb + 3 * ib + tb);
  T* wq = reinterpret_cast<T*>(s + 2 * pb + 3 * ib + tb + wb);
  const size_t msz = a.mask_kind == SC_MASK_BOOL ? 1 : sizeof(T);
  const char* mk = static_cast<const char*>(a.mask) + (a.mask ? bo[kMask] * int64_t(msz) : 0);
  int64_t jmax = INT64_MIN, jmin = INT64_MAX;
  const T* al = a.band && a.alibi ? static_cast<const T*>(a.alibi) + sq.alibi : nullptr;
  for (int64_t t = 0; t < heads; ++t)
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r / job.gs, hq = (h + t) * job.gs + r % job.gs, x = t * hrows + r - r0;
      const int64_t qoff = bo[kQ] + hq * a.q_h + i * a.q_l;
      if (half_q) {
        T* w = wq + x * a.E;
        if (a.dtype == SC_F16)
          widen_row<f16>(a.q, qoff, a.E, a.q_e, w);
        else
          widen_row<bf16>(a.q, qoff, a.E, a.q_e, w);
        qp[x] = w;
      } else {
        qp[x] = static_cast<const T*>(a.q) + qoff;
      }
      if (a.mask_kind != SC_MASK_NONE) mp[x] = mk + (hq * a.mask_h + i * a.mask_l) * int64_t(msz);
      const int64_t d = i + sq.off;  // the row's diagonal
      lim[x] = d + job.right;
      lo[x] = d - job.left;
      dg[x] = d;
      if (al) slope[x] = al[hq * a.alibi_h];
      jmax = d + job.right > jmax ? d + job.right : jmax;
      jmin = d - job.left < jmin ? d - job.left : jmin;
    }
  // Tiles wholly outside the band of every row are skipped, not masked.
  if (job.has_lim && jmax + 1 < j1) j1 = jmax + 1 > j0 ? jmax + 1 : j0;
  if (job.has_lo && jmin > j0) j0 = jmin < j1 ? jmin : j1;
  AttnRowSet<T> rs;
  rs.rows = rows;
  rs.E = a.E;
  rs.Ev = a.Ev;
  rs.q = qp;
  rs.q_e = half_q ? 1 : a.q_e;
  rs.lim = job.has_lim ? lim : nullptr;
  rs.lo = job.has_lo ? lo : nullptr;
  rs.softcap = a.band ? T(a.softcap) : T(0);
  rs.slope = al ? slope : nullptr;
  rs.diag = dg;
  rs.mask = a.mask_kind != SC_MASK_NONE ? mp : nullptr;
  rs.mask_s = a.mask_s;
  rs.mask_float = a.mask_kind == SC_MASK_FLOAT;
  const int64_t kvb = dtype_bytes(a.kv_dtype);
  rs.k = static_cast<const char*>(a.k) + (bo[kK] + h * a.k_h) * kvb;
  rs.k_s = a.k_s;
  rs.k_e = a.k_e;
  rs.v = static_cast<const char*>(a.v) + (bo[kV] + h * a.v_h) * kvb;
  rs.v_s = a.v_s;
  rs.v_e = a.v_e;
  rs.kv_dtype = a.kv_dtype;
  const bool i8 = a.kv_dtype == SC_I8;
  rs.ks = i8 ? static_cast<const float*>(a.k_scale) + bo[kKs] + h * a.ks_h : nullptr;
  rs.vs = i8 ? static_cast<const float*>(a.v_scale) + bo[kVs] + h * a.vs_h : nullptr;
  rs.ks_s = a.ks_s;
  rs.vs_s = a.vs_s;
  rs.heads = heads;
  rs.k_h = a.k_h;
  rs.v_h = a.v_h;
  rs.o_h = o_h;
  rs.ml_h = ml_h;
  rs.blocks = sq.blocks;
  rs.block = job.block;
  rs.k_blk = job.k_blk;
  rs.v_blk = job.v_blk;
  rs.j0 = j0;
  rs.j1 = j1;
  rs.scale = T(a.scale);
  rs.o = o;
  rs.ldo = job.ldo;
  rs.m = m;
  rs.l = l;
  rs.resume = resume;
  rs.work = wk;
  job.k->flash(&rs);
  return true;
}

// out row = o / l (zeros for a fully masked row), lse = m + log l (-inf).
// The sink logit of query head hq joins the denominator (gpt-oss): with the
// state (m, l) of the keys and o to be divided by l, returns the divisor
// l' = l + e^(sink - m) (shift m' = max(m, sink)) and the factor of o.
template <class T>
double add_sink(const sc_attn& a, int64_t hq, double* m, double* l) {
  if (!a.band || !a.sinks) return 1.0;
  const double sk = double(static_cast<const T*>(a.sinks)[hq * a.sinks_h]);
  if (*l == 0.0) {  // no key seen: the sink alone
    *m = sk;
    *l = 1.0;
    return 0.0;
  }
  const double M = sk > *m ? sk : *m, w = std::exp(*m - M);
  *l = *l * w + std::exp(sk - M);
  *m = M;
  return w;
}

OutRow out_row(const sc_attn& a, const Offsets& bo, int64_t hq, int64_t i) {
  const int64_t b = dtype_bytes(a.dtype);
  return OutRow{static_cast<char*>(a.out) + (bo[kOut] + hq * a.o_h + i * a.o_l) * b, a.o_e * b, a.dtype};
}

// A float32 row o / l into a unit-stride float32 output, when l is a
// float32 value: float(double(o) / l) is then the float32 quotient exactly
// (53 >= 2 x 24 + 2 bits), so the division vectorises.  False: the caller
// writes the row through out.put.
template <class T>
bool put_quotients(const OutRow& out, const T* o, int64_t n, double l) {
  if constexpr (std::is_same_v<T, float>) {
    const float lf = float(l);
    if (out.dt != SC_F32 || out.step != int64_t(sizeof(float)) || double(lf) != l) return false;
    float* d = reinterpret_cast<float*>(out.p);
    for (int64_t e = 0; e < n; ++e) d[e] = o[e] / lf;
    return true;
  } else {
    return false;
  }
}

// Row i of head hq's lse (when asked for): m + log l, -inf when l is 0.
template <class T>
void put_lse(const sc_attn& a, const Offsets& bo, int64_t hq, int64_t i, double m, double l) {
  if (!a.lse) return;
  T* lse = static_cast<T*>(a.lse) + bo[kLse] + hq * a.lse_h + i * a.lse_l;
  *lse = l == 0.0 ? T(-INFINITY) : T(m + std::log(l));
}

template <class T>
void finish_row(const sc_attn& a, const Offsets& bo, int64_t hq, int64_t i, const T* o, double m, double l) {
  const OutRow out = out_row(a, bo, hq, i);
  const double f = add_sink<T>(a, hq, &m, &l);
  if (l == 0.0 || f == 0.0) {
    for (int64_t e = 0; e < a.Ev; ++e) out.put(e, 0.0);
  } else if (f == 1.0) {
    if (!put_quotients(out, o, a.Ev, l))
      for (int64_t e = 0; e < a.Ev; ++e) out.put(e, double(o[e]) / l);
  } else {
    for (int64_t e = 0; e < a.Ev; ++e) out.put(e, double(o[e]) * f / l);
  }
  put_lse<T>(a, bo, hq, i, m, l);
}

template <class T>
bool prefill_items(const Job<T>& job, int64_t t0, int64_t t1) {
  const sc_attn& a = *job.a;
  const int64_t tiles = (job.R + kRowTile - 1) / kRowTile;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t g = t / tiles, r0 = t % tiles * kRowTile;
    const int64_t r1 = r0 + kRowTile < job.R ? r0 + kRowTile : job.R;
    const int64_t rows = r1 - r0;
    T* o = scratch<T>(Scratch::kAttnOut, rows * (job.ldo + 2));
    if (!o) return false;
    T* m = o + rows * job.ldo;
    T* l = m + rows;
    const SeqAt sq = dense_seq(job, g / a.H);
    const int64_t h = g % a.H;
    if (!run_rows(job, sq, h, r0, r1, 0, a.S, o, m, l)) return false;
    const auto& bo = sq.bo;
    for (int64_t r = r0; r < r1; ++r)
      finish_row(a, bo, h * job.gs + r % job.gs, r / job.gs, o + (r - r0) * job.ldo, double(m[r - r0]),
                 double(l[r - r0]));
  }
  return true;
}

template <class T>
bool decode_chunks(const Job<T>& job, int64_t t0, int64_t t1) {
  const sc_attn& a = *job.a;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t gi = t / job.chunks, c = t % job.chunks;
    const int64_t j0 = c * kChunkKeys, j1 = j0 + kChunkKeys < a.S ? j0 + kChunkKeys : a.S;
    const int64_t p = gi * job.chunks + c;
    const int64_t g = job.g_begin + gi;
    if (!run_rows(job, dense_seq(job, g / a.H), g % a.H, 0, job.R, j0, j1, job.part_o + p * job.R * job.ldo,
                  job.part_m + p * job.R, job.part_l + p * job.R))
      return false;
  }
  return true;
}

// Log-sum-exp merge of the chunks of one row, in chunk order: chunk c's
// state is po[c * cs * ldo], pm[c * cs], pl[c * cs]; the result (with the
// sink, normalised in double) goes to query head hq, position i.
template <class T>
void merge_row(const sc_attn& a, const Offsets& bo, int64_t hq, int64_t i, int64_t chunks,
               int64_t cs, int64_t ldo, const T* po, const T* pm, const T* pl, double* acc) {
  if (chunks == 1 && !(a.band && a.sinks) && (pl[0] == T(0) || std::isfinite(double(pm[0])))) {
    // One chunk (a short sequence's decode): the loop below with w = 1
    // exactly, without its double accumulator -- the same results.
    const double L = double(pl[0]);
    const OutRow out = out_row(a, bo, hq, i);
    if (L == 0.0) {
      for (int64_t e = 0; e < a.Ev; ++e) out.put(e, 0.0);
    } else if (!put_quotients(out, po, a.Ev, L)) {
      for (int64_t e = 0; e < a.Ev; ++e) out.put(e, double(po[e]) / L);
    }
    put_lse<T>(a, bo, hq, i, double(pm[0]), L);
    return;
  }
  double M = -INFINITY;
  for (int64_t c = 0; c < chunks; ++c)
    if (pl[c * cs] != T(0) && !(double(pm[c * cs]) <= M)) M = double(pm[c * cs]);
  double L = 0.0;
  for (int64_t e = 0; e < a.Ev; ++e) acc[e] = 0.0;
  if (M != -INFINITY) {
    for (int64_t c = 0; c < chunks; ++c) {
      if (pl[c * cs] == T(0)) continue;  // no key of this chunk is seen: its O is never read
      const double w = std::exp(double(pm[c * cs]) - M);
      L += w * double(pl[c * cs]);
      const T* o = po + c * cs * ldo;
      for (int64_t e = 0; e < a.Ev; ++e) acc[e] += w * double(o[e]);
    }
  }
  if (a.band && a.sinks) {
    const double f = add_sink<T>(a, hq, &M, &L);
    for (int64_t e = 0; e < a.Ev; ++e) acc[e] *= f;
  }
  const OutRow out = out_row(a, bo, hq, i);
  for (int64_t e = 0; e < a.Ev; ++e) out.put(e, L == 0.0 ? 0.0 : acc[e] / L);
  put_lse<T>(a, bo, hq, i, M, L);
}

template <class T>
bool decode_merge(const Job<T>& job, int64_t g0, int64_t g1) {
  const sc_attn& a = *job.a;
  double* acc = scratch<double>(Scratch::kAttnMerge, a.Ev + 1);
  if (!acc) return false;
  for (int64_t gi = g0; gi < g1; ++gi) {
    const int64_t g = job.g_begin + gi;
    const auto bo = job.batch(g / a.H);
    const int64_t h = g % a.H;
    for (int64_t r = 0; r < job.R; ++r) {
      const int64_t p = gi * job.chunks * job.R + r;
      merge_row(a, bo, h * job.gs + r % job.gs, r / job.gs, job.chunks, job.R, job.ldo, job.part_o + p * job.ldo,
                job.part_m + p, job.part_l + p, acc);
    }
  }
  return true;
}

// The fields of a job every call shares: heads per group, O's row stride,
// the diagonal's alignment and the causal / window band.
template <class T>
void setup_job(Job<T>* job, const sc_attn& a, const AttnKernelsT<T>& k) {
  job->a = &a;
  job->k = &k;
  job->gs = a.Hq / a.H;
  job->ldo = (a.Ev + k.lanes - 1) / k.lanes * k.lanes;
  const int32_t align = a.causal != SC_CAUSAL_NONE ? a.causal : a.band ? a.align : SC_CAUSAL_NONE;
  job->lower_right = align == SC_CAUSAL_LOWER_RIGHT;
  job->has_lim = a.causal != SC_CAUSAL_NONE;
  if (a.band && a.window_right >= 0) {
    job->right = job->has_lim && a.window_right > 0 ? 0 : a.window_right;
    job->has_lim = true;
  }
  if (a.band && a.window_left >= 0) {
    job->left = a.window_left;
    job->has_lo = true;
  }
}

template <class T>
int attention(const sc_attn& a, const AttnKernelsT<T>& k) {
  Job<T> job;
  job.batch = batch_of(a);
  const int64_t B = job.batch.count();
  if (B == 0 || a.Hq == 0 || a.L == 0) return SC_OK;
  setup_job(&job, a, k);
  job.R = job.gs * a.L;
  job.off = job.lower_right ? a.S - a.L : 0;
  const int64_t G = B * a.H;
  const double flops_per_group = 2.0 * double(job.R) * double(a.S) * double(a.E + a.Ev) + 1.0;

  if (job.R <= kSplitRows && a.S > kChunkKeys) {
    job.chunks = (a.S + kChunkKeys - 1) / kChunkKeys;
    const int64_t per_group = job.chunks * job.R * (job.ldo + 2) * int64_t(sizeof(T));
    int64_t batch = kPartialBytes / per_group;
    batch = batch < 1 ? 1 : batch > G ? G : batch;
    std::unique_ptr<T[]> part(new (std::nothrow) T[size_t(batch * job.chunks * job.R * (job.ldo + 2))]);
    if (!part) return SC_ENOMEM;
    job.part_o = part.get();
    job.part_m = job.part_o + batch * job.chunks * job.R * job.ldo;
    job.part_l = job.part_m + batch * job.chunks * job.R;
    for (int64_t g0 = 0; g0 < G; g0 += batch) {
      const int64_t n = G - g0 < batch ? G - g0 : batch;
      job.g_begin = g0;
      const bool small = flops_per_group * double(n) < kInlineFlops;
      int st = run_items(n * job.chunks, small ? n * job.chunks : 1,
                         [&job](int64_t b, int64_t e) { return decode_chunks(job, b, e); });
      if (st != SC_OK) return st;
      st = run_items(n, small ? n : 1, [&job](int64_t b, int64_t e) { return decode_merge(job, b, e); });
      if (st != SC_OK) return st;
    }
    return SC_OK;
  }
  const int64_t tiles = (job.R + kRowTile - 1) / kRowTile;
  const bool small = flops_per_group * double(G) < kInlineFlops;
  return run_items(G * tiles, small ? G * tiles : 1, [&job](int64_t b, int64_t e) { return prefill_items(job, b, e); });
}

// ---------------------------------------------------------------- ragged --
// A ragged batch (sc_attn_ragged): one call for every sequence.  Items are
// the dense path's, per sequence: (sequence, K/V head, row tile) for
// prefill, (sequence, K/V head, chunk of kChunkKeys keys) for the decode of
// a sequence with at most kSplitRows rows per group and more than
// kChunkKeys keys, its chunks merged afterwards in chunk order.  Items are
// handed out longest first (by an estimate of their flops), so a long
// sequence's tiles start early and do not serialise at the end; item sizes
// and the merge order depend on the data only (bitwise identical results for
// any thread count).  Paged keys are read through the block table by the
// kernel (attn_run): nothing is gathered here.

struct RaggedItem {
  int64_t seq, h, r0, r1, j0, j1;
  // -1: rows [r0, r1) of head h, normalised into out.  Else a decode chunk
  // of every head: head h's state goes to partial row part + h * hstride.
  int64_t part, hstride;
  double work;
};
struct RaggedMerge {
  int64_t seq, h, part, chunks;
};

template <class T>
SeqAt ragged_seq(const Job<T>& job, const sc_attn_ragged& g, int64_t b) {
  const sc_attn& a = *job.a;
  const int64_t q0 = g.cu_q[b], lq = g.cu_q[b + 1] - q0, lk = g.k_len[b];
  const bool paged = g.block_table != nullptr;
  SeqAt s;
  s.bo = {b * g.q_b + q0 * a.q_l,
          paged ? 0 : b * g.k_b + g.k_first[b] * a.k_s,
          paged ? 0 : b * g.v_b + g.k_first[b] * a.v_s,
          b * g.o_b + q0 * a.o_l,
          b * g.lse_b + q0 * a.lse_l,
          0, 0, 0};
  s.off = job.lower_right ? lk - lq : 0;
  s.S = lk;
  s.alibi = b * g.alibi_b;
  s.blocks = paged ? g.block_table + b * g.bt_s : nullptr;
  return s;
}

// Keys that rows [r0, r1) of a sequence may see (the work estimate).
template <class T>
int64_t visible_keys(const Job<T>& job, int64_t off, int64_t lk, int64_t r0, int64_t r1) {
  int64_t hi = lk, lo = 0;
  if (job.has_lim) {
    const int64_t h = (r1 - 1) / job.gs + off + job.right + 1;
    hi = h < hi ? h : hi;
  }
  if (job.has_lo) {
    const int64_t l = r0 / job.gs + off - job.left;
    lo = l > lo ? l : lo;
  }
  return hi > lo ? hi - lo : 0;
}

template <class T>
bool ragged_items(const Job<T>& job, const sc_attn_ragged& g, const RaggedItem* it, int64_t n) {
  const sc_attn& a = *job.a;
  for (int64_t t = 0; t < n; ++t) {
    const RaggedItem& w = it[t];
    const SeqAt sq = ragged_seq(job, g, w.seq);
    const int64_t rows = w.r1 - w.r0;
    if (w.part >= 0) {
      // Keys [j0, j1) of every head in one decode-kernel call when the
      // rows of a head fit it (<= kAttnDotRows): the kernel walks each
      // block's key rows front to back across the heads (a head's rows of a
      // block are H * E apart, the heads of one key side by side).  Else
      // kSubKeys at a time, head after head.
      if (rows <= job.k->dot_rows && a.k_e == 1) {
        if (!run_rows(job, sq, 0, w.r0, w.r1, w.j0, w.j1, job.part_o + w.part * job.ldo, job.part_m + w.part,
                      job.part_l + w.part, false, a.H, w.hstride * job.ldo, w.hstride))
          return false;
        continue;
      }
      for (int64_t s0 = w.j0; s0 < w.j1; s0 += kSubKeys) {
        const int64_t s1 = s0 + kSubKeys < w.j1 ? s0 + kSubKeys : w.j1;
        for (int64_t h = 0; h < a.H; ++h) {
          const int64_t p = w.part + h * w.hstride;
          if (!run_rows(job, sq, h, w.r0, w.r1, s0, s1, job.part_o + p * job.ldo, job.part_m + p, job.part_l + p,
                        s0 > w.j0))
            return false;
        }
      }
      continue;
    }
    T* o = scratch<T>(Scratch::kAttnOut, rows * (job.ldo + 2));
    if (!o) return false;
    T* m = o + rows * job.ldo;
    T* l = m + rows;
    if (!run_rows(job, sq, w.h, w.r0, w.r1, w.j0, w.j1, o, m, l)) return false;
    for (int64_t r = w.r0; r < w.r1; ++r)
      finish_row(a, sq.bo, w.h * job.gs + r % job.gs, r / job.gs, o + (r - w.r0) * job.ldo, double(m[r - w.r0]),
                 double(l[r - w.r0]));
  }
  return true;
}

template <class T>
bool ragged_merges(const Job<T>& job, const sc_attn_ragged& g, const RaggedMerge* mg, int64_t n) {
  const sc_attn& a = *job.a;
  double* acc = scratch<double>(Scratch::kAttnMerge, a.Ev + 1);
  if (!acc) return false;
  for (int64_t t = 0; t < n; ++t) {
    const SeqAt sq = ragged_seq(job, g, mg[t].seq);
    const int64_t R = job.gs * (g.cu_q[mg[t].seq + 1] - g.cu_q[mg[t].seq]);
    for (int64_t r = 0; r < R; ++r) {
      const int64_t p = mg[t].part + r;
      merge_row(a, sq.bo, mg[t].h * job.gs + r % job.gs, r / job.gs, mg[t].chunks, R, job.ldo,
                job.part_o + p * job.ldo, job.part_m + p, job.part_l + p, acc);
    }
  }
  return true;
}

template <class T>
int attention_ragged(const sc_attn& a, const sc_attn_ragged& g, const AttnKernelsT<T>& k) {
  if (g.batch == 0 || a.Hq == 0) return SC_OK;
  Job<T> job;
  setup_job(&job, a, k);
  job.block = g.block_size;
  job.k_blk = g.k_block;
  job.v_blk = g.v_block;
  std::vector<RaggedItem> items;
  std::vector<RaggedMerge> merges;
  std::vector<double> seq_work(size_t(g.batch), 0.0);  // the order below
  int64_t part_rows = 0;
  double flops = 0.0;
  const double per_pair = 2.0 * double(a.E + a.Ev);
  for (int64_t b = 0; b < g.batch; ++b) {
    const int64_t lq = g.cu_q[b + 1] - g.cu_q[b], lk = g.k_len[b], R = job.gs * lq;
    if (lq == 0) continue;
    const int64_t off = job.lower_right ? lk - lq : 0;
    // Decode rows take the chunked items -- also a short sequence's, as one
    // chunk, where the multi-head kernel reads each block of every head
    // front to back (rows <= dot_rows).
    const bool multi = R <= k.dot_rows && a.k_e == 1 && lk > 0;
    if (R <= kSplitRows && (lk > kChunkKeys || multi)) {
      const int64_t chunks = (lk + kChunkKeys - 1) / kChunkKeys;
      for (int64_t h = 0; h < a.H; ++h) merges.push_back({b, h, part_rows + h * chunks * R, chunks});
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t j0 = c * kChunkKeys, j1 = j0 + kChunkKeys < lk ? j0 + kChunkKeys : lk;
        const double w = per_pair * double(a.H * R) * double(j1 - j0);
        items.push_back({b, 0, 0, R, j0, j1, part_rows + c * R, chunks * R, w});
        flops += w;
        seq_work[size_t(b)] += w;
      }
      part_rows += a.H * chunks * R;
      continue;
    }
    for (int64_t h = 0; h < a.H; ++h)
      for (int64_t r0 = (R - 1) / kRowTile * kRowTile; r0 >= 0; r0 -= kRowTile) {  // the tile seeing most keys first
        const int64_t r1 = r0 + kRowTile < R ? r0 + kRowTile : R;
        const double w = per_pair * double(r1 - r0) * double(visible_keys(job, off, lk, r0, r1) + 1);
        items.push_back({b, h, r0, r1, 0, lk, -1, 0, w});
        flops += w;
        seq_work[size_t(b)] += w;
      }
  }
  // Longest sequence first, each sequence's items together, head by head:
  // the threads share out the large items early, and one head's row tiles
  // run one after another over the same K/V rows (in L2).  Items sorted by
  // their own work instead interleaved every head of every sequence: K/V
  // came from L3 for each item.  Measured (varlen causal prefill, 8
  // sequences of 128-2048 tokens, (total, 8, 64) float32, rate / the dense
  // causal call of the same work, AMD Zen 4, alternating processes):
  // 2 threads 0.86-0.88 -> 0.89-0.90x; head-major storage 0.86-0.93 ->
  // 0.92-0.96x; 1 thread, as packed: 0.83-0.89 -> 0.81-0.88x (the noise).
  std::stable_sort(items.begin(), items.end(), [&seq_work](const RaggedItem& x, const RaggedItem& y) {
    const double wx = seq_work[size_t(x.seq)], wy = seq_work[size_t(y.seq)];
    return wx != wy ? wx > wy : x.seq < y.seq;
  });
  std::unique_ptr<T[]> part;
  if (part_rows) {
    part.reset(new (std::nothrow) T[size_t(part_rows * (job.ldo + 2))]);
    if (!part) return SC_ENOMEM;
    job.part_o = part.get();
    job.part_m = job.part_o + part_rows * job.ldo;
    job.part_l = job.part_m + part_rows;
  }
  const bool small = flops < kInlineFlops;
  const int64_t ni = int64_t(items.size()), nm = int64_t(merges.size());
  int st = run_items(ni, small ? ni : 1,
                     [&](int64_t b, int64_t e) { return ragged_items(job, g, items.data() + b, e - b); });
  if (st != SC_OK || nm == 0) return st;
  return run_items(nm, small ? nm : 1, [&](int64_t b, int64_t e) { return ragged_merges(job, g, merges.data() + b, e - b); });
}

// SC_OK, or SC_EINVAL naming the first bad field.
int check(const sc_attn* p) {
  if (!p) return invalid("attn: must not be NULL");
  const sc_attn& a = *p;
  if (a.batch_ndim < 0 || a.batch_ndim > SC_ATTN_MAX_BATCH)
    return invalid("batch_ndim: must be in [0, %d], got %d", SC_ATTN_MAX_BATCH, int(a.batch_ndim));
  for (int d = 0; d < a.batch_ndim; ++d)
    if (a.batch_shape[d] < 0)
      return invalid("batch_shape[%d]: must be >= 0, got %lld", d, (long long)a.batch_shape[d]);
  const struct { const char* name; int64_t v; } sizes[] = {{"Hq", a.Hq}, {"H", a.H}, {"L", a.L},
                                                           {"S", a.S},   {"E", a.E}, {"Ev", a.Ev}};
  for (const auto& z : sizes)
    if (z.v < 0) return invalid("%s: must be >= 0, got %lld", z.name, (long long)z.v);
  if (a.Hq > 0 && (a.H == 0 || a.Hq % a.H != 0))
    return invalid("H: must divide Hq = %lld, got %lld", (long long)a.Hq, (long long)a.H);
  if (a.mask_kind < SC_MASK_NONE || a.mask_kind > SC_MASK_FLOAT)
    return invalid("mask_kind: unknown code %d", int(a.mask_kind));
  if (a.mask_kind != SC_MASK_NONE && !a.mask) return invalid("mask: must not be NULL with mask_kind %d", int(a.mask_kind));
  if (a.causal < SC_CAUSAL_NONE || a.causal > SC_CAUSAL_LOWER_RIGHT) return invalid("causal: unknown code %d", int(a.causal));
  if (!a.q || !a.k || !a.v || !a.out) return invalid("q, k, v, out: must not be NULL");
  if (a.dtype < SC_F32 || a.dtype > SC_BF16) return invalid("dtype: unknown code %d", int(a.dtype));
  if (a.kv_dtype < SC_F32 || a.kv_dtype > SC_I8) return invalid("kv_dtype: unknown code %d", int(a.kv_dtype));
  if (a.kv_dtype == SC_I8 && (!a.k_scale || !a.v_scale)) return invalid("k_scale, v_scale: must not be NULL for int8 k/v");
  if ((a.dtype == SC_F64) != (a.kv_dtype == SC_F64))
    return invalid("kv_dtype: float64 q/out need float64 k/v and back, got dtype %d, kv_dtype %d", int(a.dtype),
                   int(a.kv_dtype));
  if (a.band && (a.window_left < -1 || a.window_right < -1))
    return invalid("window: bounds must be >= -1, got (%lld, %lld)", (long long)a.window_left, (long long)a.window_right);
  if (a.band && !(a.softcap >= 0.0)) return invalid("softcap: must be >= 0");
  if (a.band && a.align != SC_CAUSAL_UPPER_LEFT && a.align != SC_CAUSAL_LOWER_RIGHT)
    return invalid("align: unknown code %d", int(a.align));
  return SC_OK;
}

int check_ragged(const sc_attn* a, const sc_attn_ragged* g) {
  if (int st = check(a)) return st;
  if (!g) return invalid("ragged: must not be NULL");
  if (a->batch_ndim != 0) return invalid("batch_ndim: must be 0 for a ragged batch, got %d", int(a->batch_ndim));
  if (a->mask_kind != SC_MASK_NONE) return invalid("mask: not supported for a ragged batch");
  if (a->kv_dtype == SC_I8) return invalid("kv_dtype: int8 k/v are not supported for a ragged batch");
  if (g->batch < 0) return invalid("batch: must be >= 0, got %lld", (long long)g->batch);
  if (g->batch > 0 && (!g->cu_q || !g->k_len)) return invalid("cu_q, k_len: must not be NULL");
  if (g->batch > 0 && !g->block_table && !g->k_first) return invalid("k_first: must not be NULL without a block table");
  if (g->block_table && g->block_size < 1)
    return invalid("block_size: must be >= 1, got %lld", (long long)g->block_size);
  for (int64_t b = 0; b < g->batch; ++b)
    if (g->cu_q[b + 1] < g->cu_q[b] || g->k_len[b] < 0)
      return invalid("cu_q, k_len: sequence %lld has a negative length", (long long)b);
  return SC_OK;
}

// The dtype the kernels compute in: float64 for float64 q/k/v, else float32.
int compute_dtype(const sc_attn& a) { return a.dtype == SC_F64 ? SC_F64 : SC_F32; }

}  // namespace
}  // namespace sc

extern "C" {

int sc_attention_ragged(const sc_attn* a, const sc_attn_ragged* g) {
  return sc::c_abi([&] {
    if (int st = sc::check_ragged(a, g)) return st;
    return sc::dispatch_dtype(sc::compute_dtype(*a), [&](auto tag) {
      using T = decltype(tag);
      return sc::attention_ragged<T>(*a, *g, sc::of<T>(sc::active()->attn));
    });
  });
}

int sc_attention(const sc_attn* a) {
  return sc::c_abi([&] {
    if (int st = sc::check(a)) return st;
    return sc::dispatch_dtype(sc::compute_dtype(*a), [&](auto tag) {
      using T = decltype(tag);
      return sc::attention<T>(*a, sc::of<T>(sc::active()->attn));
    });
  });
}

int64_t sc_attention_chunk_keys(void) { return sc::kChunkKeys; }

}  // extern "C"
