"""The CLI's error types and the exit codes of docs/errors.md.

The core raises plain ``ValueError``; readers and commands raise these with
the option and file already named. :func:`xentcli.cli.main` turns every one
into a single ``Error: …`` line on stderr.
"""

from __future__ import annotations


class XentError(Exception):
    """An error to show the user as ``Error: <message>``."""

    exit_code = 1


class DataError(XentError):
    """Bad data: unreadable, ragged, non-numeric, wrong shape, out of range (exit 1)."""

    exit_code = 1


class CallError(XentError):
    """A wrong call: bad or conflicting options, missing file, malformed inline value (exit 2)."""

    exit_code = 2


class PipeClosed(Exception):
    """stdout was closed by its reader (``| head``): end quietly.

    Raised instead of ``BrokenPipeError`` because click would swallow that
    one and exit with 1, the code of bad data.
    """


def reason(e: OSError) -> str:
    """An OSError's cause as a message ends: ``no space left on device``, ``input/output error``."""
    text = e.strerror or str(e) or type(e).__name__
    return text[:1].lower() + text[1:]
