"""Text that is not what it seems: numbers in other scripts, broken quoting, stray carriage
returns, binary bytes, and lines too long to hold. Each is one located ``Error:`` line (exit 1
for a file, 2 for an inline value), read whole or streamed, never a traceback or an internal
error, and a failing input stays within a bounded memory."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.cli_helpers import cli_json
from tests.conftest import xent
from xentcli.readers import read_matrix
from xentcli.readers import text as readers


def one_error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert "internal error" not in result.stderr
    return result.stderr


@pytest.fixture(params=["whole", "streamed"])
def streamed(request, monkeypatch):
    """Each file read whole and streamed by chunks (as files over 64 MB are)."""
    if request.param == "streamed":
        monkeypatch.setattr(readers.main, "STREAM_TEXT_BYTES", 0)
        monkeypatch.setattr(readers.common, "TEXT_CHUNK", 16)
    return request.param


NOT_ASCII_NUMBERS = ["1_0", "1_000.5", "\u0661", "\u0663.\u0665", "\uff11", "\uff12e3", "\u0967"]  # all float()'s


@pytest.mark.parametrize("cell", NOT_ASCII_NUMBERS)
def test_gh_only_ascii_spellings_are_numbers(tmp_path, streamed, cell):
    float(cell)  # Python reads each as a number: xent must not
    f = tmp_path / "z.csv"
    f.write_text(f"1,2\n3,{cell}\n5,6\n", encoding="utf-8")
    err = one_error_line(xent("softmax", "--logits", f), 1)
    assert f"line 2, column 2: expected a number, found {cell!r}" in err
    # one column of labels may hold class names, but never a number in another script
    (tmp_path / "y.txt").write_text(f"0\n1\n{cell}\n", encoding="utf-8")
    err = one_error_line(xent("ce", "--labels", tmp_path / "y.txt", "--logits", "1,2;3,4;5,6"), 1)
    assert "line 3, column 1" in err and repr(cell) in err


@pytest.mark.parametrize("cell", NOT_ASCII_NUMBERS)
def test_only_ascii_spellings_are_inline_numbers(cell):
    err = one_error_line(xent("softmax", "--logits", f"1,{cell};2,3"), 2)
    assert "row 1, position 2" in err and repr(cell) in err


def test_column_numbers_are_ascii(tmp_path):
    (tmp_path / "z.csv").write_text("1,2\n3,4\n")
    one_error_line(xent("softmax", "--logits", f"{tmp_path}/z.csv:\u0661"), 2)
    assert cli_json("softmax", "--logits", f"{tmp_path}/z.csv:1")["shape"] == [2, 1]


MALFORMED = {
    "quote then CR": (b'1,"2"\r3,4', "line 1, column 2", "carriage return"),
    "lone CRs": (b"1,2\r3,4\r", "line 1, column 2", "carriage return"),
    "lone CR, whitespace": (b"1 2\r3 4\n", "line 1, column 2", "carriage return"),
    "CR on line 3": (b"1,2\r\n3,4\r\n5\r6\r\n", "line 3, column 1", "carriage return"),
    "unclosed quote": (b'1,2\n3,"4\n', "line 2, column 2", "not closed"),
    "text after a quote": (b'1,"2"x,3\n4,5,6\n', "line 1, column 2", "after a closing quote"),
    "quote inside a field": (b'1,2"3\n4,5\n', "line 1, column 2", "found '2\"3'"),
    "NUL byte": (b"1,2\n3,\x004\n", "line 2", "NUL"),
    "invalid UTF-8": (b"1,2\n3,\xff\n", "line 2", "0xff"),
    "BOM inside": (b"1,2\n\xef\xbb\xbf3,4\n", "line 2, column 1", "byte-order mark"),
    "unclosed quote in the header": (b'"a,b\n1,2\n', "line 1, column 1", "not closed"),
    "CR in the second row": (b"0,\n\r0\n", "line 1, column 2", "empty cell"),  # line order: line 1 first
}


@pytest.mark.parametrize("name", MALFORMED)
def test_gh_malformed_text_is_one_located_line(tmp_path, streamed, name):
    data, where, what = MALFORMED[name]
    f = tmp_path / "z.csv"
    f.write_bytes(data)
    err = one_error_line(xent("softmax", "--logits", f), 1)
    assert f"--logits {f}: {where}" in err and what in err
    assert "\r" not in err and "\x00" not in err


def test_quoted_fields_as_csv_writes_them(tmp_path):
    f = tmp_path / "p.csv"
    df = pd.DataFrame([[0.25, 0.75]], columns=['say "hi"', "a,b"])
    df.to_csv(f, index=False, quoting=1)  # every field quoted, a quote doubled inside one
    m = cli_json("entropy", "--probs", f, "--reduction", "none")
    assert m["per_sample"][0] == pytest.approx(-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)), rel=1e-15)
    table = xent("entropy", "--probs", f, "--format", "table").stdout
    assert "a,b" in table


def peak_of_run(*args) -> tuple[int, int, str]:
    """Exit status, peak RSS in MB and stderr of ``xent ARGS`` run alone in a fresh parent process
    (``RUSAGE_CHILDREN`` then holds that one run's peak)."""
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); "
            "sys.stdout.write(r.stderr.decode())")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "xentcli", *map(str, args)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    status, _, stderr = out.partition("\n")
    rc, mb = map(int, status.split())
    return rc, mb, stderr


