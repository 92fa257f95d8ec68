"""``--explain``: how each number came about, step by step, with the values substituted (SPEC §8).

An explanation is plain data: an :class:`Explanation` (a title and a list of
:class:`Step`, each a title and lines of text). :mod:`xentcli.tables`
draws it (:func:`~xentcli.tables.explanation_renderables`); :func:`~xentcli.output.emit`
decides where it goes. There is one builder per command; each takes the rows
to explain and the command's own results. Intermediate values (the shift, the
exponentials, log p, the terms) come from :mod:`xentcli.core` for the explained
rows only; every per-sample value, reduction and gradient shown as a result is
the command's own, so an explanation can never print a number the command
did not compute. Nothing here changes a number.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from . import core
from .writers import format_number

__all__ = ["Step", "Explanation", "explained_rows", "softmax", "ce", "entropy", "grad",
           "example", "kl", "bce", "ppl", "mse", "TABLE_DIGITS"]

#: Significant digits of every number unless ``--precision`` says otherwise (the tables' 8).
TABLE_DIGITS = 8
#: Entries of a vector written out; the rest are counted (a vocabulary of 50 000 is not listed).
MAX_ENTRIES = 8


class Step:
    """One step of a derivation: a title and lines of text with the numbers substituted."""

    __slots__ = ("title", "lines")

    def __init__(self, title: str, lines: Sequence[str]):
        self.title, self.lines = title, list(lines)

    def __repr__(self):
        return f"Step({self.title!r}, {self.lines!r})"


class Explanation:
    """A command's derivation: a title, then steps, the last of which is the result."""

    __slots__ = ("title", "steps")

    def __init__(self, title: str, steps: Sequence[Step]):
        self.title, self.steps = title, list(steps)

    def text(self) -> str:
        """The plain text a pipe gets (the same words and numbers as on a terminal)."""
        out = [self.title, ""]
        for step in self.steps:
            out.append(step.title)
            out += ["  " + line for line in step.lines]
            out.append("")
        return "\n".join(out)


# -- formatting ------------------------------------------------------------------------------------


class _Fmt:
    """Numbers at ``digits`` significant digits (the shared :func:`format_number`)."""

    def __init__(self, digits: int | None, number=None):
        self.digits = digits or TABLE_DIGITS
        self.number = number  # another way of printing (the example prints as the document does)

    def __call__(self, x) -> str:
        if self.number is not None:
            return self.number(x)
        return format_number(x, self.digits)

    def factor(self, x) -> str:
        """A number inside a product: negative ones in parentheses."""
        s = self(x)
        return f"({s})" if s.startswith("-") else s

    def vec(self, xs, limit: int = MAX_ENTRIES) -> str:
        xs = np.asarray(xs, dtype=np.float64).reshape(-1)
        shown = ", ".join(self(x) for x in xs[:limit])
        more = f", … {len(xs) - limit} more" if len(xs) > limit else ""
        return f"[{shown}{more}]"

    def plus(self, xs, limit: int = MAX_ENTRIES) -> str:
        """``a + b + c`` (``+ … k more`` past ``limit``)."""
        xs = np.asarray(xs, dtype=np.float64).reshape(-1)
        text = " + ".join(self(x) for x in xs[:limit])
        return text + (f" + … {len(xs) - limit} more" if len(xs) > limit else "")

    def signed(self, xs, limit: int = MAX_ENTRIES) -> str:
        """``a - b + c``: a sum whose terms may be negative (``+ … k more`` past ``limit``)."""
        xs = np.asarray(xs, dtype=np.float64).reshape(-1)
        text = ""
        for k, x in enumerate(xs[:limit]):
            s = self(x)
            text += s if k == 0 else (f" - {s[1:]}" if s.startswith("-") else f" + {s}")
        return text + (f" + … {len(xs) - limit} more" if len(xs) > limit else "")


def explained_rows(n: int, rows: int) -> np.ndarray:
    """The ids of the rows ``--explain-rows rows`` derives out of ``n``: the first ones, at least one."""
    return np.arange(min(n, max(1, rows)))


