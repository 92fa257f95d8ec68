"""N-gram counts of a text: every n-gram of every order up to N, counted in the sentences
``<s> w1 … wk </s>``, with the vocabulary in the order its words first appear.

Counting is streamed: the text is read in batches, each batch's n-grams are counted with NumPy
(:func:`count_batch`), and the tables are merged (:func:`merge_tables`). Past ``memory`` bytes the
merged tables are written to disk as sorted runs and merged again at the end a slice of the
vocabulary at a time, as lmplz sorts on disk. A file at a time is the unit of work that can run
elsewhere (:func:`count_file` on a Dask worker): the vocabulary and counts come out the same
whichever way, so the model does too, byte for byte.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from ..errors import CallError, DataError
from .corpus import SPECIALS, Sentences, read_sentences, split_words

__all__ = ["Counts", "Table", "count_batch", "count_file", "count_lines", "count_text", "merge_tables",
           "DEFAULT_MEMORY"]

#: Bytes of count tables held in memory before sorted runs go to disk (``--memory``'s default).
DEFAULT_MEMORY = 1 << 30


@dataclass
class Table:
    """The n-grams of one order: ``words`` (M, n) int32 word ids, unique rows sorted lexicographically,
    and ``counts`` (M,) int64, how often each occurs."""

    words: np.ndarray
    counts: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.counts.nbytes


@dataclass
class Counts:
    """What a text holds, for an order-``order`` model.

    Attributes:
      order: N, the longest n-gram counted.
      vocab: the words as bytes, by id: ``<unk>`` 0, ``<s>`` 1, ``</s>`` 2, then as first seen.
      tokens: words in the text (``<s>`` and ``</s>`` not counted), lmplz's "Unigram tokens".
      sentences: lines read.
      tables: one :class:`Table` per order 1 … N. The unigram table has one row per vocabulary id
        (``<unk>`` with count 0, ``<s>`` and ``</s>`` with the number of sentences).
      skipped_symbols: ``<s>``, ``</s>`` and ``<unk>`` read as spaces (``skip_symbols``).
    """

    order: int
    vocab: list[bytes]
    tokens: int
    sentences: int
    tables: list[Table] = field(default_factory=list)
    skipped_symbols: int = 0

    def __post_init__(self):
        self.index = {w: i for i, w in enumerate(self.vocab)}


def _empty(n: int) -> Table:
    return Table(np.zeros((0, n), np.int32), np.zeros(0, np.int64))


def count_batch(seq: np.ndarray, ends: np.ndarray, order: int, vocab_size: int) -> list[Table]:
    """The n-gram tables (orders 1 … ``order``) of sentences laid end to end in ``seq``.

    ``seq`` holds ``<s> w… </s>`` for each sentence (int32 ids below ``vocab_size``); ``ends[i]`` is
    the index of the ``</s>`` that ends position i's sentence. An order-n n-gram starts at i when it
    ends in the same sentence: ``i + n - 1 <= ends[i]``.
    """
    v = np.int64(vocab_size)
    tables = []
    rank = seq.astype(np.int64)  # at i: the rank of the (n-1)-gram starting at i among the batch's
    for n in range(1, order + 1):
        starts = np.flatnonzero(np.arange(len(seq)) + (n - 1) <= ends)
        keys = rank[starts] if n == 1 else rank[starts] * v + seq[starts + n - 1]
        unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        if n == 1:
            words = unique.astype(np.int32)[:, None]
        else:
            words = np.empty((len(unique), n), np.int32)
            words[:, :-1] = tables[-1].words[unique // v]
            words[:, -1] = unique % v
        tables.append(Table(words, counts.astype(np.int64)))
        rank = np.full(len(seq), -1, np.int64)
        rank[starts] = inverse
    return tables


def merge_tables(parts: list[Table]) -> Table:
    """One table of the rows of ``parts`` (of one order), equal rows' counts added."""
    width = parts[0].words.shape[1]
    parts = [p for p in parts if len(p.counts)]
    if not parts:
        return _empty(width)
    if len(parts) == 1:
        return parts[0]
    words = np.concatenate([p.words for p in parts])
    counts = np.concatenate([p.counts for p in parts])
    n = words.shape[1]
    v = np.int64(words.max()) + 1
    keys = words[:, 0].astype(np.int64)
    for j in range(1, n):
        _, keys = np.unique(keys, return_inverse=True)
        keys = keys * v + words[:, j]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    summed = np.zeros(len(first), np.int64)
    np.add.at(summed, inverse, counts)
    return Table(words[first], summed)


