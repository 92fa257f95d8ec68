"""``.parquet`` / ``.feather`` / ``.arrow``: files written by pandas and pyarrow, read like ``.npy``."""

import importlib.util
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.cli_helpers import cli_json
from tests.conftest import xent
from xentcli.errors import CallError
from xentcli.readers import arrow, read_matrix

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
feather = pytest.importorskip("pyarrow.feather")
pd = pytest.importorskip("pandas")

rng = np.random.default_rng(11)
SPECIES = ["setosa", "versicolor", "virginica"]


def write_ipc(path, table, *, stream=False, chunk=None):
    with pa.OSFile(str(path), "wb") as f:
        writer = (pa.ipc.new_stream if stream else pa.ipc.new_file)(f, table.schema)
        writer.write_table(table, max_chunksize=chunk)
        writer.close()
    return path


@pytest.fixture
def iris(tmp_path):
    z = rng.standard_normal((6, 3))
    df = pd.DataFrame({"id": np.arange(6), **{f"p_{s}": z[:, i] for i, s in enumerate(SPECIES)},
                       "species": [SPECIES[i % 3] for i in range(6)]})
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", np.arange(6) % 3)
    df.to_parquet(tmp_path / "p.parquet")
    df.to_feather(tmp_path / "p.feather")
    return tmp_path, z


# --- through the CLI: the numbers of .npy ---------------------------------------------------------

@pytest.mark.parametrize("name", ["p.parquet", "p.feather"])
def test_pandas_files_give_the_numbers_of_npy(iris, name):
    d, z = iris
    ref = cli_json("ce", "--labels", d / "y.npy", "--logits", d / "z.npy", "--reduction", "none")
    assert cli_json("ce", "--labels", d / "y.npy", "--logits", f"{d / name}:p_*", "--reduction", "none") == ref
    df = pd.read_parquet(d / "p.parquet")
    df["y"] = np.arange(6) % 3
    both = d / f"y{name}"
    df.to_parquet(both) if name.endswith(".parquet") else df.to_feather(both)
    assert cli_json("ce", "--labels", f"{both}:y", "--logits", f"{both}:p_*", "--reduction", "none") == ref


def test_labels_out_of_range_from_a_column_are_bad_data(iris):
    d, _ = iris
    r = xent("ce", "--labels", f"{d}/p.parquet:id", "--logits", f"{d}/p.parquet:p_*")
    assert r.exit_code == 1


def test_glob_parts_name_the_classes_in_tables(iris):
    d, _ = iris
    r = xent("softmax", "--logits", f"{d}/p.parquet:p_*", "--format", "table")
    assert r.exit_code == 0, r.output
    assert "setosa" in r.output and "virginica" in r.output and "p_setosa" not in r.output


def test_no_selector_reads_a_table_of_one_kind_whole_without_a_note(iris):
    d, z = iris
    pd.read_parquet(d / "p.parquet").drop(columns=["id", "species"]).to_parquet(d / "q.parquet")
    m = read_matrix(str(d / "q.parquet"), "--logits")
    assert m.names == [f"p_{s}" for s in SPECIES] and m.notes == []
    assert np.array_equal(np.asarray(m.values), z) and m.values.dtype == np.float64


def _iris_probs(tmp_path, label):
    """A table as a user saves predict_proba beside the labels: a label column and p_* columns."""
    p = rng.dirichlet(np.ones(3) * 2, size=12)
    y = rng.integers(0, 3, 12)
    df = pd.DataFrame({"label": label(y), **{f"p_{s}": p[:, i] for i, s in enumerate(SPECIES)}})
    df.to_parquet(tmp_path / "d.parquet")
    df.to_feather(tmp_path / "d.feather")
    return y, p


@pytest.mark.parametrize("name", ["d.parquet", "d.feather"])
@pytest.mark.parametrize("label, what", [(lambda y: np.array(SPECIES)[y], "class names (label)"),
                                         (lambda y: y, "integers (label)")])