def test_gh_a_line_over_the_bound_is_refused_in_bounded_memory(tmp_path):
    # Over 64 MB: the file is streamed, and its first line (no newline at all) was read whole.
    f = tmp_path / "long.csv"
    with open(f, "wb") as out:
        out.write(b"0.5," * (17 << 20))
    rc, mb, err = peak_of_run("softmax", "--logits", f, "--format", "csv")
    assert rc == 1 and err.count("\n") == 1
    assert f"long.csv: line 1 is longer than {readers.MAX_LINE >> 20} MB" in err
    assert mb < 512
    # a small file's long line, after a short one
    f.write_bytes(b"1,2\n" + b"0" * (readers.MAX_LINE + 1) + b"\n")
    rc, mb, err = peak_of_run("softmax", "--logits", f, "--format", "csv")
    assert rc == 1 and "line 2 is longer than" in err and mb < 512


def test_the_widest_vocabulary_row_is_within_the_bound(tmp_path):
    # A float32 softmax row over Qwen's 152 064 classes, as pandas writes it: well under the bound.
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 152_064)).astype(np.float32)
    pd.DataFrame(z).to_csv(tmp_path / "z.csv", index=False, header=False)
    assert max(len(line) for line in (tmp_path / "z.csv").read_bytes().split(b"\n")) < readers.MAX_LINE
    z64 = z.astype(np.float64)
    m = z64.max(axis=1, keepdims=True)
    p = np.exp(z64 - m) / np.exp(z64 - m).sum(axis=1, keepdims=True)
    doc = cli_json("entropy", "--logits", tmp_path / "z.csv", "--reduction", "none")
    np.testing.assert_allclose(doc["per_sample"], -(p * np.log(p)).sum(axis=1), rtol=1e-9)


def test_a_bad_cell_late_in_a_large_file_is_found_in_bounded_memory(tmp_path):
    f = tmp_path / "late.csv"
    with open(f, "wb") as out:
        out.write(b"0,0,0,0,0,0,0,0\n" * (3 << 20))  # 48 MB, read whole: only the refused chunk is read cell by cell
        out.write(b"0,0,0,0,0,0,0,x\n")
    rc, mb, err = peak_of_run("softmax", "--logits", f, "--format", "csv")
    assert rc == 1 and f"line {(3 << 20) + 1}, column 8: expected a number, found 'x'" in err
    assert mb < 512


