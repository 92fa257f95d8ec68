"""``xent compare``: a model against a reference over the same tokens.

Parses the options, loads the inputs (:mod:`xentcli.inputs`), runs the one streamed pass
(:func:`xentcli.comparison.run`), summarises (:mod:`xentcli.comparison.statistics`) and hands
the result to :func:`~xentcli.output.emit` as data.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
from contextlib import ExitStack, contextmanager

import click
import numpy as np

from .. import options
from ..comparison import Test, check_tokens, columns, run
from ..comparison import statistics as stats
from ..comparison.reference import Reference, ReferenceWriter, is_reference
from ..core.tokens import KLD_LOGPROB_FLOOR
from ..destination import check_file, open_output, writes_through
from ..errors import CallError, DataError, reason
from ..inputs import check_stdin, load_labels, load_predictions
from ..numbers import COMPARE_TABLE_DIGITS
from ..output import Result, emit
from ..printable import warning
from ..readers import split_selector
from ..readers.kld import KldFile
from ..writers import ColumnWriter, check_parquet

#: --per-token's format by its extension; a name without one (``/dev/stdout``, a FIFO) is csv, as for -o.
PER_TOKEN_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", "": "csv"}
#: Most resamples --bootstrap takes: each keeps 8 bytes per interval (3 a test), so 100,000 keep 2.4 MB a
#: test beside the resampling's fixed 32 MB; the percentile interval's ends need no more.
MAX_BOOTSTRAP = 100_000


@click.command(epilog=options.examples(
    "xent compare --base f16.npy --test q4=q4.npy --targets ids.npy",
    "xent compare --base f16.safetensors --test q4.safetensors --test q8.safetensors --targets ids.npy --shift",
    "xent compare --base base.kld --test q4.npy --per-token tokens.csv --worst 10",
))
@click.option("--base", "base_spec", metavar="MATRIX", shell_complete=options.complete_path, required=True,
              help="The reference model: logits or log-probabilities (…, V) in any input form; a llama.cpp "
                   ".kld base file (it brings its targets); or a reference saved by --save-base.")
@click.option("--test", "test_specs", metavar="[NAME=]MATRIX", shell_complete=options.complete_path, multiple=True,
              help="A model to compare with the base, over the same tokens (repeatable). Its name is NAME, "
                   "else the file name without its extension.")
@click.option("--targets", metavar="VECTOR", shell_complete=options.complete_path,
              help="The true next token of each row (token ids). Without them "
              "the statistics that need targets (NLL, perplexity, accuracy, Δp) are absent.")
@options.shift_option
@options.ignore_index_option
@click.option("--top-k", "top_k", type=options.Whole(min=1), default=5, show_default=True,
              help="K of topk_acc and topk_overlap, and how many log-probabilities --save-base keeps "
                   "(a saved reference given as --base brings its own K).")
@click.option("--bytes", "n_bytes", type=options.Whole(min=1),
              help="Total UTF-8 bytes of the text: adds bits_per_byte.")
@click.option("--bootstrap", "n_boot", type=options.Whole(min=1, max=MAX_BOOTSTRAP),
              help=f"Resample whole sequences N times (at most {MAX_BOOTSTRAP:,}): a 95% interval (ci95) for kl, "
                   "ln_ppl_ratio and same_top1 (csv and Parquet add its ends as <statistic>_ci95_lo and _hi columns).")
@click.option("--seed", type=options.Whole(), default=0, show_default=True,
              help="Seed of --bootstrap (the same seed, the same interval).")
@click.option("--block", "block_tokens", type=options.Whole(min=1),
              help="For --bootstrap: sequences of T tokens (default: the rows of (B,T,V) inputs, else each token).")
@click.option("--per-token", "per_token", metavar="FILE", shell_complete=options.complete_path,
              help="Write one row per scored token (.csv .tsv .parquet; csv without an extension), atomically; "
                   "(B,T,V) inputs add each token's sequence and position. A device or FIFO (/dev/stdout) is "
                   "written once the run has succeeded, like -o.")
@click.option("--worst", type=options.Whole(min=0), default=0,
              help="List the N tokens of largest KL (with their sequence and position for (B,T,V) inputs).")
@click.option("--save-base", "save_base", metavar="FILE.safetensors", shell_complete=options.complete_path,
              help="Also save a compact reference of the base (top-K log-probabilities per token) for later runs "
                   "(safetensors; a device or FIFO is written once the run has succeeded).")
@options.scheduler_option
@options.output_spec
@options.input_header_option
@options.reading
@options.debug_option
def compare(base_spec, test_specs, targets, shift, ignore_index, top_k, n_bytes, n_boot, seed, block_tokens,
            per_token, worst, save_base, output, reading):
    """Compare models over the same tokens: KL, perplexity ratio, top-1 agreement and more.

    The base B and each test T are logits (or log-probabilities) of the same
    tokens, shape (…, V). Every input is read once, a block of rows at a time;
    only a few numbers a token are kept. The statistics and their standard
    errors are llama.cpp's `perplexity --kl-divergence` ones, so the two can
    be set side by side.
    """
    _check_files(per_token, save_base, output.destination)
    tests_named = _named_tests(test_specs)
    if not tests_named and not save_base:
        raise CallError("give at least one --test (or --save-base to save the base alone)")
    check_stdin(base=base_spec, targets=targets, **{f"test_{i}": s for i, (_, s) in enumerate(tests_named)})
    if n_boot is None and block_tokens is not None:
        raise CallError("--block sets the sequences of --bootstrap; give --bootstrap N too")

    base_path, base_selector = split_selector(base_spec)
    kind = "reference" if os.path.isfile(base_path) and is_reference(base_path) else "logits"
    reference = Reference(base_path) if kind == "reference" else None
    # The default K is no choice of the user's: only a --top-k given is questioned.
    given_top_k = click.get_current_context().get_parameter_source("top_k") is not click.core.ParameterSource.DEFAULT
    if reference is not None:
        _check_reference_flags(reference, shift, top_k if given_top_k else None)
        top_k = reference.top_k  # a saved reference's K is the file's
    base_rows = f"{base_path}:topk_logprobs" if kind == "reference" else base_spec
    base = load_predictions(base_rows, None, allow_probs=False, options=("--base", None), reading=reading)
    if kind == "logits" and isinstance(base.matrix.values, KldFile) and base_selector in (None, "logprobs"):
        # llama.cpp's file however it came (its name, stdin, a pipe, no extension): read as llama.cpp reads it
        kind, base_path = "kld", base.matrix.values.path
    if kind != "reference" and top_k > base.num_classes:
        if given_top_k:
            warning(f"--top-k {top_k} is more than the {base.num_classes} classes: K = {base.num_classes}, every class "
                    "(top-k accuracy and overlap are then 1)")
        top_k = base.num_classes
    if kind == "kld" and shift:
        raise CallError("--shift: the rows of a .kld file are already aligned with their next tokens")
    if kind != "logits" and save_base:
        raise CallError("--save-base saves a base given as logits or log-probabilities")
    tests = [Test(name, load_predictions(spec, None, allow_probs=False, options=("--test", None), reading=reading))
             for name, spec in tests_named]
    if kind == "reference":
        for t in tests:
            if t.pred.num_classes != reference.vocab:
                raise DataError(f"{t.pred.matrix.where} has a vocabulary of {t.pred.num_classes}, but the saved "
                                f"reference --base {base_path} was made for {reference.vocab}")
    if kind == "logits":
        for t in tests:  # the same tokens in the same layout: sequences (--shift, --bootstrap) are the base's
            if t.pred.num_classes == base.num_classes and tuple(t.pred.shape) != tuple(base.shape):
                raise DataError(f"{t.pred.matrix.where} has shape {t.pred.shape} but {base.matrix.where} has shape "
                                f"{base.shape}: the same tokens are needed in both, in the same layout")
    if shift:  # a saved reference holds rows already shifted (--save-base with --shift): only the tests move
        for p in ((base,) if kind == "logits" else ()) + tuple(t.pred for t in tests):
            p.shift()

    if kind == "reference":  # its targets are read as the tests' tokens, which must be the reference's
        check_tokens(base, tests, kind=kind, reference=reference)
    y = _targets(targets, kind, base_path, base, tests, reference, ignore_index, reading)
    if n_bytes is not None and y is None:
        warning("--bytes: bits per byte come from the NLL, which needs targets; without them it is absent")
    groups_of = _groups(tests[0].pred if kind == "reference" else base, block_tokens)
    located = _sequences(kind, base, tests)

    kl_key = columns.divergence(kind)
    with ExitStack() as stack:
        on_block = _writers(stack, per_token, save_base, base, tests, y, top_k, kind, located)
        cols = run(base, tests, y, kind=kind, reference=reference, ignore_index=ignore_index, top_k=top_k,
                   save_top_k=top_k if save_base else None, on_block=on_block,
                   columns=_columns(output.format, kind, per_token))
        if cols.n == 0:  # before the files are kept
            raise CallError("no token is scored: every target is --ignore-index") if y is not None else \
                CallError("no tokens to compare")

    models, out_tests = stats.summarize(cols.base, cols.tests, bytes_=n_bytes)
    if n_boot:
        groups = groups_of(cols.rows)
        if np.unique(groups).size < 2:  # nothing to resample: an interval of width 0 would claim certainty
            warning(f"--bootstrap: the {cols.n} scored token{'s are' if cols.n != 1 else ' is'} one sequence"
                    + (f" (--block {block_tokens})" if block_tokens is not None else "")
                    + "; a block bootstrap resamples whole sequences and needs at least 2, so no ci95 is given")
        else:
            stats.bootstrap(cols.base, cols.tests, out_tests, groups, n_boot=n_boot, seed=seed)
    if worst:
        for name, c in cols.tests.items():
            out_tests[name]["worst"] = stats.worst_tokens(cols.rows, cols.target, cols.base, c, worst, kl_key,
                                                             located=located)
    for name, c in cols.tests.items():
        if kl_key in c and np.isinf(c[kl_key]).any():
            i = int(np.argmax(np.isinf(c[kl_key])))
            warning(f"test {name}: token {int(cols.rows[i])}: KL is inf because the test gives probability 0 "
                    f"(a -inf logit) to a class the base gives mass; {int(np.isinf(c[kl_key]).sum())} token(s) in all")
    doc = {"command": "compare", "n": cols.n, "top_k": top_k, "models": models, "tests": out_tests}
    if len(tests) > 1:
        doc["pairs"] = stats.pair_summary(cols.tests)

    # csv and npy: the columns table's csv columns, NaN where a test has none
    csv = columns.csv_columns(kind, bool(n_boot))
    rows = [[_get(t, s.key, field) for s, _, field in csv] for t in out_tests.values()]

    view = None
    if output.draws_table():
        from ..views import CompareView  # imported only when a table is drawn
        kl_values = {name: c.get(kl_key) for name, c in cols.tests.items()}
        view = CompareView(notes=_notes(kind, cols, top_k),
                           **stats.table_view(doc, kl_values, output.precision or COMPARE_TABLE_DIGITS,
                                              kl_label="KL bound" if kind == "reference" else "KL"))

    names = [column for _, column, _ in csv]
    emit(Result(np.array(rows, dtype=np.float64).reshape(len(rows), len(names)), doc, ["name", *names], view,
                row_names=list(out_tests)), output)


def _columns(output_format: str, kind: str, per_token) -> set[str] | None:
    """The per-token columns the output needs: all for the table and JSON; the csv line's own and
    --per-token's otherwise (the rest is not computed)."""
    if output_format in ("table", "json"):
        return None
    return columns.terms_for(kind, bool(per_token))


