"""Reading matrix options: delimited text, NPY/NPZ files, stdin and inline values.

Every reader returns a :class:`Matrix` and raises :class:`~xentcli.errors.DataError`
(exit 1) or :class:`~xentcli.errors.CallError` (exit 2) whose message already
names the option, the source and, for text, the 1-based physical line and
column (the column is the field's position in its row).
"""

from __future__ import annotations

import bisect
import io
import json
import os
import re
import sys
import threading
import warnings
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .errors import CallError, DataError

__all__ = ["Matrix", "NpyFile", "NpyRows", "TextRows", "read_matrix", "parse_text", "parse_inline", "TEXT_EXTENSIONS", "SUPPORTED_EXTENSIONS"]

TEXT_EXTENSIONS = (".csv", ".tsv", ".txt", ".dat")
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS + (".npy", ".npz")
NPY_MAGIC = b"\x93NUMPY"
_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: never object, string or structured

# What an inline value may consist of: numbers (inf/nan included), separators, brackets.
_INLINE_CHARS = re.compile(r"^[\s\d.,;+\-eE\[\]infatyINFATY_]*$")


@dataclass
class Matrix:
    """A numeric array read from one option, with where it came from.

    Attributes:
      values: the array as read: float64 from text, the stored dtype from NPY
        (an :class:`NpyFile` for ``.npy`` files, read by rows later, so nothing
        is mapped or copied whole).
      where: how to name the source in a message, e.g. ``"--logits z.csv"``.
      names: column names from a header row, if there was one.
      lines: for text, the 1-based physical line of each data row.
    """

    values: np.ndarray
    where: str
    names: list[str] | None = None
    lines: "DataLines | list[int] | None" = field(default=None, repr=False)

    def locate(self, row: int | None) -> str:
        """``where``, plus the text line of ``row`` (0-based) when the input was text.

        The core's message names the row itself; this adds the file's line.
        """
        if row is not None and self.lines is not None and row < len(self.lines):
            return f"{self.where} line {self.lines[row]}"
        return self.where


def read_matrix(spec: str, option: str, *, stdin=None) -> Matrix:
    """Read the value of a matrix option: ``-``, a file path, or an inline value.

    A value is a file when it exists, has a supported extension, or contains a
    path separator; otherwise a value made only of numbers, separators and
    brackets is inline. ``path.npz:key`` names one array of an ``.npz``.
    """
    if spec == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read()
        if isinstance(data, str):
            data = data.encode()
        return _read_bytes(data, f"{option} (stdin)")
    path, key = _split_npz_key(spec)
    ext = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        if _looks_inline(spec, ext):
            return Matrix(parse_inline(spec, option), f"{option} inline value")
        if ext and ext not in SUPPORTED_EXTENSIONS:
            raise CallError(_unsupported(option, path, ext))
        raise CallError(f"{option}: file not found: {path}")
    where = f"{option} {path}"
    if os.path.isdir(path):
        raise CallError(f"{where}: is a directory, expected a file")
    if ext and ext not in SUPPORTED_EXTENSIONS:
        raise CallError(_unsupported(option, path, ext))
    if key is not None and ext != ".npz":
        raise CallError(f"{where}: a ':key' suffix applies to .npz files only")
    try:
        if ext == ".npz":
            return Matrix(_read_npz(path, key, where), where)
        if ext == ".npy":
            return Matrix(_read_npy_file(path, where), where)
        if ext not in TEXT_EXTENSIONS:
            with open(path, "rb") as f:  # no extension: sniff
                head = f.read(len(NPY_MAGIC))
            if head == NPY_MAGIC:
                return Matrix(_read_npy_file(path, where), where)
        streamed = _stream_text(path, where) if os.path.getsize(path) > STREAM_TEXT_BYTES else None
        if streamed is not None:
            return streamed
        with open(path, "rb") as f:
            return _text_matrix(f.read(), where)
    except OSError as e:
        raise DataError(f"{where}: cannot read: {e.strerror or e}") from e


