"""``.json`` files: a nested list of numbers, or an object whose ``FILE:KEY`` is one; read whole.

What is read:

* a nested list of numbers (``[[1, 2], [3, 4]]``, any depth; a bare number is a scalar);
  ``NaN``, ``Infinity`` and ``-Infinity`` as Python's ``json`` reads them, and the strings
  ``"inf"``, ``"-inf"`` and ``"nan"`` (what xent writes for non-finite numbers; any case,
  ``"infinity"`` too) as those floats;
* an object: ``FILE:KEY`` names the list (optional when the object holds exactly one list);
  ``FILE:a.b`` names the field ``b`` of the object ``a`` when there is no key ``"a.b"``; a
  key naming an object takes that object's only list. So xent's own ``--format json``
  output reads back: ``probs.json:probs``.

Integers (and booleans, as 0 and 1) stay int64 when every value is one (class labels);
any float makes the whole array float64. Ragged lists, ``null`` (pandas writes NaN and
±inf as ``null``), strings and objects among the numbers are bad data naming the row and
position; a key naming nothing, or several lists and no key, is a wrong call listing the keys.

JSON is not streamable cheaply: the file is parsed whole, then converted in one go by NumPy
(a slow per-value walk runs only to place an error or to read the strings above). Parsed
Python values take up to about 50 times the text, so a document larger than
:data:`MAX_DOCUMENT_BYTES` is refused before it is parsed (``.npy`` or JSON Lines, read in
bounded memory, hold more); a file of one JSON value a line is JSON Lines at any size.
Lists nested deeper than NumPy's 64 axes, or than Python's parser follows, are bad data.
"""

from __future__ import annotations

import json

import numpy as np

from ...errors import CallError, DataError
from ..selector import listed
from ..source import MAX_AXES, Matrix, numeric, shown_path
from . import lines
from .values import number, numbers, only_numbers

__all__ = ["read", "to_array", "MAX_DOCUMENT_BYTES"]

#: The largest JSON document parsed whole: the worst failing one (lists nested deep, two bytes a
#: list) peaks under 512 MB here, and above 530 MB at 10 MB.
MAX_DOCUMENT_BYTES = 9 << 20


def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """The list of numbers the file holds (or its ``selector`` field) as an array, read whole.

    A list of objects is records, as pandas' ``to_json(orient="records")`` writes them: the
    selector picks their fields as columns (see :mod:`.lines`); so are the tables of pandas'
    other layouts (:func:`_pandas_table`), so ``d.json:p_*`` picks columns as for csv. Without a
    selector a table is read whole, in column order, when its columns are all of one kind (all
    floats, all integers/booleans, or one column: a DataFrame's default ``to_json()`` of
    probabilities in unnamed columns ``0``, ``1``, ``2`` is the matrix); a table mixing kinds is
    a wrong call naming the selector of each part (:mod:`.lines`). A file of one JSON value a
    line (``lines=True``) is read as JSON Lines.
    """
    try:
        data = _load(path, where)
    except _SeveralValues:
        return lines.read(path, where, selector)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return lines.read_records(((record, i) for i, record in enumerate(data, 1)), where, selector)
    records = _pandas_table(data, selector, where)
    if records is not None:
        return lines.read_records(((record, i) for i, record in enumerate(records, 1)), where, selector)
    value, name = _pick(data, selector, path, where)
    values = to_array(value, name)
    if values.size == 0:
        raise DataError(f"{name}: the list is empty (shape {values.shape})")
    return Matrix(numeric(values, name), where)


