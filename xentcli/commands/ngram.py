"""``xent ngram build`` and ``xent ngram ppl``: smoothed n-gram language models from text, written
as ARPA files and scored as KenLM's ``query`` scores them (docs/ngram.md)."""

from __future__ import annotations

import math
import os
import re

import click

from .. import options
from ..errors import CallError, PipeClosed
from ..output import Result, emit
from ..printable import warning

#: The options that take several values, lmplz's way: ``--prune 0 1 1``, ``--text a.txt b.txt``.
_MANY = ("--text", "--prune", "--discount-fallback", "--train")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([kmgt%]?)i?b?\s*$", re.IGNORECASE)


class _Command(click.Command):
    """A command whose options of several values take every word after them up to the next option,
    as lmplz's do (``--prune 0 1 1``), as well as one value per use; a bare ``--discount-fallback``
    means lmplz's default discounts."""

    def parse_args(self, ctx, args):
        out, many = [], None
        for arg in args:
            name = arg.split("=", 1)[0]
            if arg.startswith("-") and arg != "-":
                if many == "--discount-fallback" and out[-1] == many:
                    out.append("")
                many = name if name in _MANY and "=" not in arg else None
                out.append(arg)
            elif many is not None and out[-1] != many:
                out += [many, arg]
            else:
                out.append(arg)
        if many == "--discount-fallback" and out and out[-1] == many:
            out.append("")
        return super().parse_args(ctx, out)


def memory_size(value: str) -> int:
    """``--memory``: bytes, with K, M, G or T (powers of 1024), or a percentage of the machine's memory."""
    m = _SIZE.match(value or "")
    if not m:
        raise CallError(f"--memory: expected a size such as 512M, 4G or 20%, got {value!r}")
    number, unit = float(m.group(1)), m.group(2).lower()
    if unit == "%":
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        size = total * number / 100
    else:
        size = number * 1024 ** "bkmgt".index(unit or "b")
    if size < 1 << 20:
        raise CallError(f"--memory: at least 1M, got {value!r}")
    return int(size)


def _model_options(f):
    return options.compose(
        click.option("--order", type=options.Whole(1, 20), metavar="N", help="The longest n-gram: 3 for trigrams."),
        click.option("--smoothing", type=click.Choice(["mkn", "kn", "katz", "wb", "jm", "add-k"]), default="mkn",
                     show_default=True,
                     help="mkn: modified Kneser-Ney as KenLM's lmplz; kn: Kneser-Ney, one discount per order; "
                          "katz: Good-Turing with Katz back-off; wb: Witten-Bell; jm: deleted interpolation "
                          "(Jelinek-Mercer); add-k: additive."),
        click.option("--interpolate-unigrams/--no-interpolate-unigrams", default=True,
                     help="mkn: interpolate the unigrams with the uniform distribution (lmplz's default), or give "
                          "that mass to <unk> alone (SRILM's way)."),
        click.option("--vocab-pad", type=options.Whole(0), default=0, metavar="N",
                     help="mkn: spread <unk>'s share as if the vocabulary had at least N words (lmplz's --vocab_pad)."),
        click.option("--prune", multiple=True, type=options.Whole(0), metavar="T…",
                     help="mkn: leave out n-grams seen at most T times, one threshold per order from the unigrams "
                          "(0), the last repeated: --prune 0 1 1 (lmplz's --prune)."),
        click.option("--discount-fallback", multiple=True, metavar="[D1 D2 D3+]",
                     help="mkn: where the text gives no usable discounts (small or repetitive text), use these "
                          "(default 0.5 1 1.5) instead of failing, as lmplz's --discount_fallback."),
        click.option("--k", "add_k", type=options.Number(min=0, min_open=True), default=None,
                     help="add-k: the count added to every n-gram (default 1: Laplace)."),
        click.option("--heldout", metavar="FILE", shell_complete=options.complete_path,
                     help="jm: held-out text for the interpolation weights."),
        click.option("--heldout-fraction", type=options.Number(0, 1, min_open=True, max_open=True), default=None,
                     metavar="F",
                     help="jm: hold out the last F of the text's lines instead (default 0.1); they are not counted."),
        click.option("--skip-symbols", is_flag=True,
                     help="Read <s>, </s> and <unk> in the text as spaces instead of failing "
                          "(lmplz's --skip_symbols)."),
        click.option("--memory", default="1G", show_default=True, metavar="SIZE",
                     help="Count tables held in memory before sorted runs go to disk: 512M, 4G or 20%."),
        click.option("--temp-folder", metavar="DIR", type=click.Path(file_okay=False, exists=True),
                     help="Where sorted runs go (default: the system's temp folder)."),
        options.scheduler_option,
    )(f)


