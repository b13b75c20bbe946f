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

import numpy as np

from . import _core
from . import _rules as R

__all__ = ["sample", "topk_softmax", "fit_temperature", "expected_calibration_error"]


# ----------------------------------------------------------------- helpers --

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
           out=None):
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
    out : ndarray of int64, optional
        Where to write the tokens: `logits`' shape without `axis`, writeable,
        any strides.  Checked before the uniforms are drawn; written only
        when every row is valid; returned (a 0-d `out` stays an array).

    Returns
    -------
    numpy.int64 or ndarray of int64
        The sampled index per row: `logits`' shape without `axis`.

    Raises
    ------
    ValueError
        A bad argument value, an empty vocabulary, or a row that defines no
        distribution: one holding a NaN or +inf, or with every entry -inf
        (the message names the first such row).
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
    t = R.in_range(temperature, "temperature", 0, math.inf)
    k = 0 if top_k is None else R.integer(top_k, "top_k", lo=1)
    p = 1.0 if top_p is None else R.in_range(top_p, "top_p", 0, 1, lo_open=True)
    mp = 0.0 if min_p is None else R.in_range(min_p, "min_p", 0, 1)
    x2, batch, _, _ = R.rows(logits, axis, "logits")
    if out is not None:
        R.check_out(out, batch, R.I64)
    rng = _generator(seed)
    rows = x2.shape[0]
    u = np.ascontiguousarray(rng.random(rows), dtype=np.float64)
    tokens = np.empty(rows, dtype=np.int64)
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
    x2, batch, ax, rdt = R.rows(logits, axis, "logits")
    n = x2.shape[1]
    if not (1 <= k <= n):
        raise ValueError(f"top_k must be in [1, {n}] (the length of axis {ax}), got {k}")
    if out is not None:
        shape = batch[:ax] + (k,) + batch[ax:]
        out = R.check_outs(out, ((shape, rdt), (shape, R.I64)))
    rows = x2.shape[0]
    probs = np.empty((rows, k), dtype=x2.dtype)
    idx = np.empty((rows, k), dtype=np.int64)
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
    x2, batch, _, _ = R.rows(logits, -1, "logits")
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
