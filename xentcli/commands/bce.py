"""``xent bce``: binary / multi-label cross-entropy, each entry its own probability."""

from __future__ import annotations

import click

from .. import core, options
from ..inputs import check_stdin, class_names, load_labels, load_predictions, load_weights
from ..output import Result, emit
from ..report import LossReport, base_label
from ..views import shown_rows
from ._common import probabilities, warn_infinite


@click.command(epilog=options.examples(
    'xent bce --labels "1,0,1;0,1,0" --logits "2,-1,0.5;-3,4,0"',
    'xent bce --labels targets.csv --probs probs.csv --class-mean --format json',
))
@options.compose(options.logits_option, options.probs_option, options.classes_option)
@options.labels("Targets of the predictions' shape, each in [0, 1] (one-hot, multi-hot or soft).")
@options.bce_options
@options.reduction_options("per-sample losses")
@options.scheduler_option
@options.output_options
@options.explain_options
@options.input_header_option
@options.debug_option
def bce(logits, probs, classes, labels, pos_weight, class_mean, reduction, base, fmt, output, precision, header,
        explain, explain_rows):
    """Binary / multi-label cross-entropy: each entry its own probability.

    Per sample it sums -[y·log σ(z) + (1-y)·log(1-σ(z))] over classes (the
    document's formula); --class-mean averages instead, so --reduction mean
    then equals PyTorch's BCEWithLogitsLoss(reduction='mean').
    """
    check_stdin(logits=logits, probs=probs, labels=labels, pos_weight=pos_weight)
    pred = load_predictions(logits, probs, normalized=False, binary=True)
    y, label_matrix = load_labels(labels, pred, kind="bce")
    pw = load_weights(pos_weight, pred.num_classes, option="--pos-weight")
    names = class_names(classes, pred.num_classes, pred.matrix, label_matrix)
    elementwise = core.binary_cross_entropy_with_logits if pred.kind == "logits" else core.binary_cross_entropy
    per = pred.map(lambda x, t: core.per_sample(elementwise(x, t, pos_weight=pw), class_mean=class_mean), y)
    warn_infinite(per, label_matrix, "a target needs a probability of 0 or 1 that the prediction rules out")
    report = LossReport.of("bce", per, base=base, reduction=reduction)

    def view():
        ids = shown_rows(len(per))
        title = "binary cross-entropy" + (" (mean over classes)" if class_mean else " (sum over classes)")
        return {"table": "loss", "title": title, "ids": ids, "n": len(per), "labels": y[ids],
                "probs": probabilities(pred, ids, binary=True), "losses": report.per[ids], "names": names,
                "loss_header": f"loss ({base_label(base)})", "footer": report.footer()}

    def explanation(digits):
        from .. import explain as ex

        ids = ex.explained_rows(len(per), explain_rows)
        return ex.bce(pred.rows(ids), y[ids], len(per), per[ids], report, kind=pred.kind, pos_weight=pw,
                      class_mean=class_mean, names=names, digits=digits)

    emit(Result(report.value, report.json(), report.header, view, explanation=explanation if explain else None),
         fmt=fmt, output=output, precision=precision, header=header)