def _build(texts, order, smoothing, interpolate_unigrams, vocab_pad, prune, discount_fallback, add_k, heldout,
           heldout_fraction, skip_symbols, memory, temp_folder, engine):
    """Count ``texts`` and estimate the model: (Counts, Estimate)."""
    from ..ngram.corpus import text_files
    from ..ngram.counts import count_text
    from ..ngram.smoothing import estimate

    if order is None:
        raise CallError("--order: give the model's order, e.g. --order 3")
    mkn_only = {"--no-interpolate-unigrams": not interpolate_unigrams, "--vocab-pad": vocab_pad,
                "--prune": prune, "--discount-fallback": discount_fallback}
    if smoothing != "mkn":
        used = [k for k, v in mkn_only.items() if v and not (smoothing == "kn" and k == "--discount-fallback")]
        if used:
            also = " and kn" if used[0] == "--discount-fallback" else ""
            raise CallError(f"{used[0]} applies to --smoothing mkn{also} only")
    if smoothing != "add-k" and add_k is not None:
        raise CallError("--k applies to --smoothing add-k only")
    if smoothing != "jm" and (heldout or heldout_fraction is not None):
        raise CallError(f"{'--heldout' if heldout else '--heldout-fraction'} applies to --smoothing jm only")
    if heldout and heldout_fraction is not None:
        raise CallError("give --heldout or --heldout-fraction, not both")
    files = text_files(texts)
    budget = memory_size(memory)
    if smoothing == "jm":
        return _build_jm(files, order, heldout, heldout_fraction, skip_symbols)
    counts = count_text(files, order, skip_symbols=skip_symbols, memory=budget, temp_folder=temp_folder,
                        engine=engine)
    opts = {}
    fallback = None
    if discount_fallback:
        fallback = [float(_discount(v)) for part in discount_fallback for v in part.split() if v]
    if smoothing == "mkn":
        opts = dict(interpolate_unigrams=interpolate_unigrams, vocab_pad=vocab_pad, prune=list(prune) or None,
                    discount_fallback=fallback)
    elif smoothing == "kn":
        opts = dict(discount_fallback=fallback)
    elif smoothing == "add-k":
        opts = dict(k=1.0 if add_k is None else add_k)
    return counts, estimate(counts, smoothing, **opts)


def _one_stdin(**given) -> None:
    """Stdin, or one pipe, read by one option once (``-``, ``/dev/stdin``, ``/dev/fd/0`` alike)."""
    from ..inputs import check_stdin

    values = {}
    for name, value in given.items():
        if isinstance(value, (tuple, list)):
            values.update({f"{name.rstrip('s')}_{i}": v for i, v in enumerate(value)})
        elif value is not None:
            values[name] = value
    check_stdin(**values)


def _discount(v: str) -> float:
    try:
        d = float(v)
    except ValueError:
        raise CallError(f"--discount-fallback: expected numbers (D1 D2 D3+), got {v!r}") from None
    if not 0 <= d < math.inf:
        raise CallError(f"--discount-fallback: a discount must be a finite number of at least 0, got {v!r}")
    return d


def _build_jm(files, order, heldout, fraction, skip_symbols):
    """Deleted interpolation: count the text (less its held-out lines) and fit the weights on the held-out part."""
    from ..ngram.corpus import SPECIALS, read_sentences, split_words
    from ..ngram.counts import count_lines
    from ..ngram.smoothing import estimate

    lines = [line for batch in read_sentences(files) for line in batch.lines]
    if heldout:
        from ..ngram.corpus import text_files

        held = [line for batch in read_sentences(text_files([heldout], "--heldout")) for line in batch.lines]
        train = lines
    else:
        cut = len(lines) - max(1, int(round(len(lines) * (fraction or 0.1))))
        if cut < 1:
            raise CallError("--heldout-fraction leaves no line to count: give more text or --heldout FILE")
        train, held = lines[:cut], lines[cut:]
    counts = count_lines(train, order, skip_symbols=skip_symbols)
    ids = counts.index
    held_ids = [[ids.get(w, 0) for w in split_words(line) if not skip_symbols or w not in SPECIALS] for line in held]
    return counts, estimate(counts, "jm", heldout=held_ids)


