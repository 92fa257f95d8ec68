""".json inputs: files written by json.dump and by pandas, xent's own --format json read back,
the same numbers as .npy, and bad data (exit 1) / wrong calls (exit 2) naming the file."""

import json
import math

import numpy as np
import pytest

from tests.cli_helpers import cli_json, error
from tests.conftest import xent
from xentcli.errors import CallError, DataError
from xentcli.readers import read_matrix

rng = np.random.default_rng(11)


def dump(path, obj, **kwargs):
    with open(path, "w") as f:
        json.dump(obj, f, **kwargs)
    return path


def values(spec):
    return np.asarray(read_matrix(str(spec), "--logits").values)


# --- reading -------------------------------------------------------------------------------------

def test_nested_lists_of_json_dump_read_as_float64(tmp_path):
    z = rng.standard_normal((4, 5))
    got = values(dump(tmp_path / "z.json", z.tolist()))
    assert got.dtype == np.float64 and got.shape == (4, 5) and np.array_equal(got, z)  # repr round-trips


def test_ints_stay_ints_booleans_are_0_and_1_and_a_float_makes_all_floats(tmp_path):
    ints = values(dump(tmp_path / "i.json", [3, 0, 2, 1]))
    assert ints.dtype == np.int64 and ints.tolist() == [3, 0, 2, 1]
    bools = values(dump(tmp_path / "b.json", [[True, False], [False, True]]))
    assert bools.dtype == np.int64 and bools.tolist() == [[1, 0], [0, 1]]
    mixed = values(dump(tmp_path / "m.json", [[1, True], [2.5, 0]]))
    assert mixed.dtype == np.float64 and mixed.tolist() == [[1.0, 1.0], [2.5, 0.0]]


def test_three_axes_and_a_scalar(tmp_path):
    z = rng.standard_normal((2, 3, 4))
    got = values(dump(tmp_path / "z.json", z.tolist()))
    assert got.shape == (2, 3, 4) and np.array_equal(got, z)
    assert values(dump(tmp_path / "s.json", 2.5)).shape == ()


def test_non_finite_literals_and_xents_strings(tmp_path):
    path = tmp_path / "nf.json"
    path.write_text('[[NaN, Infinity, -Infinity], ["nan", "inf", "-inf"], ["NaN", "Infinity", " -INF "]]')
    got = values(path)
    assert got.dtype == np.float64
    for row in got:
        assert math.isnan(row[0]) and row[1] == math.inf and row[2] == -math.inf
    ints_and_inf = values(dump(tmp_path / "ii.json", [[1, "-inf"], [2, 3]]))
    assert ints_and_inf.dtype == np.float64 and ints_and_inf.tolist() == [[1.0, -math.inf], [2.0, 3.0]]


def test_object_key_optional_when_it_holds_one_list(tmp_path):
    z = rng.standard_normal((3, 2))
    path = dump(tmp_path / "d.json", {"name": "run 7", "step": 3, "logits": z.tolist()})
    assert np.array_equal(values(path), z)
    assert np.array_equal(values(f"{path}:logits"), z)


def test_dotted_keys_name_nested_fields_and_a_literal_dotted_key_wins(tmp_path):
    z = rng.standard_normal((2, 3))
    path = dump(tmp_path / "n.json",
                {"out": {"logits": z.tolist(), "note": "x"}, "a.b": [[1.0, 2.0]], "a": {"b": [[9.0]]}})
    assert np.array_equal(values(f"{path}:out.logits"), z)
    assert np.array_equal(values(f"{path}:out"), z)  # an object: its only list
    assert values(f"{path}:a.b").tolist() == [[1.0, 2.0]]


def test_pandas_to_json_values(tmp_path):
    pd = pytest.importorskip("pandas")
    z = rng.standard_normal((5, 3))
    df = pd.DataFrame(z, columns=["a", "b", "c"])
    path = tmp_path / "df.json"
    df.to_json(path, orient="values", double_precision=15)
    assert np.allclose(values(path), z, rtol=1e-12, atol=0)
    labels = tmp_path / "y.json"
    pd.Series([2, 0, 1, 1, 0]).to_json(labels, orient="values")
    y = np.asarray(read_matrix(str(labels), "--labels").values)
    assert y.dtype == np.int64 and y.tolist() == [2, 0, 1, 1, 0]
    # pandas writes NaN as null: bad data, said with where and why
    df.iloc[1, 2] = np.nan
    df.to_json(path, orient="values")
    with pytest.raises(DataError, match=r"df\.json: row 2, position 3: null is not a number \(pandas"):
        read_matrix(str(path), "--logits")


