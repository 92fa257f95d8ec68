"""``xent grad``: the gradient of ce, bce or mse with respect to the logits, optionally checked
against central finite differences."""

from __future__ import annotations

import click
import numpy as np

from .. import core, kernels, options
from ..errors import CallError
from ..inputs import (
    check_stdin,
    class_names,
    load_labels,
    load_pos_weight,
    load_predictions,
    load_sample_weights,
    load_weights,
)
from ..output import Result, emit
from ..printable import warning
from ._common import load_mse_predictions, load_targets, probabilities, shown_predictions

# grad --check differentiates every entry: 2C evaluations of N rows. Past this many
# row-evaluations it checks the first rows only, and says so.
GRADCHECK_BUDGET = 20_000_000


@click.command(epilog=options.examples(
    'xent grad --labels "1,0,0;0,0.8,0.2" --logits "4,2,1;0,5,1" --reduction mean',
    'xent grad --loss bce --labels "1,0" --logits "2,-1" --sample-weights "2,1" --check',
    'xent grad --loss mse --through sigmoid --labels 0 --logits 5 --format json',
))
@click.option("--loss", type=click.Choice(["ce", "bce", "mse"]), default="ce", show_default=True,
              help="Which loss to differentiate.")
@options.compose(options.logits_option, options.temperature_option, options.classes_option)
@options.labels("Labels: for ce, distributions of the logits' shape or N class indices; for bce, targets in [0, 1]; "
                "for mse, targets of the logits' shape or N class indices (one-hot rows).")
@options.compose(options.weights_option, options.ignore_index_option, options.smoothing_option)
@options.bce_options
@click.option("--through", type=click.Choice(core.ACTIVATIONS),
              help="For --loss mse: the activation between the logits and the squared error, softmax or sigmoid.")
@click.option("--half", is_flag=True, help="For --loss mse: the document's ½·(1/m)·Σ (halves the gradient; mean "
                                           "divides by the m samples, not N·C).")
@options.sample_weights_option
@options.reduction_option("The loss's reduction: mean divides each sample's gradient by the mean's "
                          "denominator; sum and none give each sample's gradient of its own loss.")