def _left_out(n: int, shown: int, what: str = "rows") -> list[str]:
    if n <= shown:
        return []
    if n - shown == 1:
        what = what[:-1]
    return [f"{n - shown:,} more {what} not explained (--explain-rows N explains more; the result covers all {n:,})"]


def _unit(base) -> str:
    return {"e": "nats", 2: "bits", 10: "bans"}.get(base, f"base {base}")


def _row_label(i: int, names: Sequence[str] | None = None) -> str:
    return f"row {i + 1}"


def _softmax_lines(f: _Fmt, z: np.ndarray, temperature: float = 1.0, *, log: bool = False,
                   symbol: str = "p") -> tuple[list[str], np.ndarray, np.ndarray]:
    """The softmax of one row of logits, as the document derives it; (lines, p, log p) from the core."""
    z = np.asarray(z, dtype=np.float64)
    p = core.softmax(z[None], temperature=temperature)[0]
    logp = core.log_softmax(z[None], temperature=temperature)[0]
    m = float(np.max(z))
    m = m if math.isfinite(m) else 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        shifted = (z - m) / temperature
        e = np.exp(shifted)
    s = float(np.sum(e))
    lines = [f"logits z = {f.vec(z)}",
             f"shift by the row maximum m = {f(m)}: z - m = {f.vec(z - m)}"
             + ("  (the shift cancels in the division; no exponential overflows)" if m != 0 else "")]
    if temperature != 1.0:
        lines.append(f"divide by T = {f(temperature)}: (z - m)/T = {f.vec(shifted)}")
    arg = "(z - m)/T" if temperature != 1.0 else "z - m"
    lines.append(f"exponentials exp({arg}) = {f.vec(e)}")
    lines.append(f"their sum s = {f.plus(e)} = {f(s)}")
    lines.append(f"divide: {symbol} = exp({arg}) / s = {f.vec(p)}")
    if log:
        lines.append(f"log {symbol} = ({arg}) - log s = ({arg}) - {f.factor(math.log(s))} = {f.vec(logp)}"
                     "  (computed so, never as log of the division)")
    return lines, p, logp


def _terms(f: _Fmt, coef: np.ndarray, logq: np.ndarray, q: np.ndarray | None, *, qname: str = "p",
           log_text=None) -> tuple[str, str]:
    """``-[a·log q + …]`` written out and with the logs substituted; zero terms shown as ``0·log q = 0``.

    Past :data:`MAX_ENTRIES` classes only the non-zero terms are written, the zeros counted.
    """
    coef = np.asarray(coef, dtype=np.float64)
    c = len(coef)
    idx = list(range(c)) if c <= MAX_ENTRIES else [j for j in range(c) if coef[j] != 0][:MAX_ENTRIES]
    rest_zero = c - len(idx) if c > MAX_ENTRIES else 0
    rest_nonzero = int(np.count_nonzero(coef)) - sum(1 for j in idx if coef[j] != 0)

    def name(j):
        if log_text is not None:
            return log_text(j)
        return f"log {f(q[j])}" if q is not None else f"log {qname}_{j}"

    symbolic, numeric = [], []
    for j in idx:
        symbolic.append(f"{f.factor(coef[j])}·{name(j)}")
        numeric.append("0" if coef[j] == 0 else f"{f.factor(coef[j])}·{f.factor(logq[j])}")
    tail = []
    if rest_nonzero:
        tail.append(f"… {rest_nonzero} more non-zero terms")
    if rest_zero - rest_nonzero > 0:
        tail.append(f"0 for the other {rest_zero - rest_nonzero} classes (0·log … = 0)")
    extra = (" + " + " + ".join(tail)) if tail else ""
    return "-[" + " + ".join(symbolic) + extra + "]", "-[" + " + ".join(numeric) + extra + "]"


def _reduction_lines(f: _Fmt, per: np.ndarray, *, reduction: str, total: float, mean: float, denominator: float,
                     why: str, unit: str) -> list[str]:
    n = len(per)
    lines = [f"sum = {f.plus(per)} = {f(total)} {unit}" if n > 1 else f"sum = {f(total)} {unit} (one sample)"]
    lines.append(f"denominator = {f(denominator)}: {why}")
    lines.append(f"mean = sum / denominator = {f(total)} / {f(denominator)} = {f(mean)} {unit}")
    if reduction == "none":
        lines.append(f"--reduction none: the result is the {n:,} per-sample values themselves")
    return lines


