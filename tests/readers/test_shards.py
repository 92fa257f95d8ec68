"""Many files as one matrix (SPEC §9): a quoted glob or a directory, in natural order, rows
concatenated, each shard read lazily by its own reader; errors name the shard and its row.

The reference is always the same data written as one file (or the arrays themselves):
every command's output must be the same, byte for byte."""

import json
import os
import struct

import numpy as np
import pytest

from tests.cli_helpers import error
from tests.conftest import xent
from xentcli.engine import ThreadPool
from xentcli.readers import read_matrix, shard_matrix, shards
from xentcli.readers.shard_matrix import ShardMatrix, ShardRows
from xentcli.readers.shards import natural_key

rng = np.random.default_rng(2024)


def save_shards(folder, array, sizes, name="shard-{}.npy", start=0):
    """``array`` cut along its first axis into pieces of ``sizes``, saved as ``folder/name``."""
    os.makedirs(folder, exist_ok=True)
    cuts = np.cumsum([0, *sizes])
    assert cuts[-1] == len(array)
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        np.save(os.path.join(folder, name.format(i + start)), array[a:b])


def write_safetensors(path, tensors):
    """A safetensors file written by hand: 8-byte little-endian header length, JSON header, raw data."""
    entries, chunks, offset = {}, [], 0
    for key, array in tensors.items():
        array = np.ascontiguousarray(array, "<f4")
        entries[key] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        chunks.append(array.tobytes())
        offset += array.nbytes
    head = json.dumps(entries).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(chunks))


def write_csv(path, array):
    with open(path, "w") as f:
        for row in np.asarray(array, dtype=np.float64):
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def same_output(one, many):
    """The two runs succeed and print the same bytes."""
    a, b = xent(*one), xent(*many)
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    assert a.stdout == b.stdout
    return a.stdout


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    """Logits, a second model's, probabilities, labels of every kind: one file each and uneven shards."""
    root = tmp_path_factory.mktemp("dump")
    n, c = 23, 6
    z = rng.normal(size=(n, c)).astype(np.float32)
    q = (z + rng.normal(scale=0.3, size=(n, c))).astype(np.float32)
    p = np.exp(z.astype(np.float64)) / np.exp(z.astype(np.float64)).sum(axis=1, keepdims=True)
    y = rng.integers(0, c, n)
    soft = rng.dirichlet(np.ones(c), n)
    binary = (rng.random((n, c)) < 0.5).astype(np.float64)
    sizes = [5, 1, 9, 8]  # 4 shards, so 'shard-10' is not among them: plain order here
    for name, a in dict(z=z, q=q, p=p, y=y, soft=soft, binary=binary).items():
        np.save(root / f"{name}.npy", a)
        save_shards(root / name, a, sizes)
    return root


