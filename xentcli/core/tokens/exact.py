r"""The exact kernel of :func:`~xentcli.core.tokens.token_stats`: every term by its exact formula.

It handles what the fast kernel (:mod:`.fast`) hands back: masked classes (``-inf`` logits),
non-finite rows, extreme ratios. ``d_c = log p_c - log q_c`` as
:func:`~xentcli.core.divergence.logit_log_ratio`.
"""

from __future__ import annotations

import numpy as np

from ..divergence import kl_logit_terms, logit_log_ratio
from .rows import LN2, float64, log_softmax_parts, rank_key, ranks, row_entropy

__all__ = ["jsd_g", "reverse_kl_terms", "tv_terms", "token_stats_exact"]


def jsd_g(h: np.ndarray) -> np.ndarray:
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
        g[far] = (LN2 - np.log1p(r)) - 2.0 * a * r / (1.0 + r)
    return np.maximum(g, 0.0, out=g)


def reverse_kl_terms(p, q, d, forward, p_masked, q_masked) -> np.ndarray:
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
    with np.errstate(over="ignore", invalid="ignore"):  # exp of d < -709, inf·0 of masked classes: set below
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


def tv_terms(p, q, d, p_masked, q_masked) -> np.ndarray:
    r"""``|p - q|`` per class, the terms of the total variation distance ``½Σ|p - q|``.

    ``p·|expm1(-d)|`` for ``d >= -1`` (``q = p·e^{-d}``: exact to a few ulp where ``p ≈ q``), ``q - p``
    itself below (``q > e·p``: no cancellation, and ``e^{-d}`` may overflow there); a class one side
    masks gives the other's mass.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # exp of d < -709, inf·0 of masked classes: set below
        t = np.negative(d)
        np.expm1(t, out=t)
        np.abs(t, out=t)
        t *= p
        below = d < -1.0
        if below.any():
            t[below] = q[below] - p[below]
    masked = p_masked | q_masked
    if masked.any():
        np.copyto(t, np.abs(p - q), where=masked)
    return t


def token_stats_exact(zb, zt, k, kk) -> dict[str, np.ndarray]:
    """The element-by-element kernel: every term by its exact formula (masks, extreme rows): the fast
    kernel's fallback."""
    zb64, zt64 = float64(zb), float64(zt)

    mb, sb, logpb, pb = log_softmax_parts(zb64)
    mt, st, logpt, pt = log_softmax_parts(zt64)
    # Two kinds of mask, as the one divided by is less forgiving: a probability of exactly 0 (a -inf logit, or
    # one far enough below the maximum that float64 has no smaller number) adds the other side's share, a
    # log-probability of -inf (a -inf logit, or a distance to the maximum that overflows) makes a divergence
    # that divides by it infinite.
    zero_b, zero_t = pb == 0.0, pt == 0.0
    gone_b, gone_t = logpb == -np.inf, logpt == -np.inf

    d = logit_log_ratio(zb64, zt64, mb, sb, mt, st)
    out: dict[str, np.ndarray] = {}
    forward = kl_logit_terms(pb, logpt, d, zero_b, gone_t)
    out["kl"] = np.sum(forward, axis=-1)
    out["kl_reverse"] = np.sum(reverse_kl_terms(pb, pt, d, forward, gone_b, zero_t), axis=-1)
    del forward
    out["tvd"] = 0.5 * np.sum(tv_terms(pb, pt, d, zero_b, zero_t), axis=-1)
    d *= 0.5  # h = d/2
    terms = jsd_g(d)
    with np.errstate(invalid="ignore"):  # NaN·0 of classes masked in both: zeroed below
        terms *= pb + pt
    both = zero_b & zero_t
    if both.any():
        np.copyto(terms, 0.0, where=both)
    out["jsd"] = np.sum(terms, axis=-1) * (0.5 / LN2)
    del d, terms
    out["entropy_base"] = row_entropy(pb, logpb, zero_b)
    out["entropy_test"] = row_entropy(pt, logpt, zero_t)

    ranks(out, rank_key(zb, zb64), rank_key(zt, zt64), kk, k, logpb, logpt)
    return out
