"""The one registry of input formats: which reader module reads each extension, and what it needs.

A leaf: :mod:`xentcli.readers` (one file) and :mod:`.shards` (a folder or a glob of files) both
look extensions up here. Adding a format: a reader module with ``read(path, where, selector)
-> Matrix`` and one line in :data:`FORMATS`.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Format", "FORMATS", "SUPPORTED_EXTENSIONS", "TEXT_EXTENSIONS"]


class Format(NamedTuple):
    """Where the reader of one extension lives, and what it needs beyond xent's own dependencies."""

    module: str
    extra: str | None = None  # the pip extra that installs what it imports
    package: str | None = None  # the module it imports, looked up (not imported) before reading
    takes: tuple[str, ...] = ()  # which of read_matrix's reading options its read() accepts


_TEXT = Format("text", takes=("header", "names"))
FORMATS: dict[str, Format] = {
    ".csv": _TEXT,
    ".tsv": _TEXT,
    ".txt": _TEXT,
    ".dat": _TEXT,
    ".npy": Format("npy"),
    ".npz": Format("npz"),
    ".safetensors": Format("safetensors"),
    ".kld": Format("kld"),
    ".parquet": Format("arrow.files", extra="arrow", package="pyarrow"),
    ".feather": Format("arrow.files", extra="arrow", package="pyarrow"),
    ".arrow": Format("arrow.files", extra="arrow", package="pyarrow"),
    ".json": Format("json.document"),
    ".pt": Format("pytorch"),  # PyTorch is never a dependency: pytorch.read says how to get it
    ".pth": Format("pytorch"),
    ".jsonl": Format("json.lines"),
    ".orc": Format("orc", extra="arrow", package="pyarrow"),
}
TEXT_EXTENSIONS = tuple(ext for ext, f in FORMATS.items() if f.module == "text")
SUPPORTED_EXTENSIONS = tuple(FORMATS)
