"""Delimited text: comma, tab, semicolon or whitespace; comments, a header of class names.

Small files are parsed whole (NumPy's C reader in chunks, the exact reader below to name
the line and column of a problem); files over :data:`STREAM_TEXT_BYTES` are streamed
(:class:`TextRows`).
"""

from __future__ import annotations

import bisect
import io
import os
import re
import threading
import unicodedata
import warnings
from collections import OrderedDict
from itertools import pairwise
from typing import NamedTuple

import numpy as np

from ..errors import CallError, DataError
from ..numbers import ascii_spelled
from .selector import ID_NAME, LABEL_NAMES, class_selector, select_columns
from .source import FileRows, Matrix, open_file, pread, shown_path

__all__ = ["EXTENSIONS", "HEADER_MODES", "Header", "guessed_header", "read", "read_bytes", "parse_text", "is_number", "number_hint", "TextRows",
           "TEXT_CHUNK", "STREAM_TEXT_BYTES"]

EXTENSIONS = (".csv", ".tsv", ".txt", ".dat")
#: How a first line of numbers is read: ``auto`` (column numbers over rows not written as
#: integers are a header), ``yes`` (the first line is a header), ``no`` (numbers are data).
HEADER_MODES = ("auto", "yes", "no")


class Header(list):
    """The names of a header row, with its physical line; ``numbered`` when they are column
    numbers (``0,1,2``: pandas' and ``xent --header``'s names for an unnamed matrix); ``cells``
    the whole row as written (an index column's empty cell included), for messages."""

    def __init__(self, names, line: int, numbered: bool = False, cells=None, selector: str | None = None,
                 row_names: bool = False):
        super().__init__(names)
        self.line, self.numbered, self.selector, self.row_names = line, numbered, selector, row_names
        self.cells = list(names) if cells is None else list(cells)

    def renamed(self, names) -> "Header":
        """The same header line, naming the columns ``names`` (the ones read)."""
        return Header(names, self.line, self.numbered, self.cells, self.selector, self.row_names)


def read(path: str, where: str, selector: str | None = None, *, header: str = "auto", names: bool = False) -> Matrix:
    """A text file (``FILE:COLUMNS`` selects columns): streamed when large, else parsed whole.

    ``names``: one column of class names is read as ``str`` (labels), not refused."""
    if os.path.getsize(path) > STREAM_TEXT_BYTES:
        return _stream_text(path, where, header, selector)
    with open(path, "rb") as f:
        return read_bytes(f.read(), where, header=header, selector=selector, names=names)


def read_bytes(data: bytes, where: str, *, header: str = "auto", selector: str | None = None,
               names: bool = False) -> Matrix:
    """Text held in memory (stdin, a small file); read without a selector, its first column may be
    pandas' named index, left out, and a column named like the labels is refused (:func:`_index_column`)."""
    values, header_names, lines = parse_text(data, where, header=header, selector=selector, names=names)
    notes = []
    if selector is None and _index_column(values, header_names, where, notes):
        values, header_names = values[:, 1:], _without_first(header_names)
    m = _matrix(values, where, header_names, lines, header)
    m.notes.extend(notes)
    return m


def _without_first(names: Header) -> Header:
    return names.renamed(names[1:])


def _index_column(values: np.ndarray, names: Header | None, where: str, notes: list[str]) -> bool:
    """Whether the first column of a table read without a selector is pandas' named index
    (``df.rename_axis("id").to_csv()`` writes it as a first column like any other): said in ``notes``.

    ``values``: the whole table, or the head of a streamed one. A first column named like an id
    (:data:`ID_NAME`) that holds integers is that index, in any order (a shuffled split's); so is a
    first column of row numbers (0…N-1 or 1…N) of any name beside columns that are not all integers.
    A column named like the labels (:data:`.selector.LABEL_NAMES`) among several is a wrong call naming the
    selectors to use; so is a first column of other integers beside non-integers (a shuffled index under
    another name looks like row ids, and Parquet refuses the same table as mixing integers and floats).
    """
    if names is None or values.dtype.kind != "f" or values.ndim != 2 or len(names) != values.shape[1]:
        return False
    # An empty first header cell: pandas' unnamed index, left out before.
    ids = values[:, 0] if values.shape[1] >= 2 and names.cells[0] != "" else None
    if ids is not None and np.all(ids == np.round(ids)) and ID_NAME.fullmatch(names[0]):
        notes.append(f"{where}: column '{names[0]}' is named like an id and holds integers (pandas' named index): "
                     "it is not a class and is left out")
        _refuse_label_column(names[1:], where)
        return True
    _refuse_label_column(names, where)
    if (ids is None or not np.all(np.isfinite(ids) & (ids == np.round(ids)))
            or np.all(values[:, 1:] == np.round(values[:, 1:]))):
        return False
    if np.array_equal(ids, np.arange(len(ids))) or np.array_equal(ids, np.arange(1, len(ids) + 1)):
        notes.append(f"{where}: column '{names[0]}' holds the row numbers {int(ids[0])}…{int(ids[-1])} "
                     "(pandas' named index): it is not a class and is left out")
        return True
    path = shown_path(where)
    raise CallError(f"{where}: the first column '{names[0]}' holds only integers while the others do not: it looks "
                    f"like row ids (pandas' named index), not a class: select the class columns, e.g. "
                    f"{path}:{class_selector(list(names[1:]), list(names))}")


def _refuse_label_column(names: list[str], where: str) -> None:
    """A column named like the labels among a table's columns is no class: a wrong call naming the selectors."""
    labels = [c for c in names if c.lower() in LABEL_NAMES]
    if not labels or len(names) < 2:
        return
    path, others = shown_path(where), [c for c in names if c not in labels]
    raise CallError(f"{where}: column '{labels[0]}' is named like the labels, not a class: select the columns, e.g. "
                    f"{path}:{labels[0]} for the labels and {path}:{class_selector(others, list(names))} for the predictions")


