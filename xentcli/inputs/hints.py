"""The hints of input errors and warnings: what to do about the inputs, where the cause is plain.

A hint names only options the command offers and applies in this call
(:meth:`~xentcli.inputs.reading.Reading.offers` of the command's reading), and looks at the first
:data:`PROBABILITY_LOOK_ROWS` rows of an input at most. ``pred`` is the predictions
(:class:`~xentcli.inputs.rows.Predictions`, which carry their reading), ``labels`` a label matrix or
label rows.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..engine import read_rows
from ..printable import warning
from ..readers import Matrix
from ..readers.source import shown_path
from ..readers.text import guessed_header
from .reading import Reading, as_rows

__all__ = ["PROBABILITY_LOOK_ROWS", "PROBABILITY_LOOK_VALUES", "first_rows", "guessed_headers", "binary_hint",
           "index_hint", "swapped_hint", "swap_checked", "prefix_hint", "renormalize_hint"]


#: At most how many leading rows, and about how many values, decide whether logits
#: "look like probabilities" (a wide vocabulary needs fewer rows to tell).
PROBABILITY_LOOK_ROWS = 1000
PROBABILITY_LOOK_VALUES = 1 << 20


def first_rows(rows) -> np.ndarray:
    """The first :data:`PROBABILITY_LOOK_ROWS` rows as float64: what the hints look at."""
    return np.asarray(read_rows(rows, 0, PROBABILITY_LOOK_ROWS), dtype=np.float64)


def guessed_headers(*inputs: Matrix) -> str:
    """The inputs' first lines read as headers by the automatic rules, for a shape error: its run
    fails, and a failed run prints no warning, so nothing else would say that a line went missing."""
    return "".join(f"; {clause}" for m in inputs if (clause := guessed_header(m)))


def binary_hint(pred, labels: Matrix) -> str:
    """Point ``ce`` given one probability or logit per sample to ``bce``: a 1-D vector or one column
    of them with as many labels, each 0 or 1, are N binary predictions (scikit-learn's ``p[:, 1]`` or
    ``decision_function``), not a distribution."""
    entries = len(pred) * pred.num_classes
    if pred.reading.command != "ce" or not (len(pred.shape) == 1 or pred.shape[-1] == 1) \
            or entries < 2 or math.prod(np.shape(labels.values)) != entries:
        return ""
    head = first_rows(pred.values)
    y = first_rows(as_rows(labels.values))
    if not np.all((y == 0) | (y == 1)) or (pred.kind == "probs" and not np.all((head >= 0) & (head <= 1))):
        return ""
    what, option = ("probability", "--probs") if pred.kind == "probs" else ("logit", "--logits")
    return (f"; one {what} per sample, each its own (a binary classifier's, as scikit-learn's "
            f"{'p[:, 1]' if pred.kind == 'probs' else 'decision_function'}), is binary cross-entropy: "
            f"xent bce --labels … {option} …")


def index_hint(y: np.ndarray, num_classes: int, ignore_index: int | None, reading: Reading) -> str:
    """What to do about class indices out of range, where the cause is plain."""
    if ignore_index is None and (y == -100).any():
        return "; -100 is the padding label of PyTorch and Hugging Face" + (
            ": pass --ignore-index -100 to skip those samples" if reading.offers("--ignore-index") else "")
    counted = y if ignore_index is None else y[y != ignore_index]
    if counted.size and counted.min() >= 1 and counted.max() == num_classes:
        return (f"; the labels look 1-based (1 to {num_classes}, no 0): xent counts classes from 0, "
                "so subtract 1 from each (y - 1 in NumPy or pandas, awk '{print $1 - 1}' on a text file)")
    return ""


def swapped_hint(labels: Matrix, pred) -> str:
    """Labels and predictions that look swapped, whatever their formats: the predictions are integers,
    one per row the labels would have as predictions (class indices), and the labels are not integers."""
    held = tuple(np.shape(labels.values))
    if not held:
        return ""
    rows = math.prod(held[:-1]) if len(held) > 1 else (held[0] if pred.one_output else 1)
    if math.prod(pred.unshifted_shape or (len(pred), pred.num_classes)) != rows:  # counted before --shift
        return ""
    y = first_rows(as_rows(labels.values))
    head = first_rows(pred.values)
    if not np.all(np.isfinite(head) & (head == np.round(head))) or np.all(y == np.round(y)):
        return ""
    label_opt, pred_opt = labels.where.split()[0], pred.matrix.where.split()[0]
    return f"; {label_opt} and {pred_opt} look swapped ({pred_opt} holds integers, one per row of {label_opt})"


def swap_checked(labels, pred):
    """``labels``, after a warning if they are binary targets that look swapped with the predictions of
    their shape: predictions all 0 or 1 (as targets are), targets none of them (as probabilities are)."""
    if labels.kind != "bce":
        return labels
    y = first_rows(labels.values)
    head = first_rows(pred.values)
    if y.size and np.all((head == 0) | (head == 1)) and np.all((y > 0) & (y < 1)):
        warning(f"{labels.matrix.where} and {pred.matrix.where} look swapped: every prediction is 0 or 1, as "
                f"targets are, and no target is, as probabilities are")
    return labels


def prefix_hint(name: str, known, where: str) -> str:
    """Where ``name`` is a class name after the prefix every column shares (``setosa`` of ``p_setosa``):
    the selector whose ``*`` makes the classes those names."""
    prefix = os.path.commonprefix([str(k) for k in known])
    if not prefix or f"{prefix}{name}" not in known or " " not in where:
        return ""
    return (f"; the classes are the columns' full names: select them as {shown_path(where)}:{prefix}* "
            f"to name them {name!r}, …")


def renormalize_hint(row, reading: Reading) -> str:
    """Suggest --renormalize where rescaling would fix the offending row (and the command has it)."""
    row = np.asarray(row, dtype=np.float64)
    if np.all(np.isfinite(row) & (row >= 0)) and row.sum() > 0 and reading.offers("--renormalize"):
        return "; pass --renormalize to rescale rows"
    return ""
