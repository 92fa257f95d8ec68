"""Rich tables for people. ``rich`` is imported here only, and only when a table is drawn.

Tables show at most :data:`MAX_ROWS` samples (the first and the last ones,
with a ``⋮`` row between) and :data:`MAX_CLASSES` class columns on a
terminal (:data:`PIPE_MAX_CLASSES` on a pipe), with a ``⋯`` column for the
rest; the machine formats (csv, tsv, json, npy) always carry everything.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from typing import BinaryIO, Callable, Sequence

import numpy as np

from .printable import printable
from .views import MAX_CLASSES, MAX_ROWS, shown_rows
from .writers import format_number

__all__ = [
    "shown_rows",
    "fixed",
    "MAX_ROWS",
    "MAX_CLASSES",
    "fmt",
    "matrix_table",
    "loss_table",
    "single_sample_table",
    "derivation_table",
    "target_table",
    "compare_tables",
    "draw",
    "text",
    "summary",
    "fit",
    "terminal_width",
    "render",
    "explanation_renderables",
    "render_explanation",
]

PIPE_MAX_CLASSES = 64  # on a pipe or in a file, where the table takes the width it needs
GAP = "⋯"  # stands for class columns left out (never "…", which would read as truncated text)
# How many class columns the tables being built may show; :func:`fit` lowers it for a narrow terminal.
_class_limit: ContextVar[int] = ContextVar("class_limit", default=MAX_CLASSES)
TABLE_DIGITS = 8  # significant digits in tables unless --precision says otherwise


def fmt(x, precision: int | None = None) -> str:
    """A number for a table: 8 significant digits by default."""
    return format_number(x, precision or TABLE_DIGITS)


def fixed(x, decimals: int = 8) -> str:
    """NumPy's way of printing: ``decimals`` places, trailing zeros dropped (0.1141952)."""
    s = f"{float(x):.{decimals}f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def _rows_with_gaps(row_ids):
    """(position, sample index) pairs, with ``(None, None)`` where samples are skipped."""
    prev = -1
    for pos, i in enumerate(row_ids):
        i = int(i)
        if i != prev + 1:
            yield None, None
        yield pos, i
        prev = i


def _shown_classes(c: int) -> list[int | None]:
    limit = _class_limit.get()
    if c <= limit:
        return list(range(c))
    return list(range(limit - 1)) + [None]


def _new_table(title: str | None, caption: str | None = None):
    from rich import box
    from rich.table import Table

    return Table(
        title=title, caption=caption, box=box.SIMPLE_HEAVY, title_justify="left", caption_justify="left",
        min_width=len(title or "") + 2,  # a title never wraps
    )


def _number_column(table, header: str) -> None:
    table.add_column(header, justify="right", overflow="fold")


def _elision_note(n: int, c: int) -> str | None:
    notes = []
    limit = _class_limit.get()
    if n > MAX_ROWS:
        notes.append(f"{n - MAX_ROWS} of {n} rows not shown")
    if c > limit:
        notes.append(f"{c - limit + 1} of {c} classes not shown")
    return "; ".join(notes) + " (--format csv shows all)" if notes else None


def matrix_table(
    title: str,
    rows: np.ndarray,
    row_ids: np.ndarray,
    n: int,
    names: Sequence[str],
    *,
    precision: int | None = None,
    number=None,
):
    """One row per sample, one column per class (softmax, gradients).

    ``rows`` holds the samples ``row_ids`` (from :func:`shown_rows`) of ``n``.
    """
    number = number or (lambda x: fmt(x, precision))
    c = rows.shape[1]
    table = _new_table(title, _elision_note(n, c))
    table.add_column("#", justify="right", style="dim")
    cols = _shown_classes(c)
    for j in cols:
        _number_column(table, GAP if j is None else names[j])
    for pos, i in _rows_with_gaps(row_ids):
        if pos is None:
            table.add_row("⋮", *["⋮"] * len(cols))
            continue
        table.add_row(str(i + 1), *(GAP if j is None else number(rows[pos, j]) for j in cols))
    return table


def _label_text(label, names: Sequence[str], precision: int | None) -> str:
    if np.ndim(label) == 0:
        k = int(label)
        return names[k] if 0 <= k < len(names) else str(k)
    vals = [fmt(v, precision) for v in np.asarray(label)[:MAX_CLASSES]]
    more = ", …" if np.size(label) > MAX_CLASSES else ""
    return "[" + ", ".join(vals) + more + "]"


