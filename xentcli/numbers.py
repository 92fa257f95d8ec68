"""Where numbers meet text, both ways: how xent reads a number written as text (ASCII spellings
only) and how it writes one (:func:`format_number`; :func:`table_number` at the tables'
:data:`TABLE_DIGITS`; :func:`fixed` as NumPy prints).

Python's ``int`` and ``float`` also take ``1_0`` and other scripts' digits (``١``, ``１``): text
files, inline values, option values and ``XENT_*`` variables all refuse them by one rule.
"""

from __future__ import annotations

import math

__all__ = ["ascii_spelled", "TABLE_DIGITS", "COMPARE_TABLE_DIGITS", "format_number", "table_number", "fixed"]

#: Significant digits of the numbers in tables and explanations unless ``--precision`` says otherwise.
TABLE_DIGITS = 8
#: compare's table: its many statistics with their ± SE fit a terminal at 6 significant digits.
COMPARE_TABLE_DIGITS = 6


def ascii_spelled(text: str) -> bool:
    """Whether ``text`` may be read by ``int``/``float`` as xent reads numbers: ASCII, no ``_``.

    >>> ascii_spelled("1e-3"), ascii_spelled("1_0"), ascii_spelled("\\u0663")
    (True, False, False)
    """
    return text.isascii() and "_" not in text


def format_number(x: float, precision: int | None = None) -> str:
    """``repr`` of the float64 (round-trips), or ``precision`` significant digits.

    Non-finite values print as ``inf``, ``-inf`` and ``nan``.

    >>> format_number(0.4972954548475541), format_number(0.4972954548475541, 4)
    ('0.4972954548475541', '0.4973')
    """
    x = float(x)
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return repr(x) if precision is None else f"{x:.{precision}g}"


def table_number(x, precision: int | None = None) -> str:
    """A number as a table shows it: ``precision`` significant digits, :data:`TABLE_DIGITS` by default.

    >>> table_number(0.4972954548475541), table_number(2.0, 3)
    ('0.49729545', '2')
    """
    return format_number(x, precision or TABLE_DIGITS)


def fixed(x, decimals: int = 8) -> str:
    """NumPy's way of printing: ``decimals`` places, trailing zeros dropped.

    >>> fixed(0.11419519938459449), fixed(2.0)
    ('0.1141952', '2')
    """
    s = f"{float(x):.{decimals}f}"
    return s.rstrip("0").rstrip(".") if "." in s else s
