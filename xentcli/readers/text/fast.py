"""The fast parse: whole lines of data rows by NumPy's C reader, and byte counts that tell a row of the
wrong width without splitting lines."""

from __future__ import annotations

import io
import re
import warnings

import numpy as np

from .common import TextForm, count_rows

__all__ = ["parse_block", "ragged"]


# A chunk of comments only is fine. (A filter set once: catch_warnings is not safe across threads,
# and blocks of a streamed file are parsed on the engine's.)
warnings.filterwarnings("ignore", message="loadtxt: input contained no data", category=UserWarning)


def parse_block(data: bytes, form: TextForm) -> np.ndarray | None:
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
    if usecols is not None and ragged(data, form):
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


def ragged(data: bytes, form: TextForm) -> bool:
    """Whether whole lines ``data`` surely hold a row of another width than ``form``'s, by counting
    separators (lines without quotes or comments; whitespace-separated ones without blank lines or lone
    CRs): byte operations only."""
    if b'"' in data or b"#" in data:
        return False
    if form.delimiter != " ":
        if form.delimiter == "\t" and _BLANK_TAB_LINE.search(data):
            return False  # a line of blanks and tabs holds no row, yet its tabs would be counted
        return data.count(form.delimiter.encode()) != count_rows(data) * (form.width - 1)
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