def _check_files(per_token: str | None, save_base: str | None, output: str | None) -> None:
    """Wrong calls found before anything is read: extensions of the files compare writes, and two
    of them naming one file (the last written would replace the other; what is written through, a
    device or a FIFO, takes each in turn, as a shell's ``>&`` does)."""
    named = [(option, os.path.realpath(path)) for option, path in
             (("--output", output), ("--per-token", per_token), ("--save-base", save_base))
             if path is not None and not writes_through(path)]
    for i, (a, path_a) in enumerate(named):
        for b, path_b in named[i + 1:]:
            if path_a == path_b:
                raise CallError(f"{a} and {b} name the same file {path_a}: give each its own")
    if per_token is not None:
        ext = os.path.splitext(per_token)[1].lower()
        if ext not in PER_TOKEN_FORMATS:
            raise CallError(f"--per-token {per_token}: write it as {' '.join(e for e in PER_TOKEN_FORMATS if e)} "
                            "(a name without an extension is csv)")
        check_file(per_token, "--per-token")
        if ext == ".parquet":
            check_parquet(per_token, "--per-token")
    if save_base is not None:
        # a device or FIFO has no name to read it back by: whatever it is called, it gets the safetensors bytes
        if not save_base.lower().endswith(".safetensors") and not writes_through(save_base):
            raise CallError(f"--save-base {save_base}: a reference is written as .safetensors")
        check_file(save_base, "--save-base")


