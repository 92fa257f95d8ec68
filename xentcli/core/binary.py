"""Binary and multi-label cross-entropy, element-wise, and its gradient.

Each entry of an ``(..., C)`` matrix is its own Bernoulli probability; a
sample's loss sums (or, ``class_mean``, averages) the entries of its row.
"""

from __future__ import annotations

import numpy as np

from ._xlogy import mul0, negate
from .checks import RowError
from .softmax import as_float64

__all__ = [
    "softplus",
    "sigmoid",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "per_sample",
]


def softplus(x) -> np.ndarray:
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``.

    ``softplus(-inf) = 0``, ``softplus(inf) = inf``.
    """
    x = as_float64(x)
    with np.errstate(invalid="ignore"):  # -|±inf| is fine; inf - inf never happens here
        return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x) -> np.ndarray:
    """``1 / (1 + exp(-x))``, exact at ±inf and never overflowing."""
    x = as_float64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _pos_weight(pos_weight, shape: tuple[int, ...]):
    """One weight per class ``(C,)``, or one per entry (the logits' own shape, as PyTorch broadcasts it)."""
    if pos_weight is None:
        return None
    pw = as_float64(pos_weight)
    if pw.shape == tuple(shape):
        return pw
    pw = pw.reshape(-1)
    if pw.shape != (shape[-1],):
        raise RowError(f"expected one pos_weight per class ({shape[-1]}), found {pw.size}")
    return pw


def binary_cross_entropy_with_logits(logits, targets, *, pos_weight=None) -> np.ndarray:
    r"""Element-wise ``-[pw·y·log σ(z) + (1-y)·log(1-σ(z))]``, from logits.

    Computed as ``pw·y·softplus(-z) + (1-y)·softplus(z)``, which is stable for
    any ``|z|``: ``z = ±1e4`` gives exact results, and ``z = ±inf`` gives 0
    or ``inf``, never ``nan`` (PyTorch returns ``nan`` at ``±inf``).
    ``pos_weight`` (one per class, or one per entry) weighs the positive
    term, as in ``torch.nn.BCEWithLogitsLoss``.

    Args:
      logits: float array ``(..., C)``.
      targets: float array of the same shape, entries in ``[0, 1]``.
      pos_weight: optional ``(C,)``, or of the logits' shape.

    Returns:
      float64 array of the logits' shape, in nats.

    >>> binary_cross_entropy_with_logits([[0.0]], [[1.0]]).tolist()  # log 2
    [[0.6931471805599453]]
    """
    z, y = as_float64(logits), as_float64(targets)
    if z.shape != y.shape:
        raise RowError(f"targets of shape {y.shape} do not match logits of shape {z.shape}")
    pw = _pos_weight(pos_weight, z.shape)
    positive = y if pw is None else y * pw
    return mul0(positive, softplus(-z)) + mul0(1.0 - y, softplus(z))


def binary_cross_entropy(probs, targets, *, pos_weight=None) -> np.ndarray:
    r"""Element-wise ``-[pw·y·log p + (1-y)·log(1-p)]``, from probabilities.

    ``0·log 0 = 0``: ``p = 0`` with ``y = 0`` costs nothing; ``p = 0`` with
    ``y > 0`` costs ``inf`` (PyTorch clamps each log at -100 and gives 100).

    >>> binary_cross_entropy([[0.7, 0.0]], [[1.0, 0.0]]).round(12).tolist()
    [[0.356674943939, 0.0]]
    """
    p, y = as_float64(probs), as_float64(targets)
    if p.shape != y.shape:
        raise RowError(f"targets of shape {y.shape} do not match probabilities of shape {p.shape}")
    pw = _pos_weight(pos_weight, p.shape)
    positive = y if pw is None else y * pw
    with np.errstate(divide="ignore"):  # log 0 = -inf, weighted by 0 or giving inf
        return negate(mul0(positive, np.log(p)) + mul0(1.0 - y, np.log1p(-p)))


def per_sample(elementwise: np.ndarray, *, class_mean: bool = False) -> np.ndarray:
    """Each row's loss: the sum over classes (the document's formula) or, ``class_mean``, the mean."""
    e = np.asarray(elementwise)
    return e.mean(axis=-1) if class_mean else e.sum(axis=-1)


def binary_cross_entropy_grad(logits, targets, *, pos_weight=None, class_mean: bool = False) -> np.ndarray:
    r"""Gradient of each sample's BCE with respect to its logits.

    ``∂/∂z = σ(z)·(pw·y + 1 - y) - pw·y``, which is ``σ(z) - y`` without
    ``pos_weight``; divided by ``C`` with ``class_mean``. Divide by the number
    of samples yourself for a mean over samples.

    >>> binary_cross_entropy_grad([[0.0, 0.0]], [[1.0, 0.0]]).tolist()
    [[-0.5, 0.5]]
    """
    z, y = as_float64(logits), as_float64(targets)
    if z.shape != y.shape:
        raise RowError(f"targets of shape {y.shape} do not match logits of shape {z.shape}")
    pw = _pos_weight(pos_weight, z.shape)
    positive = y if pw is None else y * pw
    grad = sigmoid(z) * (positive + 1.0 - y) - positive
    return grad / z.shape[-1] if class_mean else grad
