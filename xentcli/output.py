"""The one place the output format is chosen: :class:`Result` (what a command computed, as data)
and :func:`emit` (a table drawn by :mod:`xentcli.tables`, or csv/tsv/json/npy/parquet written by
:mod:`xentcli.writers`, to stdout or atomically to ``--output``).

Writers never import tables; tables import only :mod:`xentcli.views` and :func:`~xentcli.writers.format_number`.
"""

from __future__ import annotations

import sys

from .errors import PipeClosed
from .writers import (RowBlocks, check_output, open_output, resolve_format, write_delimited, write_json, write_npy,
                      write_parquet, writes_through)

__all__ = ["Result", "emit"]


class Result:
    """What a command computed, ready for any output format.

    Args:
      array: the csv/tsv/npy/parquet payload: a scalar, a per-sample vector or a matrix.
      json: the JSON object of SPEC §3.
      header: the csv/tsv header line's names (with ``--header``), and the Parquet column names.
      view: ``() -> view``, what the table shows as plain data (:mod:`xentcli.views`), drawn by
        :func:`xentcli.tables.draw`; called once, and only for tables, as it reads the shown rows.
      explanation: with ``--explain``, ``precision -> Explanation`` (:mod:`xentcli.explain`); else None.
    """

    def __init__(self, array, json: dict, header: list[str], view, row_names: list[str] | None = None,
                 explanation=None):
        self.array = array
        self.json = json
        self.header = header
        self.view = view
        self.row_names = row_names  # csv/tsv: a name before each row's numbers
        self.explanation = explanation


def emit(result: Result, *, fmt: str | None, output: str | None, precision: int | None, header: bool) -> None:
    """Write ``result`` in the chosen format to stdout or atomically to ``output``.

    With an explanation (``--explain``): without ``--format``/``--output`` (or with ``--format
    table``) the explanation goes to stdout in place of the table, rich on a terminal and plain
    text on a pipe; with a machine format the result is written exactly as without ``--explain``
    and the explanation goes to stderr.
    """
    terminal = output is None and sys.stdout.isatty()
    check_output(output, fmt)  # also checked when --output is parsed; nothing is created if it fails
    explain_on_stdout = result.explanation is not None and output is None and fmt in (None, "table")
    fmt = resolve_format(fmt, output, terminal)
    try:
        if explain_on_stdout:
            with open_output(None) as out, out.failures():  # rich writes to a terminal itself
                _explain(result, precision, out, terminal=terminal)
            return
        _write(result, fmt, output, precision, header, terminal)
    except BrokenPipeError as e:
        raise PipeClosed() from e
    if result.explanation is not None:
        sys.stdout.flush()
        _explain(result, precision, sys.stderr.buffer, terminal=sys.stderr.isatty(), stderr=True)
        sys.stderr.buffer.flush()


def _explain(result: Result, precision: int | None, out, *, terminal: bool, stderr: bool = False) -> None:
    from .tables import render_explanation

    if isinstance(result.array, RowBlocks):
        for _ in result.array:  # the explanation shows some rows, but every row is still checked
            pass
    render_explanation(result.explanation(precision), out, terminal=terminal, stderr=stderr)


def _write(result: Result, fmt: str, output: str | None, precision: int | None, header: bool, terminal: bool) -> None:
    if (output is None or writes_through(output)) and fmt != "table" and isinstance(result.array, RowBlocks):
        # stdout (or a device or FIFO --output writes through) cannot take back a half-written matrix: every
        # row is checked before the first byte (a file needs no such pass: its temp file is dropped on
        # failure; a table is drawn at the end).
        result.array.validate()
    with open_output(output) as out:
        if fmt == "table":
            from .tables import draw, fit, render, terminal_width  # rich is imported only for tables

            if isinstance(result.array, RowBlocks):
                for _ in result.array:  # a table shows some rows, but every row is still checked
                    pass
            view = result.view()
            # On a terminal, fewer class columns rather than folded numbers; elsewhere, everything.
            renderables = fit(lambda: draw(view, precision), terminal_width() if terminal else None)
            with out.failures():  # on a terminal, rich writes to stdout itself
                render(renderables, out, terminal=terminal)
        elif fmt in ("csv", "tsv"):
            write_delimited(
                out, result.array, delimiter="," if fmt == "csv" else "\t",
                precision=precision, header=result.header if header else None, row_names=result.row_names,
            )
        elif fmt == "json":
            write_json(out, result.json, precision=precision)
        elif fmt == "parquet":
            write_parquet(out, result.array, result.header, result.row_names)
        else:
            write_npy(out, result.array)
