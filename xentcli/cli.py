"""The ``xent`` command line: click commands and the one place errors become exit codes.

Each command reads its inputs (:mod:`xentcli.inputs`), computes with
:mod:`xentcli.core` over row blocks (:mod:`xentcli.engine`) and hands a
:class:`~xentcli.output.Result` to :func:`~xentcli.output.emit`.
"""

from __future__ import annotations

import os
import sys
import warnings

import click
import numpy as np

from . import __version__, core, options
from .engine import LEAN_BLOCK_ELEMENTS
from .errors import CallError, DataError, PipeClosed, XentError
from .inputs import Predictions, check_stdin, class_names, load_labels, load_predictions, load_weights, warn
from .report import LossReport, base_label
from .output import Result, emit
from .writers import resolve_format

#: Commands in their own files, imported only when they run (start-up of the others stays small).
LAZY_COMMANDS = {"compare": "xentcli.commands.compare:compare", "mse": "xentcli.commands.mse:mse"}

# Exit status when stdout is a pipe closed early (`| head`): 128 + SIGPIPE, as coreutils.
EXIT_BROKEN_PIPE = 141

#: How ``ce`` and ``ppl`` run index targets, which go through ``core.target_log_probs``: a bad
#: logits row comes out NaN, so only those rows are checked (after computing, one read of a clean
#: block instead of two), and the kernel keeps no block-sized temporaries, so blocks can be larger.
ONE_PASS = dict(screened=True, block_elements=LEAN_BLOCK_ELEMENTS)

# grad --check differentiates every entry: 2C evaluations of N rows. Past this many
# row-evaluations it checks the first rows only, and says so.
GRADCHECK_BUDGET = 20_000_000


