r"""Per-token statistics of a model (the *test*) against a reference (the *base*) over the same tokens.

The numerical core of ``xent compare``. Every function takes one block of rows
(token positions) ``(n, V)`` and returns one float64 (or int64) value per row;
summaries over tokens are :mod:`xentcli.core.summary`'s business.

Three kinds of base:

* full logits (:func:`token_stats`): every statistic exact;
* llama.cpp's ``.kld`` file, decoded to log-probabilities
  (:func:`kld_token_stats`): llama.cpp's own estimators, term by term;
* a compact saved reference, the top-K log-probabilities and the tail mass
  (:func:`reference_token_stats`, written through :func:`topk_logprobs`):
  a lower bound of the KL divergence.

Shared conventions. Logits may be float16/32/64; everything is computed in
float64 from one log-softmax per row (max-shifted, as
:func:`~xentcli.core.softmax.log_softmax`). ``-inf`` logits are masked classes
(probability 0, and ``0·log 0 = 0``). Rows that are no distribution (NaN,
``+inf``, only ``-inf``) give NaN in the float columns; callers check rows
first (:func:`~xentcli.core.check_logits`).

Top-K ties. The top-K set of a row is its first K classes in a stable
descending sort: the K largest values, ties at the K-th value broken toward
the lower class index (so ``top1 = argmax``, lowest index on ties, is always
in it, and the set does not depend on the sorting algorithm).
"""

from __future__ import annotations

import math
import threading
from fractions import Fraction

import numpy as np

from ._xlogy import negate
from .checks import RowError
from .divergence import kl_logit_terms, logit_log_ratio
from .softmax import _log1p_fixup, _row_max, max_and_log_sum

__all__ = ["token_stats", "kld_token_stats", "reference_token_stats", "topk_logprobs", "KLD_LOGPROB_FLOOR"]

_LN2 = math.log(2.0)

#: llama.cpp's ``kl_divergence`` sums only base classes whose decoded log-probability is above this
#: (``if (p_log_base > -16.f)`` in ``log_softmax(..., kl_divergence_result & kld)``, perplexity.cpp).
KLD_LOGPROB_FLOOR = -16.0


# -- shared pieces ------------------------------------------------------------------------------

def _pair(base, test, what: str = "logits") -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as 2-D arrays ``(n, V)`` of the same shape (ValueError naming both shapes otherwise)."""
    a, b = np.asarray(base), np.asarray(test)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"base {what} of shape {a.shape} and test logits of shape {b.shape}: expected the same shape (n, V)")
    return a, b


def _float64(z: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(z, dtype=np.float64)


def _key(z: np.ndarray, z64: np.ndarray) -> np.ndarray:
    """The array to rank classes by: the input itself where NumPy ranks it natively (float32/64)."""
    return z if z.dtype in (np.float32, np.float64) else z64


def _targets(targets, n: int, num_classes: int) -> np.ndarray:
    """``targets`` as int64 of shape ``(n,)``, each in ``[0, num_classes)`` (RowError, a ValueError, otherwise)."""
    k = np.asarray(targets)
    if k.shape != (n,):
        raise ValueError(f"targets of shape {k.shape}: expected ({n},), one per row")
    if k.dtype.kind not in "iu":
        raise ValueError(f"targets must be integer class indices, got dtype {k.dtype}")
    bad = (k < 0) | (k >= num_classes)
    if bad.any():
        r = int(np.argmax(bad))
        raise RowError(f"target {int(k[r])} is out of range for {num_classes} classes (expected 0 to {num_classes - 1})", r)
    return k.astype(np.int64, copy=False)


def _check_top_k(top_k: int) -> None:
    if int(top_k) != top_k or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")


#: Rows are processed in chunks of about this many values (2 MiB float64 temporaries). Smaller chunks
#: fit the L2 cache better but make every NumPy call shorter, and threads then spend their time
#: passing the GIL: measured on 2 cores, ``xent compare`` at 2**16 took 1.5x the wall time of 2**18.
_CHUNK_VALUES = 2**18


def _by_chunks(fn, n: int, v: int, *row_arrays) -> dict[str, np.ndarray]:
    """``fn(*chunk)`` over row chunks of ``row_arrays`` (``None`` passed through), outputs concatenated."""
    step = max(1, _CHUNK_VALUES // max(v, 1))
    if n <= step:
        return fn(*row_arrays)
    parts = [fn(*(None if a is None else a[i:i + step] for a in row_arrays)) for i in range(0, n, step)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _log_softmax_parts(z: np.ndarray):
    """``(m, log_s, logp, p)`` of float64 rows ``z``: one exponential pass serves both ``p`` and the sum.

    ``m``, ``log_s`` are :func:`~xentcli.core.softmax.max_and_log_sum`'s (with its
    ``log1p`` fix for rows dominated by one class), ``logp = (z - m) - log_s``
    exactly as :func:`~xentcli.core.softmax.log_softmax`, ``p = e^{z - m}·(1/s)``.
    """
    m = _row_max(z, -1)
    with np.errstate(over="ignore", invalid="ignore"):  # -1e308 - 1e308 = -inf (p = 0); NaN rows stay NaN
        logp = z - m
    p = np.exp(logp)
    s = np.sum(p, axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):  # log 0 = -inf for an all -inf row (NaN below)
        log_s = np.log(s)
    close = (s < 1.0 + 2.0**-10) & (s >= 1.0)
    if close.any():
        log_s = _log1p_fixup(z, m, close, log_s, -1, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):  # inf - inf, 1/0 in rows that are no distribution: NaN
        logp -= log_s
        p *= 1.0 / s  # one rounding more than p / s (≤ 1 ulp), at a third of a division's cost
    return m, log_s, logp, p


def _entropy(p: np.ndarray, logp: np.ndarray, masked: np.ndarray) -> np.ndarray:
    """``-Σ p·log p`` per row, masked classes (``p = 0``, ``log p = -inf``) adding 0."""
    with np.errstate(invalid="ignore"):  # 0·(-inf) of masked classes: zeroed below
        terms = p * logp
    if masked.any():
        np.copyto(terms, 0.0, where=masked)
    return negate(np.sum(terms, axis=-1))


def _jsd_g(h: np.ndarray) -> np.ndarray:
    r"""``G(h) = h·tanh(h) - log cosh(h) >= 0``, the Jensen–Shannon term per unit of ``(p + q)/2``.

    With ``h = d/2 = (log p - log q)/2`` and ``t = tanh h = (p - q)/(p + q)``,
    ``p·log(2p/(p+q)) + q·log(2q/(p+q)) = (p + q)·G(h)`` and
    ``G = ½[(1+t)·log(1+t) + (1-t)·log(1-t)] = ln 2 - H₂((1+t)/2)``.

    ``|h| <= 1``: ``h·t + ½·log1p(-t²)``; the two parts are about ``h²`` and
    ``-h²/2``, so at most 1 bit cancels even for ``h`` of 1e-9 (no series needed).
    ``|h| > 1``: ``ln 2 - log1p(r) - 2|h|·r/(1+r)``, ``r = e^{-2|h|}``, which
    cancels at most 3x and reaches ``ln 2`` at ``h = ±inf`` (a class one side masks).
    NaN stays NaN.
    """
    t = np.tanh(h)
    g = np.multiply(t, t)
    np.negative(g, out=g)
    # log1p(-1) = -inf where tanh rounds to ±1, inf - inf at h = ±inf: the far branch replaces both;
    # NaN compares False and keeps its NaN.
    with np.errstate(divide="ignore", invalid="ignore"):
        np.log1p(g, out=g)
        g *= 0.5
        t *= h
        g += t
        far = np.abs(h) > 1.0
    if far.any():
        a = np.minimum(np.abs(h[far]), 1e3)  # e^{-2000} = 0: G = ln 2 exactly, and inf·0 never happens
        r = np.exp(-2.0 * a)
        g[far] = (_LN2 - np.log1p(r)) - 2.0 * a * r / (1.0 + r)
    return np.maximum(g, 0.0, out=g)


def _reverse_kl_terms(p, q, d, forward, p_masked, q_masked) -> np.ndarray:
    r"""``q·φ(-d) >= 0``, the terms of ``KL(q‖p)``, from the forward terms ``p·φ(d)`` (a new array).

    ``p·φ(d) + q·φ(-d) = (p - q)·d`` (as ``p·e^{-d} = q``), so the reverse term is
    ``(p - q)·d - p·φ(d)``, with ``p - q = -p·expm1(-d)`` for ``d >= -1`` (exact
    to a few ulp even where ``p ≈ q``, so nearly equal rows keep their digits:
    ``(p - q)·d ≈ p·d²`` against ``p·φ(d) ≈ p·d²/2``) and ``p - q`` itself below
    (``q > e·p``: no cancellation, and ``e^{-d}`` may overflow there). The
    cancellation is at most about ``|d|`` ulp elsewhere. One ``expm1`` pass instead of
    a second φ evaluation. Masks: a class ``q`` masks adds ``p_c`` (the term
    ``p - q - q·d`` of the φ form: it stands for the ``1 - Σ_{q>0} p`` that makes
    ``Σ q·φ(-d)`` equal ``Σ q·(-d)``), one only ``p`` masks ``inf``.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # exp of d < -709 (replaced below), inf·0 of masked classes (set below)
        r = np.negative(d)
        np.expm1(r, out=r)
        r *= p
        np.negative(r, out=r)
        below = d < -1.0
        if below.any():
            r[below] = p[below] - q[below]
        r *= d
        r -= forward
    if q_masked.any():  # φ form of a class q masks: p (0 if p masks it too), as kl_logit_terms' q for p
        np.copyto(r, p, where=q_masked)
    only_p = p_masked & ~q_masked
    if only_p.any():
        np.copyto(r, np.inf, where=only_p)
    return np.maximum(r, 0.0, out=r)


