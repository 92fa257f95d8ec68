"""Validation of logits, probabilities, labels and weights.

Each check raises :class:`RowError` (a ``ValueError``) naming the first
offending row, 0-based in ``.row`` and 1-based in the message, so the caller
can add where that row came from (a file line, an option name).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RowError",
    "SUM_TOLERANCE",
    "check_logits",
    "check_binary_logits",
    "check_probabilities",
    "check_label_distribution",
    "check_binary_targets",
    "check_class_indices",
    "check_weights",
    "looks_like_probabilities",
]

#: How far a row of probabilities may sum from 1 (SPEC §2).
SUM_TOLERANCE = 1e-6


class RowError(ValueError):
    """A problem in one row (sample) of a matrix; reads ``row R, class C: <detail>``.

    Attributes:
      detail: the problem itself.
      row: 0-based index of the first offending row (after flattening
        leading axes), or ``None`` when the problem is not tied to a row.
      column: 0-based class index of the offending entry, or ``None``.
    """

    def __init__(self, detail: str, row: int | None = None, column: int | None = None):
        self.detail, self.row, self.column = detail, row, column
        self.source = None  # which input it came from, where a caller needs to tell
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.row is None:
            return self.detail
        where = f"row {self.row + 1}" + ("" if self.column is None else f", class {self.column + 1}")
        return f"{where}: {self.detail}"

    def shifted(self, offset: int) -> "RowError":
        """The same error for a block that starts ``offset`` rows into the input."""
        return self.moved(lambda r: r + offset)

    def within(self, rows) -> "RowError":
        """The same error for a check that ran on ``x[rows]`` (``rows`` ascending indices into ``x``)."""
        return self.moved(lambda r: int(rows[r]))

    def moved(self, where) -> "RowError":
        """The same error with its row mapped by ``where`` (row → row)."""
        err = RowError(self.detail, None if self.row is None else where(self.row), self.column)
        err.source = self.source
        return err


def _rows(x) -> np.ndarray:
    x = np.asarray(x)
    return x.reshape(1, -1) if x.ndim < 2 else x.reshape(-1, x.shape[-1])


def _raise_first(bad: np.ndarray, x: np.ndarray, problem: str, *, row: int = 0) -> None:
    """Raise for the first True entry of the 2-D mask ``bad``, if any.

    ``problem`` is formatted with ``value``, the offending entry as a float;
    ``row`` is the row number of ``x``'s first row.
    """
    if bad.any():
        r, c = (int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
        raise RowError(problem.format(value=float(x[r, c])), row + r, c)


def check_logits(logits) -> None:
    """Raise unless every row is finite or ``-inf`` with at least one finite entry.

    ``-inf`` is allowed (a masked class); NaN and ``+inf`` are not, and a row
    of only ``-inf`` gives no distribution at all.
    """
    z = _rows(logits)
    if z.size == 0:
        raise RowError("the matrix is empty")
    # One pass decides the common case: a row's max is NaN if it holds a NaN, +inf if it
    # holds +inf, and -inf only if every entry is -inf. The detailed scans run on failure.
    top = np.max(z, axis=1)
    if np.isfinite(top).all():
        return
    r = int(np.argmax(~np.isfinite(top)))  # the first bad row, whatever its fault, so blocks do not matter
    _raise_first(np.isnan(z[r : r + 1]) | (z[r : r + 1] == np.inf), z[r : r + 1],
                 "logit is {value!r}; expected a finite number or -inf", row=r)
    raise RowError("every logit is -inf, so no class has any probability", r)


def check_binary_logits(logits) -> None:
    """Raise for NaN; ``±inf`` are allowed (a Bernoulli logit of ``+inf`` is certainty, p = 1)."""
    z = _rows(logits)
    if z.size == 0:
        raise RowError("the matrix is empty")
    _raise_first(np.isnan(z), z, "logit is {value!r}; expected a number or ±inf")


def check_probabilities(probs, *, normalized: bool = True, tolerance: float = SUM_TOLERANCE) -> None:
    """Raise unless every entry is in [0, 1] and, if ``normalized``, rows sum to 1.

    Args:
      probs: array of shape ``(..., C)``.
      normalized: require ``|Σ_c p_c - 1| <= tolerance`` per row.
    """
    p = _rows(probs)
    if p.size == 0:
        raise RowError("the matrix is empty")
    # The negation also catches NaN.
    _raise_first(~((p >= 0) & (p <= 1)), p, "probability {value!r} is outside [0, 1]")
    if normalized:
        _check_sums(p, "probabilities", tolerance)


def check_label_distribution(labels, *, normalized: bool = True, tolerance: float = SUM_TOLERANCE) -> None:
    """Raise unless label rows are finite, non-negative and (if ``normalized``) sum to 1."""
    y = _rows(labels)
    _raise_first(~(np.isfinite(y) & (y >= 0)), y, "label {value!r} is not a non-negative number")
    if normalized:
        _check_sums(y, "labels", tolerance)


def check_binary_targets(targets) -> None:
    """Raise unless every target is in [0, 1] (each entry is its own Bernoulli probability)."""
    y = _rows(targets)
    _raise_first(~((y >= 0) & (y <= 1)), y, "target {value!r} is outside [0, 1]")


def _check_sums(p: np.ndarray, what: str, tolerance: float) -> None:
    sums = np.sum(p, axis=1, dtype=np.float64)
    off = np.abs(sums - 1.0) > tolerance
    if off.any():
        r = int(np.argmax(off))
        raise RowError(f"{what} sum to {float(sums[r])!r}, expected 1 within {tolerance:g}", r)


def check_class_indices(indices, num_classes: int, *, ignore_index: int | None = None) -> None:
    """Raise unless every index is in ``[0, num_classes)`` or equals ``ignore_index``."""
    y = np.asarray(indices).reshape(-1)
    bad = (y < 0) | (y >= num_classes)
    if ignore_index is not None:
        bad &= y != ignore_index
    if bad.any():
        r = int(np.argmax(bad))
        raise RowError(
            f"class index {int(y[r])} is out of range for {num_classes} classes (expected 0 to {num_classes - 1})", r
        )


def check_weights(weights, num_classes: int) -> np.ndarray:
    """Return class weights as a float64 vector of length ``num_classes``, or raise."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim > 1 and max(w.shape) == w.size:
        w = w.reshape(-1)  # a single row or column of a file
    if w.shape != (num_classes,):
        raise RowError(
            f"expected one weight per class ({num_classes}), found shape {tuple(np.asarray(weights).shape)}"
        )
    bad = ~np.isfinite(w)
    if bad.any():
        c = int(np.argmax(bad))
        raise RowError(f"weight {c + 1} is {float(w[c])!r}; expected a finite number")
    return w


def looks_like_probabilities(logits, *, tolerance: float = SUM_TOLERANCE) -> bool:
    """True when every entry is in [0, 1] and every row sums to 1.

    Such "logits" are almost certainly probabilities; a softmax of them would
    be applied twice.
    """
    z = _rows(logits)
    if z.size == 0 or z.shape[-1] < 2:
        return False
    if not np.all((z >= 0) & (z <= 1)):
        return False
    return bool(np.all(np.abs(np.sum(z, axis=1, dtype=np.float64) - 1.0) <= tolerance))
