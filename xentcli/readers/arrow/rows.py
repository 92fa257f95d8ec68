"""The rows of selected table columns (:class:`ArrowRows`), decoded a record batch at a time on demand,
and a list-of-lists column as ``(B, T, C)`` (:class:`ArrowSequences`)."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ...errors import DataError
from ..source import FileRows, first_line
from .common import damaged, storage, storage_type

__all__ = ["ArrowRows", "ArrowSequences", "BATCH_VALUES", "CACHE_BYTES", "MAX_ROW_VALUES", "MAX_SEQUENCE_VALUES"]



#: Values decoded per Parquet batch (rows = this // classes, at least 1).
BATCH_VALUES = 256 * 1024


#: Decoded batches kept for rows asked again or out of order (threads), in bytes; at least 2 batches.
CACHE_BYTES = 64 << 20


#: The most values one list cell may hold when it is one row of classes (the core's working copies
#: of a row take about ten times its float64 size), and when it is a whole sequence of rows.
MAX_ROW_VALUES = 1 << 20
MAX_SEQUENCE_VALUES = 8 << 20


class ArrowRows(FileRows):
    """``(N, C)`` rows of selected table columns, decoded a record batch at a time on demand.

    ``rows(start, stop)`` (safe from several threads), ``[index]``, ``np.asarray`` (reads it
    whole), ``as_rows()`` (itself). A list column gives C = its cells' length; scalar columns
    give C = their number. Pickled (for a cluster's workers), it keeps its table source's path and
    the columns, not the open reader, lock or cache.
    """

    _LOCAL_STATE = ("_lock", "_cache", "_cached_bytes", "_iter", "_next_row")

    def _reopen(self) -> None:
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, tuple[int, np.ndarray]] = OrderedDict()
        self._cached_bytes = 0
        self._iter, self._next_row = None, 0

    def __init__(self, source, positions: list[int], fields, where: str, depth: int = 0):
        self._source, self._positions, self._fields, self.where = source, positions, fields, where
        self._depth = depth  # 0: scalar columns; 1: a list column, a row a cell; 2: lists of lists, T rows a cell
        self.names = [f.name for f in fields]
        n = source.count(positions)
        if depth:
            t = storage_type(fields[0].type)
            self.dtype = np.dtype((t.value_type if depth == 1 else t.value_type.value_type).to_pandas_dtype())
            self._check_declared(None)
            lengths = self._first_lengths(n)
            self.per_cell, c = (1, lengths[0]) if depth == 1 else lengths
            self._check_declared(self.per_cell * c)
        else:
            self.dtype = np.result_type(*(np.dtype(storage_type(f.type).to_pandas_dtype()) for f in fields))
            self.per_cell, c = 1, len(fields)
        if n == 0:
            raise DataError(f"{where}: the table has no rows")
        if self.per_cell == 0:
            raise DataError(f"{where}: column '{fields[0].name}' row 1 holds an empty sequence (no positions)")
        if c == 0:
            raise DataError(f"{where}: column '{fields[0].name}' holds empty lists (no classes)")
        self.cells = n
        self.shape, self.ndim, self.size = (n * self.per_cell, c), 2, n * self.per_cell * c
        self._batch_rows = max(1, BATCH_VALUES // (c * self.per_cell))
        self._reopen()

    def _first_lengths(self, n: int) -> tuple[int, int]:
        """The first cell's length and (lists of lists) its first list's length, before the shape is known."""
        import pyarrow.compute as pc

        if n == 0:
            return 0, 0
        _, batches = self._source.batches_from(0, self._positions, 1)
        for batch in batches:
            if batch.num_rows:
                batch.validate(full=True)  # damaged offsets would crash pyarrow's compute, not raise
                col = storage(batch.column(0)).slice(0, 1)
                if not col[0].is_valid:
                    raise DataError(f"{self.where}: column '{self.names[0]}' row 1: missing value (null); "
                                    "xent needs a list of numbers in every row")
                inner = col.flatten()
                if self._depth == 1 or len(inner) == 0:
                    return int(pc.list_value_length(col)[0].as_py()), 0
                if not inner[0].is_valid:
                    raise DataError(f"{self.where}: column '{self.names[0]}' row 1, position 1: missing value "
                                    "(null); xent needs a list of numbers at every position")
                return len(inner), int(pc.list_value_length(inner.slice(0, 1))[0].as_py())
        return 0, 0

    def _check_declared(self, per_cell: int | None) -> None:
        """Refuses, from the values a Parquet file declares per row group, a list cell beyond the bound
        (rows averaging more) or, once row 1's ``per_cell`` values are known, longer than row 1's."""
        declared = getattr(self._source, "declared_values", None)
        if declared is None:
            return
        bound, what = ((MAX_ROW_VALUES, "a row of classes") if self._depth == 1
                       else (MAX_SEQUENCE_VALUES, "a sequence of rows"))
        for first, rows, values in declared(self._positions[0]):
            span = f"row {first + 1}" if rows == 1 else f"rows {first + 1}–{first + rows}"
            at = f"{self.where}: column '{self.names[0]}', {span}"
            if values > rows * bound:
                raise DataError(f"{at}: the file declares {values} values for {rows} row{'s' if rows != 1 else ''}, "
                                f"more than the {bound} one list cell may hold as {what} (a cell is decoded "
                                "whole); store fewer values a row (one position a row), or save as .npy")
            if per_cell is not None and values > rows * per_cell:
                raise DataError(f"{at}: the file declares {values} values for {rows} rows, more than the "
                                f"{per_cell} a row that row 1 holds: every row needs the same length (ragged lists)")

    def as_rows(self) -> "ArrowRows":
        return self

    def __array__(self, dtype=None, copy=None):
        a = self.rows(0, len(self))
        return a if dtype is None else a.astype(dtype, copy=False)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new ``(rows, C)`` array."""
        start, stop = max(0, start), min(len(self), stop)
        out = np.empty((max(0, stop - start), self.shape[1]), self.dtype)
        pos = start
        while pos < stop:
            with self._lock:
                b0, arr = self._batch_at(pos)
            take = min(stop, b0 + len(arr)) - pos
            out[pos - start:pos - start + take] = arr[pos - b0:pos - b0 + take]
            pos += take
        return out

    def _batch_at(self, pos: int) -> tuple[int, np.ndarray]:
        """The decoded batch holding row ``pos``: cached, else read on from the cursor (restarted when behind)."""
        for b0, (_, arr) in reversed(self._cache.items()):
            if b0 <= pos < b0 + len(arr):
                self._cache.move_to_end(b0)
                return b0, arr
        cell = pos // self.per_cell  # the table's row: the cursor and batches count those
        try:
            if self._iter is None or cell < self._next_row:
                self._next_row, self._iter = self._source.batches_from(cell, self._positions, self._batch_rows)
            row_bytes = self.per_cell * self.shape[1] * self.dtype.itemsize
            reach = max(2 * self._batch_rows, CACHE_BYTES // max(1, row_bytes))
            for batch in self._iter:
                b0 = self._next_row
                b1 = self._next_row = b0 + batch.num_rows
                if b1 <= cell and cell - b1 > reach:  # far behind the row asked: not decoded
                    continue
                if batch.num_rows == 0:
                    continue
                arr = self._decode(batch, b0)
                self._remember(b0 * self.per_cell, arr)
                if b0 <= cell < b1:
                    return b0 * self.per_cell, arr
        except DataError:
            self._iter = None
            raise
        except damaged() as e:
            self._iter = None
            raise DataError(f"{self.where}: cannot read rows from row {pos + 1}: {first_line(e)}") from e
        except MemoryError as e:
            self._iter = None
            raise DataError(f"{self.where}: out of memory decoding the rows from row {pos + 1}") from e
        self._iter = None
        raise DataError(f"{self.where}: the file ended before row {pos + 1} (was it changed while being read?)")

    def _remember(self, b0: int, arr: np.ndarray) -> None:
        self._cache[b0] = (b0, arr)
        self._cached_bytes += arr.nbytes
        while len(self._cache) > 2 and self._cached_bytes > CACHE_BYTES:
            _, (_, old) = self._cache.popitem(last=False)
            self._cached_bytes -= old.nbytes

    def _decode(self, batch, b0: int) -> np.ndarray:
        """A record batch as ``(rows, C)`` values, checked: no nulls, every list of C values."""
        n, c = batch.num_rows, self.shape[1]
        batch.validate(full=True)  # damaged offsets would crash pyarrow's compute, not raise
        if self._depth == 2:
            return self._decode_sequences(storage(batch.column(0)), b0)
        if self._depth == 1:
            return self._decode_list(storage(batch.column(0)), b0)
        out = np.empty((n, c), self.dtype)
        for j in range(c):
            col = storage(batch.column(j))
            self._no_nulls(col, j, b0)
            out[:, j] = col.to_numpy(zero_copy_only=False)
        return out

    def _decode_list(self, col, b0: int, per_row: int = 1) -> np.ndarray:
        """Lists of C numbers as ``(len(col), C)`` rows; ``b0`` is the first list's index, and ``per_row`` lists
        make one row of the table (lists of lists), for naming the row and position in messages."""
        name, c = self.names[0], self.shape[1]

        def at(i: int) -> str:
            row = f"row {(b0 + i) // per_row + 1}"
            return row if per_row == 1 else f"{row}, position {(b0 + i) % per_row + 1}"

        if per_row == 1:
            self._no_nulls(col, 0, b0, "a list of numbers")
        values = _flattened(
            col, c,
            lambda r, n: (f"{self.where}: column '{name}' {at(r)}: a list of {n} values, but the first holds {c}: "
                          "every row needs one value per class (ragged lists)"),
            lambda v: (f"{self.where}: column '{name}' {at(v // c)}: missing value (null) at position {v % c + 1} "
                       "of the list; xent needs a number for every class"))
        return values.to_numpy(zero_copy_only=False).astype(self.dtype, copy=False).reshape(len(col), c)

    def _decode_sequences(self, col, b0: int) -> np.ndarray:
        """A batch of a list-of-lists column as ``(cells·T, C)`` rows: every cell T lists of C values."""
        name, t = self.names[0], self.per_cell
        self._no_nulls(col, 0, b0, "a sequence of lists of numbers")
        inner = _flattened(
            col, t,
            lambda r, n: (f"{self.where}: column '{name}' row {b0 + r + 1}: a sequence of {n} positions, but row 1 "
                          f"holds {t}: every row needs the same length (ragged sequences; pad them, or save rows "
                          "of one length)"),
            lambda v: (f"{self.where}: column '{name}' row {b0 + v // t + 1}, position {v % t + 1}: missing value "
                       "(null); xent needs a list of numbers at every position"))
        return self._decode_list(inner, b0 * t, per_row=t)

    def _no_nulls(self, col, j: int, b0: int, what: str = "a number") -> None:
        if col.null_count:
            r = int(np.flatnonzero(~col.is_valid().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{self.where}: column '{self.names[j]}' row {b0 + r + 1}: missing value (null); "
                            f"xent needs {what} in every row")



def _flattened(col, width: int, ragged, null):
    """The values of list column ``col``, every list ``width`` long and none of them null; else bad
    data, said by ``ragged(list index, its length)`` or ``null(value index)``."""
    import pyarrow.compute as pc

    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(lengths != width)
    if bad.size:
        raise DataError(ragged(int(bad[0]), int(lengths[int(bad[0])])))
    values = col.flatten()
    if values.null_count:
        raise DataError(null(int(np.flatnonzero(~values.is_valid().to_numpy(zero_copy_only=False))[0])))
    return values


class ArrowSequences:
    """A list-of-lists column (a sequence of T rows of C numbers per table row, as Hugging Face datasets
    store ``(T, V)`` logits) as a ``(B, T, C)`` array: :meth:`as_rows` gives its ``(B·T, C)`` rows, read
    a record batch at a time; ``np.asarray`` reads it whole."""

    def __init__(self, rows: ArrowRows):
        self._rows = rows
        self.shape = (rows.cells, rows.per_cell, rows.shape[1])
        self.ndim, self.dtype, self.size = 3, rows.dtype, rows.size

    def __len__(self) -> int:
        return self.shape[0]

    def as_rows(self) -> ArrowRows:
        return self._rows

    def __array__(self, dtype=None, copy=None):
        a = self._rows.rows(0, len(self._rows)).reshape(self.shape)
        return a if dtype is None else a.astype(dtype, copy=False)
