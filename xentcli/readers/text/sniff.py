"""What a text's head says: its delimiter, whether its first row is a header, pandas' index column, the
columns a selector picks, and the notes saying how a line of numbers was read."""

from __future__ import annotations

import re
from itertools import pairwise

import numpy as np

from ...errors import CallError, DataError
from ..selector import ID_NAME, LABEL_NAMES, class_selector, select_columns
from ..source import Matrix, shown_path
from .cells import BOOLEANS, foreign_number, is_value
from .common import MAX_LINE, Header, TextForm, decode, line_content, long_line, split_at, split_blanks

__all__ = ["text_head", "select_head", "index_column", "without_first", "text_matrix", "guessed_header"]


def _delimiter(content: str) -> str:
    """The delimiter of a file, from its first data line: tab, semicolon, comma, else whitespace (" ").

    A line mixing tabs and spaces between its fields is whitespace-separated, not a TSV
    (``0.25 \t-0.26\t 1.28``, ``0.7 0.2\t0.1``); a TSV header keeps names that hold spaces."""
    if "\t" in content:
        fields = content.split("\t")
        if any(f != f.strip(" ") for f in fields):
            return " "
        if any(len(split_blanks(f)) > 1 for f in fields):
            return " " if all(is_value(c) for c in split_blanks(content)) else "\t"
        return "\t"
    # ";" before ",": a ;-separated spreadsheet export writes "," as its decimal mark.
    return next((d for d in ("\t", ";", ",") if d in content), " ")


def _is_header(cells: list[str]) -> bool:
    """A first row whose every (non-empty) cell is not a value names the classes; a number spelled
    otherwise than in ASCII (``\xa01``, ``١``) is no name: its row is data, refused naming it."""
    return not any(is_value(c) or foreign_number(c) for c in cells if c)


# ASCII digits only: str.isdigit and \d accept other scripts' digits, which are no numbers here.
_INTEGER = re.compile(r"[+-]?[0-9]+")


#: An integer that can name a class: within int64.
_CLASS_VALUE = re.compile(r"[+-]?[0-9]{1,18}")


def _column_numbers(cells: list[str]) -> bool:
    """``0,1,…,C-1`` written as integers, C ≥ 2: pandas' and ``xent --header``'s names of unnamed columns."""
    return (len(cells) >= 2 and all(_CLASS_VALUE.fullmatch(c) for c in cells)
            and [int(c) for c in cells] == list(range(len(cells))))


def _integer_names(cells: list[str]) -> bool:
    """Integers that can name classes: one alone (pandas' Series name ``0``, or a class value), or
    several in increasing order (column numbers, scikit-learn's ``classes_``, which is
    ``False,True`` for boolean targets)."""
    if len(cells) == 2 and [c.lower() for c in cells] == ["false", "true"]:
        return True
    if not cells or not all(_CLASS_VALUE.fullmatch(c) for c in cells):
        return False
    return all(a < b for a, b in pairwise(map(int, cells)))  # no list: a wide row holds millions of cells


def _takes_header(first: list[str], second: list[str] | None, mode: str) -> bool:
    """Whether the first row is a header, given the row after it (None: there is none).

    Names always are (they cannot be data). Integers in increasing order (one alone — over numbers
    only ``0``, pandas' name of a Series —, column numbers, scikit-learn's ``classes_``), after at most one name
    (a named index: ``id,0,1,2``),
    are a header over a row with no cell written as an integer under them (pandas' ``to_csv`` and
    ``xent --header`` write every float with a point), never over integers: a hand-written
    ``1,2,3`` over ``4,5,6`` stays data. :func:`_integer_below` checks the rows after the second.
    """
    if mode == "yes" or _is_header(first):
        return True
    if mode == "no" or second is None:
        return False
    named = _named_first(first)
    if len(first) == 1 and first[0] != "0" and is_value(second[0]):
        # Over numbers only pandas' own name 0 is a header: np.savetxt(fmt='%g') writes a first value of
        # 3 as "3", and a header taken on that guess would drop a sample without a word.
        return False
    return (_integer_names(first[named:]) and len(second) == len(first)
            and not any(_INTEGER.fullmatch(c) or c.lower() in BOOLEANS for c in second[named:]))


