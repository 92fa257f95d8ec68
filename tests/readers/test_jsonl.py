""".jsonl (JSON Lines) inputs: files written by pandas and json.dumps read like .npy, fields picked by the
column selector, string fields as class names, and bad data (exit 1) / wrong calls (exit 2) naming the line."""

import json
import math

import numpy as np
import pytest

from tests.cli_helpers import cli_json, error
from tests.conftest import xent
from xentcli.errors import CallError, DataError
from xentcli.readers import read_matrix
from xentcli.readers.json import lines as jsonl

rng = np.random.default_rng(7)
SPECIES = ["setosa", "versicolor", "virginica"]


def lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def text(path, content):
    path.write_text(content)
    return path


def read(spec, option="--logits"):
    return read_matrix(str(spec), option)


@pytest.fixture
def hf(tmp_path):
    """A Hugging Face-like file: input ids, one row of logits and a label per record, plus the .npy of both."""
    z = rng.standard_normal((6, 4))
    y = np.array([3, 0, 1, 2, 2, 0])
    p = lines(tmp_path / "hf.jsonl", [{"input_ids": [101, 7, 102], "logits": z[i].tolist(), "label": int(y[i])}
                                      for i in range(6)])
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    return tmp_path, p, z, y


# --- through the CLI: the numbers of .npy ---------------------------------------------------------

def test_hugging_face_like_records_give_the_numbers_of_npy(hf):
    d, p, _, _ = hf
    ref = cli_json("ce", "--labels", d / "y.npy", "--logits", d / "z.npy", "--reduction", "none")
    assert cli_json("ce", "--labels", f"{p}:label", "--logits", f"{p}:logits", "--reduction", "none") == ref
    assert cli_json("ce", "--labels", f"{p}:label", "--logits", f"{p}:logits") == \
        cli_json("ce", "--labels", d / "y.npy", "--logits", d / "z.npy")


def test_json_dumps_lists_and_numbers_per_line_give_the_numbers_of_npy(hf):
    d, _, z, y = hf
    zl, yl = lines(d / "z.jsonl", z.tolist()), lines(d / "y.jsonl", y.tolist())
    ref = cli_json("ce", "--labels", d / "y.npy", "--logits", d / "z.npy", "--reduction", "none")
    assert cli_json("ce", "--labels", yl, "--logits", zl, "--reduction", "none") == ref
    assert cli_json("softmax", "--logits", zl) == cli_json("softmax", "--logits", d / "z.npy")