def _matrix(values, where: str, names: Header | None, lines, header: str = "auto") -> Matrix:
    """A text matrix, with a note where a line of numbers was taken as a header by ``auto``."""
    notes = []
    if names is not None and names.numbered and header == "auto":
        notes.append(_header_note(names, where))
    if names is not None and names.row_names:
        notes.append(f"{where}: the header on line {names.line} names one column fewer than the rows under it "
                     "(as R's write.table writes): the first column is row names, left out")
    return Matrix(values, where, names, lines, notes=notes, text=True)


def guessed_header(m: Matrix) -> str | None:
    """For the error of a failed run (which drops warnings): the clause saying that ``m``'s first line,
    numbers only, was read as a header by the automatic rules, and how to read it as data; ``None`` when
    no such guess was made (or pandas' index column or a selector made it certain)."""
    names = m.names
    if not isinstance(names, Header) or not names.numbered or _header_note(names, m.where) not in m.notes:
        return None
    if names.selector is not None or names.cells[0] == "" or _named_first(names.cells):
        return None
    shown, what = _header_reading(names)
    return f"line {names.line} of {shown_path(m.where)} ({shown}) was read as {what}: --input-header no reads it as data"


def _header_reading(names: Header) -> tuple[str, str]:
    """A header line of numbers as shown in messages, and what it was read as."""
    cells = names.cells  # a wide vocabulary's header is thousands of numbers: its start says enough
    shown = ",".join(cells[:8])
    shown = (shown if len(shown) <= 80 else shown[:80] + "…") + (f",… {len(cells)} cells" if len(cells) > 8 else "")
    indexed, named = cells[0] == "", _named_first(cells)
    rest = cells[1:] if indexed or named else cells
    if _column_numbers(rest) or (indexed and rest == ["0"]):
        what = "a header of column numbers, as pandas and 'xent --header' write"
    elif len(rest) == 2 and [c.lower() for c in rest] == ["false", "true"]:
        what = "a header of boolean class names (scikit-learn's classes_ of True/False targets)"
    elif len(rest) == 1:
        what = ("a header naming the column" if indexed else "a header (a lone integer over values none of which "
                "is written as an integer: pandas' name of a Series)")
    else:
        what = "a header of integer class names (over values that are not integers, as scikit-learn's classes_)"
    return shown, what


def _header_note(names: Header, where: str) -> str:
    """What a line holding numbers was read as (a header), and how to read it as data."""
    cells = names.cells
    shown, what = _header_reading(names)
    indexed, named = cells[0] == "", _named_first(cells)
    if names.selector is not None:
        return (f"{where}: line {names.line} ({shown}) is read as a header: the selector ':{names.selector}' names "
                "its cells")
    said = f"{where}: line {names.line} ({shown}) is read as {what}"
    if indexed:
        return f"{said}, over pandas' index column (its empty first cell)"
    if named:
        return f"{said}, after the name '{cells[0]}' of pandas' named index"
    return f"{said}; --input-header no reads it as data"


#: Bytes at the start of a streamed file whose rows decide whether its first row of integers is a header.
HEAD_EVIDENCE = 8 << 20

#: Bytes of text parsed per chunk by NumPy's C reader.
TEXT_CHUNK = 8 << 20


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
    (:data:`HEADER_MODES`) forces either reading of a numeric first row. A
    ``selector`` that names only cells of a first row read as data, and selects
    nothing by number, makes that row the header (:func:`_select`).
    ``selector`` picks columns (:func:`~xentcli.readers.selector.select_columns`);
    ``True``/``False`` read as 1/0; with ``names``, one column of class names
    is read as ``str`` (labels).

    The bulk is parsed in chunks of :data:`TEXT_CHUNK` bytes by
    ``numpy.loadtxt``'s C reader; if it refuses anything, the whole text goes
    through the exact reader below, which names the line and column.

    Returns:
      (values of shape (rows, columns), header names or None, the 1-based
      physical line of each row — worked out only when asked for).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    _refuse_binary(data, where)
    fast = _parse_chunks(data, header, selector, where, names)
    if fast is None:
        return _parse_exact(_decode(data, where), where, header=header, selector=selector, names=names)
    values, header_names = fast
    return values, header_names, DataLines(data, skip=header_names.line if header_names else None)


def _refuse_binary(data: bytes, where: str, first_line: int = 1) -> None:
    """Raise, naming the line, if ``data`` (text from line ``first_line`` on) holds a NUL byte."""
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + first_line
        raise DataError(f"{where}: line {line}: binary data (a NUL byte), expected delimited text")


def _decode(data: bytes, where: str, first_line: int = 1) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + first_line
        raise DataError(
            f"{where}: line {line}: byte 0x{data[e.start]:02x} is not UTF-8 text; expected delimited numbers"
        ) from e


#: What separates the fields of a whitespace-separated line, and is stripped around a cell: spaces and
#: tabs only. ``str.split`` also splits at a no-break space, U+202F or U+3000 (locales' digit
#: grouping: ``1 234`` is one number there) and at ``\x1c``–``\x1f``, ``\v``, ``\f``; those stay in
#: their cell, which is then no number (:func:`number_hint` names them).
_BLANK = " \t"
_FIELD_SEPARATOR = re.compile(r"[ \t]+")


def _fields(s: str) -> list[str]:
    """The cells of a whitespace-separated line (no cell for a blank one)."""
    s = s.strip(_BLANK)
    return _FIELD_SEPARATOR.split(s) if s else []


def _content(raw: str) -> str:
    """A line without its ``#`` comment and surrounding blanks (spaces, tabs, its line end)."""
    return raw.split("#", 1)[0].strip(_BLANK + "\r\n")


def _delimiter(content: str) -> str:
    """The delimiter of a file, from its first data line: tab, semicolon, comma, else whitespace (" ").

    A line mixing tabs and spaces between its fields is whitespace-separated, not a TSV
    (``0.25 \t-0.26\t 1.28``, ``0.7 0.2\t0.1``); a TSV header keeps names that hold spaces."""
    if "\t" in content:
        fields = content.split("\t")
        if any(f != f.strip(" ") for f in fields):
            return " "
        if any(len(_fields(f)) > 1 for f in fields):
            return " " if all(_is_value(c) for c in _fields(content)) else "\t"
        return "\t"
    # ";" before ",": a ;-separated spreadsheet export writes "," as its decimal mark.
    return next((d for d in ("\t", ";", ",") if d in content), " ")


