"""Printing rich renderables: to a terminal (colour, its width) or as plain text at the width they
need, with every file-borne text made printable; explanations as renderables.

``rich`` is imported inside the functions, only when something is printed.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Sequence

from ..printable import printable

__all__ = ["needed_width", "terminal_width", "render", "explanation_renderables", "render_explanation"]


def needed_width(renderables: Sequence) -> int:
    """The width ``renderables`` take when nothing is folded (at least 40)."""
    from rich.console import Console

    probe = Console(file=io.StringIO(), width=100_000, color_system=None, markup=False)
    return max(40, max(probe.measure(r).maximum for r in renderables))


def terminal_width() -> int:
    from rich.console import Console

    return Console().width


def render(renderables: Sequence, out: BinaryIO, *, terminal: bool, stderr: bool = False) -> None:
    """Print ``renderables`` to a terminal (colour) or as plain text, at the width they need.

    Numbers are never folded across lines nor truncated to ``…``: a table
    wider than the terminal is drawn at its own width. Off a terminal no ANSI
    codes are written; ``NO_COLOR`` is honoured by rich on a terminal.
    """
    from rich.console import Console, Group

    renderables = [_escaped(r) for r in renderables]
    group = Group(*renderables)
    width = needed_width(renderables)
    if terminal:
        console = Console(highlight=False, markup=False, stderr=stderr)
        if width > console.width:
            console = Console(highlight=False, markup=False, width=width, stderr=stderr)
        console.print(group)
        return
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False, highlight=False, markup=False).print(group)
    text = "\n".join(line.rstrip() for line in buf.getvalue().split("\n"))
    out.write(text.encode())


def _escaped(renderable, lines: bool = False):
    """``renderable`` with the text of its cells, headers, titles and captions made :func:`printable`:
    names drawn in tables come from files (class names, row ids, file names), and a newline or an
    ESC sequence in one must not reach the terminal. Column headers keep their line breaks (``lines``):
    xent breaks long headers itself. (Rich markup such as ``[bold]`` is never interpreted: every
    console here has ``markup=False``.)"""
    from rich.table import Table
    from rich.text import Text

    if isinstance(renderable, str):
        return "\n".join(map(printable, renderable.split("\n"))) if lines else printable(renderable)
    if isinstance(renderable, Text):
        clean = printable(renderable.plain)
        if clean != renderable.plain:
            return Text(clean, style=renderable.style, justify=renderable.justify, no_wrap=renderable.no_wrap)
        return renderable
    if isinstance(renderable, Table):
        renderable.title = _escaped(renderable.title) if renderable.title is not None else None
        renderable.caption = _escaped(renderable.caption) if renderable.caption is not None else None
        for column in renderable.columns:
            column.header = _escaped(column.header, lines=True)
            column._cells = [_escaped(cell) for cell in column._cells]
    return renderable


def explanation_renderables(explanation) -> list:
    """An :class:`~xentcli.explain.Explanation` as rich renderables: titles bold, formulas as they are.

    Plain text (on a pipe, on stderr) is the same words and numbers: :func:`render` writes no ANSI there.
    """
    from rich.text import Text

    out = [Text(explanation.title, style="bold underline"), Text("")]
    for step in explanation.steps:
        out.append(Text(step.title, style="bold"))
        out += [Text("  " + line, no_wrap=True) for line in step.lines]
        out.append(Text(""))
    return out[:-1]


def render_explanation(explanation, out: BinaryIO, *, terminal: bool, stderr: bool = False) -> None:
    """Draw an explanation to ``out``: rich on a terminal (stdout's, or stderr's with ``stderr``),
    plain text (no ANSI) elsewhere."""
    render(explanation_renderables(explanation), out, terminal=terminal, stderr=stderr)
