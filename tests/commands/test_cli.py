"""The real commands: formats, tables, files, stdin, pipes, exit codes (SPEC §2-§4)."""

import io
import json
import math
import os

import numpy as np
import pytest

from tests.cli_helpers import shows_number
from tests.conftest import SAMPLE, run_process

LABELS = str(SAMPLE / "labels.csv")
LOGITS = str(SAMPLE / "logits.csv")
CE_KEYS = ["command", "n", "base", "reduction", "mean", "sum", "denominator", "perplexity"]


def as_json(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# -- output formats ---------------------------------------------------------------


def test_ce_json_keys_and_values(xent):
    doc = as_json(xent("ce", "--labels", LABELS, "--logits", LOGITS, "--format", "json"))
    assert list(doc) == CE_KEYS
    assert doc["command"] == "ce" and doc["n"] == 2 and doc["base"] == "e" and doc["reduction"] == "mean"
    # within a few ulp: NumPy's exp/log differ by CPU in the last bit
    assert doc["mean"] == pytest.approx(0.4972954548475541, rel=5e-16) and doc["denominator"] == 2
    assert doc["sum"] == pytest.approx(2 * 0.4972954548475541, rel=1e-15)
    assert doc["perplexity"] == pytest.approx(math.exp(0.4972954548475541), rel=1e-15)
    doc = as_json(xent("ce", "--labels", LABELS, "--logits", LOGITS, "--format", "json", "--reduction", "none"))
    assert list(doc) == CE_KEYS[:7] + ["per_sample", "perplexity"]
    assert doc["per_sample"] == pytest.approx([0.16984601955628567, 0.8247448901388226], rel=5e-16)


def test_json_writes_inf_as_string(xent):
    doc = as_json(xent("ce", "--labels", "1", "--logits", "0,-inf", "--format", "json", "--reduction", "none"))
    assert doc["per_sample"] == ["inf"] and doc["mean"] == "inf" and doc["perplexity"] == "inf"


def test_csv_tsv_npy_and_header(xent):
    r = xent("ce", "--labels", LABELS, "--logits", LOGITS, "--reduction", "none", "--header")
    assert r.stdout.splitlines()[0] == "loss"
    assert [float(v) for v in r.stdout.splitlines()[1:]] == pytest.approx([0.16984601955628567, 0.8247448901388226],
                                                                          rel=5e-16)
    r = xent("softmax", "--logits", "4,2,1;0,5,1", "--format", "tsv", "--precision", "4")
    assert r.stdout == "0.8438\t0.1142\t0.04201\n0.006573\t0.9756\t0.01787\n"
    r = xent("ce", "--labels", LABELS, "--logits", LOGITS, "--reduction", "sum", "--format", "npy")
    assert np.load(io.BytesIO(r.stdout_bytes)) == pytest.approx(0.9945909096951082, rel=1e-15)
    r = xent("softmax", "--logits", LOGITS, "--format", "npy")
    np.testing.assert_allclose(np.load(io.BytesIO(r.stdout_bytes)).round(8),
                               [[0.84379473, 0.1141952, 0.04201007], [0.00657326, 0.97555875, 0.01786798]])


def test_softmax_json_log_and_temperature(xent):
    doc = as_json(xent("softmax", "--logits", "3,1,-3", "--format", "json"))
    assert list(doc) == ["command", "shape", "probs"] and doc["shape"] == [1, 3]
    np.testing.assert_array_equal(np.round(doc["probs"], 8), [[0.87887824, 0.11894324, 0.00217852]])
    doc = as_json(xent("softmax", "--logits", "0,-1000", "--log", "--format", "json"))
    assert list(doc) == ["command", "shape", "log_probs"] and doc["log_probs"][0][1] == -1000.0
    doc = as_json(xent("softmax", "--logits", "2,0", "--temperature", "2", "--format", "json"))
    assert doc["probs"][0][0] == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-15)