COMMANDS = {
    "softmax": ["softmax", "--logits", "{z}", "--format", "csv"],
    "softmax-log": ["softmax", "--log", "--logits", "{z}", "--format", "csv"],
    "ce-index": ["ce", "--logits", "{z}", "--labels", "{y}", "--reduction", "none", "--format", "csv"],
    "ce-mean": ["ce", "--logits", "{z}", "--labels", "{y}", "--format", "json"],
    "ce-soft": ["ce", "--probs", "{p}", "--labels", "{soft}", "--reduction", "none", "--format", "csv"],
    "bce": ["bce", "--logits", "{z}", "--labels", "{binary}", "--reduction", "none", "--format", "csv"],
    "kl": ["kl", "--p-logits", "{z}", "--q-logits", "{q}", "--reduction", "none", "--format", "csv"],
    "entropy": ["entropy", "--probs", "{p}", "--reduction", "none", "--format", "csv"],
    "ppl": ["ppl", "--logits", "{z}", "--targets", "{y}", "--format", "json"],
    "grad": ["grad", "--logits", "{z}", "--labels", "{y}", "--format", "csv"],
    "grad-bce": ["grad", "--loss", "bce", "--logits", "{z}", "--labels", "{binary}", "--format", "csv"],
    "compare": ["compare", "--base", "{z}", "--test", "q={q}", "--targets", "{y}", "--format", "json"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_gives_the_numbers_of_one_file(dump, command):
    one = [a.format(**{k: dump / f"{k}.npy" for k in ("z", "q", "p", "y", "soft", "binary")})
           for a in COMMANDS[command]]
    many = [a.format(**{k: f"{dump / k}/shard-*.npy" for k in ("z", "q", "p", "y", "soft", "binary")})
            for a in COMMANDS[command]]
    out = same_output(one, many)
    assert out.strip()


def test_a_directory_reads_like_its_glob_and_skips_hidden_and_unknown_files(dump, tmp_path):
    folder = tmp_path / "z"
    save_shards(folder, np.load(dump / "z.npy"), [5, 1, 9, 8])
    np.save(folder / ".partial.npy", np.full((2, 6), np.nan, np.float32))  # hidden: skipped
    (folder / "README.md").write_text("how the dump was made\n")  # unsupported extension: skipped
    (folder / "sub").mkdir()  # subdirectories: skipped
    np.save(folder / "sub" / "x.npy", np.zeros((1, 6), np.float32))
    same_output(["ce", "--logits", dump / "z.npy", "--labels", dump / "y.npy", "--reduction", "none"],
                ["ce", "--logits", folder, "--labels", dump / "y", "--reduction", "none"])
    r = xent("ce", "--logits", folder, "--labels", dump / "y")
    assert "skipped 1 file(s) of no supported extension: README.md" in r.stderr
    m = read_matrix(str(folder), "--logits")
    assert [os.path.basename(s.path) for s in m.shards] == [f"shard-{i}.npy" for i in range(4)]


def test_natural_order_puts_shard_2_before_shard_10(tmp_path):
    z = rng.normal(size=(12, 4)).astype(np.float32)
    y = rng.integers(0, 4, 12)
    # shard-1, shard-2, shard-10 in natural order; lexical order would put shard-10 second.
    for name, rows in (("shard-1", slice(0, 3)), ("shard-2", slice(3, 8)), ("shard-10", slice(8, 12))):
        np.save(tmp_path / f"{name}.npy", z[rows])
        np.save(tmp_path / f"y-{name}.npy", y[rows])
    np.save(tmp_path / "one.npy", z)
    np.save(tmp_path / "one-y.npy", y)
    out = same_output(["ce", "--logits", tmp_path / "one.npy", "--labels", tmp_path / "one-y.npy",
                       "--reduction", "none"],
                      ["ce", "--logits", f"{tmp_path}/shard-*.npy", "--labels", f"{tmp_path}/y-shard-*.npy",
                       "--reduction", "none"])
    lexical = np.concatenate([z[0:3], z[8:12], z[3:8]])
    np.save(tmp_path / "lexical.npy", lexical)
    assert xent("ce", "--logits", tmp_path / "lexical.npy", "--labels", tmp_path / "one-y.npy",
                "--reduction", "none").stdout != out
    assert sorted(["d/shard-10.npy", "d/shard-2.npy", "d/shard-1.npy", "c/shard-9.npy"], key=natural_key) == \
        ["c/shard-9.npy", "d/shard-1.npy", "d/shard-2.npy", "d/shard-10.npy"]
    assert sorted(["s-01", "s-1", "s-001"], key=natural_key) == ["s-001", "s-01", "s-1"]


def test_mixed_formats_each_read_by_its_own_reader(tmp_path):
    z = rng.normal(size=(11, 5)).astype(np.float32)  # float32 values: exact in every format
    y = rng.integers(0, 5, 11)
    np.save(tmp_path / "one.npy", z.astype(np.float64))  # the shards' common dtype (a CSV is float64)
    np.save(tmp_path / "y.npy", y)
    d = tmp_path / "d"
    d.mkdir()
    np.save(d / "part-1.npy", z[:3])
    write_safetensors(d / "part-2.safetensors", {"logits": z[3:7]})
    write_csv(d / "part-3.csv", z[7:])
    m = read_matrix(f"{d}/part-*", "--logits")  # a glob mixes formats; a directory of several is refused
    assert isinstance(m, ShardMatrix) and m.values.shape == (11, 5) and m.values.dtype == np.float64
    for cmd in (["ce", "--labels", tmp_path / "y.npy", "--reduction", "none"], ["softmax"], ["entropy"]):
        key = "--probs" if cmd[0] == "entropy" else "--logits"
        if cmd[0] == "entropy":
            p = np.exp(z.astype(np.float64)) / np.exp(z.astype(np.float64)).sum(axis=1, keepdims=True)
            p32 = p.astype(np.float32).astype(np.float64)
            p32 /= p32.sum(axis=1, keepdims=True)
            np.save(tmp_path / "p.npy", p32)
            e = tmp_path / "e"
            e.mkdir()
            np.save(e / "a.npy", p32[:4])
            write_csv(e / "b.csv", p32[4:])
            same_output([cmd[0], key, tmp_path / "p.npy", "--format", "csv"],
                        [cmd[0], key, f"{e}/*", "--format", "csv"])
            continue
        same_output([*cmd, key, tmp_path / "one.npy", "--format", "csv"], [*cmd, key, f"{d}/part-*", "--format", "csv"])


def test_a_selector_applies_to_each_shard(tmp_path):
    z = rng.normal(size=(9, 4)).astype(np.float32)
    y = rng.integers(0, 4, 9)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    for i, rows in enumerate((slice(0, 4), slice(4, 9))):
        write_safetensors(tmp_path / f"m-{i}.safetensors", {"logits": z[rows], "hidden": np.zeros((2, 3))})
    same_output(["ce", "--logits", tmp_path / "z.npy", "--labels", tmp_path / "y.npy", "--reduction", "none"],
                ["ce", "--logits", f"{tmp_path}/m-*.safetensors:logits", "--labels", tmp_path / "y.npy",
                 "--reduction", "none"])
    r = xent("ce", "--logits", f"{tmp_path}/m-*.safetensors", "--labels", tmp_path / "y.npy")
    assert r.exit_code == 2 and "m-0.safetensors" in r.output and "name one" in r.output


def test_batch_time_vocab_shards_keep_their_sequences(tmp_path):
    b, t, v = 7, 5, 6
    z = rng.normal(size=(b, t, v)).astype(np.float32)
    ids = rng.integers(0, v, (b, t))
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "ids.npy", ids)
    save_shards(tmp_path / "z", z, [2, 4, 1])
    save_shards(tmp_path / "ids", ids, [3, 3, 1])  # cut elsewhere: only the rows in order matter
    m = read_matrix(f"{tmp_path}/z/*.npy", "--logits")
    assert m.values.shape == (b, t, v) and m.values.dtype == np.float32
    assert read_matrix(f"{tmp_path}/ids/*.npy", "--targets").values.shape == (b, t)
    np.testing.assert_array_equal(np.asarray(m.values), z)
    for cmd in (["ppl"], ["ppl", "--shift"], ["ce", "--shift", "--reduction", "none"]):
        lab = "--targets" if cmd[0] == "ppl" else "--labels"
        same_output([*cmd, "--logits", tmp_path / "z.npy", lab, tmp_path / "ids.npy", "--format", "json"],
                    [*cmd, "--logits", tmp_path / "z", lab, tmp_path / "ids", "--format", "json"])
    # softmax keeps the (B, T, V) shape in npy, as for one file
    out_one, out_many = tmp_path / "one.npy", tmp_path / "many.npy"
    assert xent("softmax", "--logits", tmp_path / "z.npy", "-o", out_one).exit_code == 0
    assert xent("softmax", "--logits", tmp_path / "z", "-o", out_many).exit_code == 0
    np.testing.assert_array_equal(np.load(out_one), np.load(out_many))
    assert np.load(out_many).shape == (b, t, v)


def test_shards_of_other_leading_shapes_are_rows_of_the_class_count(tmp_path):
    z = rng.normal(size=(2 * 3 + 4 + 2 * 2 * 2, 5)).astype(np.float32)
    np.save(tmp_path / "a-1.npy", z[:6].reshape(2, 3, 5))
    np.save(tmp_path / "a-2.npy", z[6:10])
    np.save(tmp_path / "a-3.npy", z[10:].reshape(2, 2, 2, 5))
    m = read_matrix(f"{tmp_path}/a-*.npy", "--logits")
    assert m.values.shape == (18, 5)
    np.testing.assert_array_equal(np.asarray(m.values), z)


def test_index_labels_from_npy_and_csv_shards_form_one_vector(tmp_path):
    y = rng.integers(0, 3, 10)
    np.save(tmp_path / "y-1.npy", y[:4])
    write_csv(tmp_path / "y-2.csv", y[4:, None])
    m = read_matrix(f"{tmp_path}/y-*", "--labels")
    assert m.values.shape == (10,)
    np.testing.assert_array_equal(np.asarray(m.values), y)


def test_class_name_labels_across_files_with_and_without_a_header(tmp_path):
    (tmp_path / "z.csv").write_text("1,2,3\n0,0,1\n5,1,0\n1,1,1\n")
    (tmp_path / "all.csv").write_text("cat\ndog\nman\ncat\n")
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "l-1.csv").write_text("cat\ndog\n")
    (tmp_path / "bare" / "l-2.csv").write_text("man\ncat\n")
    (tmp_path / "headed").mkdir()
    (tmp_path / "headed" / "l-1.csv").write_text("label\ncat\ndog\n")
    (tmp_path / "headed" / "l-2.csv").write_text("label\nman\ncat\n")
    one = ["ce", "--logits", tmp_path / "z.csv", "--classes", "cat,dog,man", "--reduction", "none", "--labels"]
    same_output([*one, tmp_path / "all.csv"], [*one, tmp_path / "bare"])
    same_output([*one, tmp_path / "all.csv"], [*one, tmp_path / "headed"])


