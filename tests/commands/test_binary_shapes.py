"""bce, mse and grad --loss bce|mse read a 1-D input of length N as N samples of one output, as
scikit-learn's log_loss / mean_squared_error and PyTorch's element-wise losses read (N,) arrays;
references from scikit-learn and PyTorch (or the formula written out here)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, mean_squared_error

Y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
P = np.array([0.9, 0.2, 0.6, 0.35, 0.1, 0.45, 0.8, 0.7])
Z = np.array([2.0, -1.0, 0.5, -0.3, -2.5, 0.1, 1.5, 1.0])


def as_json(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def per_entry_bce(y, p):
    """-[y·log p + (1 - y)·log(1 - p)], written out."""
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def inline(v) -> str:
    return ",".join(repr(float(x)) for x in v)


def write(form: str, values, tmp_path, name: str) -> str:
    """``values`` (1-D) in one of the forms a user holds them in; returns the option value."""
    v = np.asarray(values, dtype=np.float64)
    if form == "npy":
        np.save(tmp_path / f"{name}.npy", v)
        return str(tmp_path / f"{name}.npy")
    if form == "csv column":
        pd.DataFrame({name: v}).to_csv(tmp_path / f"{name}.csv", index=False)
        return str(tmp_path / f"{name}.csv")
    if form == "csv selector":
        pd.DataFrame({"other": np.arange(len(v)), name: v}).to_csv(tmp_path / f"{name}.csv", index=False)
        return f"{tmp_path / f'{name}.csv'}:{name}"
    if form == "json list":
        (tmp_path / f"{name}.json").write_text(json.dumps(v.tolist()))
        return str(tmp_path / f"{name}.json")
    if form == "parquet column":
        pytest.importorskip("pyarrow")
        pd.DataFrame({name: v, "other": np.arange(len(v))}).to_parquet(tmp_path / f"{name}.parquet")
        return f"{tmp_path / f'{name}.parquet'}:{name}"
    assert form == "inline"
    return inline(v)


FORMS = ["npy", "csv column", "csv selector", "json list", "parquet column", "inline"]


def test_bce_of_scikit_learn_1d_arrays_is_log_loss_not_one_sample_of_n_classes(xent, tmp_path):
    """The issue's case: (N,) arrays from scikit-learn gave 27.89 (one sample of N classes summed)."""
    rng = np.random.default_rng(19)
    y = rng.integers(0, 2, 169)
    p = np.clip(rng.beta(2, 2, 169), 1e-3, 1 - 1e-3)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    doc = as_json(xent("bce", "--labels", tmp_path / "y.npy", "--probs", tmp_path / "p.npy", "--format", "json"))
    assert doc["n"] == 169 and doc["denominator"] == 169
    assert doc["mean"] == pytest.approx(log_loss(y, p), rel=1e-12)
    none = as_json(xent("bce", "--labels", tmp_path / "y.npy", "--probs", tmp_path / "p.npy", "--reduction", "none",
                        "--format", "json"))
    assert len(none["per_sample"]) == 169
    np.testing.assert_allclose(none["per_sample"], per_entry_bce(y, p), rtol=1e-12)
    csv = xent("bce", "--labels", tmp_path / "y.npy", "--probs", tmp_path / "p.npy", "--reduction", "none").stdout
    assert len(csv.splitlines()) == 169


@pytest.mark.parametrize("form", FORMS)
def test_every_form_of_a_vector_is_n_samples(xent, tmp_path, form):
    probs = write(form, P, tmp_path, "p")
    labels = write("npy" if form != "npy" else "inline", Y, tmp_path, "y")
    expected = log_loss(Y, P)
    assert float(xent("bce", "--labels", labels, "--probs", probs).stdout) == pytest.approx(expected, rel=1e-12)
    # the labels in this form, the predictions as a .npy vector
    other = write("npy", P, tmp_path, "q")
    y_form = write(form, Y, tmp_path, "y2")
    assert float(xent("bce", "--labels", y_form, "--probs", other).stdout) == pytest.approx(expected, rel=1e-12)
    doc = as_json(xent("mse", "--labels", labels, "--preds", probs, "--format", "json"))
    assert doc["n"] == len(P) and doc["mean"] == pytest.approx(mean_squared_error(Y, P), rel=1e-12)


def test_bce_from_logits_and_pos_weight_per_entry_against_pytorch(xent):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    pw = np.linspace(0.5, 3.0, len(Z))
    z, y = torch.tensor(Z), torch.tensor(Y, dtype=torch.float64)
    for weight, option in ((None, []), (torch.tensor(pw), ["--pos-weight", inline(pw)]),
                           (torch.tensor([2.5], dtype=torch.float64), ["--pos-weight", "2.5"])):
        expected = F.binary_cross_entropy_with_logits(z, y, pos_weight=weight, reduction="none").numpy()
        doc = as_json(xent("bce", "--labels", inline(Y), "--logits", inline(Z), *option, "--reduction", "none",
                           "--format", "json"))
        np.testing.assert_allclose(doc["per_sample"], expected, rtol=1e-12)
        mean = as_json(xent("bce", "--labels", inline(Y), "--logits", inline(Z), *option, "--format", "json"))["mean"]
        assert mean == pytest.approx(float(expected.mean()), rel=1e-12)
    expected = F.binary_cross_entropy(torch.tensor(P), y, reduction="mean").item()
    assert float(xent("bce", "--labels", inline(Y), "--probs", inline(P)).stdout) == pytest.approx(expected, rel=1e-12)
    r = xent("bce", "--labels", inline(Y), "--logits", inline(Z), "--pos-weight", "1,2,3")
    assert r.exit_code == 1 and r.stderr.startswith("Error: --pos-weight inline value")
    assert "one weight per class (1) or one per sample (8), found 3" in r.stderr


