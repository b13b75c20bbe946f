"""float64 NumPy oracles of the sampling family, written to be obviously
right rather than fast (full sorts, explicit loops).  Tests compare the
kernels against these; benchmarks use them as baselines.
"""
from __future__ import annotations

import numpy as np

__all__ = ["process_logits", "serving_distribution", "verify_draft", "verify_accept_distribution", "log_softmax", "sampling_distribution", "topk_softmax", "fit_temperature", "expected_calibration_error"]


def _order(x):
    """Indices by value descending, index ascending (the warpers' order)."""
    return np.lexsort((np.arange(x.size), -x))


def sampling_distribution(logits, temperature=1.0, top_k=None, top_p=None, min_p=None):
    """The probability of each token of one row (1-D logits) under
    :func:`softmax_c.sample`: softmax(x / T), then top-k, top-p, min-p, each
    on the renormalised result of the previous one; temperature 0 puts
    probability 1 on the first argmax."""
    x = np.asarray(logits, dtype=np.float64)
    n = x.size
    if temperature == 0:
        p = np.zeros(n)
        p[int(np.argmax(x))] = 1.0
        return p
    z = x / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    order = _order(x)
    keep = np.ones(n, dtype=bool)
    if top_k is not None and top_k < n:
        keep[order[top_k:]] = False
        p = np.where(keep, p, 0.0)
        p /= p.sum()
    if top_p is not None and top_p < 1:
        c = np.cumsum(p[order])
        m = int(np.searchsorted(c, top_p, side="left")) + 1  # first prefix with mass >= top_p
        m = max(1, min(m, n))
        drop = np.ones(n, dtype=bool)
        drop[order[:m]] = False
        keep &= ~drop
        p = np.where(keep, p, 0.0)
        p /= p.sum()
    if min_p is not None and min_p > 0:
        keep &= p >= min_p * p.max()
        p = np.where(keep, p, 0.0)
        p /= p.sum()
    return p


def topk_softmax(logits, k, temperature=1.0):
    """(probabilities, indices) of the k first entries of the order, rows on
    the last axis, probabilities of the full-row softmax."""
    x = np.asarray(logits, dtype=np.float64)
    x2 = x.reshape(-1, x.shape[-1])
    P = np.empty((x2.shape[0], k))
    I = np.empty((x2.shape[0], k), dtype=np.int64)
    for r, row in enumerate(x2):
        z = row / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        o = _order(row)[:k]
        P[r], I[r] = p[o], o
    return P.reshape(x.shape[:-1] + (k,)), I.reshape(x.shape[:-1] + (k,))


