"""NumPy ``.npy`` files: the header checked up front, the data read later by rows with ``os.pread``."""

from __future__ import annotations

import io
import os

import numpy as np

from ..errors import DataError
from .source import NUMERIC_KINDS, Matrix, RawFile, RawRows, no_selector, numeric

__all__ = ["NPY_MAGIC", "read", "read_bytes", "NpyFile", "NpyRows"]

NPY_MAGIC = b"\x93NUMPY"


def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """A ``.npy`` file as a :class:`Matrix` of an :class:`NpyFile` (nothing read but the header)."""
    values = _read_npy_file(path, where)
    no_selector(where, selector, f"one array of shape {tuple(values.shape)}")
    return Matrix(values, where)


def read_bytes(data: bytes, where: str) -> Matrix:
    """NPY bytes held in memory (stdin)."""
    try:
        values = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{where}: not a readable NPY array: {e}") from e
    return Matrix(numeric(values, where), where)


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
    if dtype.hasobject or dtype.kind not in NUMERIC_KINDS or dtype.fields:
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



class NpyFile(RawFile):
    """A C-order ``.npy`` file whose data is read only when asked, with ``os.pread``
    (a :class:`~xentcli.readers.source.RawFile` whose values are stored as they are read).

    Nothing is memory-mapped, so pages already used never count toward the
    process's resident memory; :meth:`rows` reads just the rows asked for.
    ``np.asarray(f)`` reads it whole (for small inputs such as targets).
    """

    def __init__(self, path: str, offset: int, shape: tuple[int, ...], dtype: np.dtype):
        super().__init__(path, offset, shape, dtype)

    def as_rows(self) -> "NpyRows":
        """The data as ``(N, C)`` rows: leading axes flattened, C the last axis."""
        c = self.shape[-1] if self.shape else 1
        return NpyRows(self.path, self.offset, (self.size // c if c else 0, c), self.dtype)


class NpyRows(RawRows):
    """Rows of a ``.npy`` file, read on demand: ``rows(start, stop)`` and ``[index]``."""

    def __init__(self, path: str, offset: int, shape: tuple[int, int], dtype: np.dtype):
        super().__init__(path, offset, shape, dtype)
