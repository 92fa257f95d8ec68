"""``xent ngram`` from the shell: every form of --text gives the model the plain file gives, the
text's own symbols, line ends and whitespace, -o (atomic, gzip), the per-word and per-sentence files
in every format, the option errors (exit 2) and where the build report goes."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os

import pandas as pd
import pytest

from tests.conftest import run_process
from tests.ngram.conftest import FIXTURES, parse_arpa, parse_query_summary

CORPUS = FIXTURES / "zipf.txt"
TEST = FIXTURES / "zipf_test.txt"
LINES = CORPUS.read_bytes().split(b"\n")[:-1]


def _build(xent, tmp_path, *texts, name="model.arpa", extra=()):
    out = tmp_path / name
    result = xent("ngram", "build", "--text", *texts, "--order", 3, "-o", out, *extra)
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.fixture(scope="module")
def plain(xent, tmp_path_factory):
    """The ARPA model of zipf.txt, the plain file."""
    return _build(xent, tmp_path_factory.mktemp("plain"), CORPUS)


def _shards(tmp_path, count=12):
    """zipf.txt cut into ``count`` files part-1 … part-12, whose natural order is not their name order."""
    folder = tmp_path / "shards"
    folder.mkdir()
    size = -(-len(LINES) // count)
    for k in range(count):
        (folder / f"part-{k + 1}.txt").write_bytes(b"".join(x + b"\n" for x in LINES[k * size:(k + 1) * size]))
    return folder


COMPRESSIONS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


@pytest.mark.parametrize("ext", COMPRESSIONS)
def test_compressed_text_is_the_plain_text(xent, tmp_path, plain, ext):
    """Known by the extension or, as lmplz knows them, by the first bytes."""
    for name in (f"zipf.txt{ext}", "zipf.txt"):
        path = tmp_path / name
        path.write_bytes(COMPRESSIONS[ext](CORPUS.read_bytes()))
        assert _build(xent, tmp_path, path) == plain, name


def test_compressed_stdin(tmp_path, plain):
    proc = run_process("ngram", "build", "--text", "-", "--order", 3, input=gzip.compress(CORPUS.read_bytes()))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == plain


def test_damaged_compressed_text_is_bad_data(xent, tmp_path):
    packed = tmp_path / "zipf.txt.xz"
    packed.write_bytes(lzma.compress(CORPUS.read_bytes())[:-100])
    plain_named_gz = tmp_path / "plain.txt.gz"
    plain_named_gz.write_bytes(CORPUS.read_bytes())
    for path in (packed, plain_named_gz):
        result = xent("ngram", "build", "--text", path, "--order", 2)
        assert result.exit_code == 1, result.output
        assert str(path) in result.stderr and "damaged" in result.stderr


def test_glob_and_directory_of_shards(xent, tmp_path, plain):
    folder = _shards(tmp_path)
    assert _build(xent, tmp_path, folder) == plain
    assert _build(xent, tmp_path, str(folder / "part-*.txt")) == plain
    assert _build(xent, tmp_path, *(folder / f"part-{k}.txt" for k in range(1, 13))) == plain
    # lmplz numbers words as they first come, and so does the ARPA's order: the shards' order shows
    assert _build(xent, tmp_path, *sorted(folder.iterdir())) != plain


def test_scored_shards_come_in_natural_order(xent, tmp_path):
    """Scored as shards, the sentences come in the file's order: part-2 before part-10."""
    folder = _shards(tmp_path)
    tables = []
    for text in (CORPUS, folder):
        out = tmp_path / "sentences.csv"
        result = xent("ngram", "ppl", "--model", FIXTURES / "zipf.o2.arpa.gz", "--text", text,
                      "--per-sentence", out, "--format", "json")
        assert result.exit_code == 0, result.output
        tables.append(pd.read_csv(out))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)


def test_stdin(tmp_path, plain):
    out = tmp_path / "model.arpa"
    proc = run_process("ngram", "build", "--text", "-", "--order", 3, "-o", out, input=CORPUS.read_bytes())
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == plain
    proc = run_process("ngram", "build", "--text", "-", "--order", 3, input=CORPUS.read_bytes())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == plain


