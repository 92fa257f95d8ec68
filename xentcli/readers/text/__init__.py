"""Delimited text: comma, tab, semicolon or whitespace; comments, a header of class names.

Small files are parsed whole (:mod:`.main`: NumPy's C reader in chunks, :mod:`.fast`; the exact
reader, :mod:`.exact`, to name the line and column of a problem); files over
:data:`STREAM_TEXT_BYTES` are streamed (:mod:`.stream`). :mod:`.sniff` reads a file's head
(delimiter, header, index column); :mod:`.cells` and :mod:`.common` are what they all share.
"""

from .cells import is_number
from .cells import number_hint
from .common import HEADER_MODES
from .common import MAX_HEAD
from .common import MAX_LINE
from .common import TEXT_CHUNK
from .common import Header
from .main import STREAM_TEXT_BYTES
from .main import parse_text
from .main import read
from .main import read_bytes
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
