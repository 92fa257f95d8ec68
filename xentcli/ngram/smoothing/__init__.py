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
    """The ``method`` model of ``counts`` (:data:`METHODS`); ``options`` are the method's own."""
    return importlib.import_module(METHODS[method]).estimate(counts, **options)


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
