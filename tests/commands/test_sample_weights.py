"""--sample-weights for ce, bce, mse and grad: scikit-learn's sample_weight (Σ w·loss / Σ w), against
scikit-learn, PyTorch autograd and hand derivations; every input form; the errors."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, mean_squared_error

RNG = np.random.default_rng(2024)
N, C = 12, 3
PROBS = RNG.dirichlet(np.ones(C), N)
LABELS = RNG.integers(0, C, N)
W = RNG.uniform(0.0, 3.0, N)


def as_json(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def inline(v) -> str:
    return ",".join(repr(float(x)) for x in np.reshape(v, -1))


def matrix(rows) -> str:
    return ";".join(inline(r) for r in rows) + ";"


@pytest.fixture
def files(tmp_path):
    """The arrays as users hold them: .npy files and one pandas table with a weight column."""
    np.save(tmp_path / "p.npy", PROBS)
    np.save(tmp_path / "y.npy", LABELS)
    np.save(tmp_path / "w.npy", W)
    table = pd.DataFrame({"label": LABELS, **{f"p_{c}": PROBS[:, c] for c in range(C)}, "weight": W})
    table.to_csv(tmp_path / "preds.csv", index=False)
    pd.Series(W).to_csv(tmp_path / "w.csv", index=False)  # pandas' Series: a header line "0"
    return tmp_path


def test_ce_is_scikit_learns_weighted_log_loss_from_every_form(xent, files):
    expected = log_loss(LABELS, PROBS, sample_weight=W, labels=list(range(C)))
    for weights in (files / "w.npy", files / "w.csv", f"{files / 'preds.csv'}:weight", inline(W)):
        doc = as_json(xent("ce", "--labels", files / "y.npy", "--probs", files / "p.npy", "--sample-weights", weights,
                           "--format", "json"))
        assert doc["mean"] == pytest.approx(expected, rel=1e-12), weights
        assert doc["denominator"] == pytest.approx(W.sum(), rel=1e-15)
    doc = as_json(xent("ce", "--labels", f"{files / 'preds.csv'}:label", "--probs", f"{files / 'preds.csv'}:p_*",
                       "--sample-weights", f"{files / 'preds.csv'}:weight", "--format", "json"))
    assert doc["mean"] == pytest.approx(expected, rel=1e-12)
    # from logits: log_loss of their softmax
    z = np.log(PROBS) + RNG.normal(size=(N, 1))  # rows shifted: the same softmax
    doc = as_json(xent("ce", "--labels", inline(LABELS), "--logits", matrix(z), "--sample-weights", inline(W),
                       "--format", "json"))
    assert doc["mean"] == pytest.approx(expected, rel=1e-10)


def test_sum_and_none_are_weighted_per_sample_values(xent, files):
    each = -np.log(PROBS[np.arange(N), LABELS])
    args = ["ce", "--labels", files / "y.npy", "--probs", files / "p.npy", "--sample-weights", files / "w.npy",
            "--format", "json"]
    assert as_json(xent(*args, "--reduction", "sum"))["sum"] == pytest.approx(float((W * each).sum()), rel=1e-12)
    none = as_json(xent(*args, "--reduction", "none"))
    np.testing.assert_allclose(none["per_sample"], W * each, rtol=1e-12)
    lines = xent(*args[:-2], "--reduction", "none").stdout.splitlines()
    assert len(lines) == N


def test_ce_class_weights_times_sample_weights_by_hand(xent):
    """Three samples, classes weighted w = (1, 2, 3), samples s = (2, 0.5, 1):
    ℓ_i = w_k·(-log softmax(z_i)_k); mean = Σ s_i·ℓ_i / Σ s_i·w_k = (2ℓ_1 + 0.5ℓ_2 + ℓ_3) / (2·1 + 0.5·3 + 1·2)."""
    z = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [1.0, 1.0, 1.0]])
    k, w, s = np.array([0, 2, 1]), np.array([1.0, 2.0, 3.0]), np.array([2.0, 0.5, 1.0])
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    each = -w[k] * log_softmax[np.arange(3), k]
    expected = (2 * each[0] + 0.5 * each[1] + each[2]) / 5.5
    args = ["ce", "--labels", "0,2,1", "--logits", matrix(z), "--weights", "1,2,3", "--sample-weights", "2,0.5,1",
            "--format", "json"]
    doc = as_json(xent(*args))
    assert doc["denominator"] == 5.5 and doc["mean"] == pytest.approx(expected, rel=1e-14)
    assert as_json(xent(*args, "--reduction", "none"))["per_sample"] == pytest.approx(s * each, rel=1e-14)
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    per = F.cross_entropy(torch.tensor(z), torch.tensor(k), weight=torch.tensor(w), reduction="none").numpy()
    assert doc["mean"] == pytest.approx(float((s * per).sum() / (s * w[k]).sum()), rel=1e-14)


def test_ignored_samples_leave_both_sums(xent):
    """Labels (0, -100, 1) with s = (1, 5, 2): the ignored sample's weight counts nowhere."""
    z = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, -1.0]])
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected = (1 * -log_softmax[0, 0] + 2 * -log_softmax[2, 1]) / 3
    doc = as_json(xent("ce", "--labels", "0,-100,1", "--logits", matrix(z), "--ignore-index", "-100",
                       "--sample-weights", "1,5,2", "--format", "json"))
    assert doc["denominator"] == 3.0 and doc["mean"] == pytest.approx(expected, rel=1e-14)