def _looks_inline(spec: str, ext: str) -> bool:
    """A value that is not an existing file: inline unless it looks like a path."""
    if ext in SUPPORTED_EXTENSIONS or "/" in spec or os.sep in spec or not spec.strip():
        return False
    if _INLINE_CHARS.match(spec) and re.search(r"(?i)\d|inf|nan", spec):
        return True
    return any(c in spec for c in ",;[")  # meant as inline, but malformed


def _unsupported(option: str, path: str, ext: str) -> str:
    return (
        f"{option} {path}: unsupported extension '{ext}'; "
        f"expected one of {' '.join(SUPPORTED_EXTENSIONS)} (or '-' for stdin)"
    )


def _split_npz_key(spec: str) -> tuple[str, str | None]:
    if ":" in spec and not os.path.exists(spec):
        path, key = spec.rsplit(":", 1)
        if path.lower().endswith(".npz"):
            return path, key
    return spec, None


def _read_bytes(data: bytes, where: str) -> Matrix:
    if data.startswith(NPY_MAGIC):
        try:
            values = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"{where}: not a readable NPY array: {e}") from e
        return Matrix(_numeric(values, where), where)
    return _text_matrix(data, where)


# -- NPY / NPZ ---------------------------------------------------------------


def _read_npy_file(path: str, where: str) -> "NpyFile | np.ndarray":
    """Check a ``.npy`` file's header, size and dtype; its data is read later, by rows."""
    with open(path, "rb") as f:
        if f.read(len(NPY_MAGIC)) != NPY_MAGIC:
            raise DataError(f"{where}: not an NPY file (it does not start with the NPY magic bytes)")
        f.seek(0)
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
        except (ValueError, OSError, EOFError, SyntaxError) as e:
            raise DataError(f"{where}: damaged NPY header: {e}") from e
        offset = f.tell()
    if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS or dtype.fields:
        raise DataError(f"{where}: NPY dtype {dtype} is not numeric (object arrays are never unpickled)")
    count = int(np.prod(shape, dtype=np.int64))
    expected = count * dtype.itemsize
    found = os.path.getsize(path) - offset
    if found < expected:
        raise DataError(f"{where}: truncated NPY file: expected {expected} bytes of data, found {found}")
    if count == 0:
        raise DataError(f"{where}: the array is empty (shape {tuple(shape)})")
    if fortran_order and len(shape) > 1:  # rows are not contiguous on disk: read it whole
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape), order="F").copy(order="C")
    return NpyFile(path, offset, tuple(shape), dtype)


class _FileRows:
    """Rows of a file read on demand through ``self._fd``: ``len``, ``rows(start, stop)`` (in the
    subclass) and ``[index]`` (an int, a slice or an index array)."""

    def __len__(self) -> int:
        return self.shape[0]

    def __del__(self):
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            return self.rows(start, stop)[::step]
        idx = np.asarray(index)
        if idx.ndim == 0:
            return self.rows(int(idx), int(idx) + 1)[0]
        idx = idx.reshape(-1)
        idx = np.where(idx < 0, idx + len(self), idx)
        if not idx.size:
            return np.empty((0, self.shape[1]), self.dtype)
        lo, hi = int(idx.min()), int(idx.max()) + 1
        if hi - lo <= 4 * idx.size:  # dense (the first rows, a table's rows of a short input): one read
            return self.rows(lo, hi)[idx - lo]
        return np.concatenate([self.rows(int(i), int(i) + 1) for i in idx])