_BOOLEANS = {"true": "1", "false": "0"}


def _is_value(cell: str) -> bool:
    """A number, or a boolean as pandas and Python write it (``True`` is 1)."""
    return is_number(cell) or cell.lower() in _BOOLEANS


def _is_header(cells: list[str]) -> bool:
    """A first row whose every (non-empty) cell is not a value names the classes; a number spelled
    otherwise than in ASCII (``\xa01``, ``١``) is no name: its row is data, refused naming it."""
    return not any(_is_value(c) or _foreign_number(c) for c in cells if c)


# ASCII digits only: str.isdigit and \d accept other scripts' digits, which are no numbers here.
_INTEGER = re.compile(r"[+-]?[0-9]+")


#: An integer that can name a class: within int64.
_CLASS_VALUE = re.compile(r"[+-]?[0-9]{1,18}")


def _integers(cells: list[str]) -> bool:
    return all(_INTEGER.fullmatch(c) for c in cells)


def _column_numbers(cells: list[str]) -> bool:
    """``0,1,…,C-1`` written as integers, C ≥ 2: pandas' and ``xent --header``'s names of unnamed columns."""
    return (len(cells) >= 2 and all(_CLASS_VALUE.fullmatch(c) for c in cells)
            and [int(c) for c in cells] == list(range(len(cells))))


def _integer_names(cells: list[str]) -> bool:
    """Integers that can name classes: one alone (pandas' Series name ``0``, or a class value), or
    several in increasing order (column numbers, scikit-learn's ``classes_``, which is
    ``False,True`` for boolean targets)."""
    if len(cells) == 2 and [c.lower() for c in cells] == ["false", "true"]:
        return True
    if not cells or not all(_CLASS_VALUE.fullmatch(c) for c in cells):
        return False
    return all(a < b for a, b in pairwise(map(int, cells)))  # no list: a wide row holds millions of cells


def _takes_header(first: list[str], second: list[str] | None, mode: str) -> bool:
    """Whether the first row is a header, given the row after it (None: there is none).

    Names always are (they cannot be data). Integers in increasing order (one alone — over numbers
    only ``0``, pandas' name of a Series —, column numbers, scikit-learn's ``classes_``), after at most one name (a named index: ``id,0,1,2``),
    are a header over a row with no cell written as an integer under them (pandas' ``to_csv`` and
    ``xent --header`` write every float with a point), never over integers: a hand-written
    ``1,2,3`` over ``4,5,6`` stays data. :func:`_integer_below` checks the rows after the second.
    """
    if mode == "yes" or _is_header(first):
        return True
    if mode == "no" or second is None:
        return False
    named = _named_first(first)
    if len(first) == 1 and first[0] != "0" and _is_value(second[0]):
        # Over numbers only pandas' own name 0 is a header: np.savetxt(fmt='%g') writes a first value of
        # 3 as "3", and a header taken on that guess would drop a sample without a word.
        return False
    return (_integer_names(first[named:]) and len(second) == len(first)
            and not any(_INTEGER.fullmatch(c) or c.lower() in _BOOLEANS for c in second[named:]))


def _named_first(cells: list[str]) -> int:
    """1 if a row starts with a name before other cells (pandas' named index column), else 0."""
    return int(len(cells) > 1 and bool(cells[0]) and not _is_value(cells[0]))


def _integer_below(data: bytes, delimiter: str, first_column: bool) -> bool:
    """Whether a cell of the rows ``data`` is written as an integer or a boolean (``first_column``:
    the first cell of each row counts too). A regular expression over the bytes: a header of
    integers is weighed against every row read before deciding, without splitting them in Python."""
    if b"#" in data:
        data = re.sub(rb"#[^\n]*", b"", data)
    if delimiter != " " and first_column:
        # A number has at most one point: as many points as cells (pandas' floats) leaves no integer.
        cells = data.count(delimiter.encode()) + data.count(b"\n") + (not data.endswith(b"\n"))
        if data.count(b".") == cells:
            return False
    value = rb"(?:[+-]?[0-9]+|(?i:true|false))"
    if delimiter == " ":
        before = rb"(?:^|(?<=[ \t]))" if first_column else rb"(?<=[^ \t\r\n])[ \t]+"
        pattern = before + value + rb"(?=[ \t\r]|$)"
    else:
        d = re.escape(delimiter.encode())
        before = (rb"(?:^|" + d + rb")") if first_column else d
        pattern = before + rb'[ \t]*"?' + value + rb'"?[ \t]*(?=' + d + rb"|\r?$)"
    return re.search(pattern, data, re.MULTILINE) is not None


class _CellError(ValueError):
    """A malformed cell, found before its line's number is known: ``column`` is 1-based."""

    def __init__(self, column: int, message: str):
        super().__init__(message)
        self.column = column


def _split(raw: str, delimiter: str) -> list[str]:
    """The cells of one line (its ``#`` comment left out).

    Lines end with LF or CRLF: a carriage return anywhere else is refused, never taken as a
    line end or a blank. Fields may be quoted as CSV quotes them (``"a,b"``, ``""`` for a
    quote); a quote that is not closed, or text after a closing quote, is refused; a quote
    inside an unquoted field is a plain character (it then fails as a number, naming the cell).
    """
    # Split the line itself, not its stripped form: a trailing tab is an empty cell.
    line = raw.split("#", 1)[0].rstrip("\r\n ")
    if "\r" in line:
        before = line[:line.index("\r")]
        column = len(_fields(before)) if delimiter == " " else before.count(delimiter) + 1
        raise _CellError(max(column, 1), "a carriage return (\\r) inside a line: lines end with LF or CRLF")
    if delimiter == " ":
        # R's write.table quotes names and row names: a field wholly in quotes is its text.
        fields = _fields(line)
        return [f[1:-1] if len(f) > 1 and f[0] == f[-1] == '"' else f for f in fields] if '"' in line else fields
    if '"' in line:  # quoted fields, as CSV writes names that hold a delimiter (or every name)
        return _split_quoted(line, delimiter)
    return [c.strip(_BLANK) for c in line.split(delimiter)]