class XentGroup(click.Group):
    """Runs a command and turns every failure into ``Error: …`` and an exit code (SPEC §4).

    Commands in :data:`LAZY_COMMANDS` (``commands/<name>.py``) are imported only when run or listed.
    """

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS:
            import importlib

            module, attr = LAZY_COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def main(self, args=None, prog_name=None, **extra):
        args = list(sys.argv[1:] if args is None else args)
        if not args:  # bare `xent`: the command list, as `xent --help` prints it
            args = ["--help"]
        debug = "--debug" in args or bool(os.environ.get("XENT_DEBUG"))
        if not debug:
            warnings.showwarning = _show_warning
        try:
            rv = super().main(args=args, prog_name=prog_name or "xent", standalone_mode=False, **extra)
            sys.stdout.flush()
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.ClickException as e:  # usage errors: exit 2
            _fail(e.format_message(), e.exit_code)
        except XentError as e:
            if debug:
                raise
            _fail(str(e), e.exit_code)
        except (PipeClosed, BrokenPipeError):
            _quiet_broken_pipe()
        except (click.Abort, KeyboardInterrupt):
            click.echo("Error: interrupted", err=True)
            sys.exit(130)
        except ValueError as e:  # a core error no command put in context
            if debug:
                raise
            _fail(str(e), 1)
        except Exception as e:
            if debug:
                raise
            _fail(f"internal error ({type(e).__name__}: {e}); run again with --debug for a traceback", 1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # A library warning nobody anticipated: one line on stderr like ours, not a source dump.
    click.echo(f"Warning: {message}", err=True)


def _fail(message: str, code: int):
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _quiet_broken_pipe():
    # Python would complain again when it flushes stdout at exit; point it at /dev/null.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(EXIT_BROKEN_PIPE)


@click.group(cls=XentGroup, context_settings={"help_option_names": ["-h", "--help"]}, help=(
    "Softmax, cross-entropy, KL, entropy, perplexity and gradients from the command line.\n\n"
    f"Matrices come from files ({options.extensions()}; FILE:SELECTOR picks an array or columns), "
    "'-' for stdin, or inline values such as \"4,2,1;0,5,1\". Try: xent example"))
@click.version_option(__version__, prog_name="xent")
@options.debug_option
def main():
    pass


def _probabilities(pred: Predictions, ids, temperature: float = 1.0, *, binary: bool = False) -> np.ndarray:
    """The predicted probabilities of the samples ``ids`` (for tables only)."""
    rows = pred.rows(np.asarray(ids))
    if pred.kind != "logits":
        return rows
    return core.sigmoid(rows) if binary else core.softmax(rows, temperature=temperature)


def _warn_infinite(per: np.ndarray, where, why: str) -> None:
    inf = np.isinf(per)
    if inf.any():
        r = int(np.argmax(inf))
        count = int(inf.sum())
        warn(f"{where.locate(r)}: row {r + 1}: the value is inf because {why}"
             + (f"; {count} samples in all" if count > 1 else ""))


# -- softmax ---------------------------------------------------------------


@main.command(epilog=options.examples(
    'xent softmax --logits "3,1,-3"',
    'xent softmax --logits lm.npy --temperature 0.7 -o probs.npy',
    'xent softmax --logits z.csv | xent ce --labels y.csv --probs -',
))
@options.compose(options.logits_option, options.temperature_option, options.classes_option)
@click.option("--log", "log_space", is_flag=True, help="Print log-softmax (computed exactly, not as log of softmax).")
@options.scheduler_option
@options.output_options
@options.explain_options
@options.input_header_option
@options.debug_option
def softmax(logits, temperature, classes, log_space, fmt, output, precision, header, explain, explain_rows):
    """Softmax (or --log log-softmax) of each row of --logits."""
    pred = load_predictions(logits, None, temperature=temperature, allow_probs=False)
    names = class_names(classes, pred.num_classes, pred.matrix)
    fn = core.log_softmax if log_space else core.softmax
    out = pred.stream(lambda z: fn(z, temperature=temperature))
    key, title = ("log_probs", "log-softmax") if log_space else ("probs", "softmax")
    if temperature != 1.0:
        title += f" (T = {temperature:g})"

    def tables(digits):
        from . import tables as tbl

        ids = tbl.shown_rows(len(pred))
        shown = fn(pred.rows(ids), temperature=temperature)
        return [tbl.matrix_table(title, shown, ids, len(pred), names, precision=digits)]

    def explanation(digits):
        from . import explain as ex

        ids = ex._explained(len(pred), explain_rows)
        z = pred.rows(ids)
        return ex.softmax(z, fn(z, temperature=temperature), len(pred), temperature=temperature, log=log_space,
                          digits=digits)

    result = Result(out, {"command": "softmax", "shape": list(out.shape), key: out}, names, tables,
                    explanation=explanation if explain else None)
    emit(result, fmt=fmt, output=output, precision=precision, header=header)


# -- ce --------------------------------------------------------------------


@main.command(epilog=options.examples(
    'xent ce --labels "1,0,0;0,0.8,0.2" --logits "4,2,1;0,5,1"',
    "xent ce --labels preds.csv:label --probs 'preds.csv:p_*'",
    'xent ce --labels ids.npy --logits lm.npy --ignore-index -100 --shift --format json',
))
@options.predictions
@options.labels()
@options.ce_options
@options.shift_option
@options.reduction_options("per-sample losses", "the sum of the counted targets' weights, or N")
@options.scheduler_option
@options.output_options
@options.explain_options
@options.input_header_option
@options.debug_option
def ce(logits, probs, temperature, renormalize, classes, labels, weights, ignore_index,
       label_smoothing, eps, shift, reduction, base, fmt, output, precision, header, explain, explain_rows):
    """Categorical cross-entropy of --labels under --logits or --probs.

    Labels are distributions (one-hot or soft, the predictions' shape) or N
    class indices. Weights, --ignore-index and --label-smoothing behave as in
    torch.nn.functional.cross_entropy, including the denominator of the mean.
    """
    check_stdin(logits=logits, probs=probs, labels=labels, weights=weights)
    pred = load_predictions(logits, probs, temperature=temperature, renormalize=renormalize)
    if shift:
        pred.shift()
    y, label_matrix = load_labels(labels, pred, ignore_index=ignore_index, renormalize=renormalize, classes=classes)
    w = load_weights(weights, pred.num_classes)
    names = class_names(classes, pred.num_classes, pred.matrix, label_matrix)
    settings = dict(weights=w, ignore_index=ignore_index, label_smoothing=label_smoothing, eps=eps)
    if pred.kind == "logits":
        one_pass = core.picks_target_log_probs(y, label_smoothing=label_smoothing, eps=eps)
        per = pred.map(lambda z, t: core.cross_entropy(z, t, temperature=temperature, **settings), y,
                       **(ONE_PASS if one_pass else {}))
    else:
        per = pred.map(lambda p, t: core.cross_entropy_with_probs(p, t, **settings), y)
    _warn_infinite(per, label_matrix, "a class its target needs has probability 0 (a -inf logit or a zero probability)")
    denominator = core.cross_entropy_denominator(y, weights=w, ignore_index=ignore_index)
    if denominator == 0:
        warn("the mean's denominator is 0 (every sample ignored or weighted 0): the mean is nan")
    report = LossReport.of("ce", per, base=base, reduction=reduction, denominator=denominator)
    ignored = (y == ignore_index) if core.is_index_labels(y) and ignore_index is not None else None

    def tables(digits):
        from . import tables as tbl

        loss_header = f"loss ({base_label(base)})"
        if pred.num_classes > tbl.MAX_CLASSES:  # a vocabulary: what matters per row, not p(0)…p(8)
            ids = tbl.shown_rows(len(per))
            target = y[ids] if core.is_index_labels(y) else np.argmax(y[ids], axis=1)
            main_table = tbl.target_table(
                "cross-entropy", ids, len(per), target, _probabilities(pred, ids, temperature), report.per[ids], names,
                label_header="label" if core.is_index_labels(y) else "label (largest)", loss_header=loss_header,
                ignored=None if ignored is None else ignored[ids], precision=digits,
            )
        elif len(per) == 1:
            main_table = tbl.single_sample_table(
                "cross-entropy", y[0], _probabilities(pred, [0], temperature)[0], tbl.fmt(report.per[0], digits), names,
                loss_header=loss_header, precision=digits,
            )
        else:
            ids = tbl.shown_rows(len(per))
            main_table = tbl.loss_table(
                "cross-entropy", ids, len(per), y[ids], _probabilities(pred, ids, temperature), report.per[ids], names,
                loss_header=loss_header, ignored=None if ignored is None else ignored[ids], precision=digits,
            )
        footer = report.footer(lambda x: tbl.fmt(x, digits), perplexity=True)
        if eps is not None:
            footer.append(("eps", f"{eps:g} (naive -Σ y·log(p + eps))"))
        return [main_table, tbl.summary(footer)]

    def explanation(digits):
        from . import explain as ex

        ids = ex._explained(len(per), explain_rows)
        return ex.ce(pred.rows(ids), y[ids], len(per), per[ids], report, kind=pred.kind, temperature=temperature,
                     weights=w, ignore_index=ignore_index, label_smoothing=label_smoothing, eps=eps, names=names,
                     digits=digits)

    emit(Result(report.value, report.json(perplexity=True), report.header, tables,
                explanation=explanation if explain else None),
         fmt=fmt, output=output, precision=precision, header=header)


# -- bce -------------------------------------------------------------------


@main.command(epilog=options.examples(
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
    _warn_infinite(per, label_matrix, "a target needs a probability of 0 or 1 that the prediction rules out")
    report = LossReport.of("bce", per, base=base, reduction=reduction)

    def tables(digits):
        from . import tables as tbl

        ids = tbl.shown_rows(len(per))
        title = "binary cross-entropy" + (" (mean over classes)" if class_mean else " (sum over classes)")
        main_table = tbl.loss_table(
            title, ids, len(per), y[ids], _probabilities(pred, ids, binary=True), report.per[ids], names,
            loss_header=f"loss ({base_label(base)})", precision=digits,
        )
        return [main_table, tbl.summary(report.footer(lambda x: tbl.fmt(x, digits)))]

    def explanation(digits):
        from . import explain as ex

        ids = ex._explained(len(per), explain_rows)
        return ex.bce(pred.rows(ids), y[ids], len(per), per[ids], report, kind=pred.kind, pos_weight=pw,
                      class_mean=class_mean, names=names, digits=digits)

    emit(Result(report.value, report.json(), report.header, tables, explanation=explanation if explain else None),
         fmt=fmt, output=output, precision=precision, header=header)


# -- kl and entropy ----------------------------------------------------------


def _log_probs(pred: Predictions, rows: np.ndarray, temperature: float = 1.0):
    """(p, log p) of checked rows: log-softmax for logits, log for probabilities."""
    rows = np.asarray(rows, dtype=np.float64)
    if pred.kind == "probs":
        return core.log_probs_of(probs=rows)
    return core.log_probs_of(logits=rows, temperature=temperature)


@main.command(epilog=options.examples(
    'xent kl --p "0.5,0.5" --q "0.25,0.75"',
    'xent kl --p-logits p.npy --q-logits q.npy --base 2 --reduction none',
))
@click.option("--p", "p_probs", metavar="MATRIX", shell_complete=options.complete_path, help="P as probabilities (rows summing to 1).")
@click.option("--q", "q_probs", metavar="MATRIX", shell_complete=options.complete_path, help="Q as probabilities.")
@click.option("--p-logits", metavar="MATRIX", shell_complete=options.complete_path, help="P as logits (softmax applied in log space).")
@click.option("--q-logits", metavar="MATRIX", shell_complete=options.complete_path, help="Q as logits.")
@options.renormalize_option("P and Q rows")
@options.reduction_options("per-row divergences", "the number of rows")
@options.scheduler_option
@options.output_options
@options.explain_options
@options.input_header_option
@options.debug_option
def kl(p_probs, q_probs, p_logits, q_logits, renormalize, reduction, base, fmt, output, precision, header,
       explain, explain_rows):
    """KL divergence D_KL(P‖Q) = Σ p·(log p - log q) per row.

    Terms with p = 0 are 0; q = 0 where p > 0 gives inf. The table shows
    KL = H(P,Q) - H(P): cross-entropy and entropy beside the divergence.
    """
    check_stdin(p=p_probs, q=q_probs, p_logits=p_logits, q_logits=q_logits)
    pp = load_predictions(p_logits, p_probs, renormalize=renormalize, options=("--p-logits", "--p"))
    qq = load_predictions(q_logits, q_probs, renormalize=renormalize, options=("--q-logits", "--q"))
    if pp.values.shape != qq.values.shape:
        raise DataError(f"P {pp.matrix.where} has shape {pp.values.shape} but Q {qq.matrix.where} "
                        f"has shape {qq.values.shape}")

    def divergence(p_rows, q_rows):
        q_rows = qq.check(q_rows)
        p, logp = _log_probs(pp, p_rows)
        _, logq = _log_probs(qq, q_rows)
        # KL from its own cancellation-free kernels, not H(P,Q) - H(P) nor Σ p·(log p - log q):
        # both lose every digit when P is close to Q (and can go negative).
        sides = {("p" if pp.kind == "probs" else "p_logits"): np.asarray(p_rows, dtype=np.float64),
                 ("q" if qq.kind == "probs" else "q_logits"): np.asarray(q_rows, dtype=np.float64)}
        return np.column_stack([
            core.kl_divergence_of(**sides), core.cross_entropy_of_distributions(p, logq), core.entropy(p, logp),
        ])

    columns = pp.map(divergence, qq.values)  # KL, H(P,Q), H(P) per row
    per = columns[:, 0]
    _warn_infinite(per, qq.matrix, "Q gives probability 0 to a class P gives probability > 0")
    report = LossReport.of("kl", per, base=base, reduction=reduction)

    def tables(digits):
        from . import tables as tbl

        ids = tbl.shown_rows(len(per))
        cols = columns[ids][:, [1, 2, 0]] / core.log_base(base)
        unit = base_label(base)
        main_table = tbl.matrix_table(
            "KL(P‖Q) = H(P,Q) - H(P)", cols, ids, len(per),
            [f"H(P,Q) ({unit})", f"H(P) ({unit})", f"KL(P‖Q) ({unit})"], precision=digits,
        )
        return [main_table, tbl.summary(report.footer(lambda x: tbl.fmt(x, digits)))]

    def explanation(digits):
        from . import explain as ex

        ids = ex._explained(len(per), explain_rows)
        return ex.kl(pp.rows(ids), qq.check(qq.rows(ids)), len(per), columns[ids], report, p_kind=pp.kind,
                     q_kind=qq.kind, digits=digits)

    emit(Result(report.value, report.json(), report.header, tables, explanation=explanation if explain else None),
         fmt=fmt, output=output, precision=precision, header=header)


@main.command(epilog=options.examples(
    'xent entropy --probs "0.25,0.25,0.5" --base 2',
    'xent entropy --logits lm.npy --reduction none --format csv',
))
@options.compose(options.probs_option, options.logits_option, options.temperature_option,
                 options.renormalize_option("probability rows"), options.classes_option)
@options.reduction_options("per-row entropies", "the number of rows")
@options.scheduler_option
@options.output_options
@options.explain_options
@options.input_header_option
@options.debug_option
def entropy(probs, logits, temperature, renormalize, classes, reduction, base, fmt, output, precision, header,
            explain, explain_rows):
    """Entropy H(P) = -Σ p·log p of each row of --probs (or of softmax(--logits)); 0·log 0 = 0."""
    pred = load_predictions(logits, probs, temperature=temperature, renormalize=renormalize)
    names = class_names(classes, pred.num_classes, pred.matrix)
    per = pred.map(lambda rows: core.entropy(*_log_probs(pred, rows, temperature)))
    report = LossReport.of("entropy", per, base=base, reduction=reduction)

    def tables(digits):
        from . import tables as tbl

        ids = tbl.shown_rows(len(per))
        probs_shown = _log_probs(pred, pred.rows(ids), temperature)[0]
        main_table = tbl.loss_table("entropy", ids, len(per), None, probs_shown, report.per[ids], names,
                                  loss_header=f"H(P) ({base_label(base)})", precision=digits)
        return [main_table, tbl.summary(report.footer(lambda x: tbl.fmt(x, digits)))]

    def explanation(digits):
        from . import explain as ex

        ids = ex._explained(len(per), explain_rows)
        return ex.entropy(pred.rows(ids), len(per), per[ids], report, kind=pred.kind, temperature=temperature,
                          digits=digits)

    emit(Result(report.value, report.json(), report.header, tables, explanation=explanation if explain else None),
         fmt=fmt, output=output, precision=precision, header=header)


# -- ppl -------------------------------------------------------------------


@main.command(epilog=options.examples(
    'xent ppl --logits lm.npy --targets ids.npy --ignore-index -100',
    'xent ppl --logits lm.safetensors:logits --targets ids.npy --shift',
    'xent ppl --logits base.kld --targets base.kld:targets',
))
@options.compose(options.logits_option, options.temperature_option)
@click.option("--targets", metavar="VECTOR", shell_complete=options.complete_path, required=True, help="The true token ids: one class index per row of --logits.")
@options.ignore_index_option
@options.shift_option
@options.base_option
@options.scheduler_option
@options.output_options
@options.explain_options
@options.input_header_option
@options.debug_option
def ppl(logits, temperature, targets, ignore_index, shift, base, fmt, output, precision, header, explain,
        explain_rows):
    """Perplexity of --targets under --logits (tokens × vocabulary, or (batch, seq, vocab) NPY).

    perplexity = exp(mean CE in nats) = base ** (mean CE in base): the same
    number in every base. --ignore-index skips padding tokens.
    """
    check_stdin(logits=logits, targets=targets)
    pred = load_predictions(logits, None, temperature=temperature, allow_probs=False)
    if shift:
        pred.shift()
    tokens, target_matrix = load_labels(targets, pred, kind="indices", ignore_index=ignore_index, option="--targets")
    per = pred.map(lambda z, k: core.cross_entropy(z, k, temperature=temperature, ignore_index=ignore_index), tokens,
                   **ONE_PASS)
    _warn_infinite(per, target_matrix, "the target token has probability 0 (a -inf logit)")
    counted = core.cross_entropy_denominator(tokens, ignore_index=ignore_index)
    if counted == 0:
        warn("every token is ignored: the mean and the perplexity are nan")
    report = LossReport.of("ppl", per, base=base, reduction="mean", denominator=counted)
    doc = {"command": "ppl", "n": int(counted), "base": base, "mean": report.mean, "perplexity": report.perplexity}

    def tables(digits):
        from . import tables as tbl

        ids = tbl.shown_rows(len(tokens))
        per_token = tbl.target_table(
            "tokens", ids, len(tokens), tokens[ids], _probabilities(pred, ids, temperature), report.per[ids],
            [str(c) for c in range(pred.num_classes)], label_header="target", loss_header=f"CE ({base_label(base)})",
            ignored=None if ignore_index is None else tokens[ids] == ignore_index, precision=digits,
        )
        rows = [("tokens", f"{int(counted):,}")]
        if ignore_index is not None:
            rows.append(("ignored", f"{len(tokens) - int(counted):,} (index {ignore_index})"))
        rows += [(f"mean CE ({base_label(base)})", tbl.fmt(report.mean, digits)), ("perplexity", tbl.fmt(report.perplexity, digits))]
        return [per_token, tbl.summary(rows, title="perplexity")]

    def explanation(digits):
        from . import explain as ex

        ids = ex._explained(len(tokens), explain_rows)
        return ex.ppl(pred.rows(ids), tokens[ids], len(tokens), per[ids], report, temperature=temperature,
                      ignore_index=ignore_index, digits=digits)

    emit(Result(report.perplexity, doc, ["perplexity"], tables, explanation=explanation if explain else None),
         fmt=fmt, output=output, precision=precision, header=header)


# -- grad ------------------------------------------------------------------


@main.command(epilog=options.examples(
    'xent grad --labels "1,0,0;0,0.8,0.2" --logits "4,2,1;0,5,1" --reduction mean',
    'xent grad --loss bce --labels "1,0" --logits "2,-1" --check',
    'xent grad --loss mse --through sigmoid --labels 0 --logits 5 --format json',
))
@click.option("--loss", type=click.Choice(["ce", "bce", "mse"]), default="ce", show_default=True, help="Which loss to differentiate.")
@options.compose(options.logits_option, options.temperature_option, options.classes_option)
@options.labels("Labels: for ce, distributions of the logits' shape or N class indices; for bce, targets in [0, 1]; "
                "for mse, targets of the logits' shape or N class indices (one-hot rows).")
@options.compose(options.weights_option, options.ignore_index_option, options.smoothing_option)
@options.bce_options
@click.option("--through", type=click.Choice(core.ACTIVATIONS),
              help="For --loss mse: the activation between the logits and the squared error, softmax or sigmoid.")
@click.option("--half", is_flag=True, help="For --loss mse: the ½·Σ (ŷ - y)² convention (halves the gradient).")
@options.reduction_option("The loss's reduction: mean divides each sample's gradient by the mean's "
                          "denominator; sum and none give each sample's gradient of its own loss.")
@click.option("--check", is_flag=True, help="Compare with central finite differences; report the max abs difference.")
@options.scheduler_option
@options.output_options
@options.explain_options
@options.input_header_option
@options.debug_option
def grad(loss, logits, temperature, classes, labels, weights, ignore_index, label_smoothing,
         pos_weight, class_mean, through, half, reduction, check, fmt, output, precision, header, explain,
         explain_rows):
    """Gradient of the loss with respect to --logits: softmax - labels for CE, σ(z) - y for BCE.

    CE: (softmax - smoothed labels), with class weights, divided by T; BCE:
    σ(z)·(pw·y + 1 - y) - pw·y; MSE through a sigmoid: 2(σ(z) - y)·σ(z)(1 - σ(z)),
    through softmax: p ⊙ (g - Σ p·g) with g = 2(p - y) (mean divides by N·C).
    Exactly what PyTorch autograd gives for the same reduction.
    """
    check_stdin(logits=logits, labels=labels, weights=weights, pos_weight=pos_weight)
    used = {"--weights": weights is not None, "--ignore-index": ignore_index is not None,
            "--label-smoothing": label_smoothing != 0, "--temperature": temperature != 1.0,
            "--pos-weight": pos_weight is not None, "--class-mean": class_mean,
            "--through": through is not None, "--half": half}
    applies = {"ce": ("--weights", "--ignore-index", "--label-smoothing", "--temperature"),
               "bce": ("--pos-weight", "--class-mean"), "mse": ("--through", "--half")}[loss]
    wrong = [opt for opt, on in used.items() if on and opt not in applies]
    if wrong:
        raise CallError(f"{', '.join(wrong)} do{'es' if len(wrong) == 1 else ''} not apply to --loss {loss}")
    if loss == "mse" and through is None:
        raise CallError("--loss mse differentiates with respect to the logits: give --through softmax or "
                        "--through sigmoid, the activation between them and the squared error")
    if loss == "mse":
        from .commands.mse import load_mse_predictions, load_targets

        pred = load_mse_predictions(None, logits, through)
        y, label_matrix = load_targets(labels, pred, classes)
    else:
        pred = load_predictions(logits, None, temperature=temperature, allow_probs=False,
                                normalized=loss == "ce", binary=loss == "bce")
        y, label_matrix = load_labels(labels, pred, kind=loss, ignore_index=ignore_index, classes=classes)
    names = class_names(classes, pred.num_classes, pred.matrix, label_matrix)
    n = len(pred)
    if loss == "mse":
        factor = 0.5 if half else 1.0  # the ½·Σ convention halves the loss and its gradient
        denominator = core.mse_denominator(n, pred.num_classes)

        def gradient(z, t):
            g = core.mse_grad_with_logits(z, t, through=through)
            return g * factor if half else g

        def per_row_loss(z, t):
            return core.mse_with_logits(z, t, through=through) * factor
    elif loss == "ce":
        w = load_weights(weights, pred.num_classes)
        settings = dict(weights=w, ignore_index=ignore_index, label_smoothing=label_smoothing, temperature=temperature)
        denominator = core.cross_entropy_denominator(y, weights=w, ignore_index=ignore_index)

        def gradient(z, t):
            return core.cross_entropy_grad(z, t, **settings)

        def per_row_loss(z, t):
            return core.cross_entropy(z, t, **settings)
    else:
        pw = load_weights(pos_weight, pred.num_classes, option="--pos-weight")
        denominator = float(n)

        def gradient(z, t):
            return core.binary_cross_entropy_grad(z, t, pos_weight=pw, class_mean=class_mean)

        def per_row_loss(z, t):
            return core.per_sample(core.binary_cross_entropy_with_logits(z, t, pos_weight=pw), class_mean=class_mean)
    scale = 1.0 / denominator if reduction == "mean" and denominator != 0 else 1.0

    def rows_gradient(ids):
        """The gradient of a few rows, for the check and the table (the output streams)."""
        return gradient(pred.rows(ids), y[ids]) * scale

    g = pred.stream(lambda z, t: gradient(z, t) * scale, y)
    doc = {"command": "grad", "shape": [n, pred.num_classes], "loss": loss}
    if loss == "mse":
        doc.update(through=through, half=half)
    doc.update(reduction=reduction, grad=g)
    checked_rows = n
    if check:
        checked_rows = max(1, min(n, GRADCHECK_BUDGET // (2 * pred.num_classes * pred.num_classes)))
        first = np.arange(checked_rows)
        z = pred.rows(slice(0, checked_rows))
        numeric = core.central_differences(lambda zz: per_row_loss(zz, y[first]), z) * scale
        diff = float(np.max(np.abs(numeric - rows_gradient(first))))
        doc["max_abs_diff"] = diff
        if checked_rows < n:
            warn(f"--check compared the first {checked_rows:,} of {n:,} rows (finite differences cost 2C passes)")
        if not diff <= 1e-6:
            warn(f"the analytic gradient and central differences differ by {diff:.3g}")

    def tables(digits):
        from . import tables as tbl

        ids = tbl.shown_rows(n)
        if loss == "mse":
            predicted = core.activation(pred.rows(ids), through)
        else:
            predicted = _probabilities(pred, ids, temperature, binary=loss == "bce")
        target = y[ids]
        if target.ndim == 1:  # class indices: show them one-hot, as the derivation ŷ - y does
            target = np.where(target[:, None] == np.arange(pred.num_classes), 1.0, 0.0)
        two = "" if half else "2"
        formula = {
            "ce": "(softmax - y)", "bce": "(σ(z) - y)",
            "mse": f"{two}(σ(z) - y)·σ(z)(1 - σ(z))" if through == "sigmoid" else f"J_softmaxᵀ·{two}(softmax - y)",
        }[loss]
        title = f"∂loss/∂logits = {formula}" + {
            "mean": f" / {tbl.fmt(denominator, digits)}", "sum": "", "none": " (each sample's own loss)"}[reduction]
        main_table = tbl.derivation_table(
            title, ids, n, predicted, target, rows_gradient(ids), names,
            predicted_name="σ(z)" if loss == "bce" or through == "sigmoid" else "softmax", precision=digits,
        )
        rows = [("loss", loss if loss != "mse" else "mse" + (" (½·Σ)" if half else "") + f" through {through}"),
                ("reduction", reduction)]
        if reduction == "mean":
            rows.append(("denominator", tbl.fmt(denominator, digits)))
        if check:
            rows.append(("max |analytic - numeric|", f"{doc['max_abs_diff']:.3g} (central differences"
                         + (f", first {checked_rows:,} rows)" if checked_rows < n else ")")))
        return [main_table, tbl.summary(rows)]

    if check and resolve_format(fmt, output, output is None and sys.stdout.isatty()) not in ("table", "json"):
        # csv/tsv/npy carry only the matrix; the check's result goes beside it.
        click.echo(f"max_abs_diff: {doc['max_abs_diff']!r}", err=True)
    def explanation(digits):
        from . import explain as ex

        ids = ex._explained(n, explain_rows)
        target = y[ids]
        ignored = None
        if target.ndim == 1:  # class indices: their one-hot rows, as the derivation ŷ - y uses them
            ignored = (target == ignore_index) if ignore_index is not None else None
            target = np.where(target[:, None] == np.arange(pred.num_classes), 1.0, 0.0)
        return ex.grad(pred.rows(ids), target, n, rows_gradient(ids), loss=loss, through=through, reduction=reduction,
                       denominator=denominator, temperature=temperature, weights=w if loss == "ce" else None,
                       ignore_index=ignore_index, label_smoothing=label_smoothing,
                       pos_weight=pw if loss == "bce" else None, class_mean=class_mean, half=half, ignored=ignored,
                       digits=digits)

    emit(Result(g, doc, names, tables, explanation=explanation if explain else None),
         fmt=fmt, output=output, precision=precision, header=header)


# -- example ---------------------------------------------------------------


@main.command(epilog=options.examples('xent example', 'xent example | less -R', 'xent example --explain'))
@options.explain_options
@options.debug_option
def example(explain, explain_rows):
    """Reproduce the reference document's worked example on the shipped sample data.

    --explain walks it step by step (both samples; --explain-rows does not apply).
    """
    from .example import worked_example, worked_example_explained
    from .tables import render, render_explanation

    if explain:
        render_explanation(worked_example_explained(), sys.stdout.buffer, terminal=sys.stdout.isatty())
        return
    render(worked_example(), sys.stdout.buffer, terminal=sys.stdout.isatty())