def test_line_ends_and_whitespace_as_lmplz(xent, tmp_path, plain):
    """CRLF, tabs and runs of spaces between words: lmplz's delimiters are space, tab, CR and NUL. (A last
    line without its newline gets no </s>, as in lmplz: the doc_nonl fixture of test_lmplz.)"""
    variants = {
        "crlf": b"".join(x + b"\r\n" for x in LINES),
        "tabs": b"".join(x.replace(b" ", b"\t \t") + b"\n" for x in LINES),
        "padded": b"".join(b"  " + x + b" \t\n" for x in LINES),
    }
    for name, data in variants.items():
        path = tmp_path / "text.txt"
        path.write_bytes(data)
        assert _build(xent, tmp_path, path) == plain, name


def test_empty_lines_are_sentences(xent, tmp_path, plain):
    assert b"" in LINES  # zipf.txt's line 138, which lmplz's models count (test_lmplz)
    path = tmp_path / "text.txt"
    path.write_bytes(b"".join(x + b"\n" for x in LINES) + b"\n\n")
    _build(xent, tmp_path, path, name="more.arpa")
    ours = parse_arpa(tmp_path / "more.arpa")
    before = parse_arpa(FIXTURES / "zipf.o3.arpa.gz")
    assert set(ours[2]) == set(before[2])
    assert ours[2][("<s>", "</s>")][0] > before[2][("<s>", "</s>")][0]


@pytest.mark.parametrize("symbol", ["<s>", "</s>", "<unk>"])
def test_literal_symbols(xent, tmp_path, plain, symbol):
    lines = list(LINES)
    lines[41] = lines[41] + b" " + symbol.encode() + b" " + lines[42]
    path = tmp_path / "text.txt"
    path.write_bytes(b"".join(x + b"\n" for x in lines))
    result = xent("ngram", "build", "--text", path, "--order", 3, "-o", tmp_path / "m.arpa")
    assert result.exit_code == 1, result.output
    errors = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert len(errors) == 1 and str(path) in errors[0] and "line 42" in errors[0] and symbol in errors[0], errors
    assert "--skip-symbols" in errors[0]
    assert not (tmp_path / "m.arpa").exists()
    # --skip-symbols reads the symbol as a space
    skipped = _build(xent, tmp_path, path, extra=["--skip-symbols"])
    lines[41] = lines[41].replace(symbol.encode(), b" ")
    path.write_bytes(b"".join(x + b"\n" for x in lines))
    assert skipped == _build(xent, tmp_path, path)


