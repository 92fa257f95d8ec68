r"""Summaries of per-token columns (float64 vectors of length ``n``): means with standard errors, percentiles,
bootstrap.

The standard errors are llama.cpp's (``tools/perplexity/perplexity.cpp``,
function ``kl_divergence``: the lambdas ``mean_and_uncertainty`` and
``covariance`` and the statistics printed after them), written as the
textbook formulas they equal:

* ``mean_and_uncertainty(sum, sum2, n)``: ``sqrt((sum2/n - f²)/(n - 1))`` =
  ``std(x, ddof=1)/√n`` (the population variance over ``n - 1`` is the sample
  variance over ``n``). llama.cpp reports 0 for ``n <= 10``; here it is the
  formula's value for ``n >= 2`` and NaN below (the caller prints null).
* ``covariance(a, b, ab, n)``: ``(ab/n - ā·b̄)/(n - 1)`` = ``cov(a, b, ddof=1)/n``,
  the covariance of the two means.

Non-finite values (a token with ``KL = inf``) give an ``inf`` or NaN mean and
a NaN standard error, without warnings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["mean_se", "percentiles", "ratio_stats", "rms_se", "share_se", "block_bootstrap", "block_bootstraps",
           "PERCENTILES"]

#: The percentiles :func:`percentiles` reports, besides ``min`` and ``max`` (llama.cpp's KLD list).
PERCENTILES = (0.1, 1.0, 5.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9)


def _vector(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1)


def mean_se(x) -> tuple[float, float]:
    r"""``(mean, standard error of the mean)``: ``x̄`` and ``std(x, ddof=1)/√n``.

    llama.cpp's ``mean_and_uncertainty`` (perplexity.cpp, ``kl_divergence``),
    equal to ``sqrt((Σx²/n - x̄²)/(n - 1))``; computed here from the deviations,
    which does not cancel when ``x̄`` is large.

    Args:
      x: ``n`` values.

    Returns:
      two floats; NaN standard error for ``n < 2`` (and NaN mean for ``n = 0``).

    >>> mean_se([1.0, 2.0, 3.0, 4.0])  # std = √(5/3), / √4
    (2.5, 0.6454972243679028)
    """
    x = _vector(x)
    n = x.size
    if n == 0:
        return math.nan, math.nan
    with np.errstate(invalid="ignore", over="ignore"):  # inf tokens: inf - inf, inf²: the SE is NaN
        mean = float(np.mean(x))
        se = float(np.std(x, ddof=1) / math.sqrt(n)) if n >= 2 else math.nan
    if not math.isfinite(mean):
        se = math.nan
    return mean, se


def percentiles(x) -> dict[str, float]:
    r"""``min``, ``p0.1``, ``p1``, ``p5``, ``p10``, ``p50``, ``p90``, ``p95``, ``p99``, ``p99.9``, ``max`` of ``x``.

    NumPy's default (``method='linear'``) percentiles: at ``q``, the sorted
    values interpolated at position ``q/100·(n - 1)`` (llama.cpp's ``percentile``
    lambda in ``kl_divergence`` is the same rule, in float32). Where an
    interpolation touches ``±inf`` (tokens of infinite KL), the result is that
    infinity, not NaN.

    Args:
      x: ``n >= 1`` values (``n = 0``: all NaN).

    >>> percentiles(np.arange(101.0))["p99.9"]  # 99.9/100·100 = 99.9
    99.9
    >>> percentiles([0.0, 1.0, np.inf])["p50"], percentiles([0.0, 1.0, np.inf])["p99"]
    (1.0, inf)
    """
    x = _vector(x)
    keys = ["min", *(f"p{q:g}" for q in PERCENTILES), "max"]
    if x.size == 0:
        return dict.fromkeys(keys, math.nan)
    return {key: float(v) for key, v in zip(keys, _linear_percentiles(x, [0.0, *PERCENTILES, 100.0]))}


def _linear_percentiles(x: np.ndarray, qs) -> np.ndarray:
    """NumPy's linear percentiles of ``x`` at ``qs``, with an interpolation that touches ``±inf`` giving that
    infinity."""
    qs = np.asarray(qs, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf while interpolating between infinities: fixed below
        values = np.percentile(x, qs)
    if np.isnan(values).any() and not np.isnan(x).any():
        s = np.sort(x)
        pos = qs / 100.0 * (x.size - 1)
        i, j = np.floor(pos).astype(np.intp), np.ceil(pos).astype(np.intp)
        lo, hi = s[i], s[j]
        # At a data point, that point (NumPy computes a + (b - a)·0 = inf·0 there); strictly between
        # two points, interpolating from -inf gives -inf and towards +inf gives +inf.
        fixed = np.where(i == j, lo, np.where(lo == -np.inf, -np.inf, np.where(hi == np.inf, np.inf, np.nan)))
        values = np.where(np.isnan(values), fixed, values)
    return values


def _cov_of_means(a: np.ndarray, b: np.ndarray) -> float:
    """``cov(a, b, ddof=1)/n``: llama.cpp's ``covariance`` lambda (NaN for ``n < 2``)."""
    n = a.size
    if n < 2:
        return math.nan
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite NLLs: NaN
        # NumPy's pairwise sum, not np.dot: BLAS's order of summation, hence the last bits, varies by CPU
        return float(np.sum((a - a.mean()) * (b - b.mean())) / (n - 1) / n)