def test_gh_string_label_column_never_read_as_soft_labels(tmp_path, name, label, what):
    """`--labels d.parquet` over a label column and p_* columns read the p_* columns as soft labels, exit 0."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y, p = _iris_probs(tmp_path, label)
    f = tmp_path / name
    r = xent("ce", "--labels", f, "--probs", f"{f}:p_*")
    assert r.exit_code == 2 and r.stdout == ""
    assert (f"--labels {f}: the table mixes {what} and " in r.stderr
            and f"select one, e.g. {f}:label for the labels or {f}:p_* for the predictions" in r.stderr)
    r = xent("ce", "--labels", f"{f}:label", "--probs", f)
    assert r.exit_code == 2 and f"e.g. {f}:p_* for the predictions or {f}:label for the labels" in r.stderr
    got = cli_json("ce", "--labels", f"{f}:label", "--probs", f"{f}:p_*")  # the hint's selectors
    assert got["mean"] == pytest.approx(sklearn_metrics.log_loss(label(y), p, labels=label(np.arange(3))), rel=1e-12)


@pytest.mark.parametrize("column", ["label", "n"])
def test_parquet_integer_label_column_never_silently_joins_the_probabilities(tmp_path, column):
    p = rng.dirichlet(np.ones(3), size=5)
    y = np.array([0, 2, 1, 1, 0])
    df = pd.DataFrame({column: y, "p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2]})
    path = tmp_path / "preds.parquet"
    df.to_parquet(path)
    r = xent("ce", "--labels", f"{path}:{column}", "--probs", path)
    assert r.exit_code == 2 and r.stdout == ""
    assert f"({column})" in r.stderr and f"e.g. {path}:p_* for the predictions or {path}:{column} for" in r.stderr
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    got = cli_json("ce", "--labels", f"{path}:{column}", "--probs", f"{path}:p_*")
    assert got["mean"] == pytest.approx(sklearn_metrics.log_loss(y, p), rel=1e-12)


def test_a_label_named_column_among_floats_is_a_wrong_call(tmp_path):
    pd.DataFrame({"target": [0.5, 1.5], "pred": [0.4, 1.0], "other": [1.0, 2.0]}).to_parquet(tmp_path / "r.parquet")
    f = tmp_path / "r.parquet"
    r = xent("mse", "--labels", f, "--preds", f"{f}:pred")
    assert r.exit_code == 2 and "columns named like labels or ids (target) and numbers (pred, other)" in r.stderr
    assert f"e.g. {f}:target for the labels or {f}:pred,other for the predictions" in r.stderr


def test_hints_select_wide_tables_by_column_range_and_boolean_names_whole(tmp_path):
    """A wide table's hint listed only columns 0,…,9; scikit-learn's False/True classes gave FILE:False."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    p = rng.dirichlet(np.ones(300), size=4)
    y = rng.integers(0, 300, 4)
    wide = pd.DataFrame(p, columns=[str(c) for c in range(300)])
    wide.insert(0, "y", y)
    wide.to_parquet(tmp_path / "w.parquet")
    r = xent("ce", "--labels", f"{tmp_path}/w.parquet:y", "--probs", tmp_path / "w.parquet")
    assert r.exit_code == 2 and "w.parquet:2-301 for the predictions" in r.stderr
    got = cli_json("ce", "--labels", f"{tmp_path}/w.parquet:y", "--probs", f"{tmp_path}/w.parquet:2-301")
    assert got["mean"] == pytest.approx(sklearn_metrics.log_loss(y, p, labels=range(300)), rel=1e-12)
    b = pd.DataFrame(rng.dirichlet(np.ones(2), size=4), columns=["False", "True"])
    b.insert(0, "y", [True, False, True, True])
    b.to_parquet(tmp_path / "b.parquet")
    r = xent("ce", "--labels", tmp_path / "b.parquet", "--probs", f"{tmp_path}/b.parquet:False,True")
    assert r.exit_code == 2 and "b.parquet:False,True for the predictions" in r.stderr


def test_pandas_index_columns_are_not_data(tmp_path):
    df = pd.DataFrame({"a": [1.0, 2, 3], "b": [4.0, 5, 6]}, index=[10, 20, 30])
    df.to_parquet(tmp_path / "i.parquet")
    m = read_matrix(str(tmp_path / "i.parquet"), "--x")
    assert m.names == ["a", "b"] and m.notes == []
    with pytest.raises(CallError, match="2 columns: a, b$"):
        read_matrix(f"{tmp_path}/i.parquet:c", "--x")


