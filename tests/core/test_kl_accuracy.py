"""KL divergence where P ≈ Q: the terms cancel, and the answer must still be right (and >= 0).

Every expected value comes from mpmath at 60 digits on the very float64 inputs
given (or SciPy's own published numbers), never from the code under test.
"""

import json
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from xentcli import core

#: The contract for probabilities: within 1e-9 relative or 1e-24 absolute of the exact sum.
REL, ABS = 1e-9, 1e-24

#: SciPy's regression case for rel_entr (scipy/special/tests/test_basic.py,
#: test_rel_entr_gh_20710_near_zero): inputs and `x * mpmath.log(x / y)` at dps=30.
GH_20710 = [
    (0.9456657713430001, 0.9456657713430094, -9.325873406851269e-15),
    (0.48066098564791515, 0.48066098564794774, -3.258504577274724e-14),
    (0.786048657854401, 0.7860486578542367, 1.6431300764454033e-13),
]


@mpmath.workdps(60)  # not mp.dps = 60: that would leak into other test modules
def exact_kl(p, q) -> float:
    """Σ p·ln(p/q) on the given float64 numbers, p = 0 terms 0, in 60-digit arithmetic."""
    total = mpmath.mpf(0)
    for a, b in zip(np.ravel(p).tolist(), np.ravel(q).tolist()):
        if a > 0:
            total += mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / mpmath.mpf(b))
    return total


@mpmath.workdps(60)
def exact_kl_of_logits(zp, zq) -> float:
    """KL(softmax(zp)‖softmax(zq)) of the given logits (-inf masked), in 60-digit arithmetic."""
    ep = [mpmath.exp(mpmath.mpf(z)) if z != -np.inf else mpmath.mpf(0) for z in zp]
    eq = [mpmath.exp(mpmath.mpf(z)) if z != -np.inf else mpmath.mpf(0) for z in zq]
    sp, sq = sum(ep), sum(eq)
    return sum((a / sp) * mpmath.log((a / sp) / (b / sq)) for a, b in zip(ep, eq) if a > 0)


def assert_within_contract(got, exact):
    err = abs(mpmath.mpf(float(got)) - exact)
    assert err <= max(REL * abs(exact), ABS), (float(got), float(exact), float(err))


def dyadic_row(rng, c: int, bits: int = 40) -> np.ndarray:
    """A row of ``c`` positive multiples of 2**-bits summing to exactly 1 (in float64 too)."""
    units = rng.integers(1, 2**20, size=c).astype(np.int64)
    units = units * (2**bits // units.sum())
    units[0] += 2**bits - units.sum()
    row = units.astype(np.float64) * 2.0**-bits
    assert row.sum() == 1.0 and np.all(row > 0) and np.all(units < 2**53)
    return row


# -- from probabilities --------------------------------------------------------------------------

def test_rel_entr_gh_20710_near_zero():
    x, y, expected = (np.array(col) for col in zip(*GH_20710))
    np.testing.assert_allclose(core.rel_entr(x, y), expected, rtol=1e-13, atol=0)


def test_rel_entr_zeros_infs_nan_and_gh_20710_overflow():
    got = core.rel_entr([0.0, 0.0, 0.5, 0.5, np.nan, 1e-300, 4.0], [0.5, 0.0, 0.0, -1.0, 0.5, 1e300, 2.22e-308])
    assert got[:4].tolist() == [0.0, 0.0, np.inf, np.inf] and np.isnan(got[4])
    # Ratios that underflow / overflow (SciPy's test_rel_entr_gh_20710_overflow values).
    np.testing.assert_allclose(got[5:], [float(exact_kl([1e-300], [1e300])), 2839.139983229607], rtol=1e-13)


@pytest.mark.parametrize("x, y, _", GH_20710)
def test_gh_20710_pairs_as_two_class_rows(x, y, _):
    # The rows [x, 1-x] and [y, 1-y]: xent printed -1.7e-17 for the first, exactly 8.46e-28.
    p, q = np.array([x, 1 - x]), np.array([y, 1 - y])
    got = core.kl_divergence(p, q)
    assert got >= 0
    assert_within_contract(got, exact_kl(p, q))
    np.testing.assert_allclose(float(got), float(exact_kl(p, q)), rtol=1e-12)


@pytest.mark.parametrize("c, moves", [(2, 1), (10, 3), (1000, 1), (1000, 400)])
def test_near_equal_dyadic_rows_within_contract(c, moves):
    # Rows summing to exactly 1 that differ by moving ~1e-10 of mass (k·2**-40) between classes;
    # with 400 moves in 1000 classes every term is off by ~1e-8 relative, where even an exact
    # sum of the rounded rel_entr terms would be 1e-7 off.
    rng = np.random.default_rng(c * 1000 + moves)
    rows_p, rows_q = [], []
    for _ in range(3):
        p = dyadic_row(rng, c)
        q = p.copy()
        for _ in range(moves):
            i, j = rng.choice(c, size=2, replace=False)
            mass = int(rng.integers(50, 200)) * 2.0**-40  # 4.5e-11 .. 1.8e-10
            q[i] += mass
            q[j] -= mass
        assert q.sum() == 1.0 and np.all(q > 0)
        rows_p.append(p)
        rows_q.append(q)
    got = core.kl_divergence(np.array(rows_p), np.array(rows_q))
    for g, p, q in zip(got, rows_p, rows_q):
        assert g >= 0
        assert_within_contract(g, exact_kl(p, q))


def test_p_equal_q_is_exactly_zero():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(50, 0.3), size=20)
    p[:, :5] = 0.0
    assert np.all(core.kl_divergence(p, p) == 0.0)
    with np.errstate(divide="ignore"):  # log 0 = -inf: masked classes
        z = np.log(p)
    assert core.kl_divergence_with_logits(z, z).tolist() == [0.0] * 20


