"""Entropy and KL divergence of distributions given as probabilities or log-probabilities."""

from __future__ import annotations

import math

import numpy as np

from ._xlogy import mul0, negate
from .checks import RowError
from .softmax import as_float64, log_softmax, max_and_log_sum, softmax

__all__ = [
    "log_probs_of", "entropy", "cross_entropy_of_distributions",
    "rel_entr", "kl_divergence", "kl_divergence_with_logits", "kl_divergence_of", "logit_log_ratio", "FAR_SHIFT",
]


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


# -- KL divergence ------------------------------------------------------------------------------

#: Smallest normal float64: below it ``p / q`` has lost digits (SciPy's ``rel_entr`` threshold).
_TINY = np.finfo(np.float64).tiny

#: A row's pairwise sum of ``rel_entr`` terms is off by at most about 36 ulp of ``Σ|terms|``
#: (3 ulp per term: ``p - q`` exact, one division, ``log1p``, one product; NumPy's pairwise sum
#: adds ``16 + log2(C / 128)`` ulp, 33 for C up to 2**24 classes), i.e. ``4e-15·Σ|terms|``. Where
#: ``|sum| >= 1e-5·Σ|terms|`` that is under 4e-10 relative, inside the 1e-9 promised; rows that
#: cancel more than that (P close to Q) are summed again by :func:`_kl_rows_exactly`.
_CANCELLATION = 1e-5


def rel_entr(p, q) -> np.ndarray:
    r"""Elementwise relative entropy ``p·log(p / q)``, as ``scipy.special.rel_entr``.

    Formula, for ``p, q > 0`` and ``r = p / q`` (SciPy's branches, gh-20710):
    ``p·log1p((p - q) / q)`` where ``0.5 < r < 2`` (``p - q`` is then exact, so
    close inputs keep all their digits instead of cancelling in
    ``log p - log q``); ``p·log(r)`` where ``r`` is a normal finite number;
    ``p·(log p - log q)`` where ``r`` would overflow or underflow.

    Args:
      p, q: arrays of any broadcastable shapes (computed in float64).

    Returns:
      float64 array of the broadcast shape.

    Edge cases: ``p = 0, q >= 0`` gives 0; ``q = 0 < p`` (or a negative
    input) gives ``inf``; NaN gives NaN.

    >>> rel_entr([0.5, 0.0, 0.5], [0.25, 0.5, 0.0]).tolist()
    [0.34657359027997264, 0.0, inf]
    """
    p, q = np.broadcast_arrays(as_float64(p), as_float64(q))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):  # x/0, 0/0, log 0: masked below
        ratio = p / q
        close = (ratio > 0.5) & (ratio < 2.0)
        log_ratio = np.log(ratio)
        np.log1p((p - q) / q, out=log_ratio, where=close)
        apart = ~close & ~((ratio > _TINY) & (ratio < np.inf)) & (p > 0) & (q > 0)
        if apart.any():
            log_ratio[apart] = np.log(p[apart]) - np.log(q[apart])
        out = p * log_ratio
    both = (p > 0) & (q > 0)
    if not both.all():
        out = np.where(both, out, np.where((p == 0) & (q >= 0), 0.0, np.inf))
        out = np.where(np.isnan(p) | np.isnan(q), np.nan, out)
    return out


def _rows_2d(x: np.ndarray, axis: int) -> np.ndarray:
    """``x`` with ``axis`` last and the rest flattened: ``(rows, C)``, C-contiguous.

    Contiguous rows matter: NumPy sums pairwise only along the contiguous axis.
    """
    x = np.moveaxis(x, axis, -1)
    return np.ascontiguousarray(x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1))


