"""Every input form of SPEC §1, and how each fails."""

import io

import numpy as np
import pytest

from xentcli.errors import CallError, DataError
from xentcli.readers import parse_inline, read_matrix
from xentcli.readers.npy import NpyFile
from xentcli.readers.text import parse_text


def values(data: bytes):
    return parse_text(data, "--logits f")[0].tolist()


@pytest.mark.parametrize(
    "data",
    [
        b"1,2,3\n4,5,6\n",
        b"1\t2\t3\n4\t5\t6\n",
        b"1;2;3\n4;5;6\n",
        b"1 2 3\n4   5 6\n",
        b"  1, 2 ,3  \n4,5,6",  # spaces around cells, no final newline
        b"# comment\n\n1,2,3\r\n\r\n# another\r\n4,5,6\r\n",  # comments, blanks, CRLF
        b"\xef\xbb\xbf1,2,3\n4,5,6\n",  # UTF-8 BOM
    ],
)
def test_delimited_text_forms(data):
    assert values(data) == [[1, 2, 3], [4, 5, 6]]


def test_header_row_gives_class_names_and_lines_are_physical():
    v, names, lines = parse_text(b"# c\ncat,dog,man\n\n0.7,0.2,0.1\n", "x")
    assert names == ["cat", "dog", "man"] and v.tolist() == [[0.7, 0.2, 0.1]] and lines == [4]


def test_special_values_and_single_column():
    assert values(b"inf,-inf,nan\n")[0][:2] == [float("inf"), float("-inf")]
    assert values(b"0\n2\n1\n") == [[0], [2], [1]]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"1,2,3\n4,5\n", "line 2: found 2 values, expected 3 as on line 1"),
        (b"1,2\n3,x\n", "line 2, column 2: expected a number, found 'x'"),
        (b"1,,3\n", "line 1, column 2: empty cell"),
        (b"1,2,\n3,4,\n", "line 1, column 3: empty cell, expected a number (a trailing delimiter?)"),
        (b"1,2\n\xff,3\n", "line 2: byte 0xff is not UTF-8"),
        (b"1,2\n3,4\x00\n", "line 2: binary data"),
        (b"", "no numbers found (empty input)"),
        (b"# only comments\n\n", "no numbers found"),
        (b"cat,dog\n", "only a header row"),
    ],
)
def test_bad_text_names_line_and_column(data, message):
    with pytest.raises(DataError) as e:
        parse_text(data, "--logits z.csv")
    assert e.value.exit_code == 1
    assert str(e.value).startswith("--logits z.csv: ")
    assert message in str(e.value)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("4,2,1;0,5,1", [[4, 2, 1], [0, 5, 1]]),
        ("0.7 0.2 0.1", [0.7, 0.2, 0.1]),
        ("[[4,2,1],[0,5,1]]", [[4, 2, 1], [0, 5, 1]]),
        ("[0, -inf, 1]", [0, float("-inf"), 1]),
        ("1,2;", [[1, 2]]),
        ("3", [3]),
        ("-1e3, 2.5E-1", [-1000, 0.25]),
    ],
)
def test_inline_matrix_forms_parse_to_rows(spec, expected):
    assert parse_inline(spec, "--logits").tolist() == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("1,x,3", "row 1, position 2: expected a number, found 'x'"),
        ("1,,3", "found an empty value"),
        ("1,2;3", "row 2 has 1 values, row 1 has 2"),
        ("[[1,2],[3]]", "rows of different lengths"),
        ("[1,2", "malformed inline value"),
    ],
)
def test_malformed_inline_is_a_wrong_call(spec, message):
    with pytest.raises(CallError) as e:
        read_matrix(spec, "--logits")
    assert e.value.exit_code == 2 and message in str(e.value)


def test_files_by_extension_and_sniffing(tmp_path):
    z = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(tmp_path / "z.npy", z)
    (tmp_path / "z.tsv").write_text("0\t1\t2\n3\t4\t5\n")
    (tmp_path / "z.dat").write_text("0 1 2\n3 4 5\n")
    np.save(tmp_path / "raw", z)  # writes raw.npy
    (tmp_path / "raw.npy").rename(tmp_path / "noext_npy")
    (tmp_path / "noext_text").write_text("0,1,2\n3,4,5\n")
    for name in ("z.npy", "z.tsv", "z.dat", "noext_npy", "noext_text"):
        m = read_matrix(str(tmp_path / name), "--logits")
        assert np.asarray(m.values).tolist() == z.tolist(), name


