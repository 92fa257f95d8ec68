"""Mean squared error of predictions, or of logits through softmax or a sigmoid, and its gradient.

Each sample's loss is the squared error summed over its classes,
``Σ_c (ŷ_c - y_c)²``; reductions are separate, as for every loss here. What
``torch.nn.MSELoss(reduction='mean')`` gives is the sum over samples divided
by the number of entries ``N·C`` (:func:`mse_denominator`), ``'sum'`` the sum.

Targets are rows of the predictions' shape (one-hot, soft, multi-hot or any
real numbers) or class indices, which stand for their one-hot rows
(:func:`one_hot`), as a classifier trained with MSE sees them.

Through an activation the residual ``ŷ - y`` is formed without the rounding
of ``1 - ŷ`` where ``ŷ`` is near 1 (``σ(z) - y = (1 - y) - σ(-z)`` for
``z ≥ 0``; ``p_k - 1 = -Σ_{j≠k} p_j`` for a dominant softmax class), so a
saturated prediction keeps its digits: the loss and gradient of
``σ(40)`` against 1 are ``σ(-40)²`` and ``-2σ(-40)²σ(40)``, not 0.
"""

from __future__ import annotations

import numpy as np

from .binary import sigmoid
from .checks import RowError, raise_first, rows_2d
from .labels import is_index_labels
from .softmax import as_float64, softmax

__all__ = [
    "ACTIVATIONS",
    "one_hot",
    "mse_denominator",
    "check_finite",
    "mean_squared_error",
    "mse_grad",
    "activation",
    "activation_residual",
    "mse_with_logits",
    "mse_grad_with_logits",
]

#: What ``--through`` names: the activation between the logits and the squared error.
ACTIVATIONS = ("softmax", "sigmoid")