class _Vocabulary:
    """Word → id, ids given in order of first sight after the three specials."""

    def __init__(self, skip_symbols: bool):
        self.ids = {w: i for i, w in enumerate(SPECIALS)}
        self.words = list(SPECIALS)
        self.skip_symbols = skip_symbols
        self.skipped = 0

    def sentence_ids(self, batch, line_words: list[list[bytes]]) -> list[list[int]]:
        ids, words = self.ids, self.words
        out = []
        for k, line in enumerate(line_words):
            row = []
            for w in line:
                i = ids.get(w)
                if i is None:
                    i = ids[w] = len(words)
                    words.append(w)
                elif i < 3:
                    if not self.skip_symbols:
                        name = "stdin" if batch.path == "-" else batch.path
                        raise DataError(f"--text {name}: line {batch.first_line + k}: the word {w.decode()} is the "
                                        "model's own symbol; remove it, or pass --skip-symbols to read <s>, </s> and "
                                        "<unk> in the text as spaces")
                    self.skipped += 1
                    continue
                row.append(i)
            out.append(row)
        return out


def _batch_arrays(sentence_ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(s) + 2 for s in sentence_ids), np.int64, len(sentence_ids))
    seq = np.empty(int(lengths.sum()), np.int32)
    pos = 0
    for s, length in zip(sentence_ids, lengths):
        seq[pos] = 1
        seq[pos + 1:pos + length - 1] = s
        seq[pos + length - 1] = 2
        pos += length
    ends = np.repeat(np.cumsum(lengths) - 1, lengths)
    return seq, ends


