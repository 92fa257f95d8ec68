"""The SRILM-style methods kn, katz, wb, jm and add-k: every context a distribution, read through the
back-off form as ``query`` scores it, and values derived by hand or from ngram-discount(7)'s formulas."""

from collections import Counter
from fractions import Fraction as Q
from pathlib import Path

import numpy as np
import pytest

from xentcli.errors import CallError, DataError
from xentcli.ngram.counts import count_text
from xentcli.ngram.score import score_sentences
from xentcli.ngram.smoothing import estimate

FIXTURES = Path(__file__).parent / "fixtures"
UNK, BOS, EOS = 0, 1, 2
METHODS = ["kn", "katz", "wb", "jm", "add-k"]
HAND = {"repeat": "a a a a\na a\n", "chain": "x y z\n", "mixed": "a b\na\nb b a\nc\n"}


def _counts(tmp_path, text: str, order: int, name="t.txt"):
    path = tmp_path / name
    path.write_text(text)
    return count_text([str(path)], order)


def _ids(counts, lines: list[str]) -> list[list[int]]:
    return [[counts.index.get(w.encode(), UNK) for w in line.split()] for line in lines]


def _build(counts, method: str, heldout_lines: list[str]):
    # kn refuses an order without singletons unless given a fallback discount (the "repeat" text).
    options = {"jm": {"heldout": _ids(counts, heldout_lines)}, "kn": {"discount_fallback": [0.5]}}.get(method, {})
    return estimate(counts, method, **options)


def _probabilities(model, context: tuple, words: list[int]) -> np.ndarray:
    """p(w | context) for each w, from query's scoring: a context not starting with <s> follows an OOV,
    which makes the next word's context start empty, as query does."""
    prefix = list(context[1:]) if context and context[0] == BOS else [UNK, *context]
    sentences = [prefix if w == EOS else [*prefix, w] for w in words]
    scores = score_sentences(model, sentences)
    lengths = np.array([len(s) + 1 for s in sentences])
    at = np.cumsum(lengths) - lengths + len(prefix)
    assert np.all(scores.word[at] == words)
    return 10.0 ** scores.logprob[at]


def _contexts(model, limit: int, rng) -> list[tuple]:
    """The empty context, and (a sample of) every model n-gram that can be a context, plus unseen ones."""
    out = [()]
    for n in range(model.order - 1):
        rows = [tuple(int(x) for x in r) for r in model.words[n] if r[-1] != EOS]
        if len(rows) > limit:
            rows = [rows[i] for i in rng.choice(len(rows), limit, replace=False)]
        out += rows
    if model.order > 2:
        out.append((len(model.vocab) - 1, len(model.vocab) - 1, 3)[: model.order - 1])
    return out


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("text", ["tiny", "doc", "zipf", *HAND])
def test_every_context_is_a_distribution(tmp_path, method, order, text):
    if text in HAND:
        counts = _counts(tmp_path, HAND[text], order)
        heldout = ["a b c", "x a", "b b b"]
    else:
        counts = count_text([str(FIXTURES / f"{text}.txt")], order)
        heldout = (FIXTURES / f"{text}_test.txt").read_text().splitlines()
    model = _build(counts, method, heldout).model
    words = [w for w in range(len(model.vocab)) if w != BOS]
    rng = np.random.default_rng(0)
    for context in _contexts(model, 60, rng):
        p = _probabilities(model, context, words)
        assert np.all(p > 0) or (method == "katz" and context), (context, method)
        assert abs(p.sum() - 1.0) < 1e-9, (context, p.sum())
    assert model.logprob[0][BOS] == -99.0


def _sentence_probs(model, ids: list[int]) -> list[float]:
    return list(10.0 ** score_sentences(model, [ids]).logprob)


# The hand text "a b" / "a": sentences <s> a b </s> and <s> a </s>. Unigram counts a 2, b 1, </s> 2
# (N = 5), |V| = 4 (<unk>, </s>, a, b). Bigrams: <s> a 2, a b 1, a </s> 1, b </s> 1.
HAND_AB = "a b\na\n"