@pytest.mark.parametrize("kind", ["list", "fixed", "large"])
@pytest.mark.parametrize("fmt", ["parquet", "feather", "arrow-file", "arrow-stream"])
def test_list_columns_are_one_row_per_cell(tmp_path, kind, fmt):
    z = rng.standard_normal((9, 4)).astype(np.float32)
    typ = {"list": pa.list_(pa.float32()), "fixed": pa.list_(pa.float32(), 4),
           "large": pa.large_list(pa.float32())}[kind]
    table = pa.table({"logits": pa.array(list(z), typ)})
    if fmt == "parquet":
        path = tmp_path / "l.parquet"
        pq.write_table(table, path, row_group_size=4)
    elif fmt == "feather":
        path = tmp_path / "l.feather"
        feather.write_feather(table, path, chunksize=4)
    else:
        path = write_ipc(tmp_path / "l.arrow", table, stream=fmt == "arrow-stream", chunk=4)
    for spec in (str(path), f"{path}:logits", f"{path}:1"):
        m = read_matrix(spec, "--logits")
        assert m.values.shape == (9, 4) and m.values.dtype == np.float32 and m.names is None
        assert np.array_equal(np.asarray(m.values), z)
    np.save(tmp_path / "z.npy", z)
    y = ",".join(str(i % 4) for i in range(9))
    assert (cli_json("ce", "--labels", y, "--logits", path)
            == cli_json("ce", "--labels", y, "--logits", tmp_path / "z.npy"))


def test_a_hugging_face_like_table(tmp_path):
    z = rng.standard_normal((5, 3))
    table = pa.table({"input_ids": pa.array([[1, 2, 3], [4], [5, 6], [7, 8, 9, 10], [11]]),
                      "logits": pa.array(list(z), pa.list_(pa.float64())),
                      "label": pa.array([0, 2, 1, 1, 0])})
    pq.write_table(table, tmp_path / "hf.parquet")
    np.save(tmp_path / "z.npy", z)
    path = tmp_path / "hf.parquet"
    assert (cli_json("ce", "--labels", f"{path}:label", "--logits", f"{path}:logits", "--reduction", "none")
            == cli_json("ce", "--labels", "0,2,1,1,0", "--logits", tmp_path / "z.npy", "--reduction", "none"))
    r = xent("ce", "--labels", f"{path}:label", "--logits", path)  # which column? a wrong call
    assert r.exit_code == 2
    assert "lists of integers (input_ids), lists of numbers (logits) and integers (label)" in r.output
    assert f"e.g. {path}:logits for the predictions, or {path}:input_ids or {path}:label for the labels" in r.output
    r = xent("ce", "--labels", f"{path}:label", "--logits", f"{path}:input_ids")  # ragged
    assert r.exit_code == 1 and "column 'input_ids' row 2" in r.output and "--logits" in r.output
    r = xent("ce", "--labels", f"{path}:label", "--logits", f"{path}:logits,label")
    assert r.exit_code == 2 and "selected alone" in r.output


# --- errors -----------------------------------------------------------------------------------------

def test_selector_errors_exit_2_listing_columns(iris):
    d, _ = iris
    r = xent("softmax", "--logits", f"{d}/p.feather:q_*")
    assert r.exit_code == 2
    assert "--logits" in r.output and "p.feather" in r.output
    assert "id, p_setosa, p_versicolor, p_virginica, species" in r.output


@pytest.mark.parametrize("name", ["p.parquet", "p.feather", "c.parquet"])
def test_string_and_categorical_columns_are_class_name_labels(iris, name):
    d, _ = iris
    df = pd.read_parquet(d / "p.parquet")
    df["species"] = df["species"].astype("category")
    df.to_parquet(d / "c.parquet")
    ref = cli_json("ce", "--labels", d / "y.npy", "--logits", d / "z.npy", "--reduction", "none")
    got = cli_json("ce", "--labels", f"{d}/{name}:species", "--logits", f"{d}/{name}:p_*", "--reduction", "none")
    assert got == ref
    # among numeric columns, or where numbers are needed, names are bad data
    r = xent("ce", "--labels", f"{d}/p.parquet:species,id", "--logits", f"{d}/p.parquet:p_*")
    assert r.exit_code == 1 and "'species'" in r.output and "class names" in r.output
    r = xent("softmax", "--logits", f"{d}/p.parquet:species")
    assert r.exit_code == 1 and "expected a number, found 'setosa'" in r.output


