"""Summaries of per-token columns (xentcli/core/summary.py).

Expected values are the formulas written out here (llama.cpp's running-sum
forms from tools/perplexity/perplexity.cpp, function kl_divergence) or derived
by hand; never the code under test.
"""

import math

import numpy as np
import pytest

from xentcli.core import summary
from xentcli.core.summary import block_bootstrap, block_bootstraps, mean_se, percentiles, ratio_stats, rms_se, share_se


def llama_mean_and_uncertainty(x):
    """perplexity.cpp: ``f = sum/count; df = sum2/count - f*f; sqrt(df/(count-1))`` (without its count > 10 cut)."""
    n = len(x)
    f = math.fsum(x) / n
    df = math.fsum(v * v for v in x) / n - f * f
    return f, math.sqrt(df / (n - 1))


def llama_covariance(a, b):
    """perplexity.cpp: ``var = sumab/count - (suma/count)*(sumb/count); var /= count - 1``."""
    n = len(a)
    return (math.fsum(x * y for x, y in zip(a, b)) / n - (math.fsum(a) / n) * (math.fsum(b) / n)) / (n - 1)


def test_mean_se_is_llama_cpp_mean_and_uncertainty():
    x = np.random.default_rng(0).gamma(2.0, 1.5, 1000)
    mean, se = mean_se(x)
    f, df = llama_mean_and_uncertainty(x.tolist())
    assert mean == pytest.approx(f, rel=1e-14) and se == pytest.approx(df, rel=1e-10)


def test_mean_se_by_hand_and_small_n():
    assert mean_se([2.0, 4.0]) == (3.0, 1.0)  # std(ddof=1) = √2, / √2
    m, se = mean_se([5.0])
    assert m == 5.0 and math.isnan(se)
    assert all(math.isnan(v) for v in mean_se([]))
    m, se = mean_se([1.0, np.inf])  # a token of infinite KL: the mean is inf, no SE, no warning
    assert m == math.inf and math.isnan(se)


def test_percentiles_are_numpy_linear_interpolation():
    x = np.random.default_rng(1).normal(size=1001)
    got = percentiles(x)
    s = np.sort(x)
    for q in (0.1, 1, 5, 10, 50, 90, 95, 99, 99.9):
        pos = q / 100 * (len(x) - 1)
        i = int(math.floor(pos))
        expected = s[i] + (s[min(i + 1, len(s) - 1)] - s[i]) * (pos - i)
        assert got[f"p{q:g}"] == pytest.approx(expected, rel=1e-14, abs=1e-15), q
    assert got["min"] == s[0] and got["max"] == s[-1]
    assert list(got) == ["min", "p0.1", "p1", "p5", "p10", "p50", "p90", "p95", "p99", "p99.9", "max"]


def test_percentiles_with_infinities_and_empty():
    got = percentiles([0.0, 1.0, 2.0, np.inf, np.inf])
    assert got["p50"] == 2.0 and got["p90"] == math.inf and got["max"] == math.inf and got["p1"] == 0.04
    got = percentiles([-np.inf, 0.0, 1.0])
    assert got["p10"] == -math.inf and got["p50"] == 0.0
    assert all(math.isnan(v) for v in percentiles([]).values())


def test_ratio_stats_are_llama_cpp_formulas():
    rng = np.random.default_rng(2)
    b = rng.gamma(2.0, 1.0, 500)
    t = b + rng.normal(0.05, 0.2, 500)
    r = ratio_stats(b, t)
    fb, sb = llama_mean_and_uncertainty(b.tolist())
    ft, st = llama_mean_and_uncertainty(t.tolist())
    cov = llama_covariance(t.tolist(), b.tolist())
    # perplexity.cpp: log_ppl_ratio_unc = sqrt(log_ppl.second^2 + log_ppl_base.second^2 - 2.0*log_ppl_cov)
    ln_ratio, ln_unc = ft - fb, math.sqrt(st * st + sb * sb - 2 * cov)
    assert r["ln_ppl_ratio"][0] == pytest.approx(ln_ratio, rel=1e-12)
    assert r["ln_ppl_ratio"][1] == pytest.approx(ln_unc, rel=1e-9)
    assert r["ppl_ratio"] == pytest.approx((math.exp(ln_ratio), math.exp(ln_ratio) * ln_unc), rel=1e-9)
    assert r["ppl_base"] == pytest.approx((math.exp(fb), math.exp(fb) * sb), rel=1e-10)
    assert r["ppl_test"] == pytest.approx((math.exp(ft), math.exp(ft) * st), rel=1e-10)
    # ppl_cov = ppl_val * ppl_base_val * log_ppl_cov; ppl_diff_unc = sqrt(ppl_unc^2 + ppl_base_unc^2 - 2.0*ppl_cov)
    pt, pb = math.exp(ft), math.exp(fb)
    diff_unc = math.sqrt((pt * st) ** 2 + (pb * sb) ** 2 - 2 * pt * pb * cov)
    assert r["delta_ppl"] == pytest.approx((pt - pb, diff_unc), rel=1e-9)
    # log_ppl_cor = log_ppl_cov / (log_ppl.second*log_ppl_base.second): Pearson's r
    assert r["nll_correlation"] == pytest.approx(cov / (st * sb), rel=1e-9)
    assert r["nll_correlation"] == pytest.approx(np.corrcoef(b, t)[0, 1], rel=1e-12)
    assert r["nll_covariance"] == pytest.approx(cov, rel=1e-9)


