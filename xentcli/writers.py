"""Machine-readable output (csv, tsv, json, npy, parquet): what is written, to a binary stream
(:mod:`xentcli.destination` gives it: stdout or an atomic ``--output`` file).
:func:`check_output` rejects, before anything is read, an ``--output`` whose
format xent would not write (an unknown extension, or ``.parquet`` without
pyarrow), so a file's extension never lies about its format.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from .destination import check_file
from .engine import RowBlocks
from .errors import CallError
from .numbers import format_number

__all__ = [
    "OUTPUT_FORMATS",
    "OUTPUT_EXTENSIONS",
    "check_output",
    "check_parquet",
    "extension_format",
    "write_delimited",
    "write_json",
    "write_npy",
    "write_parquet",
    "ColumnWriter",
]

OUTPUT_FORMATS = ("table", "csv", "tsv", "json", "npy")
_EXTENSION_FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".json": "json", ".npy": "npy", ".parquet": "parquet",
}
#: The ``--output`` extensions xent writes (a name without an extension is written as csv).
OUTPUT_EXTENSIONS = tuple(_EXTENSION_FORMATS)
ARROW_HINT = "pip install 'xentcli[arrow]'"


def extension_format(output: str) -> str:
    """The format ``output``'s extension names: csv without an extension; CallError for one xent does not write."""
    ext = os.path.splitext(output)[1].lower()
    if not ext:
        return "csv"
    try:
        return _EXTENSION_FORMATS[ext]
    except KeyError:
        raise CallError(
            f"--output {output}: xent does not write {ext!r} files; use {' '.join(OUTPUT_EXTENSIONS)}"
        ) from None


def check_output(output: str | None, format: str | None = None) -> None:
    """Reject an ``--output`` xent would not write, before anything is read (CallError, exit 2).

    The extension must be one of :data:`OUTPUT_EXTENSIONS` (or none: csv) even
    with ``format`` (an explicit ``--format``, which then wins over it: a name never
    claims a format the file does not have unless asked), and ``.parquet`` needs
    pyarrow. The file name must be a file in an existing folder. Nothing is created.
    """
    if output is None:
        return
    if output == "":
        raise CallError("--output: expected a file name, got ''")
    if extension_format(output) == "parquet" and format is None:
        check_parquet(output)
    check_file(output)


def check_parquet(path: str, option: str = "--output") -> None:
    """Writing Parquet needs pyarrow (looked up, not imported): a wrong call naming the extra otherwise."""
    if importlib.util.find_spec("pyarrow") is None:
        raise CallError(f"{option} {path}: writing Parquet needs pyarrow: {ARROW_HINT}")


def _as_row_blocks(values) -> Iterator[np.ndarray]:
    if isinstance(values, RowBlocks):
        yield from values
        return
    a = np.asarray(values, dtype=np.float64)
    yield a.reshape(1, 1) if a.ndim == 0 else (a.reshape(-1, 1) if a.ndim == 1 else a)


def write_delimited(
    out: BinaryIO,
    values,
    *,
    delimiter: str = ",",
    precision: int | None = None,
    header: list[str] | None = None,
    row_names: list[str] | None = None,
) -> None:
    """Numbers only: a scalar on one line, a vector one value per line, a matrix one row per line
    (with ``row_names``, each row starts with its name: ``compare``'s one line per test)."""
    # format_number of a finite float, without its per-value checks: blocks of finite rows take this path.
    cell = repr if precision is None else (lambda x: f"{x:.{precision}g}")
    if header is not None:
        out.write((delimiter.join(_quoted(str(name), delimiter) for name in header) + "\n").encode())
    names = iter(_quoted(name, delimiter) for name in row_names or ())
    for block in _as_row_blocks(values):
        block = np.asarray(block, dtype=np.float64)
        finite = bool(np.isfinite(block).all())
        lines = []
        for row in block.tolist():
            cells = map(cell, row) if finite else (format_number(x, precision) for x in row)
            lines.append(delimiter.join([next(names), *cells] if row_names else cells))
        if lines:
            out.write(("\n".join(lines) + "\n").encode())


