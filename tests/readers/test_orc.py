"""``.orc`` inputs: files written by pandas' ``DataFrame.to_orc`` (pyarrow) read like ``.npy`` of the same
array, columns picked as for Parquet, and a damaged file refused in one line."""

import json

import numpy as np
import pytest

from tests.conftest import xent

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow.orc")

SPECIES = ["setosa", "versicolor", "virginica"]


@pytest.fixture
def table(tmp_path):
    """Logits in three float columns, integer labels and their class names, as ORC, and the same as .npy."""
    rng = np.random.default_rng(20)
    z = rng.standard_normal((40, 3))
    y = rng.integers(0, 3, 40)
    df = pd.DataFrame(z, columns=[f"p_{s}" for s in SPECIES])
    df["label"] = y
    df["species"] = [SPECIES[i] for i in y]
    df.to_orc(tmp_path / "t.orc")
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    return tmp_path


def same(*args):
    """The one run's stdout, which must succeed."""
    r = xent(*args)
    assert r.exit_code == 0, r.output
    return r.stdout


def test_orc_columns_read_as_the_npy_of_the_same_array(table):
    orc, npy = table / "t.orc", table / "z.npy"
    for command in (["softmax", "--format", "csv"], ["entropy", "--format", "json", "--reduction", "none"]):
        assert same(*command, "--logits", f"{orc}:p_*") == same(*command, "--logits", npy)
    expected = same("ce", "--logits", npy, "--labels", table / "y.npy", "--format", "json")
    assert same("ce", "--logits", f"{orc}:p_*", "--labels", f"{orc}:label", "--format", "json") == expected


def test_orc_columns_picked_by_number_read_as_the_npy_of_those_columns(table):
    z = np.load(table / "z.npy")
    np.save(table / "picked.npy", z[:, [0, 2]])
    assert (same("softmax", "--logits", f"{table / 't.orc'}:1,3", "--format", "csv")
            == same("softmax", "--logits", table / "picked.npy", "--format", "csv"))


def test_orc_class_name_column_reads_as_labels(table):
    orc = table / "t.orc"
    expected = same("ce", "--logits", table / "z.npy", "--labels", table / "y.npy", "--format", "json")
    doc = json.loads(same("ce", "--logits", f"{orc}:p_*", "--labels", f"{orc}:species", "--format", "json"))
    assert doc["mean"] == json.loads(expected)["mean"] and doc["n"] == 40


def test_orc_of_many_stripes_reads_every_row_in_order(tmp_path, monkeypatch):
    """Small stripes (pyarrow's writer cuts one at about stripe_size bytes) and small batches: rows
    across stripe and batch boundaries land where the .npy has them."""
    import pyarrow.orc

    from xentcli.readers import arrow

    z = np.random.default_rng(21).standard_normal((3000, 4))
    pd.DataFrame(z, columns=list("abcd")).to_orc(tmp_path / "m.orc", engine_kwargs={"stripe_size": 4096})
    assert pyarrow.orc.ORCFile(tmp_path / "m.orc").nstripes > 1
    np.save(tmp_path / "m.npy", z)
    monkeypatch.setattr(arrow.rows, "BATCH_VALUES", 28)  # 7 rows of 4 per decoded batch
    assert (same("softmax", "--logits", tmp_path / "m.orc", "--format", "csv")
            == same("softmax", "--logits", tmp_path / "m.npy", "--format", "csv"))


def test_truncated_orc_file_is_one_error_line_exit_1(table):
    data = (table / "t.orc").read_bytes()
    bad = table / "bad.orc"
    bad.write_bytes(data[: len(data) // 2])
    r = xent("softmax", "--logits", f"{bad}:p_*")
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.startswith(f"Error: --logits {bad}: cannot read the file as ORC: ") and r.stderr.count("\n") == 1


def test_gh_pyarrow_without_orc_is_one_error_line(tmp_path, monkeypatch):
    # Windows wheels of pyarrow are built without ORC: `import pyarrow.orc` raises ImportError there.
    import sys

    pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.5]}).to_orc(tmp_path / "p.orc")
    monkeypatch.setitem(sys.modules, "pyarrow.orc", None)
    result = xent("softmax", "--logits", str(tmp_path / "p.orc"))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --logits ") and "cannot read ORC files" in result.stderr
    assert result.stderr.count("\n") == 1


def test_gh_orc_on_stdin_and_without_an_extension_read_as_orc(table):
    # The hostile trial's case: ORC on stdin was read as text ("binary data (a NUL byte)").
    expected = xent("softmax", "--logits", table / "z.npy").stdout
    data = (table / "t.orc").read_bytes()
    assert xent("softmax", "--logits", "-:p_*", input=data).stdout == expected
    (table / "noext").write_bytes(data)
    assert xent("softmax", "--logits", f"{table / 'noext'}:p_*").stdout == expected


def test_text_starting_with_orc_on_stdin_stays_text():
    # "ORC" is short enough to start a csv header: without a NUL byte the head is text.
    result = xent("softmax", "--logits", "-", input=b"ORC,b\n0,0\n")
    assert result.exit_code == 0 and result.stdout == "0.5,0.5\n"