# --- through the CLI -----------------------------------------------------------------------------

def test_cli_gives_the_numbers_of_npy(tmp_path):
    z = rng.standard_normal((6, 7))
    y = rng.integers(0, 7, 6)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    zj = dump(tmp_path / "z.json", z.tolist())
    yj = dump(tmp_path / "y.json", y.tolist())
    for labels in (yj, tmp_path / "y.npy"):
        assert (cli_json("ce", "--labels", labels, "--logits", zj, "--reduction", "none")
                == cli_json("ce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "z.npy",
                            "--reduction", "none"))
    both = dump(tmp_path / "both.json", {"logits": z.tolist(), "labels": y.tolist()})
    assert (cli_json("ce", "--labels", f"{both}:labels", "--logits", f"{both}:logits")
            == cli_json("ce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "z.npy"))


def test_ppl_of_three_axes_matches_npy(tmp_path):
    z = rng.standard_normal((2, 3, 5))
    t = rng.integers(0, 5, (2, 3))
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "t.npy", t)
    path = dump(tmp_path / "lm.json", {"logits": z.tolist(), "targets": t.tolist()})
    assert (cli_json("ppl", "--targets", f"{path}:targets", "--logits", f"{path}:logits")
            == cli_json("ppl", "--targets", tmp_path / "t.npy", "--logits", tmp_path / "z.npy"))


def test_xents_own_json_reads_back(tmp_path):
    z = rng.standard_normal((4, 6))
    np.save(tmp_path / "z.npy", z)
    probs = tmp_path / "probs.json"
    probs.write_text(xent("softmax", "--logits", tmp_path / "z.npy", "--format", "json").stdout)
    assert json.loads(probs.read_text())["command"] == "softmax"
    np.save(tmp_path / "p.npy", np.array(json.loads(probs.read_text())["probs"]))
    assert (cli_json("entropy", "--probs", f"{probs}:probs")
            == cli_json("entropy", "--probs", tmp_path / "p.npy"))
    assert np.array_equal(values(f"{probs}:probs"), np.load(tmp_path / "p.npy"))
    # no key: xent's own output gives its payload (not "shape"), so a pipe of JSON works too
    assert cli_json("entropy", "--probs", probs) == cli_json("entropy", "--probs", tmp_path / "p.npy")
    # another object with several lists and no key: a wrong call listing the keys
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"shape": [4, 6], "probs": json.loads(probs.read_text())["probs"]}))
    out = error("entropy", "--probs", other, code=2)
    assert str(other) in out and "probs (a list 4×6)" in out and "shape (a list 2)" in out and ":KEY" in out


def test_xents_non_finite_strings_read_back(tmp_path):
    """``softmax --log`` writes log(0) as the string "-inf"; read back as logits it is -inf again."""
    z = np.array([[0.5, -np.inf, 1.5], [2.0, 1.0, 0.0]])
    np.save(tmp_path / "z.npy", z)
    lp = tmp_path / "lp.json"
    result = xent("softmax", "--log", "--logits", tmp_path / "z.npy", "--format", "json")
    assert result.exit_code == 0 and '"-inf"' in result.stdout
    lp.write_text(result.stdout)
    got = values(f"{lp}:log_probs")
    assert got[0, 1] == -np.inf
    ref = np.exp(z - z.max(axis=1, keepdims=True))
    ref /= ref.sum(axis=1, keepdims=True)
    back = cli_json("softmax", "--logits", f"{lp}:log_probs")["probs"]
    assert np.allclose(np.array(back, dtype=float), ref, rtol=1e-12, atol=0)


# --- bad data (exit 1) and wrong calls (exit 2) ---------------------------------------------------

def test_ragged_lists_name_the_first_row_of_another_length(tmp_path):
    path = dump(tmp_path / "r.json", [[1, 2, 3], [4, 5, 6], [7, 8], [9]])
    out = error("softmax", "--logits", path, code=1)
    assert str(path) in out and "row 3 has 2 values, but row 1 has 3" in out
    deep = dump(tmp_path / "r3.json", [[[1, 2], [3, 4]], [[5, 6], [7]]])
    assert "row 4 (at [1][1]) has 1 value, but row 1 (at [0][0]) has 2" in error("softmax", "--logits", deep, code=1)
    flat = dump(tmp_path / "rf.json", [[1, 2], 3])
    assert "row 2: a number where a list of 2 values was expected" in error("softmax", "--logits", flat, code=1)