def test_nothing_numeric_is_a_wrong_call(tmp_path):
    pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-01-02"])}).to_parquet(tmp_path / "t.parquet")
    r = xent("softmax", "--logits", tmp_path / "t.parquet")
    assert r.exit_code == 2 and "no column of numbers or class names" in r.output and "when (timestamp" in r.output


def test_a_lone_string_column_is_class_name_labels_without_a_selector(tmp_path):
    pd.DataFrame({"s": ["b", "a", "b"]}).to_parquet(tmp_path / "s.parquet")
    got = cli_json("ce", "--labels", tmp_path / "s.parquet", "--probs", "0.2,0.8;0.6,0.4;0.3,0.7", "--classes", "a,b")
    assert got["mean"] == pytest.approx(-(np.log(0.8) + np.log(0.6) + np.log(0.7)) / 3, rel=1e-12)


@pytest.mark.parametrize("fmt", ["parquet", "feather"])
def test_nulls_are_bad_data_naming_column_and_row(tmp_path, fmt):
    table = pa.table({"a": pa.array([1.0, 2.0, 3.0]), "b": pa.array([1.0, None, 3.0]),
                      "l": pa.array([[1.0, 2.0], [3.0, None], [5.0, 6.0]]),
                      "m": pa.array([[1.0, 2.0], None, [5.0, 6.0]])})
    path = tmp_path / f"n.{fmt}"
    (pq.write_table if fmt == "parquet" else feather.write_feather)(table, path)
    for sel, where in (("a,b", "column 'b' row 2"), ("l", "column 'l' row 2"), ("m", "column 'm' row 2")):
        r = xent("softmax", "--logits", f"{path}:{sel}")
        assert r.exit_code == 1 and where in r.output and f"--logits {path}" in r.output, r.output


def test_not_a_parquet_file_is_bad_data(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"not parquet at all")
    r = xent("softmax", "--logits", tmp_path / "x.parquet")
    assert r.exit_code == 1 and "Parquet" in r.output


def test_missing_pyarrow_says_how_to_install(iris, monkeypatch):
    d, _ = iris
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    for name in ("p.parquet", "p.feather"):
        r = xent("softmax", "--logits", d / name)
        assert r.exit_code == 2 and "pip install 'xentcli[arrow]'" in r.output


# --- streaming -------------------------------------------------------------------------------------

@pytest.fixture
def many(tmp_path, monkeypatch):
    """A table of many small row groups / batches, read in batches smaller still."""
    monkeypatch.setattr(arrow.rows, "BATCH_VALUES", 15)  # 5 rows of 3 per decoded batch
    z = rng.standard_normal((203, 3))
    table = pa.table({"a": z[:, 0], "b": z[:, 1].astype(np.float32), "c": (z[:, 2] > 0),
                      "l": pa.array(list(z), pa.list_(pa.float64(), 3))})
    ref = np.column_stack([z[:, 0], z[:, 1].astype(np.float32), z[:, 2] > 0])
    pq.write_table(table, tmp_path / "m.parquet", row_group_size=13)
    write_ipc(tmp_path / "m.arrow", table, chunk=7)
    write_ipc(tmp_path / "s.arrow", table, stream=True, chunk=11)
    return tmp_path, z, ref


@pytest.mark.parametrize("name", ["m.parquet", "m.arrow", "s.arrow"])
def test_rows_across_batch_boundaries(many, name):
    d, z, ref = many
    values = read_matrix(f"{d / name}:a,b,c", "--x").values
    assert values.shape == (203, 3) and values.dtype == np.float64 and values.as_rows() is values
    assert np.array_equal(np.asarray(values), ref)
    for start, stop in [(0, 1), (12, 14), (200, 203), (3, 90), (50, 51), (0, 203), (190, 500), (7, 7)]:
        assert np.array_equal(values.rows(start, stop), ref[start:stop])
    assert np.array_equal(values[[202, 0, 13]], ref[[202, 0, 13]]) and np.array_equal(values[5], ref[5])
    assert np.array_equal(values[10:40:3], ref[10:40:3])
    lists = read_matrix(f"{d / name}:l", "--x").values
    assert np.array_equal(lists.rows(11, 60), z[11:60])