def _sample_weight_lines(f: _Fmt, sample_weights, i: int, nats: float, report) -> list[str]:
    """A sample's ``--sample-weights`` weight applied to its loss, then the base conversion."""
    lines = []
    if sample_weights is not None:
        s = float(sample_weights[i])
        nats = float(core.reductions.weighted(nats, s))
        lines.append(f"sample weight {f(s)}: {f(s)}·loss = {f(nats)} nats")
    if report.base != "e":
        lines += _base_lines(f, report.base, nats, report.per[i], what="weighted loss" if sample_weights is not None else "loss")
    return lines


def _base_lines(f: _Fmt, base, nats: float, value: float, what: str = "mean") -> list[str]:
    if base == "e":
        return []
    return [f"in {_unit(base)}: divide by ln {base} = {f(core.log_base(base))}: "
            f"{what} = {f(nats)} / {f(core.log_base(base))} = {f(value)} {_unit(base)}"]


def _perplexity_lines(f: _Fmt, mean_nats: float, ppl: float) -> list[str]:
    return [f"perplexity = exp(mean in nats) = exp({f(mean_nats)}) = {f(ppl)}",
            f"the branching factor: on average the model is as unsure as a fair choice among {f(ppl)} classes"
            + (" (the same number in every base)" if math.isfinite(ppl) else "")]


def _report_closing(f: _Fmt, report, n: int, shown: int, why: str, what: str = "rows") -> list[Step]:
    """The steps every per-sample loss ends with: the rows left out, the reduction, the result."""
    steps = []
    left = _left_out(n, shown, what)
    if left:
        steps.append(Step(f"the other {what}", left))
    steps.append(Step(f"reduction ({report.reduction})", _reduction_lines(
        f, report.per, reduction=report.reduction, total=report.sum, mean=report.mean,
        denominator=report.denominator, why=why, unit=_unit(report.base))))
    steps.append(_report_result(f, report))
    return steps


def _report_result(f: _Fmt, report, *, perplexity: bool = False) -> Step:
    rows = report.footer(f, perplexity=perplexity)
    lines = [f"{k} = {v}" for k, v in rows]
    if report.reduction == "none":
        lines.insert(0, f"per-sample values ({_unit(report.base)}): {f.vec(report.per)}")
    return Step("result", lines)


# -- softmax ---------------------------------------------------------------------------------------


def softmax(z_rows: np.ndarray, result_rows: np.ndarray, n: int, *, temperature: float = 1.0,
            log: bool = False, digits: int | None = None) -> Explanation:
    """``xent softmax``: shift, exponentials, their sum, division (and log-softmax with ``log``)."""
    f = _Fmt(digits)
    what = "log-softmax" if log else "softmax"
    steps = []
    for i, z in enumerate(z_rows):
        lines, _, _ = _softmax_lines(f, z, temperature, log=log)
        steps.append(Step(f"{_row_label(i)}: {what}", lines))
    symbol = "log p" if log else "p"
    result = [f"{_row_label(i)}: {symbol} = {f.vec(r)}" for i, r in enumerate(result_rows)]
    result += _left_out(n, len(z_rows))
    steps.append(Step(f"result: {what} of {n:,} row{'s' if n != 1 else ''}" + (f" (T = {f(temperature)})" if temperature != 1 else ""),
                      result))
    return Explanation(f"{what}, step by step", steps)


