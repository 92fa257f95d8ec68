"""Categorical cross-entropy, its ``mean`` denominator and its gradient.

Conventions follow ``torch.nn.functional.cross_entropy``:

* labels are class indices (an integer array of the predictions' shape
  without the class axis) or distributions (a float array of the
  predictions' shape);
* ``weights`` (one per class), ``ignore_index`` (indices only) and
  ``label_smoothing`` mean what they mean there, including which denominator
  ``mean`` uses (see :func:`cross_entropy_denominator`);

and numerics follow ``scipy.special``: log-sum-exp with the maximum shifted
out, and ``0 · log 0 = 0`` (a class with zero target weight contributes
nothing, even where its log-probability is ``-inf``). The one place this
differs from PyTorch: for distribution labels PyTorch returns ``nan`` when a
masked (``-inf``) class has target 0; here it contributes 0.
"""

from __future__ import annotations

import math

import numpy as np

from ._xlogy import mul0, negate
from .checks import RowError, check_class_indices, check_weights
from .labels import is_index_labels
from .softmax import DOMINANT_SUM, as_float64, log_softmax, max_and_log_sum, shifted, softmax

__all__ = [
    "cross_entropy",
    "cross_entropy_with_probs",
    "cross_entropy_from_log_probs",
    "cross_entropy_denominator",
    "cross_entropy_grad",
    "target_log_probs",
    "picks_target_log_probs",
]


def cross_entropy(
    logits,
    labels,
    *,
    axis: int = -1,
    weights=None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    eps: float | None = None,
    pick=None,
) -> np.ndarray:
    r"""Per-sample categorical cross-entropy of ``labels`` under ``softmax(logits / T)``.

    With log-probabilities ``log q = log_softmax(z / T)`` (computed as
    ``(z - m)/T - log Σ exp((z - m)/T)`` with ``m = max z``, never as
    ``log(softmax)``; see :func:`target_log_probs` for index labels), class
    weights ``w`` (default 1) and smoothing ``ε``:

    * distribution labels ``y``: ``loss = -Σ_c w_c y'_c log q_c`` with
      ``y' = (1-ε) y + ε/C``;
    * index labels ``k``: ``loss = (1-ε) · (-w_k log q_k) + ε/C · (-Σ_c w_c log q_c)``,
      and 0 for a sample whose label equals ``ignore_index``.

    Args:
      logits: float array ``(..., C)``.
      labels: int array ``(...)`` of class indices, or float array ``(..., C)``.
      axis: the class axis of ``logits`` (and of distribution labels).
      weights: optional ``(C,)`` class weights.
      ignore_index: an index label value whose samples are skipped (loss 0).
      label_smoothing: ``ε`` in ``[0, 1]``.
      temperature: ``T > 0``.
      eps: if given, use the naive ``log(softmax(z/T) + eps)`` instead of the
        exact log-probabilities (the reference document's NumPy code).
      pick: a function of the signature and meaning of :func:`target_log_probs`
        (the default), which index labels take their log-probabilities from:
        ``xentcli.kernels`` passes its compiled one.

    Returns:
      float64 array ``(...)`` of per-sample losses in nats. A ``-inf`` logit is
      a masked class; if a sample's target needs it, that loss is ``inf``.
      With index labels (:func:`picks_target_log_probs`), a row of logits
      that is no distribution (NaN, ``+inf``, only ``-inf``) gives NaN, even
      if ignored or weighted 0, and no valid row does.

    >>> cross_entropy([[4.0, 2.0, 1.0], [0.0, 5.0, 1.0]],
    ...               [[1.0, 0.0, 0.0], [0.0, 0.8, 0.2]]).round(8).tolist()
    [0.16984602, 0.82474489]
    >>> cross_entropy([[4.0, 2.0, 1.0]], np.array([0])).round(8).tolist()
    [0.16984602]
    """
    z = np.moveaxis(np.asarray(logits), axis, -1)
    if not np.issubdtype(z.dtype, np.floating):
        z = as_float64(z)
    if eps is not None:
        return cross_entropy_with_probs(
            softmax(z, temperature=temperature), labels, weights=weights, ignore_index=ignore_index,
            label_smoothing=label_smoothing, eps=eps,
        )
    if picks_target_log_probs(labels, label_smoothing=label_smoothing):
        k, keep = _split_ignored(labels, z.shape, ignore_index)
        w = _weights(weights, z.shape[-1])
        picked = (pick or target_log_probs)(z, k, temperature=temperature)
        # NaN (logits that are no distribution) stays NaN even where ignored or weighted 0.
        return np.where(keep | np.isnan(picked), _index_nll(picked, k, w), 0.0)
    return cross_entropy_from_log_probs(
        log_softmax(z, temperature=temperature), _class_axis_last(labels, axis), weights=weights,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )


