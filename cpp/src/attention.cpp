// Scaled dot-product attention: shapes, strides, threads and the decode
// split.  The arithmetic is the target's FlashAttention kernel
// (kernels/attention.h); this file is ISA-free.
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
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "kernel_table.h"
#include "softmax_c/attention.h"
#include "thread_pool.h"

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
constexpr int64_t kSplitRows = 16;           // groups with at most this many rows split their keys
constexpr int64_t kPartialBytes = 8 << 20;   // decode partials per batch of groups
constexpr double kInlineFlops = 4e6;         // below this, no thread wake-up

// Per-thread scratch (thread_pool.h), slot 2: the softmax family uses 0 and 1.
char* scratch(size_t bytes) { return static_cast<char*>(thread_scratch(2, bytes)); }

size_t align64(size_t b) { return (b + 63) / 64 * 64; }

template <class T>
struct Job {
  const sc_attn* a;
  const AttnKernelsT<T>* k;
  int64_t gs, R, ldo, off;  // group size, rows per group, O row stride, causal offset
  std::atomic<bool> failed{false};
  // decode split
  int64_t chunks = 0, g_begin = 0;
  T *part_o = nullptr, *part_m = nullptr, *part_l = nullptr;
};

struct Offsets {
  int64_t q = 0, k = 0, v = 0, o = 0, lse = 0, mask = 0;
};

Offsets batch_offsets(const sc_attn& a, int64_t b) {
  Offsets o;
  for (int d = a.batch_ndim - 1; d >= 0; --d) {
    const int64_t i = b % a.batch_shape[d];
    b /= a.batch_shape[d];
    o.q += i * a.q_batch[d];
    o.k += i * a.k_batch[d];
    o.v += i * a.v_batch[d];
    o.o += i * a.o_batch[d];
    o.lse += i * a.lse_batch[d];
    o.mask += i * a.mask_batch[d];
  }
  return o;
}

// The kernel over rows [r0, r1) of group g and keys [j0, j1): O, m, l into
// o (rows x ldo), m, l.  False when the scratch allocation failed.
template <class T>
bool run_rows(Job<T>& job, int64_t g, int64_t r0, int64_t r1, int64_t j0, int64_t j1, T* o, T* m, T* l) {
  const sc_attn& a = *job.a;
  const int64_t rows = r1 - r0;
  const Offsets bo = batch_offsets(a, g / a.H);
  const int64_t h = g % a.H;
  const int64_t work = job.k->work_elems(rows, a.E, a.Ev);
  const size_t bytes = align64(sizeof(T*) * rows) * 2 + align64(sizeof(int64_t) * rows) + align64(sizeof(T) * work);
  char* s = scratch(bytes);
  if (!s) return false;
  const T** qp = reinterpret_cast<const T**>(s);
  const void** mp = reinterpret_cast<const void**>(s + align64(sizeof(T*) * rows));
  int64_t* lim = reinterpret_cast<int64_t*>(s + 2 * align64(sizeof(T*) * rows));
  T* wk = reinterpret_cast<T*>(s + 2 * align64(sizeof(T*) * rows) + align64(sizeof(int64_t) * rows));
  const T* q = static_cast<const T*>(a.q) + bo.q;
  const size_t msz = a.mask_kind == SC_MASK_BOOL ? 1 : sizeof(T);
  const char* mk = static_cast<const char*>(a.mask) + (a.mask ? bo.mask * int64_t(msz) : 0);
  int64_t jmax = INT64_MIN;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t i = r / job.gs, hq = h * job.gs + r % job.gs;
    qp[r - r0] = q + hq * a.q_h + i * a.q_l;
    if (a.mask_kind != SC_MASK_NONE) mp[r - r0] = mk + (hq * a.mask_h + i * a.mask_l) * int64_t(msz);
    lim[r - r0] = i + job.off;
    jmax = i + job.off > jmax ? i + job.off : jmax;
  }
  if (a.causal != SC_CAUSAL_NONE && jmax + 1 < j1) j1 = jmax + 1 > j0 ? jmax + 1 : j0;
  AttnRowSet<T> rs;
  rs.rows = rows;
  rs.E = a.E;
  rs.Ev = a.Ev;
  rs.q = qp;
  rs.q_e = a.q_e;
  rs.lim = a.causal != SC_CAUSAL_NONE ? lim : nullptr;
  rs.mask = a.mask_kind != SC_MASK_NONE ? mp : nullptr;
  rs.mask_s = a.mask_s;
  rs.mask_float = a.mask_kind == SC_MASK_FLOAT;
  rs.k = static_cast<const T*>(a.k) + bo.k + h * a.k_h;
  rs.k_s = a.k_s;
  rs.k_e = a.k_e;
  rs.v = static_cast<const T*>(a.v) + bo.v + h * a.v_h;
  rs.v_s = a.v_s;
  rs.v_e = a.v_e;
  rs.j0 = j0;
  rs.j1 = j1;
  rs.scale = T(a.scale);
  rs.o = o;
  rs.ldo = job.ldo;
  rs.m = m;
  rs.l = l;
  rs.work = wk;
  job.k->flash(&rs);
  return true;
}