def nll(logits, labels, temperature):
    """Mean negative log-likelihood of labels under softmax(logits / T)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z.reshape(-1, z.shape[-1])
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    return float(np.mean(lse - z[np.arange(z.shape[0]), np.asarray(labels).reshape(-1)]))


def fit_temperature(logits, labels, lo=1e-3, hi=1e3, iters=90):
    """argmin over T of :func:`nll` by golden-section search on log T."""
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, np.exp(c)), nll(logits, labels, np.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, np.exp(d))
    return float(np.exp((a + b) / 2))


def expected_calibration_error(probs, labels, n_bins=15):
    """ECE with equal-width bins (lo, hi] over (0, 1], a loop over bins."""
    p = np.asarray(probs, dtype=np.float64)
    p = p.reshape(-1, p.shape[-1])
    y = np.asarray(labels).reshape(-1)
    conf = p.max(axis=1)
    hit = p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for b in range(n_bins):
        lo, hi = edges[b], edges[b + 1]
        inb = (conf > lo) & (conf <= hi)
        if b == 0:
            inb |= conf <= lo
        if b == n_bins - 1:
            inb |= conf > hi
        if inb.any():
            ece += inb.mean() * abs(hit[inb].mean() - conf[inb].mean())
    return float(ece)


def process_logits(logits, allowed=None, bias=None, prev_tokens=None, repetition_penalty=1.0,
                   presence_penalty=0.0, frequency_penalty=0.0):
    """The serving processors on one row, float64, in their order: the
    allowed-token mask (others -inf), the logit bias ({token: bias}, or a
    pair of id/bias lists with -1 padding; repeated ids add), the repetition
    penalty over the distinct history tokens (positive / penalty, negative *
    penalty), then ``-= presence * [count > 0] + frequency * count``."""
    y = np.array(logits, dtype=np.float64)
    if allowed is not None:
        y = np.where(np.asarray(allowed, dtype=bool), y, -np.inf)
    if bias is not None:
        pairs = bias.items() if isinstance(bias, dict) else zip(*bias)
        for t, b in pairs:
            if t >= 0:
                y[int(t)] += b
    if prev_tokens is not None:
        counts = {}
        for t in prev_tokens:
            if t >= 0:
                counts[int(t)] = counts.get(int(t), 0) + 1
        for t, c in counts.items():
            v = y[t]
            v = v / repetition_penalty if v > 0 else v * repetition_penalty
            y[t] = v - (presence_penalty + frequency_penalty * c)
    return y


def serving_distribution(logits, temperature=1.0, top_k=None, top_p=None, min_p=None, **processors):
    """:func:`process_logits` then :func:`sampling_distribution`, with the
    per-row "off" values (top_k <= 0, top_p == 1, min_p == 0) as None."""
    y = process_logits(logits, **processors)
    return sampling_distribution(y, temperature, top_k if top_k and top_k > 0 else None,
                                 top_p if top_p is not None and top_p < 1 else None, min_p or None)


def log_softmax(z):
    """float64 log_softmax of one row (-inf entries stay -inf)."""
    z = np.asarray(z, dtype=np.float64)
    m = z.max()
    return z - m - np.log(np.exp(z - m).sum())


def _per_row(v, r):
    return v[r] if np.ndim(v) else v


def _draw(w, u):
    """Inverse CDF in index order: the first i whose running weight exceeds
    u * sum(w)."""
    c = np.cumsum(w)
    return int(min(np.searchsorted(c, u * c[-1], side="right"), w.size - 1))


def _target(row, r, temperature=1.0, top_k=None, top_p=None, min_p=None):
    k = _per_row(top_k, r)
    p = _per_row(top_p, r)
    return sampling_distribution(row, _per_row(temperature, r), k if k and k > 0 else None,
                                 p if p is not None and p < 1 else None, _per_row(min_p, r) or None)


def verify_draft(target_logits, draft_tokens, draft_probs, u, temperature=1.0, top_k=None, top_p=None,
                 min_p=None):
    """Speculative-decoding verification in float64 with given uniforms u
    (rows, k + 1): for j < k accept d_j when u[j] * q_j(d_j) < p_j(d_j) (q_j
    one-hot at d_j when draft_probs is None); at the first rejection draw
    from max(0, p_j - q_j) with u[k]; after k acceptances draw from p_k with
    u[k].  p_j = :func:`sampling_distribution` of target row j.  Returns
    (num_accepted, tokens) as :func:`softmax_c.verify_draft`."""
    x = np.asarray(target_logits, dtype=np.float64)
    rows, k1, n = x.shape
    kd = k1 - 1
    acc = np.zeros(rows, dtype=np.int64)
    toks = np.full((rows, k1), -1, dtype=np.int64)
    for r in range(rows):
        for j in range(k1):
            p = _target(x[r, j], r, temperature, top_k, top_p, min_p)
            if j == kd:
                toks[r, j] = _draw(p, u[r, kd])
                break
            d = int(draft_tokens[r][j])
            if draft_probs is None:
                q = np.zeros(n)
                q[d] = 1.0
            else:
                q = np.asarray(draft_probs[r][j], dtype=np.float64)
            if u[r, j] * q[d] < p[d]:
                toks[r, j] = d
                acc[r] = j + 1
                continue
            res = np.maximum(p - q, 0.0)
            toks[r, j] = _draw(res if res.sum() > 0 else p, u[r, kd])
            break
    return acc, toks


def verify_accept_distribution(target_logits, draft_probs, **warpers):
    """For one request (target_logits (k + 1, V), draft_probs (k, V), the
    draft tokens drawn from draft_probs): the probabilities of accepting
    0..k tokens.  Position j accepts with probability beta_j = sum_i
    min(p_j(i), q_j(i)) (Leviathan et al. 2023, section 3.5), independently
    of the earlier positions here (the target rows are fixed)."""
    x = np.asarray(target_logits, dtype=np.float64)
    kd = x.shape[0] - 1
    beta = [np.minimum(_target(x[j], 0, **warpers), np.asarray(draft_probs[j], dtype=np.float64)).sum()
            for j in range(kd)]
    out = np.empty(kd + 1)
    run = 1.0
    for a in range(kd):
        out[a] = run * (1 - beta[a])
        run *= beta[a]
    out[kd] = run
    return out
