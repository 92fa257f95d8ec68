"""Row-block evaluation: one engine for every command, with one seam — where the blocks run.

A command makes its :class:`Engine` from its ``--scheduler`` value (:func:`engine_for`) and hands it
to what reads its inputs (:func:`xentcli.inputs.load_predictions`), which runs the per-row core
functions on blocks of rows through :meth:`Engine.blocks`:

* :class:`ThreadPool` (no ``--scheduler``): a thread pool in this process —
  NumPy releases the GIL inside its loops, so the cores work in parallel;
* :class:`~.cluster.DaskCluster` (``--scheduler ADDRESS``): the tasks of a Dask
  distributed cluster, each worker reading its own blocks by path (imported only
  then: dask is an optional extra).

Both run the same :func:`~.base.run_block` on the same block boundaries and hand the
blocks back in order, so results are identical, bit for bit. Inputs are read
a block at a time (``rows(start, stop)`` of a row reader such as
:class:`~xentcli.readers.npy.NpyRows`, or a slice of an array), so memory stays
near ``threads × window × block`` whatever the input size.

Each row's value depends on that row alone, so results are identical
whatever the block size, the number of threads and the engine; reductions are
taken afterwards over the whole per-row vector, in float64.
"""

from __future__ import annotations

from .base import (
    BLOCK_ELEMENTS,
    LEAN_BLOCK_ELEMENTS,
    PER_CORE_LIMIT,
    Engine,
    block_rows,
    collect,
    count,
    default_threads,
    max_threads,
    read_rows,
    remote_object,
    remote_token,
)
from .blocks import (
    RowBlocks,
)
from .threads import (
    ThreadPool,
)

__all__ = [
    "BLOCK_ELEMENTS",
    "LEAN_BLOCK_ELEMENTS",
    "PER_CORE_LIMIT",
    "Engine",
    "RowBlocks",
    "ThreadPool",
    "block_rows",
    "collect",
    "count",
    "default_threads",
    "engine_for",
    "max_threads",
    "read_rows",
    "remote_object",
    "remote_token",
]


def engine_for(address: str | None) -> Engine:
    """The engine of a ``--scheduler`` value: the Dask cluster at ``address``, else this process's threads.

    ``tcp://host:port`` (any address ``distributed.Client`` takes) joins a running
    scheduler; ``local:N`` starts N worker processes for the run. Nothing connects
    until a block runs; the engine's ``close()`` ends the run's client and cluster.
    """
    if address is None:
        return ThreadPool()
    from .cluster import DaskCluster  # dask itself is imported when the first block runs

    return DaskCluster(address)