# -- ce --------------------------------------------------------------------------------------------


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
    f = _Fmt(digits, number)
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
            steps.append(Step(f"{_row_label(i)}: ignored", lines))
            continue
        if kind == "logits":
            sm, p, logq = _softmax_lines(f, rows[i], temperature, log=eps is None)
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
        symbolic, numeric = _terms(f, a, logq, p, log_text=log_text)
        lines.append(f"loss = {formula}")
        lines.append(f"     = {symbolic}")
        lines.append(f"     = {numeric}")
        lines.append(f"     = {f(per_nats[i])} nats")
        lines += _sample_weight_lines(f, sample_weights, i, per_nats[i], report)
        steps.append(Step(f"{_row_label(i)}: cross-entropy", lines))
    left = _left_out(len(report.per), len(rows), "samples")
    if left:
        steps.append(Step("the other samples", left))
    why = ("the sum of the target weights w_k of the samples not ignored" if weights is not None else
           "the number of samples not ignored") if index else (
        "the number of samples N" + (" (weights do not change it for distribution labels)" if weights is not None else ""))
    if sample_weights is not None:
        why = (("the sum of each sample weight times its target's weight w_k" if weights is not None else
                "the sum of the sample weights") + " of the samples not ignored") if index else \
            "the sum of the sample weights"
    unit = _unit(report.base)
    red = _reduction_lines(f, report.per, reduction=report.reduction, total=report.sum, mean=report.mean,
                           denominator=report.denominator, why=why, unit=unit)
    if index and ignore_index is not None:
        red.insert(0, "ignored samples add 0 to the sum and nothing to the denominator")
    steps.append(Step(f"reduction ({report.reduction})", red))
    steps.append(Step("perplexity", _perplexity_lines(f, report.mean * core.log_base(report.base), report.perplexity)))
    steps.append(_report_result(f, report, perplexity=True))
    return Explanation("cross-entropy, step by step", steps)


# -- grad ------------------------------------------------------------------------------------------

#: For each loss, the loss ``grad --explain`` puts beside it, on the same logits.
COUNTERPART = {("ce", None): ("mse", "softmax"), ("bce", None): ("mse", "sigmoid"),
               ("mse", "softmax"): ("ce", None), ("mse", "sigmoid"): ("bce", None)}


def _grad_lines(f: _Fmt, loss: str, through, z: np.ndarray, y: np.ndarray, *, temperature: float = 1.0,
                weights=None, label_smoothing: float = 0.0, pos_weight=None, class_mean: bool = False,
                half: bool = False, show_activation: bool = True) -> tuple[list[str], np.ndarray]:
    """One sample's gradient of its own loss, derived (from the core); (lines, gradient)."""
    lines = []
    c = len(z)
    if loss == "ce" or (loss == "mse" and through == "softmax"):
        sm, p, _ = _softmax_lines(f, z, temperature if loss == "ce" else 1.0)
        lines += sm if show_activation else [f"p = softmax(z) = {f.vec(p)}"]
    else:
        p = core.sigmoid(z)
        if show_activation:
            lines.append(f"logits z = {f.vec(z)}")
            lines.append(f"σ(z) = 1 / (1 + exp(-z)) = {f.vec(p)}  (each entry its own probability)")
    if loss == "ce":
        _, a = ce_coefficients(y, c, weights=weights, label_smoothing=label_smoothing)
        g = core.cross_entropy_grad(z[None], y[None], weights=weights, label_smoothing=label_smoothing,
                                    temperature=temperature)[0]
        if weights is None and not label_smoothing and temperature == 1.0 and abs(float(np.sum(a)) - 1) < 1e-12:
            lines.append("∂loss/∂z = p - y")
            lines.append("         = " + _pairs(f, p, a, "-"))
        else:
            lines.append(f"target coefficients a = {f.vec(a)}" + ("  (w·((1 - ε)·y + ε/C))" if label_smoothing else
                                                                  ("  (w·y)" if weights is not None else "")))
            lines.append(f"∂loss/∂z = (p·Σa - a) / T, Σa = {f(np.sum(a))}, T = {f(temperature)}")
        lines.append(f"         = {f.vec(g)}")
    elif loss == "bce":
        g = core.binary_cross_entropy_grad(z[None], y[None], pos_weight=pos_weight, class_mean=class_mean)[0]
        if pos_weight is None:
            lines.append("∂loss/∂z = σ(z) - y" + (" (/ C with --class-mean)" if class_mean else ""))
            lines.append("         = " + _pairs(f, p, y, "-") + (f" / {c}" if class_mean else ""))
        else:
            lines.append(f"∂loss/∂z = σ(z)·(pw·y + 1 - y) - pw·y, pw = {f.vec(pos_weight)}"
                         + (" (/ C with --class-mean)" if class_mean else ""))
            pw = np.broadcast_to(np.asarray(pos_weight, dtype=np.float64), y.shape)
            terms = [f"{f.factor(s)}·({f.factor(w)}·{f.factor(t)} + 1 - {f.factor(t)}) - {f.factor(w)}·{f.factor(t)}"
                     for s, w, t in zip(p[:MAX_ENTRIES], pw[:MAX_ENTRIES], y[:MAX_ENTRIES])]
            lines.append("         = [" + ", ".join(terms) + (", …" if c > MAX_ENTRIES else "") + "]"
                         + (f" / {c}" if class_mean else ""))
        lines.append(f"         = {f.vec(g)}")
    else:
        two = 1.0 if half else 2.0
        g = core.mse_grad_with_logits(z[None], y[None], through=through)[0] * (0.5 if half else 1.0)
        _, r = core.activation_residual(z[None], y[None], through)
        gy = two * r[0]
        lines.append(f"∂loss/∂ŷ = {'' if half else '2·'}(ŷ - y) = {f.vec(gy)}")
        if through == "sigmoid":
            d = p * core.sigmoid(-z)
            lines.append(f"σ'(z) = σ(z)·(1 - σ(z)) = {f.vec(d)}")
            lines.append(f"∂loss/∂z = {'' if half else '2·'}(σ(z) - y)·σ'(z)")
            lines.append("         = [" + ", ".join(f"{f.factor(a)}·{f.factor(b)}" for a, b in zip(gy[:MAX_ENTRIES],
                                                                                            d[:MAX_ENTRIES]))
                         + (", …" if c > MAX_ENTRIES else "") + "]")
        else:
            lines.append(f"through softmax: ∂loss/∂z = p ⊙ (g - Σ p·g) with g = ∂loss/∂ŷ, Σ p·g = {f(np.sum(p * gy))}")
        lines.append(f"         = {f.vec(g)}")
    return lines, g


