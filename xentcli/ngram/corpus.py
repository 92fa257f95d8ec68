"""Text as ``lmplz`` reads it: one sentence a line, words split on space, tab, CR and NUL.

Files are named as ``FILE``, ``-`` (stdin), a glob or a directory of shards (read in natural order:
``part-2`` before ``part-10``); gzip, bzip2 and xz files (known by their first bytes, as lmplz knows them,
or by a ``.gz``, ``.bz2`` or ``.xz`` name) are decompressed as they are read. Words are bytes, never
decoded: a model is built and written in the text's own encoding, as KenLM does. ``<s>``, ``</s>`` and
``<unk>`` are the model's own symbols; one in the text is bad data
naming its file and line unless ``skip_symbols`` reads it as whitespace (lmplz's ``--skip_symbols``).
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import lzma
import os
import sys
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from ..errors import CallError, DataError, reason

__all__ = ["SPECIALS", "UNK", "BOS", "EOS", "Sentences", "text_files", "read_sentences", "split_words"]

UNK, BOS, EOS = b"<unk>", b"<s>", b"</s>"
#: The words every model has, with the ids KenLM gives them: 0, 1 and 2.
SPECIALS = (UNK, BOS, EOS)

#: lmplz's word delimiters besides the newline: space, tab, carriage return and NUL (util/file_piece's
#: ``"\0\t\n\r "``); a vertical tab or a form feed is part of a word, as there.
_TO_SPACE = bytes.maketrans(b"\t\r\0", b"   ")
#: Bytes read at a time: lines are handed on in batches of about this size.
CHUNK_BYTES = 4 << 20
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
#: Each compression's first bytes (bzip2's: "BZh", the block size, then the block magic π).
_MAGIC = ((b"\x1f\x8b", ".gz"), (b"\xfd7zXZ\x00", ".xz"),
          *((b"BZh" + bytes([d]) + b"1AY&SY", ".bz2") for d in b"123456789"))
_MAGIC_BYTES = 10
#: What a damaged compressed file raises while being read.
_DAMAGED = (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def split_words(line: bytes) -> list[bytes]:
    """A line's words as lmplz splits them (runs of space, tab, CR and NUL between words)."""
    return [w for w in line.translate(_TO_SPACE).split(b" ") if w]


def text_files(specs: tuple[str, ...] | list[str], option: str = "--text") -> list[str]:
    """The files the ``specs`` name, in order: ``-``, a file, a glob or a directory (its regular files
    not starting with a dot, in natural order). A name that matches nothing is a CallError (exit 2)."""
    from ..readers.shards import natural_key

    files: list[str] = []
    for spec in specs:
        if spec == "-":
            files.append(spec)
        elif os.path.isdir(spec):
            entries = [e for e in os.scandir(spec) if not e.name.startswith(".")]
            found = [e.path for e in entries if e.is_file()]
            if not found:
                raise CallError(f"{option} {spec}: is a directory holding no file")
            odd = sorted((e.name for e in entries if not e.is_file() and not e.is_dir()), key=natural_key)
            if odd:  # a FIFO would wait for a writer; a folder's shards are its regular files
                from ..printable import warning

                warning(f"{option} {spec}: skipped {len(odd)} entries that are not regular files: {', '.join(odd[:5])}"
                        + (" …" if len(odd) > 5 else ""))
            files += sorted(found, key=natural_key)
        elif os.path.exists(spec):
            if not os.path.isfile(spec) and not _readable_stream(spec):
                raise CallError(f"{option} {spec}: is not a regular file")
            files.append(spec)
        elif any(c in spec for c in "*?["):
            found = [f for f in glob.glob(spec) if os.path.isfile(f)]
            if not found:
                raise CallError(f"{option} {spec}: no file matches the pattern")
            files += sorted(found, key=natural_key)
        else:
            raise CallError(f"{option} {spec}: no such file")
    if files.count("-") > 1:
        raise CallError(f"{option}: '-' (stdin) can be read once")
    return files


def _readable_stream(path: str) -> bool:
    import stat

    mode = os.stat(path).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _open(path: str) -> tuple[BinaryIO, BinaryIO]:
    """The file's text and the raw stream under it: decompressed when its first bytes are gzip's,
    bzip2's or xz's magic (as KenLM's util::ReadCompressed finds them, stdin included), else when its
    extension says so (a plain file named .gz then fails as damaged)."""
    try:
        raw = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as e:
        raise DataError(f"--text {path}: cannot read: {reason(e)}") from e
    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(raw)
    head = raw.peek(_MAGIC_BYTES)[:_MAGIC_BYTES]
    kind = next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)
    if kind is None and path != "-":
        kind = os.path.splitext(path)[1].lower()
    opener = _OPENERS.get(kind)
    return (opener(raw, "rb") if opener else raw), raw


def _chunks(path: str) -> Iterator[bytes]:
    """The file's bytes in chunks that end at a newline (the last one as the file ends)."""
    name = "stdin" if path == "-" else path
    f, raw = _open(path)
    rest = b""
    try:
        while True:
            try:
                data = f.read(CHUNK_BYTES)
            except _DAMAGED as e:
                raise DataError(f"--text {name}: cannot read: it is damaged or not what its name says "
                                f"({reason(e) if isinstance(e, OSError) else e})") from e
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            rest = data[cut:]
            yield data[:cut]
        if rest:
            yield rest + b"\n"
    finally:
        if path != "-":
            f.close()
            raw.close()


@dataclass(frozen=True)
class Sentences:
    """A batch of lines of one file: ``lines`` (their bytes, no newline), where they came from
    (``path``, ``-`` for stdin) and the 1-based number of the first one."""

    path: str
    first_line: int
    lines: list[bytes]


def read_sentences(files: list[str]) -> Iterator[Sentences]:
    """Every file's lines, in batches of about :data:`CHUNK_BYTES`. A trailing newline ends the last
    line (it starts no empty sentence); an empty line is an empty sentence, as lmplz reads it."""
    for path in files:
        number = 1
        for chunk in _chunks(path):
            lines = chunk.split(b"\n")
            lines.pop()  # after the chunk's last newline
            yield Sentences(path, number, lines)
            number += len(lines)
