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

Pure Python: no format's package is imported here.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import CallError

__all__ = ["Selection", "select_columns", "describe_columns", "glob_of", "MAX_LISTED"]

#: At most this many column names are listed in a message.
MAX_LISTED = 30

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
    shown = ", ".join(columns[:MAX_LISTED])
    more = f", … and {len(columns) - MAX_LISTED} more" if len(columns) > MAX_LISTED else ""
    return f"{len(columns)} column{'s' if len(columns) != 1 else ''}: {shown}{more}"


def glob_of(wanted: list[str], columns: list[str]) -> str:
    """A selector for ``wanted`` among ``columns``, for hints: ``PREFIX*`` for the most of them that a
    prefix selects without any other column (two at least, the longest such prefix), else their names
    (or 1-based numbers when there are many)."""
    counts: dict[str, int] = {}
    for name in wanted[:1000]:
        for k in range(1, min(len(name), 64) + 1):
            counts[name[:k]] = counts.get(name[:k], 0) + 1
    chosen = set(wanted)
    taken = {c[:k] for c in columns if c not in chosen for k in range(1, min(len(c), 64) + 1)}
    usable = [(n, len(p), p) for p, n in counts.items() if n >= 2 and p not in taken and "*" not in p and "," not in p]
    if usable:
        return max(usable)[2] + "*"
    if len(wanted) <= 8 and not any("," in name or "*" in name for name in wanted):
        return ",".join(wanted)
    return ",".join(str(columns.index(name) + 1) for name in wanted)


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


def _select_item(item: str, columns: list[str] | None, ncols: int, where: str, holds: str) -> list[tuple[int, str | None]]:
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
