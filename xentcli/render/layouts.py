"""Rich tables from views (:mod:`xentcli.views`), one layout per view type.

Tables show at most :data:`~xentcli.views.MAX_ROWS` samples (the first and the last ones, with a
``⋮`` row between) and ``class_limit`` class columns, with a ``⋯`` column for the rest: on a
terminal :func:`fit` picks the most (up to :data:`~xentcli.views.MAX_CLASSES`) that fit its width,
on a pipe :data:`PIPE_MAX_CLASSES`. The machine formats (csv, tsv, json, npy) always carry everything.

``rich`` is imported inside the functions, only when a table is drawn.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..numbers import table_number
from ..views import (
    MAX_CLASSES,
    MAX_ROWS,
    CompareView,
    DerivationView,
    LossView,
    MatrixView,
    ReportView,
    SingleView,
    TargetView,
    Text,
    View,
)
from .console import needed_width

__all__ = [
    "PIPE_MAX_CLASSES",
    "matrix_table",
    "single_sample_table",
    "summary",
    "text",
    "draw",
    "fit",
]

PIPE_MAX_CLASSES = 64  # on a pipe or in a file, where the table takes the width it needs
GAP = "⋯"  # stands for class columns left out (never "…", which would read as truncated text)


def _rows_with_gaps(row_ids):
    """(position, sample index) pairs, with ``(None, None)`` where samples are skipped."""
    prev = -1
    for pos, i in enumerate(row_ids):
        i = int(i)
        if i != prev + 1:
            yield None, None
        yield pos, i
        prev = i


def _shown_classes(c: int, class_limit: int) -> list[int | None]:
    if c <= class_limit:
        return list(range(c))
    return list(range(class_limit - 1)) + [None]


def _new_table(title: str | None, caption: str | None = None):
    from rich import box
    from rich.table import Table

    return Table(
        title=title, caption=caption, box=box.SIMPLE_HEAVY, title_justify="left", caption_justify="left",
        min_width=len(title or "") + 2,  # a title never wraps
    )


def _number_column(table, header: str) -> None:
    table.add_column(header, justify="right", overflow="fold")


def _elision_note(n: int, c: int, class_limit: int) -> str | None:
    notes = []
    if n > MAX_ROWS:
        notes.append(f"{n - MAX_ROWS} of {n} rows not shown")
    if c > class_limit:
        notes.append(f"{c - class_limit + 1} of {c} classes not shown")
    return "; ".join(notes) + " (--format csv shows all)" if notes else None


def matrix_table(title: str, rows: np.ndarray, row_ids: np.ndarray, n: int, names: Sequence[str], *,
                 number: Callable[[float], str] = table_number, class_limit: int = MAX_CLASSES):
    """One row per sample, one column per class: ``rows`` holds the samples ``row_ids`` of ``n``,
    each cell written by ``number``."""
    c = rows.shape[1]
    table = _new_table(title, _elision_note(n, c, class_limit))
    table.add_column("#", justify="right", style="dim")
    cols = _shown_classes(c, class_limit)
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
    vals = [table_number(v, precision) for v in np.asarray(label)[:MAX_CLASSES]]
    more = ", …" if np.size(label) > MAX_CLASSES else ""
    return "[" + ", ".join(vals) + more + "]"


def _loss_table(view: LossView, precision: int | None, class_limit: int):
    c = view.probs.shape[1]
    table = _new_table(text(view.title, precision), _elision_note(view.n, c, class_limit))
    table.add_column("#", justify="right", style="dim")
    lead = 1 if view.labels is None else 2
    if view.labels is not None:
        table.add_column("label", overflow="fold")
    cols = _shown_classes(c, class_limit)
    for j in cols:
        _number_column(table, GAP if j is None else f"p({view.names[j]})")
    _number_column(table, view.loss_header)
    for pos, i in _rows_with_gaps(view.ids):
        if pos is None:
            table.add_row(*["⋮"] * (lead + len(cols) + 1))
            continue
        first = [str(i + 1)]
        if view.labels is not None:
            label = _label_text(view.labels[pos], view.names, precision)
            first.append(label + (" (ignored)" if view.ignored is not None and view.ignored[pos] else ""))
        cells = (GAP if j is None else table_number(view.probs[pos, j], precision) for j in cols)
        table.add_row(*first, *cells, table_number(view.losses[pos], precision))
    return table


def _target_table(view: TargetView, precision: int | None, class_limit: int):
    n, names, label_header = view.n, view.names, view.label_header
    table = _new_table(text(view.title, precision),
                       f"{n - MAX_ROWS} of {n} rows not shown (--format csv shows all)" if n > MAX_ROWS else None)
    table.add_column("#", justify="right", style="dim")
    table.add_column(label_header, overflow="fold")
    _number_column(table, f"p({label_header})")
    table.add_column("top class", overflow="fold")
    _number_column(table, "p(top)")
    _number_column(table, view.loss_header)
    for pos, i in _rows_with_gaps(view.ids):
        if pos is None:
            table.add_row(*["⋮"] * 6)
            continue
        probs = view.probs[pos]
        k, top = int(view.target[pos]), int(np.argmax(probs))
        label = names[k] if 0 <= k < len(names) else str(k)
        loss = table_number(view.losses[pos], precision)
        if view.ignored is not None and view.ignored[pos]:
            table.add_row(str(i + 1), f"{label} (ignored)", "", names[top], table_number(probs[top], precision), loss)
            continue
        table.add_row(str(i + 1), label, table_number(probs[k], precision), names[top],
                      table_number(probs[top], precision), loss)
    return table


def single_sample_table(title: str, label: np.ndarray, probs: np.ndarray, loss_text: str, names: Sequence[str], *,
                        loss_header: str = "loss", number: Callable[[float], str] = table_number,
                        class_limit: int = MAX_CLASSES):
    """The reference document's layout for one sample: classes as columns, rows ``label`` (a distribution
    or a class index) and ``pred``, then the loss; each cell written by ``number``."""
    c = probs.shape[-1]
    table = _new_table(title, _elision_note(1, c, class_limit))
    table.add_column("", style="bold")
    cols = _shown_classes(c, class_limit)
    for j in cols:
        _number_column(table, GAP if j is None else names[j])
    if np.ndim(label) == 0:
        label = np.eye(c)[int(label)]
    table.add_row("label", *(GAP if j is None else number(label[j]) for j in cols))
    table.add_row("pred", *(GAP if j is None else number(probs[j]) for j in cols))
    table.add_section()
    table.add_row(loss_header, loss_text, *[""] * (len(cols) - 1))
    return table


def _derivation_table(view: DerivationView, precision: int | None, class_limit: int):
    c = view.grad.shape[1]
    table = _new_table(text(view.title, precision), _elision_note(view.n, c, class_limit))
    table.add_column("#", justify="right", style="dim")
    table.add_column("", style="bold")
    cols = _shown_classes(c, class_limit)
    for j in cols:
        _number_column(table, GAP if j is None else view.names[j])
    first = True
    for pos, i in _rows_with_gaps(view.ids):
        if pos is None:
            table.add_row("⋮", "", *["⋮"] * len(cols))
            continue
        if not first:
            table.add_section()
        first = False
        for label, matrix in ((view.predicted_name, view.predicted), ("y", view.target), ("gradient", view.grad)):
            cells = (GAP if j is None else table_number(matrix[pos, j], precision) for j in cols)
            table.add_row(str(i + 1) if label == view.predicted_name else "", label, *cells)
    return table


#: The columns of a worst-tokens table, in order, where the tokens have them; those of whole numbers.
_WORST_COLUMNS = ("index", "sequence", "position", "kl", "kl_lower_bound", "target", "p_target", "q_target")
_WHOLE_COLUMNS = ("index", "sequence", "position", "target")


def _compare_tables(view: CompareView, precision: int | None) -> list:
    """Statistics as rows, one column per model and test (``value ± se``), then a histogram of
    log10 KL per test, the worst tokens and the notes."""
    table = _new_table("compare: the base against each test")
    table.add_column("statistic", style="bold")
    for name in view.columns:
        _number_column(table, name)
    for label, cells in view.rows:
        table.add_row(label, *cells)
    out = [table]
    for name, bins in view.histograms.items():
        if not bins:
            continue
        hist = _new_table(f"{view.kl_label}(base‖{name}) per token, log scale")
        hist.add_column("from", justify="right")
        hist.add_column("tokens", justify="right")
        hist.add_column("", style="cyan")
        for label, count, bar in bins:
            hist.add_row(label, f"{count:,}", bar)
        out.append(hist)
    for name, items in view.worst.items():
        worst = _new_table(f"tokens of largest {view.kl_label}: {name}")
        keys = [k for k in _WORST_COLUMNS if k in items[0]]
        for k in keys:
            _number_column(worst, k)
        for item in items:
            worst.add_row(*(str(item[k]) if k in _WHOLE_COLUMNS else table_number(item[k], precision) for k in keys))
        out.append(worst)
    if view.notes:
        out.append(summary([("", n) for n in view.notes]))
    return out


def _report_tables(view: ReportView, precision: int | None) -> list:
    """One table per section of figures (label, value, what it is), then the notes."""
    out = []
    for i, (title, rows) in enumerate(view.sections):
        table = _new_table(f"{view.title}: {title}" if i == 0 else title)
        table.add_column("", style="bold")
        table.add_column("value", justify="right")
        table.add_column("")
        for label, value, note in rows:
            table.add_row(label, value if isinstance(value, str) else text(value, precision), note)
        out.append(table)
    if view.notes:
        out.append(summary([("", n) for n in view.notes]))
    return out


def text(value: Text, precision: int | None = None) -> str:
    """A view's text: a string as it is, a number at ``precision`` digits, a tuple of them joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return "".join(text(part, precision) for part in value)
    return table_number(value, precision)


