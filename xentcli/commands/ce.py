"""``xent ce``: categorical cross-entropy of labels under logits or probabilities."""

from __future__ import annotations

import click
import numpy as np

from .. import core, kernels, options
from ..errors import CallError
from ..inputs import check_stdin, class_names, load_labels, load_predictions, load_sample_weights, load_weights
from ..output import Result, emit
from ..report import base_label
from ._common import ONE_PASS, probabilities, warn_infinite, weighted_report


@click.command(epilog=options.examples(
    'xent ce --labels "1,0,0;0,0.8,0.2" --logits "4,2,1;0,5,1"',
    "xent ce --labels preds.csv:label --probs 'preds.csv:p_*' --sample-weights preds.csv:weight",
    'xent ce --labels ids.npy --logits lm.npy --ignore-index -100 --shift --format json',
))
@options.predictions
@options.labels()
@options.ce_options
@options.sample_weights_option
@options.shift_option
@options.reduction_options("per-sample losses", "the sum of the counted targets' weights (times their sample "
                           "weights), or N")
@options.scheduler_option
@options.output_spec
@options.explain_options
@options.input_header_option
@options.reading
@options.debug_option
def ce(logits, probs, temperature, renormalize, classes, labels, weights, ignore_index,
       label_smoothing, eps, sample_weights, shift, reduction, base, output, explain, explain_rows,
       reading):
    """Categorical cross-entropy of --labels under --logits or --probs.

    Labels are distributions (one-hot or soft, the predictions' shape) or N
    class indices. Weights, --ignore-index and --label-smoothing behave as in
    torch.nn.functional.cross_entropy, including the denominator of the mean;
    --sample-weights weigh samples as scikit-learn's sample_weight does.
    """
    check_stdin(logits=logits, probs=probs, labels=labels, weights=weights, sample_weights=sample_weights)
    if shift and sample_weights is not None:
        raise CallError("--sample-weights does not combine with --shift: weigh the scored positions without "
                        "--shift (logits[:, :-1], ids[:, 1:] and one weight per position of those)")
    pred = load_predictions(logits, probs, temperature=temperature, renormalize=renormalize, reading=reading)
    if shift:
        pred.shift()
    y, label_matrix = load_labels(labels, pred, ignore_index=ignore_index, renormalize=renormalize, classes=classes,
                                  reading=reading)
    w = load_weights(weights, pred.num_classes, reading=reading)
    sw = load_sample_weights(sample_weights, pred, reading=reading)
    names = class_names(classes, pred.num_classes, pred.matrix, label_matrix)
    settings = dict(weights=w, ignore_index=ignore_index, label_smoothing=label_smoothing, eps=eps)
    if pred.kind == "logits":
        one_pass = core.picks_target_log_probs(y, label_smoothing=label_smoothing, eps=eps)
        per = pred.map(lambda z, t: kernels.cross_entropy(z, t, temperature=temperature, **settings), y,
                       **(ONE_PASS if one_pass else {}))
    else:
        per = pred.map(lambda p, t: core.cross_entropy_with_probs(p, t, **settings), y)
    warn_infinite(per, label_matrix, "a class its target needs has probability 0 (a -inf logit or a zero probability)")
    denominator = core.cross_entropy_denominator(y, weights=w, ignore_index=ignore_index, sample_weights=sw)
    report = weighted_report("ce", per, sw, base=base, reduction=reduction, denominator=denominator)
    ignored = (y == ignore_index) if core.is_index_labels(y) and ignore_index is not None else None

    view = None
    if output.draws_table(explain):
        from ..views import (  # imported only when a table is drawn
            MAX_CLASSES,
            LossView,
            SingleView,
            TargetView,
            shown_rows,
        )
        footer = report.footer(perplexity=True)
        if eps is not None:
            footer.append(("eps", f"{eps:g} (naive -Σ y·log(p + eps))"))
        loss_header = ("w·" if sw is not None else "") + f"loss ({base_label(base)})"
        if len(per) == 1 and pred.num_classes <= MAX_CLASSES:
            view = SingleView("cross-entropy", names, y[0], probabilities(pred, [0], temperature)[0], report.per[0],
                              loss_header, footer)
        else:
            ids = shown_rows(len(per))
            shown = dict(ids=ids, n=len(per), probs=probabilities(pred, ids, temperature), losses=report.per[ids],
                         loss_header=loss_header, ignored=None if ignored is None else ignored[ids], footer=footer)
            if pred.num_classes > MAX_CLASSES:  # a vocabulary: what matters per row, not p(0)…p(8)
                target = y[ids] if core.is_index_labels(y) else np.argmax(y[ids], axis=1)
                view = TargetView("cross-entropy", names, target=target, **shown,
                                  label_header="label" if core.is_index_labels(y) else "label (largest)")
            else:
                view = LossView("cross-entropy", names, labels=y[ids], **shown)

    def explanation(digits):
        from .. import explain as ex

        ids = ex.explained_rows(len(per), explain_rows)
        return ex.ce(pred.rows(ids), y[ids], len(per), per[ids], report, kind=pred.kind, temperature=temperature,
                     weights=w, ignore_index=ignore_index, label_smoothing=label_smoothing, eps=eps, names=names,
                     sample_weights=sw, digits=digits)

    emit(Result(report.value, report.json(perplexity=True), report.header, view,
                explanation=explanation if explain else None), output)
