"""xent mse and xent grad --loss mse: PyTorch's MSELoss and autograd, finite differences, mpmath, the CLI."""

import json
import math

import mpmath
import numpy as np
import pytest

from xentcli import core


def as_json(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def csv_matrix(rows) -> str:
    return ";".join(",".join(repr(float(v)) for v in row) for row in rows) + ";"  # always 2-D


def labels_arg(case) -> str:
    if case["index"]:
        return ";".join(str(k) for k in case["labels"]) + ";"  # one index per row, an N×1 column
    return csv_matrix(case["labels"])


def mse_args(case):
    args = ["--labels", labels_arg(case), "--reduction", case["reduction"], "--format", "json"]
    if case["through"]:
        args += ["--logits", csv_matrix(case["x"]), "--through", case["through"]]
    else:
        args += ["--preds", csv_matrix(case["x"])]
    return args + (["--half"] if case["half"] else [])


def targets(case) -> np.ndarray:
    return np.asarray(case["labels"]) if case["index"] else np.asarray(case["labels"], dtype=np.float64)


@pytest.fixture(scope="module")
def mse_cases(reference):
    return reference["mse"]


# -- against PyTorch ---------------------------------------------------------------------------


def half_mean_scale(case) -> int:
    """The recorded ``half`` cases are ½·MSELoss: its mean is over the N·C entries, where the document's
    ½·(1/m)·Σ divides by the m samples, C times less: the recorded mean times C."""
    return np.shape(case["x"])[1] if case["half"] and case["reduction"] == "mean" else 1


def test_mse_values_against_pytorch_mseloss(xent, mse_cases):
    assert {(c["through"], c["reduction"], c["half"], c["index"]) for c in mse_cases} == {
        (t, r, h, i) for t in ("softmax", "sigmoid", None) for r in ("mean", "sum", "none")
        for h in (False, True) for i in (False, True)}
    for case in mse_cases:
        doc = as_json(xent("mse", *mse_args(case)))
        got = doc["per_sample"] if case["reduction"] == "none" else doc[case["reduction"]]
        np.testing.assert_allclose(got, np.asarray(case["loss"]) * half_mean_scale(case), rtol=1e-12, atol=1e-300,
                                   err_msg=str(case))
        n, c = np.shape(case["x"])
        denominator = n if case["half"] else n * c
        assert doc["n"] == n and doc["denominator"] == denominator and doc["half"] is case["half"]
        assert doc["mean"] == pytest.approx(doc["sum"] / denominator, rel=1e-15)


def test_grad_mse_against_pytorch_autograd(xent, mse_cases):
    for case in mse_cases:
        if case["through"] is None:  # the gradient with respect to the predictions: the core's mse_grad
            n, c = np.shape(case["x"])
            g = core.mse_grad(case["x"], targets(case))
            g = g * (0.5 if case["half"] else 1.0) / (n * c if case["reduction"] == "mean" else 1)
            np.testing.assert_allclose(g, np.asarray(case["grad"]), rtol=1e-12, atol=1e-15)
            continue
        args = ["grad", "--loss", "mse", "--through", case["through"], "--logits", csv_matrix(case["x"]),
                "--labels", labels_arg(case), "--reduction", case["reduction"], "--format", "json", "--check"]
        doc = as_json(xent(*args + (["--half"] if case["half"] else [])))
        assert list(doc) == ["command", "shape", "loss", "through", "half", "reduction", "grad", "max_abs_diff"]
        np.testing.assert_allclose(doc["grad"], np.asarray(case["grad"]) * half_mean_scale(case), rtol=1e-11,
                                   atol=1e-15, err_msg=str(case))
        assert doc["max_abs_diff"] <= 1e-8


def test_core_functions_against_pytorch(mse_cases):
    for case in mse_cases:
        y = targets(case)
        if case["through"]:
            per = core.mse_with_logits(case["x"], y, through=case["through"])
            g = core.mse_grad_with_logits(case["x"], y, through=case["through"])
        else:
            per, g = core.mean_squared_error(case["x"], y), core.mse_grad(case["x"], y)
        n, c = np.shape(case["x"])
        half = 0.5 if case["half"] else 1.0
        expected = {"none": per, "sum": per.sum(), "mean": per.sum() / core.mse_denominator(n, c)}[case["reduction"]]
        np.testing.assert_allclose(half * np.asarray(expected), case["loss"], rtol=1e-12)
        scale = half / (n * c) if case["reduction"] == "mean" else half
        np.testing.assert_allclose(g * scale, case["grad"], rtol=1e-11, atol=1e-15)


# -- finite differences, saturation, exactness ---------------------------------------------------


@pytest.mark.parametrize("through", ["softmax", "sigmoid"])
def test_gradient_matches_central_differences(through):
    rng = np.random.default_rng(7)
    z = rng.normal(scale=4.0, size=(6, 5))
    y = rng.dirichlet(np.ones(5), size=6) if through == "softmax" else rng.random((6, 5))
    for t in (y, rng.integers(0, 5, size=6)):
        numeric = core.central_differences(lambda zz: core.mse_with_logits(zz, t, through=through), z)
        np.testing.assert_allclose(core.mse_grad_with_logits(z, t, through=through), numeric, atol=1e-9)


def test_masked_and_infinite_logits_get_zero_gradient(xent):
    g = core.mse_grad_with_logits([[-np.inf, 0.0, 1.0]], np.array([1]))
    assert g[0, 0] == 0.0 and np.isfinite(g).all()
    assert core.mse_with_logits([[-np.inf, 0.0]], [[1.0, 0.0]])[0] == 2.0  # p = (0, 1): both entries off by 1
    g = core.mse_grad_with_logits([[np.inf, -np.inf]], [[0.0, 0.0]], through="sigmoid")
    assert g.tolist() == [[0.0, 0.0]]
    doc = as_json(xent("grad", "--loss", "mse", "--through", "sigmoid", "--logits", "inf,-inf", "--labels", "0,0",
                       "--format", "json", "--check"))
    assert doc["grad"] == [[0.0], [0.0]] and doc["max_abs_diff"] == 0.0  # a 1-D input: two samples


def test_saturated_wrong_sigmoid_vanishes_for_mse_not_for_ce(xent):
    """z = 5, y = 0: MSE's gradient 2σ(z)·σ(z)σ(-z) ≈ 0.013, BCE's σ(z) - y ≈ 0.99."""
    s, s_ = 1 / (1 + math.exp(-5)), 1 / (1 + math.exp(5))
    mse = as_json(xent("grad", "--loss", "mse", "--through", "sigmoid", "--logits", "5", "--labels", "0",
                       "--format", "json", "--check"))
    bce = as_json(xent("grad", "--loss", "bce", "--logits", "5", "--labels", "0", "--format", "json", "--check"))
    assert mse["grad"][0][0] == pytest.approx(2 * s * s * s_, rel=1e-14)
    assert bce["grad"][0][0] == pytest.approx(s, rel=1e-15)
    assert 0.01 < mse["grad"][0][0] < 0.02 and bce["grad"][0][0] > 0.99
    assert mse["max_abs_diff"] < 1e-9 and bce["max_abs_diff"] < 1e-9
    # Further out MSE's gradient keeps vanishing (but stays exact), CE's stays 1.
    far = as_json(xent("grad", "--loss", "mse", "--through", "sigmoid", "--logits", "20", "--labels", "0",
                       "--format", "json"))
    assert far["grad"][0][0] == pytest.approx(2 / (1 + math.exp(-20)) ** 2 / (1 + math.exp(20)), rel=1e-14)
    r = xent("grad", "--loss", "mse", "--through", "sigmoid", "--logits", "5", "--labels", "0", "--format", "table")
    assert r.exit_code == 0 and "0.013207124" in r.stdout and "2(σ(z) - y)·σ(z)(1 - σ(z))" in r.stdout


def _mp_sigmoid(z):
    return 1 / (1 + mpmath.exp(-z))


@pytest.mark.parametrize("z,y", [(40.0, 1.0), (-40.0, 0.0), (30.0, 0.25), (-35.0, 1.0), (12.0, 1.0), (0.3, 0.7)])
def test_sigmoid_exact_at_saturation_against_mpmath(z, y):
    mpmath.mp.dps = 50
    p = _mp_sigmoid(mpmath.mpf(z))
    loss, grad = (p - y) ** 2, 2 * (p - y) * p * (1 - p)
    assert core.mse_with_logits([[z]], [[y]], through="sigmoid")[0] == pytest.approx(float(loss), rel=1e-13)
    assert core.mse_grad_with_logits([[z]], [[y]], through="sigmoid")[0, 0] == pytest.approx(float(grad), rel=1e-13)


@pytest.mark.parametrize("z,y", [([30.0, 0.0, -5.0], [1.0, 0.0, 0.0]), ([12.0, 1.0, 2.0], [0.9, 0.1, 0.0]),
                                 ([0.5, -1.0, 2.0, 0.0], [0.0, 0.0, 1.0, 0.0]), ([25.0, -np.inf], [1.0, 0.0])])
def test_softmax_exact_when_one_class_dominates_against_mpmath(z, y):
    mpmath.mp.dps = 50
    e = [mpmath.exp(mpmath.mpf(v)) if np.isfinite(v) else mpmath.mpf(0) for v in z]
    p = [v / sum(e) for v in e]
    g = [2 * (pc - yc) for pc, yc in zip(p, y)]
    s = sum(pc * gc for pc, gc in zip(p, g))
    loss = sum((pc - yc) ** 2 for pc, yc in zip(p, y))
    grad = [pc * (gc - s) for pc, gc in zip(p, g)]
    assert core.mse_with_logits([z], [y])[0] == pytest.approx(float(loss), rel=1e-13)
    np.testing.assert_allclose(core.mse_grad_with_logits([z], [y])[0], [float(v) for v in grad], rtol=1e-13, atol=0)


# -- labels ----------------------------------------------------------------------------------


def test_class_indices_and_names_stand_for_one_hot_rows(xent, tmp_path):
    logits = "2,1,0;0,1,3;1,1,1"
    (tmp_path / "names.csv").write_text("cat\nman\ndog\n")
    one_hot = as_json(xent("mse", "--labels", "1,0,0;0,0,1;0,1,0", "--logits", logits, "--through", "softmax",
                           "--reduction", "none", "--format", "json"))
    for labels, extra in (("0,2,1", []), ("0;2;1", []), (tmp_path / "names.csv", ["--classes", "cat,dog,man"])):
        doc = as_json(xent("mse", "--labels", labels, "--logits", logits, "--through", "softmax",
                           "--reduction", "none", "--format", "json", *extra))
        assert doc == one_hot
    g1 = xent("grad", "--loss", "mse", "--through", "sigmoid", "--labels", "0,2,1", "--logits", logits).stdout
    g2 = xent("grad", "--loss", "mse", "--through", "sigmoid", "--labels", "1,0,0;0,0,1;0,1,0",
              "--logits", logits).stdout
    assert g1 == g2 and g1.count("\n") == 3


def test_preds_and_targets_are_any_finite_numbers_one_output_per_sample(xent):
    """Regression outputs: one column, m samples; --half --reduction mean is ½·(1/m)·Σ (ŷ - y)²."""
    preds, y = [0.2, 0.9, 3.0], [0.0, 1.0, -1.0]
    doc = as_json(xent("mse", "--preds", "0.2;0.9;3", "--labels", "0;1;-1", "--half", "--format", "json"))
    assert doc["mean"] == pytest.approx(0.5 * sum((p - t) ** 2 for p, t in zip(preds, y)) / 3, rel=1e-15)
    assert doc["denominator"] == 3.0
    # Brier score of probabilities, as given (no activation): 0.3² + 0.2² + 0.1² = 0.14
    brier = xent("mse", "--preds", "0.7,0.2,0.1", "--labels", "1,0,0", "--reduction", "sum")
    assert float(brier.stdout) == pytest.approx(0.14)


# -- output forms ------------------------------------------------------------------------------


def test_json_csv_and_table(xent):
    base = ["mse", "--labels", "0,2", "--logits", "2,1,0;0,1,3", "--through", "softmax"]
    doc = as_json(xent(*base, "--format", "json"))
    assert list(doc) == ["command", "n", "reduction", "half", "mean", "sum", "denominator"]
    assert doc["command"] == "mse" and doc["n"] == 2 and doc["denominator"] == 6.0
    none = as_json(xent(*base, "--reduction", "none", "--format", "json"))
    assert list(none)[-1] == "per_sample" and len(none["per_sample"]) == 2
    assert sum(none["per_sample"]) == pytest.approx(doc["sum"], rel=1e-15)
    assert float(xent(*base).stdout) == doc["mean"]  # csv on a pipe: round-trip digits
    assert xent(*base, "--reduction", "sum", "--header").stdout.splitlines()[0] == "sum"
    lines = xent(*base, "--reduction", "none", "--format", "tsv", "--header").stdout.splitlines()
    assert lines[0] == "loss" and [float(v) for v in lines[1:]] == none["per_sample"]
    half = as_json(xent(*base, "--half", "--reduction", "none", "--format", "json"))
    assert half["half"] is True and half["per_sample"] == [v / 2 for v in none["per_sample"]]
    table = xent(*base, "--format", "table", "--half").stdout
    for text in ("½·squared error", "(through softmax)", "denominator", "2 (m samples)", "every value × ½",
                 "0.66524096"):
        assert text in table
    r = xent("grad", "--loss", "mse", "--through", "softmax", "--labels", "0,2", "--logits", "2,1,0;0,1,3", "--check")
    assert r.exit_code == 0 and r.stderr.startswith("max_abs_diff: ") and len(r.stdout.splitlines()) == 2


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args,code,message", [
    (["mse", "--labels", "1,0", "--logits", "1,2"], 2, "--logits needs --through"),
    (["mse", "--labels", "1,0", "--preds", "1,2", "--through", "sigmoid"], 2, "--preds are predictions already"),
    (["mse", "--labels", "1,0", "--preds", "1,2", "--logits", "1,2", "--through", "sigmoid"], 2, "not both"),
    (["mse", "--labels", "1,0"], 2, "missing --preds"),
    (["mse", "--labels", "1,0", "--preds", "1,2", "--base", "2"], 2, "--base does not apply to mse"),
    (["mse", "--labels", "1,0", "--preds", "1,2", "--through", "tanh"], 2, "'tanh' is not one of"),
    (["mse", "--labels", "1,0;0,nan", "--preds", "1,2;3,4"], 1, "row 2, class 2: target nan is not a finite number"),
    (["mse", "--labels", "1,0;0,1", "--preds", "1,2;inf,4"], 1, "--preds inline value: row 2, class 1: prediction inf"),
    (["mse", "--labels", "1,0;0,1", "--preds", "1,2;nan,4"], 1, "row 2, class 1"),
    (["mse", "--labels", "1,0,1", "--preds", "1,2;3,4"], 1, "shape"),
    (["mse", "--labels", "0,5", "--logits", "1,2;3,4", "--through", "softmax"], 1, "5"),
    (["mse", "--labels", "0,1", "--logits", "1,nan;3,4", "--through", "softmax"], 1, "row 1, class 2"),
    (["grad", "--loss", "mse", "--labels", "0", "--logits", "1,2"], 2, "give --through softmax or --through sigmoid"),
    (["grad", "--loss", "mse", "--through", "softmax", "--labels", "0", "--logits", "1,2", "--temperature", "2"], 2,
     "--temperature does not apply to --loss mse"),
    (["grad", "--loss", "mse", "--through", "sigmoid", "--labels", "0", "--logits", "1,2", "--pos-weight", "1,1"], 2,
     "--pos-weight does not apply to --loss mse"),
    (["grad", "--loss", "bce", "--labels", "0,1", "--logits", "1,2", "--through", "sigmoid", "--half"], 2,
     "--through, --half do not apply to --loss bce"),
    (["grad", "--loss", "mse", "--through", "sigmoid", "--labels", "0,1;1,inf", "--logits", "1,2;3,4"], 1,
     "row 2, class 2: target inf"),
])
def test_errors_are_located_with_exit_codes_and_no_output(xent, args, code, message):
    r = xent(*args)
    assert r.exit_code == code, r.stderr
    assert r.stderr.startswith("Error: ") and message in r.stderr, r.stderr
    assert r.stdout == ""


