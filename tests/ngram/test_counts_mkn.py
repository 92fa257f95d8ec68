"""Counting and modified Kneser-Ney against hand derivations: the counts of a three-line text, its
adjusted counts and discounts (Chen & Goodman eq. 26), and every context's distribution summing to 1.

lmplz's own outputs are checked in test_lmplz.py; these cases are small enough to derive by hand.
"""

import math

import numpy as np
import pytest

from xentcli.errors import DataError
from xentcli.ngram.counts import count_batch, count_lines, merge_tables
from xentcli.ngram.model import NgramIndex
from xentcli.ngram.smoothing import estimate
from xentcli.ngram.smoothing.mkn import adjusted_counts, discounts

TEXT = [b"a b c", b"", b"a b", b"c a b c"]


def by_words(counts, n, values):
    return {tuple(counts.vocab[i].decode() for i in row): int(v)
            for row, v in zip(counts.tables[n - 1].words.tolist(), values)}


def test_counts_of_a_small_text_by_hand():
    c = count_lines(TEXT, 3)
    assert c.vocab == [b"<unk>", b"<s>", b"</s>", b"a", b"b", b"c"]
    assert (c.tokens, c.sentences) == (9, 4)
    assert by_words(c, 1, c.tables[0].counts) == {("<unk>",): 0, ("<s>",): 4, ("</s>",): 4, ("a",): 3, ("b",): 3,
                                                 ("c",): 3}
    assert by_words(c, 2, c.tables[1].counts) == {
        ("<s>", "a"): 2, ("<s>", "</s>"): 1, ("<s>", "c"): 1, ("a", "b"): 3, ("b", "c"): 2, ("b", "</s>"): 1,
        ("c", "</s>"): 2, ("c", "a"): 1}
    assert by_words(c, 3, c.tables[2].counts) == {
        ("<s>", "a", "b"): 2, ("<s>", "c", "a"): 1, ("a", "b", "c"): 2, ("a", "b", "</s>"): 1,
        ("b", "c", "</s>"): 2, ("c", "a", "b"): 1}


def test_adjusted_counts_by_hand():
    c = count_lines(TEXT, 3)
    adjusted, _ = adjusted_counts(c, NgramIndex([t.words for t in c.tables], len(c.vocab)))
    # bigrams: '<s> x' keep their counts; 'a b' follows <s> and c: 2; 'b c' follows a: 1; ...
    assert by_words(c, 2, adjusted[1]) == {
        ("<s>", "a"): 2, ("<s>", "</s>"): 1, ("<s>", "c"): 1, ("a", "b"): 2, ("b", "c"): 1, ("b", "</s>"): 1,
        ("c", "</s>"): 1, ("c", "a"): 1}
    # unigrams: distinct left neighbours among the bigrams; <s> and <unk> have 0
    assert by_words(c, 1, adjusted[0]) == {("<unk>",): 0, ("<s>",): 0, ("</s>",): 3, ("a",): 2, ("b",): 1,
                                           ("c",): 2}


def test_discounts_follow_chen_and_goodman():
    t = [10, 4, 2, 1]
    y = 10 / (10 + 2 * 4)
    d, note = discounts(t, 2)
    assert note is None
    assert d == pytest.approx([1 - 2 * y * 4 / 10, 2 - 3 * y * 2 / 4, 3 - 4 * y * 1 / 2], rel=1e-15)


@pytest.mark.parametrize("t,needle", [([5, 0, 1, 1], "adjusted count 1"), ([3, 1, 0, 0], "no 2-gram has adjusted "
                                                                                           "count 3")])
def test_discounts_refused_name_the_order_and_count(t, needle):
    with pytest.raises(DataError) as e:
        discounts(t, 2)
    assert "2-gram" in str(e.value) and "--discount-fallback" in str(e.value)
    d, note = discounts(t, 2, (0.5, 1.0, 1.5))
    assert d == [0.5, 1.0, 1.5] and "order 2" in note