def _paired_rows(p: np.ndarray, q: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """P and Q as :func:`_rows_2d` rows, and the shape of one value per row; they must match."""
    if p.shape != q.shape:
        raise RowError(f"P of shape {p.shape} and Q of shape {q.shape} differ")
    out_shape = np.moveaxis(p, axis, -1).shape[:-1] if p.ndim else ()
    return _rows_2d(p, axis), _rows_2d(q, axis), out_shape


def kl_divergence(p, q, *, axis: int = -1) -> np.ndarray:
    r"""``D_KL(P‖Q) = Σ_c p_c·log(p_c / q_c)`` per row, from probabilities.

    Each term is :func:`rel_entr`; a row is summed pairwise, and again exactly
    where its terms cancel (P close to Q: then ``Σ p log(p/q)`` is about
    ``Σ (p-q)²/2q``, many orders below the terms). The result is within 1e-9
    relative or 1e-24 absolute of ``Σ p·ln(p/q)`` computed exactly on the given
    numbers; ``P = Q`` gives exactly 0. Rows are not renormalised: the sum is of
    the numbers given.

    Args:
      p, q: arrays of the same shape ``(..., C)``.
      axis: the class axis.

    Returns:
      float64 array of shape ``(...)`` (``p.shape`` without ``axis``).

    Edge cases: ``p_c = 0`` gives a 0 term whatever ``q_c``; ``q_c = 0 < p_c``
    gives ``inf``; NaN gives NaN.

    >>> round(float(kl_divergence([0.5, 0.5], [0.25, 0.75])), 12)
    0.143841036226
    >>> x, y = 0.9456657713430001, 0.9456657713430094  # SciPy gh-20710
    >>> f"{float(kl_divergence([x, 1 - x], [y, 1 - y])):.12e}"  # exact: 8.46326345012942e-28
    '8.463263450129e-28'
    """
    p, q = as_float64(p), as_float64(q)
    p2, q2, out_shape = _paired_rows(p, q, axis)
    terms = rel_entr(p2, q2)
    total = np.sum(terms, axis=-1)
    with np.errstate(invalid="ignore"):  # |nan| rows compare False and keep their NaN
        redo = np.isfinite(total) & (np.abs(total) < _CANCELLATION * np.sum(np.abs(terms), axis=-1))
    if redo.any():
        total[redo] = _kl_rows_exactly(p2[redo], q2[redo], terms[redo])
    return total.reshape(out_shape)


#: Below this |x|, ``g`` and ``φ`` are summed as series: their closed forms cancel about 2/|x|
#: (6 bits at 1/32, so 1e-14 relative), and the series need only 11 and 9 terms there.
_SERIES_BELOW = 2.0**-5
#: ``g(u) = u²·Σ_j (-u)^j / ((j+2)(j+1))``: the 11th term is 2**-57 relative at |u| = 1/32.
_G_SERIES = [(-1.0) ** j / ((j + 2) * (j + 1)) for j in range(11)]
#: ``φ(d) = d²·Σ_j (-d)^j / (j+2)!``: the 9th term is 2**-60 relative at |d| = 1/32.
_PHI_SERIES = [(-1.0) ** j / math.factorial(j + 2) for j in range(9)]


def _put(out: np.ndarray, where: np.ndarray, fn, *arrays: np.ndarray) -> None:
    """``out[where] = fn(*(a[where] for a in arrays))``, in place.

    Where most elements are selected (rows close to each other, the common case
    here), running ``fn`` over whole arrays and dropping the rest is cheaper than
    gathering and scattering; a few are gathered by flat index (``take``/``put``
    are several times faster than boolean indexing).
    """
    count = np.count_nonzero(where)
    if count == where.size:
        out[...] = fn(*arrays)
    elif 2 * count > where.size:
        with np.errstate(all="ignore"):  # the unselected elements are computed, then dropped
            np.copyto(out, fn(*arrays), where=where)
    elif count:
        idx = np.flatnonzero(where)
        np.put(out, idx, fn(*(np.take(a, idx) for a in arrays)))


def _series(coeffs, abs_max: float):
    """``x ↦ x²·Σ_j coeffs[j]·x^j`` (Horner), cut after the first term below 2**-56 of the first at ``abs_max``.

    Rows close to each other have ``|x|`` near 1e-9: two terms do there.
    """
    n = next((j for j in range(1, len(coeffs)) if abs_max**j * abs(coeffs[j]) < 2.0**-56 * abs(coeffs[0])), len(coeffs))

    def horner(x):
        acc = np.full_like(x, coeffs[n - 1])
        for c in reversed(coeffs[: n - 1]):
            acc *= x
            acc += c
        acc *= x * x
        return acc

    return horner


def _put_series(out: np.ndarray, x: np.ndarray, coeffs, weight=None) -> np.ndarray:
    """``out = weight·x²·Σ_j coeffs[j]·x^j`` where ``|x| < _SERIES_BELOW``; the mask of those."""
    ax = np.abs(x)
    with np.errstate(invalid="ignore"):  # NaN compares False: it keeps its closed-form NaN
        small = ax < _SERIES_BELOW
    count = np.count_nonzero(small)
    if 2 * count > small.size:
        series = _series(coeffs, float(np.max(ax, where=small, initial=0.0)))
        if weight is None:
            _put(out, small, series, x)
        else:
            _put(out, small, lambda xs, ws: series(xs) * ws, x, weight)
    elif count:  # gathered once: the largest |x| of the few comes from them
        idx = np.flatnonzero(small)
        xs = np.take(x, idx)
        series = _series(coeffs, float(np.max(np.abs(xs))))
        np.put(out, idx, series(xs) if weight is None else series(xs) * np.take(weight, idx))
    return small


def _g(u: np.ndarray) -> np.ndarray:
    """``(1 + u)·log1p(u) - u >= 0`` for ``-0.5 < u < 1``, to a few ulp (series near 0)."""
    out = np.empty_like(u)
    small = _put_series(out, u, _G_SERIES)
    _put(out, ~small, lambda v: (1.0 + v) * np.log1p(v) - v, u)
    return out


def _two_sum_cascade(x: np.ndarray) -> np.ndarray:
    """Row sums of ``x`` (``(rows, n)``, finite), to about 1 ulp plus ``500·eps²·Σ|x|``.

    Pairwise halving where every addition's rounding error is recovered
    exactly (Knuth's TwoSum) and the errors are summed on the side: the
    vectorised equivalent of ``math.fsum`` per row, for rows of 32000 classes.
    """
    x = np.array(x, dtype=np.float64)  # a copy: an odd column is folded into column 0 in place

    def two_sum(a, b):
        s = a + b
        bb = s - a
        return s, (a - (s - bb)) + (b - bb)

    err = np.zeros(x.shape[0])
    while x.shape[1] > 1:
        n = x.shape[1]
        if n % 2:
            x[:, 0], e = two_sum(x[:, 0], x[:, -1])
            err += e
            n -= 1
        x, e = two_sum(x[:, : n // 2], x[:, n // 2 : n])
        err += np.sum(e, axis=1)
    return x[:, 0] + err


def _kl_rows_exactly(p: np.ndarray, q: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """``Σ p·ln(p/q)`` of rows whose terms cancel, summed without cancellation error.

    Even summed exactly, the rounded terms of nearly equal rows carry errors of a
    few ulp of ``p·|u|`` (``u = (p - q)/q``), while the row's value is about
    ``Σ q·u²/2``: at ``|u|`` of 1e-8 that is 1e-7 relative. So each close term
    is split exactly as ``p·log1p(u) = (p - q) + q·g(u)``: ``p - q`` is exact
    (Sterbenz), and ``g(u) = (1 + u)·log1p(u) - u >= 0`` is computed to a few ulp.
    The exact parts (and the far terms, each at most a small multiple of its own
    share of the sum) are summed error-free; the ``q·g(u) >= 0`` cannot cancel,
    so a pairwise sum keeps them to ~30 ulp.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # q = 0 only with p = 0 here (finite rows): not close
        ratio = p / q
        close = (ratio > 0.5) & (ratio < 2.0)
        diff = p - q
        u = np.where(close, diff / q, 0.0)
    exact_part = np.where(close, diff, terms)
    smooth_part = np.sum(np.where(close, q * _g(u), 0.0), axis=1)
    return _two_sum_cascade(exact_part) + smooth_part


def _phi_terms(p: np.ndarray, logq: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``p·φ(d)`` with ``φ(d) = e^{-d} - 1 + d >= 0``, to a few ulp, and ``p·e^{-d} = q = e^{logq}``.

    ``φ`` is a 9-term Taylor series for ``|d| < 1/32`` (``Σ_{k>=2} (-d)^k/k!``),
    ``expm1(-d) + d`` up to ``d >= -1``, and ``q - p + p·d`` below (where
    ``q > e·p``, so it cancels at most 4x, and where ``e^{-d}`` would overflow or
    ``p`` has underflowed to 0 while ``q`` has not). ``q`` is exponentiated only there.
    """
    # The middle branch everywhere first (the others overwrite their elements: no mask of it to build).
    with np.errstate(all="ignore"):  # overflow of e^{-d} where d < -1, replaced below
        out = np.negative(d)
        np.expm1(out, out=out)
        out += d
        out *= p
    _put_series(out, d, _PHI_SERIES, p)
    with np.errstate(invalid="ignore"):  # NaN compares False
        below = d < -1.0
    _put(out, below, lambda ps, lq, ds: (np.exp(lq) - ps) + ps * ds, p, logq, d)
    return out


#: Row maxima further apart than this are subtracted from the logits' difference on their own
#: (:func:`logit_log_ratio`): folded into one constant with the log-sums, they would round it by
#: more than 1e-13.
FAR_SHIFT = 1024.0


def logit_log_ratio(zp: np.ndarray, zq: np.ndarray, mp, sp, mq, sq) -> np.ndarray:
    r"""``d = log p - log q`` elementwise, as ``(z_P - z_Q) - ((m_P - m_Q) + (s_P - s_Q))``.

    ``m``, ``s`` are :func:`~xentcli.core.softmax.max_and_log_sum`'s outputs
    (row maxima and shifted log-sums, axis kept), so ``lse = m + s``. Nearly
    equal logits subtract exactly; the one rounding left, in the row constant,
    moves :func:`kl_logit_terms`' sum only to second order (see
    :func:`kl_divergence_with_logits`). A class masked (``-inf``) in both rows
    gives NaN, masked in one only ``±inf``.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # -inf - -inf for a class masked in both, inf - inf for bad rows
        # lse_P - lse_Q as (m_P - m_Q) + (s_P - s_Q): both differences are exact or tiny for close rows.
        shift = mp - mq
        d = (zp - zq) - (shift + (sp - sq))
        apart = np.abs(shift) > FAR_SHIFT
        if apart.any():
            # Maxima far apart: shift + (s_P - s_Q) would round to ulp(shift), which moves every d (1e-4
            # at 1e12); subtracted one after the other, z_P - z_Q cancels the shift exactly first.
            d = np.where(apart, ((zp - zq) - shift) - (sp - sq), d)
        return d


def kl_logit_terms(p: np.ndarray, logq: np.ndarray, d: np.ndarray, p_masked: np.ndarray,
                   q_masked: np.ndarray) -> np.ndarray:
    r"""The terms ``p_c·φ(d_c) >= 0`` whose row sums are ``D_KL(P‖Q)`` (see :func:`kl_divergence_with_logits`).

    Args:
      p: ``P``'s probabilities; logq: ``Q``'s log-probabilities; d: :func:`logit_log_ratio`.
      p_masked, q_masked: where the logits are ``-inf`` (boolean, same shape).

    Returns:
      a new float64 array of the same shape: the term of a class ``P`` masks is
      ``q_c`` (0 where ``Q`` masks it too), of a class only ``Q`` masks ``inf``.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # NaN d of classes masked in both: set below
        terms = _phi_terms(p, logq, d)
    # A class P masks adds 0 to Σ p·d but q to Σ p·φ(d) (the term is q - p + p·d): without it the
    # φ sum would miss the 1 - Σ_{p>0} q that makes it equal Σ p·d.
    _put(terms, p_masked, np.exp, logq)
    terms[q_masked & ~p_masked] = np.inf
    return terms


def kl_divergence_with_logits(p_logits, q_logits, *, axis: int = -1) -> np.ndarray:
    r"""``D_KL(softmax(z_P)‖softmax(z_Q))`` per row, never negative.

    Formula: with ``d_c = log p_c - log q_c``, ``Σ_c p_c d_c`` equals
    ``Σ_c p_c·φ(d_c)``, ``φ(d) = e^{-d} - 1 + d``, because ``Σ p e^{-d} = Σ q = 1``;
    every term of the second sum is ``>= 0``, so nothing cancels and the result
    keeps ~1e-14 relative accuracy even at ``KL ≈ 1e-19``, where ``Σ p·d`` loses
    every digit. ``d`` comes straight from the logits as
    ``(z_P - z_Q) - (lse_P - lse_Q)``: nearly equal logits subtract exactly, and
    the one rounding left is in ``lse_P - lse_Q``, the same constant ``c`` for the
    whole row, which moves the sum by only ``e^{-c} - 1 + c ≈ c²/2`` (about 1e-31).
    Differences of two rounded log-softmax outputs would instead carry a
    different error of ``eps·|log p_c|`` in every ``d_c``, a first-order error.

    Args:
      p_logits, q_logits: arrays of the same shape ``(..., C)``.
      axis: the class axis.

    Returns:
      float64 array of shape ``(...)``.

    Edge cases: a ``-inf`` logit is a masked class (probability 0): masked in P
    it adds nothing to ``Σ p·d`` (its ``φ`` term is ``q_c``, 0 if Q masks it too),
    masked in Q only it gives ``inf``. A row of P with no finite log-sum-exp (all
    ``-inf``, or ``+inf``/NaN logits) gives NaN.

    >>> round(float(kl_divergence_with_logits([0.0, 0.0], [0.0, np.log(3.0)])), 12)
    0.143841036226
    >>> f"{float(kl_divergence_with_logits([0.0, 1e-9], [0.0, 0.0])):.12e}"  # exact: 1.25000000000000016e-19
    '1.250000000000e-19'
    """
    zp, zq = as_float64(p_logits), as_float64(q_logits)
    zp, zq, out_shape = _paired_rows(zp, zq, axis)
    mp, sp = max_and_log_sum(zp)
    mq, sq = max_and_log_sum(zq)
    d = logit_log_ratio(zp, zq, mp, sp, mq, sq)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf for bad rows: NaN, set below
        p = np.exp((zp - mp) - sp)
        logq = (zq - mq) - sq
    # Masked: probability exactly 0, a -inf logit or one whose distance to the maximum overflows (1e308 apart).
    terms = kl_logit_terms(p, logq, d, p == 0.0, logq == -np.inf)
    total = np.sum(terms, axis=-1)
    total = np.where(np.isfinite(mp[:, 0] + sp[:, 0]), total, np.nan)
    return total.reshape(out_shape)


def kl_divergence_of(p=None, q=None, *, p_logits=None, q_logits=None, axis: int = -1) -> np.ndarray:
    r"""``D_KL(P‖Q)`` per row, each side given as probabilities or as logits.

    Both logits: :func:`kl_divergence_with_logits`. Otherwise
    :func:`kl_divergence`, with a logits side turned into probabilities by
    :func:`~xentcli.core.softmax.softmax`.

    Args:
      p, p_logits: exactly one of them, shape ``(..., C)``.
      q, q_logits: exactly one of them, the same shape.
      axis: the class axis.

    >>> round(float(kl_divergence_of(p=[0.5, 0.5], q_logits=[0.0, np.log(3.0)])), 12)
    0.143841036226
    """
    if (p is None) == (p_logits is None) or (q is None) == (q_logits is None):
        raise ValueError("give exactly one of p and p_logits, and one of q and q_logits")
    if p is None and q is None:
        return kl_divergence_with_logits(p_logits, q_logits, axis=axis)
    p = softmax(p_logits, axis=axis) if p is None else p
    q = softmax(q_logits, axis=axis) if q is None else q
    return kl_divergence(p, q, axis=axis)