def test_zero_and_inf_terms():
    assert float(core.kl_divergence([0.5, 0.5, 0.0], [0.5, 0.25, 0.25])) == pytest.approx(
        float(exact_kl([0.5, 0.5], [0.5, 0.25])), rel=1e-15)
    assert core.kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert core.kl_divergence_of(p=[0.5, 0.5], q_logits=[0.0, -np.inf]) == np.inf


def test_kl_along_another_axis_equals_last_axis():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(6), size=(2, 3))
    q = rng.dirichlet(np.ones(6), size=(2, 3))
    # strided rows may take NumPy's other (scalar or SIMD) log loop, whose last bit differs by CPU
    np.testing.assert_allclose(core.kl_divergence(np.moveaxis(p, -1, 0), np.moveaxis(q, -1, 0), axis=0),
                               core.kl_divergence(p, q), rtol=1e-15, atol=0)
    assert core.kl_divergence(p, q).shape == (2, 3)
    with pytest.raises(core.RowError):
        core.kl_divergence(p, q[..., :5])


# -- from logits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("scale, target", [(4.5e-9, 1e-17), (4.5e-10, 1e-19)])
def test_near_equal_logits_within_1e6_relative(scale, target):
    rng = np.random.default_rng(7)
    zp = rng.normal(0, 3, size=(4, 64))
    zq = zp + scale * rng.normal(size=zp.shape)
    got = core.kl_divergence_with_logits(zp, zq)
    assert np.all(got >= 0)
    for g, a, b in zip(got, zp, zq):
        exact = exact_kl_of_logits(a, b)
        assert target / 10 < exact < target * 10
        assert abs(mpmath.mpf(float(g)) - exact) <= 1e-6 * exact, (g, float(exact))
    # Σ p·(log p - log q) on log-softmax outputs, the old way, has no correct digit here.
    p, logp = core.log_probs_of(logits=zp)
    old = np.sum(p * (logp - core.log_softmax(zq)), axis=-1)
    assert np.max(np.abs(old - got) / got) > 0.1


def test_logits_far_apart_and_overflowing_exponent():
    zp = np.array([[0.0, 3.0, -2.0], [0.0, -800.0, 5.0], [0.0, 800.0, 0.0]])
    zq = np.array([[1.0, -1.0, 0.5], [0.0, 0.0, 0.0], [0.0, -50.0, 0.0]])
    for g, a, b in zip(core.kl_divergence_with_logits(zp, zq), zp, zq):
        assert float(g) == pytest.approx(float(exact_kl_of_logits(a, b)), rel=1e-12)


def test_kl_of_logits_with_minus_inf_classes_exact_inf_or_nan():
    inf = np.inf
    zp = np.array([[0.0, -inf, 1.0, 2.0], [0.0, -inf, 1.0, 2.0], [0.0, 1.0, 1.0, 2.0]])
    zq = np.array([[0.5, -inf, 1.0, 1.5], [0.5, 3.0, 1.0, 1.5], [0.5, -inf, 1.0, 1.5]])
    got = core.kl_divergence_with_logits(zp, zq)
    assert float(got[0]) == pytest.approx(float(exact_kl_of_logits(zp[0], zq[0])), rel=1e-13)
    assert float(got[1]) == pytest.approx(float(exact_kl_of_logits(zp[1], zq[1])), rel=1e-13)
    assert got[2] == np.inf  # Q masks a class P gives probability > 0
    assert np.isnan(core.kl_divergence_with_logits([-inf, -inf], [0.0, 0.0]))  # P is no distribution


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(2, 8)), elements=st.floats(-40, 40)),
       st.floats(0, 1e-6), st.integers(0, 2**32 - 1))