def _pandas_table(data, selector: str | None, where: str) -> "list[dict] | None":
    """The rows of a table as pandas' ``to_json`` writes it, as records; ``None`` for other JSON.

    ``orient="split"``: ``{"columns": [...], "index": [...], "data": [[...]]}``. An object of
    objects of plain values does not say which level holds the rows, so only its inner keys decide:
    integer-like inner keys (row ids, as pandas writes its index) under names or under integer-like
    keys are pandas' default ``orient="columns"``, ``{"a": {"7": value, …}, …}``, the columns
    outside; names inside (under integer-like keys or under names) could be either layout
    (``orient="index"`` writes ``{"7": {"a": value, …}, …}``, but a default ``to_json()`` of a
    table indexed by names over unnamed columns looks the same) and are a wrong call suggesting
    ``orient="split"`` or ``"records"``, which carry their layout. An object of plain values under
    integer-like keys is a Series' default, ``{"7": value, "3": value, …}``, one value a row. Rows
    come in the file's order (pandas writes them in index order). A dotted selector whose first part
    is a key (``FILE:a.b``) walks objects instead.
    """
    if not isinstance(data, dict) or not data:
        return None
    if selector is not None and "." in selector and selector not in data and selector.split(".")[0] in data:
        return None
    if set(data) in ({"columns", "index", "data"}, {"columns", "data"}):
        columns, rows = data["columns"], data["data"]
        if (isinstance(columns, list) and isinstance(rows, list) and rows
                and all(isinstance(r, list) and len(r) == len(columns) for r in rows)):
            names = [str(c) for c in columns]
            return [dict(zip(names, r)) for r in rows]
        return None
    values = list(data.values())
    outer_ids = all(_integer_like(k) for k in data)
    if outer_ids and not any(isinstance(v, (list, dict)) for v in values):
        return values  # a Series: one value a row
    if not all(isinstance(c, dict) and c and not any(isinstance(v, (list, dict)) for v in c.values())
               for c in values):
        return None
    if not all(_integer_like(k) for c in values for k in c):
        raise CallError(f"{where}: an object of objects with names inside: the file could be either layout, "
                        "the rows outside (pandas' orient=\"index\") or the columns outside (orient=\"columns\", "
                        "a table indexed by names); write the table with to_json(orient=\"split\") or "
                        "to_json(orient=\"records\"), which carry their layout")
    # orient="columns". A row id one column lacks reads as null: bad data naming the field and the row.
    return [{name: column.get(i) for name, column in data.items()} for i in values[0]]


def _integer_like(key: str) -> bool:
    """Whether an object key is a row id as pandas writes an integer index: ASCII digits, maybe a minus."""
    return key.removeprefix("-").isascii() and key.removeprefix("-").isdigit()


class _SeveralValues(Exception):
    """The file holds one JSON value a line, not one JSON value."""


def _load(path: str, where: str):
    with open(path, "rb") as f:
        raw = f.read(MAX_DOCUMENT_BYTES + 1)
        if len(raw) > MAX_DOCUMENT_BYTES:
            if _one_value_a_line(raw):
                raise _SeveralValues()
            raise DataError(f"{where}: a JSON document larger than {MAX_DOCUMENT_BYTES >> 20} MB, the most xent "
                            "parses whole; save the array as .npy (np.save) or as JSON Lines (one row a line), "
                            "both read in bounded memory")
    if not raw.strip():
        raise DataError(f"{where}: the file is empty")
    try:
        return json.loads(raw)  # UTF-8, -16 or -32, detected as the JSON spec says
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: not JSON text: not UTF-8 ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        if e.msg == "Extra data" and e.lineno > 1 and e.colno == 1:
            raise _SeveralValues() from e  # one value a line: JSON Lines under a .json name
        raise DataError(f"{where}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except RecursionError as e:
        raise DataError(f"{where}: not readable JSON: nested too deeply") from e


def _one_value_a_line(raw: bytes) -> bool:
    """Whether the text's first line is a whole JSON value with more after it (JSON Lines)."""
    first, newline, rest = raw.partition(b"\n")
    if not newline or not rest.strip():
        return False
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return False
    return True


# --- picking the list ---------------------------------------------------------------------------

#: The keys of xent's own JSON output that hold its numbers (the other lists are metadata such as "shape").
XENT_PAYLOADS = ("probs", "log_probs", "grad", "per_sample")


def _pick(data, selector: str | None, path: str, where: str):
    """The value ``selector`` names (or the only list) and how to name it in messages."""
    if not isinstance(data, dict):
        if selector is not None:
            raise CallError(f"{where}: nothing named '{selector}' to select; the file holds "
                            f"{_describe(data)}, not an object with keys")
        return data, where
    if selector is None:
        own = [k for k in XENT_PAYLOADS if isinstance(data.get(k), list)] if "command" in data else []
        if len(own) == 1:  # xent's own JSON output: its one matrix or per-sample list, not its "shape"
            return data[own[0]], f"{where}:{own[0]}"
        return _only_list(data, path, where, "the object", ""), where
    value, name = data, None
    if selector in data:
        value, name = data[selector], selector
    else:
        for part in selector.split("."):
            if not isinstance(value, dict):
                raise CallError(f"{where}: no key '{selector}': '{name}' is {_describe(value)}, not an object")
            if part not in value:
                inside = "in the object" if name is None else f"'{selector}': '{name}' has no key '{part}'"
                raise CallError(f"{where}: no key {inside if name else repr(selector) + ' ' + inside}; "
                                f"it holds {_listed(value)}")
            value, name = value[part], part if name is None else f"{name}.{part}"
    if isinstance(value, dict):
        return _only_list(value, path, where, f"'{selector}'", f"{selector}."), f"{where}:{selector}"
    return value, f"{where}:{selector}"


def _only_list(obj: dict, path: str, where: str, what: str, prefix: str):
    """The one list among ``obj``'s values; several are a wrong call, none is bad data."""
    lists = [k for k, v in obj.items() if isinstance(v, list)]
    if len(lists) == 1:
        return obj[lists[0]]
    if not lists:
        raise DataError(f"{where}: {what} holds no list of numbers"
                        + (f"; it holds {_listed(obj)}" if obj else " (it is empty)"))
    raise CallError(f"{where}: {what} holds {len(lists)} lists ({_listed({k: obj[k] for k in lists})}); "
                    f"name one as {shown_path(where)}:{prefix}KEY")


def _listed(obj: dict) -> str:
    if not obj:
        return "no keys"
    return listed((f"{k} ({_describe(v)})" for k, v in obj.items()), len(obj))


def _describe(value) -> str:
    if isinstance(value, list):
        dims = []
        while isinstance(value, list):
            dims.append(len(value))
            if not value:
                break
            value = value[0]
        return "an empty list" if dims == [0] else f"a list {'×'.join(map(str, dims))}"
    if isinstance(value, dict):
        return f"an object of {len(value)} key{'s' if len(value) != 1 else ''}"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "null"


# --- converting ---------------------------------------------------------------------------------

def to_array(value, where: str) -> np.ndarray:
    """A nested list of numbers (or one number) as an int64 / float64 array; bad data says where."""
    if isinstance(value, list) and only_numbers(value):
        try:
            a = np.array(value)
        except (ValueError, TypeError, OverflowError):
            a = None  # ragged (or worse): the walk below says where
        if a is not None and not a.dtype.hasobject and a.dtype.kind in "biuf":
            return _typed(a)
    return _walk(value, where)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun if n != 1 else noun[:-1]}"


