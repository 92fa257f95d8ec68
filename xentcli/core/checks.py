"""Validation of logits, probabilities, labels and weights.

Each check raises :class:`RowError` (a ``ValueError``) naming the first
offending row, 0-based in ``.row`` and 1-based in the message, so the caller
can add where that row came from (a file line, an option name).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "RowError",
    "SUM_TOLERANCE",
    "sum_tolerance",
    "check_logits",
    "check_binary_logits",
    "check_probabilities",
    "check_label_distribution",
    "check_binary_targets",
    "check_class_indices",
    "check_weights",
    "looks_like_probabilities",
    "rows_off",
    "rows_2d",
    "raise_first",
]

#: How far a row of probabilities may sum from 1 at the least, whatever its width (docs/math.md).
SUM_TOLERANCE = 1e-6

_FLOAT32_EPS = float(np.finfo(np.float32).eps)
#: Unit roundoff (half the machine epsilon) of the formats a row's entries may have been rounded to.
_ROUNDOFF = {"float32": _FLOAT32_EPS / 2, "float16": float(np.finfo(np.float16).eps) / 2, "bfloat16": 2.0**-9}


def sum_tolerance(num_classes: int, entries: str = "float32") -> float:
    """How far from 1 a row of ``num_classes`` probabilities may sum through rounding alone.

    ``max(1e-6, 8·√C·ε₃₂ + u)``, ``ε₃₂ = 2⁻²³`` (docs/inputs.md): 2.1e-4 at 50 257 classes,
    3.7e-4 at 152 064. The first term is the normalizer: frameworks sum a softmax row's
    C exponentials in float32 (for float16 and bfloat16 output too), and rounding in a
    running sum grows like a random walk, with a standard deviation near ``√C·ε₃₂/6``;
    eight times ``√C·ε₃₂`` leaves room for the systematic drift of long sums (a naive
    float32 loop drifts 3.4e-4 at 152 064 classes, PyTorch's vectorized sum 2.7e-5).
    The second, ``u``, is the unit roundoff of the format the entries were rounded to
    (``entries``): rounding each entry moves the row's sum by at most ``u·Σp = u``.
    float64 and decimal text are held to float32's bound: they carry no trace of the
    float32 computation that usually made them. A row off by 1e-3 is refused up to a
    million classes in float32, text or float64, up to 152 064 in float16; bfloat16's
    own rounding reaches 3.9e-3.
    """
    return max(SUM_TOLERANCE, 8.0 * math.sqrt(num_classes) * _FLOAT32_EPS + _ROUNDOFF[entries])


def _entry_format(rows: np.ndarray) -> str:
    """The narrowest format holding every entry of ``rows`` exactly: the rounding they may have had.

    bfloat16 reaches NumPy widened to float32 (its 16 bits are a float32's high half)
    and float16 may be widened too, so the values, not the dtype, tell. 0 and 1, exact in every
    format, tell nothing: a row of only those is held to float32's bound.
    """
    rows = rows[(rows != 0) & (rows != 1)]
    f32 = rows.astype(np.float32)
    if not rows.size or not np.array_equal(f32, rows):
        return "float32"
    if not np.any(f32.view(np.uint32) & np.uint32(0xFFFF)):
        return "bfloat16"
    return "float16" if np.array_equal(f32.astype(np.float16).astype(np.float32), f32) else "float32"


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


def rows_2d(x) -> np.ndarray:
    """``x`` as rows of its last axis: ``(1, n)`` for a vector or a scalar, ``(N, C)`` otherwise."""
    x = np.asarray(x)
    return x.reshape(1, -1) if x.ndim < 2 else x.reshape(-1, x.shape[-1])


def raise_first(bad: np.ndarray, x: np.ndarray, problem: str, *, row: int = 0) -> None:
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
    z = rows_2d(logits)
    if z.size == 0:
        raise RowError("the matrix is empty")
    # One pass decides the common case: a row's max is NaN if it holds a NaN, +inf if it
    # holds +inf, and -inf only if every entry is -inf. The detailed scans run on failure.
    top = np.max(z, axis=1)
    if np.isfinite(top).all():
        return
    r = int(np.argmax(~np.isfinite(top)))  # the first bad row, whatever its fault, so blocks do not matter
    raise_first(np.isnan(z[r : r + 1]) | (z[r : r + 1] == np.inf), z[r : r + 1],
                 "logit is {value!r}; expected a finite number or -inf", row=r)
    raise RowError("every logit is -inf, so no class has any probability", r)


def check_binary_logits(logits) -> None:
    """Raise for NaN; ``±inf`` are allowed (a Bernoulli logit of ``+inf`` is certainty, p = 1)."""
    z = rows_2d(logits)
    if z.size == 0:
        raise RowError("the matrix is empty")
    raise_first(np.isnan(z), z, "logit is {value!r}; expected a number or ±inf")


def check_probabilities(probs, *, normalized: bool = True) -> None:
    """Raise unless every entry is in [0, 1] and, if ``normalized``, rows sum to 1.

    Args:
      probs: array of shape ``(..., C)``.
      normalized: require ``|Σ_c p_c - 1| <= sum_tolerance(C, …)`` per row, the
        rounding the entries' format allows over the row's width (:func:`sum_tolerance`).
    """
    p = rows_2d(probs)
    if p.size == 0:
        raise RowError("the matrix is empty")
    # The negation also catches NaN.
    raise_first(~((p >= 0) & (p <= 1)), p, "probability {value!r} is outside [0, 1]")
    if normalized:
        _check_sums(p, "probabilities")


def check_label_distribution(labels, *, normalized: bool = True) -> None:
    """Raise unless label rows are finite, non-negative and (if ``normalized``) sum to 1 (as probabilities do)."""
    y = rows_2d(labels)
    raise_first(~(np.isfinite(y) & (y >= 0)), y, "label {value!r} is not a non-negative number")
    if normalized:
        _check_sums(y, "labels")


def check_binary_targets(targets) -> None:
    """Raise unless every target is in [0, 1] (each entry is its own Bernoulli probability)."""
    y = rows_2d(targets)
    raise_first(~((y >= 0) & (y <= 1)), y, "target {value!r} is outside [0, 1]")


def _check_sums(p: np.ndarray, what: str) -> None:
    off = rows_off(p)
    if off.size:
        r = int(off[0])
        total = float(np.sum(p[r], dtype=np.float64))
        raise RowError(f"{what} sum to {total!r}, expected 1 within {sum_tolerance(p.shape[1], _entry_format(p[r])):g}",
                       r)


def rows_off(rows) -> np.ndarray:
    """The indices of the rows of ``rows`` (2-D) that do not sum to 1 within :func:`sum_tolerance`."""
    p = np.asarray(rows)
    dev = np.abs(np.sum(p, axis=1, dtype=np.float64) - 1.0)
    off = ~(dev <= sum_tolerance(p.shape[1]))
    # A row past float32's bound but within bfloat16's is looked at again: its entries may be float16
    # or bfloat16 values.
    for r in np.flatnonzero(off & (dev <= sum_tolerance(p.shape[1], "bfloat16"))):
        off[r] = not dev[r] <= sum_tolerance(p.shape[1], _entry_format(p[r]))
    return np.flatnonzero(off)


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


def looks_like_probabilities(logits) -> bool:
    """True when every entry is in [0, 1] and every row sums to 1 (within :func:`sum_tolerance`).

    Such "logits" are almost certainly probabilities; a softmax of them would
    be applied twice.
    """
    z = rows_2d(logits)
    if z.size == 0 or z.shape[-1] < 2:
        return False
    if not np.all((z >= 0) & (z <= 1)):
        return False
    return rows_off(z).size == 0