def test_bce_of_vectors_is_scikit_learns_weighted_log_loss(xent, tmp_path):
    y, p = (LABELS > 0).astype(int), PROBS[:, 0]
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "w.npy", W)
    doc = as_json(xent("bce", "--labels", tmp_path / "y.npy", "--probs", tmp_path / "p.npy", "--sample-weights",
                       tmp_path / "w.npy", "--format", "json"))
    assert doc["mean"] == pytest.approx(log_loss(y, p, sample_weight=W), rel=1e-12)
    assert doc["denominator"] == pytest.approx(W.sum(), rel=1e-15)


def test_mse_is_scikit_learns_weighted_mean_squared_error(xent):
    """scikit-learn averages the outputs' weighted means (multioutput='uniform_average'): Σ w·Σ_c(ŷ - y)² / (Σw·C),
    which is xent's --reduction mean; --half divides by Σw instead (one half of each sample's sum)."""
    y = RNG.normal(size=(N, C))
    p = RNG.normal(size=(N, C))
    doc = as_json(xent("mse", "--labels", matrix(y), "--preds", matrix(p), "--sample-weights", inline(W),
                       "--format", "json"))
    assert doc["mean"] == pytest.approx(mean_squared_error(y, p, sample_weight=W), rel=1e-12)
    assert doc["denominator"] == pytest.approx(W.sum() * C, rel=1e-15)
    half = as_json(xent("mse", "--labels", matrix(y), "--preds", matrix(p), "--sample-weights", inline(W), "--half",
                        "--format", "json"))
    assert half["mean"] == pytest.approx(0.5 * float((W * ((p - y) ** 2).sum(axis=1)).sum() / W.sum()), rel=1e-12)
    doc = as_json(xent("mse", "--labels", inline(y[:, 0]), "--preds", inline(p[:, 0]), "--sample-weights", inline(W),
                       "--format", "json"))
    assert doc["mean"] == pytest.approx(mean_squared_error(y[:, 0], p[:, 0], sample_weight=W), rel=1e-12)


def test_batch_by_time_weights_flatten_like_the_labels(xent, tmp_path):
    b, t, v = 2, 3, 4
    z = RNG.normal(size=(b, t, v))
    ids = RNG.integers(0, v, (b, t))
    mask = np.array([[1.0, 1.0, 0.0], [1.0, 0.5, 2.0]])
    for name, a in (("z", z), ("ids", ids), ("mask", mask)):
        np.save(tmp_path / f"{name}.npy", a)
    flat = z.reshape(-1, v)
    log_softmax = flat - np.log(np.exp(flat).sum(axis=1, keepdims=True))
    each = -log_softmax[np.arange(b * t), ids.reshape(-1)]
    expected = float((mask.reshape(-1) * each).sum() / mask.sum())
    doc = as_json(xent("ce", "--labels", tmp_path / "ids.npy", "--logits", tmp_path / "z.npy", "--sample-weights",
                       tmp_path / "mask.npy", "--format", "json"))
    assert doc["mean"] == pytest.approx(expected, rel=1e-12)
    r = xent("ce", "--labels", tmp_path / "ids.npy", "--logits", tmp_path / "z.npy", "--sample-weights",
             tmp_path / "mask.npy", "--shift")
    assert r.exit_code == 2 and r.stderr.startswith("Error: --sample-weights") and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("loss", ["ce", "bce", "mse"])
def test_grad_of_the_weighted_mean_against_pytorch_autograd(xent, loss):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z = RNG.normal(size=(N, C))
    s = torch.tensor(W)
    zt = torch.tensor(z, requires_grad=True)
    if loss == "ce":
        labels, extra = inline(LABELS), []
        per = F.cross_entropy(zt, torch.tensor(LABELS), reduction="none")
        (s * per).sum().div(s.sum()).backward()
    elif loss == "bce":
        y = (PROBS > 0.3).astype(float)
        labels, extra = matrix(y), []
        per = F.binary_cross_entropy_with_logits(zt, torch.tensor(y), reduction="none").sum(dim=1)
        (s * per).sum().div(s.sum()).backward()
    else:
        labels, extra = matrix(PROBS), ["--through", "sigmoid"]
        per = ((torch.sigmoid(zt) - torch.tensor(PROBS)) ** 2).sum(dim=1)
        (s * per).sum().div(s.sum() * C).backward()  # MSELoss's mean over entries, each sample weighted
    doc = as_json(xent("grad", "--loss", loss, *extra, "--labels", labels, "--logits", matrix(z),
                       "--sample-weights", inline(W), "--format", "json", "--check"))
    np.testing.assert_allclose(doc["grad"], zt.grad.numpy(), rtol=1e-10, atol=1e-15)
    assert doc["max_abs_diff"] < 1e-8  # central differences of the weighted loss agree too