@pytest.mark.parametrize("bad, shown", [('"x"', '"x" is not a number'), ("null", "null is not a number"),
                                         ('{"a": 1}', "an object of 1 key is not a number"),
                                         ("[1, 2]", "a list where a number was expected")])
def test_a_non_number_names_row_and_position(tmp_path, bad, shown):
    path = tmp_path / "bad.json"
    path.write_text(f"[[1, 2, 3], [4, 5, {bad}]]")
    out = error("softmax", "--logits", path, code=1)
    assert f"{path}: row 2, position 3: {shown}" in out


@pytest.mark.parametrize("text", ["[]", "[[], []]", '{"logits": []}', "  \n"])
def test_empty_is_bad_data(tmp_path, text):
    path = tmp_path / "e.json"
    path.write_text(text)
    out = error("softmax", "--logits", path, code=1)
    assert str(path) in out and "empty" in out


@pytest.mark.parametrize("text, shown", [('{"x": [1, 2', "not valid JSON"), ("[1, 2]]", "not valid JSON"),
                                         ('"logits"', '"logits" is not a number'),
                                         ('{"n": 3, "s": "x"}', "holds no list of numbers")])
def test_not_a_list_of_numbers_is_bad_data(tmp_path, text, shown):
    path = tmp_path / "x.json"
    path.write_text(text)
    out = error("softmax", "--logits", path, code=1)
    assert str(path) in out and shown in out


