"""The explanation of ``xent ngram ppl``: each of the first tokens' n-gram and back-offs, then the
sum, the cross-entropy and the perplexity (the document's "branching factor")."""

from __future__ import annotations

import math

from .text import Explanation, Fmt, Step, left_out

__all__ = ["ngram_ppl"]


def _words(ws) -> str:
    return " ".join(w.decode("utf-8", "replace") for w in ws) or "(empty)"


def ngram_ppl(explained: list, totals, *, digits: int | None = None) -> Explanation:
    """``explained``: :class:`~xentcli.ngram.score.Explained` of the first tokens; ``totals``: the
    scorer's :class:`~xentcli.ngram.score.Totals` over every token."""
    f = Fmt(digits)
    steps = []
    for i, e in enumerate(explained):
        word = e.word.decode("utf-8", "replace")
        lines = [f"context: {_words(e.context)}"]
        if e.oov:
            lines.append(f"'{word}' is not in the vocabulary: an OOV, scored as <unk>; the next word's context "
                         "starts after it")
        lines.append(f"longest n-gram in the model: '{_words(e.found)}' ({len(e.found)}-gram), "
                     f"log10 p = {f(e.found_logprob)}")
        terms = [f(e.found_logprob)]
        for ctx, b in e.backoffs:
            note = "" if b != 0 else "  (0: not a context in the model, or weight 1)"
            lines.append(f"'{_words(ctx)} {word}' is not in the model: back off, charging "
                         f"log10 b('{_words(ctx)}') = {f(b)}{note}")
            terms.append(f.factor(b))
        total = " + ".join(terms) + " = " if len(terms) > 1 else ""
        lines.append(f"log10 p('{word}' | context) = {total}{f(e.logprob)}  (p = {f(10 ** e.logprob)})")
        steps.append(Step(f"token {i + 1}: '{word}'", lines))
    left = left_out(totals.tokens, len(explained), "tokens")
    if left:
        steps.append(Step("the other tokens", left))
    n = totals.tokens
    steps.append(Step("sum over the text", [
        f"{totals.sentences:,} sentences, {totals.words:,} words, {totals.oovs:,} OOVs: "
        f"{n:,} tokens (each sentence's </s> counts)",
        f"Σ log10 p = {f(totals.logprob)}"]))
    lines = [f"cross-entropy H = -Σ log10 p / tokens × log2(10) = {f(-totals.logprob)} / {n:,} × "
             f"{f(math.log2(10))} = {f(totals.bits_per_token)} bits per token",
             f"             = {f(totals.nats_per_token)} nats per token"]
    steps.append(Step("cross-entropy", lines))
    steps.append(Step("perplexity", [
        f"perplexity = 2^H = 10^(-Σ log10 p / tokens) = {f(totals.ppl)}",
        f"the branching factor: on average the model is as uncertain as a uniform choice among "
        f"{f(totals.ppl)} words",
        f"without the {totals.oovs:,} OOVs (KenLM's 'excluding OOVs', SRILM's ppl): {f(totals.ppl_excluding_oovs)}; "
        f"divided by the words alone, </s> not counted (SRILM's ppl1): {f(totals.ppl1)}"]))
    steps.append(Step("result", [f"tokens = {n:,}", f"cross-entropy = {f(totals.bits_per_token)} bits",
                                 f"perplexity = {f(totals.ppl)}"]))
    return Explanation("n-gram perplexity, step by step", steps)
