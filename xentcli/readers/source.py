"""What every reader returns: a :class:`Matrix`, whose values are an array or a lazy row source.

A lazy source (``.npy`` rows read by ``pread``, a large text file parsed by chunks) has
``shape``, ``dtype``, ``ndim``, ``len`` and ``rows(start, stop)``, which the engine reads
block by block; ``[index]`` serves tables and checks, ``np.asarray`` reads it whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import CallError, DataError

__all__ = ["Matrix", "FileRows", "numeric", "no_selector", "NUMERIC_KINDS"]

NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: never object, string or structured


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
    lines: "Sequence[int] | None" = field(default=None, repr=False)

    def locate(self, row: int | None) -> str:
        """``where``, plus the text line of ``row`` (0-based) when the input was text.

        The core's message names the row itself; this adds the file's line.
        """
        if row is not None and self.lines is not None and row < len(self.lines):
            return f"{self.where} line {self.lines[row]}"
        return self.where


class FileRows:
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



def numeric(values: np.ndarray, where: str) -> np.ndarray:
    if values.dtype.hasobject or values.dtype.kind not in NUMERIC_KINDS or values.dtype.fields:
        raise DataError(f"{where}: dtype {values.dtype} is not numeric")
    if values.size == 0:
        raise DataError(f"{where}: the array is empty (shape {values.shape})")
    return values


def no_selector(where: str, selector: str | None, holds: str) -> None:
    """A format that holds one array takes no ``:SELECTOR``: a wrong call saying what the file holds."""
    if selector is not None:
        raise CallError(f"{where}: nothing named '{selector}' to select; the file holds {holds}")
