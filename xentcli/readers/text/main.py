"""Reading delimited text: a file streamed when large (:mod:`.stream`), else parsed whole by NumPy's C reader
in chunks (:mod:`.fast`), a chunk it refuses by the exact reader (:mod:`.exact`), which names the line and
column of the problem."""

from __future__ import annotations

import io
import os

import numpy as np

from ..source import Matrix
from .common import Header, decode, line_chunks, refuse_binary
from .exact import DataLines, parse_exact
from .fast import parse_block, ragged
from .sniff import index_column, select_head, text_head, text_matrix, without_first
from .stream import stream_text

__all__ = ["STREAM_TEXT_BYTES", "read", "read_bytes", "parse_text"]


#: Text files larger than this are not held in memory: see :class:`.stream.TextRows`.
STREAM_TEXT_BYTES = 64 << 20


def read(path: str, where: str, selector: str | None = None, *, header: str = "auto", names: bool = False) -> Matrix:
    """A text file (``FILE:COLUMNS`` selects columns): streamed when large, else parsed whole.

    ``names``: one column of class names is read as ``str`` (labels), not refused."""
    if os.path.getsize(path) > STREAM_TEXT_BYTES:
        return stream_text(path, where, header, selector)
    with open(path, "rb") as f:
        return read_bytes(f.read(), where, header=header, selector=selector, names=names)


def read_bytes(data: bytes, where: str, *, header: str = "auto", selector: str | None = None,
               names: bool = False) -> Matrix:
    """Text held in memory (stdin, a small file); read without a selector, its first column may be
    pandas' named index, left out, and a column named like the labels is refused (:func:`.sniff.index_column`)."""
    values, header_names, lines = parse_text(data, where, header=header, selector=selector, names=names)
    notes = []
    if selector is None and index_column(values, header_names, where, notes):
        values, header_names = values[:, 1:], without_first(header_names)
    m = text_matrix(values, where, header_names, lines, header)
    m.notes.extend(notes)
    return m


def parse_text(data: bytes, where: str, *, header: str = "auto", selector: str | None = None, names: bool = False
               ) -> tuple[np.ndarray, Header | None, "DataLines"]:
    """Parse delimited text into a 2-D float64 array.

    The delimiter (tab, comma, semicolon, else runs of whitespace) is taken
    from the first data line; a line whose tab-separated fields hold spaces is
    whitespace-separated (any run of spaces and tabs separates). A
    ``;``-separated file whose numbers use ``,`` as the decimal mark (as
    spreadsheets write in many locales) is read as such; mixing both marks is
    bad data. ``#`` comments and blank lines are skipped, CRLF and a UTF-8 BOM
    accepted; fields may be quoted as CSV quotes them. A first row whose every
    cell is non-numeric is a header of class names. A first row of integers in
    increasing order (a lone one, pandas' Series name ``0``; column numbers
    ``0,1,…``; scikit-learn's ``classes_``, ``False,True`` included), after at most
    one name (pandas' named index, ``id,0,1,2``), is a header when no cell under
    it is written as an integer or boolean in the text read before deciding (all
    of ``data`` here; the head of a streamed file): pandas writes every float
    with a point, so a ``7`` anywhere below keeps ``3`` over ``2.5`` as data. A
    first row whose first cell is empty over rows that have one is pandas'
    ``to_csv`` with its index, a header whatever its other cells hold (``,0``
    over integers): that column is row ids, not a class. ``header``
    (:data:`.common.HEADER_MODES`) forces either reading of a numeric first row. A
    ``selector`` that names only cells of a first row read as data, and selects
    nothing by number, makes that row the header (:func:`.sniff.select_head`).
    ``selector`` picks columns (:func:`~xentcli.readers.selector.select_columns`);
    ``True``/``False`` read as 1/0; with ``names``, one column of class names
    is read as ``str`` (labels).

    The bulk is parsed in chunks of :data:`.common.TEXT_CHUNK` bytes by
    ``numpy.loadtxt``'s C reader; if it refuses anything, the whole text goes
    through the exact reader (:mod:`.exact`), which names the line and column.

    Returns:
      (values of shape (rows, columns), header names or None, the 1-based
      physical line of each row — worked out only when asked for).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    refuse_binary(data, where)
    fast = _parse_chunks(data, header, selector, where, names)
    if fast is None:
        return parse_exact(decode(data, where), where, header=header, selector=selector, names=names)
    values, header_names = fast
    return values, header_names, DataLines(data, skip=header_names.line if header_names else None)


def _parse_chunks(data: bytes, header: str, selector: str | None, where: str, names: bool, *,
                  drop: bool = True):
    """``(values, names)`` by NumPy's C reader in chunks; a chunk it refuses goes through the exact
    reader (with the file's form and line numbers), which names the problem. None: a column that may
    hold class names (``names``) is read by the exact reader, whole.

    ``drop``: a refused chunk that counts a row of another width (:func:`.fast.ragged`) fails the file, so
    the rows before it are dropped before the exact reader says where (a failing file stays small);
    should that chunk parse after all, the file is read again keeping every row.
    """
    pos, form = select_head(data, text_head(data, header, where), header, selector, where)
    parts = []
    for _, line, piece in line_chunks(io.BytesIO(data), pos, where, form.first_data_line):
        block = parse_block(piece, form)
        if block is None:
            if names:
                return None
            dropped = drop and bool(parts) and ragged(piece, form)
            if dropped:
                parts.clear()
            block = parse_exact(decode(piece, where, line), where, first_line=line, form=form)[0]
            if dropped:  # the count misled: every row of the chunk has the file's width
                return _parse_chunks(data, header, selector, where, names, drop=False)
        if len(block):
            parts.append(block)
    return (parts[0] if len(parts) == 1 else np.concatenate(parts)), form.names