def test_rows_across_shard_boundaries_match_the_whole(tmp_path):
    z = rng.normal(size=(40, 3))
    save_shards(tmp_path, z, [7, 1, 13, 19], name="s{}.npy")
    rows = read_matrix(f"{tmp_path}/s*.npy", "--logits").values.as_rows()
    assert isinstance(rows, ShardRows) and rows.shape == (40, 3) and len(rows) == 40
    for start in range(0, 41, 3):
        for stop in range(start, 43, 5):
            np.testing.assert_array_equal(rows.rows(start, stop), z[start:stop])
    np.testing.assert_array_equal(rows[[0, 7, 8, 39, 21, 20]], z[[0, 7, 8, 39, 21, 20]])
    np.testing.assert_array_equal(rows[5:30:4], z[5:30:4])
    np.testing.assert_array_equal(rows[39], z[39])
    np.testing.assert_array_equal(np.asarray(rows), z)
    got = [part for _, _, part in ThreadPool().blocks(lambda r: r.sum(axis=1), rows, rows_per_block=6, threads=4)]
    np.testing.assert_array_equal(np.concatenate(got), z.sum(axis=1))


def test_few_files_open_at_once_and_whole_parsed_shards_are_read_again(tmp_path, monkeypatch):
    monkeypatch.setattr(shard_matrix, "MAX_OPEN", 2)
    monkeypatch.setattr(shards, "KEEP_BYTES", 200)  # only the first small CSV is kept
    z = rng.normal(size=(30, 4))
    for i in range(6):
        write_csv(tmp_path / f"c{i}.csv", z[5 * i:5 * i + 5])
    rows = read_matrix(str(tmp_path), "--logits").values.as_rows()
    kept = [s._values is not None for s in rows._shards]
    assert kept[0] and not any(kept[1:])
    got = [part for _, _, part in ThreadPool().blocks(lambda r: r, rows, rows_per_block=4, threads=3)]
    np.testing.assert_array_equal(np.concatenate(got), z)
    assert len(rows._open) <= 2