class _Runs:
    """Count tables of one text, merged in memory up to ``memory`` bytes, beyond that in sorted runs
    on disk (a temp folder removed when counting ends, however it ends)."""

    def __init__(self, order: int, memory: int, folder: str | None):
        self.order, self.memory, self.folder = order, memory, folder
        self.held: list[list[Table]] = [[] for _ in range(order)]
        self.held_bytes = 0
        self.runs: list[list[str]] = []
        self._tmp: tempfile.TemporaryDirectory | None = None

    def add(self, tables: list[Table]) -> None:
        for n, t in enumerate(tables):
            self.held[n].append(t)
            self.held_bytes += t.nbytes
        if self.held_bytes > self.memory // 2:
            merged = [merge_tables(parts) for parts in self.held]
            self.held = [[t] for t in merged]
            self.held_bytes = sum(t.nbytes for t in merged)
            if self.held_bytes > self.memory // 2:
                self._spill(merged)

    def _spill(self, tables: list[Table]) -> None:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="xent-ngram-", dir=self.folder)
        paths = []
        for n, t in enumerate(tables):
            path = os.path.join(self._tmp.name, f"run{len(self.runs)}-{n + 1}.npy")
            np.save(path, np.column_stack([t.words.astype(np.int64), t.counts]))
            paths.append(path)
        self.runs.append(paths)
        self.held = [[] for _ in range(self.order)]
        self.held_bytes = 0

    def tables(self) -> list[Table]:
        try:
            if not self.runs:
                return [merge_tables(parts) if parts else _empty(n + 1) for n, parts in enumerate(self.held)]
            return [self._merge_runs(n) for n in range(self.order)]
        finally:
            self.close()

    def _merge_runs(self, n: int) -> Table:
        """Order n+1's runs merged a slice of first words at a time, each slice about ``memory / 2``."""
        runs = [np.load(paths[n], mmap_mode="r") for paths in self.runs]
        held = merge_tables(self.held[n]) if self.held[n] else None
        firsts = [r[:, 0] for r in runs] + ([held.words[:, 0].astype(np.int64)] if held else [])
        top = max((int(f[-1]) for f in firsts if len(f)), default=0) + 1
        rows = sum(len(f) for f in firsts)
        pieces = max(1, -(-rows * 8 * (n + 2) // max(1, self.memory // 2)))
        bounds = np.linspace(0, top, pieces + 1).astype(np.int64)
        out = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            parts = []
            for r, f in zip(runs, firsts):
                i, j = np.searchsorted(f, [a, b])
                block = np.asarray(r[i:j])
                parts.append(Table(block[:, :-1].astype(np.int32), block[:, -1].copy()))
            if held:
                i, j = np.searchsorted(firsts[-1], [a, b])
                parts.append(Table(held.words[i:j], held.counts[i:j]))
            out.append(merge_tables(parts))
        return Table(np.concatenate([t.words for t in out]).reshape(-1, n + 1), np.concatenate([t.counts for t in out]))

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def count_file(path: str, order: int, skip_symbols: bool = False, memory: int = DEFAULT_MEMORY,
               temp_folder: str | None = None) -> Counts:
    """The :class:`Counts` of one file (or ``-``), its vocabulary in its own first-seen order."""
    return _count([path], order, skip_symbols, memory, temp_folder)


def count_lines(lines: list[bytes], order: int, *, skip_symbols: bool = False, name: str = "-") -> Counts:
    """The :class:`Counts` of sentences given as lines of bytes (``name`` is their file in messages)."""
    return _count_batches([Sentences(name, 1, lines)], order, skip_symbols, DEFAULT_MEMORY, None)


def _count(files: list[str], order: int, skip_symbols: bool, memory: int, temp_folder: str | None) -> Counts:
    return _count_batches(read_sentences(files), order, skip_symbols, memory, temp_folder)


def _count_batches(batches, order: int, skip_symbols: bool, memory: int, temp_folder: str | None) -> Counts:
    vocab = _Vocabulary(skip_symbols)
    runs = _Runs(order, memory, temp_folder)
    tokens = sentences = 0
    try:
        for batch in batches:
            ids = vocab.sentence_ids(batch, [split_words(line) for line in batch.lines])
            seq, ends = _batch_arrays(ids)
            tokens += len(seq) - 2 * len(ids)
            sentences += len(ids)
            runs.add(count_batch(seq, ends, order, len(vocab.words)))
        tables = runs.tables()
    finally:
        runs.close()
    return Counts(order, vocab.words, tokens, sentences, _with_every_word(tables, len(vocab.words)), vocab.skipped)


def _with_every_word(tables: list[Table], size: int) -> list[Table]:
    """The unigram table with a row for every id (``<unk>`` has none in the text: count 0)."""
    unigram = np.zeros(size, np.int64)
    if len(tables[0].counts):
        unigram[tables[0].words[:, 0]] = tables[0].counts
    tables[0] = Table(np.arange(size, dtype=np.int32)[:, None], unigram)
    return tables


def combine(parts: list[Counts]) -> Counts:
    """The counts of texts read one after another: each part's ids mapped into one vocabulary in
    first-seen order (the order one reading of all the text gives), tables merged."""
    first = parts[0]
    if len(parts) == 1:
        return first
    index = {w: i for i, w in enumerate(SPECIALS)}
    vocab = list(SPECIALS)
    per_order: list[list[Table]] = [[] for _ in range(first.order)]
    for part in parts:
        mapping = np.empty(len(part.vocab), np.int32)
        for i, w in enumerate(part.vocab):
            j = index.get(w)
            if j is None:
                j = index[w] = len(vocab)
                vocab.append(w)
            mapping[i] = j
        for n, t in enumerate(part.tables):
            per_order[n].append(Table(mapping[t.words], t.counts))
    tables = [merge_tables(ts) for ts in per_order]
    return Counts(first.order, vocab, sum(p.tokens for p in parts), sum(p.sentences for p in parts),
                  _with_every_word(tables, len(vocab)), sum(p.skipped_symbols for p in parts))


def count_text(files: list[str], order: int, *, skip_symbols: bool = False, memory: int = DEFAULT_MEMORY,
               temp_folder: str | None = None, engine=None) -> Counts:
    """The :class:`Counts` of ``files`` read in order, for an order-``order`` model.

    Each file is counted on its own and the counts combined (:func:`combine`), so a Dask ``engine``
    counting the files on its workers gives the same counts as this process. Raises CallError for an
    order below 1, DataError for a model symbol in the text (unless ``skip_symbols``) or an unreadable file.
    """
    if order < 1:
        raise CallError(f"--order: expected a whole number of at least 1, got {order}")
    if engine is not None and len(files) > 1 and "-" not in files and hasattr(engine, "map_files"):
        parts = engine.map_files(count_file, files, order, skip_symbols, memory, temp_folder)
    else:
        parts = [_count([f], order, skip_symbols, memory, temp_folder) for f in files] if files else []
    if not parts:
        return Counts(order, list(SPECIALS), 0, 0, _with_every_word([_empty(n + 1) for n in range(order)], 3))
    return combine(parts)

