"""The ``xent`` command line: click commands and the one place errors become exit codes.

Each command reads its inputs (:mod:`xentcli.inputs`), computes with
:mod:`xentcli.core` over row blocks (:mod:`xentcli.engine`) and hands a
:class:`~xentcli.writers.Result` to :func:`~xentcli.writers.emit`.
"""

from __future__ import annotations

import os
import sys

import click
import numpy as np

from . import __version__, core, options
from .engine import map_rows
from .errors import PipeClosed, XentError
from .inputs import base_label, check_stdin, class_names, load_labels, load_predictions, load_weights, warn
from .writers import Result, emit

# Exit status when stdout is a pipe closed early (`| head`): 128 + SIGPIPE, as coreutils.
EXIT_BROKEN_PIPE = 141


class XentGroup(click.Group):
    """Runs a command and turns every failure into ``Error: …`` and an exit code (SPEC §4)."""

    def main(self, args=None, prog_name=None, **extra):
        args = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in args or bool(os.environ.get("XENT_DEBUG"))
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


@click.group(cls=XentGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xent")
@options.debug_option
def main():
    """Softmax, cross-entropy, KL, entropy, perplexity and gradients from the command line.

    Matrices come from files (.csv .tsv .txt .dat .npy .npz[:key]), '-' for
    stdin, or inline values such as "4,2,1;0,5,1". Try: xent example
    """


# -- softmax ---------------------------------------------------------------


@main.command()
@options.compose(options.logits_option, options.temperature_option, options.classes_option)
@click.option("--log", "log_space", is_flag=True, help="Print log-softmax (computed exactly, not as log of softmax).")
@options.output_options
@options.debug_option
def softmax(logits, temperature, classes, log_space, fmt, output, precision, header):
    """Softmax (or --log log-softmax) of each row of --logits."""
    pred = load_predictions(logits, None, temperature=temperature, allow_probs=False)
    names = class_names(classes, pred.num_classes, pred.matrix)
    fn = core.log_softmax if log_space else core.softmax
    out = map_rows(lambda z: fn(z, temperature=temperature), pred.values)
    key, title = ("log_probs", "log-softmax") if log_space else ("probs", "softmax")
    if temperature != 1.0:
        title += f" (T = {temperature:g})"

    def tables(p):
        from . import tables as t

        ids = t.shown_rows(len(out))
        return [t.matrix_table(title, out[ids], ids, len(out), names, precision=p)]

    result = Result(out, {"command": "softmax", "shape": list(out.shape), key: out}, names, tables)
    emit(result, fmt=fmt, output=output, precision=precision, header=header)


# -- ce --------------------------------------------------------------------


@main.command()
@options.predictions
@options.labels
@options.ce_options
@options.reduction_options
@options.output_options
@options.debug_option
def ce(logits, probs, temperature, renormalize, classes, labels, weights, ignore_index,
       label_smoothing, eps, reduction, base, fmt, output, precision, header):
    """Categorical cross-entropy of --labels under --logits or --probs.

    Labels are distributions (one-hot or soft, the predictions' shape) or N
    class indices. Weights, --ignore-index and --label-smoothing behave as in
    torch.nn.functional.cross_entropy, including the denominator of the mean.
    """
    check_stdin(logits=logits, probs=probs, labels=labels, weights=weights)
    pred = load_predictions(logits, probs, temperature=temperature, renormalize=renormalize)
    y, label_matrix = load_labels(labels, pred, ignore_index=ignore_index, renormalize=renormalize)
    w = load_weights(weights, pred.num_classes)
    names = class_names(classes, pred.num_classes, pred.matrix, label_matrix)
    settings = dict(weights=w, ignore_index=ignore_index, label_smoothing=label_smoothing, eps=eps)
    if pred.kind == "logits":
        per = map_rows(lambda z, t: core.cross_entropy(z, t, temperature=temperature, **settings), pred.values, y)
    else:
        per = map_rows(lambda p, t: core.cross_entropy_with_probs(p, t, **settings), pred.values, y)

    ignored = (y == ignore_index) if core.is_index_labels(y) and ignore_index is not None else None
    denominator = core.cross_entropy_denominator(y, weights=w, ignore_index=ignore_index)
    mean_nats = core.reduce(per, "mean", denominator=denominator)
    _warn_infinite(per, label_matrix)
    if denominator == 0:
        warn("the mean's denominator is 0 (every sample ignored or weighted 0): the mean is nan")

    scale = core.log_base(base)
    per_b = per / scale
    mean_b, sum_b = mean_nats / scale, core.reduce(per, "sum") / scale
    ppl = core.perplexity(mean_nats)
    value = {"mean": mean_b, "sum": sum_b, "none": per_b}[reduction]
    doc = {
        "command": "ce", "n": len(per), "base": base, "reduction": reduction,
        "mean": mean_b, "sum": sum_b, "denominator": denominator,
    }
    if reduction == "none":
        doc["per_sample"] = per_b
    doc["perplexity"] = ppl

    def tables(p):
        from . import tables as t

        loss_header = f"loss ({base_label(base)})"
        if len(per) == 1:
            probs_row = _probabilities(pred, [0], temperature)[0]
            main_table = t.single_sample_table(
                "cross-entropy", y[0], probs_row, t.fmt(per_b[0], p), names, loss_header=loss_header, precision=p
            )
        else:
            ids = t.shown_rows(len(per))
            main_table = t.loss_table(
                "cross-entropy", ids, len(per), y[ids], _probabilities(pred, ids, temperature), per_b[ids], names,
                loss_header=loss_header, ignored=None if ignored is None else ignored[ids], precision=p,
            )
        footer = [
            ("reduction", reduction),
            ("denominator", t.fmt(denominator, p)),
            ("mean" if reduction != "sum" else "sum", t.fmt(mean_b if reduction != "sum" else sum_b, p)),
            ("perplexity", t.fmt(ppl, p)),
        ]
        if eps is not None:
            footer.append(("eps", f"{eps:g} (naive -Σ y·log(p + eps))"))
        return [main_table, t.summary(footer)]

    header_names = ["loss"] if reduction == "none" else [reduction]
    emit(Result(value, doc, header_names, tables), fmt=fmt, output=output, precision=precision, header=header)


def _probabilities(pred, ids, temperature: float) -> np.ndarray:
    """The predicted probabilities of the samples ``ids`` (for tables only)."""
    rows = np.asarray(pred.values[np.asarray(ids)], dtype=np.float64)
    return core.softmax(rows, temperature=temperature) if pred.kind == "logits" else rows


def _warn_infinite(per: np.ndarray, label_matrix) -> None:
    inf = np.isinf(per)
    if inf.any():
        r = int(np.argmax(inf))
        count = int(inf.sum())
        warn(
            f"{label_matrix.locate(r)}: row {r + 1}: the loss is inf because a class its target needs has "
            f"probability 0 (a -inf logit or a zero probability)"
            + (f"; {count} samples in all" if count > 1 else "")
        )


# -- example ---------------------------------------------------------------


@main.command()
@options.debug_option
def example():
    """Reproduce the reference document's worked example on the shipped sample data."""
    from .example import worked_example
    from .tables import render

    render(worked_example(), sys.stdout.buffer, terminal=sys.stdout.isatty())
