"""Text tables as tools write them: column selection, pandas' index, class-name labels,
decimal commas, mixed whitespace, booleans. Every expected number is computed here from
the array given to the writer (NumPy, float64), never by xent."""


import json

import numpy as np
import pandas as pd
import pytest

from tests.cli_helpers import cli_json
from tests.conftest import xent
from xentcli.readers import read_matrix

SPECIES = ["setosa", "versicolor", "virginica"]




def ce_of_probs(p, y):
    return float(np.mean(-np.log(np.asarray(p)[np.arange(len(y)), y])))


@pytest.fixture
def iris(tmp_path):
    rng = np.random.default_rng(9)
    p = rng.dirichlet(np.ones(3), size=8)
    y = np.arange(8) % 3
    df = pd.DataFrame({"id": 100 + np.arange(8), "label": [SPECIES[k] for k in y],
                       **{f"p_{s}": p[:, i] for i, s in enumerate(SPECIES)}})
    df.to_csv(tmp_path / "preds.csv", index=False)
    return tmp_path, df, p, y


def test_one_file_id_label_and_probability_columns(iris):
    d, df, p, y = iris
    f = d / "preds.csv"
    # pandas writes floats to 17 significant digits: the file holds exactly p
    doc = cli_json("ce", "--labels", f"{f}:label", "--probs", f"{f}:p_*")
    assert doc["mean"] == pytest.approx(ce_of_probs(p, y), rel=1e-15)
    table = xent("ce", "--labels", f"{f}:label", "--probs", f"{f}:p_*", "--format", "table").stdout
    assert "p(setosa)" in table and "virginica" in table
    # the same columns by name or by 1-based numbers: those names are the column names,
    # so the class names of the labels come from --classes
    classes = ("--classes", ",".join(SPECIES))
    assert cli_json("ce", "--labels", f"{f}:label", "--probs", f"{f}:p_setosa,p_versicolor,p_virginica",
                    *classes) == doc
    assert cli_json("ce", "--labels", f"{f}:label", "--probs", f"{f}:3-5", *classes) == doc
    r = xent("ce", "--labels", f"{f}:label", "--probs", f"{f}:3-5")
    assert r.exit_code == 1 and "not one of the classes: p_setosa, p_versicolor, p_virginica" in r.output


def test_selector_naming_nothing_lists_the_columns(iris):
    d, *_ = iris
    r = xent("ce", "--labels", f"{d}/preds.csv:lable", "--probs", f"{d}/preds.csv:p_*")
    assert r.exit_code == 2 and "id, label, p_setosa" in r.output


