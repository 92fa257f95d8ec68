"""The compiled ARPA writer and reader (``xentcli.ngram._arpa``) against the Python code they stand in for.

The Python path (``XENT_KERNEL=numpy``) writes every number with ``repr`` and reads it with ``float``;
the compiled one must give the same bytes and the same arrays, and give up (None) on every file its
fast layout does not cover, so that the Python line reader names the fault.
"""

from __future__ import annotations

import math
import os
import random
import struct
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.ngram.conftest import FIXTURES
from xentcli.ngram import arpa

if arpa._arpa is None:
    pytest.skip("the compiled ARPA codec is not built", allow_module_level=True)

C = arpa._arpa
SMOOTHINGS = ["mkn", "kn", "katz", "wb", "jm", "add-k"]
#: a vocabulary that is not UTF-8 (the Python path decodes it with surrogateescape and encodes it back)
ODD_TEXT = b"caf\xc3\xa9 \xff\xfe x\x80y the cat\nthe \xff\xfe sat caf\xc3\xa9\nx\x80y the \xe9t\xe9 cat sat\n" * 5


def _build(xent, tmp_path, text, order, smoothing, kernel):
    out = tmp_path / f"{smoothing}.{order}.{kernel}.arpa"
    result = xent("ngram", "build", "--text", text, "--order", order, "--smoothing", smoothing, "-o", out,
                  env={"XENT_KERNEL": kernel})
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.mark.parametrize(("smoothing", "order"), [("mkn", n) for n in range(1, 6)] +
                         [(s, 3) for s in SMOOTHINGS[1:]] + [("katz", 5), ("wb", 4)])
def test_written_byte_for_byte_as_python_writes(xent, tmp_path, monkeypatch, smoothing, order):
    monkeypatch.setattr(arpa, "_BLOCK", 97)  # many blocks an order: each order's texts gathered across them
    compiled = _build(xent, tmp_path, FIXTURES / "zipf.txt", order, smoothing, "compiled")
    python = _build(xent, tmp_path, FIXTURES / "zipf.txt", order, smoothing, "numpy")
    assert compiled.count(b"\n") > 400 and f"\\{order}-grams:".encode() in compiled
    assert compiled == python


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_a_vocabulary_that_is_not_utf8_written_alike(xent, tmp_path, smoothing):
    text = tmp_path / "odd.txt"
    text.write_bytes(ODD_TEXT + (FIXTURES / "zipf.txt").read_bytes())
    compiled = _build(xent, tmp_path, text, 3, smoothing, "compiled")
    assert b"\tx\x80y \xff\xfe" in compiled or b" \xff\xfe\t" in compiled or b"\t\xff\xfe\t" in compiled
    assert compiled == _build(xent, tmp_path, text, 3, smoothing, "numpy")


def test_numbers_written_as_repr_writes_them():
    values = np.array([-0.0, 0.0, -1e-5, -99.0, -np.inf, -1e16, -(0.1 + 0.2), np.nan, -5e-324, -1.7976931348623157e308])
    backoffs = np.array([0.0, -0.0, 1e22, 1e-4, np.inf, np.nan, 3.0, 1.0, 2.5e-5, 0.30000000000000004])
    words = np.arange(10, dtype=np.int32)
    vocab = [b"w%d" % i for i in range(10)]
    text, _ = C.lines(values, backoffs, words, vocab, None, None, False)
    expected = [b"0\tw0\t0", b"0\tw1\t0", b"-1e-05\tw2\t1e+22", b"-99.0\tw3\t0.0001", b"-inf\tw4\tinf",
                b"-1e+16\tw5\tnan", b"-0.30000000000000004\tw6\t3.0", b"-5e-324\tw8\t2.5e-05",
                b"-1.7976931348623157e+308\tw9\t0.30000000000000004"]
    assert text == b"".join(line + b"\n" for line in expected)