def test_shard_rows_pickle_by_path_for_other_processes(tmp_path, monkeypatch):
    import pickle

    z = rng.normal(size=(12, 3))
    save_shards(tmp_path / "d", z[:8], [5, 3])
    write_csv(tmp_path / "d" / "shard-2.csv", z[8:])
    monkeypatch.chdir(tmp_path)
    rows = read_matrix("d/shard-*", "--logits").values.as_rows()
    rows.rows(0, 12)  # opens the sources: they stay behind
    copy = pickle.loads(pickle.dumps(rows))
    monkeypatch.chdir(tmp_path / "d")  # another working directory: the paths were made absolute
    np.testing.assert_array_equal(copy.rows(3, 11), z[3:11])


# --- errors ----------------------------------------------------------------------------------------

def test_a_glob_matching_nothing_and_an_empty_directory_are_wrong_calls(tmp_path):
    np.save(tmp_path / "y.npy", np.array([0]))
    out = error("ce", "--logits", f"{tmp_path}/nothing-*.npy", "--labels", tmp_path / "y.npy", code=2)
    assert "--logits" in out and "nothing-*.npy" in out and "no file matches" in out
    (tmp_path / "empty").mkdir()
    out = error("ce", "--logits", tmp_path / "empty", "--labels", tmp_path / "y.npy", code=2)
    assert "is a directory holding no file of a supported extension" in out


