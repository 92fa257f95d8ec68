"""Row-block evaluation: apply a per-row core function to blocks of rows.

Inputs may be memory-mapped ``.npy`` files of many GB; a block of rows is
converted to float64 and evaluated at a time, so temporaries stay near
:data:`BLOCK_BYTES` whatever the input size.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["BLOCK_BYTES", "block_rows", "map_rows"]

#: Target size of one block of float64 values (fits in a large L2/L3 cache slice).
BLOCK_BYTES = 4 << 20


def block_rows(num_classes: int, block_bytes: int = BLOCK_BYTES) -> int:
    """How many rows of ``num_classes`` float64 values make one block (at least 1)."""
    return max(1, block_bytes // (8 * max(1, num_classes)))


def map_rows(fn: Callable[..., np.ndarray], *arrays, rows_per_block: int | None = None) -> np.ndarray:
    """``fn(*blocks)`` over row blocks of ``arrays`` (all with the same first axis), concatenated.

    ``fn`` returns one value per row (shape ``(rows,)``) or one row per row
    (shape ``(rows, C)``); the result has ``len(arrays[0])`` rows. The result
    is the same whatever the block size, since ``fn`` treats rows
    independently.
    """
    n = len(arrays[0])
    step = rows_per_block or block_rows(np.shape(arrays[0])[-1])
    out = None
    for start in range(0, n, step):
        stop = min(n, start + step)
        part = fn(*(np.asarray(a[start:stop]) for a in arrays))
        if out is None:
            out = np.empty((n,) + part.shape[1:], dtype=np.float64)
        out[start:stop] = part
    return out