def test_add_one_by_hand(tmp_path):
    counts = _counts(tmp_path, HAND_AB, 2)
    model = estimate(counts, "add-k").model
    a = counts.index[b"a"]
    # p(a) = 3/9, p(b) = 2/9, p(</s>) = 3/9, p(<unk>) = 1/9.
    # <s>: f(a) = (2+1)/(2+4) = 1/2; bow = (1 - 1/2) / (1 - 3/9) = 3/4, so p(a|<s>) = 1/2.
    # a: f(b) = f(</s>) = 2/6; bow = (1/3) / (1 - 5/9) = 3/4, so p(a|a) = 3/4 * 3/9 = 1/4; p(</s>|a) = 1/3.
    assert _sentence_probs(model, [a, a]) == pytest.approx([1 / 2, 1 / 4, 1 / 3], abs=1e-12)
    assert 10 ** model.logprob[0][UNK] == pytest.approx(1 / 9, abs=1e-12)
    # <unk> after <s>: 3/4 * 1/9.
    assert _sentence_probs(model, [UNK])[0] == pytest.approx(1 / 12, abs=1e-12)


def test_add_k_half_by_hand(tmp_path):
    counts = _counts(tmp_path, HAND_AB, 1)
    model = estimate(counts, "add-k", k=0.5).model
    # (c + 1/2) / (5 + 1/2 * 4): a 2.5/7, </s> 2.5/7, b 1.5/7, <unk> 0.5/7.
    expected = {b"a": 2.5 / 7, b"</s>": 2.5 / 7, b"b": 1.5 / 7, b"<unk>": 0.5 / 7}
    for word, p in expected.items():
        assert 10 ** model.logprob[0][counts.index[word]] == pytest.approx(p, abs=1e-12)


def test_witten_bell_by_hand(tmp_path):
    counts = _counts(tmp_path, HAND_AB, 2)
    model = estimate(counts, "wb").model
    a = counts.index[b"a"]
    # Unigrams: N = 5, T = 3 types: p(w) = c/8 + (3/8)/4: a 11/32, b 7/32, </s> 11/32, <unk> 3/32.
    # <s>: c = 2, T = 1: p(a|<s>) = (2 + 11/32) / 3 = 25/32.
    # a: c = 2, T = 2: p(a|a) = (0 + 2 * 11/32) / 4 = 11/64; p(</s>|a) = (1 + 2 * 11/32) / 4 = 27/64.
    assert _sentence_probs(model, [a, a]) == pytest.approx([25 / 32, 11 / 64, 27 / 64], abs=1e-12)
    assert 10 ** model.logprob[0][UNK] == pytest.approx(3 / 32, abs=1e-12)


def test_witten_bell_one_continuation_each(tmp_path):
    # Every context has one continuation seen once: γ(h) = 1 / (1 + 1) = 1/2 on every order above 1,
    # and p(w|h) = (1 + p(w|h[1:])) / 2 for the word seen.
    counts = _counts(tmp_path, "p q r s t\n", 3)
    model = estimate(counts, "wb").model
    for n in range(1, 2):
        contexts = model.words[n][model.words[n][:, -1] != EOS]
        rows = model.index.find(contexts)
        assert np.allclose(model.backoff[n][rows], np.log10(0.5))
    # Unigrams: N = 6, T = 6, |V| = 7: p(w) = 1/12 + 1/2 * 1/7. p(q|<s> p) = (1 + (1 + p(q)) / 2) / 2.
    p1 = 1 / 12 + 1 / 14
    ids = [counts.index[w] for w in (b"p", b"q")]
    assert _sentence_probs(model, ids)[1] == pytest.approx((1 + (1 + p1) / 2) / 2, abs=1e-12)