def picks_target_log_probs(labels, *, label_smoothing: float = 0.0, eps: float | None = None) -> bool:
    """Whether :func:`cross_entropy` takes these settings through :func:`target_log_probs`.

    Index labels without smoothing or ``eps``: then a sample gives NaN exactly
    where its logits row is no distribution (NaN, ``+inf``, only ``-inf``),
    even if ignored or weighted 0, so a caller may validate after computing.
    """
    return eps is None and label_smoothing == 0 and is_index_labels(labels)


#: From this many classes on, :func:`target_log_probs` sums ``exp(z)`` as it stands, without
#: finding the row maximum first. Smaller rows keep PyTorch's exact operation order.
UNSHIFTED_MIN_CLASSES = 32
# Below this, Σ exp(z) may hold subnormal terms that matter (float64's normal range ends at 2^-1022).
_SMALLEST_SUM = 2.0**-960


def target_log_probs(logits, targets, *, temperature: float = 1.0) -> np.ndarray:
    r"""``log softmax(z / T)[k]`` for each row's target ``k``, without the ``(N, C)`` log-softmax.

    ``(z_k - m)/T - log Σ_c exp((z_c - m)/T)`` with ``m = max z``, as PyTorch
    computes it. For rows of at least :data:`UNSHIFTED_MIN_CLASSES` classes at
    ``T = 1`` it is ``-log(e^{-z_k} Σ_c exp(z_c))``, with the sum taken in
    float64 straight from the logits: one pass over the row instead of two
    (no maximum), and as exact (each term is within an ulp; the result,
    at least ``log(1 + 2^-6)``, within 3e-14 relative). Rows that form does
    not serve are redone the shifted way: an exponential out of float64's
    range (``|z| > ~700``), a sum made of subnormal terms (below ``2^-960``),
    and a dominant target (``Σ_c exp(z_c - z_k) <`` :data:`~.softmax.DOMINANT_SUM`), which needs
    ``log1p``. Every row decides by itself, so the result does not depend on
    how rows are grouped in blocks. Temporaries are per row or per L2-sized
    chunk of rows, never block-sized.

    Rows that are not logits of any distribution — holding NaN or ``+inf``,
    or only ``-inf`` — give NaN, and valid rows never do (a masked target
    gives ``-inf``): a caller may check just the NaN rows, after the fact.

    Args:
      logits: ``(..., C)`` of any float dtype (float16 and float32 are read
        into float64 by the ``exp`` itself, chunk by chunk).
      targets: int ``(...)``, valid class indices.

    Returns:
      float64 ``(...)``.

    >>> target_log_probs(np.zeros((1, 40)), np.array([3])).tolist() == [-np.log(40)]
    True
    """
    z = np.asarray(logits)
    k = np.asarray(targets)
    rows, ks = z.reshape(k.size, z.shape[-1]), k.reshape(-1, 1)
    if temperature != 1.0 or z.shape[-1] < UNSHIFTED_MIN_CLASSES:
        return _shifted_target_log_probs(rows, ks, temperature).reshape(k.shape)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # rows out of range are redone below
        s = _sum_exp_rows(rows)
        ratio = s * np.exp(-np.take_along_axis(rows, ks, axis=-1)[:, 0].astype(np.float64))
        picked = -np.log(ratio)
    # NaN compares False, so rows with NaN or +inf logits are redone too.
    redo = ~((ratio >= DOMINANT_SUM) & (ratio < np.inf) & (s >= _SMALLEST_SUM))
    if redo.any():
        picked[redo] = _shifted_target_log_probs(rows[redo], ks[redo], 1.0)
    return picked.reshape(k.shape)