def _split_quoted(line: str, delimiter: str) -> list[str]:
    """The cells of a line holding ``"``, by :func:`_split`'s quoting rule."""
    cells, start, n = [], 0, len(line)
    while True:
        at = start
        while at < n and line[at] in " \t" and line[at] != delimiter:
            at += 1
        if at < n and line[at] == '"':
            parts, pos = [], at + 1
            while True:
                close = line.find('"', pos)
                if close < 0:
                    raise _CellError(len(cells) + 1, "a quoted field is not closed: expected '\"' before the line ends")
                parts.append(line[pos:close])
                if not line.startswith('"', close + 1):
                    break
                parts.append('"')  # "" is a quote inside a quoted field
                pos = close + 2
            end = line.find(delimiter, close + 1)
            end = n if end < 0 else end
            after = line[close + 1:end].strip(_BLANK)
            if after:
                raise _CellError(len(cells) + 1, f"{after!r} after a closing quote: expected the delimiter {delimiter!r}")
            cells.append("".join(parts).strip(_BLANK))
        else:
            end = line.find(delimiter, start)
            end = n if end < 0 else end
            cells.append(line[start:end].strip(_BLANK))
        if end >= n:
            return cells
        start = end + 1


def _split_at(raw: str, delimiter: str, where: str, lineno: int) -> list[str]:
    """:func:`_split`, its refusal located."""
    try:
        return _split(raw, delimiter)
    except _CellError as e:
        raise DataError(f"{where}: line {lineno}, column {e.column}: {e}") from None


#: The longest line (a header included) read, in bytes: a row of 152 064 float32 values written
#: as csv takes about 4 MB. A line is held whole while its cells are split, so the bound keeps
#: every input, even one with no newline at all, within a few hundred MB. At least TEXT_CHUNK,
#: so that only the line cut by a chunk's end needs measuring.
MAX_LINE = 8 << 20


#: The most bytes of comments and blank lines (and a header) read before the first data rows of a streamed file.
MAX_HEAD = 64 << 20


def _long_line(where: str, lineno: int) -> DataError:
    return DataError(f"{where}: line {lineno} is longer than {MAX_LINE >> 20} MB, the longest line xent reads "
                     "(is it text with line breaks?)")


class _TextForm(NamedTuple):
    """What a text file's head decides for every row: delimiter, width, header; and where rows start.

    ``usecols``: the columns read (None: all); ``names`` are theirs. ``decimal_comma``: ``,`` is
    the decimal mark of a ``;``-separated file.
    """

    delimiter: str
    width: int
    names: Header | None
    header_line: int | None
    first_data_line: int
    usecols: tuple[int, ...] | None = None
    decimal_comma: bool = False


def _text_head(data: bytes, header: str = "auto", where: str = "", *, whole: bool = True
               ) -> tuple[int, _TextForm] | None:
    """``(offset of the first data row, form)`` of text ``data``.

    ``whole``: ``data`` is all of the text, so a text without a data row is refused here;
    else it is the start of a file, and None says that more of it is needed. A first row of
    integers is a header only if no row of ``data`` under it holds an integer where it names
    columns (:func:`_takes_header`, :func:`_integer_below`)."""
    pos, lineno, delimiter, rows = 0, 1, None, []  # rows: (offset, line, cells, text) of the first two rows
    broken = None  # the second row's malformed line
    while pos < len(data) and len(rows) < 2:
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end + 1
        if end - pos > MAX_LINE:
            raise _long_line(where, lineno)
        s = _content(raw := _decode(data[pos:end], where, lineno))
        if s:
            if delimiter is None:
                delimiter = _delimiter(s)
                # "\t0": pandas' tab-separated header of an indexed Series; its rows tell (0\t1).
                lone_tabbed = delimiter == " " and raw.startswith("\t") and len(_fields(s)) == 1
            elif lone_tabbed and _delimiter(s) == "\t":
                delimiter = "\t"
                rows[0] = rows[0][:2] + (_split_at(rows[0][3], delimiter, where, rows[0][1]), rows[0][3])
            try:
                rows.append((pos, lineno, _split_at(raw, delimiter, where, lineno), raw))
            except DataError as e:
                if not rows:
                    raise
                broken = e  # said in line order, after the first row's own problems (unless that is a header)
                break
        pos, lineno = end, lineno + 1
    if not rows:
        if whole:
            raise DataError(f"{where}: no numbers found (empty input)")
        return None
    if not whole and len(rows) < 2 and broken is None:
        return None  # the second row decides a header as it does for the whole text: read on
    (first_pos, first_line, first, _), second = rows[0], (rows[1] if len(rows) > 1 else None)
    # R's write.table: a header of names, none for the row-names column, over rows one cell wider.
    row_names = second is not None and len(second[2]) == len(first) + 1 and all(first) and _is_header(first)
    if row_names:
        first = ["", *first]
    indexed = len(first) > 1 and first[0] == "" and (second is None or len(second[2]) == len(first))
    # In a ;-separated file "0,7" is a number with a decimal comma, not a name.
    seen = (lambda cells: [c.replace(",", ".") for c in cells]) if delimiter == ";" else (lambda cells: cells)
    cells = seen(first[indexed:])
    if indexed and second is not None and second[2][0] and header != "no":
        taken = True  # pandas' to_csv with its index, whatever the other cells hold (,0 over integers; ,False,True)
    else:
        taken = _takes_header(cells, second and seen(second[2][indexed:]), header) and (
            header == "yes" or _is_header(cells)
            or not _integer_below(data[second[0]:], delimiter, not (indexed or _named_first(cells))))
    if not taken:
        cells = first
        return first_pos, _TextForm(delimiter, len(first), None, None, first_line,
                                    decimal_comma=_decimal_comma(delimiter, cells))
    if second is None:
        if broken is not None:
            raise broken
        if whole:
            raise DataError(f"{where}: no numbers found (only a header row)")
        return None
    names = Header(first, first_line, numbered=not _is_header(first[indexed:]), row_names=row_names)
    # pandas' index column: an empty header cell over row ids, which are no class.
    usecols = tuple(range(1, len(first))) if indexed else None
    return second[0], _TextForm(delimiter, len(names), names, first_line, second[1], usecols,
                                _decimal_comma(delimiter, second[2]))


