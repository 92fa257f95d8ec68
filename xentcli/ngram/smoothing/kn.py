"""Interpolated Kneser–Ney with one discount per order, as SRILM's ``ngram-count -ukndiscount -interpolate``.

ngram-discount(7), "Kneser-Ney discounting" with ``-interpolate``; Chen & Goodman (1998, §2.7 and
eq. 25–26, their "interpolated Kneser-Ney"):

* **Counts** a(g): the raw count on the highest order and for n-grams starting with ``<s>``; below,
  the continuation count N1+(• g), the number of distinct words seen before g (the adjusted counts of
  :func:`~xentcli.ngram.smoothing.mkn.adjusted_counts`).
* **Discount** per order from the count-of-counts n1, n2 of those counts::

      D = n1 / (n1 + 2 n2)

  An order with n1 = 0 has D = 0: its unseen words would get no probability. SRILM refuses such data
  ("one of required KneserNey count-of-counts is zero"); here it is bad data unless
  ``discount_fallback`` gives the D to use.
* **Interpolation**: for a context h with n-grams h w::

      p(w|h) = max(a(hw) - D, 0) / Σ_w' a(hw') + γ(h) p(w|h[1:]),    γ(h) = D N1+(h •) / Σ_w' a(hw')

  and the unigrams interpolate with the uniform 1/|V| (|V| counts ``</s>`` and ``<unk>``, not ``<s>``),
  as Chen & Goodman's recursion ends, so ``<unk>`` gets γ(ε)/|V|. SRILM instead gives γ(ε) to the
  words never seen (here ``<unk>``); the uniform end is lmplz's default too.
* **Back-off form**: γ(h) is h's back-off weight, which writes the interpolated model exactly
  (:func:`interpolated_model`). ``<s>`` is never predicted: log10 p = -99, SRILM's convention.
"""

from __future__ import annotations

import numpy as np

from ...errors import DataError
from ..model import NgramIndex
from . import Estimate, context_groups
from .forms import interpolated_model
from .mkn import adjusted_counts, count_of_counts

__all__ = ["estimate", "discount"]


def discount(t: list[int], order: int, fallback) -> tuple[float, str | None]:
    """D = n1 / (n1 + 2 n2) of an order, and a note when ``fallback`` replaced it."""
    if t[0] > 0:
        return t[0] / (t[0] + 2 * t[1]), None
    problem = f"no {order}-gram has count {'1' if order == 1 else '(or continuation count) 1'}, so D = n1/(n1+2 n2) = 0"
    if fallback is None:
        raise DataError(f"cannot estimate the Kneser-Ney discount: {problem} and unseen words would get no "
                        "probability; the text is too small or repetitive. Pass --discount-fallback to use a fixed "
                        "discount (0.5) there")
    d = float(list(fallback)[0]) if len(list(fallback)) else 0.5
    return d, f"order {order}: {problem}; used the fallback discount {d:g}"


def estimate(counts, *, discount_fallback=None) -> Estimate:
    """Interpolated Kneser-Ney with one discount per order (``-ukndiscount -interpolate``) of ``counts``.

    Args:
      counts: the text's :class:`~xentcli.ngram.counts.Counts`.
      discount_fallback: discounts, the first used as D for an order whose n1 is 0; None refuses
        such data (DataError), as SRILM does.

    Returns:
      An :class:`Estimate` whose parameters are each order's ``D`` and count-of-counts ``n1``, ``n2``.
    """
    order = counts.order
    words = [t.words for t in counts.tables]
    index = NgramIndex(words, len(counts.vocab))
    adjusted, suffix = adjusted_counts(counts, index)
    alpha, gamma, parameters, notes = [], [], [], []
    for n in range(order):
        a = adjusted[n].astype(np.float64)
        t = count_of_counts(adjusted[n])
        d, note = discount(t, n + 1, discount_fallback)
        parameters.append({"D": d, "n1": t[0], "n2": t[1]})
        if note:
            notes.append(note)
        group, _ = context_groups(words[n])
        total = np.bincount(group, weights=a)
        taken = np.bincount(group, weights=np.minimum(a, d))  # D N1+(h•); a count below D gives only itself
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty text: no counts at all
            alpha.append(np.maximum(a - d, 0.0) / total[group])
            gamma.append(taken / total)
    return Estimate(interpolated_model(counts, index, suffix, alpha, gamma), parameters, notes)
