"""Files as pandas, NumPy and xent itself write them, and inputs as the shell hands them over.

Every expected number here comes from NumPy/SciPy-free hand evaluation of the same
arrays (log-sum-exp in float64 on the array pandas was given), never from xent.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_process
from xentcli.readers import read_matrix


def ce_reference(z, y) -> float:
    """Mean CE of class indices ``y`` under logits ``z`` (max-shifted log-sum-exp)."""
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - z[np.arange(len(z)), y]))


@pytest.fixture
def pandas_files(tmp_path):
    rng = np.random.default_rng(15)
    z, y = rng.normal(size=(7, 3)), rng.integers(0, 3, 7)
    y[0] = 2  # the first label is not 0, so the header line "0" cannot pass for a label
    pd.DataFrame(z).to_csv(tmp_path / "z.csv", index=False)  # header line 0,1,2
    pd.Series(y).to_csv(tmp_path / "y.csv", index=False)  # header line 0
    pd.DataFrame(np.eye(3, dtype=int)[y]).to_csv(tmp_path / "onehot.csv", index=False)  # 0,1,2 over integers
    return tmp_path, z, y


def test_gh_pandas_headers_are_not_data(xent, pandas_files):
    d, z, y = pandas_files
    for labels in ("y.csv", "onehot.csv"):
        r = xent("ce", "--labels", d / labels, "--logits", d / "z.csv", "--format", "json")
        assert r.exit_code == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["n"] == 7
        assert doc["mean"] == pytest.approx(ce_reference(z, y), rel=1e-15)
        # Said once per file, with the way to force the other reading.
        assert r.stderr.count("z.csv: line 1 (0,1,2) is read as a header") == 1
        assert r.stderr.count(f"{labels}: line 1") == 1 and "--input-header no" in r.stderr


def test_input_header_forces_either_reading(xent, pandas_files):
    d, z, y = pandas_files
    r = xent("softmax", "--logits", d / "z.csv", "--input-header", "no", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["shape"] == [8, 3] and "header" not in r.stderr
    r = xent("softmax", "--logits", "-", "--input-header", "yes", "--format", "json", input="5,6,7\n1,2,3\n")
    assert json.loads(r.stdout)["shape"] == [1, 3]
    # Labels forced as data: 8 labels for 7 predictions is a shape error, not a silent answer.
    np.save(d / "z.npy", z)
    r = xent("ce", "--labels", d / "y.csv", "--logits", d / "z.npy", "--input-header", "no")
    assert r.exit_code == 1 and "(8, 1)" in r.stderr


@pytest.mark.parametrize("text, rows", [
    ("1,2,3\n4,5,6\n", 2),  # integers under integers: hand-written data, never a header
    ("0,1\n1,0\n", 2),  # one-hot rows
    ("1,2\n3,nan\n", 2),
    ("0,1,2\n", 1),  # nothing below it
    ("0,1,2\n0.5,0.25,0.25\n", 1),
    ("1,2,3\n-inf,0.5,1e-3\n", 1),  # 1-based column numbers
    ("0\t1\n0.5\t0.5\n", 1),
])
def test_column_number_header_rule(tmp_path, text, rows):
    f = tmp_path / "m.csv"
    f.write_text(text)
    m = read_matrix(str(f), "--logits")
    assert np.asarray(m.values).shape[0] == rows
    assert bool(m.notes) == (rows == 1 and "\n" in text.strip())


@pytest.fixture
def series_files(tmp_path):
    """pandas' ``Series.to_csv(index=False)``: every file starts with the Series' name ``0``."""
    rng = np.random.default_rng(19)
    y = rng.integers(0, 2, 169)
    p = rng.uniform(0.02, 0.98, 169)
    target, pred = rng.normal(size=50), rng.normal(size=50)
    tokens, z = rng.integers(0, 5, 20), rng.normal(size=(20, 5))
    for name, v in {"y": y, "p": p, "target": target, "pred": pred, "tokens": tokens}.items():
        pd.Series(v).to_csv(tmp_path / f"{name}.csv", index=False)
    pd.Series(y.astype(float)).to_csv(tmp_path / "y_float.csv", index=False)  # 0.0, 1.0: no integer cell
    np.save(tmp_path / "z.npy", z)
    return tmp_path, y, p, target, pred, tokens, z


def test_gh_series_name_0_is_a_header_whatever_the_other_files_length(xent, series_files):
    from sklearn.metrics import log_loss, mean_squared_error

    d, y, p, target, pred, tokens, z = series_files
    assert (d / "p.csv").read_text().startswith("0\n")
    for labels in ("y.csv", "y_float.csv"):  # 170 lines each with p.csv: n was 170
        doc = json.loads(xent("bce", "--labels", d / labels, "--probs", d / "p.csv", "--format", "json").stdout)
        assert doc["n"] == 169 and doc["mean"] == pytest.approx(log_loss(y, p), rel=1e-12)
    r = xent("mse", "--labels", d / "target.csv", "--preds", d / "pred.csv", "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["n"] == 50 and doc["mean"] == pytest.approx(mean_squared_error(target, pred), rel=1e-12)
    assert r.stderr.count("pred.csv: line 1 (0) is read as a header") == 1 and "--input-header no" in r.stderr
    # ppl --targets, with and without --shift (one line more than the logits, before shifting)
    m = z.max(axis=1, keepdims=True)
    nll = m[:, 0] + np.log(np.exp(z - m).sum(axis=1)) - z[np.arange(20), tokens]
    doc = json.loads(xent("ppl", "--logits", d / "z.npy", "--targets", d / "tokens.csv", "--format", "json").stdout)
    assert doc["n"] == 20 and doc["perplexity"] == pytest.approx(np.exp(nll.mean()), rel=1e-12)
    shifted = z[:-1].max(axis=1) + np.log(np.exp(z[:-1] - z[:-1].max(axis=1, keepdims=True)).sum(axis=1)) \
        - z[np.arange(19), tokens[1:]]
    doc = json.loads(xent("ppl", "--logits", d / "z.npy", "--targets", d / "tokens.csv", "--shift",
                          "--format", "json").stdout)
    assert doc["n"] == 19 and doc["perplexity"] == pytest.approx(np.exp(shifted.mean()), rel=1e-12)
    # An explicit option still wins: the 0 lines are data.
    doc = json.loads(xent("bce", "--labels", d / "y.csv", "--probs", d / "p.csv", "--input-header", "no",
                          "--format", "json").stdout)
    assert doc["n"] == 170
    r = xent("softmax", "--logits", "-", "--input-header", "yes", "--format", "json", input="3\n1\n")
    assert json.loads(r.stdout)["shape"] == [1, 1]


@pytest.mark.parametrize("text, rows", [
    ("0\n0.5\n0.25\n", 2),  # pandas' Series name over floats
    ("5\ncat\ndog\n", 2),  # a lone integer over names
    ("0\n1\n2\n", 3),  # integers under it: data
    ("1,3,5\n0.2,0.3,0.5\n", 1),  # scikit-learn's classes_
    ("5,3,1\n0.2,0.3,0.5\n", 2),  # not in increasing order: data
    ("1,3,5\n2,0.3,0.5\n", 2),  # an integer below: data
    ("1," + "9" * 5000 + "\n0.5,0.5\n", 2),  # beyond int64 (and Python's int() limit): no class value
    ("False,True\n0.2,0.8\n", 1),  # scikit-learn's classes_ of boolean targets
    ("True\nFalse\nTrue\n", 3),  # a column of booleans: data
    ("False,True\nTrue,False\n", 2),  # booleans under it: data
])
def test_integer_header_rule(tmp_path, text, rows):
    f = tmp_path / "m.csv"
    f.write_text(text)
    m = read_matrix(str(f), "--labels", names=True)
    assert np.asarray(m.values).shape[0] == rows
    assert bool(m.notes) == (rows < text.count("\n"))


@pytest.fixture
def sklearn_135(tmp_path):
    """``predict_proba`` of a classifier of classes 1, 3, 5, its ``classes_`` as the header (pandas)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    y = np.array([1, 3, 5])[rng.integers(0, 3, 60)]
    x = rng.normal(size=(60, 2)) + y[:, None] / 2
    clf = LogisticRegression().fit(x, y)
    proba = clf.predict_proba(x)
    pd.DataFrame(proba, columns=clf.classes_).to_csv(tmp_path / "proba.csv", index=False)
    pd.Series(y).to_csv(tmp_path / "y.csv", index=False)
    np.savetxt(tmp_path / "y.txt", y, fmt="%d")
    return tmp_path, clf, y, proba


