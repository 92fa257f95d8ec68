"""``xent ngram ppl`` against the frozen ``query`` outputs (-v summary, word and sentence) on lmplz's
models and the hand-written bigram model, on the models xent builds itself, with ``--train``, and
against the ``kenlm`` Python module when it is installed.

query sums a sentence in float32, rounding each partial sum by up to half an ulp (2^-24 relative): a
total agrees within 2e-6 plus that much per token; the perplexities within 1e-6 relative.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from tests.ngram.conftest import (
    FIXTURES,
    built_models,
    case_id,
    parse_query_sentence,
    parse_query_summary,
    parse_query_word,
    query_cases,
    xent_options,
)

CASES = query_cases()
#: query's per-word values are float32 (7 significant digits): 2e-6 absolute over log10 p ≥ -20.
WORD_TOL = 2e-6
SENTENCE_TOL = 2e-6


def _read(path) -> pd.DataFrame:
    # keep_default_na=False: a word may well be "nan" or "null"
    return pd.read_csv(path, keep_default_na=False, dtype={"word": str})


def _ppl(xent, folder, name, model_args, text):
    """xent ngram ppl's JSON, per-word and per-sentence tables."""
    words, sentences = folder / f"{name}.words.csv", folder / f"{name}.sentences.csv"
    result = xent("ngram", "ppl", *model_args, "--text", text, "--per-word", words, "--per-sentence", sentences,
                  "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), _read(words), _read(sentences)


@pytest.fixture(scope="module")
def scored(xent, tmp_path_factory):
    """Each query case scored by xent with the very model query used."""
    folder = tmp_path_factory.mktemp("query")
    return {case_id(c): _ppl(xent, folder, case_id(c), ["--model", FIXTURES / c[0]["arpa"]], FIXTURES / c[1]["text"])
            for c in CASES}


def _check_summary(doc, summary, rel=1e-6):
    assert doc["tokens"] == summary["tokens"]
    assert doc["oovs"] == summary["oovs"]
    assert math.isclose(doc["ppl"], summary["ppl"], rel_tol=rel)
    assert math.isclose(doc["ppl_excluding_oovs"], summary["ppl_excluding_oovs"], rel_tol=rel)


def _check_words(words: pd.DataFrame, expected, tol):
    flat = [(k, *t) for k, sentence in enumerate(expected) for t in sentence]
    assert len(words) == len(flat)
    assert words["sentence"].tolist() == [t[0] for t in flat]
    assert words["word"].tolist() == [t[1] for t in flat]
    # query gives an OOV vocab id 0
    assert words["oov"].tolist() == [t[2] == 0 for t in flat]
    assert words["ngram_length"].tolist() == [t[3] for t in flat]
    worst = max(abs(a - t[4]) for a, t in zip(words["logprob"], flat))
    assert worst <= tol, f"log10 p off by {worst:.3g}"


def _check_sentences(sentences: pd.DataFrame, expected, tol):
    assert len(sentences) == len(expected)
    assert sentences["oovs"].tolist() == [oov for _, oov in expected]
    for k, (ours, tokens, (total, _)) in enumerate(zip(sentences["logprob"], sentences["words"] + 1, expected)):
        allowed = tol + tokens * abs(total) * 2.0 ** -24
        assert abs(ours - total) <= allowed, f"sentence {k}: {ours} vs query's {total}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_summary(scored, case):
    doc, _, sentences = scored[case_id(case)]
    summary = parse_query_summary(FIXTURES / case[1]["summary"])
    _check_summary(doc, summary)
    assert doc["sentences"] == len(sentences)
    assert doc["words"] == doc["tokens"] - doc["sentences"]
    # SRILM's ppl1 over the words alone, OOVs left out, from query's own per-word values
    words = parse_query_word(FIXTURES / case[1]["word"])
    known = [t for s in words for t in s if t[1] != 0]
    ppl1 = 10 ** (-sum(t[3] for t in known) / sum(t[0] != "</s>" for t in known))
    assert math.isclose(doc["ppl1"], ppl1, rel_tol=1e-6)
    assert math.isclose(doc["bits_per_token"], math.log2(summary["ppl"]), rel_tol=1e-6)
    assert math.isclose(doc["nats_per_token"], math.log(summary["ppl"]), rel_tol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_per_word(scored, case):
    _check_words(scored[case_id(case)][1], parse_query_word(FIXTURES / case[1]["word"]), WORD_TOL)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_per_sentence(scored, case):
    _, _, sentences = scored[case_id(case)]
    _check_sentences(sentences, parse_query_sentence(FIXTURES / case[1]["sentence"]), SENTENCE_TOL)
    words = parse_query_word(FIXTURES / case[1]["word"])
    assert sentences["words"].tolist() == [len(s) - 1 for s in words]


def test_hand_bigram_by_hand(scored):
    """The hand model's numbers worked out from its ARPA lines (bo = back-off, p = log10 prob)."""
    doc, words, sentences = scored["bigram_hand-bigram_hand_test.txt"]
    p = {"<unk>": -1.39794, "</s>": -0.79588, "sat": -1.09691, "mat": -1.154902, "on": -1.09691}
    bo = {"<s>": -0.544068, "the": -0.863323, "a": -0.60206, "ran": -0.225309, "mat": -0.924279}
    row = words.set_index(["sentence", words.groupby("sentence").cumcount()])
    # "the bird": an OOV after "the" is charged bo(the); "sat" after it starts from an empty context
    assert row.loc[(2, 1), "logprob"] == pytest.approx(bo["the"] + p["<unk>"], abs=1e-12)
    assert row.loc[(2, 2), "logprob"] == pytest.approx(p["sat"], abs=1e-12)
    assert row.loc[(2, 2), "ngram_length"] == 1
    # "a mat": no bigram, so bo(a) + p(mat)
    assert row.loc[(2, 5), "logprob"] == pytest.approx(bo["a"] + p["mat"], abs=1e-12)
    # the empty line scores </s> after <s> alone: bo(<s>) + p(</s>)
    assert sentences.loc[3, "words"] == 0
    assert sentences.loc[3, "logprob"] == pytest.approx(bo["<s>"] + p["</s>"], abs=1e-12)
    # "zebra yak": two OOVs, the second from an empty context; then </s> from an empty context too
    assert row.loc[(5, 1), "logprob"] == pytest.approx(p["<unk>"], abs=1e-12)
    assert row.loc[(5, 2), "logprob"] == pytest.approx(p["</s>"], abs=1e-12)
    # a literal <unk> in the text is an OOV, as in query
    assert bool(row.loc[(7, 0), "oov"])
    assert doc["oovs"] == 5


MODELS = [m for m in built_models() if m.get("queries")]


@pytest.mark.parametrize("model", MODELS, ids=case_id)
def test_xent_built_model_scores_as_query_on_lmplz_model(xent, tmp_path, model):
    arpa = tmp_path / "model.arpa"
    result = xent("ngram", "build", "--text", FIXTURES / model["corpus"], "--order", model["order"],
                  *xent_options(model), "-o", arpa)
    assert result.exit_code == 0, result.output
    for query in model["queries"]:
        doc, words, sentences = _ppl(xent, tmp_path, "built", ["--model", arpa], FIXTURES / query["text"])
        # each model value within 1e-6 of lmplz's: a token sums its probability and up to order-1 back-offs
        _check_words(words, parse_query_word(FIXTURES / query["word"]), WORD_TOL + model["order"] * 1e-6)
        expected = parse_query_sentence(FIXTURES / query["sentence"])
        longest = int(sentences["words"].max()) + 1
        _check_sentences(sentences, expected, SENTENCE_TOL + longest * model["order"] * 1e-6)
        summary = parse_query_summary(FIXTURES / query["summary"])
        _check_summary(doc, summary, rel=math.log(10) * model["order"] * 1e-6 + 1e-6)


@pytest.mark.parametrize("model", MODELS, ids=case_id)
def test_train_is_build_then_ppl_exactly(xent, tmp_path, model):
    arpa = tmp_path / "model.arpa"
    build = ["--order", model["order"], *xent_options(model)]
    assert xent("ngram", "build", "--text", FIXTURES / model["corpus"], *build, "-o", arpa).exit_code == 0
    text = FIXTURES / model["queries"][0]["text"]
    by_file = _ppl(xent, tmp_path, "file", ["--model", arpa], text)
    in_memory = _ppl(xent, tmp_path, "train", ["--train", FIXTURES / model["corpus"], *build], text)
    assert by_file[0] == in_memory[0]
    pd.testing.assert_frame_equal(by_file[1], in_memory[1], check_exact=True)
    pd.testing.assert_frame_equal(by_file[2], in_memory[2], check_exact=True)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_kenlm_module_agrees(scored, case):
    kenlm = pytest.importorskip("kenlm")
    lm = kenlm.Model(str(FIXTURES / case[0]["arpa"]))
    _, words, _ = scored[case_id(case)]
    theirs = [s for line in (FIXTURES / case[1]["text"]).read_text().splitlines()
              for s in lm.full_scores(line, bos=True, eos=True)]
    assert len(theirs) == len(words)
    assert words["ngram_length"].tolist() == [n for _, n, _ in theirs]
    assert words["oov"].tolist() == [oov for _, _, oov in theirs]
    worst = max(abs(a - p) for a, (p, _, _) in zip(words["logprob"], theirs))
    assert worst <= WORD_TOL
