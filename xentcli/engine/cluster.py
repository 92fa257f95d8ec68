"""The Dask runner (``--scheduler ADDRESS``): the engine's row blocks as tasks of a distributed cluster.

What travels is the per-row function and its sources, pickled once per run
(:mod:`cloudpickle`: the functions are closures) into a *payload* task; every
block task takes that payload and its ``(start, stop)``. A worker rebuilds the
sources from their paths and reader parameters (``__setstate__`` reopens the
file; the data is never shipped) and runs the same :func:`~xentcli.engine.base.run_block`
as the thread pool, on the same block boundaries. The client takes the results
back in input order, so everything after (reductions, writers) is the local
engine's, and the numbers are identical bit for bit.

* The client keeps the run's futures in a queue in input order, at most
  :data:`IN_FLIGHT` per worker thread, and waits on the head: one gather on the
  run's own client brings it and the blocks behind it already done, and a new
  block is submitted for each one handed on. Memory stays bounded on the
  workers and here, whatever the input's size. Nothing waits through the
  process's *default* client (``as_completed`` and ``wait`` do): that may be
  another client, with another event loop, when the caller has one of its own.
* A task that fails raises on the client when its turn comes, as on the thread
  pool (so the first bad block in input order is the one reported). A
  :class:`~xentcli.core.RowError` is shifted to its row in the whole input on the
  worker; its ``source`` travels as a token and is mapped back here to the
  client's own input object, which locates the error (file, line).
* A gather that brings nothing back within :data:`STALL_ENV` seconds
  (:data:`STALL_SECONDS` by default) ends the run with a one-line
  :class:`~xentcli.errors.CallError` naming the scheduler, never a hang.
* Counts made on a worker (``--renormalize`` rows rescaled, float16 values at
  the limit) come back with each block's result (:func:`~xentcli.engine.base.count`).
* A worker lost mid-run costs time only: the scheduler runs its tasks again
  elsewhere, and the payload is a task, not scattered data, so it is recomputed
  if its only holder is lost.
* Inputs of one block run on the thread pool: a cluster would only add its start-up.
* Dask speaks only through xent's one-line messages: while a run's client is open the
  ``distributed``, ``tornado`` and ``asyncio`` loggers of this process are silenced (the
  tracebacks of a lost scheduler, the "Task exception was never retrieved" of a gather cut
  short), the "Sending large graph" warning of the payload (stdin data travels in it, on
  purpose) is not shown, and a refused connection fails at once. ``--debug`` or
  ``XENT_DEBUG`` shows it all.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import uuid
import warnings
from collections import deque

from ..core.checks import RowError
from ..environment import env_number, usable_cores
from ..errors import CallError
from ..numbers import ascii_spelled
from .base import PER_CORE_LIMIT, Engine, count, max_threads, remote_object, remote_token, run_counted
from .threads import ThreadPool

__all__ = ["DaskCluster", "parse_address", "stall_seconds", "IN_FLIGHT", "PIP_LINE", "STALL_ENV"]

#: Tasks per worker thread submitted and not yet handed on (results included): enough to hide the
#: round trips of small tasks (a few ms each), few enough to bound memory (blocks are ≤ 16 MiB).
IN_FLIGHT = 4
PIP_LINE = "pip install 'xentcli[dask]'"
#: Seconds to reach a running scheduler before giving up.
CONNECT_TIMEOUT = 20
#: Seconds for each step of the one connection that tells a refused address (Dask's connect would retry
#: a refused connection all of :data:`CONNECT_TIMEOUT`).
REFUSED_SECONDS = 2.0
#: Seconds to wait for the next block in input order before calling the run stalled, and its variable.
#: Generous: a block is seconds of work at most, and a lost worker's blocks run again well within it.
STALL_SECONDS = 600.0
STALL_ENV = "XENT_SCHEDULER_STALL"

_LOCAL = re.compile(r"local:([0-9]+)")
_REMOTE = re.compile(r"(tcp|tls|ucx|ws|wss|inproc)://[^\s/:]+(:\d+)?/?")


def parse_address(address: str, name: str | None = None) -> tuple[str, int | None]:
    """``("local", N)`` for ``local:N``, ``("remote", None)`` for ``tcp://host:port`` and the like;
    a wrong call otherwise, its message starting with ``name`` (default ``--scheduler ADDRESS``)."""
    address = address.strip()
    m = _LOCAL.fullmatch(address)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise CallError(f"{name or '--scheduler ' + address}: a local cluster needs at least 1 worker "
                            "(local:N, N ≥ 1)")
        most = max_threads()
        if n > most:
            raise CallError(f"{name or '--scheduler ' + address}: a local cluster takes at most {most} workers "
                            f"({PER_CORE_LIMIT} per core, and xent may use {usable_cores()} cores here)")
        return "local", n
    if _REMOTE.fullmatch(address):
        return "remote", None
    raise CallError(f"{name or '--scheduler ' + repr(address)}: not a scheduler address: give tcp://HOST:PORT "
                    "(a running Dask scheduler, e.g. tcp://10.0.0.5:8786) or local:N (N worker processes "
                    "for this run)")


def stall_seconds() -> float:
    """:data:`STALL_ENV` if set (seconds, > 0), else :data:`STALL_SECONDS`."""
    raw = os.environ.get(STALL_ENV, "").strip()
    if not raw:
        return STALL_SECONDS
    try:
        seconds = float(raw) if ascii_spelled(raw) else float("nan")
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise CallError(f"{STALL_ENV}={raw!r}: give the seconds to wait for a block of --scheduler (a number > 0)")
    return seconds


#: The loggers silenced while a run's client is open (and their children that have a level of their own).
QUIET_LOGGERS = ("distributed", "tornado", "asyncio")


def _debug() -> bool:
    """``--debug`` or ``XENT_DEBUG``, as :func:`xentcli.cli.XentGroup.main` reads them: show Dask's own output."""
    return bool(os.environ.get("XENT_DEBUG")) or "--debug" in sys.argv[1:]


