"""Reductions of per-sample values, log bases and perplexity."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["REDUCTIONS", "reduce", "log_base", "in_base", "perplexity"]

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
