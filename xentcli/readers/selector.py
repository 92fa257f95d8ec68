"""The column selector of table-like files (``FILE:SELECTOR``), shared by every format with columns.

A selector is a comma-separated list of items; each item is

* a column name, exactly as the file spells it (``preds.parquet:logit_a,logit_b``);
* a name with ``*`` globs (``preds.csv:p_*``); ``*`` matches any run of characters,
  nothing else is special (``?`` and ``[…]`` are plain characters, as column names hold them);
* a 1-based column number or an inclusive range of them (``z.csv:2``, ``z.csv:2-4``,
  ``z.csv:1,3``). Numbers select the columns of a file without a header, and of a file
  with one too, unless a column is named like the item (an exact name always wins: a
  column named ``2`` is selected by ``:2`` whatever its position).

The selected columns are kept in the file's column order, whatever the order of the items
(``:c,a`` reads ``a`` then ``c``); a column selected twice is read once. Every item must select
at least one column: an item naming nothing that exists (a typo, a number past the last
column) is a wrong call (:class:`~xentcli.errors.CallError`, exit 2) whose message lists
what the file holds.

Class names: a column selected through a glob with a single ``*`` is named by the part the
``*`` matched (``p_*`` on ``p_setosa`` → ``setosa``; an empty match keeps the whole name);
every other selected column is named by its column name; a file without a header gives no
names. If the glob-matched parts are not distinct, the column names are used instead.

Without a selector, a table is read whole only when its columns are of one kind
(:func:`whole_table`); a table that mixes kinds is a wrong call naming a selector for each
part (:func:`glob_of`: ``p_*``, ``False,True`` or ``2-50258``), so a label column never joins
the probabilities.

Pure Python: no format's package is imported here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from itertools import islice
from typing import NamedTuple

from ..errors import CallError

__all__ = ["Selection", "select_columns", "describe_columns", "listed", "glob_of", "class_selector", "mixed_table",
           "whole_table", "is_label_name", "LABEL_NAMES", "ID_NAME", "FLOAT", "INT", "STRING", "OTHER", "LIST_FLOAT",
           "LIST_INT", "LISTS_FLOAT", "LISTS_INT", "MAX_LISTED", "MAX_ENTRIES"]

#: At most this many column names are listed in a message.
MAX_LISTED = 30
#: At most this many entries of a file (tensors, keys) are listed in a message.
MAX_ENTRIES = 20

# ASCII digits only: \d also matches other scripts' digits.
_NUMBER = re.compile(r"\s*([0-9]+)\s*")
_RANGE = re.compile(r"\s*([0-9]+)\s*-\s*([0-9]+)\s*")


class Names(list):
    """Class names chosen by a selector; ``columns`` are the full column names behind them
    (``setosa`` for ``p_setosa``), so that a label may name either."""

    def __init__(self, names, columns):
        super().__init__(names)
        self.columns = list(columns)


class Selection(NamedTuple):
    """What a selector chose: 0-based column ``indices`` in file order, and their class ``names``
    (``None`` when the file has no header)."""

    indices: list[int]
    names: list[str] | None


def describe_columns(columns: list[str] | None, ncols: int) -> str:
    """What a file holds, for messages: its column names, or ``N columns (select by number: 1-N)``."""
    if columns is None:
        if ncols == 0:
            return "no columns"
        return f"{ncols} column{'s' if ncols != 1 else ''} (select by number: 1-{ncols})"
    if not columns:
        return "no columns"
    return f"{len(columns)} column{'s' if len(columns) != 1 else ''}: {listed(columns, len(columns), MAX_LISTED)}"


def listed(items: Iterable[str], count: int, most: int = MAX_ENTRIES, *, ellipsis: bool = True) -> str:
    """The first ``most`` of ``count`` ``items`` (described lazily: only those shown are taken) joined by
    ``", "``, and how many more: ``a, b, … and 3 more`` (``a, b and 3 more`` without ``ellipsis``)."""
    shown = ", ".join(islice(items, most))
    if count <= most:
        return shown
    return f"{shown}{', …' if ellipsis else ''} and {count - most} more"


def glob_of(wanted: list[str], columns: list[str]) -> str:
    """A selector that picks exactly ``wanted`` among ``columns``, for hints: their common prefix and
    ``*`` when it picks no other column (``p_*``), else their names when few (``False,True``), else
    their 1-based column numbers as ranges (``1-50257``)."""
    prefix = re.split(r"[*,]", os.path.commonprefix(wanted))[0].lstrip() if len(wanted) > 1 else ""
    if prefix and sum(c.startswith(prefix) for c in columns) == len(wanted):
        return prefix + "*"
    if len(wanted) <= 8 and not any("," in name or "*" in name or name != name.strip() for name in wanted):
        return ",".join(wanted)
    position = {}
    for i, c in enumerate(columns):
        position.setdefault(c, i + 1)
    runs: list[list[int]] = []
    for k in sorted(position[name] for name in wanted):
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    # A lone number selects the column of that name first: a run of one is written as a range when one exists.
    return ",".join(str(a) if a == b and str(a) not in position else f"{a}-{b}" for a, b in runs)


def class_selector(wanted: list[str], columns: list[str]) -> str:
    """The selector of the class columns among the number columns ``wanted``, for hints: :func:`glob_of`
    when they all share a prefix, or when no two do (their names); else the selector of the largest
    group of at least two sharing a prefix (the part up to the first ``_ . - :`` or space, or the name
    less its trailing digits), the rest named as left out: ``z_* (w is not a class: add it by name if
    it is)``, so a pasted hint never mixes another number column into the classes."""
    whole = glob_of(wanted, columns)
    if whole.endswith("*"):
        return whole
    groups: dict[str, list[str]] = {}
    for name in wanted:
        stem = _STEM.match(name)
        groups.setdefault(stem.group(0) if stem else name.rstrip("0123456789"), []).append(name)
    group = max(groups.values(), key=len)  # the first of the largest, in the table's order
    if len(group) < 2 or len(group) == len(wanted):
        return whole
    rest = [name for name in wanted if name not in group]
    names = ", ".join(rest[:3]) + (f", … ({len(rest)} columns)" if len(rest) > 3 else "")
    why = ("is not a class: add it by name if it is" if len(rest) == 1
           else "are not classes: add them by name if they are")
    return f"{glob_of(group, columns)} ({names} {why})"


#: A column name's prefix for :func:`class_selector`: up to its first separator (else the name less its
#: trailing digits).
_STEM = re.compile(r"[^_.\-: ]*[_.\-: ]")


#: Column names that hold labels or targets, never probabilities or logits (compared lower-cased; names
#: ending ``_label`` too). Not ``true``: scikit-learn names a boolean target's classes ``False,True``.
LABEL_NAMES = frozenset({"label", "labels", "target", "targets", "y", "y_true", "truth", "gold", "class",
                         "classes"})
#: Names of a column of row ids: pandas' named index (``Unnamed: 0`` where pandas re-read its own index).
ID_NAME = re.compile(r"id|ids|idx|index|row|row_id|sample|sample_id|.+_id|.+_idx|unnamed: 0", re.IGNORECASE)

#: The kinds of column :func:`whole_table` tells apart.
FLOAT, INT, STRING, OTHER = "float", "int", "string", "other"
LIST_FLOAT, LIST_INT, LISTS_FLOAT, LISTS_INT = "list_float", "list_int", "lists_float", "lists_int"
_LABEL_LIKE = "label-like"
#: What a part of each kind is called in a message, and what it is for (None: no data).
_PARTS = {FLOAT: ("numbers", "predictions"), INT: ("integers", "labels"), STRING: ("class names", "labels"),
          _LABEL_LIKE: ("columns named like labels or ids", "labels"), LIST_FLOAT: ("lists of numbers", "predictions"),
          LIST_INT: ("lists of integers", "labels"), LISTS_FLOAT: ("sequences of lists of numbers", "predictions"),
          LISTS_INT: ("sequences of lists of integers", "labels"), OTHER: ("other values", None)}


def is_label_name(name: str) -> bool:
    """Whether a column is named like a label, target or row id (:data:`LABEL_NAMES`, :data:`ID_NAME`)."""
    return name.lower() in LABEL_NAMES or name.lower().endswith("_label") or bool(ID_NAME.fullmatch(name))


def whole_table(where: str, columns: list[str], kinds: list[str], selectable: list[str]) -> list[int]:
    """The columns of a table read without a selector: all of them when they are of one kind, else a
    wrong call (:func:`mixed_table`).

    One kind: one column of any kind; several float columns; several integer (or boolean) columns.
    Anything else mixes kinds: text and numbers, integers among floats, several string or list
    columns, or a number column named like a label, target or id (:func:`is_label_name`) among
    others. ``kinds`` are :data:`FLOAT`, :data:`INT`, … per column; ``selectable`` are the names a
    selector sees (for the hint's selectors).
    """
    if len(columns) == 1:
        return [0]
    groups: dict[str, list[int]] = {}
    for i, kind in enumerate(kinds):
        groups.setdefault(kind, []).append(i)
    if len(groups) == 1 and (FLOAT in groups or INT in groups):
        (kind, chosen), = groups.items()
        odd = [i for i in chosen if is_label_name(columns[i])]
        if not odd:
            return chosen
        rest = [i for i in chosen if i not in odd]
        groups = {_LABEL_LIKE: odd, kind: rest} if rest else {_LABEL_LIKE: odd}
    parts = []
    for kind, chosen in sorted(groups.items(), key=lambda group: group[1][0]):
        names = [columns[i] for i in chosen]
        what, role = _PARTS[kind]
        if kind == FLOAT and INT in groups:
            what = "floats"
        if kind == INT and not groups.keys() & {FLOAT, LIST_FLOAT, LISTS_FLOAT} and not all(map(is_label_name, names)):
            role = "predictions"  # integers beside no floats are the matrix (counts, one-hot rows)
        if role == "predictions" and kind in (FLOAT, INT):
            selectors = [class_selector(names, selectable)]  # the columns of one matrix
        else:
            selectors = [glob_of([name], selectable) for name in names] if role else []  # each read alone
        parts.append((what, names, selectors, role))
    raise CallError(mixed_table(where, parts))


def mixed_table(where: str, parts: list[tuple[str, list[str], list[str], str | None]]) -> str:
    """The message of a table read without a selector whose columns are not of one kind.

    ``parts`` are ``(what, column names, selectors, role)`` in the table's order; ``role`` is
    ``"labels"``, ``"predictions"`` or ``None`` (no data: described, never suggested). Every part is
    described, then the selectors of each part that holds data, the option's own role first
    (``--labels``/``--targets`` the labels, any other the predictions):
    ``--labels d.parquet: the table mixes class names (label) and numbers (p_setosa, …): select one,
    e.g. d.parquet:label for the labels or d.parquet:p_* for the predictions``.
    """
    from .source import shown_path

    path, option = shown_path(where), where.split(" ", 1)[0]

    def few(names: list[str]) -> str:
        return ", ".join(names[:3]) + (", …" if len(names) > 3 else "")

    described = [f"{what} ({few(names)})" for what, names, _, _ in parts]
    held = " and ".join([", ".join(described[:-1]), described[-1]] if len(described) > 1 else described)
    order = ("labels", "predictions") if option in ("--labels", "--targets") else ("predictions", "labels")
    words = {"labels": "the targets" if option == "--targets" else "the labels", "predictions": "the predictions"}
    clauses = []
    for role in order:
        selectors = [s for _, _, chosen, r in parts if r == role for s in chosen][:3]
        if selectors:
            clauses.append((" or ".join(f"{path}:{s}" for s in selectors), words[role]))
    between = ", or " if any(" or " in s for s, _ in clauses) else " or "
    hint = between.join(f"{s} for {w}" for s, w in clauses)
    return (f"{where}: the table {'mixes' if len(parts) > 1 else 'holds'} {held}: "
            f"select one{', e.g. ' + hint if hint else ' as ' + path + ':NAME'}")


def select_columns(selector: str | None, columns: list[str] | None, ncols: int, where: str) -> Selection:
    """The columns ``selector`` picks among ``columns`` (the header's names, ``None`` without one)
    of a file of ``ncols`` columns; ``None`` selects every column.

    Raises :class:`~xentcli.errors.CallError` for an empty selector or item, a reversed range,
    column number 0, and any item that selects nothing, listing what the file holds.
    """
    if columns is not None:
        columns = [str(c) for c in columns]
        ncols = len(columns)
    if selector is None:
        return Selection(list(range(ncols)), None if columns is None else list(columns))
    holds = describe_columns(columns, ncols)
    if not selector.strip():
        raise CallError(f"{where}: an empty column selector after ':'; the file holds {holds}")
    chosen: dict[int, str | None] = {}  # column index -> the part a glob matched (None: the whole name)
    for raw in selector.split(","):
        item = raw if columns is not None and raw in columns else raw.strip()
        if not item:
            raise CallError(f"{where}: an empty item in the column selector '{selector}'; the file holds {holds}")
        found = _select_item(item, columns, ncols, where, holds)
        if not found:
            what = f"column '{item}'" if columns is not None or "*" in item else f"column {item}"
            raise CallError(f"{where}: no {what} in the file; it holds {holds}")
        for index, part in found:
            if chosen.get(index) is None:  # a glob's part names a column also selected by its name
                chosen[index] = part
    indices = sorted(chosen)
    if columns is None:
        return Selection(indices, None)
    parts = [chosen[i] for i in indices]
    full = [columns[i] for i in indices]
    names = [columns[i] if p is None or p == "" else p for i, p in zip(indices, parts)]
    if len(set(names)) != len(names):
        names = full
    return Selection(indices, Names(names, full))


def _select_item(item: str, columns: list[str] | None, ncols: int, where: str,
                 holds: str) -> list[tuple[int, str | None]]:
    """``(index, glob-matched part or None)`` of the columns one item selects, in file order."""
    if columns is not None and item in columns:
        return [(i, None) for i, c in enumerate(columns) if c == item]
    if "*" in item:
        if columns is None:
            raise CallError(f"{where}: the glob '{item}' needs column names, but the file has no header; "
                            f"it holds {holds}")
        pattern = re.compile("(.*)".join(re.escape(piece) for piece in item.split("*")), re.DOTALL)
        single = item.count("*") == 1
        found = []
        for i, c in enumerate(columns):
            m = pattern.fullmatch(c)
            if m:
                found.append((i, m.group(1) if single else None))
        return found
    m = _NUMBER.fullmatch(item)
    if m:
        first = last = int(m.group(1))
    else:
        m = _RANGE.fullmatch(item)
        if not m:
            return []
        first, last = int(m.group(1)), int(m.group(2))
        if last < first:
            raise CallError(f"{where}: the column range '{item}' runs backwards; write it as {last}-{first}")
    if first < 1:
        raise CallError(f"{where}: columns are numbered from 1, not 0 (in '{item}'); the file holds {holds}")
    if last > ncols:
        return []
    return [(i, None) for i in range(first - 1, last)]
