"""flash_attn_varlen_func / flash_attn_with_kvcache against the float64
per-sequence oracle (softmax_c.reference.serving_attention) and torch SDPA
with an explicit float mask; every target; the bad-input list of issue 12."""
from __future__ import annotations

import numpy as np
import pytest

import softmax_c
from softmax_c import reference as ref

TOL = {np.float32: 3e-5, np.float64: 1e-11}


def ragged(rng, lq, lk, hq, h, e, ev=None, dtype=np.float32):
    ev = e if ev is None else ev
    q = rng.standard_normal((sum(lq), hq, e)).astype(dtype)
    k = rng.standard_normal((sum(lk), h, e)).astype(dtype)
    v = rng.standard_normal((sum(lk), h, ev)).astype(dtype)
    cq = np.concatenate([[0], np.cumsum(lq)]).astype(np.int32)
    ck = np.concatenate([[0], np.cumsum(lk)]).astype(np.int64)
    return q, k, v, cq, ck


def oracle(q, k, v, cq, ck, slopes=None, **kw):
    outs, lses = [], []
    for b in range(len(cq) - 1):
        sl = None if slopes is None else (slopes if slopes.ndim == 1 else slopes[b])
        o, l = ref.serving_attention(q[cq[b]:cq[b + 1]], k[ck[b]:ck[b + 1]], v[ck[b]:ck[b + 1]],
                                     alibi_slopes=sl, **kw)
        outs.append(o)
        lses.append(l)
    return np.concatenate(outs), np.concatenate(lses, axis=1)


def check(got, want, dtype):
    t = TOL[dtype]
    np.testing.assert_allclose(got, want, rtol=t, atol=t * max(1.0, float(np.abs(want[np.isfinite(want)]).max(initial=1))))


