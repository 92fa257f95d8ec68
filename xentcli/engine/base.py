"""The seam of the row-block engine: :class:`Engine`, what every engine shares, and what travels to workers.

A per-row core function is applied to blocks of rows sized to stay in cache
(:data:`BLOCK_ELEMENTS` values). Where the blocks run is the engine's one job
(:meth:`Engine.run`); cutting the input into blocks (:meth:`Engine.blocks`),
reading a block (:func:`read_rows`) and running the function on it
(:func:`run_block`) are the same for every engine, so results are identical, bit
for bit, whichever runs them. Each row's value depends on that row alone;
reductions are taken afterwards over the whole per-row vector, in float64.
"""

from __future__ import annotations

import abc
import itertools
import os
import threading
import weakref
from typing import Callable, Iterator

import numpy as np

from ..core.checks import RowError
from ..environment import env_number, usable_cores

__all__ = ["Engine", "BLOCK_ELEMENTS", "LEAN_BLOCK_ELEMENTS", "PER_CORE_LIMIT", "block_rows", "default_threads",
           "max_threads", "read_rows", "run_block", "run_counted", "collect", "count", "remote_token",
           "remote_object"]

#: Values per block: 512 Ki (4 MiB as float64). Large enough that the per-block Python work (with
#: the GIL held) stays small beside the NumPy loops that run in parallel; measured best here for
#: kernels that make block-sized float64 temporaries (softmax, KL, ...), whose memory it bounds.
BLOCK_ELEMENTS = 512 * 1024
#: Values per block for kernels whose temporaries are per row or L2-sized chunks (index-target CE:
#: :func:`core.target_log_probs`): only the input block is held (16 MiB as float32), and fewer,
#: larger blocks cut the per-block reading and hand-off (~0.1-0.2 ms each): the CE kernel of the
#: benchmark ran 1.2x as fast as with 512 Ki blocks, 1.1x as with 1 Mi.
LEAN_BLOCK_ELEMENTS = 4 * 1024 * 1024


#: Threads, and ``local:N`` workers, per core this process may use, at most: more only cost memory
#: (each thread keeps two blocks in flight) without adding speed.
PER_CORE_LIMIT = 4


def default_threads() -> int:
    """``XENT_THREADS`` if set (a whole number from 1 to :func:`max_threads`; a bad value is warned of
    and the default used), else every core this process may use."""
    cores = usable_cores()
    return env_number("XENT_THREADS", cores, what="threads", low=1, high=max_threads(), integer=True)


def max_threads() -> int:
    """The most threads, and ``local:N`` workers, a run takes: :data:`PER_CORE_LIMIT` per usable core."""
    return PER_CORE_LIMIT * usable_cores()