def test_pandas_records_with_a_glob_give_the_numbers_of_npy_and_name_the_classes(tmp_path):
    pd = pytest.importorskip("pandas")
    z = rng.standard_normal((6, 3))
    y = np.arange(6) % 3
    df = pd.DataFrame({"id": np.arange(6), **{f"p_{s}": z[:, i] for i, s in enumerate(SPECIES)}, "y": y,
                       "species": [SPECIES[i] for i in y]})
    p = tmp_path / "p.jsonl"
    df.to_json(p, orient="records", lines=True)  # 10 significant digits: .npy gets the numbers pandas wrote
    z = np.array([[json.loads(line)[f"p_{s}"] for s in SPECIES] for line in p.read_text().splitlines()])
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    ref = cli_json("ce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "z.npy", "--reduction", "none")
    assert cli_json("ce", "--labels", f"{p}:y", "--logits", f"{p}:p_*", "--reduction", "none") == ref
    m = read(f"{p}:p_*")
    assert m.names == SPECIES and m.values.shape == (6, 3) and np.array_equal(m.values, z)
    table = xent("softmax", "--logits", f"{p}:p_*", "--format", "table")
    assert table.exit_code == 0, table.output
    assert "setosa" in table.output and "p_setosa" not in table.output
    assert read(f"{p}:2-4").names == [f"p_{s}" for s in SPECIES]  # 1-based field numbers


def test_a_class_index_out_of_range_names_the_physical_line(tmp_path):
    z = tmp_path / "z.npy"
    np.save(z, rng.standard_normal((3, 2)))
    y = text(tmp_path / "y.jsonl", "0\n\n1\n   \n5\n")
    out = error("ce", "--labels", y, "--logits", z, code=1)
    assert "line 5" in out


# --- reading --------------------------------------------------------------------------------------

def test_numbers_per_line_are_a_vector_ints_stay_int64_booleans_are_0_and_1(tmp_path):
    m = read(text(tmp_path / "y.jsonl", "2\n0\ntrue\nfalse\n"), "--labels")
    assert m.values.dtype == np.int64 and m.values.tolist() == [2, 0, 1, 0]
    f = read(text(tmp_path / "t.jsonl", "1\n0.5\n"))
    assert f.values.dtype == np.float64 and f.values.tolist() == [1.0, 0.5]


def test_lists_per_line_are_rows_and_a_float_makes_all_floats(tmp_path):
    m = read(lines(tmp_path / "z.jsonl", [[1, 2, 3], [4, 5, 6]]))
    assert m.values.dtype == np.int64 and m.values.shape == (2, 3)
    f = read(lines(tmp_path / "f.jsonl", [[1, True, 3], [4, 5, 6.5]]))
    assert f.values.dtype == np.float64 and f.values.tolist() == [[1, 1, 3], [4, 5, 6.5]]


def test_blank_lines_are_skipped_and_lines_are_the_physical_lines(tmp_path):
    m = read(text(tmp_path / "z.jsonl", "\n[1, 2]\n  \t\n\n[3, 4]\r\n[5, 6]"))
    assert m.values.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert list(m.lines) == [2, 5, 6]


def test_non_finite_numbers_as_json_and_as_xent_writes_them(tmp_path):
    m = read(text(tmp_path / "z.jsonl", '[NaN, Infinity, -Infinity]\n["nan", "inf", "-inf"]\n'))
    a = m.values
    assert a.dtype == np.float64 and math.isnan(a[0, 0]) and math.isnan(a[1, 0])
    assert a[0, 1:].tolist() == a[1, 1:].tolist() == [math.inf, -math.inf]
    v = read(text(tmp_path / "v.jsonl", '1\n"-inf"\nNaN\n')).values
    assert v[0] == 1 and v[1] == -math.inf and math.isnan(v[2])


def test_a_string_field_is_class_names_as_str_values(tmp_path):
    p = lines(tmp_path / "p.jsonl", [{"x": 1.0, "species": s} for s in SPECIES + ["setosa"]])
    m = read_matrix(f"{p}:species", "--labels")
    assert m.values.dtype.kind == "U" and m.values.shape == (4,)
    assert m.values.tolist() == SPECIES + ["setosa"] and list(m.lines) == [1, 2, 3, 4]


def test_one_numeric_field_is_a_vector_several_are_columns_booleans_are_ints(tmp_path):
    p = lines(tmp_path / "p.jsonl", [{"y": 2, "ok": True, "a": 0.5}, {"y": 0, "ok": False, "a": 1.5}])
    assert read(f"{p}:y", "--labels").values.tolist() == [2, 0]
    ok = read(f"{p}:ok").values
    assert ok.dtype == np.int64 and ok.tolist() == [1, 0]
    m = read(f"{p}:a,y")  # file order, whatever the selector's
    assert m.values.dtype == np.float64 and m.values.tolist() == [[2, 0.5], [0, 1.5]] and m.names == ["y", "a"]


def test_a_record_of_one_field_needs_no_selector(tmp_path):
    m = read(lines(tmp_path / "p.jsonl", [{"logits": [1, 2]}, {"logits": [3, 4]}]))
    assert m.values.tolist() == [[1, 2], [3, 4]]


def test_fields_of_one_kind_need_no_selector_and_keep_their_order(tmp_path):
    p = rng.dirichlet(np.ones(3), size=4)
    m = read(lines(tmp_path / "p.jsonl", [{"c": r[0], "a": r[1], "b": r[2]} for r in p]))
    assert m.names == ["c", "a", "b"] and np.array_equal(m.values, p)
    m = read(lines(tmp_path / "i.jsonl", [{"y0": 1, "y1": False}, {"y0": 0, "y1": True}]))
    assert m.values.dtype == np.int64 and m.values.tolist() == [[1, 0], [0, 1]]
    # a field whose first value is written 0 is a float field when a later record holds a float there
    m = read(text(tmp_path / "late.jsonl", '{"a": 0, "b": 1.0}\n{"a": 0.25, "b": 0.75}\n'))
    assert m.values.tolist() == [[0.0, 1.0], [0.25, 0.75]]


def test_gh_fields_of_several_kinds_without_a_selector_are_a_wrong_call_naming_each_part(tmp_path):
    """pandas' records of a label and p_* columns: which to read is the option's, never guessed."""
    pd = pytest.importorskip("pandas")
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    p = rng.dirichlet(np.ones(3), size=5)
    y = rng.integers(0, 3, 5)
    df = pd.DataFrame({"species": np.array(SPECIES)[y], **{f"p_{s}": p[:, i] for i, s in enumerate(SPECIES)}})
    f = tmp_path / "d.jsonl"
    df.to_json(f, orient="records", lines=True, double_precision=15)
    out = error("ce", "--labels", f, "--probs", f"{f}:p_*", code=2)
    assert (f"--labels {f}: the table mixes class names (species) "
            "and numbers (p_setosa, p_versicolor, p_virginica)") in out
    assert f"select one, e.g. {f}:species for the labels or {f}:p_* for the predictions" in out
    got = cli_json("ce", "--labels", f"{f}:species", "--probs", f"{f}:p_*")
    assert got["mean"] == pytest.approx(sklearn_metrics.log_loss(np.array(SPECIES)[y], p, labels=SPECIES), rel=1e-12)
    # integers among floats, known only at the end: the first record's 0 could have been a float
    late = text(tmp_path / "late.jsonl", '{"p0": 0.5, "n": 0}\n{"p0": 0.25, "n": 2}\n')
    out = error("ce", "--labels", "0,1", "--probs", late, code=2)
    assert f"the table mixes floats (p0) and integers (n): select one, e.g. {late}:p0 for the predictions" in out


def test_large_files_are_converted_by_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "CHUNK_VALUES", 8)
    rows = [[i, i + 1, i + 2] for i in range(50)]
    rows[37][1] = 0.25  # a float in a late chunk makes every value a float
    m = read(lines(tmp_path / "z.jsonl", rows))
    assert m.values.dtype == np.float64 and m.values.tolist() == rows and len(m.lines) == 50
    bad = lines(tmp_path / "b.jsonl", [[1, 2]] * 30 + [[1, None]])
    with pytest.raises(DataError, match="line 31: position 2: null"):
        read(bad)


