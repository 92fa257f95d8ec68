"""compare's total variation distance, TVD = ½Σ|p - q| (issue 20: a statistic added as one row of
comparison/columns.py plus its kernel term).

The references are made here, independently of xent: each row's TVD in 50-digit arithmetic (mpmath,
softmax by its definition), then NumPy's mean, standard error and linear percentiles of those.
"""

import json

import mpmath
import numpy as np
import pandas as pd
import pytest

from xentcli.core.tokens import token_stats

PCT = {"min": 0, "p0.1": 0.1, "p1": 1, "p5": 5, "p10": 10, "p50": 50, "p90": 90, "p95": 95, "p99": 99,
       "p99.9": 99.9, "max": 100}


@mpmath.workdps(50)
def tvd_reference(zb, zt) -> np.ndarray:
    """½Σ|softmax(zb) - softmax(zt)| per row, in 50 digits (-inf logits: probability 0)."""
    out = []
    for a, b in zip(zb, zt):
        p = [mpmath.e ** mpmath.mpf(x) if np.isfinite(x) else mpmath.mpf(0) for x in a]
        q = [mpmath.e ** mpmath.mpf(x) if np.isfinite(x) else mpmath.mpf(0) for x in b]
        sp, sq = sum(p), sum(q)
        out.append(float(sum(abs(x / sp - y / sq) for x, y in zip(p, q)) / 2))
    return np.array(out)


def rows(seed, n=40, v=9, scale=0.7):
    rng = np.random.default_rng(seed)
    zb = rng.normal(0, 2, size=(n, v))
    return zb, zb + rng.normal(0, scale, size=(n, v))


def test_tvd_of_plain_rows_against_mpmath():
    zb, zt = rows(1)
    got = token_stats(zb, zt)["tvd"]
    np.testing.assert_allclose(got, tvd_reference(zb, zt), rtol=1e-12, atol=0)


def test_tvd_of_nearly_equal_rows_is_good_to_1e_16_absolute():
    # Each row's normalisation is rounded once (~1e-16), which shifts every log-ratio alike: to first
    # order KL is unmoved by that (Σ p - q = 0), TVD is not, so its relative digits go below ~1e-8.
    zb, zt = rows(4, scale=1e-7)
    got = token_stats(zb, zt)["tvd"]
    np.testing.assert_allclose(got, tvd_reference(zb, zt), rtol=1e-12, atol=1e-15)


def test_tvd_of_masked_and_extreme_rows_against_mpmath():
    # the exact kernel's rows: a class one side masks, both mask, a base class 800 below its maximum
    zb, zt = rows(2, n=6)
    zb[0, 1] = -np.inf
    zt[1, 2] = -np.inf
    zb[2, 3] = zt[2, 3] = -np.inf
    zb[3, 4] = -800.0
    zt[4] = zb[4] + 30.0 * (np.arange(9) == 0)  # q gives class 0 nearly all the mass
    got = token_stats(zb, zt)["tvd"]
    np.testing.assert_allclose(got, tvd_reference(zb, zt), rtol=1e-12, atol=0)
    assert token_stats(np.zeros((1, 4)), np.zeros((1, 4)))["tvd"][0] == 0.0


@pytest.fixture
def inputs(tmp_path):
    zb, zt = rows(3, n=60)
    np.save(tmp_path / "base.npy", zb.reshape(3, 20, 9))
    np.save(tmp_path / "q.npy", zt.reshape(3, 20, 9))
    return tmp_path, tvd_reference(zb, zt)


def test_compare_summarises_tvd_as_a_distribution(xent, inputs):
    d, ref = inputs
    result = xent("compare", "--base", d / "base.npy", "--test", f"q={d / 'q.npy'}", "--format", "json")
    assert result.exit_code == 0, result.output
    tvd = json.loads(result.stdout)["tests"]["q"]["tvd"]
    assert tvd["mean"] == pytest.approx(np.mean(ref), rel=1e-12)
    assert tvd["se"] == pytest.approx(np.std(ref, ddof=1) / np.sqrt(ref.size), rel=1e-10)
    expected = np.percentile(ref, list(PCT.values()))  # linear interpolation, NumPy's default
    assert list(tvd["percentiles"]) == list(PCT)
    np.testing.assert_allclose(list(tvd["percentiles"].values()), expected, rtol=1e-12, atol=0)


def test_compare_shows_tvd_in_the_table_and_per_token(xent, inputs):
    d, ref = inputs
    result = xent("compare", "--base", d / "base.npy", "--test", f"q={d / 'q.npy'}", "--format", "table",
                  "--per-token", d / "tokens.parquet")
    assert result.exit_code == 0, result.output
    assert "TV distance" in result.stdout
    np.testing.assert_allclose(pd.read_parquet(d / "tokens.parquet")["tvd_q"], ref, rtol=1e-12, atol=0)
