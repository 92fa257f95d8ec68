"""What every reader returns: a :class:`Matrix`, whose values are an array or a :class:`RowSource`.

A row source (``.npy`` rows read by ``pread``, a large text file parsed by chunks) is an array
read only when asked: ``np.asarray`` reads it whole, and ``as_rows()`` gives its ``(N, C)``
rows as a :class:`RowReader`, which the engine reads block by block (``rows(start, stop)``)
and whose ``[index]`` serves tables and checks.
"""

from __future__ import annotations

import os
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import CallError, DataError

__all__ = ["Matrix", "RowSource", "RowReader", "shown_path", "FileRows", "RawFile", "RawRows", "numeric", "no_selector",
           "NUMERIC_KINDS", "open_file", "pread", "portable_path", "first_line", "MAX_AXES"]

#: NumPy's limit on an array's axes: no reader builds an array of more.
MAX_AXES = 64

NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: never object, string or structured


@runtime_checkable
class RowReader(Protocol):
    """``(N, C)`` rows read on demand, safely from several threads: ``rows(start, stop)`` is one block
    of the engine; ``[index]`` (an int, a slice or an index array) serves tables and checks.

    An array is sliced instead: wherever rows are read, an ``np.ndarray`` is sliced and anything
    else is a row reader.
    """

    shape: tuple[int, ...]
    dtype: np.dtype

    def __len__(self) -> int: ...

    def rows(self, start: int, stop: int) -> np.ndarray: ...

    def __getitem__(self, index) -> np.ndarray: ...


@runtime_checkable
class RowSource(Protocol):
    """A reader's values held lazily: an array of ``shape`` and ``dtype``, read only when asked.

    ``np.asarray`` reads it whole (small inputs: targets, weights); :meth:`as_rows` gives its
    ``(N, C)`` rows (leading axes flattened, C the last axis) as a :class:`RowReader`, or as an
    array when the reader holds the values already (a vector of shards is one row). The readers'
    values are an ``np.ndarray`` or a row source, and ``isinstance(values, RowSource)`` tells which.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    ndim: int

    def __len__(self) -> int: ...

    def __array__(self, dtype=None, copy=None) -> np.ndarray: ...

    def as_rows(self) -> "RowReader | np.ndarray": ...


class Matrix:
    """A numeric array read from one option, with where it came from.

    Attributes:
      values: the array as read: float64 from text, the stored dtype from NPY
        (an :class:`NpyFile` for ``.npy`` files, read by rows later, so nothing
        is mapped or copied whole).
      where: how to name the source in a message, e.g. ``"--logits z.csv"``.
      names: column names from a header row, if there was one.
      lines: for text, the 1-based physical line of each data row.
      notes: what the reader decided that the user should hear of (one
        ``Warning:`` line each), e.g. a line of column numbers read as a header.
      text: whether it was delimited text (the header rules apply to text only).
    """

    # A plain class, not a dataclass: ``dataclasses`` costs every call's start-up a millisecond.
    def __init__(self, values, where: str, names: "list[str] | None" = None, lines: "Sequence[int] | None" = None,
                 notes: "list[str] | None" = None, text: bool = False):
        self.values, self.where, self.names, self.lines = values, where, names, lines
        self.notes = [] if notes is None else notes
        self.text = text  # read from delimited text, where a header row is a guess

    def __repr__(self) -> str:
        return f"Matrix(where={self.where!r}, shape={tuple(np.shape(self.values))}, names={self.names!r})"

    def without_first_row(self, names) -> "Matrix":
        """The matrix with its first row taken as a header after all (it is read whole)."""
        lines = None if self.lines is None else _Shifted(self.lines)
        return Matrix(np.asarray(self.values)[1:], self.where, names, lines, text=self.text)

    def locate(self, row: int | None) -> str:
        """``where``, plus the text line of ``row`` (0-based) when the input was text.

        The core's message names the row itself; this adds the file's line.
        """
        if row is not None and self.lines is not None and row < len(self.lines):
            return f"{self.where} line {self.lines[row]}"
        return self.where


class _Shifted:
    """Row lines one row on: the first row became a header."""

    def __init__(self, lines):
        self._lines = lines

    def __len__(self) -> int:
        return len(self._lines) - 1

    def __getitem__(self, row: int) -> int:
        return self._lines[row + 1]


def open_file(path: str):
    """What :func:`pread` reads ``path`` through: a file descriptor, or for a URL (``s3://bucket/x.npy``,
    any filesystem of fsspec) a reader of byte ranges."""
    if "://" in path:
        return _UrlFile(path)
    return os.open(path, os.O_RDONLY)


def pread(fd, n: int, offset: int) -> bytes:
    """``n`` bytes at ``offset`` of a file :func:`open_file` opened (fewer at its end); safe from several threads."""
    return os.pread(fd, n, offset) if isinstance(fd, int) else fd.pread(n, offset)


def _pread_into(fd, view: memoryview, offset: int) -> int:
    if isinstance(fd, int):
        return os.preadv(fd, [view], offset)
    data = fd.pread(len(view), offset)
    view[:len(data)] = data
    return len(data)


def portable_path(path: str) -> str:
    """``path`` as another process (a cluster worker) finds it: absolute, or a URL as it is."""
    return path if "://" in path else os.path.abspath(path)


class _UrlFile:
    """Byte ranges of a file named by an fsspec URL (``s3://…``, ``gs://…``, ``file://…``)."""

    def __init__(self, url: str):
        try:
            import fsspec
        except ImportError:
            raise DataError(f"{url}: reading a URL needs fsspec and its filesystem (pip install fsspec s3fs)") from None
        self.fs, self.path = fsspec.core.url_to_fs(url)

    def pread(self, n: int, offset: int) -> bytes:
        return self.fs.cat_file(self.path, start=offset, end=offset + n)


class FileRows:
    """Rows of a file read on demand through ``self._fd``: ``len``, ``rows(start, stop)`` (in the
    subclass) and ``[index]`` (an int, a slice or an index array).

    Pickled (for the workers of a Dask cluster), a source keeps its path and reader
    parameters but not its file descriptor: the copy reopens the file by its path
    (:meth:`_reopen`), so what travels is a few numbers, never the data.
    """

    #: Attributes of one process only (open files, locks, caches): not pickled, remade by :meth:`_reopen`.
    _LOCAL_STATE = ("_fd",)

    def __len__(self) -> int:
        return self.shape[0]

    def __del__(self):
        fd = getattr(self, "_fd", None)
        if isinstance(fd, int):
            os.close(fd)

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in self._LOCAL_STATE}
        if isinstance(state.get("path"), str):
            state["path"] = portable_path(state["path"])
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reopen()

    def _reopen(self) -> None:
        """Remake what :data:`_LOCAL_STATE` names (here: open the file again by its path)."""
        self._fd = open_file(self.path)

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


