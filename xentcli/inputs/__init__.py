"""From option values to validated arrays: predictions, labels, weights, class names.

This is where a core ``ValueError`` about a row gets the option, the file and
the line it came from, and where warnings are written (stderr, never stdout).
"""

from __future__ import annotations

import math
import os
import stat
import re
import sys
import threading

import click
import numpy as np

from .. import core
from ..core import reductions as core_reductions
from ..engine import LEAN_BLOCK_ELEMENTS, blocks, collect, count, read_rows, remote_token
from ..errors import CallError, DataError
from ..options import IDLE_OPTIONS, INPUT_HEADER
from ..printable import warning
from ..progress import Progress
from ..readers import Matrix, read_matrix, reads_stdin
from ..readers.shards import ShardMatrix
from ..readers.text import guessed_header, is_number, number_hint
from ..readers.source import RawFile, RawRows, shown_path
from ..writers import RowBlocks

__all__ = ["CheckedRows", "LabelRows", "Predictions", "warn", "check_stdin", "load_predictions", "load_labels", "load_weights", "load_pos_weight", "load_sample_weights", "class_names"]


def warn(message: str) -> None:
    """A warning on stderr, one line (control characters escaped; see :func:`xentcli.printable.warning`)."""
    warning(message)


def check_stdin(**values: str | None) -> None:
    """Only one option may read stdin ('-', or a path that is the same pipe: ``/dev/stdin``,
    ``/dev/fd/0``); a keyword ``name_N`` is the option ``--name`` given more than once."""
    readers = ["--" + re.sub(r"_\d+$", "", k).replace("_", "-") for k, v in values.items()
               if reads_stdin(v) or _is_stdin_stream(v)]
    if len(readers) > 1 and len(set(readers)) == 1:
        raise CallError(f"only one input may read stdin, but {readers[0]} is '-' {len(readers)} times")
    if len(readers) > 1:
        raise CallError(f"only one option may read stdin, but {' and '.join(readers)} both read it "
                        "('-', /dev/stdin or /dev/fd/0)")


def _is_stdin_stream(spec: str | None) -> bool:
    """Whether ``spec`` names the stream on stdin by a path (``/dev/stdin``, ``/proc/self/fd/0``): a pipe
    or FIFO read once. A regular file redirected to stdin reopens at its start, so two readers are fine."""
    if spec is None or reads_stdin(spec):
        return False
    try:
        st, fd0 = os.stat(spec), os.fstat(0)
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) == (fd0.st_dev, fd0.st_ino)


def offers(option: str) -> bool:
    """Whether the running command has ``option`` and applies it in this call: hints name no other.

    A command whose options depend on another option (``grad --loss``) lists those that do not
    apply under :data:`options.IDLE_OPTIONS` in its context's ``meta``. True outside a command.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True
    return (any(option in p.opts for p in ctx.command.params if not getattr(p, "hidden", False))
            and option not in ctx.meta.get(IDLE_OPTIONS, ()))


def _command() -> str | None:
    """The running command's name (``ce``), None outside one."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.command.name


def _stdin():
    return sys.stdin.buffer