@pytest.mark.parametrize("text, shape, header", [
    ("3\n2.5\n4.1\n7\n1.2\n", (5, 1), False),  # np.savetxt fmt='%g': 7 is an integer, so 3 is data
    ("0\n0.3\n0.8\n", (2, 1), True),  # its only integer is its first line: pandas' Series name
    ("0,1\n0.5,0.5\n1,0\n", (3, 2), False),  # one-hot rows by hand: an integer row below the second
    (",0\n0,1\n1,2\n", (2, 1), True),  # pandas' index over integers
    ("id,0,1\n7,0.25,0.75\n3,0.5,0.5\n", (2, 2), True),  # a named index, ids in no order
])
def test_integer_headers_weigh_every_row_read(tmp_path, streamed, text, shape, header):
    from xentcli.readers import read_matrix

    f = tmp_path / "m.csv"
    f.write_text(text)
    m = read_matrix(str(f), "--preds")
    assert np.asarray(m.values).shape == shape
    assert (m.names is not None) == header


def test_label_column_is_refused_whole_and_streamed(tmp_path, streamed):
    f = tmp_path / "t.csv"
    f.write_text("label,p_a,p_b\n0,0.25,0.75\n1,0.5,0.5\n")
    r = xent("ce", "--labels", f"{f}:label", "--probs", f)
    assert one_error_line(r, 2) and f"{f}:p_* for the predictions" in r.stderr


# Blanks that str.split() (and NumPy) take as separators: a locale's digit grouping, and ASCII's
# information separators and page breaks.
GROUPING_BLANKS = {"\u00a0": "no-break space (U+00A0)", "\u202f": "narrow no-break space (U+202F)",
                   "\u3000": "ideographic space (U+3000)", "\x1c": "(U+001C)", "\x1d": "(U+001D)",
                   "\x0c": "(U+000C)", "\x0b": "(U+000B)"}


@pytest.mark.parametrize("blank", GROUPING_BLANKS)
@pytest.mark.parametrize("name, sep", [("p.csv", ","), ("p.txt", " "), ("p.tsv", "\t"), ("p.csv", ";")])
def test_gh_digit_grouping_blank_does_not_split_a_number(tmp_path, streamed, blank, name, sep):
    f = tmp_path / name
    pd.DataFrame([[0.5, 2.0], [1.0, 3.0]]).to_csv(f, sep=sep, header=False, index=False)
    assert xent("softmax", "--logits", f).exit_code == 0
    text = f.read_text().splitlines()
    for cell, where in ((f"1{blank}234", "inside"), (f"{blank}3.0", "around"), (f"3.0{blank}", "around")):
        f.write_text(f"{text[0]}\n1.0{sep}{cell}\n", encoding="utf-8")
        err = one_error_line(xent("softmax", "--logits", f), 1)
        assert f"line 2, column 2: expected a number, found {cell!r}" in err
        assert f"{GROUPING_BLANKS[blank]} {where} a number: numbers are ASCII, without digit grouping" in err
    f.write_text(f"1{blank}234\n", encoding="utf-8")  # the reproducer: one line, one cell
    assert "line 1, column 1" in one_error_line(xent("softmax", "--logits", f), 1)


