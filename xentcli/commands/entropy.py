"""``xent entropy``: entropy H(P) of each row of probabilities or of softmax(logits)."""

from __future__ import annotations

import click

from .. import core, kernels, options
from ..inputs import class_names, load_predictions
from ..output import Result, emit
from ..report import LossReport, base_label
from ._common import log_probs


@click.command(epilog=options.examples(
    'xent entropy --probs "0.25,0.25,0.5" --base 2',
    'xent entropy --logits lm.npy --reduction none --format csv',
))
@options.compose(options.probs_option, options.logits_option, options.temperature_option,
                 options.renormalize_option("probability rows"), options.classes_option)
@options.reduction_options("per-row entropies", "the number of rows")
@options.scheduler_option
@options.output_spec
@options.explain_options
@options.input_header_option
@options.reading
@options.debug_option
def entropy(probs, logits, temperature, renormalize, classes, reduction, base, output, explain, explain_rows, reading):
    """Entropy H(P) = -Σ p·log p of each row of --probs (or of softmax(--logits)); 0·log 0 = 0."""
    pred = load_predictions(logits, probs, temperature=temperature, renormalize=renormalize, reading=reading)
    names = class_names(classes, pred.num_classes, pred.matrix)
    if pred.kind == "logits":
        per = pred.map(lambda rows: kernels.entropy_of_logits(rows, temperature=temperature))
    else:
        per = pred.map(lambda rows: core.entropy(*log_probs(pred, rows)))
    report = LossReport.of("entropy", per, base=base, reduction=reduction)

    view = None
    if output.draws_table(explain):
        from ..views import LossView, shown_rows  # imported only when a table is drawn
        ids = shown_rows(len(per))
        view = LossView("entropy", names, ids, len(per), labels=None,
                        probs=log_probs(pred, pred.rows(ids), temperature)[0], losses=report.per[ids],
                        loss_header=f"H(P) ({base_label(base)})", footer=report.footer())

    def explanation(digits):
        from .. import explain as ex

        ids = ex.explained_rows(len(per), explain_rows)
        return ex.entropy(pred.rows(ids), len(per), per[ids], report, kind=pred.kind, temperature=temperature,
                          digits=digits)

    emit(Result(report.value, report.json(), report.header, view, explanation=explanation if explain else None), output)
