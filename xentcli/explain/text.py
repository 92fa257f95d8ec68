"""The text of an explanation and the pieces every builder shares.

An :class:`Explanation` is a title and a list of :class:`Step`, each a title and lines of text.
:class:`Fmt` writes numbers as the tables do; the rest are the derivation lines more than one
family prints: a softmax, a sum of ``coefficient·log q`` terms, a reduction with its denominator,
a sample weight, a change of base, the perplexity, the closing result.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .. import core
from ..numbers import TABLE_DIGITS, format_number

__all__ = ["MAX_ENTRIES", "Step", "Explanation", "Fmt", "explained_rows", "left_out", "unit_of",
           "row_label", "softmax_lines", "log_terms", "reduction_lines", "sample_weight_lines", "base_lines",
           "perplexity_lines", "report_closing", "report_result", "pairs"]

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


class Fmt:
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


def left_out(n: int, shown: int, what: str = "rows") -> list[str]:
    """The line saying how many of ``n`` were not explained (none when all ``shown``)."""
    if n <= shown:
        return []
    if n - shown == 1:
        what = what[:-1]
    return [f"{n - shown:,} more {what} not explained (--explain-rows N explains more; the result covers all {n:,})"]


def unit_of(base) -> str:
    """The unit of a ``--base``: nats, bits, bans, or ``base b``."""
    return {"e": "nats", 2: "bits", 10: "bans"}.get(base, f"base {base}")


def row_label(i: int) -> str:
    """A row's name in a step's title: counted from 1."""
    return f"row {i + 1}"


def softmax_lines(f: Fmt, z: np.ndarray, temperature: float = 1.0, *, log: bool = False,
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


def log_terms(f: Fmt, coef: np.ndarray, logq: np.ndarray, q: np.ndarray | None, *, qname: str = "p",
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


def reduction_lines(f: Fmt, per: np.ndarray, *, reduction: str, total: float, mean: float, denominator: float,
                     why: str, unit: str) -> list[str]:
    """The sum, the denominator and ``why`` it is that, the mean (``--reduction none``: the values themselves)."""
    n = len(per)
    lines = [f"sum = {f.plus(per)} = {f(total)} {unit}" if n > 1 else f"sum = {f(total)} {unit} (one sample)"]
    lines.append(f"denominator = {f(denominator)}: {why}")
    lines.append(f"mean = sum / denominator = {f(total)} / {f(denominator)} = {f(mean)} {unit}")
    if reduction == "none":
        lines.append(f"--reduction none: the result is the {n:,} per-sample values themselves")
    return lines


def sample_weight_lines(f: Fmt, sample_weights, i: int, nats: float, report) -> list[str]:
    """A sample's ``--sample-weights`` weight applied to its loss, then the base conversion."""
    lines = []
    if sample_weights is not None:
        s = float(sample_weights[i])
        nats = float(core.reductions.weighted(nats, s))
        lines.append(f"sample weight {f(s)}: {f(s)}·loss = {f(nats)} nats")
    if report.base != "e":
        what = "weighted loss" if sample_weights is not None else "loss"
        lines += base_lines(f, report.base, nats, report.per[i], what=what)
    return lines


def base_lines(f: Fmt, base, nats: float, value: float, what: str = "mean") -> list[str]:
    """``nats`` divided by ``ln base`` into ``value``; nothing for base e."""
    if base == "e":
        return []
    return [f"in {unit_of(base)}: divide by ln {base} = {f(core.log_base(base))}: "
            f"{what} = {f(nats)} / {f(core.log_base(base))} = {f(value)} {unit_of(base)}"]


def perplexity_lines(f: Fmt, mean_nats: float, ppl: float) -> list[str]:
    """``exp(mean in nats)``, read as a branching factor."""
    return [f"perplexity = exp(mean in nats) = exp({f(mean_nats)}) = {f(ppl)}",
            f"the branching factor: on average the model is as unsure as a fair choice among {f(ppl)} classes"
            + (" (the same number in every base)" if math.isfinite(ppl) else "")]


def report_closing(f: Fmt, report, n: int, shown: int, why: str, what: str = "rows") -> list[Step]:
    """The steps every per-sample loss ends with: the rows left out, the reduction, the result."""
    steps = []
    left = left_out(n, shown, what)
    if left:
        steps.append(Step(f"the other {what}", left))
    steps.append(Step(f"reduction ({report.reduction})", reduction_lines(
        f, report.per, reduction=report.reduction, total=report.sum, mean=report.mean,
        denominator=report.denominator, why=why, unit=unit_of(report.base))))
    steps.append(report_result(f, report))
    return steps


def report_result(f: Fmt, report, *, perplexity: bool = False) -> Step:
    """The result step: the report's own footer rows (and every per-sample value with ``--reduction none``)."""
    rows = report.footer(f, perplexity=perplexity)
    lines = [f"{k} = {v}" for k, v in rows]
    if report.reduction == "none":
        lines.insert(0, f"per-sample values ({unit_of(report.base)}): {f.vec(report.per)}")
    return Step("result", lines)


def pairs(f: Fmt, a, b, op: str) -> str:
    """``[a0 op b0, a1 op b1, …]``, written out to :data:`MAX_ENTRIES`."""
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    text = ", ".join(f"{f(x)} {op} {f(v)}" for x, v in zip(a[:MAX_ENTRIES], b[:MAX_ENTRIES]))
    return "[" + text + (", …" if len(a) > MAX_ENTRIES else "") + "]"
