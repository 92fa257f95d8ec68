"""Streaming a large text file: a first pass counts each chunk's rows; :class:`TextRows` parses a block's
chunks when asked, in bounded memory."""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from ...errors import DataError
from ..source import FileRows, Matrix, open_file, pread
from .common import (
    MAX_HEAD,
    MAX_LINE,
    TEXT_CHUNK,
    TextForm,
    count_rows,
    decode,
    line_chunks,
    line_content,
    refuse_binary,
    text_lines,
)
from .exact import parse_exact
from .fast import parse_block, ragged
from .sniff import index_column, select_head, text_head, text_matrix, without_first

__all__ = ["HEAD_EVIDENCE", "stream_text", "TextRows", "TextLines"]


#: Bytes at the start of a streamed file whose rows decide whether its first row of integers is a header.
HEAD_EVIDENCE = 8 << 20


def stream_text(path: str, where: str, header: str = "auto", selector: str | None = None) -> Matrix:
    """A large text file as a :class:`Matrix` of :class:`TextRows`.

    A first pass reads the file in chunks of whole lines, only to count each
    chunk's data rows (a byte scan where a chunk is plain ASCII without
    comments or blank lines, else by the exact reader's own rule) and to keep
    where it lies. The values are parsed later, a block's chunks at a time.
    Its head (comments, a header, the first rows) must lie within :data:`.common.MAX_HEAD` bytes; the head
    decides a header of integers, and its first chunk's rows an index column (:func:`.sniff.index_column`).
    """
    with open(path, "rb") as f:
        # The head's rows decide a header of integers: the same evidence whatever the chunk size.
        first = f.read(max(TEXT_CHUNK, HEAD_EVIDENCE)) + f.readline(MAX_LINE + 1)
        bom = 3 if first.startswith(b"\xef\xbb\xbf") else 0
        refuse_binary(first, where)
        while (head := text_head(first[bom:], header, where, whole=False)) is None:  # a long head of comments
            more = f.read(TEXT_CHUNK) + f.readline(MAX_LINE + 1)
            if not more:  # the whole file: its head as the whole text's (or what is missing)
                head = text_head(first[bom:], header, where)
                break
            if len(first) > MAX_HEAD:
                raise DataError(f"{where}: no data row within the first {len(first) >> 20} MB "
                                "(only comments, blank lines or a header)")
            first += more
        pos, form = select_head(first[bom:], head, header, selector, where, whole=False)
        spans, row = [], 0
        for at, line, data in line_chunks(f, bom + pos, where, form.first_data_line):
            rows = count_rows(data)
            if rows:
                spans.append(_Span(at, len(data), row, rows, line))
            row += rows
            if ragged(data, form):
                # The file fails: said now, in line order (the rows before are checked, not kept), before
                # any block of it is computed. Should every row parse after all, the count misled: read on.
                checked = TextRows(path, where, spans, form)
                for i in range(len(spans)):
                    checked._parse(i)
    values, notes = TextRows(path, where, spans, form), []
    if selector is None and spans and index_column(values.rows(0, spans[0].rows), form.names, where, notes):
        form = form._replace(usecols=tuple(range(1, form.width)), names=without_first(form.names))
        values = TextRows(path, where, spans, form)
    m = text_matrix(values, where, form.names, TextLines(values), header)
    m.notes.extend(notes)
    return m


class _Span(NamedTuple):
    """Where one chunk of a :class:`TextRows` file lies: bytes, rows, and its first physical line."""

    offset: int
    length: int
    first_row: int
    rows: int
    first_line: int


class TextRows(FileRows):
    """Rows of a large delimited text file, parsed when asked: ``rows(start, stop)`` and ``[index]``.

    Memory stays at a few chunks (:data:`TEXT_CHUNK` bytes of text each)
    whatever the file's size. A chunk is parsed by NumPy's C reader; if that
    refuses it, the exact reader parses it with the file's form and line
    numbers, so an error reads as for the whole file (it is raised when its
    block is reached). The last few parsed chunks are kept: consecutive
    blocks of the engine share them. ``os.pread``: safe from several threads.
    """

    #: Parsed chunks kept for the next blocks (a block often ends inside a chunk).
    KEEP = 4
    _LOCAL_STATE = ("_fd", "_kept", "_lock")

    def __init__(self, path: str, where: str, spans: list[_Span], form: TextForm):
        self.path, self.where, self._spans, self._form = path, where, spans, form
        self._starts = [s.first_row for s in spans]
        n = spans[-1].first_row + spans[-1].rows if spans else 0
        c = form.width if form.usecols is None else len(form.usecols)
        self.shape, self.ndim, self.dtype, self.size = (n, c), 2, np.dtype(np.float64), n * c
        self._reopen()

    def _reopen(self) -> None:
        self._fd = open_file(self.path)
        self._kept: OrderedDict = OrderedDict()  # chunk → concurrent.futures.Future of its parsed rows
        self._lock = threading.Lock()

    def __array__(self, dtype=None, copy=None):
        a = self.rows(0, len(self))
        return a if dtype is None else a.astype(dtype, copy=False)

    def as_rows(self) -> "TextRows":
        return self

    def chunk_of(self, row: int) -> int:
        """Index of the chunk holding ``row``."""
        return bisect.bisect_right(self._starts, row) - 1

    def span(self, i: int) -> _Span:
        return self._spans[i]

    def text(self, i: int) -> bytes:
        """The bytes of chunk ``i``."""
        span = self._spans[i]
        data = pread(self._fd, span.length, span.offset)
        if len(data) != span.length:
            raise DataError(f"{self.where}: the file ended early (was it changed while being read?)")
        return data

    def rows(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, start), min(len(self), stop)
        parts, i = [], self.chunk_of(start)
        while start < stop:
            span = self._spans[i]
            block = self._parsed(i)
            parts.append(block[start - span.first_row : stop - span.first_row])
            start = span.first_row + span.rows
            i += 1
        if not parts:
            return np.empty((0, self.shape[1]))
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)

    def _parsed(self, i: int) -> np.ndarray:
        # Two blocks on two threads often need the same chunk at once: one parses, the other waits.
        with self._lock:
            promise = self._kept.get(i)
            mine = promise is None
            if mine:
                from concurrent.futures import Future  # streamed files only (start-up of the common path)

                promise = self._kept[i] = Future()
                while len(self._kept) > self.KEEP:
                    self._kept.popitem(last=False)
        if mine:
            try:
                promise.set_result(self._parse(i))
            except BaseException as e:
                promise.set_exception(e)
        return promise.result()

    def _parse(self, i: int) -> np.ndarray:
        data, span, form = self.text(i), self._spans[i], self._form
        refuse_binary(data, self.where, span.first_line)
        block = parse_block(data, form)
        if block is None or len(block) != span.rows:
            text = decode(data, self.where, span.first_line)
            block = parse_exact(text, self.where, first_line=span.first_line, form=form)[0]
            if len(block) != span.rows:
                raise DataError(f"{self.where}: the file changed while being read")
        return block


class TextLines:
    """The 1-based physical line of each row of a :class:`TextRows`, found by scanning one chunk."""

    def __init__(self, rows: TextRows):
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, row: int) -> int:
        i = self._rows.chunk_of(row)
        span = self._rows.span(i)
        left = row - span.first_row
        for k, raw in enumerate(text_lines(self._rows.text(i).decode("utf-8", "replace"))):
            if line_content(raw):
                if not left:
                    return span.first_line + k
                left -= 1
        raise IndexError(row)
