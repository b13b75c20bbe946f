"""What each benchmarked operation is, and how every implementation runs it.

An :class:`Op` bundles, for one operation:

* ``make_inputs`` -- reproducible random inputs for a :class:`Case`;
* ``oracle`` -- the float64 result from :mod:`softmax_c.reference` (the
  sampling family: :mod:`softmax_c.reference_sampling`);
* ``work`` -- bytes moved (memory-bound ops) or flops (attention);
* ``adapters`` -- for each implementation name, a function
  ``prepare(case, inputs, threads)`` that does the set-up (tensor views,
  ONNX sessions) and returns the zero-argument call that is timed. An
  implementation without an adapter does not apply to the operation; an
  adapter raises :class:`NotApplicable` to skip one case with a reason.

* ``check`` -- optional: a comparison of its own, for results that are not
  one array close to the oracle's (``topk_softmax``: probabilities and
  indices; ``sample``: random tokens, checked against the support).

The NumPy baseline (``numpy_*``) is a straightforward float32 implementation,
the code a user would write by hand; it is timed, and checked like the rest.
The sampling baselines (:func:`numpy_top_p`, :func:`torch_top_p`,
:func:`numpy_topk_softmax`) are also used by ``benchmarks/sampling_speed.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

import numpy as np

from .cases import Case
from .check import CheckResult, check_sample, check_topk, tolerance_for
from .impls import load_softmax_c, try_import

__all__ = [
    "Op", "OPS", "NotApplicable", "make_inputs", "oracle",
    "numpy_softmax", "numpy_log_softmax", "numpy_logsumexp", "numpy_expit", "numpy_log_expit", "numpy_attention",
    "numpy_top_p", "torch_top_p", "numpy_topk_softmax", "peaked_logits", "SAMPLE_SEED",
]

#: Seed of every ``sample`` call (a fresh generator per call: repeatable).
SAMPLE_SEED = 1


class NotApplicable(Exception):
    """An implementation cannot run this case (reason in the message)."""


# ---------------------------------------------------------------- baseline --

def numpy_softmax(x, axis):
    """Softmax the way one writes it in NumPy: max, exp, sum, divide."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def numpy_log_softmax(x, axis):
    """``x - max - log(sum(exp(x - max)))`` in NumPy."""
    s = x - x.max(axis=axis, keepdims=True)
    s -= np.log(np.exp(s).sum(axis=axis, keepdims=True))
    return s


def numpy_logsumexp(x, axis):
    """``max + log(sum(exp(x - max)))`` in NumPy, reduced axis dropped."""
    m = x.max(axis=axis, keepdims=True)
    r = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return np.squeeze(r, axis=axis)