def _report(counts, est, smoothing):
    """The build report, as the JSON of --format json has it (drawn as text by _emit_report)."""
    model = est.model
    doc = {"command": "ngram build", "smoothing": smoothing, "order": model.order, "tokens": counts.tokens,
           "sentences": counts.sentences, "types": len(counts.vocab), "ngrams": model.sizes,
           "parameters": est.parameters, "notes": est.notes}
    return doc


@click.group(epilog=options.examples(
    "xent ngram build --text corpus.txt --order 3 -o model.arpa",
    "xent ngram ppl --model model.arpa --text test.txt",
    "xent ngram ppl --train corpus.txt --order 3 --smoothing wb --text test.txt",
))
def ngram():
    """Smoothed n-gram language models: build one from text as KenLM's lmplz does (ARPA), and score text
    with it as KenLM's query does (cross-entropy and perplexity)."""


@ngram.command(cls=_Command, epilog=options.examples(
    "xent ngram build --text corpus.txt --order 3 -o model.arpa",
    "xent ngram build --text 'shards/*.txt.gz' --order 5 --prune 0 1 1 -o model.arpa.gz",
    "xent ngram build --text tiny.txt --order 3 --discount-fallback",
    "xent ngram build --text corpus.txt --order 3 --smoothing katz --format json -o katz.arpa",
))
@click.option("--text", "texts", multiple=True, metavar="FILE…", shell_complete=options.complete_path,
              help="The text: one sentence a line, words split on spaces. Files, '-' (stdin), globs or folders "
                   "of shards; .gz, .bz2 and .xz are read as such.")
@_model_options
@click.option("-o", "--output", "destination", metavar="FILE", help="Write the ARPA model here (default: stdout).")
@click.option("--format", "report_format", type=click.Choice(["table", "json"]), default=None,
              help="The report's format: table (the default) or json. It goes to stdout when -o writes the model, "
                   "else to stderr.")
@options.debug_option
def build(texts, destination, report_format, **model):
    """Build a smoothed n-gram model of --text and write it as an ARPA file.

    Every line is a sentence, with <s> and </s> added. The default, mkn, is
    interpolated modified Kneser-Ney exactly as KenLM's lmplz builds it.
    The report gives tokens, types, n-grams per order and the discounts.
    """
    if not texts:
        raise CallError("--text: give the text to build from, e.g. --text corpus.txt")
    _one_stdin(texts=texts, heldout=model["heldout"])
    if destination is not None:
        from ..destination import check_file

        check_file(destination)
    counts, est = _build(texts, **model)
    from ..destination import open_output
    from ..ngram.arpa import write_arpa

    try:
        if destination is not None and destination.endswith(".gz"):
            import gzip

            with open_output(destination) as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as z:
                write_arpa(est.model, z)
        else:
            with open_output(destination) as out:
                write_arpa(est.model, out)
    except BrokenPipeError as e:  # `| head`: click would make it exit 1
        raise PipeClosed() from e
    _emit_report(_report(counts, est, model["smoothing"]), report_format, to_stdout=destination is not None)


def _emit_report(doc, report_format, *, to_stdout):
    import json
    import sys

    if report_format == "json":
        text = json.dumps(doc, indent=2) + "\n"
        (sys.stdout if to_stdout else sys.stderr).write(text)
        return
    lines = [f"{doc['command']} ({doc['smoothing']}, order {doc['order']}): {doc['tokens']:,} tokens, "
             f"{doc['sentences']:,} sentences, {doc['types']:,} types"]
    for n, (size, params) in enumerate(zip(doc["ngrams"], doc["parameters"]), 1):
        shown = "  ".join(f"{k}={_short(v)}" for k, v in params.items())
        lines.append(f"  {n}-grams: {size:,}" + (f"   {shown}" if shown else ""))
    lines += [f"  note: {note}" for note in doc["notes"]]
    (sys.stdout if to_stdout else sys.stderr).write("\n".join(lines) + "\n")


def _short(v):
    if isinstance(v, dict):
        return "[" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "]"
    return f"{v:.6g}" if isinstance(v, float) else str(v)


@ngram.command(cls=_Command, epilog=options.examples(
    "xent ngram ppl --model model.arpa --text test.txt",
    "xent ngram ppl --model model.arpa.gz --text test.txt --format json",
    "xent ngram ppl --train corpus.txt --order 3 --text test.txt --per-word words.csv",
    "xent ngram ppl --model model.arpa --text test.txt --explain",
))
@click.option("--model", "model_path", metavar="FILE", shell_complete=options.complete_path,
              help="An ARPA model (plain or .gz), from xent ngram build, lmplz or SRILM.")