@pytest.mark.parametrize("name", ["m.parquet", "m.arrow", "s.arrow"])
def test_two_threads_read_the_right_rows(many, name, monkeypatch):
    d, z, _ = many
    monkeypatch.setattr(arrow.rows, "CACHE_BYTES", 200)  # evict often: readers restart behind the cursor
    values = read_matrix(f"{d / name}:l", "--x").values
    spans = [(s, min(203, s + 9)) for s in range(0, 203, 9)] * 3
    order = rng.permutation(len(spans))
    barrier = threading.Barrier(2)

    def read(i):
        if i < 2:
            barrier.wait()
        s, e = spans[order[i]]
        return np.array_equal(values.rows(s, e), z[s:e])

    with ThreadPoolExecutor(2) as pool:
        assert all(pool.map(read, range(len(spans))))


def test_the_engine_reads_a_parquet_file_in_blocks_on_threads(many, monkeypatch):
    d, z, _ = many
    monkeypatch.setenv("XENT_THREADS", "2")
    np.save(d / "z.npy", z)
    y = ",".join(str(i % 3) for i in range(203))
    ref = cli_json("ce", "--labels", y, "--logits", d / "z.npy", "--reduction", "none")
    assert cli_json("ce", "--labels", y, "--logits", f"{d}/m.parquet:l", "--reduction", "none") == ref


@pytest.mark.parametrize("fmt", ["parquet", "arrow-stream"])
def test_a_sequence_per_row_reads_as_b_t_v(tmp_path, fmt):
    """``datasets`` stores (T, V) logits per row as list<list<float>>, and the (T,) token ids as list<int>."""
    z = rng.standard_normal((4, 5, 3))
    ids = rng.integers(0, 3, (4, 5))
    table = pa.table({"logits": [r.tolist() for r in z], "input_ids": [r.tolist() for r in ids]})
    if fmt == "parquet":
        path = tmp_path / "seq.parquet"
        pq.write_table(table, path, row_group_size=3)
    else:
        path = write_ipc(tmp_path / "seq.arrow", table, stream=True, chunk=3)
    assert np.asarray(read_matrix(f"{path}:logits", "--logits").values).shape == (4, 5, 3)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp[:, :-1], ids[:, 1:, None], axis=-1)  # next-token, as Hugging Face shifts
    got = cli_json("ppl", "--logits", f"{path}:logits", "--targets", f"{path}:input_ids", "--shift")
    assert got["perplexity"] == pytest.approx(np.exp(nll.mean()), rel=1e-12)
    r = xent("ppl", "--logits", f"{path}:logits", "--targets", path, "--shift")
    assert r.exit_code == 2
    assert "the table mixes sequences of lists of numbers (logits) and lists of integers" in r.stderr
    assert f"e.g. {path}:input_ids for the targets or {path}:logits for the predictions" in r.stderr
    r = xent("softmax", "--logits", f"{path}:logits", "--format", "npy")
    assert r.exit_code == 0


def test_ragged_sequences_are_bad_data_naming_the_row(tmp_path):
    z = rng.standard_normal((3, 4, 2)).tolist()
    short = [z[0], z[1][:2], z[2]]
    pq.write_table(pa.table({"logits": short}), tmp_path / "t.parquet")
    r = xent("softmax", "--logits", tmp_path / "t.parquet")
    assert r.exit_code == 1 and "column 'logits' row 2: a sequence of 2 positions, but row 1 holds 4" in r.stderr
    z[2][3] = z[2][3][:1]
    pq.write_table(pa.table({"logits": z}), tmp_path / "v.parquet")
    r = xent("softmax", "--logits", tmp_path / "v.parquet")
    assert r.exit_code == 1 and "column 'logits' row 3, position 4: a list of 1 values" in r.stderr