class RawFile:
    """An array stored raw in a file (C order, rows of fixed size), read only when asked, by ``os.pread``.

    Nothing is memory-mapped, so pages already used never count toward the
    process's resident memory; :meth:`as_rows` gives the ``(N, C)`` rows
    (leading axes flattened, C the last axis), read block by block.
    ``np.asarray(f)`` reads it whole (for small inputs such as targets).

    Args:
      offset: where the first row starts.
      shape, dtype: the array as xent sees it (after ``decode``).
      row_bytes: bytes of one stored row of C values (default ``C × dtype.itemsize``).
      decode: turns a block of stored rows, a ``(n, row_bytes)`` uint8 array,
        into the ``(n, C)`` rows of ``dtype``; ``None``: stored as ``dtype``
        already (read straight into the result).
    """

    def __init__(self, path: str, offset: int, shape: tuple[int, ...], dtype, *,
                 row_bytes: int | None = None, decode=None):
        self.path, self.offset, self.shape, self.dtype = path, offset, tuple(shape), np.dtype(dtype)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.row_bytes, self.decode = row_bytes, decode

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 1

    def __array__(self, dtype=None, copy=None):
        rows = self.as_rows()
        a = rows.rows(0, len(rows)).reshape(self.shape)
        return a if dtype is None else a.astype(dtype, copy=False)

    def as_rows(self) -> "RawRows":
        """The data as ``(N, C)`` rows: leading axes flattened, C the last axis."""
        c = self.shape[-1] if self.shape else 1
        return RawRows(self.path, self.offset, (self.size // c if c else 0, c), self.dtype,
                       row_bytes=self.row_bytes, decode=self.decode)


class RawRows(FileRows):
    """``(N, C)`` rows stored raw in a file, read on demand: ``rows(start, stop)`` and ``[index]``."""

    def __init__(self, path: str, offset: int, shape: tuple[int, int], dtype, *,
                 row_bytes: int | None = None, decode=None):
        self.path, self.offset, self.shape, self.dtype = path, offset, tuple(shape), np.dtype(dtype)
        self.ndim = 2
        self.decode = decode
        self._row_bytes = shape[1] * self.dtype.itemsize if row_bytes is None else row_bytes
        self._fd = open_file(path)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new array (``os.pread``: safe from several threads)."""
        start, stop = max(0, start), min(len(self), stop)
        n = max(0, stop - start)
        if self.decode is None:
            out = np.empty((n, self.shape[1]), dtype=self.dtype)
            self.read_into(out, start)
            return out
        raw = np.empty((n, self._row_bytes), dtype=np.uint8)
        self.read_into(raw, start)
        return self.decode(raw)

    def read_into(self, out: np.ndarray, start: int) -> None:
        """Stored rows from ``start`` on, as many as ``out`` holds, read straight into ``out``'s bytes."""
        view = memoryview(out).cast("B")
        pos, done = self.offset + start * self._row_bytes, 0
        while done < len(view):
            got = _pread_into(self._fd, view[done:], pos + done)
            if got <= 0:
                raise DataError(f"{self.path}: the file ended early (was it changed while being read?)")
            done += got


def numeric(values: np.ndarray, where: str) -> np.ndarray:
    if values.dtype.hasobject or values.dtype.kind not in NUMERIC_KINDS or values.dtype.fields:
        raise DataError(f"{where}: dtype {values.dtype} is not numeric")
    if values.size == 0:
        raise DataError(f"{where}: the array is empty (shape {values.shape})")
    return values


def first_line(e: BaseException) -> str:
    """A library's error message as one line of a message: its first line, cut to 200 characters
    (pyarrow's and torch's run over several lines, with advice for their own developers)."""
    lines = str(e).strip().splitlines()
    return (lines[0].strip()[:200] if lines else "") or type(e).__name__


def no_selector(where: str, selector: str | None, holds: str) -> None:
    """A format that holds one array takes no ``:SELECTOR``: a wrong call saying what the file holds."""
    if selector is not None:
        raise CallError(f"{where}: nothing named '{selector}' to select; the file holds {holds}")


def shown_path(where: str) -> str:
    """The file as the user named it, for hints: ``where`` is "OPTION PATH"; stdin (read through a
    temp file whose name is of no use to the user) is ``-``."""
    shown = where.split(" ", 1)[-1]
    return "-" if shown == "(stdin)" else ("FILE" if shown.startswith("(") else shown)