@click.option("--train", "train", multiple=True, metavar="FILE…", shell_complete=options.complete_path,
              help="Build the model from this text in memory instead (with --order, --smoothing and the build "
                   "options): the same numbers as build, then ppl.")
@click.option("--text", "texts", multiple=True, metavar="FILE…", shell_complete=options.complete_path,
              help="The text to score: one sentence a line. Files, '-', globs, folders; .gz, .bz2, .xz.")
@_model_options
@click.option("--per-sentence", metavar="FILE", help="Write each sentence's log10 probability, words and OOVs "
              "(csv, tsv or parquet by the extension), as query -v sentence gives them.")
@click.option("--per-word", metavar="FILE", help="Write each token's log10 probability, the n-gram length found "
              "and whether it is an OOV (csv, tsv or parquet), as query -v word gives them.")
@options.output_spec
@options.explain_options
@options.debug_option
def ppl(model_path, train, texts, per_sentence, per_word, output, explain, explain_rows, **model):
    """Score --text with an n-gram model: cross-entropy and perplexity, as KenLM's query.

    Each line is a sentence ending in </s>, which is scored and counted. A
    word outside the model's vocabulary is an OOV, scored as <unk>; the next
    word's context starts after it. ppl counts every token (KenLM's
    "including OOVs"); ppl_excluding_oovs leaves OOVs out (KenLM's
    "excluding", SRILM's ppl); ppl1 divides that log-probability by the
    words alone, not counting the </s> tokens (SRILM's ppl1). csv and tsv
    give ppl alone; --format json gives every figure.
    """
    from ..ngram.corpus import text_files
    from ..ngram.score import score_text

    if not texts:
        raise CallError("--text: give the text to score, e.g. --text test.txt")
    if (model_path is None) == (not train):
        raise CallError("give --model FILE (an ARPA model) or --train FILE (build one in memory), one of them")
    _one_stdin(texts=texts, train=train, model=model_path, heldout=model["heldout"])
    for path, option in ((per_sentence, "--per-sentence"), (per_word, "--per-word")):
        if path is not None:
            _check_table_file(path, option)
    notes = []
    if model_path is not None:
        given = {k: v for k, v in model.items() if k not in ("engine", "skip_symbols") and _set(k, v)}
        if given:
            name = next(iter(given)).replace("_", "-")
            raise CallError(f"--{name} builds a model: it goes with --train, not --model")
        from ..ngram.arpa import read_arpa

        if model_path != "-" and not os.path.exists(model_path):
            raise CallError(f"--model {model_path}: no such file")
        lm, notes = read_arpa(model_path)
    else:
        _, est = _build(train, **model)
        lm = est.model
        notes = est.notes
    for note in notes:
        warning(note)
    files = text_files(texts)
    collect = _Collector(lm, per_sentence, per_word, explain_rows if explain else 0)
    totals = score_text(lm, files, skip_symbols=model["skip_symbols"], each=collect)
    if totals.tokens == 0:
        warning("the text has no line: nothing was scored")
    collect.write(output.precision)
    doc = {"command": "ngram ppl", "order": lm.order, "sentences": totals.sentences, "words": totals.words,
           "oovs": totals.oovs, "tokens": totals.tokens, "logprob": totals.logprob, "ppl": totals.ppl,
           "ppl_excluding_oovs": totals.ppl_excluding_oovs, "ppl1": totals.ppl1,
           "bits_per_token": totals.bits_per_token, "nats_per_token": totals.nats_per_token}
    view = None
    if output.draws_table(explain):
        view = _ppl_view(doc, totals)

    def explanation(digits):
        from ..explain.ngram import ngram_ppl

        return ngram_ppl(collect.explained, totals, digits=digits)

    emit(Result(totals.ppl, doc, ["ppl"], view, explanation=explanation if explain else None), output)


def _set(name, value) -> bool:
    defaults = {"order": None, "smoothing": "mkn", "interpolate_unigrams": True, "vocab_pad": 0, "prune": (),
                "discount_fallback": (), "add_k": None, "heldout": None, "heldout_fraction": None, "memory": "1G",
                "temp_folder": None}
    return name in defaults and value != defaults[name]


def _check_table_file(path, option):
    from ..destination import check_file
    from ..writers import check_parquet

    check_file(path, option)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".tsv", ".parquet"):
        raise CallError(f"{option} {path}: write a .csv, .tsv or .parquet file")
    if ext == ".parquet":
        check_parquet(path, option)