def test_prefixes_and_the_texts_kept_for_the_next_order():
    below = [b"a b", b"c \xff"]
    text, kept = C.lines(np.array([-1.0, np.nan, -0.5]), None, np.array([1, 0, 2], np.int32), [b"x", b"y", b"z"],
                         np.array([1, 0, 0], np.int64), below, True)
    assert text == b"-1.0\tc \xff y\n-0.5\ta b z\n"
    assert kept == [b"c \xff y", b"a b x", b"a b z"]  # the NaN's n-gram too: a context of the next order


def _read_both(path, monkeypatch):
    monkeypatch.setenv("XENT_KERNEL", "compiled")
    compiled = arpa.read_arpa(str(path))
    monkeypatch.setenv("XENT_KERNEL", "numpy")
    return compiled, arpa.read_arpa(str(path))


def _assert_same(a, b):
    (ma, notes_a), (mb, notes_b) = a, b
    assert notes_a == notes_b and ma.order == mb.order and ma.vocab == mb.vocab
    for n in range(ma.order):
        for x, y in ((ma.words[n], mb.words[n]), (ma.logprob[n], mb.logprob[n]), (ma.backoff[n], mb.backoff[n])):
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.arpa*")))
def test_lmplz_files_read_alike_and_on_the_fast_path(name, monkeypatch):
    _assert_same(*_read_both(FIXTURES / name, monkeypatch))
    if "hand" not in name:  # lmplz wrote the others: the compiled reader takes them whole

        def no_line_reader(*args):
            raise AssertionError("the compiled reader gave up")

        monkeypatch.setattr(arpa, "_parse_lines", no_line_reader)
        monkeypatch.setenv("XENT_KERNEL", "compiled")
        arpa.read_arpa(str(FIXTURES / name))


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_xent_files_read_alike(xent, tmp_path, monkeypatch, smoothing):
    text = tmp_path / "odd.txt"
    text.write_bytes(ODD_TEXT + (FIXTURES / "zipf.txt").read_bytes())
    _build(xent, tmp_path, text, 4, smoothing, "numpy")
    _assert_same(*_read_both(tmp_path / f"{smoothing}.4.numpy.arpa", monkeypatch))


def _unigrams(fields: list[bytes]) -> bytes:
    """An order-2 file whose i-th unigram after the three symbols has the back-off field ``fields[i]``."""
    lines = [b"-1\t<unk>\t0", b"-1\t<s>\t0", b"-1\t</s>\t0"] + [b"-1\tw%d\t%s" % (i, f) for i, f in enumerate(fields)]
    return (b"\\data\\\nngram 1=%d\nngram 2=1\n\n\\1-grams:\n%s\n\n\\2-grams:\n-1\t<s> </s>\n\n\\end\\\n"
            % (len(lines), b"\n".join(lines)))


def _parse(data: bytes, counts: list[int]):
    """``_arpa.parse`` on ``data``'s sections, found as arpa.py finds them; None when it gives up."""
    starts, ends = [], []
    for n in range(1, len(counts) + 1):
        a = data.index(b"\\%d-grams:\n" % n) + len(b"\\%d-grams:\n" % n)
        starts.append(a)
        ends.append(min(e for e in (data.find(b"\n\n", a), data.find(b"\n\\", a)) if e >= 0) + 1)
    rows = [np.empty((c, n), np.int32) for n, c in enumerate(counts, 1)]
    probs, backoffs = [np.empty(c) for c in counts], [np.empty(c) for c in counts]
    words = C.parse(data, starts, ends, rows, probs, backoffs)
    return None if words is None else (words, rows, probs, backoffs)


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _number_strings() -> list[str]:
    fixed = ["-99", "0", "-0", "0.0", "-0.0", "1e-5", "1E-5", "-1.5e+3", "+2.5", ".5", "-.5e1", "5.", "1e22", "1e23",
             "-1e-300", "4.9e-324", "2.4e-324", "1e-400", "1e400", "-inf", "Infinity", "INF",
             "0.30000000000000004", "-0.1234567890123456789012345", "123456789012345678901234567890",
             "9007199254740993", "1.7976931348623157e308", "1.7976931348623159e308", "2.2250738585072011e-308",
             "-4.4408920985006262e-16", "0.000000000000000000000000000001", "-2.7356093", "1e0", "1e-0", "00012.5"]
    rng = random.Random(22)
    drawn = []
    for _ in range(4000):
        kind = rng.randrange(4)
        if kind == 0:
            drawn.append(repr(-rng.random() * 10 ** rng.randint(-8, 3)))
        elif kind == 1:
            drawn.append(f"{-rng.random() * 10:.{rng.randint(1, 9)}f}")
        elif kind == 2:
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25)))
            point = rng.randint(0, len(digits))
            drawn.append(f"-{digits[:point]}.{digits[point:]}e{rng.randint(-40, 40)}")
        else:
            drawn.append(repr(struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]))
    return fixed + [s for s in drawn if not math.isnan(float(s))]


