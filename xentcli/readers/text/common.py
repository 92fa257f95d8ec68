"""What every text reader shares: the header and form a file's head decides, a line's cells, decoding,
and the chunks of whole lines a file is read in."""

from __future__ import annotations

import re
from typing import NamedTuple

from ...errors import DataError
from .cells import BLANK

__all__ = ["HEADER_MODES", "Header", "TEXT_CHUNK", "MAX_LINE", "MAX_HEAD", "long_line", "refuse_binary", "decode",
           "FIELD_SEPARATOR", "split_blanks", "line_content", "CellError", "split_line", "split_at", "TextForm",
           "count_rows", "line_chunks", "text_lines"]


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


#: Bytes of text parsed per chunk by NumPy's C reader.
TEXT_CHUNK = 8 << 20


#: The longest line (a header included) read, in bytes: a row of 152 064 float32 values written
#: as csv takes about 4 MB. A line is held whole while its cells are split, so the bound keeps
#: every input, even one with no newline at all, within a few hundred MB. At least TEXT_CHUNK,
#: so that only the line cut by a chunk's end needs measuring.
MAX_LINE = 8 << 20


#: The most bytes of comments and blank lines (and a header) read before the first data rows of a streamed file.
MAX_HEAD = 64 << 20


def long_line(where: str, lineno: int) -> DataError:
    return DataError(f"{where}: line {lineno} is longer than {MAX_LINE >> 20} MB, the longest line xent reads "
                     "(is it text with line breaks?)")


def refuse_binary(data: bytes, where: str, first_line: int = 1) -> None:
    """Raise, naming the line, if ``data`` (text from line ``first_line`` on) holds a NUL byte."""
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + first_line
        raise DataError(f"{where}: line {line}: binary data (a NUL byte), expected delimited text")


def decode(data: bytes, where: str, first_line: int = 1) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + first_line
        raise DataError(
            f"{where}: line {line}: byte 0x{data[e.start]:02x} is not UTF-8 text; expected delimited numbers"
        ) from e


FIELD_SEPARATOR = re.compile(r"[ \t]+")


def split_blanks(s: str) -> list[str]:
    """The cells of a whitespace-separated line (no cell for a blank one)."""
    s = s.strip(BLANK)
    return FIELD_SEPARATOR.split(s) if s else []


def line_content(raw: str) -> str:
    """A line without its ``#`` comment and surrounding blanks (spaces, tabs, its line end)."""
    return raw.split("#", 1)[0].strip(BLANK + "\r\n")


class CellError(ValueError):
    """A malformed cell, found before its line's number is known: ``column`` is 1-based."""

    def __init__(self, column: int, message: str):
        super().__init__(message)
        self.column = column


def split_line(raw: str, delimiter: str) -> list[str]:
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
        column = len(split_blanks(before)) if delimiter == " " else before.count(delimiter) + 1
        raise CellError(max(column, 1), "a carriage return (\\r) inside a line: lines end with LF or CRLF")
    if delimiter == " ":
        # R's write.table quotes names and row names: a field wholly in quotes is its text.
        fields = split_blanks(line)
        return [f[1:-1] if len(f) > 1 and f[0] == f[-1] == '"' else f for f in fields] if '"' in line else fields
    if '"' in line:  # quoted fields, as CSV writes names that hold a delimiter (or every name)
        return _split_quoted(line, delimiter)
    return [c.strip(BLANK) for c in line.split(delimiter)]


def _split_quoted(line: str, delimiter: str) -> list[str]:
    """The cells of a line holding ``"``, by :func:`split_line`'s quoting rule."""
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
                    raise CellError(len(cells) + 1, "a quoted field is not closed: expected '\"' before the line ends")
                parts.append(line[pos:close])
                if not line.startswith('"', close + 1):
                    break
                parts.append('"')  # "" is a quote inside a quoted field
                pos = close + 2
            end = line.find(delimiter, close + 1)
            end = n if end < 0 else end
            after = line[close + 1:end].strip(BLANK)
            if after:
                raise CellError(len(cells) + 1,
                                f"{after!r} after a closing quote: expected the delimiter {delimiter!r}")
            cells.append("".join(parts).strip(BLANK))
        else:
            end = line.find(delimiter, start)
            end = n if end < 0 else end
            cells.append(line[start:end].strip(BLANK))
        if end >= n:
            return cells
        start = end + 1


def split_at(raw: str, delimiter: str, where: str, lineno: int) -> list[str]:
    """:func:`split_line`, its refusal located."""
    try:
        return split_line(raw, delimiter)
    except CellError as e:
        raise DataError(f"{where}: line {lineno}, column {e.column}: {e}") from None


class TextForm(NamedTuple):
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


def count_rows(data: bytes) -> int:
    """The data rows of whole lines ``data``: a data row is neither blank nor only a ``#`` comment."""
    body = data[:-1] if data.endswith(b"\n") else data
    if body.isascii() and b"#" not in body:
        # Without its blanks a blank line is an empty one: byte operations only, and most files
        # (no spaces, tabs or CRs) need not even be copied.
        dense = body.translate(None, _BLANKS) if any(b in body for b in _BLANKS_EACH) else body
        if dense and b"\n\n" not in dense and not dense.startswith(b"\n") and not dense.endswith(b"\n"):
            return body.count(b"\n") + 1
    return sum(1 for raw in text_lines(data.decode("utf-8", "replace")) if line_content(raw))


_BLANKS = b" \t\r"


_BLANKS_EACH = [bytes([b]) for b in _BLANKS]


def line_chunks(f, offset: int, where: str, line: int):
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
                raise long_line(where, line + data.count(b"\n", 0, start))
        yield offset, line, data
        offset += len(data)
        line += data.count(b"\n")


def text_lines(text: str):
    """The lines of ``text`` split at LF (as ``text.split("\\n")``), one at a time: no list of them all."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1
