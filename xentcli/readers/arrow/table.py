"""A table's selected columns as a :class:`~xentcli.readers.source.Matrix`, whatever file holds it: the
columns read without a selector, class-name columns, and the kinds of column read (the rules are the
package's docstring)."""

from __future__ import annotations

import numpy as np

from ...errors import CallError, DataError
from ..selector import (
    FLOAT,
    ID_NAME,
    INT,
    LIST_FLOAT,
    LIST_INT,
    LISTS_FLOAT,
    LISTS_INT,
    OTHER,
    STRING,
    describe_columns,
    select_columns,
    whole_table,
)
from ..source import Matrix, first_line, shown_path
from .common import (
    LIST_COLUMN,
    LISTS_COLUMN,
    NESTED_COLUMN,
    NUMBER_COLUMN,
    OTHER_COLUMN,
    STRING_COLUMN,
    column_kind,
    damaged,
    storage,
    storage_type,
)
from .rows import BATCH_VALUES, ArrowRows, ArrowSequences

__all__ = ["read_table", "MAX_CLASS_NAME_BYTES", "MAX_CLASS_NAMES"]



#: The most a class-name column may take as NumPy's fixed-width strings (4 bytes a character of the
#: longest name, every row), and the most distinct names it may hold.
MAX_CLASS_NAME_BYTES = 96 << 20
MAX_CLASS_NAMES = 1 << 20


def read_table(open_source, where: str, selector: str | None, format_name: str) -> Matrix:
    """The selected columns of the table ``open_source()`` opens as a :class:`Matrix` of a lazy
    :class:`.rows.ArrowRows`; a damaged file is bad data naming ``format_name``.

    The table source has ``schema``, ``count(positions)`` and ``batches_from(row, positions,
    batch_rows)`` (``(first row, record batches)``), and is pickled by its path (:class:`.common.ByPath`).
    """
    try:
        source = open_source()
        schema = source.schema
        hidden = _pandas_hidden(schema)
        positions = [i for i, f in enumerate(schema) if f.name not in hidden]
        columns = [schema.field(i).name for i in positions]
        kinds = [column_kind(schema.field(i).type) for i in positions]
        notes: list[str] = []
        if selector is None:
            chosen = _default(columns, [schema.field(i).type for i in positions], _pandas_index_names(schema), where,
                              notes)
            names = [columns[i] for i in chosen]
        else:
            chosen, names = select_columns(selector, columns, len(columns), where)
        fields = [schema.field(positions[i]) for i in chosen]
        if len(chosen) == 1 and kinds[chosen[0]] == STRING_COLUMN:
            return Matrix(_class_names(source, positions[chosen[0]], fields[0].name, where), where)
        for f, k in zip(fields, (kinds[i] for i in chosen)):
            _check_kind(f, k, where)
        depth = {LIST_COLUMN: 1, LISTS_COLUMN: 2}.get(kinds[chosen[0]], 0)
        if depth and len(chosen) > 1:
            listed = ", ".join(f"'{f.name}'" for f in fields if column_kind(f.type) in (LIST_COLUMN, LISTS_COLUMN))
            raise CallError(f"{where}: a list column holds a whole row of classes and is selected alone; "
                            f"the selector chose {len(chosen)} columns with the list column {listed}")
        rows = ArrowRows(source, [positions[i] for i in chosen], fields, where, depth)
    except damaged() as e:
        raise DataError(f"{where}: cannot read the file as {format_name}: {first_line(e)}") from e
    return Matrix(ArrowSequences(rows) if depth == 2 else rows, where, None if depth else names, notes=notes)


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
        column = storage(batch.column(0))
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
    if kind == STRING_COLUMN:
        raise DataError(f"{where}: column '{field.name}' holds strings ({field.type}), class names: select it "
                        "alone, as labels")
    if kind == NESTED_COLUMN:
        raise DataError(f"{where}: column '{field.name}' is a {field.type}: xent reads a list column of numbers "
                        "(one row of classes per cell), not lists of other values")
    if kind == OTHER_COLUMN:
        raise DataError(f"{where}: column '{field.name}' is not numeric ({field.type}); xent reads integer, "
                        "float and bool columns, or one list column of numbers")


def _default(columns: list[str], types: list, index_names: set[str], where: str, notes: list[str]) -> list[int]:
    """The columns read without a selector (the rule is the module's docstring); a first column left
    out as pandas' index is said in ``notes``."""
    import pyarrow as pa

    data = [i for i, c in enumerate(columns) if c not in index_names]
    if len(data) >= 2 and ID_NAME.fullmatch(columns[data[0]]) and pa.types.is_integer(storage_type(types[data[0]])):
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

    t = storage_type(t)
    kind, floating = column_kind(t), pa.types.is_floating
    if kind == NUMBER_COLUMN:
        return FLOAT if floating(t) else INT
    if kind == LIST_COLUMN:
        return LIST_FLOAT if floating(t.value_type) else LIST_INT
    if kind == LISTS_COLUMN:
        return LISTS_FLOAT if floating(t.value_type.value_type) else LISTS_INT
    return STRING if kind == STRING_COLUMN else OTHER


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
