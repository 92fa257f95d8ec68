"""Interpolated modified Kneser–Ney, exactly as KenLM's ``lmplz`` estimates it.

Chen & Goodman (1998, §3.5 and eq. 26) with lmplz's choices (Heafield et al. 2013, "Scalable
Modified Kneser-Ney Language Model Estimation"; ``lm/builder/adjust_counts.cc``,
``initial_probabilities.cc``, ``interpolate.cc``):

* **Adjusted counts** a(g): the raw count on the highest order and for n-grams starting with ``<s>``;
  otherwise the number of distinct words seen before g, N1+(• g). ``<s>`` and ``<unk>`` have 0.
* **Discounts** per order from the count-of-counts t_k of the adjusted counts::

      Y = t1 / (t1 + 2 t2),     D_k = k - (k + 1) Y t_{k+1} / t_k     (k = 1, 2, 3; D_3 for 3+)

  lmplz refuses an order with t1, t2 or t3 of 0 or a D_k outside [0, k]; ``discount_fallback``
  substitutes given discounts there instead.
* **Interpolation**: for context h with n-grams h w,
  ``p(w|h) = (a(hw) - D(a(hw))) / Σ_w' a(hw') + γ(h) p(w|h[1:])`` with
  ``γ(h) = Σ_k D_k N_k(h•) / Σ_w' a(hw')``; the unigrams interpolate with the uniform 1/|V| (|V|
  counts ``<unk>`` and ``</s>``, not ``<s>``, or ``vocab_pad`` if larger), so ``<unk>`` = γ(ε)/|V|.
  Without ``interpolate_unigrams``, γ(ε) goes to ``<unk>`` alone (SRILM's way).
* **Back-off form**: γ(h) is h's back-off weight, which makes the ARPA model equal the interpolated
  one. ``<s>`` has probability 1 (log10 0): it is never predicted, only a context.
* **Pruning** (``prune`` thresholds per order, non-decreasing, the unigrams' 0): an n-gram whose raw
  count is at most its order's threshold is left out of the model, its discounted mass and count
  added to its context's γ, as lmplz does (which leaves such a context's sum close to, not exactly, 1).
"""

from __future__ import annotations

import numpy as np

from ...errors import CallError, DataError
from ..model import BOS, EOS, UNK, Model, NgramIndex
from . import Estimate, context_groups

__all__ = ["estimate", "discounts", "adjusted_counts"]

#: lmplz's ``--discount_fallback`` with no values: D1, D2, D3+.
DEFAULT_FALLBACK = (0.5, 1.0, 1.5)


