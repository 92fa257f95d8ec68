"""ARPA back-off files: written as KenLM's ``lmplz`` writes them, read as its ``query`` reads them.

The format (log10 values, one n-gram a line)::

    \\data\\
    ngram 1=<count>
    ngram 2=<count>

    \\1-grams:
    <log10 p>\\t<word>\\t<log10 backoff>
    …
    \\2-grams:
    <log10 p>\\t<w1> <w2>\\t<log10 backoff>      (no back-off on the highest order)
    …
    \\end\\

Written with every value's shortest round-trip form, so a model read back is the model written.
Read with fields split on any whitespace (SRILM writes spaces or tabs; ``-99`` for ``<s>``, back-offs
of 0 left out); a ``.gz`` file is read as gzip. A file that breaks the format is bad data naming its
line: counts that disagree with their sections, a missing ``\\end\\``, ``<s>`` or ``</s>``, a malformed
line, a positive log-probability, a NaN, a non-zero back-off on the highest order, a repeated n-gram,
or a word not among the unigrams.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import sys
import zlib

import numpy as np

from ..errors import DataError, reason
from .model import Model, NgramIndex, row_order

try:
    from . import _arpa
except ImportError:  # built without a C compiler: the Python code below does it all
    _arpa = None

__all__ = ["read_arpa", "write_arpa", "arpa_lines"]

_COUNT = re.compile(rb"^ngram\s+(\d+)\s*=\s*(\d+)\s*$")
_SECTION = re.compile(rb"^\\(\d+)-grams:\s*$")
#: The log10 probability ``query`` gives ``<unk>`` when an ARPA file has none (KenLM's substitute).
MISSING_UNK_LOGPROB = -100.0


def _compiled():
    """The compiled writer and reader, or None: not built, or ``XENT_KERNEL=numpy`` (as for the per-row kernel,
    read on every call so that tests may run both)."""
    return None if os.environ.get("XENT_KERNEL", "").strip().lower() == "numpy" else _arpa


def _numbers(x: np.ndarray) -> list[str]:
    """Each value's shortest round-trip form, "0" for either zero."""
    text = list(map(repr, x.tolist()))
    for i in np.flatnonzero(x == 0).tolist():
        text[i] = "0"
    return text


#: n-grams formatted at a time: the text of a whole order is never held at once (only the words of
#: the order below, which the next order's lines start with).
_BLOCK = 1 << 16


def arpa_lines(model: Model):
    """The ARPA text of ``model``, in pieces of bytes (a block of one order's lines at a time)."""
    sizes = model.sizes
    yield ("\\data\\\n" + "".join(f"ngram {n + 1}={c}\n" for n, c in enumerate(sizes)) + "\n").encode()
    compiled = _compiled()
    vocab = list(model.vocab) if compiled else [w.decode("utf-8", "surrogateescape") for w in model.vocab]
    below = vocab  # the words of each (n-1)-gram, for the n-grams that start with them
    index = model.index
    for n in range(model.order):
        yield f"\\{n + 1}-grams:\n".encode()
        words = model.words[n]
        top = n == model.order - 1
        texts = []
        for a in range(0, len(words), _BLOCK):
            b = min(a + _BLOCK, len(words))
            prefix = index.keys[n][a:b] // index.vocab_size if n else None
            if compiled:
                lines, text = compiled.lines(model.logprob[n][a:b], None if top else model.backoff[n][a:b],
                                             np.ascontiguousarray(words[a:b, -1], np.int32), vocab, prefix, below,
                                             not top)
                texts.append(text)
                yield lines
                continue
            if n:
                text = [f"{below[p]} {vocab[w]}" for p, w in zip(prefix.tolist(), words[a:b, -1].tolist())]
            else:
                text = vocab[a:b]
            if not top:
                texts.append(text)
            shown = (~np.isnan(model.logprob[n][a:b])).tolist()
            lp = _numbers(model.logprob[n][a:b])
            if not top:
                bo = _numbers(model.backoff[n][a:b])
                lines = [f"{p}\t{t}\t{o}\n" for p, t, o, s in zip(lp, text, bo, shown) if s]
            else:
                lines = [f"{p}\t{t}\n" for p, t, s in zip(lp, text, shown) if s]
            yield "".join(lines).encode("utf-8", "surrogateescape")
        yield b"\n"
        if not top:
            below = [t for block in texts for t in block]
    yield b"\\end\\\n"


