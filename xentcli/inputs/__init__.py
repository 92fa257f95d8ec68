"""From option values to validated inputs: predictions, labels, weights, class names.

This is where a core ``ValueError`` about a row gets the option, the file and
the line it came from, and where warnings are written (stderr, never stdout).
Every loader takes the command's :class:`Reading`: its ``--input-header`` (how a
text file's first line is read), its engine (where the predictions' row blocks
run) and the options its hints may name.

Modules: :mod:`.reading` (the command's reading; an option's value to a matrix), :mod:`.rows` (rows
checked block by block: :class:`Predictions`, :class:`LabelRows`),
:mod:`.labels` (what is read against the predictions), :mod:`.hints`.
"""

from __future__ import annotations

import numpy as np

from .. import core
from ..core import reductions as core_reductions
from ..errors import CallError, DataError
from ..printable import warning
from ..readers import Matrix
from .hints import (
    PROBABILITY_LOOK_ROWS,
    PROBABILITY_LOOK_VALUES,
    index_hint,
)
from .labels import (
    class_names,
    label_file_header,
    load_labels,
)
from .reading import (
    Reading,
    as_column,
    as_rows,
    check_stdin,
    numbers,
    read,
)
from .rows import (
    CheckedRows,
    LabelRows,
    Predictions,
)

__all__ = [
    "CheckedRows",
    "LabelRows",
    "Predictions",
    "Reading",
    "check_stdin",
    "class_names",
    "index_hint",
    "load_labels",
    "load_pos_weight",
    "load_predictions",
    "load_sample_weights",
    "load_weights",
]


def load_predictions(
    logits: str | None,
    probs: str | None,
    *,
    temperature: float = 1.0,
    renormalize: bool = False,
    normalized: bool = True,
    binary: bool = False,
    allow_probs: bool = True,
    options: tuple[str, str | None] = ("--logits", "--probs"),
    one_output: bool = False,
    reading: Reading,
) -> Predictions:
    """Read exactly one of logits / probabilities (validated later, block by block).

    Args:
      reading: the command's: ``--input-header``, the engine the row blocks run on (``--scheduler``),
        the options a hint may name.
      normalized: probability rows must sum to 1 (``ce``, ``kl``, ``entropy``;
        not ``bce``, where each entry is its own probability).
      binary: each logit is its own Bernoulli logit (``bce``): ``±inf`` allowed.
      options: the two options' names, for messages (``--p-logits``, ``--p``); None for a command
        with no probabilities option (hints then say to give log-probabilities).
      one_output: a 1-D input of length N is N samples of one output, ``(N, 1)``, as scikit-learn's
        ``log_loss(y, p)`` and PyTorch's element-wise losses read ``(N,)`` arrays (``bce``, ``mse``);
        otherwise it is one sample ``(1, N)``, as the document's example is.
    """
    logits_opt, probs_opt = options
    if logits is not None and probs is not None:
        raise CallError(f"give either {logits_opt} or {probs_opt}, not both")
    if logits is None and (probs is None or not allow_probs):
        raise CallError(f"missing {logits_opt}" + (f" (or {probs_opt})" if allow_probs else ""))
    if probs is not None and temperature != 1.0:
        raise CallError(f"--temperature divides logits; it does not apply to {probs_opt}")
    kind, option, spec = ("logits", logits_opt, logits) if logits is not None else ("probs", probs_opt, probs)
    m = numbers(read(spec, option, reading))
    vector = one_output and len(np.shape(m.values)) == 1
    shape = (len(m.values), 1) if vector else tuple(np.shape(m.values)) or (1,)
    pred = Predictions(as_column(m.values) if vector else as_rows(m.values), kind, shape, m, reading=reading,
                       renormalize=renormalize and kind == "probs", normalized=normalized, binary=binary)
    pred.logits_option = logits_opt
    pred.one_output = one_output
    if pred.num_classes == 1 and normalized:
        warning(f"{option} has a single class: " + ("its softmax is 1" if kind == "logits" else "its probability is 1")
                + " and every cross-entropy is 0")
    if kind == "logits" and normalized:
        rows = max(1, min(PROBABILITY_LOOK_ROWS, PROBABILITY_LOOK_VALUES // pred.num_classes))
        head = np.asarray(pred.values[:rows], dtype=np.float64)
        if np.isfinite(head).all() and core.looks_like_probabilities(head):
            fix = (f"Did you mean {probs_opt}?" if probs_opt and reading.offers(probs_opt) else
                   "If they are, give their logarithms: log-probabilities are logits (softmax(log p) = p).")
            warning(f"{option} rows look like probabilities (in [0, 1], summing to 1); "
                    f"softmax would be applied twice. {fix}")
    return pred


def load_weights(spec: str | None, num_classes: int, *, reading: Reading) -> np.ndarray | None:
    """``--weights``: one finite weight per class."""
    if spec is None:
        return None
    return _class_weights(numbers(read(spec, "--weights", reading)), num_classes)


def _class_weights(m: Matrix, num_classes: int) -> np.ndarray:
    try:
        return core.check_weights(m.values, num_classes)
    except core.RowError as e:
        raise DataError(f"{m.where}: {e}") from e


def load_pos_weight(spec: str | None, pred: Predictions, *, reading: Reading) -> np.ndarray | None:
    """``--pos-weight``: one weight per class ``(C,)``; for samples of one output (``C = 1``), also one per
    sample ``(N, 1)``, applied entry by entry as PyTorch broadcasts a ``pos_weight`` of the input's shape."""
    if spec is None:
        return None
    m = numbers(read(spec, "--pos-weight", reading))
    n = len(pred)
    if pred.num_classes != 1 or n == 1 or np.size(m.values) == 1:
        return _class_weights(m, pred.num_classes)
    if np.size(m.values) != n:
        raise DataError(f"{m.where}: expected one weight per class (1) or one per sample ({n}), "
                        f"found {np.size(m.values)}")
    try:
        return core.check_weights(m.values, n).reshape(n, 1)
    except core.RowError as e:
        raise DataError(f"{m.where}: {e}") from e


def load_sample_weights(spec: str | None, pred: Predictions, option: str = "--sample-weights", *,
                        reading: Reading) -> np.ndarray | None:
    """``--sample-weights``: one finite weight >= 0 per sample of ``pred``, as float64 ``(N,)``
    (any shape of N values, in C order: ``(B, T)`` for ``(B, T, C)`` predictions)."""
    if spec is None:
        return None
    m = label_file_header(numbers(read(spec, option, reading)), len(pred), reading.header)
    try:
        return core_reductions.check_sample_weights(m.values, len(pred))
    except core.RowError as e:
        column = len(np.shape(m.values)) == 2 and np.shape(m.values)[1] == 1  # a row is a line of the file
        raise DataError(f"{m.locate(e.row) if column else m.where}: {e}") from e