def test_one_multi_label_sample_is_one_row(xent, tmp_path):
    y, p = [1, 0, 1], [0.9, 0.2, 0.7]
    expected = float(per_entry_bce(np.array(y), np.array(p)).sum())  # the document's sum over classes
    assert float(xent("bce", "--labels", "[[1,0,1]]", "--probs", "[[0.9,0.2,0.7]]").stdout) == pytest.approx(expected)
    (tmp_path / "y.csv").write_text("1,0,1\n")
    (tmp_path / "p.csv").write_text("0.9,0.2,0.7\n")
    doc = as_json(xent("bce", "--labels", tmp_path / "y.csv", "--probs", tmp_path / "p.csv", "--format", "json"))
    assert doc["n"] == 1 and doc["mean"] == pytest.approx(expected, rel=1e-15)
    # one row of labels against a 1-D vector of predictions: the two readings disagree, and it says how to fix it
    r = xent("bce", "--labels", "[[1,0,1]]", "--probs", "0.9,0.2,0.7")
    assert r.exit_code == 1 and len(r.stderr.splitlines()) == 1
    assert "--labels" in r.stderr and "3 samples of one output" in r.stderr and "one row" in r.stderr


def test_class_mean_table_and_explain_with_a_vector(xent):
    args = ["bce", "--labels", "1,0,1", "--probs", "0.9,0.2,0.7"]
    expected = log_loss([1, 0, 1], [0.9, 0.2, 0.7])
    assert float(xent(*args, "--class-mean").stdout) == pytest.approx(expected, rel=1e-12)  # C = 1: mean = sum
    table = xent(*args, "--format", "table").stdout
    assert "denominator" in table and "3" in table and f"{expected:.8g}"[:8] in table
    assert sum(1 for line in table.splitlines() if line.strip()[:1] in "123" and "0." in line) >= 3
    text = xent(*args, "--explain").stdout
    for row in ("row 1", "row 2", "row 3"):
        assert row in text
    assert "denominator = 3: the number of samples N" in text


def test_mse_of_scikit_learn_vectors(xent, tmp_path):
    rng = np.random.default_rng(5)
    y, p = rng.normal(size=50), rng.normal(size=50)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    doc = as_json(xent("mse", "--labels", tmp_path / "y.npy", "--preds", tmp_path / "p.npy", "--format", "json"))
    assert doc["n"] == 50 and doc["denominator"] == 50
    assert doc["mean"] == pytest.approx(mean_squared_error(y, p), rel=1e-12)
    none = as_json(xent("mse", "--labels", tmp_path / "y.npy", "--preds", tmp_path / "p.npy", "--reduction", "none",
                        "--format", "json"))
    np.testing.assert_allclose(none["per_sample"], (p - y) ** 2, rtol=1e-12)
    # integer targets of one output are values, not class indices of a one-class one-hot
    assert float(xent("mse", "--labels", "3,0", "--preds", "1,1").stdout) == pytest.approx((4 + 1) / 2)
    text = xent("mse", "--labels", "3,0", "--preds", "1,1", "--explain").stdout
    assert "row 2" in text and "N·C = 2·1" in text


def test_grad_of_a_vector_against_pytorch_autograd(xent):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    y = torch.tensor(Y, dtype=torch.float64)
    z = torch.tensor(Z, requires_grad=True)
    F.binary_cross_entropy_with_logits(z, y).backward()
    doc = as_json(xent("grad", "--loss", "bce", "--labels", inline(Y), "--logits", inline(Z), "--format", "json",
                       "--check"))
    assert doc["shape"] == [len(Z), 1] and doc["max_abs_diff"] < 1e-8
    np.testing.assert_allclose(np.asarray(doc["grad"])[:, 0], z.grad.numpy(), rtol=1e-12)
    z = torch.tensor(Z, requires_grad=True)
    F.mse_loss(torch.sigmoid(z), y).backward()
    doc = as_json(xent("grad", "--loss", "mse", "--through", "sigmoid", "--labels", inline(Y), "--logits", inline(Z),
                       "--format", "json", "--check"))
    assert doc["max_abs_diff"] < 1e-8
    np.testing.assert_allclose(np.asarray(doc["grad"])[:, 0], z.grad.numpy(), rtol=1e-11)


def test_grad_of_a_vector_by_the_formula(xent):
    """Without PyTorch: σ(z) - y over N, the mean's gradient."""
    sigma = 1 / (1 + np.exp(-Z))
    expected = (sigma - Y) / len(Z)
    out = xent("grad", "--loss", "bce", "--labels", inline(Y), "--logits", inline(Z)).stdout
    np.testing.assert_allclose([float(line) for line in out.splitlines()], expected, rtol=1e-12)


def test_softmax_family_keeps_a_vector_as_one_sample(xent):
    z = [4.0, 2.0, 1.0]
    expected = -(z[0] - math.log(sum(math.exp(v) for v in z)))
    assert float(xent("ce", "--labels", "0", "--logits", "4,2,1").stdout) == pytest.approx(expected, rel=1e-15)
    doc = as_json(xent("grad", "--labels", "0", "--logits", "4,2,1", "--format", "json"))
    assert doc["shape"] == [1, 3]
