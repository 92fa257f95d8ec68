"""The losses' explanations: ``xent ce``, ``xent bce`` and ``xent mse``."""

from __future__ import annotations

import numpy as np

from .. import core
from .text import (
    MAX_ENTRIES,
    Explanation,
    Fmt,
    Step,
    left_out,
    log_terms,
    perplexity_lines,
    reduction_lines,
    report_closing,
    report_result,
    row_label,
    sample_weight_lines,
    softmax_lines,
    unit_of,
)

__all__ = ["ce_coefficients", "ce", "bce", "mse"]


def ce_coefficients(label, num_classes: int, *, weights=None, label_smoothing: float = 0.0):
    """Each class's coefficient ``a_c`` of ``-log q_c`` in one sample's loss, and how it was formed."""
    if np.ndim(label) == 0:
        y = np.zeros(num_classes)
        y[int(label)] = 1.0
    else:
        y = np.asarray(label, dtype=np.float64)
    a = y
    if label_smoothing:
        a = (1.0 - label_smoothing) * a + label_smoothing / num_classes
    if weights is not None:
        a = a * np.asarray(weights, dtype=np.float64)
    return y, a


def ce(rows: np.ndarray, labels, n: int, per_nats: np.ndarray, report, *, kind: str, temperature: float = 1.0,
       weights=None, ignore_index=None, label_smoothing: float = 0.0, eps=None, names=None,
       sample_weights=None, digits: int | None = None, number=None) -> Explanation:
    """``xent ce``: softmax of the logits, ``-Σ y·log p`` term by term, weights, smoothing, ignored
    samples, sample weights, the reduction with its denominator, the base, the perplexity.

    ``rows``, ``labels`` and ``per_nats`` hold the explained samples (``per_nats`` before any sample
    weight); ``report`` is the command's :class:`~xentcli.report.LossReport` (every sample, weighted);
    ``sample_weights`` are every sample's ``--sample-weights``.
    """
    f = Fmt(digits, number)
    index = core.is_index_labels(labels)
    c = rows.shape[1]
    steps = []
    formula = "-Σ a·log p with a = " + (
        ("w·" if weights is not None else "") + ("((1 - ε)·y + ε/C)" if label_smoothing else "y")
    ) if (weights is not None or label_smoothing) else "-Σ y·log p"
    settings = []
    if weights is not None:
        settings.append(f"class weights w = {f.vec(weights)}")
    if label_smoothing:
        settings.append(f"label smoothing ε = {f(label_smoothing)}: the target becomes (1 - ε)·y + ε/C, C = {c}")
    if eps is not None:
        settings.append(f"--eps {f(eps)}: the document's naive -Σ y·log(p + eps) instead of the exact log p")
    if kind == "probs":
        settings.append("probabilities given (--probs): log p is taken of them directly")
    if temperature != 1.0:
        settings.append(f"temperature T = {f(temperature)}: the logits are divided by T")
    if settings:
        steps.append(Step("settings", settings))
    for i in range(len(rows)):
        label = labels[i]
        lines = []
        if index and ignore_index is not None and int(label) == ignore_index:
            lines.append(f"label {int(label)} = --ignore-index: loss 0, and the sample is not counted in the mean")
            lines.append(f"loss = {f(report.per[i])}")
            steps.append(Step(f"{row_label(i)}: ignored", lines))
            continue
        if kind == "logits":
            sm, p, logq = softmax_lines(f, rows[i], temperature, log=eps is None)
            lines += sm
        else:
            p = np.asarray(rows[i], dtype=np.float64)
            with np.errstate(divide="ignore"):
                logq = np.log(p)
            lines.append(f"p = {f.vec(p)}")
        if eps is not None:
            with np.errstate(divide="ignore"):
                logq = np.log(p + eps)
            lines.append(f"log(p + {f(eps)}) = {f.vec(logq)}")
        elif kind == "probs":
            lines.append(f"log p = {f.vec(logq)}")
        y, a = ce_coefficients(label, c, weights=weights, label_smoothing=label_smoothing)
        if index:
            k = int(label)
            lines.append(f"label: class {names[k] if names is not None and k < len(names) else k} "
                         f"(index {k}), the one-hot row y = {f.vec(y)}")
        else:
            lines.append(f"label y = {f.vec(y)}")
        if weights is not None or label_smoothing:
            lines.append(f"a = {formula.split('a = ')[1]} = {f.vec(a)}")
        log_text = (lambda j: f"log({f(p[j])} + {f(eps)})") if eps is not None else None
        symbolic, numeric = log_terms(f, a, logq, p, log_text=log_text)
        lines.append(f"loss = {formula}")
        lines.append(f"     = {symbolic}")
        lines.append(f"     = {numeric}")
        lines.append(f"     = {f(per_nats[i])} nats")
        lines += sample_weight_lines(f, sample_weights, i, per_nats[i], report)
        steps.append(Step(f"{row_label(i)}: cross-entropy", lines))
    left = left_out(len(report.per), len(rows), "samples")
    if left:
        steps.append(Step("the other samples", left))
    why = ("the sum of the target weights w_k of the samples not ignored" if weights is not None else
           "the number of samples not ignored") if index else (
        "the number of samples N"
        + (" (weights do not change it for distribution labels)" if weights is not None else ""))
    if sample_weights is not None:
        why = (("the sum of each sample weight times its target's weight w_k" if weights is not None else
                "the sum of the sample weights") + " of the samples not ignored") if index else \
            "the sum of the sample weights"
    unit = unit_of(report.base)
    red = reduction_lines(f, report.per, reduction=report.reduction, total=report.sum, mean=report.mean,
                           denominator=report.denominator, why=why, unit=unit)
    if index and ignore_index is not None:
        red.insert(0, "ignored samples add 0 to the sum and nothing to the denominator")
    steps.append(Step(f"reduction ({report.reduction})", red))
    steps.append(Step("perplexity", perplexity_lines(f, report.mean * core.log_base(report.base), report.perplexity)))
    steps.append(report_result(f, report, perplexity=True))
    return Explanation("cross-entropy, step by step", steps)


