"""What is read against the predictions, row for row or class for class: labels (class indices,
class names, distributions, binary targets, next tokens) and the class names of tables."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from .. import core
from ..errors import CallError, DataError
from ..printable import warning
from ..readers import Matrix
from ..readers.shard_matrix import ShardMatrix
from ..readers.source import RowSource
from .hints import binary_hint, guessed_headers, index_hint, prefix_hint, swap_checked, swapped_hint
from .reading import Reading, as_column, holds_names, located, numbers, read
from .rows import LabelRows, Predictions

__all__ = ["load_labels", "label_file_header", "class_names"]


def load_labels(
    spec: str,
    pred: Predictions,
    *,
    reading: Reading,
    kind: str = "ce",
    ignore_index: int | None = None,
    renormalize: bool = False,
    option: str = "--labels",
    classes: str | None = None,
) -> tuple["np.ndarray | LabelRows", Matrix]:
    """Labels as int64 indices ``(N,)`` or float64 rows ``(N, C)``, by the shape rule of docs/inputs.md.

    Args:
      reading: the command's (:class:`~xentcli.inputs.reading.Reading`): ``--input-header``, hints' options.
      kind: ``"ce"``: class indices in ``[0, C)`` (or ``ignore_index``), or
        distributions, non-negative and summing to 1 per row (rescaled with
        ``renormalize``); ``"bce"``: targets of the predictions' shape, each
        in ``[0, 1]``; ``"indices"``: class indices only (``ppl``).

    ``ignore_index`` with distributions is a wrong call, as in PyTorch. Labels
    written as class names map to class indices through ``classes``
    (``--classes``), else the predictions' column names.
    Returns the labels and the matrix they were read from (for locating
    later errors). Distributions and targets come as :class:`LabelRows`,
    checked block by block as they are used (a file of them is not read
    here); class indices are read and checked here.
    """
    m = read(spec, option, reading, names=kind == "ce")
    if holds_names(m):
        if kind != "ce":  # binary targets and token ids are numbers
            numbers(m)
        m = _named_labels(m, pred, classes, reading)
    unshifted = pred.unshifted_shape
    m = label_file_header(m, len(pred) if unshifted is None else math.prod(unshifted[:-1]), reading.header)
    if unshifted is not None:
        return _next_tokens(m, pred, ignore_index, reading)
    pred.alternative = binary_hint(pred, m)
    shape = pred.shape if len(pred.shape) > 1 else (1,) + pred.shape
    if pred.one_output and pred.num_classes == 1 and len(np.shape(m.values)) == 1 and len(m.values) == len(pred):
        # N targets of N one-output samples, not N class indices (as for a one-column file)
        return swap_checked(LabelRows(as_column(m.values), m, reading=reading, kind=kind), pred), m
    if pred.one_output and len(pred) > 1 and tuple(np.shape(m.values)) == (1, len(pred)) and shape == (len(pred), 1):
        raise DataError(f"{m.where} holds one sample of {len(pred)} outputs, shape {np.shape(m.values)}, but "
                        f"{pred.matrix.where} is a 1-D vector, {len(pred)} samples of one output: for one sample "
                        f"give the predictions as one row too (a one-row file or \"[[…]]\")")
    if kind != "indices" and isinstance(m.values, RowSource) and tuple(m.values.shape) == shape:
        # A file of the predictions' shape holds distributions (the shape rule): not read here.
        rows = m.values.as_rows()
    else:
        try:
            y = core.interpret_labels(m.values, shape)
        except core.RowError as e:
            raise DataError(f"{located(m, e)}{swapped_hint(m, pred)}{guessed_headers(m, pred.matrix)}") from e
        rows = None if core.is_index_labels(y) else y.reshape(-1, pred.num_classes)
    if rows is None:
        if kind == "bce":
            raise DataError(f"{m.where}: binary targets need the predictions' shape {shape}, found {np.shape(m.values)}"
                            f"{guessed_headers(m, pred.matrix)}")
        y = y.reshape(-1)
        if kind == "ce":
            y = _class_values(y, m, pred, classes, ignore_index)
        try:
            core.check_class_indices(y, pred.num_classes, ignore_index=ignore_index)
        except core.RowError as e:
            hint = index_hint(y, pred.num_classes, ignore_index, reading) or pred.alternative
            raise DataError(f"{located(m, e)}{hint}") from e
        return y, m
    if kind == "indices":
        raise DataError(f"{m.where}: expected one class index per sample, found a matrix of the logits' shape {shape}")
    if ignore_index is not None:
        raise CallError("--ignore-index applies to class-index labels only; these labels are distributions")
    labels = LabelRows(rows, m, reading=reading, kind=kind, renormalize=renormalize)
    labels.alternative = pred.alternative
    return swap_checked(labels, pred), m


def _next_tokens(m: Matrix, pred: "Predictions", ignore_index: int | None,
                 reading: Reading) -> tuple[np.ndarray, Matrix]:
    """``--shift``: the token ids of the unshifted input without each sequence's first, ``ids[..., 1:]``."""
    shape = pred.unshifted_shape
    held = tuple(np.shape(m.values))
    if len(held) >= 2 and held[-1] > 1 and math.prod(held[:-1]) > 1 and held != tuple(shape[:-1]):
        swapped = swapped_hint(m, pred)
        if swapped:
            raise DataError(f"--shift: {m.where} has shape {held} and {pred.matrix.where} has shape {shape}{swapped}")
        # Shifting the logits' one long sequence would pair each sequence's last position with the next one's first.
        raise DataError(f"--shift: {m.where} has shape {held}, {math.prod(held[:-1])} sequences of {held[-1]} tokens, "
                        f"but {pred.matrix.where} has shape {shape}, {math.prod(shape[:-2]) or 1} of {shape[-2]}: "
                        f"give the logits as {held + (shape[-1],)} so that each sequence is shifted on its own")
    try:
        y = core.interpret_labels(m.values, shape)
    except core.RowError as e:
        raise DataError(f"{located(m, e)} (before --shift){swapped_hint(m, pred)}{guessed_headers(m, pred.matrix)}") \
            from e
    if not core.is_index_labels(y):
        raise CallError(f"{m.where}: --shift scores each position against the next token: the labels must be "
                        f"token ids (class indices), not distributions")
    t = shape[-2]
    y = y.reshape(-1, t)[:, 1:].reshape(-1)
    try:
        core.check_class_indices(y, pred.num_classes, ignore_index=ignore_index)
    except core.RowError as e:
        e = e.moved(lambda r: (r // (t - 1)) * t + r % (t - 1) + 1)  # the token's position in the input
        raise DataError(f"{located(m, e)}{index_hint(y, pred.num_classes, ignore_index, reading)}") from e
    return y, m


def label_file_header(m: Matrix, n: int, header: str) -> Matrix:
    """pandas heads a label file with its default names: ``0`` over a Series of class indices,
    ``0,1,…`` over a DataFrame of integers. Such a first line over one row more than the ``n``
    predictions is a header (said once on stderr) when ``header`` (``--input-header``, :attr:`Reading.header`) is auto.

    Each text shard of a set is a file of its own: the shards whose first line is such a header
    lose it when the set holds exactly as many rows more than the predictions as there are of them."""
    if header != "auto":
        return m
    if isinstance(m, ShardMatrix):
        extra = np.shape(m.values)[0] - n
        if not 0 < extra <= sum(s.text for s in m.shards):
            return m
        headed = {i: names for i, s in enumerate(m.shards)
                  if s.text and s.names is None and (names := _pandas_label_names(s.array()[0])) is not None}
        if len(headed) != extra:
            return m
        i = next(iter(headed))
        warning(f"{m.where}: the first line ({','.join(headed[i])}) of {extra} of its {len(m.shards)} files "
                f"(e.g. {m.shards[i].path}) is read as a header, as pandas writes one: they hold {extra} lines more "
                f"than the {n} predictions; --input-header no reads them as data")
        return m.without_first_rows(headed)
    if not m.text or m.names is not None or np.shape(m.values)[:1] != (n + 1,):
        return m
    names = _pandas_label_names(m.values[0])
    if names is None:
        return m
    warning(f"{m.where}: line {m.lines[0]} ({','.join(names)}) is read as a header, as pandas writes one: the file has "
            f"one line more than the {n} predictions; --input-header no reads it as data")
    return m.without_first_row(names)


def _pandas_label_names(head) -> list[str] | None:
    """The names pandas gives unnamed columns (``0``; ``0,1,…``) if ``head`` (a first row) reads as them."""
    first = np.asarray(head, dtype=np.float64).reshape(-1)
    c = first.size
    if not (c == 1 and first[0] == 0) and not (c >= 2 and first[0] in (0, 1) and (np.diff(first) == 1).all()):
        return None
    return [str(int(v)) for v in first]


def _class_values(y: np.ndarray, m: Matrix, pred: "Predictions", classes: str | None,
                  ignore_index: int | None) -> np.ndarray:
    """Integer labels ``y`` as class indices when the class names (``--classes``, else the predictions'
    header) are integers other than 0…C-1, as scikit-learn's ``classes_`` head ``predict_proba``: each
    label is a class value, matched by name (label 5 is the column named ``5``); said once on stderr.
    Labels equal to ``ignore_index`` stay ignored."""
    names = _class_list(classes, pred.num_classes) if classes is not None else pred.matrix.names
    if not names or len(names) != pred.num_classes or not all(_INTEGER_NAME.fullmatch(str(c)) for c in names):
        return y
    values = np.array([int(c) for c in names], dtype=np.int64)
    if np.array_equal(values, np.arange(len(values))):
        return y
    order = np.argsort(values, kind="stable")
    at = np.minimum(np.searchsorted(values[order], y), len(values) - 1)
    found = values[order][at] == y
    ignored = (y == ignore_index) if ignore_index is not None else np.zeros(len(y), dtype=bool)
    shown = ", ".join(map(str, names[:8])) + (f", … ({len(names)} classes)" if len(names) > 8 else "")
    if not (found | ignored).all():
        r = int(np.argmin(found | ignored))
        raise DataError(f"{m.locate(r)}: row {r + 1}: label {int(y[r])} is not one of the class values {shown} "
                        "(the classes' names)")
    ids = np.where(ignored, ignore_index if ignore_index is not None else 0, order[at])
    if ignore_index is not None and (ids[~ignored] == ignore_index).any():
        raise CallError(f"--ignore-index {ignore_index}: the labels are class values, and class "
                        f"{names[ignore_index]!r} is at position {ignore_index}: it would be ignored too; "
                        "give an --ignore-index that is no class position (e.g. -100)")
    warning(f"{m.where}: the classes are named by integers ({shown}), not 0…{len(names) - 1}: labels are read as "
            f"those class values (label {names[-1]} is the column named {names[-1]!r})")
    return ids.astype(np.int64)


#: A class name that is an integer (in ASCII digits, within int64).
_INTEGER_NAME = re.compile(r"[+-]?[0-9]{1,18}")


def _named_labels(m: Matrix, pred: "Predictions", classes: str | None, reading: Reading) -> Matrix:
    """Labels written as class names, as class indices: through ``--classes``, else the predictions'
    column names. A one-column label file whose first line is a known class name has no header."""
    known = _class_list(classes, pred.num_classes) if classes is not None else pred.matrix.names
    cells = [str(c) for c in m.values.reshape(-1)]
    if not known or len(known) != pred.num_classes:
        fix = (f"pass --classes with the predictions' {pred.num_classes} classes in column order"
               if reading.offers("--classes")
               else "give class indices 0 to C-1, or predictions with a header of class names")
        raise CallError(f"{m.where}: the labels are class names ({cells[0]!r}, …) but no class names are known: {fix}")
    lines = m.lines
    if m.names is not None and len(m.names) == 1 and m.names[0] in known:  # that "header" was the first label
        cells = [m.names[0], *cells]
        line = getattr(m.names, "line", None)
        lines = None if lines is None or line is None else [line, *lines]
    index = {name: k for k, name in enumerate(getattr(known, "columns", ()))}  # a label may name the column
    index.update({name: k for k, name in enumerate(known)})  # or the class, which wins
    ids = np.empty(len(cells), dtype=np.int64)
    for r, name in enumerate(cells):
        k = index.get(name)
        if k is None:
            where = m.where if lines is None else f"{m.where} line {lines[r]}"
            raise DataError(f"{where}: row {r + 1}: class name {name!r} is not one of the classes: "
                            f"{', '.join(known)}{prefix_hint(name, known, pred.matrix.where)}")
        ids[r] = k
    return Matrix(ids, m.where, None, lines)


def _class_list(classes: str, num_classes: int) -> list[str]:
    names = [c.strip() for c in classes.split(",")]
    if len(names) != num_classes:
        raise CallError(f"--classes names {len(names)} classes, but the predictions have {num_classes}")
    return names


class IndexNames(Sequence):
    """The class names ``"0"`` … ``"C-1"``, each made when it is asked for.

    A list of a language model's vocabulary of millions would cost hundreds of megabytes
    (5 million strings: 320 MB) for names that only a table, a header or an explanation shows.
    """

    def __init__(self, count: int):
        self._ids = range(count)

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [str(c) for c in self._ids[index]]
        return str(self._ids[index])


def class_names(classes: str | None, num_classes: int, *matrices: Matrix) -> Sequence[str]:
    """``--classes``, else the first header row of the given inputs, else 0 … C-1 (:class:`IndexNames`)."""
    if classes is not None:
        return _class_list(classes, num_classes)
    for m in matrices:
        if m is not None and m.names and len(m.names) == num_classes:
            return m.names
    return IndexNames(num_classes)
