"""Additive smoothing, as SRILM's ``ngram-count -addsmooth K`` (Laplace's rule at K = 1).

ngram-discount(7), "Additive smoothing"; Chen & Goodman (1998, §2.1; Lidstone 1920, Jeffreys 1948):
an n-gram seen in the text gets::

    f(hw) = (c(hw) + K) / (Σ_w' c(hw') + K |V|)

(|V| counts ``</s>`` and ``<unk>``, not ``<s>``), and an unseen one backs off, Katz's way, with the
weight that makes its context sum to 1 (ngram-discount(7))::

    bow(h) = (1 - Σ_{w seen} f(hw)) / (1 - Σ_{w seen} p(w|h[1:]))

On the unigrams every word is in the model: ``<unk>`` (never seen) gets K / (N + K |V|), N the tokens
with ``</s>``; ``<s>`` is never predicted (log10 p = -99, SRILM's convention).
"""

from __future__ import annotations

import numpy as np

from ...errors import CallError
from ..model import BOS, NgramIndex
from . import Estimate, context_groups
from .forms import backoff_model, suffixes

__all__ = ["estimate"]


def estimate(counts, *, k: float = 1.0) -> Estimate:
    """Additive smoothing with ``k`` added to every count (``-addsmooth K``) of ``counts``.

    Returns:
      An :class:`Estimate` whose parameters are each order's ``k`` and ``|V|``.
    """
    k = float(k)
    if not k > 0 or not np.isfinite(k):
        raise CallError(f"--k: expected a positive number, got {k:g} (with 0 an unseen word has no probability)")
    order = counts.order
    size = len(counts.vocab) - 1  # <s> is no outcome
    words = [t.words for t in counts.tables]
    index = NgramIndex(words, len(counts.vocab))
    own, kept = [], []
    for n in range(order):
        c = counts.tables[n].counts.astype(np.float64)
        if n == 0:
            c[BOS] = 0.0
        group, _ = context_groups(words[n])
        total = np.bincount(group, weights=c)
        own.append((c + k) / (total[group] + k * size))
        kept.append(c > 0)
    unigram = own[0]
    unigram[BOS] = 0.0
    kept[0] = np.ones(len(kept[0]), bool)
    model = backoff_model(counts, index, suffixes(index, words), unigram, own, kept)
    return Estimate(model, [{"k": k, "|V|": size} for _ in range(order)])