def _pairs(f: _Fmt, a, b, op: str) -> str:
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    text = ", ".join(f"{f(x)} {op} {f(v)}" for x, v in zip(a[:MAX_ENTRIES], b[:MAX_ENTRIES]))
    return "[" + text + (", …" if len(a) > MAX_ENTRIES else "") + "]"


_LOSS_NAME = {"ce": "cross-entropy", "bce": "binary cross-entropy", "mse": "squared error"}


def _counterpart_ok(loss: str, y: np.ndarray) -> bool:
    """Whether the targets are valid for the loss compared against (MSE takes any numbers)."""
    if loss == "mse":
        return True
    if not np.all((y >= 0) & (y <= 1)):
        return False
    return loss == "bce" or abs(float(np.sum(y)) - 1.0) < 1e-6


def grad(rows: np.ndarray, targets: np.ndarray, n: int, grad_rows: np.ndarray, *, loss: str, through=None,
         reduction: str = "mean", denominator: float = 1.0, temperature: float = 1.0, weights=None,
         ignore_index=None, label_smoothing: float = 0.0, pos_weight=None, class_mean: bool = False,
         half: bool = False, ignored=None, sample_weights=None, digits: int | None = None, number=None,
         compare: bool = True) -> Explanation:
    """``xent grad``: ∂loss/∂z = ŷ - y (and the MSE forms), the sample weight, the reduction's scale,
    and, beside it, the gradient of the other loss on the same logits (CE or BCE against MSE).

    ``targets`` are the explained rows' targets as rows of the logits' shape (index labels one-hot);
    ``grad_rows`` the command's own gradient of those rows (after the reduction's scale);
    ``pos_weight`` one per class, or ``(rows, 1)``: one per explained sample of one output;
    ``sample_weights`` the explained rows' ``--sample-weights``.
    """
    f = _Fmt(digits, number)
    steps = []
    name = _LOSS_NAME[loss] + (f" through {through}" if through else "") + (" (½·Σ)" if half else "")
    other = COUNTERPART[(loss, through)] if compare else None
    for i in range(len(rows)):
        z, y = np.asarray(rows[i], dtype=np.float64), np.asarray(targets[i], dtype=np.float64)
        if ignored is not None and ignored[i]:
            steps.append(Step(f"{_row_label(i)}: ignored", [f"label = --ignore-index {ignore_index}: gradient 0",
                                                           f"result: {f.vec(grad_rows[i])}"]))
            continue
        lines = [f"y = {f.vec(y)}"]
        pw = pos_weight[i] if pos_weight is not None and np.ndim(pos_weight) == 2 else pos_weight
        more, g = _grad_lines(f, loss, through, z, y, temperature=temperature, weights=weights,
                              label_smoothing=label_smoothing, pos_weight=pw, class_mean=class_mean,
                              half=half)
        lines = more[:1] + lines + more[1:]
        if sample_weights is not None:
            lines.append(f"sample weight {f(sample_weights[i])}: {f(sample_weights[i])}·∂loss/∂z = "
                         f"{f.vec(sample_weights[i] * g)}")
        if reduction == "mean":
            lines.append(f"mean: divided by the denominator {f(denominator)} = {f.vec(grad_rows[i])}")
        else:
            lines.append(f"--reduction {reduction}: each sample's gradient of its own loss = {f.vec(grad_rows[i])}")
        steps.append(Step(f"{_row_label(i)}: the gradient of its {name}", lines))
        if other is not None:
            o_loss, o_through = other
            if not _counterpart_ok(o_loss, y):
                steps.append(Step(f"{_row_label(i)}: beside it", [
                    f"these targets are not valid for {_LOSS_NAME[o_loss]}: no comparison"]))
                continue
            o_lines, og = _grad_lines(f, o_loss, o_through, z, y, show_activation=False)
            o_name = _LOSS_NAME[o_loss] + (f" through {o_through}" if o_through else "")
            cmp = [f"the same logits under {o_name} (each sample's own loss, before any reduction):"]
            cmp += ["  " + line for line in o_lines]
            own = g if loss != "mse" else og
            sq = og if loss != "mse" else g
            ce_name = "CE" if (loss == "ce" or o_loss == "ce") else "BCE"
            cmp.append(f"side by side: {ce_name} {f.vec(own)}   MSE {f.vec(sq)}")
            if (loss == "bce" or o_loss == "bce") or (through == "sigmoid"):
                p = core.sigmoid(z)
                d = p * core.sigmoid(-z)
                if np.any((np.abs(p - y) > 0.5) & (d < 0.05)):
                    cmp.append(f"a saturated wrong prediction: σ'(z) = {f.vec(d)}, so MSE's gradient "
                               "2(σ(z) - y)·σ'(z) collapses")
                    cmp.append("while CE's stays σ(z) - y: MSE barely corrects a confident mistake, CE pushes at "
                               "full strength. That is why classifiers are trained with cross-entropy.")
            steps.append(Step(f"{_row_label(i)}: beside it, {o_name}", cmp))
    left = _left_out(n, len(rows))
    result = [f"{_row_label(i)}: {f.vec(grad_rows[i])}" for i in range(len(rows))] + left
    title = (f"result: ∂loss/∂z, {n:,} × {grad_rows.shape[1]:,}"
             + {"mean": f", divided by the mean's denominator {f(denominator)}", "sum": ", reduction sum",
                "none": ", reduction none"}[reduction])
    steps.append(Step(title, result))
    return Explanation(f"gradient of {name} with respect to the logits, step by step", steps)