def test_shards_of_different_class_counts_are_bad_data_naming_both(tmp_path):
    np.save(tmp_path / "shard-1.npy", np.zeros((3, 5), np.float32))
    np.save(tmp_path / "shard-2.npy", np.zeros((2, 4, 6), np.float32))
    np.save(tmp_path / "y.npy", np.zeros(11, np.int64))
    out = error("ce", "--logits", f"{tmp_path}/shard-*.npy", "--labels", tmp_path / "y.npy", code=1)
    assert "shard-1.npy has shape (3, 5)" in out or "shard-1.npy" in out and "(3, 5)" in out
    assert "shard-2.npy" in out and "(2, 4, 6)" in out and "class count" in out


def test_a_nan_is_named_by_its_shard_and_row(tmp_path):
    z = rng.normal(size=(4 * 10, 3)).astype(np.float32)
    z[2 * 10 + 4, 1] = np.nan  # shard-3.npy (the third), its row 5
    save_shards(tmp_path / "z", z, [10] * 4, start=1)
    np.save(tmp_path / "y.npy", rng.integers(0, 3, 40))
    out = error("ce", "--logits", f"{tmp_path}/z/shard-*.npy", "--labels", tmp_path / "y.npy", code=1)
    assert f"--logits {tmp_path}/z/shard-3.npy row 5: row 25, class 2:" in out
    out = error("softmax", "--logits", tmp_path / "z", code=1)
    assert "shard-3.npy row 5:" in out


def test_an_error_in_a_block_spanning_a_boundary_names_the_text_line(tmp_path):
    """Text shard: the row in the shard and its physical line; the block holds rows of both shards."""
    z = rng.normal(size=(9, 3))
    np.save(tmp_path / "p-1.npy", z[:4])
    with open(tmp_path / "p-2.csv", "w") as f:
        f.write("# a comment\n")
        for i, row in enumerate(z[4:]):
            f.write(",".join("inf" if (i == 2 and k == 0) else repr(float(v)) for k, v in enumerate(row)) + "\n")
    np.save(tmp_path / "y.npy", rng.integers(0, 3, 9))
    out = error("ce", "--logits", f"{tmp_path}/p-*", "--labels", tmp_path / "y.npy", code=1)
    assert "p-2.csv row 3, line 4: row 7, class 1" in out
    m = read_matrix(f"{tmp_path}/p-*", "--logits")
    assert m.locate(3) == f"--logits {tmp_path}/p-1.npy row 4"
    assert m.locate(4) == f"--logits {tmp_path}/p-2.csv row 1, line 2"


