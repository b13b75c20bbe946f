"""The Python front of the sampling family: :func:`sample`,
:func:`topk_softmax`, :func:`fit_temperature`,
:func:`expected_calibration_error`.

Argument rules and dtype policy are the shared ones (``_rules.py``): every
argument is validated before any kernel runs; float32 and float64 run in their
own precision, float16 in float32, bool/int/list input as float64; complex
input raises TypeError.  The kernels (``cpp/src/sampling/driver.cpp``) see a 2-D
(rows, vocabulary) view and run rows in parallel; results do not depend on the
thread count.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from . import _core
from . import _rules as R

__all__ = ["SampleResult", "VerifyResult", "sample", "verify_draft", "topk_softmax", "fit_temperature", "expected_calibration_error"]


# ----------------------------------------------------------------- helpers --

_PLAIN = (type(None), int, float)


def _scalar_param(v):
    """True for a parameter the one-for-all-rows path takes: None, a Python
    or NumPy scalar (not an array, not a 0-d array, not a list)."""
    return type(v) in _PLAIN or not (np.ndim(v) or isinstance(v, np.ndarray))


def _generator(seed):
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None, an int or a numpy.random.Generator, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def _invalid_row(bad, batch, what):
    r = int(np.flatnonzero(bad)[0])
    where = np.unravel_index(r, batch) if batch else ()
    raise ValueError(
        f"{what}: logits row {tuple(int(i) for i in where)} has a NaN or +inf entry, or no finite entry "
        "(it defines no probability distribution)")


# ------------------------------------------------------------------ sample --

def sample(logits, *, temperature=1.0, top_k=None, top_p=None, min_p=None, axis=-1, seed=None,
           offset=None, prev_tokens=None, repetition_penalty=None, presence_penalty=None,
           frequency_penalty=None, logit_bias=None, allowed_tokens=None, logprobs=None,
           logprobs_mode="raw", out=None):
    """Draw one token per row from ``softmax(logits / temperature)`` after the
    top-k, top-p and min-p warpers, in one fused pass per row.

    The warpers act in the order of Hugging Face transformers' logits
    warpers: temperature, then top-k, then top-p, then min-p, each on the
    distribution the previous ones left (renormalised).  Every one of them
    keeps a prefix of the tokens ordered by probability descending, ties by
    index ascending:

    * ``top_k``: the first `top_k` tokens of that order (transformers keeps
      every token tied with the k-th value; here ties go to the lower index,
      as in :func:`topk_softmax`).  ``top_k >= vocabulary`` changes nothing.
    * ``top_p``: the smallest set of most likely tokens whose cumulative
      probability is >= `top_p` (at least one token).  ``top_p = 1`` changes
      nothing.
    * ``min_p``: the tokens with ``p >= min_p * p_max`` (p_max, the largest
      probability, is always kept).  ``min_p = 0`` changes nothing.

    The kept tokens are drawn by the inverse CDF: with the row's uniform u in
    [0, 1), the first kept index (in index order) whose running probability
    exceeds u.  No sort of the row and no probability row is formed: a
    max/sum pass and a cumulative pass that stops at the draw; with warpers,
    only the candidates above a threshold are selected and ranked.

    Parameters
    ----------
    logits : array_like
        Unnormalised log-probabilities; dtype rules as :func:`softmax`.
    temperature : float, optional
        T >= 0, finite.  0 means greedy: the argmax, ties to the lowest index
        (the warpers then change nothing, and a temperature below 1/max of
        the dtype acts as 0).
    top_k : int, optional
        >= 1.
    top_p : float, optional
        In (0, 1].
    min_p : float, optional
        In [0, 1].
    axis : int, optional
        The vocabulary axis (default last).
    seed : None, int or numpy.random.Generator, optional
        Source of the uniforms: one float64 per row, ``rng.random(rows)``,
        drawn on every call (greedy too), with ``rng = seed`` for a
        Generator and ``numpy.random.default_rng(seed)`` for an int.  The same
        seed and input give the same tokens for any thread count.  Kernel
        targets (ISAs) may differ in the last bits of exp, so across targets a
        draw within rounding of a CDF step or warper boundary can differ.
    offset : int or array of int, optional
        With integer seeds: each row's step.  An integer array `seed` (one
        per row, shape `rows` = `logits`' shape without `axis`) or any
        `offset` switches to the counter-based generator
        :func:`softmax_c.sampling.counter_uniforms` (SplitMix64 keyed by
        (seed[r], offset[r])): row r's token is then a pure function of its
        seed, offset, logits and parameters, whatever else is in the batch.
    prev_tokens : array of int, shape (rows..., n) or (n,), optional
        Each row's history, padded with -1, for the penalties; a 1-D
        history is every row's.
    repetition_penalty : float or array, optional
        > 0 (1 = off).  CTRL / Hugging Face rule: for every DISTINCT token
        of the history a positive logit is divided by it, a negative one
        multiplied.
    presence_penalty, frequency_penalty : float or array, optional
        OpenAI / vLLM rule: ``logit -= presence * [count > 0] + frequency *
        count`` for every history token.
    logit_bias : dict or (ids, biases), optional
        ``{token: bias}`` for every row, or a pair of ``(rows..., nb)``
        arrays, ids padded with -1 (repeated ids add).  Finite biases.
    allowed_tokens : bool array, (V,) or (rows..., V), optional
        Tokens outside it are excluded (logit -inf).
    logprobs : int, optional
        n >= 0: also return the sampled token's log-probability and the
        top-n ids with theirs (a :class:`SampleResult`).
    logprobs_mode : {"raw", "processed"}
        "raw": log_softmax of the input logits (vLLM's default);
        "processed": of the logits after mask, bias, penalties and
        temperature (1 for greedy rows), before top-k/top-p/min-p.
    out : ndarray of int64, optional
        Where to write the tokens: `logits`' shape without `axis`, writeable,
        any strides.  Checked before the uniforms are drawn; written only
        when every row is valid; returned (a 0-d `out` stays an array).

    `temperature`, `top_k`, `top_p`, `min_p` and the penalties may also be
    arrays of shape `rows` (one value per row).  In arrays, temperature 0
    is greedy for that row, and ``top_k <= 0``, ``top_p == 1``,
    ``min_p == 0`` are off.  The order of the processors (tested): allowed
    mask -> logit bias -> repetition penalty -> presence / frequency ->
    temperature -> top-k -> top-p -> min-p -> draw.  The processors are
    sparse edits of one scratch copy of the row in the kernel
    (``sc_sample_batch``); calls without any of the new arguments keep
    the old path and results.

    Returns
    -------
    numpy.int64 or ndarray of int64
        The sampled index per row: `logits`' shape without `axis`.
    SampleResult
        With `logprobs`: ``(tokens, logprob, top_ids, top_logprobs)``,
        shapes rows, rows, rows + (n,), (rows + (n,)); log-probabilities in
        float64.

    Raises
    ------
    ValueError
        A bad argument value (for per-row arrays the message names the
        row), an empty vocabulary, or a row that defines no distribution:
        one holding a NaN or +inf, or with every entry -inf, or whose
        processors exclude every token (the message names the first such
        row).
    TypeError
        Complex or non-numeric logits, an argument of the wrong type.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> int(softmax_c.sample(np.array([0.0, 5.0, 1.0]), temperature=0))
    1
    >>> softmax_c.sample(np.log([[0.7, 0.2, 0.1]]), top_k=1, seed=0)
    array([0])
    """
    if (offset is not None or prev_tokens is not None or repetition_penalty is not None
            or presence_penalty is not None or frequency_penalty is not None or logit_bias is not None
            or allowed_tokens is not None or logprobs is not None or logprobs_mode != "raw"
            or not all(_scalar_param(v) for v in (temperature, top_k, top_p, min_p, seed))):
        return _sample_serving(logits, temperature, top_k, top_p, min_p, axis, seed, out,
                               logprobs_mode=logprobs_mode, offset=offset, prev_tokens=prev_tokens,
                               repetition_penalty=repetition_penalty, presence_penalty=presence_penalty,
                               frequency_penalty=frequency_penalty, logit_bias=logit_bias,
                               allowed_tokens=allowed_tokens, logprobs=logprobs)
    t = R.in_range(temperature, "temperature", 0, math.inf)
    k = 0 if top_k is None else R.integer(top_k, "top_k", lo=1)
    p = 1.0 if top_p is None else R.in_range(top_p, "top_p", 0, 1, lo_open=True)
    mp = 0.0 if min_p is None else R.in_range(min_p, "min_p", 0, 1)
    x2, batch, _, _ = R.rows(logits, axis, "logits", half=True)
    if out is not None:
        R.check_out(out, batch, R.I64)
    rng = _generator(seed)
    rows = x2.shape[0]
    u = np.ascontiguousarray(rng.random(rows), dtype=np.float64)
    tokens = _core.output_empty(rows, np.int64)
    if k >= x2.shape[1]:
        k = 0
    R.call_kernel(_core.sample_rows, x2, u, t, k, p, mp, tokens, writes=(6,))
    bad = tokens < 0
    if bad.any():
        _invalid_row(bad, batch, "sample")
    if out is not None:
        out[...] = tokens.reshape(batch)
        return out
    return tokens.reshape(batch)[()]


# ---------------------------------------------------------- serving sampler --

class SampleResult(NamedTuple):
    """:func:`sample` with ``logprobs=n``: the tokens, the sampled tokens'
    log-probabilities, and the top-n ids with their log-probabilities."""
    tokens: np.ndarray
    logprob: np.ndarray
    top_ids: np.ndarray
    top_logprobs: np.ndarray


_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z):
    """SplitMix64's output function (Steele, Lea, Flood 2014), on uint64."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def counter_uniforms(seed, offset):
    """The per-row uniforms of array seeds: SplitMix64 keyed by (seed,
    offset).  Row r's stream starts at state ``mix64(seed[r] + gamma)``; its
    uniform is output number ``offset[r]`` of that stream,
    ``mix64(state + (offset[r] + 1) * gamma)``, top 53 bits / 2**53 (uint64
    arithmetic mod 2**64, gamma = 0x9E3779B97F4A7C15).  A pure function of
    (seed[r], offset[r]): no state, no dependence on the batch."""
    return _unit(_counter_output(seed, offset))


def _counter_output(seed, offset):
    """Output number offset[r] of row r's SplitMix64 stream (uint64)."""
    s = np.asarray(seed, dtype=np.uint64)
    o = np.asarray(offset, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _mix64(_mix64(s + _GAMMA) + (o + np.uint64(1)) * _GAMMA)


def _unit(z):
    """uint64 -> float64 uniform in [0, 1): the top 53 bits / 2**53."""
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def _param(v, name, batch, rows, default, scalar_rule, array_ok, what, integral=False):
    """A per-row parameter as a contiguous (rows,) array: `default` for
    None, a scalar checked by `scalar_rule`, or an array of shape `batch`
    whose entries satisfy `array_ok` (else ValueError naming the row)."""
    if v is None:
        return np.full(rows, default, dtype=np.int64 if integral else np.float64)
    a = R.per_row(v, name, batch, integral=integral)
    if a is None:
        return np.full(rows, scalar_rule(v), dtype=np.int64 if integral else np.float64)
    bad = ~array_ok(a)
    if bad.any():
        R.bad_row(name, batch, bad, f"must be {what}, got {a[np.flatnonzero(bad)[0]]}")
    return a


def _token_rows(v, name, batch, n, last, shared=False):
    """An integer (batch..., m) array of token ids in [0, n) padded with -1,
    as contiguous int64 (rows, m).  With `shared`, a 1-D (m,) array is every
    row's (copied per row: the kernel reads one history per row)."""
    a = R.as_array(v, name)
    if a.dtype.kind not in "iu" or a.dtype == np.bool_:
        raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")
    if shared and a.ndim == 1 and len(batch) > 0:
        a = np.broadcast_to(a, tuple(batch) + a.shape)
    if a.ndim != len(batch) + 1 or a.shape[:-1] != tuple(batch):
        raise ValueError(f"{name} has shape {a.shape}, expected {tuple(batch)} + ({last},)")
    a = np.ascontiguousarray(a.reshape(-1, a.shape[-1]), dtype=np.int64)
    bad = ((a < -1) | (a >= n)).any(axis=1)
    if bad.any():
        R.bad_row(name, batch, bad, f"has a token outside [0, {n}) (padding is -1)")
    return a


def _logit_bias(v, batch, n):
    """(ids, biases, row stride) for sc_sample_batch."""
    if isinstance(v, dict):
        ids = np.empty(len(v), dtype=np.int64)
        b = np.empty(len(v), dtype=np.float64)
        for j, (t, bb) in enumerate(v.items()):
            t = R.integer(t, "logit_bias token")
            if not 0 <= t < n:
                raise ValueError(f"logit_bias: token {t} outside [0, {n})")
            ids[j], b[j] = t, R.in_range(bb, f"logit_bias[{t}]", -math.inf, math.inf)
        return ids.reshape(1, -1), b.reshape(1, -1), 0
    if not isinstance(v, tuple) or len(v) != 2:
        raise TypeError(f"logit_bias must be a dict {{token: bias}} or a pair (ids, biases), got {type(v).__name__}")
    ids = _token_rows(v[0], "logit_bias ids", batch, n, "nb")
    b = R.as_array(v[1], "logit_bias biases")
    if b.dtype.kind not in "iuf" or b.dtype == np.bool_:
        raise TypeError(f"logit_bias biases must be a real array, got dtype {b.dtype}")
    if b.shape != tuple(batch) + (ids.shape[1],):
        raise ValueError(f"logit_bias biases have shape {b.shape}, expected {tuple(batch) + (ids.shape[1],)}")
    b = np.ascontiguousarray(b.reshape(ids.shape), dtype=np.float64)
    bad = ~np.isfinite(b).all(axis=1)
    if bad.any():
        R.bad_row("logit_bias biases", batch, bad, "has a non-finite bias")
    return ids, b, ids.shape[1]


def _allowed(v, batch, n):
    a = R.as_array(v, "allowed_tokens")
    if a.dtype != np.bool_:
        raise TypeError(f"allowed_tokens must be a bool array, got dtype {a.dtype}")
    if a.shape == (n,):
        return np.ascontiguousarray(a.view(np.uint8)).reshape(1, n), 0
    if a.shape != tuple(batch) + (n,):
        raise ValueError(f"allowed_tokens has shape {a.shape}, expected ({n},) or {tuple(batch) + (n,)}")
    return np.ascontiguousarray(a.reshape(-1, n)).view(np.uint8), n


def _warpers(temperature, top_k, top_p, min_p, batch, rows):
    """(temperature, top_k, top_p, min_p) as checked per-row arrays."""
    t = _param(temperature, "temperature", batch, rows, 1.0, lambda v: R.in_range(v, "temperature", 0, math.inf),
               lambda a: np.isfinite(a) & (a >= 0), "finite and >= 0")
    k = _param(top_k, "top_k", batch, rows, 0, lambda v: R.integer(v, "top_k", lo=1), lambda a: a == a,
               "an integer", integral=True)
    p = _param(top_p, "top_p", batch, rows, 1.0, lambda v: R.in_range(v, "top_p", 0, 1, lo_open=True),
               lambda a: (a > 0) & (a <= 1), "in (0, 1]")
    mp = _param(min_p, "min_p", batch, rows, 0.0, lambda v: R.in_range(v, "min_p", 0, 1),
                lambda a: (a >= 0) & (a <= 1), "in [0, 1]")
    return t, k, p, mp


def _uniforms(seed, offset, batch, rows, m=None):
    """The rows' uniforms: (rows,), or (rows, m) with `m` (verify_draft)."""
    if np.ndim(seed) == 0 and not isinstance(seed, np.ndarray) and offset is None:
        return np.ascontiguousarray(_generator(seed).random(rows if m is None else (rows, m)), dtype=np.float64)
    if seed is None or isinstance(seed, np.random.Generator):
        raise TypeError("offset needs integer seeds (an int or an array of one per row)")
    s = _param(seed, "seed", batch, rows, 0, lambda v: R.integer(v, "seed", lo=0), lambda a: a >= 0, ">= 0",
               integral=True)
    o = _param(offset, "offset", batch, rows, 0, lambda v: R.integer(v, "offset", lo=0), lambda a: a >= 0,
               ">= 0", integral=True)
    return counter_uniforms(s, o) if m is None else counter_uniform_block(s, o, m)


def _sample_serving(logits, temperature, top_k, top_p, min_p, axis, seed, out, *, offset, prev_tokens,
                    repetition_penalty, presence_penalty, frequency_penalty, logit_bias, allowed_tokens,
                    logprobs, logprobs_mode):
    """:func:`sample` with per-row parameters, processors or logprobs."""
    x2, batch, _, _ = R.rows(logits, axis, "logits")
    rows, n = x2.shape
    fin = np.isfinite
    t, k, p, mp = _warpers(temperature, top_k, top_p, min_p, batch, rows)
    rep = _param(repetition_penalty, "repetition_penalty", batch, rows, 1.0,
                 lambda v: R.in_range(v, "repetition_penalty", 0, math.inf, lo_open=True),
                 lambda a: fin(a) & (a > 0), "finite and > 0")
    pres = _param(presence_penalty, "presence_penalty", batch, rows, 0.0,
                  lambda v: R.in_range(v, "presence_penalty", -math.inf, math.inf), fin, "finite")
    freq = _param(frequency_penalty, "frequency_penalty", batch, rows, 0.0,
                  lambda v: R.in_range(v, "frequency_penalty", -math.inf, math.inf), fin, "finite")
    hist = None if prev_tokens is None else _token_rows(prev_tokens, "prev_tokens", batch, n, "n", shared=True)
    if hist is not None and hist.shape[1] == 0:
        hist = None
    ids = bias = None
    bstride = 0
    if logit_bias is not None:
        ids, bias, bstride = _logit_bias(logit_bias, batch, n)
        if ids.shape[1] == 0:
            ids = bias = None
    allowed, astride = (None, 0) if allowed_tokens is None else _allowed(allowed_tokens, batch, n)
    L = None if logprobs is None else R.integer(logprobs, "logprobs", lo=0)
    if L is not None and L > n:
        raise ValueError(f"logprobs must be <= {n} (the vocabulary), got {L}")
    if logprobs_mode not in ("raw", "processed"):
        raise ValueError(f"logprobs_mode must be 'raw' or 'processed', got {logprobs_mode!r}")
    if out is not None:
        R.check_out(out, batch, R.I64)
    u = _uniforms(seed, offset, batch, rows)
    tokens = np.empty(rows, dtype=np.int64)
    lp = tid = tlp = None
    if L is not None:
        lp = np.empty(rows)
        tid = np.empty((rows, L), dtype=np.int64)
        tlp = np.empty((rows, L))
    R.call_kernel(_core.sample_batch_rows, x2, u, t, k, p, mp, allowed, astride, ids, bias, bstride, hist,
                  rep, pres, freq, 0 if L is None else L, int(logprobs_mode == "raw"), lp, tid, tlp, tokens,
                  writes=(17, 18, 19, 20))
    bad = tokens < 0
    if bad.any():
        xb = x2[bad]
        if (np.isnan(xb).any(axis=1) | ~np.isfinite(xb.max(axis=1))).any():
            _invalid_row(bad & (np.isnan(x2).any(axis=1) | ~np.isfinite(x2.max(axis=1))), batch, "sample")
        R.bad_row("sample", batch, bad, "has no finite logit left after the allowed-token mask, logit bias and "
                  "penalties (every token excluded)")
    if out is not None:
        out[...] = tokens.reshape(batch)
        tok = out
    else:
        tok = tokens.reshape(batch)[()]
    if L is None:
        return tok
    return SampleResult(tok, lp.reshape(batch)[()], tid.reshape(batch + (L,)), tlp.reshape(batch + (L,)))


# ------------------------------------------------------------ verify_draft --

class VerifyResult(NamedTuple):
    """:func:`verify_draft`'s result: per request the number of accepted
    draft tokens, and the emitted tokens (the accepted prefix, then the
    correction or bonus token, then -1 padding)."""
    num_accepted: np.ndarray
    tokens: np.ndarray


def counter_uniform_block(seed, offset, m):
    """``m`` uniforms per row from (seed, offset), as :func:`counter_uniforms`
    but a block: with z = the 64-bit output :func:`counter_uniforms` takes its
    uniform from, uniform j of the row is ``mix64(z + (j + 1) * gamma)``, top
    53 bits / 2**53.  Shape (rows, m); a pure function of (seed[r], offset[r])."""
    z = _counter_output(seed, offset)[:, None]
    j = np.arange(1, m + 1, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        w = _mix64(z + j * _GAMMA)
    return np.ascontiguousarray(_unit(w))


def verify_draft(target_logits, draft_tokens, draft_probs=None, *, temperature=1.0, top_k=None, top_p=None,
                 min_p=None, seed=None, offset=None):
    """Speculative-decoding verification: accept a prefix of each request's
    draft tokens and emit one more token, so that the emitted tokens follow
    the target model's distribution exactly (Leviathan et al. 2023, "Fast
    Inference from Transformers via Speculative Decoding"; Chen et al. 2023;
    FlashInfer's ``chain_speculative_sampling``, vLLM's rejection sampler).

    For request r and position j = 0, 1, ..., with p_j the target
    distribution (``target_logits[r, j]`` after temperature, top-k, top-p and
    min-p exactly as :func:`sample`) and q_j the draft's:

    * accept ``draft_tokens[r, j] = d`` with probability min(1, p_j(d) / q_j(d));
    * at the first rejection emit a token drawn from
      ``norm(max(0, p_j - q_j))`` and stop;
    * when all k are accepted emit a bonus token drawn from p_k (the same
      token as :func:`sample` on ``target_logits[r, k]`` with that uniform).

    With ``draft_probs=None`` the draft is deterministic (n-gram, greedy): q_j
    is one-hot at d, so d is accepted with probability p_j(d) and the
    correction is drawn from p_j with d removed.  One kernel call for every
    request (``sc_verify_draft``); requests run in parallel and no
    probability row is formed: p_j(d) and the residual live on the warpers'
    candidates.

    Parameters
    ----------
    target_logits : array_like, shape (rows, k + 1, V)
        The target model's logits at the k draft positions and the one after;
        dtype rules as :func:`sample` (float16 / bfloat16 in float32).
    draft_tokens : array_like of int, shape (rows, k)
        The draft tokens, in [0, V).
    draft_probs : array_like, shape (rows, k, V), optional
        The draft model's distributions (finite, >= 0, each row summing to 1
        within 1e-3), computed in the logits' kernel dtype (float32 for
        float16 / bfloat16 logits).  None: a
        deterministic draft.
    temperature, top_k, top_p, min_p : scalar or array of shape (rows,)
        The target distribution's warpers, as :func:`sample` (temperature 0
        is greedy: p_j is one-hot at the argmax).
    seed : None, int, numpy.random.Generator or int array (rows,)
        The uniforms, k + 1 per request: k acceptance tests and one draw.
        An int, None or Generator: ``rng.random((rows, k + 1))``.  An integer
        array (or any `offset`): :func:`counter_uniform_block` keyed by
        (seed[r], offset[r]) (SplitMix64), so request r's result is a pure
        function of its own seed, offset, inputs and parameters, whatever
        else is in the batch and for any thread count.
    offset : int or int array (rows,), optional
        Each request's step, with integer seeds.

    Returns
    -------
    VerifyResult
        ``(num_accepted, tokens)``: int64 of shapes (rows,) and (rows, k + 1);
        ``tokens[r, :num_accepted[r] + 1]`` are the tokens to emit, the rest
        is -1.

    Raises
    ------
    ValueError
        Shapes that do not match, a draft token outside [0, V), a draft row
        negative, non-finite or not summing to 1 (the message names (r, j)),
        bad parameter values (naming the row), or a target row with a NaN or
        +inf or no finite entry (naming the request).
    TypeError
        Non-numeric logits or probabilities, non-integer draft tokens.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> logits = np.array([[[0.0, 0.0, -np.inf], [0.0, 1.0, 2.0]]])  # 1 request, k = 1, V = 3
    >>> r = softmax_c.verify_draft(logits, [[2]], seed=0)  # p_0(2) = 0: rejected, corrected
    >>> int(r.num_accepted[0]), int(r.tokens[0, 0]) in (0, 1), int(r.tokens[0, 1])
    (0, True, -1)
    """
    x = R.as_array(target_logits, "target_logits")
    if x.ndim != 3:
        raise ValueError(f"target_logits must have shape (rows, k + 1, V), got shape {x.shape}")
    rows, k1, n = x.shape
    if k1 < 1:
        raise ValueError(f"target_logits: the second axis (k + 1) must be >= 1, got shape {x.shape}")
    kd = k1 - 1
    x2, _, _, _ = R.rows(x, -1, "target_logits", half=True)
    d = R.as_array(draft_tokens, "draft_tokens")
    if d.dtype.kind not in "iu" or d.dtype == np.bool_:
        raise TypeError(f"draft_tokens must be an integer array, got dtype {d.dtype}")
    if d.shape != (rows, kd):
        raise ValueError(f"draft_tokens has shape {d.shape}, expected {(rows, kd)} (rows, k) "
                         f"for target_logits of shape {x.shape}")
    d = np.ascontiguousarray(d, dtype=np.int64)
    bad = ((d < 0) | (d >= n)).any(axis=1)
    if bad.any():
        R.bad_row("draft_tokens", (rows,), bad, f"has a token outside [0, {n})")
    q = None
    if draft_probs is not None:
        q = R.as_array(draft_probs, "draft_probs")
        if (q.dtype.kind not in "iuf" or q.dtype == np.bool_) and not R.is_bfloat16(q.dtype):
            raise TypeError(f"draft_probs must be a real array, got dtype {q.dtype}")
        if q.shape != (rows, kd, n):
            raise ValueError(f"draft_probs has shape {q.shape}, expected {(rows, kd, n)} (rows, k, V)")
        q = np.ascontiguousarray(q, dtype=R.F32 if R.is_half(x2.dtype) else x2.dtype)
    batch = (rows,)
    t, tk, tp, mp = _warpers(temperature, top_k, top_p, min_p, batch, rows)
    u = _uniforms(seed, offset, batch, rows, k1)
    acc = np.empty(rows, dtype=np.int64)
    toks = np.empty((rows, k1), dtype=np.int64)
    R.call_kernel(_core.verify_draft_rows, x2, kd, u, t, tk, tp, mp, d, q, acc, toks, writes=(9, 10))
    bad = acc < 0
    if bad.any():
        R.bad_row("verify_draft", batch, bad, "of target_logits has a NaN or +inf entry, or no finite entry, at a "
                  "position it reached (it defines no probability distribution)")
    return VerifyResult(acc, toks)


# ------------------------------------------------------------ topk_softmax --

def topk_softmax(logits, top_k, *, axis=-1, temperature=1.0, out=None):
    """The `top_k` most likely entries of ``softmax(logits / temperature)``
    along `axis`, without forming the softmax or sorting the row.

    Parameters
    ----------
    logits : array_like
        dtype rules as :func:`softmax`.
    top_k : int
        1 <= top_k <= the length of `axis` (named as :func:`sample`'s
        ``top_k``).
    axis : int, optional
        The vocabulary axis (default last).
    temperature : float, optional
        T > 0, finite.
    out : tuple of two ndarrays, optional
        ``(probabilities, indices)``: where to write the results, shapes as
        returned, dtypes the result dtype and int64, writeable, any strides.
        Checked before the kernel runs; written only when every row is
        valid; returned.

    Returns
    -------
    probabilities : ndarray
        The result dtype of :func:`softmax`; normalised over the FULL row
        (they sum to < 1 unless top_k covers the mass); shape of `logits`
        with `axis` replaced by top_k.  Sorted descending.
    indices : ndarray of int64
        Same shape: their positions along `axis`; ties go to the lower index
        first.

    Raises
    ------
    ValueError
        Bad top_k or temperature, empty vocabulary, or a row holding a NaN or
        +inf or with every entry -inf (its softmax is NaN; the message names
        the row), `out` of the wrong shape or read-only.
    TypeError
        Complex or non-numeric logits, non-int top_k, `out` not a pair of
        arrays of the right dtypes.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> p, i = softmax_c.topk_softmax(np.log([0.1, 0.6, 0.3]), 2)
    >>> i
    array([1, 2])
    >>> np.round(p, 6)
    array([0.6, 0.3])
    """
    k = R.integer(top_k, "top_k")
    t = R.positive_finite(temperature, "temperature")
    x2, batch, ax, rdt = R.rows(logits, axis, "logits", half=True)
    n = x2.shape[1]
    if not (1 <= k <= n):
        raise ValueError(f"top_k must be in [1, {n}] (the length of axis {ax}), got {k}")
    if out is not None:
        shape = batch[:ax] + (k,) + batch[ax:]
        out = R.check_outs(out, ((shape, rdt), (shape, R.I64)))
    rows = x2.shape[0]
    probs = _core.output_empty((rows, k), x2.dtype)
    idx = _core.output_empty((rows, k), np.int64)
    R.call_kernel(_core.topk_softmax_rows, x2, k, t, probs, idx, writes=(3, 4))
    bad = idx[:, 0] < 0
    if bad.any():
        _invalid_row(bad, batch, "topk_softmax")
    probs = np.moveaxis(probs.reshape(batch + (k,)), -1, ax)
    idx = np.moveaxis(idx.reshape(batch + (k,)), -1, ax)
    if out is not None:
        out[0][...] = probs
        out[1][...] = idx
        return out
    if probs.dtype != rdt:
        probs = probs.astype(rdt)
    return probs, idx


# ------------------------------------------------------------- calibration --

def _labels(labels, shape, n, name):
    lab = R.as_array(labels, name)
    if lab.dtype.kind not in "iu" or lab.dtype == np.bool_:
        raise TypeError(f"{name} must be an integer array, got dtype {lab.dtype}")
    if lab.shape != shape:
        raise ValueError(f"{name} has shape {lab.shape}, expected {shape} (the logits' shape without the last axis)")
    if lab.size and (lab.min() < 0 or lab.max() >= n):
        raise ValueError(f"{name} must be in [0, {n}), got values in [{lab.min()}, {lab.max()}]")
    return lab.reshape(-1).astype(np.int64)


def fit_temperature(logits, labels):
    """The temperature T > 0 minimising the mean negative log-likelihood of
    `labels` under ``softmax(logits / T)`` (temperature scaling, Guo et al.
    2017, "On Calibration of Modern Neural Networks").

    The NLL is convex in beta = 1/T (its second derivative is the mean
    variance of the logits under the model), so its derivative is found a
    zero of by safeguarded Newton steps inside a bracket; each step is one
    fused pass over the logits (exp, and three weighted sums per row).

    Parameters
    ----------
    logits : array_like, shape (..., C)
        Finite logits, classes on the last axis; dtype rules as
        :func:`softmax` (float32 runs in float32 with float64 sums).
    labels : array_like of int, shape (...)
        The true class of each row, in [0, C).

    Returns
    -------
    float
        The fitted temperature.

    Raises
    ------
    ValueError
        Non-finite logits, no rows, labels of the wrong shape or range, or no
        finite optimum: the NLL keeps falling as T -> 0 (every label is its
        row's strict argmax) or as T -> inf (the labels do worse than the
        uniform guess).
    TypeError
        Complex or non-numeric logits, non-integer labels.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(4000, 10)) * 3
    >>> y = softmax_c.sample(z, temperature=2.0, seed=1)  # labels drawn at T = 2
    >>> abs(softmax_c.fit_temperature(z, y) - 2.0) < 0.1
    True
    """
    x2, batch, _, _ = R.rows(logits, -1, "logits", half=True)
    lab = _labels(labels, batch, x2.shape[1], "labels")
    rows = x2.shape[0]
    if rows == 0:
        raise ValueError("logits: no rows (fit_temperature needs at least one)")
    if not np.isfinite(x2).all():
        raise ValueError("logits must be finite")
    xy = float(np.mean(x2[np.arange(rows), lab], dtype=np.float64))
    x2 = R.kernel_view(x2)  # once, not on every Newton step

    def grad(beta):  # dNLL/dbeta and d2NLL/dbeta2
        s = R.call_kernel(_core.temperature_moments, x2, beta)
        return s[1] / rows - xy, s[2] / rows

    b = 1.0
    g, h = grad(b)
    if g == 0.0:
        return 1.0
    if g < 0:  # the minimum is at a larger beta
        lo, hi = b, b * 4
        while True:
            g, h = grad(hi)
            if g < 0 and hi <= 1e12:
                lo, hi = hi, hi * 4
                continue
            # still falling, or flat because every row is numerically a point
            # mass there (scaled variance h*beta^2 ~ 0, exp underflow)
            if g < 0 or (g == 0 and h * hi * hi < 1e-9):
                raise ValueError("fit_temperature: the NLL keeps decreasing as T -> 0 "
                                 "(every label is its row's argmax): no finite optimum")
            break
    else:
        lo, hi = b / 4, b
        while grad(lo)[0] > 0:
            lo, hi = lo / 4, lo
            if lo < 1e-12:
                raise ValueError("fit_temperature: the NLL keeps decreasing as T -> inf "
                                 "(the labels do no better than a uniform guess): no finite optimum")
    b = math.sqrt(lo * hi)
    for _ in range(200):
        g, h = grad(b)
        if g < 0:
            lo = b
        else:
            hi = b
        nb = b - g / h if h > 0 else math.nan
        if not (lo < nb < hi):
            nb = 0.5 * (lo + hi)
        if abs(nb - b) <= 1e-12 * b or hi - lo <= 1e-12 * hi:
            b = nb
            break
        b = nb
    return 1.0 / b


def expected_calibration_error(probs, labels, *, n_bins=15):
    """Expected calibration error of predicted probabilities (Guo et al. 2017).

    The confidence of a row is its largest probability, its prediction the
    argmax (lowest index on ties).  Confidences fall into `n_bins` equal-width
    bins over (0, 1]: c goes to the bin (lo, hi] that holds it (c = 0 to the
    first bin, c > 1 -- rounding of float32 sums -- to the last).  Then
    ``ECE = sum over bins of (share of rows) * |accuracy - mean confidence|``.

    Parameters
    ----------
    probs : array_like, shape (..., C)
        Probabilities (finite, >= 0), classes on the last axis: named
        `probs`, not `logits`, because it takes probabilities (a softmax's
        output), not unnormalised log-probabilities.
    labels : array_like of int, shape (...)
        True classes in [0, C).
    n_bins : int, optional
        >= 1; keyword-only.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        No rows, negative or non-finite probabilities, empty class axis,
        labels of the wrong shape or range, n_bins < 1.
    TypeError
        Complex or non-numeric probs, non-integer labels or n_bins.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> softmax_c.expected_calibration_error(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]))
    0.35
    """
    nb = R.integer(n_bins, "n_bins", lo=1)
    x2, batch, _, _ = R.rows(probs, -1, "probs")
    lab = _labels(labels, batch, x2.shape[1], "labels")
    rows = x2.shape[0]
    if rows == 0:
        raise ValueError("probs: no rows (expected_calibration_error needs at least one)")
    if not np.isfinite(x2).all() or (x2 < 0).any():
        raise ValueError("probs must be finite and >= 0")
    conf = x2.max(axis=1).astype(np.float64)
    pred = x2.argmax(axis=1)
    hit = (pred == lab).astype(np.float64)
    edges = np.linspace(0.0, 1.0, nb + 1)
    b = np.searchsorted(edges[1:-1], conf, side="left")
    gap = np.bincount(b, weights=hit - conf, minlength=nb)
    return float(np.abs(gap).sum() / rows)
