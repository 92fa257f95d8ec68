"""Where a command's result goes and in which format (OutputSpec.resolve), driven through the real
commands against the documented rules of --format and --output: --format wins; else the --output
extension (.txt and none are csv; others refused, even with --format); else table on a terminal,
csv otherwise; '-' is stdout; --explain takes the result's place only on stdout without --format."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

# ce of label 0 under probabilities (0.5, 0.5) is -ln 0.5: every format must carry exactly this number.
LN2 = math.log(2)
CE = ["ce", "--labels", "0", "--probs", "0.5,0.5"]


def test_a_pipe_without_format_or_output_gets_csv(xent):
    result = xent(*CE)
    assert result.exit_code == 0
    assert result.stdout == f"{LN2!r}\n"


@pytest.mark.parametrize("name", ["out.csv", "out.txt", "out", "OUT.CSV"])
def test_an_output_named_csv_txt_or_without_extension_is_csv(xent, tmp_path, name):
    result = xent(*CE, "-o", tmp_path / name)
    assert result.exit_code == 0 and result.stdout == ""
    assert (tmp_path / name).read_text() == f"{LN2!r}\n"


def test_the_output_extension_picks_json_and_npy(xent, tmp_path):
    assert xent(*CE, "-o", tmp_path / "out.json").exit_code == 0
    assert json.loads((tmp_path / "out.json").read_text())["mean"] == LN2
    assert xent(*CE, "-o", tmp_path / "out.npy").exit_code == 0
    assert np.load(tmp_path / "out.npy") == LN2


def test_format_given_wins_over_the_extension(xent, tmp_path):
    assert xent(*CE, "--format", "json", "-o", tmp_path / "out.csv").exit_code == 0
    assert json.loads((tmp_path / "out.csv").read_text())["mean"] == LN2


@pytest.mark.parametrize("given", [[], ["--format", "csv"]])
def test_an_unknown_extension_is_refused_even_with_format_and_nothing_is_created(xent, tmp_path, given):
    result = xent(*CE, *given, "-o", tmp_path / "out.xlsx")
    assert result.exit_code == 2
    assert "does not write '.xlsx'" in result.stderr
    assert os.listdir(tmp_path) == []


def test_format_table_to_a_file_is_the_plain_table(xent, tmp_path):
    assert xent(*CE, "--format", "table", "-o", tmp_path / "out.txt").exit_code == 0
    text = (tmp_path / "out.txt").read_text()
    assert "cross-entropy" in text and "0.69314718" in text and "\x1b" not in text


def test_dash_is_stdout(xent, tmp_path):
    result = xent(*CE, "--format", "json", "-o", "-")
    assert result.exit_code == 0 and json.loads(result.stdout)["mean"] == LN2


def test_precision_and_header_shape_the_csv(xent):
    result = xent(*CE, "--format", "csv", "--header", "--precision", "3")
    assert result.stdout == "mean\n0.693\n"


def test_a_terminal_without_format_gets_a_table():
    controller, terminal = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "xentcli", *CE], stdout=terminal, stderr=subprocess.PIPE,
                              timeout=120)
        os.close(terminal)
        terminal = None
        out = b""
        while True:
            try:
                chunk = os.read(controller, 1 << 16)
            except OSError:  # the terminal's other end is closed: everything is read
                break
            if not chunk:
                break
            out += chunk
    finally:
        if terminal is not None:
            os.close(terminal)
        os.close(controller)
    assert proc.returncode == 0, proc.stderr
    text = out.decode()
    assert "cross-entropy" in text and "0.69314718" in text  # the table's title, 8 digits
    assert f"{LN2!r}" not in text


def test_explain_takes_the_place_of_the_result_only_without_format_or_output(xent, tmp_path):
    in_place = xent(*CE, "--explain")
    assert in_place.exit_code == 0 and in_place.stderr == ""
    assert "cross-entropy" in in_place.stdout and f"{LN2!r}\n" != in_place.stdout

    beside = xent(*CE, "--explain", "--format", "csv")
    assert beside.stdout == f"{LN2!r}\n"
    assert in_place.stdout.strip() in beside.stderr

    to_file = xent(*CE, "--explain", "-o", tmp_path / "out.csv")
    assert to_file.stdout == "" and (tmp_path / "out.csv").read_text() == f"{LN2!r}\n"
    assert in_place.stdout.strip() in to_file.stderr
