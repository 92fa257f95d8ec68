"""``.jsonl`` (JSON Lines) files: one JSON record a line, read line by line.

Every non-blank line is one record (lines of only whitespace are skipped), and every record
of a file is of the kind of the first:

* a number → the file is an ``(N,)`` vector (class labels, targets);
* a list of numbers → one row, ``(N, C)``; every list holds C values;
* an object → ``FILE:SELECTOR`` picks its fields with the column selector of every table-like
  format (:mod:`.selector`: names, ``*`` globs whose matched part names the class, 1-based
  numbers); the fields of the first record, in their order, are the columns, and every
  record must hold every selected field. What the selected fields give:

  - one field holding a list of numbers (``{"logits": [...], "label": 2}`` with ``:logits``):
    the rows, ``(N, C)``; a list field is selected alone;
  - fields holding numbers: one column each, ``(N, k)``, named by the field (or by the part a
    glob matched: ``:p_*`` on ``p_setosa`` → ``setosa``); one such field is a number per
    record, read as a file of numbers reads: an ``(N,)`` vector (``:label``);
  - one field holding strings: class-name labels, returned as an ``(N,)`` array of ``str``
    (mapped to class indices later); a string field is selected alone.

  Without a selector the records are read whole only when their fields are all of one kind:
  one field of any kind, or several fields all holding floats, or all integers/booleans (the
  first record decides what a field holds, the whole file whether a field of numbers holds a
  float; a first field named like an id, :data:`.selector.ID_NAME`, holding an integer is pandas'
  index, as ``df.reset_index().to_json(orient="records")`` writes it: left out, said once on
  stderr). A record that mixes kinds (a ``label`` string and ``p_*`` numbers, a ``logits`` list
  and a ``label`` number, integers among floats) or holds a number field named like a label,
  target or id among others is a wrong call naming the selector of each part
  (:func:`.selector.whole_table`): such a file is read twice, as ``--logits FILE:logits`` and
  ``--labels FILE:label``. A selector on records that are numbers or lists is a wrong call:
  there is nothing to select.

Values: integers stay int64 when every value is one (booleans are 0 and 1); any float makes
the whole array float64 (an integer beyond int64 too). ``NaN``, ``Infinity`` and
``-Infinity`` as Python's ``json`` reads them, and the strings ``"inf"``, ``"-inf"``,
``"nan"`` where a number is expected (what xent writes for non-finite numbers; any case,
``"infinity"`` too), are floats. A list inside a record's list (2-D records), ``null``
(pandas writes NaN and ±inf as ``null``), strings and objects among the numbers, ragged
lists, a record of another kind, a missing field and a line that is not JSON are bad data
naming the 1-based physical line. :attr:`Matrix.lines` holds the physical line of every
record, so later errors (a class index out of range at row 5) name the line too.

The file is read a line at a time and converted to NumPy by chunks of about
:data:`CHUNK_VALUES` values, so neither the text nor Python's parsed values are held whole
(the resulting array is in memory, as for ``.json``). A line longer than
:data:`MAX_LINE_BYTES` is bad data, read no further than that bound.
"""

from __future__ import annotations

import json
from array import array

import numpy as np

from ...errors import CallError, DataError
from ..selector import FLOAT, ID_NAME, INT, LIST_FLOAT, LIST_INT, OTHER, STRING, select_columns, whole_table
from ..source import Matrix
from .values import number, numbers, only_numbers

__all__ = ["read", "read_records", "CHUNK_VALUES", "MAX_LINE_BYTES"]

#: Parsed values held as Python objects before a chunk is converted to NumPy.
CHUNK_VALUES = 1 << 18
#: The longest line parsed as one record: within a whole ``.json`` document's bound, as the rows
#: read before it are held too.
MAX_LINE_BYTES = 8 << 20
_BOM = "\ufeff"

_NUMBER, _LIST, _STRING = "number", "list", "string"


def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """The records of a JSON Lines file (or the fields ``selector`` picks) as a :class:`Matrix`."""
    with open(path, "rb") as f:
        lines = ((record, lineno) for lineno, raw in enumerate(_lines(f, where), 1)
                 if (record := _parse(raw, lineno, where)) is not _BLANK)
        return read_records(lines, where, selector)


