"""``.parquet``, ``.feather`` and ``.arrow`` (Arrow IPC file or stream) tables, read through pyarrow.

``FILE:SELECTOR`` picks columns (:mod:`.selector`: names, ``*`` globs, 1-based numbers).
What forms the matrix:

* numeric columns (integers, floats, bools): one matrix column each, named by its column
  (or by the part a glob matched: ``:p_*`` on ``p_setosa`` → ``setosa``);
* one list or fixed-size-list column of numbers (how Hugging Face datasets store logits):
  one matrix row per cell, ``(N, C)``; every cell must hold C values (ragged lists are bad data).
  A list column is selected alone;
* one column of lists of lists of numbers (a whole sequence per row, as ``datasets`` stores
  ``(T, V)`` logits): ``(B, T, C)``, read as ``B·T`` rows; every row must hold T lists of C
  values (ragged sequences are bad data naming the row). Its ``(B, T)`` targets are a list
  column of integers. An extension type (``datasets``' ``Array2D``) is read as its storage.

Without a selector a table is read whole only when its columns (pandas' index columns aside:
``__index_level_0__`` is never data, a named index is read only when selected, and a first column
of integers named like an id, :data:`.selector.ID_NAME`, as ``df.reset_index().to_feather()``
writes the index, is left out, said once on stderr) are all of one kind:
all float, or all integer/boolean, or one column of any kind (a string or categorical column: the
class-name labels; a list column: the rows). A table that mixes kinds (class names and numbers,
integers among floats, ``input_ids`` and ``logits`` list columns) or holds a number column named
like a label, target or id (:func:`.selector.is_label_name`) among others is a wrong call naming the
selector of each part, the option's own first (:func:`.selector.whole_table`): ``--labels
d.parquet: the table mixes class names (label) and numbers (p_setosa, …): select one, e.g.
d.parquet:label for the labels or d.parquet:p_* for the predictions``. A table of no numbers and no
class names is a wrong call listing its columns and their types.

A damaged file (pages, footer, offsets: every record batch is validated before it is
decoded) is bad data naming the file, with the first line of pyarrow's message; so is running
out of memory while decoding rows.

What one read may decode is bounded by what the file declares, checked before anything is
decoded (Parquet decodes at least a whole row, Arrow IPC a whole record batch). A list cell
holds at most :data:`MAX_ROW_VALUES` (1 Mi) values when it is one row of classes, and at most
:data:`MAX_SEQUENCE_VALUES` (8 Mi) when it is a whole sequence: Parquet declares each row
group's values per column, so a row group whose rows average more than that, or hold more than
its rows times the first row's values (ragged lists), is bad data naming its rows. An Arrow
IPC record batch may decompress to at most :data:`MAX_BATCH_BYTES` (128 MB), as its message's
buffer lengths declare; a larger one is bad data suggesting smaller batches or Parquet.

A string or categorical column holds class names: selected alone it is read, a batch at a
time, as ``str`` values (labels, mapped to class indices where they are used), at most
:data:`MAX_CLASS_NAME_BYTES` (96 MB) as NumPy strings (rows × 4 bytes × the longest name's
characters) and :data:`MAX_CLASS_NAMES` (1 Mi) distinct names; among other columns it is bad data. A null in a selected column is bad data naming the column and
the 1-based row.

Nothing is read whole: :class:`ArrowRows` reads a row range from the record batches
(Parquet: ``iter_batches`` from the row group that holds it; IPC files: ``get_batch``;
IPC streams: from the start), keeps the last decoded batches in a small cache, and
serialises pyarrow reads with a lock (the engine reads from several threads).
pyarrow is imported inside functions only.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict

import numpy as np

from ..errors import CallError, DataError
from .selector import (FLOAT, ID_NAME, INT, LIST_FLOAT, LIST_INT, LISTS_FLOAT, LISTS_INT, OTHER, STRING,
                       describe_columns, select_columns, whole_table)
from .source import FileRows, Matrix, first_line, shown_path

__all__ = ["read", "ArrowRows", "ArrowSequences", "BATCH_VALUES", "CACHE_BYTES", "MAX_ROW_VALUES",
           "MAX_SEQUENCE_VALUES", "MAX_BATCH_BYTES", "MAX_CLASS_NAME_BYTES", "MAX_CLASS_NAMES"]

#: Values decoded per Parquet batch (rows = this // classes, at least 1).
BATCH_VALUES = 256 * 1024
#: Decoded batches kept for rows asked again or out of order (threads), in bytes; at least 2 batches.
CACHE_BYTES = 64 << 20
#: Parquet column chunks are read through a buffer of this size, never whole.
PARQUET_BUFFER = 1 << 20
#: The most values one list cell may hold when it is one row of classes (the core's working copies
#: of a row take about ten times its float64 size), and when it is a whole sequence of rows.
MAX_ROW_VALUES = 1 << 20
MAX_SEQUENCE_VALUES = 8 << 20
#: The most bytes one Arrow IPC (Feather) record batch may decompress to: IPC batches are decoded whole.
MAX_BATCH_BYTES = 128 << 20
#: The most a class-name column may take as NumPy's fixed-width strings (4 bytes a character of the
#: longest name, every row), and the most distinct names it may hold.
MAX_CLASS_NAME_BYTES = 96 << 20
MAX_CLASS_NAMES = 1 << 20

_NUMBER, _LIST, _LISTS, _STRING, _NESTED, _OTHER = "number", "list", "lists", "string", "nested", "other"

def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """The selected columns of the table as a :class:`Matrix` of a lazy :class:`ArrowRows`."""
    try:
        source = _open(path, where)
        schema = source.schema
        hidden = _pandas_hidden(schema)
        positions = [i for i, f in enumerate(schema) if f.name not in hidden]
        columns = [schema.field(i).name for i in positions]
        kinds = [_kind(schema.field(i).type) for i in positions]
        notes: list[str] = []
        if selector is None:
            chosen = _default(columns, [schema.field(i).type for i in positions], _pandas_index_names(schema), where,
                              notes)
            names = [columns[i] for i in chosen]
        else:
            chosen, names = select_columns(selector, columns, len(columns), where)
        fields = [schema.field(positions[i]) for i in chosen]
        if len(chosen) == 1 and kinds[chosen[0]] == _STRING:
            return Matrix(_class_names(source, positions[chosen[0]], fields[0].name, where), where)
        for f, k in zip(fields, (kinds[i] for i in chosen)):
            _check_kind(f, k, where)
        depth = {_LIST: 1, _LISTS: 2}.get(kinds[chosen[0]], 0)
        if depth and len(chosen) > 1:
            listed = ", ".join(f"'{f.name}'" for f in fields if _kind(f.type) in (_LIST, _LISTS))
            raise CallError(f"{where}: a list column holds a whole row of classes and is selected alone; "
                            f"the selector chose {len(chosen)} columns with the list column {listed}")
        rows = ArrowRows(source, [positions[i] for i in chosen], fields, where, depth)
    except _damaged() as e:
        raise DataError(f"{where}: cannot read the file as {_FORMAT_NAMES[_ext(path)]}: {first_line(e)}") from e
    return Matrix(ArrowSequences(rows) if depth == 2 else rows, where, None if depth else names, notes=notes)


def _damaged() -> tuple:
    """What pyarrow raises on a damaged file: its own errors, the OSError, ValueError, … its
    decoders (Thrift, LZ4, Snappy, Zstd) raise on foreign bytes, the EOFError of a message cut
    short, and ``struct.error`` from IPC metadata whose offsets point outside it."""
    import pyarrow as pa

    return (pa.ArrowException, OSError, ValueError, TypeError, KeyError, IndexError, NotImplementedError,
            UnicodeDecodeError, struct.error, EOFError)


_FORMAT_NAMES = {".parquet": "Parquet", ".feather": "Feather (Arrow IPC)", ".arrow": "Arrow IPC"}


def _ext(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return ext if ext in _FORMAT_NAMES else ".arrow"


def _kind(t) -> str:
    import pyarrow as pa

    types = pa.types
    t = _storage_type(t)
    if _is_number_type(t):
        return _NUMBER
    if _is_list_type(t):
        inner = t.value_type
        if _is_number_type(inner):
            return _LIST
        if _is_list_type(inner) and _is_number_type(inner.value_type):
            return _LISTS
        return _NESTED
    if (types.is_string(t) or types.is_large_string(t) or getattr(types, "is_string_view", lambda _: False)(t)
            or types.is_dictionary(t)):
        return _STRING
    return _OTHER


def _storage_type(t):
    """An extension type's storage (``datasets``' ``Array2D`` stores lists of lists); any other type itself."""
    return getattr(t, "storage_type", t)


def _storage(col):
    """An extension array's storage array; any other array itself."""
    return getattr(col, "storage", col)


