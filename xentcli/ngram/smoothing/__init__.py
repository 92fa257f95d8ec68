"""Smoothing methods: each turns :class:`~xentcli.ngram.counts.Counts` into a back-off
:class:`~xentcli.ngram.model.Model` whose every context's probabilities sum to 1.

One module per method, each with ``estimate(counts, **options) -> Estimate``; :data:`METHODS` names
them (a new method is one module and one line here).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from ..model import Model

__all__ = ["METHODS", "Estimate", "estimate", "context_groups"]

#: Every method, by its ``--smoothing`` name: the module that estimates it.
METHODS = {
    "mkn": "xentcli.ngram.smoothing.mkn",
    "kn": "xentcli.ngram.smoothing.kn",
    "katz": "xentcli.ngram.smoothing.katz",
    "wb": "xentcli.ngram.smoothing.wb",
    "jm": "xentcli.ngram.smoothing.jm",
    "add-k": "xentcli.ngram.smoothing.addk",
}


#: A log10 probability above 0 by less than this is a probability of 1 rounded up.
ROUNDING = 1e-12


@dataclass
class Estimate:
    """A method's model and what the build report says of it.

    Attributes:
      model: the model, log10 values unrounded.
      parameters: per order 1 … N, the method's parameters by name (the discounts ``D1``, ``D2``,
        ``D3+``; ``lambda`` buckets; ``k``), as the report lists them.
      notes: lines for the report (a fallback discount used, …).
    """

    model: Model
    parameters: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def estimate(counts, method: str, **options) -> Estimate:
    """The ``method`` model of ``counts`` (:data:`METHODS`); ``options`` are the method's own.

    A probability of 1 computed as 1 + 1e-16 would be a positive log10, which no ARPA reader takes: such
    rounding is clamped to 0, as lmplz clamps it (a larger excess would be a method's error, and is kept).
    """
    est = importlib.import_module(METHODS[method]).estimate(counts, **options)
    for lp in est.model.logprob:
        lp[(lp > 0) & (lp < ROUNDING)] = 0.0
    return est


def context_groups(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted n-gram rows, the group of rows sharing their first n-1 words: (the group of each row,
    the first row of each group). Unigrams are one group."""
    m, n = words.shape
    if n == 1 or m == 0:
        return np.zeros(m, np.int64), np.zeros(min(m, 1), np.int64)
    new = np.ones(m, bool)
    new[1:] = np.any(words[1:, :-1] != words[:-1, :-1], axis=1)
    starts = np.flatnonzero(new)
    return np.cumsum(new) - 1, starts
