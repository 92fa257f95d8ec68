"""The explanations of the language-model commands: ``xent softmax``, ``xent ppl``, ``xent example``."""

from __future__ import annotations

import numpy as np

from .. import core
from ..numbers import format_number
from ..report import LossReport
from .losses import ce
from .text import (
    Explanation,
    Fmt,
    Step,
    base_lines,
    left_out,
    pairs,
    reduction_lines,
    row_label,
    softmax_lines,
    unit_of,
)

__all__ = ["softmax", "ppl", "example"]


def softmax(z_rows: np.ndarray, result_rows: np.ndarray, n: int, *, temperature: float = 1.0,
            log: bool = False, digits: int | None = None) -> Explanation:
    """``xent softmax``: shift, exponentials, their sum, division (and log-softmax with ``log``)."""
    f = Fmt(digits)
    what = "log-softmax" if log else "softmax"
    steps = []
    for i, z in enumerate(z_rows):
        lines, _, _ = softmax_lines(f, z, temperature, log=log)
        steps.append(Step(f"{row_label(i)}: {what}", lines))
    symbol = "log p" if log else "p"
    result = [f"{row_label(i)}: {symbol} = {f.vec(r)}" for i, r in enumerate(result_rows)]
    result += left_out(n, len(z_rows))
    steps.append(Step(f"result: {what} of {n:,} row{'s' if n != 1 else ''}"
                      + (f" (T = {f(temperature)})" if temperature != 1 else ""), result))
    return Explanation(f"{what}, step by step", steps)


def ppl(rows: np.ndarray, tokens: np.ndarray, n: int, per_nats: np.ndarray, report, *, kind: str = "logits",
        temperature: float = 1.0, ignore_index=None, digits: int | None = None) -> Explanation:
    """``xent ppl``: ``-log p(target)`` per token for the first rows, the mean CE over the counted
    tokens, and the perplexity ``e^mean`` as a branching factor.

    ``per_nats`` are the command's own per-token losses of the explained rows; ``report`` its
    :class:`~xentcli.report.LossReport` (every token; denominator = the counted tokens).
    """
    f = Fmt(digits)
    steps = []
    if temperature != 1.0:
        steps.append(Step("settings", [f"temperature T = {f(temperature)}: the logits are divided by T"]))
    for i in range(len(rows)):
        k = int(tokens[i])
        if ignore_index is not None and k == ignore_index:
            steps.append(Step(f"token {i + 1}: ignored", [
                f"target {k} = --ignore-index: CE 0, and the token is not counted in the mean",
                f"CE = {f(report.per[i])}"]))
            continue
        z = np.asarray(rows[i], dtype=np.float64)
        if kind == "probs":
            lines = [f"probabilities p = {f.vec(z)} (vocabulary {len(z):,})", f"target token: {k}",
                     f"p({k}) = {f(z[k])}", f"CE = -log p(target) = {f(per_nats[i])} nats"]
            lines += base_lines(f, report.base, per_nats[i], report.per[i], what="CE")
            steps.append(Step(f"token {i + 1}: -log p(target)", lines))
            continue
        logp = core.log_softmax(z[None], temperature=temperature)[0]
        lines = [f"logits z = {f.vec(z)} (vocabulary {len(z):,})", f"target token: {k}"]
        if temperature != 1.0:
            lines.append(f"log p({k}) = z_{k}/T - log Σ exp(z/T) = {f(z[k])}/{f(temperature)} - log Σ exp(z/T) "
                         f"= {f(logp[k])}")
        else:
            lines.append(f"log p({k}) = z_{k} - log Σ exp(z) = {f(z[k])} - log Σ exp(z) = {f(logp[k])}"
                         "  (log-softmax, shifted by the row maximum)")
        lines.append(f"p({k}) = softmax(z{'/T' if temperature != 1.0 else ''})_{k} = "
                     f"{f(core.softmax(z[None], temperature=temperature)[0][k])}")
        lines.append(f"CE = -log p(target) = {f(per_nats[i])} nats")
        lines += base_lines(f, report.base, per_nats[i], report.per[i], what="CE")
        steps.append(Step(f"token {i + 1}: -log p(target)", lines))
    left = left_out(n, len(rows), "tokens")
    if left:
        steps.append(Step("the other tokens", left))
    unit = unit_of(report.base)
    red = reduction_lines(f, report.per, reduction="mean", total=report.sum, mean=report.mean,
                           denominator=report.denominator, why="the number of tokens counted", unit=unit)
    red[-1] = red[-1].replace("mean =", "mean CE =", 1)
    if ignore_index is not None:
        ignored = n - int(report.denominator)
        red.insert(0, f"{ignored:,} token{'s' if ignored != 1 else ''} ignored (--ignore-index {ignore_index}): "
                      "each adds 0 to the sum and nothing to the denominator")
    steps.append(Step("mean cross-entropy over the counted tokens", red))
    mean_nats = report.mean * core.log_base(report.base)
    lines = [f"perplexity = e^(mean CE in nats) = exp({f(mean_nats)}) = {f(report.perplexity)}"]
    if report.base != "e":
        lines.append(f"             = {report.base}^(mean CE in {unit}) = {report.base}^{f(report.mean)}: "
                     "the same number in every base")
    lines.append(f"the branching factor: the model is, on average, as uncertain as a uniform choice among "
                 f"{f(report.perplexity)} tokens")
    steps.append(Step("perplexity", lines))
    steps.append(Step("result", [f"tokens = {int(report.denominator):,}", f"mean CE ({unit}) = {f(report.mean)}",
                                 f"perplexity = {f(report.perplexity)}"]))
    return Explanation("perplexity, step by step", steps)


