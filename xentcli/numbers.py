"""How xent reads a number written as text: ASCII spellings only.

Python's ``int`` and ``float`` also take ``1_0`` and other scripts' digits (``١``, ``１``): text
files, inline values, option values and ``XENT_*`` variables all refuse them by this one rule.
"""

from __future__ import annotations

__all__ = ["ascii_spelled"]


def ascii_spelled(text: str) -> bool:
    """Whether ``text`` may be read by ``int``/``float`` as xent reads numbers: ASCII, no ``_``.

    >>> ascii_spelled("1e-3"), ascii_spelled("1_0"), ascii_spelled("\\u0663")
    (True, False, False)
    """
    return text.isascii() and "_" not in text
