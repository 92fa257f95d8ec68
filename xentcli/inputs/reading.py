"""How a command reads its inputs (:class:`Reading`), and from an option's value to a
:class:`~xentcli.readers.Matrix`: stdin read once, the reader run with the command's ``--input-header``,
its notes said on stderr, names refused where numbers are needed, and the values as ``(N, C)`` rows."""

from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from ..engine import Engine
from ..errors import CallError, DataError
from ..printable import warning
from ..readers import Matrix, read_matrix, reads_stdin, split_selector
from ..readers.source import RawFile, RawRows, RowSource
from ..readers.text import is_number, number_hint

__all__ = ["Reading", "check_stdin", "read", "located", "holds_names", "numbers", "as_column", "as_rows"]


@dataclass(frozen=True)
class Reading:
    """How a command reads its inputs, resolved once where its options are read
    (:func:`xentcli.options.reading`) and handed to every loader.

    Attributes:
      command: the command's name (``ce``): a hint may point to another command.
      header: ``--input-header`` (auto, yes, no): how a text file's first line is read.
      engine: where the predictions' row blocks run (``--scheduler``); the command's, closed when it ends.
      options: the options the command offers and applies in this call: hints name no other.
    """

    command: str
    header: str
    engine: Engine
    options: frozenset[str]

    def offers(self, option: str) -> bool:
        """Whether the command has ``option`` and applies it in this call."""
        return option in self.options

    def without(self, options: Iterable[str]) -> Reading:
        """This reading for a call that does not apply ``options`` (``grad --loss bce`` has --ignore-index)."""
        return replace(self, options=self.options - frozenset(options))


def check_stdin(**values: str | None) -> None:
    """Only one option may read stdin ('-', or a path that is the same pipe: ``/dev/stdin``,
    ``/dev/fd/0``), and only one a FIFO, pipe or device (each is read once: a second option would wait
    for ever); a keyword ``name_N`` is the option ``--name`` given more than once."""
    options = {key: "--" + re.sub(r"_\d+$", "", key).replace("_", "-") for key in values}
    streams = {key: _stream_id(spec) for key, spec in values.items()}
    try:
        fd0 = os.fstat(0)
        stdin = (fd0.st_dev, fd0.st_ino)
    except (OSError, ValueError):
        stdin = None
    readers = [options[k] for k, v in values.items() if reads_stdin(v) or (stdin and streams[k] == stdin)]
    if len(readers) > 1 and len(set(readers)) == 1:
        raise CallError(f"only one input may read stdin, but {readers[0]} is '-' {len(readers)} times")
    if len(readers) > 1:
        raise CallError(f"only one option may read stdin, but {' and '.join(readers)} both read it "
                        "('-', /dev/stdin or /dev/fd/0)")
    seen: dict[tuple[int, int], str] = {}
    for key, found in streams.items():
        if found is None:
            continue
        if found in seen:
            raise CallError(f"{seen[found]} and {options[key]} both read {split_selector(values[key])[0]}, a pipe "
                            "or device that can be read only once: save it to a file, or give it to one option")
        seen[found] = options[key]


def _stream_id(spec: str | None) -> tuple[int, int] | None:
    """The (device, inode) of the FIFO, pipe or device ``spec`` names (a selector allowed), else None.
    A regular file (one redirected to stdin too) reopens at its start, so any number of options read it."""
    if spec is None or reads_stdin(spec):
        return None
    try:
        st = os.stat(split_selector(spec)[0])
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return None
    return st.st_dev, st.st_ino


def _stdin():
    return sys.stdin.buffer


def read(spec: str, option: str, reading: Reading, *, names: bool = False) -> Matrix:
    """``spec`` read for ``option`` by its reader, the header rule of ``reading`` (``--input-header``:
    auto, yes or no) for text; what the reader decided is said on stderr."""
    m = read_matrix(spec, option, stdin=_stdin(), header=reading.header, names=names)
    for note in m.notes:
        warning(note)
    return m


def located(matrix: Matrix, error: ValueError) -> DataError:
    """A core error, prefixed with where the offending row came from."""
    locate = getattr(matrix, "locate_entry", matrix.locate)  # class-index labels count entries, not rows
    return DataError(f"{locate(getattr(error, 'row', None))}: {error}")


def holds_names(m: Matrix) -> bool:
    """Whether ``m`` holds text cells (class names), not numbers."""
    return isinstance(m.values, np.ndarray) and m.values.dtype.kind in "US"


def numbers(m: Matrix) -> Matrix:
    """``m``, unless it holds names where numbers are needed (names are class labels only)."""
    if holds_names(m):
        cells = m.values.reshape(len(m.values), -1)
        r = next((i for i, row in enumerate(cells) if not all(is_number(c) for c in row)), 0)
        bad = next((c for c in cells[r] if not is_number(c)), cells[r][0])
        raise DataError(f"{m.locate(r)}: row {r + 1}: expected a number, found {str(bad)!r}{number_hint(str(bad))}")
    return m


def as_column(values):
    """A 1-D input as ``(N, 1)`` rows; a file stays unread (its N values are its N rows)."""
    if isinstance(values, RawFile):
        row_bytes = None if values.row_bytes is None else values.row_bytes // max(1, values.shape[-1])
        return RawRows(values.path, values.offset, (values.size, 1), values.dtype, row_bytes=row_bytes,
                       decode=values.decode)
    return np.asarray(values).reshape(-1, 1)


def as_rows(values):
    """``values`` as ``(N, C)`` rows, C the last axis (one row of a vector or a scalar); a lazy source
    stays unread."""
    if isinstance(values, RowSource):
        return values.as_rows()
    if values.ndim == 0:
        return values.reshape(1, 1)
    if values.ndim == 1:
        return values.reshape(1, -1)
    return values.reshape(-1, values.shape[-1])
