"""The shape rule that tells class-index labels from distribution labels."""

from __future__ import annotations

import math

import numpy as np

from .checks import RowError

__all__ = ["interpret_labels", "is_index_labels"]


def is_index_labels(labels) -> bool:
    """True for an integer array (class indices), False for a float one (distributions).

    Decided by ``labels.dtype`` where it has one, so rows read lazily are not read for it.
    """
    dtype = getattr(labels, "dtype", None)
    return np.issubdtype(np.asarray(labels).dtype if dtype is None else dtype, np.integer)


def interpret_labels(labels, prediction_shape: tuple[int, ...]) -> np.ndarray:
    """Read ``labels`` as distributions or class indices for predictions of ``prediction_shape``.

    The rule (docs/inputs.md), for predictions of shape ``(..., C)`` holding ``N``
    samples:

    * labels of exactly the predictions' shape are distributions (one-hot or
      soft); so is a 1-D vector of length ``C`` when ``N == 1``;
    * otherwise ``N`` integer-valued entries are class indices (``(N,)``,
      ``(N, 1)``, ``(1, N)``, or ``(B, T)`` targets of ``(B, T, V)`` or of
      flattened ``(B·T, V)`` logits), read in C order; predictions with
      leading axes ``(B, T)`` take only targets of that shape (or flat), so
      ``(T, B)`` targets, transposed, are refused rather than misread;
    * anything else is an error naming both shapes.

    Returns:
      float64 array of ``prediction_shape`` (distributions), or int64 array of
      ``prediction_shape[:-1]`` (class indices).

    >>> interpret_labels([[1, 0, 0]], (1, 3)).dtype.name
    'float64'
    >>> interpret_labels([2, 0], (2, 3)).tolist()
    [2, 0]
    >>> interpret_labels(np.zeros((3, 2), dtype=int), (2, 3, 5))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xentcli.core.checks.RowError: labels of shape (3, 2) fit predictions of shape (2, 3, 5) neither as ... or flat)
    """
    y = np.asarray(labels)
    shape = tuple(prediction_shape)
    lead, num_classes = shape[:-1], shape[-1]
    n = math.prod(lead)
    if y.shape == shape or (y.ndim == 1 and n == 1 and y.size == num_classes):
        return np.asarray(y, dtype=np.float64).reshape(shape)
    flat = (n,), (n, 1), (1, n), (*lead, 1)
    if y.size == n and (len(lead) < 2 or y.shape == lead or y.shape in flat):
        return _as_indices(y).reshape(lead)
    raise RowError(
        f"labels of shape {y.shape} fit predictions of shape {shape} neither as distributions "
        f"(shape {shape}) nor as class indices ({n} integer{'s' if n != 1 else ''}, one per sample"
        + (f", of shape {lead} or flat)" if len(lead) > 1 else ")")
    )


def _as_indices(y: np.ndarray) -> np.ndarray:
    """Integer class indices as int64; an unsigned value beyond int64 is out of range, never wrapped."""
    if np.issubdtype(y.dtype, np.unsignedinteger) and y.dtype.itemsize == 8:
        flat = y.reshape(-1)
        big = flat > np.iinfo(np.int64).max
        if big.any():
            r = int(np.argmax(big))
            raise RowError(f"class index {int(flat[r])} (uint64) is out of range: class indices are below 2**63", r)
    if np.issubdtype(y.dtype, np.integer):
        return y.astype(np.int64, copy=False)
    flat = np.asarray(y, dtype=np.float64).reshape(-1)
    # Beyond 2**53 floats are all integers, and past 2**63 the cast to int64 would wrap.
    bad = ~np.isfinite(flat) | (flat != np.round(flat)) | (np.abs(flat) > 2.0**53)
    if bad.any():
        r = int(np.argmax(bad))
        raise RowError(f"label {float(flat[r])!r} is not an integer class index", r)
    return flat.astype(np.int64).reshape(y.shape)