def _named_first(cells: list[str]) -> int:
    """1 if a row starts with a name before other cells (pandas' named index column), else 0."""
    return int(len(cells) > 1 and bool(cells[0]) and not is_value(cells[0]))


def _integer_below(data: bytes, delimiter: str, first_column: bool) -> bool:
    """Whether a cell of the rows ``data`` is written as an integer or a boolean (``first_column``:
    the first cell of each row counts too). A regular expression over the bytes: a header of
    integers is weighed against every row read before deciding, without splitting them in Python."""
    if b"#" in data:
        data = re.sub(rb"#[^\n]*", b"", data)
    if delimiter != " " and first_column:
        # A number has at most one point: as many points as cells (pandas' floats) leaves no integer.
        cells = data.count(delimiter.encode()) + data.count(b"\n") + (not data.endswith(b"\n"))
        if data.count(b".") == cells:
            return False
    value = rb"(?:[+-]?[0-9]+|(?i:true|false))"
    if delimiter == " ":
        before = rb"(?:^|(?<=[ \t]))" if first_column else rb"(?<=[^ \t\r\n])[ \t]+"
        pattern = before + value + rb"(?=[ \t\r]|$)"
    else:
        d = re.escape(delimiter.encode())
        before = (rb"(?:^|" + d + rb")") if first_column else d
        pattern = before + rb'[ \t]*"?' + value + rb'"?[ \t]*(?=' + d + rb"|\r?$)"
    return re.search(pattern, data, re.MULTILINE) is not None


def text_head(data: bytes, header: str = "auto", where: str = "", *, whole: bool = True
               ) -> tuple[int, TextForm] | None:
    """``(offset of the first data row, form)`` of text ``data``.

    ``whole``: ``data`` is all of the text, so a text without a data row is refused here;
    else it is the start of a file, and None says that more of it is needed. A first row of
    integers is a header only if no row of ``data`` under it holds an integer where it names
    columns (:func:`_takes_header`, :func:`_integer_below`)."""
    pos, lineno, delimiter, rows = 0, 1, None, []  # rows: (offset, line, cells, text) of the first two rows
    broken = None  # the second row's malformed line
    while pos < len(data) and len(rows) < 2:
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end + 1
        if end - pos > MAX_LINE:
            raise long_line(where, lineno)
        s = line_content(raw := decode(data[pos:end], where, lineno))
        if s:
            if delimiter is None:
                delimiter = _delimiter(s)
                # "\t0": pandas' tab-separated header of an indexed Series; its rows tell (0\t1).
                lone_tabbed = delimiter == " " and raw.startswith("\t") and len(split_blanks(s)) == 1
            elif lone_tabbed and _delimiter(s) == "\t":
                delimiter = "\t"
                rows[0] = rows[0][:2] + (split_at(rows[0][3], delimiter, where, rows[0][1]), rows[0][3])
            try:
                rows.append((pos, lineno, split_at(raw, delimiter, where, lineno), raw))
            except DataError as e:
                if not rows:
                    raise
                broken = e  # said in line order, after the first row's own problems (unless that is a header)
                break
        pos, lineno = end, lineno + 1
    if not rows:
        if whole:
            raise DataError(f"{where}: no numbers found (empty input)")
        return None
    if not whole and len(rows) < 2 and broken is None:
        return None  # the second row decides a header as it does for the whole text: read on
    (first_pos, first_line, first, _), second = rows[0], (rows[1] if len(rows) > 1 else None)
    # R's write.table: a header of names, none for the row-names column, over rows one cell wider.
    row_names = second is not None and len(second[2]) == len(first) + 1 and all(first) and _is_header(first)
    if row_names:
        first = ["", *first]
    indexed = len(first) > 1 and first[0] == "" and (second is None or len(second[2]) == len(first))
    # In a ;-separated file "0,7" is a number with a decimal comma, not a name.
    seen = (lambda cells: [c.replace(",", ".") for c in cells]) if delimiter == ";" else (lambda cells: cells)
    cells = seen(first[indexed:])
    if indexed and second is not None and second[2][0] and header != "no":
        taken = True  # pandas' to_csv with its index, whatever the other cells hold (,0 over integers; ,False,True)
    else:
        taken = _takes_header(cells, second and seen(second[2][indexed:]), header) and (
            header == "yes" or _is_header(cells)
            or not _integer_below(data[second[0]:], delimiter, not (indexed or _named_first(cells))))
    if not taken:
        cells = first
        return first_pos, TextForm(delimiter, len(first), None, None, first_line,
                                    decimal_comma=_decimal_comma(delimiter, cells))
    if second is None:
        if broken is not None:
            raise broken
        if whole:
            raise DataError(f"{where}: no numbers found (only a header row)")
        return None
    names = Header(first, first_line, numbered=not _is_header(first[indexed:]), row_names=row_names)
    # pandas' index column: an empty header cell over row ids, which are no class.
    usecols = tuple(range(1, len(first))) if indexed else None
    return second[0], TextForm(delimiter, len(names), names, first_line, second[1], usecols,
                                _decimal_comma(delimiter, second[2]))


