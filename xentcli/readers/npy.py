"""NumPy ``.npy`` files: the header checked up front, the data read later by rows with ``os.pread``."""

from __future__ import annotations

import io
import math
import os

import numpy as np

from ..errors import DataError
from .source import MAX_AXES, NUMERIC_KINDS, Matrix, RawFile, RawRows, first_line, no_selector

__all__ = ["NPY_MAGIC", "read", "read_bytes", "header", "NpyFile", "NpyRows"]

NPY_MAGIC = b"\x93NUMPY"
#: numpy's own default limit on an NPY header (``np.load(max_header_size=...)``).
MAX_HEADER_BYTES = 10_000


def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """A ``.npy`` file as a :class:`Matrix` of an :class:`NpyFile` (nothing read but the header)."""
    values = _read_npy_file(path, where)
    no_selector(where, selector, f"one array of shape {tuple(values.shape)}")
    return Matrix(values, where)


def read_bytes(data: bytes, where: str) -> Matrix:
    """NPY bytes held in memory (stdin), checked as a file's are."""
    f = io.BytesIO(data)
    shape, fortran_order, dtype, offset = header(f, len(data), where)
    values = np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape, order="F" if fortran_order else "C")
    return Matrix(np.ascontiguousarray(values), where)


def _read_npy_file(path: str, where: str) -> "NpyFile | np.ndarray":
    """Check a ``.npy`` file's header, size and dtype; its data is read later, by rows."""
    with open(path, "rb") as f:
        shape, fortran_order, dtype, offset = header(f, os.fstat(f.fileno()).st_size, where)
    if fortran_order and len(shape) > 1:  # rows are not contiguous on disk: read it whole
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F").copy(order="C")
    return NpyFile(path, offset, shape, dtype)


def header(f, size: int, where: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, data offset)`` of the NPY file ``f`` of ``size`` bytes.

    The header is bad data unless its dtype is numeric and its shape, counted in exact
    integers, holds exactly the bytes after it: a negative dimension, an element count beyond
    int64 or a size that differs from the file's is refused before anything is allocated
    (``np.save`` writes nothing after the array).
    """
    if f.read(len(NPY_MAGIC)) != NPY_MAGIC:
        raise DataError(f"{where}: not an NPY file (it does not start with the NPY magic bytes)")
    f.seek(0)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_HEADER_BYTES)
        else:
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_HEADER_BYTES)
    except Exception as e:  # numpy parses the header with tokenize and ast: foreign bytes raise what they raise
        raise DataError(f"{where}: damaged NPY header: {first_line(e)}") from e
    offset = f.tell()
    if dtype.hasobject or dtype.kind not in NUMERIC_KINDS or dtype.fields or dtype.itemsize == 0:
        raise DataError(f"{where}: NPY dtype {dtype} is not numeric (object arrays are never unpickled)")
    shape = tuple(shape)
    if any(d < 0 for d in shape):
        raise DataError(f"{where}: damaged NPY header: shape {shape} has a negative dimension")
    if len(shape) > MAX_AXES:
        raise DataError(f"{where}: damaged NPY header: a shape of {len(shape)} axes; "
                        f"NumPy arrays have at most {MAX_AXES}")
    count = math.prod(shape)
    if count > np.iinfo(np.int64).max // dtype.itemsize:
        raise DataError(f"{where}: damaged NPY header: shape {shape} of {dtype} holds more bytes than a file can "
                        f"(the file has {size - offset} bytes of data)")
    expected, found = count * dtype.itemsize, size - offset
    if found < expected:
        raise DataError(f"{where}: truncated NPY file: shape {shape} of {dtype} takes {expected} bytes of data, "
                        f"found {found}")
    if found > expected:
        raise DataError(f"{where}: damaged NPY file: shape {shape} of {dtype} takes {expected} bytes of data, but "
                        f"{found} follow the header (a header that lies, or several arrays in one file)")
    if count == 0:
        raise DataError(f"{where}: the array is empty (shape {shape})")
    return shape, bool(fortran_order), dtype, offset


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
