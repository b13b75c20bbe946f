"""What each benchmarked operation is, and how every implementation runs it.

An :class:`Op` bundles, for one operation:

* ``make_inputs`` -- reproducible random inputs for a :class:`Case`;
* ``oracle`` -- the float64 result from :mod:`softmax_c.reference`;
* ``work`` -- bytes moved (memory-bound ops) or flops (attention);
* ``adapters`` -- for each implementation name, a function
  ``prepare(case, inputs, threads)`` that does the set-up (tensor views,
  ONNX sessions) and returns the zero-argument call that is timed. An
  implementation without an adapter does not apply to the operation; an
  adapter raises :class:`NotApplicable` to skip one case with a reason.

The NumPy baseline (``numpy_*``) is a straightforward float32 implementation,
the code a user would write by hand; it is timed, and checked like the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict

import numpy as np

from .cases import Case
from .impls import load_softmax_c, try_import

__all__ = [
    "Op", "OPS", "NotApplicable", "make_inputs", "oracle",
    "numpy_softmax", "numpy_log_softmax", "numpy_logsumexp", "numpy_attention",
]


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


# ------------------------------------------------------------------ inputs --

def make_inputs(case: Case, dtype, seed: int = 0) -> Dict[str, np.ndarray]:
    """Reproducible random inputs of ``case`` (see :attr:`Op.make_inputs`)."""
    return OPS[case.op].make_inputs(case, np.dtype(dtype), np.random.default_rng(seed))


def oracle(case: Case, inputs) -> np.ndarray:
    """The float64 reference result of ``case`` on ``inputs``."""
    return OPS[case.op].oracle(case, inputs)


def _logits(case, dtype, rng):
    """Standard normal logits times 3: a spread like real classifier logits."""
    x = rng.standard_normal(case.shape, dtype=dtype)
    x *= 3
    return {"x": x}


def _qkv(case, dtype, rng):
    """Standard normal query, key and value of an attention case."""
    b, h, l, s, e = case.shape
    hkv = case.kv_heads or h
    return {
        "q": rng.standard_normal((b, h, l, e), dtype=dtype),
        "k": rng.standard_normal((b, hkv, s, e), dtype=dtype),
        "v": rng.standard_normal((b, hkv, s, e), dtype=dtype),
    }


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


def _torch_row(name):
    def prepare(case, inputs, threads):
        import torch

        fn, t, dim = getattr(torch, name), torch.from_numpy(inputs["x"]), case.axis
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

    q, k, v = (torch.from_numpy(inputs[n]) for n in "qkv")
    kw = {"is_causal": case.causal}
    if case.kv_heads:
        kw["enable_gqa"] = True
    return lambda: F.scaled_dot_product_attention(q, k, v, **kw)


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
    domain : {"prob", "log", "attn"}
        Which error measure :mod:`softmax_c._bench.check` applies.
    adapters : dict
        Implementation name -> ``prepare(case, inputs, threads) -> call``.
    """

    name: str
    make_inputs: Callable
    oracle: Callable
    work: Callable
    unit: str
    domain: str
    adapters: Dict[str, Callable] = field(default_factory=dict)


def _row_op(name, baseline, domain, out_shape, onnx_node, reduce=False):
    """An :class:`Op` for a softmax-like reduction along ``case.axis``."""
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
    )


#: Operation name -> :class:`Op`. Add new operations here.
OPS: Dict[str, Op] = {
    "softmax": _row_op("softmax", numpy_softmax, "prob", _same_shape, "Softmax"),
    "log_softmax": _row_op("log_softmax", numpy_log_softmax, "log", _same_shape,
                           "LogSoftmax"),
    "logsumexp": _row_op("logsumexp", numpy_logsumexp, "log", _reduced_shape,
                         "ReduceLogSumExp", reduce=True),
    "attention": Op(
        "attention", _qkv, _attention_oracle, _attention_flops, "flops", "attn",
        {
            "softmax_c": _softmax_c_attention,
            "numpy": _numpy_attention,
            "torch": _torch_attention,
        },
    ),
}
