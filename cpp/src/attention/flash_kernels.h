// FlashAttention-2 kernels over the vector layer (Dao 2023, Algorithm 1):
// for one set of query rows sharing a K/V head and a key range, keep per row
// the running max m, the running sum l and the unnormalised output O; per key
// tile S = Q K^T, mask, m' = max(m, rowmax S), P = e^(S - m'),
// l = l e^(m - m') + rowsum P, O = O e^(m - m') + P V.  The L x S score
// matrix never exists: one Bc x P tile of it does.  The driver
// (attention/driver.cpp) normalises O / l or merges key ranges by log-sum-exp.
//
// Two variants, picked per call by the row count:
//  * panels (attn_flash_panels): scores computed *transposed*, S^T = K Q^T,
//    with the query rows along the vector lanes.  Q^T is packed once per call
//    (scaled), in panels of P = 3 vectors of rows; the S^T micro-kernel
//    broadcasts K elements straight from the key rows (any strides, no K
//    packing, no transpose per tile), 4 keys x 3 vectors = 12 FMA
//    accumulators.  The online softmax is then vertical (per lane = per row):
//    no horizontal reductions.  O += P V broadcasts P^T[j, i] against V rows
//    (already the panel layout), 6 rows x 2 vectors = 12 accumulators, the
//    e^(m - m') rescale fused into the load of O.
//  * dot (attn_flash_dot, <= 4 rows, decode): one dot product per key on K
//    rows as stored; memory bound (each K/V byte is used once), so no packing.
//
// Fully masked rows: m stays -inf; the exp is taken relative to 0 then, so
// e^(-inf) = 0 everywhere and no NaN appears (the ggml / torch >= 2.5 rule).
// A NaN or inf in a masked key gives a masked score (-inf by select, never
// by arithmetic); in a value row, P V would make 0 * inf = NaN, so a V tile
// with a non-finite entry takes a path that skips zero weights.
#pragma once
#include <cstdint>
#include <type_traits>

#include "attention/table.h"
#include "core/half.h"
#include "core/sc_assert.h"
#include "simd/exp.h"
#include "simd/loops.h"

