"""The one registry of input formats: which reader module reads each extension, and what it needs.

A leaf: :mod:`xentcli.readers` (one file) and :mod:`.shards` (a folder or a glob of files) both
look extensions up here. Adding a format: a reader module with ``read(path, where, selector)
-> Matrix`` and one line in :data:`FORMATS`.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Format", "FORMATS", "SUPPORTED_EXTENSIONS", "TEXT_EXTENSIONS", "MAGIC", "SHORT_MAGIC"]


class Format(NamedTuple):
    """Where the reader of one extension lives, and what it needs beyond xent's own dependencies."""

    module: str
    extra: str | None = None  # the pip extra that installs what it imports
    package: str | None = None  # the module it imports, looked up (not imported) before reading
    takes: tuple[str, ...] = ()  # which of read_matrix's reading options its read() accepts
    # The first bytes that name the format on stdin or without an extension; one shorter than
    # SHORT_MAGIC counts only with a NUL byte in the head, which text never holds ("ORC" could start
    # a text header).
    magic: bytes | None = None


_TEXT = Format("text", takes=("header", "names"))
FORMATS: dict[str, Format] = {
    ".csv": _TEXT,
    ".tsv": _TEXT,
    ".txt": _TEXT,
    ".dat": _TEXT,
    ".npy": Format("npy", magic=b"\x93NUMPY"),
    ".npz": Format("npz"),
    ".safetensors": Format("safetensors"),
    ".kld": Format("kld", magic=b"_logits_"),
    ".parquet": Format("arrow.files", extra="arrow", package="pyarrow", magic=b"PAR1"),
    ".feather": Format("arrow.files", extra="arrow", package="pyarrow"),
    ".arrow": Format("arrow.files", extra="arrow", package="pyarrow", magic=b"ARROW1"),
    ".json": Format("json.document"),
    # PyTorch is never a dependency: pytorch.read says how to get it. A zip archive is a .pt or an .npz,
    # told apart by its first entry's name (the readers package's _sniff).
    ".pt": Format("pytorch", magic=b"PK\x03\x04"),
    ".pth": Format("pytorch"),
    ".jsonl": Format("json.lines"),
    ".orc": Format("orc", extra="arrow", package="pyarrow", magic=b"ORC"),
}
TEXT_EXTENSIONS = tuple(ext for ext, f in FORMATS.items() if f.module == "text")
SUPPORTED_EXTENSIONS = tuple(FORMATS)
SHORT_MAGIC = 4
#: Magic bytes of the formats that have them, for a path without an extension and for stdin.
MAGIC = tuple((f.magic, ext) for ext, f in FORMATS.items() if f.magic is not None)
