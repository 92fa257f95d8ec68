"""``xent bce``: binary / multi-label cross-entropy, each entry its own probability."""

from __future__ import annotations

import click

from .. import core, options
from ..inputs import check_stdin, class_names, load_labels, load_pos_weight, load_predictions, load_sample_weights
from ..output import Result, emit
from ..report import base_label
from ._common import probabilities, warn_infinite, weighted_report


@click.command(epilog=options.examples(
    'xent bce --labels "1,0,1;0,1,0" --logits "2,-1,0.5;-3,4,0"',
    'xent bce --labels targets.csv --probs probs.csv --class-mean --format json',
    'xent bce --labels y.npy --probs p.npy --sample-weights w.npy',
))
@options.compose(options.logits_option, options.probs_option, options.classes_option)
@options.labels("Targets of the predictions' shape, each in [0, 1] (one-hot, multi-hot or soft).")
@options.bce_options
@options.sample_weights_option
@options.reduction_options("per-sample losses", "N, or the sum of the sample weights")
@options.scheduler_option
@options.output_spec
@options.explain_options
@options.input_header_option
@options.reading
@options.debug_option
def bce(logits, probs, classes, labels, pos_weight, class_mean, sample_weights, reduction, base, output, explain,
        explain_rows, reading):
    """Binary / multi-label cross-entropy: each entry its own probability.

    Per sample it sums -[y·log σ(z) + (1-y)·log(1-σ(z))] over classes (the
    document's formula); --class-mean averages instead, so --reduction mean
    then equals PyTorch's BCEWithLogitsLoss(reduction='mean'). A 1-D input of
    length N is N samples of one output, as scikit-learn's log_loss(y, p) reads
    it; one sample of several outputs is one row ("[[1,0,1]]").
    """
    check_stdin(logits=logits, probs=probs, labels=labels, pos_weight=pos_weight, sample_weights=sample_weights)
    pred = load_predictions(logits, probs, normalized=False, binary=True, one_output=True, reading=reading)
    y, label_matrix = load_labels(labels, pred, kind="bce", reading=reading)
    pw = load_pos_weight(pos_weight, pred, reading=reading)
    sw = load_sample_weights(sample_weights, pred, reading=reading)
    names = class_names(classes, pred.num_classes, pred.matrix, label_matrix)
    elementwise = core.binary_cross_entropy_with_logits if pred.kind == "logits" else core.binary_cross_entropy
    if pw is not None and pw.ndim == 2:  # one per sample: sliced with the rows
        per = pred.map(lambda x, t, w: core.per_sample(elementwise(x, t, pos_weight=w), class_mean=class_mean), y, pw)
    else:
        per = pred.map(lambda x, t: core.per_sample(elementwise(x, t, pos_weight=pw), class_mean=class_mean), y)
    warn_infinite(per, label_matrix, "a target needs a probability of 0 or 1 that the prediction rules out")
    report = weighted_report("bce", per, sw, base=base, reduction=reduction)

    view = None
    if output.draws_table(explain):
        from ..views import LossView, shown_rows  # imported only when a table is drawn
        ids = shown_rows(len(per))
        title = "binary cross-entropy" + (" (mean over classes)" if class_mean else " (sum over classes)")
        view = LossView(title, names, ids, len(per), labels=y[ids], probs=probabilities(pred, ids, binary=True),
                        losses=report.per[ids], footer=report.footer(),
                        loss_header=("w·" if sw is not None else "") + f"loss ({base_label(base)})")

    def explanation(digits):
        from .. import explain as ex

        ids = ex.explained_rows(len(per), explain_rows)
        return ex.bce(pred.rows(ids), y[ids], len(per), per[ids], report, kind=pred.kind,
                      pos_weight=pw if pw is None or pw.ndim == 1 else pw[ids], class_mean=class_mean, names=names,
                      sample_weights=sw, digits=digits)

    emit(Result(report.value, report.json(), report.header, view, explanation=explanation if explain else None), output)
