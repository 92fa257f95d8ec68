"""Where output goes: stdout, or an ``--output`` file replaced atomically, or written through.

:func:`open_output` gives either stdout or a temp file beside the target that replaces it only
when the run succeeds (a symlink's target; a device or FIFO is written through, as a shell
redirection writes it). A write that fails (a full disk, an I/O error) is one ``Error:`` line
naming stdout or the file. What is written there, and in which format, is :mod:`xentcli.writers`'.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from .errors import CallError, DataError, reason

__all__ = ["check_file", "open_output", "writes_through", "WRITE_ERRNOS"]


def check_file(path: str, option: str = "--output") -> None:
    """A file xent is to write: a name, not a directory, in a folder that exists (for a symlink,
    the folder of the file it points to), reachable (no symlink loop)."""
    if path == "":
        raise CallError(f"{option}: expected a file name, got ''")
    target = os.path.abspath(path)
    try:
        os.stat(target)
    except FileNotFoundError:
        pass
    except OSError as e:  # a symlink loop, a folder on the way that is a file, no permission
        raise CallError(f"{option} {path}: {reason(e)}") from e
    if os.path.isdir(target):
        raise CallError(f"{option} {path}: is a directory, expected a file name")
    folder = os.path.dirname(_final_target(target))
    if not os.path.isdir(folder):
        raise CallError(f"{option} {path}: folder {folder} does not exist")


class _Sink:
    """A byte stream whose ``write`` writes everything or raises, and whose failures name it.

    ``BufferedWriter.write`` on a pipe can return a short count instead of
    raising (seen: the reader of ``| head -1`` left during a 10 MB write; 64 KiB
    went out, the rest was dropped and xent exited 0). Writing the rest makes
    the next call raise ``BrokenPipeError``, which becomes exit 141. Any other
    OSError (a full disk, an I/O error) is bad data naming ``name``: the run
    fails with one line, whoever was writing (csv, json, npy, Parquet, a table).
    """

    def __init__(self, out: BinaryIO, name: str):
        self._out, self.name = out, name

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        with self.failures():
            while view:
                view = view[self._out.write(view) or 0 :]
        return len(data)

    def flush(self) -> None:
        with self.failures():
            self._out.flush()

    def __getattr__(self, name):  # what pyarrow's ParquetWriter asks of a file (closed, tell, …)
        return getattr(self._out, name)

    @contextmanager
    def failures(self, only=None):
        """OSErrors of what runs inside, other than a closed pipe, as a DataError naming this output
        (with ``only``, those of these errnos)."""
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as e:
            if only is not None and e.errno not in only:
                raise
            raise DataError(f"{self.name}: {reason(e)}") from e


#: Errors only a write gives: raised by whoever wrote to the output's file descriptor itself
#: (``os.pwrite`` of ``--save-base``), they are the output's.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def writes_through(path: str | None) -> bool:
    """Whether ``--output path`` is written through, as a shell redirection would write it, instead of
    atomically: a device, a FIFO, a socket (anything but a regular file), or an open file descriptor
    named by ``/dev/stdout``, ``/dev/fd/N`` or ``/proc/self/fd/N``. Output written through cannot be
    taken back, so everything is checked before its first byte, as for stdout."""
    if path is None:
        return False
    target = os.path.abspath(path)
    try:
        if not stat.S_ISREG(os.stat(target).st_mode):
            return True
    except OSError:
        return False
    return _descriptor(target) is not None


_FD_PATH = re.compile(r"/(?:dev|proc/self|proc/thread-self|proc/(\d+))/fd/(\d+)")


def _descriptor(target: str) -> int | None:
    """The open file descriptor of this process that ``target`` names, directly or through symlinks
    (``/dev/stdout`` → ``/proc/self/fd/1``): written by a copy of it, as a shell writes to
    ``/dev/stdout``, so appending (``>> log``) still appends."""
    for _ in range(40):  # the kernel's own limit of links followed
        m = _FD_PATH.fullmatch(target)
        if m and (m.group(1) is None or int(m.group(1)) == os.getpid()):
            return int(m.group(2))
        if not os.path.islink(target):
            return None
        target = os.path.normpath(os.path.join(os.path.dirname(target), os.readlink(target)))
    return None


def _final_target(target: str) -> str:
    """The file a path names once symlinks are followed (for a dangling link, the file it would create)."""
    return os.path.realpath(target) if os.path.islink(target) else target


@contextmanager
def open_output(path: str | None, option: str = "--output") -> Iterator[BinaryIO]:
    """Yield stdout's byte stream, or a stream that becomes ``path`` (``option`` names it in messages).

    * A regular file, or a name that does not exist yet: a temp file in the
      target's folder (so ``os.replace`` is an atomic rename on the same file
      system), removed if anything fails: an existing ``path`` is then left
      exactly as it was.
    * A symlink: the same, onto the file it points to (the link stays a link;
      a dangling link gets its file created, as a shell redirection creates it).
    * Anything else (a device such as ``/dev/null``, a FIFO, ``/dev/stdout``):
      written through directly, never replaced (:func:`writes_through`).

    A write that fails (ENOSPC, EIO) is a DataError naming ``stdout`` or ``option path``.
    """
    if path is None:
        sink = _Sink(sys.stdout.buffer, "stdout")
        with sink.failures(WRITE_ERRNOS):
            yield sink
        sink.flush()
        return
    check_file(path, option)
    name = f"{option} {path}"
    if writes_through(path):
        descriptor = _descriptor(os.path.abspath(path))
        try:
            fd = os.dup(descriptor) if descriptor is not None else os.open(path, os.O_WRONLY | os.O_TRUNC)
        except OSError as e:
            raise CallError(f"{name}: cannot write: {reason(e)}") from e
        with os.fdopen(fd, "wb", buffering=0) as f:  # unbuffered: nothing left to fail again at close
            sink = _Sink(f, name)
            with sink.failures(WRITE_ERRNOS):
                yield sink
        return
    target = _final_target(os.path.abspath(path))
    folder = os.path.dirname(target)
    try:
        import tempfile  # only when a file is written: it costs the tiny call's start-up 5 ms

        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as e:
        raise CallError(f"{name}: cannot write in {folder}: {reason(e)}") from e
    try:
        with os.fdopen(fd, "wb", buffering=0) as f:  # unbuffered: nothing left to fail again at close
            sink = _Sink(f, name)
            with sink.failures(WRITE_ERRNOS):
                yield sink
            with sink.failures():
                os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(target))
        with sink.failures():
            os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _mode_for(target: str) -> int:
    """Keep an existing file's permissions; give a new one the umask's (mkstemp makes 0600)."""
    try:
        return os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
