"""Counting at scale (SPEC §11 "Scale"): shards counted on threads or a Dask cluster, and counts past
``--memory`` spilled to sorted runs on disk, give the ARPA the plain run gives, byte for byte; the runs'
temp folder is removed however the build ends (done, bad data, SIGTERM).

The reference is always the same build of the same text in one file, in memory, on one thread: what the
scaled paths must not change. The runs themselves are checked against a Counter of the n-grams.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest

from tests.conftest import assert_no_crash
from xentcli.errors import DataError
from xentcli.ngram.counts import _Runs, count_batch, count_lines

pytest.importorskip("distributed")


def _text(lines: int, seed: int) -> bytes:
    """Zipf-distributed words (about 5 a line), deterministic: many n-grams seen once, as in real text."""
    rng = np.random.default_rng(seed)
    words = np.minimum(rng.zipf(1.3, lines * 5), 20000)
    cuts = np.cumsum(rng.integers(1, 10, lines))
    cuts = cuts[cuts < len(words)]
    return b"".join(b" ".join(b"w%d" % w for w in part) + b"\n" for part in np.split(words, cuts))


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> bytes:
    return _text(150_000, 7)  # about 3.5 MB


def _build(xent, tmp_path, *texts, order=3, extra=()):
    out = tmp_path / "model.arpa"
    result = xent("ngram", "build", "--text", *texts, "--order", order, "-o", out, *extra)
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def _shards(folder, text: bytes) -> None:
    """``text`` cut into four files (one gzip), cut at line ends, named so their natural order is the text's."""
    lines = text.splitlines(keepends=True)
    size = -(-len(lines) // 4)
    folder.mkdir()
    for k in range(4):
        part = b"".join(lines[k * size:(k + 1) * size])
        if k == 1:
            (folder / f"part-{k}.txt.gz").write_bytes(gzip.compress(part))
        else:
            (folder / f"part-{k}.txt").write_bytes(part)


def test_shards_on_threads_and_on_a_dask_cluster_give_the_plain_model(xent, tmp_path, text):
    (tmp_path / "all.txt").write_bytes(text)
    plain = _build(xent, tmp_path, tmp_path / "all.txt")
    _shards(tmp_path / "shards", text)
    pattern = str(tmp_path / "shards" / "*")
    assert _build(xent, tmp_path, pattern) == plain
    assert _build(xent, tmp_path, pattern, extra=("--scheduler", "local:2")) == plain


def test_a_tiny_memory_spills_sorted_runs_and_gives_the_same_model(xent, tmp_path, text, monkeypatch):
    (tmp_path / "all.txt").write_bytes(text)
    plain = _build(xent, tmp_path, tmp_path / "all.txt")
    spills = []
    spill = _Runs._spill

    def watched(self, tables):
        spill(self, tables)
        spills.append(self._tmp.name)
        assert os.path.dirname(self._tmp.name) == str(tmp_path / "temp")
        assert len(os.listdir(self._tmp.name)) == 3 * len(self.runs)

    monkeypatch.setattr(_Runs, "_spill", watched)
    (tmp_path / "temp").mkdir()
    tiny = ("--memory", "1M", "--temp-folder", tmp_path / "temp")
    assert _build(xent, tmp_path, tmp_path / "all.txt", extra=tiny) == plain
    assert len(spills) >= 3
    assert os.listdir(tmp_path / "temp") == []
    # Shards spill too, each on its own and again when their counts are combined.
    spills.clear()
    _shards(tmp_path / "shards", text)
    assert _build(xent, tmp_path, str(tmp_path / "shards" / "*"), extra=tiny) == plain
    assert len(set(spills)) >= 5
    assert os.listdir(tmp_path / "temp") == []


def _ngrams(lines: list[bytes], order: int) -> Counter:
    found: Counter = Counter()
    for line in lines:
        s = [b"<s>", *line.split(), b"</s>"]
        for n in range(1, order + 1):
            found.update(tuple(s[i:i + n]) for i in range(len(s) - n + 1))
    return found


def test_runs_merged_in_slices_hold_every_count(tmp_path):
    """Many runs, slices far smaller than a run, a first word (<s>) whose rows alone pass the slice:
    the merged tables hold what a Counter of the n-grams holds."""
    lines = _text(3000, 3).splitlines()
    vocab = {b"<unk>": 0, b"<s>": 1, b"</s>": 2}
    for line in lines:
        for w in line.split():
            vocab.setdefault(w, len(vocab))
    runs = _Runs(3, 4096, str(tmp_path))
    for k in range(0, len(lines), 100):
        seq, ends = [], []
        for line in lines[k:k + 100]:
            ids = [1, *(vocab[w] for w in line.split()), 2]
            ends += [len(seq) + len(ids) - 1] * len(ids)
            seq += ids
        runs.add(count_batch(np.array(seq, np.int32), np.array(ends), 3, len(vocab)))
    assert len(runs.runs) >= 10
    tables = runs.tables()
    assert os.listdir(tmp_path) == []
    words = list(vocab)
    got = Counter()
    for t in tables:
        assert (np.lexsort(t.words.T[::-1]) == np.arange(len(t.counts))).all()  # sorted, each row once
        got.update({tuple(words[i] for i in row): int(c) for row, c in zip(t.words.tolist(), t.counts)})
    assert got == _ngrams(lines, 3)


def test_the_runs_are_removed_when_the_text_turns_out_bad(xent, tmp_path, text, monkeypatch):
    spills = []
    spill = _Runs._spill
    monkeypatch.setattr(_Runs, "_spill", lambda self, tables: (spill(self, tables), spills.append(1)))
    lines = text.splitlines(keepends=True)
    bad = b"".join(lines[:120_000]) + b"a </s> b\n" + b"".join(lines[120_000:])
    (tmp_path / "bad.txt").write_bytes(bad)
    (tmp_path / "temp").mkdir()
    result = xent("ngram", "build", "--text", tmp_path / "bad.txt", "--order", 3, "-o", tmp_path / "m.arpa",
                  "--memory", "1M", "--temp-folder", tmp_path / "temp")
    assert result.exit_code == 1
    assert "line 120001" in result.stderr and "</s>" in result.stderr
    assert spills
    assert os.listdir(tmp_path / "temp") == []


def test_sigterm_mid_count_removes_the_runs(tmp_path, text):
    (tmp_path / "big.txt").write_bytes(text * 4)
    temp = tmp_path / "temp"
    temp.mkdir()
    command = ["ngram", "build", "--text", tmp_path / "big.txt", "--order", 5, "--memory", "1M",
               "--temp-folder", temp, "-o", tmp_path / "m.arpa"]
    proc = subprocess.Popen([sys.executable, "-m", "xentcli", *map(str, command)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(name.startswith("xent-ngram-") for name in os.listdir(temp)):
        assert proc.poll() is None and time.monotonic() < deadline, "no run was written"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert_no_crash(err.decode())
    assert os.listdir(temp) == []
    assert not (tmp_path / "m.arpa").exists()


def test_count_lines_reads_words_as_lmplz_splits_them():
    """Tabs, CR and NUL separate words, a vertical tab does not; an empty line is a sentence."""
    c = count_lines([b"a\tb\r c\0d", b"", b"a\x0bb"], 2)
    assert c.vocab == [b"<unk>", b"<s>", b"</s>", b"a", b"b", b"c", b"d", b"a\x0bb"]
    assert (c.tokens, c.sentences) == (5, 3)
    bigrams = {tuple(row): int(n) for row, n in zip(c.tables[1].words.tolist(), c.tables[1].counts)}
    assert bigrams[(1, 2)] == 1 and bigrams[(1, 3)] == 1 and bigrams[(6, 2)] == 1 and bigrams[(1, 7)] == 1


def test_a_symbol_in_the_text_is_named_by_its_line_or_skipped():
    lines = [b"x y"] * 10 + [b"x <unk> y"]
    with pytest.raises(DataError, match="line 11: the word <unk>"):
        count_lines(lines, 2)
    c = count_lines(lines, 2, skip_symbols=True)
    assert (c.tokens, c.skipped_symbols) == (22, 1)
