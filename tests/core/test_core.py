"""The NumPy core against independent references: mpmath, hand derivations, PyTorch's numbers,
finite differences, and properties that must hold for any input."""

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.conftest import BAD_ROWS, spoil
from xentcli import core

mp.mp.dps = 50


def mp_log_softmax(row):
    lse = mp.log(mp.fsum(mp.exp(mp.mpf(float(v))) for v in row))
    return [mp.mpf(float(v)) - lse for v in row]


def rel_err(actual, exact):
    exact = mp.mpf(exact)
    return float(abs((mp.mpf(float(actual)) - exact) / exact)) if exact != 0 else abs(float(actual))


# -- softmax / log-sum-exp ------------------------------------------------------


def test_log_softmax_and_logsumexp_against_mpmath():
    rng = np.random.default_rng(0)
    for scale in (1.0, 30.0, 700.0):
        z = rng.normal(scale=scale, size=(8, 6))
        ls = core.log_softmax(z)
        lse = core.logsumexp(z)
        for i in range(len(z)):
            exact = mp_log_softmax(z[i])
            for j in range(z.shape[1]):
                assert rel_err(ls[i, j], exact[j]) < 1e-13
            exact_lse = mp.log(mp.fsum(mp.exp(mp.mpf(float(v))) for v in z[i]))
            assert rel_err(lse[i], exact_lse) < 1e-15


@pytest.mark.parametrize("row", [[0.0, -16.0], [0.0, 0.0, -30.0], [5.0, -20.0, -21.0, 5.0 - 1e-9], [0.0, -40.0]])
def test_dominant_class_keeps_full_relative_accuracy(row):
    # log q of the top class is about -exp(-16): log(1 + t) would keep only 1e-9 of it.
    exact = mp_log_softmax(row)
    got = core.log_softmax(row)
    for j in range(len(row)):
        assert rel_err(got[j], exact[j]) < 1e-14
    k = int(np.argmax(row))
    assert rel_err(core.cross_entropy([row], np.array([k]))[0], -exact[k]) < 1e-14