def _check_reference_flags(reference: Reference, shift: bool, top_k: int | None) -> None:
    """A saved reference fixes K and whether its rows are shifted: a disagreeing --shift is a wrong call
    naming the fix, a --top-k given (``top_k``, None when left at its default) other than the file's is
    said (the file's K serves)."""
    if reference.shift is not None and reference.shift != shift:
        raise CallError(
            f"--base {reference.path} was saved with --shift: its rows are each sequence's positions but the "
            "last, scored against the next token; give --shift too, so the tests are shifted the same way"
            if reference.shift else
            f"--shift: the saved reference --base {reference.path} was saved without --shift, so its rows are the "
            "tests' rows as they are; leave out --shift, or save the reference again with --shift")
    if top_k is not None and top_k != reference.top_k:
        warning(f"--top-k {top_k}: the saved reference --base {reference.path} keeps the top {reference.top_k} "
                f"log-probabilities of each token, so K = {reference.top_k} (its top_k)")


def _named_tests(specs) -> list[tuple[str, str]]:
    """``(name, spec)`` of each --test: ``NAME=T``, else the file name without its extension (for shards,
    the folder's name)."""
    named = []
    for i, spec in enumerate(specs, start=1):
        name, sep, rest = spec.partition("=")
        if sep and not name and not os.path.exists(spec):
            raise CallError(f"--test {spec}: the name before '=' is empty; give NAME=FILE, or the file alone "
                            "(named after it)")
        if sep and name and not os.path.exists(spec) and "/" not in name:
            named.append((name, rest))
            continue
        path = split_selector(spec)[0].rstrip("/")
        if any(c in path for c in "*?[") and not os.path.exists(path):  # shards: the folder names the model
            path = os.path.dirname(path)
        stem = os.path.splitext(os.path.basename(path))[0] if os.path.exists(path) else ""
        named.append((stem or f"test{i}", spec))
    seen = set()
    for name, _ in named:
        if name in seen or name == "base":
            raise CallError(f"--test: two models are named '{name}'; name them apart: --test NAME=FILE"
                            if name in seen else "--test: 'base' names the base; give the test another NAME=")
        seen.add(name)
    return named