namespace sc {
namespace SC_NS {

// Keys per tile of the panel kernel.  Measured (a sweep of Bc, AVX2, 1 thread,
// (1, 8, 1024, 1024, 64) float32, median ratio to torch 2.13 in the same
// process on a loaded 2-core machine): Bc = 32 / 64 / 128 gave 1.03 / 1.09 /
// 1.09x non-causal and 1.32 / 1.72 / 1.60x causal.  At 64 the K and V tiles
// (2 x 16 KiB at E = Ev = 64) stay in L1/L2 while every panel of the row tile
// passes over them, the per-tile work (max, exp, rescale of O) is a few % of
// the FMAs, and the causal diagonal tiles waste little.
// AVX-512 (48-row panels: P = 3 x 16), AMD Zen 4, 1 thread, 6 alternating
// processes, the same case: Bc = 32 / 128 gave 0.90 / 1.023x the rate of
// Bc = 64 non-causal, 0.85 / 1.025x causal (varlen causal prefill: the same
// at 64 and 128): the per-tile work of a panel (O rescaled on load, the
// tile's max) is spread over twice the keys, and the 48-row panels' K and V
// tiles (2 x 32 KiB at E = Ev = 64) still sit in L2.
template <class V>
constexpr int64_t kAttnTileKeys = V::N >= 16 ? 128 : 64;
// Keys per tile of the dot kernel (scores of <= 4 rows: 4 KiB).
constexpr int64_t kAttnDotKeys = 256;
constexpr int64_t kAttnDotRows = 4;
// The dot kernel prefetches K and V rows this many keys ahead where the
// hardware prefetcher alone falls behind (a prefetch never faults: rows past
// the run's end are harmless): a paged cache (each block a new stream), and
// several rows per key (GQA decode) on targets whose vectors are narrower
// than a cache line.  Since the score loop reads each key row front to back
// (attn_dot_block) the hardware streams dense rows at the read speed, and
// the prefetches only cost.  Measured (AMD Zen 4, 1 thread, 5 alternating
// pairs with / without): (1, 32, 1, 4096, 128) bf16 cache 3.7-4.7 -> 3.0-4.0
// ms, f16 3.8-5.7 -> 3.1-4.0; (1, 32, 1, 16384, 128) with 8 K/V heads,
// float32, 12.3-15.3 -> 8.8-11.0 ms; SOFTMAX_C_ISA=avx2 float32 R = 1
// 10.4-11.5 -> 5.8-6.6 ms, but its GQA float32 15.2-19.6 without, 14.5-16.9
// with.  int8 (1, 32, 1, 4096, 128): within the noise (2.1-3.2 ms either
// way).  64 paged sequences (block 16, float32): 9.6 -> 10.9 GB/s with
// (prefetcht0); into L2 instead (simd prefetch, prefetcht1) 15.6-16.1 GB/s,
// 32 keys ahead the same; dense decode with the L2 prefetch still slower
// (MHA float32 4.9-5.3 -> 6.2-6.4 ms, GQA 7.7-8.3 -> 8.7-9.0).
constexpr int64_t kAttnPrefetchKeys = 16;
// Several heads (paged decode): P V takes this many keys of a block, every
// head in turn, before the next keys.  Measured (64 paged sequences, block
// 16, float32, 1 thread, interleaved runs): groups of 4 / 8 / 16 keys all
// 0.77-0.84x the dense decode, within the noise; 8 keeps a block of 64 or
// 256 keys read a few key rows at a time too.
constexpr int64_t kAttnHeadGroupKeys = 8;
template <class V, int R>
constexpr bool attn_prefetch_v = R > 1 && V::N * sizeof(typename V::T) < 64;  // kAttnPrefetchKeys (dense)

template <class V>
struct AttnPanel {
  static constexpr int64_t N = V::N;
  static constexpr int64_t P = 3 * N;            // rows per panel (3 vectors)
  static constexpr int MR = P < 6 ? int(P) : 6;  // rows per P V micro-tile; divides P
};

inline int64_t attn_round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

template <class V>
int64_t attn_work_elems(int64_t rows, int64_t E, int64_t Ev) {
  using A = AttnPanel<V>;
  const int64_t dr = rows > kAttnDotRows ? rows : kAttnDotRows;  // heads x R rows of a multi-head dot call
  const int64_t np = (rows + A::P - 1) / A::P, Evp = attn_round_up(Ev, A::N);
  const int64_t panels =
      np * A::P * E + kAttnTileKeys<V> * A::P + kAttnTileKeys<V> * Evp + np * A::P * 2 + A::P + kAttnTileKeys<V> * E;
  const int64_t dot = dr * attn_round_up(E, A::N) + dr * kAttnDotKeys + kAttnDotKeys * Evp + dr * Evp + 3 * dr;
  return (panels > dot ? panels : dot) + 4 * A::N;
}

// The online-softmax step, written once for both kernels (per lane = per
// row in the panel kernel; one row broadcast in the dot kernel).  Given the
// running max m and the new max m' = max(m, tile max): the shift sh = m',
// or 0 while every key so far is masked (m' = -inf: then e^(-inf - 0) = 0,
// not NaN), and the rescale alpha = e^(m - sh) of the old l and O.
template <class V>
inline V attn_online_rescale(V m_old, V m_new, V* sh) {
  *sh = select(eq(m_new, V::set1(-typename V::T(INFINITY))), V::zero(), m_new);
  return exp_neg<V, false>(m_old - *sh, V::zero());
}
// The weight p = e^(s - sh) of a score s (-inf: a masked key, p = 0).
template <class V>
inline V attn_weight(V s, V sh) {
  return exp_neg<V, false>(s - sh, V::zero());
}

template <class V>
inline typename V::T attn_lane0(V v) {
  alignas(64) typename V::T t[V::N];
  store(t, v);
  return t[0];
}

// The storage of K and V (AttnRowSet::kv_dtype): the compute type T, or
// (with T = float) a half type or int8, widened exactly in registers on
// every load (simd/loops.h load_lanes), so a half or int8 cache is read at
// its own width and never copied whole.
// int8 K/V (quantize_kv) carry one scale per key row (AttnRowSet ks, vs):
// the dot kernel applies it to the scores and the weights, the panel kernel
// to the tile it widens.
template <class KT>
constexpr bool kv_scaled_v = std::is_same_v<KT, int8_t>;
// One stored element as T (exact; int8: the unscaled integer).
template <class T, class KT>
inline T kv_elem(KT x) {
  if constexpr (is_half_v<KT>) {
    return T(to_f32(x));
  } else {
    return T(x);
  }
}

// True when rows [0, n) x cols [0, w) (row stride ld, w a multiple of N) are
// all finite: x * 0 is NaN exactly for inf and NaN.  Four independent chains
// (one chain is FMA-latency bound: it cost 25% of a decode call in perf).
template <class V, class KT>
bool attn_tile_finite(const KT* x, int64_t ld, int64_t n, int64_t w) {
  constexpr int64_t N = V::N;
    V a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
  const V zero = V::zero();
  for (int64_t j = 0; j < n; ++j) {
    const KT* r = x + j * ld;
    int64_t c = 0;
    for (; c + 4 * N <= w; c += 4 * N) {
      a0 = fma(load_lanes<V>(r + c), zero, a0);
      a1 = fma(load_lanes<V>(r + c + N), zero, a1);
      a2 = fma(load_lanes<V>(r + c + 2 * N), zero, a2);
      a3 = fma(load_lanes<V>(r + c + 3 * N), zero, a3);
    }
    for (; c < w; c += N) a0 = fma(load_lanes<V>(r + c), zero, a0);
  }
  const typename V::T s = reduce_add((a0 + a1) + (a2 + a3));
  return s == s;
}

// Keys [j, end) that lie in one block of a paged cache (all of them when
// the keys are not paged): their count, and in *k, *v the rows of key j.
template <class KT, class T>
inline int64_t attn_run(const AttnRowSet<T>& a, int64_t j, int64_t end, const KT** k, const KT** v) {
  const KT* k0 = static_cast<const KT*>(a.k);
  const KT* v0 = static_cast<const KT*>(a.v);
  if (!a.blocks) {
    *k = k0 + j * a.k_s;
    *v = v0 + j * a.v_s;
    return end - j;
  }
  const int64_t b = j / a.block, r = j - b * a.block;
  *k = k0 + a.blocks[b] * a.k_blk + r * a.k_s;
  *v = v0 + a.blocks[b] * a.v_blk + r * a.v_s;
  return a.block - r < end - j ? a.block - r : end - j;
}

// n rows of w elements from src (row stride src_s, element stride src_e)
// as T rows of dst_s elements, zero padded from w to pad: times sc[j * sc_s]
// per row when sc is given (int8), else widened exactly.  Unit element
// stride: whole vectors through load_lanes (a half row widens in registers).
template <class V, class KT>
void attn_pack_rows(const KT* src, int64_t src_s, int64_t src_e, int64_t n, int64_t w, int64_t pad,
                    typename V::T* dst, int64_t dst_s, const float* sc = nullptr, int64_t sc_s = 0) {
  using T = typename V::T;
  constexpr int64_t N = V::N;
  for (int64_t j = 0; j < n; ++j, src += src_s, dst += dst_s) {
    int64_t e = 0;
    if (sc) {
      const T f = T(sc[j * sc_s]);
      for (; e < w; ++e) dst[e] = kv_elem<T>(src[e * src_e]) * f;
    } else if (src_e == 1) {
      for (; e + N <= w; e += N) store(dst + e, load_lanes<V>(src + e));
      for (; e < w; ++e) dst[e] = kv_elem<T>(src[e]);
    } else {
      for (; e < w; ++e) dst[e] = kv_elem<T>(src[e * src_e]);
    }
    for (; e < pad; ++e) dst[e] = T(0);
  }
}
template <class V, class KT>
void attn_pack_v(const AttnRowSet<typename V::T>& a, const KT* src, int64_t n, int64_t Evp, typename V::T* dst) {
  attn_pack_rows<V>(src, a.v_s, a.v_e, n, a.Ev, Evp, dst, Evp);
}

// The K and V tiles of keys [j0, j0+n) as rows of strides (*ks, element
// *ke) and *vs: as stored when usable as they are (T, in one block or not
// paged; V also with unit stride, Ev a multiple of the vector width and,
// when the tile is `reused` by several panels, compact rows), else gathered
// into kbuf (n x E) / vbuf (n x Evp), one copy of the tile (E + Ev per key)
// beside its 2 x rows x (E + Ev) flops per key.  A half-precision or int8
// tile is always gathered, widened: the panel kernel's broadcasts then read
// T.  Rows of a packed (total, H, E) batch are H E apart, a power-of-two
// stride whose rows fall in a few L1 sets: P V reads each V row in
// 2-vector column slices once per 6-row micro-tile, so a strided V tile
// came from L2 on every pass; K's broadcasts use each line for 16 x 3 FMAs
// and read it as stored.  Measured (benchmarks/serving_attention_speed.py's
// varlen causal prefill: 8 sequences of 128..2048 tokens, (total, 8, 64)
// float32, against the dense (8, 2689, 64) causal call in the same process,
// AVX2, 1 thread, 3 processes each, one build switched by a variable): as
// stored 0.81-0.82x the dense rate; K and V packed 0.83-0.86x; K packed
// 0.78-0.80x; V packed 0.85-0.88x.  Against the previous build in
// alternating processes the gain is inside the noise of the shared machine
// (0.82-0.83x vs 0.80-0.87x); the vectorised widening of a half tile
// (attn_pack_rows) is not: (1, 8, 1024, 1024, 64) float16 prefill 57 ->
// 65-69 GFLOP/s.  AVX-512 (AMD Zen 4, the same case, 1 thread, 5
// alternating processes): V as stored 0.81-0.87x (median 0.83), packed
// 0.78-0.84x (0.80) -- P V passes over a 64-column tile twice there, not
// four times.  K packed as well was worse there: the layout's own cost
// (one (2689, 8, 64) sequence against the dense call) 0.92-0.94x ->
// 0.86-0.89x.
// Columns of O per pass of attn_pv_rows over a tile (2 vectors: 6 x 2
// accumulators).
template <class V>
constexpr int64_t kAttnPvCols = 2 * V::N;

template <class V, class KT>
void attn_kv_tile(const AttnRowSet<typename V::T>& a, int64_t j0, int64_t n, int64_t Evp, bool reused,
                  typename V::T* kbuf, typename V::T* vbuf, const typename V::T** kt, int64_t* ks, int64_t* ke,
                  const typename V::T** vt, int64_t* vs) {
  using T = typename V::T;
  const KT *k, *v;
  const int64_t run = attn_run(a, j0, j0 + n, &k, &v);
  bool k_as_is = false, v_as_is = false;
  if constexpr (std::is_same_v<KT, T>) {
    k_as_is = run == n;
    // strided V rows, reused: packed where P V passes over the tile more
    // than twice (AVX2 at Ev = 64, AVX-512 at Ev = 128), as stored where it
    // passes twice (AVX-512 at Ev = 64)
    v_as_is = run == n && a.v_e == 1 && Evp == a.Ev && (!reused || a.v_s == Evp || Evp <= 2 * kAttnPvCols<V>);
    if (k_as_is) {
      *kt = k;
      *ks = a.k_s;
      *ke = a.k_e;
    }
    if (v_as_is) {
      *vt = v;
      *vs = a.v_s;
    }
  }
  constexpr bool i8 = kv_scaled_v<KT>;
  for (int64_t j = 0; j < n && !(k_as_is && v_as_is);) {
    const int64_t m = attn_run(a, j0 + j, j0 + n, &k, &v);
    if (!k_as_is)
      attn_pack_rows<V>(k, a.k_s, a.k_e, m, a.E, a.E, kbuf + j * a.E, a.E, i8 ? a.ks + (j0 + j) * a.ks_s : nullptr,
                        a.ks_s);
    if (!v_as_is)
      attn_pack_rows<V>(v, a.v_s, a.v_e, m, a.Ev, Evp, vbuf + j * Evp, Evp, i8 ? a.vs + (j0 + j) * a.vs_s : nullptr,
                        a.vs_s);
    j += m;
  }
  if (!k_as_is) {
    *kt = kbuf;
    *ks = a.E;
    *ke = 1;
  }
  if (!v_as_is) {
    *vt = vbuf;
    *vs = Evp;
  }
}

// tanh over the vector layer, for the logit soft-cap (Gemma 2).
// |y| >= 1/8: tanh y = (e - 1) / (e + 1) with e = exp(2y), y clamped to
// [-20, 20] first (tanh 20 is 1 in float32 and float64; without the clamp
// exp(2y) overflowed to inf for y > 44 on the targets without AVX-512, and
// inf / inf gave NaN: a soft-cap fuzz case, score / cap = 49.5); NaN passes
// the clamp (its compares are false), +-inf gives +-1.  The cancellation in
// e - 1 costs at most e / (e - 1) <= 4.5 rounding errors at |y| = 1/8;
// |y| < 1/8: the odd Taylor polynomial of tanh through y^15 (coefficients
// the Bernoulli-number series), truncation error < 6e-3 y^17 < 2e-17 |y|.  Measured (tests, float32, 2e5
// points over [-20, 20]): |relative error| <= 6e-7 (~5 ULP); float64: 1e-15.
template <class V>
inline V attn_tanh(V y) {
  using T = typename V::T;
  const V one = V::set1(T(1)), lim = V::set1(T(20));
  const V yc = select(lt(lim, y), lim, select(lt(y, V::zero() - lim), V::zero() - lim, y));
  const V e = exp(yc + yc);
  const V big = (e - one) / (e + one);
  const V y2 = y * y;
  V p = fma(y2, V::set1(T(-929569.0 / 638512875.0)), V::set1(T(21844.0 / 6081075.0)));
  p = fma(y2, p, V::set1(T(-1382.0 / 155925.0)));
  p = fma(y2, p, V::set1(T(62.0 / 2835.0)));
  p = fma(y2, p, V::set1(T(-17.0 / 315.0)));
  p = fma(y2, p, V::set1(T(2.0 / 15.0)));
  p = fma(y2, p, V::set1(T(-1.0 / 3.0)));
  const V small = fma(y * y2, p, y);
  return select(lt(y2, V::set1(T(1.0 / 64.0))), small, big);
}

// s = c tanh(s / c) on n contiguous scores (a panel tile or a dot row).
template <class V>
void attn_softcap(typename V::T* s, int64_t n, typename V::T c) {
  using T = typename V::T;
  const V vc = V::set1(c), inv = V::set1(T(1) / c);
  vector_loop<V, 1>(0, n, [&](int64_t i, int, auto part) {
    store(s + i, part, vc * attn_tanh(load<V>(s + i, part, T(0)) * inv));
  });
}

// Applies ALiBi, the causal / window limits and the mask of one row to its
// scores s[j * ld], j in [0, n) for keys j0 + j.  The limits and masks are
// selections, not arithmetic: masked scores become -inf whatever the key held.
template <class T>
void attn_mask_row(const AttnRowSet<T>& a, int64_t r, int64_t j0, int64_t n, T* s, int64_t ld) {
  const T ninf = -T(INFINITY);
  if (a.slope) {
    const T sl = a.slope[r];
    const int64_t d = a.diag[r];
    for (int64_t j = 0; j < n; ++j) {
      const int64_t dist = d - (j0 + j) < 0 ? j0 + j - d : d - (j0 + j);
      s[j * ld] -= sl * T(dist);
    }
  }
  if (a.lim)
    for (int64_t j = a.lim[r] - j0 + 1 < 0 ? 0 : a.lim[r] - j0 + 1; j < n; ++j) s[j * ld] = ninf;
  if (a.lo)
    for (int64_t j = 0; j < n && j0 + j < a.lo[r]; ++j) s[j * ld] = ninf;
  if (!a.mask) return;
  if (!a.mask_float) {
    const uint8_t* mk = static_cast<const uint8_t*>(a.mask[r]) + j0 * a.mask_s;
    for (int64_t j = 0; j < n; ++j)
      if (!mk[j * a.mask_s]) s[j * ld] = ninf;
  } else {
    const T* mk = static_cast<const T*>(a.mask[r]) + j0 * a.mask_s;
    for (int64_t j = 0; j < n; ++j) {
      const T b = mk[j * a.mask_s];
      s[j * ld] = b == ninf ? ninf : s[j * ld] + b;
    }
  }
}

// ------------------------------------------------------------ panel kernel --

// S^T[kk, :] = K[kk] . Qt for MK keys and one panel: its first NQ vectors
// of rows (3; 1 or 2 for a short last panel).
// Inner loop: NQ loads of Q^T, MK broadcasts of K, NQ * MK FMAs on registers.
template <class V, int MK, int NQ = 3>
inline void attn_st_block(const typename V::T* qt, const typename V::T* k, int64_t k_s, int64_t k_e, int64_t E,
                          typename V::T* st) {
  constexpr int64_t N = V::N, P = AttnPanel<V>::P;
  V acc[MK][NQ];
  for (int kk = 0; kk < MK; ++kk)
    for (int c = 0; c < NQ; ++c) acc[kk][c] = V::zero();
  for (int64_t e = 0; e < E; ++e, qt += P, k += k_e) {
    V q[NQ];
    for (int c = 0; c < NQ; ++c) q[c] = V::load(qt + c * N);
    for (int kk = 0; kk < MK; ++kk) {
      const V kb = V::set1(k[kk * k_s]);
      for (int c = 0; c < NQ; ++c) acc[kk][c] = fma(kb, q[c], acc[kk][c]);
    }
  }
  for (int kk = 0; kk < MK; ++kk)
    for (int c = 0; c < NQ; ++c) store(st + kk * P + c * N, acc[kk][c]);
}

// O[r, c..c+NV vectors) = alpha_r O + sum_j P^T[j, r] V[j, c..] for MR rows.
template <class V, int MR, int NV>
inline void attn_pv_block(const typename V::T* pt, const typename V::T* v, int64_t v_s, int64_t n,
                          const typename V::T* alpha, typename V::T* o, int64_t ldo) {
  constexpr int64_t N = V::N, P = AttnPanel<V>::P;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r) {
    const V a = V::set1(alpha[r]);
    for (int c = 0; c < NV; ++c) acc[r][c] = V::load(o + r * ldo + c * N) * a;
  }
  for (int64_t j = 0; j < n; ++j, pt += P, v += v_s) {
    V vv[NV];
    for (int c = 0; c < NV; ++c) vv[c] = V::load(v + c * N);
    for (int r = 0; r < MR; ++r) {
      const V p = V::set1(pt[r]);
      for (int c = 0; c < NV; ++c) acc[r][c] = fma(p, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NV; ++c) store(o + r * ldo + c * N, acc[r][c]);
}

// The rare path: a V tile holds inf or NaN, so zero weights are skipped.
// Weight of row r, key j: w[r * rs + j * js].
template <class V, class KT>
void attn_pv_careful(const typename V::T* w, int64_t rs, int64_t js, const KT* v, int64_t v_s, int64_t n,
                     int64_t rows, const typename V::T* alpha, typename V::T* o, int64_t ldo, int64_t Evp) {
  for (int64_t r = 0; r < rows; ++r) {
    typename V::T* orow = o + r * ldo;
    const V a = V::set1(alpha[r]);
    for (int64_t c = 0; c < Evp; c += V::N) store(orow + c, V::load(orow + c) * a);
    for (int64_t j = 0; j < n; ++j) {
      const typename V::T wj = w[r * rs + j * js];
      if (wj == 0) continue;
      const V p = V::set1(wj);
      for (int64_t c = 0; c < Evp; c += V::N)
        store(orow + c, fma(p, load_lanes<V>(v + j * v_s + c), V::load(orow + c)));
    }
  }
}

template <class V, int MR>
void attn_pv_rows(const typename V::T* pt, const typename V::T* v, int64_t v_s, int64_t n,
                  const typename V::T* alpha, typename V::T* o, int64_t ldo, int64_t Evp) {
  constexpr int64_t N = V::N;
  constexpr int64_t W = kAttnPvCols<V>;
  int64_t c = 0;
  for (; c + W <= Evp; c += W) attn_pv_block<V, MR, int(W / N)>(pt, v + c, v_s, n, alpha, o + c, ldo);
  if (c < Evp) attn_pv_block<V, MR, 1>(pt, v + c, v_s, n, alpha, o + c, ldo);
}

// P V for the first `rows` rows of a panel, in micro-tiles of MR rows.
// nv (or null: n for all): the keys of each vector of rows whose weights
// may be nonzero (attn_flash_panels, a tile across the causal diagonal; the
// weights from there to n are zeros), so a micro-tile stops at the largest
// of its vectors'.
template <class V>
void attn_pv_panel(const typename V::T* pt, const typename V::T* v, int64_t v_s, int64_t n, int64_t rows,
                   const typename V::T* alpha, typename V::T* o, int64_t ldo, int64_t Evp,
                   const int64_t* nv = nullptr) {
  constexpr int MR = AttnPanel<V>::MR;
  constexpr int64_t N = V::N;
  const auto keys = [&](int64_t r, int64_t len) {
    if (!nv) return n;
    int64_t k = 0;
    for (int64_t c = r / N; c <= (r + len - 1) / N; ++c) k = nv[c] > k ? nv[c] : k;
    return k;
  };
  int64_t r = 0;
  for (; r + MR <= rows; r += MR)
    attn_pv_rows<V, MR>(pt + r, v, v_s, keys(r, MR), alpha + r, o + r * ldo, ldo, Evp);
  const int64_t nr = rows - r, k = nr ? keys(r, nr) : 0;
  switch (nr) {
    case 1: attn_pv_rows<V, 1>(pt + r, v, v_s, k, alpha + r, o + r * ldo, ldo, Evp); break;
    case 2: attn_pv_rows<V, 2 < MR ? 2 : 1>(pt + r, v, v_s, k, alpha + r, o + r * ldo, ldo, Evp); break;
    case 3: attn_pv_rows<V, 3 < MR ? 3 : 1>(pt + r, v, v_s, k, alpha + r, o + r * ldo, ldo, Evp); break;
    case 4: attn_pv_rows<V, 4 < MR ? 4 : 1>(pt + r, v, v_s, k, alpha + r, o + r * ldo, ldo, Evp); break;
    case 5: attn_pv_rows<V, 5 < MR ? 5 : 1>(pt + r, v, v_s, k, alpha + r, o + r * ldo, ldo, Evp); break;
    default: break;
  }
}

// Online softmax of one panel's score tile st (n x P): m, l, alpha (P each).
// After it st holds P^T = e^(S^T - m'), alpha = e^(m - m').
// NQ: the vectors of rows in use (attn_st_block).
template <class V, int NQ = 3>
void attn_online_softmax(typename V::T* st, int64_t n, typename V::T* m, typename V::T* l, typename V::T* alpha) {
  constexpr int64_t N = V::N, P = AttnPanel<V>::P;
  V mx[NQ], sh[NQ], sum[NQ];
  for (int c = 0; c < NQ; ++c) mx[c] = V::load(m + c * N);
  for (int64_t j = 0; j < n; ++j)
    for (int c = 0; c < NQ; ++c) mx[c] = max(V::load(st + j * P + c * N), mx[c]);  // NaN: see below
  for (int c = 0; c < NQ; ++c) {
    store(alpha + c * N, attn_online_rescale(V::load(m + c * N), mx[c], &sh[c]));
    sum[c] = V::zero();
  }
  // A NaN score may lose the max (x86 rule) but its e^(NaN - m') is NaN, so
  // it reaches l and O all the same.
  for (int64_t j = 0; j < n; ++j)
    for (int c = 0; c < NQ; ++c) {
      const V p = attn_weight(V::load(st + j * P + c * N), sh[c]);
      store(st + j * P + c * N, p);
      sum[c] = sum[c] + p;
    }
  for (int c = 0; c < NQ; ++c) {
    store(l + c * N, fma(V::load(l + c * N), V::load(alpha + c * N), sum[c]));
    store(m + c * N, mx[c]);
  }
}

template <class V, class KT>
void attn_flash_panels(const AttnRowSet<typename V::T>& a) {
  using T = typename V::T;
  constexpr int64_t N = V::N, P = AttnPanel<V>::P, Bc = kAttnTileKeys<V>;
  const int64_t E = a.E, rows = a.rows, np = (rows + P - 1) / P, Evp = attn_round_up(a.Ev, N);
  T* qt = a.work;
  T* st = qt + np * P * E;
  T* vp = st + Bc * P;
  T* m = vp + Bc * Evp;
  T* l = m + np * P;
  T* alpha = l + np * P;
  T* kbuf = alpha + P;

  // Q^T, scaled, in panels of P rows (zero rows pad the last one).
  for (int64_t p = 0; p < np; ++p)
    for (int64_t i = 0; i < P; ++i) {
      const int64_t r = p * P + i;
      T* d = qt + p * P * E + i;
      if (r < rows) {
        const T* q = a.q[r];
        for (int64_t e = 0; e < E; ++e) d[e * P] = q[e * a.q_e] * a.scale;
      } else {
        for (int64_t e = 0; e < E; ++e) d[e * P] = T(0);
      }
    }
  for (int64_t i = 0; i < np * P; ++i) {
    m[i] = a.resume && i < rows ? a.m[i] : -T(INFINITY);
    l[i] = a.resume && i < rows ? a.l[i] : T(0);
  }
  if (!a.resume)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < Evp; ++c) a.o[r * a.ldo + c] = T(0);

  for (int64_t j0 = a.j0; j0 < a.j1; j0 += Bc) {
    const int64_t bc = a.j1 - j0 < Bc ? a.j1 - j0 : Bc;
    const T *kt, *vt;
    int64_t ks, ke, vs;
    attn_kv_tile<V, KT>(a, j0, bc, Evp, np > 1, kbuf, vp, &kt, &ks, &ke, &vt, &vs);
    const bool careful = !attn_tile_finite<V>(vt, vs, bc, Evp);
    for (int64_t p = 0; p < np; ++p) {
      const int64_t prow = rows - p * P < P ? rows - p * P : P;
      // Causal limits of the panel's rows: lowest, highest, highest per vector.
      int64_t lo = INT64_MAX, hi = INT64_MAX, vhi[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
      if (a.lim) {
        hi = INT64_MIN;
        for (int64_t i = 0; i < prow; ++i) {
          const int64_t L = a.lim[p * P + i];
          lo = L < lo ? L : lo;
          hi = L > hi ? L : hi;
          vhi[i / N] = L > vhi[i / N] ? L : vhi[i / N];
        }
      }
      if (hi < j0) continue;  // causal: the whole tile is above this panel's diagonal
      int64_t lo_min = INT64_MIN, lo_max = INT64_MIN;  // window: lower limits of the panel's rows
      if (a.lo) {
        lo_min = lo_max = a.lo[p * P];
        for (int64_t i = 1; i < prow; ++i) {
          lo_min = a.lo[p * P + i] < lo_min ? a.lo[p * P + i] : lo_min;
          lo_max = a.lo[p * P + i] > lo_max ? a.lo[p * P + i] : lo_max;
        }
      }
      if (lo_min > j0 + bc - 1) continue;  // window: the whole tile is left of this panel's band
      const int64_t n = hi - j0 < bc - 1 ? hi - j0 + 1 : bc;
      const T* qp = qt + p * P * E;
      // A short last panel computes only the vectors of rows it has: 1024
      // rows are 21 panels of 48 and one of 16 on AVX-512, which as a full
      // panel was 3 % of the call's FMAs spent on zero rows.
      const auto scores = [&](auto nq) {
        constexpr int NQ = decltype(nq)::value;
        int64_t j = 0;
        for (; j + 4 <= n; j += 4) attn_st_block<V, 4, NQ>(qp, kt + j * ks, ks, ke, E, st + j * P);
        switch (n - j) {
          case 1: attn_st_block<V, 1, NQ>(qp, kt + j * ks, ks, ke, E, st + j * P); break;
          case 2: attn_st_block<V, 2, NQ>(qp, kt + j * ks, ks, ke, E, st + j * P); break;
          case 3: attn_st_block<V, 3, NQ>(qp, kt + j * ks, ks, ke, E, st + j * P); break;
          default: break;
        }
        if (a.softcap > T(0)) attn_softcap<V>(st, n * P, a.softcap);
        if (a.mask || a.slope || (a.lim && j0 + n - 1 > lo) || lo_max > j0)
          for (int64_t i = 0; i < prow; ++i) attn_mask_row(a, p * P + i, j0, n, st + i, P);
        attn_online_softmax<V, NQ>(st, n, m + p * P, l + p * P, alpha);
      };
      // A tile across the causal diagonal: each vector of rows stops at its
      // own last visible key (nv), its weights from there to n zeros, and
      // P V's micro-tiles stop there too.  A 48-row panel on AVX-512 spent
      // 48 x 48 / 2 of its diagonal's score and weight products on masked
      // pairs, 4.7 % of a (1024, 1024) causal call; by vectors 3 x 16 x 16 / 2.
      const int nq = prow > 2 * N ? 3 : prow > N ? 2 : 1;
      int64_t nv[3] = {n, n, n};
      bool ragged = false;
      if (a.lim && j0 + n - 1 > lo)
        for (int c = 0; c < nq; ++c) {
          nv[c] = vhi[c] < j0 ? 0 : vhi[c] - j0 + 1 < n ? vhi[c] - j0 + 1 : n;
          ragged |= nv[c] != n;
        }
      if (ragged) {
        for (int c = 0; c < nq; ++c) {
          T* sc = st + c * N;
          int64_t j = 0;
          for (; j + 8 <= nv[c]; j += 8) attn_st_block<V, 8, 1>(qp + c * N, kt + j * ks, ks, ke, E, sc + j * P);
          for (; j < nv[c]; ++j) attn_st_block<V, 1, 1>(qp + c * N, kt + j * ks, ks, ke, E, sc + j * P);
          for (; j < n; ++j) store(sc + j * P, V::zero());
        }
        if (a.softcap > T(0)) attn_softcap<V>(st, n * P, a.softcap);
        for (int c = 0; c < nq; ++c) {
          if (nv[c] == 0) {  // no key of the tile for these rows: m, l as they were
            store(alpha + c * N, V::set1(T(1)));
            continue;
          }
          for (int64_t i = c * N; i < prow && i < (c + 1) * N; ++i) attn_mask_row(a, p * P + i, j0, nv[c], st + i, P);
          attn_online_softmax<V, 1>(st + c * N, nv[c], m + p * P + c * N, l + p * P + c * N, alpha + c * N);
        }
      } else if (nq == 3) {
        scores(std::integral_constant<int, 3>{});
      } else if (nq == 2) {
        scores(std::integral_constant<int, 2>{});
      } else {
        scores(std::integral_constant<int, 1>{});
      }
      if (careful)
        attn_pv_careful<V>(st, 1, P, vt, vs, n, prow, alpha, a.o + p * P * a.ldo, a.ldo, Evp);
      else
        attn_pv_panel<V>(st, vt, vs, n, prow, alpha, a.o + p * P * a.ldo, a.ldo, Evp, ragged ? nv : nullptr);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    a.m[r] = m[r];
    a.l[r] = l[r];
  }
}

// -------------------------------------------------------------- dot kernel --

// s[r][kb] = qp_r . K[j + kb] for R rows and KB keys (E padded with zeros in
// qp; the K tail is read with a partial load).  Each key row is read front
// to back before the next (kb outer, e inner): with e outer the loads of a
// block hop between KB rows 512 bytes apart (E = 128 float32), a pattern the
// hardware prefetchers follow badly out of cache.  Measured (AMD Zen 4, 1
// thread, 256-key tiles of a 64 MiB float32 K, E = 128, a C copy of this
// loop): e outer 9.5 GB/s, kb outer 25-33 GB/s (a plain read: 27-31); from
// L2 / L3 the same within 5 % (the q vectors come from L1 either way).
// NE > 0: E = NE vectors exactly, the block unrolled whole (the key rows'
// accumulators in registers, every key's chain in flight at once); 0: any E.
template <class V, int R, int KB, int NE, class KT>
inline void attn_dot_block(const typename V::T* qp, int64_t Ep, const KT* k, int64_t k_s, int64_t E,
                           typename V::T* s, int64_t lds) {
  constexpr int64_t N = V::N;
  V acc[R][KB];
  const int64_t Ew = NE > 0 ? NE * N : E;  // a constant trip count when NE > 0: unrolled
  for (int kb = 0; kb < KB; ++kb) {
    const KT* kr = k + kb * k_s;
    for (int r = 0; r < R; ++r) acc[r][kb] = V::zero();
    auto step = [&](int64_t e, V kv) {
      for (int r = 0; r < R; ++r) acc[r][kb] = fma(V::load(qp + r * Ep + e), kv, acc[r][kb]);
    };
    int64_t e = 0;
    for (; e + N <= Ew; e += N) step(e, load_lanes<V>(kr + e));
    if (NE == 0 && e < E) step(e, load_lanes<V>(kr + e, E - e, typename V::T(0)));
    if constexpr (NE > 0) keep_access_order();  // unrolled, the scheduler would interleave the rows' loads again
  }
  if constexpr (KB == 8) {
    for (int r = 0; r < R; ++r) reduce_add_8(acc[r], s + r * lds);
  } else if constexpr (R * KB == 8) {  // R = 2, 4 (GQA decode): the eight sums in one tree as well
    alignas(64) typename V::T t[8];
    reduce_add_8(&acc[0][0], t);
    for (int r = 0; r < R; ++r)
      for (int kb = 0; kb < KB; ++kb) s[r * lds + kb] = t[r * KB + kb];
  } else {
    for (int r = 0; r < R; ++r)
      for (int kb = 0; kb < KB; ++kb) s[r * lds + kb] = reduce_add(acc[r][kb]);
  }
}

// attn_dot_block with E's vector count made a constant where it is one of
// the common head sizes (a branch per block of keys, always the same way).
template <class V, int R, int KB, class KT>
inline void attn_dot_keys(const typename V::T* qp, int64_t Ep, const KT* k, int64_t k_s, int64_t E,
                          typename V::T* s, int64_t lds) {
  constexpr int64_t N = V::N;
  if (E == Ep) switch (E / N) {
      case 2: return attn_dot_block<V, R, KB, 2>(qp, Ep, k, k_s, E, s, lds);
      case 4: return attn_dot_block<V, R, KB, 4>(qp, Ep, k, k_s, E, s, lds);
      case 8: return attn_dot_block<V, R, KB, 8>(qp, Ep, k, k_s, E, s, lds);
      case 16: return attn_dot_block<V, R, KB, 16>(qp, Ep, k, k_s, E, s, lds);
      default: break;
    }
  attn_dot_block<V, R, KB, 0>(qp, Ep, k, k_s, E, s, lds);
}

// The rows d keys ahead of a run of keys, found through the block table
// when paged (the hardware prefetcher does not follow it to the next
// block): at(i) is the row to prefetch while row i of the run is used --
// key j + i + d's, in the run that holds key j + d or the one after it;
// nullptr past them or past the keys of the call.
template <class KT>
struct AttnAhead {
  const KT* p0 = nullptr;  // key j + d's row
  const KT* p1 = nullptr;  // row 0 of the run after its run
  int64_t n0 = 0, n1 = 0, s = 0;
  const KT* at(int64_t i) const { return i < n0 ? p0 + i * s : i - n0 < n1 ? p1 + (i - n0) * s : nullptr; }
  AttnAhead from(int64_t i) const {  // the view from row i on
    if (i < n0) return AttnAhead{p0 + i * s, p1, n0 - i, n1, s};
    return i - n0 < n1 ? AttnAhead{p1 + (i - n0) * s, nullptr, n1 - (i - n0), 0, s} : AttnAhead{nullptr, nullptr, 0, 0, s};
  }
  AttnAhead plus(int64_t off) const { return AttnAhead{p0 ? p0 + off : p0, p1 ? p1 + off : p1, n0, n1, s}; }
};

// For the run of n keys from key j; values: V's rows, else K's.
template <class T, class KT>
AttnAhead<KT> attn_ahead(const AttnRowSet<T>& a, int64_t j, int64_t n, int64_t d, bool values) {
  AttnAhead<KT> r;
  r.s = values ? a.v_s : a.k_s;
  const int64_t t = j + d;
  if (t >= a.j1) return r;
  const KT *k, *v;
  r.n0 = attn_run(a, t, a.j1, &k, &v);
  r.p0 = values ? v : k;
  if (r.n0 < n && t + r.n0 < a.j1) {
    r.n1 = attn_run(a, t + r.n0, a.j1, &k, &v);
    r.p1 = values ? v : k;
  }
  return r;
}

// O[r, c..] = alpha_r O + sum_j p[r][j] V[j, c..] for R rows, NV vectors,
// the rows ahead (pf, at the same columns) prefetched as row j is used
// when pf is given.
template <class V, int R, int NV, class KT>
inline void attn_dot_pv(const typename V::T* p, int64_t ldp, const KT* v, int64_t v_s, int64_t n,
                        const typename V::T* alpha, typename V::T* o, int64_t ldo, const AttnAhead<KT>* pf) {
  constexpr int64_t N = V::N;
  V acc[R][NV];
  for (int r = 0; r < R; ++r) {
    const V a = V::set1(alpha[r]);
    for (int c = 0; c < NV; ++c) acc[r][c] = V::load(o + r * ldo + c * N) * a;
  }
  constexpr int64_t kLine = 64 / int64_t(sizeof(KT));
  for (int64_t j = 0; j < n; ++j, v += v_s) {
    V vv[NV];
    if (pf)
      if (const KT* f = pf->at(j))
        for (int64_t c = 0; c < NV * N; c += kLine) prefetch(f + c);
    for (int c = 0; c < NV; ++c) vv[c] = load_lanes<V>(v + c * N);
    for (int r = 0; r < R; ++r) {
      const V w = V::set1(p[r * ldp + j]);
      for (int c = 0; c < NV; ++c) acc[r][c] = fma(w, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NV; ++c) store(o + r * ldo + c * N, acc[r][c]);
}

// rows = heads x R: with heads > 1 (a ragged decode chunk) the kernel runs
// every K/V head of a key range in one call -- head h's R query rows are
// rows h R .. h R + R - 1, its keys and values at + h k_h / v_h, its state
// at o + h o_h, m / l + h ml_h -- walking each run of keys (a paged block)
// in groups of KB keys across the heads for the scores and head by head for
// P V, so a block (the key rows of all heads side by side) is read front to
// back once, with one call's set-up for all the heads.
template <class V, int R, class KT>
void attn_flash_dot(const AttnRowSet<typename V::T>& a) {
  using T = typename V::T;
  constexpr int64_t N = V::N, Bc = kAttnDotKeys;
  constexpr int KB = R == 1 ? 8 : R == 2 ? 4 : 2;  // >= 8 FMA chains: latency x 2 ports
  // O columns per P V pass (R x NV accumulators): 32 vector registers hold
  // 4 x 4, 16 only 4 x 2.  Fewer passes re-read each V row fewer times.
  constexpr int NV = R == 1 ? 8 : R == 2 ? 4 : R == 3 ? 4 : (V::N >= 16 ? 4 : 2);
  // R = 3, 4 with 32 registers and rows of 8 vectors or more, one head:
  // P V runs row pairs (2 x 8 accumulators) over whole V rows, each row
  // read front to back, instead of all R rows over half a row (R x 4): a
  // pass over the first halves hopped over the other half of every row,
  // which the hardware prefetcher streams badly out of cache (see
  // attn_dot_block).  Measured ((1, 32, 1, 16384, 128), 8 K/V heads,
  // float32, 1 thread, 3 alternating pairs): 8.5-9.2 -> 8.1-8.4 ms.
  constexpr bool kPvRowPairs = V::N >= 16 && R > 2;
  constexpr int64_t kLine = 64 / int64_t(sizeof(KT));
  const int64_t E = a.E, Ep = attn_round_up(E, N), Evp = attn_round_up(a.Ev, N);
  const int64_t H = a.heads, HR = H * R;
  SC_ASSERT(H >= 1 && a.rows == HR);
  T* qp = a.work;
  T* s = qp + HR * Ep;
  T* vp = s + HR * Bc;
  T* o_was = vp + Bc * Evp;  // O before a tile's P V (HR x Evp), for the careful redo
  T* mr = o_was + HR * Evp;
  T* lr = mr + HR;
  T* alpha = lr + HR;
  auto o_of = [&](int64_t h) { return a.o + h * a.o_h; };
  const V vscale = V::set1(a.scale);
  for (int64_t h = 0; h < H; ++h)
    for (int r = 0; r < R; ++r) {
      const int64_t rr = h * R + r;
      if (a.q_e == 1) {  // vectors (the same products), zeros past E
        for (int64_t e = 0; e < Ep; e += N)
          store(qp + rr * Ep + e, (E - e >= N ? V::load(a.q[rr] + e) : V::load_partial(a.q[rr] + e, E - e, T(0))) * vscale);
      } else {
        for (int64_t e = 0; e < Ep; ++e) qp[rr * Ep + e] = e < E ? a.q[rr][e * a.q_e] * a.scale : T(0);
      }
      if (!a.resume)
        for (int64_t c = 0; c < Evp; ++c) o_of(h)[r * a.ldo + c] = T(0);
      mr[rr] = a.resume ? a.m[h * a.ml_h + r] : -T(INFINITY);
      lr[rr] = a.resume ? a.l[h * a.ml_h + r] : T(0);
    }
  const bool pack = a.v_e != 1 || Evp != a.Ev;
  // Software prefetch (see kAttnPrefetchKeys): dense rows stream without
  // it; GQA rows on narrow vectors, and several heads -- a paged block of
  // 16 keys x 8 heads x 128 is 64 KiB, each jump to the next block a new
  // stream for the hardware prefetcher -- gain.
  const bool ahead = attn_prefetch_v<V, R> || H > 1;
  T one[R];
  for (int r = 0; r < R; ++r) one[r] = T(1);
  // O_h = alpha O_h + P V over n keys of head h whose rows start at vt
  // (stride vs; as stored, or packed as T), their weights at column c0 of
  // the head's scores, the rows ahead (pf, of head h) prefetched.  careful:
  // zero weights skipped (V with inf / NaN).
  auto pv = [&](int64_t h, const auto* vt, int64_t vs, int64_t n, int64_t c0, const T* al, bool careful,
                const AttnAhead<std::remove_cv_t<std::remove_pointer_t<decltype(vt)>>>* pf) {
    using VT = std::remove_cv_t<std::remove_pointer_t<decltype(vt)>>;
    const T* sh = s + h * R * Bc + c0;
    T* o = o_of(h);
    if (careful) {
      attn_pv_careful<V>(sh, Bc, 1, vt, vs, n, R, al, o, a.ldo, Evp);
      return;
    }
    // rows [r0, r0 + RR): NW vectors of O at a time, then single vectors
    auto rows = [&](auto rr, auto nw, int r0) {
      constexpr int RR = decltype(rr)::value, NW = decltype(nw)::value;
      const T* p = sh + r0 * Bc;
      T* orow = o + r0 * a.ldo;
      int64_t c = 0;
      for (; c + NW * N <= Evp; c += NW * N) {
        const AttnAhead<VT> f = pf ? pf->plus(c) : AttnAhead<VT>{};
        attn_dot_pv<V, RR, NW, VT>(p, Bc, vt + c, vs, n, al + r0, orow + c, a.ldo, pf ? &f : nullptr);
      }
      for (; c < Evp; c += N) attn_dot_pv<V, RR, 1, VT>(p, Bc, vt + c, vs, n, al + r0, orow + c, a.ldo, nullptr);
    };
    if constexpr (kPvRowPairs) {
      if (Evp >= 8 * N && H == 1) {  // several heads: groups of 8 keys, read from L1 the second time
        using I8 = std::integral_constant<int, 8>;
        rows(std::integral_constant<int, 2>{}, I8{}, 0);
        rows(std::integral_constant<int, R - 2>{}, I8{}, 2);
        return;
      }
    }
    rows(std::integral_constant<int, R>{}, std::integral_constant<int, NV>{}, 0);
  };
  // P V over the tile [j0, j0 + bc), run by run, every head of a run in
  // turn (alpha with a head's first run).  Packed first (as T), head by
  // head over the tile, when V is strided or Ev not a lane multiple.
  // careful: head h only.
  auto pv_tile = [&](int64_t h_only, int64_t j0, int64_t bc, bool careful) {
    const int64_t h0 = h_only < 0 ? 0 : h_only, h1 = h_only < 0 ? H : h_only + 1;
    if (pack) {
      for (int64_t h = h0; h < h1; ++h) {
        for (int64_t i = 0; i < bc;) {
          const KT *kt, *vt;
          const int64_t m = attn_run(a, j0 + i, j0 + bc, &kt, &vt);
          attn_pack_v<V>(a, vt + h * a.v_h, m, Evp, vp + i * Evp);
          i += m;
        }
        pv(h, static_cast<const T*>(vp), Evp, bc, 0, alpha + h * R, careful, nullptr);
      }
      return;
    }
    // Groups of G keys of a run, every head of a group in turn: each key
    // row (all heads, side by side) is read front to back before the next.
    // One head whose P V takes more than two passes over the tile (R > 1
    // and Evp > 2 NV N: AVX2's 16 registers, R = 2..4, E = 128) is taken
    // in the same groups: a 256-key tile of V (128 KiB at E = 128) was
    // re-read from L2 by every pass, a group's 8 rows stay in L1.
    // Measured (AVX2, (1, 32, 1, 8192, 128), 8 K/V heads, float32, 1
    // thread, interleaved runs): 4.4-5.9 -> 6.3-7.7 GB/s; groups of 32
    // keys 5.4-6.9.
    const bool grouped = h1 - h0 > 1 || (R > 1 && Evp > 2 * NV * N);
    const int64_t G = grouped ? kAttnHeadGroupKeys : bc;
    for (int64_t i = 0; i < bc;) {
      const KT *kt, *vt;
      const int64_t m = attn_run(a, j0 + i, j0 + bc, &kt, &vt);
      const AttnAhead<KT> f = ahead && !careful ? attn_ahead<T, KT>(a, j0 + i, m, kAttnPrefetchKeys, true) : AttnAhead<KT>{};
      for (int64_t g = 0; g < m; g += G) {
        const int64_t gn = m - g < G ? m - g : G;
        const AttnAhead<KT> fg = f.from(g);
        for (int64_t h = h0; h < h1; ++h) {
          const AttnAhead<KT> fh = fg.plus(h * a.v_h);
          pv(h, vt + h * a.v_h + g * a.v_s, a.v_s, gn, i + g, i + g == 0 ? alpha + h * R : one, careful,
             ahead ? &fh : nullptr);
        }
      }
      i += m;
    }
  };
  for (int64_t j0 = a.j0; j0 < a.j1; j0 += Bc) {
    const int64_t bc = a.j1 - j0 < Bc ? a.j1 - j0 : Bc;
    // Scores, one run of keys in one block at a time (paged: the block
    // table is walked here, no copy of K), KB keys of every head in turn,
    // the key rows ahead prefetched (every head's).
    for (int64_t j = 0; j < bc;) {
      const KT *kt, *vt;
      const int64_t n = attn_run(a, j0 + j, j0 + bc, &kt, &vt);
      const AttnAhead<KT> f = ahead ? attn_ahead<T, KT>(a, j0 + j, n, kAttnPrefetchKeys, false) : AttnAhead<KT>{};
      int64_t i = 0;
      for (; i + KB <= n; i += KB) {
        for (int64_t h = 0; h < H; ++h) {
          if (ahead)
            for (int kb = 0; kb < KB; ++kb)
              if (const KT* pf = f.at(i + kb))
                for (int64_t e = 0; e < E; e += kLine) prefetch(pf + h * a.k_h + e);
          attn_dot_keys<V, R, KB>(qp + h * R * Ep, Ep, kt + h * a.k_h + i * a.k_s, a.k_s, E, s + h * R * Bc + j + i,
                                   Bc);
        }
      }
      for (; i < n; ++i)
        for (int64_t h = 0; h < H; ++h)
          attn_dot_keys<V, R, 1>(qp + h * R * Ep, Ep, kt + h * a.k_h + i * a.k_s, a.k_s, E, s + h * R * Bc + j + i,
                                  Bc);
      j += n;
    }
    if constexpr (kv_scaled_v<KT>)  // int8 keys: s_j = scale q . (ks_j k_j)
      for (int64_t rr = 0; rr < HR; ++rr)
        for (int64_t j = 0; j < bc; ++j) s[rr * Bc + j] *= a.ks[(j0 + j) * a.ks_s];
    for (int64_t rr = 0; rr < HR; ++rr) {
      T* sr = s + rr * Bc;
      if (a.softcap > T(0)) attn_softcap<V>(sr, bc, a.softcap);
      attn_mask_row(a, rr, j0, bc, sr, 1);
      V mx = V::set1(mr[rr]);
      vector_loop<V, 1>(0, bc, [&](int64_t i, int, auto part) { mx = max(load<V>(sr + i, part, -T(INFINITY)), mx); });
      const T mnew = reduce_max(mx);
      V vsh;
      alpha[rr] = attn_lane0(attn_online_rescale(V::set1(mr[rr]), V::set1(mnew), &vsh));
      V sum = V::zero();
      vector_loop<V, 1>(0, bc, [&](int64_t i, int, auto part) {
        const V p = attn_weight(load<V>(sr + i, part, -T(INFINITY)), vsh);  // lanes past bc: e^(-inf) = 0
        store(sr + i, part, p);
        sum = sum + p;
      });
      lr[rr] = lr[rr] * alpha[rr] + reduce_add(sum);
      mr[rr] = mnew;
      if constexpr (kv_scaled_v<KT>)  // int8 values: the weight of v_j carries vs_j (l does not)
        for (int64_t j = 0; j < bc; ++j) sr[j] *= a.vs[(j0 + j) * a.vs_s];
    }
    // P V.  The plain FMA path runs first; a V row with inf / NaN makes O
    // non-finite (0 * inf is NaN, a weight > 0 carries the inf), and only
    // then is the head's tile redone from the saved O with zero weights
    // skipped.  Checking O (R x Evp) instead of the V tile (Bc x Evp)
    // before the products saves a pass over V per tile.
    for (int64_t h = 0; h < H; ++h)
      for (int r = 0; r < R; ++r)
        for (int64_t c = 0; c < Evp; c += N) store(o_was + (h * R + r) * Evp + c, V::load(o_of(h) + r * a.ldo + c));
    pv_tile(-1, j0, bc, false);
    for (int64_t h = 0; h < H; ++h) {
      if (attn_tile_finite<V>(o_of(h), a.ldo, R, Evp)) continue;
      for (int r = 0; r < R; ++r)
        for (int64_t c = 0; c < Evp; c += N) store(o_of(h) + r * a.ldo + c, V::load(o_was + (h * R + r) * Evp + c));
      pv_tile(h, j0, bc, true);
    }
  }
  for (int64_t h = 0; h < H; ++h)
    for (int r = 0; r < R; ++r) {
      a.m[h * a.ml_h + r] = mr[h * R + r];
      a.l[h * a.ml_h + r] = lr[h * R + r];
    }
}

template <class V, class KT>
void attn_flash_kv(const AttnRowSet<typename V::T>& a) {
  if (a.k_e == 1 && a.rows / a.heads <= kAttnDotRows) {
    switch (a.rows / a.heads) {
      case 1: return attn_flash_dot<V, 1, KT>(a);
      case 2: return attn_flash_dot<V, 2, KT>(a);
      case 3: return attn_flash_dot<V, 3, KT>(a);
      case 4: return attn_flash_dot<V, 4, KT>(a);
      default: break;
    }
  }
  attn_flash_panels<V, KT>(a);
}

template <class V>
void attn_flash(const AttnRowSet<typename V::T>* a) {
  using T = typename V::T;
  SC_ASSERT(a && a->rows >= 1 && a->j0 <= a->j1 && a->ldo >= a->Ev && a->ldo % V::N == 0 && a->work);
  SC_ASSERT(a->heads == 1 || (a->rows % a->heads == 0 && a->rows / a->heads <= kAttnDotRows && a->k_e == 1));
  if constexpr (std::is_same_v<T, float>) {
    if (a->kv_dtype == SC_F16) return attn_flash_kv<V, f16>(*a);
    if (a->kv_dtype == SC_BF16) return attn_flash_kv<V, bf16>(*a);
    if (a->kv_dtype == SC_I8) {
      SC_ASSERT(a->ks && a->vs && !a->blocks);
      return attn_flash_kv<V, int8_t>(*a);
    }
  }
  SC_ASSERT(a->kv_dtype == (std::is_same_v<T, float> ? SC_F32 : SC_F64));
  attn_flash_kv<V, T>(*a);
}

inline void fill_attention(AttentionKernels& t) {
  t.f32.lanes = VF::N;
  t.f32.dot_rows = int(kAttnDotRows);
  t.f32.work_elems = &attn_work_elems<VF>;
  t.f32.flash = &attn_flash<VF>;
  t.f64.lanes = VD::N;
  t.f64.dot_rows = int(kAttnDotRows);
  t.f64.work_elems = &attn_work_elems<VD>;
  t.f64.flash = &attn_flash<VD>;
}

}  // namespace SC_NS
}  // namespace sc