def _topk_ids(key: np.ndarray, k: int) -> np.ndarray:
    """The top-``k`` class ids of each row of ``key``, ``(n, k)`` int64, largest first, ties to the lower id.

    ``np.argpartition`` finds k largest; rows where more than k classes reach the
    k-th value (a tie at the boundary, where argpartition's pick is arbitrary) are
    redone by a stable sort, so the set is the module's documented one.
    """
    n, v = key.shape
    ids = np.argpartition(key, v - k, axis=1)[:, v - k:]
    vals = np.take_along_axis(key, ids, axis=1)
    kth = np.min(vals, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):  # NaN rows (no distribution) compare False
        tied = np.count_nonzero(key >= kth, axis=1) > k
    if tied.any():
        rows = np.flatnonzero(tied)
        ids[rows] = np.argsort(-key[rows], axis=1, kind="stable")[:, :k]
        vals[rows] = np.take_along_axis(key[rows], ids[rows], axis=1)
    order = np.lexsort((ids, -vals), axis=-1)  # value descending, then id ascending
    return np.take_along_axis(ids, order, axis=1)


def _overlap(ids_a: np.ndarray, ids_b: np.ndarray) -> np.ndarray:
    """``|A ∩ B| / K`` per row for id sets of ``K`` distinct ids each."""
    k = ids_a.shape[1]
    return np.count_nonzero(ids_a[:, :, None] == ids_b[:, None, :], axis=(1, 2)) / k