def test_ratio_stats_by_hand():
    # b = (1, 3), t = (2, 3): d = (1, 0), mean 1/2, SE = std(ddof=1)/√2 = (1/√2)/√2 = 1/2.
    r = ratio_stats([1.0, 3.0], [2.0, 3.0])
    assert r["ln_ppl_ratio"] == (0.5, 0.5)
    assert r["ppl_ratio"][0] == pytest.approx(math.exp(0.5), rel=1e-15)
    assert r["ppl_base"][0] == pytest.approx(math.exp(2.0), rel=1e-15)
    # cov(t, b) = ((1)(-1)·... ) : b - b̄ = (-1, 1), t - t̄ = (-1/2, 1/2): Σ = 1, /(n-1) = 1, /n = 1/2
    assert r["nll_covariance"] == 0.5 and r["nll_correlation"] == pytest.approx(1.0, rel=1e-15)
    with pytest.raises(ValueError):
        ratio_stats([1.0], [1.0, 2.0])


def test_rms_se_is_llama_cpp_rms():
    d = np.random.default_rng(3).normal(0.01, 0.05, 800)
    rms, se = rms_se(d)
    # p_diff_mse = mean_and_uncertainty(sum_p_diff2, sum_p_diff4); rms = sqrt; unc = 0.5/rms * mse_unc
    f, df = llama_mean_and_uncertainty((d * d).tolist())
    assert rms == pytest.approx(math.sqrt(f), rel=1e-14) and se == pytest.approx(0.5 / math.sqrt(f) * df, rel=1e-9)
    assert rms_se([0.0, 0.0, 0.0]) == (0.0, 0.0)


def test_share_se_by_hand():
    assert share_se([1.0, 0.0]) == (0.5, 0.5)  # √(0.25/1)
    assert share_se([1.0] * 10) == (1.0, 0.0)
    m, se = share_se([1.0])
    assert m == 1.0 and math.isnan(se)


def test_bootstrap_is_deterministic_and_seeded():
    rng = np.random.default_rng(4)
    x = rng.normal(size=2000)
    groups = np.repeat(np.arange(100), 20)
    stat = lambda m: m["x"]  # noqa: E731
    a = block_bootstrap({"x": x}, groups, stat, n_boot=300, seed=7)
    assert a == block_bootstrap({"x": x}, groups, stat, n_boot=300, seed=7)
    assert a != block_bootstrap({"x": x}, groups, stat, n_boot=300, seed=8)
    assert a[0] < x.mean() < a[1]


def test_bootstrap_constant_groups_and_weighting():
    # Every group has the same mean: every resample's mean is that value, whatever the group sizes.
    x = np.array([1.0, 3.0, 2.0, 2.0, 2.0, 0.0, 4.0])
    groups = np.array([5, 5, 9, 9, 9, 2, 2])
    lo, hi = block_bootstrap({"x": x}, groups, lambda m: m["x"], n_boot=50, seed=0)
    assert lo == pytest.approx(2.0, rel=1e-15) and hi == pytest.approx(2.0, rel=1e-15)


def test_bootstrap_statistic_of_several_columns():
    rng = np.random.default_rng(5)
    b = rng.gamma(2.0, 1.0, 3000)
    t = b + 0.1 + rng.normal(0, 0.3, 3000)
    groups = np.repeat(np.arange(150), 20)
    lo, hi = block_bootstrap({"nll_base": b, "nll_test": t}, groups,
                             lambda m: np.exp(m["nll_test"] - m["nll_base"]), n_boot=500, seed=1)
    assert lo < math.exp(np.mean(t - b)) < hi