def _is_number_type(t) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def _is_list_type(t) -> bool:
    import pyarrow as pa

    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or _is_list_view(t)


def _is_list_view(t) -> bool:
    import pyarrow as pa

    return getattr(pa.types, "is_list_view", lambda _: False)(t) or getattr(pa.types, "is_large_list_view", lambda _: False)(t)


def _class_names(source, position: int, name: str, where: str) -> np.ndarray:
    """A string or categorical column as ``str`` values (class-name labels), read a batch at a time
    and kept as codes into the distinct names until the end; bounded as the module says."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names: dict[str, int] = {}
    codes, row = [], 0
    _, batches = source.batches_from(0, [position], BATCH_VALUES)
    for batch in batches:
        batch.validate(full=True)  # damaged offsets would crash pyarrow's conversion, not raise
        column = _storage(batch.column(0))
        if column.null_count:
            r = int(np.flatnonzero(~column.is_valid().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{where}: column '{name}', row {row + r + 1}: empty (null), expected a class name")
        encoded = pc.dictionary_encode(column.cast(pa.string()))
        remap = np.array([names.setdefault(s, len(names)) for s in encoded.dictionary.to_pylist()], dtype=np.int32)
        if len(names) > MAX_CLASS_NAMES:
            raise DataError(f"{where}: column '{name}' holds more than {MAX_CLASS_NAMES} distinct class names "
                            f"by row {row + len(column)}; save the labels as class indices (integers)")
        codes.append(remap[encoded.indices.to_numpy(zero_copy_only=False)])
        row += len(column)
        width = max(map(len, names), default=1)
        if 4 * width * row > MAX_CLASS_NAME_BYTES:
            raise DataError(f"{where}: column '{name}', row {row}: {row} class names of up to {width} characters "
                            f"take more than the {MAX_CLASS_NAME_BYTES >> 20} MB xent holds as class-name labels; "
                            "save the labels as class indices (integers)")
    if not row:
        raise DataError(f"{where}: column '{name}' is empty")
    return np.array(list(names), dtype=str)[np.concatenate(codes)]


def _check_kind(field, kind: str, where: str) -> None:
    if kind == _STRING:
        raise DataError(f"{where}: column '{field.name}' holds strings ({field.type}), class names: select it "
                        "alone, as labels")
    if kind == _NESTED:
        raise DataError(f"{where}: column '{field.name}' is a {field.type}: xent reads a list column of numbers "
                        "(one row of classes per cell), not lists of other values")
    if kind == _OTHER:
        raise DataError(f"{where}: column '{field.name}' is not numeric ({field.type}); xent reads integer, "
                        "float and bool columns, or one list column of numbers")


def _default(columns: list[str], types: list, index_names: set[str], where: str, notes: list[str]) -> list[int]:
    """The columns read without a selector (the rule is the module's docstring); a first column left
    out as pandas' index is said in ``notes``."""
    import pyarrow as pa

    data = [i for i, c in enumerate(columns) if c not in index_names]
    if len(data) >= 2 and ID_NAME.fullmatch(columns[data[0]]) and pa.types.is_integer(_storage_type(types[data[0]])):
        notes.append(f"{where}: column '{columns[data[0]]}' is named like an id and holds integers (pandas' index, "
                     "as reset_index() writes it): it is not a class and is left out")
        data = data[1:]
    kinds = [_table_kind(types[i]) for i in data]
    if all(k == OTHER for k in kinds):
        held = describe_columns([f"{c} ({t})" for c, t in zip(columns, types)], len(columns))
        raise CallError(f"{where}: no column of numbers or class names to read; the file holds {held}; "
                        f"select one as {shown_path(where)}:NAME")
    return [data[j] for j in whole_table(where, [columns[i] for i in data], kinds, columns)]


def _table_kind(t) -> str:
    """A column's kind for :func:`.selector.whole_table`: floats or integers, alone or in lists."""
    import pyarrow as pa

    t = _storage_type(t)
    kind, floating = _kind(t), pa.types.is_floating
    if kind == _NUMBER:
        return FLOAT if floating(t) else INT
    if kind == _LIST:
        return LIST_FLOAT if floating(t.value_type) else LIST_INT
    if kind == _LISTS:
        return LISTS_FLOAT if floating(t.value_type.value_type) else LISTS_INT
    return STRING if kind == _STRING else OTHER


def _pandas_meta(schema) -> dict:
    try:
        return schema.pandas_metadata or {}
    except Exception:  # malformed metadata: not pandas'
        return {}


def _pandas_hidden(schema) -> set[str]:
    """pandas' unnamed index columns (``__index_level_0__``): never data, never listed."""
    return {c for c in _pandas_meta(schema).get("index_columns", [])
            if isinstance(c, str) and c.startswith("__index_level_")}


def _pandas_index_names(schema) -> set[str]:
    """pandas' named index columns: not read without a selector (they can be named)."""
    return {c for c in _pandas_meta(schema).get("index_columns", []) if isinstance(c, str)}


# --- the three kinds of file --------------------------------------------------------------------

def _open(path: str, where: str):
    ext = _ext(path)
    if ext == ".parquet":
        return _Parquet(path)
    try:
        return _IpcFile(path, where)
    except Exception as e:  # not the IPC file format: maybe the stream format (Hugging Face's .arrow)
        import pyarrow as pa

        if not isinstance(e, pa.ArrowException):
            raise
        try:
            return _IpcStream(path, where)
        except pa.ArrowException:
            raise e from None


class _ByPath:
    """A table source pickled by its path (a cluster worker opens the file again)."""

    def __getstate__(self) -> dict:
        from .source import portable_path

        state = {k: v for k, v in self.__dict__.items() if k != "file"}
        state["path"] = portable_path(self.path)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


class _Parquet(_ByPath):
    def __init__(self, path: str):
        self.path = path
        self._open()

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open()

    def _open(self) -> None:
        import pyarrow.parquet as pq

        self.file = pq.ParquetFile(self.path, buffer_size=PARQUET_BUFFER, pre_buffer=False)
        self.schema = self.file.schema_arrow
        meta = self.file.metadata
        self.starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])

    def count(self, positions) -> int:
        return int(self.starts[-1])

    def declared_values(self, position: int):
        """``(first row, rows, leaf values)`` of each row group for the column at ``position`` (one leaf)."""
        leaf = sum(_leaf_count(self.schema.field(i).type) for i in range(position))
        meta = self.file.metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            yield int(self.starts[g]), group.num_rows, group.column(leaf).num_values

    def batches_from(self, row: int, positions, batch_rows: int):
        """``(first row, iterator of record batches of the columns)`` from the row group holding ``row``."""
        g = max(0, int(np.searchsorted(self.starts, row, side="right")) - 1)
        groups = list(range(g, len(self.starts) - 1))
        names = [self.schema.field(i).name for i in positions]
        return int(self.starts[g]), self.file.iter_batches(batch_size=batch_rows, row_groups=groups, columns=names,
                                                           use_threads=False)