def test_base_changes_losses_not_perplexity(xent):
    docs = {b: as_json(xent("ce", "--labels", LABELS, "--logits", LOGITS, "--format", "json", "--base", b))
            for b in ("e", "2", "10")}
    assert docs["2"]["base"] == 2 and docs["10"]["base"] == 10
    assert docs["2"]["mean"] == pytest.approx(0.4972954548475541 / math.log(2), rel=1e-15)
    assert docs["10"]["mean"] == pytest.approx(0.4972954548475541 / math.log(10), rel=1e-15)
    assert docs["e"]["perplexity"] == docs["2"]["perplexity"] == docs["10"]["perplexity"]


# -- tables ------------------------------------------------------------------------


def test_single_sample_table_is_the_document_layout(xent):
    r = xent("ce", "--labels", "1,0,0", "--probs", "0.7,0.2,0.1", "--classes", "cat,dog,man", "--format", "table")
    lines = [line.split() for line in r.stdout.splitlines() if line.strip()]
    assert ["cat", "dog", "man"] in lines
    assert ["label", "1", "0", "0"] in lines and ["pred", "0.7", "0.2", "0.1"] in lines
    assert ["loss", "(nats)", "0.35667494"] in lines
    assert ["perplexity", "1.4285714"] in lines and ["denominator", "1"] in lines


def test_batch_table_rows_footer_and_header_names(xent):
    r = xent("ce", "--labels", SAMPLE / "batch_index_labels.csv", "--logits", SAMPLE / "batch_logits.csv",
             "--weights", SAMPLE / "class_weights.csv", "--format", "table")
    assert r.exit_code == 0
    for text in ("p(bird)", "p(fish)", "reduction", "mean", "denominator", "8.5", "perplexity"):
        assert text in r.stdout
    assert len([line for line in r.stdout.splitlines() if line.strip()[:1].isdigit()]) == 6


def test_table_on_a_pipe_is_never_truncated_and_has_no_ansi(xent):
    names = ",".join(f"a_rather_long_class_name_{i}" for i in range(20))
    z = ",".join(str(i) for i in range(20))
    r = xent("softmax", "--logits", z, "--classes", names, "--format", "table")
    assert "…" not in r.stdout and "⋯" not in r.stdout and "\x1b[" not in r.stdout
    assert all(f"a_rather_long_class_name_{i}" in r.stdout for i in range(20))  # every class, full width
    r = xent("softmax", "--logits", ",".join(["0"] * 100), "--format", "table")
    assert "…" not in r.stdout and "⋯" in r.stdout and "37 of 100 classes not shown" in r.stdout


def test_no_color_terminal_table(tmp_path):
    # A real terminal is needed for colour; NO_COLOR must still win.
    pytest.importorskip("pty")  # the child process forks the terminal with it
    out = tmp_path / "out"
    code = (
        "import os,pty,sys\n"
        f"pid, fd = pty.fork()\n"
        "if pid == 0:\n"
        "    os.execvpe(sys.executable, [sys.executable, '-m', 'xentcli', 'softmax', '--logits', '1,2'],"
        " dict(os.environ, NO_COLOR='1', TERM='xterm-256color'))\n"
        "data = b''\n"
        "while True:\n"
        "    try: chunk = os.read(fd, 4096)\n"
        "    except OSError: break\n"
        "    if not chunk: break\n"
        "    data += chunk\n"
        f"open({str(out)!r}, 'wb').write(data)\n"
    )
    import subprocess
    import sys
    subprocess.run([sys.executable, "-c", code], timeout=60, check=True)
    data = out.read_bytes().decode()
    assert "0.26894142" in data  # a table (the default on a terminal), not csv
    import re

    # Styles such as italics may stay; colours (SGR 30-38, 90-97) must not.
    assert "\x1b[" in data
    assert not re.search(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])(?:;[0-9;]*)?m", data)


# -- --output ----------------------------------------------------------------------