def test_npy_is_read_lazily_by_rows(tmp_path):
    z = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    np.save(tmp_path / "z.npy", z)
    m = read_matrix(str(tmp_path / "z.npy"), "--logits")
    assert isinstance(m.values, NpyFile) and m.values.shape == (2, 3, 4) and m.values.dtype == np.float32
    rows = m.values.as_rows()
    assert rows.shape == (6, 4)
    np.testing.assert_array_equal(rows.rows(2, 5), z.reshape(6, 4)[2:5])
    np.testing.assert_array_equal(rows[np.array([5, 0])], z.reshape(6, 4)[[5, 0]])
    np.testing.assert_array_equal(rows[:2], z.reshape(6, 4)[:2])
    np.testing.assert_array_equal(np.asarray(m.values), z)
    # Fortran order has no contiguous rows on disk: read whole, same values.
    np.save(tmp_path / "f.npy", np.asfortranarray(z.reshape(6, 4)))
    np.testing.assert_array_equal(np.asarray(read_matrix(str(tmp_path / "f.npy"), "--logits").values), z.reshape(6, 4))


def test_npz_member_picked_by_key_missing_or_ambiguous_refused(tmp_path):
    np.savez(tmp_path / "d.npz", logits=np.ones((2, 3)), targets=np.array([0, 2]))
    np.savez(tmp_path / "one.npz", np.ones((2, 3)))
    assert read_matrix(f"{tmp_path}/d.npz:targets", "--labels").values.tolist() == [0, 2]
    assert read_matrix(f"{tmp_path}/one.npz", "--logits").values.shape == (2, 3)
    with pytest.raises(CallError, match="holds 2 arrays"):
        read_matrix(f"{tmp_path}/d.npz", "--logits")
    with pytest.raises(CallError, match="no array 'x'"):
        read_matrix(f"{tmp_path}/d.npz:x", "--logits")


def test_stdin_text_and_npy():
    assert read_matrix("-", "--logits", stdin=io.BytesIO(b"1,2\n3,4\n")).values.tolist() == [[1, 2], [3, 4]]
    buf = io.BytesIO()
    np.save(buf, np.array([[1.5, 2.5]]))
    assert read_matrix("-", "--probs", stdin=io.BytesIO(buf.getvalue())).values.tolist() == [[1.5, 2.5]]
    with pytest.raises(DataError, match=r"--logits \(stdin\): no numbers found"):
        read_matrix("-", "--logits", stdin=io.BytesIO(b""))


def test_bad_npy_files_never_unpickle(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "str.npy", np.array(["a"]))
    (tmp_path / "fake.npy").write_bytes(b"1,2,3\n")
    np.save(tmp_path / "ok.npy", np.ones((3, 3)))
    (tmp_path / "trunc.npy").write_bytes((tmp_path / "ok.npy").read_bytes()[:-8])
    np.save(tmp_path / "empty.npy", np.ones((0, 3)))
    for name, message in [
        ("obj.npy", "not numeric (object arrays are never unpickled)"),
        ("str.npy", "not numeric"),
        ("fake.npy", "not an NPY file"),
        ("trunc.npy", "truncated NPY file: shape (3, 3) of float64 takes 72 bytes of data, found 64"),
        ("empty.npy", "empty"),
    ]:
        with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_matrix(str(tmp_path / name), "--logits")


