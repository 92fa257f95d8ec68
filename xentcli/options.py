"""Click options shared by several commands, each defined once as a decorator."""

from __future__ import annotations

import functools
import math

import click

from .core.reductions import REDUCTIONS
from .numbers import ascii_spelled
from .readers.text import HEADER_MODES
from .writers import OUTPUT_FORMATS

__all__ = [
    "BASE",
    "logits_option",
    "temperature_option",
    "classes_option",
    "probs_option",
    "renormalize_option",
    "predictions",
    "labels",
    "weights_option",
    "sample_weights_option",
    "ignore_index_option",
    "smoothing_option",
    "eps_option",
    "ce_options",
    "bce_options",
    "base_option",
    "reduction_option",
    "reduction_options",
    "output_spec",
    "debug_option",
    "compose",
    "complete_path",
    "examples",
    "input_header_option",
    "shift_option",
    "scheduler_option",
    "reading",
    "explain_options",
]


def complete_path(ctx, param, incomplete):
    """Shell completion of a matrix or file option: the shell's own file names."""
    from click.shell_completion import CompletionItem

    return [CompletionItem(incomplete, type="file")]


class BaseType(click.ParamType):
    """``e`` or a finite number > 0 other than 1 (2 gives bits, 10 gives bans)."""

    name = "B"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) or value != "e":
            try:
                if isinstance(value, str) and not ascii_spelled(value):
                    raise ValueError(value)  # float() takes '1_0' and other scripts' digits
                b = float(value)
            except ValueError:
                self.fail(f"expected 'e', 2, 10 or another number > 0 other than 1, got {value!r}", param, ctx)
            if not (math.isfinite(b) and b > 0 and b != 1):
                self.fail(f"a log base must be a finite number > 0 other than 1, got {value!r}", param, ctx)
            return int(b) if b.is_integer() else b
        return "e"

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(b) for b in ("e", "2", "10") if b.startswith(incomplete)]


BASE = BaseType()

