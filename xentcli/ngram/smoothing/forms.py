"""The two forms a smoothed model takes, shared by the methods: interpolated (each order's own term
plus a weight times the order below, :func:`interpolated_model`) and back-off (Katz: the seen n-grams'
discounted probabilities, the rest backed off with a normalising weight, :func:`backoff_model`).
Both are written exactly in ARPA's back-off form.
"""

from __future__ import annotations

import numpy as np

from ..model import BOS, Model, NgramIndex
from . import context_groups

__all__ = ["LOG_ZERO", "log10", "suffixes", "interpolated_model", "backoff_model"]

#: log10 of probability 0, as SRILM writes it.
LOG_ZERO = -99.0
#: A back-off denominator below this is taken as 0: dividing by it would magnify rounding past 1e-9.
ROOM_EPSILON = 1e-6


def log10(x: np.ndarray) -> np.ndarray:
    """log10 of probabilities, 0 written as SRILM's -99."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log10(x), LOG_ZERO)


def suffixes(index: NgramIndex, words: list[np.ndarray]) -> list[np.ndarray]:
    """For orders 2 … N, each n-gram's suffix (its last n-1 words) as a row of the (n-1)-grams."""
    return index.suffixes(words)


def interpolated_model(counts, index: NgramIndex, suffix: list[np.ndarray], alpha: list[np.ndarray],
                       gamma: list[np.ndarray]) -> Model:
    """The back-off model of an interpolated estimate.

    ``alpha[n]`` is, per row of order n+1, the term of its own counts; ``gamma[n]`` per context of
    order n+1 (the groups of :func:`context_groups`; one value on the unigrams) the weight of the
    lower order, where Σ_w alpha(hw) + γ(h) = 1. Then p(w|h) = alpha(hw) + γ(h) p(w|h[1:]), the
    unigrams' lower order the uniform 1/|V|, and γ(h) is h's back-off weight: an unseen h w gets
    γ(h) p(w|h[1:]), the interpolated value.
    """
    order, vocab = counts.order, counts.vocab
    words = [t.words for t in counts.tables]
    size = len(vocab) - 1  # <s> is no outcome
    probs, backoff = [], [np.zeros(len(w)) for w in words]
    for n in range(order):
        if n == 0:
            p = alpha[0] + gamma[0][0] / size
            p[BOS] = 0.0
        else:
            group, starts = context_groups(words[n])
            p = alpha[n] + gamma[n][group] * probs[n - 1][suffix[n]]
            contexts = index.keys[n][starts] // index.vocab_size
            backoff[n - 1][contexts] = log10(gamma[n])
        probs.append(p)
    return Model(order, vocab, words, [log10(p) for p in probs], backoff, _index=index)


def backoff_model(counts, index: NgramIndex, suffix: list[np.ndarray], unigram: np.ndarray,
                  f: list[np.ndarray], kept: list[np.ndarray]) -> Model:
    """The Katz back-off model: ``unigram`` probabilities (``<s>``'s ignored), and for orders 2 … N the
    kept n-grams' own probabilities ``f[n]`` (rows of ``counts``' tables; ``kept[n]`` says which are in
    the model), the back-off weights making each context sum to 1 (ngram-discount(7) eq. for bow)."""
    order, vocab = counts.order, counts.vocab
    words = [t.words for t in counts.tables]
    full = [unigram]  # p(w|h) of every counted n-gram, kept or not
    backoff = [np.zeros(len(w)) for w in words]
    for n in range(1, order):
        group, starts = context_groups(words[n])
        lower = full[n - 1][suffix[n]]
        mine = np.where(kept[n], f[n], 0.0)
        left = np.maximum(1.0 - np.bincount(group, weights=mine), 0.0)
        room = 1.0 - np.bincount(group, weights=np.where(kept[n], lower, 0.0))
        # Mass left but (next to) none for the unseen words below: the seen words share it (SRILM's
        # "BOW denominator for context is zero; scaling probabilities to sum to 1").
        stuck = (room < ROOM_EPSILON) & (left > 0)
        mine = mine * np.divide(1.0, 1.0 - left, out=np.ones(len(left)), where=stuck)[group]
        bow = np.divide(left, room, out=np.zeros(len(left)), where=~stuck & (left > 0))
        full.append(np.where(kept[n], mine, bow[group] * lower))
        contexts = index.keys[n][starts] // index.vocab_size
        backoff[n - 1][contexts] = log10(bow)
    unigram_log = log10(unigram)
    unigram_log[BOS] = -99.0
    logprob = [unigram_log] + [log10(full[n][kept[n]]) for n in range(1, order)]
    return Model(order, vocab, [words[0]] + [words[n][kept[n]] for n in range(1, order)], logprob,
                 [backoff[0]] + [backoff[n][kept[n]] for n in range(1, order)])
