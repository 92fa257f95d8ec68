"""The exact reader: line by line, naming the line and column of the first problem (in line order), and
the physical line of each data row (:class:`DataLines`)."""

from __future__ import annotations

import bisect

import numpy as np

from ...errors import DataError
from ..selector import ID_NAME, class_selector
from ..source import shown_path
from .cells import BLANK, BOOLEANS, ascii_numbers, foreign_number, is_number, is_value, number_hint
from .common import FIELD_SEPARATOR, Header, TextForm, count_rows, line_content, split_at, text_lines
from .fast import parse_block
from .sniff import select_head, text_head

__all__ = ["parse_exact", "DataLines"]


def parse_exact(text: str, where: str, *, first_line: int = 1, form: TextForm | None = None, header: str = "auto",
                selector: str | None = None, names: bool = False
                ) -> tuple[np.ndarray, Header | None, "DataLines | None"]:
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
        pos, form = select_head(data, text_head(data, header, where), header, selector, where)
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
            k = next(i for i, cell in enumerate(part[:, 0]) if not is_value(str(cell)))
            named.append(DataError(f"{where}: line {batch_lines[k]}, column {columns[0] + 1}: expected a number, "
                                   f"found {str(part[k, 0])!r}"))
        parts.append(part)

    for lineno, raw in enumerate(text_lines(text), start=first_line):
        if not line_content(raw):
            continue
        count = _wide_line_cells(raw, delimiter)
        if count == width:
            # A wide line as str cells takes ~60 bytes a value: NumPy reads it, unless it refuses a cell.
            block = parse_block(raw.encode() + b"\n", form)
            if block is not None and len(block) == 1:
                if rows:
                    convert()
                    rows, batch_lines = [], []
                parts.append(block)
                continue
        try:
            cells = split_at(raw, delimiter, where, lineno) if count is None else None
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
            trailing = (cells[-1] == "" if cells is not None
                        else delimiter != " " and line_content(raw).endswith(delimiter))
            raise DataError(
                f"{where}: line {lineno}: found {_values(count)}, expected {width} as on {on}"
                + (" (a trailing delimiter?)" if trailing else "")
            )
        if cells is None:
            cells = split_at(raw, delimiter, where, lineno)
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
    shorter line, or one whose quotes or carriage return only :func:`split_line` reads."""
    if len(raw) <= _WIDE_LINE:
        return None
    line = raw.split("#", 1)[0].rstrip("\r\n ")
    if '"' in line or "\r" in line:
        return None
    if delimiter == " ":
        return sum(1 for _ in FIELD_SEPARATOR.finditer(line.strip(BLANK))) + 1
    return line.count(delimiter) + 1


def _read_columns(form: TextForm | None, width: int) -> list[int]:
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
    flat = [BOOLEANS.get(c.lower(), c) for cells in picked for c in cells]
    if ascii_numbers(flat):
        try:
            return np.array(flat, dtype=np.float64).reshape(len(rows), len(columns))
        except ValueError:
            pass
    if names and len(columns) == 1 and all(flat) and not any(foreign_number(c) for c in flat):
        return np.array(flat, dtype=str).reshape(len(rows), 1)
    _raise_first_bad_cell(rows, lines, where, columns, decimal_comma, header)
    raise AssertionError(f"{where}: a cell was refused, but none is bad")


def _raise_first_bad_cell(rows: list[list[str]], lines: list[int], where: str, columns: list[int] | None = None,
                          decimal_comma: bool = False, header: Header | None = None) -> None:
    for cells, lineno in zip(rows, lines):
        for i in (range(len(cells)) if columns is None else columns):
            cell, col = cells[i], i + 1
            if cell == "":
                hint = " (a trailing delimiter?)" if col == len(cells) else ""
                raise DataError(f"{where}: line {lineno}, column {col}: empty cell, expected a number{hint}")
            if not is_value(cell.replace(",", ".") if decimal_comma else cell):
                hint = number_hint(cell) or _selector_hint(where, header, rows[0], columns)
                raise DataError(f"{where}: line {lineno}, column {col}: expected a number, found {cell!r}{hint}")


def _selector_hint(where: str, header: Header | None, first: list[str], columns: list[int]) -> str:
    """For a table of number and text columns read whole: the selector of its number columns (an id
    column left out), from its header and first row (``; … select the numbers, e.g. preds.csv:p_*``), or nothing."""
    if header is None or len(header) != len(columns):
        return ""
    numeric = [name for name, i in zip(header, columns) if is_value(first[i]) and not ID_NAME.fullmatch(name)]
    text = [name for name, i in zip(header, columns) if not is_value(first[i])]
    if not numeric or not text:
        return ""

    shown = ", ".join(text[:3]) + (", …" if len(text) > 3 else "")
    return (f"; the table mixes number and text columns ({shown}): select the numbers, "
            f"e.g. {shown_path(where)}:{class_selector(numeric, list(header))}")


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


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
                row += count_rows(data[start:end]) - (self._skip is not None and line <= self._skip <= last)
                line, start = line + newlines, end
            pieces.append((row, line, len(data), len(data)))
            self._pieces = pieces
        return self._pieces

    def _scan(self, piece: tuple[int, int, int, int]):
        """``(row, line)`` of the data rows of one piece."""
        row, line, start, end = piece
        for k, raw in enumerate(text_lines(self._data[start:end].decode("utf-8", "replace"))):
            if line_content(raw) and line + k != self._skip:
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
