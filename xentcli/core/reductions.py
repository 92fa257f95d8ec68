"""Reductions of per-sample values, sample weights, log bases and perplexity."""

from __future__ import annotations

import math

import numpy as np

from ._xlogy import mul0
from .checks import RowError

__all__ = ["REDUCTIONS", "reduce", "check_sample_weights", "weighted", "log_base", "in_base", "perplexity"]

REDUCTIONS = ("mean", "sum", "none")


def reduce(values, reduction: str = "mean", *, denominator: float | None = None):
    """Reduce per-sample values: ``'none'`` (unchanged), ``'sum'`` or ``'mean'``.

    ``mean`` is ``sum / denominator``; the denominator defaults to the number
    of values (pass :func:`~xentcli.core.cross_entropy_denominator` for
    weighted or ignored samples). Sums accumulate in float64.

    >>> reduce(np.array([1.0, 2.0, 3.0]), 'mean', denominator=2.0)
    3.0
    """
    v = np.asarray(values, dtype=np.float64)
    if reduction == "none":
        return v
    total = float(np.sum(v))
    if reduction == "sum":
        return total
    if reduction == "mean":
        d = float(v.size if denominator is None else denominator)
        # An empty or fully ignored batch has a 0 denominator: nan, as PyTorch.
        return total / d if d != 0 else math.nan
    raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")


def check_sample_weights(weights, num_samples: int) -> np.ndarray:
    """One finite, non-negative weight per sample (scikit-learn's ``sample_weight``), as float64 ``(N,)``.

    Any shape holding ``num_samples`` values is read in C order, so a ``(B, T)``
    array weighs the ``B·T`` samples of ``(B, T, C)`` predictions.

    >>> check_sample_weights([[1, 2], [0, 3]], 4).tolist()
    [1.0, 2.0, 0.0, 3.0]
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size != num_samples:
        raise RowError(f"expected one weight per sample ({num_samples}), found {w.size}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        r = int(np.argmax(bad))
        raise RowError(f"sample weight {float(w[r])!r}; expected a finite number >= 0", r)
    with np.errstate(over="ignore"):  # an overflowing sum is the error raised below
        total = float(np.sum(w))
    if not math.isfinite(total):  # the mean's denominator: scaling every weight changes no mean
        raise RowError(f"sample weights sum beyond the float64 range ({float(w.max())!r} is the largest); "
                       "divide them all by one number")
    return w


def weighted(values, sample_weights) -> np.ndarray:
    """Per-sample values times their sample weights, ``wᵢ·ℓᵢ``; a weight of 0 gives 0 even where ``ℓᵢ = inf``.

    ``reduce(weighted(per, w), 'mean', denominator=w.sum())`` is scikit-learn's
    weighted mean ``Σ wᵢ·ℓᵢ / Σ wᵢ``.

    >>> weighted(np.array([1.0, np.inf]), np.array([2.0, 0.0])).tolist()
    [2.0, 0.0]
    """
    return mul0(np.asarray(sample_weights, dtype=np.float64), np.asarray(values, dtype=np.float64))


def log_base(base) -> float:
    """``ln(base)`` for ``base`` ``'e'`` or a positive number other than 1."""
    if base in ("e", None):
        return 1.0
    b = float(base)
    if not (b > 0 and b != 1 and math.isfinite(b)):
        raise ValueError(f"base must be 'e' or a finite number > 0 other than 1, got {base!r}")
    return math.log(b)


def in_base(values_nats, base):
    """Convert values in nats to ``base`` (divide by ``ln(base)``); ``'e'`` is a no-op."""
    scale = log_base(base)
    return values_nats if scale == 1.0 else np.asarray(values_nats, dtype=np.float64) / scale


def perplexity(mean_loss_nats: float) -> float:
    """``exp(mean loss in nats)``, which equals ``base ** (mean loss in base)`` for every base.

    >>> perplexity(math.log(4.0))
    4.0
    """
    with np.errstate(over="ignore"):  # a huge mean loss has perplexity inf, not an error
        return float(np.exp(mean_loss_nats))