@pytest.mark.parametrize("name", ["p.parquet", "p.feather"])
def test_damaged_parquet_and_feather_are_one_line_naming_the_file(iris, name):
    d, _ = iris
    good = (d / name).read_bytes()
    damaged = {"cut": good[: len(good) // 2], "footer": good[:-12] + b"\xff" * 8 + good[-4:],
               "pages": good[:8] + bytes(b ^ 0x5A for b in good[8:len(good) // 2]) + good[len(good) // 2:]}
    for kind, data in damaged.items():
        path = d / f"{kind}-{name}"
        path.write_bytes(data)
        r = xent("softmax", "--logits", f"{path}:p_*")
        assert r.exit_code == 1, (kind, r.stderr)
        assert r.stderr.startswith(f"Error: --logits {path}") and r.stderr.count("\n") == 1
        assert "internal error" not in r.stderr


class _Array2D(pa.ExtensionType):
    """Like ``datasets``' ``Array2D``: an extension type stored as lists of lists."""

    def __init__(self):
        super().__init__(pa.list_(pa.list_(pa.float64())), "xent.test.array2d")

    def __arrow_ext_serialize__(self):
        return b""

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type, serialized):
        return cls()


def test_an_extension_type_reads_as_its_storage(tmp_path):
    z = rng.standard_normal((2, 3, 4))
    storage = pa.array([r.tolist() for r in z], pa.list_(pa.list_(pa.float64())))
    table = pa.table({"logits": pa.ExtensionArray.from_storage(_Array2D(), storage)})
    pa.register_extension_type(_Array2D())
    try:
        path = write_ipc(tmp_path / "x.arrow", table, stream=True)
        assert np.array_equal(np.asarray(read_matrix(str(path), "--logits").values), z)
    finally:
        pa.unregister_extension_type("xent.test.array2d")


def test_parquet_sequence_cell_beyond_the_bound_is_bad_data_before_decoding(tmp_path):
    """A list-of-lists cell (a whole (T, V) sequence) is decoded whole: its declared values are bounded."""
    t, v = 520, 32768  # 17 039 360 values, above the 8 Mi bound
    inner = pa.ListArray.from_arrays(pa.array(np.arange(0, (t + 1) * v, v, dtype=np.int32)),
                                     pa.array(np.zeros(t * v, np.float32)))
    pq.write_table(pa.table({"logits": pa.ListArray.from_arrays(pa.array([0, t], pa.int32()), inner)}),
                   tmp_path / "seq.parquet")
    r = xent("entropy", "--logits", tmp_path / "seq.parquet")
    assert r.exit_code == 1 and r.stderr.count("\n") == 1
    assert (f"Error: --logits {tmp_path}/seq.parquet: column 'logits', row 1: the file declares {t * v} values "
            f"for 1 row, more than the {arrow.MAX_SEQUENCE_VALUES} one list cell may hold as a sequence") in r.stderr


def test_parquet_row_group_declaring_more_values_than_its_rows_hold_is_ragged_before_decoding(tmp_path):
    pq.write_table(pa.table({"z": pa.array([[0.1, 0.9], [0.2, 0.3, 0.5]])}), tmp_path / "r.parquet")
    r = xent("entropy", "--probs", tmp_path / "r.parquet")
    assert r.exit_code == 1 and "rows 1–2: the file declares 5 values for 2 rows" in r.stderr
    assert "ragged" in r.stderr


@pytest.mark.parametrize("name", ["p.parquet", "p.feather"])
def test_memory_error_while_decoding_a_table_is_a_located_line_not_an_internal_error(iris, monkeypatch, name):
    tmp, _ = iris

    def exhausted(self, batch, b0):
        raise MemoryError()

    monkeypatch.setattr(arrow.ArrowRows, "_decode", exhausted)
    r = xent("softmax", "--logits", f"{tmp}/{name}:p_*")
    assert r.exit_code == 1 and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"Error: --logits {tmp}/{name}: out of memory decoding the rows from row 1")


@pytest.mark.parametrize("stream", [False, True])
def test_class_names_across_record_batches_keep_the_file_order(tmp_path, stream):
    names = ["virginica", "setosa", "setosa", "versicolor", "virginica", "setosa"]
    table = pa.table({"species": pa.array(names).dictionary_encode()})
    got = read_matrix(str(write_ipc(tmp_path / "y.arrow", table, stream=stream, chunk=2)), "--labels").values
    assert got.tolist() == names
    pq.write_table(pa.table({"species": names}), tmp_path / "y.parquet", row_group_size=4)
    assert read_matrix(str(tmp_path / "y.parquet"), "--labels").values.tolist() == names


@pytest.mark.parametrize("fmt", ["csv", "parquet", "feather", "json"])
@pytest.mark.parametrize("labels", [["setosa", "virginica", "versicolor", "setosa"], [0, 2, 1, 0]])
def test_mixed_table_hint_included_a_number_column_that_is_not_a_class(tmp_path, fmt, labels):
    """Columns ``label, z_setosa, z_versicolor, z_virginica, w``: the hint was ``FILE:z_setosa,…,w``,
    a wrong loss when pasted."""
    from scipy.special import softmax
    from sklearn.metrics import log_loss

    from tests.cli_helpers import error

    z = rng.standard_normal((4, 3))
    df = pd.DataFrame({"label": labels, "z_setosa": z[:, 0], "z_versicolor": z[:, 1], "z_virginica": z[:, 2],
                       "w": rng.random(4)})
    path = tmp_path / f"d.{fmt}"
    if fmt == "json":
        df.to_json(path, orient="records", double_precision=15)
    else:
        getattr(df, f"to_{fmt}")(path, **({"index": False} if fmt == "csv" else {}))
    text_cell = fmt == "csv" and isinstance(labels[0], str)  # bad data at the first text cell, with the hint
    message = error("ce", "--labels", f"{path}:label", "--logits", path, code=1 if text_cell else 2)
    hint = f"{path}:z_* (w is not a class: add it by name if it is)"
    assert hint in message and message.count("\n") == 1
    classes = ["setosa", "versicolor", "virginica"]
    y = [classes.index(c) for c in labels] if isinstance(labels[0], str) else labels
    got = cli_json("ce", "--labels", "0,2,1,0", "--logits", f"{path}:z_*")
    assert got["mean"] == pytest.approx(log_loss(y, softmax(z, axis=1), labels=[0, 1, 2]), rel=1e-9)


@pytest.mark.parametrize("fmt", ["feather", "parquet"])
def test_reset_index_table_after_train_test_split_was_refused_suggesting_its_index_as_labels(tmp_path, fmt):
    """``df.reset_index().to_feather()`` adds an integer column ``index``: it was a wrong call suggesting
    ``f.feather:index for the labels``; it is pandas' index, left out and said once."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    p = rng.dirichlet(np.ones(3), size=20)
    y = rng.integers(0, 3, size=20)
    df = pd.DataFrame(p, columns=["p_a", "p_b", "p_c"]).assign(label=y)
    _, test = train_test_split(df, random_state=0)
    path = tmp_path / f"f.{fmt}"
    getattr(test.drop(columns="label").reset_index(), f"to_{fmt}")(path)
    r = xent("ce", "--labels", ",".join(map(str, test["label"])), "--probs", path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("\n") == 1 and "column 'index' is named like an id" in r.stderr and str(path) in r.stderr
    expected = log_loss(test["label"], test[["p_a", "p_b", "p_c"]], labels=[0, 1, 2])
    assert json.loads(r.stdout)["mean"] == pytest.approx(expected, rel=1e-12)
    # Selected by name it is read like any other column.
    assert cli_json("entropy", "--probs", f"{path}:p_*", "--reduction", "none")["n"] == 5


def test_gh_parquet_without_an_extension_is_read_as_parquet(tmp_path):
    # The hostile trial's case: sniffed as Parquet, then opened as Arrow IPC ("Not an Arrow file").
    pd = pytest.importorskip("pandas")
    z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    pd.DataFrame(z, columns=["a", "b", "c"]).to_parquet(tmp_path / "logits")
    np.save(tmp_path / "z.npy", z)
    result = xent("softmax", "--logits", tmp_path / "logits")
    assert result.exit_code == 0
    assert result.stdout == xent("softmax", "--logits", tmp_path / "z.npy").stdout
