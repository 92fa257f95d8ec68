"""Regressions from a new user's trial of every input form, each named after what went wrong.

Expected numbers are computed here with NumPy in float64 from the arrays the files were
written from, never by xent.
"""

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import xent

SPECIES = ["setosa", "versicolor", "virginica"]


def mean_ce(z, y):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=1, keepdims=True)
    return float(np.mean(m[:, 0] + np.log(np.exp(z - m).sum(axis=1)) - z[np.arange(len(y)), y]))


@pytest.mark.parametrize("labels, shape", [("y6.npy", (6,)), ("ids.npy", (2, 5))])
def test_gh_shape_mismatch_with_npy_labels_is_an_error_line_not_an_internal_error(tmp_path, labels, shape):
    np.save(tmp_path / "z.npy", np.random.default_rng(0).normal(size=(7, 3)))
    np.save(tmp_path / labels, np.zeros(shape, dtype=np.int64))
    for command, option in (("ce", "--labels"), ("ppl", "--targets"), ("grad", "--labels")):
        r = xent(command, "--logits", tmp_path / "z.npy", option, tmp_path / labels)
        assert r.exit_code == 1 and "internal error" not in r.output
        assert f"labels of shape {shape} fit predictions of shape (7, 3)" in r.output


def test_gh_pandas_named_index_is_not_a_class(tmp_path):
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(7, 3)), rng.integers(0, 3, 7)
    pd.DataFrame(z, columns=SPECIES).rename_axis("id").to_csv(tmp_path / "z.csv")
    np.save(tmp_path / "y.npy", y)
    r = xent("ce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "z.csv", "--format", "json")
    assert r.exit_code == 0 and "'id'" in r.stderr
    assert json.loads(r.stdout)["mean"] == pytest.approx(mean_ce(z, y), rel=1e-14)


def test_gh_whitespace_lines_mixing_tabs_and_spaces(tmp_path):
    (tmp_path / "ws.txt").write_text("0.25 \t-0.26\t 1.28\n0.2\t -1.07  0.72 \n 2.6  \t1.89 -1.4\t\n")
    z = np.array([[0.25, -0.26, 1.28], [0.2, -1.07, 0.72], [2.6, 1.89, -1.4]])
    r = xent("ce", "--labels", "0,1,2", "--logits", tmp_path / "ws.txt", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["mean"] == pytest.approx(mean_ce(z, [0, 1, 2]), rel=1e-14)


@pytest.mark.parametrize("lines", [False, True])
def test_gh_pandas_json_records_select_like_columns(tmp_path, lines):
    rng = np.random.default_rng(2)
    z, y = rng.normal(size=(5, 3)), rng.integers(0, 3, 5)
    df = pd.DataFrame(z, columns=list("abc")).assign(label=y)
    df.to_json(tmp_path / "r.json", orient="records", lines=lines, double_precision=15)
    back = pd.read_json(tmp_path / "r.json", orient="records", lines=lines)[list("abc")].to_numpy()
    r = xent("ce", "--labels", f"{tmp_path}/r.json:label", "--logits", f"{tmp_path}/r.json:a,b,c", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["mean"] == pytest.approx(mean_ce(back, y), rel=1e-14)


def test_gh_labels_may_name_the_full_column_a_glob_stripped(tmp_path):
    p = np.random.default_rng(3).dirichlet(np.ones(3), size=4)
    y = [0, 2, 1, 1]
    df = pd.DataFrame(p, columns=[f"p_{s}" for s in SPECIES])
    df.assign(full=[f"p_{SPECIES[k]}" for k in y], short=[SPECIES[k] for k in y]).to_parquet(tmp_path / "d.parquet")
    expected = float(np.mean(-np.log(p[np.arange(4), y])))
    for column in ("full", "short"):
        r = xent("ce", "--labels", f"{tmp_path}/d.parquet:{column}", "--probs", f"{tmp_path}/d.parquet:p_*",
                 "--format", "json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["mean"] == pytest.approx(expected, rel=1e-14)
