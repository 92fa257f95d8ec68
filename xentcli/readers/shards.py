"""Many files read as one matrix (docs/scale-out.md): a quoted glob (``'dump/shard-*.npy'``) or a directory.

Which files, in which order:

* a **glob** takes every regular file it matches (directories it matches are skipped; ``*`` does not
  match a leading dot, as in the shell); a matched file of an unsupported extension is a wrong
  call naming it, as when it is named alone;
* a **directory** takes every regular file directly in it whose extension is in the
  registry (:data:`~xentcli.readers.FORMATS`); hidden files (``.name``), files of other
  extensions or none, and subdirectories are skipped (the skipped files are named in one
  ``Warning:`` line). Its files must be of one format: several are a wrong call naming one glob
  per format (``'d/*.npy'``, ``'d/*.csv'``), which a user may pass to mix them. Hugging Face's
  ``Dataset.save_to_disk`` metadata (:data:`HF_METADATA`) beside ``.arrow`` files is skipped and
  said, so such a folder reads its ``.arrow`` shards;
* only **regular files** (or symlinks to them): a FIFO, a device, a socket, a dangling symlink or
  a symlink loop matched by a glob or found in a directory is skipped and named in one
  ``Warning:`` line, so nothing waits on a pipe nobody writes;
* in **natural order**: names split into runs of digits and of other characters, the digit
  runs compared as numbers (``shard-2`` before ``shard-10``); ties (``shard-01``, ``shard-1``)
  by the plain path. The whole path is compared, so ``a/…`` comes before ``b/…``.

A glob matching nothing, or a directory holding no supported file, is a wrong call (exit 2).
One file is read as if named alone. ``FILE:SELECTOR`` applies to each file
(``'dump/*.safetensors:logits'``); text options (``--input-header``, class names) too.
The files are read as one matrix by :mod:`.shard_matrix`.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import stat

from ..errors import CallError
from .formats import FORMATS
from .selector import listed
from .shard_matrix import Shard, ShardMatrix
from .source import Matrix

__all__ = ["is_sharded", "read", "natural_key", "HF_METADATA", "KEEP_BYTES"]

#: Arrays of shards parsed whole are kept up to this many bytes in all; beyond, parsed again when read.
KEEP_BYTES = 256 << 20
#: What ``datasets.Dataset.save_to_disk`` writes beside its ``data-*.arrow`` shards: JSON, but no data.
HF_METADATA = frozenset({"dataset_info.json", "state.json"})

_GLOB_CHARS = re.compile(r"[*?\[]")
_DIGITS = re.compile(r"(\d+)")


def natural_key(path: str):
    """Sort key: digit runs compared as numbers (``shard-2`` < ``shard-10``), then the plain path."""
    parts = _DIGITS.split(path)
    return [int(p) if i % 2 else p for i, p in enumerate(parts)], path


def is_sharded(spec: str) -> bool:
    """Whether ``spec`` names several files: a directory (``DIR`` or ``DIR:SELECTOR``), or a glob.

    An existing file is a file whatever its name; a value that looks inline
    (``[[4,2,1]]``) is not a glob unless it has a path separator or a supported extension.
    """
    if os.path.isfile(spec):
        return False
    path, _ = _split(spec)
    if os.path.isdir(path):
        return True
    if not _GLOB_CHARS.search(path):
        return False
    if "*" in path or "?" in path:
        return True
    # a '[' alone: inline brackets unless it looks like a path
    return "/" in path or os.sep in path or os.path.splitext(path)[1].lower() in FORMATS


def _split(spec: str) -> tuple[str, str | None]:
    """``PATTERN:SELECTOR`` → (PATTERN, SELECTOR): the selector is split off when what is left is a
    directory, matches files, or ends in a supported extension (as :func:`split_selector` does)."""
    if os.path.exists(spec) or ":" not in spec:
        return spec, None
    left, right = spec.rsplit(":", 1)
    if os.path.exists(left) or os.path.splitext(left)[1].lower() in FORMATS:
        return left, right
    if _GLOB_CHARS.search(left) and not glob.glob(spec) and glob.glob(left):
        return left, right
    return spec, None


def _files(path: str, option: str, selector: str | None = None) -> tuple[list[str], list[str]]:
    """The regular files ``path`` (a directory or a glob) names, in natural order, and a note for each
    kind of file skipped (of no supported extension; not a regular file; Hugging Face's metadata).
    ``selector`` goes into the globs a directory of several formats is told to use."""
    unsupported: list[str] = []
    irregular: list[str] = []
    files = []
    if os.path.isdir(path):
        for entry in os.scandir(path):
            if entry.name.startswith("."):
                continue
            kind = _kind(entry.path)
            if kind == "a directory":
                continue
            if os.path.splitext(entry.name)[1].lower() not in FORMATS:
                unsupported.append(entry.name)
            elif kind is None:
                files.append(entry.path)
            else:
                irregular.append(f"{entry.name} ({kind})")
        if not files:
            raise CallError(f"{option} {path}: is a directory holding no file of a supported extension "
                            f"({' '.join(FORMATS)})" + _holds(unsupported + irregular))
        files, metadata = _one_format(files, path, option, selector)
    else:
        metadata = []
        for match in glob.glob(path):
            kind = _kind(match)
            if kind is None:
                files.append(match)
            elif kind != "a directory":
                irregular.append(f"{match} ({kind})")
        if not files:
            raise CallError(f"{option} {path}: no file matches the pattern"
                            + _holds(irregular, "skipped what is not a regular file:"))
    notes = []
    if metadata:
        notes.append(f"{option} {path}: skipped Hugging Face's dataset metadata beside the .arrow shards: "
                     f"{_listed(metadata)}")
    if unsupported:
        notes.append(f"{option} {path}: skipped {len(unsupported)} file(s) of no supported extension: "
                     f"{_listed(sorted(unsupported, key=natural_key))}")
    if irregular:
        notes.append(f"{option} {path}: skipped {len(irregular)} entries that are not regular files (globs and folders "
                     f"take regular files only): {_listed(sorted(irregular, key=natural_key))}")
    return sorted(files, key=natural_key), notes


def _one_format(files: list[str], path: str, option: str, selector: str | None) -> tuple[list[str], list[str]]:
    """A directory's ``files`` less Hugging Face's metadata beside ``.arrow`` files (and the names
    skipped): of one format, else a wrong call naming one glob per format (each of its extensions)."""
    def extension(file: str) -> str:
        return os.path.splitext(file)[1].lower()

    metadata = []
    if any(extension(f) == ".arrow" for f in files):
        metadata = sorted(os.path.basename(f) for f in files if os.path.basename(f) in HF_METADATA)
        files = [f for f in files if os.path.basename(f) not in HF_METADATA]
    by_format: dict[str, list[str]] = {}
    for ext in sorted({extension(f) for f in files}, key=list(FORMATS).index):
        by_format.setdefault(FORMATS[ext].module, []).append(ext)
    if len(by_format) > 1:
        suffix = "" if selector is None else f":{selector}"
        globs = [f"'{os.path.join(path, '*' + ext)}{suffix}'" for exts in by_format.values() for ext in exts]
        counts = ", ".join(f"{sum(extension(f) in exts for f in files)} {'/'.join(exts)}"
                           for exts in by_format.values())
        raise CallError(f"{option} {path}: the directory holds files of {len(by_format)} formats ({counts}): "
                        f"name the files of one with a glob, e.g. {' or '.join(globs)}")
    return files, metadata


def _kind(path: str) -> str | None:
    """None for a regular file (or a symlink to one); else what ``path`` is, for a note: ``a FIFO``,
    ``a symlink loop``, ``a directory``, …"""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symlink loop"
        if isinstance(e, FileNotFoundError) and os.path.islink(path):
            return "a dangling symlink"
        return e.strerror[:1].lower() + e.strerror[1:] if e.strerror else type(e).__name__
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


def _holds(names: list[str], verb: str = "it holds") -> str:
    return f"; {verb} {_listed(sorted(names, key=natural_key))}" if names else ""


def _listed(names: list[str]) -> str:
    return listed(names, len(names), 5, ellipsis=False)


def read(spec: str, option: str, read_one, **options) -> Matrix:
    """The files ``spec`` names read as one :class:`ShardMatrix` (one file: that file's Matrix).

    ``read_one(spec, option, **options)`` reads one file (``read_matrix``).
    """
    path, selector = _split(spec)
    files, notes = _files(path, option, selector)
    reader = _Reader(read_one, "" if selector is None else f":{selector}", option, options)

    if len(files) == 1:
        m = reader(files[0])
    else:
        budget = [KEEP_BYTES]
        m = ShardMatrix([Shard(file, reader, budget) for file in files], f"{option} {spec}")
    m.notes.extend(notes)
    return m


class _Reader:
    """Reads one shard by the registry (a plain object, not a closure: it pickles with the shards)."""

    def __init__(self, read_one, suffix: str, option: str, options: dict):
        self.read_one, self.suffix, self.option, self.options = read_one, suffix, option, options

    def __call__(self, file: str) -> Matrix:
        return self.read_one(file + self.suffix, self.option, **self.options)


