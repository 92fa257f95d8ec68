"""Hints name only options their command has; ppl takes --probs; swapped inputs and binary
probabilities given to ce are told apart by shapes and values, whatever the file format."""

import json
import math
import re

import click
import numpy as np
import pandas as pd
import pytest

from xentcli.cli import main

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def options_of(command: str) -> set[str]:
    with click.Context(main) as ctx:
        params = main.get_command(ctx, command).params
    return {opt for p in params if not getattr(p, "hidden", False) for opt in p.opts}


@pytest.fixture
def files(tmp_path):
    """Inputs written by NumPy (and pandas), named by what they hold."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), 4)
    np.save(tmp_path / "probs.npy", probs)
    np.save(tmp_path / "logits.npy", rng.standard_normal((4, 3)))
    np.save(tmp_path / "ids.npy", np.array([0, 2, 1, 1]))
    np.save(tmp_path / "bits.npy", np.array([0, 1, 1, 0]))
    np.save(tmp_path / "p1.npy", np.array([0.2, 0.7, 0.9, 0.1]))
    (tmp_path / "names.csv").write_text("dog\ncat\ndog\ncat\n")
    (tmp_path / "ids_pandas.csv").write_text("0\n0\n2\n1\n1\n")  # pd.Series(ids).to_csv(index=False)
    return tmp_path


LOOK_LIKE_PROBS = "look like probabilities"
LOOK_LIKE_LOGITS = "look like logits"
RENORMALIZE = "sum to"
PADDING = "-100 is the padding label"
NAMES = "class names"
HEADER = "read as a header"
SWAPPED = "look swapped"
BINARY = "xent bce"


def cases(d):
    """(command line, what its message must say): every hint, for every command that can give it."""
    p, z, ids = d / "probs.npy", d / "logits.npy", d / "ids.npy"
    two_rows_one_off = "0.5,0.5,0;0.6,0.6,0.2"
    return [
        # rows given as logits that look like probabilities
        (["ce", "--labels", ids, "--logits", p], LOOK_LIKE_PROBS),
        (["entropy", "--logits", p], LOOK_LIKE_PROBS),
        (["ppl", "--targets", ids, "--logits", p], LOOK_LIKE_PROBS),
        (["softmax", "--logits", p], LOOK_LIKE_PROBS),
        (["grad", "--labels", ids, "--logits", p], LOOK_LIKE_PROBS),
        (["mse", "--labels", ids, "--logits", p, "--through", "softmax"], LOOK_LIKE_PROBS),
        (["kl", "--p-logits", p, "--q", p], LOOK_LIKE_PROBS),
        (["kl", "--p", p, "--q-logits", p], LOOK_LIKE_PROBS),
        (["compare", "--base", p, "--test", z], LOOK_LIKE_PROBS),
        # probabilities that look like logits
        (["ce", "--labels", ids, "--probs", z], LOOK_LIKE_LOGITS),
        (["bce", "--labels", "1,0;0,1", "--probs", "2,-1;0.5,3"], LOOK_LIKE_LOGITS),
        (["entropy", "--probs", z], LOOK_LIKE_LOGITS),
        (["kl", "--p", z, "--q", p], LOOK_LIKE_LOGITS),
        (["ppl", "--targets", ids, "--probs", z], LOOK_LIKE_LOGITS),
        # rows not summing to 1 that rescaling would fix
        (["ce", "--labels", "0,1", "--probs", two_rows_one_off], RENORMALIZE),
        (["entropy", "--probs", two_rows_one_off], RENORMALIZE),
        (["kl", "--p", two_rows_one_off, "--q", two_rows_one_off], RENORMALIZE),
        (["ppl", "--targets", "0,1", "--probs", two_rows_one_off], RENORMALIZE),
        (["ce", "--labels", two_rows_one_off, "--logits", "1,2,3;3,2,1"], RENORMALIZE),
        (["grad", "--labels", two_rows_one_off, "--logits", "1,2,3;3,2,1"], RENORMALIZE),
        # PyTorch's padding label
        (["ce", "--labels", "-100,1", "--logits", "1,2;3,4"], PADDING),
        (["ppl", "--targets", "-100,1", "--logits", "1,2;3,4"], PADDING),
        (["grad", "--labels", "-100,1", "--logits", "1,2;3,4"], PADDING),
        (["grad", "--loss", "mse", "--through", "softmax", "--labels", "-100,1", "--logits", "1,2;3,4"], PADDING),
        (["mse", "--labels", "-100,1", "--preds", "1,2;3,4"], PADDING),
        (["compare", "--base", z, "--test", z, "--targets", "-100,1,0,0"], PADDING),
        # labels written as class names, none known
        (["ce", "--labels", d / "names.csv", "--logits", z], NAMES),
        (["grad", "--labels", d / "names.csv", "--logits", z], NAMES),
        (["mse", "--labels", d / "names.csv", "--preds", z], NAMES),
        # pandas' header over a label file
        (["ce", "--labels", d / "ids_pandas.csv", "--logits", z], HEADER),
        (["ppl", "--targets", d / "ids_pandas.csv", "--logits", z], HEADER),
        (["grad", "--labels", d / "ids_pandas.csv", "--logits", z], HEADER),
        (["mse", "--labels", d / "ids_pandas.csv", "--preds", z], HEADER),
        # labels and predictions swapped
        (["ce", "--labels", z, "--logits", ids], SWAPPED),
        (["ce", "--labels", p, "--probs", ids], SWAPPED),
        (["ppl", "--targets", z, "--logits", ids], SWAPPED),
        (["ppl", "--targets", p, "--probs", ids], SWAPPED),
        (["grad", "--labels", z, "--logits", ids], SWAPPED),
        (["mse", "--labels", z, "--preds", ids], SWAPPED),
        (["bce", "--labels", z, "--logits", ids], SWAPPED),
        (["bce", "--labels", d / "p1.npy", "--probs", d / "bits.npy"], SWAPPED),
        (["bce", "--labels", d / "p1.npy", "--logits", d / "bits.npy"], SWAPPED),
        # binary probabilities given to ce
        (["ce", "--labels", "0,1", "--probs", "0.3,0.6"], BINARY),
        (["ce", "--labels", d / "bits.npy", "--probs", d / "p1.npy"], BINARY),
    ]


def test_every_hint_names_only_options_of_its_command(xent, files):
    for args, says in cases(files):
        r = xent(*args)
        assert says in r.stderr, (args, r.stderr)
        named = set(OPTION.findall(r.stderr))
        assert named <= options_of(args[0]), (args, named - options_of(args[0]), r.stderr)


@pytest.mark.parametrize("command, args, option", [
    (["ce", "--labels", "0,1"], ["--probs", "0.5,0.5,0;0.6,0.6,0.2"], "--renormalize"),
    (["entropy"], ["--probs", "0.5,0.5,0;0.6,0.6,0.2"], "--renormalize"),
    (["ce", "--labels", "-100,1"], ["--logits", "1,2;3,4"], "--ignore-index"),
    (["ppl", "--targets", "-100,1"], ["--logits", "1,2;3,4"], "--ignore-index"),
    (["ce", "--labels", "1"], ["--logits", "0.2,0.8"], "--probs"),
    (["ppl", "--targets", "1"], ["--logits", "0.2,0.8"], "--probs"),
    (["kl", "--q", "0.5,0.5"], ["--p-logits", "0.2,0.8"], "--p"),
    (["mse", "--labels", "1,0", "--through", "softmax"], ["--logits", "0.2,0.8;0.5,0.5"], "--preds"),
])
def test_hints_name_the_fix_where_the_command_has_it(xent, command, args, option):
    r = xent(*command, *args)
    assert option in OPTION.findall(r.stderr), r.stderr


@pytest.mark.parametrize("args, missing", [
    (["ppl", "--targets", "0,1", "--probs", "0.5,0.5,0;0.6,0.6,0.2"], "--renormalize"),
    (["grad", "--labels", "0.5,0.5,0;0.6,0.6,0.2", "--logits", "1,2,3;3,2,1"], "--renormalize"),
    (["mse", "--labels", "-100,1", "--preds", "1,2;3,4"], "--ignore-index"),
    (["grad", "--loss", "mse", "--through", "softmax", "--labels", "-100,1", "--logits", "1,2;3,4"], "--ignore-index"),
    (["softmax", "--logits", "0.2,0.8"], "--probs"),
    (["grad", "--labels", "1", "--logits", "0.2,0.8"], "--probs"),
])
def test_a_hint_never_names_an_option_the_command_lacks(xent, args, missing):
    """ppl's warning once said "Did you mean --probs?" when ppl had no --probs."""
    r = xent(*args)
    assert r.stderr
    assert missing not in OPTION.findall(r.stderr), r.stderr