def test_bootstrap_coverage_of_clustered_data():
    # Tokens correlated within sequences (a shared sequence effect): the block bootstrap's 95% interval
    # should hold the true mean (0) in about 95% of simulations; a per-token bootstrap would not.
    rng = np.random.default_rng(6)
    n_groups, size, hits, sims = 40, 25, 0, 200
    groups = np.repeat(np.arange(n_groups), size)
    for i in range(sims):
        x = np.repeat(rng.normal(0, 1, n_groups), size) + rng.normal(0, 1, n_groups * size)
        lo, hi = block_bootstrap({"x": x}, groups, lambda m: m["x"], n_boot=400, seed=i)
        hits += lo <= 0.0 <= hi
    assert 0.85 <= hits / sims <= 1.0, hits


def test_bootstrap_of_nothing_is_nan_mismatched_blocks_refused():
    assert all(math.isnan(v) for v in block_bootstrap({"x": np.array([])}, np.array([], int), lambda m: m["x"]))
    with pytest.raises(ValueError):
        block_bootstrap({"x": np.ones(3)}, np.zeros(4, int), lambda m: m["x"])


# ------------------------------------------------------------------------------------------------
# block_bootstrap: the exact resample means, the same bits on every CPU and in any chunks
# ------------------------------------------------------------------------------------------------

def exact_bootstrap(columns, groups, statistic, *, n_boot, seed, level=0.95):
    """The definition in float64 with exactly rounded sums (math.fsum): each resample draws G of the
    G groups (NumPy's multinomial, the documented draw), its mean is Σ w·S / Σ w·N over the groups
    drawn, and the interval is NumPy's linear percentiles of the statistic."""
    g = np.asarray(groups).reshape(-1)
    cols = {name: np.asarray(c, dtype=np.float64).reshape(-1) for name, c in columns.items()}
    ids = sorted(set(g.tolist()))
    sizes = np.array([np.count_nonzero(g == i) for i in ids])
    sums = {name: np.array([math.fsum(c[g == i]) for i in ids]) for name, c in cols.items()}
    draws = np.random.default_rng(seed).multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=n_boot)
    values = []
    for w in draws:
        drawn = w > 0  # a group not drawn is not in the resample (its sum may be inf)
        means = {name: np.array([math.fsum((w[drawn] * v[drawn]).tolist()) / int(w @ sizes)])
                 for name, v in sums.items()}
        values.append(float(statistic(means)[0]))
    return tuple(linear_percentile(values, 50.0 * (1.0 + sign * level)) for sign in (-1, 1))


def linear_percentile(values, q):
    """NumPy's default rule: the sorted values interpolated at q/100·(n - 1); towards +inf it is +inf."""
    s = sorted(values)
    pos = q / 100 * (len(s) - 1)
    i = int(math.floor(pos))
    if pos == i or s[i] == s[i + 1]:
        return s[i]
    return math.inf if s[i + 1] == math.inf else s[i] + (s[i + 1] - s[i]) * (pos - i)