def numpy_expit(x):
    """``1 / (1 + exp(-x))`` the way one writes it in NumPy."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def numpy_log_expit(x):
    """``-log(1 + exp(-x))`` in NumPy, stable: ``-logaddexp(0, -x)``."""
    return -np.logaddexp(0, -x)


def numpy_attention(q, k, v, is_causal=False):
    """Attention with the full score matrix, as written naively in NumPy.

    ``q`` is ``(B, H, L, E)``, ``k`` and ``v`` are ``(B, Hkv, S, E)``;
    key/value heads are repeated when ``Hkv < H``. Causal masking is
    upper-left aligned (query ``i`` sees keys ``j <= i``), as torch.
    """
    k, v = _repeat_kv(q, k), _repeat_kv(q, v)
    s = (q * q.dtype.type(1.0 / math.sqrt(q.shape[-1]))) @ np.swapaxes(k, -1, -2)
    if is_causal:
        s[..., np.triu(np.ones(s.shape[-2:], dtype=bool), 1)] = -np.inf
    return numpy_softmax(s, -1) @ v


def _repeat_kv(q, kv):
    """Repeat key/value heads to the number of query heads (GQA)."""
    groups = q.shape[-3] // kv.shape[-3]
    return kv if groups == 1 else np.repeat(kv, groups, axis=-3)


def numpy_top_p(x, temperature, top_p, rng):
    """Top-p sampling in NumPy, row by row: softmax, argsort, cumsum, choice.

    ``x`` is ``(rows, vocabulary)``; returns one int64 index per row, drawn
    with ``rng`` from the smallest set of most likely tokens whose mass is
    >= ``top_p``.
    """
    out = np.empty(x.shape[0], dtype=np.int64)
    for r in range(x.shape[0]):
        z = x[r] / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        order = np.argsort(-p, kind="stable")
        c = np.cumsum(p[order])
        keep = int(np.searchsorted(c, top_p)) + 1
        q = p[order[:keep]]
        out[r] = order[rng.choice(keep, p=q / q.sum())]
    return out


def torch_top_p(x, temperature, top_p, generator=None):
    """Top-p sampling as Hugging Face transformers does it, in torch.

    ``TemperatureLogitsWarper`` + ``TopPLogitsWarper`` + ``torch.multinomial``
    (sort, softmax, cumsum, mask, scatter back, sample). ``x`` is a
    ``(rows, vocabulary)`` tensor; returns one index per row (a tensor).
    """
    import torch

    scores = x / temperature
    sorted_logits, sorted_idx = torch.sort(scores, descending=False)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cum <= (1 - top_p)
    remove[..., -1:] = False
    remove = remove.scatter(1, sorted_idx, remove)
    scores = scores.masked_fill(remove, -float("inf"))
    return torch.multinomial(scores.softmax(dim=-1), 1, generator=generator)[:, 0]


def numpy_topk_softmax(x, k, temperature=1.0):
    """``(probabilities, indices)`` of the ``k`` largest entries per row.

    ``np.argpartition`` for the candidates, a sort of those ``k``, and their
    softmax over the full row (``exp(x - logsumexp(x))``).
    """
    if temperature != 1.0:
        x = x / x.dtype.type(temperature)
    part = np.argpartition(-x, k - 1, axis=-1)[:, :k]
    vals = np.take_along_axis(x, part, -1)
    o = np.argsort(-vals, axis=-1, kind="stable")
    idx = np.take_along_axis(part, o, -1)
    m = x.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    return np.exp(np.take_along_axis(x, idx, -1) - lse), idx


# ------------------------------------------------------------------ inputs --

def make_inputs(case: Case, dtype, seed: int = 0) -> Dict[str, np.ndarray]:
    """Reproducible random inputs of ``case`` (see :attr:`Op.make_inputs`)."""
    return OPS[case.op].make_inputs(case, np.dtype(dtype), np.random.default_rng(seed))


def oracle(case: Case, inputs):
    """The float64 reference result of ``case`` on ``inputs``.

    An ndarray; for ``topk_softmax`` a ``(probabilities, indices)`` pair, for
    ``sample`` a :class:`SampleSupport`.
    """
    return OPS[case.op].oracle(case, inputs)


def _logits(case, dtype, rng):
    """Standard normal logits times 3: a spread like real classifier logits
    (half dtypes: drawn in float32, rounded once)."""
    if dtype.itemsize == 2:
        return {"x": (rng.standard_normal(case.shape, dtype=np.float32) * 3).astype(dtype)}
    x = rng.standard_normal(case.shape, dtype=dtype)
    x *= 3
    return {"x": x}


def peaked_logits(rng, shape, dtype=np.float32, hot=20, boost=8.0):
    """LM-like logits: an N(0, 2²) bulk plus ``hot`` strong candidates per
    row (``+boost`` at random positions of the last axis)."""
    x = (rng.standard_normal(shape) * 2.0).astype(dtype)
    idx = rng.integers(0, shape[-1], shape[:-1] + (hot,))
    np.put_along_axis(x, idx, np.take_along_axis(x, idx, -1) + boost, -1)
    return x


def _peaked(case, dtype, rng):
    return {"x": peaked_logits(rng, case.shape, dtype)}


def _qkv(case, dtype, rng):
    """Standard normal query, key and value of an attention case (half
    dtypes: drawn in float32, rounded once)."""
    b, h, l, s, e = case.shape
    hkv = case.kv_heads or h
    draw = np.float32 if dtype.itemsize == 2 else dtype
    shapes = {"q": (b, h, l, e), "k": (b, hkv, s, e), "v": (b, hkv, s, e)}
    return {n: rng.standard_normal(sh, dtype=draw).astype(dtype, copy=False) for n, sh in shapes.items()}


# ------------------------------------------------------- serving attention --
# Ragged batches (issue 12).  Shape ``(n_seq, Hq, H, max_len, E)``; the
# sequence lengths are drawn from ``[min_len, max_len]`` by the case's seed.
# ``attention_paged``: one decode step of every sequence against a paged KV
# cache (shuffled blocks of ``block_size``), work = the K/V bytes read.
# ``attention_varlen``: causal prefill of packed sequences, work = flops.

def _serving_lengths(case, rng):
    n, _, _, smax, _ = case.shape
    return rng.integers(min(case.kwargs.get("min_len", 1), smax), smax + 1, n)


def _paged_inputs(case, dtype, rng):
    n, hq, h, _, e = case.shape
    bs = case.kwargs.get("block_size", 16)
    lens = _serving_lengths(case, rng)
    nblk = -(-lens // bs)
    k = rng.standard_normal((int(nblk.sum()), bs, h, e), dtype=dtype)
    v = rng.standard_normal(k.shape, dtype=dtype)
    bt = np.zeros((n, int(nblk.max())), np.int32)
    perm = rng.permutation(k.shape[0]).astype(np.int32)
    start = np.concatenate([[0], np.cumsum(nblk)])
    for b in range(n):
        bt[b, :nblk[b]] = perm[start[b]:start[b + 1]]
    return {"q": rng.standard_normal((n, 1, hq, e), dtype=dtype), "k": k, "v": v, "block_table": bt,
            "cache_seqlens": lens.astype(np.int32)}


def _paged_gather(x, bt, b, n):
    return x[bt[b]].reshape(-1, *x.shape[2:])[:n]


def _paged_oracle(case, inputs):
    ref = reference_module()
    q, k, v, bt, lens = (inputs[n] for n in ("q", "k", "v", "block_table", "cache_seqlens"))
    return np.stack([ref.serving_attention(q[b], _paged_gather(k, bt, b, lens[b]), _paged_gather(v, bt, b, lens[b]))[0]
                     for b in range(q.shape[0])])


def _paged_bytes(case, inputs):
    """The K and V bytes the decode step must read."""
    k = inputs["k"]
    return 2 * int(inputs["cache_seqlens"].sum()) * k.shape[2] * k.shape[3] * k.itemsize


def _softmax_c_paged(case, inputs, threads):
    fn = load_softmax_c().flash_attn_with_kvcache
    q, k, v, bt, lens = (inputs[n] for n in ("q", "k", "v", "block_table", "cache_seqlens"))
    return lambda: fn(q, k, v, cache_seqlens=lens, block_table=bt)


def _torch_paged(case, inputs, threads):
    """The padded-batch recipe: gather every sequence's blocks into one
    (n, H, max_len, E) tensor, mask the padding, one SDPA call."""
    import torch
    import torch.nn.functional as F

    q, k, v, bt, lens = (torch.from_numpy(inputs[n]) for n in ("q", "k", "v", "block_table", "cache_seqlens"))
    n, _, hq, e = q.shape
    h, smax = k.shape[2], int(lens.max())
    rows = bt.long()
    mask = torch.arange(smax)[None, :] < lens[:, None].long()
    bias = torch.zeros(n, 1, 1, smax, dtype=q.dtype).masked_fill(~mask[:, None, None, :], float("-inf"))
    qt = q.transpose(1, 2)

    def run():
        kk = k[rows].reshape(n, -1, h, e)[:, :smax].transpose(1, 2)
        vv = v[rows].reshape(n, -1, h, e)[:, :smax].transpose(1, 2)
        return F.scaled_dot_product_attention(qt, kk, vv, attn_mask=bias, enable_gqa=True).transpose(1, 2)
    return run


def _varlen_inputs(case, dtype, rng):
    _, hq, h, _, e = case.shape
    lens = _serving_lengths(case, rng)
    tot = int(lens.sum())
    return {"q": rng.standard_normal((tot, hq, e), dtype=dtype), "k": rng.standard_normal((tot, h, e), dtype=dtype),
            "v": rng.standard_normal((tot, h, e), dtype=dtype),
            "cu_seqlens": np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)}


def _varlen_oracle(case, inputs):
    ref = reference_module()
    q, k, v, cu = (inputs[n] for n in ("q", "k", "v", "cu_seqlens"))
    return np.concatenate([ref.serving_attention(q[a:b], k[a:b], v[a:b], causal=True)[0]
                           for a, b in zip(cu[:-1], cu[1:])])


def _varlen_flops(case, inputs):
    _, hq, _, _, e = case.shape
    lens = np.diff(inputs["cu_seqlens"].astype(np.int64))
    return int(sum(4 * hq * e * attention_pairs(int(n), int(n), True) for n in lens))


def _softmax_c_varlen(case, inputs, threads):
    fn = load_softmax_c().flash_attn_varlen_func
    q, k, v, cu = (inputs[n] for n in ("q", "k", "v", "cu_seqlens"))
    return lambda: fn(q, k, v, cu, cu, causal=True)


def _torch_varlen(case, inputs, threads):
    """A loop of causal SDPA calls, one per sequence."""
    import torch
    import torch.nn.functional as F

    q, k, v = (torch.from_numpy(inputs[n]).transpose(0, 1) for n in "qkv")
    cu = inputs["cu_seqlens"].tolist()
    gqa = q.shape[0] != k.shape[0]
    return lambda: torch.cat([F.scaled_dot_product_attention(q[:, a:b], k[:, a:b], v[:, a:b], is_causal=True,
                                                             enable_gqa=gqa)
                              for a, b in zip(cu[:-1], cu[1:])], dim=1).transpose(0, 1)


# ------------------------------------------------------------------ oracle --

def reference_module():
    """:mod:`softmax_c.reference`, or None when it is not there."""
    return try_import("softmax_c.reference")


def _row_oracle(name, fallback):
    """Oracle of a row op: ``reference.<name>`` on float64 inputs."""
    def run(case, inputs):
        x = inputs["x"].astype(np.float64)
        ref = reference_module()
        if ref is None:
            return fallback(x, case.axis)
        return np.asarray(getattr(ref, name)(x, axis=case.axis), dtype=np.float64)
    return run


def _attention_oracle(case, inputs):
    """Oracle of attention; key/value heads are expanded before the call."""
    q, k, v = (inputs[n].astype(np.float64) for n in "qkv")
    k, v = _repeat_kv(q, k), _repeat_kv(q, v)
    ref = reference_module()
    if ref is None:
        return numpy_attention(q, k, v, case.causal)
    out = ref.scaled_dot_product_attention(q, k, v, is_causal=case.causal)
    return np.asarray(out, dtype=np.float64)


def _reference_sampling():
    from .. import reference_sampling  # pure NumPy, no compiled code

    return reference_sampling


#: Slack of the "boundary" support of ``sample``, per dtype: a token left out
#: by the float64 oracle is still accepted when it is kept with ``top_p`` +
#: this and ``min_p`` * (1 - this) -- a cumulative mass that lands within
#: rounding of the threshold.
_SUPPORT_SLACK = {"float32": 1e-3, "float64": 1e-8, "float16": 1e-3, "bfloat16": 1e-3}  # halves: float32 inside


class SampleSupport:
    """Oracle of ``sample``: which tokens each row may yield.

    ``strict`` is the support of :func:`softmax_c.reference_sampling.sampling_distribution`
    (float64) for every row; :meth:`loose` widens the warper thresholds by
    :data:`_SUPPORT_SLACK` (computed only when some token is outside
    ``strict``).
    """

    def __init__(self, x, options):
        self.x = x.reshape(-1, x.shape[-1])
        self.options = dict(options)
        self.slack = _SUPPORT_SLACK[np.dtype(x.dtype).name]
        self.strict = self._support(self.options)
        self._loose = None

    def _support(self, kw):
        ref = _reference_sampling()
        return np.stack([ref.sampling_distribution(row, **kw) > 0 for row in self.x])

    def loose(self):
        """The support with the thresholds widened by the dtype's slack."""
        if self._loose is None:
            kw = dict(self.options)
            if kw.get("top_p") is not None:
                kw["top_p"] = min(1.0, kw["top_p"] + self.slack)
            if kw.get("min_p") is not None:
                kw["min_p"] = kw["min_p"] * (1 - self.slack)
            self._loose = self.strict | self._support(kw)
        return self._loose