def ratio_stats(nll_base, nll_test) -> dict[str, object]:
    r"""Perplexity statistics of two models over the same tokens, paired, as llama.cpp's ``kl_divergence`` prints them.

    With per-token NLLs ``b`` (base), ``t`` (test), ``n`` tokens, ``SE`` as
    :func:`mean_se` and ``cov = cov(t, b, ddof=1)/n`` (the ``covariance`` lambda):

    * ``ln_ppl_ratio = mean(t - b)`` ± ``SE(t - b)``; llama.cpp writes the SE as
      ``sqrt(SE_t² + SE_b² - 2·cov)``, the same number, computed here from the
      differences (no cancellation when the models are close).
    * ``ppl_ratio = exp(ln_ppl_ratio)`` ± ``ppl_ratio·SE`` (first order).
    * ``ppl_base = exp(b̄)`` ± ``ppl_base·SE_b``, ``ppl_test`` likewise.
    * ``delta_ppl = ppl_test - ppl_base`` ±
      ``sqrt(SE(ppl_t)² + SE(ppl_b)² - 2·ppl_t·ppl_b·cov)`` (``ppl_cov = ppl_val * ppl_base_val * log_ppl_cov``).
    * ``nll_correlation = cov/(SE_t·SE_b)``: Pearson's r of the per-token NLLs
      (llama.cpp's ``Cor(ln(PPL(Q)), ln(PPL(base)))``); ``nll_covariance = cov``.

    Returns:
      dict: ``(value, se)`` tuples for ``ln_ppl_ratio``, ``ppl_ratio``,
      ``ppl_base``, ``ppl_test``, ``delta_ppl``; floats ``nll_correlation``,
      ``nll_covariance``. SEs NaN for ``n < 2``.

    >>> r = ratio_stats([1.0, 2.0, 3.0], [1.5, 2.5, 3.0])
    >>> r["ln_ppl_ratio"]  # mean(0.5, 0.5, 0) = 1/3, SE = √(1/12)/√3 = 1/6
    (0.3333333333333333, 0.16666666666666669)
    >>> round(r["nll_correlation"], 12)  # Σ(b-b̄)(t-t̄) = 1.5 over √(Σ(b-b̄)²·Σ(t-t̄)²) = √(2·7/6)
    0.981980506062
    """
    b, t = _vector(nll_base), _vector(nll_test)
    if b.shape != t.shape:
        raise ValueError(f"nll_base of shape {b.shape} and nll_test of shape {t.shape} differ")
    with np.errstate(invalid="ignore"):  # inf - inf: NaN
        diff = t - b
    mb, sb = mean_se(b)
    mt, st = mean_se(t)
    md, sd = mean_se(diff)
    cov = _cov_of_means(t, b)
    with np.errstate(over="ignore"):  # a huge mean NLL has perplexity inf
        ppl_b, ppl_t, ratio = (float(np.exp(v)) for v in (mb, mt, md))
    se_pb, se_pt = ppl_b * sb, ppl_t * st
    with np.errstate(invalid="ignore", over="ignore"):
        var = se_pt * se_pt + se_pb * se_pb - 2.0 * ppl_t * ppl_b * cov
        se_delta = math.sqrt(max(var, 0.0)) if math.isfinite(var) else math.nan
        corr = cov / (st * sb) if st > 0 and sb > 0 else math.nan
    return {
        "ln_ppl_ratio": (md, sd),
        "ppl_ratio": (ratio, ratio * sd),
        "ppl_base": (ppl_b, se_pb),
        "ppl_test": (ppl_t, se_pt),
        "delta_ppl": (ppl_t - ppl_b, se_delta),
        "nll_correlation": float(np.clip(corr, -1.0, 1.0)),  # rounding can overshoot ±1 by an ulp
        "nll_covariance": cov,
    }


