r"""The Taylor series of the fast kernel's per-class terms where ``|d| = |log p - log q|`` is small.

Each statistic's term of a class is ``p`` times a function of ``d`` alone; below
:data:`SMALL_D` their closed forms cancel, and :mod:`.fast` takes these series instead,
exact to float64 rounding. The coefficients are computed exactly (fractions) at import.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = ["SMALL_D", "SMALL_UD", "PHI_C", "JSD2_C", "bernoulli", "small_d_coefficients", "truncated", "horner"]


def bernoulli(m: int) -> list[Fraction]:
    """Bernoulli numbers ``B_0 .. B_m`` (Akiyama–Tanigawa; ``B_1 = +1/2``, the even ones as usual)."""
    a, out = [Fraction(0)] * (m + 1), []
    for i in range(m + 1):
        a[i] = Fraction(1, i + 1)
        for j in range(i, 0, -1):
            a[j - 1] = j * (a[j - 1] - a[j])
        out.append(a[0])
    return out


def small_d_coefficients(degree: int) -> tuple[list[Fraction], list[Fraction], list[Fraction]]:
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
    b = bernoulli(degree)
    g = [Fraction(0)] * (degree + 1)
    for m in range(1, degree // 2 + 1):
        g[2 * m] = Fraction(4**m * (4**m - 1)) * b[2 * m] / fact(2 * m) * Fraction(2 * m - 1, 2 * m) / 4**m
    a = [Fraction(1)] + [Fraction((-1) ** j, 2 * fact(j)) for j in range(1, degree + 1)]
    jsd = [sum((a[n - i] * g[i] for i in range(2, n + 1)), Fraction(0)) for n in range(2, degree + 1)]
    return phi, rev, jsd


#: Below this ``|d|`` the three terms come from their Taylor series (:func:`small_d_coefficients`):
#: the closed forms cancel there (``expm1(-d) + d`` loses about ``log2(2/|d|)`` bits, 6 at 1/32,
#: the JSD form about 2 bits more), the series are exact to float64 rounding.
SMALL_D = 2.0**-5


def truncated(coeffs: list[Fraction], abs_max: float) -> list[float]:
    """``coeffs`` as floats, cut after the last term above ``2**-56`` of the first at ``|d| = abs_max``."""
    floor = abs(coeffs[0]) * Fraction(2) ** -56
    keep = [j for j in range(len(coeffs)) if abs(coeffs[j]) * Fraction(abs_max) ** j >= floor]
    return [float(c) for c in coeffs[: max(keep) + 1]]


#: The series of ``φ`` and ``2J`` for ``|d| < SMALL_D``, Horner order (``c[j]`` multiplies ``d^{j+2}``).
PHI_C = truncated(small_d_coefficients(16)[0], SMALL_D)
JSD2_C = truncated([2 * c for c in small_d_coefficients(16)[2]], SMALL_D)
#: The mask of the series is ``u·D < SMALL_UD`` (``u·D = D·expm1(D)`` grows with ``|D|`` on both sides):
#: the smaller of its two values at ``|d| = SMALL_D``, so every masked ``|d|`` is below ``SMALL_D``.
SMALL_UD = min(SMALL_D * math.expm1(SMALL_D), -SMALL_D * math.expm1(-SMALL_D))


def horner(coeffs: list[float], x: np.ndarray, x2: np.ndarray) -> np.ndarray:
    acc = np.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc *= x
        acc += c
    acc *= x2
    return acc
