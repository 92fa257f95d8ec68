"""Several files (shards) as one matrix: the shape of the whole, the shards' headers, and rows read
across them in the memory of one file (:mod:`.shards` finds the files).

The shape of the whole (``rows`` below are the rows a lone file would give, leading axes
flattened):

* every shard of the same shape but for the first axis — ``(B_i, T, V)``, ``(N_i, C)``,
  ``(N_i,)`` or ``(B_i, T)`` targets — gives ``(ΣB_i, T, V)`` (…): one file's worth, so
  ``(B, T)`` targets and ``--shift`` work as for one file;
* else shards agreeing on the last axis (class count) give ``(Σrows_i, C)``;
* else shards that are all vectors (``(N_i,)`` or ``(N_i, 1)``, e.g. index labels from
  ``.npy`` and ``.csv``) give ``(ΣN_i,)``;
* anything else is bad data (exit 1) naming the two shards and their shapes.

Headers: text shards' column names must agree where they have them (else bad data). Label
files of class names (``cat``, one a line) are read whole: a one-column header line that
several files share (``label``) is a header; a first line found in one file only is that
file's first label (the reader cannot tell a lone name from a header). Each shard is a file of its
own for pandas' headers too: label shards whose first line is pandas' ``0`` (or ``0,1,…``) over
integers, in a set holding exactly as many lines more than the predictions as there are such
shards, each lose that line (:meth:`ShardMatrix.without_first_rows`).

The shards are read lazily, each by its own reader, never all in memory: the readers that
read by rows (``.npy``, safetensors, ``.kld``, Arrow, large text) keep nothing but their
headers, and a file descriptor is opened only for the few shards being read
(:data:`MAX_OPEN`); readers that parse a file whole (small text, JSON, ``.npz``, ``.pt``)
keep their arrays up to :data:`.shards.KEEP_BYTES` in all, and beyond that parse a shard again when
its rows are needed. :class:`ShardRows` reads ``rows(start, stop)`` from the shards they lie in
(a bisection on the cumulative row counts), so the block engine streams across shard
boundaries in the memory of one file. Values are the shards' common dtype
(``numpy.result_type``: float32 shards stay float32; float32 beside a float64 CSV is float64).

Errors name the shard and the row within it: ``--logits dump/shard-10.npy row 37: row 1237,
class 3: …`` (plus ``line L`` for a text shard); an error inside a shard's reader already
names that shard's file.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict

import numpy as np

from ..errors import DataError
from .source import FileRows, Matrix, RawRows, RowSource, portable_path

__all__ = ["Shard", "ShardFile", "ShardRows", "ShardMatrix", "MAX_OPEN"]

#: At most this many shards hold an open row source (a file descriptor) at once.
MAX_OPEN = 32




class _Headless:
    """Reads one shard whose first row is a header (a plain object: it pickles with the shards)."""

    def __init__(self, reader, names):
        self.reader, self.names = reader, names

    def __call__(self, file: str) -> Matrix:
        return self.reader(file).without_first_row(self.names)


class Shard:
    """One file of the set: its shape, dtype, where, text lines, and its values (lazy, or an array)."""

    def __init__(self, path: str, reader, budget: list[int]):
        m = reader(path)
        self.path, self.where, self.names, self.lines, self.notes = path, m.where, m.names, m.lines, m.notes
        self.text = m.text
        self._reader, self._budget = reader, budget
        values = m.values
        self.shape = tuple(np.shape(values))
        if not self.shape:
            self.shape = (1,)
            values = np.reshape(values, (1,))
        self.dtype = np.dtype(values.dtype)
        self.ndim = len(self.shape)
        self.size = math.prod(self.shape)
        self.width = self.shape[-1]  # the last axis: the class count of a matrix
        self.rows = self.size // self.width if self.width else 0  # rows as a lone file gives them
        self._lock = threading.Lock()
        if isinstance(values, np.ndarray):  # parsed whole by its reader
            if values.nbytes <= budget[0]:
                budget[0] -= values.nbytes
            else:
                values = None  # parsed again when its rows are read
        self._values = values

    def __getstate__(self) -> dict:
        """Pickled (for the workers of a cluster): no lock, and paths that another process finds."""
        state = {k: v for k, v in self.__dict__.items() if k != "_lock"}
        state["path"] = portable_path(self.path)
        values = state["_values"]
        if isinstance(getattr(values, "path", None), str) and not isinstance(values, FileRows):
            import copy

            values = state["_values"] = copy.copy(values)
            values.path = portable_path(values.path)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def without_first_row(self, names) -> "Shard":
        """The shard read again with its first row taken as a header named ``names``."""
        return Shard(self.path, _Headless(self._reader, names), self._budget)

    def array(self) -> np.ndarray:
        """The values as an array (read whole)."""
        values = self._values if self._values is not None else self._reread()
        return np.asarray(values).reshape(self.shape)

    def source(self):
        """A row source ``(rows, width)`` of the shard (opens a file descriptor for raw files)."""
        values = self._values if self._values is not None else self._reread()
        if isinstance(values, RowSource):
            return values.as_rows()
        return np.asarray(values).reshape(self.rows, self.width)

    def _reread(self):
        with self._lock:
            values = self._reader(self.path).values
            if tuple(np.shape(values)) not in (self.shape, ()):
                raise DataError(f"{self.where}: the file changed while being read (shape {self.shape}, "
                                f"now {tuple(np.shape(values))})")
            return values


def _layout(shards: list[Shard]) -> tuple[tuple[int, ...], bool]:
    """The shape of the whole, and whether it is one vector of the shards' entries."""
    first = shards[0]
    if all(s.ndim == first.ndim and s.shape[1:] == first.shape[1:] for s in shards):
        total = sum(s.shape[0] for s in shards)
        return (total,) + first.shape[1:], first.ndim == 1
    if all(s.ndim >= 2 for s in shards):
        for s in shards:
            if s.width != first.width:
                break
        else:
            return (sum(s.rows for s in shards), first.width), False
    if all(s.ndim == 1 or (s.ndim == 2 and s.width == 1) for s in shards):
        return (sum(s.size for s in shards),), True
    other = next(s for s in shards if s.width != first.width or (s.ndim == 1) != (first.ndim == 1))
    raise DataError(f"{other.where} has shape {other.shape} but {first.where} has shape {first.shape}: "
                    "the files of one matrix must agree on the class count (the last axis)")


