"""Good–Turing discounting with Katz back-off, as SRILM's ``ngram-count -gt`` (its default method).

ngram-discount(7), "Good-Turing discounting" (Katz 1987; Chen & Goodman 1998, §2.4):

* **Min counts**: an n-gram with a raw count below ``gtmin`` of its order is left out of the model
  (its count stays in its context's total, so its mass goes to the back-off).
* **Coefficients** from the count-of-counts n_r of the order's raw counts, for 1 <= r <= k = ``gtmax``::

      A = (k + 1) n[k+1] / n[1],    d(r) = ((r + 1) n[r+1] / (r n[r]) - A) / (1 - A)

  and d(r) = 1 above k. As SRILM's ``GoodTuring::estimate`` (``lm/src/Discount.cc``): n[1] = 0
  disables the discounting (k = 0); k is lowered while n[k+1] = 0; a d(r) with n[r] = 0, not finite,
  at most 3e-6 (``Prob_Epsilon``) or with (r+1) n[r+1] / (r n[r]) > 1 is 1 instead.
* **Defaults**: gtmin 1, 1, 2, 2, … and gtmax 1, 7, 7, … for orders 1, 2, 3, …: ``ngram-count.cc``'s
  ``gtmin[] = {1, 1, 1, 2, 2, …}`` and ``gtmax[] = {5, 1, 7, 7, …}`` (index 0 is the ``-gtmin``/``-gtmax``
  value for orders above the table; index n is ``-gtNmin``/``-gtNmax``).
* **Estimate**: f(hw) = d(c(hw)) c(hw) / Σ_w' c(hw') for the kept n-grams, and for the rest the
  back-off p(w|h) = bow(h) p(w|h[1:]), with (ngram-discount(7))::

      bow(h) = (1 - Σ_{w kept} f(hw)) / (1 - Σ_{w kept} p(w|h[1:]))

  which makes each context sum to 1. A context whose kept words all have counts above gtmax keeps
  no mass: bow(h) = 0, unseen words get log10 p = -99, as in SRILM. Where mass is left but the
  denominator is (below 1e-6, next to) 0, the seen words are scaled to sum to 1 and bow(h) = 0, as
  SRILM does ("BOW denominator for context is zero").
* **Unigrams**: |V| counts ``</s>`` and ``<unk>``, not ``<s>`` (log10 p = -99, never predicted); the
  mass the discounting leaves goes to the words never seen (``<unk>``), as SRILM's ``distributeProb``.
  SRILM's default gt1max = 1 makes d(1) = 0, out of range, so unigrams are not discounted and SRILM
  gives ``<unk>`` probability 0. Here, when the unigram discounting leaves nothing, ``<unk>`` gets
  Good's estimate of the unseen mass, max(n1, 1) / N (N the unigram tokens, ``</s>`` included), and
  the seen words are scaled by 1 - that, so that every word has a probability.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import CallError
from ..model import BOS, NgramIndex
from . import Estimate, context_groups
from .forms import LOG_ZERO, backoff_model, suffixes

__all__ = ["estimate", "gt_coefficients", "GTMIN", "GTMAX"]

#: SRILM's defaults by order 1, 2, 3, …; the last repeats.
GTMIN = (1, 1, 2)
GTMAX = (1, 7)
#: SRILM's ``Prob_Epsilon``: a coefficient at most this is out of range.
PROB_EPSILON = 3e-6


def gt_coefficients(n: list[int], gtmax: int) -> tuple[list[float], int]:
    """The Good–Turing coefficients d(0 … k) (d(0) unused, 1) from the count-of-counts ``n`` (n[r] for
    r = 0 … gtmax + 1), and the k used, as SRILM's ``GoodTuring::estimate`` computes them."""
    k = gtmax if n[1] > 0 else 0
    while k > 0 and n[k + 1] == 0:
        k -= 1
    coeffs = [1.0] * (k + 1)
    if k == 0:
        return coeffs, 0
    common = (k + 1) * n[k + 1] / n[1]
    for r in range(1, k + 1):
        if n[r] == 0:
            continue
        turing = (r + 1) * n[r + 1] / (r * n[r])
        coeff = (turing - common) / (1.0 - common) if common != 1.0 else math.inf
        # SRILM's test, and coeff <= 1: where (k+1) n_{k+1} > n_1 (tiny texts) the formula inflates counts
        # (d = 2.8 was seen, a probability of 1.7), so that count keeps its own, as out of range
        if math.isfinite(coeff) and PROB_EPSILON < coeff <= 1.0 and turing <= 1.0:
            coeffs[r] = coeff
    return coeffs, k