def _ppl_view(doc, totals):
    from ..views import ReportView

    bits = doc["bits_per_token"]
    xent_rows = [
        ("tokens", f"{doc['tokens']:,}", f"{doc['words']:,} words + {doc['sentences']:,} </s>"),
        ("OOVs", f"{doc['oovs']:,}", "scored as <unk>"),
        ("log10 probability", doc["logprob"], "summed over every token"),
        ("cross-entropy", (bits, " bits"), "per token: -log2 p, averaged"),
        ("", (doc["nats_per_token"], " nats"), ""),
        ("perplexity", doc["ppl"], "2^cross-entropy: the branching factor"),
    ]
    kenlm_rows = [
        ("Perplexity including OOVs", doc["ppl"], f"over {doc['tokens']:,} tokens"),
        ("Perplexity excluding OOVs", doc["ppl_excluding_oovs"], f"over {doc['tokens'] - doc['oovs']:,} tokens"),
        ("OOVs", f"{doc['oovs']:,}", ""),
        ("Tokens", f"{doc['tokens']:,}", ""),
    ]
    logprob_known = totals.logprob - totals.oov_logprob
    srilm_rows = [
        ("sentences / words / OOVs", f"{doc['sentences']:,} / {doc['words']:,} / {doc['oovs']:,}", ""),
        ("logprob", logprob_known, "OOVs left out"),
        ("ppl", doc["ppl_excluding_oovs"], f"over words - OOVs + sentences = {doc['tokens'] - doc['oovs']:,}"),
        ("ppl1", doc["ppl1"], f"over words - OOVs = {doc['words'] - doc['oovs']:,}"),
    ]
    return ReportView(f"ngram ppl (order {doc['order']})", [("xent", xent_rows), ("as KenLM's query prints it",
                      kenlm_rows), ("as SRILM's ngram -ppl prints it", srilm_rows)])


class _Collector:
    """Sees each scored batch: keeps the per-sentence and per-word rows asked for, and the first
    words' details for ``--explain``."""

    def __init__(self, model, per_sentence, per_word, explain_words):
        self.model, self.per_sentence, self.per_word = model, per_sentence, per_word
        self.explain_words = explain_words
        self.explained = []
        self.sentences, self.words = [], []

    def __call__(self, scores, words, first):
        import numpy as np

        if self.per_sentence:
            totals = np.bincount(scores.sentence, weights=scores.logprob, minlength=len(words))
            oovs = np.bincount(scores.sentence, weights=scores.oov, minlength=len(words))
            for k, line in enumerate(words):
                self.sentences.append((first + k, totals[k], len(line), int(oovs[k])))
        if self.per_word or len(self.explained) < self.explain_words:
            tokens = [w for line in words for w in (*line, b"</s>")]
            if self.per_word:
                self.words.append((first + scores.sentence, tokens, scores))
            if len(self.explained) < self.explain_words:
                from ..ngram.score import explain_token

                at = 0
                for k, line in enumerate(words):
                    ids = [int(i) for i in scores.word[at:at + len(line) + 1]]
                    for j in range(len(ids)):
                        if len(self.explained) >= self.explain_words:
                            return
                        self.explained.append(explain_token(self.model, ids[:j], ids[j], tokens[at + j],
                                                            float(scores.logprob[at + j])))
                    at += len(line) + 1

    def write(self, precision):
        import numpy as np

        from ..destination import open_output
        from ..writers import extension_format, write_columns

        def write(path, option, columns):
            with open_output(path, option) as out:
                write_columns(out, columns, extension_format(path), precision)

        if self.per_sentence:
            rows = self.sentences
            columns = {"sentence": np.array([r[0] for r in rows], np.int64),
                       "logprob": np.array([r[1] for r in rows], np.float64),
                       "words": np.array([r[2] for r in rows], np.int64),
                       "oovs": np.array([r[3] for r in rows], np.int64)}
            write(self.per_sentence, "--per-sentence", columns)
        if self.per_word:
            sentence = np.concatenate([s for s, _, _ in self.words]) if self.words else np.zeros(0, np.int64)
            tokens = [t.decode("utf-8", "replace") for _, ts, _ in self.words for t in ts]
            scores = [s for _, _, s in self.words]
            columns = {"sentence": sentence,
                       "word": tokens,
                       "logprob": np.concatenate([s.logprob for s in scores]) if scores else np.zeros(0),
                       "ngram_length": np.concatenate([s.length for s in scores]) if scores else np.zeros(0, np.int64),
                       "oov": np.concatenate([s.oov for s in scores]) if scores else np.zeros(0, bool)}
            write(self.per_word, "--per-word", columns)
