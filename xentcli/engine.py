"""Row-block evaluation on a thread pool: one engine for every command.

A per-row core function is applied to blocks of rows sized to stay in cache
(:data:`BLOCK_ELEMENTS` values). Blocks run on a thread pool — NumPy
releases the GIL inside its loops, so the cores work in parallel — and come
back in order. Inputs are read a block at a time (:meth:`rows` of a lazy
source such as :class:`~xentcli.readers.npy.NpyRows`, or a slice of an array),
so memory stays near ``threads × window × block`` whatever the input size.

Each row's value depends on that row alone, so results are identical
whatever the block size and the number of threads; reductions are taken
afterwards over the whole per-row vector, in float64.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Callable, Iterator

import numpy as np

from .core.checks import RowError

__all__ = ["BLOCK_ELEMENTS", "LEAN_BLOCK_ELEMENTS", "block_rows", "default_threads", "read_rows", "blocks", "ordered_map", "map_rows", "collect"]

#: Values per block: 512 Ki (4 MiB as float64). Large enough that the per-block Python work (with
#: the GIL held) stays small beside the NumPy loops that run in parallel; measured best here for
#: kernels that make block-sized float64 temporaries (softmax, KL, ...), whose memory it bounds.
BLOCK_ELEMENTS = 512 * 1024
#: Values per block for kernels whose temporaries are per row or L2-sized chunks (index-target CE:
#: :func:`core.target_log_probs`): only the input block is held (16 MiB as float32), and fewer,
#: larger blocks cut the per-block reading and hand-off (~0.1-0.2 ms each): the CE kernel of the
#: benchmark ran 1.2x as fast as with 512 Ki blocks, 1.1x as with 1 Mi.
LEAN_BLOCK_ELEMENTS = 4 * 1024 * 1024


def default_threads() -> int:
    """``XENT_THREADS`` if set, else every core this process may use."""
    env = os.environ.get("XENT_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def block_rows(num_classes: int, block_elements: int = BLOCK_ELEMENTS) -> int:
    """How many rows of ``num_classes`` values make one block: at least 1, at most :data:`BLOCK_ELEMENTS`
    (so per-row temporaries of narrow rows stay as small as a default block's)."""
    return max(1, min(block_elements // max(1, num_classes), BLOCK_ELEMENTS))


def read_rows(source, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of an array or of a lazy source with a ``rows`` method."""
    reader = getattr(source, "rows", None)
    return reader(start, stop) if reader is not None else np.asarray(source[start:stop])


def blocks(
    fn: Callable[..., np.ndarray],
    *sources,
    rows_per_block: int | None = None,
    block_elements: int = BLOCK_ELEMENTS,
    threads: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, fn(*rows))`` for consecutive row blocks, in order.

    ``fn`` gets the rows ``start:stop`` of every source (``rows_per_block``
    rows, or as many as make ``block_elements`` values). A
    :class:`~xentcli.core.RowError` it raises is re-raised with its row
    counted from the first row of the input, not of the block. At most
    ``2 × threads`` blocks are in flight, so results never pile up.
    """
    n = len(sources[0])
    step = rows_per_block or block_rows(np.shape(sources[0])[-1] if np.ndim(sources[0]) > 1 else 1, block_elements)
    spans = [(s, min(n, s + step)) for s in range(0, n, step)]

    def run(span):
        s, e = span
        try:
            return s, e, fn(*(read_rows(src, s, e) for src in sources))
        except RowError as err:
            raise err.shifted(s) from None

    yield from ordered_map(run, spans, threads=1 if len(spans) <= 1 else threads)


_END = object()


def ordered_map(fn: Callable, items, *, threads: int | None = None) -> Iterator:
    """``fn(item)`` for each item on a thread pool, yielded in the items' order.

    ``items`` is consumed on the calling thread, at most ``2 × threads``
    ahead of what was yielded, so neither inputs nor results pile up. An
    error or an early stop cancels what has not started.
    """
    threads = threads or default_threads()
    items = iter(items)
    if threads == 1:
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor  # a pool only for inputs of several blocks

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="xent") as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * threads:
                break
        try:
            while pending:
                yield pending.popleft().result()
                nxt = next(items, _END)
                if nxt is not _END:
                    pending.append(pool.submit(fn, nxt))
        finally:
            for f in pending:
                f.cancel()


def map_rows(
    fn: Callable[..., np.ndarray],
    *sources,
    rows_per_block: int | None = None,
    block_elements: int = BLOCK_ELEMENTS,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``fn(*blocks)`` over row blocks of ``sources`` (same first axis), as one float64 array.

    ``fn`` returns one value per row (``(rows,)``) or one row per row
    (``(rows, C)``). ``progress(rows_done)`` is called after each block.
    """
    parts = blocks(fn, *sources, rows_per_block=rows_per_block, block_elements=block_elements, threads=threads)
    return collect(parts, len(sources[0]), progress=progress)


def collect(parts, n: int, *, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The ``(start, stop, values)`` blocks of :func:`blocks` as one float64 array of ``n`` rows."""
    out = None
    for start, stop, part in parts:
        if out is None:
            out = np.empty((n,) + np.shape(part)[1:], dtype=np.float64)
        out[start:stop] = part
        if progress is not None:
            progress(stop)
    return out
