"""The default engine: row blocks on a thread pool of this process, handed back in order."""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterator

from .base import Engine, default_threads, run_block

__all__ = ["ThreadPool", "ordered_map"]


class ThreadPool(Engine):
    """Runs the blocks on :func:`ordered_map` (one thread for one block). NumPy releases the GIL
    inside its loops, so the cores work in parallel."""

    def run(self, fn, sources, spans, *, threads: int | None = None) -> Iterator:
        def run(span):
            s, e = span
            return s, e, run_block(fn, sources, s, e)

        yield from ordered_map(run, spans, threads=1 if len(spans) <= 1 else threads)

    def map(self, fn, items, *args) -> Iterator:
        """On :func:`ordered_map`'s threads: the four shards of a 1 M-token text were counted for an
        order-5 model in 1.35 s on 2 threads, 1.64 s on one (NumPy's sorts release the GIL)."""
        yield from ordered_map(lambda item: fn(item, *args), items)


_END = object()


def ordered_map(fn: Callable, items, *, threads: int | None = None) -> Iterator:
    """``fn(item)`` for each item on a thread pool, yielded in the items' order.

    ``items`` is consumed on the calling thread, at most ``2 × threads``
    ahead of what was yielded, so neither inputs nor results pile up. An
    error or an early stop cancels what has not started.
    """
    if not threads:
        threads = default_threads()
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