def _lines(f, where: str):
    """The file's lines, each read only up to :data:`MAX_LINE_BYTES` (a longer one is bad data)."""
    lineno = 0
    while raw := f.readline(MAX_LINE_BYTES + 1):
        lineno += 1
        if len(raw) > MAX_LINE_BYTES:
            raise DataError(f"{where}: line {lineno}: longer than {MAX_LINE_BYTES >> 20} MB, the most xent parses as "
                            "one record; split it into rows, one a line, or save the array as .npy")
        yield raw


def read_records(records, where: str, selector: str | None = None) -> Matrix:
    """``(record, line)`` pairs read as the lines of a JSON Lines file are (also a JSON list of
    records, as pandas' ``to_json(orient="records")`` writes it)."""
    sink = None
    for record, lineno in records:
        if sink is None:
            sink = _sink(record, lineno, selector, where)
        sink.add(record, lineno)
    if sink is None:
        raise DataError(f"{where}: the file is empty (no JSON records)")
    return sink.matrix()


_BLANK = object()


def _parse(raw: bytes, lineno: int, where: str):
    """One line's record, or ``_BLANK`` for a line of only whitespace."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: line {lineno}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    if lineno == 1 and text.startswith(_BOM):
        text = text[1:]
    if not text.strip():
        return _BLANK
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: line {lineno}: not JSON: {e.msg} (column {e.colno})") from e
    except RecursionError as e:
        raise DataError(f"{where}: line {lineno}: not readable JSON: nested too deeply") from e


# --- what the records are -----------------------------------------------------------------------

def _is_number(value) -> bool:
    return number(value) is not None


def _describe(value) -> str:
    if isinstance(value, list):
        return "an empty list" if not value else f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"an object of {len(value)} field{'s' if len(value) != 1 else ''}"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "null"


def _record_kind(record) -> str:
    if isinstance(record, dict):
        return "objects"
    if isinstance(record, list):
        return "lists"
    return "numbers"


def _sink(record, lineno: int, selector: str | None, where: str) -> "_Sink":
    """How every record is read, decided by the first (on line ``lineno``)."""
    if isinstance(record, dict):
        return _object_sink(record, lineno, selector, where)
    if selector is not None:
        kind = _record_kind(record)
        raise CallError(f"{where}: the records are {kind}; nothing to select (a ':{selector}' selector picks "
                        f"fields of records that are objects)")
    if isinstance(record, list):
        if not record:
            raise DataError(f"{where}: line {lineno}: an empty list (no classes)")
        rows = _Rows(where, len(record), lambda j: f"position {j + 1}: ", lists=True)
        return _Sink(where, rows, _whole_record("lists"))
    if not _is_number(record):
        raise DataError(f"{where}: line {lineno}: {_not_number(record)}; a record is a number, a list of "
                        "numbers or an object")
    return _Sink(where, _Rows(where, None, lambda j: ""), _whole_record("numbers"))


def _whole_record(kind: str):
    def pick(record, lineno: int, first: int, where: str):
        if _record_kind(record) != kind:
            raise DataError(f"{where}: line {lineno}: {_describe(record)}, but the records are {kind} "
                            f"(line {first} holds one): every line holds one kind of record")
        return record
    return pick


def _object_sink(record: dict, lineno: int, selector: str | None, where: str) -> "_Sink":
    fields = list(record)
    if not fields:
        raise DataError(f"{where}: line {lineno}: an empty object (no fields to read)")
    notes: list[str] = []
    if selector is None:
        index = len(fields) >= 2 and bool(ID_NAME.fullmatch(fields[0])) and type(record[fields[0]]) is int
        if index:
            notes.append(f"{where}: field '{fields[0]}' is named like an id and holds integers (pandas' index, as "
                         "reset_index() writes it): it is not a class and is left out")
        data = fields[index:]
        kinds = [_field_kind(record[name]) for name in data]
        if set(kinds) <= {FLOAT, INT}:  # which of them hold a float is known once every record is read
            kinds = [FLOAT] * len(data)
        chosen = [index + i for i in whole_table(where, data, kinds, data)]
        names = [fields[i] for i in chosen]
    else:
        chosen, names = select_columns(selector, fields, len(fields), f"{where} line {lineno}")
    picked = [fields[i] for i in chosen]
    kinds = []
    for name in picked:
        value = record[name]
        if isinstance(value, list):
            kinds.append(_LIST)
        elif _is_number(value):
            kinds.append(_NUMBER)
        elif isinstance(value, str):
            kinds.append(_STRING)
        elif value is None:
            raise DataError(f"{where}: line {lineno}: field '{name}' is null, not a number (pandas writes NaN "
                            "and ±inf as null: save as .npy to keep them)")
        else:
            raise DataError(f"{where}: line {lineno}: field '{name}' holds {_describe(value)}; xent reads fields "
                            "holding numbers, lists of numbers, or strings (class names)")
    for kind, what in ((_LIST, "a list field holds a whole row of classes"),
                       (_STRING, "a string field holds class names")):
        if kind in kinds and len(picked) > 1:
            listed = ", ".join(f"'{n}'" for n, k in zip(picked, kinds) if k == kind)
            raise CallError(f"{where}: {what} and is selected alone; the selector chose {len(picked)} fields "
                            f"with {listed} ({', '.join(picked)})")
    if kinds[0] == _LIST:
        name = picked[0]
        if not record[name]:
            raise DataError(f"{where}: line {lineno}: field '{name}' holds an empty list (no classes)")
        rows = _Rows(where, len(record[name]), lambda j: f"field '{name}' position {j + 1}: ",
                     lists=True, field=name)
        return _Sink(where, rows, _fields_of(picked, fields, _LIST), notes=notes)
    if kinds[0] == _STRING:
        return _Sink(where, _Strings(where, picked[0]), _fields_of(picked, fields, _STRING), notes=notes)
    if len(picked) == 1:  # a number per record, as a file of numbers reads: (N,)
        return _Sink(where, _Rows(where, None, lambda j: f"field '{picked[0]}': "), _fields_of(picked, fields, _NUMBER),
                     notes=notes)
    rows = _Rows(where, len(picked), lambda j: f"field '{picked[j]}': ")
    seen = _FloatFields(picked, where) if selector is None else None
    return _Sink(where, rows, _fields_of(picked, fields, _NUMBER), names=names, seen=seen, notes=notes)


def _field_kind(value) -> str:
    """What a field of the first record holds, for :func:`.selector.whole_table`."""
    if isinstance(value, list):
        return LIST_FLOAT if any(type(v) is float for v in value) else LIST_INT
    if _is_number(value):
        return FLOAT if type(value) is float or type(value) is str else INT
    return STRING if isinstance(value, str) else OTHER


class _FloatFields:
    """Which fields of numbers read without a selector held a float (or ``"nan"``, ``"inf"``) in some
    record: a field of integers among fields of floats mixes kinds, known once every record is read."""

    def __init__(self, fields: list[str], where: str):
        self.fields, self.where = fields, where
        self.integral = set(range(len(fields)))

    def see(self, values: tuple) -> None:
        if self.integral:
            self.integral -= {j for j in self.integral if type(values[j]) is float or type(values[j]) is str}

    def check(self) -> None:
        kinds = [INT if j in self.integral else FLOAT for j in range(len(self.fields))]
        whole_table(self.where, self.fields, kinds, self.fields)


def _fields_of(picked: list[str], fields: list[str], kind: str):
    """The selected values of an object record: one value (a list or a string) or a tuple of numbers."""
    one = picked[0]

    def pick(record, lineno: int, first: int, where: str):
        if not isinstance(record, dict):
            raise DataError(f"{where}: line {lineno}: {_describe(record)}, but the records are objects "
                            f"(line {first} holds one): every line holds one kind of record")
        try:
            if kind == _NUMBER and len(picked) > 1:
                return tuple(record[name] for name in picked)
            return record[one]
        except KeyError:
            missing = next(name for name in picked if name not in record)
            raise DataError(f"{where}: line {lineno}: no field '{missing}' (line {first} has it; every record "
                            f"needs the selected fields; this one holds {', '.join(record) or 'none'})") from None
    return pick


# --- collecting and converting --------------------------------------------------------------------

class _Sink:
    """The records of a file, picked and collected: ``add(record, line)``, then ``matrix()``."""

    def __init__(self, where: str, rows, pick, names: list[str] | None = None, seen: _FloatFields | None = None,
                 notes: list[str] | None = None):
        self.where, self.rows, self.pick, self.names, self.seen = where, rows, pick, names, seen
        self.notes = notes or []
        self.lines = array("q")
        self.first: int | None = None

    def add(self, record, lineno: int) -> None:
        if self.first is None:
            self.first = lineno
        value = self.pick(record, lineno, self.first, self.where)
        if self.seen is not None:
            self.seen.see(value)
        self.rows.add(value, lineno, self.first)
        self.lines.append(lineno)

    def matrix(self) -> Matrix:
        values = self.rows.result()
        if self.seen is not None:
            self.seen.check()
        return Matrix(values, self.where, self.names, self.lines, notes=self.notes)


class _Rows:
    """Numbers, or rows of ``width`` numbers, converted to NumPy a chunk at a time.

    ``label(j)`` names the ``j``-th value of a row in messages (``"position 3: "``).
    ``lists``: the rows are JSON lists (checked: one of ``width`` values each), not tuples of fields;
    ``field``: they are the lists of this field.
    """

    def __init__(self, where: str, width: int | None, label, *, lists: bool = False, field: str | None = None):
        self.where, self.width, self.label, self.lists, self.field = where, width, label, lists, field
        self.pending: list = []
        self.pending_lines: list[int] = []
        self.chunks: list[np.ndarray] = []
        self.flush_at = max(1, CHUNK_VALUES // (width or 1))

    def add(self, value, lineno: int, first: int) -> None:
        if self.lists:
            if not isinstance(value, list):  # a list field (list records are lists already)
                raise DataError(f"{self.where}: line {lineno}: field '{self.field}' holds {_describe(value)}, but "
                                f"on line {first} a list of {self.width} numbers")
            if len(value) != self.width:
                what = f"field '{self.field}' holds" if self.field else "a list of"
                raise DataError(f"{self.where}: line {lineno}: {what} {len(value)} values, but line {first} holds "
                                f"{self.width}: every record needs one value per class")
        self.pending.append(value)
        self.pending_lines.append(lineno)
        if len(self.pending) >= self.flush_at:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.chunks.append(self._convert(self.pending, self.pending_lines))
            self.pending, self.pending_lines = [], []

    def result(self) -> np.ndarray:
        self._flush()
        chunks, self.chunks = self.chunks, []
        if len(chunks) == 1:
            return chunks[0]
        return np.concatenate(chunks)  # int64 and float64 chunks: float64

    def _convert(self, rows: list, lines: list[int]) -> np.ndarray:
        """``rows`` as int64 (every value an integer) or float64; the slow walk says where a bad value is."""
        shape = (len(rows),) if self.width is None else (len(rows), self.width)
        try:
            a = np.array(rows) if only_numbers(rows) else None
        except (ValueError, TypeError, OverflowError):
            a = None  # nested or worse: the walk below says where
        if a is not None and a.shape == shape and not a.dtype.hasobject:
            if a.dtype.kind in "bi":
                return a.astype(np.int64, copy=False)
            if a.dtype.kind == "f":
                return a.astype(np.float64, copy=False)
            # "u" (an integer beyond int64) and strings ("inf", or not numbers): the walk decides
        return self._walk(rows, lines, shape)

    def _walk(self, rows: list, lines: list[int], shape: tuple[int, ...]) -> np.ndarray:
        flat: list = []
        floats = False
        for i, row in enumerate(rows):
            for j, v in enumerate((row,) if self.width is None else row):
                got = number(v)
                if got is None:
                    raise DataError(f"{self.where}: line {lines[i]}: {self.label(j)}{_not_number(v)}")
                flat.append(got[0])
                floats = floats or got[1]
        return numbers(flat, floats, shape, f"{self.where}: line {lines[0]} or after: an integer too large for float64")


class _Strings:
    """The values of a string field (class names), as an ``(N,)`` array of ``str``."""

    def __init__(self, where: str, field: str):
        self.where, self.field = where, field
        self.values: list[str] = []

    def add(self, value, lineno: int, first: int) -> None:
        if type(value) is not str:
            raise DataError(f"{self.where}: line {lineno}: field '{self.field}' holds {_describe(value)}, but on "
                            f"line {first} a string (a class name): every record needs a class name")
        self.values.append(value)

    def result(self) -> np.ndarray:
        return np.array(self.values, dtype=str)


def _not_number(v) -> str:
    if v is None:
        return "null is not a number (pandas writes NaN and ±inf as null: save as .npy to keep them)"
    if isinstance(v, str):
        return f"{json.dumps(v)[:40]} is not a number"
    if isinstance(v, list):
        return ("a list where a number was expected (a record's list must be 1-D: one row of classes; "
                "2-D records are not read)")
    return f"{_describe(v)} where a number was expected"