def test_kneser_ney_by_hand(tmp_path):
    counts = _counts(tmp_path, HAND_AB, 2)
    estimate_ = estimate(counts, "kn")
    model = estimate_.model
    a = counts.index[b"a"]
    # Unigram continuation counts: a 1 (after <s>), b 1 (after a), </s> 2 (after a, b): n1 = 2, n2 = 1,
    # D1 = 2 / (2 + 2) = 1/2, total 4, γ(ε) = 1/2 * 3/4 = 3/8: p(a) = 0.5/4 + 3/32 = 7/32, p(</s>) = 15/32.
    # Bigrams (raw): n1 = 3, n2 = 1, D2 = 3/5. <s>: γ = 3/5 * 1/2: p(a|<s>) = 1.4/2 + 0.3 * 7/32.
    # a: γ = 3/5 * 2/2: p(a|a) = 0.6 * 7/32; p(</s>|a) = 0.4/2 + 0.6 * 15/32.
    assert estimate_.parameters[0]["D"] == pytest.approx(0.5) and estimate_.parameters[1]["D"] == pytest.approx(0.6)
    expected = [0.7 + 0.3 * 7 / 32, 0.6 * 7 / 32, 0.2 + 0.6 * 15 / 32]
    assert _sentence_probs(model, [a, a]) == pytest.approx(expected, abs=1e-12)
    assert 10 ** model.logprob[0][UNK] == pytest.approx(3 / 32, abs=1e-12)


def _sentences(path: Path) -> list[list[str]]:
    return [["<s>", *line.split(), "</s>"] for line in path.read_text().splitlines()]


def _ngram_counts(sentences, n: int) -> Counter:
    return Counter(tuple(s[i:i + n]) for s in sentences for i in range(len(s) - n + 1))


def test_kneser_ney_discounts_from_continuation_counts():
    sentences = _sentences(FIXTURES / "zipf.txt")
    counts = count_text([str(FIXTURES / "zipf.txt")], 3)
    parameters = estimate(counts, "kn").parameters
    trigrams = _ngram_counts(sentences, 3)
    for n, values in ((3, trigrams), (2, None), (1, None)):
        if values is None:  # continuation counts, raw for n-grams starting with <s>
            longer = _ngram_counts(sentences, n + 1)
            values = Counter(g[1:] for g in longer)
            for g, c in _ngram_counts(sentences, n).items():
                if g[0] == "<s>":
                    values[g] = c
            values.pop(("<s>",), None)
        n1 = sum(1 for c in values.values() if c == 1)
        n2 = sum(1 for c in values.values() if c == 2)
        assert parameters[n - 1]["D"] == pytest.approx(n1 / (n1 + 2 * n2), abs=1e-15), n


def test_kneser_ney_refuses_no_singletons(tmp_path):
    counts = _counts(tmp_path, "a b\na b\n", 2)
    with pytest.raises(DataError, match="--discount-fallback"):
        estimate(counts, "kn")
    fallback = estimate(counts, "kn", discount_fallback=[0.5])
    assert fallback.parameters[1]["D"] == 0.5 and fallback.notes


def _good_turing(n: dict, k: int) -> dict:
    """ngram-discount(7): d(r) = ((r+1) n[r+1] / (r n[r]) - A) / (1 - A), A = (k+1) n[k+1] / n[1],
    with SRILM's lowering of k while n[k+1] = 0 and d = 1 where out of range."""
    while k > 0 and n.get(k + 1, 0) == 0:
        k -= 1
    a = Q((k + 1) * n.get(k + 1, 0), n[1])
    out = {}
    for r in range(1, k + 1):
        turing = Q((r + 1) * n.get(r + 1, 0), r * n[r])
        d = (turing - a) / (1 - a)
        out[r] = 1.0 if d <= Q(3, 1_000_000) or turing > 1 else float(d)
    return out


def test_katz_coefficients_are_ngram_discount_formulas():
    path = FIXTURES / "zipf.txt"
    sentences = _sentences(path)
    counts = count_text([str(path)], 3)
    result = estimate(counts, "katz")
    for n, gtmax in ((1, 1), (2, 7), (3, 7)):
        values = _ngram_counts(sentences, n)
        values.pop(("<s>",), None)
        n_r = Counter(values.values())
        d = _good_turing(n_r, gtmax)
        params = result.parameters[n - 1]
        assert params["gtmax"] == len(d) and params["gtmin"] == (1 if n < 3 else 2)
        for r, expected in d.items():
            assert params[f"d{r}"] == pytest.approx(expected, abs=1e-12), (n, r)


