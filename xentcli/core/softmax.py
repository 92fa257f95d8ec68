"""Log-sum-exp, softmax and log-softmax along one axis, in float64.

Every function here takes logits of any float dtype and computes in float64
(float32 dumps from a model are common; accumulating their exponentials in
float32 loses digits that PyTorch's float64 reference keeps).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DOMINANT_SUM", "as_float64", "row_max", "shifted", "max_and_log_sum", "log1p_fixup", "logsumexp",
           "log_softmax", "softmax"]


#: A row sum ``s = Σ exp(z - max)`` below this has one class taking nearly all the mass: its
#: log-sum is taken as ``log1p`` of the other classes' sum. ``log(s)`` would carry the rounding of
#: ``s`` (about 1e-16 absolute): at ``1 + 2^-6``, ``log s = 0.0155``, 1e-14 relative at most.
DOMINANT_SUM = 1.0 + 2.0**-6


def as_float64(x) -> np.ndarray:
    """``x`` as a float64 array (no copy when it already is one)."""
    return np.asarray(x, dtype=np.float64)


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")


def shifted(z: np.ndarray, m: np.ndarray, temperature: float) -> np.ndarray:
    """``(z - m) / T``: shift first, so that huge logits and a small T never overflow upwards.

    Below, ``-1e308 - 1e308`` or a division by a small ``T`` may reach
    ``-inf``: a probability of exactly 0, which is what it is in float64.
    """
    with np.errstate(over="ignore"):
        d = z - m
        return d if temperature == 1.0 else d / temperature


def row_max(z: np.ndarray, axis: int) -> np.ndarray:
    """``max z`` along ``axis`` (kept), with 0 for a slice of only -inf.

    Shifting by a max of ``-inf`` would give ``-inf - -inf = nan``.
    """
    m = np.max(z, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0.0)


def max_and_log_sum(z: np.ndarray, *, axis: int = -1, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(m, log Σ_c exp((z_c - m) / T))`` with ``m = max_c z_c``, both with ``axis`` kept.

    The shared first step of log-sum-exp, softmax and log-softmax.
    ``log_softmax(z / T)`` is then ``(z - m)/T - log_sum`` in that order, as
    PyTorch's CPU kernel computes it for ``T = 1``, so the last digits agree
    with PyTorch. Shifting before dividing by ``T`` keeps ``[1e308, 0]`` at
    ``T = 0.5`` finite, where ``z / T`` would overflow.

    Where one class dominates, the sum ``s = 1 + t`` is below
    :data:`DOMINANT_SUM` and ``log(s)`` keeps only the digits of ``t`` that
    survived rounding (log-softmax of ``[0, -16]`` would be off by 1e-9
    relative). Those rows
    get ``log1p(t)`` with ``t`` summed without the maximum's exact 1, as
    ``scipy.special.logsumexp`` does.
    """
    _check_temperature(temperature)
    m = row_max(z, axis)
    s = np.sum(np.exp(shifted(z, m, temperature)), axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):  # log(0) = -inf for an all -inf slice
        log_sum = np.log(s)
    close = (s < DOMINANT_SUM) & (s >= 1.0)
    if close.any():
        log_sum = log1p_fixup(z, m, close, log_sum, axis, temperature)
    return m, log_sum


def log1p_fixup(z, m, close, log_sum, axis, temperature):
    """``log1p(Σ_{z_c < m} exp((z_c - m)/T) + (#{z_c = m} - 1))`` on the ``close`` slices."""
    zc = np.moveaxis(z, axis, -1)
    mc = np.moveaxis(m, axis, -1)
    rows = np.moveaxis(close, axis, -1)[..., 0]
    zr, mr = zc[rows], mc[rows]
    at_max = zr == mr
    t = np.sum(np.where(at_max, 0.0, np.exp(shifted(zr, mr, temperature))), axis=-1) + (np.sum(at_max, axis=-1) - 1)
    out = np.moveaxis(log_sum.copy(), axis, -1)
    out[rows, 0] = np.log1p(t)
    return np.moveaxis(out, -1, axis)


def logsumexp(logits, *, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    r"""``log Σ_c exp(z_c)`` along ``axis``, with the maximum shifted out.

    Formula: ``m + log Σ_c exp(z_c - m)`` with ``m = max_c z_c``, so no
    exponential overflows (``z = [1000, 0]`` gives ``1000.0``, not ``inf``).

    Args:
      logits: array of shape ``(..., C)`` (any float dtype; computed in float64).
      axis: the class axis.
      keepdims: keep ``axis`` as a length-1 dimension.

    Returns:
      float64 array of the shape of ``logits`` without ``axis``.

    Edge cases: ``-inf`` entries contribute ``exp(-inf) = 0`` (masked classes);
    a slice of only ``-inf`` gives ``-inf`` (not ``nan``, as in
    ``scipy.special.logsumexp``).

    >>> float(logsumexp([0.0, 0.0]))  # log 2
    0.6931471805599453
    """
    m, log_sum = max_and_log_sum(as_float64(logits), axis=axis)
    out = log_sum + m
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(logits, *, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    r"""``log softmax(z / T)`` along ``axis``: ``z/T - logsumexp(z/T)``.

    Computed by subtracting the log-sum-exp, never as ``log(softmax(z))``,
    so a class with a tiny probability keeps its exact log
    (``log_softmax([0, -1000])[1] == -1000.0``, where ``log(softmax)`` gives
    ``-inf``).

    Args:
      logits: array of shape ``(..., C)``.
      axis: the class axis.
      temperature: ``T > 0``; logits are divided by it first.

    Returns:
      float64 array of the shape of ``logits``. A ``-inf`` logit gives
      ``-inf`` (probability 0).

    >>> log_softmax([0.0, 0.0]).tolist()
    [-0.6931471805599453, -0.6931471805599453]
    """
    z = as_float64(logits)
    m, log_sum = max_and_log_sum(z, axis=axis, temperature=temperature)
    return shifted(z, m, temperature) - log_sum


def softmax(logits, *, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    r"""``softmax(z / T)_c = exp(z_c/T - m) / Σ_k exp(z_k/T - m)``, ``m = max z/T``.

    Shifting by the maximum keeps every exponential in ``[0, 1]``:
    ``softmax([1000, 0, 0])`` is exactly ``[1, 0, 0]``. Rows sum to 1 up to
    rounding. A ``-inf`` logit gets probability exactly 0.

    Args:
      logits: array of shape ``(..., C)``.
      axis: the class axis.
      temperature: ``T > 0``; logits are divided by it first.

    Returns:
      float64 array of the shape of ``logits``.

    >>> softmax([3.0, 1.0, -3.0]).round(8).tolist()
    [0.87887824, 0.11894324, 0.00217852]
    """
    _check_temperature(temperature)
    z = as_float64(logits)
    e = np.exp(shifted(z, row_max(z, axis), temperature))
    return e / np.sum(e, axis=axis, keepdims=True)
