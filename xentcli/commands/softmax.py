"""``xent softmax``: softmax or log-softmax of each row of logits."""

from __future__ import annotations

import click

from .. import kernels, options
from ..inputs import class_names, load_predictions
from ..output import Result, emit


@click.command(epilog=options.examples(
    'xent softmax --logits "3,1,-3"',
    'xent softmax --logits lm.npy --temperature 0.7 -o probs.npy',
    'xent softmax --logits z.csv | xent ce --labels y.csv --probs -',
))
@options.compose(options.logits_option, options.temperature_option, options.classes_option)
@click.option("--log", "log_space", is_flag=True, help="Print log-softmax (computed exactly, not as log of softmax).")
@options.scheduler_option
@options.output_spec
@options.explain_options
@options.input_header_option
@options.reading
@options.debug_option
def softmax(logits, temperature, classes, log_space, output, explain, explain_rows, reading):
    """Softmax (or --log log-softmax) of each row of --logits."""
    pred = load_predictions(logits, None, temperature=temperature, allow_probs=False, reading=reading)
    names = class_names(classes, pred.num_classes, pred.matrix)
    fn = kernels.log_softmax if log_space else kernels.softmax
    out = pred.stream(lambda z: fn(z, temperature=temperature))
    key, title = ("log_probs", "log-softmax") if log_space else ("probs", "softmax")
    if temperature != 1.0:
        title += f" (T = {temperature:g})"

    view = None
    if output.draws_table(explain):
        from ..views import MatrixView, shown_rows  # imported only when a table is drawn
        out.drain()
        ids = shown_rows(len(pred))
        view = MatrixView(title, names, ids, len(pred), fn(pred.rows(ids), temperature=temperature))

    def explanation(digits):
        from .. import explain as ex

        ids = ex.explained_rows(len(pred), explain_rows)
        z = pred.rows(ids)
        return ex.softmax(z, fn(z, temperature=temperature), len(pred), temperature=temperature, log=log_space,
                          digits=digits)

    result = Result(out, {"command": "softmax", "shape": list(out.array_shape), key: out}, names, view,
                    explanation=explanation if explain else None)
    emit(result, output)
