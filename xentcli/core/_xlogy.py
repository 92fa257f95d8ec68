"""The two arithmetic conventions every loss here shares."""

from __future__ import annotations

import numpy as np


def mul0(a, b):
    """``a * b`` with ``0 * ±inf = 0`` (``scipy.special.xlogy``'s convention).

    A term whose target weight is 0 contributes nothing, even where its
    log-probability is ``-inf``.
    """
    with np.errstate(invalid="ignore"):  # 0 * inf is nan before the where
        return np.where(np.asarray(a) == 0, 0.0, np.multiply(a, b))


def negate(x):
    """``-x`` but ``0 - 0 = +0``: a perfect prediction's loss prints as ``0.0``, not ``-0.0``."""
    return 0.0 - np.asarray(x)