def bce(rows: np.ndarray, targets: np.ndarray, n: int, per_nats: np.ndarray, report, *, kind: str, pos_weight=None,
        class_mean: bool = False, names=None, sample_weights=None, digits: int | None = None) -> Explanation:
    """``xent bce``: per element ``-[y·log σ(z) + (1-y)·log(1-σ(z))]``, the sum (or ``--class-mean``)
    over classes, ``--pos-weight`` (one per class, or ``(rows, 1)``: one per explained sample of one
    output), sample weights, the reduction and its denominator.

    The element values come from the core's element-wise loss on the explained rows; each sample's
    loss (``per_nats``, before any sample weight), the reduction and the result are the command's own.
    """
    f = Fmt(digits)
    steps = []
    settings = []
    per_entry = pos_weight is not None and np.ndim(pos_weight) == 2
    if pos_weight is not None:
        settings.append(f"--pos-weight pw = {f.vec(np.reshape(pos_weight, -1))}"
                        + (" (one per sample)" if per_entry else "")
                        + ": the positive term y·log σ(z) is multiplied by pw")
    if class_mean:
        settings.append("--class-mean: each sample's loss is the mean over its C classes, not the sum")
    if kind == "probs":
        settings.append("probabilities given (--probs): log p and log(1 - p) are taken of them directly")
    if settings:
        steps.append(Step("settings", settings))
    pw_text = "pw·" if pos_weight is not None else ""
    for i in range(len(rows)):
        x = np.asarray(rows[i], dtype=np.float64)
        y = np.asarray(targets[i], dtype=np.float64)
        c = len(x)
        pw = pos_weight[i] if per_entry else pos_weight
        lines = []
        if kind == "logits":
            p = core.sigmoid(x)
            log_p, log_1mp = 0.0 - core.softplus(-x), 0.0 - core.softplus(x)
            elements = core.binary_cross_entropy_with_logits(x[None], y[None], pos_weight=pw)[0]
            lines.append(f"logits z = {f.vec(x)}")
            lines.append(f"σ(z) = 1 / (1 + exp(-z)) = {f.vec(p)}  (each entry its own probability)")
            lines.append(f"log σ(z) = -softplus(-z) = {f.vec(log_p)}, log(1 - σ(z)) = -softplus(z) = {f.vec(log_1mp)}")
            sym = "σ(z)"
        else:
            p = x
            with np.errstate(divide="ignore"):
                log_p, log_1mp = np.log(p) + 0.0, np.log1p(-p) + 0.0  # + 0.0: no "-0" printed
            elements = core.binary_cross_entropy(x[None], y[None], pos_weight=pw)[0]
            lines.append(f"p = {f.vec(p)}")
            lines.append(f"log p = {f.vec(log_p)}, log(1 - p) = {f.vec(log_1mp)}")
            sym = "p"
        lines.append(f"y = {f.vec(y)}")
        lines.append(f"per element: ℓ = -[{pw_text}y·log {sym} + (1 - y)·log(1 - {sym})]")
        pos = y if pw is None else y * np.asarray(pw, dtype=np.float64)
        for j in range(min(c, MAX_ENTRIES)):
            a = "0" if pos[j] == 0 else f"{f.factor(pos[j])}·{f.factor(log_p[j])}"
            b = "0" if y[j] == 1 else f"{f.factor(1 - y[j])}·{f.factor(log_1mp[j])}"
            label = names[j] if names is not None and j < len(names) else j
            lines.append(f"  class {label}: -[{a} + {b}] = {f(elements[j])}")
        if c > MAX_ENTRIES:
            lines.append(f"  … {c - MAX_ENTRIES} more classes")
        if class_mean:
            lines.append(f"loss = (Σ ℓ) / C = ({f.plus(elements)}) / {c} = {f(per_nats[i])} nats")
        else:
            lines.append(f"loss = Σ ℓ = {f.plus(elements)} = {f(per_nats[i])} nats")
        lines += sample_weight_lines(f, sample_weights, i, per_nats[i], report)
        steps.append(Step(f"{row_label(i)}: binary cross-entropy", lines))
    why = ("the sum of the sample weights" if sample_weights is not None else "the number of samples N") + (
        "; each sample is already a mean over its C classes, so the mean is over all N·C entries "
        "(BCEWithLogitsLoss's mean)" if class_mean and sample_weights is None else "")
    steps += report_closing(f, report, n, len(rows), why, "samples")
    return Explanation("binary cross-entropy, step by step", steps)