// out row = o / l (zeros for a fully masked row), lse = m + log l (-inf).
template <class T>
void finish_row(const sc_attn& a, const Offsets& bo, int64_t hq, int64_t i, const T* o, double m, double l) {
  T* out = static_cast<T*>(a.out) + bo.o + hq * a.o_h + i * a.o_l;
  if (l == 0.0) {
    for (int64_t e = 0; e < a.Ev; ++e) out[e * a.o_e] = T(0);
  } else {
    for (int64_t e = 0; e < a.Ev; ++e) out[e * a.o_e] = T(double(o[e]) / l);
  }
  if (a.lse) {
    T* lse = static_cast<T*>(a.lse) + bo.lse + hq * a.lse_h + i * a.lse_l;
    *lse = l == 0.0 ? T(-INFINITY) : T(m + std::log(l));
  }
}

template <class T>
void prefill_items(Job<T>& job, int64_t t0, int64_t t1) {
  const sc_attn& a = *job.a;
  const int64_t tiles = (job.R + kRowTile - 1) / kRowTile;
  std::vector<T> buf;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t g = t / tiles, r0 = t % tiles * kRowTile;
    const int64_t r1 = r0 + kRowTile < job.R ? r0 + kRowTile : job.R;
    const int64_t rows = r1 - r0;
    try {
      buf.resize(size_t(rows * (job.ldo + 2)));
    } catch (...) {
      job.failed = true;
      return;
    }
    T* o = buf.data();
    T* m = o + rows * job.ldo;
    T* l = m + rows;
    if (!run_rows(job, g, r0, r1, 0, a.S, o, m, l)) {
      job.failed = true;
      return;
    }
    const Offsets bo = batch_offsets(a, g / a.H);
    const int64_t h = g % a.H;
    for (int64_t r = r0; r < r1; ++r)
      finish_row(a, bo, h * job.gs + r % job.gs, r / job.gs, o + (r - r0) * job.ldo, double(m[r - r0]),
                 double(l[r - r0]));
  }
}

template <class T>
void decode_chunks(Job<T>& job, int64_t t0, int64_t t1) {
  const sc_attn& a = *job.a;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t gi = t / job.chunks, c = t % job.chunks;
    const int64_t j0 = c * kChunkKeys, j1 = j0 + kChunkKeys < a.S ? j0 + kChunkKeys : a.S;
    const int64_t p = gi * job.chunks + c;
    if (!run_rows(job, job.g_begin + gi, 0, job.R, j0, j1, job.part_o + p * job.R * job.ldo,
                  job.part_m + p * job.R, job.part_l + p * job.R)) {
      job.failed = true;
      return;
    }
  }
}

