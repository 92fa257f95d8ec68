"""Entropy and KL divergence of distributions given as probabilities or log-probabilities."""

from __future__ import annotations

import numpy as np

from ._xlogy import mul0, negate
from .checks import RowError
from .softmax import as_float64, log_softmax

__all__ = ["log_probs_of", "entropy", "cross_entropy_of_distributions", "kl_divergence"]


def log_probs_of(probs=None, logits=None, *, axis: int = -1, temperature: float = 1.0):
    """``(p, log p)`` from probabilities or from logits (via log-softmax, never ``log(softmax)``)."""
    if (probs is None) == (logits is None):
        raise ValueError("give exactly one of probs and logits")
    if logits is not None:
        logp = log_softmax(logits, axis=axis, temperature=temperature)
        return np.exp(logp), logp
    p = as_float64(probs)
    with np.errstate(divide="ignore"):  # log 0 = -inf, only ever multiplied by 0 or reported as inf
        return p, np.log(p)


def _neg_sum_xlogy(p: np.ndarray, logq: np.ndarray, axis: int) -> np.ndarray:
    """``-Σ p·log q`` with ``0·log q = 0`` for any ``q`` (``scipy.special.xlogy``)."""
    return negate(np.sum(mul0(p, logq), axis=axis))


def entropy(p, logp, *, axis: int = -1) -> np.ndarray:
    r"""``H(P) = -Σ_c p_c log p_c`` per row, ``0·log 0 = 0``.

    Args:
      p, logp: probabilities and their logs, as :func:`log_probs_of` gives.

    >>> float(entropy(*log_probs_of(probs=[0.5, 0.5, 0.0])))  # log 2
    0.6931471805599453
    """
    return _neg_sum_xlogy(as_float64(p), as_float64(logp), axis)


def cross_entropy_of_distributions(p, logq, *, axis: int = -1) -> np.ndarray:
    r"""``H(P, Q) = -Σ_c p_c log q_c`` per row; ``inf`` where ``q_c = 0 < p_c``."""
    return _neg_sum_xlogy(as_float64(p), as_float64(logq), axis)


def kl_divergence(p, logp, logq, *, axis: int = -1) -> np.ndarray:
    r"""``D_KL(P‖Q) = Σ_c p_c (log p_c - log q_c)`` per row (``scipy.special.rel_entr`` summed).

    Terms with ``p_c = 0`` are 0 whatever ``q_c`` is; ``q_c = 0 < p_c`` gives
    ``inf``. Computed directly rather than as ``H(P,Q) - H(P)``, which would
    cancel digits when P and Q are close. Always ``>= 0`` up to rounding.

    >>> p, logp = log_probs_of(probs=[0.5, 0.5])
    >>> round(float(kl_divergence(p, logp, np.log([0.25, 0.75]))), 12)
    0.143841036226
    """
    p, logp, logq = as_float64(p), as_float64(logp), as_float64(logq)
    if logp.shape != logq.shape:
        raise RowError(f"P of shape {logp.shape} and Q of shape {logq.shape} differ")
    with np.errstate(invalid="ignore"):  # -inf - -inf where p = 0: mul0 makes that term 0
        return np.sum(mul0(p, logp - logq), axis=axis)