def write_arpa(model: Model, out) -> None:
    """Write ``model`` as ARPA to the byte stream ``out``."""
    for piece in arpa_lines(model):
        out.write(piece)


def _read_bytes(path: str) -> tuple[bytes, str]:
    """The file's bytes (stdin's for ``-``), unpacked when gzip, and its name for messages."""
    name = "--model stdin" if path == "-" else f"--model {path}"
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        raise DataError(f"{name}: cannot read: {reason(e)}") from e
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{name}: a damaged gzip file ({e})") from e
    return data, name


def read_arpa(path: str) -> tuple[Model, list[str]]:
    """The model in the ARPA file ``path`` (gzip or plain; ``-`` for stdin), and warnings about it (a missing
    ``<unk>`` is given log10 p = -100, as ``query`` does). Raises DataError naming the line of a format error."""
    data, name = _read_bytes(path)

    def fail(line_no: int, message: str):
        raise DataError(f"{name}: line {line_no}: {message}")

    # \r is whitespace to the line parser, so CRLF ends read as LF ends
    lf = data.replace(b"\r\n", b"\n") if b"\r" in data and data.count(b"\r") == data.count(b"\r\n") else data
    parsed = _parse_sections(lf) or _parse_lines(data, name, fail)
    order, ids, vocab, words_by_order, probs_by_order, backoffs_by_order, lines_by_order = parsed
    for symbol in (b"<s>", b"</s>"):
        if symbol not in ids:
            raise DataError(f"{name}: the unigrams have no {symbol.decode()}; every ARPA model needs <s> and </s>")
    notes = []
    if b"<unk>" not in ids:
        notes.append(f"{name}: the model has no <unk>; OOVs get log10 p = {MISSING_UNK_LOGPROB:g}, as KenLM gives them")
        vocab.append(b"<unk>")
        ids[b"<unk>"] = len(vocab) - 1
        words_by_order[0] = np.arange(len(vocab), dtype=np.int32)[:, None]
        probs_by_order[0] = np.append(probs_by_order[0], MISSING_UNK_LOGPROB)
        backoffs_by_order[0] = np.append(backoffs_by_order[0], 0.0)
        lines_by_order[0] = np.append(lines_by_order[0], 0)
    model = _model(order, vocab, ids, words_by_order, probs_by_order, backoffs_by_order, lines_by_order, fail)
    return model, notes


def _parse_sections(data: bytes):
    """The fast reading of a file as lmplz and ``xent ngram build`` write it: each section's fields split
    at once, the numbers and words converted in bulk. None for anything else (spaces for tabs, a back-off
    left out, any error), which :func:`_parse_lines` then reads line by line, naming the line at fault."""
    at = data.find(b"\\data\\\n")
    if at < 0 or (at and data[at - 1] != 10) or b"\\data\\" in data[:at]:
        return None
    at += 7
    end = data.find(b"\n\n", at)
    if end < 0:
        return None
    declared = []
    for line in data[at:end].split(b"\n"):
        m = _COUNT.match(line)
        if not m or int(m.group(1)) != len(declared) + 1:
            return None
        declared.append(int(m.group(2)))
    if not declared or 0 in declared:
        return None
    order = len(declared)
    bounds = []  # each section's lines, from the first byte to the newline that ends the last
    at = end
    for n in range(1, order + 1):
        while data[at:at + 1] == b"\n":
            at += 1
        header = b"\\%d-grams:\n" % n
        if not data.startswith(header, at):
            return None
        at += len(header)
        # a section ends at a blank line (a header right after a line is no n-gram: the parse gives up)
        end = data.find(b"\n\n", at)
        if end < 0:
            return None
        bounds.append((at, end + 1))
        at = end + 1
    while data[at:at + 1] == b"\n":
        at += 1
    if not data.startswith(b"\\end\\", at) or data[at + 5:at + 6] not in (b"", b"\n"):
        return None
    parsed = _compiled_sections(data, bounds, declared) if _compiled() else _python_sections(data, bounds, declared)
    if parsed is None:
        return None
    # each line's number: a section's first line follows the blank lines and header before it
    line_no = data.count(b"\n", 0, bounds[0][0]) + 1
    numbers = []
    for (a, b), count, prev in zip(bounds, declared, [None] + bounds[:-1]):
        if prev:
            line_no += data.count(b"\n", prev[1], a)
        numbers.append(np.arange(line_no, line_no + count, dtype=np.int64))
        line_no += count
    ids, vocab, rows, probs, backoffs = parsed
    return (order, ids, vocab, rows, probs, backoffs, numbers)