class Number(click.FloatRange):
    """A number spelled in ASCII within a range, never NaN: click's ``FloatRange`` lets ``nan``
    through every bound (each comparison is false) and ``float`` takes ``1_0`` and other scripts' digits."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not ascii_spelled(value):
            self.fail(f"{value!r} is not a number written in ASCII digits", param, ctx)
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"expected a number, got {value!r}", param, ctx)
        return number


class Whole(click.IntRange):
    """A whole number spelled in ASCII (``int`` takes ``1_0`` and other scripts' digits), optionally in a range."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.min is None and self.max is None:
            self.name = "integer"  # shown as INTEGER, with no range

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not ascii_spelled(value):
            self.fail(f"{value!r} is not a whole number written in ASCII digits", param, ctx)
        return super().convert(value, param, ctx)

    def _describe_range(self) -> str:
        return super()._describe_range() if self.min is not None or self.max is not None else ""


# An option value that must be a positive, finite number.
_POSITIVE = Number(min=0, min_open=True, max=math.inf, max_open=True)


def examples(*lines: str) -> str:
    """A command's ``--help`` epilog: real commands to copy, one a line (click keeps them unwrapped)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def compose(*decorators):
    """Apply several click decorators as one (listed in the order they appear in --help)."""

    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


def extensions() -> str:
    """The input extensions xent reads, from the readers' registry (for help texts)."""
    from .readers import FORMATS

    return " ".join(FORMATS)


logits_option = click.option(
    "--logits", metavar="MATRIX", shell_complete=complete_path,
    help=f"Logits N×C (or (…, C)): a file ({extensions()}; FILE:NAME picks an array or columns), '-' for stdin, "
         "or inline '4,2,1;0,5,1'.",
)
temperature_option = click.option(
    "--temperature", type=_POSITIVE, default=1.0, show_default=True, help="Divide logits by T before the softmax."
)
classes_option = click.option("--classes", metavar="NAMES",
                              help="Class names for tables, comma-separated: cat,dog,man.")


input_header_option = click.option(
    "--input-header", type=click.Choice(HEADER_MODES), default="auto", show_default=True,
    help="A first line of numbers in a text input: auto takes increasing integers over a row with no "
         "integer (pandas' 0,1,2 or Series name 0, scikit-learn's classes_ 1,3,5), and a lone 0 over a "
         "label file one line longer than the predictions, as a header; yes: always a header; no: always data.",
)
probs_option = click.option("--probs", metavar="MATRIX", shell_complete=complete_path,
                            help="Probabilities N×C instead of logits.")
def renormalize_option(rows: str):
    """--renormalize, saying which rows it rescales."""
    return click.option(
        "--renormalize", is_flag=True, help=f"Rescale {rows} to sum to 1 instead of rejecting those that do not."
    )


def predictions(f):
    """--logits / --probs (exactly one), --temperature, --renormalize, --classes."""
    return compose(logits_option, probs_option, temperature_option,
                   renormalize_option("probability and label rows"), classes_option)(f)


def labels(help: str = "Labels: distributions (one-hot or soft) of the predictions' shape, or N class indices."):
    """--labels, with what they are for this command."""
    return click.option("--labels", metavar="MATRIX", shell_complete=complete_path, required=True, help=help)


weights_option = click.option("--weights", metavar="VECTOR", shell_complete=complete_path,
                              help="One weight per class (PyTorch's weight=).")
sample_weights_option = click.option(
    "--sample-weights", metavar="VECTOR", shell_complete=complete_path,
    help="One weight >= 0 per sample (scikit-learn's sample_weight): mean is Σ w·loss / Σ w, sum is Σ w·loss, "
         "none gives each w·loss. A file, FILE:COLUMN, or inline '1,2,0.5'.",
)
ignore_index_option = click.option(
    "--ignore-index", type=Whole(), default=None,
    help="Skip samples whose class index is K (index labels only). Default: none."
)
shift_option = click.option(
    "--shift", is_flag=True,
    help="Next-token alignment, as causal LMs are trained: the logits at position t score the token at t+1 "
         "((B,T,V) logits and (B,T) ids use logits[:, :-1] and ids[:, 1:]).",
)
smoothing_option = click.option(
    "--label-smoothing", type=Number(0.0, 1.0), default=0.0, show_default=True,
    help="Mix labels with the uniform distribution: (1-ε)·y + ε/C.",
)
eps_option = click.option(
    "--eps", type=Number(min=0.0, max=math.inf, max_open=True), default=None,
    help="Use the naive -Σ y·log(p + EPS) of the reference document. Default: exact.",
)


def ce_options(f):
    """The options of torch.nn.functional.cross_entropy, plus the document's --eps."""
    return compose(weights_option, ignore_index_option, smoothing_option, eps_option)(f)


def bce_options(f):
    """--pos-weight and --class-mean."""
    return compose(
        click.option("--pos-weight", metavar="VECTOR", shell_complete=complete_path,
                     help="One weight per class for the positive term (PyTorch's pos_weight=)."),
        click.option("--class-mean", is_flag=True,
                     help="Average over classes instead of summing (the Keras/PyTorch 'mean' convention)."),
    )(f)


base_option = click.option(
    "--base", type=BASE, default="e", show_default=True,
    help="Log base of every loss, entropy and KL: e (nats), 2 (bits), 10, or any B > 0 other than 1.",
)


def reduction_option(help: str):
    """--reduction mean|sum|none, saying what it does for this command."""
    return click.option("--reduction", type=click.Choice(REDUCTIONS), default="mean", show_default=True, help=help)


def reduction_options(what: str = "per-sample values", denominator: str = "the number of samples"):
    """--reduction (with what is reduced and the mean's denominator) and --base."""
    return compose(reduction_option(
        f"How to combine the {what}: mean (the sum divided by {denominator}), sum, or none (one value per sample)."
    ), base_option)


def output_spec(f):
    """--format, --output, --precision, --header, resolved into one :class:`~xentcli.output.OutputSpec`
    that the command receives as ``output`` (--output is checked as soon as it is parsed)."""

    @functools.wraps(f)
    def command(*args, format, output, precision, header, **kwargs):
        from .output import OutputSpec  # not needed by --help and --version

        return f(*args, output=OutputSpec.resolve(format, output, precision, header), **kwargs)

    return compose(
        click.option(
            "--format", type=click.Choice(OUTPUT_FORMATS), default=None, callback=_check_output_call,
            help="Output format. Default: table on a terminal, csv otherwise, or the --output extension. "
                 "Given, it wins over the extension.",
        ),
        click.option(
            "--output", "-o", metavar="FILE", shell_complete=complete_path, callback=_check_output_call,
            help="Write here (atomically) instead of stdout, in the format of its extension: "
                 ".csv .tsv .json .npy .parquet (needs pyarrow: pip install 'xentcli[arrow]'); "
                 ".txt and no extension are csv; other extensions are refused; '-' is stdout.",
        ),
        click.option("--precision", type=Whole(1, 17), default=None,
                     help="Significant digits. Default: round-trip for csv/tsv/json, 8 in tables."),
        click.option("--header", is_flag=True, help="Start csv/tsv output with a header line."),
    )(command)


def _engine(ctx: click.Context, param: click.Parameter, value):
    """Callback of --scheduler: the command's engine (:func:`xentcli.engine.engine_for`), which :func:`reading`
    hands it in its reading: this process's threads, or, the address and dask's presence checked (without importing
    it), the Dask cluster at ADDRESS, closed when the command ends."""
    if ctx.resilient_parsing:
        return None
    from .engine import engine_for

    if value is None:
        return engine_for(None)
    import importlib.util

    from .engine.cluster import PIP_LINE, parse_address

    name = None
    if ctx.get_parameter_source(param.name) is click.core.ParameterSource.ENVIRONMENT:
        name = f"XENT_SCHEDULER={value.strip()} (--scheduler)"  # the user may not know it is set
    parse_address(value, name)
    if any(importlib.util.find_spec(m) is None for m in ("dask", "distributed")):
        from .errors import CallError

        raise CallError(f"--scheduler runs the row blocks on a Dask cluster, which needs dask: {PIP_LINE}")
    engine = engine_for(value)
    ctx.call_on_close(engine.close)  # the client closed, a local:N cluster shut down
    return engine


scheduler_option = click.option(
    "--scheduler", "engine", metavar="ADDRESS", envvar="XENT_SCHEDULER", callback=_engine,
    help="Run the row blocks on a Dask cluster: tcp://HOST:8786 joins a running scheduler, local:N starts N "
         "worker processes for this run (N at most 4 per core). Workers read the input files by the same path. Needs "
         "pip install 'xentcli[dask]'. Env: XENT_SCHEDULER.",
)


def reading(f):
    """--input-header and --scheduler's engine, with the command's name and the options it offers, resolved
    into one :class:`~xentcli.inputs.Reading` that the command receives as ``reading`` and hands to every
    loader (a command narrows it with :meth:`~xentcli.inputs.Reading.without` for options a call does not
    apply). The engine stays the context's: closed when the command ends."""

    @functools.wraps(f)
    def command(*args, engine, input_header, **kwargs):
        from .inputs import Reading  # not needed by --help and --version

        ctx = click.get_current_context()
        offered = frozenset(opt for p in ctx.command.params if not getattr(p, "hidden", False) for opt in p.opts)
        return f(*args, reading=Reading(ctx.command.name, input_header, engine, offered), **kwargs)

    return command


#: How many rows ``--explain`` derives unless told (a few show the pattern; all would drown it).
EXPLAIN_ROWS = 3


def explain_options(f):
    """--explain and --explain-rows N: the derivation of the numbers, step by step (xentcli.explain)."""
    return compose(
        click.option(
            "--explain", is_flag=True,
            help="Show how the numbers came about, step by step with the values substituted, ending with the "
                 "result (in place of the table; with --format csv/tsv/json/npy or --output the result goes "
                 "there as usual and the explanation to stderr).",
        ),
        click.option("--explain-rows", type=Whole(min=1), default=EXPLAIN_ROWS, show_default=True,
                     metavar="N", help="How many of the first rows --explain derives (it says how many it left out)."),
    )(f)


def debug_option(f):
    """--debug: show a traceback for an unexpected error (read by xentcli.cli.main before parsing)."""
    return click.option("--debug", is_flag=True, expose_value=False,
                        help="Show a Python traceback for unexpected errors.")(f)


def _check_output_call(ctx: click.Context, param: click.Parameter, value):
    """Callback of --format and --output: refuse an --output xent would not write while parsing.

    Click processes parameters in command-line order, so whichever of the two
    comes second sees the other in ``ctx.params`` and runs
    :func:`xentcli.writers.check_output` (an unknown extension, ``.parquet``
    without pyarrow, a missing folder): exit 2 before anything is read or created.
    """
    from .writers import check_output

    if param.name == "output" and value == "-":  # stdout, as for any Unix tool's -o -
        value = None
    other = "output" if param.name == "format" else "format"
    if not ctx.resilient_parsing and other in ctx.params:
        output, format = (ctx.params[other], value) if param.name == "format" else (value, ctx.params[other])
        check_output(output, format)
    return value
