"""Delimited text: comma, tab, semicolon or whitespace; comments, a header of class names.

Small files are parsed whole (:mod:`.main`: NumPy's C reader in chunks, :mod:`.fast`; the exact
reader, :mod:`.exact`, to name the line and column of a problem); files over
:data:`STREAM_TEXT_BYTES` are streamed (:mod:`.stream`). :mod:`.sniff` reads a file's head
(delimiter, header, index column); :mod:`.cells` and :mod:`.common` are what they all share.
"""

from .cells import is_number, number_hint
from .common import HEADER_MODES, MAX_HEAD, MAX_LINE, TEXT_CHUNK, Header
from .main import STREAM_TEXT_BYTES, parse_text, read, read_bytes
from .sniff import guessed_header
from .stream import TextRows

__all__ = [
    "HEADER_MODES",
    "Header",
    "MAX_HEAD",
    "MAX_LINE",
    "STREAM_TEXT_BYTES",
    "TEXT_CHUNK",
    "TextRows",
    "guessed_header",
    "is_number",
    "number_hint",
    "parse_text",
    "read",
    "read_bytes",
]
