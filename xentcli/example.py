"""``xent example``: the reference document's worked example, computed from the shipped sample data.

Every number the reference document's worked example prints appears here, formatted as the document
prints it: matrices with NumPy's 8 decimals, means with all their digits.
"""

from __future__ import annotations

from importlib.resources import as_file

import numpy as np

from . import core
from .numbers import fixed
from .readers import read_matrix
from .render.layouts import matrix_table, single_sample_table, summary
from .sample_data import path

__all__ = ["worked_example", "worked_example_explained", "DOCUMENT_EPS"]

#: The epsilon of the document's NumPy code: -sum(y * log(p + 1e-6)).
DOCUMENT_EPS = 1e-6
TITLE = "xent example: the reference document's worked example"
TRY = "try"
#: Commands to copy: inline values, so they work from any folder.
TRY_LINES = (
    'xent ce --labels "1,0,0;0,0.8,0.2" --logits "4,2,1;0,5,1"',
    'xent ce --labels "1,0,0;0,0.8,0.2" --logits "4,2,1;0,5,1" --eps 1e-6',
    'xent softmax --logits "3,1,-3" | xent ce --labels 0 --probs -',
    'xent grad --labels "1,0,0;0,0.8,0.2" --logits "4,2,1;0,5,1"',
)


def _read(name: str, option: str):
    with as_file(path(name)) as p:
        return read_matrix(str(p), option)


def _all_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    return matrix, np.arange(len(matrix)), len(matrix)


def worked_example() -> list:
    """The rich renderables of the worked example, top to bottom."""
    from rich import box
    from rich.rule import Rule
    from rich.table import Table
    from rich.text import Text

    y = _read("labels.csv", "--labels").values
    z = _read("logits.csv", "--logits").values
    names = ["class 1", "class 2", "class 3"]
    probs = core.softmax(z)
    exact = core.cross_entropy(z, y)
    naive = core.cross_entropy(z, y, eps=DOCUMENT_EPS)
    grad = core.cross_entropy_grad(z, y)
    grad_mean = core.cross_entropy_grad(z, y, reduction="mean")

    out: list = [Text(TITLE, style="bold"), Rule(characters="─", style="dim"),
                 Text("Labels y (one-hot, then soft) and logits z of two samples:")]
    out.append(matrix_table("labels y  (sample_data/labels.csv)", *_all_rows(y), names, number=fixed))
    out.append(matrix_table("logits z  (sample_data/logits.csv)", *_all_rows(z), names, number=fixed))
    out.append(matrix_table("softmax(z)", *_all_rows(probs), names, number=fixed))

    losses = Table(title="cross-entropy per sample, -Σ y·log softmax(z)", title_justify="left", box=box.SIMPLE_HEAVY)
    losses.add_column("sample", justify="right")
    losses.add_column("exact\n(TensorFlow's softmax_\ncross_entropy_with_logits)", justify="right")
    losses.add_column(f"eps = {DOCUMENT_EPS:g}\n(the document's\nNumPy code)", justify="right")
    for i in range(len(exact)):
        losses.add_row(str(i + 1), fixed(exact[i]), fixed(naive[i]))
    losses.add_section()
    losses.add_row("mean", repr(core.reduce(exact)), repr(core.reduce(naive)))
    out.append(losses)

    out.append(matrix_table("gradient of each sample's loss: softmax(z) - y", *_all_rows(grad), names, number=fixed))
    out.append(matrix_table("gradient of the mean loss: (softmax(z) - y) / 2", *_all_rows(grad_mean), names,
                            number=fixed))

    cdm_label = _read("catdogman_label.csv", "--labels")
    cdm_pred = _read("catdogman_pred.csv", "--probs")
    cdm_loss = core.cross_entropy_with_probs(cdm_pred.values, cdm_label.values)[0]
    out.append(single_sample_table(
        "one sample: cross-entropy = -log 0.7", cdm_label.values[0], cdm_pred.values[0],
        repr(float(cdm_loss)), cdm_pred.names, number=fixed,
    ))

    z3 = _read("softmax_logits.csv", "--logits").values
    out.append(matrix_table("softmax(3, 1, -3)", *_all_rows(core.softmax(z3)), ["3", "1", "-3"], number=fixed))
    out.append(summary([(TRY if i == 0 else "", line) for i, line in enumerate(TRY_LINES)]))
    return out


def worked_example_explained():
    """The worked example as an :class:`~xentcli.explain.Explanation` (``xent example --explain``)."""
    from . import explain

    y = _read("labels.csv", "--labels").values
    z = _read("logits.csv", "--logits").values
    cdm_label = _read("catdogman_label.csv", "--labels")
    cdm_pred = _read("catdogman_pred.csv", "--probs")
    cdm_loss = float(core.cross_entropy_with_probs(cdm_pred.values, cdm_label.values)[0])
    return explain.example(
        y, z, core.cross_entropy(z, y), core.cross_entropy(z, y, eps=DOCUMENT_EPS),
        core.cross_entropy_grad(z, y, reduction="mean"), DOCUMENT_EPS,
        (cdm_pred.names, cdm_label.values[0], cdm_pred.values[0], cdm_loss), number=fixed,
    )
