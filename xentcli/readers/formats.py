"""The one registry of input formats: which reader module reads each extension, what it needs, and
the first bytes that name it (:func:`sniff`, for stdin and a path without an extension).

A leaf: :mod:`xentcli.readers` (one file), :mod:`.shards` (a folder or a glob of files) and the Arrow
readers (Parquet or Arrow IPC without an extension) all look formats up here. Adding a format: a
reader module with ``read(path, where, selector) -> Matrix`` and one line in :data:`FORMATS`.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Format", "FORMATS", "SUPPORTED_EXTENSIONS", "TEXT_EXTENSIONS", "MAGIC", "SHORT_MAGIC", "sniff"]


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
    # told apart by its first entry's name (:func:`sniff`).
    ".pt": Format("pytorch", magic=b"PK\x03\x04"),
    ".pth": Format("pytorch"),
    ".jsonl": Format("json.lines"),
    ".orc": Format("orc", extra="arrow", package="pyarrow", magic=b"ORC"),
}
TEXT_EXTENSIONS = tuple(ext for ext, f in FORMATS.items() if f.module == "text")
SUPPORTED_EXTENSIONS = tuple(FORMATS)
#: A magic shorter than this many bytes needs a NUL byte in the head too (see Format.magic).
SHORT_MAGIC = 4
#: Magic bytes of the formats that have them, for a path without an extension and for stdin.
MAGIC = tuple((f.magic, ext) for ext, f in FORMATS.items() if f.magic is not None)


def sniff(head: bytes) -> str:
    """The extension the first bytes of a file or stream say: magic bytes, a JSON opening, else text."""
    for magic, ext in MAGIC:
        if head.startswith(magic) and (len(magic) >= SHORT_MAGIC or b"\0" in head):
            if ext == ".pt" and len(head) > 30:
                # Both are zip archives: torch.save puts every entry in a folder, np.savez puts NAME.npy at the top.
                first = head[30:30 + int.from_bytes(head[26:28], "little")]
                return ".pt" if b"/" in first else ".npz"
            return ext
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (100 << 20):
        return ".safetensors"  # an 8-byte little-endian header length, then the JSON header
    return ".json" if head.lstrip()[:1] in (b"{", b"[") else ".txt"