def _decimal_comma(delimiter: str, cells: list[str]) -> bool:
    """Whether a data row's numbers use ``,`` as the decimal mark (a ``;``-separated spreadsheet export)."""
    return delimiter == ";" and any("," in c for c in cells)


def _selected(form: TextForm, selector: str | None, where: str) -> TextForm:
    """``form`` with the columns ``selector`` picks (and their names); none: all but pandas' index."""
    if selector is None:
        if form.usecols is None or form.names is None:
            return form
        return form._replace(names=form.names.renamed([form.names[i] for i in form.usecols]))

    columns = list(form.usecols) if form.usecols is not None else list(range(form.width))
    names = [form.names[i] for i in columns] if form.names is not None else None
    chosen = select_columns(selector, names, len(columns), where)
    usecols = tuple(columns[i] for i in chosen.indices)
    header = None if form.names is None else form.names.renamed(chosen.names)
    if header is not None:
        header.columns = chosen.names.columns
    return form._replace(usecols=usecols, names=header)


def select_head(data: bytes, head: tuple[int, TextForm], header: str, selector: str | None, where: str,
            whole: bool = True) -> tuple[int, TextForm]:
    """``head`` (:func:`text_head` of ``data``) with the columns ``selector`` picks.

    A column named like an item wins over column numbers: where a first row of numbers was read
    as data and the selector fails by number but each of its items names a cell of that row
    (``y.csv:0`` on pandas' Series name ``0`` over integers), that row is the header."""
    pos, form = head
    try:
        return pos, _selected(form, selector, where)
    except CallError:
        if form.names is not None or header != "auto":
            raise
        try:
            named = text_head(data, "yes", where, whole=whole)
        except DataError:
            named = None
        if named is None or not all(item.strip() in named[1].names for item in selector.split(",")):
            raise
    pos, form = named
    form.names.selector = selector
    return pos, _selected(form, selector, where)


def index_column(values: np.ndarray, names: Header | None, where: str, notes: list[str]) -> bool:
    """Whether the first column of a table read without a selector is pandas' named index
    (``df.rename_axis("id").to_csv()`` writes it as a first column like any other): said in ``notes``.

    ``values``: the whole table, or the head of a streamed one. A first column named like an id
    (:data:`ID_NAME`) that holds integers is that index, in any order (a shuffled split's); so is a
    first column of row numbers (0…N-1 or 1…N) of any name beside columns that are not all integers.
    A column named like the labels (:data:`.selector.LABEL_NAMES`) among several is a wrong call naming the
    selectors to use; so is a first column of other integers beside non-integers (a shuffled index under
    another name looks like row ids, and Parquet refuses the same table as mixing integers and floats).
    """
    if names is None or values.dtype.kind != "f" or values.ndim != 2 or len(names) != values.shape[1]:
        return False
    # An empty first header cell: pandas' unnamed index, left out before.
    ids = values[:, 0] if values.shape[1] >= 2 and names.cells[0] != "" else None
    if ids is not None and np.all(ids == np.round(ids)) and ID_NAME.fullmatch(names[0]):
        notes.append(f"{where}: column '{names[0]}' is named like an id and holds integers (pandas' named index): "
                     "it is not a class and is left out")
        _refuse_label_column(names[1:], where)
        return True
    _refuse_label_column(names, where)
    if (ids is None or not np.all(np.isfinite(ids) & (ids == np.round(ids)))
            or np.all(values[:, 1:] == np.round(values[:, 1:]))):
        return False
    if np.array_equal(ids, np.arange(len(ids))) or np.array_equal(ids, np.arange(1, len(ids) + 1)):
        notes.append(f"{where}: column '{names[0]}' holds the row numbers {int(ids[0])}…{int(ids[-1])} "
                     "(pandas' named index): it is not a class and is left out")
        return True
    path = shown_path(where)
    raise CallError(f"{where}: the first column '{names[0]}' holds only integers while the others do not: it looks "
                    f"like row ids (pandas' named index), not a class: select the class columns, e.g. "
                    f"{path}:{class_selector(list(names[1:]), list(names))}")