def rms_se(d) -> tuple[float, float]:
    r"""``(rms, se)``: ``rms = √mean(d²)``, ``se = SE(d²)/(2·rms)`` (first order), llama.cpp's "RMS Δp".

    perplexity.cpp: ``p_diff_mse = mean_and_uncertainty(sum_p_diff2, sum_p_diff4, count)``,
    ``p_diff_rms_unc = 0.5/p_diff_rms_val * p_diff_mse.second``. All ``d = 0``
    gives ``(0.0, 0.0)``.

    >>> rms_se([3.0, -3.0, 3.0, -3.0])
    (3.0, 0.0)
    """
    d = _vector(d)
    with np.errstate(over="ignore"):  # d² of huge values: inf
        ms, se_ms = mean_se(d * d)
    rms = math.sqrt(ms) if ms >= 0 else math.nan
    if rms == 0.0:  # every d is 0
        return 0.0, 0.0
    return rms, se_ms / (2.0 * rms)


def share_se(s) -> tuple[float, float]:
    r"""``(s̄, √(s̄(1 - s̄)/(n - 1)))`` of a 0/1 column: llama.cpp's "Same top p" and its uncertainty.

    perplexity.cpp: ``p_top_unc = sqrt(p_top_val*(1 - p_top_val)/(kld.count - 1))``.
    NaN SE for ``n < 2``.

    >>> share_se([1.0, 1.0, 1.0, 0.0])  # √(0.75·0.25/3)
    (0.75, 0.25)
    """
    s = _vector(s)
    n = s.size
    if n == 0:
        return math.nan, math.nan
    mean = float(np.mean(s))
    return mean, math.sqrt(max(mean * (1.0 - mean), 0.0) / (n - 1)) if n >= 2 else math.nan


#: Multinomial draw counts held at once by :func:`block_bootstrap` (resamples × groups): 2**21 int64
#: counts and as many float64 products, 32 MB, whatever ``n_boot`` and the number of groups (at least
#: one resample's row at a time, so more than 2**21 groups take one row of ``8·G`` bytes twice).
_CHUNK_DRAWS = 2**21