# ppl --probs --------------------------------------------------------------------------------

P = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]])
T = np.array([0, 1, 2, 1])


def inline(a) -> str:
    return ";".join(",".join(repr(float(v)) for v in row) for row in a)


def test_ppl_probs_is_exp_of_mean_negative_log_probability(xent):
    expected = math.exp(-np.mean(np.log(P[np.arange(4), T])))  # by hand: (1/(0.5·0.8·0.6·0.3))^(1/4)
    assert expected == pytest.approx((0.5 * 0.8 * 0.6 * 0.3) ** -0.25, rel=1e-15)
    r = xent("ppl", "--probs", inline(P), "--targets", "0,1,2,1", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["perplexity"] == pytest.approx(expected, rel=1e-13)
    assert doc["n"] == 4
    r2 = json.loads(xent("ppl", "--probs", inline(P), "--targets", "0,1,2,1", "--base", "2", "--format", "json").stdout)
    assert r2["perplexity"] == pytest.approx(expected, rel=1e-13)
    assert r2["mean"] == pytest.approx(math.log2(expected), rel=1e-13)


def test_ppl_probs_matches_ppl_logits_of_the_same_distribution(xent):
    logits = np.log(P)
    a = float(xent("ppl", "--probs", inline(P), "--targets", "0,1,2,1").stdout)
    b = float(xent("ppl", "--logits", inline(logits), "--targets", "0,1,2,1").stdout)
    assert a == pytest.approx(b, rel=1e-12)


def test_ppl_probs_ignore_index_and_shift(xent, tmp_path):
    torch = pytest.importorskip("torch")
    probs = np.random.default_rng(3).dirichlet(np.ones(5), (2, 4))  # (B, T, V)
    ids = np.array([[1, 4, -100, 2], [0, 3, 3, -100]])
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "ids.npy", ids)
    # Hugging Face's causal-LM loss: logits[:, :-1] score ids[:, 1:]; NLL of log p is CE of the probabilities
    nll = torch.nn.functional.nll_loss(torch.from_numpy(np.log(probs[:, :-1]).reshape(-1, 5)),
                                       torch.from_numpy(ids[:, 1:].reshape(-1)), ignore_index=-100)
    r = xent("ppl", "--probs", tmp_path / "p.npy", "--targets", tmp_path / "ids.npy", "--shift",
             "--ignore-index", "-100", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["perplexity"] == pytest.approx(math.exp(float(nll)), rel=1e-12)
    assert doc["n"] == 4


def test_ppl_probs_zero_for_the_target_is_inf_with_a_warning(xent):
    r = xent("ppl", "--probs", "0.5,0.5,0;0.1,0.8,0.1", "--targets", "2,1", "--format", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["perplexity"] == "inf"
    assert "row 1" in r.stderr and "probability 0" in r.stderr


def test_ppl_probs_wrong_calls(xent):
    r = xent("ppl", "--probs", "0.5,0.5", "--logits", "1,2", "--targets", "0")
    assert r.exit_code == 2 and "either --logits or --probs" in r.stderr
    r = xent("ppl", "--probs", "0.5,0.5", "--targets", "0", "--temperature", "2")
    assert r.exit_code == 2 and "--temperature" in r.stderr
    r = xent("ppl", "--probs", "0.5,0.6", "--targets", "0")
    assert r.exit_code == 1 and r.stderr.startswith("Error: --probs inline value")


# swapped inputs, whatever the format --------------------------------------------------------

@pytest.mark.parametrize("fmt", ["npy", "csv", "json", "parquet"])
def test_swapped_labels_and_logits_are_told_in_every_format(xent, tmp_path, fmt):
    """Once caught for CSV only: a 1-D .npy of class ids reads as one row, not one column."""
    pd = pytest.importorskip("pandas")
    z = np.random.default_rng(1).standard_normal((5, 3))
    ids = np.array([0, 2, 1, 1, 0])
    if fmt == "npy":
        np.save(tmp_path / "z.npy", z)
        np.save(tmp_path / "ids.npy", ids)
    elif fmt == "csv":
        pd.DataFrame(z).to_csv(tmp_path / "z.csv", index=False, header=False)
        pd.Series(ids).to_csv(tmp_path / "ids.csv", index=False, header=False)
    elif fmt == "json":
        (tmp_path / "z.json").write_text(json.dumps(z.tolist()))
        (tmp_path / "ids.json").write_text(json.dumps(ids.tolist()))
    else:
        pytest.importorskip("pyarrow")
        pd.DataFrame(z, columns=["a", "b", "c"]).to_parquet(tmp_path / "z.parquet")
        pd.DataFrame({"id": ids}).to_parquet(tmp_path / "ids.parquet")
    zf, idf = tmp_path / f"z.{fmt}", tmp_path / f"ids.{fmt}"
    for args in (["ce", "--labels", zf, "--logits", idf], ["ppl", "--targets", zf, "--logits", idf],
                 ["grad", "--labels", zf, "--logits", idf]):
        r = xent(*args)
        assert r.exit_code == 1, (args, r.stdout)
        error = r.stderr.splitlines()[-1]  # after a warning that a column has one class
        assert error.startswith("Error: ") and "look swapped" in error, (args, r.stderr)


def test_swapped_token_ids_and_logits_are_told_with_shift(xent, tmp_path):
    rng = np.random.default_rng(2)
    np.save(tmp_path / "z.npy", rng.standard_normal((2, 5, 7)).astype(np.float32))
    np.save(tmp_path / "ids.npy", rng.integers(0, 7, (2, 5)))
    for command in (["ppl", "--targets"], ["ce", "--labels"]):
        r = xent(*command, tmp_path / "z.npy", "--logits", tmp_path / "ids.npy", "--shift")
        assert r.exit_code == 1
        assert r.stderr.startswith("Error: --shift: ") and "look swapped" in r.stderr
        assert len(r.stderr.splitlines()) == 1


def test_matching_inputs_are_not_called_swapped(xent):
    # integer logits and soft labels: the document's own example
    r = xent("ce", "--labels", "1,0,0;0,0.8,0.2", "--logits", "4,2,1;0,5,1")
    assert r.exit_code == 0 and "swapped" not in r.stderr
    r = xent("bce", "--labels", "0.2,0.9", "--logits", "2,-1")
    assert r.exit_code == 0 and "swapped" not in r.stderr
    r = xent("bce", "--labels", "0,1", "--probs", "0.2,0.9")
    assert r.exit_code == 0 and "swapped" not in r.stderr


# binary probabilities given to ce ------------------------------------------------------------

def test_binary_probabilities_given_to_ce_point_to_bce(xent, tmp_path):
    """Once answered "did you mean --logits?": the vector is N binary probabilities."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    r = xent("ce", "--labels", "0,1", "--probs", "0.3,0.6")
    assert r.exit_code == 1
    assert "xent bce" in r.stderr and "--logits" not in r.stderr
    # and bce gives scikit-learn's log_loss of the same vectors
    r = xent("bce", "--labels", "0,1", "--probs", "0.3,0.6")
    assert float(r.stdout) == pytest.approx(sklearn_metrics.log_loss([0, 1], [0.3, 0.6]), rel=1e-12)
    np.save(tmp_path / "p.npy", np.array([[0.3], [0.6], [0.9]]))
    r = xent("ce", "--labels", "0,1,1", "--probs", tmp_path / "p.npy")
    assert r.exit_code == 1 and "xent bce" in r.stderr


def test_gh_binary_logits_given_to_ce_point_to_bce_not_renormalize(xent, tmp_path):
    """scikit-learn's (N,) decision_function beside (N,) 0/1 labels: --renormalize gave a number with exit 0."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(11)
    x = rng.normal(size=(30, 2))
    y = (x[:, 0] + rng.normal(size=30) > 0).astype(int)
    clf = LogisticRegression().fit(x, y)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "z.npy", clf.decision_function(x))
    r = xent("ce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "z.npy")
    assert r.exit_code == 1 and "xent bce --labels … --logits …" in r.stderr and "--renormalize" not in r.stderr
    r = xent("bce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "z.npy")
    assert float(r.stdout) == pytest.approx(log_loss(y, clf.predict_proba(x)), rel=1e-10)


def test_class_names_behind_a_column_prefix_are_pointed_to_the_glob(xent, tmp_path):
    """String labels against p_* columns read whole: the hint's selector names the classes as the labels do."""
    from sklearn.metrics import log_loss

    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    y = ["setosa", "versicolor", "virginica"]
    pd.DataFrame(p, columns=["p_setosa", "p_versicolor", "p_virginica"]).to_csv(tmp_path / "p.csv", index=False)
    pd.Series(y, name="label").to_csv(tmp_path / "y.csv", index=False)
    r = xent("ce", "--labels", tmp_path / "y.csv", "--probs", tmp_path / "p.csv")
    assert r.exit_code == 1 and f"select them as {tmp_path / 'p.csv'}:p_* to name them 'setosa'" in r.stderr
    r = xent("ce", "--labels", tmp_path / "y.csv", "--probs", f"{tmp_path / 'p.csv'}:p_*")
    assert r.exit_code == 0 and float(r.stdout) == pytest.approx(log_loss(y, p), rel=1e-12)
