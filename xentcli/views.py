"""What a command's table shows, as plain data: a *view*, which :func:`xentcli.tables.draw` draws.

A view is a dict: ``"table"`` names the layout (``matrix``, ``loss``, ``target``, ``single``,
``derivation`` or ``compare``), the other keys are what that layout shows (the shown rows' ids and
numbers, class names, headers, and under most tables a ``footer`` of ``(name, value)`` rows). A
title or a footer value is a text: a string, a number (formatted where it is drawn, at
``--precision``), or a tuple of them read one after another. Views hold every class of the shown
rows, so the drawing can show fewer columns on a narrow terminal without asking the command again.

Nothing here imports rich: a command builds its view without the cost of drawing it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_ROWS", "MAX_CLASSES", "shown_rows"]

MAX_ROWS = 40
MAX_CLASSES = 10  # on a terminal; fewer if it is narrow


def shown_rows(n: int) -> np.ndarray:
    """Indices of the samples a table shows: all of them, or the first and last ones."""
    if n <= MAX_ROWS:
        return np.arange(n)
    tail = 5
    return np.r_[0 : MAX_ROWS - tail, n - tail : n]