class NpyFile:
    """A C-order ``.npy`` file whose data is read only when asked, with ``os.pread``.

    Nothing is memory-mapped, so pages already used never count toward the
    process's resident memory; :meth:`rows` reads just the rows asked for.
    ``np.asarray(f)`` reads it whole (for small inputs such as targets).
    """

    def __init__(self, path: str, offset: int, shape: tuple[int, ...], dtype: np.dtype):
        self.path, self.offset, self.shape, self.dtype = path, offset, shape, np.dtype(dtype)
        self.ndim = len(shape)
        self.size = int(np.prod(shape, dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 1

    def __array__(self, dtype=None, copy=None):
        rows = self.as_rows()
        a = rows.rows(0, len(rows)).reshape(self.shape)
        return a if dtype is None else a.astype(dtype, copy=False)

    def as_rows(self) -> "NpyRows":
        """The data as ``(N, C)`` rows: leading axes flattened, C the last axis."""
        c = self.shape[-1] if self.shape else 1
        return NpyRows(self.path, self.offset, (self.size // c if c else 0, c), self.dtype)


class NpyRows(_FileRows):
    """Rows of a ``.npy`` file, read on demand: ``rows(start, stop)`` and ``[index]``."""

    def __init__(self, path: str, offset: int, shape: tuple[int, int], dtype: np.dtype):
        self.path, self.offset, self.shape, self.dtype = path, offset, shape, dtype
        self.ndim = 2
        self._row_bytes = shape[1] * dtype.itemsize
        self._fd = os.open(path, os.O_RDONLY)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new array (``os.pread``: safe from several threads)."""
        start, stop = max(0, start), min(len(self), stop)
        out = np.empty((max(0, stop - start), self.shape[1]), dtype=self.dtype)
        view = memoryview(out).cast("B")
        pos, done = self.offset + start * self._row_bytes, 0
        while done < len(view):
            got = os.preadv(self._fd, [view[done:]], pos + done)
            if got <= 0:
                raise DataError(f"{self.path}: the file ended early (was it changed while being read?)")
            done += got
        return out

def _read_npz(path: str, key: str | None, where: str) -> np.ndarray:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{where}: not a readable NPZ archive: {e}") from e
    if not hasattr(archive, "files"):
        raise DataError(f"{where}: not an NPZ archive")
    with archive:
        keys = list(archive.files)
        if key is None:
            if len(keys) != 1:
                raise CallError(
                    f"{where}: the archive holds {len(keys)} arrays ({', '.join(keys) or 'none'}); "
                    f"name one as {path}:KEY"
                )
            key = keys[0]
        if key not in keys:
            raise CallError(f"{where}: no array '{key}' in the archive; it holds {', '.join(keys) or 'none'}")
        try:
            values = archive[key]
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"{where}:{key}: cannot read the array: {e}") from e
    return _numeric(values, f"{where}:{key}")


def _numeric(values: np.ndarray, where: str) -> np.ndarray:
    if values.dtype.hasobject or values.dtype.kind not in _NUMERIC_KINDS or values.dtype.fields:
        raise DataError(f"{where}: dtype {values.dtype} is not numeric")
    if values.size == 0:
        raise DataError(f"{where}: the array is empty (shape {values.shape})")
    return values


# -- delimited text ----------------------------------------------------------


def _text_matrix(data: bytes, where: str) -> Matrix:
    values, names, lines = parse_text(data, where)
    return Matrix(values, where, names, lines)


#: Bytes of text parsed per chunk by NumPy's C reader.
TEXT_CHUNK = 8 << 20


def parse_text(data: bytes, where: str) -> tuple[np.ndarray, list[str] | None, "DataLines"]:
    """Parse delimited text into a 2-D float64 array.

    The delimiter (tab, comma, semicolon, else runs of whitespace) is taken
    from the first data line. ``#`` comments and blank lines are skipped,
    CRLF and a UTF-8 BOM accepted. A first row whose every cell is
    non-numeric is a header of class names.

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
    fast = _parse_chunks(data)
    if fast is None:
        values, names, lines = _parse_exact(_decode(data, where), where)
        return values, names, DataLines(data, lines)
    values, names = fast
    return values, names, DataLines(data)


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


def _content(raw: str) -> str:
    """A line without its ``#`` comment and surrounding blanks."""
    return raw.split("#", 1)[0].strip()


def _delimiter(content: str) -> str:
    """The delimiter of a file, from its first data line: tab, comma, semicolon, else whitespace (" ")."""
    return next((d for d in ("\t", ",", ";") if d in content), " ")


def _is_header(cells: list[str]) -> bool:
    """A first row whose every (non-empty) cell is non-numeric names the classes."""
    return not any(_is_number(c) for c in cells if c)


def _split(raw: str, delimiter: str) -> list[str]:
    # Split the line itself, not its stripped form: a trailing tab is an empty cell.
    line = raw.split("#", 1)[0]
    return line.split() if delimiter == " " else [c.strip() for c in line.rstrip("\r\n ").split(delimiter)]


class _TextForm(NamedTuple):
    """What a text file's head decides for every row: delimiter, width, header; and where rows start."""

    delimiter: str
    width: int
    names: list[str] | None
    header_line: int | None
    first_data_line: int


def _text_head(data: bytes) -> tuple[int, _TextForm] | None:
    """``(offset of the first data row, form)``, or None if no data row starts in ``data`` or a
    line before it is not UTF-8 (the exact reader then explains)."""
    pos, lineno, names, header_line, delimiter = 0, 1, None, None, None
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end + 1
        try:
            raw = data[pos:end].decode("utf-8")
        except UnicodeDecodeError:
            return None
        s = _content(raw)
        if s:
            if delimiter is None:
                delimiter = _delimiter(s)
            cells = _split(raw, delimiter)
            if names is None and _is_header(cells):
                names, header_line = cells, lineno
            else:
                return pos, _TextForm(delimiter, len(names) if names else len(cells), names, header_line, lineno)
        pos, lineno = end, lineno + 1
    return None


# A chunk of comments only is fine. (A filter set once: catch_warnings is not safe across threads,
# and blocks of a streamed file are parsed on the engine's.)
warnings.filterwarnings("ignore", message="loadtxt: input contained no data", category=UserWarning)


def _parse_block(data: bytes, delimiter: str, width: int) -> np.ndarray | None:
    """Whole lines of data rows by NumPy's C reader: ``(rows, width)``, or None if it refuses anything."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None  # a lone CR would end a line there, not for the exact reader (lines end at LF)
    try:
        block = _loadtxt(data, delimiter)
    except (ValueError, UnicodeDecodeError):
        return None
    if not block.size:
        return np.empty((0, width))
    return block if block.shape[1] == width else None


def _loadtxt(data: bytes, delimiter: str) -> np.ndarray:
    # A text wrapper over the bytes: as fast as loadtxt on a path, decoding as it goes.
    chunk = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None)
    return np.loadtxt(chunk, delimiter=None if delimiter == " " else delimiter, comments="#",
                      dtype=np.float64, ndmin=2)


def _parse_chunks(data: bytes):
    """``(values, names)`` by NumPy's C reader in chunks, or None to let the exact reader explain."""
    head = _text_head(data)
    if head is None:
        return None
    pos, form = head
    names, delimiter, width = form.names, form.delimiter, form.width
    parts = []
    for _, piece in _line_chunks(io.BytesIO(data), pos):
        block = _parse_block(piece, delimiter, width)
        if block is None:
            return None
        if len(block):
            parts.append(block)
    if not parts:
        return None
    return (parts[0] if len(parts) == 1 else np.concatenate(parts)), names


#: Text files larger than this are not held in memory: see :class:`TextRows`.
STREAM_TEXT_BYTES = 64 << 20


def _stream_text(path: str, where: str) -> "Matrix | None":
    """A large text file as a :class:`Matrix` of :class:`TextRows`, or None to read it whole.

    A first pass reads the file in chunks of whole lines, only to count each
    chunk's data rows (a byte scan where a chunk is plain ASCII without
    comments or blank lines, else by the exact reader's own rule) and to keep
    where it lies. The values are parsed later, a block's chunks at a time.
    """
    with open(path, "rb") as f:
        first = f.read(TEXT_CHUNK) + f.readline()
        bom = 3 if first.startswith(b"\xef\xbb\xbf") else 0
        while (head := _text_head(first[bom:])) is None:  # comments and a header may be long
            more = f.readline()
            if not more or len(first) > TEXT_CHUNK + (1 << 20):
                return None
            first += more
        pos, form = head
        spans, row, line = [], 0, form.first_data_line
        for at, data in _line_chunks(f, bom + pos):
            rows, newlines = _count_rows(data)
            if rows:
                spans.append(_Span(at, len(data), row, rows, line))
            row += rows
            line += newlines
    values = TextRows(path, where, spans, form)
    return Matrix(values, where, form.names, TextLines(values))


def _count_rows(data: bytes) -> tuple[int, int]:
    """``(data rows, newlines)`` of whole lines ``data``; a data row is neither blank nor only a ``#`` comment."""
    newlines = data.count(b"\n")
    body = data[:-1] if data.endswith(b"\n") else data
    if body.isascii() and b"#" not in body:
        # Without its blanks a blank line is an empty one: byte operations only, and most files
        # (no spaces, tabs or CRs) need not even be copied.
        dense = body.translate(None, _BLANKS) if any(b in body for b in _BLANKS_EACH) else body
        if dense and b"\n\n" not in dense and not dense.startswith(b"\n") and not dense.endswith(b"\n"):
            return newlines - (body is not data) + 1, newlines
    return sum(1 for raw in data.decode("utf-8", "replace").split("\n") if _content(raw)), newlines


_BLANKS = b" \t\r\f\v"
_BLANKS_EACH = [bytes([b]) for b in _BLANKS]


def _line_chunks(f, offset: int):
    """``(offset, bytes)`` of consecutive pieces of ``f`` from ``offset``: about :data:`TEXT_CHUNK` bytes, whole lines."""
    f.seek(offset)
    while True:
        data = f.read(TEXT_CHUNK)
        if not data:
            return
        if not data.endswith(b"\n"):
            data += f.readline()
        yield offset, data
        offset += len(data)


class _Span(NamedTuple):
    """Where one chunk of a :class:`TextRows` file lies: bytes, rows, and its first physical line."""

    offset: int
    length: int
    first_row: int
    rows: int
    first_line: int


class TextRows(_FileRows):
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

    def __init__(self, path: str, where: str, spans: list[_Span], form: _TextForm):
        self.path, self.where, self._spans, self._form = path, where, spans, form
        self._starts = [s.first_row for s in spans]
        n = spans[-1].first_row + spans[-1].rows if spans else 0
        self.shape, self.ndim, self.dtype, self.size = (n, form.width), 2, np.dtype(np.float64), n * form.width
        self._fd = os.open(path, os.O_RDONLY)
        self._kept: OrderedDict[int, Future] = OrderedDict()
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
        data = os.pread(self._fd, span.length, span.offset)
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
        block = _parse_block(data, form.delimiter, form.width)
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
        for k, raw in enumerate(self._rows.text(i).decode("utf-8", "replace").split("\n")):
            if _content(raw):
                if not left:
                    return span.first_line + k
                left -= 1
        raise IndexError(row)


def _parse_exact(text: str, where: str, *, first_line: int = 1, form: _TextForm | None = None
                 ) -> tuple[np.ndarray, list[str] | None, list[int]]:
    """Line by line, naming the line and column of the first problem (in line order).

    ``form`` (with ``first_line``, the line number of ``text``'s first line)
    parses a piece of a file whose head was read before: its delimiter,
    width and header hold, and messages read as for the whole file.
    """
    delimiter = form.delimiter if form else None
    names = form.names if form else None
    width = form.width if form else 0
    header_line = form.header_line if form else None
    first_data = form.first_data_line if form else None
    rows: list[list[str]] = []
    lines: list[int] = []
    for lineno, raw in enumerate(text.split("\n"), start=first_line):
        s = _content(raw)
        if not s:
            continue
        if delimiter is None:
            delimiter = _delimiter(s)
        cells = _split(raw, delimiter)
        if form is None and not rows and names is None and _is_header(cells):
            names, width, header_line = cells, len(cells), lineno
            continue
        first_data = first_data or lineno
        if not width:
            width = len(cells)
        elif len(cells) != width:
            _raise_first_bad_cell(rows, lines, where)  # the first problem in line order, whatever it is
            first = f"the header on line {header_line}" if names and lineno == first_data else f"line {first_data}"
            raise DataError(
                f"{where}: line {lineno}: found {_values(len(cells))}, expected {width} as on {first}"
                + (" (a trailing delimiter?)" if cells[-1] == "" else "")
            )
        rows.append(cells)
        lines.append(lineno)
    if not rows:
        raise DataError(f"{where}: no numbers found" + (" (only a header row)" if names else " (empty input)"))
    flat = [c for r in rows for c in r]
    try:
        values = np.array(flat, dtype=np.float64)
    except ValueError:
        _raise_first_bad_cell(rows, lines, where)
        raise
    return values.reshape(len(rows), width), names, lines


class DataLines:
    """The 1-based physical line of each data row, found on first use (most runs never ask)."""

    def __init__(self, data: bytes, lines: list[int] | None = None):
        self._data, self._lines = data, lines

    def _all(self) -> list[int]:
        if self._lines is None:
            found, first = [], True
            for lineno, raw in enumerate(self._data.decode("utf-8", "replace").split("\n"), start=1):
                s = _content(raw)
                if not s:
                    continue
                if first and _is_header(_split(raw, _delimiter(s))):
                    first = False
                    continue
                first = False
                found.append(lineno)
            self._lines = found
        return self._lines

    def __getitem__(self, row: int) -> int:
        return self._all()[row]

    def __len__(self) -> int:
        return len(self._all())

    def __eq__(self, other) -> bool:
        return list(self._all()) == list(other)


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _raise_first_bad_cell(rows: list[list[str]], lines: list[int], where: str) -> None:
    for cells, lineno in zip(rows, lines):
        for col, cell in enumerate(cells, start=1):
            if cell == "":
                hint = " (a trailing delimiter?)" if col == len(cells) else ""
                raise DataError(f"{where}: line {lineno}, column {col}: empty cell, expected a number{hint}")
            if not _is_number(cell):
                raise DataError(f"{where}: line {lineno}, column {col}: expected a number, found {cell!r}")


# -- inline values ---------------------------------------------------------


_JSON_SPECIALS = re.compile(r"(?i)(?<![\w.])(-?)(?:inf(?:inity)?)(?![\w.])|(?<![\w.])nan(?![\w.])")


def parse_inline(spec: str, option: str) -> np.ndarray:
    """Parse an inline matrix: ``"4,2,1;0,5,1"``, ``"0.7 0.2 0.1"``, ``"[[4,2,1],[0,5,1]]"``.

    Rows are split by ``;`` (2-D result) or given by JSON nesting; values by
    ``,`` or whitespace. A single row without ``;`` is 1-D.
    """
    s = spec.strip()
    if s.startswith("["):
        return _parse_nested(s, spec, option)
    parts = s.split(";")
    if parts and parts[-1].strip() == "" and len(parts) > 1:
        parts = parts[:-1]  # a trailing ';'
    rows = []
    for r, part in enumerate(parts, start=1):
        part = part.strip()
        cells = [c.strip() for c in part.split(",")] if "," in part else part.split()
        if not cells:
            raise CallError(f"{option}: malformed inline value {spec!r}: row {r} is empty")
        row = []
        for c, cell in enumerate(cells, start=1):
            if not _is_number(cell):
                found = "an empty value" if cell == "" else repr(cell)
                raise CallError(
                    f"{option}: malformed inline value {spec!r}: row {r}, position {c}: expected a number, found {found}"
                )
            row.append(float(cell))
        if rows and len(row) != len(rows[0]):
            raise CallError(
                f"{option}: malformed inline value {spec!r}: row {r} has {len(row)} values, row 1 has {len(rows[0])}"
            )
        rows.append(row)
    values = np.array(rows, dtype=np.float64)
    return values if ";" in s else values[0]


def _parse_nested(s: str, spec: str, option: str) -> np.ndarray:
    def special(m: re.Match) -> str:
        return "NaN" if m.group(0).lower() == "nan" else f"{m.group(1)}Infinity"

    try:
        obj = json.loads(_JSON_SPECIALS.sub(special, s))
    except json.JSONDecodeError as e:
        raise CallError(f"{option}: malformed inline value {spec!r}: {e.msg} at position {e.pos + 1}") from e
    try:
        values = np.array(obj, dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise CallError(f"{option}: malformed inline value {spec!r}: rows of different lengths or non-numbers") from e
    if values.size == 0:
        raise CallError(f"{option}: malformed inline value {spec!r}: no numbers")
    return values