def _targets(targets, kind, base_path, base, tests, reference, ignore_index, reading):
    """The targets of the scored rows: --targets, else those the base brings (.kld, saved reference)."""
    vocab_of = tests[0].pred if kind == "reference" and tests else base
    if targets is None and kind == "kld":
        targets = f"{base_path}:targets"
    if targets is None and kind == "reference":
        if reference.targets is None:
            return None
        from ..core import check_class_indices

        try:
            check_class_indices(reference.targets, reference.vocab, ignore_index=ignore_index)
        except ValueError as e:  # located: the file and its stored targets (docs/errors.md)
            from ..inputs import index_hint

            raise DataError(f"--base {base_path}: its stored targets: {e}"
                            f"{index_hint(reference.targets, reference.vocab, ignore_index, reading)}") from e
        _check_target_logprob(reference, ignore_index)
        return reference.targets
    if targets is None:
        return None
    if kind == "reference" and reference.targets is None:
        raise CallError(f"--targets: the saved reference --base {base_path} was saved without targets, so it holds no "
                        "log-probability of them for the base's NLL; compare without --targets, or save the "
                        "reference with --targets")
    # A reference's targets are read as its test's tokens (shifted the same way with --shift).
    y, _ = load_labels(targets, vocab_of, kind="indices", ignore_index=ignore_index, option="--targets",
                       reading=reading)
    if kind == "reference":
        _check_target_logprob(reference, ignore_index)
        given, stored = np.asarray(y).reshape(-1), np.asarray(reference.targets).reshape(-1)
        differ = given != stored
        if differ.any():
            r = int(np.argmax(differ))
            raise DataError(f"--targets {targets} differ from the targets stored in the saved reference --base "
                            f"{base_path} (first at token {r}: {int(given[r])}, stored {int(stored[r])}): its base "
                            "log-probabilities are those of its own targets; leave --targets out to use them")
    return y