def _refuse_label_column(names: list[str], where: str) -> None:
    """A column named like the labels among a table's columns is no class: a wrong call naming the selectors."""
    labels = [c for c in names if c.lower() in LABEL_NAMES]
    if not labels or len(names) < 2:
        return
    path, others = shown_path(where), [c for c in names if c not in labels]
    raise CallError(f"{where}: column '{labels[0]}' is named like the labels, not a class: select the columns, e.g. "
                    f"{path}:{labels[0]} for the labels and {path}:{class_selector(others, list(names))} "
                    "for the predictions")


def without_first(names: Header) -> Header:
    return names.renamed(names[1:])


def text_matrix(values, where: str, names: Header | None, lines, header: str = "auto") -> Matrix:
    """A text matrix, with a note where a line of numbers was taken as a header by ``auto``."""
    notes = []
    if names is not None and names.numbered and header == "auto":
        notes.append(_header_note(names, where))
    if names is not None and names.row_names:
        notes.append(f"{where}: the header on line {names.line} names one column fewer than the rows under it "
                     "(as R's write.table writes): the first column is row names, left out")
    return Matrix(values, where, names, lines, notes=notes, text=True)


def guessed_header(m: Matrix) -> str | None:
    """For the error of a failed run (which drops warnings): the clause saying that ``m``'s first line,
    numbers only, was read as a header by the automatic rules, and how to read it as data; ``None`` when
    no such guess was made (or pandas' index column or a selector made it certain)."""
    names = m.names
    if not isinstance(names, Header) or not names.numbered or _header_note(names, m.where) not in m.notes:
        return None
    if names.selector is not None or names.cells[0] == "" or _named_first(names.cells):
        return None
    shown, what = _header_reading(names)
    return (f"line {names.line} of {shown_path(m.where)} ({shown}) was read as {what}: "
            "--input-header no reads it as data")


def _header_reading(names: Header) -> tuple[str, str]:
    """A header line of numbers as shown in messages, and what it was read as."""
    cells = names.cells  # a wide vocabulary's header is thousands of numbers: its start says enough
    shown = ",".join(cells[:8])
    shown = (shown if len(shown) <= 80 else shown[:80] + "…") + (f",… {len(cells)} cells" if len(cells) > 8 else "")
    indexed, named = cells[0] == "", _named_first(cells)
    rest = cells[1:] if indexed or named else cells
    if _column_numbers(rest) or (indexed and rest == ["0"]):
        what = "a header of column numbers, as pandas and 'xent --header' write"
    elif len(rest) == 2 and [c.lower() for c in rest] == ["false", "true"]:
        what = "a header of boolean class names (scikit-learn's classes_ of True/False targets)"
    elif len(rest) == 1:
        what = ("a header naming the column" if indexed else "a header (a lone integer over values none of which "
                "is written as an integer: pandas' name of a Series)")
    else:
        what = "a header of integer class names (over values that are not integers, as scikit-learn's classes_)"
    return shown, what


def _header_note(names: Header, where: str) -> str:
    """What a line holding numbers was read as (a header), and how to read it as data."""
    cells = names.cells
    shown, what = _header_reading(names)
    indexed, named = cells[0] == "", _named_first(cells)
    if names.selector is not None:
        return (f"{where}: line {names.line} ({shown}) is read as a header: the selector ':{names.selector}' names "
                "its cells")
    said = f"{where}: line {names.line} ({shown}) is read as {what}"
    if indexed:
        return f"{said}, over pandas' index column (its empty first cell)"
    if named:
        return f"{said}, after the name '{cells[0]}' of pandas' named index"
    return f"{said}; --input-header no reads it as data"