def reference_cases():
    r = np.random.default_rng(2024)
    x = r.normal(size=1000)
    y = r.gamma(0.5, size=5000)
    b, t = r.normal(3, 1, size=777), r.normal(3.1, 1, size=777)
    g = np.repeat(r.permutation(40) * 7 - 50, r.multinomial(777, np.full(40, 1 / 40)))  # uneven, unordered ids
    z = r.exponential(size=600)
    z[17] = np.inf
    s = (r.random(2000) < 0.7).astype(np.float64)
    one = lambda m: m["x"]  # noqa: E731
    diff = lambda m: m["nll_test"] - m["nll_base"]  # noqa: E731
    return [
        ("blocks_of_3", {"x": x}, np.arange(1000) // 3, one, dict(n_boot=500, seed=0)),
        ("each_token", {"x": y}, np.arange(5000), one, dict(n_boot=300, seed=5)),
        ("two_columns_uneven", {"nll_base": b, "nll_test": t}, g, diff, dict(n_boot=1234, seed=99, level=0.9)),
        ("with_inf", {"x": z}, np.arange(600) // 10, one, dict(n_boot=400, seed=3)),
        ("shares", {"x": s}, np.arange(2000) // 4, one, dict(n_boot=2000, seed=11)),
        ("one_group", {"x": x[:50]}, np.zeros(50, int), one, dict(n_boot=100, seed=1)),
        ("n_boot_1", {"x": x}, np.arange(1000) // 5, one, dict(n_boot=1, seed=2)),
        ("n_boot_2", {"x": x}, np.arange(1000) // 5, one, dict(n_boot=2, seed=2)),
    ]


def same_bits(a, b):
    return all(math.isnan(u) and math.isnan(v) or u == v for u, v in zip(a, b))


def test_bootstrap_equals_exact_resample_means_within_1e_12():
    """The intervals are the exactly summed resample means' to 1e-12 relative (the sums are rounded
    pairwise). Recorded bits are not the reference: a BLAS product gave other bits on other CPUs."""
    for name, cols, groups, stat, kw in reference_cases():
        got = block_bootstrap(cols, groups, stat, **kw)
        want = exact_bootstrap(cols, groups, stat, **kw)
        assert all(u == v or math.isclose(u, v, rel_tol=1e-12, abs_tol=1e-15) for u, v in zip(got, want)), \
            (name, got, want)


def test_bootstrap_with_an_infinite_token_is_finite_where_its_sequence_is_not_drawn():
    """A group left out of a resample adds nothing to it (not 0·inf = NaN to every resample)."""
    x = np.zeros(40)
    x[0] = np.inf
    lo, hi = block_bootstrap({"x": x}, np.arange(40) // 4, lambda m: m["x"], n_boot=200, seed=0)
    assert lo == 0.0 and hi == math.inf


@pytest.mark.parametrize("chunk", [64 * 5000, 8 * 5000, 24 * 5000 + 7, 8 * 334 + 5, 1])
def test_bootstrap_in_chunks_equals_one_chunk_bit_for_bit(monkeypatch, chunk):
    """Whole or in chunks of resamples (the last chunk a short one, or one resample a chunk): the
    same bits, as each resample's sum is reduced alone in an order fixed by the number of groups."""
    whole = {name: block_bootstrap(cols, groups, stat, **kw) for name, cols, groups, stat, kw in reference_cases()}
    monkeypatch.setattr(summary, "_CHUNK_DRAWS", chunk)
    for name, cols, groups, stat, kw in reference_cases():
        assert same_bits(block_bootstrap(cols, groups, stat, **kw), whole[name]), name


BOOTSTRAP_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from test_summary import reference_cases
from xentcli.core.summary import block_bootstrap
for name, cols, groups, stat, kw in reference_cases():
    print(name, *(v.hex() for v in block_bootstrap(cols, groups, stat, **kw)))
"""


def test_bootstrap_bits_do_not_depend_on_the_cpu_or_blas():
    """Deterministic for a seed on every machine (the README's test command failed on an AMD EPYC:
    OpenBLAS's dgemv summed in another order there). Other CPUs emulated: OpenBLAS forced onto its
    oldest x86 kernel or one thread, NumPy's dispatched SIMD code turned off."""
    import os
    import subprocess
    import sys

    from numpy._core import _multiarray_umath

    here = os.path.dirname(os.path.abspath(__file__))
    runs = [{}, {"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1", "XENT_THREADS": "1"},
            {"NPY_DISABLE_CPU_FEATURES": " ".join(f for f in _multiarray_umath.__cpu_dispatch__
                                                  if _multiarray_umath.__cpu_features__.get(f)),
             "XENT_THREADS": "2"}]
    outputs = [subprocess.run([sys.executable, "-c", BOOTSTRAP_SCRIPT, here], env={**os.environ, **extra},
                              capture_output=True, text=True, check=True).stdout for extra in runs]
    assert outputs[0].count("\n") == len(reference_cases())
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]


def test_bootstrap_chunks_draw_the_same_numbers():
    """Row chunks of Generator.multinomial continue one stream: the same counts as one draw."""
    p = np.full(1000, 1e-3)
    whole = np.random.default_rng(3).multinomial(1000, p, size=50)
    rng = np.random.default_rng(3)
    parts = np.concatenate([rng.multinomial(1000, p, size=k) for k in (8, 16, 1, 25)])
    assert np.array_equal(whole, parts)


def test_bootstraps_share_the_resamples_of_single_calls():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=900), rng.exponential(size=900)
    groups = np.arange(900) // 3
    jobs = [({"x": x}, lambda m: m["x"]), ({"y": y}, lambda m: m["y"]),
            ({"a": x, "b": y}, lambda m: m["a"] / m["b"])]
    many = block_bootstraps(jobs, groups, n_boot=700, seed=4, level=0.8)
    assert many == [block_bootstrap(c, groups, f, n_boot=700, seed=4, level=0.8) for c, f in jobs]
    empty = block_bootstraps([({"x": np.array([])}, lambda m: m["x"])] * 2, np.array([], int))
    assert len(empty) == 2 and all(math.isnan(v) for pair in empty for v in pair)


def test_bootstrap_memory_is_bounded():
    """200k groups (each token its own) × 100 resamples: the one-call draw would hold 2·8·2e7 bytes,
    320 MB; in chunks the peak stays under 64 MB (the chunk's counts and their float copy, 32 MB,
    and the O(G) group sums)."""
    import tracemalloc

    n = 200_000
    x = np.random.default_rng(9).normal(size=n)
    groups = np.arange(n)
    tracemalloc.start()
    try:
        lo, hi = block_bootstrap({"x": x}, groups, lambda m: m["x"], n_boot=100, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, peak
    assert lo < x.mean() < hi