def _weighted_sums(draws: np.ndarray, sums: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``Σ_g draws[r, g]·sums[g]`` for each resample ``r``, in an order fixed by ``G`` alone.

    Each product is one IEEE multiplication, and each row is reduced by NumPy's pairwise sum along
    its contiguous axis (no BLAS ``dgemv``, whose order of summation depends on the CPU's kernel and
    the block split): the same bits on every CPU, whatever the chunk or thread count. A group not
    drawn adds nothing, also when its sum is infinite (0·inf would make every resample NaN).
    """
    np.multiply(draws, sums, out=out)
    if not np.isfinite(sums).all():
        out[draws == 0] = 0.0
    return out.sum(axis=1)


def block_bootstrap(columns: Mapping[str, np.ndarray], groups, statistic: Callable[[dict[str, np.ndarray]], np.ndarray],
                    *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    r"""Percentile confidence interval of ``statistic`` by resampling whole groups (sequences) with replacement.

    Tokens of one sequence are correlated, so the sequences, not the tokens,
    are the independent units (the block bootstrap; Efron & Tibshirani, *An
    Introduction to the Bootstrap*, ch. 13, the percentile interval). One
    resample draws ``G`` groups out of the ``G`` with replacement; each column's
    resampled mean is ``Σ_g w_g·S_g / Σ_g w_g·N_g`` with ``w`` the multinomial
    draw counts, ``S_g`` the group's sum and ``N_g`` its token count — computed
    once, so a resample costs ``O(G)``, not ``O(n)``.

    The resamples are drawn and reduced in chunks of at most :data:`_CHUNK_DRAWS`
    counts (rows of the one ``(n_boot, G)`` multinomial draw, taken from the same
    generator in order, so the same numbers): memory beyond the inputs is
    ``O(G)`` plus 32 MB plus 8 bytes a resample (the statistic values the
    percentiles need), whatever ``n_boot``. Time is ``O(n_boot·G)``.

    Deterministic for a seed on every machine: the sums over groups are taken in
    an order fixed by ``G`` (:func:`_weighted_sums`, no BLAS), so the same columns
    give the same interval bit for bit whatever the CPU, BLAS, thread count or
    chunk size (with the same NumPy, whose generator draws the resamples). A
    group absent from a resample adds nothing to it, also a group of infinite sum.

    Args:
      columns: name → per-token values ``(n,)``.
      groups: an integer group id per token ``(n,)`` (e.g. the row of ``(B, T, V)`` inputs).
      statistic: called with a dict name → resampled means, arrays of shape
        ``(m,)``, for each chunk of ``m`` resamples in turn; returns the statistic
        per resample, shape ``(m,)``: elementwise over resamples
        (``lambda m: m["nll_test"] - m["nll_base"]``).
      n_boot: number of resamples; seed: ``np.random.default_rng(seed)``, so
        the same seed gives the same interval.
      level: the interval's coverage: percentiles ``(1 - level)/2`` and ``(1 + level)/2``.

    Returns:
      ``(lo, hi)`` floats; NaN for no tokens.

    >>> x = np.arange(6.0)
    >>> lo, hi = block_bootstrap({"x": x}, [0, 0, 1, 1, 2, 2], lambda m: m["x"], n_boot=200, seed=1)
    >>> bool(0.5 <= lo <= 2.5 <= hi <= 4.5)
    True
    """
    return block_bootstraps([(columns, statistic)], groups, n_boot=n_boot, seed=seed, level=level)[0]


def block_bootstraps(jobs, groups, *, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> list[tuple[float, float]]:
    r""":func:`block_bootstrap` of several ``(columns, statistic)`` jobs over the same groups and seed.

    Each interval is the one ``block_bootstrap(columns, groups, statistic, n_boot=…, seed=…, level=…)``
    gives, bit for bit: the jobs share the resamples (the same seed draws the same ones), drawn
    once instead of once a job.

    >>> x = np.arange(6.0)
    >>> one = block_bootstraps([({"x": x}, lambda m: m["x"]), ({"y": -x}, lambda m: m["y"])], [0, 0, 1, 1, 2, 2],
    ...                        n_boot=200, seed=1)
    >>> one[0] == block_bootstrap({"x": x}, [0, 0, 1, 1, 2, 2], lambda m: m["x"], n_boot=200, seed=1)
    True
    """
    g = np.asarray(groups).reshape(-1)
    jobs = [({name: _vector(c) for name, c in columns.items()}, statistic) for columns, statistic in jobs]
    if any(c.shape != g.shape for cols, _ in jobs for c in cols.values()):
        raise ValueError(f"every column must have one value per group id ({g.size})")
    if g.size == 0:
        return [(math.nan, math.nan)] * len(jobs)
    _, inverse = np.unique(g, return_inverse=True)
    n_groups = int(inverse.max()) + 1
    counts = np.bincount(inverse, minlength=n_groups)
    sums = [np.stack([np.bincount(inverse, weights=c, minlength=n_groups) for c in cols.values()], axis=1)
            for cols, _ in jobs]
    values = [np.empty(n_boot) for _ in jobs]
    rng = np.random.default_rng(seed)
    pvals = np.full(n_groups, 1.0 / n_groups)
    step = max(1, _CHUNK_DRAWS // n_groups)
    with np.errstate(invalid="ignore", over="ignore"):  # inf sums of inf tokens: inf or NaN means
        for start in range(0, n_boot, step):
            stop = min(start + step, n_boot)
            draws = rng.multinomial(n_groups, pvals, size=stop - start)
            sizes = (draws @ counts).astype(np.float64)  # integers: exact in any order
            products = np.empty(draws.shape)
            for (cols, statistic), job_sums, out in zip(jobs, sums, values):
                means = {name: _weighted_sums(draws, job_sums[:, i], products) / sizes for i, name in enumerate(cols)}
                out[start:stop] = statistic(means)
            del draws, products
    q = [50.0 * (1.0 - level), 50.0 * (1.0 + level)]
    return [tuple(float(v) for v in _linear_percentiles(out, q)) for out in values]