def test_a_bad_target_is_named_by_its_shard(tmp_path):
    v = 4
    np.save(tmp_path / "z.npy", rng.normal(size=(6, 3, v)).astype(np.float32))
    ids = rng.integers(0, v, (6, 3))
    ids[4, 2] = v  # out of range: the second shard's row 2, position 3
    save_shards(tmp_path / "ids", ids, [3, 3])
    out = error("ppl", "--logits", tmp_path / "z.npy", "--targets", tmp_path / "ids", code=1)
    assert "ids/shard-1.npy row 2, position 3:" in out and "row 15" in out


def test_inline_values_and_files_with_brackets_are_not_globs(tmp_path):
    assert read_matrix("[[4,2,1],[0,5,1]]", "--logits").values.shape == (2, 3)
    path = tmp_path / "run[1].npy"
    np.save(path, np.ones((2, 2)))
    assert read_matrix(str(path), "--logits").values.shape == (2, 2)  # an existing file is a file


# --- regular files only ----------------------------------------------------------------------------

def _odd_entries(folder):
    """A FIFO nobody writes, a symlink loop, a dangling symlink, and a symlink to a regular shard."""
    os.mkfifo(folder / "shard-7.npy")
    (folder / "shard-8.npy").symlink_to(folder / "loop.npy")
    (folder / "loop.npy").symlink_to(folder / "shard-8.npy")
    (folder / "shard-9.npy").symlink_to(folder / "gone.npy")
    (folder / "shard-3.npy").symlink_to(folder / "shard-0.npy")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["glob", "directory"])