def test_katz_probabilities_and_gtmin():
    path = FIXTURES / "zipf.txt"
    sentences = _sentences(path)
    counts = count_text([str(path)], 3)
    result = estimate(counts, "katz")
    model = result.model
    bigrams = _ngram_counts(sentences, 2)
    n_r = Counter(bigrams.values())
    d = _good_turing(n_r, 7)
    context_total = Counter()
    for g, c in bigrams.items():
        context_total[g[:1]] += c
    # A seen bigram with count r <= 7 after <s>: p = d(r) r / c(<s> •), whatever the back-off.
    (g, c), = [(g, c) for g, c in bigrams.items() if g[0] == "<s>" and c == 2][:1]
    p = _sentence_probs(model, [counts.index[g[1].encode()]])[0]
    assert p == pytest.approx(d[2] * 2 / context_total[("<s>",)], rel=1e-12)
    # Trigrams seen once (gtmin 2) are not in the model; those seen twice are.
    trigrams = _ngram_counts(sentences, 3)
    kept = {tuple(counts.vocab[i].decode() for i in row) for row in model.words[2]}
    assert all((c >= 2) == (g in kept) for g, c in trigrams.items())
    # Unigrams: gt1max = 1 gives d(1) = 0, out of range, so no discount and <unk> gets n1 / N.
    unigrams = _ngram_counts(sentences, 1)
    unigrams.pop(("<s>",))
    n1 = sum(1 for c in unigrams.values() if c == 1)
    assert 10 ** model.logprob[0][UNK] == pytest.approx(n1 / sum(unigrams.values()), rel=1e-12)
    assert result.notes


def test_deleted_interpolation_unigram_lambda_by_hand(tmp_path):
    # Training "a": N = 2, p_ML(a) = p_ML(</s>) = 1/2, |V| = 3. Held-out "a" and "b" (an OOV): tokens
    # a, </s>, <unk>, </s>. L(λ) = 3 log(λ/2 + (1-λ)/3) + log((1-λ)/3); L'(λ) = 0 gives
    # 3 / (2 + λ) = 1 / (1 - λ), λ = 1/4.
    counts = _counts(tmp_path, "a\n", 1)
    result = estimate(counts, "jm", heldout=_ids(counts, ["a", "b"]))
    assert result.parameters[0]["lambda"]["all"] == pytest.approx(0.25, abs=1e-7)
    model = result.model
    assert 10 ** model.logprob[0][counts.index[b"a"]] == pytest.approx(0.25 / 2 + 0.75 / 3, abs=1e-7)
    assert 10 ** model.logprob[0][UNK] == pytest.approx(0.75 / 3, abs=1e-7)


def test_deleted_interpolation_back_off_form(tmp_path):
    # For a seen bigram p(w|h) = λ c(hw)/c(h) + (1 - λ) p(w), and h's back-off weight is 1 - λ.
    counts = _counts(tmp_path, HAND["mixed"], 2)
    result = estimate(counts, "jm", heldout=_ids(counts, ["a b a", "b a", "c b"]))
    model = result.model
    lam = result.parameters[1]["lambda"]
    a, b = counts.index[b"a"], counts.index[b"b"]
    # c(a •) = 3 (a b, a </s>, a </s>): bucket 2-3; c(a b) = 1.
    la = lam["2-3"]
    p_b = 10 ** model.logprob[0][b]
    probs = _sentence_probs(model, [a, b])
    assert probs[1] == pytest.approx(la * 1 / 3 + (1 - la) * p_b, abs=1e-12)
    row = model.index.find(np.array([[a]]))[0]
    assert 10 ** model.backoff[0][row] == pytest.approx(1 - la, abs=1e-12)


def test_options_refused(tmp_path):
    counts = _counts(tmp_path, HAND_AB, 2)
    with pytest.raises(CallError):
        estimate(counts, "add-k", k=0)
    with pytest.raises(CallError, match="held-out"):
        estimate(counts, "jm", heldout=[])