def _sample_oracle(case, inputs):
    return SampleSupport(inputs["x"], case.kwargs)


def _topk_oracle(case, inputs):
    kw = case.kwargs
    p, i = _reference_sampling().topk_softmax(inputs["x"].astype(np.float64), kw["k"],
                                              kw.get("temperature", 1.0))
    return p, i


# -------------------------------------------------------------------- work --

def _row_bytes(out_shape):
    """Bytes read and written by a row op (input once, output once)."""
    def work(case, inputs):
        x = inputs["x"]
        return x.nbytes + int(np.prod(out_shape(case), dtype=np.int64)) * x.itemsize
    return work


def attention_pairs(l: int, s: int, causal: bool) -> int:
    """Query-key pairs computed; causal is upper-left (``j <= i``)."""
    if not causal:
        return l * s
    full = max(0, l - s)  # rows i >= s see all s keys
    short = min(l, s)  # rows i < s see i + 1 keys
    return short * (short + 1) // 2 + full * s


def _attention_flops(case, inputs):
    """``4·B·H·E`` flops per query-key pair (Q·Kᵀ and P·V, multiply-add)."""
    b, h, l, s, e = case.shape
    return 4 * b * h * e * attention_pairs(l, s, case.causal)


def _sample_bytes(case, inputs):
    """Logits read once, one int64 written per row."""
    x = inputs["x"]
    return x.nbytes + (x.size // x.shape[-1]) * 8


def _topk_bytes(case, inputs):
    """Logits read once, ``k`` probabilities and int64 indices per row."""
    x = inputs["x"]
    return x.nbytes + (x.size // x.shape[-1]) * case.kwargs["k"] * (x.itemsize + 8)


def _same_shape(case):
    return case.shape


def _reduced_shape(case):
    ax = case.axis % len(case.shape)
    return case.shape[:ax] + case.shape[ax + 1:]


# ---------------------------------------------------------------- adapters --

def _softmax_c_row(name):
    def prepare(case, inputs, threads):
        fn = getattr(load_softmax_c(), name, None)
        if fn is None:
            raise NotApplicable(f"softmax_c.{name} is missing")
        x, axis = inputs["x"], case.axis
        return lambda: fn(x, axis=axis)
    return prepare


def _numpy_row(fn):
    def prepare(case, inputs, threads):
        x, axis = inputs["x"], case.axis
        return lambda: fn(x, axis)
    return prepare


def _scipy_row(name):
    def prepare(case, inputs, threads):
        fn = getattr(try_import("scipy.special"), name)
        x, axis = inputs["x"], case.axis
        return lambda: fn(x, axis=axis)
    return prepare


def _torch_tensor(x):
    """x as a torch tensor of its own dtype (float16 / bfloat16: the same
    values; bfloat16 has no NumPy twin in torch.from_numpy)."""
    import torch

    if x.dtype.itemsize == 2:
        return torch.from_numpy(x.astype(np.float32)).to(getattr(torch, x.dtype.name))
    return torch.from_numpy(x)


def _torch_row(name):
    def prepare(case, inputs, threads):
        import torch

        t = _torch_tensor(inputs["x"])
        fn, dim = getattr(torch, name), case.axis
        return lambda: fn(t, dim=dim)
    return prepare


def _onnx_row(node_type, reduce=False):
    def prepare(case, inputs, threads):
        attrs = {"axes": [case.axis], "keepdims": 0} if reduce else {"axis": case.axis}
        return onnx_single_node(node_type, inputs["x"], threads, **attrs)
    return prepare


def onnx_single_node(node_type, x, threads, opset=17, **attrs):
    """Build a one-node ONNX model and return a call running it on ``x``.

    The session runs sequentially with ``intra_op_num_threads = threads``.
    Opset 17 keeps ``axes`` an attribute of ``ReduceLogSumExp``.
    """
    import onnxruntime as ort
    from onnx import helper

    elem = helper.np_dtype_to_tensor_dtype(x.dtype)
    graph = helper.make_graph(
        [helper.make_node(node_type, ["x"], ["y"], **attrs)], node_type,
        [helper.make_tensor_value_info("x", elem, list(x.shape))],
        [helper.make_tensor_value_info("y", elem, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # the IR of opset 17; accepted by onnxruntime >= 1.13
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # e.g. no kernel for this dtype
        raise NotApplicable(f"onnxruntime {node_type}: {exc}".splitlines()[0]) from exc
    feed = {"x": x}
    return lambda: sess.run(None, feed)[0]


def _softmax_c_attention(case, inputs, threads):
    fn = getattr(load_softmax_c(), "scaled_dot_product_attention", None)
    if fn is None:
        raise NotApplicable("softmax_c.scaled_dot_product_attention is missing")
    q, k, v = inputs["q"], inputs["k"], inputs["v"]
    kw = {"is_causal": case.causal}
    if case.kv_heads:
        kw["enable_gqa"] = True
    return lambda: fn(q, k, v, **kw)


def _numpy_attention(case, inputs, threads):
    q, k, v = inputs["q"], inputs["k"], inputs["v"]
    return lambda: numpy_attention(q, k, v, case.causal)


def _torch_attention(case, inputs, threads):
    import torch
    import torch.nn.functional as F

    q, k, v = (_torch_tensor(inputs[n]) for n in "qkv")
    kw = {"is_causal": case.causal}
    if case.kv_heads:
        kw["enable_gqa"] = True
    return lambda: F.scaled_dot_product_attention(q, k, v, **kw)


def _last_axis(case):
    if case.axis not in (-1, len(case.shape) - 1):
        raise NotApplicable("sampling cases take the last axis")


def _top_p_only(case, who):
    """``(temperature, top_p)`` of a case the top-p baselines can run."""
    _last_axis(case)
    kw = case.kwargs
    other = sorted(set(kw) - {"temperature", "top_p"})
    if other or kw.get("top_p") is None:
        raise NotApplicable(f"the {who} baseline does temperature + top_p only")
    return kw.get("temperature", 1.0), kw["top_p"]


def _softmax_c_sample(case, inputs, threads):
    fn = getattr(load_softmax_c(), "sample", None)
    if fn is None:
        raise NotApplicable("softmax_c.sample is missing")
    x, kw = inputs["x"], case.kwargs
    return lambda: fn(x, axis=case.axis, seed=SAMPLE_SEED, **kw)


def _numpy_sample(case, inputs, threads):
    t, p = _top_p_only(case, "numpy")
    x = inputs["x"]
    return lambda: numpy_top_p(x, t, p, np.random.default_rng(SAMPLE_SEED))


def _torch_sample(case, inputs, threads):
    import torch

    t, p = _top_p_only(case, "torch")
    x = torch.from_numpy(inputs["x"])
    return lambda: torch_top_p(x, t, p, torch.Generator().manual_seed(SAMPLE_SEED))


def _softmax_c_topk(case, inputs, threads):
    fn = getattr(load_softmax_c(), "topk_softmax", None)
    if fn is None:
        raise NotApplicable("softmax_c.topk_softmax is missing")
    x, kw = inputs["x"], case.kwargs
    k = kw.pop("k")
    return lambda: fn(x, k, axis=case.axis, **kw)


def _numpy_topk(case, inputs, threads):
    _last_axis(case)
    x, kw = inputs["x"], case.kwargs
    k, t = kw["k"], kw.get("temperature", 1.0)
    return lambda: numpy_topk_softmax(x, k, t)


def _torch_topk(case, inputs, threads):
    import torch

    _last_axis(case)
    x, kw = torch.from_numpy(inputs["x"]), case.kwargs
    k, t = kw["k"], kw.get("temperature", 1.0)
    if t == 1.0:
        return lambda: torch.topk(torch.softmax(x, dim=-1), k)
    return lambda: torch.topk(torch.softmax(x / t, dim=-1), k)


def _sample_check(case, impl, result, ref, inputs, call=None):
    """Tokens in the support; the same seed again gives the same tokens."""
    again = None if call is None else call()
    return check_sample(result, ref.strict, ref.loose, again)


def _topk_check(case, impl, result, ref, inputs, call=None):
    """Indices of the k largest logits; probabilities as softmax's."""
    x = inputs["x"]
    return check_topk(result, ref, x.reshape(-1, x.shape[-1]),
                      tolerance_for(impl, x.dtype, "prob"))


# --------------------------------------------------- serving sampler (issue 13) --
# The workloads and baselines live in softmax_c._bench.serving (shared with
# benchmarks/sampler_speed.py).  case.shape: (rows, V) for serving_sample,
# (rows, k + 1, V) for verify_draft.

def _serving_inputs(case, dtype, rng):
    from . import serving

    inp = serving.serving_inputs(rng, case.shape[0], case.shape[1], min(256, case.shape[1]))
    inp["x"] = inp["x"].astype(dtype)
    return inp


class ServingSupport(SampleSupport):
    """:class:`SampleSupport` of the serving workload: per-row warpers on the
    processed rows (reference_sampling.process_logits, float64)."""

    def __init__(self, inputs):
        from . import serving

        ref = _reference_sampling()
        self.inputs = inputs
        self.rows = np.stack([ref.process_logits(row, bias=(inputs["bias_ids"], inputs["bias"]),
                                                 prev_tokens=inputs["prev_tokens"][r],
                                                 repetition_penalty=serving.REPETITION,
                                                 frequency_penalty=serving.FREQUENCY)
                              for r, row in enumerate(inputs["x"].astype(np.float64))])
        self.options = {"top_p": serving.TOP_P}
        self.slack = _SUPPORT_SLACK[np.dtype(inputs["x"].dtype).name]
        self.strict = self._support(self.options)
        self._loose = None

    def _support(self, kw):
        ref = _reference_sampling()
        t, k = self.inputs["temperature"], self.inputs["top_k"]
        return np.stack([ref.serving_distribution(row, float(t[r]), int(k[r]), **kw) > 0
                         for r, row in enumerate(self.rows)])


def _serving_tokens(result):
    if hasattr(result, "tokens"):
        return result.tokens
    return result[0] if isinstance(result, tuple) else result


def _softmax_c_serving(case, inputs, threads):
    from . import serving

    sc = load_softmax_c()
    if getattr(sc, "verify_draft", None) is None:
        raise NotApplicable("softmax_c has no serving sampler")
    return lambda: serving.softmax_c_serving(sc, inputs)


def _numpy_serving(case, inputs, threads):
    from . import serving

    return lambda: serving.numpy_serving(inputs, np.random.default_rng(SAMPLE_SEED))


def _torch_serving(case, inputs, threads):
    import torch

    from . import serving

    if inputs["x"].dtype != np.float32:
        raise NotApplicable("the torch serving baseline runs float32")
    return lambda: serving.torch_serving(inputs, torch.Generator().manual_seed(SAMPLE_SEED))


def _serving_check(case, impl, result, ref, inputs, call=None):
    """Tokens in the support of the processed, warped rows; reseeding repeats."""
    again = None if call is None else _serving_tokens(call())
    return check_sample(_serving_tokens(result), ref.strict, ref.loose, again)


def _verify_inputs(case, dtype, rng):
    from . import serving

    rows, k1, n = case.shape
    inp = serving.verify_inputs(rng, rows, k1 - 1, n)
    inp["x"] = inp["x"].astype(dtype)
    inp["draft_probs"] = inp["draft_probs"].astype(dtype)
    return inp


def _verify_read(inputs):
    """What every verify_draft must read: all draft probabilities (each is
    checked) and each request's first target row (the first draft token is
    always judged); the later target rows only up to a rejection, which the
    draw decides, so they are not counted."""
    return {"draft_probs": inputs["draft_probs"], "x0": np.ascontiguousarray(inputs["x"][:, 0])}


def _softmax_c_verify(case, inputs, threads):
    from . import serving

    sc = load_softmax_c()
    if getattr(sc, "verify_draft", None) is None:
        raise NotApplicable("softmax_c.verify_draft is missing")
    return lambda: serving.softmax_c_verify(sc, inputs)


def _numpy_verify(case, inputs, threads):
    from . import serving

    return lambda: serving.numpy_verify(inputs, np.random.default_rng(SAMPLE_SEED))


def _verify_check(case, impl, result, ref, inputs, call=None):
    """Well formed: 0 <= accepted <= k, the accepted prefix is the draft's,
    then one token in [0, V), then -1; reseeding repeats."""
    acc, toks = (np.asarray(a) for a in result)
    rows, k1, n = inputs["x"].shape
    if acc.shape != (rows,) or toks.shape != (rows, k1):
        return CheckResult(False, np.inf, f"shapes {acc.shape}, {toks.shape}, expected {(rows,)}, {(rows, k1)}")
    for r in range(rows):
        a = int(acc[r])
        if not (0 <= a < k1 and (toks[r, :a] == ref[r, :a]).all() and 0 <= toks[r, a] < n
                and (toks[r, a + 1:] == -1).all()):
            return CheckResult(False, np.inf, f"request {r}: accepted {a}, tokens {toks[r].tolist()}")
    if call is not None and not np.array_equal(np.asarray(call()[1]), toks):
        return CheckResult(False, np.inf, "the same seed gave different tokens on a second call")
    return CheckResult(True, 0.0)


# --------------------------------------------------------------------- ops --

@dataclass(frozen=True)
class Op:
    """Everything the benchmarks need to know about one operation.

    Parameters
    ----------
    name : str
        Operation name, as in :attr:`Case.op`.
    make_inputs : callable
        ``make_inputs(case, dtype, rng) -> dict`` of named input arrays.
    oracle : callable
        ``oracle(case, inputs) -> ndarray``, float64 expected result.
    work : callable
        ``work(case, inputs) -> int``: bytes or flops of one call.
    unit : {"bytes", "flops"}
        What ``work`` counts: memory-bound ops are compared with copy
        bandwidth, compute-bound ones with the FMA peak.
    domain : {"prob", "log", "attn", "topk", "sample"}
        Which error measure :mod:`softmax_c._bench.check` applies.
    adapters : dict
        Implementation name -> ``prepare(case, inputs, threads) -> call``.
    check : callable, optional
        ``check(case, impl, result, ref, inputs, call=None) -> CheckResult``
        for results that are not one array compared with the oracle's
        (``call`` is the prepared call, to run it again). None: compare
        ``result`` with the oracle by ``domain``.
    traffic : {"copy", "read"}
        The cheapest pass over the inputs that the op cannot beat (see
        :mod:`softmax_c._bench.limits`): a copy into an output of the same
        size, or a read (the output is negligible).
    exps : int
        exps the op must compute per element of ``x`` (0: no exp bound,
        e.g. when selection may skip elements).
    read : callable, optional
        ``read(inputs) -> dict`` of the arrays (or views) every
        implementation must read, when that is less than ``inputs``: the
        traffic bound passes over these only. None: all of ``inputs``.
    """

    name: str
    make_inputs: Callable
    oracle: Callable
    work: Callable
    unit: str
    domain: str
    adapters: Dict[str, Callable] = field(default_factory=dict)
    check: Optional[Callable] = None
    traffic: str = "read"
    exps: int = 0
    read: Optional[Callable] = None


def _row_op(name, baseline, domain, out_shape, onnx_node, reduce=False):
    """An :class:`Op` for a softmax-like reduction along ``case.axis``: one
    exp per element; it writes an output of the input's size unless it
    ``reduce``s."""
    return Op(
        name, _logits, _row_oracle(name, baseline), _row_bytes(out_shape),
        "bytes", domain,
        {
            "softmax_c": _softmax_c_row(name),
            "numpy": _numpy_row(baseline),
            "scipy": _scipy_row(name),
            "torch": _torch_row(name),
            "onnxruntime": _onnx_row(onnx_node, reduce),
        },
        traffic="read" if reduce else "copy", exps=1,
    )


def _elementwise_op(name, baseline, domain, torch_name):
    """An :class:`Op` for an elementwise function of ``x`` (expit,
    log_expit): one exp per element, an output of the input's size (so the
    limit is the lower of a warm copy of the same bytes and the exp rate)."""
    def oracle(case, inputs):
        x = inputs["x"].astype(np.float64)
        ref = reference_module()
        f = getattr(ref, name, None) if ref is not None else None
        return np.asarray(f(x) if f is not None else baseline(x), dtype=np.float64)

    def lib(case, inputs, threads):
        fn = getattr(load_softmax_c(), name, None)
        if fn is None:
            raise NotApplicable(f"softmax_c.{name} is missing")
        x = inputs["x"]
        return lambda: fn(x)

    def scipy(case, inputs, threads):
        fn, x = getattr(try_import("scipy.special"), name), inputs["x"]
        return lambda: fn(x)

    def numpy(case, inputs, threads):
        x = inputs["x"]
        return lambda: baseline(x)

    def torch(case, inputs, threads):
        import torch
        import torch.nn.functional as F

        fn = getattr(torch, torch_name, None) or getattr(F, torch_name)
        t = torch.from_numpy(inputs["x"])
        return lambda: fn(t)

    return Op(name, _logits, oracle, _row_bytes(_same_shape), "bytes", domain,
              {"softmax_c": lib, "numpy": numpy, "scipy": scipy, "torch": torch},
              traffic="copy", exps=1)


#: Operation name -> :class:`Op`. Add new operations here.
OPS: Dict[str, Op] = {
    "softmax": _row_op("softmax", numpy_softmax, "prob", _same_shape, "Softmax"),
    "log_softmax": _row_op("log_softmax", numpy_log_softmax, "log", _same_shape,
                           "LogSoftmax"),
    "logsumexp": _row_op("logsumexp", numpy_logsumexp, "log", _reduced_shape,
                         "ReduceLogSumExp", reduce=True),
    "expit": _elementwise_op("expit", numpy_expit, "prob", "sigmoid"),
    "log_expit": _elementwise_op("log_expit", numpy_log_expit, "log", "logsigmoid"),
    "attention": Op(
        "attention", _qkv, _attention_oracle, _attention_flops, "flops", "attn",
        {
            "softmax_c": _softmax_c_attention,
            "numpy": _numpy_attention,
            "torch": _torch_attention,
        },
    ),
    "attention_paged": Op(
        "attention_paged", _paged_inputs, _paged_oracle, _paged_bytes, "bytes", "attn",
        {"softmax_c": _softmax_c_paged, "torch": _torch_paged},
    ),
    "attention_varlen": Op(
        "attention_varlen", _varlen_inputs, _varlen_oracle, _varlen_flops, "flops", "attn",
        {"softmax_c": _softmax_c_varlen, "torch": _torch_varlen},
    ),
    "sample": Op(
        "sample", _peaked, _sample_oracle, _sample_bytes, "bytes", "sample",
        {
            "softmax_c": _softmax_c_sample,
            "numpy": _numpy_sample,
            "torch": _torch_sample,
        },
        check=_sample_check,
    ),
    "serving_sample": Op(
        "serving_sample", _serving_inputs, lambda case, inputs: ServingSupport(inputs), _sample_bytes, "bytes",
        "sample",
        {
            "softmax_c": _softmax_c_serving,
            "numpy": _numpy_serving,
            "torch": _torch_serving,
        },
        check=_serving_check,
    ),
    "verify_draft": Op(
        "verify_draft", _verify_inputs, lambda case, inputs: inputs["draft_tokens"],
        lambda case, inputs: sum(a.nbytes for a in _verify_read(inputs).values()), "bytes", "sample",
        {
            "softmax_c": _softmax_c_verify,
            "numpy": _numpy_verify,
        },
        check=_verify_check,
        read=_verify_read,
    ),
    "topk_softmax": Op(
        "topk_softmax", _peaked, _topk_oracle, _topk_bytes, "bytes", "topk",
        {
            "softmax_c": _softmax_c_topk,
            "numpy": _numpy_topk,
            "torch": _torch_topk,
        },
        check=_topk_check,
    ),
}
