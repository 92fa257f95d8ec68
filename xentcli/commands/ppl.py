"""``xent ppl``: perplexity of target tokens under logits."""

from __future__ import annotations

import click

from .. import core, kernels, options
from ..inputs import check_stdin, load_labels, load_predictions
from ..output import Result, emit
from ..printable import warning
from ..report import LossReport, base_label
from ._common import ONE_PASS, probabilities, warn_infinite


@click.command(epilog=options.examples(
    'xent ppl --logits lm.safetensors:logits --targets ids.npy --shift',
    'xent ppl --logits base.kld --targets base.kld:targets',
    'xent ppl --probs probs.npy --targets ids.npy --ignore-index -100',
))
@options.compose(options.logits_option, options.probs_option, options.temperature_option)
@click.option("--targets", metavar="VECTOR", shell_complete=options.complete_path, required=True,
              help="The true token ids: one class index per row of --logits (or --probs).")
@options.ignore_index_option
@options.shift_option
@options.base_option
@options.scheduler_option
@options.output_spec
@options.explain_options
@options.input_header_option
@options.reading
@options.debug_option
def ppl(logits, probs, temperature, targets, ignore_index, shift, base, output, explain, explain_rows, reading):
    """Perplexity of --targets under --logits or --probs (tokens × vocabulary, or (batch, seq, vocab) arrays).

    perplexity = exp(mean CE in nats) = base ** (mean CE in base): the same
    number in every base; CE = -log p(target), of softmax(logits) or of the
    probabilities as given. --ignore-index skips padding tokens.
    """
    check_stdin(logits=logits, probs=probs, targets=targets)
    pred = load_predictions(logits, probs, temperature=temperature, reading=reading)
    if shift:
        pred.shift()
    tokens, target_matrix = load_labels(targets, pred, kind="indices", ignore_index=ignore_index, option="--targets",
                                           reading=reading)
    if pred.kind == "logits":
        per = pred.map(lambda z, k: kernels.cross_entropy(z, k, temperature=temperature, ignore_index=ignore_index),
                       tokens, **ONE_PASS)
    else:
        per = pred.map(lambda p, k: core.cross_entropy_with_probs(p, k, ignore_index=ignore_index), tokens)
    warn_infinite(per, target_matrix, "the target token has probability 0 ("
                  + ("a -inf logit)" if pred.kind == "logits" else "a zero probability)"))
    counted = core.cross_entropy_denominator(tokens, ignore_index=ignore_index)
    if counted == 0:
        warning("every token is ignored: the mean and the perplexity are nan")
    report = LossReport.of("ppl", per, base=base, reduction="mean", denominator=counted)
    doc = {"command": "ppl", "n": int(counted), "base": base, "mean": report.mean, "perplexity": report.perplexity}

    view = None
    if output.draws_table(explain):
        from ..views import TargetView, shown_rows  # imported only when a table is drawn
        ids = shown_rows(len(tokens))
        footer = [("tokens", f"{int(counted):,}")]
        if ignore_index is not None:
            footer.append(("ignored", f"{len(tokens) - int(counted):,} (index {ignore_index})"))
        footer += [(f"mean CE ({base_label(base)})", report.mean), ("perplexity", report.perplexity)]
        view = TargetView("tokens", [str(c) for c in range(pred.num_classes)], ids, len(tokens), target=tokens[ids],
                          probs=probabilities(pred, ids, temperature), losses=report.per[ids], label_header="target",
                          loss_header=f"CE ({base_label(base)})",
                          ignored=None if ignore_index is None else tokens[ids] == ignore_index,
                          footer=footer, footer_title="perplexity")

    def explanation(digits):
        from .. import explain as ex

        ids = ex.explained_rows(len(tokens), explain_rows)
        return ex.ppl(pred.rows(ids), tokens[ids], len(tokens), per[ids], report, kind=pred.kind,
                      temperature=temperature, ignore_index=ignore_index, digits=digits)

    emit(Result(report.perplexity, doc, ["perplexity"], view, explanation=explanation if explain else None), output)