class ShardMatrix(Matrix):
    """A :class:`Matrix` of several files: values a :class:`ShardFile`; :meth:`locate` names the shard."""

    def __init__(self, shards: list[Shard], where: str):
        notes = [note for s in shards for note in s.notes]
        file = ShardFile(shards)  # checks that the shapes fit together
        values = file
        text_names = [s for s in shards if s.dtype.kind in "US"]
        if text_names:  # class-name labels: read whole, as one array of names
            numbers = next((s for s in shards if s.dtype.kind not in "US"), None)
            if numbers is not None:
                raise DataError(f"{text_names[0].where} holds class names but {numbers.where} numbers: "
                                "the files of one matrix must hold the same kind of labels")
            # The text reader takes a one-column file's first name as a header: a header the files
            # share is one (``label`` in each); a first line of one file only is its first label.
            heads = [tuple(s.names) for s in shards if s.names is not None]
            cells, names = [], None
            for s in shards:
                if s.names is not None and heads.count(tuple(s.names)) > 1:
                    names = s.names
                elif s.names is not None and len(s.names) == 1:
                    cells.append(np.asarray(s.names, dtype=str))
                cells.append(s.array().reshape(-1))
            values = np.concatenate(cells)
            values = values.reshape(-1, 1) if all(s.ndim == 2 for s in shards) else values
        else:
            names = self._names(shards)
        super().__init__(values, where, names, None, notes=notes)
        self.shards, self._file = shards, file

    def without_first_rows(self, headers: dict[int, list[str]]) -> "ShardMatrix":
        """The set with the first row of shard ``i`` taken as a header named ``headers[i]``: each shard is a
        file of its own, which its writer (pandas) may have headed."""
        shards = [s.without_first_row(headers[i]) if i in headers else s for i, s in enumerate(self.shards)]
        m = ShardMatrix(shards, self.where)
        m.notes = list(self.notes)
        return m

    @staticmethod
    def _names(shards: list[Shard]):
        """The column names of the shards' headers: the same in every file that has one."""
        names, holder = None, None
        for s in shards:
            if s.names is None:
                continue
            if names is None:
                names, holder = s.names, s
            elif list(s.names) != list(names):
                raise DataError(f"{s.where} names its columns {', '.join(map(str, s.names))} but "
                                f"{holder.where} {', '.join(map(str, names))}: the files of one matrix "
                                "must hold the same columns")
        return names

    def locate(self, row: int | None) -> str:
        """The shard and the row in it of ``row`` (0-based, a row of the whole as the engine counts them)."""
        if row is None:
            return self.where
        found = self._file.find(row)
        if found is None:
            return self.where
        i, local = found
        s = self.shards[i]
        text = f"{s.where} row {local + 1}"
        return text + self._line(s, local)

    def locate_entry(self, index: int | None) -> str:
        """The shard, row and position of entry ``index`` (0-based, in C order): class-index labels count entries."""
        if index is None:
            return self.where
        found = self._file.find_entry(index)
        if found is None:
            return self.where
        i, local = found
        return self._entry(self.shards[i], local)

    def _entry(self, s: Shard, local: int) -> str:
        if s.ndim >= 2 and s.width > 1:
            row, pos = divmod(local, s.width)
            return f"{s.where} row {row + 1}, position {pos + 1}{self._line(s, row)}"
        return f"{s.where} row {local + 1}{self._line(s, local)}"

    @staticmethod
    def _line(s: Shard, row: int) -> str:
        if s.lines is not None and row < len(s.lines):
            return f", line {s.lines[row]}"
        return ""


