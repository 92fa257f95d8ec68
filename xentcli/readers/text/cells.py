"""What a cell of delimited text is: a number spelled in ASCII, a boolean, or a name; why a cell that
looks like a number is none (:func:`number_hint`)."""

from __future__ import annotations

import re
import unicodedata

from ...numbers import ascii_spelled

__all__ = ["BLANK", "BOOLEANS", "is_value", "is_number", "ascii_numbers", "foreign_number", "number_hint"]


#: What separates the fields of a whitespace-separated line, and is stripped around a cell: spaces and
#: tabs only. ``str.split`` also splits at a no-break space, U+202F or U+3000 (locales' digit
#: grouping: ``1 234`` is one number there) and at ``\x1c``–``\x1f``, ``\v``, ``\f``; those stay in
#: their cell, which is then no number (:func:`number_hint` names them).
BLANK = " \t"


BOOLEANS = {"true": "1", "false": "0"}


def is_value(cell: str) -> bool:
    """A number, or a boolean as pandas and Python write it (``True`` is 1)."""
    return is_number(cell) or cell.lower() in BOOLEANS


def _floats(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def is_number(cell: str) -> bool:
    """A number spelled in ASCII: digits, sign, point, exponent, ``inf``/``nan`` spellings.

    ``float`` also takes ``1_0``, other scripts' digits (``١``, ``１``) and blanks other than spaces
    and tabs around the number (a no-break space, ``\x1c``): not numbers here."""
    return ascii_spelled(cell) and cell.isprintable() and _floats(cell)


def ascii_numbers(cells: list[str]) -> bool:
    """No cell holds what ``float`` takes but :func:`is_number` does not (one scan of all cells)."""
    joined = "".join(cells)
    return ascii_spelled(joined) and joined.isprintable()


_ANY_SPACE = re.compile(r"\s")


def foreign_number(cell: str) -> bool:
    """What reads as a number but is not spelled in ASCII: ``float`` takes it (``1_0``, ``١٢``, ``１２``,
    ``\xa01``), or would without its blanks (``1\xa0234``, ``1 234``: a locale's digit grouping)."""
    return not is_number(cell) and (_floats(cell) or _floats(_ANY_SPACE.sub("", cell)))


def _odd_space(cell: str) -> str | None:
    """The first blank of ``cell`` that does not separate fields (neither a space nor a tab), if any."""
    return next((c for c in cell if c.isspace() and c not in BLANK), None)


def number_hint(cell: str) -> str:
    """Why a cell that looks like a number is not one, for messages (or nothing)."""
    if foreign_number(cell):
        odd = _odd_space(cell)
        if odd is not None or " " in cell.strip(BLANK):
            odd = odd or " "
            name = unicodedata.name(odd, "control character").lower()
            at = cell.index(odd)
            where = "inside" if cell[:at].strip() and cell[at + 1:].strip() else "around"
            article = "an" if name[0] in "aeiou" else "a"
            return f" ({article} {name} (U+{ord(odd):04X}) {where} a number: numbers are ASCII, without digit grouping)"
        return " (numbers are written in ASCII digits, without '_')"
    if "\ufeff" in cell:
        return " (a byte-order mark inside the text: were files joined?)"
    return ""