def _npy_with_header(path, shape, data_bytes: int, descr: str = "<f4") -> None:
    """An NPY file whose header declares ``shape`` over ``data_bytes`` zero bytes (a header that may lie)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    path.write_bytes(buf.getvalue() + bytes(data_bytes))


@pytest.mark.parametrize("shape, data_bytes, message", [
    ((4611686018427387909, 4), 80, "holds more bytes than a file can"),
    ((-1, 5), 80, "negative dimension"),
    ((3, 5), 80, "takes 60 bytes of data, but 80 follow the header"),
    ((30,), 80, "truncated NPY file: shape (30,) of float32 takes 120 bytes of data, found 80"),
    ((1,) * 70, 4, "a shape of 70 axes; NumPy arrays have at most 64"),
])
def test_npy_header_that_lies_about_its_shape_is_bad_data(tmp_path, xent, shape, data_bytes, message):
    # Read as 20 values, or failing inside xent, before: a header must hold exactly the file's data.
    _npy_with_header(tmp_path / "z.npy", shape, data_bytes)
    for args, stdin in [(["--logits", tmp_path / "z.npy"], None),
                        (["--logits", "-"], (tmp_path / "z.npy").read_bytes())]:
        r = xent("softmax", *args, input=stdin)
        assert r.exit_code == 1 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: --logits ")
        assert message in r.stderr and "internal error" not in r.stderr
    if data_bytes < 4 * max(0, int(np.prod(shape, dtype=object))) or min(shape) < 0:
        with pytest.raises(ValueError):  # np.load agrees (it reads past a short array's trailing bytes)
            np.load(tmp_path / "z.npy")


def _patch_zip_sizes(data: bytes, size: int) -> bytes:
    """Every entry of a zip archive made to declare ``size`` uncompressed bytes (local and central headers)."""
    out = bytearray(data)
    for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = out.find(sig)
        while i >= 0:
            out[i + at:i + at + 4] = size.to_bytes(4, "little")
            i = out.find(sig, i + 4)
    return bytes(out)


def _unnamed_member(archive: bytes) -> bytes:
    """The archive with its central directory's first member name cut to nothing."""
    i, end = archive.find(b"PK\x01\x02"), archive.find(b"PK\x05\x06")
    name_len = int.from_bytes(archive[i + 28:i + 30], "little")
    central = archive[i:i + 28] + bytes(2) + archive[i + 30:i + 46] + archive[i + 46 + name_len:end]
    return archive[:i] + central + archive[end:end + 12] + len(central).to_bytes(4, "little") + archive[end + 16:]


def test_corrupt_npz_is_one_located_line(tmp_path, xent):
    np.savez_compressed(tmp_path / "ok.npz", z=np.arange(12.0).reshape(3, 4))
    good = (tmp_path / "ok.npz").read_bytes()
    cases = {
        "cut.npz": good[: len(good) // 2],
        "flip.npz": good.replace(b"PK\x01\x02", b"PK\x01\xff"),
        "crc.npz": good[:-30] + bytes([good[-30] ^ 0x01]) + good[-29:],
        "lying.npz": _patch_zip_sizes(good, 100),
        "unnamed.npz": _unnamed_member(good),  # zipfile's is_dir() raised IndexError: an internal error
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        r = xent("softmax", "--logits", tmp_path / name)
        assert r.exit_code == 1, (name, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"Error: --logits {tmp_path / name}"), r.stderr
        assert "internal error" not in r.stderr


def test_npz_member_declared_larger_than_the_bound_is_refused_before_inflating(tmp_path, xent):
    from xentcli.readers.npz import MAX_MEMBER_BYTES

    np.savez_compressed(tmp_path / "ok.npz", z=np.zeros(1000))
    (tmp_path / "bomb.npz").write_bytes(_patch_zip_sizes((tmp_path / "ok.npz").read_bytes(), MAX_MEMBER_BYTES + 1))
    r = xent("softmax", "--logits", tmp_path / "bomb.npz")
    assert r.exit_code == 1
    assert f"more than the {MAX_MEMBER_BYTES >> 20} MB xent inflates from an .npz" in r.stderr and ".npy" in r.stderr


def test_npz_as_numpy_writes_it(tmp_path, xent):
    z = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
    np.savez_compressed(tmp_path / "c.npz", logits=np.asfortranarray(z), y=np.array([2, 0]))
    r = xent("ce", "--logits", f"{tmp_path}/c.npz:logits", "--labels", f"{tmp_path}/c.npz:y", "--format", "csv")
    expected = np.mean([np.log(np.exp(row).sum()) - row[t] for row, t in zip(z, [2, 0])])
    assert r.exit_code == 0 and float(r.stdout) == pytest.approx(expected, rel=1e-12)


def test_wrong_calls_for_paths(tmp_path):
    with pytest.raises(CallError, match="file not found: nope.csv"):
        read_matrix("nope.csv", "--labels")
    (tmp_path / "z.xlsx").write_text("[]")
    with pytest.raises(CallError, match=r"unsupported extension '.xlsx'; expected one of .csv .tsv"):
        read_matrix(str(tmp_path / "z.xlsx"), "--logits")
    with pytest.raises(CallError, match="is a directory"):
        read_matrix(str(tmp_path), "--logits")


def test_text_rows_know_their_lines():
    m = read_matrix("-", "--probs", stdin=io.BytesIO(b"# c\n0.5,0.5\n\n0.2,0.9\n"))
    assert m.locate(1) == "--probs (stdin) line 4"


from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from xentcli.readers import text as readers  # noqa: E402

_cells = st.floats(allow_nan=False, width=64).map(repr) | st.integers(-10**6, 10**6).map(str)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12), st.integers(1, 5), st.sampled_from([",", "\t", ";", " "]), st.booleans(), st.data())
def test_chunked_reader_agrees_with_the_exact_reader(rows, cols, delimiter, header, data):
    table = [[data.draw(_cells) for _ in range(cols)] for _ in range(rows)]
    lines = ([delimiter.join(f"c{j}" for j in range(cols))] if header else []) + ["# a comment", ""]
    lines += [delimiter.join(r) for r in table]
    text = "\r\n".join(lines).encode() if data.draw(st.booleans()) else "\n".join(lines).encode()
    exact, exact_names, exact_lines = readers.exact.parse_exact(text.decode(), "x")
    old = readers.common.TEXT_CHUNK
    try:
        readers.common.TEXT_CHUNK = data.draw(st.integers(1, 64))  # rows straddle chunk boundaries
        values, names, lines_ = parse_text(text, "x")
    finally:
        readers.common.TEXT_CHUNK = old
    np.testing.assert_array_equal(values, exact)
    assert names == exact_names and list(lines_) == exact_lines


