"""From option values to validated arrays: predictions, labels, weights, class names.

This is where a core ``ValueError`` about a row gets the option, the file and
the line it came from, and where warnings are written (stderr, never stdout).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click
import numpy as np

from . import core
from .errors import CallError, DataError
from .readers import Matrix, read_matrix

__all__ = ["Predictions", "warn", "check_stdin", "load_predictions", "load_labels", "load_weights", "class_names"]


def warn(message: str) -> None:
    """A warning on stderr."""
    click.echo(f"Warning: {message}", err=True)


def check_stdin(**values: str | None) -> None:
    """Only one option may read stdin ('-')."""
    readers = [f"--{k.replace('_', '-')}" for k, v in values.items() if v == "-"]
    if len(readers) > 1:
        raise CallError(f"only one option may read stdin, but {' and '.join(readers)} are both '-'")


def _stdin():
    return sys.stdin.buffer


def _read(spec: str, option: str) -> Matrix:
    return read_matrix(spec, option, stdin=_stdin())


def located(matrix: Matrix, error: ValueError) -> DataError:
    """A core error, prefixed with where the offending row came from."""
    return DataError(f"{matrix.locate(getattr(error, 'row', None))}: {error}")


@dataclass
class Predictions:
    """Logits or probabilities as rows ``(N, C)``.

    ``values`` keeps the stored dtype (a memory map for ``.npy``): the core
    converts blocks to float64 as it goes. ``shape`` is the input's shape
    before leading axes were flattened (labels are matched against it).
    """

    values: np.ndarray
    kind: str  # "logits" or "probs"
    shape: tuple[int, ...]
    matrix: Matrix

    @property
    def num_classes(self) -> int:
        return self.values.shape[1]

    def __len__(self) -> int:
        return self.values.shape[0]


def _as_rows(values: np.ndarray) -> np.ndarray:
    if values.ndim == 0:
        return values.reshape(1, 1)
    if values.ndim == 1:
        return values.reshape(1, -1)
    return values.reshape(-1, values.shape[-1])


def load_predictions(
    logits: str | None,
    probs: str | None,
    *,
    temperature: float = 1.0,
    renormalize: bool = False,
    normalized: bool = True,
    allow_probs: bool = True,
    options: tuple[str, str] = ("--logits", "--probs"),
) -> Predictions:
    """Read exactly one of logits / probabilities and validate it.

    Args:
      normalized: probability rows must sum to 1 (``ce``, ``kl``, ``entropy``;
        not ``bce``, where each entry is its own probability).
      options: the two options' names, for messages (``--p-logits``, ``--p``).
    """
    logits_opt, probs_opt = options
    if logits is not None and probs is not None:
        raise CallError(f"give either {logits_opt} or {probs_opt}, not both")
    if logits is None and (probs is None or not allow_probs):
        raise CallError(f"missing {logits_opt}" + (f" (or {probs_opt})" if allow_probs else ""))
    if probs is not None and temperature != 1.0:
        raise CallError(f"--temperature divides logits; it does not apply to {probs_opt}")
    kind, option, spec = ("logits", logits_opt, logits) if logits is not None else ("probs", probs_opt, probs)
    m = _read(spec, option)
    rows = _as_rows(m.values)
    _warn_float16_overflow(rows, m)
    try:
        if kind == "logits":
            core.check_logits(rows)
        elif renormalize:
            rows = _renormalized(np.asarray(rows, dtype=np.float64), m.where)
        else:
            core.check_probabilities(rows, normalized=normalized)
    except core.RowError as e:
        hint = _renormalize_hint(kind, rows, e) if normalized else ""
        raise DataError(f"{m.locate(e.row)}: {e}{hint}") from e
    if rows.shape[1] == 1 and normalized:
        warn(f"{option} has a single class: its softmax is 1 and every cross-entropy is 0")
    if kind == "logits" and normalized and core.looks_like_probabilities(rows):
        warn(f"{option} rows look like probabilities (in [0, 1], summing to 1); "
             f"softmax would be applied twice. Did you mean {probs_opt}?")
    return Predictions(rows, kind, tuple(np.shape(m.values)) or (1,), m)


def _renormalize_hint(kind: str, rows: np.ndarray, error: core.RowError) -> str:
    """Suggest --renormalize where rescaling would fix the offending row."""
    if kind == "logits" or error.row is None:
        return ""
    row = np.asarray(rows[error.row], dtype=np.float64)
    if np.all(np.isfinite(row) & (row >= 0)) and row.sum() > 0:
        return "; pass --renormalize to rescale rows"
    return ""


def _renormalized(rows: np.ndarray, where: str) -> np.ndarray:
    """Rows divided by their sums (``--renormalize``), saying how many were off."""
    bad = ~(np.isfinite(rows) & (rows >= 0))
    if bad.any():
        r, c = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise core.RowError(f"row {r + 1}, class {c + 1}: {float(rows[r, c])!r} is not a non-negative number", int(r))
    sums = rows.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        r = int(np.argmax(sums[:, 0] <= 0))
        raise core.RowError(f"row {r + 1} sums to 0 and cannot be renormalized", r)
    off = np.abs(sums[:, 0] - 1.0) > core.SUM_TOLERANCE
    if off.any():
        r = int(np.argmax(off))
        warn(f"{where}: rescaled {int(off.sum())} row(s) that did not sum to 1 (the first, row {r + 1}, "
             f"summed to {float(sums[r, 0])!r})")
    return rows / sums


def _warn_float16_overflow(rows: np.ndarray, m: Matrix) -> None:
    """float16 saturates at ±65504 and overflows to ±inf: such values were probably clipped when saved."""
    if rows.dtype != np.float16:
        return
    top = np.finfo(np.float16).max
    hit = np.isinf(rows) | (np.abs(rows) >= top)
    if hit.any():
        warn(f"{m.where}: float16 input holds {int(hit.sum())} value(s) at ±{float(top):g} or ±inf, "
             "the float16 limit: they may have overflowed when saved (xent computes in float64)")


def load_labels(
    spec: str,
    pred: Predictions,
    *,
    kind: str = "ce",
    ignore_index: int | None = None,
    renormalize: bool = False,
    option: str = "--labels",
) -> tuple[np.ndarray, Matrix]:
    """Labels as int64 indices ``(N,)`` or float64 rows ``(N, C)``, by the shape rule of SPEC §1.

    Args:
      kind: ``"ce"``: class indices in ``[0, C)`` (or ``ignore_index``), or
        distributions, non-negative and summing to 1 per row (rescaled with
        ``renormalize``); ``"bce"``: targets of the predictions' shape, each
        in ``[0, 1]``; ``"indices"``: class indices only (``ppl``).

    ``ignore_index`` with distributions is a wrong call, as in PyTorch.
    Returns the labels and the matrix they were read from (for locating
    later errors).
    """
    m = _read(spec, option)
    shape = pred.shape if len(pred.shape) > 1 else (1,) + pred.shape
    try:
        y = core.interpret_labels(m.values, shape)
    except core.RowError as e:
        raise located(m, e) from e
    if core.is_index_labels(y):
        if kind == "bce":
            raise DataError(f"{m.where}: binary targets need the predictions' shape {shape}, found {np.shape(m.values)}")
        y = y.reshape(-1)
        try:
            core.check_class_indices(y, pred.num_classes, ignore_index=ignore_index)
        except core.RowError as e:
            raise located(m, e) from e
        return y, m
    if kind == "indices":
        raise DataError(f"{m.where}: expected one class index per sample, found a matrix of the logits' shape {shape}")
    if ignore_index is not None:
        raise CallError("--ignore-index applies to class-index labels only; these labels are distributions")
    y = y.reshape(-1, pred.num_classes)
    try:
        if kind == "bce":
            core.check_binary_targets(y)
        elif renormalize:
            y = _renormalized(y, m.where)
        else:
            core.check_label_distribution(y)
    except core.RowError as e:
        hint = _renormalize_hint("labels", y, e) if kind == "ce" else ""
        raise DataError(f"{m.locate(e.row)}: {e}{hint}") from e
    return y, m


def load_weights(spec: str | None, num_classes: int, option: str = "--weights") -> np.ndarray | None:
    """``--weights`` (or ``--pos-weight``): one finite weight per class."""
    if spec is None:
        return None
    m = _read(spec, option)
    try:
        return core.check_weights(m.values, num_classes)
    except core.RowError as e:
        raise DataError(f"{m.where}: {e}") from e


def class_names(classes: str | None, num_classes: int, *matrices: Matrix) -> list[str]:
    """``--classes``, else the first header row of the given inputs, else 0 … C-1."""
    if classes is not None:
        names = [c.strip() for c in classes.split(",")]
        if len(names) != num_classes:
            raise CallError(f"--classes names {len(names)} classes, but the predictions have {num_classes}")
        return names
    for m in matrices:
        if m is not None and m.names and len(m.names) == num_classes:
            return m.names
    return [str(c) for c in range(num_classes)]
