"""Checking a result against the float64 oracle before it is timed.

Error measures, by the operation's ``domain``:

``prob`` (softmax)
    ``|got - ref| <= rtol·|ref| + atol``. For softmax_c the bound is
    relative only, on outputs ``>= floor`` (1e-30 in float32); smaller
    outputs may be off by ``floor`` (flushed tails are fine).
``log`` (log_softmax, logsumexp)
    ``|got - ref| <= rtol·max(|ref|, 1) + atol``: values near 0 are
    compared absolutely, since ``x - lse`` cancels there.
``attn`` (attention)
    ``|got - ref| <= rtol·|ref| + atol·max|v|``: outputs are averages of
    value rows and can be near 0, so the absolute part scales with ``v``.
``topk`` (topk_softmax, :func:`check_topk`)
    The indices must pick the k largest logits in descending order (a tie
    may go either way: the logits at the returned indices must equal those
    at the oracle's), without repeats; the probabilities as ``prob``.
``sample`` (sample, :func:`check_sample`)
    Random, so not compared with one expected value: every token must lie in
    the support the float64 oracle gives after the warpers (or within
    rounding of its boundary: ``worst`` is then 0.5), and running the call
    again with the same seed must give the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .impls import LIBRARY

__all__ = ["Tolerance", "CheckResult", "tolerance_for", "check_result", "check_topk",
           "check_sample"]


@dataclass(frozen=True)
class Tolerance:
    """Bound on the error of one result (see the module docstring)."""

    rtol: float
    atol: float = 0.0
    floor: float = 0.0


# (dtype, who, domain) -> Tolerance; who is "lib" (softmax_c) or "peer".
_TOL32_PEER = Tolerance(1e-4, 1e-6)
_TOL64_PEER = Tolerance(1e-9, 1e-12)
_TOLERANCES = {
    ("float32", "lib", "prob"): Tolerance(3e-6, 0.0, 1e-30),
    ("float32", "lib", "log"): Tolerance(3e-6),
    ("float32", "lib", "attn"): Tolerance(1e-4, 1e-6),
    ("float64", "lib", "prob"): Tolerance(1e-12, 0.0, 1e-300),
    ("float64", "lib", "log"): Tolerance(1e-12),
    ("float64", "lib", "attn"): Tolerance(1e-9, 1e-12),
    # halves (issue 11): one rounding of the half dtype (tests/test_half.py
    # holds each output to 1 ULP); logsumexp is float32, on the widened input
    ("float16", "lib", "prob"): Tolerance(2.0 ** -10, 0.0, 2.0 ** -14),  # subnormals: 1 ULP = 2^-24
    ("float16", "lib", "log"): Tolerance(2.0 ** -10),
    ("bfloat16", "lib", "prob"): Tolerance(2.0 ** -7, 0.0, 1e-30),
    ("bfloat16", "lib", "log"): Tolerance(2.0 ** -7),
    # attention in half precision: 2 ULP of the output dtype at the row's
    # scale (tests/test_attention_half.py), bounded here by max|v|
    ("float16", "lib", "attn"): Tolerance(0.0, 2.0 ** -9),
    ("bfloat16", "lib", "attn"): Tolerance(0.0, 2.0 ** -6),
}
_HALF_PEER = {"float16": Tolerance(2e-3, 1e-5), "bfloat16": Tolerance(1.6e-2, 1e-4)}
# torch's half attention rounds P (and partial sums) to the half dtype: a
# few ULP of max|v| (seen: bf16 causal prefill 7e-4 max|v|, f16 4e-5)
_HALF_PEER_ATTN = {"float16": Tolerance(0.0, 2.0 ** -8), "bfloat16": Tolerance(0.0, 2.0 ** -5)}


def tolerance_for(impl: str, dtype, domain: str) -> Tolerance:
    """The :class:`Tolerance` that ``impl`` must meet for ``dtype``/``domain``."""
    dt = np.dtype(dtype).name
    if impl == LIBRARY:
        return _TOLERANCES[(dt, "lib", domain)]
    if dt in _HALF_PEER:
        return _HALF_PEER_ATTN[dt] if domain == "attn" else _HALF_PEER[dt]
    return _TOL32_PEER if dt == "float32" else _TOL64_PEER


@dataclass(frozen=True)
class CheckResult:
    """Outcome of :func:`check_result`.

    Attributes
    ----------
    ok : bool
        True when every element is within its bound.
    worst : float
        Largest ratio error / bound (<= 1 means within tolerance).
    message : str
        Empty when ok; else what went wrong and where.
    """

    ok: bool
    worst: float
    message: str = ""


def _bound(ref, tol: Tolerance, domain: str, scale: float):
    mag = np.abs(ref)
    if domain == "log":
        return tol.rtol * np.maximum(mag, 1.0) + tol.atol
    if domain == "attn":
        return tol.rtol * mag + tol.atol * scale
    bound = tol.rtol * mag + tol.atol
    if tol.floor:
        bound = np.where(mag >= tol.floor, bound, np.maximum(bound, tol.floor))
    return bound


def check_result(got, ref, tol: Tolerance, domain: str,
                 scale: Optional[float] = None) -> CheckResult:
    """Compare ``got`` with the float64 ``ref``.

    Parameters
    ----------
    got : array_like
        The result of the implementation (any array-like: ndarray, tensor).
    ref : ndarray
        The oracle's float64 result.
    tol : Tolerance
        From :func:`tolerance_for`.
    domain : {"prob", "log", "attn"}
        Error measure (see the module docstring).
    scale : float, optional
        ``max|v|`` for ``"attn"``.

    Returns
    -------
    CheckResult
    """
    if hasattr(got, "detach"):  # a torch tensor (bfloat16 has no NumPy twin)
        got = got.detach().double().numpy()
    got = np.asarray(got)
    if got.shape != ref.shape:
        return CheckResult(False, np.inf, f"shape {got.shape}, expected {ref.shape}")
    got64 = got.astype(np.float64)
    same = (got64 == ref) | (np.isnan(got64) & np.isnan(ref))  # incl. equal infinities
    err = np.where(same, 0.0, np.abs(got64 - ref))
    err = np.where(np.isnan(err), np.inf, err)
    bound = _bound(ref, tol, domain, 1.0 if scale is None else scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / bound)
    if ratio.size == 0:
        return CheckResult(True, 0.0)
    i = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    worst = float(ratio[i])
    if worst <= 1.0:
        return CheckResult(True, worst)
    bad = int(np.count_nonzero(ratio > 1.0))
    msg = (f"{bad} of {ratio.size} elements out of tolerance; worst at {tuple(map(int, i))}: "
           f"got {got64[i]!r}, expected {ref[i]!r} (error {worst:.3g}x the bound)")
    return CheckResult(False, worst, msg)


def _pair(got):
    """``(probabilities, indices)`` as ndarrays (torch returns a named tuple)."""
    p, i = got
    return np.asarray(p), np.asarray(i)


def check_topk(got, ref, x, tol: Tolerance) -> CheckResult:
    """Check a ``topk_softmax`` result against the float64 oracle.

    Parameters
    ----------
    got : (array_like, array_like)
        Probabilities and indices, ``(rows, k)``, sorted descending.
    ref : (ndarray, ndarray)
        The oracle's float64 probabilities and int64 indices.
    x : ndarray
        The logits, ``(rows, vocabulary)``.
    tol : Tolerance
        For the probabilities, as in the ``prob`` domain.

    Returns
    -------
    CheckResult
    """
    try:
        p, idx = _pair(got)
    except (TypeError, ValueError) as exc:
        return CheckResult(False, np.inf, f"expected (probabilities, indices), got {exc}")
    ref_p, ref_i = ref
    if idx.shape != ref_i.shape:
        return CheckResult(False, np.inf, f"indices shape {idx.shape}, expected {ref_i.shape}")
    if idx.dtype.kind not in "iu":
        return CheckResult(False, np.inf, f"indices of dtype {idx.dtype}, expected integers")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= x.shape[-1]):
        return CheckResult(False, np.inf, f"indices outside [0, {x.shape[-1]})")
    srt = np.sort(idx, axis=-1)
    dup = (srt[:, 1:] == srt[:, :-1]).any(axis=-1)
    if dup.any():
        return CheckResult(False, np.inf, f"row {int(np.argmax(dup))} repeats an index")
    wrong = np.take_along_axis(x, idx, -1) != np.take_along_axis(x, ref_i, -1)
    if wrong.any():
        r, j = map(int, np.argwhere(wrong)[0])
        return CheckResult(False, np.inf, (
            f"{int(wrong.sum())} of {wrong.size} indices do not pick the k largest logits in order; "
            f"first at {(r, j)}: got index {int(idx[r, j])}, expected {int(ref_i[r, j])}"))
    return check_result(p, ref_p, tol, "prob")


def check_sample(got, strict, loose, again=None) -> CheckResult:
    """Check sampled tokens against the support of the float64 oracle.

    Parameters
    ----------
    got : array_like of int, shape (rows,)
        One token per row.
    strict : ndarray of bool, shape (rows, vocabulary)
        The tokens the oracle may draw.
    loose : callable
        ``loose() -> ndarray of bool``: ``strict`` with the warper thresholds
        widened by rounding (called only when some token is outside
        ``strict``).
    again : array_like, optional
        The tokens of a second call with the same seed: must equal ``got``.

    Returns
    -------
    CheckResult
        ``worst`` is 0 when every token is in ``strict``, 0.5 when some are
        only within rounding of its boundary.
    """
    tok = np.asarray(got)
    rows, n = strict.shape
    if tok.shape != (rows,):
        return CheckResult(False, np.inf, f"shape {tok.shape}, expected {(rows,)}")
    if tok.dtype.kind not in "iu":
        return CheckResult(False, np.inf, f"tokens of dtype {tok.dtype}, expected integers")
    tok = tok.astype(np.int64)
    bad = (tok < 0) | (tok >= n)
    if bad.any():
        r = int(np.argmax(bad))
        return CheckResult(False, np.inf, f"row {r}: token {int(tok[r])} outside [0, {n})")
    ar = np.arange(rows)
    worst = 0.0
    out = ~strict[ar, tok]
    if out.any():
        out &= ~loose()[ar, tok]
        if out.any():
            r = int(np.argmax(out))
            return CheckResult(False, np.inf, (
                f"{int(out.sum())} of {rows} tokens outside the support of the warpers; "
                f"first: row {r} token {int(tok[r])} ({int(strict[r].sum())} tokens kept)"))
        worst = 0.5
    if again is not None and not np.array_equal(np.asarray(again), np.asarray(got)):
        return CheckResult(False, np.inf, "the same seed gave different tokens on a second call")
    return CheckResult(True, worst)