def block_rows(num_classes: int, block_elements: int = BLOCK_ELEMENTS) -> int:
    """How many rows of ``num_classes`` values make one block: at least 1, at most :data:`BLOCK_ELEMENTS`
    (so per-row temporaries of narrow rows stay as small as a default block's)."""
    return max(1, min(block_elements // max(1, num_classes), BLOCK_ELEMENTS))


def read_rows(source, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of ``source``: an array is sliced; any other source is a row reader
    (:class:`xentcli.readers.source.RowReader`), read by its ``rows(start, stop)``."""
    if isinstance(source, np.ndarray):
        return source[start:stop]
    return source.rows(start, stop)


def run_block(fn: Callable[..., np.ndarray], sources, start: int, stop: int):
    """``fn`` of the rows ``start:stop`` of every source: one block, wherever it runs.

    A :class:`~xentcli.core.RowError` is re-raised with its row counted from the
    first row of the input, not of the block.
    """
    try:
        return fn(*(read_rows(src, start, stop) for src in sources))
    except RowError as err:
        raise err.shifted(start) from None


class Engine(abc.ABC):
    """Where a command's row blocks run: made once by the command (its ``--scheduler`` value,
    :func:`xentcli.engine.engine_for`) and handed to what reads its inputs; :meth:`close` ends it."""

    def blocks(
        self,
        fn: Callable[..., np.ndarray],
        *sources,
        rows_per_block: int | None = None,
        block_elements: int = BLOCK_ELEMENTS,
        threads: int | None = None,
    ) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(start, stop, fn(*rows))`` for consecutive row blocks, in order.

        ``fn`` gets the rows ``start:stop`` of every source (arrays or row readers of the same first
        axis; ``rows_per_block`` rows, or as many as make ``block_elements`` values). A
        :class:`~xentcli.core.RowError` it raises is re-raised with its row counted from the first
        row of the input, not of the block. A bounded number of blocks is in flight (``2 × threads``
        on the thread pool), so results never pile up.
        """
        n = len(sources[0])
        step = rows_per_block or block_rows(np.shape(sources[0])[-1] if np.ndim(sources[0]) > 1 else 1, block_elements)
        spans = [(s, min(n, s + step)) for s in range(0, n, step)]
        yield from self.run(fn, sources, spans, threads=threads)

    @abc.abstractmethod
    def run(self, fn, sources, spans, *, threads: int | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(start, stop, run_block(fn, sources, start, stop))`` for each ``(start, stop)`` of ``spans``, in order."""

    @abc.abstractmethod
    def map(self, fn: Callable, items, *args) -> Iterator:
        """``fn(item, *args)`` for each of ``items``, yielded in the items' order: whole units of work
        (a text file counted by path), where :meth:`run` takes row blocks. An error of ``fn`` is raised
        as it is when its item's turn comes."""

    def close(self) -> None:
        """End what the engine started (a cluster's client); the default has nothing to end."""


def collect(parts, n: int, *, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The ``(start, stop, values)`` blocks of :meth:`Engine.blocks` as one float64 array of ``n`` rows."""
    out = None
    for start, stop, part in parts:
        if out is None:
            out = np.empty((n,) + np.shape(part)[1:], dtype=np.float64)
        out[start:stop] = part
        if progress is not None:
            progress(stop)
    return out


# -- objects that travel to workers: identity and counts -------------------------------------------
#
# A source or input object pickled for a cluster carries a token (its state keeps it). The client
# registers the original under that token, so what comes back from a worker naming a copy (the
# source of a RowError, the counts of a block) reaches the original.

_registry: "weakref.WeakValueDictionary[str, object]" = weakref.WeakValueDictionary()
_tokens = itertools.count()
_task = threading.local()  # .counts: the counts of the block running on this thread of a worker


def remote_token(obj) -> str:
    """``obj``'s token (given and registered here on first use; a worker's copy keeps the client's)."""
    token = obj.__dict__.get("_remote_token")
    if token is None:
        token = obj._remote_token = f"{os.getpid()}-{id(obj):x}-{next(_tokens)}"
        _registry[token] = obj
    return token


def remote_object(token):
    """The object registered under ``token`` in this process, else None."""
    return _registry.get(token) if isinstance(token, str) else None


def count(owner, name: str, n: int) -> None:
    """Add ``n`` to the counter attribute ``name`` of ``owner`` (under its ``lock``, a ``threading.Lock``).

    In a block running on a cluster worker (:func:`run_counted`) the count is kept with the
    block's result instead, and added to the client's ``owner`` when the result arrives.
    """
    counts = getattr(_task, "counts", None)
    if counts is not None:
        key = (remote_token(owner), name)
        counts[key] = counts.get(key, 0) + n
        return
    with owner.lock:
        setattr(owner, name, getattr(owner, name) + n)


def run_counted(fn: Callable[..., np.ndarray], sources, start: int, stop: int):
    """:func:`run_block` on a worker: ``(values, counts)``, the counts :func:`count` made meanwhile
    keyed by ``(remote_token(owner), name)``, for the client to add to its own objects."""
    _task.counts = {}
    try:
        return run_block(fn, sources, start, stop), _task.counts
    finally:
        _task.counts = None