def _decimal_comma(delimiter: str, cells: list[str]) -> bool:
    """Whether a data row's numbers use ``,`` as the decimal mark (a ``;``-separated spreadsheet export)."""
    return delimiter == ";" and any("," in c for c in cells)


def _selected(form: _TextForm, selector: str | None, where: str) -> _TextForm:
    """``form`` with the columns ``selector`` picks (and their names); none: all but pandas' index."""
    if selector is None:
        if form.usecols is None or form.names is None:
            return form
        return form._replace(names=form.names.renamed([form.names[i] for i in form.usecols]))

    columns = list(form.usecols) if form.usecols is not None else list(range(form.width))
    names = [form.names[i] for i in columns] if form.names is not None else None
    chosen = select_columns(selector, names, len(columns), where)
    usecols = tuple(columns[i] for i in chosen.indices)
    header = None if form.names is None else form.names.renamed(chosen.names)
    if header is not None:
        header.columns = chosen.names.columns
    return form._replace(usecols=usecols, names=header)


def _select(data: bytes, head: tuple[int, _TextForm], header: str, selector: str | None, where: str,
            whole: bool = True) -> tuple[int, _TextForm]:
    """``head`` (:func:`_text_head` of ``data``) with the columns ``selector`` picks.

    A column named like an item wins over column numbers: where a first row of numbers was read
    as data and the selector fails by number but each of its items names a cell of that row
    (``y.csv:0`` on pandas' Series name ``0`` over integers), that row is the header."""
    pos, form = head
    try:
        return pos, _selected(form, selector, where)
    except CallError:
        if form.names is not None or header != "auto":
            raise
        try:
            named = _text_head(data, "yes", where, whole=whole)
        except DataError:
            named = None
        if named is None or not all(item.strip() in named[1].names for item in selector.split(",")):
            raise
    pos, form = named
    form.names.selector = selector
    return pos, _selected(form, selector, where)


# A chunk of comments only is fine. (A filter set once: catch_warnings is not safe across threads,
# and blocks of a streamed file are parsed on the engine's.)
warnings.filterwarnings("ignore", message="loadtxt: input contained no data", category=UserWarning)


def _parse_block(data: bytes, form: _TextForm) -> np.ndarray | None:
    """Whole lines of data rows by NumPy's C reader: ``(rows, columns read)``, or None if it refuses
    anything or cannot tell a row of the wrong width (the exact reader then decides and explains)."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None  # a lone CR would end a line there, not for the exact reader (lines end at LF)
    if not data.isascii() or any(b in data for b in _ODD_SPACE_BYTES):
        return None  # the C reader splits at, or strips, blanks that are part of a cell here (U+00A0, \x1c)
    delimiter, width, usecols = form.delimiter, form.width, form.usecols
    if b'"' in data and not _quotes_close_on_their_line(data):
        return None  # the C reader would join lines into one quoted field
    if form.decimal_comma:
        if b"." in data:
            return None  # both decimal marks, or a dot in a comment: the exact reader tells which
        data = data.replace(b",", b".")
    if usecols is not None and (delimiter == " " or b'"' in data or b"#" in data):
        return None  # the C reader checks only the columns it reads: widths are counted here
    if usecols is not None and _ragged(data, form):
        return None
    try:
        block = _loadtxt(data, delimiter, usecols)
    except (ValueError, UnicodeDecodeError):
        return None
    columns = width if usecols is None else len(usecols)
    if not block.size:
        return np.empty((0, columns))
    if block.shape[1] != columns:
        return None
    return block


#: The ASCII blanks other than spaces, tabs and line ends (``str.isspace`` and NumPy take them as separators).
_ODD_SPACE_BYTES = [b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f"]


def _ragged(data: bytes, form: _TextForm) -> bool:
    """Whether whole lines ``data`` surely hold a row of another width than ``form``'s, by counting
    separators (lines without quotes or comments; whitespace-separated ones without blank lines or lone
    CRs): byte operations only."""
    if b'"' in data or b"#" in data:
        return False
    if form.delimiter != " ":
        if form.delimiter == "\t" and _BLANK_TAB_LINE.search(data):
            return False  # a line of blanks and tabs holds no row, yet its tabs would be counted
        return data.count(form.delimiter.encode()) != _count_rows(data) * (form.width - 1)
    rows = data.count(b"\n") + (not data.endswith(b"\n"))
    if data.count(b" ") + data.count(b"\t") == rows * (form.width - 1):
        return False  # one blank between cells, none around them (np.savetxt): the common case, counted quickly
    # Fields are counted where a blank or a line start meets another byte: " " marks blanks, "x" the rest.
    marked = data.translate(_MARKS)
    dense = marked.translate(None, b" ")
    if not dense or dense.startswith(b"\n") or b"\n\n" in dense:
        return False  # a blank line, which holds no row
    rows = dense.count(b"\n") + (not dense.endswith(b"\n"))
    fields = marked.count(b" x") + marked.count(b"\nx") + marked.startswith(b"x")
    return fields != rows * form.width


_BLANK_TAB_LINE = re.compile(rb"^[ \r]*\t[ \t\r]*$", re.MULTILINE)

# A CR counts as a blank: one before its LF ends a line, a lone one is refused anyway.
_MARKS = bytes(b" "[0] if b in b" \t\r" else b if b == b"\n"[0] else b"x"[0] for b in range(256))


def _quotes_close_on_their_line(data: bytes) -> bool:
    """Whether every line of ``data`` holds an even number of ``"``, by byte operations: with all but
    quotes and newlines deleted, each line's quotes stand together, and pairs of them cancel."""
    return b'"' not in data.translate(None, _NOT_QUOTE_OR_NEWLINE).replace(b'""', b"")


_NOT_QUOTE_OR_NEWLINE = bytes(b for b in range(256) if b not in b'"\n')