def _compiled_sections(data: bytes, bounds: list, declared: list):
    if any(data.count(b"\n", a, b) != c for (a, b), c in zip(bounds, declared)):
        return None  # counts that lie (4e9 n-grams): the line reader names the line, nothing is allocated
    rows = [np.empty((c, n + 1), np.int32) for n, c in enumerate(declared)]
    probs = [np.empty(c) for c in declared]
    backoffs = [np.empty(c) for c in declared]
    vocab = _arpa.parse(data, [a for a, _ in bounds], [b for _, b in bounds], rows, probs, backoffs)
    if vocab is None:
        return None
    return dict(zip(vocab, range(len(vocab)))), vocab, rows, probs, backoffs


def _python_sections(data: bytes, bounds: list, declared: list):
    raw = np.frombuffer(data, np.uint8)
    ids: dict[bytes, int] = {}
    vocab: list[bytes] = []
    parsed = [], [], []
    for n, ((a, b), count) in enumerate(zip(bounds, declared), 1):
        section = _section(data[a:b - 1], raw[a:b], n, len(declared), ids, vocab)
        if section is None or len(section[0]) != count:
            return None
        for into, x in zip(parsed, section):
            into.append(x)
    return (ids, vocab, *parsed)


def _section(text: bytes, raw: np.ndarray, n: int, order: int, ids: dict, vocab: list):
    """The rows, log10 probabilities and back-offs of one order's lines ``text`` (``raw``: its bytes and the
    newline after it), or None unless every line is ``prob<TAB>w1 … wn<TAB>backoff`` (no back-off on the
    highest order), single spaces between the words, no field empty, no other whitespace or control byte."""
    fields = 2 if n == order else 3
    pattern = np.array([9] + [32] * (n - 1) + ([9] if fields == 3 else []) + [10], np.uint8)
    stops = np.flatnonzero(raw <= 32)
    kinds = raw[stops]
    if len(kinds) % len(pattern) or not (kinds.reshape(-1, len(pattern)) == pattern).all():
        return None
    if len(stops) and (stops[0] == 0 or (np.diff(stops) < 2).any()):
        return None
    cells = text.replace(b"\n", b"\t").split(b"\t")
    grams = cells[1::fields]
    if b"_" in b"".join(cells[::fields]) or (fields == 3 and b"_" in b"".join(cells[2::fields])):
        return None  # Python's 1_000: the line reader refuses it, naming the line
    try:
        probs = np.fromiter(map(float, cells[::fields]), np.float64, len(grams))
        backoffs = (np.fromiter(map(float, cells[2::fields]), np.float64, len(grams)) if fields == 3
                    else np.zeros(len(grams)))
    except ValueError:
        return None
    if np.isnan(probs).any() or (probs > 0).any() or np.isnan(backoffs).any():
        return None
    if n == 1:
        if len(set(grams)) != len(grams):
            return None
        ids.update(zip(grams, range(len(grams))))
        vocab.extend(grams)
        return np.arange(len(grams), dtype=np.int32)[:, None], probs, backoffs
    try:
        rows = np.fromiter(map(ids.__getitem__, b" ".join(grams).split(b" ")), np.int32, n * len(grams))
    except KeyError:
        return None
    return rows.reshape(len(grams), n), probs, backoffs