# -- large text files: checked and counted in a first pass, parsed again by rows ---------------

_STREAM_CASES = {
    "plain": b"1,2,3\n4,5,6\n7,8,9.5\n-1,0,1e-3\n",
    "header, comments, blanks, CRLF, BOM": (b"\xef\xbb\xbf# top\r\ncat,dog,man\r\n\r\n1,2,3\r\n"
                                            b"# mid\r\n4,5,6\r\n\r\n7,8,9\r\n"),
    "whitespace, no final newline": b"1 2  3\n4 5 6\n7 8 9",
    "NaN logit in a later chunk": b"1,2,3\n# c\n4,5,6\n\n7,nan,9\n",
    "a word in a later chunk": b"1,2,3\n4,5,6\n7,x,9\n",
    "ragged row": b"1,2,3\n4,5,6\n7,8\n",
    "a NUL byte": b"1,2,3\n4,5,6\n7,8\x00,9\n",
    "non-UTF-8": b"1,2,3\n4,5,6\n\xe9,8,9\n",
    "only a header": b"a,b,c\n",
    "header, first row ragged": b"a,b,c\n1,2\n3,4,5\n",
    "header, later row ragged": b"a,b,c\n1,2,3\n3,4,5\n6,7\n",
    "blank-looking lines": b"1,2,3\n   \n4,5,6\n\t\r\n7,8,9\n\xc2\xa0\n",
    "trailing delimiter later": b"1,2,3\n4,5,6\n7,8,\n",
}


@pytest.mark.parametrize("name", list(_STREAM_CASES))
@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])  # rows straddling chunks, or one chunk
def test_streamed_text_gives_what_the_whole_file_gives(name, chunk, tmp_path, monkeypatch, xent):
    path = tmp_path / "z.csv"
    path.write_bytes(_STREAM_CASES[name])
    (tmp_path / "y.csv").write_bytes(b"0\n2\n1\n0\n")
    commands = [
        ["softmax", "--logits", str(path)],
        ["softmax", "--logits", str(path), "--format", "table"],
        ["entropy", "--logits", str(path), "--format", "json"],
        ["kl", "--p-logits", str(path), "--q-logits", str(path)],
    ]
    if name in ("plain", "header, comments, blanks, CRLF, BOM", "whitespace, no final newline"):
        rows = 4 if name == "plain" else 3
        (tmp_path / "y.csv").write_bytes(b"0\n2\n1\n0\n"[: 2 * rows])
        commands += [["ce", "--logits", str(path), "--labels", str(tmp_path / "y.csv"), "--format", "json"],
                     ["ppl", "--logits", str(path), "--targets", str(tmp_path / "y.csv")]]
    whole = [xent(*args) for args in commands]
    monkeypatch.setattr(readers.main, "STREAM_TEXT_BYTES", 0)
    monkeypatch.setattr(readers.common, "TEXT_CHUNK", chunk)
    if name in ("plain", "header, comments, blanks, CRLF, BOM", "whitespace, no final newline",
                "NaN logit in a later chunk"):
        assert isinstance(read_matrix(str(path), "--logits").values, readers.TextRows)  # really streamed
    for args, before in zip(commands, whole):
        after = xent(*args)
        assert (after.exit_code, after.stdout, after.stderr) == (before.exit_code, before.stdout, before.stderr), args