def _loadtxt(data: bytes, delimiter: str, usecols=None) -> np.ndarray:
    # A text wrapper over the bytes: as fast as loadtxt on a path, decoding as it goes.
    chunk = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None)
    if delimiter == " ":
        return np.loadtxt(chunk, comments="#", dtype=np.float64, ndmin=2, usecols=usecols)
    return np.loadtxt(chunk, delimiter=delimiter, comments="#", quotechar='"', dtype=np.float64, ndmin=2,
                      usecols=usecols)


def _parse_chunks(data: bytes, header: str, selector: str | None, where: str, names: bool, *,
                  drop: bool = True):
    """``(values, names)`` by NumPy's C reader in chunks; a chunk it refuses goes through the exact
    reader (with the file's form and line numbers), which names the problem. None: a column that may
    hold class names (``names``) is read by the exact reader, whole.

    ``drop``: a refused chunk that counts a row of another width (:func:`_ragged`) fails the file, so
    the rows before it are dropped before the exact reader says where (a failing file stays small);
    should that chunk parse after all, the file is read again keeping every row.
    """
    pos, form = _select(data, _text_head(data, header, where), header, selector, where)
    parts = []
    for _, line, piece in _line_chunks(io.BytesIO(data), pos, where, form.first_data_line):
        block = _parse_block(piece, form)
        if block is None:
            if names:
                return None
            dropped = drop and bool(parts) and _ragged(piece, form)
            if dropped:
                parts.clear()
            block = _parse_exact(_decode(piece, where, line), where, first_line=line, form=form)[0]
            if dropped:  # the count misled: every row of the chunk has the file's width
                return _parse_chunks(data, header, selector, where, names, drop=False)
        if len(block):
            parts.append(block)
    return (parts[0] if len(parts) == 1 else np.concatenate(parts)), form.names


#: Text files larger than this are not held in memory: see :class:`TextRows`.
STREAM_TEXT_BYTES = 64 << 20


def _stream_text(path: str, where: str, header: str = "auto", selector: str | None = None) -> Matrix:
    """A large text file as a :class:`Matrix` of :class:`TextRows`.

    A first pass reads the file in chunks of whole lines, only to count each
    chunk's data rows (a byte scan where a chunk is plain ASCII without
    comments or blank lines, else by the exact reader's own rule) and to keep
    where it lies. The values are parsed later, a block's chunks at a time.
    Its head (comments, a header, the first rows) must lie within :data:`MAX_HEAD` bytes; the head
    decides a header of integers, and its first chunk's rows an index column (:func:`_index_column`).
    """
    with open(path, "rb") as f:
        # The head's rows decide a header of integers: the same evidence whatever the chunk size.
        first = f.read(max(TEXT_CHUNK, HEAD_EVIDENCE)) + f.readline(MAX_LINE + 1)
        bom = 3 if first.startswith(b"\xef\xbb\xbf") else 0
        _refuse_binary(first, where)
        while (head := _text_head(first[bom:], header, where, whole=False)) is None:  # a long head of comments
            more = f.read(TEXT_CHUNK) + f.readline(MAX_LINE + 1)
            if not more:  # the whole file: its head as the whole text's (or what is missing)
                head = _text_head(first[bom:], header, where)
                break
            if len(first) > MAX_HEAD:
                raise DataError(f"{where}: no data row within the first {len(first) >> 20} MB "
                                "(only comments, blank lines or a header)")
            first += more
        pos, form = _select(first[bom:], head, header, selector, where, whole=False)
        spans, row = [], 0
        for at, line, data in _line_chunks(f, bom + pos, where, form.first_data_line):
            rows = _count_rows(data)
            if rows:
                spans.append(_Span(at, len(data), row, rows, line))
            row += rows
            if _ragged(data, form):
                # The file fails: said now, in line order (the rows before are checked, not kept), before
                # any block of it is computed. Should every row parse after all, the count misled: read on.
                checked = TextRows(path, where, spans, form)
                for i in range(len(spans)):
                    checked._parse(i)
    values, notes = TextRows(path, where, spans, form), []
    if selector is None and spans and _index_column(values.rows(0, spans[0].rows), form.names, where, notes):
        form = form._replace(usecols=tuple(range(1, form.width)), names=_without_first(form.names))
        values = TextRows(path, where, spans, form)
    m = _matrix(values, where, form.names, TextLines(values), header)
    m.notes.extend(notes)
    return m


def _count_rows(data: bytes) -> int:
    """The data rows of whole lines ``data``: a data row is neither blank nor only a ``#`` comment."""
    body = data[:-1] if data.endswith(b"\n") else data
    if body.isascii() and b"#" not in body:
        # Without its blanks a blank line is an empty one: byte operations only, and most files
        # (no spaces, tabs or CRs) need not even be copied.
        dense = body.translate(None, _BLANKS) if any(b in body for b in _BLANKS_EACH) else body
        if dense and b"\n\n" not in dense and not dense.startswith(b"\n") and not dense.endswith(b"\n"):
            return body.count(b"\n") + 1
    return sum(1 for raw in _text_lines(data.decode("utf-8", "replace")) if _content(raw))


_BLANKS = b" \t\r"
_BLANKS_EACH = [bytes([b]) for b in _BLANKS]


def _line_chunks(f, offset: int, where: str, line: int):
    """``(offset, its line number, bytes)`` of consecutive pieces of ``f`` from ``offset`` (at line
    ``line``): about :data:`TEXT_CHUNK` bytes of whole lines. A line longer than :data:`MAX_LINE` is
    refused, naming it, before more of it is read."""
    f.seek(offset)
    while True:
        data = f.read(TEXT_CHUNK)
        if not data:
            return
        if not data.endswith(b"\n"):
            start = data.rfind(b"\n") + 1  # where the line cut by the chunk's end starts
            data += f.readline(max(1, MAX_LINE + 1 - (len(data) - start)))
            if len(data) - start > MAX_LINE:
                raise _long_line(where, line + data.count(b"\n", 0, start))
        yield offset, line, data
        offset += len(data)
        line += data.count(b"\n")


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

    def __init__(self, path: str, where: str, spans: list[_Span], form: _TextForm):
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
        _refuse_binary(data, self.where, span.first_line)
        block = _parse_block(data, form)
        if block is None or len(block) != span.rows:
            text = _decode(data, self.where, span.first_line)
            block = _parse_exact(text, self.where, first_line=span.first_line, form=form)[0]
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
        for k, raw in enumerate(_text_lines(self._rows.text(i).decode("utf-8", "replace"))):
            if _content(raw):
                if not left:
                    return span.first_line + k
                left -= 1
        raise IndexError(row)