def adjusted_counts(counts, index: NgramIndex) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each order's adjusted counts, and for orders 2 … N the index of each n-gram's suffix (its last
    n-1 words) among the (n-1)-grams."""
    tables = counts.tables
    order = counts.order
    adjusted: list[np.ndarray] = [np.empty(0)] * order
    adjusted[-1] = tables[-1].counts.copy()
    suffix = index.suffixes([t.words for t in tables])
    for n in range(order - 1, 0, -1):  # order n from order n + 1's left extensions
        left = np.bincount(suffix[n], minlength=len(tables[n - 1].counts)).astype(np.int64)
        adjusted[n - 1] = np.where(tables[n - 1].words[:, 0] == BOS, tables[n - 1].counts, left)
    adjusted[0] = adjusted[0].copy()
    adjusted[0][[UNK, BOS]] = 0
    return adjusted, suffix


def count_of_counts(adjusted: np.ndarray) -> list[int]:
    """t_1 … t_4: how many n-grams have adjusted count 1, 2, 3 and 4."""
    return [int(np.count_nonzero(adjusted == k)) for k in range(1, 5)]


def discounts(t: list[int], order: int, fallback=None) -> tuple[list[float], str | None]:
    """D1, D2, D3+ of an order from its count-of-counts ``t`` (Chen & Goodman eq. 26), and a note when
    ``fallback`` replaced them. Raises DataError (exit 1) where lmplz would refuse the data."""
    problem = None
    for k in (1, 2, 3):
        if t[k - 1] == 0:
            problem = (f"{order}-grams with adjusted count {k + 1 if k < 3 else '3+'} get no discount: no "
                       f"{order}-gram has adjusted count {k}")
            break
    if problem is None:
        y = t[0] / (t[0] + 2 * t[1])
        d = [k - (k + 1) * y * t[k] / t[k - 1] for k in (1, 2, 3)]
        for k, dk in zip((1, 2, 3), d):
            if not 0 <= dk <= k:
                problem = (f"the {order}-gram discount for adjusted count {k if k < 3 else '3+'} is {dk:.6g}, "
                           f"outside [0, {k}]")
                break
        if problem is None:
            return d, None
    if fallback is None:
        raise DataError(f"cannot estimate modified Kneser-Ney discounts: {problem} (count-of-counts "
                        f"t1..t4 = {', '.join(map(str, t))}); the text is too small or repetitive. Pass "
                        "--discount-fallback to use fixed discounts (0.5 1 1.5) where this happens, as lmplz's "
                        "--discount_fallback does")
    return list(fallback), f"order {order}: {problem}; used the fallback discounts {' '.join(map(str, fallback))}"


def estimate(counts, *, interpolate_unigrams: bool = True, vocab_pad: int = 0, prune=None,
             discount_fallback=None) -> Estimate:
    """Modified Kneser-Ney as ``lmplz -o N`` builds it from ``counts``.

    Args:
      counts: the text's :class:`~xentcli.ngram.counts.Counts`.
      interpolate_unigrams: lmplz's ``--interpolate_unigrams`` (default on).
      vocab_pad: lmplz's ``--vocab_pad``: |V| for the uniform distribution is at least this.
      prune: lmplz's ``--prune``: thresholds for orders 1, 2, …, the last repeated; non-decreasing,
        the first 0.
      discount_fallback: lmplz's ``--discount_fallback``: up to three discounts (D1, D2, D3+; the last
        repeated) used for an order whose closed-form discounts fail, or None to fail there.

    Returns:
      An :class:`Estimate` whose parameters are each order's ``D1``, ``D2``, ``D3+`` and count-of-counts.

    Example::

        >>> from xentcli.ngram.counts import Counts, count_batch
        >>> # see tests/ngram/test_mkn.py for lmplz's own outputs, checked to 1e-6
    """
    order, vocab = counts.order, counts.vocab
    if vocab_pad and not interpolate_unigrams:
        raise CallError("--vocab-pad needs --interpolate-unigrams: the padding is interpolated into the unigrams")
    thresholds = _thresholds(prune, order)
    fallback = None if discount_fallback is None else _fallback(discount_fallback)
    words = [t.words for t in counts.tables]
    index = NgramIndex(words, len(vocab))
    adjusted, suffix = adjusted_counts(counts, index)
    kept = [t.counts > thresholds[n] if thresholds[n] else np.ones(len(t.counts), bool)
            for n, t in enumerate(counts.tables)]

    parameters, notes, amounts = [], [], []
    for n in range(order):
        t = count_of_counts(adjusted[n])
        d, note = discounts(t, n + 1, fallback)
        amounts.append(np.array([0.0, *d]))
        parameters.append({"D1": d[0], "D2": d[1], "D3+": d[2], "t1": t[0], "t2": t[1], "t3": t[2], "t4": t[3]})
        if note:
            notes.append(note)

    probs: list[np.ndarray] = []
    backoffs: list[np.ndarray] = []
    for n in range(order):
        a = adjusted[n]
        amount = amounts[n][np.minimum(a, 3)]
        group, starts = context_groups(words[n])
        denominator = np.bincount(group, weights=a).astype(np.float64)
        counted = np.where(kept[n], amount, 0.0) + np.where(kept[n], 0.0, a)  # pruned: all its count
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty text: no counts at all
            gamma = np.bincount(group, weights=counted, minlength=len(denominator)) / denominator
            uninterp = (a - amount) / denominator[group]
        if n == 0:
            size = max(vocab_pad, len(vocab) - 1)  # <s> is no outcome
            if interpolate_unigrams:
                uninterp[UNK] = 0.0
                p = uninterp + gamma[0] / size
            else:
                uninterp[UNK] = gamma[0]
                p = uninterp
            p[BOS] = 1.0
        else:
            p = uninterp + gamma[group] * probs[n - 1][suffix[n]]
        probs.append(p)
        backoffs.append(np.ones(len(a)))
        if n:
            contexts = index.keys[n][starts] // index.vocab_size
            backoffs[n - 1][contexts] = gamma
    last = [w[:, -1] for w in words]
    model_words, logprob, backoff = [], [], []
    for n in range(order):
        b = backoffs[n]
        b[(last[n] == UNK) | (last[n] == EOS)] = 1.0
        with np.errstate(divide="ignore"):
            lp = np.minimum(0.0, np.log10(probs[n]))
            lb = np.log10(b) if n < order - 1 else np.zeros(len(b))
        keep = kept[n]
        model_words.append(words[n][keep])
        logprob.append(lp[keep])
        backoff.append(lb[keep])
    unpruned = all(k.all() for k in kept)  # the model's n-grams are the counts': their index serves
    return Estimate(Model(order, vocab, model_words, logprob, backoff, _index=index if unpruned else None),
                    parameters, notes)


def _thresholds(prune, order: int) -> list[int]:
    if not prune:
        return [0] * order
    prune = [int(p) for p in prune]
    if len(prune) > order:
        raise CallError(f"--prune: {len(prune)} thresholds for an order-{order} model; give at most one per order")
    if any(b < a for a, b in zip(prune, prune[1:])):
        raise CallError("--prune: thresholds must not decrease with the order (a shorter n-gram would go while a "
                        "longer one that contains it stays)")
    if prune[0] != 0:
        raise CallError("--prune: the unigrams' threshold must be 0 (lmplz prunes no unigram); e.g. --prune 0 1 1")
    return prune + [prune[-1]] * (order - len(prune))


def _fallback(values) -> tuple[float, float, float]:
    values = list(values) or list(DEFAULT_FALLBACK)
    if len(values) > 3:
        raise CallError("--discount-fallback: give at most three discounts: D1, D2 and D3+")
    values = [float(v) for v in values]
    chosen = tuple(values[min(i, len(values) - 1)] for i in range(3))
    for k, d in enumerate(chosen, 1):
        if not 0 <= d <= k:  # as lmplz: a discount above its count would make a probability negative
            raise CallError(f"--discount-fallback: the discount for count {k if k < 3 else '3+'} must be in "
                            f"[0, {k}], got {d:g}")
    return chosen
