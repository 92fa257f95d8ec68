"""Inline values: ``"4,2,1;0,5,1"``, ``"0.7 0.2 0.1"``, ``"[[4,2,1],[0,5,1]]"``."""

from __future__ import annotations

import re

import numpy as np

from ..errors import CallError
from .text import is_number, number_hint

__all__ = ["parse_inline", "looks_inline"]

# What an inline value may consist of: numbers (inf/nan included), separators, brackets. Other blanks
# and digits (a no-break space, ``١``) are taken in too, to be refused naming them.
_INLINE_CHARS = re.compile(r"^[\s\d.,;+\-eE\[\]infatyINFATY_]*$")
#: Blanks between and around values: spaces, tabs, line ends (a no-break space is part of its value).
_BLANKS = " \t\r\n"
_SEPARATOR = re.compile(r"[ \t\r\n]+")
#: The deepest nesting of brackets read (NumPy's most dimensions).
MAX_DEPTH = 64


def looks_inline(spec: str) -> bool:
    """A value that is not an existing file and has no path separator: inline if it looks so (or is meant so)."""
    if _INLINE_CHARS.match(spec) and re.search(r"(?i)\d|inf|nan", spec):
        return True
    return any(c in spec for c in ",;[")  # meant as inline, but malformed


_JSON_SPECIALS = re.compile(r"(?i)(?<![\w.])(-?)(?:inf(?:inity)?)(?![\w.])|(?<![\w.])nan(?![\w.])")


def parse_inline(spec: str, option: str) -> np.ndarray:
    """Parse an inline matrix: ``"4,2,1;0,5,1"``, ``"0.7 0.2 0.1"``, ``"[[4,2,1],[0,5,1]]"``.

    Rows are split by ``;`` (2-D result) or given by JSON nesting (at most :data:`MAX_DEPTH`
    deep); values by ``,`` or runs of spaces, tabs and line ends (any other blank, such as a
    no-break space grouping digits, is part of a value and refused). A single row without ``;`` is 1-D.
    """
    s = spec.strip(_BLANKS)
    if s.startswith("["):
        return _parse_nested(s, spec, option)
    parts = s.split(";")
    if parts and parts[-1].strip(_BLANKS) == "" and len(parts) > 1:
        parts = parts[:-1]  # a trailing ';'
    rows = []
    for r, part in enumerate(parts, start=1):
        part = part.strip(_BLANKS)
        cells = [c.strip(_BLANKS) for c in part.split(",")] if "," in part else _SEPARATOR.split(part) if part else []
        if not cells:
            raise CallError(f"{option}: malformed inline value {_shown(spec)}: row {r} is empty")
        row = []
        for c, cell in enumerate(cells, start=1):
            if not is_number(cell):
                found = "an empty value" if cell == "" else repr(cell) + number_hint(cell)
                raise CallError(
                    f"{option}: malformed inline value {_shown(spec)}: row {r}, position {c}: "
                    f"expected a number, found {found}"
                )
            row.append(float(cell))
        if rows and len(row) != len(rows[0]):
            raise CallError(
                f"{option}: malformed inline value {_shown(spec)}: row {r} has {len(row)} values, "
                f"row 1 has {len(rows[0])}"
            )
        rows.append(row)
    values = np.array(rows, dtype=np.float64)
    return values if ";" in s else values[0]


def _shown(spec: str) -> str:
    """The value for a message: quoted, its start only when long."""
    return repr(spec) if len(spec) <= 80 else repr(spec[:60]) + f"… ({len(spec)} characters)"


def _parse_nested(s: str, spec: str, option: str) -> np.ndarray:
    import json  # only for nested inline values

    depth = deepest = 0
    for c in s:
        if c == "[":
            depth += 1
            deepest = max(deepest, depth)
        elif c == "]":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise CallError(f"{option}: malformed inline value {_shown(spec)}: brackets nested {deepest} deep, "
                        f"more than {MAX_DEPTH}")

    def special(m: re.Match) -> str:
        return "NaN" if m.group(0).lower() == "nan" else f"{m.group(1)}Infinity"

    try:
        obj = json.loads(_JSON_SPECIALS.sub(special, s))
    except json.JSONDecodeError as e:
        raise CallError(f"{option}: malformed inline value {_shown(spec)}: {e.msg} at position {e.pos + 1}") from e
    try:
        values = np.array(obj, dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise CallError(f"{option}: malformed inline value {_shown(spec)}: "
                        "rows of different lengths or non-numbers") from e
    if values.size == 0:
        raise CallError(f"{option}: malformed inline value {_shown(spec)}: no numbers")
    return values
