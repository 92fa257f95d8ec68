"""Inline values: ``"4,2,1;0,5,1"``, ``"0.7 0.2 0.1"``, ``"[[4,2,1],[0,5,1]]"``."""

from __future__ import annotations

import re

import numpy as np

from ..errors import CallError
from .text import is_number, number_hint

__all__ = ["parse_inline", "looks_inline"]

# What an inline value may consist of: numbers (inf/nan included), separators, brackets.
_INLINE_CHARS = re.compile(r"^[\s\d.,;+\-eE\[\]infatyINFATY_]*$")


def looks_inline(spec: str) -> bool:
    """A value that is not an existing file and has no path separator: inline if it looks so (or is meant so)."""
    if _INLINE_CHARS.match(spec) and re.search(r"(?i)\d|inf|nan", spec):
        return True
    return any(c in spec for c in ",;[")  # meant as inline, but malformed


_JSON_SPECIALS = re.compile(r"(?i)(?<![\w.])(-?)(?:inf(?:inity)?)(?![\w.])|(?<![\w.])nan(?![\w.])")


def parse_inline(spec: str, option: str) -> np.ndarray:
    """Parse an inline matrix: ``"4,2,1;0,5,1"``, ``"0.7 0.2 0.1"``, ``"[[4,2,1],[0,5,1]]"``.

    Rows are split by ``;`` (2-D result) or given by JSON nesting; values by
    ``,`` or whitespace. A single row without ``;`` is 1-D.
    """
    s = spec.strip()
    if s.startswith("["):
        return _parse_nested(s, spec, option)
    parts = s.split(";")
    if parts and parts[-1].strip() == "" and len(parts) > 1:
        parts = parts[:-1]  # a trailing ';'
    rows = []
    for r, part in enumerate(parts, start=1):
        part = part.strip()
        cells = [c.strip() for c in part.split(",")] if "," in part else part.split()
        if not cells:
            raise CallError(f"{option}: malformed inline value {spec!r}: row {r} is empty")
        row = []
        for c, cell in enumerate(cells, start=1):
            if not is_number(cell):
                found = "an empty value" if cell == "" else repr(cell) + number_hint(cell)
                raise CallError(
                    f"{option}: malformed inline value {spec!r}: row {r}, position {c}: expected a number, found {found}"
                )
            row.append(float(cell))
        if rows and len(row) != len(rows[0]):
            raise CallError(
                f"{option}: malformed inline value {spec!r}: row {r} has {len(row)} values, row 1 has {len(rows[0])}"
            )
        rows.append(row)
    values = np.array(rows, dtype=np.float64)
    return values if ";" in s else values[0]


def _parse_nested(s: str, spec: str, option: str) -> np.ndarray:
    import json  # only for nested inline values

    def special(m: re.Match) -> str:
        return "NaN" if m.group(0).lower() == "nan" else f"{m.group(1)}Infinity"

    try:
        obj = json.loads(_JSON_SPECIALS.sub(special, s))
    except json.JSONDecodeError as e:
        raise CallError(f"{option}: malformed inline value {spec!r}: {e.msg} at position {e.pos + 1}") from e
    try:
        values = np.array(obj, dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise CallError(f"{option}: malformed inline value {spec!r}: rows of different lengths or non-numbers") from e
    if values.size == 0:
        raise CallError(f"{option}: malformed inline value {spec!r}: no numbers")
    return values