def test_softmax_extremes_are_exact():
    np.testing.assert_array_equal(core.softmax([1000.0, 0.0, 0.0]), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(core.softmax([-1e300, 1e300]), [0.0, 1.0])
    # float32 near its maximum is computed in float64: no overflow.
    z32 = np.array([[3e38, -3e38, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(core.softmax(z32), [[1.0, 0.0, 0.0]])
    assert core.log_softmax([0.0, -1000.0])[1] == -1000.0 - math.log1p(math.exp(-1000.0))


def test_masked_class_has_probability_zero():
    p = core.softmax([0.0, -np.inf, 0.0])
    np.testing.assert_array_equal(p, [0.5, 0.0, 0.5])
    assert core.log_softmax([0.0, -np.inf])[1] == -np.inf
    assert core.logsumexp([-np.inf, -np.inf]) == -np.inf


def test_temperature_divides_logits():
    z = np.array([[2.0, -1.0, 0.5]])
    np.testing.assert_allclose(core.softmax(z, temperature=2.0), core.softmax(z / 2.0), rtol=0, atol=0)
    with pytest.raises(ValueError, match="temperature"):
        core.softmax(z, temperature=0.0)


finite_rows = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
    elements=st.floats(-50, 50, allow_nan=False),
)


@settings(max_examples=150, deadline=None)
@given(finite_rows, st.floats(-100, 100))
def test_softmax_rows_sum_to_one_and_shift_invariant(z, shift):
    p = core.softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(core.log_softmax(z + shift), core.log_softmax(z), atol=1e-12)


# -- cross-entropy: hand derivations ----------------------------------------------


def test_uniform_logits_give_log_c_and_weighted_mean_denominator():
    # Every class has p = 1/2, so each per-sample loss is w_k · log 2 (hand derivation).
    z = np.zeros((3, 2))
    y = np.array([0, 1, -100])
    w = np.array([1.0, 3.0])
    per = core.cross_entropy(z, y, weights=w, ignore_index=-100)
    np.testing.assert_allclose(per, [math.log(2), 3 * math.log(2), 0.0], rtol=1e-15)
    d = core.cross_entropy_denominator(y, weights=w, ignore_index=-100)
    assert d == 4.0  # w_0 + w_1; the ignored sample counts for nothing
    assert core.reduce(per, "mean", denominator=d) == pytest.approx(math.log(2), rel=1e-15)


def test_distribution_labels_mean_divides_by_n_even_with_weights():
    z = np.zeros((2, 2))
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert core.cross_entropy_denominator(y, weights=[5.0, 7.0]) == 2.0
    per = core.cross_entropy(z, y, weights=[5.0, 7.0])
    np.testing.assert_allclose(per, [5 * math.log(2), 7 * math.log(2)], rtol=1e-15)


def test_label_smoothing_by_hand():
    # z = (0, log 3): q = (1/4, 3/4). Index label 1 with ε = 0.2 and C = 2:
    # loss = 0.8·(-log 3/4) + 0.1·(-log 1/4 - log 3/4)
    z = np.array([[0.0, math.log(3.0)]])
    expected = 0.8 * -math.log(0.75) + 0.1 * (-math.log(0.25) - math.log(0.75))
    assert core.cross_entropy(z, np.array([1]), label_smoothing=0.2)[0] == pytest.approx(expected, rel=1e-15)


def test_index_labels_equal_one_hot_labels():
    rng = np.random.default_rng(1)
    z = rng.normal(scale=4, size=(20, 7))
    k = rng.integers(0, 7, size=20)
    one_hot = np.eye(7)[k]
    for kw in ({}, {"weights": rng.uniform(0.1, 2, 7)}, {"label_smoothing": 0.3}, {"temperature": 0.4}):
        np.testing.assert_allclose(core.cross_entropy(z, k, **kw), core.cross_entropy(z, one_hot, **kw), rtol=1e-14)


def test_smoothing_equals_manually_smoothed_targets():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5, 4))
    y = rng.dirichlet(np.ones(4), size=5)
    eps = 0.25
    np.testing.assert_allclose(
        core.cross_entropy(z, y, label_smoothing=eps), core.cross_entropy(z, (1 - eps) * y + eps / 4), rtol=1e-14
    )


def test_masked_classes_and_zero_log_zero():
    z = np.array([[0.0, -np.inf, 1.0]])
    # Soft label 0 on the masked class: 0·log 0 = 0, same as dropping the class.
    y = np.array([[0.3, 0.0, 0.7]])
    np.testing.assert_allclose(core.cross_entropy(z, y), core.cross_entropy(z[:, [0, 2]], y[:, [0, 2]]), rtol=1e-15)
    assert core.cross_entropy(z, np.array([1]))[0] == np.inf  # the target itself is masked
    assert np.isfinite(core.cross_entropy(z, np.array([2]))[0])
    # A zero probability where the label is 0 contributes nothing.
    assert core.cross_entropy_with_probs([[0.0, 1.0]], [[0.0, 1.0]])[0] == 0.0


def test_cross_entropy_at_extreme_logits_is_finite_and_exact():
    assert core.cross_entropy([[1e300, 0.0]], np.array([1]))[0] == 1e300
    assert core.cross_entropy([[1e4, -1e4]], np.array([1]))[0] == 2e4
    z32 = np.array([[3e38, -3e38]], dtype=np.float32)
    assert core.cross_entropy(z32, np.array([1]))[0] == pytest.approx(6e38, rel=1e-7)


def test_cross_entropy_against_mpmath():
    rng = np.random.default_rng(3)
    z = rng.normal(scale=10, size=(6, 5))
    y = rng.dirichlet(np.ones(5), size=6)
    k = rng.integers(0, 5, size=6)
    soft, hard = core.cross_entropy(z, y), core.cross_entropy(z, k)
    for i in range(6):
        ls = mp_log_softmax(z[i])
        assert rel_err(soft[i], -mp.fsum(mp.mpf(float(y[i, j])) * ls[j] for j in range(5))) < 1e-13
        assert rel_err(hard[i], -ls[k[i]]) < 1e-13


def _wide_rows():
    """Rows of >= 32 classes, which index-label CE sums in one pass: each case names what it probes."""
    rng = np.random.default_rng(11)
    base = rng.normal(scale=3, size=64)
    rows = {
        "model-like float32": (rng.normal(scale=3, size=1000).astype(np.float32), 17),
        "peaky LM row": (rng.normal(scale=12, size=200), 5),
        "target dominant (log1p redo)": (np.r_[40.0, base[1:]], 0),
        "target near-dominant": (np.r_[9.0, base[1:]], 0),
        "other class dominant": (np.r_[40.0, base[1:]], 3),
        "exp overflows (redo)": (base + 705.0, 2),
        # Σ exp(z) at float64's bottom, made of subnormal terms that each lost digits (1.5e-12 off unless redone).
        "subnormal terms matter (redo)": (np.r_[-709.0, -723.5 + rng.uniform(-0.5, 0.5, size=4000)], 0),
        "all terms below float64's range": (base - 760.0, 2),
        "masked classes": (np.where(np.arange(64) % 3 == 0, -np.inf, base), 1),
        "float32 near its max": (np.r_[np.float32(3e38), np.zeros(40, np.float32)], 7),
        "ties at the max": (np.r_[5.0, 5.0, base[2:]], 1),
    }
    return rows


@pytest.mark.parametrize("name", list(_wide_rows()))
def test_one_pass_target_log_probs_against_mpmath(name):
    row, k = _wide_rows()[name]
    exact = -mp_log_softmax(row)[k]
    got = core.cross_entropy(row[None, :], np.array([k]))[0]
    assert rel_err(got, exact) < 1e-12, (got, exact)
    # The same through the shifted form (T = 1 as a float that is not 1.0 would change nothing).
    assert rel_err(core.target_log_probs(row[None, :], np.array([k]))[0], -exact) < 1e-12


def test_masked_target_in_a_wide_row_costs_inf():
    row = np.zeros((1, 50))
    row[0, 4] = -np.inf
    assert core.cross_entropy(row, np.array([4]))[0] == np.inf
    assert core.cross_entropy(row, np.array([3]))[0] == pytest.approx(math.log(49), rel=1e-15)


@pytest.mark.parametrize("classes", [3, 40])  # the shifted path and the one-pass path
@pytest.mark.parametrize("bad", BAD_ROWS)
def test_rows_that_are_no_distribution_give_nan_and_only_they(classes, bad):
    z = np.zeros((4, classes))
    z[1, -1] = -np.inf  # valid: a masked class
    z[3, 0] = -np.inf  # valid, and row 3's target is masked: inf, not nan
    spoil(z, 2, bad)
    k = np.array([0, 0, 0, 0])
    picked = core.target_log_probs(z, k)
    assert np.isnan(picked).tolist() == [False, False, True, False]
    assert picked[3] == -np.inf
    # Ignored or weighted 0, a bad row still shows as nan (so it can be caught afterwards) ...
    assert np.isnan(core.cross_entropy(z, np.array([0, 0, -100, 0]), ignore_index=-100)[2])
    w = np.ones(classes)
    w[0] = 0.0
    per = core.cross_entropy(z, k, weights=w)
    assert np.isnan(per[2])
    # ... while a good row keeps 0 * inf = 0.
    assert per[3] == 0.0
    assert core.picks_target_log_probs(k) and not core.picks_target_log_probs(k, label_smoothing=0.1)


def test_base_and_perplexity():
    assert core.log_base(2) == math.log(2)
    assert core.in_base(np.array([math.log(8.0)]), 2)[0] == pytest.approx(3.0, rel=1e-15)
    # exp(log 4) is 0.42 ulp below 4.0 exactly: an exp a fraction of an ulp off (another CPU's) rounds the other way
    assert core.perplexity(math.log(4.0)) == pytest.approx(4.0, rel=1e-15)
    assert core.perplexity(1e6) == math.inf
    for bad in (1, 0, -2, float("inf")):
        with pytest.raises(ValueError, match="base"):
            core.log_base(bad)


# -- PyTorch's own numbers --------------------------------------------------------


def test_against_pytorch_reference(torch_cases):
    for case in torch_cases:
        z = np.array(case["logits"])
        y = np.array(case["labels"], dtype=np.int64 if case["index"] else np.float64)
        kw = dict(weights=case["weights"], ignore_index=case["ignore_index"], label_smoothing=case["label_smoothing"])
        per = core.cross_entropy(z, y, temperature=case["temperature"], **kw)
        red = case["reduction"]
        d = core.cross_entropy_denominator(y, weights=case["weights"], ignore_index=case["ignore_index"])
        got = core.reduce(per, red, denominator=d)
        np.testing.assert_allclose(got, case["loss"], rtol=1e-12, atol=1e-300, err_msg=str({**kw, "red": red}))
        g = core.cross_entropy_grad(z, y, temperature=case["temperature"], reduction=red, **kw)
        np.testing.assert_allclose(g, case["grad"], rtol=1e-12, atol=1e-15)


# -- gradients against finite differences -----------------------------------------


@pytest.mark.parametrize("index", [True, False])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradient_matches_central_differences(index, reduction):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(4, 5))
    y = rng.integers(0, 5, size=4) if index else rng.dirichlet(np.ones(5), size=4)
    kw = dict(weights=rng.uniform(0.5, 2, 5), label_smoothing=0.1, temperature=1.3)
    if index:
        y[1] = -1
        kw["ignore_index"] = -1
    d = core.cross_entropy_denominator(y, weights=kw["weights"], ignore_index=kw.get("ignore_index"))

    def loss(x):
        return core.reduce(core.cross_entropy(x, y, **kw), reduction, denominator=d)

    h = 1e-6
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        numeric[idx] = (loss(z + e) - loss(z - e)) / (2 * h)
    np.testing.assert_allclose(core.cross_entropy_grad(z, y, reduction=reduction, **kw), numeric, atol=1e-8)


