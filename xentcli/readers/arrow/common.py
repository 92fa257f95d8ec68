"""What every Arrow-backed table reader shares: the kind of a column's Arrow type, extension types'
storage, what pyarrow raises on a damaged file, pickling a table source by its path, and batches cut
to the rows decoded at a time."""

from __future__ import annotations

import struct

from ..source import portable_path

__all__ = ["NUMBER_COLUMN", "LIST_COLUMN", "LISTS_COLUMN", "STRING_COLUMN", "NESTED_COLUMN", "OTHER_COLUMN", "damaged",
           "column_kind", "storage_type", "storage", "is_list_type", "ByPath", "Reopened", "sliced"]

NUMBER_COLUMN, LIST_COLUMN, LISTS_COLUMN, STRING_COLUMN, NESTED_COLUMN, OTHER_COLUMN = (
    "number", "list", "lists", "string", "nested", "other")


def damaged() -> tuple:
    """What pyarrow raises on a damaged file: its own errors, the OSError, ValueError, … its
    decoders (Thrift, LZ4, Snappy, Zstd) raise on foreign bytes, the EOFError of a message cut
    short, and ``struct.error`` from IPC metadata whose offsets point outside it."""
    import pyarrow as pa

    return (pa.ArrowException, OSError, ValueError, TypeError, KeyError, IndexError, NotImplementedError,
            UnicodeDecodeError, struct.error, EOFError)


def column_kind(t) -> str:
    import pyarrow as pa

    types = pa.types
    t = storage_type(t)
    if _is_number_type(t):
        return NUMBER_COLUMN
    if is_list_type(t):
        inner = t.value_type
        if _is_number_type(inner):
            return LIST_COLUMN
        if is_list_type(inner) and _is_number_type(inner.value_type):
            return LISTS_COLUMN
        return NESTED_COLUMN
    if (types.is_string(t) or types.is_large_string(t) or getattr(types, "is_string_view", lambda _: False)(t)
            or types.is_dictionary(t)):
        return STRING_COLUMN
    return OTHER_COLUMN


def storage_type(t):
    """An extension type's storage (``datasets``' ``Array2D`` stores lists of lists); any other type itself."""
    return getattr(t, "storage_type", t)


def storage(col):
    """An extension array's storage array; any other array itself."""
    return getattr(col, "storage", col)


def _is_number_type(t) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def is_list_type(t) -> bool:
    import pyarrow as pa

    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or _is_list_view(t)


def _is_list_view(t) -> bool:
    import pyarrow as pa

    no = lambda _: False  # noqa: E731 - pyarrow before 16 has no list views
    return getattr(pa.types, "is_list_view", no)(t) or getattr(pa.types, "is_large_list_view", no)(t)


class ByPath:
    """A table source pickled by its path (a cluster worker opens the file again)."""

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k != "file"}
        state["path"] = portable_path(self.path)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


class Reopened(ByPath):
    """A table source whose file :meth:`open` opens, when it is made and again where it is unpickled."""

    def __init__(self, path: str):
        self.path = path
        self.open()

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.open()

    def open(self) -> None:
        raise NotImplementedError


def sliced(batches, rows: int):
    """Record batches cut into views of at most ``rows`` rows: a batch (an IPC record batch, an ORC
    stripe) is decoded whole, but converted to NumPy a slice at a time, so its rows are never held twice."""
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)