CASES = [
    dict(causal=False),
    dict(causal=True),
    dict(causal=True, window_size=(5, -1)),
    dict(causal=False, window_size=(-1, 3)),
    dict(causal=False, window_size=(0, 0)),
    dict(causal=True, window_size=(70, 0), softcap=2.0),
    dict(softcap=1.5),
    dict(alibi=True, causal=True),
    dict(sinks=True, causal=True, window_size=(0, 0)),
    dict(sinks=True, alibi="batch", softcap=3.0, window_size=(40, 7)),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_varlen_vs_oracle(target, case, dtype):
    c = dict(CASES[case])
    rng = np.random.default_rng(case)
    lq, lk = [3, 0, 200, 1, 7], [9, 4, 260, 0, 3]  # empty sequences, Lq > Lk, no keys
    hq, h = 6, 2
    q, k, v, cq, ck = ragged(rng, lq, lk, hq, h, 24, 20, dtype)
    q *= 3  # large logits
    alibi = c.pop("alibi", None)
    slopes = None
    if alibi == "batch":
        slopes = rng.uniform(0, 0.3, (len(lq), hq)).astype(np.float32)
    elif alibi:
        slopes = rng.uniform(0, 0.3, hq).astype(np.float32)
    sinks = rng.standard_normal(hq).astype(np.float32) * 2 if c.pop("sinks", False) else None
    o, lse = softmax_c.flash_attn_varlen_func(q, k, v, cq, ck, alibi_slopes=slopes, sinks=sinks, return_lse=True,
                                              **c)
    wo, wl = oracle(q, k, v, cq, ck, slopes=slopes, sinks=sinks, **c)
    assert o.dtype == dtype and o.shape == (q.shape[0], hq, 20)
    check(o, wo, dtype)
    assert np.array_equal(np.isinf(lse), np.isinf(wl))
    fin = np.isfinite(wl)
    check(lse[fin], wl[fin], dtype)


def test_paged_equals_packed(target):
    rng = np.random.default_rng(1)
    for bs in (1, 16, 256):
        lk = [37, 0, 300, 5]
        lq = [2, 1, 300, 1]
        q, k, v, cq, ck = ragged(rng, lq, lk, 8, 2, 16)
        nblk = [-(-n // bs) for n in lk]
        nb = sum(nblk) + 3
        perm = rng.permutation(nb)  # shuffled blocks
        kc = rng.standard_normal((nb, bs, 2, 16)).astype(np.float32)
        vc = rng.standard_normal((nb, bs, 2, 16)).astype(np.float32)
        bt = np.zeros((4, max(nblk) + 1), np.int32)
        at = 0
        for b, n in enumerate(lk):
            ids = perm[at:at + nblk[b]]
            at += nblk[b]
            bt[b, :len(ids)] = ids
            kk = np.zeros((len(ids) * bs, 2, 16), np.float32)
            kk[:n] = k[ck[b]:ck[b + 1]]
            vv = np.zeros_like(kk)
            vv[:n] = v[ck[b]:ck[b + 1]]
            kc[ids] = kk.reshape(-1, bs, 2, 16)
            vc[ids] = vv.reshape(-1, bs, 2, 16)
        got = softmax_c.flash_attn_varlen_func(q, kc, vc, cq, ck, causal=True, block_table=bt, window_size=(50, -1))
        want = softmax_c.flash_attn_varlen_func(q, k, v, cq, ck, causal=True, window_size=(50, -1))
        assert np.array_equal(got, want)


def test_shared_prefix_blocks():
    rng = np.random.default_rng(2)
    kc = rng.standard_normal((4, 8, 1, 8)).astype(np.float32)
    vc = rng.standard_normal((4, 8, 1, 8)).astype(np.float32)
    bt = np.array([[0, 1, 2], [0, 1, 3]], np.int32)  # two sequences share blocks 0, 1
    q = rng.standard_normal((2, 1, 8)).astype(np.float32)
    ck = np.array([0, 20, 44])
    o = softmax_c.flash_attn_varlen_func(q, kc, vc, np.array([0, 1, 2]), ck, block_table=bt)
    for b in range(2):
        ks = kc[bt[b]].reshape(-1, 1, 8)[:ck[b + 1] - ck[b]]
        vs = vc[bt[b]].reshape(-1, 1, 8)[:ck[b + 1] - ck[b]]
        w, _ = ref.serving_attention(q[b:b + 1], ks, vs)
        check(o[b:b + 1], w, np.float32)


def test_against_torch_float_mask():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    lq, lk = 5, 40
    q = rng.standard_normal((lq, 4, 16)).astype(np.float32)
    k = rng.standard_normal((lk, 4, 16)).astype(np.float32)
    v = rng.standard_normal((lk, 4, 16)).astype(np.float32)
    slopes = np.linspace(0.01, 0.2, 4).astype(np.float32)
    o = softmax_c.flash_attn_varlen_func(q, k, v, [0, lq], [0, lk], causal=True, window_size=(8, 0),
                                         alibi_slopes=slopes)
    d = np.arange(lq)[:, None] + lk - lq
    j = np.arange(lk)[None]
    mask = np.where((j <= d) & (j >= d - 8), 0.0, -np.inf)[None] - slopes[:, None, None] * np.abs(d - j)[None]
    t = torch.nn.functional.scaled_dot_product_attention(
        torch.from_numpy(q.transpose(1, 0, 2).copy()).double(), torch.from_numpy(k.transpose(1, 0, 2).copy()).double(),
        torch.from_numpy(v.transpose(1, 0, 2).copy()).double(), attn_mask=torch.from_numpy(mask))
    check(o, t.numpy().transpose(1, 0, 2), np.float32)


def test_thread_invariance():
    rng = np.random.default_rng(4)
    q, k, v, cq, ck = ragged(rng, [1, 1, 64], [3000, 700, 1500], 8, 2, 32)
    prev = softmax_c.get_num_threads()
    try:
        res = []
        for n in (1, 2, 3):
            softmax_c.set_num_threads(n)
            res.append(softmax_c.flash_attn_varlen_func(q, k, v, cq, ck, causal=True, window_size=(600, -1),
                                                        softcap=5.0, sinks=np.ones(8, np.float32)))
        assert all(np.array_equal(res[0], r) for r in res[1:])
    finally:
        softmax_c.set_num_threads(prev)


def test_decode_split_with_window_and_sinks(target):
    rng = np.random.default_rng(5)
    q, k, v, cq, ck = ragged(rng, [1, 2], [2000, 1300], 4, 4, 16)
    sinks = np.array([0.0, 5.0, -3.0, 30.0], np.float32)
    o, l = softmax_c.flash_attn_varlen_func(q, k, v, cq, ck, causal=True, window_size=(700, -1), sinks=sinks,
                                            return_lse=True)
    wo, wl = oracle(q, k, v, cq, ck, causal=True, window_size=(700, -1), sinks=sinks)
    check(o, wo, np.float32)
    check(l, wl, np.float32)


def test_tanh_accuracy():
    # softcap c with s = c * y: the transform is c * tanh(y); q.k = y * c / scale
    y = np.linspace(-20, 20, 20001)
    c = 1.0
    q = np.ones((y.size, 1, 1), np.float32)
    k = y.astype(np.float32).reshape(-1, 1, 1)
    # one key per query: scores pass through softcap; with one key the output is v, so use lse
    cq = np.arange(y.size + 1)
    _, lse = softmax_c.flash_attn_varlen_func(q, k, np.ones_like(k), cq, cq, softmax_scale=1.0, softcap=c,
                                              return_lse=True)
    want = np.tanh(k[:, 0, 0].astype(np.float64))
    err = np.abs(lse[0] - want) / np.maximum(np.abs(want), 1e-30)
    assert err.max() < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["decode", "prefill"])
def test_softcap_saturates(target, dtype, layout):
    # score / cap far past exp's range (2 y > 88.7 in float32): tanh is +-1.
    # The targets without AVX-512 gave NaN there (inf / inf) until tanh's
    # argument was clamped (a fuzz case: score / cap = 49.5).
    y = np.concatenate([np.linspace(-300, 300, 241), [44.0, 44.5, 45.0, 88.8, 1e4, -1e4, 3e30, -3e30]])
    c = 0.5
    if layout == "decode":  # one query and one key per sequence: the dot kernel
        q = np.ones((y.size, 1, 1), dtype)
        k = (y * c).astype(dtype).reshape(-1, 1, 1)
        v = np.linspace(-1, 1, y.size).astype(dtype).reshape(-1, 1, 1)
        cq = ck = np.arange(y.size + 1)
    else:  # one sequence of 40 queries over every key: the panel kernel
        q = np.linspace(0.5, 2.0, 40).astype(dtype).reshape(-1, 1, 1)
        k = (y * c).astype(dtype).reshape(-1, 1, 1)
        v = np.linspace(-1, 1, y.size).astype(dtype).reshape(-1, 1, 1)
        cq, ck = np.array([0, 40]), np.array([0, y.size])
    o, lse = softmax_c.flash_attn_varlen_func(q, k, v, cq, ck, softmax_scale=1.0, softcap=c, return_lse=True)
    assert np.all(np.isfinite(o)) and np.all(np.isfinite(lse))
    wo, wl = oracle(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), cq, ck, scale=1.0,
                    softcap=c)
    check(o, wo, dtype)
    check(lse, wl, dtype)


def test_kvcache_append_then_attend(target):
    rng = np.random.default_rng(6)
    bs, nb, H, E = 4, 12, 2, 8
    kc = rng.standard_normal((nb, bs, H, E)).astype(np.float32)
    vc = rng.standard_normal((nb, bs, H, E)).astype(np.float32)
    bt = np.array([[3, 7, 1], [0, 5, 9]], np.int32)
    seqlens = np.array([5, 0], np.int32)
    kn = rng.standard_normal((2, 2, H, E)).astype(np.float32)
    vn = rng.standard_normal((2, 2, H, E)).astype(np.float32)
    q = rng.standard_normal((2, 2, 4, E)).astype(np.float32)
    k0, v0 = kc.copy(), vc.copy()
    o = softmax_c.flash_attn_with_kvcache(q, kc, vc, kn, vn, cache_seqlens=seqlens, block_table=bt, causal=True)
    # by hand
    k1, v1 = k0.copy(), v0.copy()
    for b in range(2):
        for t in range(2):
            p = seqlens[b] + t
            k1[bt[b, p // bs], p % bs] = kn[b, t]
            v1[bt[b, p // bs], p % bs] = vn[b, t]
    assert np.array_equal(kc, k1) and np.array_equal(vc, v1)  # every other slot untouched
    for b in range(2):
        n = seqlens[b] + 2
        ks = k1[bt[b]].reshape(-1, H, E)[:n]
        vs = v1[bt[b]].reshape(-1, H, E)[:n]
        w, _ = ref.serving_attention(q[b], ks, vs, causal=True)
        check(o[b], w, np.float32)
    # dense cache
    kd = rng.standard_normal((2, 10, H, E)).astype(np.float32)
    vd = rng.standard_normal((2, 10, H, E)).astype(np.float32)
    kd0 = kd.copy()
    o = softmax_c.flash_attn_with_kvcache(q, kd, vd, kn, vn, cache_seqlens=seqlens, causal=True)
    for b in range(2):
        assert np.array_equal(kd[b, seqlens[b]:seqlens[b] + 2], kn[b])
        rest = np.ones(10, bool)
        rest[seqlens[b]:seqlens[b] + 2] = False
        assert np.array_equal(kd[b, rest], kd0[b, rest])
        w, _ = ref.serving_attention(q[b], kd[b, :seqlens[b] + 2], vd[b, :seqlens[b] + 2], causal=True)
        check(o[b], w, np.float32)


def _bad_varlen():
    q = np.zeros((3, 2, 4), np.float32)
    k = np.zeros((5, 1, 4), np.float32)
    kc = np.zeros((4, 2, 1, 4), np.float32)
    f = softmax_c.flash_attn_varlen_func
    return [
        (ValueError, "cu_seqlens_q", lambda: f(q, k, k, [0, 2, 1, 3], [0, 1, 2, 5])),
        (ValueError, "cu_seqlens_q", lambda: f(q, k, k, [1, 3], [0, 5])),
        (ValueError, "cu_seqlens_k", lambda: f(q, k, k, [0, 3], [0, 4])),
        (TypeError, "cu_seqlens_q", lambda: f(q, k, k, np.array([0, 3.0]), [0, 5])),
        (ValueError, "block_table", lambda: f(q, kc, kc, [0, 3], [0, 3], block_table=np.array([[0, 4]]))),
        (ValueError, "block_table", lambda: f(q, kc, kc, [0, 3], [0, 3], block_table=np.array([[-1, 0]]))),
        (ValueError, "sequence 0", lambda: f(q, kc, kc, [0, 3], [0, 5], block_table=np.array([[0, 1]]))),
        (TypeError, "block_table", lambda: f(q, kc, kc, [0, 3], [0, 3], block_table=np.array([[0.0, 1]]))),
        (ValueError, "heads", lambda: f(np.zeros((3, 3, 4), np.float32), np.zeros((5, 2, 4), np.float32),
                                        np.zeros((5, 2, 4), np.float32), [0, 3], [0, 5])),
        (ValueError, "head size", lambda: f(np.zeros((3, 2, 5), np.float32), k, k, [0, 3], [0, 5])),
        (TypeError, "dtype", lambda: f(q, k.astype(np.float64), k, [0, 3], [0, 5])),
        (ValueError, "window_size", lambda: f(q, k, k, [0, 3], [0, 5], window_size=(-2, 0))),
        (ValueError, "alibi_slopes", lambda: f(q, k, k, [0, 3], [0, 5], alibi_slopes=np.zeros(3, np.float32))),
        (ValueError, "sinks", lambda: f(q, k, k, [0, 3], [0, 5], sinks=np.zeros(3, np.float32))),
    ]


def _bad_kvcache():
    f = softmax_c.flash_attn_with_kvcache
    q = np.zeros((2, 1, 2, 4), np.float32)
    kc = np.zeros((4, 2, 1, 4), np.float32)
    kn = np.ones((2, 1, 1, 4), np.float32)
    ro = kc.copy()
    ro.flags.writeable = False
    bt = np.array([[0, 1], [2, 3]])
    return [
        (ValueError, "sequence 1", lambda: f(q, kc, kc, kn, kn, cache_seqlens=np.array([0, 4]), block_table=bt)),
        (ValueError, "both append", lambda: f(q, kc, kc, kn, kn, cache_seqlens=np.array([1, 1]),
                                             block_table=np.array([[0, 1], [0, 3]]))),
        (ValueError, "read-only", lambda: f(q, ro, ro, kn, kn, cache_seqlens=np.array([0, 0]), block_table=bt)),
        (ValueError, "block_table", lambda: f(q, kc, kc, kn, kn, cache_seqlens=np.array([0, 2]),
                                             block_table=np.array([[0, 1], [2, 9]]))),
        (ValueError, "sequence 0", lambda: f(q, np.zeros((2, 3, 1, 4), np.float32), np.zeros((2, 3, 1, 4), np.float32),
                                            kn, kn, cache_seqlens=np.array([3, 0]))),
    ]


@pytest.mark.parametrize("i", range(14))
def test_bad_varlen(i):
    exc, word, call = _bad_varlen()[i]
    with pytest.raises(exc, match=word):
        call()


@pytest.mark.parametrize("i", range(5))
def test_bad_kvcache_writes_nothing(i):
    exc, word, call = _bad_kvcache()[i]
    with pytest.raises(exc, match=word):
        call()
    # the caches of these cases are zeros; the appended rows would be ones


@pytest.mark.parametrize("align", ["upper_left", "lower_right"])
def test_sdpa_extras(target, align):
    rng = np.random.default_rng(7)
    L, S, Hq, E = 9, 30, 4, 16
    q = rng.standard_normal((Hq, L, E))
    k = rng.standard_normal((2, S, E))
    v = rng.standard_normal((2, S, E))
    slopes = np.linspace(0.05, 0.4, Hq).astype(np.float32)
    sinks = np.array([0, 1, -1, 9], np.float32)
    o, l = softmax_c.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True, causal_alignment=align,
                                                  window_size=(6, -1), softcap=2.0, alibi_slopes=slopes, sinks=sinks,
                                                  return_lse=True)
    # the oracle's diagonal is bottom-right: upper-left is the same rows with S - L keys of padding in front
    qq, kk, vv = q.transpose(1, 0, 2), k.transpose(1, 0, 2), v.transpose(1, 0, 2)
    if align == "upper_left":
        pad = np.zeros((L, 2, E))
        kk, vv = kk[:L], vv[:L]  # keys past the diagonal are masked for causal upper-left
    w, wl = ref.serving_attention(qq, kk, vv, causal=True, window_size=(6, -1), softcap=2.0, alibi_slopes=slopes,
                                  sinks=sinks)
    check(o, w.transpose(1, 0, 2), np.float64)
    check(l, wl, np.float64)
    plain = softmax_c.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    again = softmax_c.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True, window_size=(-1, -1))
    assert np.array_equal(plain, again)


# ---- the one-call ragged path (sc_attention_ragged): tiles spanning blocks,
# ---- decode chunks walked head after head, many and empty sequences

def _paged_copy(rng, k, v, ck, bs):
    """The packed keys of each sequence laid into shuffled blocks of bs rows,
    with one spare block of its own after each sequence's (room to append)."""
    lk = np.diff(ck)
    nblk = -(-lk // bs) + 1
    nb = int(nblk.sum()) + 1
    kc = rng.standard_normal((nb, bs) + k.shape[1:]).astype(k.dtype)
    vc = rng.standard_normal((nb, bs) + v.shape[1:]).astype(v.dtype)
    bt = np.full((len(lk), int(nblk.max(initial=0)) + 1), nb - 1, np.int64)
    perm = rng.permutation(nb)
    at = 0
    for b, n in enumerate(lk):
        ids = perm[at:at + nblk[b]]
        at += nblk[b]
        bt[b, :len(ids)] = ids
        for j in range(n):
            kc[ids[j // bs], j % bs] = k[ck[b] + j]
            vc[ids[j // bs], j % bs] = v[ck[b] + j]
    return kc, vc, bt


@pytest.mark.parametrize("bs", [1, 3, 16, 64, 100, 256])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_paged_tiles_spanning_blocks(target, bs, dtype):
    """Block sizes below, at and above the kernels' key tiles (64 panel, 256
    dot) and not dividing them; decode (<= 4 rows: dot kernel; 12 rows:
    panels, both split in 512-key chunks walked 64 keys at a time) and
    prefill rows; every sequence equals the packed call bitwise and the
    oracle within the contract."""
    rng = np.random.default_rng(bs)
    lk = [513, 0, 64, 1100, 257, 5, 700]
    lq = [1, 2, 64, 3, 200, 0, 1]
    q, k, v, cq, ck = ragged(rng, lq, lk, 8, 2, 24, 16, dtype)
    kc, vc, bt = _paged_copy(rng, k, v, ck, bs)
    sinks = np.linspace(-1, 2, 8).astype(np.float32)
    kw = dict(causal=True, window_size=(300, -1), softcap=4.0, sinks=sinks, return_lse=True)
    o, l = softmax_c.flash_attn_varlen_func(q, kc, vc, cq, ck, block_table=bt, **kw)
    po, pl = softmax_c.flash_attn_varlen_func(q, k, v, cq, ck, **kw)
    check(o, po, dtype)
    check(l, pl, dtype)
    kw.pop("return_lse")
    wo, wl = oracle(q, k, v, cq, ck, **kw)
    check(o, wo, dtype)
    check(l, wl, dtype)


def test_many_sequences_and_empty_ones(target):
    rng = np.random.default_rng(11)
    n = 70
    lk = rng.integers(0, 700, n) * (rng.random(n) > 0.2)
    lq = np.where(rng.random(n) < 0.7, 1, rng.integers(0, 40, n))
    q, k, v, cq, ck = ragged(rng, lq.tolist(), lk.tolist(), 4, 2, 16)
    kc, vc, bt = _paged_copy(rng, k, v, ck, 16)
    slopes = rng.uniform(0, 0.1, (n, 4)).astype(np.float32)
    o, l = softmax_c.flash_attn_varlen_func(q, kc, vc, cq, ck, block_table=bt, causal=True, alibi_slopes=slopes,
                                            return_lse=True)
    wo, wl = oracle(q, k, v, cq, ck, slopes=slopes, causal=True)
    check(o, wo, np.float32)
    assert np.array_equal(np.isinf(l), np.isinf(wl))
    fin = np.isfinite(wl)
    check(l[fin], wl[fin], np.float32)


@pytest.mark.parametrize("paged", [False, True])
def test_ragged_thread_invariance(paged):
    """Decode chunks (all heads per 64 keys) and prefill tiles handed out
    longest first: bitwise the same for 1, 2 and 3 threads."""
    rng = np.random.default_rng(12)
    q, k, v, cq, ck = ragged(rng, [1, 4, 300, 1, 1], [3000, 1000, 900, 0, 600], 8, 2, 32)
    kc, vc, bt = _paged_copy(rng, k, v, ck, 16) if paged else (k, v, None)
    prev = softmax_c.get_num_threads()
    try:
        res = []
        for t in (1, 2, 3):
            softmax_c.set_num_threads(t)
            res.append(softmax_c.flash_attn_varlen_func(q, kc, vc, cq, ck, block_table=bt, causal=True,
                                                        window_size=(800, -1), return_lse=True))
        for o, l in res[1:]:
            assert np.array_equal(o, res[0][0]) and np.array_equal(l, res[0][1])
    finally:
        softmax_c.set_num_threads(prev)


def test_kvcache_decode_batch_equals_per_sequence(target):
    """The batched paged decode step (one kernel call) equals a loop of
    one-sequence calls on the same cache."""
    rng = np.random.default_rng(13)
    batch, h, hq, e, bs = 6, 2, 8, 16, 16
    lens = np.array([0, 1, 600, 16, 1025, 33])
    q, k, v, cq, ck = ragged(rng, [1] * batch, lens.tolist(), hq, h, e)
    kc, vc, bt = _paged_copy(rng, k, v, ck, bs)
    q4 = q.reshape(batch, 1, hq, e)
    kn = rng.standard_normal((batch, 1, h, e)).astype(np.float32)
    vn = rng.standard_normal((batch, 1, h, e)).astype(np.float32)
    kc2, vc2 = kc.copy(), vc.copy()
    o = softmax_c.flash_attn_with_kvcache(q4, kc, vc, kn, vn, cache_seqlens=lens, block_table=bt, causal=True)
    for b in range(batch):
        ob = softmax_c.flash_attn_with_kvcache(q4[b:b + 1], kc2, vc2, kn[b:b + 1], vn[b:b + 1],
                                               cache_seqlens=lens[b:b + 1], block_table=bt[b:b + 1], causal=True)
        check(o[b:b + 1], ob, np.float32)
    assert np.array_equal(kc, kc2) and np.array_equal(vc, vc2)
