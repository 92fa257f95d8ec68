"""Deleted interpolation (Jelinek–Mercer), its weights estimated by EM on held-out text.

Jelinek & Mercer (1980); Chen & Goodman (1998, §2.3, eq. 5 and the bucketing of §4.1). With raw
counts c and the maximum-likelihood p_ML(w|h) = c(hw) / c(h), c(h) = Σ_w' c(hw')::

    p(w|h) = λ(h) p_ML(w|h) + (1 - λ(h)) p(w|h[1:]),     p(w|ε) = λ_ε p_ML(w) + (1 - λ_ε) / |V|

(|V| counts ``</s>`` and ``<unk>``, not ``<s>``). λ(h) is one value per order and bucket of c(h): the
bucket of a context seen c(h) times is floor(log2 c(h)) (counts 1, 2–3, 4–7, …); an unseen context
has λ = 0 (no term of its own).

**EM** on the held-out sentences (each scored from ``<s>`` to ``</s>``, as ``query`` scores: an OOV is
a target with p_ML = 0 at every order, the evidence for the uniform's share, and a context through it
is unseen): the nested mixture is a chain of choices, "stop at order n" with
probability λ_n, else go down; for each held-out token the expected number of stops at n and of
arrivals at n are A_n λ_n p_ML_n / p and A_n p_n / p (A_n = Π_{m>n} (1 - λ_m), p_n the mixture from n
down), and λ of a bucket becomes its stops over its arrivals. Buckets start at 0.5; one no held-out
token reaches keeps it. λ is kept at most 1 - 1e-6 so every word keeps a probability.

**Back-off form**, exactly: an n-gram h w seen in training has log10 p(w|h) of the formula above, and
h's back-off weight is 1 - λ(h), so an unseen h w gets (1 - λ(h)) p(w|h[1:]), the interpolated value.
``<s>`` is never predicted (log10 p = -99).
"""

from __future__ import annotations

import numpy as np

from ...errors import CallError
from ..model import BOS, EOS, NgramIndex
from . import Estimate, context_groups
from .forms import interpolated_model, suffixes

__all__ = ["estimate", "bucket"]

MAX_LAMBDA = 1.0 - 1e-6


def bucket(total: np.ndarray) -> np.ndarray:
    """The bucket of contexts seen ``total`` times (>= 1): floor(log2 total), exactly."""
    return np.frexp(np.asarray(total, np.float64))[1].astype(np.int64) - 1


def _label(b: int) -> str:
    lo, hi = 1 << b, (1 << (b + 1)) - 1
    return str(lo) if lo == hi else f"{lo}-{hi}"