def _per_order(values, default, order: int, name: str) -> list[int]:
    values = list(default if values is None else values)
    if not values or any(int(v) < 0 for v in values):
        raise CallError(f"--{name}: expected whole numbers of at least 0, one per order")
    return [int(values[min(n, len(values) - 1)]) for n in range(order)]


def estimate(counts, *, gtmin=None, gtmax=None) -> Estimate:
    """Good–Turing discounted Katz back-off (``ngram-count -gt``) of ``counts``.

    Args:
      counts: the text's :class:`~xentcli.ngram.counts.Counts`.
      gtmin: the least raw count of an n-gram kept, per order 1, 2, … (the last repeated); SRILM's
        :data:`GTMIN` by default. The unigrams are all kept whatever it says (the vocabulary).
      gtmax: the largest count discounted, per order; SRILM's :data:`GTMAX` by default.

    Returns:
      An :class:`Estimate` whose parameters are each order's ``gtmin``, ``gtmax`` (as used, after
      SRILM's lowering), the coefficients ``d1`` … ``dk`` and the count-of-counts ``n1`` … ``n(k+1)``.
    """
    order = counts.order
    mins, maxs = _per_order(gtmin, GTMIN, order, "gtmin"), _per_order(gtmax, GTMAX, order, "gtmax")
    words = [t.words for t in counts.tables]
    index = NgramIndex(words, len(counts.vocab))
    suffix = suffixes(index, words)
    f, kept, parameters, notes = [], [], [], []
    unigram = None
    for n in range(order):
        c = counts.tables[n].counts.copy()
        if n == 0:
            c[BOS] = 0  # a non-event: never predicted
        top = maxs[n]
        n_r = np.bincount(np.minimum(c, top + 2), minlength=top + 3)[:top + 2].tolist()
        coeffs, k = gt_coefficients(n_r, top)
        discount = np.ones(len(c))
        small = c <= k
        discount[small] = np.asarray(coeffs)[c[small]]
        keep = (c >= max(mins[n], 1)) & (c > 0)
        group, _ = context_groups(words[n])
        total = np.bincount(group, weights=c.astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty text: no counts at all
            own = np.where(keep, discount * c / total[group], 0.0)
        parameters.append({"gtmin": mins[n], "gtmax": k, **{f"d{r}": coeffs[r] for r in range(1, k + 1)},
                           **{f"n{r}": n_r[r] for r in range(1, k + 2)}})
        if k < top:
            notes.append(f"order {n + 1}: Good-Turing discounting up to count {k}, not {top} (count-of-counts "
                         f"{', '.join(map(str, n_r[1:]))})")
        if n == 0:
            unigram = _unigrams(own, c, keep, n_r[1], notes)
        f.append(own)
        kept.append(keep)
    kept[0] = np.ones(len(kept[0]), bool)
    model = backoff_model(counts, index, suffix, unigram, f, kept)
    for n in range(order - 1):
        closed = int(np.count_nonzero(model.backoff[n] <= LOG_ZERO))
        if closed:  # every word seen after them more often than gtmax: nothing was discounted
            notes.append(f"order {n + 2}: {closed:,} contexts keep no mass for unseen words (every word seen "
                         f"after them more than gtmax = {parameters[n + 1]['gtmax']} times); as in SRILM, their "
                         "back-off weight is 0 (log10 -99), so an unseen word after them gets about 10^-99")
    return Estimate(model, parameters, notes)


def _unigrams(own: np.ndarray, c: np.ndarray, keep: np.ndarray, singletons: int, notes: list[str]) -> np.ndarray:
    """The unigram distribution: the discounted words, the mass left shared by the words never kept
    (``<unk>`` at least), or Good's unseen mass when the discounting left none."""
    p = own.copy()
    unseen = ~keep
    unseen[BOS] = False
    left = 1.0 - p.sum()
    total = c.sum()
    if left <= 1e-12 and total > 0:
        left = max(singletons, 1) / total
        p *= 1.0 - left
        notes.append(f"order 1: the Good-Turing discounts left no mass for unseen words; <unk> gets Good's "
                     f"estimate n1/N = {left:.6g}")
    p[unseen] += max(left, 0.0) / np.count_nonzero(unseen)
    return p