def test_literal_symbols_in_scored_text(xent, tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the cat\nthe </s> cat\n")
    result = xent("ngram", "ppl", "--model", FIXTURES / "bigram_hand.arpa", "--text", path)
    assert result.exit_code == 1
    assert str(path) in result.stderr and "line 2" in result.stderr
    result = xent("ngram", "ppl", "--model", FIXTURES / "bigram_hand.arpa", "--text", path, "--skip-symbols",
                  "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["words"] == 4


def test_output_is_atomic(xent, tmp_path):
    out = tmp_path / "model.arpa"
    out.write_bytes(b"kept")
    result = xent("ngram", "build", "--text", FIXTURES / "tiny.txt", "--order", 2, "-o", out)
    assert result.exit_code == 1
    assert out.read_bytes() == b"kept"
    assert os.listdir(tmp_path) == ["model.arpa"]


def test_gzip_output_reads_back(xent, tmp_path, plain):
    packed = _build(xent, tmp_path, CORPUS, name="model.arpa.gz")
    assert gzip.decompress(packed) == plain
    (tmp_path / "model.arpa").write_bytes(plain)
    docs = []
    for name in ("model.arpa", "model.arpa.gz"):
        result = xent("ngram", "ppl", "--model", tmp_path / name, "--text", TEST, "--format", "json")
        assert result.exit_code == 0, result.output
        docs.append(json.loads(result.stdout))
    assert docs[0] == docs[1]


def test_tables_in_every_format(xent, tmp_path):
    read = {"csv": lambda p: pd.read_csv(p, keep_default_na=False),
            "tsv": lambda p: pd.read_csv(p, sep="\t", keep_default_na=False),
            "parquet": pd.read_parquet}
    tables = {}
    for ext in read:
        words, sentences = tmp_path / f"w.{ext}", tmp_path / f"s.{ext}"
        result = xent("ngram", "ppl", "--model", FIXTURES / "zipf.o3.arpa.gz", "--text", TEST, "--per-word", words,
                      "--per-sentence", sentences, "--format", "json")
        assert result.exit_code == 0, result.output
        tables[ext] = (read[ext](words), read[ext](sentences))
    for ext in ("tsv", "parquet"):
        for ours, csv in zip(tables[ext], tables["csv"]):
            assert list(ours.columns) == list(csv.columns)
            pd.testing.assert_frame_equal(ours, csv, check_dtype=False, check_exact=True)
    words, sentences = tables["parquet"]
    assert words["oov"].dtype == bool
    assert words["ngram_length"].dtype.kind == "i"
    assert len(sentences) == len(TEST.read_text().splitlines())


@pytest.mark.parametrize("args", [
    ["build", "--text", CORPUS, "--order", 3, "--prune", 1, 0],
    ["build", "--text", CORPUS, "--order", 3, "--prune", 1, 1, 1],
    ["build", "--text", CORPUS, "--order", 3, "--prune", 0, 1, 1, 1],
    ["build", "--text", CORPUS, "--order", 3, "--vocab-pad", 100, "--no-interpolate-unigrams"],
    ["build", "--text", CORPUS, "--order", 3, "--smoothing", "kn", "--prune", 0, 1],
    ["build", "--text", CORPUS, "--order", 3, "--smoothing", "wb", "--discount-fallback"],
    ["build", "--text", CORPUS, "--order", 3, "--smoothing", "katz", "--no-interpolate-unigrams"],
    ["build", "--text", CORPUS, "--order", 3, "--smoothing", "add-k", "--vocab-pad", 10],
    ["build", "--text", CORPUS, "--order", 3, "--discount-fallback", 0.5, "x", 1.5],
    ["build", "--text", CORPUS],
    ["build", "--order", 3],
    ["build", "--text", FIXTURES / "no-such-file.txt", "--order", 3],
    ["ppl", "--model", FIXTURES / "zipf.o2.arpa.gz", "--train", CORPUS, "--order", 2, "--text", TEST],
    ["ppl", "--text", TEST],
    ["ppl", "--train", CORPUS, "--text", TEST],
    ["ppl", "--model", FIXTURES / "zipf.o2.arpa.gz", "--order", 2, "--text", TEST],
    ["ppl", "--model", FIXTURES / "zipf.o2.arpa.gz", "--text", TEST, "--per-word", "words.json"],
], ids=lambda a: " ".join(map(str, a)).replace(str(FIXTURES) + "/", ""))
def test_option_errors_are_exit_2(xent, tmp_path, args):
    result = xent("ngram", *args)
    assert result.exit_code == 2, result.output
    errors = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("discounts", [[1.5, 1, 1.5], [0.5, 2.5, 1.5], [0.5, 1, 3.5]])
def test_fallback_discounts_out_of_range_are_exit_2(xent, discounts):
    result = xent("ngram", "build", "--text", FIXTURES / "tiny.txt", "--order", 2, "--discount-fallback", *discounts)
    assert result.exit_code == 2, result.output


def test_ppl_reads_stdin(tmp_path):
    proc = run_process("ngram", "ppl", "--model", FIXTURES / "zipf.o2.arpa.gz", "--text", "-", "--format", "json",
                       input=TEST.read_bytes())
    assert proc.returncode == 0, proc.stderr
    summary = parse_query_summary(FIXTURES / "zipf.o2.zipf_test.query_summary.txt")
    doc = json.loads(proc.stdout)
    assert (doc["tokens"], doc["oovs"]) == (summary["tokens"], summary["oovs"])
    assert doc["ppl"] == pytest.approx(summary["ppl"], rel=1e-6)


def test_report_to_stdout_with_output_else_stderr(xent, tmp_path, plain):
    result = xent("ngram", "build", "--text", CORPUS, "--order", 3, "-o", tmp_path / "m.arpa", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ngrams"] == [len(g) for g in parse_arpa(tmp_path / "m.arpa").values()]
    assert result.stderr == ""
    result = xent("ngram", "build", "--text", CORPUS, "--order", 3, "--format", "json")
    assert result.exit_code == 0
    assert result.stdout.encode() == plain
    assert json.loads(result.stderr)["order"] == 3