class _IpcFile(_ByPath):
    def __init__(self, path: str, where: str):
        import pyarrow as pa
        import pyarrow.ipc as ipc

        self.path = path
        reader = ipc.open_file(pa.OSFile(path))
        self.schema = reader.schema
        with pa.memory_map(path) as mapped:
            rows = _check_batches((_block_message(mapped, block) for block in _footer_blocks(mapped)), where)
        if len(rows) != reader.num_record_batches:
            raise DataError(f"{where}: the footer lists {len(rows)} record batches, the reader "
                            f"{reader.num_record_batches} (a damaged file)")
        self.starts = np.cumsum([0] + rows)

    def _reader(self, positions):
        import pyarrow as pa
        import pyarrow.ipc as ipc

        return ipc.open_file(pa.OSFile(self.path), options=ipc.IpcReadOptions(included_fields=list(positions)))

    def count(self, positions) -> int:
        return int(self.starts[-1])

    def batches_from(self, row: int, positions, batch_rows: int):
        reader = self._reader(positions)
        b = max(0, int(np.searchsorted(self.starts, row, side="right")) - 1)
        return int(self.starts[b]), _sliced((reader.get_batch(i) for i in range(b, reader.num_record_batches)),
                                            batch_rows)


class _IpcStream(_ByPath):
    def __init__(self, path: str, where: str):
        import pyarrow as pa
        import pyarrow.ipc as ipc

        self.path = path
        self.schema = ipc.open_stream(pa.OSFile(path)).schema
        with pa.memory_map(path) as mapped:
            self.rows = sum(_check_batches(ipc.MessageReader.open_stream(mapped), where))

    def _reader(self, positions):
        import pyarrow as pa
        import pyarrow.ipc as ipc

        return ipc.open_stream(pa.OSFile(self.path), options=ipc.IpcReadOptions(included_fields=list(positions)))

    def count(self, positions) -> int:
        return self.rows

    def batches_from(self, row: int, positions, batch_rows: int):
        return 0, _sliced(iter(self._reader(positions)), batch_rows)