def one_hot(indices, num_classes: int) -> np.ndarray:
    """Class indices ``(...)`` as float64 one-hot rows ``(..., C)``.

    >>> one_hot([2, 0], 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    k = np.asarray(indices)
    if k.size and (k.min() < 0 or k.max() >= num_classes):
        bad = (k < 0) | (k >= num_classes)
        r = int(np.argmax(bad.reshape(-1)))
        raise RowError(f"class index {int(k.reshape(-1)[r])} is outside [0, {num_classes})", r)
    return (k[..., None] == np.arange(num_classes)).astype(np.float64)


def mse_denominator(num_samples: float, num_classes: int, *, half: bool = False) -> float:
    """The denominator of ``mean``: every entry counts, ``N·C``, as ``torch.nn.MSELoss`` divides.

    With ``half``, the document's ``(1/2m)·Σ_i Σ_c (ŷ_ic - y_ic)²``: the ``m``
    samples (each value already halved), so a sample's outputs add up rather
    than average; the two agree only when ``C = 1``. ``num_samples`` may be
    the sum of the samples' weights (scikit-learn's ``sample_weight``).

    >>> mse_denominator(4, 3)
    12.0
    >>> mse_denominator(4, 3, half=True)
    4.0
    """
    return float(num_samples) if half else float(num_samples) * float(num_classes)


def check_finite(values, what: str = "value") -> None:
    """Raise :class:`RowError` for the first entry that is NaN or ``±inf`` (targets, predictions)."""
    x = rows_2d(values)
    if x.size == 0:
        raise RowError("the matrix is empty")
    raise_first(~np.isfinite(x), x, what + " {value!r} is not a finite number")


def _targets(targets, shape: tuple[int, ...]) -> np.ndarray:
    """Targets as float rows of ``shape``: class indices become one-hot rows."""
    if is_index_labels(targets):
        return one_hot(targets, shape[-1]).reshape(shape)
    y = as_float64(targets)
    if y.shape != shape:
        raise RowError(f"targets of shape {y.shape} do not match predictions of shape {shape}")
    return y


def mean_squared_error(predictions, targets, *, axis: int = -1) -> np.ndarray:
    r"""Per-sample squared error ``Σ_c (ŷ_c - y_c)²``.

    Reduce it yourself: ``torch.nn.MSELoss(reduction='mean')`` is
    ``per_sample.sum() / mse_denominator(N, C)`` (the mean over all ``N·C``
    entries), ``'sum'`` is ``per_sample.sum()``. The textbook
    ``½·(1/m)·Σ`` is ``per_sample.sum() / (2m)``
    (``mse_denominator(m, C, half=True)``), half of that mean only when each
    sample has one output.

    Args:
      predictions: float array ``(..., C)``, any real numbers (probabilities
        for a Brier score, or regression outputs).
      targets: float array of the same shape, or int class indices ``(...)``
        (each stands for its one-hot row).
      axis: the class axis.

    Returns:
      float64 array ``(...)``. An infinite prediction or target gives ``inf``
      (or NaN for ``inf - inf``); nothing is checked here (:func:`check_finite`).

    >>> mean_squared_error([[0.7, 0.2, 0.1]], [[1.0, 0.0, 0.0]]).round(12).tolist()
    [0.14]
    >>> mean_squared_error([[0.7, 0.2, 0.1]], np.array([0])).round(12).tolist()
    [0.14]
    """
    p = np.moveaxis(as_float64(predictions), axis, -1)
    y = _targets(targets if is_index_labels(targets) else np.moveaxis(as_float64(targets), axis, -1), p.shape)
    with np.errstate(over="ignore", invalid="ignore"):  # a huge difference squares to inf
        return np.sum(np.square(p - y), axis=-1)


def mse_grad(predictions, targets, *, axis: int = -1) -> np.ndarray:
    r"""Gradient of each sample's squared error with respect to the predictions: ``2(ŷ - y)``.

    Divide by :func:`mse_denominator` for ``mean`` (as autograd of
    ``MSELoss`` does), and halve for the ``½`` convention.

    >>> mse_grad([[0.7, 0.2, 0.1]], np.array([0])).round(12).tolist()
    [[-0.6, 0.4, 0.2]]
    """
    p = np.moveaxis(as_float64(predictions), axis, -1)
    y = _targets(targets if is_index_labels(targets) else np.moveaxis(as_float64(targets), axis, -1), p.shape)
    return np.moveaxis(2.0 * (p - y), -1, axis)


def _check_activation(through: str) -> None:
    if through not in ACTIVATIONS:
        raise ValueError(f"through must be one of {', '.join(ACTIVATIONS)}, got {through!r}")


def activation(logits, through: str = "softmax") -> np.ndarray:
    """``softmax(z)`` along the last axis, or ``σ(z)`` entry by entry.

    >>> activation([[0.0, 0.0]], "sigmoid").tolist()
    [[0.5, 0.5]]
    """
    _check_activation(through)
    return softmax(logits) if through == "softmax" else sigmoid(logits)


def activation_residual(logits, targets, through: str = "softmax") -> tuple[np.ndarray, np.ndarray]:
    r"""``(ŷ, ŷ - y)`` with ``ŷ = softmax(z)`` or ``σ(z)``, the residual exact where ``ŷ`` is near 1.

    * sigmoid: ``σ(z) - y`` for ``z < 0``, and ``(1 - y) - σ(-z)`` for
      ``z ≥ 0``, where ``σ(z)`` rounds toward 1 but ``σ(-z)`` keeps every digit;
    * softmax: ``p - y``, except in a row's dominant class ``k`` (``p_k > ½``),
      where ``p_k - y_k = (1 - y_k) - Σ_{j≠k} p_j``.

    Args:
      logits: float array ``(..., C)``: finite, or ``-inf`` for a masked class
        (softmax), or ``±inf`` (sigmoid: certainty).
      targets: float array of the same shape, or class indices ``(...)``.

    >>> p, r = activation_residual([[40.0]], [[1.0]], "sigmoid")
    >>> r.tolist()  # -σ(-40), where σ(40) - 1 rounds to 0
    [[-4.248354255291589e-18]]
    """
    _check_activation(through)
    z = as_float64(logits)
    y = _targets(targets, z.shape)
    if through == "sigmoid":
        p = sigmoid(z)
        with np.errstate(invalid="ignore"):  # z = -inf makes σ(-z) = 1 on the branch not taken
            r = np.where(z >= 0, (1.0 - y) - sigmoid(-z), p - y)
        return p, r
    p = softmax(z)
    r = p - y
    k = np.argmax(p, axis=-1)[..., None]
    pk = np.take_along_axis(p, k, axis=-1)
    rest = np.sum(np.where(np.arange(z.shape[-1]) == k, 0.0, p), axis=-1, keepdims=True)
    exact = (1.0 - np.take_along_axis(y, k, axis=-1)) - rest
    np.put_along_axis(r, k, np.where(pk > 0.5, exact, np.take_along_axis(r, k, axis=-1)), axis=-1)
    return p, r


def mse_with_logits(logits, targets, *, through: str = "softmax") -> np.ndarray:
    r"""Per-sample ``Σ_c (a(z)_c - y_c)²`` with ``a`` softmax (along the last axis) or the sigmoid.

    ``torch.nn.MSELoss()(torch.softmax(z, -1), y)`` is the sum of these over
    samples divided by ``N·C`` (:func:`mse_denominator`).

    Args:
      logits: float array ``(..., C)``.
      targets: float array ``(..., C)`` or class indices ``(...)`` (one-hot rows).
      through: ``'softmax'`` or ``'sigmoid'``.

    Returns:
      float64 array ``(...)``; exact also for saturated predictions
      (:func:`activation_residual`).

    >>> mse_with_logits([[0.0, 0.0]], np.array([0])).tolist()
    [0.5]
    >>> mse_with_logits([[0.0, 0.0]], [[1.0, 0.0]], through="sigmoid").tolist()
    [0.5]
    """
    _, r = activation_residual(logits, targets, through)
    return np.sum(np.square(r), axis=-1)


def mse_grad_with_logits(logits, targets, *, through: str = "softmax") -> np.ndarray:
    r"""Gradient of each sample's ``Σ_c (a(z)_c - y_c)²`` with respect to its logits.

    With ``g = 2(ŷ - y)``, the gradient with respect to the predictions:

    * sigmoid: ``g ⊙ σ'(z) = 2(σ(z) - y)·σ(z)·σ(-z)`` (``σ'(z) = σ(z)(1 - σ(z))``,
      formed as ``σ(z)·σ(-z)`` so that it keeps its digits at large ``|z|``):
      it vanishes when ``σ`` saturates, even for a wrong prediction, whereas
      binary cross-entropy's gradient stays ``σ(z) - y``;
    * softmax: the Jacobian-vector product ``J^T g = p ⊙ (g - Σ_j p_j g_j)``;
      in a dominant class ``k`` (``p_k > ½``) the bracket is taken as
      ``g_k·Σ_{j≠k} p_j - Σ_{j≠k} p_j g_j``, which does not cancel.

    Exactly what PyTorch's autograd gives for ``MSELoss(reduction='sum')``
    of ``a(z)``; divide by :func:`mse_denominator` for ``'mean'``, and halve
    for the ``½`` convention. A masked (``-inf``) softmax logit, and a
    sigmoid logit of ``±inf``, get 0.

    >>> mse_grad_with_logits([[5.0]], [[0.0]], through="sigmoid").round(8).tolist()  # saturated, wrong
    [[0.01320712]]
    >>> mse_grad_with_logits([[0.0, 0.0]], np.array([0])).tolist()
    [[-0.5, 0.5]]
    """
    z = as_float64(logits)
    p, r = activation_residual(z, targets, through)
    g = 2.0 * r
    if through == "sigmoid":
        return g * (p * sigmoid(-z))
    s = np.sum(p * g, axis=-1, keepdims=True)
    bracket = g - s
    k = np.argmax(p, axis=-1)[..., None]
    others = np.arange(z.shape[-1]) != k
    rest = np.sum(np.where(others, p, 0.0), axis=-1, keepdims=True)
    exact = np.take_along_axis(g, k, axis=-1) * rest - np.sum(np.where(others, p * g, 0.0), axis=-1, keepdims=True)
    pk = np.take_along_axis(p, k, axis=-1)
    np.put_along_axis(bracket, k, np.where(pk > 0.5, exact, np.take_along_axis(bracket, k, axis=-1)), axis=-1)
    return p * bracket