class ShardFile:
    """The shards as one array, read only when asked (like :class:`~xentcli.readers.source.RawFile`):
    ``shape``, ``dtype``, ``ndim``, ``len``, ``np.asarray`` (reads it whole), :meth:`as_rows`."""

    def __init__(self, shards: list[Shard]):
        self.shards = shards
        self.shape, self.vector = _layout(shards)
        self.dtype = np.result_type(*(s.dtype for s in shards))
        self.ndim = len(self.shape)
        self.size = math.prod(self.shape)
        # Rows of the whole in each shard: a vector counts entries; a matrix, each shard's rows.
        counts = [s.size if self.vector else s.rows for s in shards]
        self.starts = [0, *np.cumsum(counts).tolist()]
        self._entry_starts = [0, *np.cumsum([s.size for s in shards]).tolist()]

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"ShardFile({len(self.shards)} files, shape={self.shape}, dtype={self.dtype})"

    def find(self, row: int) -> tuple[int, int] | None:
        """(shard, row in it) of ``row`` of the whole."""
        return _find(self.starts, row)

    def find_entry(self, index: int) -> tuple[int, int] | None:
        """(shard, entry in it) of entry ``index`` of the whole, in C order."""
        return _find(self._entry_starts, index)

    def __array__(self, dtype=None, copy=None):
        if self.vector:
            a = np.concatenate([s.array().reshape(-1) for s in self.shards], dtype=self.dtype)
        else:
            rows = self.as_rows()
            a = rows.rows(0, len(rows)).reshape(self.shape)
        return a if dtype is None else a.astype(dtype, copy=False)

    def as_rows(self):
        """The data as ``(N, C)`` rows: leading axes flattened (a vector is one row, as for one file)."""
        if self.vector:
            return np.asarray(self).reshape(1, -1)
        return ShardRows(self)


def _find(starts: list[int], row: int) -> tuple[int, int] | None:
    if not 0 <= row < starts[-1]:
        return None
    i = bisect.bisect_right(starts, row) - 1
    return i, row - starts[i]


class ShardRows(FileRows):
    """``(N, C)`` rows of the shards concatenated, read on demand: ``rows(start, stop)`` reads the
    pieces from each shard's own row source (found by bisection) and joins them; ``[index]``,
    ``np.asarray`` (reads it whole). Safe from several threads, as the shards' sources are."""

    def __init__(self, file: ShardFile):
        self._file, self._shards, self._starts = file, file.shards, file.starts
        self.shape = (file.starts[-1], file.shape[-1])
        self.ndim, self.dtype, self.size = 2, file.dtype, self.shape[0] * self.shape[1]
        self._reopen()  # self._open: shard → its row source (most recent last), and its lock

    #: Of one process only: the open sources and their lock (remade empty by :meth:`_reopen`).
    _LOCAL_STATE = ("_open", "_lock")

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in self._LOCAL_STATE}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reopen()

    def _reopen(self) -> None:
        self._open, self._lock = OrderedDict(), threading.Lock()

    def as_rows(self) -> "ShardRows":
        return self

    def __array__(self, dtype=None, copy=None):
        a = self.rows(0, len(self))
        return a if dtype is None else a.astype(dtype, copy=False)

    def _source(self, i: int):
        with self._lock:
            src = self._open.get(i)
            if src is not None:
                self._open.move_to_end(i)
                return src
        src = self._shards[i].source()  # outside the lock: opening may parse a file
        with self._lock:
            src = self._open.setdefault(i, src)
            self._open.move_to_end(i)
            while len(self._open) > MAX_OPEN:
                self._open.popitem(last=False)
        return src

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of the whole as one array of the common dtype."""
        start, stop = max(0, start), min(len(self), stop)
        if start >= stop:
            return np.empty((0, self.shape[1]), self.dtype)
        i = bisect.bisect_right(self._starts, start) - 1
        if stop <= self._starts[i + 1]:  # within one shard (most blocks): its rows as its source reads them
            part = self._piece(i, start, stop)
            return part if part.dtype == self.dtype else part.astype(self.dtype)
        out = np.empty((stop - start, self.shape[1]), self.dtype)
        at = start
        while at < stop:
            first, upto = self._starts[i], min(stop, self._starts[i + 1])
            if upto > at:
                src = self._source(i)
                target = out[at - start:upto - start]
                if isinstance(src, RawRows) and src.decode is None and src.dtype == self.dtype:
                    src.read_into(target, at - first)  # straight into the block: one copy, as for one file
                else:
                    target[...] = self._piece(i, at, upto, src)
            at = upto
            i += 1
        return out

    def _piece(self, i: int, start: int, stop: int, src=None) -> np.ndarray:
        """Rows ``start:stop`` of the whole, all in shard ``i``, as its source gives them."""
        first = self._starts[i]
        src = self._source(i) if src is None else src
        part = src[start - first:stop - first] if isinstance(src, np.ndarray) else src.rows(start - first, stop - first)
        if len(part) != stop - start:
            raise DataError(f"{self._shards[i].where}: the file ended early (was it changed while being read?)")
        return part