def test_gh_sklearn_classes_header_and_class_value_labels(xent, sklearn_135):
    from sklearn.metrics import log_loss

    d, clf, y, proba = sklearn_135
    assert (d / "proba.csv").read_text().startswith("1,3,5\n")
    expected = log_loss(y, proba, labels=clf.classes_)
    for labels in ("y.csv", "y.txt"):
        r = xent("ce", "--labels", d / labels, "--probs", d / "proba.csv", "--format", "json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert doc["n"] == 60 and doc["mean"] == pytest.approx(expected, rel=1e-12)
        assert r.stderr.count("proba.csv: line 1 (1,3,5) is read as a header") == 1
        assert r.stderr.count("labels are read as those class values") == 1
    # --classes names class values the same way, for a file without a header
    np.savetxt(d / "bare.csv", proba, delimiter=",", fmt="%.17g")
    doc = json.loads(xent("ce", "--labels", d / "y.txt", "--probs", d / "bare.csv", "--classes", "1,3,5",
                          "--format", "json").stdout)
    assert doc["mean"] == pytest.approx(expected, rel=1e-12)
    # a label that is no class value is bad data naming the row and the classes
    bad = y.copy()
    bad[3] = 7
    np.savetxt(d / "bad.txt", bad, fmt="%d")
    r = xent("ce", "--labels", d / "bad.txt", "--probs", d / "proba.csv")
    assert r.exit_code == 1 and "bad.txt line 4" in r.stderr and "label 7" in r.stderr and "1, 3, 5" in r.stderr
    # an ignored label keeps its meaning; one that would collide with a class position is a wrong call
    bad[3] = -100
    np.savetxt(d / "ignored.txt", bad, fmt="%d")
    keep = bad != -100
    doc = json.loads(xent("ce", "--labels", d / "ignored.txt", "--probs", d / "proba.csv", "--ignore-index", "-100",
                          "--format", "json").stdout)
    assert doc["denominator"] == 59
    assert doc["mean"] == pytest.approx(log_loss(y[keep], proba[keep], labels=clf.classes_), rel=1e-12)
    assert xent("ce", "--labels", d / "y.txt", "--probs", d / "proba.csv", "--ignore-index", "1").exit_code == 2


def test_gh_sklearn_boolean_classes_header(xent, tmp_path):
    """scikit-learn names the columns of a boolean target's predict_proba ``False,True``: a header, not a row."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 2))
    y = x[:, 0] + 0.3 * rng.normal(size=40) > 0
    clf = LogisticRegression().fit(x, y)
    proba = clf.predict_proba(x)
    pd.DataFrame(proba, columns=clf.classes_).to_csv(tmp_path / "proba.csv", index=False)
    pd.DataFrame(proba, columns=clf.classes_).to_csv(tmp_path / "indexed.csv")
    pd.DataFrame(proba, columns=clf.classes_.astype(str)).to_parquet(tmp_path / "proba.parquet")
    pd.Series(y).to_csv(tmp_path / "y.csv", index=False)
    assert (tmp_path / "proba.csv").read_text().startswith("False,True\n")
    r = xent("ce", "--labels", tmp_path / "y.csv", "--probs", tmp_path / "proba.csv", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["n"] == 40 and doc["mean"] == pytest.approx(log_loss(y, proba), rel=1e-12)
    assert "boolean class names" in r.stderr
    for probs in ("indexed.csv", "proba.parquet"):  # a column named True is a class, not the labels
        r = xent("ce", "--labels", tmp_path / "y.csv", "--probs", tmp_path / probs, "--format", "json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["mean"] == pytest.approx(log_loss(y, proba), rel=1e-12)


def test_one_based_integer_class_names_are_class_values(xent, tmp_path):
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    pd.DataFrame(p, columns=[1, 2, 3]).to_csv(tmp_path / "p.csv", index=False)
    doc = json.loads(xent("ce", "--labels", "1,3", "--probs", tmp_path / "p.csv", "--format", "json").stdout)
    assert doc["mean"] == pytest.approx(-(np.log(0.7) + np.log(0.6)) / 2, rel=1e-15)
    # 0…C-1, as pandas names unnamed columns, keeps labels as positions
    pd.DataFrame(p).to_csv(tmp_path / "q.csv", index=False)
    doc = json.loads(xent("ce", "--labels", "0,2", "--probs", tmp_path / "q.csv", "--format", "json").stdout)
    assert doc["mean"] == pytest.approx(-(np.log(0.7) + np.log(0.6)) / 2, rel=1e-15)
    r = xent("ce", "--labels", "0,2", "--probs", tmp_path / "p.csv")
    assert r.exit_code == 1 and "label 0 is not one of the class values 1, 2, 3" in r.stderr


def test_everything_xent_writes_reads_back(xent, tmp_path):
    z = "[[4,2,1],[0,5,1],[1,1,1]]"
    plain = json.loads(xent("softmax", "--logits", z, "--format", "json").stdout)["probs"]
    for args in (["--format", "csv"], ["--format", "csv", "--header"], ["--format", "tsv", "--header"],
                 ["--format", "tsv"]):
        out = xent("softmax", "--logits", z, *args).stdout
        f = tmp_path / ("p.tsv" if "tsv" in args else "p.csv")
        f.write_text(out)
        back = json.loads(xent("entropy", "--probs", f, "--reduction", "none", "--format", "json").stdout)
        assert back["n"] == 3, args
    r = xent("softmax", "--logits", z, "-o", tmp_path / "p.npy")
    assert r.exit_code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), np.array(plain))


def test_quoted_header_names(xent, tmp_path):
    f = tmp_path / "p.csv"
    pd.DataFrame([[0.7, 0.2, 0.1]], columns=["setosa", "versicolor", "virginica"]).to_csv(
        f, index=False, quoting=1)  # csv.QUOTE_ALL: every field quoted, numbers too
    m = read_matrix(str(f), "--probs")
    assert m.names == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(np.asarray(m.values), [[0.7, 0.2, 0.1]])
    r = xent("ce", "--labels", "0", "--probs", f, "--format", "table")
    assert "setosa" in r.stdout and '"' not in r.stdout


def test_npy_output_keeps_leading_dimensions(xent, tmp_path):
    z = np.random.default_rng(3).normal(size=(2, 3, 4))
    np.save(tmp_path / "z.npy", z)
    for args in (["softmax"], ["grad", "--labels", "0,1,2,3,0,1"]):
        assert xent(*args, "--logits", tmp_path / "z.npy", "-o", tmp_path / "o.npy").exit_code == 0
        assert np.load(tmp_path / "o.npy").shape == (2, 3, 4)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    xent("softmax", "--logits", tmp_path / "z.npy", "-o", tmp_path / "o.npy")
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), e / e.sum(axis=-1, keepdims=True), rtol=1e-15)


# -- nothing on stdout when the command fails --------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv", "tsv", "npy"])
@pytest.mark.parametrize("command", ["softmax", "grad"])
def test_gh_bad_row_past_the_first_block_leaves_stdout_empty(tmp_path, fmt, command):
    z = np.random.default_rng(0).normal(size=(400_000, 4))
    z[390_000] = -np.inf  # far beyond the first block of 131 072 rows
    np.save(tmp_path / "bad.npy", z)
    args = [command, "--logits", tmp_path / "bad.npy", "--format", fmt]
    if command == "grad":
        args += ["--labels", "-"]
    r = run_process(*args, input=b"0\n" * 400_000 if command == "grad" else None)
    assert r.returncode == 1
    assert r.stdout == b""
    assert b"row 390001" in r.stderr


def test_bad_label_row_past_the_first_block_leaves_stdout_empty(tmp_path):
    y = np.zeros((300_000, 2))
    y[:, 0] = 1
    y[250_000] = [0.5, 0.6]
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "z.npy", np.zeros((300_000, 2)))
    r = run_process("grad", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "z.npy", "--format", "csv")
    assert r.returncode == 1 and r.stdout == b"" and b"row 250001" in r.stderr


# -- inputs the shell hands over -----------------------------------------------


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gh_process_substitution_and_named_pipes(tmp_path):
    (tmp_path / "data.csv").write_text("0,4,2,1\n1,0,5,1\n")
    np.save(tmp_path / "z.npy", np.array([[4.0, 2, 1], [0, 5, 1]]))
    xent = f"{sys.executable} -m xentcli"
    expected = ce_reference([[4, 2, 1], [0, 5, 1]], np.array([0, 1]))
    for script in (
        f"{xent} ce --labels <(cut -d, -f1 data.csv) --logits <(cut -d, -f2- data.csv) --format json",
        f"{xent} ce --labels <(cut -d, -f1 data.csv) --logits <(cat z.npy) --format json",
        f"mkfifo f.npy; (cat z.npy > f.npy &); {xent} ce --labels 0,1 --logits f.npy --format json",
    ):
        r = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, timeout=120)
        assert r.returncode == 0, (script, r.stderr)
        assert json.loads(r.stdout)["mean"] == pytest.approx(expected, rel=1e-15)


def test_large_stdin_is_spooled_and_streamed(tmp_path, monkeypatch):
    from xentcli import readers

    monkeypatch.setattr(readers, "SPOOL_BYTES", 100)
    z = np.random.default_rng(1).normal(size=(50, 3))
    np.save(tmp_path / "z.npy", z)
    with open(tmp_path / "z.npy", "rb") as f:
        m = read_matrix("-", "--logits", stdin=f)
    np.testing.assert_array_equal(np.asarray(m.values), z)
    m = read_matrix("-", "--logits", stdin=open(tmp_path / "z.npy", "rb"))
    assert not isinstance(m.values, np.ndarray)  # a file read by rows, not bytes in memory


# -- errors that say what to do -------------------------------------------------


@pytest.mark.parametrize("args, hint", [
    (["ce", "--labels", "0,-100,2", "--logits", "1,2,3;4,5,6;7,8,9"], "--ignore-index -100"),
    (["ppl", "--targets", "0,-100", "--logits", "1,2,3;4,5,6"], "--ignore-index -100"),
    (["ce", "--labels", "1,2,3", "--logits", "1,2,3;4,5,6;7,8,9"], "look 1-based"),
    (["ce", "--labels", "0.2,0.8;0.5,0.5", "--logits", "1;0"], "look swapped"),
    (["ce", "--labels", "0,1", "--probs", "1,-2,3;4,5,6"], "did you mean --logits?"),
    (["kl", "--p", "1,-2,3", "--q", "0.2,0.2,0.6"], "did you mean --p-logits?"),
    (["bce", "--labels", "1,0", "--probs", "2,-1"], "did you mean --logits?"),
])
def test_errors_say_what_to_do(xent, args, hint):
    r = xent(*args)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.splitlines()[-1].startswith("Error: ") and hint in r.stderr


def test_renormalize_hint_only_where_it_is_the_cure(xent):
    r = xent("ce", "--labels", "0,1", "--probs", "0.5,0.6,0;0.2,0.2,0.6")
    assert "--renormalize" in r.stderr and "--logits" not in r.stderr
    r = xent("ce", "--labels", "0,1", "--probs", "1,-2,3;4,5,6")
    assert "--renormalize" not in r.stderr


def test_bare_xent_prints_the_command_list():
    r = run_process()
    assert r.returncode == 0 and b"Error" not in r.stderr + r.stdout
    assert b"Commands:" in r.stdout and b"softmax" in r.stdout


def test_help_lines_are_true_for_their_command(xent):
    bce = " ".join(xent("bce", "--help").stdout.split())
    assert "class indices" not in bce and "[0, 1]" in bce
    assert "grad" not in " ".join(xent("ce", "--help").stdout.split()).split("--reduction")[1].split("--base")[0]
    kl = " ".join(xent("kl", "--help").stdout.split())
    assert "label rows" not in kl and "P and Q rows" in kl
    assert "--base B" in xent("ce", "--help").stdout
    r = xent("ce", "--labels", "0", "--probs", "0.7,0.2,0.1", "--base", "3", "--format", "json")
    assert json.loads(r.stdout)["mean"] == pytest.approx(-np.log(0.7) / np.log(3), rel=1e-15)


def test_example_fits_80_columns_and_its_commands_run_anywhere(tmp_path):
    r = run_process("example")
    assert r.returncode == 0
    lines = r.stdout.decode().splitlines()
    assert max(len(line) for line in lines) <= 80
    tries = [line.split("xent ", 1)[1] for line in lines if "xent " in line and "--" in line]
    assert len(tries) >= 3
    for line in tries:  # from an empty folder
        script = " | ".join(f"{sys.executable} -m xentcli {part.strip().removeprefix('xent ')}"
                            for part in ("xent " + line).split("|"))
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (line, done.stderr)


def test_wide_vocabulary_table_shows_label_and_top_class(xent, tmp_path):
    z = np.full((3, 1000), -5.0)
    z[:, 7] = 5.0  # top class 7
    np.save(tmp_path / "z.npy", z)
    out = xent("ce", "--labels", "7,1,2", "--logits", tmp_path / "z.npy", "--format", "table").stdout
    assert "p(label)" in out and "top class" in out and "p(0)" not in out
    row = next(line for line in out.splitlines() if line.strip().startswith("2 "))
    p_top = np.exp(5.0) / (np.exp(5.0) + 999 * np.exp(-5.0))
    assert f"{p_top:.8g}" in row and row.split()[1] == "1"


# -- --shift: next-token alignment --------------------------------------------


@pytest.mark.parametrize("k", range(4))
def test_shift_against_pytorchs_shifted_cross_entropy(xent, tmp_path, reference, k):
    case = reference["shift"][k]
    np.save(tmp_path / "z.npy", np.array(case["logits"]))
    np.save(tmp_path / "t.npy", np.array(case["targets"]))
    ignore = [] if case["ignore_index"] is None else ["--ignore-index", case["ignore_index"]]
    ppl = json.loads(xent("ppl", "--logits", tmp_path / "z.npy", "--targets", tmp_path / "t.npy", "--shift",
                          *ignore, "--format", "json").stdout)
    assert ppl["n"] == case["n"]
    assert ppl["mean"] == pytest.approx(case["mean"], rel=1e-13)
    assert ppl["perplexity"] == pytest.approx(case["perplexity"], rel=1e-13)
    ce = json.loads(xent("ce", "--logits", tmp_path / "z.npy", "--labels", tmp_path / "t.npy", "--shift",
                         *ignore, "--reduction", "none", "--format", "json").stdout)
    assert ce["mean"] == pytest.approx(case["mean"], rel=1e-13)
    np.testing.assert_allclose(ce["per_sample"], case["per_sample"], rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("command", [["ppl", "--logits", "{z}", "--targets", "{t}"],
                                     ["ce", "--logits", "{z}", "--labels", "{t}"],
                                     ["compare", "--base", "{z}", "--test", "{z}", "--targets", "{t}"]])
def test_shift_with_flat_logits_and_sequences_of_targets_is_refused(xent, tmp_path, command):
    # (B·T, V) logits are one sequence; (B, T) targets are B: shifting the one would pair each sequence's last
    # position with the next sequence's first token. Said, naming both shapes, rather than computed.
    rng = np.random.default_rng(12)
    np.save(tmp_path / "z.npy", rng.normal(size=(12, 5)))
    np.save(tmp_path / "t.npy", rng.integers(0, 5, size=(3, 4)))
    args = [a.format(z=tmp_path / "z.npy", t=tmp_path / "t.npy") for a in command]
    r = xent(*args, "--shift")
    assert r.exit_code == 1 and r.stdout == ""
    assert "(3, 4)" in r.stderr and "(12, 5)" in r.stderr and "(3, 4, 5)" in r.stderr
    np.save(tmp_path / "z.npy", rng.normal(size=(3, 4, 5)))  # as asked: each sequence shifted on its own
    assert xent(*args, "--shift").exit_code == 0


def test_shift_streams_across_blocks_and_names_input_rows(xent, tmp_path):
    rng = np.random.default_rng(11)
    z = rng.normal(size=(40, 1001, 4)).astype(np.float32)  # 40 040 rows: several blocks
    t = rng.integers(0, 4, size=(40, 1001))
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "t.npy", t)
    zs, ts = z[:, :-1].reshape(-1, 4).astype(np.float64), t[:, 1:].reshape(-1)
    m = zs.max(axis=1, keepdims=True)
    expected = np.mean(m[:, 0] + np.log(np.exp(zs - m).sum(axis=1)) - zs[np.arange(len(ts)), ts])
    doc = json.loads(xent("ppl", "--logits", tmp_path / "z.npy", "--targets", tmp_path / "t.npy", "--shift",
                          "--format", "json").stdout)
    assert doc["n"] == 40 * 1000 and doc["mean"] == pytest.approx(expected, rel=1e-12)
    z[30, 500, 2] = np.nan  # input row 30·1001 + 500 + 1 (1-based)
    np.save(tmp_path / "z.npy", z)
    r = xent("ppl", "--logits", tmp_path / "z.npy", "--targets", tmp_path / "t.npy", "--shift")
    assert r.exit_code == 1 and f"row {30 * 1001 + 501}" in r.stderr
    r = xent("ce", "--probs", "0.2,0.8;0.5,0.5", "--labels", "0,1", "--shift")  # probabilities shift as logits do
    assert float(r.stdout) == pytest.approx(-np.log(0.8), rel=1e-15)


def test_an_archive_on_stdin_and_its_array_by_name(tmp_path):
    # An .npz of two arrays on stdin: '-:NAME' picks one; '-' alone says so, naming '-', not a temp file.
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.0, 0.3]])
    np.savez(tmp_path / "d.npz", z=z, other=np.zeros(2))
    data = (tmp_path / "d.npz").read_bytes()
    m = z.max(axis=1)
    expected = np.mean(m + np.log(np.exp(z - m[:, None]).sum(axis=1)) - z[[0, 1], [0, 1]])  # labels 0, 1
    picked = run_process("ce", "--logits", "-:z", "--labels", "0,1", input=data)
    assert picked.returncode == 0, picked.stderr
    assert float(picked.stdout) == pytest.approx(expected, rel=1e-15)
    whole = run_process("ce", "--logits", "-", "--labels", "0,1", input=data)
    assert whole.returncode == 2 and b"name one as -:KEY" in whole.stderr
    both = run_process("ce", "--logits", "-:z", "--labels", "-", input=data)
    assert both.returncode == 2 and b"only one option may read stdin" in both.stderr


def test_gh_lone_integer_over_a_column_holding_an_integer_is_data(xent, tmp_path):
    """np.savetxt(fmt='%g') writes 3 and 7 as integers: 3 over 2.5 is the first sample, not pandas' Series name."""
    from sklearn.metrics import log_loss, mean_squared_error

    y, p = [3, 2.5, 4.1, 7, 1.2], [3, 2.7, 4.0, 6.5, 1.0]
    np.savetxt(tmp_path / "y.txt", y, fmt="%g")
    np.savetxt(tmp_path / "p.txt", p, fmt="%g")
    r = xent("mse", "--labels", tmp_path / "y.txt", "--preds", tmp_path / "p.txt", "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["n"] == 5 and doc["mean"] == pytest.approx(mean_squared_error(y, p), rel=1e-12)
    assert "header" not in r.stderr
    # Probabilities whose 0 and 1 %g writes as integers: the label file's one-line-longer rule has nothing to chain off.
    labels, probs = [0, 1, 1, 0, 1], [0.0, 0.7, 1.0, 0.2, 0.9]
    np.savetxt(tmp_path / "yb.txt", labels, fmt="%d")
    np.savetxt(tmp_path / "pb.txt", probs, fmt="%g")
    assert (tmp_path / "pb.txt").read_text().startswith("0\n0.7\n1\n")
    r = xent("bce", "--labels", tmp_path / "yb.txt", "--probs", tmp_path / "pb.txt", "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["n"] == 5 and doc["mean"] == pytest.approx(log_loss(labels, probs), rel=1e-12)
    assert "header" not in r.stderr


def test_ambiguous_lone_integer_is_pandas_name_and_input_header_no_reads_it(xent, tmp_path):
    np.savetxt(tmp_path / "v.txt", [0, 0.3, 0.8], fmt="%g")  # its only integer is its first line: pandas' header
    np.savetxt(tmp_path / "t.txt", [0.5, 0.5, 0.5], fmt="%g")
    r = xent("mse", "--labels", tmp_path / "t.txt", "--preds", tmp_path / "v.txt", "--format", "json")
    assert r.exit_code == 1 and "(3, 1)" in r.stderr  # 2 predictions for 3 targets: never a silent answer
    r = xent("mse", "--labels", tmp_path / "v.txt", "--preds", tmp_path / "v.txt", "--format", "json")
    assert json.loads(r.stdout)["n"] == 2
    assert "line 1 (0) is read as a header" in r.stderr and "--input-header no reads it as data" in r.stderr
    r = xent("mse", "--labels", tmp_path / "t.txt", "--preds", tmp_path / "v.txt", "--input-header", "no",
             "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["n"] == 3 and doc["mean"] == pytest.approx((0.25 + 0.04 + 0.09) / 3, rel=1e-12)
    assert "header" not in r.stderr


def test_gh_input_header_yes_does_not_explain_pandas_names(xent, tmp_path):
    np.savetxt(tmp_path / "y.txt", [3, 2.5, 4.1, 7, 1.2], fmt="%g")
    r = xent("mse", "--labels", tmp_path / "y.txt", "--preds", tmp_path / "y.txt", "--input-header", "yes",
             "--format", "json")
    assert json.loads(r.stdout)["n"] == 4
    assert "pandas" not in r.stderr and "lone integer" not in r.stderr


def test_gh_pandas_index_header_over_integer_labels(xent, tmp_path):
    """to_csv with its index writes ',0' over '0,1': a header whatever the cells under it hold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(23)
    x = rng.normal(size=(45, 2))
    y = rng.integers(0, 3, 45)
    x += y[:, None]
    clf = LogisticRegression().fit(x, y)
    proba = clf.predict_proba(x)
    pd.Series(y).to_csv(tmp_path / "y.csv")
    pd.get_dummies(y).to_csv(tmp_path / "onehot.csv")
    pd.DataFrame(proba, columns=clf.classes_).to_csv(tmp_path / "p.csv")
    assert (tmp_path / "y.csv").read_text().startswith(",0\n0,")
    assert (tmp_path / "onehot.csv").read_text().startswith(",0,1,2\n0,")
    expected = log_loss(y, proba)
    for labels in ("y.csv", "y.csv:0", "onehot.csv"):
        r = xent("ce", "--labels", tmp_path / labels, "--probs", tmp_path / "p.csv", "--format", "json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert doc["n"] == 45 and doc["mean"] == pytest.approx(expected, rel=1e-12)
        assert "over pandas' index column" in r.stderr
    # a boolean target's classifier: ,False,True over the index
    yb = y == 2
    clf = LogisticRegression().fit(x, yb)
    pd.DataFrame(clf.predict_proba(x), columns=clf.classes_).to_csv(tmp_path / "pb.csv")
    pd.Series(yb).to_csv(tmp_path / "yb.csv")
    assert (tmp_path / "pb.csv").read_text().startswith(",False,True\n")
    doc = json.loads(xent("ce", "--labels", tmp_path / "yb.csv", "--probs", tmp_path / "pb.csv",
                          "--format", "json").stdout)
    assert doc["n"] == 45 and doc["mean"] == pytest.approx(log_loss(yb, clf.predict_proba(x)), rel=1e-12)


def test_gh_selector_names_a_first_row_read_as_data(xent, tmp_path):
    """pandas' Series name 0 over integers reads as data, but 'y.csv:0' names it: that line is the header."""
    y = np.array([2, 0, 1, 1])
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.3, 0.4, 0.3]])
    pd.Series(y).to_csv(tmp_path / "y.csv", index=False)
    np.save(tmp_path / "p.npy", p)
    r = xent("ce", "--labels", f"{tmp_path}/y.csv:0", "--probs", tmp_path / "p.npy", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["n"] == 4 and doc["mean"] == pytest.approx(-np.log(p[np.arange(4), y]).mean(), rel=1e-15)
    assert "the selector ':0' names its cells" in r.stderr
    r = xent("ce", "--labels", f"{tmp_path}/y.csv:0", "--probs", tmp_path / "p.npy", "--input-header", "no")
    assert r.exit_code == 2 and "numbered from 1, not 0" in r.stderr


def test_pandas_tab_separated_series_with_its_index(xent, tmp_path):
    """to_csv(sep='\\t') of a Series with its index starts '\\t0': one cell, tab-separated as its rows are."""
    from sklearn.metrics import log_loss

    y = [0, 1, 2, 1, 0]
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3], [0.5, 0.25, 0.25]])
    pd.Series(y).to_csv(tmp_path / "y.tsv", sep="\t")
    pd.DataFrame(p).to_csv(tmp_path / "p.tsv", sep="\t")
    assert (tmp_path / "y.tsv").read_text().startswith("\t0\n0\t0\n")
    r = xent("ce", "--labels", tmp_path / "y.tsv", "--probs", tmp_path / "p.tsv", "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["n"] == 5 and doc["mean"] == pytest.approx(log_loss(y, p), rel=1e-12)
    (tmp_path / "indented.txt").write_text("\t0.5\n\t0.25\n")  # one column indented by tabs stays one column
    r = xent("softmax", "--logits", tmp_path / "indented.txt", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["shape"] == [2, 1]


@pytest.mark.parametrize("command", ["ce", "bce"])
def test_gh_shape_error_says_which_first_line_was_read_as_a_header(xent, tmp_path, command):
    """np.savetxt('%g') writes 0 over values none of which is a whole number: pandas' Series name by the
    rule, said by a warning that a failed run drops; the shape error says it instead."""
    np.savetxt(tmp_path / "p.txt", [0, 0.3, 0.7, 0.2], fmt="%g")  # 3 predictions once line 1 is a header
    np.savetxt(tmp_path / "y.txt", [1, 0], fmt="%g")
    r = xent(command, "--labels", tmp_path / "y.txt", "--probs", tmp_path / "p.txt")
    assert r.exit_code == 1 and r.stderr.count("\n") == 1, r.output
    assert "(2, 1)" in r.stderr and "(3, 1)" in r.stderr
    assert f"line 1 of {tmp_path / 'p.txt'} (0) was read as a header" in r.stderr
    assert r.stderr.rstrip().endswith("--input-header no reads it as data") and "y.txt (" not in r.stderr
    # The labels' own first line: 0 over 0.25, 0.75 read as a header leaves 2 targets for 3 predictions.
    np.savetxt(tmp_path / "t.txt", [0, 0.25, 0.75], fmt="%g")
    np.savetxt(tmp_path / "q.txt", [0.5, 0.3, 0.7], fmt="%g")
    r = xent("bce", "--labels", tmp_path / "t.txt", "--probs", tmp_path / "q.txt")
    assert r.exit_code == 1 and f"line 1 of {tmp_path / 't.txt'} (0) was read as a header" in r.stderr
    # Read as data, nothing went missing and nothing is said.
    r = xent(command, "--labels", tmp_path / "y.txt", "--probs", tmp_path / "p.txt", "--input-header", "no")
    assert r.exit_code == 1 and "(4, 1)" in r.stderr and "read as a header" not in r.stderr


def test_gh_savetxt_first_value_an_integer_other_than_0_is_data(xent, tmp_path):
    """np.savetxt(fmt='%g') writes 3 and 1 as '3' and '1': as headers they dropped a sample from both files."""
    from sklearn.metrics import mean_squared_error

    y, p = np.array([3, 2.5, 1.25, 4.75]), np.array([1, 2.75, 1.5, 4.5])
    np.savetxt(tmp_path / "y.txt", y, fmt="%g")
    np.savetxt(tmp_path / "p.txt", p, fmt="%g")
    r = xent("mse", "--labels", tmp_path / "y.txt", "--preds", tmp_path / "p.txt", "--format", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and r.stderr == "" and doc["n"] == 4
    assert doc["mean"] == pytest.approx(mean_squared_error(y, p), rel=1e-15)
