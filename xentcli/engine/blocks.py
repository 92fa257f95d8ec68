"""A matrix computed block by block while it is written (:class:`RowBlocks`): what the engine's
blocks become for a command whose result is as large as its input (softmax, grad), so the writers
stream it and nothing holds it whole.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator

import numpy as np

__all__ = ["RowBlocks"]


class RowBlocks:
    """A matrix computed block by block while it is written: its shape and its row blocks, in order.

    It can be iterated once; the writers below stream it, so a matrix output
    (softmax, grad) of a multi-GB input is never held whole.

    Args:
      shape: ``(N, C)``, the matrix the blocks (``(rows, C)`` each) stack into.
      blocks: the row blocks, in order.
      array_shape: the input's full shape, such as ``(B, T, C)`` with
        ``N = B·T``; the npy output keeps it (the same bytes in C order).
        Default: ``shape``.
      validate: checks every input row without computing (raises on a bad
        one); called before the first byte goes where it cannot be taken back.
    """

    def __init__(self, shape: tuple[int, int], blocks: Iterable[np.ndarray], array_shape: tuple[int, ...] | None = None,
                 validate: Callable[[], None] | None = None):
        self.shape = tuple(int(d) for d in shape)
        self._blocks = blocks
        self.validate = validate or (lambda: None)
        if array_shape is None:
            self.array_shape = self.shape
        else:
            self.array_shape = tuple(int(d) for d in array_shape)
            n, c = self.shape
            if (len(self.array_shape) < 1 or self.array_shape[-1] != c
                    or math.prod(self.array_shape[:-1]) != n):
                raise ValueError(f"array_shape {self.array_shape} does not hold the {n}×{c} rows")

    def __iter__(self) -> Iterator[np.ndarray]:
        yield from self._blocks

    def drain(self) -> None:
        """Compute every block, keeping none: a table or an explanation shows a few rows, but every
        row is still checked (and fails the run as the written matrix would) before they are read."""
        for _ in self:
            pass