def test_help_and_command_list(xent):
    assert "mse" in xent("--help").stdout
    r = xent("mse", "--help")
    assert r.exit_code == 0 and "torch.nn.MSELoss" in r.stdout and "--half" in r.stdout and "--base" not in r.stdout


def test_overflowing_squared_error_is_inf_with_a_located_warning(xent):
    # (1e200)² = 1e400 is past float64's largest (1.8e308): inf, said once with the row and the count.
    r = xent("mse", "--preds", "0,0;1e200,0;0,-1e200", "--labels", "0,0;0,0;0,0", "--reduction", "none",
             "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["per_sample"] == [0.0, "inf", "inf"]
    assert "row 2: the value is inf because the squared error overflows float64; 2 samples in all" in r.stderr


def test_half_is_the_documents_mean_over_samples_not_half_of_pytorchs_mean_over_entries(xent):
    """Two samples of three outputs: per-sample Σ(ŷ - y)² = 0.09 + 0.04 + 0.01 = 0.14 and
    0.01 + 0.04 + 0.01 = 0.06; the document's (1/2m)·Σ = 0.20 / 4 = 0.05, where halving
    MSELoss's mean over the 6 entries gives 0.20 / 12."""
    args = ["mse", "--labels", "1,0,0;0,1,0", "--preds", "0.7,0.2,0.1;0.1,0.8,0.1", "--half", "--format", "json"]
    doc = as_json(xent(*args))
    assert doc["mean"] == pytest.approx(0.05, rel=1e-12) and doc["denominator"] == 2.0
    assert doc["sum"] == pytest.approx(0.10, rel=1e-12)
    assert as_json(xent(*args, "--reduction", "none"))["per_sample"] == pytest.approx([0.07, 0.03], rel=1e-12)
    # grad --half: the gradient of (1/2m)·Σ, here through a sigmoid: (σ(z) - y)·σ(z)(1 - σ(z)) / m, by hand
    z, y = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]]), np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    s = 1 / (1 + np.exp(-z))
    g = as_json(xent("grad", "--loss", "mse", "--through", "sigmoid", "--half", "--labels", "1,0,0;0,1,0",
                     "--logits", "0.5,-1,2;1.5,0,-0.5", "--format", "json", "--check"))
    np.testing.assert_allclose(g["grad"], (s - y) * s * (1 - s) / 2, rtol=1e-12)
    assert g["max_abs_diff"] < 1e-8
