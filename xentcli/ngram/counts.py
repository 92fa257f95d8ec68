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

import functools
import itertools
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import CallError, DataError
from .corpus import _TO_SPACE, SPECIALS, Sentences, read_sentences
from .model import row_order

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
      sentences: sentences counted, each ended by its ``</s>`` (a last line with no newline has none).
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

    @functools.cached_property
    def index(self) -> dict[bytes, int]:
        """Word → id (made when asked: the counts of each shard never need it)."""
        return {w: i for i, w in enumerate(self.vocab)}


def _empty(n: int) -> Table:
    return Table(np.zeros((0, n), np.int32), np.zeros(0, np.int64))


def count_batch(seq: np.ndarray, ends: np.ndarray, order: int, vocab_size: int, first_end: int = 0) -> list[Table]:
    """The n-gram tables (orders 1 … ``order``) of sentences laid end to end in ``seq``.

    ``seq`` holds ``<s> w… </s>`` for each sentence (int32 ids below ``vocab_size``); ``ends[i]`` is
    the index of the ``</s>`` that ends position i's sentence (or of its last word, for a line that goes
    on in the next batch). An order-n n-gram starts at i when it ends in the same sentence:
    ``i + n - 1 <= ends[i]``. Only n-grams ending at ``first_end`` or later are counted: the words
    before it are the context carried over from the batch before, counted there.
    """
    v = np.int64(vocab_size)
    tables = []
    every = None  # each order's unique n-grams, those ending before first_end included
    rank = seq.astype(np.int64)  # at i: the rank of the (n-1)-gram starting at i among the batch's
    positions = np.arange(len(seq))
    for n in range(1, order + 1):
        starts = np.flatnonzero(positions + (n - 1) <= ends)
        keys = rank[starts] if n == 1 else rank[starts] * v + seq[starts + n - 1]
        if first_end:
            unique, inverse = np.unique(keys, return_inverse=True)
            counts = np.bincount(inverse, weights=starts + (n - 1) >= first_end, minlength=len(unique))
        else:
            unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        if n == 1:
            words = unique.astype(np.int32)[:, None]
        else:
            words = np.empty((len(unique), n), np.int32)
            words[:, :-1] = every[unique // v]
            words[:, -1] = unique % v
        every = words
        counted = counts > 0
        tables.append(Table(words[counted] if first_end else words, counts[counted].astype(np.int64)
                            if first_end else counts.astype(np.int64)))
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
    word_bits = int(words.max()).bit_length()
    # Each key packs as many words as fit in 63 bits after the rank of the words before them among
    # the distinct rows so far (a rank has at most bit_length(rows) bits): order 5 takes 2 sorts, not 5.
    keys, rank_bits, j = np.zeros(len(words), np.int64), 0, 0
    while True:
        while j < n and rank_bits + word_bits <= 63:
            keys = (keys << word_bits) | words[:, j]
            rank_bits += word_bits
            j += 1
        if j == n:
            break
        _, keys = np.unique(keys, return_inverse=True)
        keys = keys.astype(np.int64)
        rank_bits = int(keys.max(initial=0)).bit_length()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    summed = np.bincount(inverse, weights=counts, minlength=len(first)).astype(np.int64) \
        if counts.sum() < 1 << 52 else _sum_at(inverse, counts, len(first))  # float64 sums exact below 2^53
    return Table(words[first], summed)


def _sum_at(inverse: np.ndarray, counts: np.ndarray, size: int) -> np.ndarray:
    summed = np.zeros(size, np.int64)
    np.add.at(summed, inverse, counts)
    return summed


class _Vocabulary:
    """Word → id, ids given in order of first sight after the three specials."""

    def __init__(self, skip_symbols: bool):
        # a new word gets the next id from inside dict lookup (C), in the order words are first seen
        self.ids = defaultdict(itertools.count(len(SPECIALS)).__next__, {w: i for i, w in enumerate(SPECIALS)})
        self.words = list(SPECIALS)
        self.skip_symbols = skip_symbols
        self.skipped = 0

    def batch_arrays(self, batch: Sentences) -> tuple[np.ndarray, np.ndarray]:
        """The batch's sentences laid end to end as :func:`count_batch` takes them: ``(seq, ends)``.

        The words are looked up by ``map`` over the whole batch (C loops, not Python code per word);
        while they are, a newline (which no word holds) stands between two lines, as id -1.
        """
        tokens = list(filter(None, b" \n ".join(batch.lines).translate(_TO_SPACE).split(b" ")))
        lookup = self.ids
        lookup[b"\n"] = -1
        known = len(lookup)
        try:
            marked = np.empty(len(tokens) + 2, np.int64)
            marked[1:-1] = np.fromiter(map(lookup.__getitem__, tokens), np.int64, len(tokens))
        finally:
            del lookup[b"\n"]
        if len(lookup) >= known:  # new words, last in the dict in the order first seen
            self.words.extend(itertools.islice(lookup, known - 1, None))
        marked[0] = marked[-1] = -1
        special = (marked >= 0) & (marked < 3)
        if special.any():
            marked = self._without_specials(batch, marked, special)
        gap = marked < 0  # one more than the lines: before the first, between two, after the last
        width = np.where(gap, 2, 1)  # a gap between two lines becomes </s> <s>
        width[0] = width[-1] = 1
        seq = np.repeat(marked, width).astype(np.int32)
        at = (np.cumsum(width) - width)[gap]
        seq[at] = 2
        seq[at[1:-1] + 1] = 1
        seq[0] = 1
        sentence_ends = np.flatnonzero(seq == 2)
        return seq, sentence_ends[np.cumsum(seq == 1) - 1]

    def _without_specials(self, batch: Sentences, marked: np.ndarray, special: np.ndarray) -> np.ndarray:
        if not self.skip_symbols:
            first = int(np.argmax(special))
            line = batch.first_line + int(np.count_nonzero(marked[:first] < 0)) - 1
            name = "stdin" if batch.path == "-" else batch.path
            raise DataError(f"--text {name}: line {line}: the word {SPECIALS[marked[first]].decode()} is the "
                            "model's own symbol; remove it, or pass --skip-symbols to read <s>, </s> and "
                            "<unk> in the text as spaces")
        self.skipped += int(np.count_nonzero(special))
        return marked[~special]


class _Runs:
    """Count tables of one text, merged in memory up to ``memory`` bytes, beyond that in sorted runs
    on disk (a temp folder removed when counting ends, however it ends).

    Held tables are merged once they pass ``memory / 4`` bytes (merging makes temporaries about as
    large again), and written out as a run unless merging halved them. A run is saved a column at a
    time (``(n + 1, rows)``: the words' columns, then the counts), so that finding a slice of first
    words reads pages of the first column only. The runs are merged at the end a slice of first words
    at a time, each slice at most ``memory / 4`` bytes of rows (or one first word's rows).
    """

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
        if self.held_bytes > self.memory // 4:
            before = self.held_bytes
            merged = [merge_tables(parts) for parts in self.held]
            self.held = [[t] for t in merged]
            self.held_bytes = sum(t.nbytes for t in merged)
            if self.held_bytes > before // 2:
                self._spill(merged)

    def _spill(self, tables: list[Table]) -> None:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="xent-ngram-", dir=self.folder)
        paths = []
        for n, t in enumerate(tables):
            path = os.path.join(self._tmp.name, f"run{len(self.runs)}-{n + 1}.npy")
            columns = np.empty((n + 2, len(t.counts)), np.int64)
            columns[:-1] = t.words.T
            columns[-1] = t.counts
            np.save(path, columns)
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
        """Order n+1's runs, and what is held, merged a slice of first words at a time."""
        runs = [np.load(paths[n], mmap_mode="r") for paths in self.runs]
        firsts = [r[0] for r in runs]
        held = merge_tables(self.held[n]) if self.held[n] else None
        if held is not None:
            firsts.append(held.words[:, 0])
        top = max((int(f[-1]) for f in firsts if len(f)), default=0) + 1
        budget = max(1, self.memory // 4 // (8 * (n + 2)))
        at = [0] * len(firsts)
        out = []
        a = 0
        while a < top:
            b = _slice_end(firsts, at, a, top, budget)
            ends = [int(np.searchsorted(f, b)) for f in firsts]
            parts = []
            for r, i, j in zip(runs, at, ends):
                block = np.asarray(r[:, i:j])
                parts.append(Table(block[:-1].T.astype(np.int32), block[-1].copy()))
            if held is not None:
                parts.append(Table(held.words[at[-1]:ends[-1]], held.counts[at[-1]:ends[-1]]))
            out.append(merge_tables(parts))
            at, a = ends, b
        return Table(np.concatenate([t.words for t in out]).reshape(-1, n + 1), np.concatenate([t.counts for t in out]))

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _slice_end(firsts: list[np.ndarray], at: list[int], a: int, top: int, budget: int) -> int:
    """The largest ``b`` in ``(a, top]`` such that the first words ``[a, b)`` start at most ``budget`` rows
    of the sorted columns ``firsts`` (from the rows ``at`` on); ``a + 1`` when word ``a`` alone starts more."""
    def rows(b: int) -> int:
        return sum(int(np.searchsorted(f, b)) - i for f, i in zip(firsts, at))

    if rows(top) <= budget:
        return top
    lo, hi = a + 1, top
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if rows(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def count_file(path: str, order: int, skip_symbols: bool = False, memory: int = DEFAULT_MEMORY,
               temp_folder: str | None = None) -> Counts:
    """The :class:`Counts` of one file (or ``-``), its vocabulary in its own first-seen order."""
    return _count_batches(read_sentences([path], parts=True), order, skip_symbols, memory, temp_folder)


def count_lines(lines: list[bytes], order: int, *, skip_symbols: bool = False, name: str = "-") -> Counts:
    """The :class:`Counts` of sentences given as lines of bytes (``name`` is their file in messages)."""
    return _count_batches([Sentences(name, 1, lines)], order, skip_symbols, DEFAULT_MEMORY, None)


def _pieces(batches, size: int):
    """The batches cut at line ends into pieces of about ``size`` bytes of text at most (a longer line
    alone: :func:`~.corpus.read_sentences` cuts long lines into parts of about its own size)."""
    for batch in batches:
        ends = np.cumsum(np.fromiter(map(len, batch.lines), np.int64, len(batch.lines)) + 1)
        if not len(ends) or ends[-1] <= size:
            yield batch
            continue
        start = 0
        while start < len(ends):
            stop = max(start + 1, int(np.searchsorted(ends, ends[start] - len(batch.lines[start]) - 1 + size, "right")))
            yield replace(batch, first_line=batch.first_line + start, lines=batch.lines[start:stop],
                          continues=batch.continues and start == 0, open_end=batch.open_end and stop == len(ends))
            start = stop


def _count_batches(batches, order: int, skip_symbols: bool, memory: int, temp_folder: str | None) -> Counts:
    vocab = _Vocabulary(skip_symbols)
    runs = _Runs(order, memory, temp_folder)
    tokens = sentences = 0
    # A token (two bytes of text at least) starts a row of each order, 2N(N + 5) bytes in all, and
    # count_batch's temporaries are a few times that: a piece's tables stay well within the memory.
    # Pieces of 256 KiB at most sort in cache: a 1 M-token text was counted for order 5 in 1.08 s,
    # in 1.31 s by 4 MiB pieces (and with 60 MB less at the peak).
    piece = max(1 << 12, min(1 << 18, memory // (4 * order * (order + 5))))
    carry = np.zeros(0, np.int32)  # the last words of a line that goes on in the next piece
    try:
        for batch in _pieces(batches, piece):
            if not batch.lines:
                continue
            seq, ends = vocab.batch_arrays(batch)
            seq, ends, first_end = _joined(seq, ends, batch, carry)
            if batch.open_end:
                line = seq[max(0, int(np.flatnonzero(seq == 1)[-1]) if (seq == 1).any() else 0):]
                carry = line[len(line) - min(len(line), order - 1):]
            tokens += int(np.count_nonzero(seq[first_end:] > 2))
            sentences += int(np.count_nonzero(seq == 2))
            runs.add(count_batch(seq, ends, order, len(vocab.words), first_end))
        tables = runs.tables()
    finally:
        runs.close()
    return Counts(order, vocab.words, tokens, sentences, _with_every_word(tables, len(vocab.words)), vocab.skipped)


def _joined(seq: np.ndarray, ends: np.ndarray, batch: Sentences, carry: np.ndarray):
    """``(seq, ends, first_end)`` of a piece whose last line goes on in the next piece (no ``</s>``
    yet) or whose first line began in the piece before (its ``<s>`` replaced by the words carried over,
    which are context only: n-grams are counted from ``first_end`` on)."""
    if batch.open_end:
        last = ends == len(seq) - 1
        seq = seq[:-1]
        ends = ends[:-1].copy()
        ends[last[:-1]] = len(seq) - 1
    if not batch.continues:
        return seq, ends, 0
    c = len(carry)
    seq = np.concatenate([carry, seq[1:]]).astype(np.int32)
    ends = np.concatenate([np.full(c, ends[0] - 1 + c), ends[1:] - 1 + c])
    return seq, ends, c


def _with_every_word(tables: list[Table], size: int) -> list[Table]:
    """The unigram table with a row for every id (``<unk>`` has none in the text: count 0)."""
    unigram = np.zeros(size, np.int64)
    if len(tables[0].counts):
        unigram[tables[0].words[:, 0]] = tables[0].counts
    tables[0] = Table(np.arange(size, dtype=np.int32)[:, None], unigram)
    return tables


def _sorted(t: Table) -> Table:
    order = row_order(t.words, int(t.words.max(initial=0)) + 1)
    return Table(t.words[order], t.counts[order])


def combine(parts, order: int, memory: int = DEFAULT_MEMORY, temp_folder: str | None = None) -> Counts:
    """The counts of texts read one after another, from their :class:`Counts` in that order (any
    iterable, taken one at a time): each part's ids mapped into one vocabulary in first-seen order
    (the order one reading of all the text gives), tables merged as in counting (sorted runs on disk
    past ``memory``)."""
    parts = iter(parts)
    first = next(parts, None)
    if first is None:
        return Counts(order, list(SPECIALS), 0, 0, _with_every_word([_empty(n + 1) for n in range(order)], 3))
    second = next(parts, None)
    if second is None:
        return first
    index = {w: i for i, w in enumerate(SPECIALS)}
    vocab = list(SPECIALS)
    runs = _Runs(order, memory, temp_folder)
    tokens = sentences = skipped = 0
    pending = [second, first]  # popped, so that each part's tables are let go once added
    del first, second
    try:
        while True:
            part = pending.pop() if pending else next(parts, None)
            if part is None:
                break
            mapping = np.empty(len(part.vocab), np.int32)
            for i, w in enumerate(part.vocab):
                j = index.get(w)
                if j is None:
                    j = index[w] = len(vocab)
                    vocab.append(w)
                mapping[i] = j
            tokens, sentences, skipped = (tokens + part.tokens, sentences + part.sentences,
                                          skipped + part.skipped_symbols)
            runs.add([_sorted(Table(mapping[t.words], t.counts)) for t in part.tables])
            del part
        tables = runs.tables()
    finally:
        runs.close()
    return Counts(order, vocab, tokens, sentences, _with_every_word(tables, len(vocab)), skipped)


def count_text(files: list[str], order: int, *, skip_symbols: bool = False, memory: int = DEFAULT_MEMORY,
               temp_folder: str | None = None, engine=None) -> Counts:
    """The :class:`Counts` of ``files`` read in order, for an order-``order`` model.

    Each file is counted on its own (:func:`count_file`, by ``engine.map`` when an engine is given: on
    its threads or Dask workers) and the counts combined in file order (:func:`combine`), so the counts,
    and the model, are the same whichever way. Raises CallError for an order below 1, DataError for a
    model symbol in the text (unless ``skip_symbols``) or an unreadable file.
    """
    if order < 1:
        raise CallError(f"--order: expected a whole number of at least 1, got {order}")
    if engine is not None and len(files) > 1 and "-" not in files:
        parts = engine.map(count_file, files, order, skip_symbols, memory, temp_folder)
    else:
        parts = (count_file(f, order, skip_symbols, memory, temp_folder) for f in files)
    return combine(parts, order, memory, temp_folder)