def test_invalid_json_says_where(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('[[1, 2],\n [3 4]]')
    assert "line 2 column 5" in error("softmax", "--logits", path, code=1)
    path.write_bytes(b"[[1, \xff]]")
    assert "not UTF-8" in error("softmax", "--logits", path, code=1)


def test_a_key_naming_nothing_is_a_wrong_call_listing_the_keys(tmp_path):
    path = dump(tmp_path / "d.json", {"logits": [[1.0, 2.0]], "labels": [1], "meta": {"run": "a"}})
    out = error("softmax", "--logits", f"{path}:nope", code=2)
    for part in (str(path), "'nope'", "logits (a list 1×2)", "labels (a list 1)", "meta (an object of 1 key)"):
        assert part in out
    out = error("softmax", "--logits", path, code=2)
    assert "holds 2 lists" in out and "logits" in out and "labels" in out and f"{path}:KEY" in out
    assert "'meta' has no key 'x'; it holds run (a string)" in error("softmax", "--logits", f"{path}:meta.x", code=2)
    assert "'logits' is a list 1×2, not an object" in error("softmax", "--logits", f"{path}:logits.x", code=2)
    with pytest.raises(CallError, match="holds a list 1×2, not an object with keys"):
        read_matrix(f"{dump(tmp_path / 'l.json', [[1, 2]])}:logits", "x")


def test_a_key_naming_a_string_is_bad_data(tmp_path):
    path = dump(tmp_path / "d.json", {"command": "softmax", "probs": [[0.5, 0.5]]})
    out = error("entropy", "--probs", f"{path}:command", code=1)
    assert f"{path}:command" in out and '"softmax" is not a number' in out


# --- pandas' table layouts, and bounds ---------------------------------------------------------

@pytest.mark.parametrize("orient", [None, "split", "records", "columns"])
def test_pandas_default_to_json_layout_reads_as_a_table_with_column_names(tmp_path, orient):
    pd = pytest.importorskip("pandas")
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    p = rng.dirichlet(np.ones(3), size=6)
    y = np.array([0, 2, 1, 1, 0, 2])
    df = pd.DataFrame({"label": y, "p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2]})
    path = tmp_path / "d.json"
    df.to_json(path, double_precision=15, **({} if orient is None else {"orient": orient}))
    got = cli_json("ce", "--labels", f"{path}:label", "--probs", f"{path}:p_*")
    assert got["mean"] == pytest.approx(sklearn_metrics.log_loss(y, p), rel=1e-12)
    # A label column among the numbers, without a selector: a wrong call naming each part's selector.
    message = error("ce", "--labels", f"{path}:label", "--probs", path, code=2)
    assert f"e.g. {path}:p_* for the predictions or {path}:label for the labels" in message
    df.rename(columns={"label": "n"}).to_json(path, **({} if orient is None else {"orient": orient}))
    message = error("ce", "--labels", "0", "--probs", path, code=2)
    assert "the table mixes integers (n) and floats (p_a, p_b, p_c)" in message


def test_gh_pandas_default_to_json_of_unnamed_columns_is_the_matrix(tmp_path):
    """``DataFrame(p).to_json()`` ({"0": {...}, "1": {...}, "2": {...}}) needed p.json:0,1,2."""
    pd = pytest.importorskip("pandas")
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    p = rng.dirichlet(np.ones(3), size=7)
    y = np.array([0, 2, 1, 1, 0, 2, 2])
    pd.DataFrame(p).to_json(tmp_path / "p.json")
    saved = pd.read_json(tmp_path / "p.json").to_numpy()  # the 10 digits pandas writes by default
    got = cli_json("ce", "--labels", ",".join(map(str, y)), "--probs", tmp_path / "p.json")
    assert got["mean"] == pytest.approx(sklearn_metrics.log_loss(y, saved), rel=1e-12)
    assert read_matrix(str(tmp_path / "p.json"), "--probs").names == ["0", "1", "2"]


def test_pandas_series_default_to_json_reads_as_a_vector(tmp_path):
    pd = pytest.importorskip("pandas")
    pd.Series([2, 0, 1]).to_json(tmp_path / "y.json")
    y = values(tmp_path / "y.json")
    assert y.dtype == np.int64 and y.tolist() == [2, 0, 1]


@pytest.mark.parametrize("depth", [65, 999, 1000, 100_000])
def test_json_nested_deeper_than_numpy_or_the_parser_is_located_bad_data(tmp_path, depth):
    path = tmp_path / "deep.json"
    path.write_text("[" * depth + "1" + "]" * depth)
    message = error("softmax", "--logits", path, code=1)
    assert message.startswith(f"Error: --logits {path}: ") and message.count("\n") == 1
    assert "nest" in message and "internal error" not in message


def test_json_document_above_the_bound_is_refused_before_parsing(tmp_path, monkeypatch):
    from xentcli.readers.json import document as jsonfile

    monkeypatch.setattr(jsonfile, "MAX_DOCUMENT_BYTES", 1000)
    dump(tmp_path / "big.json", rng.standard_normal((20, 20)).tolist())
    with pytest.raises(DataError, match=r"big\.json: a JSON document larger than 0 MB.*\.npy.*JSON Lines"):
        read_matrix(str(tmp_path / "big.json"), "--logits")
    # One value a line under a .json name is JSON Lines, read a line at a time at any size.
    (tmp_path / "lines.json").write_text("\n".join(json.dumps(r) for r in rng.standard_normal((20, 20)).tolist()))
    assert read_matrix(str(tmp_path / "lines.json"), "--logits").values.shape == (20, 20)


@pytest.mark.parametrize("unit", ["[" * 900 + "]" * 900 + ",", "[0],"])
def test_json_document_at_the_bound_fails_within_512_mb(tmp_path, unit):
    """The worst failing documents at the bound: lists nested deep (two bytes a list), many tiny lists."""
    from tests.readers.test_text_trust import peak_of_run
    from xentcli.readers.json import document as jsonfile

    path = tmp_path / "worst.json"
    head, tail = "[[0],", '"x"]'
    path.write_text(head + unit * ((jsonfile.MAX_DOCUMENT_BYTES - len(head) - len(tail)) // len(unit)) + tail)
    rc, mb, err = peak_of_run("softmax", "--logits", path)
    assert rc == 1 and err.startswith(f"Error: --logits {path}: ") and err.count("\n") == 1
    assert mb < 512


def test_json_document_of_the_bound_is_read_and_one_byte_more_refused(tmp_path):
    from xentcli.readers.json import document as jsonfile

    p = rng.standard_normal((2, 1000))
    text = json.dumps(p.tolist())
    path = tmp_path / "p.json"
    path.write_text(text + " " * (jsonfile.MAX_DOCUMENT_BYTES - len(text)))
    assert np.array_equal(read_matrix(str(path), "--logits").values, p)
    path.write_text(text + " " * (jsonfile.MAX_DOCUMENT_BYTES + 1 - len(text)))
    message = error("softmax", "--logits", path, code=1)
    assert f"larger than {jsonfile.MAX_DOCUMENT_BYTES >> 20} MB" in message


def test_a_long_string_among_many_numbers_is_bad_data_not_an_array_of_strings(tmp_path):
    # NumPy would make every value as wide as the string: 20 000 × 1 000 000 characters, 80 GB.
    path = tmp_path / "s.json"
    path.write_text("[" + "0," * 20_000 + json.dumps("x" * 1_000_000) + "]")
    message = error("softmax", "--logits", path, code=1)
    assert f"{path}: position 20001: \"xxx" in message and "is not a number" in message
    lines = tmp_path / "s.jsonl"
    lines.write_text("0\n" * 20_000 + json.dumps("x" * 1_000_000) + "\n")
    assert "line 20001" in error("softmax", "--logits", lines, code=1)


def test_pandas_default_to_json_over_named_rows_was_read_transposed(tmp_path):
    """``DataFrame(z, index=['a.jpg', …]).to_json()`` (integer columns outside, names inside) was read
    as orient="index": 4 rows of 3 read as 3 rows of 4."""
    pd = pytest.importorskip("pandas")
    torch = pytest.importorskip("torch")
    z = rng.standard_normal((4, 3))
    y = [2, 0, 1, 1]
    frame = pd.DataFrame(z, index=["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    frame.to_json(tmp_path / "z.json")
    message = error("ce", "--labels", "2,0,1,1", "--logits", tmp_path / "z.json", code=2)
    assert message.startswith(f"Error: --logits {tmp_path}/z.json: ") and message.count("\n") == 1
    assert "either layout" in message and 'orient="split"' in message and 'orient="records"' in message
    # Ids at both levels, or names outside and ids inside: pandas' default layout, columns outside.
    for index, columns in (([7, 3, 5, 1], None), ([7, 3, 5, 1], ["u", "v", "w"])):
        pd.DataFrame(z, index=index, columns=columns).to_json(tmp_path / "c.json", double_precision=15)
        expected = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y)).item()
        got = cli_json("ce", "--labels", "2,0,1,1", "--logits", tmp_path / "c.json")
        assert got["n"] == 4 and got["mean"] == pytest.approx(expected, rel=1e-12)
    # orient="split" carries its layout: the suggested way out reads the named rows right.
    frame.to_json(tmp_path / "s.json", orient="split", double_precision=15)
    expected = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y)).item()
    got = cli_json("ce", "--labels", "2,0,1,1", "--logits", tmp_path / "s.json")
    assert got["mean"] == pytest.approx(expected, rel=1e-12)


def test_pandas_series_json_over_a_shuffled_index_held_no_list_of_numbers(tmp_path):
    pd = pytest.importorskip("pandas")
    pd.Series([2, 0, 1, 1], index=[30, 4, 17, 8]).to_json(tmp_path / "y.json")
    y = values(tmp_path / "y.json")
    assert y.dtype == np.int64 and y.tolist() == [2, 0, 1, 1]  # the file's order, not sorted by index


@pytest.mark.parametrize("index", [["x", "y"], [7, 3]])
def test_json_object_of_objects_with_names_inside_is_ambiguous_and_a_wrong_call(tmp_path, index):
    pd = pytest.importorskip("pandas")
    path = tmp_path / "p.json"
    pd.DataFrame({"a": [.9, .1], "b": [.1, .9]}, index=index).to_json(path, orient="index")
    message = error("ce", "--labels", "0,1", "--probs", path, code=2)
    assert message.startswith(f"Error: --probs {path}: ") and message.count("\n") == 1
    assert 'orient="split"' in message and 'orient="records"' in message


def test_memory_error_in_a_reader_was_an_internal_error(tmp_path, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError()

    dump(tmp_path / "z.json", [[1.0, 2.0]])
    monkeypatch.setattr(json, "loads", exhausted)
    r = xent("softmax", "--logits", tmp_path / "z.json")
    assert r.exit_code == 1 and r.stderr == f"Error: --logits {tmp_path}/z.json: out of memory reading the file\n"


@pytest.mark.parametrize("lines", [False, True])
def test_reset_index_records_after_train_test_split_was_refused_suggesting_its_index_as_labels(tmp_path, lines):
    """``df.reset_index().to_json(orient="records")`` leads with an integer field ``index``: pandas'
    index, left out and said once, never suggested as the labels."""
    pd = pytest.importorskip("pandas")
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    model_selection = pytest.importorskip("sklearn.model_selection")
    p = rng.dirichlet(np.ones(3), size=20)
    y = rng.integers(0, 3, size=20)
    df = pd.DataFrame(p, columns=["p_a", "p_b", "p_c"]).assign(label=y)
    _, test = model_selection.train_test_split(df, random_state=0)
    path = tmp_path / ("r.jsonl" if lines else "r.json")
    test.drop(columns="label").reset_index().to_json(path, orient="records", lines=lines, double_precision=15)
    r = xent("ce", "--labels", ",".join(map(str, test["label"])), "--probs", path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("\n") == 1 and "field 'index' is named like an id" in r.stderr and str(path) in r.stderr
    expected = sklearn_metrics.log_loss(test["label"], test[["p_a", "p_b", "p_c"]], labels=[0, 1, 2])
    assert json.loads(r.stdout)["mean"] == pytest.approx(expected, rel=1e-12)
