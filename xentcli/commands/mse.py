"""``xent mse``: mean squared error of predictions, or of logits through softmax or a sigmoid."""

from __future__ import annotations

import click

from .. import core, options
from ..core.reductions import weighted
from ..errors import CallError
from ..inputs import Predictions, check_stdin, class_names, load_sample_weights
from ..output import Result, emit
from ._common import load_mse_predictions, load_targets, shown_predictions, warn_infinite, warn_zero_denominator


def check_mse_call(preds: str | None, logits: str | None, through: str | None) -> None:
    """The wrong calls of ``--preds`` / ``--logits`` / ``--through`` (exit 2)."""
    if preds is not None and logits is not None:
        raise CallError("give either --preds or --logits (with --through), not both")
    if preds is not None and through is not None:
        raise CallError("--through puts --logits through an activation; --preds are predictions already")
    if logits is not None and through is None:
        raise CallError("--logits needs --through softmax or --through sigmoid: the activation that makes "
                        "predictions of them (or give the predictions as --preds)")
    if preds is None and logits is None:
        raise CallError("missing --preds (or --logits with --through softmax|sigmoid)")


def per_sample_squared_error(pred: Predictions, through: str | None):
    """``(rows, targets) -> per-sample Σ (ŷ - y)²`` for :meth:`Predictions.map`."""
    if through is not None:
        return lambda z, t: core.mse_with_logits(z, t, through=through)

    def squared_error(x, t):
        core.check_finite(x, "prediction")  # a RowError here is located in --preds by the engine
        return core.mean_squared_error(x, t)

    return squared_error


def _no_base(ctx, param, value):
    if value is not None:
        raise CallError("--base does not apply to mse: a squared error has no log base")


@click.command(epilog=options.examples(
    'xent mse --labels "1,0,0;0,1,0" --preds "0.7,0.2,0.1;0.1,0.8,0.1" --sample-weights 2,1',
    'xent mse --labels 0,2 --logits "2,1,0;0,1,3" --through softmax --reduction none',
    'xent mse --labels "1;0" --logits "5;5" --through sigmoid --half --format json',
))
@click.option("--preds", metavar="MATRIX", shell_complete=options.complete_path,
              help="Predictions N×C (probabilities, or any real numbers), compared with --labels as they are.")
@options.logits_option
@click.option("--through", type=click.Choice(core.ACTIVATIONS),
              help="With --logits: the activation that makes the predictions, softmax (per row) or sigmoid "
                   "(per entry).")
@options.classes_option
@options.labels("Targets of the predictions' shape (one-hot, soft, multi-hot or any finite numbers), "
                "or N class indices, each standing for its one-hot row.")
@options.reduction_option("How to combine the squared errors: mean (the sum over every entry divided by N·C, "
                          "torch.nn.MSELoss's mean), sum, or none (one value per sample, summed over classes).")
@click.option("--half", is_flag=True,
              help="The document's ½·(1/m)·Σ: every value halved, and mean divides by the m samples, not N·C "
                   "(the same as half of MSELoss's mean only with one output per sample).")
@options.sample_weights_option
@click.option("--base", hidden=True, expose_value=False, callback=_no_base)
@options.scheduler_option
@options.output_spec
@options.explain_options
@options.input_header_option
@options.reading
@options.debug_option
def mse(preds, logits, through, classes, labels, reduction, half, sample_weights, output, explain, explain_rows,
        reading):
    """Mean squared error of --preds (or of --logits through softmax or sigmoid) against --labels.

    Per sample Σ_c (ŷ_c - y_c)², summed over classes; --reduction mean
    divides the sum by every entry, N·C, exactly as torch.nn.MSELoss does.
    Class-index labels stand for their one-hot rows; a 1-D input of length N
    is N samples of one output. With --sample-weights W, mean is
    Σ w·Σ(ŷ - y)² / (Σw·C), scikit-learn's weighted mean_squared_error.
    """
    check_mse_call(preds, logits, through)
    check_stdin(preds=preds, logits=logits, labels=labels, sample_weights=sample_weights)
    pred = load_mse_predictions(preds, logits, through, reading=reading)
    y, label_matrix = load_targets(labels, pred, classes, reading=reading)
    sw = load_sample_weights(sample_weights, pred, reading=reading)
    names = class_names(classes, pred.num_classes, pred.matrix, label_matrix)
    factor = 0.5 if half else 1.0
    per = pred.map(per_sample_squared_error(pred, through), y) * factor
    warn_infinite(per, pred.matrix, "the squared error overflows float64")
    n = len(per)
    counted = n if sw is None else float(sw.sum())
    if sw is not None:
        per = weighted(per, sw)
    denominator = core.mse_denominator(counted, pred.num_classes, half=half)
    warn_zero_denominator(denominator)
    why = ("m samples" if sw is None else "Σw") if half else ("N·C entries" if sw is None else "Σw·C")
    mean, total = core.reduce(per, "mean", denominator=denominator), core.reduce(per, "sum")
    doc = {"command": "mse", "n": n, "reduction": reduction, "half": half, "mean": mean, "sum": total,
           "denominator": denominator}
    if reduction == "none":
        doc["per_sample"] = per
    value = {"mean": mean, "sum": total, "none": per}[reduction]

    view = None
    if output.draws_table(explain):
        from ..views import LossView, shown_rows  # imported only when a table is drawn
        ids = shown_rows(n)
        shown = "sum" if reduction == "sum" else "mean"
        footer = [("reduction", reduction), ("denominator", (denominator, f" ({why})")),
                  (shown, total if shown == "sum" else mean)]
        if half:
            footer.append(("half", "every value × ½, mean over samples"))
        title = ("½·" if half else "") + "squared error Σ(ŷ - y)²" + (f" (through {through})" if through else "")
        view = LossView(title, names, ids, n, labels=y[ids], probs=shown_predictions(pred, ids, through),
                        losses=per[ids],
                        loss_header=("w·" if sw is not None else "") + ("½·Σ(ŷ - y)²" if half else "Σ(ŷ - y)²"),
                        footer=footer)

    def explanation(digits):
        from .. import explain as ex

        ids = ex.explained_rows(n, explain_rows)
        target = y[ids]
        if target.ndim == 1:  # class indices: their one-hot rows, as (ŷ - y) uses them
            target = core.one_hot(target, pred.num_classes)
        return ex.mse(pred.rows(ids), target, n, per[ids], through=through, half=half, reduction=reduction,
                      mean=mean, total=total, denominator=denominator, all_per=per,
                      sample_weights=None if sw is None else sw[ids], weight_sum=counted, digits=digits)

    emit(Result(value, doc, ["loss" if reduction == "none" else reduction], view,
                explanation=explanation if explain else None), output)
