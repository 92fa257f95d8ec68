"""Text from files made safe to print: every ``Error:``/``Warning:`` line and every table cell; and
the one place ``Warning:`` lines are written.

File names, class names and cells come from files a user may not have written. Printed raw,
a newline would split one error into several lines and an ESC sequence would reach the
terminal (move the cursor, retitle the window, hide text). :func:`printable` spells such
characters as Python's ``repr`` does, so what is printed is always one line of visible text.
"""

from __future__ import annotations

import re
import sys

__all__ = ["printable", "warning", "hold_warnings", "release_warnings"]

# C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    c = match.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def printable(text: str) -> str:
    """``text`` with control characters written as visible escapes (``\\n``, ``\\x1b``, ``\\x85``).

    >>> printable("a\\nb\\x1b[31m")
    'a\\\\nb\\\\x1b[31m'
    """
    return _CONTROL.sub(_escape, text)


#: A run's warnings, held until it ends (None: written at once). A failed run prints one line,
#: its ``Error:``: what it warned of on the way concerns a result it never gave.
_held: list[str] | None = None


def warning(message: str) -> None:
    """A ``Warning:`` line on stderr (control characters escaped), held while a run holds them."""
    line = f"Warning: {printable(message)}"
    if _held is not None:
        _held.append(line)
    else:
        print(line, file=sys.stderr, flush=True)


def hold_warnings() -> None:
    """From now on, warnings wait for :func:`release_warnings` (the CLI's run: see :mod:`xentcli.cli`)."""
    global _held
    _held = []


def release_warnings(*, show: bool) -> None:
    """Write the held warnings (``show``: the run succeeded) or drop them (it failed); warnings are
    written at once again."""
    global _held
    lines, _held = _held or [], None
    if show and lines:
        print("\n".join(lines), file=sys.stderr, flush=True)