def example(y: np.ndarray, z: np.ndarray, exact: np.ndarray, naive: np.ndarray, grad_mean: np.ndarray, eps: float,
            cdm: tuple, *, number=None) -> Explanation:
    """``xent example --explain``: the whole worked example, as the document derives it.

    ``exact``, ``naive`` (the document's ``log(p + eps)``) and ``grad_mean`` are the example's
    own results; ``cdm`` is ``(names, label row, probability row, loss)`` of the cat/dog/man sample.
    Matrices print as the document prints them (``number``), means with every digit.
    """
    f = Fmt(None, number)
    report = LossReport.of("ce", exact, base="e", reduction="mean")
    steps = [Step("the data", [f"labels y = {f.vec(y[0])}, {f.vec(y[1])}  (one-hot, then soft)",
                               f"logits z = {f.vec(z[0])}, {f.vec(z[1])}"])]
    for step in ce(z, y, len(y), exact, report, kind="logits", number=number).steps:
        if step.title.startswith("row"):
            steps.append(Step(step.title.replace("row", "sample"), step.lines))
        elif step.title.startswith("reduction"):
            steps.append(Step("the mean over the batch (TensorFlow's reduce_mean of "
                              "softmax_cross_entropy_with_logits)",
                              step.lines[:-1] + [f"mean = sum / denominator = {f(report.sum)} / 2 = "
                                                 f"{format_number(report.mean)} nats  (every digit)"]))
    probs = core.softmax(z)
    lines = ["the document's NumPy code computes -Σ y·log(p + 1e-6); TensorFlow (and xent) the exact -Σ y·log p.",
             f"log(p + ε) - log p = log(1 + ε/p) ≈ ε/p per term, ε = {eps:g}: the loss drops by about Σ y·ε/p."]
    for i in range(len(y)):
        nz = [j for j in range(y.shape[1]) if y[i, j] != 0]
        shift = sum(y[i, j] * eps / probs[i, j] for j in nz)
        parts = " + ".join(f"{f.factor(y[i, j])}·{eps:g}/{f(probs[i, j])}" for j in nz)
        lines.append(f"sample {i + 1}: {parts} = {shift:.4g}; exact {f(exact[i])} - {shift:.4g} "
                     f"≈ {f(exact[i] - shift)}, and log(p + ε) gives {f(naive[i])}")
    lines.append(f"means: exact {format_number(float(np.mean(exact)))}, with ε {format_number(core.reduce(naive))}:"
                 " they part in the 6th digit. ε/p is largest for the smallest p a label needs"
                 f" ({f(min(probs[i, j] for i in range(len(y)) for j in range(y.shape[1]) if y[i, j]))}).")
    steps.append(Step("why the document's NumPy code and TensorFlow differ in the 6th digit", lines))
    g_lines = []
    for i in range(len(y)):
        g = probs[i] - y[i]
        g_lines.append(f"sample {i + 1}: p - y = {pairs(f, probs[i], y[i], '-')} = {f.vec(g)}")
        g_lines.append(f"          mean of the 2 losses: / 2 = {f.vec(grad_mean[i])}")
    steps.append(Step("the gradient: ∂loss/∂z = p - y (softmax and cross-entropy together)", g_lines))
    names, label, pred, loss = cdm
    k = int(np.argmax(label))
    terms = " + ".join(f"{f(label[j])}·log {f(pred[j])}" for j in range(len(label)))
    steps.append(Step(f"one sample over {', '.join(names)}", [
        f"label {f.vec(label)}, prediction {f.vec(pred)}",
        f"cross-entropy = -[{terms}] = -log {f(pred[k])} = {format_number(loss)}",
        "only the true class's probability matters: every other term is 0·log … = 0",
    ]))
    steps.append(Step("result", [f"mean cross-entropy (exact) = {format_number(report.mean)}",
                                 f"mean with the document's eps = {format_number(core.reduce(naive))}",
                                 f"cat/dog/man: {format_number(loss)}"]))
    return Explanation("the reference document's worked example, step by step", steps)
