"""The one list of benchmark cases, shared by the CLI and ``benchmarks/``.

To add a case, append a :class:`Case` to :data:`CASES`. To add an operation,
first describe it in
:mod:`softmax_c._bench.ops` (inputs, oracle, work measure, per-implementation
adapters), then add cases naming it here.

Tiers
-----
``default``
    Run by ``python -m softmax_c bench`` with no options (about two minutes on
    a 2-core machine).
``full``
    Added by ``--full`` (which also adds float64).
Every case also has a ``quick`` shape: tiny sizes of the same layout, used by
``--quick`` and by ``pytest benchmarks --benchmark-disable``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, Optional, Tuple

__all__ = ["Case", "CASES", "select_cases"]

ROW_OPS = ("softmax", "log_softmax", "logsumexp")


@dataclass(frozen=True)
class Case:
    """One benchmark case: an operation applied to inputs of one shape.

    Parameters
    ----------
    op : str
        Operation name, a key of :data:`softmax_c._bench.ops.OPS`.
    name : str
        Short identifier of the workload (``"llm_vocab_8"``); ``op`` and
        ``name`` together identify the case.
    shape : tuple of int
        Input shape. Row operations: the array shape. Attention:
        ``(B, H, L, S, E)`` = batch, query heads, query length, key length,
        head dimension.
    quick_shape : tuple of int
        A tiny shape of the same layout, for smoke runs.
    axis : int, optional
        Reduction axis of row operations (always explicit: ``axis=None``
        would reduce the whole array, as in scipy).
    causal : bool, optional
        Attention: ``is_causal`` (upper-left aligned, as torch).
    kv_heads : int, optional
        Attention: number of key/value heads (grouped-query attention) when
        it differs from ``H``.
    tiers : tuple of str, optional
        Which runs include the case (``"default"``, ``"full"``).
    note : str, optional
        What the case stands for, printed in the table title.
    options : tuple of (str, value) pairs, optional
        Keyword arguments of the operation itself (sampling:
        ``temperature``, ``top_p``, ``k`` ...), as a hashable tuple; read
        them with :attr:`kwargs`.
    """

    op: str
    name: str
    shape: Tuple[int, ...]
    quick_shape: Tuple[int, ...]
    axis: int = -1
    causal: bool = False
    kv_heads: Optional[int] = None
    tiers: Tuple[str, ...] = ("default", "full")
    note: str = ""
    options: Tuple[Tuple[str, Any], ...] = ()
    quick: bool = field(default=False, compare=False)

    @property
    def kwargs(self) -> Dict[str, Any]:
        """The operation's options as a dict (``{"k": 5}``)."""
        return dict(self.options)

    @property
    def id(self) -> str:
        """Identifier used in tables, JSON and pytest ids (``op:name``)."""
        return f"{self.op}:{self.name}" + (":quick" if self.quick else "")

    def shrunk(self) -> "Case":
        """Return the same case with its tiny ``quick_shape``."""
        return replace(self, shape=self.quick_shape, quick=True)


def _row_cases(name, shape, quick_shape, axis=-1, tiers=("default", "full"), note=""):
    """One :class:`Case` per row operation (softmax, log_softmax, logsumexp)."""
    return [
        Case(op, name, shape, quick_shape, axis=axis, tiers=tiers, note=note)
        for op in ROW_OPS
    ]


def _attention(name, shape, quick_shape, tiers=("default", "full"), **kw):
    """An attention :class:`Case`; ``shape`` is ``(B, H, L, S, E)``."""
    return Case("attention", name, shape, quick_shape, tiers=tiers, **kw)


def _sampling(op, name, shape, quick_shape, tiers=("default", "full"), note="", **options):
    """A sampling-family :class:`Case`; ``options`` are the op's keywords."""
    return Case(op, name, shape, quick_shape, tiers=tiers, note=note,
                options=tuple(options.items()))


_FULL = ("full",)

