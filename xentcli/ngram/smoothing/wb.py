"""Interpolated Witten–Bell, as SRILM's ``ngram-count -wbdiscount -interpolate``.

ngram-discount(7), "Witten-Bell discounting"; Witten & Bell (1991); Chen & Goodman (1998, §2.5,
eq. 12). With raw counts c, for a context h followed by N1+(h •) distinct words::

    p(w|h) = (c(hw) + N1+(h •) p(w|h[1:])) / (Σ_w' c(hw') + N1+(h •))

i.e. γ(h) = N1+(h •) / (Σ_w' c(hw') + N1+(h •)) goes to the lower order, which is h's back-off weight
in the ARPA. The unigrams interpolate with the uniform 1/|V| (|V| counts ``</s>`` and ``<unk>``, not
``<s>``), so ``<unk>`` gets γ(ε)/|V|; SRILM gives γ(ε) to the words never seen instead. ``<s>`` is never
predicted (log10 p = -99).
"""

from __future__ import annotations

import numpy as np

from ..model import BOS, NgramIndex
from . import Estimate, context_groups
from .forms import interpolated_model, suffixes

__all__ = ["estimate"]


def estimate(counts) -> Estimate:
    """Interpolated Witten-Bell of ``counts``.

    Returns:
      An :class:`Estimate` whose parameters are each order's contexts and their mean γ.
    """
    words = [t.words for t in counts.tables]
    index = NgramIndex(words, len(counts.vocab))
    alpha, gamma, parameters = [], [], []
    for n in range(counts.order):
        c = counts.tables[n].counts.astype(np.float64)
        if n == 0:
            c[BOS] = 0.0
        group, _ = context_groups(words[n])
        total = np.bincount(group, weights=c)
        types = np.bincount(group, weights=(c > 0).astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty text: no counts at all
            alpha.append(c / (total + types)[group])
            gamma.append(types / (total + types))
        parameters.append({"contexts": len(total), "mean gamma": float(np.mean(gamma[-1])) if len(total) else 0.0})
    return Estimate(interpolated_model(counts, index, suffixes(index, words), alpha, gamma), parameters)
