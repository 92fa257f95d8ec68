"""Many files read as one matrix (SPEC §9): a quoted glob (``'dump/shard-*.npy'``) or a directory.

Which files, in which order:

* a **glob** takes every regular file it matches (directories it matches are skipped; ``*`` does not
  match a leading dot, as in the shell); a matched file of an unsupported extension is a wrong
  call naming it, as when it is named alone;
* a **directory** takes every regular file directly in it whose extension is in the
  registry (:data:`~xentcli.readers.FORMATS`); hidden files (``.name``), files of other
  extensions or none, and subdirectories are skipped (the skipped files are named in one
  ``Warning:`` line). Its files must be of one format: several are a wrong call naming one glob
  per format (``'d/*.npy'``, ``'d/*.csv'``), which a user may pass to mix them. Hugging Face's
  ``Dataset.save_to_disk`` metadata (:data:`HF_METADATA`) beside ``.arrow`` files is skipped and
  said, so such a folder reads its ``.arrow`` shards;
* only **regular files** (or symlinks to them): a FIFO, a device, a socket, a dangling symlink or
  a symlink loop matched by a glob or found in a directory is skipped and named in one
  ``Warning:`` line, so nothing waits on a pipe nobody writes;
* in **natural order**: names split into runs of digits and of other characters, the digit
  runs compared as numbers (``shard-2`` before ``shard-10``); ties (``shard-01``, ``shard-1``)
  by the plain path. The whole path is compared, so ``a/…`` comes before ``b/…``.

A glob matching nothing, or a directory holding no supported file, is a wrong call (exit 2).
One file is read as if named alone. ``FILE:SELECTOR`` applies to each file
(``'dump/*.safetensors:logits'``); text options (``--input-header``, class names) too.

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
keep their arrays up to :data:`KEEP_BYTES` in all, and beyond that parse a shard again when
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
import errno
import glob
import math
import os
import re
import stat
import threading
from collections import OrderedDict

import numpy as np

from ..errors import CallError, DataError
from .formats import FORMATS
from .selector import listed
from .source import FileRows, Matrix, RawRows, RowSource, portable_path

__all__ = ["is_sharded", "read", "natural_key", "ShardFile", "ShardRows", "ShardMatrix", "MAX_OPEN", "KEEP_BYTES"]

#: At most this many shards hold an open row source (a file descriptor) at once.
MAX_OPEN = 32
#: Arrays of shards parsed whole are kept up to this many bytes in all; beyond, parsed again when read.
KEEP_BYTES = 256 << 20

#: What ``datasets.Dataset.save_to_disk`` writes beside its ``data-*.arrow`` shards: JSON, but no data.
HF_METADATA = frozenset({"dataset_info.json", "state.json"})

_GLOB_CHARS = re.compile(r"[*?\[]")
_DIGITS = re.compile(r"(\d+)")


def natural_key(path: str):
    """Sort key: digit runs compared as numbers (``shard-2`` < ``shard-10``), then the plain path."""
    parts = _DIGITS.split(path)
    return [int(p) if i % 2 else p for i, p in enumerate(parts)], path


def is_sharded(spec: str) -> bool:
    """Whether ``spec`` names several files: a directory (``DIR`` or ``DIR:SELECTOR``), or a glob.

    An existing file is a file whatever its name; a value that looks inline
    (``[[4,2,1]]``) is not a glob unless it has a path separator or a supported extension.
    """
    if os.path.isfile(spec):
        return False
    path, _ = _split(spec)
    if os.path.isdir(path):
        return True
    if not _GLOB_CHARS.search(path):
        return False
    if "*" in path or "?" in path:
        return True
    # a '[' alone: inline brackets unless it looks like a path
    return "/" in path or os.sep in path or os.path.splitext(path)[1].lower() in FORMATS


def _split(spec: str) -> tuple[str, str | None]:
    """``PATTERN:SELECTOR`` → (PATTERN, SELECTOR): the selector is split off when what is left is a
    directory, matches files, or ends in a supported extension (as :func:`split_selector` does)."""
    if os.path.exists(spec) or ":" not in spec:
        return spec, None
    left, right = spec.rsplit(":", 1)
    if os.path.exists(left) or os.path.splitext(left)[1].lower() in FORMATS:
        return left, right
    if _GLOB_CHARS.search(left) and not glob.glob(spec) and glob.glob(left):
        return left, right
    return spec, None


def _files(path: str, option: str, selector: str | None = None) -> tuple[list[str], list[str]]:
    """The regular files ``path`` (a directory or a glob) names, in natural order, and a note for each
    kind of file skipped (of no supported extension; not a regular file; Hugging Face's metadata).
    ``selector`` goes into the globs a directory of several formats is told to use."""
    unsupported: list[str] = []
    irregular: list[str] = []
    files = []
    if os.path.isdir(path):
        for entry in os.scandir(path):
            if entry.name.startswith("."):
                continue
            kind = _kind(entry.path)
            if kind == "a directory":
                continue
            if os.path.splitext(entry.name)[1].lower() not in FORMATS:
                unsupported.append(entry.name)
            elif kind is None:
                files.append(entry.path)
            else:
                irregular.append(f"{entry.name} ({kind})")
        if not files:
            raise CallError(f"{option} {path}: is a directory holding no file of a supported extension "
                            f"({' '.join(FORMATS)})" + _holds(unsupported + irregular))
        files, metadata = _one_format(files, path, option, selector)
    else:
        metadata = []
        for match in glob.glob(path):
            kind = _kind(match)
            if kind is None:
                files.append(match)
            elif kind != "a directory":
                irregular.append(f"{match} ({kind})")
        if not files:
            raise CallError(f"{option} {path}: no file matches the pattern" + _holds(irregular, "skipped what is not a regular file:"))
    notes = []
    if metadata:
        notes.append(f"{option} {path}: skipped Hugging Face's dataset metadata beside the .arrow shards: "
                     f"{_listed(metadata)}")
    if unsupported:
        notes.append(f"{option} {path}: skipped {len(unsupported)} file(s) of no supported extension: "
                     f"{_listed(sorted(unsupported, key=natural_key))}")
    if irregular:
        notes.append(f"{option} {path}: skipped {len(irregular)} entries that are not regular files (globs and folders "
                     f"take regular files only): {_listed(sorted(irregular, key=natural_key))}")
    return sorted(files, key=natural_key), notes


def _one_format(files: list[str], path: str, option: str, selector: str | None) -> tuple[list[str], list[str]]:
    """A directory's ``files`` less Hugging Face's metadata beside ``.arrow`` files (and the names
    skipped): of one format, else a wrong call naming one glob per format (each of its extensions)."""
    def extension(file: str) -> str:
        return os.path.splitext(file)[1].lower()

    metadata = []
    if any(extension(f) == ".arrow" for f in files):
        metadata = sorted(os.path.basename(f) for f in files if os.path.basename(f) in HF_METADATA)
        files = [f for f in files if os.path.basename(f) not in HF_METADATA]
    by_format: dict[str, list[str]] = {}
    for ext in sorted({extension(f) for f in files}, key=list(FORMATS).index):
        by_format.setdefault(FORMATS[ext].module, []).append(ext)
    if len(by_format) > 1:
        suffix = "" if selector is None else f":{selector}"
        globs = [f"'{os.path.join(path, '*' + ext)}{suffix}'" for exts in by_format.values() for ext in exts]
        counts = ", ".join(f"{sum(extension(f) in exts for f in files)} {'/'.join(exts)}" for exts in by_format.values())
        raise CallError(f"{option} {path}: the directory holds files of {len(by_format)} formats ({counts}): "
                        f"name the files of one with a glob, e.g. {' or '.join(globs)}")
    return files, metadata


def _kind(path: str) -> str | None:
    """None for a regular file (or a symlink to one); else what ``path`` is, for a note: ``a FIFO``,
    ``a symlink loop``, ``a directory``, …"""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symlink loop"
        if isinstance(e, FileNotFoundError) and os.path.islink(path):
            return "a dangling symlink"
        return e.strerror[:1].lower() + e.strerror[1:] if e.strerror else type(e).__name__
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


def _holds(names: list[str], verb: str = "it holds") -> str:
    return f"; {verb} {_listed(sorted(names, key=natural_key))}" if names else ""


def _listed(names: list[str]) -> str:
    return listed(names, len(names), 5, ellipsis=False)


def read(spec: str, option: str, read_one, **options) -> Matrix:
    """The files ``spec`` names read as one :class:`ShardMatrix` (one file: that file's Matrix).

    ``read_one(spec, option, **options)`` reads one file (``read_matrix``).
    """
    path, selector = _split(spec)
    files, notes = _files(path, option, selector)
    reader = _Reader(read_one, "" if selector is None else f":{selector}", option, options)

    if len(files) == 1:
        m = reader(files[0])
    else:
        budget = [KEEP_BYTES]
        m = ShardMatrix([_Shard(file, reader, budget) for file in files], f"{option} {spec}")
    m.notes.extend(notes)
    return m


class _Reader:
    """Reads one shard by the registry (a plain object, not a closure: it pickles with the shards)."""

    def __init__(self, read_one, suffix: str, option: str, options: dict):
        self.read_one, self.suffix, self.option, self.options = read_one, suffix, option, options

    def __call__(self, file: str) -> Matrix:
        return self.read_one(file + self.suffix, self.option, **self.options)


class _Headless:
    """Reads one shard whose first row is a header (a plain object: it pickles with the shards)."""

    def __init__(self, reader, names):
        self.reader, self.names = reader, names

    def __call__(self, file: str) -> Matrix:
        return self.reader(file).without_first_row(self.names)


class _Shard:
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

    def without_first_row(self, names) -> "_Shard":
        """The shard read again with its first row taken as a header named ``names``."""
        return _Shard(self.path, _Headless(self._reader, names), self._budget)

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


def _layout(shards: list[_Shard]) -> tuple[tuple[int, ...], bool]:
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

    def __init__(self, shards: list[_Shard], where: str):
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
    def _names(shards: list[_Shard]):
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

    def _entry(self, s: _Shard, local: int) -> str:
        if s.ndim >= 2 and s.width > 1:
            row, pos = divmod(local, s.width)
            return f"{s.where} row {row + 1}, position {pos + 1}{self._line(s, row)}"
        return f"{s.where} row {local + 1}{self._line(s, local)}"

    @staticmethod
    def _line(s: _Shard, row: int) -> str:
        if s.lines is not None and row < len(s.lines):
            return f", line {s.lines[row]}"
        return ""


class ShardFile:
    """The shards as one array, read only when asked (like :class:`~xentcli.readers.source.RawFile`):
    ``shape``, ``dtype``, ``ndim``, ``len``, ``np.asarray`` (reads it whole), :meth:`as_rows`."""

    def __init__(self, shards: list[_Shard]):
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
                    src._read_into(target, at - first)  # straight into the block: one copy, as for one file
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
