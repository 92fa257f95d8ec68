"""A progress bar on stderr for long runs: rows done, GB/s, time left.

It appears only when stderr is a terminal and the work has taken more than
:data:`DELAY` seconds, so short calls never import rich for it and piped or
logged stderr stays clean.
"""

from __future__ import annotations

import sys
import time

from .environment import env_number
from .printable import printable

__all__ = ["DELAY", "Progress", "delay"]

#: Seconds before the bar appears (``XENT_PROGRESS_AFTER`` overrides: a number ≥ 0; a bad value is warned of).
DELAY = 1.0


def delay() -> float:
    """Seconds before the bar appears: ``XENT_PROGRESS_AFTER``, else :data:`DELAY`."""
    return env_number("XENT_PROGRESS_AFTER", DELAY, what="seconds", low=0)


class Progress:
    """Call :meth:`update` with the rows done so far, then :meth:`close` (or use ``with``)."""

    def __init__(self, total_rows: int, bytes_per_row: int, label: str):
        self.total, self.bytes_per_row, self.label = total_rows, bytes_per_row, label
        self.enabled = sys.stderr.isatty()
        self.delay = delay()
        self.start = time.monotonic()
        self._bar = None
        self._task = None

    def update(self, rows_done: int) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        if self._bar is None:
            if elapsed < self.delay or rows_done >= self.total:
                return
            self._open()
        rate = rows_done * self.bytes_per_row / max(elapsed, 1e-9) / 1e9
        self._bar.update(self._task, completed=rows_done, rate=f"{rate:.2f} GB/s")

    def _open(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar
        from rich.table import Column

        # The description (a file path) gives way first, so the numbers always fit.
        self._bar = Bar(
            TextColumn("{task.description}", markup=False,  # a file's name, shown as it is spelled
                       table_column=Column(max_width=24, no_wrap=True, overflow="ellipsis")),
            BarColumn(bar_width=20), MofNCompleteColumn(), TextColumn("rows"),
            TextColumn("{task.fields[rate]}", table_column=Column(no_wrap=True)), TimeRemainingColumn(),
            console=Console(stderr=True), transient=True,
        )
        self._task = self._bar.add_task(printable(self.label), total=self.total, rate="")
        self._bar.start()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