def test_output_file_format_from_extension(xent, tmp_path):
    def printed_mean(p):  # repr of the mean, within a few ulp: NumPy's exp/log differ by CPU in the last bit
        text = p.read_text()
        return text == f"{float(text)!r}\n" and shows_number(text, 0.4972954548475541)

    for name, check in [
        ("r.json", lambda p: json.loads(p.read_text())["mean"] == pytest.approx(0.4972954548475541, rel=5e-16)),
        ("r.csv", printed_mean),
        ("r.txt", printed_mean),
        ("r.npy", lambda p: float(np.load(p)) == pytest.approx(0.4972954548475541, rel=5e-16)),
        ("r.tsv", printed_mean),
    ]:
        r = xent("ce", "--labels", LABELS, "--logits", LOGITS, "--output", tmp_path / name)
        assert r.exit_code == 0 and r.stdout == ""
        assert check(tmp_path / name), name


def test_failed_run_leaves_existing_output_untouched(xent, tmp_path):
    target = tmp_path / "result.csv"
    target.write_text("precious\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,x,6\n")
    r = xent("ce", "--labels", LABELS, "--logits", bad, "--output", target)
    assert r.exit_code == 1 and r.stdout == ""
    assert target.read_text() == "precious\n"
    assert sorted(os.listdir(tmp_path)) == ["bad.csv", "result.csv"]  # no temp file left


def test_output_into_missing_folder_is_a_wrong_call(xent, tmp_path):
    r = xent("ce", "--labels", LABELS, "--logits", LOGITS, "--output", tmp_path / "no" / "r.csv")
    assert r.exit_code == 2 and "does not exist" in r.stderr


# -- labels, weights, smoothing through the CLI -------------------------------------


def test_pytorch_cases_through_the_command(xent, tmp_path, torch_cases):
    for i, case in enumerate(torch_cases):
        z = tmp_path / f"z{i}.csv"
        np.savetxt(z, np.array(case["logits"]), delimiter=",", fmt="%.17g")
        y = tmp_path / f"y{i}.csv"
        np.savetxt(y, np.array(case["labels"]).reshape(len(case["logits"]), -1), delimiter=",",
                   fmt="%.17g" if not case["index"] else "%d")
        args = ["ce", "--logits", z, "--labels", y, "--reduction", case["reduction"], "--format", "json",
                "--label-smoothing", case["label_smoothing"], "--temperature", case["temperature"]]
        if case["weights"] is not None:
            args += ["--weights", ",".join(repr(w) for w in case["weights"])]
        if case["ignore_index"] is not None:
            args += ["--ignore-index", case["ignore_index"]]
        r = xent(*args)
        assert r.exit_code == 0, r.stderr
        doc = json.loads(r.stdout)
        got = doc["per_sample"] if case["reduction"] == "none" else doc[case["reduction"]]
        got = np.array([float(v) for v in got]) if isinstance(got, list) else float(got)
        np.testing.assert_allclose(got, case["loss"], rtol=1e-12, err_msg=str(args))


def test_three_dimensional_npy_with_batch_targets(xent, tmp_path):
    rng = np.random.default_rng(5)
    z = rng.normal(size=(2, 4, 6)).astype(np.float32)
    t = rng.integers(0, 6, size=(2, 4))
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "t.npy", t)
    flat = as_json(xent("ce", "--logits", tmp_path / "z.npy", "--labels", tmp_path / "t.npy", "--format", "json",
                        "--reduction", "none"))
    assert flat["n"] == 8
    zz = z.reshape(8, 6).astype(np.float64)
    ref = np.log(np.exp(zz).sum(1)) - zz[np.arange(8), t.reshape(-1)]
    np.testing.assert_allclose(flat["per_sample"], ref, rtol=1e-13)


def test_renormalize_rescales_rows(xent):
    r = xent("ce", "--labels", "0", "--probs", "2,1,1")
    assert r.exit_code == 1 and "--renormalize" in r.stderr
    r = xent("ce", "--labels", "0", "--probs", "2,1,1", "--renormalize")
    assert float(r.stdout) == pytest.approx(math.log(2), rel=1e-15)


def test_ignore_index_counts_in_denominator(xent):
    doc = as_json(xent("ce", "--labels", "0,-100,2", "--logits", "0,0,0;1,2,3;0,0,0", "--ignore-index", "-100",
                       "--format", "json"))
    assert doc["denominator"] == 2 and doc["mean"] == pytest.approx(math.log(3), rel=1e-15)


# -- warnings and errors ------------------------------------------------------------