# -- example ---------------------------------------------------------------------------------------


def example(y: np.ndarray, z: np.ndarray, exact: np.ndarray, naive: np.ndarray, grad_mean: np.ndarray, eps: float,
            cdm: tuple, *, number=None) -> Explanation:
    """``xent example --explain``: the whole worked example, as the document derives it.

    ``exact``, ``naive`` (the document's ``log(p + eps)``) and ``grad_mean`` are the example's
    own results; ``cdm`` is ``(names, label row, probability row, loss)`` of the cat/dog/man sample.
    Matrices print as the document prints them (``number``), means with every digit.
    """
    from .report import LossReport

    f = _Fmt(None, number)
    report = LossReport.of("ce", exact, base="e", reduction="mean")
    steps = [Step("the data", [f"labels y = {f.vec(y[0])}, {f.vec(y[1])}  (one-hot, then soft)",
                               f"logits z = {f.vec(z[0])}, {f.vec(z[1])}"])]
    for step in ce(z, y, len(y), exact, report, kind="logits", number=number).steps:
        if step.title.startswith("row"):
            steps.append(Step(step.title.replace("row", "sample"), step.lines))
        elif step.title.startswith("reduction"):
            steps.append(Step("the mean over the batch (TensorFlow's reduce_mean of "
                              "softmax_cross_entropy_with_logits)",
                              step.lines[:-1] + [f"mean = sum / denominator = {f(report.sum)} / 2 = {format_number(report.mean)} nats"
                                                 "  (every digit)"]))
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
        g_lines.append(f"sample {i + 1}: p - y = {_pairs(f, probs[i], y[i], '-')} = {f.vec(g)}")
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