#: Values per step of the loops below: about 1 MiB of float64 temporaries, which stay in a core's
#: L2 (15% faster on one core than a whole block's from L3, more on two), and a block of any size
#: needs no more memory than that beside its input.
_CHUNK_VALUES = 128 * 1024


def _chunk_rows(num_classes: int) -> int:
    return max(1, _CHUNK_VALUES // max(1, num_classes))


def _sum_exp_rows(z: np.ndarray) -> np.ndarray:
    """``Σ_c exp(z_c)`` in float64 for each row of the 2-D ``z``, a few rows at a time."""
    n, c = z.shape
    step = _chunk_rows(c)
    out = np.empty(n)
    buf = np.empty((min(step, n), c))
    for i in range(0, n, step):
        part = buf[: min(step, n - i)]
        np.exp(z[i : i + step], dtype=np.float64, out=part)
        np.add.reduce(part, axis=1, out=out[i : i + step])
    return out


def _shifted_target_log_probs(z: np.ndarray, k: np.ndarray, temperature: float) -> np.ndarray:
    """``(z_k - m)/T - log Σ exp((z - m)/T)`` for 2-D ``z`` and ``k`` of shape ``(N, 1)``, a few rows at a time.

    PyTorch's order, with the log1p fix. NaN for rows that are not logits:
    their log-sum is not finite (NaN for a NaN, ``+inf`` for ``+inf``,
    ``-inf`` for a row of only ``-inf``), while a valid row's is at least 0.
    """
    step = _chunk_rows(z.shape[1])
    out = np.empty(len(z))
    for i in range(0, len(z), step):
        zc = as_float64(z[i : i + step])
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            m, log_sum = max_and_log_sum(zc, temperature=temperature)
            picked = (shifted(np.take_along_axis(zc, k[i : i + step], axis=-1), m, temperature) - log_sum)[:, 0]
        out[i : i + step] = np.where(np.isfinite(log_sum[:, 0]), picked, np.nan)
    return out


def cross_entropy_with_probs(
    probs,
    labels,
    *,
    axis: int = -1,
    weights=None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    eps: float | None = None,
) -> np.ndarray:
    r"""Per-sample cross-entropy of ``labels`` under given probabilities ``p``.

    The formula of :func:`cross_entropy` with ``log q = log p`` (or
    ``log(p + eps)`` when ``eps`` is given: the document's naive
    ``-Σ y log(p + ε)``). ``p`` is used as given; validate or renormalise it
    first. ``p_c = 0`` where the target needs class ``c`` gives ``inf``.

    >>> float(cross_entropy_with_probs([[0.7, 0.2, 0.1]], [[1.0, 0.0, 0.0]])[0])
    0.35667494393873245
    """
    p = np.moveaxis(as_float64(probs), axis, -1)
    if eps is not None:
        p = p + eps
    with np.errstate(divide="ignore"):  # log 0 = -inf: a class with no probability
        logq = np.log(p)
    return cross_entropy_from_log_probs(
        logq, _class_axis_last(labels, axis), weights=weights, ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )


def cross_entropy_from_log_probs(
    log_probs,
    labels,
    *,
    weights=None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
) -> np.ndarray:
    r"""Per-sample cross-entropy from log-probabilities ``(..., C)``, class axis last.

    The formula of :func:`cross_entropy`, with ``log q`` given. Terms whose
    target weight is 0 contribute 0 even where ``log q = -inf``.
    """
    logq = as_float64(log_probs)
    num_classes = logq.shape[-1]
    w = _weights(weights, num_classes)
    smoothing = _smoothing(label_smoothing)
    if is_index_labels(labels):
        k, keep = _split_ignored(labels, logq.shape, ignore_index)
        picked = np.take_along_axis(logq, k[..., None], axis=-1)[..., 0]
        loss = mul0(1.0 - smoothing, _index_nll(picked, k, w))
        if smoothing:
            uniform = np.full(num_classes, smoothing / num_classes) if w is None else w * (smoothing / num_classes)
            loss = loss + _neg_dot(uniform, logq)
        return np.where(keep, loss, 0.0)
    return _neg_dot(_distribution_targets(labels, logq.shape, w, smoothing, ignore_index), logq)


def cross_entropy_denominator(
    labels, *, weights=None, ignore_index: int | None = None, axis: int = -1, sample_weights=None
) -> float:
    r"""What ``reduction='mean'`` divides the summed loss by, as PyTorch does.

    * index labels: ``Σ_i w_{k_i}`` over samples not ignored (their count
      without weights);
    * distribution labels: the number of samples ``N`` (weights and smoothing
      do not change it).

    With ``sample_weights`` ``s`` (one per sample, scikit-learn's
    ``sample_weight``) each sample counts ``s_i`` times: ``Σ_i s_i·w_{k_i}``
    over samples not ignored, or ``Σ_i s_i`` for distributions, the
    denominator of ``Σ s_i·ℓ_i``.

    >>> cross_entropy_denominator(np.array([0, 2, -100]), weights=[1.0, 2.0, 3.0], ignore_index=-100)
    4.0
    >>> cross_entropy_denominator(np.array([0, 2, -100]), weights=[1.0, 2.0, 3.0], ignore_index=-100,
    ...                           sample_weights=[2.0, 0.5, 7.0])
    3.5
    """
    s = None if sample_weights is None else as_float64(sample_weights).reshape(-1)
    if is_index_labels(labels):
        k = np.asarray(labels).reshape(-1)
        keep = np.ones(k.shape, bool) if ignore_index is None else k != ignore_index
        counted = np.ones(k.shape) if weights is None else as_float64(weights)[np.where(keep, k, 0)]
        if s is not None:
            counted = counted * s
        if weights is None and s is None:
            return float(np.count_nonzero(keep))
        return float(np.sum(counted[keep]))
    if s is not None:
        return float(np.sum(s))
    shape = np.shape(labels)  # the shape only: lazily read rows stay unread
    return float(math.prod(shape) // shape[axis]) if shape else 1.0


def cross_entropy_grad(
    logits,
    labels,
    *,
    axis: int = -1,
    weights=None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    reduction: str = "none",
    probs=None,
) -> np.ndarray:
    r"""Gradient of the cross-entropy with respect to ``logits``.

    Writing each sample's loss as ``-Σ_c a_c log q_c`` (``a = w ⊙ y'`` for
    distributions, ``a = (1-ε) w_k e_k + ε/C · w`` for index ``k``), its
    gradient is ``(q · Σ_c a_c - a) / T``; without weights and with labels
    summing to 1 this is the familiar ``softmax - y``.

    Args:
      reduction: ``'none'`` or ``'sum'`` give each sample's gradient of its own
        loss (the same matrix); ``'mean'`` divides it by
        :func:`cross_entropy_denominator`, as autograd of the mean does.
      probs: ``softmax(logits / T)`` along ``axis``, if the caller has it already
        (float64, the shape of ``logits``).

    Returns:
      float64 array of the shape of ``logits``; ignored samples get 0.

    >>> cross_entropy_grad([[0.0, 0.0]], np.array([1])).tolist()
    [[0.5, -0.5]]
    """
    # As given: softmax reads any dtype into float64 itself, and with ``probs`` only the shape is needed.
    z = np.moveaxis(np.asarray(logits), axis, -1)
    num_classes = z.shape[-1]
    w = _weights(weights, num_classes)
    smoothing = _smoothing(label_smoothing)
    if is_index_labels(labels):
        k, keep = _split_ignored(labels, z.shape, ignore_index)
        a = np.zeros(z.shape)
        target_weight = np.ones(k.shape) if w is None else w[k]
        np.put_along_axis(a, k[..., None], ((1.0 - smoothing) * target_weight)[..., None], axis=-1)
        if smoothing:
            a += (smoothing / num_classes) * (1.0 if w is None else w)
        a *= keep[..., None]
    else:
        a = _distribution_targets(np.moveaxis(as_float64(labels), axis, -1), z.shape, w, smoothing, ignore_index)
    q = softmax(z, temperature=temperature) if probs is None else np.moveaxis(as_float64(probs), axis, -1)
    grad = (q * np.sum(a, axis=-1, keepdims=True) - a) / temperature
    if reduction == "mean":
        d = cross_entropy_denominator(labels, weights=weights, ignore_index=ignore_index, axis=axis)
        # Every sample ignored: the gradient is all zeros, as PyTorch's nll_loss backward gives.
        grad = grad / d if d != 0 else grad
    elif reduction not in ("none", "sum"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
    return np.moveaxis(grad, -1, axis)


# -- helpers ---------------------------------------------------------------


def _class_axis_last(labels, axis: int):
    """Class indices as they are; distributions as float64 with the class axis last."""
    return labels if is_index_labels(labels) else np.moveaxis(as_float64(labels), axis, -1)


def _weights(weights, num_classes: int) -> np.ndarray | None:
    return None if weights is None else check_weights(weights, num_classes)


def _smoothing(label_smoothing: float) -> float:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return float(label_smoothing)


def _distribution_targets(labels, prediction_shape, w, smoothing: float, ignore_index) -> np.ndarray:
    """``w ⊙ ((1-ε) y + ε/C)``: each class's coefficient of ``-log q`` for distribution labels."""
    if ignore_index is not None:
        raise ValueError("ignore_index applies to class-index labels only, not to distributions")
    y = as_float64(labels)
    if y.shape != tuple(prediction_shape):
        raise RowError(f"labels of shape {y.shape} do not match predictions of shape {tuple(prediction_shape)}")
    if smoothing:
        y = (1.0 - smoothing) * y + smoothing / prediction_shape[-1]
    return y if w is None else y * w


def _split_ignored(labels, prediction_shape, ignore_index):
    """(indices safe to gather with, mask of samples that count)."""
    k = np.asarray(labels)
    if k.shape != tuple(prediction_shape[:-1]):
        raise RowError(
            f"class indices of shape {k.shape} do not match predictions of shape {tuple(prediction_shape)}"
        )
    check_class_indices(k, prediction_shape[-1], ignore_index=ignore_index)
    if ignore_index is None:
        return k, np.ones(k.shape, dtype=bool)
    keep = k != ignore_index
    return np.where(keep, k, 0), keep


def _index_nll(picked: np.ndarray, k: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """``-w_k · picked``, with ``0 · -inf = 0`` but ``0 · nan = nan`` (as ``scipy.special.xlogy``)."""
    if w is None:
        return negate(picked)
    return negate(np.where(np.isnan(picked), np.nan, mul0(w[k], picked)))


def _neg_dot(coef, logq: np.ndarray) -> np.ndarray:
    """``-Σ_c coef_c log q_c`` along the last axis, 0·log 0 = 0."""
    return negate(np.sum(mul0(coef, logq), axis=-1))