def test_never_negative_from_logits(zp, scale, seed):
    rng = np.random.default_rng(seed)
    for zq in (zp + scale * rng.normal(size=zp.shape), rng.permutation(zp, axis=-1), zp):
        kl = core.kl_divergence_with_logits(zp, zq)
        assert np.all(kl >= 0)


# -- through the command line --------------------------------------------------------------------

def test_cli_json_mean_near_equal_rows(xent):
    # Two rows: the gh-20710 pair, and a dyadic probability with 100·2**-40 moved to the other class.
    x, y, _ = GH_20710[0]
    a = dyadic_row(np.random.default_rng(3), 5)[1]
    b = a + 100 * 2.0**-40
    rows_p, rows_q = [[x, 1 - x], [a, 1 - a]], [[y, 1 - y], [b, 1 - b]]
    matrix = lambda rows: ";".join(",".join(repr(float(v)) for v in row) for row in rows)  # noqa: E731
    r = xent("kl", "--p", matrix(rows_p), "--q", matrix(rows_q), "--format", "json")
    assert r.exit_code == 0, r.stderr
    exact = (exact_kl(rows_p[0], rows_q[0]) + exact_kl(rows_p[1], rows_q[1])) / 2
    mean = json.loads(r.stdout)["mean"]
    assert mean > 0
    assert_within_contract(mean, exact)

    z = np.random.default_rng(4).normal(size=(2, 6))
    zq = z + 1e-9 * np.random.default_rng(5).normal(size=z.shape)
    r = xent("kl", "--p-logits", matrix(z), "--q-logits", matrix(zq), "--format", "json")
    assert r.exit_code == 0, r.stderr
    exact = (exact_kl_of_logits(z[0], zq[0]) + exact_kl_of_logits(z[1], zq[1])) / 2
    assert abs(json.loads(r.stdout)["mean"] - float(exact)) <= 1e-6 * float(exact)


@pytest.mark.parametrize("big", [1e12, 1e14, 3e15, 1e17])
def test_gh_kl_of_logits_whose_maxima_are_far_apart(big):
    # The hostile trial's case: (m_P - m_Q) + (s_P - s_Q) folded into one constant rounded to ulp(big)
    # (KL 0.8333 for 1e17). By hand: P is one-hot on class 0, Q uniform over 6, so KL = log 6, TVD = 5/6.
    from xentcli.core import tokens

    zp, zq = np.array([[big, 0, 0, 0, 0, 0]]), np.zeros((1, 6))
    assert core.kl_divergence_with_logits(zp, zq)[0] == pytest.approx(math.log(6), rel=1e-15)
    stats = tokens.token_stats(zp, zq)
    assert stats["kl"][0] == pytest.approx(math.log(6), rel=1e-15)
    assert stats["tvd"][0] == pytest.approx(5 / 6, rel=1e-15)


def test_gh_logits_a_whole_float64_range_apart_are_a_probability_of_0_not_nan():
    """z - max overflows to -inf for [1e308, -1e308, 0]: P = (1, 0, 0), so KL(P‖uniform) = ln 3, not NaN."""
    zp, zq = np.array([[1e308, -1e308, 0.0]]), np.array([[0.0, 0.0, 0.0]])
    assert core.kl_divergence_with_logits(zp, zq)[0] == pytest.approx(np.log(3.0), rel=1e-15)
    stats = core.token_stats(zp, zq)
    assert stats["kl"][0] == pytest.approx(np.log(3.0), rel=1e-15)
    assert stats["entropy_base"][0] == 0.0 and stats["kl_reverse"][0] == np.inf


@pytest.mark.parametrize("zp, zq", [
    ([1e308, -1e308, 0.0], [1e308, 0.0, -1e308]),  # P's third class is e^-1e308 (0 in float64), Q's -inf
    ([0.0, -1e308], [1e308, -1e308]),
])
def test_gh_a_class_of_probability_0_on_both_sides_adds_nothing(zp, zq):
    """Both distributions are (1, 0, …) in float64: KL 0 both ways, as the exact value rounds, not inf."""
    zp, zq = np.array([zp]), np.array([zq])
    assert core.kl_divergence_with_logits(zp, zq)[0] == 0.0
    stats = core.token_stats(zp, zq)
    assert stats["kl"][0] == 0.0 and stats["kl_reverse"][0] == 0.0 and stats["tvd"][0] == 0.0
