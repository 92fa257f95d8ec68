"""``--output FILE`` never lies about its format: the extension decides it, an
extension xent does not write is refused before anything is read, ``.parquet``
is real Parquet (pyarrow), and npy keeps an input's leading dimensions."""

import importlib.util
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import run_process, xent
from xentcli import core
from xentcli.engine import RowBlocks
from xentcli.errors import CallError, DataError
from xentcli.output import OutputSpec, Result, emit
from xentcli.writers import check_output, write_npy, write_parquet

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")

LOGITS = "4,2,1;0,5,1"
LABELS = "0,1"
ALL_EXTENSIONS = ".csv .tsv .txt .json .npy .parquet"


def csv_numbers(*args) -> np.ndarray:
    """The csv output of ``xent ARGS`` as a 2-D float array (one row per line)."""
    result = xent(*args, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    return np.array([[float(x) for x in line.split(",")] for line in result.stdout.splitlines()])


def csv_header(*args) -> list[str]:
    result = xent(*args, "--format", "csv", "--header")
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()[0].split(",")


def listing(folder) -> set[str]:
    return set(os.listdir(folder))


# -- refused at parse time ---------------------------------------------------


@pytest.mark.parametrize("name", ["res.xlsx", "res.XLSX", "res.h5", "res.csv.gz", "res."])
def test_unknown_extension_is_a_wrong_call_and_creates_nothing(tmp_path, name):
    target = tmp_path / name
    result = xent("softmax", "--logits", LOGITS, "-o", target)
    assert result.exit_code == 2
    ext = os.path.splitext(name)[1].lower()
    assert result.stderr == (
        f"Error: --output {target}: xent does not write {ext!r} files; use {ALL_EXTENSIONS}\n"
    )
    assert "Usage:" not in result.stderr
    assert result.stdout == ""
    assert listing(tmp_path) == set()  # no file, no temp file


def test_unknown_extension_is_refused_before_any_input_is_read(tmp_path):
    # The --logits file does not exist: the --output error comes first, whatever the option order.
    for args in (["-o", tmp_path / "r.xlsx", "--logits", tmp_path / "missing.csv"],
                 ["--logits", tmp_path / "missing.csv", "-o", tmp_path / "r.xlsx"]):
        result = xent("softmax", *args)
        assert result.exit_code == 2
        assert "xent does not write '.xlsx' files" in result.stderr
        assert "missing.csv" not in result.stderr
    assert listing(tmp_path) == set()


def test_unknown_extension_leaves_an_existing_file_untouched(tmp_path):
    target = tmp_path / "old.xlsx"
    target.write_bytes(b"PK\x03\x04 not yours")
    os.chmod(target, 0o640)
    result = xent("ce", "--labels", LABELS, "--logits", LOGITS, "-o", target)
    assert result.exit_code == 2
    assert target.read_bytes() == b"PK\x03\x04 not yours"
    assert os.stat(target).st_mode & 0o777 == 0o640
    assert listing(tmp_path) == {"old.xlsx"}


@pytest.fixture
def no_pyarrow(monkeypatch):
    """pyarrow as if not installed: find_spec finds nothing and importing it fails."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a, **k: None if name.split(".")[0] == "pyarrow" else real_find_spec(name, *a, **k),
    )
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)


def test_parquet_without_pyarrow_is_a_wrong_call_naming_the_extra(tmp_path, no_pyarrow):
    existing = tmp_path / "kept.parquet"
    existing.write_bytes(b"old bytes")
    for target in (tmp_path / "new.parquet", existing):
        result = xent("softmax", "--logits", LOGITS, "-o", target)
        assert result.exit_code == 2
        assert result.stderr.startswith(f"Error: --output {target}: ")
        assert "pip install 'xentcli[arrow]'" in result.stderr
        assert result.stderr.count("\n") == 1
    assert listing(tmp_path) == {"kept.parquet"}
    assert existing.read_bytes() == b"old bytes"


def test_parquet_without_pyarrow_is_refused_before_reading(tmp_path, no_pyarrow):
    result = xent("softmax", "--logits", tmp_path / "missing.csv", "-o", tmp_path / "x.parquet")
    assert result.exit_code == 2
    assert "pip install 'xentcli[arrow]'" in result.stderr
    assert listing(tmp_path) == set()


def test_write_parquet_without_pyarrow_raises_a_call_error(no_pyarrow):
    with pytest.raises(CallError, match=r"pip install 'xentcli\[arrow\]'"):
        write_parquet(io.BytesIO(), np.ones((2, 2)), ["a", "b"])


def test_check_output_refuses_at_the_writer_level_too(tmp_path):
    with pytest.raises(CallError, match="does not write '.xlsx'"):
        check_output(str(tmp_path / "a.xlsx"))
    with pytest.raises(CallError, match="is a directory"):
        check_output(str(tmp_path))
    with pytest.raises(CallError, match="does not exist"):
        check_output(str(tmp_path / "no" / "a.csv"))
    with pytest.raises(CallError):  # the output is refused before anything is opened
        OutputSpec.resolve(destination=str(tmp_path / "a.xlsx"))
    with pytest.raises(CallError, match="does not write '.xlsx'"):  # not even with an explicit --format
        check_output(str(tmp_path / "a.xlsx"), "csv")
    check_output(None)
    assert listing(tmp_path) == set()


def test_output_folder_problems_are_refused_before_reading(tmp_path):
    missing = tmp_path / "missing.csv"
    result = xent("softmax", "--logits", missing, "-o", tmp_path / "nowhere" / "x.csv")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "missing.csv" not in result.stderr
    result = xent("softmax", "--logits", missing, "-o", tmp_path)
    assert result.exit_code == 2
    assert "is a directory" in result.stderr and "missing.csv" not in result.stderr


# -- what each extension writes ----------------------------------------------


@pytest.mark.parametrize("name", ["result", "result.txt", "RESULT.CSV"])
def test_no_extension_and_txt_are_csv(tmp_path, name):
    target = tmp_path / name
    result = xent("softmax", "--logits", LOGITS, "-o", target)
    assert result.exit_code == 0, result.stderr
    assert target.read_text() == xent("softmax", "--logits", LOGITS, "--format", "csv").stdout
    assert listing(tmp_path) == {name}


def test_explicit_format_wins_over_the_extension(tmp_path):
    result = xent("softmax", "--format", "json", "--logits", LOGITS, "-o", tmp_path / "x.csv")
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "x.csv").read_text())["command"] == "softmax"
    # --format after -o works the same (click parses in command-line order).
    result = xent("softmax", "--logits", LOGITS, "-o", tmp_path / "x.txt", "--format", "tsv")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "x.txt").read_text() == xent("softmax", "--logits", LOGITS, "--format", "tsv").stdout
    # An extension xent never writes stays a wrong call, --format or not.
    result = xent("softmax", "--logits", LOGITS, "-o", tmp_path / "x.xlsx", "--format", "csv")
    assert result.exit_code == 2 and not (tmp_path / "x.xlsx").exists()


def test_output_help_lists_the_extensions():
    text = xent("softmax", "--help").stdout
    for word in (".parquet", ".txt", "no extension", "xentcli[arrow]", "wins over the extension", "refused"):
        assert word in " ".join(text.split())


# -- parquet ------------------------------------------------------------------


def read_back(path):
    """The Parquet file read with pyarrow and with pandas: (names, matrix) from each."""
    table = pq.read_table(path)
    frame = pd.read_parquet(path)
    assert all(t == pa.float64() for t in table.schema.types)
    from_arrow = np.column_stack([table.column(i).to_numpy() for i in range(table.num_columns)])
    return table.column_names, from_arrow, list(frame.columns), frame.to_numpy(dtype=np.float64)


def assert_parquet_matches_csv(path, args):
    names, from_arrow, frame_names, from_pandas = read_back(path)
    expected = csv_numbers(*args)
    assert names == frame_names == csv_header(*args)
    np.testing.assert_array_equal(from_arrow, expected)  # bit for bit: csv is round-trip precision
    np.testing.assert_array_equal(from_pandas, expected)


def test_softmax_parquet_matches_csv(tmp_path):
    args = ["softmax", "--logits", LOGITS]
    result = xent(*args, "-o", tmp_path / "x.parquet")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert_parquet_matches_csv(tmp_path / "x.parquet", args)
    names, matrix, _, _ = read_back(tmp_path / "x.parquet")
    assert names == ["0", "1", "2"] and matrix.shape == (2, 3)
    assert listing(tmp_path) == {"x.parquet"}


def test_softmax_parquet_columns_are_the_class_names(tmp_path):
    args = ["softmax", "--logits", LOGITS, "--classes", "cat,dog,man"]
    assert xent(*args, "-o", tmp_path / "x.PARQUET").exit_code == 0
    assert_parquet_matches_csv(tmp_path / "x.PARQUET", args)
    assert pq.read_table(tmp_path / "x.PARQUET").column_names == ["cat", "dog", "man"]


def test_per_sample_ce_parquet_is_one_loss_column(tmp_path):
    args = ["ce", "--labels", LABELS, "--logits", LOGITS, "--reduction", "none"]
    assert xent(*args, "-o", tmp_path / "x.parquet").exit_code == 0
    assert_parquet_matches_csv(tmp_path / "x.parquet", args)
    assert pq.read_table(tmp_path / "x.parquet").column_names == ["loss"]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_scalar_parquet_is_one_row_named_like_the_csv_header(tmp_path, reduction):
    args = ["ce", "--labels", LABELS, "--logits", LOGITS, "--reduction", reduction]
    assert xent(*args, "-o", tmp_path / "x.parquet").exit_code == 0
    assert_parquet_matches_csv(tmp_path / "x.parquet", args)
    table = pq.read_table(tmp_path / "x.parquet")
    assert table.column_names == [reduction] and table.num_rows == 1


def test_grad_parquet_matches_csv(tmp_path):
    args = ["grad", "--labels", LABELS, "--logits", LOGITS]
    assert xent(*args, "-o", tmp_path / "g.parquet").exit_code == 0
    assert_parquet_matches_csv(tmp_path / "g.parquet", args)


def test_parquet_replaces_an_existing_file_atomically(tmp_path):
    target = tmp_path / "x.parquet"
    target.write_bytes(b"stale")
    assert xent("softmax", "--logits", LOGITS, "-o", target).exit_code == 0
    assert pq.read_table(target).num_rows == 2
    assert listing(tmp_path) == {"x.parquet"}


def test_parquet_streams_one_record_batch_per_block():
    rng = np.random.default_rng(0)
    blocks = [rng.normal(size=(n, 3)) for n in (4, 1, 5)]
    out = io.BytesIO()
    write_parquet(out, RowBlocks((10, 3), iter(blocks)), ["a", "b", "c"])
    f = pq.ParquetFile(io.BytesIO(out.getvalue()))
    assert f.metadata.num_row_groups == 3  # each block was written as it came
    assert [f.metadata.row_group(i).num_rows for i in range(3)] == [4, 1, 5]
    table = f.read()
    assert table.column_names == ["a", "b", "c"]
    np.testing.assert_array_equal(table.to_pandas().to_numpy(), np.vstack(blocks))


def test_parquet_keeps_non_finite_values_and_empty_matrices():
    out = io.BytesIO()
    write_parquet(out, np.array([[np.inf, -np.inf, np.nan]]), ["x", "y", "z"])
    row = pq.read_table(io.BytesIO(out.getvalue())).to_pandas().to_numpy()[0]
    assert row[0] == np.inf and row[1] == -np.inf and np.isnan(row[2])
    out = io.BytesIO()
    write_parquet(out, RowBlocks((0, 2), iter([])), ["a", "b"])
    table = pq.read_table(io.BytesIO(out.getvalue()))
    assert table.num_rows == 0 and table.column_names == ["a", "b"]


def test_parquet_failing_half_way_leaves_nothing(tmp_path):
    target = tmp_path / "x.parquet"
    target.write_bytes(b"previous run")

    def blocks():
        yield np.ones((2, 2))
        raise DataError("row 3: bad logits")

    result = Result(RowBlocks((4, 2), blocks()), {}, ["a", "b"], None)
    with pytest.raises(DataError):
        emit(result, OutputSpec.resolve(destination=str(target)))
    assert target.read_bytes() == b"previous run"
    assert listing(tmp_path) == {"x.parquet"}


# -- npy keeps leading dimensions ------------------------------------------------


def test_npy_keeps_the_input_leading_dimensions(tmp_path):
    logits = np.random.default_rng(1).normal(size=(2, 3, 4))
    np.save(tmp_path / "logits.npy", logits)
    z = np.load(tmp_path / "logits.npy").reshape(-1, 4)
    blocks = (core.softmax(z[i:i + 4]) for i in range(0, len(z), 4))  # blocks of 4, 2 rows
    values = RowBlocks((6, 4), blocks, array_shape=(2, 3, 4))
    assert values.shape == (6, 4) and values.array_shape == (2, 3, 4)
    emit(Result(values, {}, ["0", "1", "2", "3"], None), OutputSpec.resolve(destination=str(tmp_path / "p.npy")))
    p = np.load(tmp_path / "p.npy")
    assert p.shape == (2, 3, 4) and p.dtype == np.float64
    expected = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(p, expected, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(p.reshape(6, 4), core.softmax(z))


@pytest.mark.parametrize("shape", [(2, 3, 4), (3, 1, 2, 5), (1, 4), (5, 3)])
def test_json_keeps_the_input_leading_dimensions_as_npy_does(tmp_path, shape):
    """softmax and grad JSON of (B, T, V) logits nest B lists of T rows, so it pipes into ppl --shift."""
    logits = np.random.default_rng(2).normal(size=shape)
    np.save(tmp_path / "z.npy", logits)
    expected = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    doc = json.loads(xent("softmax", "--logits", tmp_path / "z.npy", "--format", "json").stdout)
    assert doc["shape"] == list(shape)
    np.testing.assert_allclose(np.array(doc["probs"]), expected, rtol=1e-13, atol=0)
    targets = np.random.default_rng(3).integers(0, shape[-1], shape[:-1])
    np.save(tmp_path / "t.npy", targets)
    doc = json.loads(xent("grad", "--logits", tmp_path / "z.npy", "--labels", tmp_path / "t.npy", "--reduction", "sum",
                         "--format", "json").stdout)
    assert doc["shape"] == list(shape)
    np.testing.assert_allclose(np.array(doc["grad"]), expected - np.eye(shape[-1])[targets], rtol=1e-12, atol=1e-15)


def test_gh_softmax_json_of_sequences_pipes_into_ppl_shift(tmp_path):
    logits = np.random.default_rng(4).normal(size=(3, 7, 11))
    ids = np.random.default_rng(5).integers(0, 11, (3, 7))
    np.save(tmp_path / "z.npy", logits)
    np.save(tmp_path / "ids.npy", ids)
    probs = run_process("softmax", "--logits", tmp_path / "z.npy", "--format", "json")
    assert probs.returncode == 0, probs.stderr
    r = run_process("ppl", "--probs", "-", "--targets", tmp_path / "ids.npy", "--shift", input=probs.stdout)
    assert r.returncode == 0, r.stderr
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(log_p[:, :-1], ids[:, 1:, None], axis=-1)
    assert float(r.stdout) == pytest.approx(np.exp(nll.mean()), rel=1e-12)


def test_npy_without_array_shape_is_the_matrix():
    values = RowBlocks((3, 2), iter([np.arange(6.0).reshape(3, 2)]))
    assert values.array_shape == (3, 2)
    out = io.BytesIO()
    write_npy(out, values)
    assert np.load(io.BytesIO(out.getvalue())).shape == (3, 2)


@pytest.mark.parametrize("array_shape", [(2, 4, 4), (2, 3, 5), (24,)])
def test_row_blocks_refuse_an_array_shape_that_does_not_hold_the_rows(array_shape):
    with pytest.raises(ValueError, match="array_shape"):
        RowBlocks((6, 4), iter([]), array_shape=array_shape)


# --- -o onto what is not a regular file; a full disk -----------------------------------------------

def _stdout_of(*args) -> bytes:
    result = xent(*args, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def test_output_onto_a_symlink_writes_its_target_and_the_link_stays(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "result.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    result = xent("softmax", "--logits", LOGITS, "-o", link)
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == _stdout_of("softmax", "--logits", LOGITS)
    assert sorted(os.listdir(tmp_path / "real")) == ["result.csv"]  # no temp file left beside the target


def test_output_onto_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "made.json")
    assert xent("ce", "--logits", LOGITS, "--labels", LABELS, "-o", link).exit_code == 0
    assert link.is_symlink() and json.loads((tmp_path / "made.json").read_text())["command"] == "ce"


def test_output_onto_a_symlink_loop_is_a_wrong_call(tmp_path):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    result = xent("softmax", "--logits", LOGITS, "-o", tmp_path / "a.csv")
    assert result.exit_code == 2 and "a.csv: too many levels of symbolic links" in result.stderr
    assert (tmp_path / "a.csv").is_symlink() and sorted(os.listdir(tmp_path)) == ["a.csv", "b.csv"]


def test_output_onto_a_fifo_writes_through_it(tmp_path):
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = xent("softmax", "--logits", LOGITS, "-o", fifo)
    reader.join(30)
    assert result.exit_code == 0, result.stderr
    assert got == [_stdout_of("softmax", "--logits", LOGITS)]
    assert fifo.is_fifo() and os.listdir(tmp_path) == ["pipe"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="os.mknod of a device needs root")
def test_output_onto_a_device_node_writes_through_it(tmp_path):
    import stat

    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a second /dev/null
    result = xent("ce", "--logits", LOGITS, "--labels", LABELS, "-o", null)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(os.stat(null).st_mode) and os.listdir(tmp_path) == ["null"]


def test_output_to_dev_stdout_appends_where_stdout_appends(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text("before\n")
    with open(log, "ab") as out:
        p = subprocess.run([sys.executable, "-m", "xentcli", "ce", "--logits", LOGITS, "--labels", LABELS,
                            "-o", "/dev/stdout"], stdout=out, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0 and p.stderr == b""
    # −log softmax, averaged: (0.16984602… + 0.02474483…)/2 from the document's logits.
    lines = log.read_text().splitlines()
    assert lines[0] == "before" and float(lines[1]) == pytest.approx(0.5 * (0.16984602 + 0.02474483), abs=1e-7)


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")


@needs_dev_full
@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "npy", "table"])
def test_a_full_disk_on_stdout_is_one_located_line(fmt):
    with open("/dev/full", "wb") as full:
        p = subprocess.run([sys.executable, "-m", "xentcli", "softmax", "--logits", LOGITS, "--format", fmt],
                           stdout=full, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 1
    assert p.stderr.decode() == "Error: stdout: no space left on device\n"


@needs_dev_full
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["example"], ["ce", "--help"], ["example", "--explain"]])
def test_gh_help_version_and_example_onto_a_full_disk_are_one_line(args):
    with open("/dev/full", "wb") as full:
        p = subprocess.run([sys.executable, "-m", "xentcli", *args], stdout=full, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 1 and p.stderr.decode() == "Error: stdout: no space left on device\n"


@needs_dev_full
def test_a_full_disk_on_output_is_one_located_line_and_dev_full_stays():
    for fmt in ("csv", "json", "npy"):
        result = xent("softmax", "--logits", LOGITS, "--format", fmt, "-o", "/dev/full")
        assert result.exit_code == 1
        assert result.stderr == "Error: --output /dev/full: no space left on device\n"
    assert not os.path.isfile("/dev/full")


class _FullFile(io.RawIOBase):
    """A file whose disk fills after ``room`` bytes (ENOSPC, or EIO)."""

    def __init__(self, room: int, errno_: int):
        self.room, self.errno_ = room, errno_

    def writable(self):
        return True

    def write(self, data):
        if len(data) > self.room:
            raise OSError(self.errno_, os.strerror(self.errno_))
        self.room -= len(data)
        return len(data)


@pytest.mark.parametrize("fmt", ["csv", "json", "npy", "parquet", "table"])
@pytest.mark.parametrize("errno_", [28, 5])  # ENOSPC, EIO
def test_a_failing_output_file_is_one_located_line_and_leaves_nothing(tmp_path, monkeypatch, fmt, errno_):
    """Every writer (Parquet's through pyarrow too) fails with a DataError naming the output, and
    the temp file is removed."""
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: (real_fdopen(fd, *a, **k).close(), _FullFile(100, errno_))[1])
    z = np.random.default_rng(0).normal(size=(300, 20))
    np.save(tmp_path / "z.npy", z)
    out = tmp_path / f"out.{'txt' if fmt == 'table' else fmt}"
    result = xent("softmax", "--logits", tmp_path / "z.npy", *(["--format", fmt] if fmt != "parquet" else []),
                  "-o", out)
    expected = {28: "no space left on device", 5: "input/output error"}[errno_]
    assert result.exit_code == 1 and result.stderr == f"Error: --output {out}: {expected}\n"
    assert sorted(os.listdir(tmp_path)) == ["z.npy"]