def test_numbers_read_as_float_reads_them():
    strings = _number_strings()
    words, _, probs, backoffs = _parse(_unigrams([s.encode() for s in strings]), [len(strings) + 3, 1])
    assert words[3:] == [b"w%d" % i for i in range(len(strings))]
    assert [_bits(x) for x in backoffs[0][3:]] == [_bits(float(s)) for s in strings]
    assert (probs[0] == -1).all()


@pytest.mark.parametrize("field", [b"1_0", b"1e", b"--1", b"1.2.3", b"abc", b"nan", b"-NaN", b"0x10", b"1e5x", b"\xff"])
def test_fields_it_does_not_read_give_up(field):
    assert _parse(_unigrams([b"-1"]), [4, 1]) is not None
    assert _parse(_unigrams([field]), [4, 1]) is None


BIGRAMS = b"\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1\t<unk>\t0\n-1\t<s>\t-0.5\n-1\t</s>\t0\n-1\tw\t-0.25\n\n" \
          b"\\2-grams:\n-0.5\t<s> w\n-0.25\tw </s>\n\n\\end\\\n"


@pytest.mark.parametrize(("old", "new"), [
    (b"-0.5\t<s> w\n", b"-0.5\t<s> w\t0\n"),  # a back-off on the highest order
    (b"-0.5\t<s> w\n", b"-0.5\t<s>  w\n"),  # two spaces
    (b"-0.5\t<s> w\n", b"-0.5 <s> w\n"),  # a space for the tab
    (b"-0.5\t<s> w\n", b"-0.5\t<s> v\n"),  # a word not among the unigrams
    (b"-0.5\t<s> w\n", b"0.5\t<s> w\n"),  # a positive log-probability
    (b"-0.5\t<s> w\n", b"nan\t<s> w\n"),
    (b"-0.5\t<s> w\n", b"-0.5\t<s> w\r\n"),
    (b"-0.5\t<s> w\n", b"-0.5\t<s>\x01 w\n"),  # a control byte
    (b"-0.5\t<s> w\n", b"\t<s> w\n"),  # an empty field
    (b"-1\tw\t-0.25\n", b"-1\tw\n"),  # a back-off left out
    (b"-1\tw\t-0.25\n", b"-1\t<s>\t-0.25\n"),  # a unigram twice
    (b"-1\tw\t-0.25\n", b"-1\tw\t-nan\n"),
    (b"-1\tw\t-0.25\n", b"-1\tw\t-0.25\n-1\tv\t0\n"),  # more lines than the count
])
def test_what_the_fast_layout_does_not_cover_gives_up(old, new):
    assert _parse(BIGRAMS, [4, 2]) is not None
    assert BIGRAMS.count(old) == 1
    assert _parse(BIGRAMS.replace(old, new), [4, 2]) is None


def test_bad_files_named_alike_on_the_python_path():
    """tests/ngram/test_arpa.py's errors, each naming the line at fault, with the compiled code left out."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/ngram/test_arpa.py"],
                          cwd=ROOT, env=dict(os.environ, XENT_KERNEL="numpy"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