def _matrix(view: MatrixView, precision: int | None, class_limit: int):
    return matrix_table(text(view.title, precision), view.rows, view.ids, view.n, view.names,
                        number=lambda x: table_number(x, precision), class_limit=class_limit)


def _single(view: SingleView, precision: int | None, class_limit: int):
    return single_sample_table(text(view.title, precision), view.label, view.probs, table_number(view.loss, precision),
                               view.names, loss_header=view.loss_header, number=lambda x: table_number(x, precision),
                               class_limit=class_limit)


#: The table of each view type but :class:`CompareView` (several tables, no class columns).
_LAYOUTS = {MatrixView: _matrix, LossView: _loss_table, TargetView: _target_table, SingleView: _single,
            DerivationView: _derivation_table}


def draw(view: View, precision: int | None = None, class_limit: int = MAX_CLASSES) -> list:
    """The renderables of a view: its table (at most ``class_limit`` class columns), then its footer."""
    if isinstance(view, CompareView):
        return _compare_tables(view, precision)
    if isinstance(view, ReportView):
        return _report_tables(view, precision)
    main = _LAYOUTS[type(view)](view, precision, class_limit)
    if view.footer is None:
        return [main]
    footer = [(name, text(value, precision)) for name, value in view.footer]
    return [main, summary(footer, title=view.footer_title if isinstance(view, TargetView) else None)]


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


def fit(view: View, precision: int | None, width: int | None) -> list:
    """The renderables of ``view`` with the most class columns (up to :data:`MAX_CLASSES`) that fit
    ``width``, never fewer than 2; None (a pipe, a file): up to :data:`PIPE_MAX_CLASSES`, at any width."""
    if width is None:
        return draw(view, precision, PIPE_MAX_CLASSES)
    limit = MAX_CLASSES
    renderables = draw(view, precision, limit)
    while limit > 2 and needed_width(renderables) > width:
        limit -= 1
        renderables = draw(view, precision, limit)
    return renderables
