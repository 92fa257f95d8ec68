"""Scoring text with a back-off model, as KenLM's ``query`` scores it.

Each line is a sentence: its words, then ``</s>``, are scored after ``<s>``. A word outside the
model's vocabulary is an OOV: it is scored as ``<unk>`` and the next word's context starts empty.
Where ``h w`` is not in the model, the longest n-gram that is gives the probability, plus the
back-off weights of the contexts it skipped::

    log10 p(w | h) = logprob(h[i:] w) + Σ_{j < i} backoff(h[j:])      (i the first h[i:] w found)

The totals (:class:`Totals`) give both perplexity conventions: KenLM's "including OOVs", over every
token, and its "excluding OOVs" (SRILM's ``ppl``), with OOVs and their log-probabilities left out;
SRILM's ``ppl1`` divides that same log-probability by the words alone, the ``</s>`` tokens not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .corpus import read_sentences, split_words
from .model import BOS, EOS, UNK, Model

__all__ = ["Scores", "Totals", "Explained", "explain_token", "score_text", "score_sentences"]


@dataclass
class Scores:
    """Per-token results of a batch of sentences: ``sentence`` (its number, from 0), ``word`` (the
    model's id; 0 for an OOV), ``logprob`` (log10 p), ``length`` (the n-gram length found) and ``oov``."""

    sentence: np.ndarray
    word: np.ndarray
    logprob: np.ndarray
    length: np.ndarray
    oov: np.ndarray


@dataclass
class Totals:
    """Sums over the scored text, and the figures both tools print from them."""

    order: int
    sentences: int = 0
    words: int = 0
    oovs: int = 0
    logprob: float = 0.0
    oov_logprob: float = 0.0
    sentence_logprobs: list = field(default_factory=list)

    def add(self, scores: Scores, sentences: int) -> None:
        self.sentences += sentences
        self.words += len(scores.word) - sentences
        self.oovs += int(np.count_nonzero(scores.oov))
        with np.errstate(over="ignore"):  # back-offs near -1.8e308 sum to -inf: perplexity inf, as query's
            self.logprob += float(np.sum(scores.logprob))
            self.oov_logprob += float(np.sum(scores.logprob[scores.oov]))

    @property
    def tokens(self) -> int:
        """Words and ``</s>``s: what KenLM's ``Tokens`` counts."""
        return self.words + self.sentences

    @property
    def ppl(self) -> float:
        """KenLM's "Perplexity including OOVs": 10^(-logprob / tokens)."""
        return _ppl(self.logprob, self.tokens)

    @property
    def ppl_excluding_oovs(self) -> float:
        """KenLM's "Perplexity excluding OOVs", SRILM's ``ppl``: OOVs and their log-probabilities left out."""
        return _ppl(self.logprob - self.oov_logprob, self.tokens - self.oovs)

    @property
    def ppl1(self) -> float:
        """SRILM's ``ppl1``: :attr:`ppl_excluding_oovs`'s log-probability (``</s>``'s included) over words - OOVs."""
        return _ppl(self.logprob - self.oov_logprob, self.words - self.oovs)

    @property
    def bits_per_token(self) -> float:
        return -self.logprob / self.tokens * math.log2(10) if self.tokens else math.nan

    @property
    def nats_per_token(self) -> float:
        return -self.logprob / self.tokens * math.log(10) if self.tokens else math.nan


def _ppl(logprob: float, n: int) -> float:
    if n <= 0:
        return math.nan
    return 10.0 ** (-logprob / n) if -logprob / n < 308 else math.inf


def score_sentences(model: Model, sentences: list[list[int]]) -> Scores:
    """Scores of sentences of word ids (0 for an OOV), each followed by ``</s>``."""
    index = model.index
    order = model.order
    lengths = np.fromiter((len(s) + 2 for s in sentences), np.int64, len(sentences))
    seq = np.empty(int(lengths.sum()), np.int64)
    pos = 0
    for s, length in zip(sentences, lengths):
        seq[pos] = BOS
        seq[pos + 1:pos + length - 1] = s
        seq[pos + length - 1] = EOS
        pos += length
    starts = np.cumsum(lengths) - lengths
    start_of = np.repeat(starts, lengths)
    # The earliest position a context may reach back to: the sentence's <s>, or just after an OOV.
    after_oov = np.where(seq == UNK, np.arange(len(seq)) + 1, 0)
    after_oov[starts] = starts
    reach = np.maximum.accumulate(np.maximum(after_oov, start_of))
    positions = np.arange(len(seq))
    context = np.zeros(len(seq), np.int64)
    context[1:] = positions[1:] - reach[:-1]  # words before p it may use (its own p-1 reach)
    context = np.minimum(context, order - 1)
    found = [np.asarray(seq)]  # found[n-1][p]: the n-gram ending at p, or -1
    for n in range(2, order + 1):
        prefix = np.full(len(seq), -1, np.int64)
        prefix[1:] = found[-1][:-1]
        prefix[context < n - 1] = -1
        found.append(index.locate(n - 1, prefix, seq))
    targets = np.ones(len(seq), bool)
    targets[starts] = False
    logprob = np.full(len(seq), np.nan)
    length = np.zeros(len(seq), np.int64)
    for n in range(1, order + 1):
        at = found[n - 1]
        hit = at >= 0
        values = np.full(len(seq), np.nan)
        values[hit] = model.logprob[n - 1][at[hit]]
        ok = hit & ~np.isnan(values)
        logprob[ok] = values[ok]
        length[ok] = n
    total = logprob.copy()
    for k in range(1, order):  # back-offs of the contexts longer than the n-gram found
        ctx = np.full(len(seq), -1, np.int64)
        ctx[1:] = found[k - 1][:-1]
        charged = (ctx >= 0) & (k >= length) & (k <= context)
        with np.errstate(over="ignore"):  # as in Totals.add
            total[charged] += model.backoff[k - 1][ctx[charged]]
    sentence = np.repeat(np.arange(len(sentences)), lengths)
    return Scores(sentence[targets], seq[targets].astype(np.int32), total[targets], length[targets],
                  (seq == UNK)[targets])


def score_text(model: Model, files: list[str], *, skip_symbols: bool = False, each=None) -> Totals:
    """Score every line of ``files``; ``each(scores, words, first_sentence)`` sees each batch's
    :class:`Scores` and its words (bytes) as they are scored. A literal ``<s>`` or ``</s>`` is bad data
    naming its line, unless ``skip_symbols`` reads it as a space; ``<unk>`` is an OOV, as in ``query``."""
    ids = model.word_ids()
    totals = Totals(model.order)
    first = 0
    for batch in read_sentences(files):
        words = [split_words(line) for line in batch.lines]
        sentences = []
        for k, line in enumerate(words):
            row = [ids.get(w, UNK) for w in line]
            if BOS in row or EOS in row:
                if not skip_symbols:
                    name = "stdin" if batch.path == "-" else batch.path
                    raise DataError(f"--text {name}: line {batch.first_line + k}: <s> and </s> are the model's own "
                                    "symbols; remove them, or pass --skip-symbols to read them as spaces")
                keep = [j for j, i in enumerate(row) if i not in (BOS, EOS)]
                row = [row[j] for j in keep]
                words[k] = [line[j] for j in keep]
            sentences.append(row)
        scores = score_sentences(model, sentences)
        totals.add(scores, len(sentences))
        if each is not None:
            each(scores, words, first)
        first += len(sentences)
    return totals


@dataclass
class Explained:
    """How one token's log10 probability came about: the n-gram found (words), its log10 p, and each
    longer context skipped with its back-off weight (words, log10 b; b = 1 where the context is not
    in the model)."""

    word: bytes
    context: list[bytes]
    found: list[bytes]
    found_logprob: float
    backoffs: list[tuple[list[bytes], float]]
    logprob: float
    oov: bool


def explain_token(model: Model, history: list[int], word: int, surface: bytes, logprob: float) -> Explained:
    """The derivation of ``word``'s score after ``history`` (the ids before it in its sentence), one
    lookup at a time; ``logprob`` is the scorer's own result, shown as the total."""
    context = [BOS, *history]
    if UNK in history:
        context = history[len(history) - history[::-1].index(UNK):]
    context = context[len(context) - min(len(context), model.order - 1):]
    index = model.index
    vocab = model.vocab

    def find(words):
        return int(index.find(np.asarray([words], np.int64))[0])

    n_found, lp = 1, float(model.logprob[0][word])
    for n in range(2, len(context) + 2):
        at = find(context[len(context) - n + 1:] + [word])
        if at >= 0 and not np.isnan(model.logprob[n - 1][at]):
            n_found, lp = n, float(model.logprob[n - 1][at])
    charged = []
    for k in range(n_found, len(context) + 1):
        ctx = context[len(context) - k:]
        at = find(ctx)
        charged.append(([vocab[i] for i in ctx], float(model.backoff[k - 1][at]) if at >= 0 else 0.0))
    found = context[len(context) - n_found + 1:] + [word] if n_found > 1 else [word]
    return Explained(surface, [vocab[i] for i in context], [vocab[i] for i in found], lp, charged, logprob,
                     word == UNK)
