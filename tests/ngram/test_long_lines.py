"""A line far longer than a batch is counted a part at a time, with the same counts as when held whole
(found by the hostile trial: one 46 MB line of 8 M words peaked at 5.2 GB, whatever --memory)."""

import numpy as np
import pytest

from xentcli.ngram import corpus
from xentcli.ngram.counts import count_lines, count_text


def texts():
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(40)]
    long = " ".join(rng.choice(words, 3000))
    yield "one long line", long + "\n"
    yield "long lines among short ones", "a b c\n" + long + "\n\nd e\n" + long[:900] + "\nf\n" + long + "\n"
    yield "no final newline", "x y\n" + long
    yield "tabs, CRs and runs of spaces", "a\tb  c\r\n" + long.replace(" ", " \t ", 50) + "\n"


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("name,text", list(texts()), ids=[n for n, _ in texts()])
def test_a_line_in_parts_counts_as_the_line_whole(tmp_path, monkeypatch, order, name, text):
    path = tmp_path / "t.txt"
    path.write_text(text)
    whole = count_text([str(path)], order)  # every line whole (LONG_LINE is 256 KiB)
    monkeypatch.setattr(corpus, "LONG_LINE", 97)  # parts of ~97 bytes, and reads of 1 000 bytes
    monkeypatch.setattr(corpus, "CHUNK_BYTES", 1000)
    parts = list(corpus.read_sentences([str(path)], parts=True))
    assert any(p.open_end for p in parts)
    split = count_text([str(path)], order)
    assert split.vocab == whole.vocab
    assert (split.tokens, split.sentences) == (whole.tokens, whole.sentences)
    for a, b in zip(split.tables, whole.tables):
        assert np.array_equal(a.words, b.words) and np.array_equal(a.counts, b.counts)


def test_a_symbol_in_a_long_line_names_its_line(tmp_path, monkeypatch):
    from xentcli.errors import DataError

    path = tmp_path / "t.txt"
    path.write_text("a b\n" + "x " * 500 + "</s> y\nc\n")
    monkeypatch.setattr(corpus, "LONG_LINE", 97)
    with pytest.raises(DataError, match="line 2:"):
        count_text([str(path)], 3)


def test_a_last_line_without_newline_gets_no_end_of_sentence(tmp_path):
    # lmplz reads words to the end of the file but adds </s> only after a newline (found by the re-trial:
    # xent added 'd </s>' and 'c d </s>'); the frozen doc_nonl fixture checks the probabilities.
    path = tmp_path / "t.txt"
    path.write_bytes(b"a b\nc d")
    counts = count_text([str(path)], 3)
    grams = {tuple(counts.vocab[i].decode() for i in row) for row in counts.tables[2].words.tolist()}
    assert grams == {("<s>", "a", "b"), ("a", "b", "</s>"), ("<s>", "c", "d")}
    assert (counts.tokens, counts.sentences) == (4, 1)
    terminated = count_lines([b"a b", b"c d"], 3)  # lines given whole are sentences, as ppl reads them
    assert terminated.sentences == 2
