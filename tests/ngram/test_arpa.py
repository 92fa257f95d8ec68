"""Reading ARPA files as ``query`` reads them: every way a file breaks the format is bad data (exit 1)
naming the line; gzip whatever the name; SRILM's way of writing (spaces, ``-99``, back-offs left out,
text before ``\\data\\``); a missing ``<unk>`` (-100, with a warning); n-grams whose context is absent.

The files are the hand-written bigram model (fixtures/bigram_hand.arpa), altered; what they must
score is the frozen ``query`` output on the original, or worked out here from the ARPA lines.
"""

from __future__ import annotations

import gzip
import json
import re

import pandas as pd
import pytest

from tests.ngram.conftest import FIXTURES, parse_query_word

HAND = FIXTURES / "bigram_hand.arpa"
HAND_TEXT = FIXTURES / "bigram_hand_test.txt"
#: bigram_hand.arpa's lines, numbered from 1 in the comments below.
LINES = HAND.read_text().split("\n")


def _at(number: int) -> int:
    """The list index of the file's line ``number`` (from 1)."""
    return number - 1


def _replace(number: int, text: str):
    return lambda lines: lines[:_at(number)] + [text] + lines[_at(number) + 1:]


def _without(*numbers: int):
    return lambda lines: [x for k, x in enumerate(lines, 1) if k not in numbers]


def _recount(lines):
    """Set the \\data\\ counts to the sections' sizes."""
    sizes, section = {}, None
    for line in lines:
        m = re.match(r"^\\(\d)-grams:$", line)
        if m:
            section = int(m.group(1))
            sizes[section] = 0
        elif section and line.strip() and not line.startswith("\\"):
            sizes[section] += 1
    return [f"ngram {n}={sizes[n]}" if line.startswith(f"ngram {n}=") else line for line in lines
            for n in [int(line[6]) if line.startswith("ngram ") else 0]]


def _dropping_word(word: str):
    """Without the word: its unigram and every bigram holding it, the counts made to agree."""
    return lambda lines: _recount([x for x in lines if word not in x.split("\t")[1:2] and
                                   word not in (x.split("\t")[1].split() if x.count("\t") and " " in x else [])])


# (name, alteration, what the one Error: line must name)
BAD = [
    ("count disagrees", _replace(4, "ngram 2=17"), r"line (4|19)\b.*17|17.*line (4|19)\b"),
    ("no \\end\\", _without(37), r"\\end\\"),
    ("truncated", lambda lines: lines[:_at(30)], r"after line 29\b.*truncated"),
    ("truncated in a line", lambda lines: lines[:_at(30)] + ["-0.5228"], r"line 30\b"),
    ("no <s>", _dropping_word("<s>"), r"<s>"),
    ("no </s>", _dropping_word("</s>"), r"</s>"),
    ("extra field", _replace(11, "-1.0\ta\t-0.60206\t-0.1"), r"line 11\b"),
    ("missing word", _replace(21, "-0.522879\t<s>"), r"line 21\b"),
    ("not a number", _replace(12, "-l.0\tcat\t-0.628389"), r"line 12\b"),
    ("positive log-prob", _replace(12, "0.5\tcat\t-0.628389"), r"line 12\b"),
    ("NaN back-off", _replace(10, "-0.69897\tthe\tnan"), r"line 10\b"),
    ("NaN log-prob", _replace(10, "nan\tthe\t-0.863323"), r"line 10\b"),
    ("back-off on the highest order", _replace(20, "-0.30103\t<s> the\t-0.5"), r"line 20\b"),
    ("duplicate unigram", _replace(14, "-1.0\tcat"), r"line 14\b"),
    ("duplicate bigram", _replace(23, "-0.455932\tthe cat"), r"line 23\b"),
    ("word not a unigram", _replace(21, "-0.522879\t<s> zebra"), r"line 21\b.*zebra|zebra.*line 21\b"),
    ("wrong section", _replace(19, "\\3-grams:"), r"line 19\b"),
    ("bad count line", _replace(3, "ngram one=11"), r"line 3\b"),
    ("no \\data\\", lambda lines: [x for x in lines if x != "\\data\\"], r"\\data\\"),
]