def test_streamed_text_rows_and_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(readers.main, "STREAM_TEXT_BYTES", 0)
    monkeypatch.setattr(readers.common, "TEXT_CHUNK", 16)
    text = "# head\ncat,dog\n" + "".join(f"{i},{-i}\n" + ("# note\n\n" if i % 3 == 0 else "") for i in range(50))
    (tmp_path / "z.csv").write_text(text)
    m = read_matrix(str(tmp_path / "z.csv"), "--logits")
    assert isinstance(m.values, readers.TextRows) and m.names == ["cat", "dog"]
    expected = np.array([[i, -i] for i in range(50)], dtype=float)
    np.testing.assert_array_equal(np.asarray(m.values), expected)
    np.testing.assert_array_equal(m.values.rows(5, 44), expected[5:44])
    np.testing.assert_array_equal(m.values[[49, 0, 17]], expected[[49, 0, 17]])
    exact_lines = readers.exact.parse_exact(text, "x")[2]
    assert [m.lines[r] for r in range(50)] == exact_lines


def test_every_input_may_be_a_streamed_text_file(tmp_path, monkeypatch, xent):
    rng = np.random.default_rng(0)
    files = {"z": rng.normal(size=(50, 5)), "y": rng.dirichlet(np.ones(5), size=50), "w": np.arange(1.0, 6.0)[None]}
    for name, a in files.items():
        np.savetxt(tmp_path / f"{name}.csv", a, delimiter=",")
    np.savetxt(tmp_path / "k.csv", rng.integers(0, 5, 50), fmt="%d")
    z, y, k, w = (str(tmp_path / f"{n}.csv") for n in "zykw")
    commands = [["ce", "--logits", z, "--labels", y, "--format", "json"],
                ["ce", "--logits", z, "--labels", k, "--weights", w, "--format", "table"],
                ["kl", "--p", y, "--q-logits", z, "--format", "json"],
                ["grad", "--logits", z, "--labels", k, "--check"],
                ["bce", "--logits", z, "--labels", y]]
    whole = [xent(*args) for args in commands]
    monkeypatch.setattr(readers.main, "STREAM_TEXT_BYTES", 0)
    monkeypatch.setattr(readers.common, "TEXT_CHUNK", 100)
    for args, before in zip(commands, whole):
        after = xent(*args)
        assert before.exit_code == 0
        assert (after.exit_code, after.stdout, after.stderr) == (0, before.stdout, before.stderr)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="12,. \t\r\n#\f\v\xa0x", max_size=80))
def test_row_count_of_a_chunk_follows_the_exact_readers_rule(text):
    data = text.encode()
    expected = sum(1 for raw in text.split("\n") if readers.common.line_content(raw))
    assert readers.common.count_rows(data) == expected


@settings(max_examples=120, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.,-e x#\t\r", max_size=12), min_size=1, max_size=12),
       st.integers(1, 40), st.booleans())
@example(lines=[",0", ","], chunk=1, header=False)  # a head cut before its second row decided no header
@example(lines=["0\t0", "\t"], chunk=1, header=False)  # a blank line's tab counted as a ragged row
def test_streamed_text_fuzz_matches_the_whole_file(tmp_path_factory, xent, lines, chunk, header):
    # No nan/inf in the alphabet, so the only errors are the reader's: they must read the same.
    path = tmp_path_factory.mktemp("fuzz") / "z.csv"
    path.write_bytes((("a,b\n" if header else "") + "\n".join(lines) + "\n").encode())
    args = ["softmax", "--logits", str(path), "--format", "csv"]
    whole = xent(*args)
    old = readers.main.STREAM_TEXT_BYTES, readers.common.TEXT_CHUNK
    readers.main.STREAM_TEXT_BYTES, readers.common.TEXT_CHUNK = 0, chunk
    try:
        streamed = xent(*args)
    finally:
        readers.main.STREAM_TEXT_BYTES, readers.common.TEXT_CHUNK = old
    assert (streamed.exit_code, streamed.stdout) == (whole.exit_code, whole.stdout)
    # A streamed file's reader error comes when its block is reached: warnings about the
    # input's head (a single class, say) may come first. The error itself reads the same.
    errors = [line for line in streamed.stderr.splitlines() if not line.startswith("Warning: ")]
    assert errors == [line for line in whole.stderr.splitlines() if not line.startswith("Warning: ")]