def test_headerless_file_by_column_ranges(tmp_path):
    z = np.random.default_rng(2).normal(size=(5, 4))
    np.savetxt(tmp_path / "z.csv", np.column_stack([np.arange(5) % 3, z]), delimiter=",", fmt="%.17g")
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", np.arange(5) % 3)
    ref = cli_json("ce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "z.npy")
    assert cli_json("ce", "--labels", f"{tmp_path}/z.csv:1", "--logits", f"{tmp_path}/z.csv:2-5") == ref


def test_pandas_index_column_is_not_a_class(tmp_path):
    p = np.random.default_rng(4).dirichlet(np.ones(3), size=6)
    pd.DataFrame(p, columns=SPECIES).to_csv(tmp_path / "proba.csv")  # default: an index column
    pd.DataFrame(p).to_csv(tmp_path / "numbered.csv")  # index, and column numbers 0,1,2
    for name in ("proba.csv", "numbered.csv"):
        m = read_matrix(str(tmp_path / name), "--probs")
        np.testing.assert_array_equal(np.asarray(m.values), p)
    # the note quotes the header line as pandas wrote it, the index column's empty cell included
    assert (tmp_path / "numbered.csv").read_text().splitlines()[0] == ",0,1,2"
    assert any("line 1 (,0,1,2) is read as a header of column numbers" in note for note in m.notes)
    # a vocabulary's header is quoted by its start
    pd.DataFrame(np.random.default_rng(4).normal(size=(2, 300))).to_csv(tmp_path / "wide.csv", index=False)
    m = read_matrix(str(tmp_path / "wide.csv"), "--logits")
    assert any("line 1 (0,1,2,3,4,5,6,7,… 300 cells)" in note for note in m.notes)
    doc = cli_json("entropy", "--probs", tmp_path / "proba.csv", "--reduction", "none")
    np.testing.assert_allclose(doc["per_sample"], -(p * np.log(p)).sum(axis=1), rtol=1e-14)


@pytest.mark.parametrize("labels", ["names.txt", "names_header.txt"])
def test_class_name_labels(tmp_path, labels):
    p = np.random.default_rng(5).dirichlet(np.ones(3), size=4)
    y = [2, 0, 1, 2]
    pd.DataFrame(p, columns=SPECIES).to_csv(tmp_path / "p.csv", index=False)
    names = "\n".join(SPECIES[k] for k in y) + "\n"
    (tmp_path / "names.txt").write_text(names)  # its first line is a class: no header
    (tmp_path / "names_header.txt").write_text("species\n" + names)
    doc = cli_json("ce", "--labels", tmp_path / labels, "--probs", tmp_path / "p.csv")
    assert doc["mean"] == pytest.approx(ce_of_probs(p, y), rel=1e-15)


def test_class_names_from_classes_option_and_errors(tmp_path):
    (tmp_path / "y.txt").write_text("cat\ndog\n")
    doc = cli_json("ce", "--labels", tmp_path / "y.txt", "--probs", "0.7,0.2,0.1;0.1,0.8,0.1",
                   "--classes", "cat,dog,man")
    assert doc["mean"] == pytest.approx(-(np.log(0.7) + np.log(0.8)) / 2, rel=1e-15)
    r = xent("ce", "--labels", tmp_path / "y.txt", "--probs", "0.7,0.2,0.1;0.1,0.8,0.1")
    assert r.exit_code == 2 and "--classes" in r.output
    (tmp_path / "bad.txt").write_text("cat\nbird\n")
    r = xent("ce", "--labels", tmp_path / "bad.txt", "--probs", "0.7,0.2,0.1;0.1,0.8,0.1", "--classes", "cat,dog,man")
    assert r.exit_code == 1 and "line 2" in r.output and "'bird'" in r.output and "cat, dog, man" in r.output
    # names are labels, never logits
    r = xent("softmax", "--logits", tmp_path / "y.txt")
    assert r.exit_code == 1 and "expected a number, found 'dog'" in r.output


def test_boolean_integer_and_float_label_columns(tmp_path):
    z = np.random.default_rng(6).normal(size=(4, 2))
    t = np.array([[True, False], [False, True], [True, True], [False, False]])
    df = pd.DataFrame({"a": t[:, 0], "b": t[:, 1]})
    df.to_csv(tmp_path / "bool.csv", index=False)  # True/False
    df.astype(int).to_csv(tmp_path / "int.csv", index=False)
    df.astype(float).to_csv(tmp_path / "float.csv", index=False)
    sig = 1 / (1 + np.exp(-z))
    expected = np.mean(-(t * np.log(sig) + (1 - t) * np.log(1 - sig)).sum(axis=1))
    zs = ";".join(",".join(repr(float(v)) for v in row) for row in z)
    for name in ("bool.csv", "int.csv", "float.csv"):
        doc = cli_json("bce", "--labels", tmp_path / name, "--logits", zs)
        assert doc["mean"] == pytest.approx(expected, rel=1e-13), name


def test_decimal_commas_read_and_a_mixed_file_located(tmp_path):
    (tmp_path / "p.csv").write_text("0,7;0,2;0,1\n0,25;0,5;0,25\n")
    m = read_matrix(str(tmp_path / "p.csv"), "--probs")
    np.testing.assert_array_equal(np.asarray(m.values), [[0.7, 0.2, 0.1], [0.25, 0.5, 0.25]])
    doc = cli_json("ce", "--labels", "0,1", "--probs", tmp_path / "p.csv")
    assert doc["mean"] == pytest.approx(-(np.log(0.7) + np.log(0.5)) / 2, rel=1e-15)
    (tmp_path / "mixed.csv").write_text("0,7;0,2;0,1\n0.25;0,5;0,25\n")
    r = xent("ce", "--labels", "0,1", "--probs", tmp_path / "mixed.csv")
    assert r.exit_code == 1 and "line 2, column 1" in r.output and "decimal" in r.output


def test_whitespace_runs_of_spaces_and_tabs(tmp_path):
    (tmp_path / "z.txt").write_text("4 2\t1\n0\t 5   1\n")
    np.testing.assert_array_equal(np.asarray(read_matrix(str(tmp_path / "z.txt"), "--logits").values),
                                  [[4, 2, 1], [0, 5, 1]])
    # a real TSV keeps its empty cells
    (tmp_path / "t.tsv").write_text("1\t\t3\n")
    r = xent("softmax", "--logits", tmp_path / "t.tsv")
    assert r.exit_code == 1 and "column 2: empty cell" in r.output


def test_ragged_rows_are_found_with_a_selector(tmp_path):
    (tmp_path / "z.csv").write_text("a,b,c\n1,2,3\n4,5,6,7\n")
    r = xent("softmax", "--logits", f"{tmp_path}/z.csv:a,b")
    assert r.exit_code == 1 and "line 3" in r.output and "found 4 values, expected 3" in r.output


def test_gh_mixed_table_without_selector_names_the_selector(iris, tmp_path):
    d, df, p, y = iris
    f = d / "preds.csv"
    for option in ("--probs", "--logits"):
        r = xent("ce", "--labels", f"{f}:label", option, f)
        assert r.exit_code == 1 and r.stderr.count("\n") == 1
        assert "line 2, column 2: expected a number, found 'setosa'" in r.stderr
        assert f"select the numbers, e.g. {f}:p_*" in r.stderr and "(label)" in r.stderr
    # the selector it names reads the table
    assert cli_json("ce", "--labels", f"{f}:label", "--probs", f"{f}:p_*")["mean"] == pytest.approx(
        ce_of_probs(p, y), rel=1e-15)
    # no shared prefix: the number columns by name
    df.rename(columns={"p_setosa": "x", "p_versicolor": "y", "p_virginica": "z"}).drop(columns="id").to_csv(
        tmp_path / "plain.csv", index=False)
    r = xent("entropy", "--probs", tmp_path / "plain.csv")
    assert r.exit_code == 1 and f"e.g. {tmp_path / 'plain.csv'}:x,y,z" in r.stderr


@pytest.mark.parametrize("index_name", ["id", "sample_id", "Unnamed: 0", "row"])
def test_gh_named_index_of_a_shuffled_split_is_left_out(tmp_path, index_name):
    """rename_axis('id').to_csv() writes 'id,0,1,2' over a test split's shuffled row labels: no class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(31)
    y = pd.Series(rng.integers(0, 3, 120), name="target")
    x = pd.DataFrame(rng.normal(size=(120, 2)) + y.to_numpy()[:, None], columns=["a", "b"])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    clf = LogisticRegression().fit(x_train, y_train)
    z = pd.DataFrame(clf.decision_function(x_test), index=x_test.index).rename_axis(index_name)
    z.to_csv(tmp_path / "z.csv")
    y_test.rename_axis(index_name).to_csv(tmp_path / "y.csv")
    assert (tmp_path / "z.csv").read_text().startswith(f"{index_name},0,1,2\n")
    assert not np.array_equal(x_test.index, np.sort(x_test.index))  # ids in no order
    r = xent("ce", "--labels", tmp_path / "y.csv", "--logits", tmp_path / "z.csv", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["n"] == 30 and doc["mean"] == pytest.approx(log_loss(y_test, clf.predict_proba(x_test)), rel=1e-9)
    for f in ("z.csv", "y.csv"):  # said once per file
        assert r.stderr.count(f"{f}: column '{index_name}' is named like an id and holds integers") == 1


@pytest.mark.parametrize("name", ["label", "target", "y", "Class"])
def test_gh_label_column_among_predictions_is_a_wrong_call(tmp_path, name):
    p = np.random.default_rng(6).dirichlet(np.ones(3), size=5)
    y = np.array([0, 2, 1, 1, 0])
    pd.DataFrame({name: y, **{f"p_{s}": p[:, i] for i, s in enumerate(SPECIES)}}).to_csv(tmp_path / "preds.csv",
                                                                                          index=False)
    f = tmp_path / "preds.csv"
    r = xent("ce", "--labels", f"{f}:{name}", "--probs", f)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert f"{f}:{name} for the labels" in r.stderr and f"{f}:p_* for the predictions" in r.stderr
    assert cli_json("ce", "--labels", f"{f}:{name}", "--probs", f"{f}:p_*")["mean"] == pytest.approx(ce_of_probs(p, y),
                                                                                                   rel=1e-15)


def entropy_of(p):
    return -(p * np.log(p)).sum(axis=1)


@pytest.mark.parametrize("sep, rows", [(" ", ["1", "2", "3"]), ("\t", ["a", "b", "c"]), (",", ["x1", "x2", "x3"])])
def test_gh_r_write_table_header_one_short_over_row_names(tmp_path, sep, rows):
    # R's write.table(df): no name for the row-names column, every name quoted. pandas writes the
    # same layout with index_label=False ("for easier importing in R").
    import csv

    p = rng_probs(3, 3)
    f = tmp_path / "r.txt"
    pd.DataFrame(p, columns=["V1", "V2", "V3"], index=rows).to_csv(f, sep=sep, quoting=csv.QUOTE_NONNUMERIC,
                                                                    index_label=False)
    assert f.read_text().splitlines()[0] == sep.join(['"V1"', '"V2"', '"V3"'])
    r = xent("entropy", "--probs", f, "--reduction", "none", "--format", "json")
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(json.loads(r.stdout)["per_sample"], entropy_of(p), rtol=1e-12)
    assert r.stderr.count("\n") == 1 and "names one column fewer than the rows under it" in r.stderr
    assert "row names, left out" in r.stderr
    doc = cli_json("softmax", "--logits", f"{f}:V2,V3")  # selectors name R's columns
    z = p[:, 1:]
    np.testing.assert_allclose(doc["probs"], np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-12)


def test_r_write_csv_empty_first_header_cell(tmp_path):
    # R's write.csv(df): '"","V1","V2"' over '"1",0.1,0.9', as pandas' to_csv with its index.
    import csv

    p = rng_probs(4, 2)
    f = tmp_path / "w.csv"
    pd.DataFrame(p, columns=["V1", "V2"], index=[str(i) for i in range(1, 5)]).to_csv(
        f, quoting=csv.QUOTE_NONNUMERIC, index_label="")
    assert f.read_text().startswith('"","V1","V2"\n')
    assert f.read_text().splitlines()[1] == f'"1",{float(p[0, 0])!r},{float(p[0, 1])!r}'
    doc = cli_json("entropy", "--probs", f, "--reduction", "none")
    np.testing.assert_allclose(doc["per_sample"], entropy_of(p), rtol=1e-12)


def rng_probs(n, c):
    return np.random.default_rng(5).dirichlet(np.ones(c), n)


@pytest.mark.parametrize("streamed", [False, True])
def test_gh_shuffled_index_named_subject_is_a_wrong_call_as_integers_beside_floats(tmp_path, monkeypatch, streamed):
    """rename_axis('subject') over a shuffled split's index was read as a class (CE 60.02 against log_loss
    0.4621, exit 0): as a table of integers beside floats it is a wrong call naming the class columns."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    from xentcli.readers import text

    rng = np.random.default_rng(19)
    y = pd.Series(rng.integers(0, 3, 120))
    x = pd.DataFrame(rng.normal(size=(120, 2)) + y.to_numpy()[:, None], columns=["a", "b"])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    clf = LogisticRegression().fit(x_train, y_train)
    z = pd.DataFrame(np.log(clf.predict_proba(x_test)), index=x_test.index, columns=SPECIES).rename_axis("subject")
    z.to_csv(tmp_path / "f.csv")
    np.save(tmp_path / "y.npy", y_test.to_numpy())
    if streamed:
        monkeypatch.setattr(text.main, "STREAM_TEXT_BYTES", 0)
        monkeypatch.setattr(text.common, "TEXT_CHUNK", 256)
    f = tmp_path / "f.csv"
    r = xent("ce", "--labels", tmp_path / "y.npy", "--logits", f)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert "'subject'" in r.stderr and "looks like row ids" in r.stderr
    assert f"e.g. {f}:setosa,versicolor,virginica" in r.stderr and "FILE" not in r.stderr
    doc = cli_json("ce", "--labels", tmp_path / "y.npy", "--logits", f"{f}:setosa,versicolor,virginica")
    assert doc["mean"] == pytest.approx(log_loss(y_test, clf.predict_proba(x_test)), rel=1e-9)
