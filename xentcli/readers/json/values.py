"""JSON values as numbers, shared by ``.json`` documents (:mod:`.document`) and JSON Lines (:mod:`.lines`).

Integers (and booleans, as 0 and 1) stay int64 when every value is one; any float makes the
whole array float64 (an integer beyond int64 too). The strings ``"inf"``, ``"-inf"`` and
``"nan"`` (what xent writes for non-finite numbers; any case, ``"infinity"`` too) are floats.
"""

from __future__ import annotations

import numpy as np

from ...errors import DataError

__all__ = ["SPECIAL", "number", "only_numbers", "numbers"]

#: Strings read as non-finite floats (lower-cased, stripped): xent writes ``inf``, ``-inf``, ``nan``.
SPECIAL = {s: float(s) for s in ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan")}
_INT64 = np.iinfo(np.int64)


def number(value) -> tuple[int | float, bool] | None:
    """A JSON value as a number, and whether it makes the array float64; None when it is no number."""
    t = type(value)
    if t is int:
        return value, not _INT64.min <= value <= _INT64.max
    if t is float:
        return value, True
    if t is bool:
        return int(value), False
    if t is str and value.strip().lower() in SPECIAL:
        return SPECIAL[value.strip().lower()], True
    return None


def only_numbers(value) -> bool:
    """Whether nested lists (or tuples) hold nothing but numbers. Only then are they handed to NumPy
    whole: with a string among them NumPy would make an array of strings, each value as wide as the
    longest string (gigabytes from a few megabytes of JSON)."""
    level = [value]
    while level:
        deeper = []
        for item in level:
            for x in item:
                t = type(x)
                if t is list or t is tuple:
                    deeper.append(x)
                elif t is not int and t is not float and t is not bool:
                    return False
        level = deeper
    return True


def numbers(flat: list, floats: bool, shape: tuple, too_large: str) -> np.ndarray:
    """JSON numbers as an array of ``shape``: float64 if any is a float, else int64."""
    if floats:
        try:
            a = np.array([float(x) for x in flat], dtype=np.float64)
        except OverflowError:  # an integer beyond float64 (above 1.8e308)
            raise DataError(too_large) from None
    else:
        a = np.array(flat, dtype=np.int64)
    return a.reshape(shape)