def test_the_json_output_of_xent_reads_back_a_record_a_line(tmp_path):
    out = cli_json("softmax", "--log", "--logits", "1,2,3;3,2,-inf")["log_probs"]
    assert out[1][2] == "-inf"
    m = read(lines(tmp_path / "p.jsonl", out))
    assert m.values.dtype == np.float64 and m.values.shape == (2, 3) and m.values[1, 2] == -math.inf
    assert np.allclose(np.exp(m.values).sum(axis=1), 1)


# --- bad data (exit 1) and wrong calls (exit 2), naming the line ----------------------------------

@pytest.mark.parametrize("content, message", [
    ("[1, 2]\n[1, 2\n", "line 2: not JSON: "),
    ("1\n2\nsetosa\n", "line 3: not JSON: "),
    ("[1, 2]\n\n[1, 2, 3]\n", "line 3: a list of 3 values, but line 1 holds 2"),
    ("[1, 2]\n[1, null]\n", "line 2: position 2: null is not a number"),
    ('[1, 2]\n[1, "a"]\n', 'line 2: position 2: "a" is not a number'),
    ("[1, 2]\n[1, [2]]\n", "line 2: position 2: a list where a number was expected"),
    ("[1, 2]\n3\n", "line 2: a number, but the records are lists"),
    ("1\n[2]\n", "line 2: a list of 1, but the records are numbers"),
    ("1\n\nnull\n", "line 3: null is not a number"),
    ('"setosa"\n', 'line 1: "setosa" is not a number'),
    ("[]\n", "line 1: an empty list"),
    ("\n  \n", "empty"),
    ("", "empty"),
])
def test_bad_data_names_the_line(tmp_path, content, message):
    p = text(tmp_path / "z.jsonl", content)
    with pytest.raises(DataError) as e:
        read(p)
    assert message in str(e.value) and str(p) in str(e.value)
    out = error("softmax", "--logits", p, code=1)
    assert message in out