def _typed(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "b":
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        return a.astype(np.float64, copy=False)
    return a


def _walk(value, where: str) -> np.ndarray:
    """The slow path: every value checked in order, so the first bad one is the one named."""
    shape = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    if len(shape) > MAX_AXES:
        raise DataError(f"{where}: the lists nest {len(shape)} deep; xent reads arrays of at most {MAX_AXES} axes")
    flat: list = []
    floats = False
    ndim = len(shape)

    def place(index: tuple[int, ...]) -> str:
        """``row R, position P`` (1-based; rows counted after flattening leading axes, as the core
        counts them), plus the JSON index ``[i][j][k]`` (0-based) when there are more than two axes."""
        if not index:
            return "the value"
        at = "".join(f"[{i}]" for i in index)
        if len(index) < ndim - 1:  # a list of rows, deeper than a matrix
            return at
        row = 0
        for i, n in zip(index[:ndim - 1], shape[:ndim - 1]):
            row = row * n + i
        text = f"row {row + 1}" if ndim > 1 else ""
        if len(index) == ndim:
            text += (", " if text else "") + f"position {index[-1] + 1}"
        return text + (f" (at {at})" if ndim > 2 else "")

    def rows_at(index: tuple[int, ...]) -> str:
        """What the list at ``index`` holds: values (a row) or lists."""
        return "values" if len(index) == ndim - 1 else "lists"

    def visit(item, index: tuple[int, ...]) -> None:
        nonlocal floats
        depth = len(index)
        if depth < ndim:
            if not isinstance(item, list):
                raise DataError(f"{where}: {place(index)}: {_describe(item)} where a list of "
                                f"{_count(shape[depth], rows_at(index))} was expected")
            if len(item) != shape[depth]:
                first = place((0,) * depth)
                raise DataError(f"{where}: {place(index)} has {_count(len(item), rows_at(index))}, but {first} "
                                f"has {shape[depth]} (the lists are ragged)")
            for i, x in enumerate(item):
                visit(x, index + (i,))
            return
        got = number(item)
        if got is not None:
            flat.append(got[0])
            floats = floats or got[1]
        else:
            if item is None:
                what = "null is not a number (pandas writes NaN and ±inf as null: save as .npy to keep them)"
            elif isinstance(item, str):
                what = f"{json.dumps(item)[:40]} is not a number"
            elif isinstance(item, list):
                what = "a list where a number was expected (the lists nest deeper here than in the first row)"
            else:
                what = f"{_describe(item)} is not a number"
            raise DataError(f"{where}: {place(index)}: {what}")

    try:
        visit(value, ())
    except RecursionError as e:
        raise DataError(f"{where}: the lists nest too deeply") from e
    return numbers(flat, floats, shape, f"{where}: an integer too large for float64")