def estimate(counts, *, heldout: list[list[int]], iterations: int = 200, tolerance: float = 1e-9) -> Estimate:
    """Deleted interpolation of ``counts``, λ per order and context-count bucket fitted by EM.

    Args:
      counts: the training text's :class:`~xentcli.ngram.counts.Counts`.
      heldout: sentences as word ids in ``counts``' vocabulary (an OOV 0), not part of ``counts``.
      iterations, tolerance: EM stops after this many rounds or when no λ moves more than ``tolerance``
        (λs that matter settle in a few dozen rounds; those the held-out text drives to 0 creep there).

    Returns:
      An :class:`Estimate` whose parameters are each order's ``lambda`` by bucket of context counts
      and the held-out ``tokens`` that informed them.
    """
    if not heldout:
        raise CallError("--smoothing jm needs held-out text to estimate its weights: pass --heldout FILE or "
                        "--heldout-fraction F")
    order, size = counts.order, len(counts.vocab) - 1
    words = [t.words for t in counts.tables]
    index = NgramIndex(words, len(counts.vocab))
    raw = [t.counts.astype(np.float64) for t in counts.tables]
    raw[0][BOS] = 0.0
    # Each order's context totals c(h), by the row of h among the (n-1)-grams (the empty one for n = 1).
    totals = [np.array([raw[0].sum()])]
    groups = []
    for n in range(order):
        group, starts = context_groups(words[n])
        groups.append(group)
        if n:
            total = np.zeros(len(words[n - 1]))
            total[index.keys[n][starts] // index.vocab_size] = np.bincount(group, weights=raw[n])
            totals.append(total)

    ml, buckets = _heldout_terms(index, raw, totals, heldout, order)
    lambdas = [np.full(1, 0.5)] + [np.full(int(bucket(t[t > 0]).max(initial=-1)) + 1, 0.5) for t in totals[1:]]
    lambdas = _em(ml, buckets, lambdas, size, iterations, tolerance)

    alpha, gamma, parameters = [], [], []
    for n in range(order):
        if n == 0:
            lam_h = np.array([lambdas[0][0]])
            alpha.append(lam_h[0] * (raw[0] / totals[0][0] if totals[0][0] else raw[0]))
        else:
            _, starts = context_groups(words[n])
            context_total = totals[n][index.keys[n][starts] // index.vocab_size]
            lam_h = lambdas[n][bucket(context_total)]
            alpha.append(lam_h[groups[n]] * raw[n] / context_total[groups[n]])
        gamma.append(1.0 - lam_h)
        used = buckets[n] >= 0
        labels = [_label(b) for b in range(len(lambdas[n]))] if n else ["all"]
        parameters.append({"lambda": dict(zip(labels, map(float, lambdas[n]))),
                           "tokens": int(np.count_nonzero(used))})
    return Estimate(interpolated_model(counts, index, suffixes(index, words), alpha, gamma), parameters)


def _heldout_terms(index: NgramIndex, raw, totals, heldout, order: int) -> tuple[list, list]:
    """Per order, for each held-out target token: p_ML(w|h) and the bucket of h (-1 where the context
    is unseen in training or reaches before the sentence's ``<s>``)."""
    lengths = np.fromiter((len(s) + 2 for s in heldout), np.int64, len(heldout))
    seq = np.empty(int(lengths.sum()), np.int64)
    pos = 0
    for s, length in zip(heldout, lengths):
        seq[pos], seq[pos + length - 1] = BOS, EOS
        seq[pos + 1:pos + length - 1] = s
        pos += length
    start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    offset = np.arange(len(seq)) - start  # words before each position in its sentence
    targets = offset > 0
    found = [seq.copy()]  # found[n][p]: the row of the (n+1)-gram ending at p, or -1
    for n in range(1, order):
        prefix = np.full(len(seq), -1, np.int64)
        prefix[1:] = found[-1][:-1]
        prefix[offset < n] = -1
        found.append(index.locate(n, prefix, seq))
    ml, buckets = [], []
    for n in range(order):
        if n == 0:
            ctx_total = np.full(len(seq), totals[0][0])
        else:
            ctx = np.full(len(seq), -1, np.int64)
            ctx[1:] = found[n - 1][:-1]
            ctx[offset < n] = -1
            ctx_total = _take(totals[n], ctx)
        count = _take(raw[n], found[n])
        seen = ctx_total > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            ml.append(np.where(seen, count / ctx_total, 0.0)[targets])
        b = np.full(len(seq), -1, np.int64)
        b[seen] = bucket(ctx_total[seen]) if n else 0
        buckets.append(b[targets])
    return ml, buckets


def _take(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``values[at]`` as float64, 0 where ``at`` is -1 (an order may have no rows at all)."""
    out = np.zeros(len(at))
    hit = at >= 0
    out[hit] = values[at[hit]]
    return out


def _em(ml, buckets, lambdas, size: int, iterations: int, tolerance: float) -> list[np.ndarray]:
    order = len(ml)
    # A token with no bucket at an order (its context unseen) goes to an extra bucket of λ = 0, so each
    # round is plain indexing and bincounts.
    sizes = [len(lams) for lams in lambdas]
    slots = [np.where(b >= 0, b, k) for b, k in zip(buckets, sizes)]
    for _ in range(iterations):
        lam = [np.append(lams, 0.0)[s] for lams, s in zip(lambdas, slots)]
        levels = [np.full(len(ml[0]), 1.0 / size)]  # p from the uniform up to each order
        for n in range(order):
            levels.append(lam[n] * ml[n] + (1.0 - lam[n]) * levels[-1])
        top = levels[-1]
        reach = np.ones(len(top))  # A_n: the chance of going down to order n
        new = []
        for n in range(order - 1, -1, -1):
            share = reach / top
            stops = np.bincount(slots[n], weights=share * lam[n] * ml[n], minlength=sizes[n] + 1)[:-1]
            arrivals = np.bincount(slots[n], weights=share * levels[n + 1], minlength=sizes[n] + 1)[:-1]
            with np.errstate(invalid="ignore", divide="ignore"):
                new.append(np.minimum(np.where(arrivals > 0, stops / arrivals, lambdas[n]), MAX_LAMBDA))
            reach = reach * (1.0 - lam[n])
        new.reverse()
        moved = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(new, lambdas))
        lambdas = new
        if moved < tolerance:
            break
    return lambdas
