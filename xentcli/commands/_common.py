"""What more than one command uses: shown probabilities, the inf warning, reports weighted by
``--sample-weights``, (p, log p) of rows,
the one-pass settings of ``ce`` and ``ppl``, and the MSE loaders and shown predictions of
``mse`` and ``grad --loss mse``."""

from __future__ import annotations

import numpy as np

from .. import core
from ..core.reductions import weighted
from ..engine import LEAN_BLOCK_ELEMENTS
from ..inputs import LabelRows, Predictions, Reading, load_labels, load_predictions
from ..printable import warning
from ..report import LossReport

#: How ``ce`` and ``ppl`` run index targets, which go through ``kernels.target_log_probs`` (compiled or
#: NumPy): a bad logits row comes out NaN, so only those rows are checked (after computing, one read of a
#: clean block instead of two), and neither kernel keeps block-sized temporaries, so blocks can be larger.
ONE_PASS = dict(screened=True, block_elements=LEAN_BLOCK_ELEMENTS)


def probabilities(pred: Predictions, ids, temperature: float = 1.0, *, binary: bool = False) -> np.ndarray:
    """The predicted probabilities of the samples ``ids`` (for tables only)."""
    rows = pred.rows(np.asarray(ids))
    if pred.kind != "logits":
        return rows
    return core.sigmoid(rows) if binary else core.softmax(rows, temperature=temperature)


def shown_predictions(pred: Predictions, ids, through: str | None) -> np.ndarray:
    """The MSE predictions of the samples ``ids``, for tables: ``softmax(z)``, ``σ(z)`` or as given."""
    rows = pred.rows(np.asarray(ids))
    return rows if through is None else core.activation(rows, through)


def warn_infinite(per: np.ndarray, where, why: str) -> None:
    """Warn once, at the first infinite per-sample value, saying ``why`` and how many there are."""
    inf = np.isinf(per)
    if inf.any():
        r = int(np.argmax(inf))
        count = int(inf.sum())
        warning(f"{where.locate(r)}: row {r + 1}: the value is inf because {why}"
                + (f"; {count} samples in all" if count > 1 else ""))


def warn_zero_denominator(denominator: float) -> None:
    """The mean of nothing counted is nan, as PyTorch's is: said on stderr."""
    if denominator == 0:
        warning("the mean's denominator is 0 (every sample ignored or weighted 0): the mean is nan")


def weighted_report(command: str, per: np.ndarray, sample_weights, *, base, reduction: str,
                    denominator: float | None = None) -> LossReport:
    """The report of per-sample losses, each times its ``--sample-weights`` weight if given (``wᵢ·ℓᵢ``, also
    with ``none``); the mean divides by ``denominator``, which defaults to N, or to ``Σ wᵢ`` with weights."""
    if sample_weights is not None:
        per = weighted(per, sample_weights)
        if denominator is None:
            denominator = float(np.sum(sample_weights))
    if denominator is not None:
        warn_zero_denominator(denominator)
    return LossReport.of(command, per, base=base, reduction=reduction, denominator=denominator)


def log_probs(pred: Predictions, rows: np.ndarray, temperature: float = 1.0):
    """(p, log p) of checked rows: log-softmax for logits, log for probabilities."""
    rows = np.asarray(rows, dtype=np.float64)
    if pred.kind == "probs":
        return core.log_probs_of(probs=rows)
    return core.log_probs_of(logits=rows, temperature=temperature)


class Targets(LabelRows):
    """MSE targets of the predictions' shape: any finite numbers (one-hot, soft, multi-hot, regression)."""

    def check(self, rows) -> np.ndarray:
        y = np.asarray(rows, dtype=np.float64)
        try:
            core.check_finite(y, "target")
        except core.RowError as e:
            e.source = self
            raise
        return y


def load_targets(labels: str, pred: Predictions, classes: str | None, *, reading: Reading):
    """Targets of the predictions' shape (checked block by block), or class indices ``(N,)``.

    The shape rule of every command: labels of the predictions' shape are
    targets; otherwise N integers (or class names) are class indices, which
    stand for their one-hot rows (:func:`core.one_hot`, applied per block).
    """
    y, matrix = load_labels(labels, pred, kind="ce", classes=classes, reading=reading)
    if isinstance(y, LabelRows):
        y = Targets(y.values, matrix, reading=reading, kind="mse")
    return y, matrix


def load_mse_predictions(preds: str | None, logits: str | None, through: str | None, *,
                         preds_option: str | None = "--preds", reading: Reading) -> Predictions:
    """Predictions (any numbers, NaN refused; ±inf refused when computed) or logits checked for ``through``
    (``preds_option``: the command's option for predictions, None where it has none); a 1-D input is N
    samples of one output."""
    if logits is None:  # each entry its own number, as a Bernoulli logit is: only NaN is refused by the reader
        return load_predictions(preds, None, normalized=False, binary=True, allow_probs=False,
                                options=("--preds", "--preds"), one_output=True, reading=reading)
    return load_predictions(logits, None, normalized=through == "softmax", binary=through == "sigmoid",
                            allow_probs=False, options=("--logits", preds_option), one_output=True, reading=reading)
