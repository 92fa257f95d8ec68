"""The explanation of ``xent grad``: the gradient with respect to the logits, beside the other loss's."""

from __future__ import annotations

import numpy as np

from .. import core
from .losses import ce_coefficients
from .text import MAX_ENTRIES, Explanation, Fmt, Step, left_out, pairs, row_label, softmax_lines

__all__ = ["COUNTERPART", "grad"]

#: For each loss, the loss ``grad --explain`` puts beside it, on the same logits.
COUNTERPART = {("ce", None): ("mse", "softmax"), ("bce", None): ("mse", "sigmoid"),
               ("mse", "softmax"): ("ce", None), ("mse", "sigmoid"): ("bce", None)}


def _grad_lines(f: Fmt, loss: str, through, z: np.ndarray, y: np.ndarray, *, temperature: float = 1.0,
                weights=None, label_smoothing: float = 0.0, pos_weight=None, class_mean: bool = False,
                half: bool = False, show_activation: bool = True) -> tuple[list[str], np.ndarray]:
    """One sample's gradient of its own loss, derived (from the core); (lines, gradient)."""
    lines = []
    c = len(z)
    if loss == "ce" or (loss == "mse" and through == "softmax"):
        sm, p, _ = softmax_lines(f, z, temperature if loss == "ce" else 1.0)
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
            lines.append("         = " + pairs(f, p, a, "-"))
        else:
            lines.append(f"target coefficients a = {f.vec(a)}" + ("  (w·((1 - ε)·y + ε/C))" if label_smoothing else
                                                                  ("  (w·y)" if weights is not None else "")))
            lines.append(f"∂loss/∂z = (p·Σa - a) / T, Σa = {f(np.sum(a))}, T = {f(temperature)}")
        lines.append(f"         = {f.vec(g)}")
    elif loss == "bce":
        g = core.binary_cross_entropy_grad(z[None], y[None], pos_weight=pos_weight, class_mean=class_mean)[0]
        if pos_weight is None:
            lines.append("∂loss/∂z = σ(z) - y" + (" (/ C with --class-mean)" if class_mean else ""))
            lines.append("         = " + pairs(f, p, y, "-") + (f" / {c}" if class_mean else ""))
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
    f = Fmt(digits, number)
    steps = []
    name = _LOSS_NAME[loss] + (f" through {through}" if through else "") + (" (½·Σ)" if half else "")
    other = COUNTERPART[(loss, through)] if compare else None
    for i in range(len(rows)):
        z, y = np.asarray(rows[i], dtype=np.float64), np.asarray(targets[i], dtype=np.float64)
        if ignored is not None and ignored[i]:
            steps.append(Step(f"{row_label(i)}: ignored", [f"label = --ignore-index {ignore_index}: gradient 0",
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
        steps.append(Step(f"{row_label(i)}: the gradient of its {name}", lines))
        if other is not None:
            o_loss, o_through = other
            if not _counterpart_ok(o_loss, y):
                steps.append(Step(f"{row_label(i)}: beside it", [
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
            steps.append(Step(f"{row_label(i)}: beside it, {o_name}", cmp))
    left = left_out(n, len(rows))
    result = [f"{row_label(i)}: {f.vec(grad_rows[i])}" for i in range(len(rows))] + left
    title = (f"result: ∂loss/∂z, {n:,} × {grad_rows.shape[1]:,}"
             + {"mean": f", divided by the mean's denominator {f(denominator)}", "sum": ", reduction sum",
                "none": ", reduction none"}[reduction])
    steps.append(Step(title, result))
    return Explanation(f"gradient of {name} with respect to the logits, step by step", steps)