def _quoted(name: str, delimiter: str) -> str:
    """A name as a csv/tsv cell: quoted (RFC 4180, ``"`` doubled) where it holds the delimiter, a quote or a newline."""
    if any(c in name for c in (delimiter, '"', "\n", "\r")):
        return '"' + name.replace('"', '""') + '"'
    return name


def _json_ready(obj, precision: int | None):
    """Floats as JSON numbers (rounded to ``precision``); inf and nan as strings."""
    if isinstance(obj, dict):
        return {k: _json_ready(v, precision) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return _json_ready(obj.tolist(), precision)
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v, precision) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if not math.isfinite(x):
            return format_number(x)
        return x if precision is None else float(f"{x:.{precision}g}")
    return obj


def write_json(out: BinaryIO, obj: dict, *, precision: int | None = None) -> None:
    """One JSON object on one line (floats round-trip: Python's float repr); a RowBlocks value streams,
    nested as its ``array_shape`` (``(B, T, C)`` in, B lists of T rows out, as npy keeps it)."""
    out.write(b"{")
    for i, (key, value) in enumerate(obj.items()):
        out.write(((", " if i else "") + json.dumps(key) + ": ").encode())
        if isinstance(value, RowBlocks):
            _write_nested_rows(out, value, precision)
        else:
            out.write(json.dumps(_json_ready(value, precision), allow_nan=False).encode())
    out.write(b"}\n")


def _write_nested_rows(out: BinaryIO, value: "RowBlocks", precision: int | None) -> None:
    """The rows of ``value`` as nested JSON lists, one bracket per leading axis of its ``array_shape``.

    Before row r, every leading axis whose span (the product of the axes after it) divides r
    closes and reopens its list: the row starts a new sequence of that axis.
    """
    lead = value.array_shape[:-1] or (1,)
    spans = [math.prod(lead[d + 1:]) for d in range(len(lead))]
    out.write(b"[" * len(lead))
    r = 0
    for block in value:
        parts = []
        for row in _json_ready(block, precision):
            if r:
                reopened = sum(1 for span in spans if r % span == 0) - 1  # the innermost axis (span 1) never reopens
                parts.append("]" * reopened + ", " + "[" * reopened)
            parts.append(json.dumps(row, allow_nan=False))
            r += 1
        if parts:
            out.write("".join(parts).encode())
    out.write(b"]" * len(lead))


def write_npy(out: BinaryIO, values) -> None:
    """The same array the csv output holds, as NPY bytes (float64); a RowBlocks matrix streams.

    A RowBlocks matrix gets its ``array_shape`` (the input's leading dimensions).
    """
    if not isinstance(values, RowBlocks):
        np.save(out, np.asarray(values, dtype=np.float64), allow_pickle=False)
        return
    shape = values.array_shape  # the input's leading dimensions, e.g. (B, T, C); the bytes are the same
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f8")), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)
    for block in values:
        out.write(np.ascontiguousarray(block, dtype="<f8").tobytes())


def _column_names(header: list[str] | None, count: int) -> list[str]:
    """The csv ``--header`` names when there is one per column, else ``0, 1, …`` (or ``value``)."""
    if header is not None and len(header) == count:
        return [str(h) for h in header]
    return ["value"] if count == 1 else [str(j) for j in range(count)]