def _sliced(batches, rows: int):
    """Record batches cut into views of at most ``rows`` rows: an IPC batch is decompressed whole, but
    converted to NumPy a slice at a time, so its rows are never held twice."""
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def _leaf_count(t) -> int:
    """How many Parquet leaf columns an Arrow type is stored as."""
    import pyarrow as pa

    t = _storage_type(t)
    if pa.types.is_struct(t):
        return sum(_leaf_count(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_map(t):
        return _leaf_count(t.key_type) + _leaf_count(t.item_type)
    if _is_list_type(t):
        return _leaf_count(t.value_type)
    return 1


# --- Arrow IPC record batches, sized from their metadata --------------------------------------------

class _Flat:
    """A FlatBuffers table of the Arrow IPC metadata, read field by field (slot numbers from Arrow's
    Message.fbs, File.fbs and Schema.fbs)."""

    def __init__(self, buf, pos: int):
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_len = struct.unpack_from("<H", buf, self.vtable)[0]

    def _at(self, slot: int) -> int | None:
        if 4 + 2 * slot >= self.vtable_len:
            return None
        off = struct.unpack_from("<H", self.buf, self.vtable + 4 + 2 * slot)[0]
        return self.pos + off if off else None

    def scalar(self, slot: int, fmt: str):
        p = self._at(slot)
        return 0 if p is None else struct.unpack_from(fmt, self.buf, p)[0]

    def table(self, slot: int) -> "_Flat | None":
        p = self._at(slot)
        return None if p is None else _Flat(self.buf, p + struct.unpack_from("<I", self.buf, p)[0])

    def structs(self, slot: int, fmt: str) -> list[tuple]:
        p = self._at(slot)
        if p is None:
            return []
        p += struct.unpack_from("<I", self.buf, p)[0]
        n, size = struct.unpack_from("<I", self.buf, p)[0], struct.calcsize(fmt)
        return list(struct.iter_unpack(fmt, self.buf[p + 4:p + 4 + n * size]))


def _footer_blocks(mapped) -> list[tuple]:
    """The IPC file footer's record-batch blocks ``(offset, metadata length, body length)``, as
    ``get_batch`` reads them."""
    size = mapped.size()
    footer_len = struct.unpack("<i", mapped.read_at(4, size - 10))[0]
    footer = mapped.read_at(footer_len, size - 10 - footer_len)
    table = _Flat(footer, struct.unpack_from("<I", footer, 0)[0])
    return table.structs(3, "<qi4xq")  # Footer.recordBatches: [Block]


def _block_message(mapped, block: tuple):
    import pyarrow.ipc as ipc

    offset, meta_len, body_len = block
    mapped.seek(offset)
    return ipc.read_message(mapped.read_buffer(meta_len + body_len))  # a view of the mapping, not a copy


def _check_batches(messages, where: str) -> list[int]:
    """Each record batch's rows, as its metadata declares them. Refuses a batch that decompresses to
    more than :data:`MAX_BATCH_BYTES`: its buffers' lengths (a compressed buffer starts with its
    uncompressed length) are summed before it is decoded."""
    counts = []
    first = 0
    for i, message in enumerate(m for m in messages if m.type == "record batch"):
        meta = message.metadata.to_pybytes()
        batch = _Flat(meta, struct.unpack_from("<I", meta, 0)[0]).table(2)  # Message.header: RecordBatch
        if batch is None:
            raise DataError(f"{where}: record batch {i + 1} has no header (a damaged file)")
        rows = batch.scalar(0, "<q")
        compressed = batch.table(3) is not None
        body, size = memoryview(message.body), 0
        for offset, length in batch.structs(2, "<qq"):
            if compressed and length >= 8:
                declared = struct.unpack_from("<q", body, offset)[0]
                size += length - 8 if declared == -1 else declared
            else:
                size += length
        if size > MAX_BATCH_BYTES:
            raise DataError(f"{where}: record batch {i + 1} (rows {first + 1}–{first + rows}) decompresses to "
                            f"{size} bytes, more than the {MAX_BATCH_BYTES >> 20} MB xent decodes at once; write "
                            "smaller record batches (write_feather(..., chunksize=N), or a RecordBatchFileWriter "
                            "fed smaller batches), or save the table as Parquet")
        if rows < 0:
            raise DataError(f"{where}: record batch {i + 1} declares {rows} rows (a damaged file)")
        counts.append(rows)
        first += rows
    return counts


# --- the rows -------------------------------------------------------------------------------------

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
            t = _storage_type(fields[0].type)
            self.dtype = np.dtype((t.value_type if depth == 1 else t.value_type.value_type).to_pandas_dtype())
            self._check_declared(None)
            lengths = self._first_lengths(n)
            self.per_cell, c = (1, lengths[0]) if depth == 1 else lengths
            self._check_declared(self.per_cell * c)
        else:
            self.dtype = np.result_type(*(np.dtype(_storage_type(f.type).to_pandas_dtype()) for f in fields))
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
                col = _storage(batch.column(0)).slice(0, 1)
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
        import pyarrow as pa

        for b0, (_, arr) in reversed(self._cache.items()):
            if b0 <= pos < b0 + len(arr):
                self._cache.move_to_end(b0)
                return b0, arr
        cell = pos // self.per_cell  # the table's row: the cursor and batches count those
        try:
            if self._iter is None or cell < self._next_row:
                self._next_row, self._iter = self._source.batches_from(cell, self._positions, self._batch_rows)
            reach = max(2 * self._batch_rows, CACHE_BYTES // max(1, self.per_cell * self.shape[1] * self.dtype.itemsize))
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
        except _damaged() as e:
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
            return self._decode_sequences(_storage(batch.column(0)), b0)
        if self._depth == 1:
            return self._decode_list(_storage(batch.column(0)), b0)
        out = np.empty((n, c), self.dtype)
        for j in range(c):
            col = _storage(batch.column(j))
            self._no_nulls(col, j, b0)
            out[:, j] = col.to_numpy(zero_copy_only=False)
        return out

    def _decode_list(self, col, b0: int, per_row: int = 1) -> np.ndarray:
        """Lists of C numbers as ``(len(col), C)`` rows; ``b0`` is the first list's index, and ``per_row`` lists
        make one row of the table (lists of lists), for naming the row and position in messages."""
        import pyarrow.compute as pc

        name, c = self.names[0], self.shape[1]

        def at(i: int) -> str:
            row = f"row {(b0 + i) // per_row + 1}"
            return row if per_row == 1 else f"{row}, position {(b0 + i) % per_row + 1}"

        if per_row == 1:
            self._no_nulls(col, 0, b0, "a list of numbers")
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(lengths != c)
        if bad.size:
            r = int(bad[0])
            raise DataError(f"{self.where}: column '{name}' {at(r)}: a list of {int(lengths[r])} values, "
                            f"but the first holds {c}: every row needs one value per class (ragged lists)")
        values = col.flatten()
        if values.null_count:
            v = int(np.flatnonzero(~values.is_valid().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{self.where}: column '{name}' {at(v // c)}: missing value (null) at "
                            f"position {v % c + 1} of the list; xent needs a number for every class")
        return values.to_numpy(zero_copy_only=False).astype(self.dtype, copy=False).reshape(len(col), c)

    def _decode_sequences(self, col, b0: int) -> np.ndarray:
        """A batch of a list-of-lists column as ``(cells·T, C)`` rows: every cell T lists of C values."""
        import pyarrow.compute as pc

        name, t = self.names[0], self.per_cell
        self._no_nulls(col, 0, b0, "a sequence of lists of numbers")
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(lengths != t)
        if bad.size:
            r = int(bad[0])
            raise DataError(f"{self.where}: column '{name}' row {b0 + r + 1}: a sequence of {int(lengths[r])} "
                            f"positions, but row 1 holds {t}: every row needs the same length (ragged sequences; "
                            "pad them, or save rows of one length)")
        inner = col.flatten()
        if inner.null_count:
            v = int(np.flatnonzero(~inner.is_valid().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{self.where}: column '{name}' row {b0 + v // t + 1}, position {v % t + 1}: missing "
                            "value (null); xent needs a list of numbers at every position")
        return self._decode_list(inner, b0 * t, per_row=t)

    def _no_nulls(self, col, j: int, b0: int, what: str = "a number") -> None:
        if col.null_count:
            r = int(np.flatnonzero(~col.is_valid().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{self.where}: column '{self.names[j]}' row {b0 + r + 1}: missing value (null); "
                            f"xent needs {what} in every row")


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