#: Every benchmark case, in table order.
CASES = [
    *_row_cases("classifier_1", (1, 1000), (1, 37), note="classifier head, one sample"),
    *_row_cases("classifier_128", (128, 1000), (5, 37), note="classifier head, batch 128"),
    *_row_cases("llm_vocab_32", (32, 32000), (3, 257), note="LLM logits, 32k vocab"),
    *_row_cases("llm_vocab_8", (8, 128256), (2, 1031), note="LLM logits, 128k vocab"),
    *_row_cases("attn_scores", (1024, 2048), (33, 65), note="attention score rows"),
    *_row_cases("out_of_cache", (4096, 4096), (17, 129), note="64 MiB float32, beyond L3"),
    *_row_cases("axis0", (4096, 1024), (67, 19), axis=0,
                note="axis=0 of a C-contiguous array"),
    *_row_cases("gpt2_vocab_1", (1, 50257), (1, 509), tiers=_FULL, note="GPT-2 vocab"),
    *_row_cases("qwen_vocab_4", (4, 151936), (2, 1543), tiers=_FULL, note="Qwen vocab"),
    *_row_cases("long_row", (1, 1 << 20), (1, 4099), tiers=_FULL, note="one 2^20 row"),
    *_row_cases("middle_axis", (64, 512, 64), (3, 17, 5), axis=1, tiers=_FULL,
                note="axis=1 of a 3-D array"),
    Case("expit", "llm_vocab_32", (32, 32000), (3, 257), note="sigmoid heads, elementwise"),
    Case("log_expit", "llm_vocab_32", (32, 32000), (3, 257), note="log-sigmoid, elementwise"),
    _attention("prefill", (1, 8, 1024, 1024, 64), (1, 2, 33, 33, 16),
               note="prefill, full"),
    _attention("prefill_causal", (1, 8, 1024, 1024, 64), (1, 2, 33, 33, 16),
               causal=True, note="prefill, causal"),
    _attention("decode", (1, 32, 1, 4096, 128), (1, 4, 1, 129, 32),
               note="decode, one query row"),
    _attention("prefill_gqa", (1, 32, 512, 512, 128), (1, 4, 17, 17, 32),
               causal=True, kv_heads=8, tiers=_FULL, note="GQA 32/8 heads, causal"),
    _attention("decode_long", (1, 32, 1, 32768, 128), (1, 4, 1, 1027, 32),
               tiers=_FULL, note="decode, 32k context"),
    _attention("batch_short", (16, 12, 128, 128, 64), (2, 3, 9, 9, 16),
               tiers=_FULL, note="BERT-base, batch 16"),
    # serving attention (issue 12): shape (n_seq, Hq, H, max_len, E); the
    # issue's sizes in --full (1.1 GB of KV: the float64 oracle alone takes
    # seconds), smaller ones by default
    Case("attention_paged", "decode_16", (16, 32, 8, 1024, 128), (5, 4, 2, 70, 16),
         note="paged decode, 16 sequences of 128..1024, block 16",
         options=(("block_size", 16), ("min_len", 128))),
    Case("attention_varlen", "prefill_4", (4, 8, 8, 512, 64), (3, 2, 1, 40, 16),
         note="varlen causal prefill, 4 sequences of 128..512", options=(("min_len", 128),)),
    Case("attention_paged", "decode_64", (64, 32, 8, 4096, 128), (5, 4, 2, 70, 16), tiers=_FULL,
         note="paged decode, 64 sequences of 128..4096, block 16",
         options=(("block_size", 16), ("min_len", 128))),
    Case("attention_varlen", "prefill_8", (8, 8, 8, 2048, 64), (3, 2, 1, 40, 16), tiers=_FULL,
         note="varlen causal prefill, 8 sequences of 128..2048", options=(("min_len", 128),)),
    _sampling("sample", "llm_vocab_32", (32, 128256), (3, 1031),
              note="peaked LM logits, 128k vocab", temperature=0.7, top_p=0.9),
    _sampling("topk_softmax", "llm_vocab_32", (32, 128256), (3, 1031),
              note="peaked LM logits, 128k vocab", k=5),
    _sampling("serving_sample", "serving_64", (64, 128256), (3, 1031),
              note="issue 13: per-row T, top-k 50 on half, top-p 0.9, penalties over 256, bias 16, logprobs 5"),
    _sampling("verify_draft", "spec_64_k4", (64, 5, 128256), (3, 3, 1031),
              note="issue 13: speculative-decoding verification, k = 4, draft probs"),
]


def select_cases(tier: str = "default", ops=None) -> list:
    """Return the cases of one run.

    Parameters
    ----------
    tier : {"default", "full", "quick"}
        ``"quick"`` gives the default cases with their tiny shapes.
    ops : iterable of str, optional
        Keep only these operations (all when None).

    Returns
    -------
    list of Case
    """
    if tier not in ("default", "full", "quick"):
        raise ValueError(f"tier must be 'default', 'full' or 'quick', got {tier!r}")
    wanted = "default" if tier == "quick" else tier
    cases = [c for c in CASES if wanted in c.tiers]
    if ops is not None:
        ops = set(ops)
        cases = [c for c in cases if c.op in ops]
    if tier == "quick":
        cases = [c.shrunk() for c in cases]
    return cases