# -- entropy ---------------------------------------------------------------------------------------


def entropy(rows: np.ndarray, n: int, per_nats: np.ndarray, report, *, kind: str, temperature: float = 1.0,
            digits: int | None = None) -> Explanation:
    """``xent entropy``: ``H(P) = -Σ p·log p`` term by term (``0·log 0 = 0``), the base, the reduction."""
    f = _Fmt(digits)
    steps = []
    for i in range(len(rows)):
        if kind == "logits":
            lines, p, logp = _softmax_lines(f, rows[i], temperature, log=True)
        else:
            p, logp = core.log_probs_of(probs=np.asarray(rows[i], dtype=np.float64))
            lines = [f"p = {f.vec(p)}", f"log p = {f.vec(logp)}"]
        symbolic, numeric = _terms(f, p, logp, p)
        lines += ["H(P) = -Σ p·log p", f"     = {symbolic}", f"     = {numeric}", f"     = {f(per_nats[i])} nats"]
        lines += _base_lines(f, report.base, per_nats[i], report.per[i], what="H(P)")
        steps.append(Step(f"{_row_label(i)}: entropy", lines))
    steps += _report_closing(f, report, n, len(rows), "the number of rows")
    return Explanation("entropy, step by step", steps)


# -- kl --------------------------------------------------------------------------------------------


