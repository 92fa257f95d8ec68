"""Regressions found by the hostile and new-user trials of ``xent ngram``, each named after its bug."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from ..conftest import xent
from .conftest import FIXTURES


@pytest.mark.parametrize("method", ["mkn", "kn", "katz", "wb", "jm", "add-k"])
def test_no_method_writes_a_positive_log10_probability(tmp_path, method):
    # Katz's Good-Turing coefficient came out 2.8 on a small text ((k+1) n_{k+1} > n_1): p = 1.68, which
    # neither query nor xent reads back; and a probability of 1 can round to 1 + 1e-16.
    rng = np.random.default_rng(17)
    for trial in range(40):
        lines = [" ".join(f"w{x}" for x in rng.integers(0, rng.integers(3, 8), size=rng.integers(1, 7)))
                 for _ in range(rng.integers(3, 40))]
        text = tmp_path / f"t{trial}.txt"
        text.write_text("\n".join(lines) + "\n")
        model = tmp_path / f"m{trial}.arpa"
        result = xent("ngram", "build", "--text", text, "--order", 4, "--smoothing", method, "-o", model,
                      *(["--discount-fallback"] if method in ("mkn", "kn") else []))
        assert result.exit_code == 0, result.output
        for line in model.read_text().splitlines():
            fields = line.split("\t")
            if len(fields) >= 2:
                assert float(fields[0]) <= 0, (trial, line)
        assert xent("ngram", "ppl", "--model", model, "--text", text).exit_code == 0


def test_katz_reports_contexts_that_keep_no_mass(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("x y\n" * 20 + "x z\n" + "p q\n" * 3 + "r s\n")
    result = xent("ngram", "build", "--text", text, "--order", 2, "--smoothing", "katz", "--format", "json",
                  "-o", tmp_path / "k.arpa")
    assert result.exit_code == 0, result.output
    import json

    notes = json.loads(result.stdout)["notes"]
    assert any("keep no mass for unseen words" in n for n in notes), notes


@pytest.mark.parametrize("text", ["the cat sat\n" * 50, "a\n" * 100, "\n\n\n\n"])
def test_jm_on_degenerate_text_at_a_high_order(tmp_path, text):
    # An order with no n-gram at all crashed the EM (IndexError on an empty table).
    path = tmp_path / "t.txt"
    path.write_text(text)
    result = xent("ngram", "build", "--text", path, "--order", 10, "--smoothing", "jm", "-o", tmp_path / "m.arpa")
    assert result.exit_code == 0, result.output
    scored = xent("ngram", "ppl", "--model", tmp_path / "m.arpa", "--text", path, "--format", "json")
    assert scored.exit_code == 0 and math.isfinite(float(scored.stdout.split('"ppl": ')[1].split(",")[0]))


def test_k_without_add_k_is_a_wrong_call(tmp_path):
    result = xent("ngram", "build", "--text", FIXTURES / "doc.txt", "--order", 2, "--k", 2, "-o", tmp_path / "m.arpa")
    assert result.exit_code == 2 and "--k applies to --smoothing add-k only" in result.output


def test_build_into_a_closed_pipe_exits_141_quietly():
    # click turned the BrokenPipeError into exit 1.
    proc = subprocess.Popen([sys.executable, "-m", "xentcli", "ngram", "build", "--text", str(FIXTURES / "zipf.txt"),
                             "--order", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Error" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_among_text_shards_is_named_and_skipped(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.txt").write_text((FIXTURES / "doc.txt").read_text())
    os.mkfifo(shards / "pipe.txt")
    result = xent("ngram", "build", "--text", shards, "--order", 2, "-o", tmp_path / "m.arpa")
    assert result.exit_code == 0, result.output
    assert "skipped 1 entries that are not regular files: pipe.txt" in result.stderr


def test_stdin_named_twice_through_dev_stdin_is_refused():
    proc = subprocess.run([sys.executable, "-m", "xentcli", "ngram", "ppl", "--train", str(FIXTURES / "doc.txt"),
                           "--order", "2", "--text", "/dev/stdin", "-"], input=b"a b\n", capture_output=True,
                          timeout=60)
    assert proc.returncode == 2 and b"stdin" in proc.stderr, proc.stderr