def loss_table(
    title: str,
    row_ids: np.ndarray,
    n: int,
    labels: np.ndarray,
    probs: np.ndarray,
    losses: np.ndarray,
    names: Sequence[str],
    *,
    loss_header: str = "loss",
    ignored: np.ndarray | None = None,
    precision: int | None = None,
):
    """One row per sample: its label, the predicted probabilities, its loss.

    ``labels`` (or None for no label column), ``probs``, ``losses`` and
    ``ignored`` hold the samples ``row_ids`` (from :func:`shown_rows`) of ``n``.
    """
    c = probs.shape[1]
    table = _new_table(title, _elision_note(n, c))
    table.add_column("#", justify="right", style="dim")
    lead = 1 if labels is None else 2
    if labels is not None:
        table.add_column("label", overflow="fold")
    cols = _shown_classes(c)
    for j in cols:
        _number_column(table, GAP if j is None else f"p({names[j]})")
    _number_column(table, loss_header)
    for pos, i in _rows_with_gaps(row_ids):
        if pos is None:
            table.add_row(*["⋮"] * (lead + len(cols) + 1))
            continue
        first = [str(i + 1)]
        if labels is not None:
            label = _label_text(labels[pos], names, precision)
            first.append(label + (" (ignored)" if ignored is not None and ignored[pos] else ""))
        cells = (GAP if j is None else fmt(probs[pos, j], precision) for j in cols)
        table.add_row(*first, *cells, fmt(losses[pos], precision))
    return table


def target_table(
    title: str,
    row_ids: np.ndarray,
    n: int,
    target: np.ndarray,
    probs: np.ndarray,
    losses: np.ndarray,
    names: Sequence[str],
    *,
    label_header: str = "label",
    loss_header: str = "loss",
    ignored: np.ndarray | None = None,
    precision: int | None = None,
):
    """One row per sample for a wide vocabulary: its label, p(label), the top class and its probability, the loss.

    ``target`` holds class indices of the samples ``row_ids`` (from :func:`shown_rows`) of
    ``n``; ``probs`` their predicted probabilities over all classes.
    """
    table = _new_table(title, f"{n - MAX_ROWS} of {n} rows not shown (--format csv shows all)" if n > MAX_ROWS else None)
    table.add_column("#", justify="right", style="dim")
    table.add_column(label_header, overflow="fold")
    _number_column(table, f"p({label_header})")
    table.add_column("top class", overflow="fold")
    _number_column(table, "p(top)")
    _number_column(table, loss_header)
    for pos, i in _rows_with_gaps(row_ids):
        if pos is None:
            table.add_row(*["⋮"] * 6)
            continue
        k, top = int(target[pos]), int(np.argmax(probs[pos]))
        label = names[k] if 0 <= k < len(names) else str(k)
        if ignored is not None and ignored[pos]:
            table.add_row(str(i + 1), f"{label} (ignored)", "", names[top], fmt(probs[pos, top], precision),
                          fmt(losses[pos], precision))
            continue
        table.add_row(str(i + 1), label, fmt(probs[pos, k], precision), names[top], fmt(probs[pos, top], precision),
                      fmt(losses[pos], precision))
    return table


def single_sample_table(
    title: str,
    label: np.ndarray,
    probs: np.ndarray,
    loss_text: str,
    names: Sequence[str],
    *,
    loss_header: str = "loss",
    precision: int | None = None,
    number=None,
):
    """The reference document's layout for one sample: classes as columns, rows ``label`` and ``pred``, then the loss."""
    number = number or (lambda x: fmt(x, precision))
    c = probs.shape[-1]
    table = _new_table(title, _elision_note(1, c))
    table.add_column("", style="bold")
    cols = _shown_classes(c)
    for j in cols:
        _number_column(table, GAP if j is None else names[j])
    if np.ndim(label) == 0:
        label = np.eye(c)[int(label)]
    table.add_row("label", *(GAP if j is None else number(label[j]) for j in cols))
    table.add_row("pred", *(GAP if j is None else number(probs[j]) for j in cols))
    table.add_section()
    table.add_row(loss_header, loss_text, *[""] * (len(cols) - 1))
    return table


def derivation_table(
    title: str,
    row_ids: np.ndarray,
    n: int,
    predicted: np.ndarray,
    target: np.ndarray,
    grad: np.ndarray,
    names: Sequence[str],
    *,
    predicted_name: str = "softmax",
    precision: int | None = None,
):
    """The document's derivation ŷ - y: per sample, rows of predictions, targets and gradient; classes as columns."""
    c = grad.shape[1]
    table = _new_table(title, _elision_note(n, c))
    table.add_column("#", justify="right", style="dim")
    table.add_column("", style="bold")
    cols = _shown_classes(c)
    for j in cols:
        _number_column(table, GAP if j is None else names[j])
    first = True
    for pos, i in _rows_with_gaps(row_ids):
        if pos is None:
            table.add_row("⋮", "", *["⋮"] * len(cols))
            continue
        if not first:
            table.add_section()
        first = False
        for label, matrix in ((predicted_name, predicted), ("y", target), ("gradient", grad)):
            cells = (GAP if j is None else fmt(matrix[pos, j], precision) for j in cols)
            table.add_row(str(i + 1) if label == predicted_name else "", label, *cells)
    return table


