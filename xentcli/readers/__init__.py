"""Reading matrix options: one module per input format, one registry, one entry point.

:func:`read_matrix` turns an option's value — a path (``FILE`` or ``FILE:SELECTOR``),
``-`` for stdin, or an inline value — into a :class:`Matrix`. The file's extension picks
the reader from :data:`FORMATS`; a path without one is sniffed (NPY magic bytes, else
text). Readers raise :class:`~xentcli.errors.DataError` (exit 1) or
:class:`~xentcli.errors.CallError` (exit 2) whose message already names the option, the
source and, for text, the 1-based physical line and column.

A directory or a glob (``'dump/shard-*.npy'``, ``'dump/*.safetensors:logits'``) names several
files read as one matrix: :mod:`.shards`.

Adding a format: a module here with ``read(path, where, selector) -> Matrix`` and one
line in :data:`FORMATS` (:mod:`.formats`).
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import os
import stat
import sys

from ..errors import CallError, DataError
from .formats import FORMATS, SUPPORTED_EXTENSIONS, TEXT_EXTENSIONS, Format, sniff
from .inline import looks_inline, parse_inline
from .npy import NPY_MAGIC
from .source import Matrix

__all__ = [
    "Matrix",
    "FORMATS",
    "SUPPORTED_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "read_matrix",
    "reads_stdin",
    "spool_limit",
    "parse_inline",
    "split_selector",
]


#: stdin and other streams (pipes, ``<(…)``) are held in memory up to this size, else spooled
#: to a temporary file, which is then read like any file (streamed, in bounded memory).
SPOOL_BYTES = 64 << 20


def read_matrix(spec: str, option: str, *, stdin=None, header: str = "auto", names: bool = False) -> Matrix:
    """Read the value of a matrix option: ``-``, a path (``FILE[:SELECTOR]``), or an inline value.

    A value is a path when it exists, has a supported extension, or contains a
    path separator; otherwise a value made only of numbers, separators and
    brackets is inline. A path that is not a regular file (a pipe, ``<(…)``,
    ``/dev/fd/N``) is read exactly once, like ``-``. ``header`` says how
    text reads a first line of numbers (:data:`text.HEADER_MODES`); ``names``
    lets it read one column of class names (labels) instead of refusing it.
    """
    options = {"header": header, "names": names}
    if reads_stdin(spec):
        return _read_stream(stdin if stdin is not None else sys.stdin.buffer, f"{option} (stdin)", "",
                            spec[2:] or None, options)
    if (os.path.isdir(spec) or os.path.isdir(spec.rsplit(":", 1)[0]) or any(c in spec for c in "*?[")) \
            and not os.path.isfile(spec):
        from . import shards  # several files as one matrix: a directory or a glob (docs/scale-out.md)

        if shards.is_sharded(spec):
            return shards.read(spec, option, read_matrix, header=header, names=names)
    path, selector = split_selector(spec)
    ext = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        if not (ext in FORMATS or "/" in spec or os.sep in spec or not spec.strip()) and looks_inline(spec):
            return Matrix(parse_inline(spec, option), f"{option} inline value")
        if ext and ext not in FORMATS:
            raise CallError(_unsupported(option, path, ext))
        raise CallError(f"{option}: file not found: {path}{_broken_link(path)}")
    where = f"{option} {path}"
    if os.path.isdir(path):
        raise CallError(f"{where}: is a directory, expected a file")
    if ext and ext not in FORMATS:
        raise CallError(_unsupported(option, path, ext))
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            with open(path, "rb") as f:
                return _read_stream(f, where, ext, selector, options)
        if not ext:  # no extension: sniff
            with open(path, "rb") as f:
                ext = sniff(f.read(64))
        return _read_file(FORMATS[ext], path, where, selector, options)
    except OSError as e:
        raise DataError(f"{where}: cannot read: {e.strerror or e}") from e
    except MemoryError as e:  # what a file declares is bounded, but a small machine may still run out
        raise DataError(f"{where}: out of memory reading the file") from e


def _broken_link(path: str) -> str:
    """What a path that does not exist but is a symlink is: a loop, or a link to a missing file."""
    if not os.path.islink(path):
        return ""
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return " (a symlink loop)"
    return f" (a symlink to {os.readlink(path)}, which does not exist)"


def _read_file(entry: Format, path: str, where: str, selector: str | None, options: dict) -> Matrix:
    return _reader(entry, where).read(path, where, selector, **{k: v for k, v in options.items() if k in entry.takes})


def _reader(entry: Format, where: str):
    """The reader module of ``entry``, imported on first use; a missing optional package is a wrong call."""
    if entry.package is not None and importlib.util.find_spec(entry.package) is None:  # looked up, not imported
        raise CallError(f"{where}: reading this format needs {entry.package}: pip install 'xentcli[{entry.extra}]'")
    return importlib.import_module(f"{__name__}.{entry.module}")


def _unsupported(option: str, path: str, ext: str) -> str:
    return (
        f"{option} {path}: unsupported extension '{ext}'; "
        f"expected one of {' '.join(SUPPORTED_EXTENSIONS)} (or '-' for stdin)"
    )


def reads_stdin(spec: str | None) -> bool:
    """Whether an option's value reads stdin: ``-``, or ``-:NAME`` for one array of an archive there."""
    return spec is not None and (spec == "-" or spec.startswith("-:"))


