"""The explanations of ``xent entropy`` and ``xent kl``: sums of ``p·log q`` term by term."""

from __future__ import annotations

import numpy as np

from .. import core
from .text import Explanation, Fmt, Step, base_lines, log_terms, report_closing, row_label, softmax_lines

__all__ = ["entropy", "kl"]


def entropy(rows: np.ndarray, n: int, per_nats: np.ndarray, report, *, kind: str, temperature: float = 1.0,
            digits: int | None = None) -> Explanation:
    """``xent entropy``: ``H(P) = -Σ p·log p`` term by term (``0·log 0 = 0``), the base, the reduction."""
    f = Fmt(digits)
    steps = []
    for i in range(len(rows)):
        if kind == "logits":
            lines, p, logp = softmax_lines(f, rows[i], temperature, log=True)
        else:
            p, logp = core.log_probs_of(probs=np.asarray(rows[i], dtype=np.float64))
            lines = [f"p = {f.vec(p)}", f"log p = {f.vec(logp)}"]
        symbolic, numeric = log_terms(f, p, logp, p)
        lines += ["H(P) = -Σ p·log p", f"     = {symbolic}", f"     = {numeric}", f"     = {f(per_nats[i])} nats"]
        lines += base_lines(f, report.base, per_nats[i], report.per[i], what="H(P)")
        steps.append(Step(f"{row_label(i)}: entropy", lines))
    steps += report_closing(f, report, n, len(rows), "the number of rows")
    return Explanation("entropy, step by step", steps)


def _distribution_lines(f: Fmt, row: np.ndarray, kind: str, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
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
    f = Fmt(digits)
    steps = []
    for i in range(len(p_rows)):
        lines, p, logp = _distribution_lines(f, p_rows[i], p_kind, "P")
        q_lines, q, logq = _distribution_lines(f, q_rows[i], q_kind, "Q")
        lines += q_lines
        kl_nats, cross, ent = (float(v) for v in columns[i])
        symbolic, numeric = log_terms(f, p, logq, q)
        lines += ["H(P,Q) = -Σ p·log q", f"       = {symbolic}", f"       = {numeric}", f"       = {f(cross)} nats"]
        symbolic, numeric = log_terms(f, p, logp, p)
        lines += ["H(P) = -Σ p·log p", f"     = {symbolic}", f"     = {numeric}", f"     = {f(ent)} nats"]
        lines.append(f"KL(P‖Q) = H(P,Q) - H(P) = {f(cross)} - {f.factor(ent)}")
        terms = core.rel_entr(p, q)
        lines.append("the reported KL is not this difference (near P = Q it loses every digit) but the terms "
                     "p·(log p - log q) summed exactly (0 where p = 0, inf where q = 0 < p):")
        lines.append(f"KL(P‖Q) = {f.signed(terms)} = {f(kl_nats)} nats")
        lines += base_lines(f, report.base, kl_nats, report.per[i], what="KL")
        steps.append(Step(f"{row_label(i)}: KL(P‖Q) = H(P,Q) - H(P)", lines))
    steps += report_closing(f, report, n, len(p_rows), "the number of rows")
    return Explanation("KL divergence, step by step", steps)