def _distribution_lines(f: _Fmt, row: np.ndarray, kind: str, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One side of a divergence, briefly: (lines, p, log p) from the core (softmax of logits in log space)."""
    row = np.asarray(row, dtype=np.float64)
    if kind == "logits":
        p, logp = core.log_probs_of(logits=row[None])
        p, logp = p[0], logp[0]
        lines = [f"{name} from logits z_{name} = {f.vec(row)}: {name.lower()} = softmax(z_{name}) = {f.vec(p)}",
                 f"  log {name.lower()} = log-softmax(z_{name}) = {f.vec(logp)}"]
    else:
        p, logp = core.log_probs_of(probs=row[None])
        p, logp = p[0], logp[0]
        lines = [f"{name}: {name.lower()} = {f.vec(p)}", f"  log {name.lower()} = {f.vec(logp)}"]
    return lines, p, logp


def kl(p_rows: np.ndarray, q_rows: np.ndarray, n: int, columns: np.ndarray, report, *, p_kind: str, q_kind: str,
       digits: int | None = None) -> Explanation:
    """``xent kl``: ``KL = H(P,Q) - H(P)``, both sums term by term, and the KL summed exactly per term.

    ``columns`` are the command's own ``(KL, H(P,Q), H(P))`` in nats of the explained rows.
    """
    f = _Fmt(digits)
    steps = []
    for i in range(len(p_rows)):
        lines, p, logp = _distribution_lines(f, p_rows[i], p_kind, "P")
        q_lines, q, logq = _distribution_lines(f, q_rows[i], q_kind, "Q")
        lines += q_lines
        kl_nats, cross, ent = (float(v) for v in columns[i])
        symbolic, numeric = _terms(f, p, logq, q)
        lines += ["H(P,Q) = -Σ p·log q", f"       = {symbolic}", f"       = {numeric}", f"       = {f(cross)} nats"]
        symbolic, numeric = _terms(f, p, logp, p)
        lines += ["H(P) = -Σ p·log p", f"     = {symbolic}", f"     = {numeric}", f"     = {f(ent)} nats"]
        lines.append(f"KL(P‖Q) = H(P,Q) - H(P) = {f(cross)} - {f.factor(ent)}")
        terms = core.rel_entr(p, q)
        lines.append("the reported KL is not this difference (near P = Q it loses every digit) but the terms "
                     "p·(log p - log q) summed exactly (0 where p = 0, inf where q = 0 < p):")
        lines.append(f"KL(P‖Q) = {f.signed(terms)} = {f(kl_nats)} nats")
        lines += _base_lines(f, report.base, kl_nats, report.per[i], what="KL")
        steps.append(Step(f"{_row_label(i)}: KL(P‖Q) = H(P,Q) - H(P)", lines))
    steps += _report_closing(f, report, n, len(p_rows), "the number of rows")
    return Explanation("KL divergence, step by step", steps)


# -- bce -------------------------------------------------------------------------------------------


def bce(rows: np.ndarray, targets: np.ndarray, n: int, per_nats: np.ndarray, report, *, kind: str, pos_weight=None,
        class_mean: bool = False, names=None, sample_weights=None, digits: int | None = None) -> Explanation:
    """``xent bce``: per element ``-[y·log σ(z) + (1-y)·log(1-σ(z))]``, the sum (or ``--class-mean``)
    over classes, ``--pos-weight`` (one per class, or ``(rows, 1)``: one per explained sample of one
    output), sample weights, the reduction and its denominator.

    The element values come from the core's element-wise loss on the explained rows; each sample's
    loss (``per_nats``, before any sample weight), the reduction and the result are the command's own.
    """
    f = _Fmt(digits)
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
        lines += _sample_weight_lines(f, sample_weights, i, per_nats[i], report)
        steps.append(Step(f"{_row_label(i)}: binary cross-entropy", lines))
    why = ("the sum of the sample weights" if sample_weights is not None else "the number of samples N") + (
        "; each sample is already a mean over its C classes, so the mean is over all N·C entries "
        "(BCEWithLogitsLoss's mean)" if class_mean and sample_weights is None else "")
    steps += _report_closing(f, report, n, len(rows), why, "samples")
    return Explanation("binary cross-entropy, step by step", steps)


# -- ppl -------------------------------------------------------------------------------------------


def ppl(rows: np.ndarray, tokens: np.ndarray, n: int, per_nats: np.ndarray, report, *, kind: str = "logits",
        temperature: float = 1.0, ignore_index=None, digits: int | None = None) -> Explanation:
    """``xent ppl``: ``-log p(target)`` per token for the first rows, the mean CE over the counted
    tokens, and the perplexity ``e^mean`` as a branching factor.

    ``per_nats`` are the command's own per-token losses of the explained rows; ``report`` its
    :class:`~xentcli.report.LossReport` (every token; denominator = the counted tokens).
    """
    f = _Fmt(digits)
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
            lines += _base_lines(f, report.base, per_nats[i], report.per[i], what="CE")
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
        lines += _base_lines(f, report.base, per_nats[i], report.per[i], what="CE")
        steps.append(Step(f"token {i + 1}: -log p(target)", lines))
    left = _left_out(n, len(rows), "tokens")
    if left:
        steps.append(Step("the other tokens", left))
    unit = _unit(report.base)
    red = _reduction_lines(f, report.per, reduction="mean", total=report.sum, mean=report.mean,
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


# -- mse -------------------------------------------------------------------------------------------


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
    f = _Fmt(digits)
    steps = []
    for i in range(len(rows)):
        x = np.asarray(rows[i], dtype=np.float64)
        y = np.asarray(targets[i], dtype=np.float64)
        lines = []
        if through == "softmax":
            sm, _, _ = _softmax_lines(f, x, symbol="ŷ")
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
        steps.append(Step(f"{_row_label(i)}: squared error", lines))
    left = _left_out(n, len(rows), "samples")
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
    red = _reduction_lines(f, all_per, reduction=reduction, total=total, mean=mean, denominator=denominator,
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