def _parse_exact(text: str, where: str, *, first_line: int = 1, form: _TextForm | None = None, header: str = "auto",
                 selector: str | None = None, names: bool = False) -> tuple[np.ndarray, Header | None, "DataLines | None"]:
    """Line by line, naming the line and column of the first problem (in line order).

    ``form`` (with ``first_line``, the line number of ``text``'s first line)
    parses a piece of a file whose head was read before: its delimiter,
    width and header hold, and messages read as for the whole file (a piece
    may hold no row; no lines are returned for it). ``names``: one column of
    class names may be read as ``str``.
    """
    lines = None
    if form is None:
        data = text.encode("utf-8")
        pos, form = _select(data, _text_head(data, header, where), header, selector, where)
        text, first_line = data[pos:].decode("utf-8"), form.first_data_line
        lines = DataLines(data, skip=form.header_line)
    delimiter, width, header_names = form.delimiter, form.width, form.names
    columns = _read_columns(form, width)
    parts: list[np.ndarray] = []  # the rows converted so far, a batch at a time: cells as str take far more memory
    named: list[DataError] = []  # what a batch read as class names says if the column holds numbers after all
    rows: list[list[str]] = []  # the batch, and its lines
    batch_lines: list[int] = []

    def convert() -> None:
        part = _values_of(rows, batch_lines, where, columns, form.decimal_comma, names, header_names)
        if part.dtype.kind == "U" and not named:
            k = next(i for i, cell in enumerate(part[:, 0]) if not _is_value(str(cell)))
            named.append(DataError(f"{where}: line {batch_lines[k]}, column {columns[0] + 1}: expected a number, "
                                   f"found {str(part[k, 0])!r}"))
        parts.append(part)

    for lineno, raw in enumerate(_text_lines(text), start=first_line):
        if not _content(raw):
            continue
        count = _wide_line_cells(raw, delimiter)
        if count == width:
            # A wide line as str cells takes ~60 bytes a value: NumPy reads it, unless it refuses a cell.
            block = _parse_block(raw.encode() + b"\n", form)
            if block is not None and len(block) == 1:
                if rows:
                    convert()
                    rows, batch_lines = [], []
                parts.append(block)
                continue
        try:
            cells = _split_at(raw, delimiter, where, lineno) if count is None else None
        except DataError:
            _raise_first_bad_cell(rows, batch_lines, where, columns, header=header_names)  # in line order
            raise
        if count is None:
            count = len(cells)
        if count != width:
            if len(columns) > 1 or not names:  # the first problem in line order (one column may be names)
                _raise_first_bad_cell(rows, batch_lines, where, columns, header=header_names)
            on = (f"the header on line {form.header_line}" if header_names and lineno == form.first_data_line
                  else f"line {form.first_data_line}")
            trailing = cells[-1] == "" if cells is not None else delimiter != " " and _content(raw).endswith(delimiter)
            raise DataError(
                f"{where}: line {lineno}: found {_values(count)}, expected {width} as on {on}"
                + (" (a trailing delimiter?)" if trailing else "")
            )
        if cells is None:
            cells = _split_at(raw, delimiter, where, lineno)
        rows.append(cells)
        batch_lines.append(lineno)
        if len(rows) * width >= _EXACT_BATCH:
            convert()
            rows, batch_lines = [], []
    if rows or not parts:
        convert()
    if len({p.dtype.kind for p in parts}) > 1:  # names in one batch, numbers in another: a column of numbers
        raise named[0]
    return (parts[0] if len(parts) == 1 else np.concatenate(parts)), header_names, lines


#: Cells the exact reader holds as ``str`` at a time.
_EXACT_BATCH = 1 << 16

#: A line longer than this (in characters) is measured, and read by NumPy, before it is split into ``str`` cells.
_WIDE_LINE = 1 << 16


def _wide_line_cells(raw: str, delimiter: str) -> int | None:
    """The cells of a line longer than :data:`_WIDE_LINE`, counted without splitting it; None for a
    shorter line, or one whose quotes or carriage return only :func:`_split` reads."""
    if len(raw) <= _WIDE_LINE:
        return None
    line = raw.split("#", 1)[0].rstrip("\r\n ")
    if '"' in line or "\r" in line:
        return None
    if delimiter == " ":
        return sum(1 for _ in _FIELD_SEPARATOR.finditer(line.strip(_BLANK))) + 1
    return line.count(delimiter) + 1


def _read_columns(form: _TextForm | None, width: int) -> list[int]:
    return list(form.usecols) if form is not None and form.usecols is not None else list(range(width))


def _values_of(rows: list[list[str]], lines: list[int], where: str, columns: list[int], decimal_comma: bool,
               names: bool = False, header: Header | None = None):
    """The cells of ``columns`` as float64 ``(rows, columns)``: booleans are 1/0, decimal commas points;
    one column of names is ``str`` (class-name labels, mapped to classes where they are used)."""
    picked = [[r[i] for i in columns] for r in rows]
    if decimal_comma:
        for cells, lineno in zip(picked, lines):
            for k, cell in enumerate(cells):
                if "." in cell and is_number(cell):
                    raise DataError(f"{where}: line {lineno}, column {columns[k] + 1}: {cell!r} has a decimal point, "
                                    "but this file's numbers use ',' as the decimal mark: mixed marks")
        picked = [[c.replace(",", ".") for c in cells] for cells in picked]
    flat = [_BOOLEANS.get(c.lower(), c) for cells in picked for c in cells]
    if _ascii_numbers(flat):
        try:
            return np.array(flat, dtype=np.float64).reshape(len(rows), len(columns))
        except ValueError:
            pass
    if names and len(columns) == 1 and all(flat) and not any(_foreign_number(c) for c in flat):
        return np.array(flat, dtype=str).reshape(len(rows), 1)
    _raise_first_bad_cell(rows, lines, where, columns, decimal_comma, header)
    raise AssertionError(f"{where}: a cell was refused, but none is bad")


