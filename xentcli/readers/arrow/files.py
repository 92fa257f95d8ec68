"""Parquet, Feather and Arrow IPC (file or stream) files as table sources: their schema, rows and
record batches from a row on; an IPC record batch sized from its metadata before it is decoded."""

from __future__ import annotations

import os
import struct

import numpy as np

from ...errors import DataError
from ..formats import sniff
from ..source import Matrix
from .common import ByPath, Reopened, is_list_type, sliced, storage_type
from .table import read_table

__all__ = ["read", "open_source", "FORMAT_NAMES", "PARQUET_BUFFER", "MAX_BATCH_BYTES"]



#: Parquet column chunks are read through a buffer of this size, never whole.
PARQUET_BUFFER = 1 << 20


#: The most bytes one Arrow IPC (Feather) record batch may decompress to: IPC batches are decoded whole.
MAX_BATCH_BYTES = 128 << 20


FORMAT_NAMES = {".parquet": "Parquet", ".feather": "Feather (Arrow IPC)", ".arrow": "Arrow IPC"}


def _ext(path: str) -> str:
    """The path's extension; without one, what the file's first bytes say (:func:`~..formats.sniff`)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMAT_NAMES:
        with open(path, "rb") as f:
            ext = sniff(f.read(64))
    return ext if ext in FORMAT_NAMES else ".arrow"


def open_source(path: str, where: str):
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


class _Parquet(Reopened):
    def open(self) -> None:
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


class _IpcFile(ByPath):
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
        return int(self.starts[b]), sliced((reader.get_batch(i) for i in range(b, reader.num_record_batches)),
                                            batch_rows)


class _IpcStream(ByPath):
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
        return 0, sliced(iter(self._reader(positions)), batch_rows)


def _leaf_count(t) -> int:
    """How many Parquet leaf columns an Arrow type is stored as."""
    import pyarrow as pa

    t = storage_type(t)
    if pa.types.is_struct(t):
        return sum(_leaf_count(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_map(t):
        return _leaf_count(t.key_type) + _leaf_count(t.item_type)
    if is_list_type(t):
        return _leaf_count(t.value_type)
    return 1


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


def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """The selected columns of a Parquet, Feather or Arrow IPC file (:func:`.table.read_table`)."""
    return read_table(lambda: open_source(path, where), where, selector, FORMAT_NAMES[_ext(path)])