def _silence() -> dict[str, int]:
    """Raise :data:`QUIET_LOGGERS` (and their children with a level of their own) above CRITICAL;
    their former levels, for :func:`_restore`."""
    saved = {}
    loggers = logging.Logger.manager.loggerDict
    for name in [*QUIET_LOGGERS, *(n for n in list(loggers) if n.startswith(tuple(q + "." for q in QUIET_LOGGERS)))]:
        logger = logging.getLogger(name) if name in QUIET_LOGGERS else loggers.get(name)
        if isinstance(logger, logging.Logger) and (name in QUIET_LOGGERS or logger.level != logging.NOTSET):
            saved[name] = logger.level
            logger.setLevel(logging.CRITICAL + 1)
    return saved


def _drop(loop, context) -> None:
    """The exception handler of a run's event loop without ``--debug``: nothing this loop reports
    (a task's exception never retrieved, a callback's error) is the user's business."""


def _restore(saved: dict[str, int]) -> None:
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _no_interrupts_inherited():
    """SIGINT blocked while a local cluster starts: the threads started meanwhile (Dask's event loop,
    which spawns the worker processes, also those restarted later) and the worker processes inherit
    the mask, so Ctrl-C, which the terminal sends to every process of the job, reaches only xent.
    xent then shuts the cluster down; a worker never prints a KeyboardInterrupt of its own. A Ctrl-C
    that comes while the cluster starts is delivered when it has started.

    SIGTERM and SIGHUP that come meanwhile are handled when it has started too (their handlers are
    Python's, so nothing of this reaches the workers): cut short mid-start, the cluster would be
    nobody's to close, and its worker processes would outlive the run and fill its scratch folder
    after it was removed."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    deferred = {}
    for signum in (getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)):
        handler = signal.getsignal(signum)
        if callable(handler):
            deferred[signum] = handler
            signal.signal(signum, lambda n, frame: came.append(n))
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        for signum, handler in deferred.items():
            signal.signal(signum, handler)
        if came:
            deferred[came[0]](came[0], None)


def _refused(address: str) -> bool:
    """Whether a ``tcp://`` ``address`` refuses connections (nothing listens there), which Dask's own
    connect retries for its whole timeout. One attempt of Dask's TCP connector, completed by the
    handshake Dask's connect makes (a connection closed before it leaves a line in the scheduler's
    log), on a loop in a thread of its own (the caller's thread may run a loop already). False
    whenever in doubt: Dask's connect decides."""
    if not address.startswith("tcp://"):
        return False
    import asyncio

    refused = []

    async def probe():
        from distributed.comm.core import parse_address as split
        from distributed.comm.registry import get_backend

        scheme, loc = split(address)
        comm = await asyncio.wait_for(get_backend(scheme).get_connector().connect(loc), REFUSED_SECONDS)
        try:
            await asyncio.wait_for(comm.write(comm.handshake_info()), REFUSED_SECONDS)
            await asyncio.wait_for(comm.read(), REFUSED_SECONDS)
        finally:
            await comm.close()

    def run():
        try:
            asyncio.run(probe())
        except Exception as e:
            while e is not None:
                if isinstance(e, ConnectionRefusedError) or "ConnectionRefusedError" in str(e):
                    refused.append(True)
                    return
                e = e.__cause__ or e.__context__

    thread = threading.Thread(target=run, name="xent-scheduler-probe", daemon=True)
    thread.start()
    thread.join(3 * REFUSED_SECONDS + 5)
    return bool(refused)


def _run(payload, start: int, stop: int):
    """One block on a worker: ``(fn(rows…), counts)``; a RowError's source becomes its token."""
    fn, sources = payload
    delay = env_number("XENT_TEST_BLOCK_DELAY", 0.0, what="seconds", low=0)  # tests only: slow blocks
    if delay:
        import time

        time.sleep(delay)
    try:
        return run_counted(fn, sources, start, stop)
    except RowError as err:
        if err.source is not None and not isinstance(err.source, str):
            err.source = remote_token(err.source)
        raise


def _running(client, futures) -> bool:
    """Whether a worker is running one of ``futures`` now, as the scheduler sees it."""
    keys = {f.key for f in futures}
    try:
        return any(keys.intersection(running) for running in client.processing().values())
    except Exception:  # a scheduler that does not answer: the stall stands
        return False


async def _gather(client, futures):
    """``client.gather(futures)`` run on the client's event loop, where ``client.sync`` can bound its time."""
    return await client.gather(futures, asynchronous=True)


def _unpack(blob: bytes):
    import cloudpickle

    return cloudpickle.loads(blob)


class DaskCluster(Engine):
    """Runs the row blocks on a Dask cluster; connects (or starts ``local:N``) at the first
    block of several, and :meth:`close` ends the client and a local cluster."""

    def __init__(self, address: str):
        self.address = address.strip()
        self.kind, self.workers = parse_address(self.address)
        self.stall = stall_seconds()
        self.client = self.cluster = None
        self.scratch: str | None = None  # a local cluster's scratch folder
        self._levels: dict[str, int] | None = None  # the loggers' levels while a client is open

    def _connect(self):
        if self.client is not None:
            return self.client
        from distributed import Client

        if self._levels is None and not _debug():
            self._levels = _silence()
        # Not made the process's default client: a caller's own client (a notebook's) stays its default,
        # and nothing of this run looks the default up.
        try:
            if self.kind == "local":
                from distributed import LocalCluster

                cores = usable_cores()
                # Dask's scratch space (locks, spilled data) in a folder of this run's, removed by close();
                # its default, $TMPDIR/dask-scratch-space, outlives every run.
                self.scratch = tempfile.mkdtemp(prefix="xent-dask-")
                with _no_interrupts_inherited():
                    self.cluster = LocalCluster(n_workers=self.workers,
                                                threads_per_worker=max(1, cores // self.workers),
                                                processes=True, silence_logs=logging.CRITICAL,
                                                local_directory=self.scratch,
                                                # no dashboard; its HTTP server on any free port
                                                dashboard_address=":0",
                                                scheduler_kwargs={"dashboard": False, "local_directory": self.scratch})
                    self.client = Client(self.cluster, set_as_default=False)
            else:
                if _refused(self.address):
                    raise ConnectionRefusedError(f"connection refused (nothing listens at {self.address})")
                self.client = Client(self.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as e:
            self.close()
            raise CallError(f"--scheduler {self.address}: cannot reach the scheduler: {e}") from e
        if self._levels is not None:
            # The client's event loop is this run's alone (a local cluster's too, which the client shares).
            # Its tasks may be collected after close, at exit even: a gather cut short by the stall limit
            # then says "Task exception was never retrieved … AllExit" through this loop's handler.
            try:
                self.client.loop.asyncio_loop.set_exception_handler(_drop)
            except Exception:
                pass
        return self.client

    def run(self, fn, sources, spans, *, threads: int | None = None):
        if len(spans) <= 1:
            yield from ThreadPool().run(fn, sources, spans, threads=threads)
            return
        import cloudpickle

        client = self._connect()
        run = uuid.uuid4().hex[:12]
        # Pickled here once: an unpicklable capture fails now, before any task is sent.
        blob = cloudpickle.dumps((fn, tuple(sources)))
        with warnings.catch_warnings():
            if not _debug():  # large on purpose when it carries stdin's data: sent once, to one task
                warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            payload = client.submit(_unpack, blob, pure=False, key=f"xent-payload-{run}")
        del blob
        window = max(2, IN_FLIGHT * sum(client.nthreads().values()))
        queue: deque = deque()  # the futures of blocks head.., in input order
        fetched: deque = deque()  # the results of the first blocks of queue, already here
        head = nxt = 0

        def submit():
            nonlocal nxt
            s, e = spans[nxt]
            queue.append(client.submit(_run, payload, s, e, pure=False, key=f"xent-block-{run}-{nxt}"))
            nxt += 1

        try:
            while nxt < len(spans) and len(queue) < window:
                submit()
            while queue:
                if not fetched:
                    # The head, and the blocks behind it already done: one round trip for them all.
                    done = itertools.takewhile(lambda f: f.status == "finished", itertools.islice(queue, 1, None))
                    fetched.extend(self._fetch(client, [queue[0], *done]))
                part, counts = fetched.popleft()
                queue.popleft()
                for (token, name), n in counts.items():
                    owner = remote_object(token)
                    if owner is not None:
                        count(owner, name, n)
                s, e = spans[head]
                head += 1
                if nxt < len(spans):
                    submit()  # before the yield: the cluster works while the consumer does
                yield s, e, part
        finally:  # an error, or the consumer stopped early: what is still running is of no use
            left = list(queue)
            queue.clear()
            try:
                if left:
                    client.cancel(left + [payload])
                else:
                    payload.release()
            except Exception:  # a client that lost its scheduler: the error that brought us here matters
                pass

    def map(self, fn, items, *args):
        """``fn(item, *args)`` of each item as a task of its own (``fn`` and ``args`` pickled with it, so
        a path names a file every worker reads), handed back in the items' order, at most one task per
        worker thread submitted ahead of what was handed on. An item's task may run longer than the
        stall limit: the wait goes on while the scheduler has it running on a worker."""
        items = list(items)
        if len(items) <= 1:
            yield from ThreadPool().map(fn, items, *args)
            return
        client = self._connect()
        run = uuid.uuid4().hex[:12]
        window = max(2, sum(client.nthreads().values()))
        queue: deque = deque()
        nxt = 0
        try:
            while queue or nxt < len(items):
                while nxt < len(items) and len(queue) < window:
                    queue.append(client.submit(fn, items[nxt], *args, pure=False, key=f"xent-item-{run}-{nxt}"))
                    nxt += 1
                yield self._fetch(client, [queue.popleft()], running_ok=True)[0]
        finally:
            left = list(queue)
            queue.clear()
            if left:
                try:
                    client.cancel(left)
                except Exception:
                    pass

    def _fetch(self, client, futures, running_ok: bool = False):
        """The ``(part, counts)`` of ``futures``: the head block and blocks behind it that are done.

        The one wait of the run, on the run's own client and event loop: the first failing block in
        input order is the one raised (those behind the head are done, not failed), a lost worker's
        blocks are waited for while Dask runs them again, and nothing coming back within
        :attr:`stall` seconds ends the run with one line instead of a hang (with ``running_ok``, unless
        the scheduler has one of them running on a worker: then the wait goes on).
        """
        from distributed import CancelledError, KilledWorker
        from distributed import TimeoutError as DaskTimeout

        try:
            while True:
                try:
                    return client.sync(_gather, client, futures, callback_timeout=self.stall)
                except DaskTimeout:
                    if not (running_ok and _running(client, futures)):
                        raise
        except RowError as err:
            if isinstance(err.source, str):
                err.source = remote_object(err.source)
            raise err.with_traceback(None) from None
        except DaskTimeout:
            if any(f.status == "error" for f in futures):  # a block raised it
                raise
            raise CallError(f"--scheduler {self.address}: no block came back in {self.stall:g} s (no worker, or "
                            f"all busy with other work); {STALL_ENV} sets this limit") from None
        except CancelledError:
            raise CallError(f"--scheduler {self.address}: the cluster dropped a block of this run "
                            "(the scheduler restarted or lost this client)") from None
        except KilledWorker:
            raise CallError(f"--scheduler {self.address}: every worker that ran a block of this run died "
                            "(out of memory? the workers' logs tell)") from None

    def close(self) -> None:
        """Close the client and a local cluster (its scratch folder removed), still quietly; then the loggers
        are as they were."""
        client, cluster, self.client, self.cluster = self.client, self.cluster, None, None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass
        if cluster is not None:
            try:
                cluster.close()
            except Exception:
                pass
        scratch, self.scratch = self.scratch, None
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        levels, self._levels = self._levels, None
        if levels is not None:
            _restore(levels)

