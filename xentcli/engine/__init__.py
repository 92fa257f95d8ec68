"""Row-block evaluation: one engine for every command, with one seam — where the blocks run.

A per-row core function is applied to blocks of rows sized to stay in cache
(:data:`BLOCK_ELEMENTS` values). Where the blocks run is a *runner*:

* :class:`~.threads.ThreadPool` (the default): a thread pool in this process —
  NumPy releases the GIL inside its loops, so the cores work in parallel;
* :class:`~.cluster.DaskCluster` (``--scheduler ADDRESS``, :func:`use_scheduler`):
  the tasks of a Dask distributed cluster, each worker reading its own blocks
  by path (imported only then: dask is an optional extra).

Both run the same :func:`run_block` on the same block boundaries and hand the
blocks back in order, so results are identical, bit for bit. Inputs are read
a block at a time (:meth:`rows` of a lazy source such as
:class:`~xentcli.readers.npy.NpyRows`, or a slice of an array), so memory stays
near ``threads × window × block`` whatever the input size.

Each row's value depends on that row alone, so results are identical
whatever the block size, the number of threads and the runner; reductions are
taken afterwards over the whole per-row vector, in float64.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from typing import Callable, Iterator

import numpy as np

from ..core.checks import RowError
from ..environment import env_number, usable_cores
from .threads import ordered_map

__all__ = ["BLOCK_ELEMENTS", "LEAN_BLOCK_ELEMENTS", "block_rows", "default_threads", "max_threads", "PER_CORE_LIMIT", "read_rows", "blocks", "ordered_map",
           "map_rows", "collect", "run_block", "use_scheduler", "runner", "count", "remote_token", "remote_object"]

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
    """Rows ``start:stop`` of an array or of a lazy source with a ``rows`` method."""
    reader = getattr(source, "rows", None)
    return reader(start, stop) if reader is not None else np.asarray(source[start:stop])


def run_block(fn: Callable[..., np.ndarray], sources, start: int, stop: int):
    """``fn`` of the rows ``start:stop`` of every source: one block, wherever it runs.

    A :class:`~xentcli.core.RowError` is re-raised with its row counted from the
    first row of the input, not of the block.
    """
    try:
        return fn(*(read_rows(src, start, stop) for src in sources))
    except RowError as err:
        raise err.shifted(start) from None


# -- the seam: where blocks run ------------------------------------------------------------------

_runner = None  # None: the thread pool (threads.THREADS); else what use_scheduler() set


def runner():
    """The runner :func:`blocks` uses now: the thread pool, or the cluster of ``--scheduler``."""
    if _runner is None:
        from .threads import THREADS

        return THREADS
    return _runner


def use_scheduler(address: str | None):
    """Run the row blocks of what follows on the Dask cluster at ``address`` (None: this process's threads).

    ``tcp://host:port`` (any address ``distributed.Client`` takes) joins a running
    scheduler; ``local:N`` starts N worker processes for the run. Nothing connects
    until a block runs; returns the runner, whose ``close()`` ends the run's client
    and cluster. The previous runner, if any, is closed.
    """
    global _runner
    old, _runner = _runner, None
    if old is not None:
        old.close()
    if address is not None:
        from .cluster import DaskCluster  # dask itself is imported when the first block runs

        _runner = DaskCluster(address)
    return _runner


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
    counted from the first row of the input, not of the block. The blocks run
    on the current :func:`runner`, which keeps a bounded number in flight
    (``2 × threads`` on the thread pool), so results never pile up.
    """
    n = len(sources[0])
    step = rows_per_block or block_rows(np.shape(sources[0])[-1] if np.ndim(sources[0]) > 1 else 1, block_elements)
    spans = [(s, min(n, s + step)) for s in range(0, n, step)]
    yield from runner().blocks(fn, sources, spans, threads=threads)


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
    """Add ``n`` to the counter attribute ``name`` of ``owner`` (under ``owner._lock``).

    In a block running on a cluster worker the count is kept with the block's
    result instead, and added to the client's ``owner`` when the result arrives.
    """
    counts = getattr(_task, "counts", None)
    if counts is not None:
        key = (remote_token(owner), name)
        counts[key] = counts.get(key, 0) + n
        return
    with owner._lock:
        setattr(owner, name, getattr(owner, name) + n)