def split_selector(spec: str) -> tuple[str, str | None]:
    """``FILE:SELECTOR`` → (FILE, SELECTOR); an existing path that contains ``:`` is a path."""
    if ":" in spec and not os.path.exists(spec):
        path, selector = spec.rsplit(":", 1)
        if os.path.exists(path) or os.path.splitext(path)[1].lower() in FORMATS:
            return path, selector
    return spec, None


def _read_stream(stream, where: str, ext: str, selector: str | None, options: dict) -> Matrix:
    """Read a stream once: held in memory when small text or NPY, else spooled to a temporary file
    (:func:`_spool`), which is then read like any file of its format.

    The format is the extension's, else sniffed from the bytes already read.
    """
    data = stream.read(SPOOL_BYTES + 1)
    if isinstance(data, str):
        data = data.encode()
    ext = ext or sniff(data[:64])
    if len(data) <= SPOOL_BYTES and selector is None and ext in (".npy", *TEXT_EXTENSIONS):
        if ext == ".npy":
            from . import npy

            if not data.startswith(NPY_MAGIC):
                raise DataError(f"{where}: not an NPY file (it does not start with the NPY magic bytes)")
            return npy.read_bytes(data, where)
        from . import text

        return text.read_bytes(data, where, header=options["header"], names=options["names"])
    return _read_file(FORMATS[ext], _spool(stream, data, where, ext), where, selector, options)


#: Formats that are text: a NUL byte cannot be in them, so a stream holding one is refused, not spooled.
_TEXT_FORMATS = (*TEXT_EXTENSIONS, ".json", ".jsonl")
#: The spool stops before the free space of its file system falls below the smaller of these.
SPOOL_FREE_BYTES = 1 << 30
SPOOL_FREE_SHARE = 0.05


def _spool(stream, head: bytes, where: str, ext: str) -> str:
    """Copy ``head`` and the rest of ``stream`` to a temporary file (in ``$TMPDIR``); its path.

    Bounded: text holding a NUL byte is refused as it arrives (``/dev/zero`` is no matrix), the
    spool stops at ``XENT_SPOOL_MAX`` bytes when that is set (``500M``, ``20G``; a bad value is
    warned of), and always before the free space there falls below :data:`SPOOL_FREE_BYTES` or
    :data:`SPOOL_FREE_SHARE` of the file system, whichever is less. The file is removed when xent
    exits, however it exits (a signal included), and at once when spooling fails.
    """
    import atexit
    import tempfile

    text = ext in _TEXT_FORMATS
    most = spool_limit()
    fd, tmp = tempfile.mkstemp(prefix="xent-spool-", suffix=ext)
    atexit.register(_remove, tmp)
    folder = os.path.dirname(tmp)
    written = 0
    try:
        with os.fdopen(fd, "wb") as f:
            chunk = head
            while chunk:
                nul = chunk.find(b"\0") if text else -1
                if nul >= 0:
                    raise DataError(f"{where}: binary data where text was expected (a NUL byte at byte "
                                    f"{written + nul + 1}); no format xent reads starts like this")
                if most is not None and written + len(chunk) > most:
                    raise DataError(f"{where}: the input is larger than XENT_SPOOL_MAX ({most:,} bytes), the most "
                                    f"xent copies from a stream to {folder}; save it to a file and name the file")
                _check_room(f, folder, where, written, len(chunk))
                f.write(chunk)
                written += len(chunk)
                chunk = stream.read(1 << 20)
                if isinstance(chunk, str):
                    chunk = chunk.encode()
    except BaseException as e:
        _remove(tmp)
        if isinstance(e, OSError):
            from ..errors import reason

            raise DataError(f"{where}: cannot copy the stream to {folder}: {reason(e)}") from e
        raise
    return tmp


def spool_limit() -> int | None:
    """``XENT_SPOOL_MAX`` in bytes (``123``, ``500M``, ``1.5G``, ``2T``), else None: no limit but the free space."""
    from ..environment import env_number

    return env_number("XENT_SPOOL_MAX", None, what="bytes", low=1, parse=_parse_size)


def _check_room(f, folder: str, where: str, written: int, coming: int) -> None:
    """DataError when ``coming`` more bytes would leave the spool's file system less room than its margin."""
    st = os.fstatvfs(f.fileno())
    free, size = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    margin = min(SPOOL_FREE_BYTES, SPOOL_FREE_SHARE * size)
    if free - coming < margin:
        raise DataError(f"{where}: copying the stream to {folder} would leave less than {margin / 2**20:,.0f} MiB free "
                        f"there ({written:,} bytes copied); set TMPDIR to a folder with room, or save the input to "
                        "a file and name the file")


_SIZE = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _parse_size(text: str) -> int:
    """Bytes from ``123``, ``500M``, ``1.5G``, ``2T`` (powers of 1024; a trailing ``B`` or ``iB`` is allowed)."""
    import re

    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", text.strip(), re.IGNORECASE)
    if not m:
        raise ValueError(text)
    return int(float(m.group(1)) * _SIZE[m.group(2).upper()])


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
