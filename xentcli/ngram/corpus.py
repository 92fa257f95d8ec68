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


def _chunks(path: str, long_line: int | None = None) -> Iterator[tuple[bytes, bool]]:
    """The file's bytes in chunks ``(data, open_end)`` that end at a newline (the last one as the file
    ends). With ``long_line``, a line that has grown past that many bytes with no newline yet is handed
    on in parts cut between words (``open_end`` True: the line goes on), so no line is held whole."""
    name = "stdin" if path == "-" else path
    f, raw = _open(path)
    rest: list[bytes] = []  # the start of a line with no newline yet (a list: no quadratic joining)
    held = 0
    try:
        while True:
            try:
                data = f.read(CHUNK_BYTES)
            except _DAMAGED as e:
                raise DataError(f"--text {name}: cannot read: it is damaged or not what its name says "
                                f"({reason(e) if isinstance(e, OSError) else e})") from e
            if not data:
                break
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest.append(data)
                held += len(data)
                if long_line is not None and held > long_line:
                    line = b"".join(rest)
                    parts = _parts(line, long_line)
                    for part in parts[:-1]:
                        yield part, True
                    rest, held = [parts[-1]], len(parts[-1])
                continue
            rest.append(data[:cut])
            yield b"".join(rest), False
            rest, held = [data[cut:]], len(data) - cut
        if held:
            # a last line with no newline: in parts (counting) it ends without </s>, as lmplz counts it
            yield (b"".join(rest), True) if long_line is not None else (b"".join(rest) + b"\n", False)
    finally:
        if path != "-":
            f.close()
            raw.close()


def _parts(line: bytes, size: int) -> list[bytes]:
    """``line`` cut between words into parts of about ``size`` bytes (a longer word whole), the last
    part being what follows the last cut (it may still grow)."""
    spaced = line.translate(_TO_SPACE)
    parts, start = [], 0
    while len(line) - start > size:
        cut = spaced.rfind(b" ", start, start + size)
        if cut <= start:
            cut = spaced.find(b" ", start + size)
            if cut < 0:
                break
        parts.append(line[start:cut])
        start = cut + 1
    parts.append(line[start:])
    return parts


@dataclass(frozen=True)
class Sentences:
    """A batch of lines of one file: ``lines`` (their bytes, no newline), where they came from
    (``path``, ``-`` for stdin) and the 1-based number of the first one. A very long line comes in
    parts: ``continues`` says the first line goes on from the batch before, ``open_end`` that the
    last line goes on in the next batch."""

    path: str
    first_line: int
    lines: list[bytes]
    continues: bool = False
    open_end: bool = False


#: A line longer than this is counted a part at a time (:func:`read_sentences` with ``parts``).
LONG_LINE = 1 << 18


def read_sentences(files: list[str], *, parts: bool = False) -> Iterator[Sentences]:
    """Every file's lines, in batches of about :data:`CHUNK_BYTES`. A trailing newline ends the last
    line (it starts no empty sentence); an empty line is an empty sentence, as lmplz reads it. With
    ``parts``, a line longer than :data:`LONG_LINE` bytes comes in parts cut between words (see
    :class:`Sentences`), so that counting holds no line whole, and a last line with no newline stays
    open (no ``</s>`` follows its words), as lmplz counts it; without, it is a sentence like any other
    (as SRILM and xent's scoring read it)."""
    for path in files:
        number = 1
        going_on = False
        for chunk, open_end in _chunks(path, LONG_LINE if parts else None):
            lines = chunk.split(b"\n")
            if not open_end:
                lines.pop()  # after the chunk's last newline
            if not parts or max(map(len, lines)) <= LONG_LINE:
                yield Sentences(path, number, lines, going_on, open_end)
                number += len(lines) - open_end
                going_on = open_end
                continue
            start = 0
            for i, line in enumerate(lines):  # a long line that ended in this chunk: its parts one by one
                if len(line) <= LONG_LINE:
                    continue
                if i > start:
                    yield Sentences(path, number, lines[start:i], going_on, False)
                    number += i - start
                    going_on = False
                pieces = _parts(line, LONG_LINE)
                last = i == len(lines) - 1
                for k, piece in enumerate(pieces):
                    ends_here = k == len(pieces) - 1 and not (last and open_end)
                    yield Sentences(path, number, [piece], going_on, not ends_here)
                    going_on = not ends_here
                number += 0 if (last and open_end) else 1
                start = i + 1
            if start < len(lines):
                yield Sentences(path, number, lines[start:], going_on, open_end)
                number += len(lines) - start - open_end
                going_on = open_end