class DataLines:
    """The 1-based physical line of each data row, found when asked (most runs never ask).

    The text is indexed by pieces of about :data:`_LINES_PIECE`
    bytes (the rows and first line of each) and a row's line is found by scanning its piece:
    memory stays at a piece's whatever the text's size."""

    def __init__(self, data: bytes, *, skip: int | None = None):
        self._data, self._skip = data, skip  # skip: the header's line
        self._pieces: list[tuple[int, int, int, int]] | None = None  # (first row, first line, start, end)

    def _index(self) -> list[tuple[int, int, int, int]]:
        if self._pieces is None:
            data, pieces, row, line, start = self._data, [], 0, 1, 0
            while start < len(data):
                end = data.find(b"\n", start + _LINES_PIECE)
                end = len(data) if end < 0 else end + 1
                newlines = data.count(b"\n", start, end)
                last = line + newlines - (1 if data[end - 1:end] == b"\n" else 0)
                pieces.append((row, line, start, end))
                row += _count_rows(data[start:end]) - (self._skip is not None and line <= self._skip <= last)
                line, start = line + newlines, end
            pieces.append((row, line, len(data), len(data)))
            self._pieces = pieces
        return self._pieces

    def _scan(self, piece: tuple[int, int, int, int]):
        """``(row, line)`` of the data rows of one piece."""
        row, line, start, end = piece
        for k, raw in enumerate(_text_lines(self._data[start:end].decode("utf-8", "replace"))):
            if _content(raw) and line + k != self._skip:
                yield row, line + k
                row += 1

    def __getitem__(self, row: int) -> int:
        if row < 0:
            row += len(self)
        pieces = self._index()
        if not 0 <= row < pieces[-1][0]:
            raise IndexError(row)
        piece = pieces[bisect.bisect_right([p[0] for p in pieces], row) - 1]
        return next(line for r, line in self._scan(piece) if r == row)

    def __len__(self) -> int:
        return self._index()[-1][0]

    def __iter__(self):
        for piece in self._index()[:-1]:
            for _, line in self._scan(piece):
                yield line

    def __eq__(self, other) -> bool:
        return list(self) == list(other)


#: Bytes of text :class:`DataLines` scans to find one row's line.
_LINES_PIECE = 1 << 20


def _text_lines(text: str):
    """The lines of ``text`` split at LF (as ``text.split("\\n")``), one at a time: no list of them all."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def _floats(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def is_number(cell: str) -> bool:
    """A number spelled in ASCII: digits, sign, point, exponent, ``inf``/``nan`` spellings.

    ``float`` also takes ``1_0``, other scripts' digits (``١``, ``１``) and blanks other than spaces
    and tabs around the number (a no-break space, ``\x1c``): not numbers here."""
    return ascii_spelled(cell) and cell.isprintable() and _floats(cell)


def _ascii_numbers(cells: list[str]) -> bool:
    """No cell holds what ``float`` takes but :func:`is_number` does not (one scan of all cells)."""
    joined = "".join(cells)
    return ascii_spelled(joined) and joined.isprintable()


_ANY_SPACE = re.compile(r"\s")


def _foreign_number(cell: str) -> bool:
    """What reads as a number but is not spelled in ASCII: ``float`` takes it (``1_0``, ``١٢``, ``１２``,
    ``\xa01``), or would without its blanks (``1\xa0234``, ``1 234``: a locale's digit grouping)."""
    return not is_number(cell) and (_floats(cell) or _floats(_ANY_SPACE.sub("", cell)))


def _odd_space(cell: str) -> str | None:
    """The first blank of ``cell`` that does not separate fields (neither a space nor a tab), if any."""
    return next((c for c in cell if c.isspace() and c not in _BLANK), None)


def number_hint(cell: str) -> str:
    """Why a cell that looks like a number is not one, for messages (or nothing)."""
    if _foreign_number(cell):
        odd = _odd_space(cell)
        if odd is not None or " " in cell.strip(_BLANK):
            odd = odd or " "
            name = unicodedata.name(odd, "control character").lower()
            at = cell.index(odd)
            where = "inside" if cell[:at].strip() and cell[at + 1:].strip() else "around"
            article = "an" if name[0] in "aeiou" else "a"
            return f" ({article} {name} (U+{ord(odd):04X}) {where} a number: numbers are ASCII, without digit grouping)"
        return " (numbers are written in ASCII digits, without '_')"
    if "\ufeff" in cell:
        return " (a byte-order mark inside the text: were files joined?)"
    return ""


def _raise_first_bad_cell(rows: list[list[str]], lines: list[int], where: str, columns: list[int] | None = None,
                          decimal_comma: bool = False, header: Header | None = None) -> None:
    for cells, lineno in zip(rows, lines):
        for i in (range(len(cells)) if columns is None else columns):
            cell, col = cells[i], i + 1
            if cell == "":
                hint = " (a trailing delimiter?)" if col == len(cells) else ""
                raise DataError(f"{where}: line {lineno}, column {col}: empty cell, expected a number{hint}")
            if not _is_value(cell.replace(",", ".") if decimal_comma else cell):
                hint = number_hint(cell) or _selector_hint(where, header, rows[0], columns)
                raise DataError(f"{where}: line {lineno}, column {col}: expected a number, found {cell!r}{hint}")


def _selector_hint(where: str, header: Header | None, first: list[str], columns: list[int]) -> str:
    """For a table of number and text columns read whole: the selector of its number columns (an id
    column left out), from its header and first row (``; … select the numbers, e.g. preds.csv:p_*``), or nothing."""
    if header is None or len(header) != len(columns):
        return ""
    numeric = [name for name, i in zip(header, columns) if _is_value(first[i]) and not ID_NAME.fullmatch(name)]
    text = [name for name, i in zip(header, columns) if not _is_value(first[i])]
    if not numeric or not text:
        return ""

    shown = ", ".join(text[:3]) + (", …" if len(text) > 3 else "")
    return (f"; the table mixes number and text columns ({shown}): select the numbers, "
            f"e.g. {shown_path(where)}:{class_selector(numeric, list(header))}")