def _in(ids: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.any(ids == k[:, None], axis=1).astype(np.float64)


def _ranks(out: dict, key_b, key_t, kk: int, k, logpb, logpt) -> None:
    """Top-1 of each side, ``same_top1``, ``topk_overlap`` and (with targets ``k``) the target columns."""
    out["top1_base"] = np.argmax(key_b, axis=1).astype(np.int64)
    out["top1_test"] = np.argmax(key_t, axis=1).astype(np.int64)
    out["same_top1"] = (out["top1_base"] == out["top1_test"]).astype(np.float64)
    ids_b, ids_t = _topk_ids(key_b, kk), _topk_ids(key_t, kk)
    out["topk_overlap"] = _overlap(ids_b, ids_t)
    if k is not None:
        rows = np.arange(len(k))
        _target_columns(out, k, logpb[rows, k], logpt[rows, k], out["top1_base"], out["top1_test"], ids_b, ids_t)


def _target_columns(out: dict, k: np.ndarray, logp_b, logp_t, top1_b, top1_t, ids_b, ids_t) -> None:
    """The target keys, from the base's and the test's log-probabilities of the targets ``(n,)``."""
    out["nll_base"] = negate(logp_b)
    out["nll_test"] = negate(logp_t)
    out["p_target"] = np.exp(logp_b)
    out["q_target"] = np.exp(logp_t)
    out["delta_p"] = out["q_target"] - out["p_target"]
    out["in_topk_base"] = _in(ids_b, k)
    out["in_topk_test"] = _in(ids_t, k)
    out["top1_correct_base"] = (top1_b == k).astype(np.float64)
    out["top1_correct_test"] = (top1_t == k).astype(np.float64)


# -- full logits ----------------------------------------------------------------------------------

def token_stats(base_logits, test_logits, targets=None, *, top_k: int = 5, keys=None) -> dict[str, np.ndarray]:
    r"""Per-token comparison of two models' logits over the same tokens: ``p = softmax(base)``, ``q = softmax(test)``.

    Formulas (natural logs; ``d_c = log p_c - log q_c`` from the logits as
    :func:`~xentcli.core.divergence.logit_log_ratio`):

    * ``kl = Σ p·d = Σ p·φ(d)``, ``φ(d) = e^{-d} - 1 + d >= 0``:
      :func:`~xentcli.core.kl_divergence_with_logits`' terms
      (:func:`~xentcli.core.divergence.kl_logit_terms`), never negative, ~1e-14
      relative even at 1e-19. ``kl_reverse = Σ q·φ(-d)``, each term got from the
      forward one as ``(p - q)·d - p·φ(d) >= 0``.
    * ``jsd`` (bits) ``= [½KL(p‖m) + ½KL(q‖m)] / ln 2``, ``m = (p + q)/2``,
      summed as ``Σ ½(p + q)·G(d/2)`` with ``G(h) = h·tanh h - log cosh h >= 0``
      (each class's share ``½[p·log(p/m) + q·log(q/m)]`` is itself ``>= 0``; the
      log-space form of ``log m = logaddexp(log p, log q) - ln 2`` without its
      cancellation for ``p ≈ q``).
    * ``entropy_base``, ``entropy_test``: ``H = -Σ p·log p`` (nats).
    * ``top1_base``, ``top1_test``: ``argmax`` (int64, lowest index on ties, as
      ``np.argmax``); ``same_top1`` 0/1; ``topk_overlap = |top-K(p) ∩ top-K(q)| / K``,
      ``K = min(top_k, V)``, ties as the module docstring says.
    * with ``targets`` ``k``: ``nll_base = -log p_k``, ``nll_test = -log q_k``,
      ``p_target = p_k``, ``q_target = q_k``, ``delta_p = q_k - p_k`` (llama.cpp's
      ``Δp``), ``in_topk_base``/``_test`` (0/1: ``k`` in the top-K set),
      ``top1_correct_base``/``_test`` (0/1).

    Args:
      base_logits, test_logits: arrays of the same shape ``(n, V)``, float16/32/64.
      targets: optional int array ``(n,)`` in ``[0, V)`` (rows to ignore are
        dropped by the caller first).
      top_k: ``K`` of ``topk_overlap`` and ``in_topk_*`` (``>= 1``; capped at ``V``).
      keys: the keys wanted (None: all). Others may be left out, which saves their passes
        (the reverse KL, the JSD's ``log1p``, the entropies, the top-K sets); ``kl``, the
        ``top1`` and the target keys are always there. The values do not depend on it.

    Returns:
      dict of arrays of shape ``(n,)``: float64, ``top1_*`` int64.

    Edge cases: ``-inf`` logits are masked classes (``0·log 0 = 0``). A class the
    base gives mass and the test masks gives ``kl = inf`` (``kl_reverse`` stays
    finite unless the base masks a class the test gives mass); ``jsd`` is always
    finite, at most 1 bit. Raises ValueError for different shapes or out-of-range targets.

    Sources: the φ form, :func:`~xentcli.core.kl_divergence_with_logits`; the
    statistics, llama.cpp ``tools/perplexity/perplexity.cpp`` (``kl_divergence``:
    KL, ``Δp = p - p_base`` of the target, "same top p"); JSD, Lin (1991),
    "Divergence measures based on the Shannon entropy".

    >>> s = token_stats([[0.0, 0.0, -np.inf]], [[0.0, np.log(3.0), 0.0]], [1])
    >>> # p = (1/2, 1/2, 0), q = (1/5, 3/5, 1/5): KL = ½ln(5/2) + ½ln(5/6); q gives mass where p has none
    >>> round(float(s["kl"][0]), 12), float(s["kl_reverse"][0]), round(float(s["jsd"][0]), 6)
    (0.36698458754, inf, 0.151191)
    >>> int(s["top1_base"][0]), int(s["top1_test"][0]), float(s["same_top1"][0]), round(float(s["delta_p"][0]), 3)
    (0, 1, 0.0, 0.1)
    """
    _check_top_k(top_k)
    zb, zt = _pair(base_logits, test_logits)
    n, v = zb.shape
    k = None if targets is None else _targets(targets, n, v)
    kk = min(int(top_k), v)
    need = _needed(keys)
    return _by_chunks(lambda *a: _token_stats(*a, kk, need), n, v, zb, zt, k)


# -- the fast kernel of token_stats ---------------------------------------------------------------

def _bernoulli(m: int) -> list[Fraction]:
    """Bernoulli numbers ``B_0 .. B_m`` (Akiyama–Tanigawa; ``B_1 = +1/2``, the even ones as usual)."""
    a, out = [Fraction(0)] * (m + 1), []
    for i in range(m + 1):
        a[i] = Fraction(1, i + 1)
        for j in range(i, 0, -1):
            a[j - 1] = j * (a[j - 1] - a[j])
        out.append(a[0])
    return out


def _small_d_coefficients(degree: int) -> tuple[list[Fraction], list[Fraction], list[Fraction]]:
    r"""Exact Taylor coefficients of ``d^2 .. d^degree`` of the three per-class functions of ``d = log p - log q``.

    Each statistic's term of a class is ``p`` times a function of ``d`` alone (``q = p·e^{-d}``):

    * KL: ``p·φ(d)``, ``φ(d) = e^{-d} - 1 + d = Σ_{n>=2} (-1)^n d^n/n!``;
    * reverse KL: ``q·φ(-d) = p·R(d)``, ``R(d) = e^{-d}(e^d - 1 - d) = 1 - (1 + d)e^{-d}``;
      ``(1 + d)e^{-d} = Σ_n (-1)^n d^n/n! + Σ_n (-1)^n d^{n+1}/n!`` has ``d^n`` coefficient
      ``(-1)^n/n! - (-1)^n/(n-1)! = (-1)^n (1 - n)/n!``, so ``R(d) = Σ_{n>=2} (-1)^n (n - 1)/n!·d^n``;
    * JSD (nats): ``½(p + q)·G(d/2) = p·J(d)``, ``J(d) = ½(1 + e^{-d})·G(d/2)``, with
      ``G(h) = h·tanh h - log cosh h``. From ``h·tanh h = Σ_{m>=1} 4^m(4^m - 1)B_{2m} h^{2m}/(2m)!``
      and ``log cosh h`` the same series with each term divided by ``2m`` (its integral of ``tanh``),
      ``G(h) = Σ_{m>=1} 4^m(4^m - 1)B_{2m}/(2m)!·(1 - 1/(2m))·h^{2m}`` (``h²/2 - h⁴/4 + …``);
      at ``h = d/2`` the ``m``-th term is divided by ``4^m``. ``½(1 + e^{-d}) = 1 + Σ_{j>=1} (-1)^j d^j/(2·j!)``,
      and ``J`` is the product of the two series (``d²/8 - d³/16 + …``).
    """
    fact = math.factorial
    phi = [Fraction((-1) ** n, fact(n)) for n in range(2, degree + 1)]
    rev = [Fraction((-1) ** n * (n - 1), fact(n)) for n in range(2, degree + 1)]
    b = _bernoulli(degree)
    g = [Fraction(0)] * (degree + 1)
    for m in range(1, degree // 2 + 1):
        g[2 * m] = Fraction(4**m * (4**m - 1)) * b[2 * m] / fact(2 * m) * Fraction(2 * m - 1, 2 * m) / 4**m
    a = [Fraction(1)] + [Fraction((-1) ** j, 2 * fact(j)) for j in range(1, degree + 1)]
    jsd = [sum((a[n - i] * g[i] for i in range(2, n + 1)), Fraction(0)) for n in range(2, degree + 1)]
    return phi, rev, jsd


#: Below this ``|d|`` the three terms come from their Taylor series (:func:`_small_d_coefficients`):
#: the closed forms cancel there (``expm1(-d) + d`` loses about ``log2(2/|d|)`` bits, 6 at 1/32,
#: the JSD form about 2 bits more), the series are exact to float64 rounding.
_SMALL_D = 2.0**-5


def _truncated(coeffs: list[Fraction], abs_max: float) -> list[float]:
    """``coeffs`` as floats, cut after the last term above ``2**-56`` of the first at ``|d| = abs_max``."""
    keep = [j for j in range(len(coeffs)) if abs(coeffs[j]) * Fraction(abs_max) ** j >= abs(coeffs[0]) * Fraction(2) ** -56]
    return [float(c) for c in coeffs[: max(keep) + 1]]


#: The series of ``φ`` and ``2J`` for ``|d| < _SMALL_D``, Horner order (``c[j]`` multiplies ``d^{j+2}``).
_PHI_C = _truncated(_small_d_coefficients(16)[0], _SMALL_D)
_JSD2_C = _truncated([2 * c for c in _small_d_coefficients(16)[2]], _SMALL_D)
#: The mask of the series is ``u·D < _SMALL_UD`` (``u·D = D·expm1(D)`` grows with ``|D|`` on both sides):
#: the smaller of its two values at ``|d| = _SMALL_D``, so every masked ``|d|`` is below ``_SMALL_D``.
_SMALL_UD = min(_SMALL_D * math.expm1(_SMALL_D), -_SMALL_D * math.expm1(-_SMALL_D))


def _horner(coeffs: list[float], x: np.ndarray, x2: np.ndarray) -> np.ndarray:
    acc = np.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc *= x
        acc += c
    acc *= x2
    return acc


#: A row falls back to :func:`_token_stats_exact` when its base has a class below ``max - _FAR_BELOW``:
#: ``p_c = e^{z_c - max}/s`` is then subnormal or 0 while ``q_c = p_c·e^{-d_c}`` may not be, and the
#: terms ``p·φ(d)`` (about ``q``) lose their digits; the exact kernel takes ``q`` itself there.
_FAR_BELOW = 700.0

#: Rows whose reverse KL is below this fraction of the forward one are redone by the exact kernel
#: (the difference ``(KL + rev) - KL`` keeps ``rev`` to ``eps·KL/rev``: 2e-12 relative at worst).
_REV_CANCELS = 1e-4


#: The parts of :func:`_token_stats` that can be left out, and the output keys each one makes
#: (``kl``, the top-1 keys and the target keys are always made).
_WORK_GROUPS = {
    "kl_reverse": ("kl_reverse",),
    "jsd": ("jsd",),
    "entropy": ("entropy_base", "entropy_test"),
    "topk": ("topk_overlap", "in_topk_base", "in_topk_test"),
}
_ALL = frozenset(_WORK_GROUPS)
_KEYS = ("kl", "kl_reverse", "jsd", "entropy_base", "entropy_test", "top1_base", "top1_test", "same_top1",
         "topk_overlap", "nll_base", "nll_test", "p_target", "q_target", "delta_p", "in_topk_base", "in_topk_test",
         "top1_correct_base", "top1_correct_test")


def _needed(keys) -> frozenset:
    """The work groups that make ``keys`` (None: all)."""
    if keys is None:
        return _ALL
    unknown = sorted(set(keys) - set(_KEYS))
    if unknown:
        raise ValueError(f"unknown token statistic {unknown[0]!r}: expected some of {', '.join(_KEYS)}")
    return frozenset(g for g, made in _WORK_GROUPS.items() if set(made) & set(keys))


class _Workspace(threading.local):
    """Per-thread float64 buffers of one chunk, reused from chunk to chunk (``out=`` everywhere).

    Fresh arrays of a chunk's size (512 KiB) come from ``mmap`` and cost their page faults on
    every use, as much as the arithmetic; reused ones stay mapped and in cache.
    """

    def get(self, name: str, shape: tuple[int, int], dtype=np.float64) -> np.ndarray:
        size = shape[0] * shape[1]
        buf = self.__dict__.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = np.empty(max(size, _CHUNK_VALUES), dtype=dtype)
            self.__dict__[name] = buf
        return buf[:size].reshape(shape)


_WORK = _Workspace()


def _side(z: np.ndarray, key: np.ndarray, x: np.ndarray, e: np.ndarray, rows, k, entropy: bool):
    """One side's ``(m, log_s, s, entropy, log p_k)``, with ``x = z - m`` and ``e = e^x`` (unnormalised) written.

    As :func:`_log_softmax_parts` (``log_s`` with its ``log1p`` fix), but ``p = e/s`` is never
    formed: sums weighted by ``p`` are divided by ``s`` once per row. ``H = log s - Σ e·(z - m)/s``,
    two terms ``>= 0`` (no cancellation), or None when not ``entropy``. Rows with masked classes
    get NaN here (``0·(-inf)``) and are redone by the exact kernel.
    """
    m = np.max(key, axis=1, keepdims=True).astype(np.float64)
    with np.errstate(all="ignore"):  # inf/NaN rows: NaN results, redone by the exact kernel
        bad_m = ~np.isfinite(m)
        if bad_m.any():
            m[bad_m] = 0.0  # as _row_max
        np.subtract(z, m, out=x)
        np.exp(x, out=e)
        s = np.add.reduce(e, axis=1)
        log_s = np.log(s)[:, None]
        close = (s < 1.0 + 2.0**-10) & (s >= 1.0)
        if close.any():
            log_s = _log1p_fixup(z, m, close[:, None], log_s, -1, 1.0)
        h = log_s[:, 0] - np.einsum("ij,ij->i", e, x) / s if entropy else None
        lpk = None if k is None else x[rows, k] - log_s[:, 0]
    return m, log_s, s, h, lpk


def _topk_masks(key: np.ndarray, kk: int, work: np.ndarray, mask: np.ndarray):
    """``(kth, count)``: the ``kk``-th largest value per row, and ``mask = key >= kth`` (written) with its row counts.

    Where ``count == kk`` the mask is the top-``kk`` set (no tie at the boundary); other rows
    (ties at the ``kk``-th value, NaN) go through :func:`_topk_ids`.
    """
    v = key.shape[1]
    np.copyto(work, key)
    work.partition(v - kk, axis=1)
    kth = work[:, v - kk:v - kk + 1].copy()
    with np.errstate(invalid="ignore"):  # NaN rows compare False (count 0: redone)
        np.greater_equal(key, kth, out=mask)
    return kth, np.count_nonzero(mask, axis=1)


def _topk_columns(out: dict, kb, kt, kk: int, k, mask_b, redo) -> None:
    """``topk_overlap`` and (with targets ``k``) ``in_topk_*``: the ``>= kth`` masks where the
    ``kk``-th value is not tied, :func:`_topk_ids` on the other rows (``mask_b`` a free bool buffer)."""
    mask_t = _WORK.get("mask_t", kb.shape, np.bool_)
    part = _WORK.get("part" + kb.dtype.str, kb.shape, kb.dtype)
    kth_b, count_b = _topk_masks(kb, kk, part, mask_b)
    kth_t, count_t = _topk_masks(kt, kk, part, mask_t)
    np.logical_and(mask_b, mask_t, out=mask_b)
    out["topk_overlap"] = np.count_nonzero(mask_b, axis=1) / kk
    if k is not None:
        rows = np.arange(len(k))
        with np.errstate(invalid="ignore"):  # NaN rows compare False (and are redone)
            out["in_topk_base"] = (kb[rows, k] >= kth_b[:, 0]).astype(np.float64)
            out["in_topk_test"] = (kt[rows, k] >= kth_t[:, 0]).astype(np.float64)
    tied = ((count_b != kk) | (count_t != kk)) & ~redo
    if tied.any():  # the top-K sets the documented way (ties to the lower id), on those rows
        r = np.flatnonzero(tied)
        ids_b, ids_t = _topk_ids(kb[r], kk), _topk_ids(kt[r], kk)
        out["topk_overlap"][r] = _overlap(ids_b, ids_t)
        if k is not None:
            out["in_topk_base"][r] = _in(ids_b, k[r])
            out["in_topk_test"][r] = _in(ids_t, k[r])


def _token_stats(zb, zt, k, kk, need: frozenset = _ALL) -> dict[str, np.ndarray]:
    r""":func:`token_stats` of one chunk of rows, in few whole-array passes; only the ``need`` groups
    (:data:`_WORK_GROUPS`) besides ``kl`` and the target keys.

    ``d = log p - log q`` as :func:`~xentcli.core.divergence.logit_log_ratio` (kept negated,
    ``D = -d``), ``u = e^{-d} - 1 = expm1(D)``; with ``e = e^{z_b - m_b}`` (``p = e/s_b``) the
    per-class terms are ``p`` times

    * KL: ``φ(d) = u - D``;
    * reverse KL: ``R(d) = u·D - φ(d)`` (``= (q - p)/p·D - φ``, :func:`_reverse_kl_terms`' identity);
    * JSD: ``J(d) = ½[(1 + u)·D - (2 + u)·L]``, ``L = log1p(u/2) = log((p + q)/2p)``: ``½[p·log(p/m) + q·log(q/m)]``
      with ``log(p/m) = -L``, ``log(q/m) = D - L``;

    and for ``|d| < _SMALL_D`` (where those cancel) their Taylor series
    (:func:`_small_d_coefficients`), on the gathered elements only. Rows that are not plain
    (a masked class, ``±inf``/NaN, a non-finite or overflowing term, a base class more than
    ``_FAR_BELOW`` below its row's maximum) are redone by :func:`_token_stats_exact`.
    """
    n, v = zb.shape
    shape = (n, v)
    w_ = _WORK
    zb64 = zb if zb.dtype == np.float64 else w_.get("zb", shape)
    zt64 = zt if zt.dtype == np.float64 else w_.get("zt", shape)
    zb64 is zb or np.copyto(zb64, zb)
    zt64 is zt or np.copyto(zt64, zt)
    kb, kt = _key(zb, zb64), _key(zt, zt64)
    x, eb, u, f, w = (w_.get(name, shape) for name in ("x", "eb", "u", "f", "w"))
    rows = None if k is None else np.arange(n)
    entropy = "entropy" in need
    mt, st, s_t, ht, lpt = _side(zt64, kt, x, u, rows, k, entropy)
    mb, sb, s_b, hb, lpb = _side(zb64, kb, x, eb, rows, k, entropy)
    big_d = x
    out: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):  # bad rows: non-finite sums, redone below; large |D|: overflow, ditto
        far = (mb[:, 0] - np.min(kb, axis=1)) > _FAR_BELOW
        np.subtract(zt64, zb64, out=big_d)  # D = -d: d as logit_log_ratio, negated (exactly)
        big_d += (mb - mt) + (sb - st)
        np.expm1(big_d, out=u)
        np.subtract(u, big_d, out=f)  # φ(d)
        np.multiply(u, big_d, out=w)  # u·D = (q - p)/p·D >= 0, about d² for small d: the mask of those
        small_mask = w_.get("small", shape, np.bool_)
        np.less(w, _SMALL_UD, out=small_mask)
        small = np.flatnonzero(small_mask)
        if small.size:
            ds = np.take(big_d, small)
            np.negative(ds, out=ds)  # d
            d2 = ds * ds
            np.put(f, small, _horner(_PHI_C, ds, d2))
        inv_s = 1.0 / s_b
        out["kl"] = kl = np.einsum("ij,ij->i", eb, f) * inv_s
        finite = np.isfinite(kl)
        if "kl_reverse" in need:
            # Σ p·u·D = Σ (q - p)·(log q - log p) = KL(p‖q) + KL(q‖p): the reverse is that minus kl, all
            # three >= 0 and u·D exact to a few ulp for any d (no cancellation in the product).
            rev = np.einsum("ij,ij->i", eb, w) * inv_s
            rev -= kl
            out["kl_reverse"] = np.maximum(rev, 0.0, out=rev)
            finite &= np.isfinite(rev)
            far |= rev < _REV_CANCELS * kl  # rev = (KL + rev) - KL would have lost digits: the exact terms
        if "jsd" in need:
            w += big_d  # (1 + u)·D
            np.multiply(u, 0.5, out=f)
            np.log1p(f, out=f)  # L
            u += 2.0
            u *= f
            w -= u  # 2·J(d)
            if small.size:
                np.put(w, small, _horner(_JSD2_C, ds, d2))
            out["jsd"] = np.einsum("ij,ij->i", eb, w) * (inv_s * (0.5 / _LN2))
            finite &= np.isfinite(out["jsd"])
        if entropy:
            out["entropy_base"], out["entropy_test"] = hb, ht
            finite &= np.isfinite(hb) & np.isfinite(ht)
        redo = ~finite | far

    out["top1_base"] = top1_b = np.argmax(kb, axis=1).astype(np.int64)
    out["top1_test"] = top1_t = np.argmax(kt, axis=1).astype(np.int64)
    out["same_top1"] = (top1_b == top1_t).astype(np.float64)
    if k is not None:
        out["nll_base"] = negate(lpb)
        out["nll_test"] = negate(lpt)
        out["p_target"] = np.exp(lpb)
        out["q_target"] = np.exp(lpt)
        out["delta_p"] = out["q_target"] - out["p_target"]
        out["top1_correct_base"] = (top1_b == k).astype(np.float64)
        out["top1_correct_test"] = (top1_t == k).astype(np.float64)
    if "topk" in need:
        _topk_columns(out, kb, kt, kk, k, small_mask, redo)
    if redo.any():
        r = np.flatnonzero(redo)
        exact = _token_stats_exact(zb[r], zt[r], None if k is None else k[r], kk)
        for key, value in out.items():
            value[r] = exact[key]
    return out


def _token_stats_exact(zb, zt, k, kk) -> dict[str, np.ndarray]:
    """The element-by-element kernel: every term by its exact formula (masks, extreme rows); :func:`_token_stats`' fallback."""
    zb64, zt64 = _float64(zb), _float64(zt)

    mb, sb, logpb, pb = _log_softmax_parts(zb64)
    mt, st, logpt, pt = _log_softmax_parts(zt64)
    masked_b, masked_t = zb64 == -np.inf, zt64 == -np.inf

    d = logit_log_ratio(zb64, zt64, mb, sb, mt, st)
    out: dict[str, np.ndarray] = {}
    forward = kl_logit_terms(pb, logpt, d, masked_b, masked_t)
    out["kl"] = np.sum(forward, axis=-1)
    out["kl_reverse"] = np.sum(_reverse_kl_terms(pb, pt, d, forward, masked_b, masked_t), axis=-1)
    del forward
    d *= 0.5  # h = d/2
    terms = _jsd_g(d)
    with np.errstate(invalid="ignore"):  # NaN·0 of classes masked in both: zeroed below
        terms *= pb + pt
    both = masked_b & masked_t
    if both.any():
        np.copyto(terms, 0.0, where=both)
    out["jsd"] = np.sum(terms, axis=-1) * (0.5 / _LN2)
    del d, terms
    out["entropy_base"] = _entropy(pb, logpb, masked_b)
    out["entropy_test"] = _entropy(pt, logpt, masked_t)

    _ranks(out, _key(zb, zb64), _key(zt, zt64), kk, k, logpb, logpt)
    return out


# -- llama.cpp .kld base ------------------------------------------------------------------------------

def kld_token_stats(base_logprobs, test_logits, targets, *, top_k: int = 5) -> dict[str, np.ndarray]:
    r"""Per-token comparison against llama.cpp's ``.kld`` base, as ``llama-perplexity --kl-divergence`` computes it.

    ``base_logprobs`` are the decoded log-probabilities (``scale·u16 + min_log_prob``
    per class, as llama.cpp decodes them), used as they are: not renormalised,
    every decoded value (also the floor ``min_log_prob`` that all classes below
    ``max - 16`` share) taken at face value. Test side: the exact float64
    log-softmax ``log q`` of ``test_logits``. Following llama.cpp
    ``tools/perplexity/perplexity.cpp``, ``log_softmax(n_vocab, logits, base_log_prob, tok, kld)``
    (the overload taking ``kl_divergence_result &``), in float64 where it uses float:

    * ``kl = Σ_{c: b_c > -16} e^{b_c}·(b_c - log q_c)`` with ``b`` the decoded
      base: its loop ``if (p_log_base > -16.f) { p_base = expf(p_log_base);
      sum += p_base * (p_log_base - logits[i] + max_logit); }`` (``max_logit``
      there already holds ``max + log Σ e^{z - max}``, so the bracket is
      ``b_c - log q_c``). Plain terms, not φ: they can sum slightly below 0 where the
      two models agree, exactly as llama.cpp's (the base is neither complete nor normalised).
    * ``nll_base = -b_k`` (``nll_base = -(scale*base_log_prob[tok] + min_log_prob)``,
      no floor), ``nll_test = -log q_k``.
    * ``p_target = e^{b_k}``, ``q_target = q_k``, ``delta_p = q_k - e^{b_k}``
      (``p_diff = expf(-nll) - expf(-nll_base)``).
    * ``top1_base``: the first class of largest decoded value (``if (i == 0 ||
      p_log_base > p_log_base_max)``), ``top1_test`` the first largest logit
      (``if (logits[i] > max_logit)``); ``same_top1``: ``imax == imax_base``.
    * not in llama.cpp, defined here: ``entropy_base = -Σ_{b_c > -16} e^{b_c}·b_c``
      (the classes KL sums), ``entropy_test`` exact, ``topk_overlap``,
      ``in_topk_*``, ``top1_correct_*`` as :func:`token_stats` (the base ranked
      by its decoded values; classes at the shared floor tie, broken toward the lower id).

    Not returned: ``kl_reverse`` and ``jsd``. Both weigh ``log p`` by ``q`` over
    every class, and the ``.kld`` file keeps no ``log p`` below ``max - 16``:
    those classes all decode to one floor, so any value would depend on where the
    encoder put it.

    Args:
      base_logprobs: decoded log-probabilities ``(n, V)`` (float32 as stored, or float64).
      test_logits: ``(n, V)``, float16/32/64.
      targets: int ``(n,)`` in ``[0, V)``.
      top_k: as :func:`token_stats`.

    Returns:
      dict of ``(n,)`` arrays, the keys above.

    >>> b = np.log([[0.5, 0.25, 0.25]])  # ½ln(3/2) + ½ln(3/4) against the uniform q
    >>> s = kld_token_stats(b, [[0.0, 0.0, 0.0]], [0])
    >>> round(float(s["kl"][0]), 12), round(float(s["nll_base"][0]), 12), round(float(s["delta_p"][0]), 6)
    (0.058891517828, 0.69314718056, -0.166667)
    """
    _check_top_k(top_k)
    lb, zt = _pair(base_logprobs, test_logits, "log-probabilities")
    n, v = lb.shape
    k = _targets(targets, n, v)
    kk = min(int(top_k), v)
    return _by_chunks(lambda *a: _kld_token_stats(*a, kk), n, v, lb, zt, k)


def _kld_token_stats(lb, zt, k, kk) -> dict[str, np.ndarray]:
    lb64, zt64 = _float64(lb), _float64(zt)
    _, _, logpt, pt = _log_softmax_parts(zt64)
    masked_t = zt64 == -np.inf

    with np.errstate(invalid="ignore", under="ignore"):  # NaN rows compare False
        kept = lb64 > KLD_LOGPROB_FLOOR
        pb = np.exp(np.where(kept, lb64, -np.inf))  # 0 outside the classes llama.cpp sums
        with np.errstate(over="ignore"):  # kept - (-inf) = inf: a class the test masks
            diff = lb64 - logpt
        terms = pb * diff
    np.copyto(terms, 0.0, where=~kept)  # 0·(±inf or NaN) of classes not summed
    out: dict[str, np.ndarray] = {"kl": np.sum(terms, axis=-1)}
    with np.errstate(invalid="ignore"):
        terms = pb * lb64
    np.copyto(terms, 0.0, where=~kept)
    out["entropy_base"] = negate(np.sum(terms, axis=-1))
    del terms, diff
    out["entropy_test"] = _entropy(pt, logpt, masked_t)

    _ranks(out, _key(lb, lb64), _key(zt, zt64), kk, k, lb64, logpt)
    return out


# -- compact reference (top-K and tail) ---------------------------------------------------------------

def _log_rest(logp: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``log Σ_{c ∉ ids} e^{logp_c}`` per row, in log space (no ``1 - Σ`` cancellation); ``-inf`` if nothing is left."""
    rest = logp.copy()
    np.put_along_axis(rest, ids, -np.inf, axis=1)
    m, s = max_and_log_sum(rest)
    return (m + s)[:, 0]


def topk_logprobs(logits, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The compact reference of each row: its top-``k`` log-probabilities, their ids, the log tail mass and the entropy.

    Formulas: ``log p = log_softmax(z)`` (float64); the top-``k`` classes as the
    module docstring ranks them (ties to the lower id), largest first;
    ``tail_logmass = log(1 - Σ_{top-k} p) = log Σ_{rest} p`` summed in log space
    over the other classes, so it keeps its digits when the top-``k`` hold
    nearly all the mass; ``entropy = -Σ p·log p`` over all classes.

    Args:
      logits: ``(n, V)``, float16/32/64.
      k: ``>= 1``; capped at ``V`` (then the tail is empty: ``-inf``).

    Returns:
      ``(values, ids, tail_logmass, entropy)``: float64 ``(n, K)`` (exact in
      float64; the writer may store them as float32), int32 ``(n, K)``,
      float64 ``(n,)``, float64 ``(n,)``.

    >>> values, ids, tail, h = topk_logprobs(np.log([[0.1, 0.6, 0.3]]), 2)
    >>> ids.tolist(), np.exp(values).round(12).tolist(), round(float(np.exp(tail[0])), 12)
    ([[1, 2]], [[0.6, 0.3]], 0.1)
    """
    _check_top_k(k)
    z = np.asarray(logits)
    if z.ndim != 2:
        raise ValueError(f"logits of shape {z.shape}: expected (n, V)")
    z64 = _float64(z)
    kk = min(int(k), z.shape[1])
    _, _, logp, p = _log_softmax_parts(z64)
    ids = _topk_ids(_key(z, z64), kk)
    values = np.take_along_axis(logp, ids, axis=1)
    return values, ids.astype(np.int32), _log_rest(logp, ids), _entropy(p, logp, z64 == -np.inf)


def reference_token_stats(ref_topk_logprobs, ref_topk_ids, ref_tail_logmass, test_logits, targets=None,
                          ref_target_logprobs=None, *, top_k: int | None = None) -> dict[str, np.ndarray]:
    r"""Per-token comparison against a compact saved reference (:func:`topk_logprobs`' output).

    The base is known on its stored classes ``S`` (``|S| = K``) and as one
    lumped outcome "the rest", of mass ``p_rest = e^{tail}``. The test's ``q``
    is exact (log-softmax of ``test_logits``), lumped the same way:
    ``q_rest = Σ_{c ∉ S} q_c``, summed in log space.

    * ``kl_lower_bound = Σ_{c∈S} p_c·log(p_c/q_c) + p_rest·log(p_rest/q_rest)``:
      the KL divergence of the two distributions on the ``K + 1`` outcomes, which
      by the log-sum inequality (Cover & Thomas, *Elements of Information
      Theory*, 2.7.1) is ``<=`` the full ``KL(p‖q)``, with equality when
      ``K = V``. Summed as :func:`token_stats`' ``kl`` (terms ``p·φ(d) >= 0``, the
      :func:`~xentcli.core.divergence.kl_logit_terms` of the ``K + 1`` outcomes),
      so it is never negative even where float32-stored values do not sum to 1.
    * ``top1_base`` (the stored id of the largest stored value), ``top1_test``
      (``argmax`` of the test logits), ``same_top1``; ``topk_overlap`` of the
      first ``top_k`` stored ids (``K`` by default) and the test's top set of the same size;
      ``entropy_test``.
    * with ``targets`` and ``ref_target_logprobs`` (the base's exact ``log p_k``,
      stored beside the top-K so that its NLL and perplexity stay exact):
      ``nll_base = -ref_target_logprobs``, ``nll_test``, ``p_target``,
      ``q_target``, ``delta_p``, ``in_topk_base`` (``k`` among the stored top
      ids), ``in_topk_test``, ``top1_correct_*``.

    Args:
      ref_topk_logprobs: ``(n, K)`` base log-probabilities (float32 or float64).
      ref_topk_ids: ``(n, K)`` their class ids (distinct per row).
      ref_tail_logmass: ``(n,)`` ``log(1 - Σ_S p)`` (``-inf`` when ``K = V``).
      test_logits: ``(n, V)``.
      targets, ref_target_logprobs: both or neither, ``(n,)``.
      top_k: the overlap's ``K`` (at most the stored ``K``; default all stored).

    >>> z = np.log([[0.5, 0.3, 0.2]])
    >>> v, i, tail, _ = topk_logprobs(z, 1)
    >>> s = reference_token_stats(v, i, tail, np.log([[0.4, 0.4, 0.2]]))
    >>> round(float(s["kl_lower_bound"][0]), 12)  # 0.5·ln(0.5/0.4) + 0.5·ln(0.5/0.6)
    0.02041099726
    """
    zt = np.asarray(test_logits)
    lp = np.asarray(ref_topk_logprobs, dtype=np.float64)
    ids = np.asarray(ref_topk_ids)
    tail = np.asarray(ref_tail_logmass, dtype=np.float64)
    if zt.ndim != 2 or lp.ndim != 2 or ids.shape != lp.shape or lp.shape[0] != zt.shape[0] or tail.shape != (zt.shape[0],):
        raise ValueError(f"reference of shapes {lp.shape} (log-probabilities), {ids.shape} (ids), {tail.shape} (tail) "
                         f"and test logits of shape {zt.shape}: expected (n, K), (n, K), (n,) and (n, V)")
    n, v = zt.shape
    stored = lp.shape[1]
    if ids.dtype.kind not in "iu" or (ids.size and (ids.min() < 0 or ids.max() >= v)):
        raise ValueError(f"reference ids must be integer class indices in [0, {v})")
    if (targets is None) != (ref_target_logprobs is None):
        raise ValueError("give both targets and ref_target_logprobs, or neither")
    kk = stored if top_k is None else min(int(top_k), stored)
    _check_top_k(kk)
    ids = ids.astype(np.int64)
    # Largest first, ties to the lower id, whatever order the file kept.
    order = np.lexsort((ids, -lp), axis=-1)
    lp, ids = np.take_along_axis(lp, order, axis=1), np.take_along_axis(ids, order, axis=1)

    zt64 = _float64(zt)
    _, _, logpt, pt = _log_softmax_parts(zt64)
    masked_t = zt64 == -np.inf

    # The K + 1 outcomes: the stored classes, then the rest.
    logp2 = np.concatenate([lp, tail[:, None]], axis=1)
    logq2 = np.concatenate([np.take_along_axis(logpt, ids, axis=1), _log_rest(logpt, ids)[:, None]], axis=1)
    with np.errstate(invalid="ignore", over="ignore"):  # -inf - -inf for outcomes both sides lack: handled by the masks
        d2 = logp2 - logq2
    p_masked, q_masked = logp2 == -np.inf, logq2 == -np.inf
    out: dict[str, np.ndarray] = {"kl_lower_bound": np.sum(kl_logit_terms(np.exp(logp2), logq2, d2, p_masked, q_masked), axis=-1)}

    key_t = _key(zt, zt64)
    out["top1_base"] = ids[:, 0].copy()
    out["top1_test"] = np.argmax(key_t, axis=1).astype(np.int64)
    out["same_top1"] = (out["top1_base"] == out["top1_test"]).astype(np.float64)
    ids_t = _topk_ids(key_t, min(kk, v))
    out["topk_overlap"] = _overlap(ids[:, :kk], ids_t)
    out["entropy_test"] = _entropy(pt, logpt, masked_t)
    if targets is not None:
        k = _targets(targets, n, v)
        lpk = np.asarray(ref_target_logprobs, dtype=np.float64)
        if lpk.shape != (n,):
            raise ValueError(f"ref_target_logprobs of shape {lpk.shape}: expected ({n},)")
        _target_columns(out, k, lpk, logpt[np.arange(n), k], out["top1_base"], out["top1_test"], ids[:, :kk], ids_t)
    return out