def _parse_lines(data: bytes, name: str, fail):
    """The file read line by line: fields split on any whitespace, every error named by its line."""
    lines = data.split(b"\n")
    at = 0
    while at < len(lines) and lines[at].strip() != b"\\data\\":
        at += 1
    if at == len(lines):
        raise DataError(f"{name}: not an ARPA file: no \\data\\ line")
    data_line = at + 1
    at += 1
    declared: list[int] = []
    while at < len(lines) and lines[at].strip():
        m = _COUNT.match(lines[at].strip())
        if not m:
            fail(at + 1, f"expected 'ngram N=COUNT' in the \\data\\ section, got {_show(lines[at])}")
        n, c = int(m.group(1)), int(m.group(2))
        if n != len(declared) + 1:
            fail(at + 1, f"expected the count of the {len(declared) + 1}-grams, got that of the {n}-grams")
        declared.append(c)
        at += 1
    if not declared:
        fail(data_line, "the \\data\\ section gives no 'ngram N=COUNT' line")
    order = len(declared)
    ids: dict[bytes, int] = {}
    vocab: list[bytes] = []
    words_by_order, probs_by_order, backoffs_by_order, lines_by_order = [], [], [], []
    for n in range(1, order + 1):
        while at < len(lines) and not lines[at].strip():
            at += 1
        if at == len(lines):
            raise DataError(f"{name}: the file ends before the \\{n}-grams: section (truncated?)")
        m = _SECTION.match(lines[at].strip())
        if not m or int(m.group(1)) != n:
            fail(at + 1, f"expected '\\{n}-grams:', got {_show(lines[at])}")
        header = at + 1
        at += 1
        rows, probs, backoffs, numbers = [], [], [], []
        while at < len(lines) and lines[at].strip() and not lines[at].startswith(b"\\"):
            fields = lines[at].split()
            if len(fields) not in (n + 1, n + 2):
                fail(at + 1, f"expected a log10 probability, {n} word{'s' if n > 1 else ''} and "
                     f"{'an optional back-off' if n < order else 'no back-off'}, got {_show(lines[at])}")
            p = _float(fields[0], at + 1, fail, "log10 probability")
            if p > 0:
                fail(at + 1, f"a log10 probability must be at most 0, got {fields[0].decode(errors='replace')}")
            b = 0.0
            if len(fields) == n + 2:
                b = _float(fields[-1], at + 1, fail, "back-off")
                if n == order and b != 0:
                    fail(at + 1, f"a back-off weight on the highest order ({order}): such n-grams are never a context")
            gram = fields[1:n + 1]
            if n == 1:
                w = gram[0]
                if w in ids:
                    fail(at + 1, f"the unigram {_word(w)} is listed twice")
                ids[w] = len(vocab)
                vocab.append(w)
                rows.append(ids[w])
            else:
                try:
                    rows.append([ids[w] for w in gram])
                except KeyError as e:
                    fail(at + 1, f"the word {_word(e.args[0])} is not among the unigrams")
            probs.append(p)
            backoffs.append(b)
            numbers.append(at + 1)
            at += 1
        if len(rows) < declared[n - 1] and not any(x.strip() for x in lines[at:]):
            raise DataError(f"{name}: the file ends after line {at} in the \\{n}-grams: section, with {len(rows)} "
                            f"of the {declared[n - 1]} {n}-grams \\data\\ gives (truncated?)")
        if len(rows) != declared[n - 1]:
            fail(header, f"\\data\\ says {declared[n - 1]} {n}-grams, the section holds {len(rows)}")
        words_by_order.append(np.asarray(rows, np.int32).reshape(len(rows), n))
        probs_by_order.append(np.asarray(probs, np.float64))
        backoffs_by_order.append(np.asarray(backoffs, np.float64))
        lines_by_order.append(np.asarray(numbers, np.int64))
    while at < len(lines) and not lines[at].strip():
        at += 1
    if at == len(lines) or lines[at].strip() != b"\\end\\":
        where = "the file ends" if at == len(lines) else f"line {at + 1} has {_show(lines[at])}"
        raise DataError(f"{name}: no \\end\\ after the {order}-grams: {where} (truncated?)")
    return order, ids, vocab, words_by_order, probs_by_order, backoffs_by_order, lines_by_order