def test_non_ascii_in_a_comment_or_a_name_is_fine(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("# caf\u00e9 \u00a0 r\u00e9sum\u00e9\nclass\u00a0a,b\n1,2\n", encoding="utf-8")
    doc = cli_json("softmax", "--logits", f)
    np.testing.assert_allclose(doc["probs"], [[1 / (1 + np.e), np.e / (1 + np.e)]], rtol=1e-12)


@pytest.mark.parametrize("blank", GROUPING_BLANKS)
def test_gh_digit_grouping_blank_does_not_split_an_inline_number(blank):
    err = one_error_line(xent("softmax", "--logits", f"1{blank}234"), 2)
    assert f"position 1: expected a number, found {'1' + blank + '234'!r}" in err and GROUPING_BLANKS[blank] in err
    err = one_error_line(xent("softmax", "--logits", f"1,{blank}2"), 2)
    assert "position 2" in err and "around a number" in err
    # spaces and tabs do separate
    doc = cli_json("softmax", "--logits", "0 \t 0")
    assert np.ravel(doc["probs"]).tolist() == [0.5, 0.5]


@pytest.mark.parametrize("option", [["softmax", "--logits"], ["ce", "--labels", "0", "--logits"],
                                    ["ce", "--logits", "1,2", "--labels"]])
def test_gh_inline_value_nested_too_deep_is_a_wrong_call(option):
    err = one_error_line(xent(*option, "[" * 1000 + "1" + "]" * 1000), 2)
    assert "malformed inline value" in err and "nested 1000 deep, more than 64" in err and len(err) < 300


def test_gh_ragged_last_wide_line_fails_within_the_memory_bound(tmp_path):
    # 8 lines of 3.9 M values (62 MB, read whole), the last one short: the rows above are
    # checked, not kept, and no wide line is split into str cells.
    f = tmp_path / "wide.csv"
    n = 3_900_000
    with open(f, "wb") as out:
        line = b"1," * (n - 1) + b"1\n"
        for _ in range(7):
            out.write(line)
        out.write(b"1," * (n - 2) + b"1\n")
    rc, mb, err = peak_of_run("softmax", "--logits", f, "-o", tmp_path / "out.csv")
    assert rc == 1 and err.count("\n") == 1
    assert f"line 8: found {n - 1} values, expected {n} as on line 1" in err
    assert mb < 512


def test_ragged_wide_whitespace_line_fails_within_the_memory_bound(tmp_path):
    # The same as whitespace-separated text with aligned (doubled) blanks.
    f = tmp_path / "wide.txt"
    n = 2_700_000  # 8.1 MB a line, under the bound
    with open(f, "wb") as out:
        line = b"1  " * (n - 1) + b"1\n"
        for _ in range(6):
            out.write(line)
        out.write(b"1  " * (n - 2) + b"1\n")
    rc, mb, err = peak_of_run("softmax", "--logits", f, "-o", tmp_path / "out.csv")
    assert rc == 1 and f"line 7: found {n - 1} values, expected {n} as on line 1" in err
    assert mb < 512


@pytest.mark.parametrize("sep", [",", " ", "  "])
def test_ragged_row_is_said_in_line_order_before_any_output(tmp_path, streamed, sep):
    f = tmp_path / ("z.csv" if sep == "," else "z.txt")
    rows = [sep.join(["0.5", "1.5", "2.5"])] * 6
    f.write_text("\n".join(rows[:4] + [sep.join(["1", "2"])] + rows[4:]) + "\n")
    err = one_error_line(xent("softmax", "--logits", f, "--format", "csv"), 1)
    assert "line 5: found 2 values, expected 3 as on line 1" in err
    f.write_text("\n".join(rows[:1] + [sep.join(["1", "x", "3"])] + rows[1:3] + [sep.join(["1", "2"])]) + "\n")
    err = one_error_line(xent("softmax", "--logits", f, "--format", "csv"), 1)
    assert "line 2, column 2: expected a number, found 'x'" in err


def test_gh_blank_line_of_tabs_is_no_ragged_row(tmp_path, monkeypatch):
    # A tab-separated file's line of blanks and tabs holds no row: counted as one, it failed the streamed
    # read with an internal error, and dropped the rows before a chunk NumPy refuses ('True' is 1 here).
    f = tmp_path / "z.tsv"
    pd.DataFrame([[1.0, 2.0], [3.0, 4.0]]).to_csv(f, sep="\t", index=False, header=False)
    f.write_text(f.read_text() + "\t\nTrue\t6.0\n")
    expected = [[1, 2], [3, 4], [1, 6]]
    np.testing.assert_array_equal(np.asarray(read_matrix(str(f), "--logits").values), expected)
    monkeypatch.setattr(readers.common, "TEXT_CHUNK", 8)  # the rows before the refused chunk are kept
    np.testing.assert_array_equal(np.asarray(read_matrix(str(f), "--logits").values), expected)
    monkeypatch.setattr(readers.main, "STREAM_TEXT_BYTES", 0)
    np.testing.assert_array_equal(np.asarray(read_matrix(str(f), "--logits").values), expected)