def write_parquet(out: BinaryIO, values, header: list[str] | None = None, row_names: list[str] | None = None) -> None:
    """The csv payload as a Parquet file, one float64 column per csv column (pyarrow is imported here).

    Columns are named by ``header`` (what ``--header`` prints: ``mean``, ``loss``,
    or the class names); with ``row_names`` (``compare``'s tests) a first string column holds
    them, named by the header's first name. A RowBlocks matrix streams: one record batch per block.
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:  # checked when --output is parsed; this is for other callers
        raise CallError(f"writing Parquet needs pyarrow: {ARROW_HINT}") from e

    if isinstance(values, RowBlocks):
        count = values.shape[1]
        blocks: Iterable[np.ndarray] = values
    else:
        a = np.asarray(values, dtype=np.float64)
        a = a.reshape(1, 1) if a.ndim == 0 else (a.reshape(-1, 1) if a.ndim == 1 else a.reshape(len(a), -1))
        count = a.shape[1]
        blocks = [a]
    fields = []
    if row_names is not None:
        named = header is not None and len(header) == count + 1
        fields.append(pa.field(str(header[0]) if named else "name", pa.string()))
        header = header[1:] if named else None
    fields += [pa.field(name, pa.float64()) for name in _column_names(header, count)]
    schema = pa.schema(fields)
    names = list(row_names or ())
    writer = pq.ParquetWriter(out, schema)
    try:
        done = 0
        for block in blocks:
            block = np.asarray(block, dtype=np.float64).reshape(-1, count)
            columns = [pa.array(col) for col in np.ascontiguousarray(block.T)]  # one contiguous row per column
            if row_names is not None:
                columns.insert(0, pa.array(names[done:done + len(block)], type=pa.string()))
            done += len(block)
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
    except BaseException:
        try:  # the temp file is removed anyway; close so pyarrow does not write to it later
            writer.close()
        except Exception:
            pass
        raise
    writer.close()


class ColumnWriter:
    """A table of named columns written block by block (``--per-token``): csv/tsv with a header
    line, or Parquet (one record batch per block). Integer columns stay integers.

    ``add(columns)`` takes one block: a list of 1-D arrays, one per name, of equal length.
    """

    def __init__(self, out: BinaryIO, file_format: str, names: list[str]):
        self.out, self.file_format, self.names = out, file_format, list(names)
        self._writer = None
        if file_format in ("csv", "tsv"):
            self._sep = "," if file_format == "csv" else "\t"
            out.write((self._sep.join(_quoted(name, self._sep) for name in self.names) + "\n").encode())
        elif file_format != "parquet":
            raise CallError(f"a per-token table is written as csv, tsv or parquet, not {file_format}")

    def add(self, columns: list[np.ndarray]) -> None:
        if self.file_format == "parquet":
            self._add_parquet(columns)
            return
        cells = [c.tolist() if c.dtype.kind in "iub" else [format_number(x) for x in c.tolist()] for c in columns]
        if cells and cells[0]:
            lines = (self._sep.join(map(str, row)) for row in zip(*cells))
            self.out.write(("\n".join(lines) + "\n").encode())

    def _add_parquet(self, columns: list[np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = [pa.array(np.asarray(c)) for c in columns]
        if self._writer is None:
            schema = pa.schema([pa.field(n, a.type) for n, a in zip(self.names, arrays)])
            self._writer = pq.ParquetWriter(self.out, schema)
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, names=self.names))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def write_columns(out: BinaryIO, columns: dict, form: str, precision: int | None = None) -> None:
    """Named columns of one length (int, float or bool arrays, or lists of str) as csv/tsv with a header
    line, or as Parquet with a column of each type (``xent ngram ppl --per-word``)."""
    if form == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as e:
            raise CallError(f"writing Parquet needs pyarrow: {ARROW_HINT}") from e
        pq.write_table(pa.table(columns), out)
        return
    sep = "," if form == "csv" else "\t"

    def cells(column) -> list[str]:
        if isinstance(column, list):
            return [f'"{v.replace(chr(34), chr(34) * 2)}"' if (sep in v or '"' in v or "\n" in v or "\r" in v) else v
                    for v in column]
        column = np.asarray(column)
        if column.dtype == bool:
            return ["true" if v else "false" for v in column.tolist()]
        if column.dtype.kind in "iu":
            return [str(v) for v in column.tolist()]
        return [format_number(v, precision) for v in column.tolist()]

    text = [cells(c) for c in columns.values()]
    out.write((sep.join(columns) + "\n").encode())
    out.write("".join(sep.join(row) + "\n" for row in zip(*text)).encode("utf-8", "surrogateescape"))