def _input_header() -> str:
    """``--input-header`` of the running command (auto outside one)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(INPUT_HEADER, "auto") if ctx is not None else "auto"


def _read(spec: str, option: str, *, names: bool = False) -> Matrix:
    m = read_matrix(spec, option, stdin=_stdin(), header=_input_header(), names=names)
    for note in m.notes:
        warn(note)
    return m


def located(matrix: Matrix, error: ValueError) -> DataError:
    """A core error, prefixed with where the offending row came from."""
    locate = getattr(matrix, "locate_entry", matrix.locate)  # class-index labels count entries (shards: SPEC §9)
    return DataError(f"{locate(getattr(error, 'row', None))}: {error}")


class CheckedRows:
    """Rows ``(N, C)`` of one input, read lazily (``values`` may be a file read by rows) and
    validated a block at a time by :meth:`check`, which subclasses define.

    What is shared: ``--renormalize`` (rows rescaled, counted, reported once
    at the end) and errors located in the input they came from.

    Pickled for the workers of a Dask cluster (``--scheduler``), an input keeps what
    checking and computing need — its rows' source (reopened there by path), kind
    and settings — with a token that maps errors and counts made there back to this
    object (:func:`xentcli.engine.remote_token`); not its lock, counts or
    :class:`Matrix` (errors are located here, on the client).
    """

    #: Counters of rows or values seen, added up block by block (:func:`xentcli.engine.count`).
    _COUNTERS = ("_rescaled",)

    def __init__(self, values, matrix: Matrix, *, renormalize: bool = False):
        self.values, self.matrix, self.renormalize = values, matrix, renormalize
        self._lock = threading.Lock()
        self._rescaled = 0  # rows --renormalize changed

    def __getstate__(self) -> dict:
        remote_token(self)
        state = {k: v for k, v in self.__dict__.items() if k != "_lock"}
        state.update(dict.fromkeys(self._COUNTERS, 0), matrix=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def num_classes(self) -> int:
        return self.values.shape[1]

    def __len__(self) -> int:
        return self.values.shape[0]

    def check(self, rows) -> np.ndarray:
        raise NotImplementedError

    def _rescale(self, rows) -> np.ndarray:
        rows, changed = _renormalized(np.asarray(rows, dtype=np.float64))
        if changed:
            count(self, "_rescaled", changed)
        return rows

    def _located(self, e: core.RowError) -> DataError:
        source = e.source or self
        if isinstance(source.values, ShiftedRows):  # name the row of the input, not of the scored positions
            e = e.moved(source.values.original)
        return DataError(f"{source.matrix.locate(e.row)}: {e}{source.hint(e)}")

    def hint(self, error: core.RowError) -> str:
        return ""

    def _forget(self) -> None:
        """Drop the counts of a validation pass: the pass that computes counts again and reports."""
        self._rescaled = 0

    def _report(self) -> None:
        if self._rescaled:
            warn(f"{self.matrix.where}: --renormalize rescaled {self._rescaled} row(s) that did not sum to 1")


class ShiftedRows:
    """Next-token alignment (``--shift``): rows of ``(…, T, V)`` logits flattened to ``(N·T, V)``
    without each sequence's last position, ``(N·(T-1), V)``, read on demand from ``rows``.

    As Hugging Face's causal-LM loss does: the logits at position t score the token at t + 1.
    """

    def __init__(self, rows, seq_len: int):
        self._rows, self._t = rows, seq_len
        self.shape = (len(rows) // seq_len * (seq_len - 1), rows.shape[1])
        self.ndim, self.dtype = 2, rows.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def original(self, row):
        """The input row of scored row(s) ``row``."""
        return (row // (self._t - 1)) * self._t + row % (self._t - 1)

    def rows(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, start), min(len(self), stop)
        if start >= stop:
            return np.empty((0, self.shape[1]), self.dtype)
        first, last = self.original(start), self.original(stop - 1) + 1
        block = read_rows(self._rows, first, last)
        kept = np.arange(first, last)
        return block[(kept % self._t != self._t - 1)]

    def __getitem__(self, index) -> np.ndarray:
        return self._rows[self.original(np.arange(len(self))[index])]

    def __array__(self, dtype=None, copy=None):
        a = self.rows(0, len(self))
        return a if dtype is None else a.astype(dtype, copy=False)


class LabelRows(CheckedRows):
    """Distribution labels (``ce``, ``grad``) or binary targets (``bce``) of the predictions' shape,
    as float64 rows ``(N, C)`` checked a block at a time: a multi-GB label file streams like
    the predictions. ``rows(start, stop)`` is what the engine reads; ``[index]`` serves tables."""

    def __init__(self, values, matrix: Matrix, *, kind: str, renormalize: bool = False):
        super().__init__(values, matrix, renormalize=renormalize)
        self.kind = kind
        self.alternative = ""  # a hint that wins over --renormalize's (see _binary_hint)
        self.shape, self.ndim, self.dtype = tuple(values.shape), 2, np.dtype(np.float64)

    def check(self, rows) -> np.ndarray:
        y = np.asarray(rows, dtype=np.float64)
        try:
            if self.kind == "bce":
                core.check_binary_targets(y)
            elif self.renormalize:
                y = self._rescale(y)
            else:
                core.check_label_distribution(y)
        except core.RowError as e:
            e.source = self
            raise
        return y

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.check(read_rows(self.values, start, stop))

    def __getitem__(self, index) -> np.ndarray:
        try:
            return self.check(self.values[index])
        except core.RowError as e:  # outside the engine: count the row in the whole input
            raise self._located(e.within(np.arange(len(self))[index].reshape(-1))) from None

    def hint(self, error: core.RowError) -> str:
        if error.row is None or self.kind != "ce":
            return ""
        return self.alternative or _renormalize_hint(self.values[error.row])


class Predictions(CheckedRows):
    """Logits or probabilities as rows ``(N, C)``, validated block by block.

    ``values`` keeps the stored dtype and may be lazy (an ``.npy`` file read
    by rows): :meth:`map` runs a per-row function over row blocks on the
    engine's threads, checking each block first (:meth:`check`), so even a
    multi-GB file is read once, in bounded memory. ``shape`` is the input's
    shape before leading axes were flattened (labels are matched against it).
    """

    _COUNTERS = ("_rescaled", "_float16_hits")

    def __init__(self, values, kind: str, shape: tuple[int, ...], matrix: Matrix, *,
                 renormalize: bool = False, normalized: bool = True, binary: bool = False):
        super().__init__(values, matrix, renormalize=renormalize)
        self.kind, self.shape, self.normalized, self.binary = kind, shape, normalized, binary
        self._float16_hits = 0
        self._validated = False
        self.logits_option = "--logits"  # named in hints about probabilities that look like logits
        self.unshifted_shape = None  # the input's shape when shift() dropped each sequence's last position
        self.alternative = ""  # a hint that wins over the others (see _binary_hint)
        self.one_output = False  # a 1-D input read as N samples of one output (bce, mse): see load_predictions

    def check(self, rows) -> np.ndarray:
        """One block, validated (``RowError`` rows count from the block's start); rescaled with --renormalize."""
        rows = self._widened(rows)
        try:
            if self.kind == "logits":
                (core.check_binary_logits if self.binary else core.check_logits)(rows)
                return rows
            if self.renormalize:
                return self._rescale(rows)
            core.check_probabilities(rows, normalized=self.normalized)
            return rows
        except core.RowError as e:
            e.source = self
            raise

    def _widened(self, rows, *, widen: bool = True) -> np.ndarray:
        """``rows`` as an array; float16 counted at its limit and (if ``widen``) made float32."""
        rows = np.asarray(rows)
        if rows.dtype == np.float16:
            self._count_float16(rows)
            if widen:  # exact, and NumPy's float16 loops are scalar: max alone is 45x slower than in float32
                rows = rows.astype(np.float32)
        return rows

    def _screened(self, fn, rows, *rest) -> np.ndarray:
        """``fn(rows, *rest)`` computed first, then only the rows it gave NaN are checked.

        For a ``fn`` that gives NaN on exactly the rows :meth:`check` rejects
        (:func:`core.target_log_probs` and the index-label cross-entropy built
        on it): clean blocks are then read once, not twice. A NaN row the check
        lets through (none should) keeps its NaN.
        """
        rows = self._widened(rows, widen=False)  # the kernel's exp reads float16 into float64 itself
        values = fn(rows, *rest)
        bad = np.flatnonzero(np.isnan(values))
        if bad.size:
            try:
                self.check(rows[bad])
            except core.RowError as e:
                raise e.within(bad) from None
        return values

    def rows(self, ids) -> np.ndarray:
        """The rows ``ids`` (an index array or a slice), checked, as float64: for tables and checks."""
        return np.asarray(self.check(self.values[ids]), dtype=np.float64)

    def _computed(self, fn, *others, screened: bool = False, report: bool = True, **engine_options):
        """``(start, stop, fn(checked rows, *rows of others))`` per block, with progress and located errors."""
        if screened and self.kind == "logits" and not self.binary:
            def run(rows, *rest):
                return self._screened(fn, rows, *rest)
        elif self._validated and self.kind == "logits":
            def run(rows, *rest):  # checked by validate(); logits come out of the check unchanged
                return fn(self._widened(rows), *rest)
        else:
            def run(rows, *rest):
                return fn(self.check(rows), *rest)
        with self._progress() as bar:
            try:
                for start, stop, part in blocks(run, self.values, *others, **engine_options):
                    yield start, stop, part
                    bar.update(stop)
            except core.RowError as e:
                raise self._located(e) from None
        for source in (self, *others):
            if isinstance(source, CheckedRows):
                source._report() if report else source._forget()

    def map(self, fn, *others, screened: bool = False, **engine_options) -> np.ndarray:
        """``fn(checked rows, *rows of others)`` over row blocks, as one float64 array (per-row values).

        ``screened=True`` (logits only): ``fn`` gives NaN on every row the
        check would reject and on no other, so it runs first and only its NaN
        rows are checked (see :meth:`_screened`).
        """
        return collect(self._computed(fn, *others, screened=screened, **engine_options), len(self))

    def stream(self, fn, *others) -> RowBlocks:
        """Like :meth:`map` for a matrix result, computed block by block as it is written.

        It keeps the input's leading dimensions (``(B, T, V)`` in, ``(B, T, V)`` out in npy)
        and can :meth:`validate` every row before anything is written.
        """
        return RowBlocks((len(self), self.num_classes), (part for _, _, part in self._computed(fn, *others)),
                         array_shape=self.shape if len(self.shape) > 1 else None,
                         validate=lambda: self.validate(*others))

    def shift(self) -> None:
        """Score each position against the next token (``--shift``): drop every sequence's last row.

        The sequences are the input's second-to-last axis: ``(B, T, V)`` logits (or probabilities) are B sequences
        of T positions, ``(T, V)`` one. Labels read afterwards drop each sequence's first token.
        """
        if len(self.shape) < 2 or self.shape[-2] < 2:
            raise CallError(f"--shift needs sequences of at least 2 positions; {self.matrix.where} has shape "
                            f"{self.shape}")
        t = self.shape[-2]
        self.unshifted_shape = self.shape
        self.values = ShiftedRows(self.values, t)
        self.shape = self.shape[:-2] + (t - 1, self.shape[-1])

    def validate(self, *others) -> None:
        """Check every row of these predictions and of ``others`` (labels), computing nothing.

        A pass at read speed (the engine's threads), for outputs that cannot take back what
        they printed: a bad row anywhere fails the run before its first byte.
        """
        # Checks keep no block-sized temporaries: large blocks cut the per-block hand-off.
        for _ in self._computed(lambda rows, *rest: None, *others, report=False, block_elements=LEAN_BLOCK_ELEMENTS):
            pass
        self._validated = True

    def _progress(self) -> Progress:
        return Progress(len(self), self.num_classes * self.values.dtype.itemsize, self.matrix.where)

    def hint(self, error: core.RowError) -> str:
        if error.row is None or self.kind == "logits":
            return ""
        if self.alternative:
            return self.alternative
        with np.errstate(invalid="ignore"):  # a signalling NaN (float16 widens it as it is) is the error itself
            head = np.asarray(self.values[:PROBABILITY_LOOK_ROWS], dtype=np.float64)
            row = np.asarray(self.values[error.row], dtype=np.float64)
            logits = f"; these look like logits: did you mean {self.logits_option}?"
            if (row < 0).any() or (head < 0).any() or (not self.normalized and (row > 1).any()):
                return logits  # plainly not probabilities, and rescaling would not make them so
            if self.normalized and np.all(np.abs(head.sum(axis=1) - 1) > 0.01):  # no row sums to 1: logits, or counts
                counts = _renormalize_hint(row)[2:]
                return logits + (f" (or {counts}, if they are counts)" if counts else "")
            return _renormalize_hint(row) if self.normalized else ""

    def _count_float16(self, rows: np.ndarray) -> None:
        """Count float16 values at the format's limit: ±65504 or ±inf, not NaN.

        On the bits, which NumPy handles at integer speed: without the sign,
        65504 is 0x7bff and inf 0x7c00 (NaN is above).
        """
        magnitude = rows.view(np.uint16) & np.uint16(0x7FFF)
        hits = int(np.count_nonzero(magnitude - np.uint16(0x7BFF) <= 1))
        if hits:
            count(self, "_float16_hits", hits)

    def _forget(self) -> None:
        self._float16_hits = 0
        super()._forget()

    def _report(self) -> None:
        if self._float16_hits:
            warn(f"{self.matrix.where}: float16 input holds {self._float16_hits} value(s) at ±65504 or ±inf, "
                 "the float16 limit: they may have overflowed when saved (xent computes in float64)")
        super()._report()


def _as_column(values):
    """A 1-D input as ``(N, 1)`` rows; a file stays unread (its N values are its N rows)."""
    if isinstance(values, RawFile):
        row_bytes = None if values.row_bytes is None else values.row_bytes // max(1, values.shape[-1])
        return RawRows(values.path, values.offset, (values.size, 1), values.dtype, row_bytes=row_bytes,
                       decode=values.decode)
    return np.asarray(values).reshape(-1, 1)


def _as_rows(values):
    if hasattr(values, "as_rows"):
        return values.as_rows()
    if values.ndim == 0:
        return values.reshape(1, 1)
    if values.ndim == 1:
        return values.reshape(1, -1)
    return values.reshape(-1, values.shape[-1])


#: At most how many leading rows, and about how many values, decide whether logits
#: "look like probabilities" (a wide vocabulary needs fewer rows to tell).
PROBABILITY_LOOK_ROWS = 1000
PROBABILITY_LOOK_VALUES = 1 << 20


def _head(rows) -> np.ndarray:
    """The first :data:`PROBABILITY_LOOK_ROWS` rows as float64: what the hints look at."""
    return np.asarray(read_rows(rows, 0, PROBABILITY_LOOK_ROWS), dtype=np.float64)


def load_predictions(
    logits: str | None,
    probs: str | None,
    *,
    temperature: float = 1.0,
    renormalize: bool = False,
    normalized: bool = True,
    binary: bool = False,
    allow_probs: bool = True,
    options: tuple[str, str | None] = ("--logits", "--probs"),
    one_output: bool = False,
) -> Predictions:
    """Read exactly one of logits / probabilities (validated later, block by block).

    Args:
      normalized: probability rows must sum to 1 (``ce``, ``kl``, ``entropy``;
        not ``bce``, where each entry is its own probability).
      binary: each logit is its own Bernoulli logit (``bce``): ``±inf`` allowed.
      options: the two options' names, for messages (``--p-logits``, ``--p``); None for a command
        with no probabilities option (hints then say to give log-probabilities).
      one_output: a 1-D input of length N is N samples of one output, ``(N, 1)``, as scikit-learn's
        ``log_loss(y, p)`` and PyTorch's element-wise losses read ``(N,)`` arrays (``bce``, ``mse``);
        otherwise it is one sample ``(1, N)``, as the document's example is.
    """
    logits_opt, probs_opt = options
    if logits is not None and probs is not None:
        raise CallError(f"give either {logits_opt} or {probs_opt}, not both")
    if logits is None and (probs is None or not allow_probs):
        raise CallError(f"missing {logits_opt}" + (f" (or {probs_opt})" if allow_probs else ""))
    if probs is not None and temperature != 1.0:
        raise CallError(f"--temperature divides logits; it does not apply to {probs_opt}")
    kind, option, spec = ("logits", logits_opt, logits) if logits is not None else ("probs", probs_opt, probs)
    m = _numbers(_read(spec, option))
    vector = one_output and len(np.shape(m.values)) == 1
    shape = (len(m.values), 1) if vector else tuple(np.shape(m.values)) or (1,)
    pred = Predictions(_as_column(m.values) if vector else _as_rows(m.values), kind, shape, m,
                       renormalize=renormalize and kind == "probs", normalized=normalized, binary=binary)
    pred.logits_option = logits_opt
    pred.one_output = one_output
    if pred.num_classes == 1 and normalized:
        warn(f"{option} has a single class: " + ("its softmax is 1" if kind == "logits" else "its probability is 1")
             + " and every cross-entropy is 0")
    if kind == "logits" and normalized:
        rows = max(1, min(PROBABILITY_LOOK_ROWS, PROBABILITY_LOOK_VALUES // pred.num_classes))
        head = np.asarray(pred.values[:rows], dtype=np.float64)
        if np.isfinite(head).all() and core.looks_like_probabilities(head):
            fix = (f"Did you mean {probs_opt}?" if probs_opt and offers(probs_opt) else
                   "If they are, give their logarithms: log-probabilities are logits (softmax(log p) = p).")
            warn(f"{option} rows look like probabilities (in [0, 1], summing to 1); "
                 f"softmax would be applied twice. {fix}")
    return pred


def _renormalize_hint(row) -> str:
    """Suggest --renormalize where rescaling would fix the offending row (and the command has it)."""
    row = np.asarray(row, dtype=np.float64)
    if np.all(np.isfinite(row) & (row >= 0)) and row.sum() > 0 and offers("--renormalize"):
        return "; pass --renormalize to rescale rows"
    return ""


def _renormalized(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows divided by their sums (``--renormalize``), and how many did not sum to 1."""
    bad = ~(np.isfinite(rows) & (rows >= 0))
    if bad.any():
        r, c = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise core.RowError(f"{float(rows[r, c])!r} is not a non-negative number", int(r), int(c))
    sums = rows.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        r = int(np.argmax(sums[:, 0] <= 0))
        raise core.RowError("sums to 0 and cannot be renormalized", r)
    return rows / sums, int(core.rows_off(rows).size)


def load_labels(
    spec: str,
    pred: Predictions,
    *,
    kind: str = "ce",
    ignore_index: int | None = None,
    renormalize: bool = False,
    option: str = "--labels",
    classes: str | None = None,
) -> tuple["np.ndarray | LabelRows", Matrix]:
    """Labels as int64 indices ``(N,)`` or float64 rows ``(N, C)``, by the shape rule of SPEC §1.

    Args:
      kind: ``"ce"``: class indices in ``[0, C)`` (or ``ignore_index``), or
        distributions, non-negative and summing to 1 per row (rescaled with
        ``renormalize``); ``"bce"``: targets of the predictions' shape, each
        in ``[0, 1]``; ``"indices"``: class indices only (``ppl``).

    ``ignore_index`` with distributions is a wrong call, as in PyTorch. Labels
    written as class names map to class indices through ``classes``
    (``--classes``), else the predictions' column names.
    Returns the labels and the matrix they were read from (for locating
    later errors). Distributions and targets come as :class:`LabelRows`,
    checked block by block as they are used (a file of them is not read
    here); class indices are read and checked here.
    """
    m = _read(spec, option, names=kind == "ce")
    if _holds_names(m):
        if kind != "ce":  # binary targets and token ids are numbers
            _numbers(m)
        m = _named_labels(m, pred, classes)
    unshifted = pred.unshifted_shape
    m = _label_file_header(m, len(pred) if unshifted is None else math.prod(unshifted[:-1]))
    if unshifted is not None:
        return _next_tokens(m, pred, ignore_index)
    pred.alternative = _binary_hint(pred, m)
    shape = pred.shape if len(pred.shape) > 1 else (1,) + pred.shape
    if pred.one_output and pred.num_classes == 1 and len(np.shape(m.values)) == 1 and len(m.values) == len(pred):
        # N targets of N one-output samples, not N class indices (as for a one-column file)
        return _swap_checked(LabelRows(_as_column(m.values), m, kind=kind), pred), m
    if pred.one_output and len(pred) > 1 and tuple(np.shape(m.values)) == (1, len(pred)) and shape == (len(pred), 1):
        raise DataError(f"{m.where} holds one sample of {len(pred)} outputs, shape {np.shape(m.values)}, but "
                        f"{pred.matrix.where} is a 1-D vector, {len(pred)} samples of one output: for one sample "
                        f"give the predictions as one row too (a one-row file or \"[[…]]\")")
    if kind != "indices" and hasattr(m.values, "as_rows") and tuple(m.values.shape) == shape:
        # A file of the predictions' shape holds distributions (the shape rule): not read here.
        rows = m.values.as_rows()
    else:
        try:
            y = core.interpret_labels(m.values, shape)
        except core.RowError as e:
            raise DataError(f"{located(m, e)}{_swapped_hint(m, pred)}{_guessed_headers(m, pred.matrix)}") from e
        rows = None if core.is_index_labels(y) else y.reshape(-1, pred.num_classes)
    if rows is None:
        if kind == "bce":
            raise DataError(f"{m.where}: binary targets need the predictions' shape {shape}, found {np.shape(m.values)}"
                            f"{_guessed_headers(m, pred.matrix)}")
        y = y.reshape(-1)
        if kind == "ce":
            y = _class_values(y, m, pred, classes, ignore_index)
        try:
            core.check_class_indices(y, pred.num_classes, ignore_index=ignore_index)
        except core.RowError as e:
            raise DataError(f"{located(m, e)}{_index_hint(y, pred.num_classes, ignore_index) or pred.alternative}") \
                from e
        return y, m
    if kind == "indices":
        raise DataError(f"{m.where}: expected one class index per sample, found a matrix of the logits' shape {shape}")
    if ignore_index is not None:
        raise CallError("--ignore-index applies to class-index labels only; these labels are distributions")
    labels = LabelRows(rows, m, kind=kind, renormalize=renormalize)
    labels.alternative = pred.alternative
    return _swap_checked(labels, pred), m


def _next_tokens(m: Matrix, pred: "Predictions", ignore_index: int | None) -> tuple[np.ndarray, Matrix]:
    """``--shift``: the token ids of the unshifted input without each sequence's first, ``ids[..., 1:]``."""
    shape = pred.unshifted_shape
    held = tuple(np.shape(m.values))
    if len(held) >= 2 and held[-1] > 1 and math.prod(held[:-1]) > 1 and held != tuple(shape[:-1]):
        swapped = _swapped_hint(m, pred)
        if swapped:
            raise DataError(f"--shift: {m.where} has shape {held} and {pred.matrix.where} has shape {shape}{swapped}")
        # Shifting the logits' one long sequence would pair each sequence's last position with the next one's first.
        raise DataError(f"--shift: {m.where} has shape {held}, {math.prod(held[:-1])} sequences of {held[-1]} tokens, "
                        f"but {pred.matrix.where} has shape {shape}, {math.prod(shape[:-2]) or 1} of {shape[-2]}: "
                        f"give the logits as {held + (shape[-1],)} so that each sequence is shifted on its own")
    try:
        y = core.interpret_labels(m.values, shape)
    except core.RowError as e:
        raise DataError(f"{located(m, e)} (before --shift){_swapped_hint(m, pred)}{_guessed_headers(m, pred.matrix)}") \
            from e
    if not core.is_index_labels(y):
        raise CallError(f"{m.where}: --shift scores each position against the next token: the labels must be "
                        f"token ids (class indices), not distributions")
    t = shape[-2]
    y = y.reshape(-1, t)[:, 1:].reshape(-1)
    try:
        core.check_class_indices(y, pred.num_classes, ignore_index=ignore_index)
    except core.RowError as e:
        e = e.moved(lambda r: (r // (t - 1)) * t + r % (t - 1) + 1)  # the token's position in the input
        raise DataError(f"{located(m, e)}{_index_hint(y, pred.num_classes, ignore_index)}") from e
    return y, m


def _guessed_headers(*inputs: Matrix) -> str:
    """The inputs' first lines read as headers by the automatic rules, for a shape error: its run
    fails, and a failed run prints no warning, so nothing else would say that a line went missing."""
    return "".join(f"; {clause}" for m in inputs if (clause := guessed_header(m)))


def _binary_hint(pred: "Predictions", labels: Matrix) -> str:
    """Point ``ce`` given one probability or logit per sample to ``bce``: a 1-D vector or one column
    of them with as many labels, each 0 or 1, are N binary predictions (scikit-learn's ``p[:, 1]`` or
    ``decision_function``), not a distribution."""
    entries = len(pred) * pred.num_classes
    if _command() != "ce" or not (len(pred.shape) == 1 or pred.shape[-1] == 1) \
            or entries < 2 or math.prod(np.shape(labels.values)) != entries:
        return ""
    head = _head(pred.values)
    y = _head(_as_rows(labels.values))
    if not np.all((y == 0) | (y == 1)) or (pred.kind == "probs" and not np.all((head >= 0) & (head <= 1))):
        return ""
    what, option = ("probability", "--probs") if pred.kind == "probs" else ("logit", "--logits")
    return (f"; one {what} per sample, each its own (a binary classifier's, as scikit-learn's "
            f"{'p[:, 1]' if pred.kind == 'probs' else 'decision_function'}), is binary cross-entropy: "
            f"xent bce --labels … {option} …")


def _index_hint(y: np.ndarray, num_classes: int, ignore_index: int | None) -> str:
    """What to do about class indices out of range, where the cause is plain."""
    if ignore_index is None and (y == -100).any():
        return "; -100 is the padding label of PyTorch and Hugging Face" + (
            ": pass --ignore-index -100 to skip those samples" if offers("--ignore-index") else "")
    counted = y if ignore_index is None else y[y != ignore_index]
    if counted.size and counted.min() >= 1 and counted.max() == num_classes:
        return (f"; the labels look 1-based (1 to {num_classes}, no 0): xent counts classes from 0, "
                "so subtract 1 from each (y - 1 in NumPy or pandas, awk '{print $1 - 1}' on a text file)")
    return ""


def _swapped_hint(labels: Matrix, pred: "Predictions") -> str:
    """Labels and predictions that look swapped, whatever their formats: the predictions are integers,
    one per row the labels would have as predictions (class indices), and the labels are not integers."""
    held = tuple(np.shape(labels.values))
    if not held:
        return ""
    rows = math.prod(held[:-1]) if len(held) > 1 else (held[0] if pred.one_output else 1)
    if math.prod(pred.unshifted_shape or (len(pred), pred.num_classes)) != rows:  # counted before --shift
        return ""
    y = _head(_as_rows(labels.values))
    head = _head(pred.values)
    if not np.all(np.isfinite(head) & (head == np.round(head))) or np.all(y == np.round(y)):
        return ""
    label_opt, pred_opt = labels.where.split()[0], pred.matrix.where.split()[0]
    return f"; {label_opt} and {pred_opt} look swapped ({pred_opt} holds integers, one per row of {label_opt})"


def _swap_checked(labels: "LabelRows", pred: "Predictions") -> "LabelRows":
    """``labels``, after a warning if they are binary targets that look swapped with the predictions of
    their shape: predictions all 0 or 1 (as targets are), targets none of them (as probabilities are)."""
    if labels.kind != "bce":
        return labels
    y = _head(labels.values)
    head = _head(pred.values)
    if y.size and np.all((head == 0) | (head == 1)) and np.all((y > 0) & (y < 1)):
        warn(f"{labels.matrix.where} and {pred.matrix.where} look swapped: every prediction is 0 or 1, as "
             f"targets are, and no target is, as probabilities are")
    return labels


def _label_file_header(m: Matrix, n: int) -> Matrix:
    """pandas heads a label file with its default names: ``0`` over a Series of class indices,
    ``0,1,…`` over a DataFrame of integers. Such a first line over one row more than the ``n``
    predictions is a header (said once on stderr; ``--input-header no`` keeps it as data).

    Each text shard of a set is a file of its own: the shards whose first line is such a header
    lose it when the set holds exactly as many rows more than the predictions as there are of them."""
    if _input_header() != "auto":
        return m
    if isinstance(m, ShardMatrix):
        extra = np.shape(m.values)[0] - n
        if not 0 < extra <= sum(s.text for s in m.shards):
            return m
        headed = {i: names for i, s in enumerate(m.shards)
                  if s.text and s.names is None and (names := _pandas_label_names(s.array()[0])) is not None}
        if len(headed) != extra:
            return m
        i = next(iter(headed))
        warn(f"{m.where}: the first line ({','.join(headed[i])}) of {extra} of its {len(m.shards)} files "
             f"(e.g. {m.shards[i].path}) is read as a header, as pandas writes one: they hold {extra} lines more "
             f"than the {n} predictions; --input-header no reads them as data")
        return m.without_first_rows(headed)
    if not m.text or m.names is not None or np.shape(m.values)[:1] != (n + 1,):
        return m
    names = _pandas_label_names(m.values[0])
    if names is None:
        return m
    warn(f"{m.where}: line {m.lines[0]} ({','.join(names)}) is read as a header, as pandas writes one: the file has "
         f"one line more than the {n} predictions; --input-header no reads it as data")
    return m.without_first_row(names)


def _pandas_label_names(head) -> list[str] | None:
    """The names pandas gives unnamed columns (``0``; ``0,1,…``) if ``head`` (a first row) reads as them."""
    first = np.asarray(head, dtype=np.float64).reshape(-1)
    c = first.size
    if not (c == 1 and first[0] == 0) and not (c >= 2 and first[0] in (0, 1) and (np.diff(first) == 1).all()):
        return None
    return [str(int(v)) for v in first]


def load_weights(spec: str | None, num_classes: int, option: str = "--weights", *,
                 matrix: Matrix | None = None) -> np.ndarray | None:
    """``--weights`` (or ``--pos-weight``): one finite weight per class (``matrix``: ``spec`` already read)."""
    if spec is None:
        return None
    m = matrix if matrix is not None else _numbers(_read(spec, option))
    try:
        return core.check_weights(m.values, num_classes)
    except core.RowError as e:
        raise DataError(f"{m.where}: {e}") from e


def load_pos_weight(spec: str | None, pred: Predictions) -> np.ndarray | None:
    """``--pos-weight``: one weight per class ``(C,)``; for samples of one output (``C = 1``), also one per
    sample ``(N, 1)``, applied entry by entry as PyTorch broadcasts a ``pos_weight`` of the input's shape."""
    if spec is None:
        return None
    m = _numbers(_read(spec, "--pos-weight"))
    n = len(pred)
    if pred.num_classes != 1 or n == 1 or np.size(m.values) == 1:
        return load_weights(spec, pred.num_classes, option="--pos-weight", matrix=m)
    if np.size(m.values) != n:
        raise DataError(f"{m.where}: expected one weight per class (1) or one per sample ({n}), "
                        f"found {np.size(m.values)}")
    try:
        return core.check_weights(m.values, n).reshape(n, 1)
    except core.RowError as e:
        raise DataError(f"{m.where}: {e}") from e


def load_sample_weights(spec: str | None, pred: Predictions, option: str = "--sample-weights") -> np.ndarray | None:
    """``--sample-weights``: one finite weight >= 0 per sample of ``pred``, as float64 ``(N,)``
    (any shape of N values, in C order: ``(B, T)`` for ``(B, T, C)`` predictions)."""
    if spec is None:
        return None
    m = _label_file_header(_numbers(_read(spec, option)), len(pred))
    try:
        return core_reductions.check_sample_weights(m.values, len(pred))
    except core.RowError as e:
        column = len(np.shape(m.values)) == 2 and np.shape(m.values)[1] == 1  # a row is a line of the file
        raise DataError(f"{m.locate(e.row) if column else m.where}: {e}") from e


def _holds_names(m: Matrix) -> bool:
    return isinstance(m.values, np.ndarray) and m.values.dtype.kind in "US"


def _numbers(m: Matrix) -> Matrix:
    """``m``, unless it holds names where numbers are needed (names are class labels only)."""
    if _holds_names(m):
        cells = m.values.reshape(len(m.values), -1)
        r = next((i for i, row in enumerate(cells) if not all(is_number(c) for c in row)), 0)
        bad = next((c for c in cells[r] if not is_number(c)), cells[r][0])
        raise DataError(f"{m.locate(r)}: row {r + 1}: expected a number, found {str(bad)!r}{number_hint(str(bad))}")
    return m


def _class_values(y: np.ndarray, m: Matrix, pred: "Predictions", classes: str | None,
                  ignore_index: int | None) -> np.ndarray:
    """Integer labels ``y`` as class indices when the class names (``--classes``, else the predictions'
    header) are integers other than 0…C-1, as scikit-learn's ``classes_`` head ``predict_proba``: each
    label is a class value, matched by name (label 5 is the column named ``5``); said once on stderr.
    Labels equal to ``ignore_index`` stay ignored."""
    names = _class_list(classes, pred.num_classes) if classes is not None else pred.matrix.names
    if not names or len(names) != pred.num_classes or not all(_INTEGER_NAME.fullmatch(str(c)) for c in names):
        return y
    values = np.array([int(c) for c in names], dtype=np.int64)
    if np.array_equal(values, np.arange(len(values))):
        return y
    order = np.argsort(values, kind="stable")
    at = np.minimum(np.searchsorted(values[order], y), len(values) - 1)
    found = values[order][at] == y
    ignored = (y == ignore_index) if ignore_index is not None else np.zeros(len(y), dtype=bool)
    shown = ", ".join(map(str, names[:8])) + (f", … ({len(names)} classes)" if len(names) > 8 else "")
    if not (found | ignored).all():
        r = int(np.argmin(found | ignored))
        raise DataError(f"{m.locate(r)}: row {r + 1}: label {int(y[r])} is not one of the class values {shown} "
                        "(the classes' names)")
    ids = np.where(ignored, ignore_index if ignore_index is not None else 0, order[at])
    if ignore_index is not None and (ids[~ignored] == ignore_index).any():
        raise CallError(f"--ignore-index {ignore_index}: the labels are class values, and class "
                        f"{names[ignore_index]!r} is at position {ignore_index}: it would be ignored too; "
                        "give an --ignore-index that is no class position (e.g. -100)")
    warn(f"{m.where}: the classes are named by integers ({shown}), not 0…{len(names) - 1}: labels are read as "
         f"those class values (label {names[-1]} is the column named {names[-1]!r})")
    return ids.astype(np.int64)


#: A class name that is an integer (in ASCII digits, within int64).
_INTEGER_NAME = re.compile(r"[+-]?[0-9]{1,18}")


def _named_labels(m: Matrix, pred: "Predictions", classes: str | None) -> Matrix:
    """Labels written as class names, as class indices: through ``--classes``, else the predictions'
    column names. A one-column label file whose first line is a known class name has no header."""
    known = _class_list(classes, pred.num_classes) if classes is not None else pred.matrix.names
    cells = [str(c) for c in m.values.reshape(-1)]
    if not known or len(known) != pred.num_classes:
        fix = (f"pass --classes with the predictions' {pred.num_classes} classes in column order"
               if offers("--classes") else "give class indices 0 to C-1, or predictions with a header of class names")
        raise CallError(f"{m.where}: the labels are class names ({cells[0]!r}, …) but no class names are known: {fix}")
    lines = m.lines
    if m.names is not None and len(m.names) == 1 and m.names[0] in known:  # that "header" was the first label
        cells = [m.names[0], *cells]
        line = getattr(m.names, "line", None)
        lines = None if lines is None or line is None else [line, *lines]
    index = {name: k for k, name in enumerate(getattr(known, "columns", ()))}  # a label may name the column
    index.update({name: k for k, name in enumerate(known)})  # or the class, which wins
    ids = np.empty(len(cells), dtype=np.int64)
    for r, name in enumerate(cells):
        k = index.get(name)
        if k is None:
            where = m.where if lines is None else f"{m.where} line {lines[r]}"
            raise DataError(f"{where}: row {r + 1}: class name {name!r} is not one of the classes: "
                            f"{', '.join(known)}{_prefix_hint(name, known, pred.matrix.where)}")
        ids[r] = k
    return Matrix(ids, m.where, None, lines)


def _prefix_hint(name: str, known, where: str) -> str:
    """Where ``name`` is a class name after the prefix every column shares (``setosa`` of ``p_setosa``):
    the selector whose ``*`` makes the classes those names."""
    prefix = os.path.commonprefix([str(k) for k in known])
    if not prefix or f"{prefix}{name}" not in known or " " not in where:
        return ""
    return f"; the classes are the columns' full names: select them as {shown_path(where)}:{prefix}* to name them {name!r}, …"


def _class_list(classes: str, num_classes: int) -> list[str]:
    names = [c.strip() for c in classes.split(",")]
    if len(names) != num_classes:
        raise CallError(f"--classes names {len(names)} classes, but the predictions have {num_classes}")
    return names


def class_names(classes: str | None, num_classes: int, *matrices: Matrix) -> list[str]:
    """``--classes``, else the first header row of the given inputs, else 0 … C-1."""
    if classes is not None:
        return _class_list(classes, num_classes)
    for m in matrices:
        if m is not None and m.names and len(m.names) == num_classes:
            return m.names
    return [str(c) for c in range(num_classes)]