def mse(rows: np.ndarray, targets: np.ndarray, n: int, per: np.ndarray, *, through=None, half: bool = False,
        reduction: str = "mean", mean: float, total: float, denominator: float, all_per: np.ndarray,
        sample_weights=None, weight_sum: float | None = None, digits: int | None = None) -> Explanation:
    """``xent mse``: ``(ŷ - y)²`` term by term (``ŷ`` through softmax or a sigmoid if given), the sum
    over classes, ``--half``, sample weights, and the reduction over ``N·C`` (``--half``: over the m
    samples; with sample weights ``Σw·C``, or ``Σw``).

    ``targets`` are the explained rows' targets as rows (index labels one-hot); ``per`` the
    command's own per-sample values of those rows (weighted), ``all_per`` of every sample;
    ``sample_weights`` the explained rows' weights and ``weight_sum`` their sum over every sample.
    """
    f = Fmt(digits)
    steps = []
    for i in range(len(rows)):
        x = np.asarray(rows[i], dtype=np.float64)
        y = np.asarray(targets[i], dtype=np.float64)
        lines = []
        if through == "softmax":
            sm, _, _ = softmax_lines(f, x, symbol="ŷ")
            lines += sm
        if through is not None:
            yhat, r = core.activation_residual(x[None], y[None], through)
            yhat, r = yhat[0], r[0]
            raw = core.mse_with_logits(x[None], y[None], through=through)[0]
            if through == "sigmoid":
                lines.append(f"logits z = {f.vec(x)}")
                lines.append(f"ŷ = σ(z) = 1 / (1 + exp(-z)) = {f.vec(yhat)}  (each entry its own)")
        else:
            yhat = x
            r = yhat - y
            raw = core.mean_squared_error(x[None], y[None])[0]
            lines.append(f"ŷ = {f.vec(yhat)}")
        lines.append(f"y = {f.vec(y)}")
        lines.append(f"ŷ - y = {f.vec(r)}")
        sq = np.square(r)
        lines.append("Σ (ŷ - y)² = " + " + ".join(f"{f.factor(v)}²" for v in r[:MAX_ENTRIES])
                     + (f" + … {len(r) - MAX_ENTRIES} more" if len(r) > MAX_ENTRIES else ""))
        if len(sq) > 1:
            lines.append(f"           = {f.plus(sq)}")
        value = raw
        lines.append(f"           = {f(raw)}")
        if half:
            value = 0.5 * raw
            lines.append(f"--half: ½·Σ (ŷ - y)² = ½·{f(raw)} = {f(value)}")
        if sample_weights is not None:
            lines.append(f"sample weight {f(sample_weights[i])}: {f(sample_weights[i])}·{f(value)} = {f(per[i])}")
        steps.append(Step(f"{row_label(i)}: squared error", lines))
    left = left_out(n, len(rows), "samples")
    if left:
        steps.append(Step("the other samples", left))
    c = len(rows[0]) if len(rows) else 0
    if half:
        counted = f"the m = {n:,} samples" if sample_weights is None else "the sum of the sample weights"
        why = counted + " (the document's ½·(1/m)·Σ, each sample's outputs summed)"
    elif sample_weights is None:
        why = f"every entry, N·C = {n:,}·{c:,} (torch.nn.MSELoss's mean)"
    else:
        why = (f"the sum of the sample weights times C = {f(weight_sum)}·{c:,} (scikit-learn's weighted "
               "mean_squared_error, averaged over outputs)")
    red = reduction_lines(f, all_per, reduction=reduction, total=total, mean=mean, denominator=denominator,
                           why=why, unit="").copy()
    red = [line.replace("  (", " (").rstrip() for line in red]
    steps.append(Step(f"reduction ({reduction})", red))
    shown = "sum" if reduction == "sum" else "mean"
    result = [f"reduction = {reduction}", f"denominator = {f(denominator)}",
              f"{shown} = {f(total if shown == 'sum' else mean)}"]
    if reduction == "none":
        result.insert(0, f"per-sample values: {f.vec(all_per)}")
    if half:
        result.append("half: every value × ½, mean over samples")
    steps.append(Step("result", result))
    name = ("½·" if half else "") + "squared error" + (f" through {through}" if through else "")
    return Explanation(f"{name}, step by step", steps)