// Log-sum-exp merge of the chunks of each row, in chunk order.
template <class T>
void decode_merge(Job<T>& job, int64_t g0, int64_t g1) {
  const sc_attn& a = *job.a;
  std::unique_ptr<double[]> accp(new (std::nothrow) double[size_t(a.Ev) + 1]);
  if (!accp) {
    job.failed = true;
    return;
  }
  double* acc = accp.get();
  for (int64_t gi = g0; gi < g1; ++gi) {
    const int64_t g = job.g_begin + gi;
    const Offsets bo = batch_offsets(a, g / a.H);
    const int64_t h = g % a.H;
    for (int64_t r = 0; r < job.R; ++r) {
      double M = -INFINITY;
      for (int64_t c = 0; c < job.chunks; ++c) {
        const int64_t p = (gi * job.chunks + c) * job.R + r;
        if (job.part_l[p] != T(0) && !(double(job.part_m[p]) <= M)) M = double(job.part_m[p]);
      }
      double L = 0.0;
      for (int64_t e = 0; e < a.Ev; ++e) acc[e] = 0.0;
      if (M != -INFINITY) {
        for (int64_t c = 0; c < job.chunks; ++c) {
          const int64_t p = (gi * job.chunks + c) * job.R + r;
          if (job.part_l[p] == T(0)) continue;  // no key of this chunk is seen: its O is never read
          const double w = std::exp(double(job.part_m[p]) - M);
          L += w * double(job.part_l[p]);
          const T* o = job.part_o + p * job.ldo;
          for (int64_t e = 0; e < a.Ev; ++e) acc[e] += w * double(o[e]);
        }
      }
      // finish_row wants O in T: normalise here in double instead
      T* out = static_cast<T*>(a.out) + bo.o + (h * job.gs + r % job.gs) * a.o_h + (r / job.gs) * a.o_l;
      for (int64_t e = 0; e < a.Ev; ++e) out[e * a.o_e] = L == 0.0 ? T(0) : T(acc[e] / L);
      if (a.lse) {
        T* lse = static_cast<T*>(a.lse) + bo.lse + (h * job.gs + r % job.gs) * a.lse_h + (r / job.gs) * a.lse_l;
        *lse = L == 0.0 ? T(-INFINITY) : T(M + std::log(L));
      }
    }
  }
}

template <class T>
int attention(const sc_attn& a, const AttnKernelsT<T>& k) {
  int64_t B = 1;
  for (int d = 0; d < a.batch_ndim; ++d) B *= a.batch_shape[d];
  if (B == 0 || a.Hq == 0 || a.L == 0) return SC_OK;
  Job<T> job;
  job.a = &a;
  job.k = &k;
  job.gs = a.Hq / a.H;
  job.R = job.gs * a.L;
  job.ldo = (a.Ev + k.lanes - 1) / k.lanes * k.lanes;
  job.off = a.causal == SC_CAUSAL_LOWER_RIGHT ? a.S - a.L : 0;
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
      auto work = [&job](int64_t b, int64_t e) { decode_chunks(job, b, e); };
      const bool small = flops_per_group * double(n) < kInlineFlops;
      parallel_for(n * job.chunks, small ? n * job.chunks : 1, work);
      if (job.failed) return SC_ENOMEM;
      auto merge = [&job](int64_t b, int64_t e) { decode_merge(job, b, e); };
      parallel_for(n, small ? n : 1, merge);
      if (job.failed) return SC_ENOMEM;
    }
    return SC_OK;
  }
  const int64_t tiles = (job.R + kRowTile - 1) / kRowTile;
  auto work = [&job](int64_t b, int64_t e) { prefill_items(job, b, e); };
  const bool small = flops_per_group * double(G) < kInlineFlops;
  parallel_for(G * tiles, small ? G * tiles : 1, work);
  return job.failed ? SC_ENOMEM : SC_OK;
}

bool valid(const sc_attn& a) {
  if (a.batch_ndim < 0 || a.batch_ndim > SC_ATTN_MAX_BATCH) return false;
  for (int d = 0; d < a.batch_ndim; ++d)
    if (a.batch_shape[d] < 0) return false;
  if (a.Hq < 0 || a.H < 0 || a.L < 0 || a.S < 0 || a.E < 0 || a.Ev < 0) return false;
  if (a.Hq > 0 && (a.H == 0 || a.Hq % a.H != 0)) return false;
  if (a.mask_kind < SC_MASK_NONE || a.mask_kind > SC_MASK_FLOAT) return false;
  if (a.mask_kind != SC_MASK_NONE && !a.mask) return false;
  if (a.causal < SC_CAUSAL_NONE || a.causal > SC_CAUSAL_LOWER_RIGHT) return false;
  if (!a.q || !a.k || !a.v || !a.out) return false;
  return a.dtype == SC_F32 || a.dtype == SC_F64;
}

}  // namespace
}  // namespace sc

extern "C" {

int sc_attention(const sc_attn* a) {
  if (!a || !sc::valid(*a)) return SC_EINVAL;
  const sc::KernelTable* t = sc::active();
  try {
    return a->dtype == SC_F32 ? sc::attention<float>(*a, t->attn.f32) : sc::attention<double>(*a, t->attn.f64);
  } catch (...) {  // std::bad_alloc from a std::vector; nothing else throws
    return SC_ENOMEM;
  }
}

int64_t sc_attention_chunk_keys(void) { return sc::kChunkKeys; }

}  // extern "C"
