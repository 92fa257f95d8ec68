"""What a command's table shows, as data: one frozen record per table layout, drawn by
:func:`xentcli.render.layouts.draw`.

A command builds its view once it knows a table is wanted (:meth:`xentcli.output.OutputSpec.draws_table`),
after it has computed (and, for a streamed matrix, :meth:`~xentcli.engine.RowBlocks.drain`-ed) every
row: it reads the shown rows itself (:func:`shown_rows`) and puts their numbers in the view, then hands
the view to :class:`~xentcli.output.Result`. For example, ``xent kl``::

    view = None
    if output.draws_table(explain):
        ids = shown_rows(len(per))
        view = MatrixView("KL(P‖Q) = H(P,Q) - H(P)", names, ids, len(per), columns[ids], footer=report.footer())
    emit(Result(report.value, report.json(), report.header, view), output)

A :data:`Text` (a title, a footer value) is a string, a number (formatted where it is drawn, at
``--precision``) or a tuple of them read one after another. A footer is ``(name, text)`` rows under
the table; None draws none. Views hold every class of the shown rows, so the drawing can show fewer
columns on a narrow terminal without asking the command again.

Nothing here imports rich: a command builds its view without the cost of drawing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np

__all__ = [
    "MAX_ROWS",
    "MAX_CLASSES",
    "shown_rows",
    "Text",
    "Footer",
    "MatrixView",
    "LossView",
    "TargetView",
    "SingleView",
    "DerivationView",
    "CompareView",
    "ReportView",
    "View",
]

MAX_ROWS = 40
MAX_CLASSES = 10  # on a terminal; fewer if it is narrow

#: A title or footer value: a string as it is, a number formatted at the table's precision, or a tuple of them.
Text = Union[str, float, int, tuple]
#: ``(name, text)`` rows under a table.
Footer = Sequence[tuple[str, Text]]


def shown_rows(n: int) -> np.ndarray:
    """Indices of the samples a table shows: all of them, or the first and last ones."""
    if n <= MAX_ROWS:
        return np.arange(n)
    tail = 5
    return np.r_[0 : MAX_ROWS - tail, n - tail : n]


@dataclass(frozen=True)
class MatrixView:
    """One row per sample, one column per name (``softmax``; ``kl``'s H(P,Q), H(P), KL).

    ``rows`` holds the samples ``ids`` (:func:`shown_rows`) of ``n``.
    """

    title: Text
    names: Sequence[str]
    ids: np.ndarray
    n: int
    rows: np.ndarray
    footer: Footer | None = None


@dataclass(frozen=True)
class LossView:
    """One row per sample: its label (``labels`` None: no label column), the predicted probabilities
    ``probs`` (one column per class), its loss (``ce``, ``bce``, ``entropy``, ``mse``).

    ``labels``, ``probs``, ``losses`` and ``ignored`` (True: the label is shown ``(ignored)``) hold the
    samples ``ids`` of ``n``.
    """

    title: Text
    names: Sequence[str]
    ids: np.ndarray
    n: int
    labels: np.ndarray | None
    probs: np.ndarray
    losses: np.ndarray
    loss_header: str
    ignored: np.ndarray | None = None
    footer: Footer | None = None


@dataclass(frozen=True)
class TargetView:
    """One row per sample for a wide vocabulary: its target class and p(target), the top class and
    p(top), its loss (``ce`` over a vocabulary, ``ppl``).

    ``target`` holds class indices and ``probs`` every class's probability, of the samples ``ids`` of ``n``.
    """

    title: Text
    names: Sequence[str]
    ids: np.ndarray
    n: int
    target: np.ndarray
    probs: np.ndarray
    losses: np.ndarray
    label_header: str
    loss_header: str
    ignored: np.ndarray | None = None
    footer: Footer | None = None
    footer_title: str | None = None


@dataclass(frozen=True)
class SingleView:
    """The reference document's layout for one sample: classes as columns, rows ``label`` and ``pred``,
    then the loss (``ce`` of one sample). ``label`` is a distribution or a class index."""

    title: Text
    names: Sequence[str]
    label: np.ndarray
    probs: np.ndarray
    loss: float
    loss_header: str
    footer: Footer | None = None


@dataclass(frozen=True)
class DerivationView:
    """The derivation ŷ - y (``grad``): per sample, rows of predictions (``predicted_name``), targets
    and gradient, classes as columns, of the samples ``ids`` of ``n``."""

    title: Text
    names: Sequence[str]
    ids: np.ndarray
    n: int
    predicted: np.ndarray
    target: np.ndarray
    grad: np.ndarray
    predicted_name: str
    footer: Footer | None = None


@dataclass(frozen=True)
class CompareView:
    """``xent compare``'s tables: statistics as rows and one column per model and test (``columns``;
    ``rows`` are ``(label, cells)`` with cells already text, ``value ± se``), a histogram of log10 KL
    per test (``histograms``: name -> ``(from, count, bar)`` bins), the worst tokens per test
    (``worst``: name -> dicts keyed by index, sequence, position, the KL key, target, p_target,
    q_target) and notes under it all. ``kl_label`` names KL in titles (``KL bound`` for a saved reference).
    """

    columns: Sequence[str]
    rows: Sequence[tuple[str, Sequence[str]]]
    histograms: dict = field(default_factory=dict)
    worst: dict = field(default_factory=dict)
    kl_label: str = "KL"
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class ReportView:
    """Figures in named sections (``xent ngram``): ``sections`` are ``(title, rows)``, each row
    ``(label, value, note)`` with the value a :data:`Text`; ``notes`` are lines under them all."""

    title: str
    sections: Sequence[tuple[str, Sequence[tuple[str, Text, str]]]]
    notes: Sequence[str] = ()


#: Any view :func:`xentcli.render.layouts.draw` draws.
View = Union[MatrixView, LossView, TargetView, SingleView, DerivationView, CompareView, ReportView]