def test_probabilities_given_as_logits_warn_on_stderr(xent):
    r = xent("ce", "--labels", "0", "--logits", "0.7,0.2,0.1")
    assert r.exit_code == 0 and float(r.stdout) > 0
    assert r.stderr.startswith("Warning:") and "--probs" in r.stderr


def test_masked_target_warns_and_gives_inf(xent):
    r = xent("ce", "--labels", "1", "--logits", "0,-inf,1")
    assert r.exit_code == 0 and r.stdout == "inf\n" and "row 1" in r.stderr


@pytest.mark.parametrize(
    "args, code, needles",
    [
        (["ce", "--logits", LOGITS], 2, ["--labels"]),
        (["ce", "--labels", LABELS, "--logits", LOGITS, "--label-smoothing", "1.5"], 2, ["--label-smoothing"]),
        (["ce", "--labels", LABELS, "--logits", LOGITS, "--base", "1"], 2, ["--base"]),
        (["ce", "--labels", LABELS, "--logits", LOGITS, "--base", "-2"], 2, ["--base"]),
        (["ce", "--labels", LABELS, "--logits", LOGITS, "--temperature", "0"], 2, ["--temperature"]),
        (["ce", "--labels", LABELS, "--logits", LOGITS, "--probs", LOGITS], 2, ["--logits", "--probs"]),
        (["ce", "--labels", "-", "--logits", "-"], 2, ["stdin", "--labels", "--logits"]),
        (["ce", "--labels", "nope.csv", "--logits", LOGITS], 2, ["--labels", "nope.csv", "not found"]),
        (["ce", "--labels", LABELS, "--logits", "z.xlsx"], 2, ["z.xlsx", ".csv", ".npy"]),
        (["ce", "--labels", "1,x", "--logits", LOGITS], 2, ["--labels", "malformed", "'x'"]),
        (["ce", "--labels", LABELS, "--logits", LOGITS, "--ignore-index", "0"], 2, ["--ignore-index", "distributions"]),
        (["ce", "--labels", "0", "--probs", "0.5,0.5", "--temperature", "2"], 2, ["--temperature", "--probs"]),
        (["ce", "--labels", LABELS, "--logits", LOGITS, "--classes", "a,b"], 2, ["--classes", "3"]),
        (["ce", "--labels", LABELS, "--logits", LOGITS, "--format", "xml"], 2, ["--format"]),
        (["nosuchcommand"], 2, ["nosuchcommand"]),
        (["ce", "--labels", "5,0", "--logits", LOGITS], 1, ["--labels", "row 1", "class index 5", "3 classes"]),
        (["ce", "--labels", "0,1,2,0", "--logits", LOGITS], 1, ["(4,)", "(2, 3)"]),
        (["ce", "--labels", "0.5,0", "--logits", LOGITS], 1, ["row 1", "0.5", "not an integer"]),
        (["ce", "--labels", "-1,0", "--logits", LOGITS], 1, ["class index -1"]),
        (["ce", "--labels", "0,0", "--logits", "nan,1;1,1"], 1, ["--logits", "row 1", "nan"]),
        (["ce", "--labels", "0,0", "--logits", "inf,1;1,1"], 1, ["--logits", "row 1", "inf"]),
        (["ce", "--labels", "0,0", "--logits", "1,1;-inf,-inf"], 1, ["row 2", "-inf"]),
        (["ce", "--labels", "0", "--probs", "1.2,-0.2"], 1, ["--probs", "row 1", "outside [0, 1]"]),
        (["ce", "--labels", "0", "--probs", "0.5,0.6"], 1, ["row 1", "sum to 1.1", "--renormalize"]),
        (["ce", "--labels", "-0.5,1.5", "--probs", "0.5,0.5"], 1, ["--labels", "row 1", "-0.5"]),
        (["ce", "--labels", "0.5,0.6", "--probs", "0.5,0.5"], 1, ["--labels", "sum to 1.1"]),
        (["ce", "--labels", "0", "--logits", "1,2", "--weights", "1,2,3"], 1,
         ["--weights", "one weight per class (2)"]),
    ],
)
def test_errors_exit_codes_and_messages(xent, args, code, needles):
    r = xent(*args)
    assert r.exit_code == code, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith("Error: ") and len(r.stderr.splitlines()) == 1
    for needle in needles:
        assert needle in r.stderr


