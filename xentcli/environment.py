"""The ``XENT_*`` environment variables that tune a run, read in one way.

A variable is set once and then read by every run, so a bad value must not make every run fail:
it is named in one ``Warning:`` line, with the value used instead, and the run goes on. A value
above its bound is used at the bound, said the same way. Each warning is given once per run.
"""

from __future__ import annotations

import math
import os

from .numbers import ascii_spelled
from .printable import warning

__all__ = ["env_number", "usable_cores", "warning_once", "forget_warnings"]

_warned: set[str] = set()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def env_number(name: str, default: float | None, *, what: str, low: float, high: float | None = None,
               integer: bool = False, parse=None):
    """The number in the environment variable ``name``, else ``default`` (None: no limit).

    ``what`` says what it is, for the warning (``"threads"``). A value that is not a number
    (an ``integer`` when asked), or is below ``low``, gives ``default`` with a warning; above
    ``high``, ``high`` with a warning. ``parse`` reads the text when numbers have another spelling
    (``10G``); it raises ValueError for a bad one.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        if not ascii_spelled(raw):
            raise ValueError(raw)
        value = parse(raw) if parse is not None else (int(raw) if integer else float(raw))
    except ValueError:
        value = None
    kind = "a whole number" if integer else "a number"
    if value is None or not math.isfinite(value) or value < low:
        warning_once(f"{name}={raw!r} is not {kind} of {what} ≥ {low:g}; using "
              f"{'no limit' if default is None else format(default, 'g')} instead")
        return default
    if high is not None and value > high:
        warning_once(f"{name}={raw} is above the limit of {high:g} {what}; using {high:g}")
        return high
    return value


def warning_once(message: str) -> None:
    """``Warning: message`` on stderr, once per run."""
    if message in _warned:
        return
    _warned.add(message)
    warning(message)


def forget_warnings() -> None:
    """A new run (the CLI's ``main``): its warnings are given again."""
    _warned.clear()

