"""A back-off n-gram model in memory, as an ARPA file holds it, and how its n-grams are found.

Each order's n-grams are rows of word ids, sorted; the probability of w after h is the n-gram's own
where ``h w`` is in the model, else h's back-off weight times the probability after h without its
first word (Katz's back-off form, which interpolated models are written in exactly)::

    log10 p(w | h) = logprob(h w)                        if h w is in the model
                   = backoff(h) + log10 p(w | h[1:])     otherwise (backoff 0 where h is not)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Model", "NgramIndex", "row_order", "UNK", "BOS", "EOS"]

#: The ids of the symbols every model has: <unk>, <s> and </s>.
UNK, BOS, EOS = 0, 1, 2


def row_order(words: np.ndarray, vocab_size: int) -> np.ndarray:
    """The stable permutation that sorts the rows of ``words`` (ids below ``vocab_size``) lexicographically:
    the words packed into as few int64 keys as hold them (one for a trigram of a 2^21-word vocabulary),
    not one sort key a word."""
    bits = max(1, int(vocab_size - 1).bit_length())
    per_key = max(1, 63 // bits)
    keys = []
    for a in range(0, words.shape[1], per_key):
        key = np.zeros(len(words), np.int64)
        for j in range(a, min(a + per_key, words.shape[1])):
            key = (key << bits) | words[:, j]
        keys.append(key)
    if len(keys) == 1:
        return np.argsort(keys[0], kind="stable")
    return np.lexsort(keys[::-1])


class NgramIndex:
    """Finds rows of word ids among each order's n-grams.

    An n-gram's key is the index of its first n-1 words among the (n-1)-grams, times the vocabulary
    size, plus its last word: one sorted int64 array per order, searched with ``np.searchsorted``.
    Every n-gram's first n-1 words must be an (n-1)-gram of the table (:meth:`Model.add_missing_prefixes`).
    """

    def __init__(self, words: list[np.ndarray], vocab_size: int):
        self.vocab_size = np.int64(vocab_size)
        self.keys: list[np.ndarray] = [words[0][:, 0].astype(np.int64)]
        # unigram row i is word i (every Model's and Counts' vocabulary): found without a search
        self.every_word = bool(np.array_equal(self.keys[0], np.arange(len(self.keys[0]))))
        for n in range(2, len(words) + 1):
            prefix = self.find(words[n - 1][:, :-1])
            if len(prefix) and prefix.min() < 0:
                raise ValueError(f"an {n}-gram's first {n - 1} words are not among the {n - 1}-grams")
            self.keys.append(prefix * self.vocab_size + words[n - 1][:, -1])

    def suffixes(self, words: list[np.ndarray]) -> list[np.ndarray]:
        """For the table's own n-grams (``words``, the rows it was built from), the index of each one's
        suffix (its last n-1 words) among the (n-1)-grams, for orders 2 … N (order 1: empty); -1 where
        a suffix is not in the table. One search per order: a row's suffix is its prefix's suffix
        followed by its last word."""
        out = [np.empty(0, np.int64)]
        for n in range(1, len(words)):
            if n == 1:
                found = words[1][:, 1].astype(np.int64)
            else:
                prefix_suffix = out[n - 1][self.keys[n] // self.vocab_size]
                found = self.locate(n - 1, prefix_suffix, words[n][:, -1])
            out.append(found)
        return out

    def find(self, rows: np.ndarray) -> np.ndarray:
        """The index of each row of ``rows`` (M, n) among the n-grams, or -1."""
        rows = np.asarray(rows)
        n = rows.shape[1]
        found = self.locate(0, np.zeros(len(rows), np.int64) - 1, rows[:, 0])
        for j in range(1, n):
            found = self.locate(j, found, rows[:, j])
        return found

    def locate(self, j: int, prefix: np.ndarray, word: np.ndarray) -> np.ndarray:
        """The index among the (j+1)-grams of ``prefix`` (indices of j-grams; -1 for none) followed by
        ``word``, or -1; for j = 0 the unigram of ``word``."""
        keys = self.keys[j]
        if j == 0 and self.every_word:
            word = np.asarray(word, np.int64)
            return np.where((word >= 0) & (word < len(keys)), word, -1)
        if j == 0:
            at = np.searchsorted(keys, word)
            ok = at < len(keys)
        else:
            query = prefix * self.vocab_size + word
            at = np.searchsorted(keys, query)
            ok = (prefix >= 0) & (at < len(keys))
        hit = np.zeros(len(at), bool)
        hit[ok] = keys[at[ok]] == (word[ok] if j == 0 else query[ok])
        return np.where(hit, at, -1)


@dataclass
class Model:
    """An n-gram model: the words, and each order's n-grams with log10 probabilities and back-offs.

    Attributes:
      order: the longest n-gram, N.
      vocab: words by id (bytes); the unigrams are the vocabulary, row i of order 1 being word i.
      words: per order n, (M_n, n) int32 word ids, rows unique and sorted.
      logprob: per order, log10 p of each n-gram (float64; NaN for an n-gram added only as the context
        of longer ones, with no probability of its own).
      backoff: per order, log10 of each n-gram's back-off weight (0 on the highest order).
    """

    order: int
    vocab: list[bytes]
    words: list[np.ndarray]
    logprob: list[np.ndarray]
    backoff: list[np.ndarray]
    _index: NgramIndex | None = field(default=None, repr=False)

    @property
    def index(self) -> NgramIndex:
        if self._index is None:
            self._index = NgramIndex(self.words, len(self.vocab))
        return self._index

    def word_ids(self) -> dict[bytes, int]:
        return {w: i for i, w in enumerate(self.vocab)}

    @property
    def sizes(self) -> list[int]:
        """n-grams per order, as ``\\data\\`` counts them (context-only rows left out)."""
        return [int(np.count_nonzero(~np.isnan(p))) for p in self.logprob]