def test_bad_file_message_names_option_file_line_and_column(xent, tmp_path):
    p = tmp_path / "z.csv"
    p.write_text("# logits\n1,2,3\n4,five,6\n")
    r = xent("softmax", "--logits", p)
    assert r.exit_code == 1
    assert r.stderr == f"Error: --logits {p}: line 3, column 2: expected a number, found 'five'\n"
    p.write_text("0.5,0.5\n\n0.9,0.2\n")
    r = xent("ce", "--labels", "0,0", "--probs", p)
    assert f"--probs {p} line 3: row 2: probabilities sum to 1.1" in r.stderr


# -- real processes: pipes, stdin, python -m ---------------------------------------


def test_softmax_piped_into_ce_as_the_spec_shows():
    sm = run_process("softmax", "--logits", LOGITS)
    assert sm.returncode == 0 and sm.stderr == b""
    ce = run_process("ce", "--labels", LABELS, "--probs", "-", input=sm.stdout)
    assert ce.returncode == 0, ce.stderr
    assert float(ce.stdout) == pytest.approx(0.4972954548475541, rel=1e-14)


def test_npy_through_stdin():
    sm = run_process("softmax", "--logits", LOGITS, "--format", "npy")
    ce = run_process("ce", "--labels", LABELS, "--probs", "-", "--format", "json", input=sm.stdout)
    assert json.loads(ce.stdout)["mean"] == pytest.approx(0.4972954548475541, rel=1e-14)


@pytest.mark.parametrize("rows", [200_000, 60_000])  # many blocks; one block written in one 3 MB call
def test_closed_pipe_ends_quietly(tmp_path, rows):
    np.save(tmp_path / "big.npy", np.zeros((rows, 8)))
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-m", "xentcli", "softmax", "--logits", str(tmp_path / "big.npy")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    assert p.wait(timeout=120) == 141
    assert p.stderr.read() == b""


def test_debug_is_accepted_and_version_runs():
    r = run_process("ce", "--labels", "0", "--logits", "1,2", "--debug")
    assert r.returncode == 0 and float(r.stdout) == pytest.approx(math.log1p(math.e), rel=1e-15)
    assert run_process("--version").stdout.startswith(b"xent, version")


@pytest.mark.parametrize("args, hint", [
    (["ce", "--logits", "0.2,0.8;0.5,0.5", "--labels", "1,0"], "Did you mean --probs?"),
    (["mse", "--logits", "0.2,0.8;0.5,0.5", "--labels", "1,0", "--through", "softmax"], "Did you mean --preds?"),
    (["grad", "--logits", "0.2,0.8;0.5,0.5", "--labels", "1,0"], "give their logarithms"),
    (["grad", "--loss", "mse", "--through", "softmax", "--logits", "0.2,0.8;0.5,0.5", "--labels", "1,0"],
     "give their logarithms"),
    (["compare", "--base", "0.2,0.8;0.5,0.5", "--test", "0.1,0.9;0.5,0.5"], "give their logarithms"),
])
def test_probability_looking_logits_hint_names_an_option_the_command_has(xent, args, hint):
    # grad and compare take only logits (or log-probabilities): the hint must not name an option they lack.
    result = xent(*args)
    assert result.exit_code == 0, result.stderr
    assert "look like probabilities" in result.stderr and hint in result.stderr
    assert "--probs?" not in result.stderr or args[0] == "ce"


def test_header_names_with_the_delimiter_are_quoted(xent, tmp_path):
    # a class named "a,b" (a quoted csv header) stays one column when the csv output is read back
    (tmp_path / "z.csv").write_text('"a,b",c\n1,2\n3,4\n')
    r = xent("softmax", "--logits", tmp_path / "z.csv", "--header")
    assert r.exit_code == 0, r.stderr
    import csv
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["a,b", "c"] and all(len(row) == 2 for row in rows)
