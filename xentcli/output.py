"""The output contract of every command: :class:`OutputSpec` (where, in which format, at which
precision: resolved once, where the options are read), :class:`Result` (what a command computed, as
data, with its table's view) and :func:`emit` (a table drawn by :mod:`xentcli.render`, or
csv/tsv/json/npy/parquet written by :mod:`xentcli.writers`, to stdout or atomically to ``--output``).

A command takes ``--format``, ``--output``, ``--precision`` and ``--header`` as one ``output:
OutputSpec`` (:func:`xentcli.options.output_spec`), computes, builds its view only when
``output.draws_table(explain)`` (:mod:`xentcli.views`), then calls ``emit(Result(...), output)``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .destination import open_output, writes_through
from .engine import RowBlocks
from .errors import PipeClosed
from .writers import (
    check_output,
    extension_format,
    write_delimited,
    write_json,
    write_npy,
    write_parquet,
)

if TYPE_CHECKING:
    from .views import View

__all__ = ["OutputSpec", "Result", "emit"]


@dataclass(frozen=True)
class OutputSpec:
    """Where a command's result goes and how it is written: build it with :meth:`resolve`.

    Attributes:
      format: ``table``, ``csv``, ``tsv``, ``json``, ``npy`` or ``parquet``, as resolved.
      destination: the ``--output`` file, or None for stdout.
      precision: ``--precision``'s significant digits, or None (round-trip; 8 in tables).
      header: ``--header``: csv/tsv start with a line of names.
      terminal: the result goes to stdout and stdout is a terminal (rich colour, its width).
      format_given: the format was asked for with ``--format``.
    """

    format: str
    destination: str | None = None
    precision: int | None = None
    header: bool = False
    terminal: bool = False
    format_given: bool = False

    @classmethod
    def resolve(cls, format: str | None = None, destination: str | None = None, precision: int | None = None,
                header: bool = False, *, terminal: bool | None = None) -> OutputSpec:
        """The output the options ask for, the one place its format is chosen: ``format`` (``--format``)
        if given, else ``destination``'s extension (csv without one), else table on a terminal and csv
        otherwise. ``terminal`` defaults to whether stdout is one, and is False for a ``destination``.

        Raises CallError (exit 2) for a destination xent would not write: an unknown extension
        (even with ``format``), ``.parquet`` without pyarrow, a missing folder; nothing is created.
        """
        check_output(destination, format)
        if terminal is None:
            terminal = destination is None and sys.stdout.isatty()
        terminal = terminal and destination is None
        if format is not None:
            chosen = format
        elif destination is not None:
            chosen = extension_format(destination)
        else:
            chosen = "table" if terminal else "csv"
        return cls(chosen, destination, precision, header, terminal, format is not None)

    @property
    def explanation_in_place(self) -> bool:
        """Whether ``--explain``'s explanation takes the result's place on stdout: no ``--output``
        and no ``--format`` other than table (otherwise the result is written and the explanation
        goes to stderr)."""
        return self.destination is None and (not self.format_given or self.format == "table")

    def draws_table(self, explain: bool = False) -> bool:
        """Whether a table is drawn, so the command must build its view: the format is table and
        no explanation (``explain``) takes its place."""
        return self.format == "table" and not (explain and self.explanation_in_place)


@dataclass(frozen=True)
class Result:
    """What a command computed, ready for any output format.

    Attributes:
      array: the csv/tsv/npy/parquet payload: a scalar, a per-sample vector or a matrix
        (:class:`~xentcli.engine.RowBlocks` streams one; drain it before building a view).
      json: the JSON object of docs/outputs.md.
      header: the csv/tsv header line's names (with ``--header``), and the Parquet column names.
      view: what the table shows (:mod:`xentcli.views`); needed only when the spec draws a table.
      row_names: csv/tsv: a name before each row's numbers (the Parquet file's first column).
      explanation: with ``--explain``, ``precision -> Explanation`` (:mod:`xentcli.explain`); else None.
    """

    array: object
    json: dict
    header: list[str]
    view: View | None = None
    row_names: list[str] | None = None
    explanation: Callable | None = None


def emit(result: Result, output: OutputSpec) -> None:
    """Write ``result`` as ``output`` says, to stdout or atomically to its destination.

    With an explanation (``--explain``) that takes the result's place
    (:attr:`OutputSpec.explanation_in_place`), the explanation goes to stdout, rich on a terminal
    and plain text on a pipe; otherwise the result is written exactly as without ``--explain`` and
    the explanation goes to stderr.
    """
    try:
        if result.explanation is not None and output.explanation_in_place:
            with open_output(None) as out, out.failures():  # rich writes to a terminal itself
                _explain(result, output.precision, out, terminal=output.terminal)
            return
        _write(result, output)
    except BrokenPipeError as e:
        raise PipeClosed() from e
    if result.explanation is not None:
        sys.stdout.flush()
        _explain(result, output.precision, sys.stderr.buffer, terminal=sys.stderr.isatty(), stderr=True)
        sys.stderr.buffer.flush()


def _explain(result: Result, precision: int | None, out, *, terminal: bool, stderr: bool = False) -> None:
    from .render.console import render_explanation

    if isinstance(result.array, RowBlocks):
        result.array.drain()
    render_explanation(result.explanation(precision), out, terminal=terminal, stderr=stderr)


def _write(result: Result, output: OutputSpec) -> None:
    form, destination, precision = output.format, output.destination, output.precision
    if (destination is None or writes_through(destination)) and form != "table" and isinstance(result.array, RowBlocks):
        # stdout (or a device or FIFO --output writes through) cannot take back a half-written matrix: every
        # row is checked before the first byte (a file needs no such pass: its temp file is dropped on
        # failure; a table is drawn once the command has drained the matrix).
        result.array.validate()
    with open_output(destination) as out:
        if form == "table":
            from .render.console import render, terminal_width  # rich is imported only for tables
            from .render.layouts import fit

            # On a terminal, fewer class columns rather than folded numbers; elsewhere, everything.
            renderables = fit(result.view, precision, terminal_width() if output.terminal else None)
            with out.failures():  # on a terminal, rich writes to stdout itself
                render(renderables, out, terminal=output.terminal)
        elif form in ("csv", "tsv"):
            write_delimited(
                out, result.array, delimiter="," if form == "csv" else "\t",
                precision=precision, header=result.header if output.header else None, row_names=result.row_names,
            )
        elif form == "json":
            write_json(out, result.json, precision=precision)
        elif form == "parquet":
            write_parquet(out, result.array, result.header, result.row_names)
        else:
            write_npy(out, result.array)