@pytest.mark.parametrize("records, selector, message", [
    ([{"logits": [1, 2], "y": 0}, {"logits": [1, 2]}], "y", "line 2: no field 'y'"),
    ([{"logits": [1, 2], "y": 0}, {"logits": [1, 2, 3], "y": 0}], "logits",
     "line 2: field 'logits' holds 3 values, but line 1 holds 2"),
    ([{"logits": [[1, 2], [3, 4]]}], "logits", "line 1: field 'logits' position 1: a list where a number"),
    ([{"y": 0}, {"y": "a"}], "y", "line 2: field 'y': \"a\" is not a number"),
    ([{"y": 0}, {"y": None}], "y", "line 2: field 'y': null is not a number"),
    ([{"s": "a"}, {"s": 3}], "s", "line 2: field 's' holds a number, but on line 1 a string"),
    ([{"y": 0}, [1]], "y", "line 2: a list of 1, but the records are objects"),
    ([{"y": None}], "y", "line 1: field 'y' is null"),
    ([{"y": {"a": 1}}], "y", "line 1: field 'y' holds an object"),
])
def test_bad_records_name_the_line_and_field(tmp_path, records, selector, message):
    p = lines(tmp_path / "p.jsonl", records)
    with pytest.raises(DataError) as e:
        read(f"{p}:{selector}")
    assert message in str(e.value)
    assert message in error("softmax", "--logits", f"{p}:{selector}", code=1)


def test_wrong_calls_list_the_fields(tmp_path, hf):
    _, p, _, _ = hf
    out = error("softmax", "--logits", p, code=2)  # fields of several kinds, no selector: never guessed
    assert "the table mixes lists of integers (input_ids), lists of numbers (logits) and integers (label)" in out
    assert f"e.g. {p}:logits for the predictions, or {p}:input_ids or {p}:label for the labels" in out
    assert "input_ids, logits, label" in error("softmax", "--logits", f"{p}:logit", code=2)
    assert "selected alone" in error("softmax", "--logits", f"{p}:logits,label", code=2)
    assert "no column" in error("softmax", "--logits", f"{p}:9", code=2)
    s = lines(tmp_path / "s.jsonl", [{"a": 1.0, "species": "x"}])
    assert "selected alone" in error("softmax", "--logits", f"{s}:*", code=2)


@pytest.mark.parametrize("content, kind", [("1\n2\n", "numbers"), ("[1, 2]\n", "lists")])
def test_a_selector_on_numbers_or_lists_is_a_wrong_call(tmp_path, content, kind):
    p = text(tmp_path / "z.jsonl", content)
    with pytest.raises(CallError, match=f"records are {kind}; nothing to select"):
        read(f"{p}:logits")
    error("softmax", "--logits", f"{p}:logits", code=2)


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_jsonl_nested_deeply_is_bad_data_naming_the_line(tmp_path, depth):
    path = text(tmp_path / "deep.jsonl", "[1, 2]\n" + "[" * depth + "1" + "]" * depth + "\n")
    message = error("softmax", "--logits", path, code=1)
    assert message.startswith(f"Error: --logits {path}: line 2: ") and message.count("\n") == 1


def test_a_line_longer_than_the_bound_is_bad_data_read_no_further(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 100)
    path = text(tmp_path / "long.jsonl", "[1, 2]\n" + json.dumps(list(range(100))) + "\n")
    with pytest.raises(DataError, match=r"long\.jsonl: line 2: longer than 0 MB"):
        read(path)