def _check_target_logprob(reference: Reference, ignore_index) -> None:
    """Every scored token of a saved reference has its target's log-probability (NaN only where the
    reference was saved with its target ignored)."""
    missing = np.isnan(reference.target_logprob)
    if ignore_index is not None:
        missing &= reference.targets != ignore_index
    if missing.any():
        r = int(np.argmax(missing))
        raise DataError(f"--base {reference.path}: row {r + 1}: its target {int(reference.targets[r])} has no stored "
                        "log-probability (NaN: it was ignored when the reference was saved); give the same "
                        "--ignore-index as then")


def _sequences(kind: str, base, tests):
    """``rows -> (sequence, position)`` of scored rows, 0-based, for inputs made of sequences; else None.

    Sequences are the rows of (B, T, V) inputs (any leading axes flattened into B), one (T, V) input
    with --shift, or a .kld file's chunks. The position is the scored logits row's place in its
    sequence (with --shift its target is the token after it; in a .kld chunk llama.cpp scores the
    positions from n_ctx/2 on). A flat (N, V) input has none: the columns are absent.
    """
    n_ctx = getattr(base.matrix.values, "n_ctx", None) if kind == "kld" else None
    if n_ctx is not None:
        first = n_ctx // 2
        scored = n_ctx - 1 - first
        return lambda rows: (rows // scored, first + rows % scored)
    pred = tests[0].pred if kind == "reference" and tests else base
    if len(pred.shape) < 3 and pred.unshifted_shape is None:
        return None
    t = pred.shape[-2]
    return lambda rows: (rows // t, rows % t)


def _groups(base, block_tokens):
    """The sequence of each scored row, for the block bootstrap."""
    if block_tokens is not None:
        return lambda rows: rows // block_tokens
    if len(base.shape) >= 3:
        t = base.shape[-2]
        return lambda rows: rows // t
    n_ctx = getattr(base.matrix.values, "n_ctx", None)
    if n_ctx is not None:  # a .kld base: its chunks are the sequences
        scored = n_ctx - 1 - n_ctx // 2
        return lambda rows: rows // scored
    return lambda rows: rows


@contextmanager
def _output(path: str, option: str):
    """:func:`~xentcli.destination.open_output` of a file compare streams into during its pass. What is written
    through (a device, a FIFO, ``/dev/stdout``) cannot be taken back, so it gets the bytes only once the
    pass has succeeded: until then they go to an unnamed temp file (nothing of it outlives the run)."""
    if not writes_through(path):
        with open_output(path, option) as out:
            yield out
        return
    try:
        spool = tempfile.TemporaryFile(prefix="xent-spool-")
    except OSError as e:
        raise CallError(f"{option} {path}: cannot make its temp file in {tempfile.gettempdir()}: {reason(e)}") from e
    with spool:
        try:
            yield spool
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise
            raise DataError(f"{option} {path}: its temp file in {tempfile.gettempdir()}: {reason(e)}") from e
        spool.seek(0)
        with open_output(path, option) as out:
            shutil.copyfileobj(spool, out, 1 << 20)


def _writers(stack: ExitStack, per_token, save_base, base, tests, y, top_k, kind, located):
    """The ``on_block`` of :func:`run` that streams --per-token and --save-base (atomic files)."""
    table = reference = None
    shown = columns.per_token(kind, y is not None)
    if per_token is not None:
        file_format = PER_TOKEN_FORMATS[os.path.splitext(per_token)[1].lower()]
        out = stack.enter_context(_output(per_token, "--per-token"))
        names = ["index"] + (["sequence", "position"] if located is not None else [])
        names += ["target"] if y is not None else []
        for s in shown:
            names += [f"{s.per_token}_base"] if s.scope == "model" else []
            names += [f"{s.per_token}_{t.name}" for t in tests]
        table = ColumnWriter(out, file_format, names)
        stack.callback(table.close)
    if save_base is not None:
        out = stack.enter_context(_output(save_base, "--save-base"))
        reference = ReferenceWriter(out, len(base), base.num_classes, top_k, y is not None,
                                    shift=base.unshifted_shape is not None)

    scored = [0]  # tokens scored so far: the 0-based scored-token index of each row written

    def on_block(start, rows, block):
        if reference is not None:
            reference.write(start, block.saved)
        if table is not None:
            values = [np.arange(scored[0], scored[0] + len(rows))]
            scored[0] += len(rows)
            if located is not None:
                values += located(rows)
            if y is not None:
                values.append(block.target)
            for s in shown:
                values += [block.base[s.term]] if s.scope == "model" else []
                values += [block.tests[t.name][s.term] for t in tests]
            table.add([np.asarray(c) for c in values])

    return on_block if (table is not None or reference is not None) else None


def _get(test: dict, key: str, field: str) -> float:
    """A field of a test's statistic (:func:`~xentcli.comparison.columns.lookup`), NaN where it has none
    (an absent statistic, an interval of one sequence)."""
    value = columns.lookup(test.get(key), field)
    return math.nan if value is None else value


def _notes(kind: str, cols, top_k: int) -> list[str]:
    notes = [f"{cols.n:,} scored tokens" + ("" if cols.target is not None else " (no targets: NLL, perplexity, "
                                                                                "accuracy and Δp are absent)"),
             f"top-k: K = {top_k}"]
    if kind == "kld":
        notes.append(f"base: a llama.cpp .kld file, read as llama.cpp reads it: its log-probabilities as stored (not "
                     f"renormalised), KL over the entries above {KLD_LOGPROB_FLOOR:g}; the file floors "
                     f"log-probabilities {-KLD_LOGPROB_FLOOR:g} nats below each row's maximum, which biases the "
                     "base's perplexity")
    if kind == "reference":
        notes.append("base: a saved reference (top-K log-probabilities): KL is a lower bound (kl_lower_bound), "
                     "over the top K and the rest as one outcome")
    return notes