@click.option("--check", is_flag=True, help="Compare with central finite differences; report the max abs difference.")
@options.scheduler_option
@options.output_spec
@options.explain_options
@options.input_header_option
@options.reading
@options.debug_option
def grad(loss, logits, temperature, classes, labels, weights, ignore_index, label_smoothing,
         pos_weight, class_mean, through, half, sample_weights, reduction, check, output, explain, explain_rows,
         reading):
    """Gradient of the loss with respect to --logits: softmax - labels for CE, σ(z) - y for BCE.

    CE: (softmax - smoothed labels), with class weights, divided by T; BCE:
    σ(z)·(pw·y + 1 - y) - pw·y; MSE through a sigmoid: 2(σ(z) - y)·σ(z)(1 - σ(z)),
    through softmax: p ⊙ (g - Σ p·g) with g = 2(p - y) (mean divides by N·C).
    Exactly what PyTorch autograd gives for the same reduction. With
    --sample-weights each sample's gradient is multiplied by its weight (the
    mean's denominator then counts the weights). For bce and mse a 1-D input
    of length N is N samples of one output.
    """
    check_stdin(logits=logits, labels=labels, weights=weights, pos_weight=pos_weight, sample_weights=sample_weights)
    used = {"--weights": weights is not None, "--ignore-index": ignore_index is not None,
            "--label-smoothing": label_smoothing != 0, "--temperature": temperature != 1.0,
            "--pos-weight": pos_weight is not None, "--class-mean": class_mean,
            "--through": through is not None, "--half": half}
    applies = {"ce": ("--weights", "--ignore-index", "--label-smoothing", "--temperature"),
               "bce": ("--pos-weight", "--class-mean"), "mse": ("--through", "--half")}[loss]
    wrong = [opt for opt, on in used.items() if on and opt not in applies]
    reading = reading.without(opt for opt in used if opt not in applies)  # hints name none of them
    if wrong:
        raise CallError(f"{', '.join(wrong)} do{'es' if len(wrong) == 1 else ''} not apply to --loss {loss}")
    if loss == "mse" and through is None:
        raise CallError("--loss mse differentiates with respect to the logits: give --through softmax or "
                        "--through sigmoid, the activation between them and the squared error")
    if loss == "mse":
        pred = load_mse_predictions(None, logits, through, preds_option=None, reading=reading)
        y, label_matrix = load_targets(labels, pred, classes, reading=reading)
    else:
        pred = load_predictions(logits, None, temperature=temperature, allow_probs=False,
                                normalized=loss == "ce", binary=loss == "bce", options=("--logits", None),
                                one_output=loss == "bce", reading=reading)
        y, label_matrix = load_labels(labels, pred, kind=loss, ignore_index=ignore_index, classes=classes,
                                      reading=reading)
    names = class_names(classes, pred.num_classes, pred.matrix, label_matrix)
    n = len(pred)
    sw = load_sample_weights(sample_weights, pred, reading=reading)
    counted = n if sw is None else float(sw.sum())  # the samples, or the sum of their weights
    pw = load_pos_weight(pos_weight, pred, reading=reading) if loss == "bce" else None
    per_sample_pw = pw is not None and pw.ndim == 2  # one --pos-weight per sample of one output
    # Row-aligned inputs beyond the labels, sliced with the logits' rows: that --pos-weight, the sample weights.
    extra = ([pw] if per_sample_pw else []) + ([sw[:, None]] if sw is not None else [])
    if loss == "mse":
        factor = 0.5 if half else 1.0  # the ½·Σ convention halves the loss and its gradient
        denominator = core.mse_denominator(counted, pred.num_classes, half=half)

        def gradient(z, t):
            g = core.mse_grad_with_logits(z, t, through=through)
            return g * factor if half else g

        def per_row_loss(z, t):
            return core.mse_with_logits(z, t, through=through) * factor
    elif loss == "ce":
        w = load_weights(weights, pred.num_classes, reading=reading)
        settings = dict(weights=w, ignore_index=ignore_index, label_smoothing=label_smoothing, temperature=temperature)
        denominator = core.cross_entropy_denominator(y, weights=w, ignore_index=ignore_index, sample_weights=sw)

        def gradient(z, t):
            return kernels.cross_entropy_grad(z, t, **settings)

        def per_row_loss(z, t):
            return kernels.cross_entropy(z, t, **settings)
    else:
        denominator = float(counted)

        def gradient(z, t, rows_pw=pw):
            return core.binary_cross_entropy_grad(z, t, pos_weight=rows_pw, class_mean=class_mean)

        def per_row_loss(z, t, rows_pw=pw):
            return core.per_sample(core.binary_cross_entropy_with_logits(z, t, pos_weight=rows_pw),
                                   class_mean=class_mean)
    scale = 1.0 / denominator if reduction == "mean" and denominator != 0 else 1.0

    def scaled(z, t, *rest):
        """The gradient of a block of rows (``rest``: their rows of ``extra``), sample-weighted and scaled."""
        g = gradient(z, t, rest[0]) if per_sample_pw else gradient(z, t)
        return (g if sw is None else g * rest[-1]) * scale

    def rows_gradient(ids):
        """The gradient of a few rows, for the check and the table (the output streams)."""
        return scaled(pred.rows(ids), y[ids], *(e[ids] for e in extra))

    g = pred.stream(scaled, y, *extra)
    doc = {"command": "grad", "shape": list(g.array_shape), "loss": loss}
    if loss == "mse":
        doc.update(through=through, half=half)
    doc.update(reduction=reduction, grad=g)
    checked_rows = n
    if check:
        checked_rows = max(1, min(n, GRADCHECK_BUDGET // (2 * pred.num_classes * pred.num_classes)))
        first = np.arange(checked_rows)
        z = pred.rows(slice(0, checked_rows))
        row_pw = [pw[first]] if per_sample_pw else []
        row_sw = 1.0 if sw is None else sw[first]
        numeric = core.central_differences(lambda zz: per_row_loss(zz, y[first], *row_pw) * row_sw, z) * scale
        diff = float(np.max(np.abs(numeric - rows_gradient(first))))
        doc["max_abs_diff"] = diff
        if checked_rows < n:
            warning(f"--check compared the first {checked_rows:,} of {n:,} rows (finite differences cost 2C passes)")
        if not diff <= 1e-6:
            warning(f"the analytic gradient and central differences differ by {diff:.3g}")

    if check and output.format not in ("table", "json"):
        # csv/tsv/npy carry only the matrix; the check's result goes beside it.
        click.echo(f"max_abs_diff: {doc['max_abs_diff']!r}", err=True)
    view = None
    if output.draws_table(explain):
        from ..views import DerivationView, shown_rows  # imported only when a table is drawn
        g.drain()
        ids = shown_rows(n)
        if loss == "mse":
            predicted = shown_predictions(pred, ids, through)
        else:
            predicted = probabilities(pred, ids, temperature, binary=loss == "bce")
        target = y[ids]
        if target.ndim == 1:  # class indices: show them one-hot, as the derivation ŷ - y does
            target = np.where(target[:, None] == np.arange(pred.num_classes), 1.0, 0.0)
        two = "" if half else "2"
        formula = {
            "ce": "(softmax - y)", "bce": "(σ(z) - y)",
            "mse": f"{two}(σ(z) - y)·σ(z)(1 - σ(z))" if through == "sigmoid" else f"J_softmaxᵀ·{two}(softmax - y)",
        }[loss]
        title = (f"∂loss/∂logits = {formula}",) + {
            "mean": (" / ", denominator), "sum": (), "none": (" (each sample's own loss)",)}[reduction]
        footer = [("loss", loss if loss != "mse" else "mse" + (" (½·Σ)" if half else "") + f" through {through}"),
                  ("reduction", reduction)]
        if reduction == "mean":
            footer.append(("denominator", denominator))
        if check:
            footer.append(("max |analytic - numeric|", f"{doc['max_abs_diff']:.3g} (central differences"
                           + (f", first {checked_rows:,} rows)" if checked_rows < n else ")")))
        view = DerivationView(title, names, ids, n, predicted, target, rows_gradient(ids),
                              "σ(z)" if loss == "bce" or through == "sigmoid" else "softmax", footer)

    def explanation(digits):
        from .. import explain as ex

        ids = ex.explained_rows(n, explain_rows)
        target = y[ids]
        ignored = None
        if target.ndim == 1:  # class indices: their one-hot rows, as the derivation ŷ - y uses them
            ignored = (target == ignore_index) if ignore_index is not None else None
            target = np.where(target[:, None] == np.arange(pred.num_classes), 1.0, 0.0)
        return ex.grad(pred.rows(ids), target, n, rows_gradient(ids), loss=loss, through=through, reduction=reduction,
                       denominator=denominator, temperature=temperature, weights=w if loss == "ce" else None,
                       ignore_index=ignore_index, label_smoothing=label_smoothing,
                       pos_weight=pw[ids] if per_sample_pw else pw, class_mean=class_mean, half=half,
                       ignored=ignored, sample_weights=None if sw is None else sw[ids],
                       digits=digits)

    emit(Result(g, doc, names, view, explanation=explanation if explain else None), output)