def _error(xent, path) -> str:
    result = xent("ngram", "ppl", "--model", path, "--text", HAND_TEXT)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert result.stdout == ""
    return errors[0]


@pytest.mark.parametrize("alter,pattern", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_arpa_is_bad_data_naming_the_line(xent, tmp_path, alter, pattern):
    path = tmp_path / "bad.arpa"
    text = "\n".join(alter(LINES))
    assert text != HAND.read_text()
    path.write_text(text)
    message = _error(xent, path)
    assert re.search(pattern, message), message
    assert str(path) in message


def _per_word(xent, tmp_path, model, text=HAND_TEXT):
    out = tmp_path / "words.csv"
    result = xent("ngram", "ppl", "--model", model, "--text", text, "--per-word", out, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), pd.read_csv(out, keep_default_na=False), result.stderr


def _assert_as_query(words):
    expected = [t for s in parse_query_word(FIXTURES / "bigram_hand.bigram_hand_test.query_word.txt") for t in s]
    assert words["word"].tolist() == [t[0] for t in expected]
    assert words["ngram_length"].tolist() == [t[2] for t in expected]
    assert words["logprob"].tolist() == pytest.approx([t[3] for t in expected], abs=2e-6)


def test_gzip_whatever_its_name(xent, tmp_path):
    packed = gzip.compress(HAND.read_bytes())
    for name in ("model.arpa.gz", "model.arpa"):
        (tmp_path / name).write_bytes(packed)
        _assert_as_query(_per_word(xent, tmp_path, tmp_path / name)[1])


def test_damaged_gzip_is_bad_data(xent, tmp_path):
    packed = gzip.compress(HAND.read_bytes())
    path = tmp_path / "model.arpa.gz"
    path.write_bytes(packed[:len(packed) // 2])
    assert "gzip" in _error(xent, path)
    path.write_bytes(packed[:10] + bytes(b ^ 0x55 for b in packed[10:40]) + packed[40:])
    assert "gzip" in _error(xent, path)


def test_srilm_style(xent, tmp_path):
    """Spaces for tabs, text before \\data\\, -99 for <s>, a back-off of 0 left out (<unk>'s) or written,
    CRLF line ends."""
    lines = ["This file was written by SRILM's ngram-count", "with a comment line first"]
    for line in LINES:
        fields = line.split("\t")
        if fields[1:] == ["</s>"]:
            fields.append("0")
        lines.append(" ".join(fields) if fields[0] != "-0.30103" else "  ".join(fields) + "  ")
    path = tmp_path / "srilm.arpa"
    for end in ("\n", "\r\n"):
        path.write_bytes(end.join(lines).encode())
        _assert_as_query(_per_word(xent, tmp_path, path)[1])


def test_missing_unk_is_minus_100_with_a_warning(xent, tmp_path):
    path = tmp_path / "nounk.arpa"
    path.write_text("\n".join(_recount(_without(7)(LINES))))
    doc, words, stderr = _per_word(xent, tmp_path, path)
    assert "Warning:" in stderr and "<unk>" in stderr
    oov = words[words["oov"]]
    # "the bird": bo(the) + -100; "zebra" at a sentence start: bo(<s>) + -100; "yak" after an OOV: -100
    assert oov["logprob"].tolist() == pytest.approx([-0.863323 - 100, -0.544068 - 100, -100, -0.863323 - 100,
                                                     -0.544068 - 100], abs=1e-9)
    assert doc["oovs"] == 5


TRIGRAM = """\\data\\
ngram 1=5
ngram 2=2
ngram 3=1

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.3
-0.5\t</s>
-0.6\ta\t-0.2
-0.7\tb\t-0.1

\\2-grams:
-0.2\t<s> a\t-0.15
-0.25\ta b\t-0.05

\\3-grams:
-0.01\tb a b

\\end\\
"""


def test_ngram_whose_context_is_absent(xent, tmp_path):
    """'b a b' is a trigram, 'b a' no bigram (SRILM's pruning leaves such files): the trigram is still
    found after 'b a'. KenLM's trie reads them so; its probing loader (the kenlm module's) refuses them."""
    model, text = tmp_path / "tri.arpa", tmp_path / "text.txt"
    model.write_text(TRIGRAM)
    text.write_text("b a b\n")
    _, words, _ = _per_word(xent, tmp_path, model, text)
    # b: bo(<s>) + p(b); a: no 'b a', no '<s> b' context, so p(a) + bo(b); b: the trigram;
    # </s>: no 'b </s>' or 'a b </s>', so bo(a b) + bo(b) + p(</s>)
    assert words["logprob"].tolist() == pytest.approx([-0.3 - 0.7, -0.1 - 0.6, -0.01, -0.05 - 0.1 - 0.5], abs=1e-12)
    assert words["ngram_length"].tolist() == [1, 1, 3, 1]


def _zero_backoffs(lines):
    """Every unigram without a back-off given an explicit 0 (kenlm reads tabs only, and no text before \\data\\)."""
    return [x + "\t0" if x.count("\t") == 1 and " " not in x and x.startswith("-") else x for x in lines]


@pytest.mark.parametrize("name", ["zero back-offs", "no <unk>"])
def test_kenlm_module_reads_them_alike(xent, tmp_path, name):
    kenlm = pytest.importorskip("kenlm")
    lines = _zero_backoffs(LINES) if name == "zero back-offs" else _recount(_without(7)(LINES))
    assert lines != LINES
    path = tmp_path / "model.arpa"
    path.write_text("\n".join(lines))
    text = tmp_path / "text.txt"
    text.write_text("b a b\nthe cat sat on a b a b mat\n" + HAND_TEXT.read_text())
    _, words, _ = _per_word(xent, tmp_path, path, text)
    lm = kenlm.Model(str(path))
    theirs = [s for line in text.read_text().splitlines() for s in lm.full_scores(line, bos=True, eos=True)]
    assert words["ngram_length"].tolist() == [n for _, n, _ in theirs]
    # kenlm's values are float32: -100.86 is 4e-6 off
    assert words["logprob"].tolist() == pytest.approx([p for p, _, _ in theirs], abs=2e-6, rel=2.0 ** -23)


def test_model_from_stdin_and_fast_path_alike(tmp_path):
    """``--model -`` reads the ARPA from a pipe; the same file read from disk, and spaced SRILM's way
    (which the line-by-line reader takes), scores the same as query did."""
    import subprocess
    import sys

    spaced = tmp_path / "spaced.arpa"
    spaced.write_text("\n".join(" ".join(x.split("\t")) for x in LINES))
    for model, stdin in (("-", HAND.read_bytes()), ("-", gzip.compress(HAND.read_bytes())), (str(HAND), b""),
                         (str(spaced), b"")):
        out = tmp_path / "words.csv"
        done = subprocess.run([sys.executable, "-m", "xentcli", "ngram", "ppl", "--model", model, "--text", HAND_TEXT,
                               "--per-word", out], input=stdin, capture_output=True)
        assert done.returncode == 0, done.stderr
        _assert_as_query(pd.read_csv(out, keep_default_na=False))


def test_bad_arpa_from_stdin_is_named_stdin(tmp_path):
    import subprocess
    import sys

    text = "\n".join(_replace(12, "0.5\tcat\t-0.628389")(LINES)).encode()
    done = subprocess.run([sys.executable, "-m", "xentcli", "ngram", "ppl", "--model", "-", "--text", HAND_TEXT],
                          input=text, capture_output=True)
    assert done.returncode == 1
    assert re.search(rb"--model stdin: line 12\b", done.stderr), done.stderr