def compare_tables(view: dict, precision: int | None = None) -> list:
    """``xent compare``'s table from its view data: statistics as rows, one column per model and
    test (``value ± se``), then a histogram of log10 KL per test, the worst tokens and the notes."""
    table = _new_table("compare: the base against each test")
    table.add_column("statistic", style="bold")
    for name in view["columns"]:
        _number_column(table, name)
    for label, cells in view["rows"]:
        table.add_row(label, *cells)
    out = [table]
    for name, bins in view["histograms"].items():
        if not bins:
            continue
        hist = _new_table(f"{view['kl_label']}(base‖{name}) per token, log scale")
        hist.add_column("from", justify="right")
        hist.add_column("tokens", justify="right")
        hist.add_column("", style="cyan")
        for label, count, bar in bins:
            hist.add_row(label, f"{count:,}", bar)
        out.append(hist)
    for name, items in view["worst"].items():
        worst = _new_table(f"tokens of largest {view['kl_label']}: {name}")
        keys = [k for k in ("index", "sequence", "position", "kl", "kl_lower_bound", "target", "p_target", "q_target")
                if k in items[0]]
        for k in keys:
            _number_column(worst, k)
        for item in items:
            worst.add_row(*(str(item[k]) if k in ("index", "sequence", "position", "target") else fmt(item[k], precision)
                            for k in keys))
        out.append(worst)
    if view["notes"]:
        out.append(summary([("", n) for n in view["notes"]]))
    return out


def text(value, precision: int | None = None) -> str:
    """A view's text (:mod:`xentcli.views`): a string as it is, a number formatted, a tuple of them joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return "".join(text(part, precision) for part in value)
    return fmt(value, precision)


def draw(view: dict, precision: int | None = None) -> list:
    """The renderables of a command's view (:mod:`xentcli.views`): its table, then its footer."""
    kind = view["table"]
    if kind == "compare":
        return compare_tables(view, precision)
    title, names = text(view["title"], precision), view["names"]
    if kind == "matrix":
        main = matrix_table(title, view["rows"], view["ids"], view["n"], names, precision=precision)
    elif kind == "loss":
        main = loss_table(title, view["ids"], view["n"], view["labels"], view["probs"], view["losses"], names,
                          loss_header=view["loss_header"], ignored=view.get("ignored"), precision=precision)
    elif kind == "target":
        main = target_table(title, view["ids"], view["n"], view["target"], view["probs"], view["losses"], names,
                            label_header=view["label_header"], loss_header=view["loss_header"],
                            ignored=view.get("ignored"), precision=precision)
    elif kind == "single":
        main = single_sample_table(title, view["label"], view["probs"], fmt(view["loss"], precision), names,
                                   loss_header=view["loss_header"], precision=precision)
    else:
        main = derivation_table(title, view["ids"], view["n"], view["predicted"], view["target"], view["grad"],
                                names, predicted_name=view["predicted_name"], precision=precision)
    if "footer" not in view:
        return [main]
    footer = [(name, text(value, precision)) for name, value in view["footer"]]
    return [main, summary(footer, title=view.get("footer_title"))]


def summary(items: Sequence[tuple[str, str]], *, title: str | None = None):
    """A two-column footer: name, value (with an optional title line)."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    if title:
        grid.title = title
        grid.title_justify = "left"
    grid.add_column(style="bold")
    grid.add_column(justify="left")
    for k, v in items:
        grid.add_row(k, v)
    return grid


def _needed_width(renderables: Sequence) -> int:
    from rich.console import Console

    probe = Console(file=io.StringIO(), width=100_000, color_system=None, markup=False)
    return max(40, max(probe.measure(r).maximum for r in renderables))


def fit(build: Callable[[], Sequence], width: int | None) -> Sequence:
    """Build the tables, with fewer class columns until they fit ``width`` (None: any width)."""
    if width is None:
        token = _class_limit.set(PIPE_MAX_CLASSES)
        try:
            return build()
        finally:
            _class_limit.reset(token)
    renderables = build()
    limit = MAX_CLASSES
    while width is not None and limit > 2 and _needed_width(renderables) > width:
        limit -= 1
        token = _class_limit.set(limit)
        try:
            renderables = build()
        finally:
            _class_limit.reset(token)
    return renderables


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
    width = _needed_width(renderables)
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