def test_explain_and_table_show_the_weights(xent):
    args = ["bce", "--labels", "1,0,1", "--probs", "0.9,0.2,0.7", "--sample-weights", "2,1,0"]
    text = xent(*args, "--explain").stdout
    assert "sample weight 2: 2·loss = " in text and "denominator = 3: the sum of the sample weights" in text
    table = xent(*args, "--format", "table").stdout
    assert "w·loss (nats)" in table and "denominator" in table
    expected = (2 * -math.log(0.9) + 1 * -math.log(0.8)) / 3
    assert float(xent(*args).stdout) == pytest.approx(expected, rel=1e-14)
    text = xent("mse", "--labels", "1,0", "--preds", "0.5,0.5", "--sample-weights", "3,1", "--explain").stdout
    assert "sample weight 3: 3·0.25 = 0.75" in text and "the sum of the sample weights times C = 4·1" in text
    text = xent("grad", "--labels", "0", "--logits", "[[1,2]]", "--sample-weights", "2", "--explain").stdout
    assert "sample weight 2: 2·∂loss/∂z" in text


@pytest.mark.parametrize("weights, needle", [
    ("1,2", "expected one weight per sample (3), found 2"),
    ("1,-2,1", "row 2: sample weight -2.0"),
    ("1,2,nan", "row 3: sample weight nan"),
    ("1,inf,1", "row 2: sample weight inf"),
    ("1e308,1e308,1", "sample weights sum beyond the float64 range"),  # the mean came out 0.0 with exit 0
])
def test_bad_weights_are_bad_data_located(xent, weights, needle):
    for command in (["ce", "--labels", "0,1,0", "--logits", "1,2;3,4;5,6"],
                    ["bce", "--labels", "0,1,0", "--probs", "0.1,0.5,0.3"],
                    ["mse", "--labels", "0,1,0", "--preds", "0.1,0.5,0.3"]):
        r = xent(*command, "--sample-weights", weights)
        assert r.exit_code == 1 and len(r.stderr.splitlines()) == 1, r.stderr
        assert r.stderr.startswith("Error: --sample-weights inline value") and needle in r.stderr


def test_bad_weight_in_a_file_names_its_line(xent, tmp_path):
    (tmp_path / "w.csv").write_text("weight\n1\n-1\n1\n")
    r = xent("ce", "--labels", "0,1,0", "--logits", "1,2;3,4;5,6", "--sample-weights", tmp_path / "w.csv")
    assert r.exit_code == 1 and f"{tmp_path / 'w.csv'} line 3: row 2" in r.stderr


def test_all_zero_weights_give_nan_with_a_warning_as_class_weights_do(xent):
    doc = xent("ce", "--labels", "0,1", "--logits", "1,2;3,4", "--sample-weights", "0,0", "--format", "json")
    assert doc.exit_code == 0 and json.loads(doc.stdout)["mean"] == "nan"
    assert "denominator is 0" in doc.stderr
    r = xent("ce", "--labels", "0,1", "--logits", "1,2;3,4", "--weights", "0,0", "--format", "json")
    assert json.loads(r.stdout)["mean"] == "nan" and "denominator is 0" in r.stderr


def test_distribution_labels_and_smoothing_count_each_sample_by_its_weight(xent):
    one_hot = np.eye(C)[LABELS]
    doc = as_json(xent("ce", "--labels", matrix(one_hot), "--probs", matrix(PROBS), "--sample-weights", inline(W),
                       "--format", "json"))
    assert doc["mean"] == pytest.approx(log_loss(one_hot, PROBS, sample_weight=W), rel=1e-12)
    assert doc["denominator"] == pytest.approx(W.sum(), rel=1e-15)
    torch = pytest.importorskip("torch")
    z = RNG.normal(size=(N, C))
    per = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(LABELS), label_smoothing=0.1,
                                            reduction="none").numpy()
    doc = as_json(xent("ce", "--labels", inline(LABELS), "--logits", matrix(z), "--label-smoothing", "0.1",
                       "--sample-weights", inline(W), "--format", "json"))
    assert doc["mean"] == pytest.approx(float((W * per).sum() / W.sum()), rel=1e-12)
