"""``xent kl``: KL divergence D_KL(P‖Q) per row, beside the cross-entropy and entropy it is the difference of."""

from __future__ import annotations

import click
import numpy as np

from .. import core, kernels, options
from ..errors import DataError
from ..inputs import check_stdin, load_predictions
from ..output import Result, emit
from ..report import LossReport, base_label
from ._common import log_probs, warn_infinite


@click.command(epilog=options.examples(
    'xent kl --p "0.5,0.5" --q "0.25,0.75"',
    'xent kl --p-logits p.npy --q-logits q.npy --base 2 --reduction none',
))
@click.option("--p", "p_probs", metavar="MATRIX", shell_complete=options.complete_path,
              help="P as probabilities (rows summing to 1).")
@click.option("--q", "q_probs", metavar="MATRIX", shell_complete=options.complete_path, help="Q as probabilities.")
@click.option("--p-logits", metavar="MATRIX", shell_complete=options.complete_path,
              help="P as logits (softmax applied in log space).")
@click.option("--q-logits", metavar="MATRIX", shell_complete=options.complete_path, help="Q as logits.")
@options.renormalize_option("P and Q rows")
@options.reduction_options("per-row divergences", "the number of rows")
@options.scheduler_option
@options.output_spec
@options.explain_options
@options.input_header_option
@options.reading
@options.debug_option
def kl(p_probs, q_probs, p_logits, q_logits, renormalize, reduction, base, output, explain, explain_rows, reading):
    """KL divergence D_KL(P‖Q) = Σ p·(log p - log q) per row.

    Terms with p = 0 are 0; q = 0 where p > 0 gives inf. The table shows
    KL = H(P,Q) - H(P): cross-entropy and entropy beside the divergence.
    """
    check_stdin(p=p_probs, q=q_probs, p_logits=p_logits, q_logits=q_logits)
    pp = load_predictions(p_logits, p_probs, renormalize=renormalize, options=("--p-logits", "--p"), reading=reading)
    qq = load_predictions(q_logits, q_probs, renormalize=renormalize, options=("--q-logits", "--q"), reading=reading)
    if pp.values.shape != qq.values.shape:
        raise DataError(f"{qq.matrix.where}: Q has shape {qq.values.shape} but P ({pp.matrix.where}) has shape "
                        f"{pp.values.shape}; KL needs one Q row for each P row, over the same classes")

    def divergence(p_rows, q_rows):
        q_rows = qq.check(q_rows)
        if pp.kind == qq.kind == "logits":
            # KL and H(P) as compare has them (each pair of rows read once), H(P,Q) = H(P) + KL (both >= 0).
            s = kernels.token_stats(p_rows, q_rows, keys=("kl", "entropy_base"))
            return np.column_stack([s["kl"], s["entropy_base"] + s["kl"], s["entropy_base"]])
        p, logp = log_probs(pp, p_rows)
        _, logq = log_probs(qq, q_rows)
        # KL from its own cancellation-free kernels, not H(P,Q) - H(P) nor Σ p·(log p - log q):
        # both lose every digit when P is close to Q (and can go negative).
        sides = {("p" if pp.kind == "probs" else "p_logits"): np.asarray(p_rows, dtype=np.float64),
                 ("q" if qq.kind == "probs" else "q_logits"): np.asarray(q_rows, dtype=np.float64)}
        return np.column_stack([
            core.kl_divergence_of(**sides), core.cross_entropy_of_distributions(p, logq), core.entropy(p, logp),
        ])

    columns = pp.map(divergence, qq.values)  # KL, H(P,Q), H(P) per row
    per = columns[:, 0]
    warn_infinite(per, qq.matrix, "Q gives probability 0 to a class P gives probability > 0")
    report = LossReport.of("kl", per, base=base, reduction=reduction)

    view = None
    if output.draws_table(explain):
        from ..views import MatrixView, shown_rows  # imported only when a table is drawn
        ids = shown_rows(len(per))
        unit = base_label(base)
        view = MatrixView("KL(P‖Q) = H(P,Q) - H(P)", [f"H(P,Q) ({unit})", f"H(P) ({unit})", f"KL(P‖Q) ({unit})"],
                          ids, len(per), columns[ids][:, [1, 2, 0]] / core.log_base(base), footer=report.footer())

    def explanation(digits):
        from .. import explain as ex

        ids = ex.explained_rows(len(per), explain_rows)
        return ex.kl(pp.rows(ids), qq.check(qq.rows(ids)), len(per), columns[ids], report, p_kind=pp.kind,
                     q_kind=qq.kind, digits=digits)

    emit(Result(report.value, report.json(), report.header, view, explanation=explanation if explain else None), output)