def _model(order, vocab, ids, words, probs, backoffs, line_numbers, fail) -> Model:
    """Renumber so that <unk>, <s>, </s> are ids 0, 1, 2, sort each order, and add every missing context
    (an n-gram's first n-1 words) as an entry with no probability and back-off 0. A repeated n-gram
    fails at its second line (``line_numbers``: each order's rows' lines in the file)."""
    first = [ids[b"<unk>"], ids[b"<s>"], ids[b"</s>"]]
    rest = [i for i in range(len(vocab)) if i not in first]
    new_of = np.empty(len(vocab), np.int32)
    new_of[first + rest] = np.arange(len(vocab))
    vocab = [vocab[i] for i in first + rest]
    renumber = None if first == [0, 1, 2] else new_of  # lmplz's files list <unk>, <s>, </s> first
    out_words, out_probs, out_backoffs = [], [], []
    for n in range(order):
        w = words[n] if renumber is None else renumber[words[n]]
        p, b, at = probs[n], backoffs[n], line_numbers[n]
        if not _ascending(w):
            key = row_order(w, len(vocab))
            w, p, b, at = w[key], p[key], b[key], at[key]
            same = np.flatnonzero(np.all(w[1:] == w[:-1], axis=1))
            if len(same):
                # the earliest line that repeats an n-gram listed before it
                k = same[np.argmin(np.maximum(at[same], at[same + 1]))]
                first, second = sorted((int(at[k]), int(at[k + 1])))
                dup = " ".join(vocab[i].decode("utf-8", "replace") for i in w[k])
                fail(second, f"the {n + 1}-gram '{dup}' is listed twice (first on line {first})")
        out_words.append(w)
        out_probs.append(p)
        out_backoffs.append(b)
    try:
        # the index needs every context present, as it is in lmplz's files: one search tells whether it is
        index = NgramIndex(out_words, len(vocab))
    except ValueError:
        index = None
    if index is None:
        # the contexts added to order n need their own contexts in order n - 1 in turn
        for n in range(order - 1, 1, -1):
            w = out_words[n][:, :-1]
            prefixes = w[np.concatenate([[True], np.any(w[1:] != w[:-1], axis=1)])] if len(w) else w
            missing = _rows_not_in(prefixes, out_words[n - 1])
            if len(missing):
                out_words[n - 1], out_probs[n - 1], out_backoffs[n - 1] = _append_sorted(
                    out_words[n - 1], out_probs[n - 1], out_backoffs[n - 1], missing)
    return Model(order, vocab, out_words, out_probs, out_backoffs, _index=index)


def _ascending(w: np.ndarray) -> bool:
    """Whether the rows of ``w`` are strictly ascending (sorted, none repeated), as lexsort would leave them."""
    if len(w) < 2:
        return True
    if len(w) > 4096 and not _ascending(w[:4096]):  # lmplz's order is not ours: most files fail early
        return False
    differ = w[1:] != w[:-1]
    col = np.argmax(differ, axis=1)[:, None]
    rows = np.arange(len(w) - 1)[:, None]
    return bool(differ.any(axis=1).all() and (w[1:][rows, col] > w[:-1][rows, col]).all())


def _rows_not_in(rows: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The rows of ``rows`` (unique) that are not rows of ``known`` (unique), sorted."""
    both = np.concatenate([known, rows])
    mine = np.arange(len(both)) >= len(known)
    key = np.lexsort((mine, *both.T[::-1]))
    both, mine = both[key], mine[key]
    seen = np.zeros(len(both), bool)
    seen[1:] = np.all(both[1:] == both[:-1], axis=1)
    return both[mine & ~seen]


def _append_sorted(w, p, b, extra):
    w = np.concatenate([w, extra])
    p = np.concatenate([p, np.full(len(extra), np.nan)])
    b = np.concatenate([b, np.zeros(len(extra))])
    key = row_order(w, int(w.max(initial=0)) + 1)
    return w[key], p[key], b[key]


def _float(field: bytes, line_no: int, fail, what: str) -> float:
    try:
        if b"_" in field:  # float() takes Python's 1_000; no ARPA writer does
            raise ValueError(field)
        x = float(field)
    except ValueError:
        fail(line_no, f"expected a {what}, got {_word(field)}")
    if math.isnan(x):
        fail(line_no, f"the {what} is NaN")
    return x


def _word(w: bytes) -> str:
    return "'" + w.decode("utf-8", "replace") + "'"


def _show(line: bytes) -> str:
    text = line.decode("utf-8", "replace")
    return repr(text if len(text) <= 60 else text[:57] + "...")