# -- properties --------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(finite_rows, st.data())
def test_cross_entropy_properties(z, data):
    n, c = z.shape
    k = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    per = core.cross_entropy(z, k)
    assert np.all(per >= 0)
    # CE = H(y) + KL(y‖q) >= H(y); for one-hot targets H = 0, so CE >= 0 with equality only if q_k = 1.
    np.testing.assert_allclose(per, core.cross_entropy(z, np.eye(c)[k]), rtol=1e-13, atol=1e-13)
    shift = data.draw(st.floats(-100, 100))
    np.testing.assert_allclose(core.cross_entropy(z + shift, k), per, atol=1e-11)


def test_errors_are_precise_value_errors():
    with pytest.raises(ValueError, match="out of range for 3 classes"):
        core.cross_entropy(np.zeros((1, 3)), np.array([3]))
    with pytest.raises(ValueError, match="label_smoothing"):
        core.cross_entropy(np.zeros((1, 3)), np.array([0]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="one weight per class"):
        core.cross_entropy(np.zeros((1, 3)), np.array([0]), weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="class-index labels only"):
        core.cross_entropy(np.zeros((1, 2)), np.array([[1.0, 0.0]]), ignore_index=0)
    with pytest.raises(core.RowError) as e:
        core.check_logits(np.array([[0.0, 1.0], [np.nan, 0.0]]))
    assert e.value.row == 1 and "row 2" in str(e.value)
    with pytest.raises(core.RowError, match="every logit is -inf"):
        core.check_logits(np.array([[-np.inf, -np.inf]]))
    with pytest.raises(core.RowError, match="sum to 1.1"):
        core.check_probabilities(np.array([[0.5, 0.5], [0.6, 0.5]]))


def test_interpret_labels_shape_rule():
    assert core.interpret_labels([[1, 0, 0]], (1, 3)).dtype == np.float64
    assert core.interpret_labels([1, 0, 0], (1, 3)).shape == (1, 3)  # 1-D of length C, one row
    assert core.interpret_labels([2, 0, 1], (3, 3)).tolist() == [2, 0, 1]  # N = C: indices
    assert core.interpret_labels([[2], [0]], (2, 3)).tolist() == [2, 0]
    assert core.interpret_labels(np.zeros((2, 5)), (2, 5, 7)).shape == (2, 5)
    with pytest.raises(core.RowError, match=r"shape \(4,\).*shape \(2, 3\)"):
        core.interpret_labels([0, 1, 2, 0], (2, 3))
    with pytest.raises(core.RowError, match="not an integer class index"):
        core.interpret_labels([0.5, 1.0], (2, 3))