def test_a_fifo_and_broken_links_among_shards_are_skipped_and_named(tmp_path, how):
    """Regression: a FIFO among shards hung the run; a symlink loop was an internal error."""
    z = rng.normal(size=(9, 4))
    save_shards(tmp_path / "d", z, [2, 3, 4])
    _odd_entries(tmp_path / "d")
    spec = tmp_path / "d" / "shard-*.npy" if how == "glob" else tmp_path / "d"
    result = xent("softmax", "--logits", spec, "--format", "csv")
    assert result.exit_code == 0, result.output
    got = np.array([[float(x) for x in line.split(",")] for line in result.stdout.splitlines()])
    whole = np.vstack([z, z[:2]])  # shard-0, -1, -2, then shard-3: the link to shard-0
    e = np.exp(whole - whole.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    warning = [line for line in result.stderr.splitlines() if "not regular files" in line]
    assert len(warning) == 1
    for name in ("shard-7.npy (a FIFO)", "shard-8.npy (a symlink loop)", "shard-9.npy (a dangling symlink)"):
        assert name in warning[0]
    assert "shard-3" not in warning[0]


def test_a_glob_matching_only_a_fifo_is_a_wrong_call_naming_it(tmp_path):
    os.mkfifo(tmp_path / "shard-1.npy")
    out = error("softmax", "--logits", tmp_path / "shard-*.npy", code=2)
    assert "no file matches the pattern" in out and "shard-1.npy (a FIFO)" in out


def test_gh_pandas_label_shards_each_lose_their_series_header(tmp_path):
    # pd.Series(y).to_csv(index=False) heads each shard with "0": two shards hold 52 lines for 50 rows.
    import pandas as pd
    from sklearn.metrics import log_loss

    local = np.random.default_rng(19)
    y, p = local.integers(0, 3, 50), local.dirichlet([1, 1, 1], 50)
    y[25] = 2  # the second shard's first label: not a "0" that could be a header
    np.save(tmp_path / "p.npy", p)
    (tmp_path / "shy").mkdir()
    for i in range(2):
        pd.Series(y[25 * i:25 * (i + 1)]).to_csv(tmp_path / f"shy/y-{i}.csv", index=False)
    expected = log_loss(y, p, labels=[0, 1, 2])
    for labels in (f"{tmp_path}/shy/y-*.csv", tmp_path / "shy"):
        r = xent("ce", "--labels", labels, "--probs", tmp_path / "p.npy")
        assert r.exit_code == 0, r.output
        assert float(r.stdout) == pytest.approx(expected, rel=1e-12)
        assert r.stderr.count("\n") == 1 and "the first line (0) of 2 of its 2 files" in r.stderr
    # the same shards as weights (one line more a shard), and read as data on demand
    r = xent("ce", "--labels", tmp_path / "shy", "--probs", tmp_path / "p.npy", "--sample-weights", tmp_path / "shy")
    assert r.exit_code == 0 and float(r.stdout) == pytest.approx(log_loss(y, p, labels=[0, 1, 2], sample_weight=y),
                                                                 rel=1e-12)
    r = xent("ce", "--labels", tmp_path / "shy", "--probs", tmp_path / "p.npy", "--input-header", "no")
    assert r.exit_code == 1 and "(52, 1)" in r.stderr
    # one shard headed, the other not: 51 lines for 50 rows, its "0" alone is the header
    np.savetxt(tmp_path / "shy/y-1.csv", y[25:], fmt="%d")
    r = xent("ce", "--labels", tmp_path / "shy", "--probs", tmp_path / "p.npy")
    assert r.exit_code == 0 and float(r.stdout) == pytest.approx(expected, rel=1e-12)
    assert "the first line (0) of 1 of its 2 files" in r.stderr


def test_a_directory_of_several_formats_is_a_wrong_call_naming_one_glob_each(tmp_path):
    z = rng.normal(size=(7, 3))
    np.save(tmp_path / "a.npy", z[:3])
    write_csv(tmp_path / "b.csv", z[3:])
    (tmp_path / "meta.json").write_text('{"rows": 7}')
    out = error("softmax", "--logits", f"{tmp_path}/", code=2)
    assert "3 formats" in out
    for ext in ("csv", "npy", "json"):
        assert f"'{tmp_path}/*.{ext}'" in out
    out = error("softmax", "--logits", f"{tmp_path}:1-3", code=2)
    assert f"'{tmp_path}/*.npy:1-3'" in out


def test_gh_hugging_face_save_to_disk_folder_reads_its_arrow_shards(tmp_path):
    """Dataset.save_to_disk writes data-*.arrow beside dataset_info.json and state.json: the JSON files
    were taken as shards."""
    import pyarrow as pa
    from scipy.special import log_softmax

    z = rng.normal(size=(10, 5)).astype(np.float32)
    y = rng.integers(0, 5, 10)
    d = tmp_path / "hfdir"
    d.mkdir()
    for i, rows in enumerate((slice(0, 4), slice(4, 10))):  # save_to_disk's Arrow stream files, one per shard
        t = pa.table({"logits": pa.array(list(z[rows]), type=pa.list_(pa.float32())), "label": y[rows]})
        with pa.ipc.new_stream(str(d / f"data-{i:05d}-of-00002.arrow"), t.schema) as w:
            w.write_table(t)
    (d / "dataset_info.json").write_text(json.dumps({"features": {"logits": {"_type": "Sequence"}}}))
    (d / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00002.arrow"}]}))
    r = xent("ppl", "--logits", f"{d}/:logits", "--targets", f"{d}/:label", "--format", "json")
    assert r.exit_code == 0, r.output
    expected = np.exp(-log_softmax(z.astype(np.float64), axis=1)[np.arange(10), y].mean())
    assert json.loads(r.stdout)["perplexity"] == pytest.approx(expected, rel=1e-12)
    assert "skipped Hugging Face's dataset metadata beside the .arrow shards: dataset_info.json, state.json" in r.stderr