def test_batches_merge_to_the_counts_of_one_batch():
    rng = np.random.default_rng(5)
    sentences = [rng.integers(3, 12, size=rng.integers(0, 9)).tolist() for _ in range(200)]

    def arrays(part):
        lengths = [len(s) + 2 for s in part]
        seq = np.concatenate([[1, *s, 2] for s in part]).astype(np.int32)
        ends = np.repeat(np.cumsum(lengths) - 1, lengths)
        return seq, ends

    whole = count_batch(*arrays(sentences), 4, 12)
    halves = [count_batch(*arrays(sentences[:77]), 4, 12), count_batch(*arrays(sentences[77:]), 4, 12)]
    for n in range(4):
        merged = merge_tables([halves[0][n], halves[1][n]])
        assert np.array_equal(merged.words, whole[n].words) and np.array_equal(merged.counts, whole[n].counts)
    # the raw counts, counted again in plain Python
    expected = {}
    for s in sentences:
        padded = [1, *s, 2]
        for i in range(len(padded) - 2):
            key = tuple(padded[i:i + 3])
            expected[key] = expected.get(key, 0) + 1
    assert {tuple(r): c for r, c in zip(whole[2].words.tolist(), whole[2].counts.tolist())} == expected


def log10_p(model, context, word):
    """log10 p(word | context) through the back-off form, one lookup at a time."""
    index = model.index
    total = 0.0
    for start in range(len(context) + 1):
        h = context[start:]
        at = int(index.find(np.asarray([h + [word]], np.int64))[0]) if len(h) + 1 <= model.order else -1
        if at >= 0 and not math.isnan(model.logprob[len(h)][at]):
            return total + model.logprob[len(h)][at]
        if h:
            c = int(index.find(np.asarray([h], np.int64))[0])
            total += model.backoff[len(h) - 1][c] if c >= 0 else 0.0
    raise AssertionError("no unigram")


def context_sums(model):
    outcomes = [i for i in range(len(model.vocab)) if i != 1]
    contexts = [[]] + [row for n in range(model.order - 1) for row in model.words[n].tolist()
                       if row[-1] != 2 and not math.isnan(model.logprob[n][model.index.find(np.asarray([row]))[0]])]
    for h in contexts:
        yield h, sum(10 ** log10_p(model, h, w) for w in outcomes)


@pytest.mark.parametrize("options", [{}, {"interpolate_unigrams": False}, {"discount_fallback": (0.5, 1, 1.5)}])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_every_mkn_context_sums_to_one(options, order):
    text = (b"the cat sat on the mat\nthe dog sat\na cat ran on a mat\nthe cat ran\n\na dog\n" * 3).split(b"\n")
    text += [b"the mat sat", b"on the dog", b"a a a", b"cat"]
    model = estimate(count_lines(text, order), "mkn", discount_fallback=(0.5, 1, 1.5), **{
        k: v for k, v in options.items() if k != "discount_fallback"}).model
    for h, total in context_sums(model):
        assert total == pytest.approx(1.0, abs=1e-9), h


def test_vocab_pad_leaves_exactly_the_padding_out():
    text = (b"the cat sat on the mat\nthe dog sat\na cat ran on a mat\nthe cat ran\n" * 2).split(b"\n")
    counts = count_lines(text, 2)
    plain = estimate(counts, "mkn", discount_fallback=(0.5, 1, 1.5)).model
    padded = estimate(counts, "mkn", discount_fallback=(0.5, 1, 1.5), vocab_pad=1000).model
    v = len(counts.vocab) - 1  # <s> is no outcome
    gamma = (10 ** plain.logprob[0][0]) * v  # <unk> = γ/|V|
    unigram_sum = sum(10 ** x for i, x in enumerate(padded.logprob[0]) if i != 1)
    assert unigram_sum == pytest.approx(1 - gamma * (1 - v / 1000), abs=1e-12)
