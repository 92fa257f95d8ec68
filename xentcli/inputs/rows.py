"""Rows of the inputs, validated a block at a time as the engine reads them: predictions, labels and
targets of their shape, and the next-token view of ``--shift``.

:meth:`Predictions.blocks` is the one pass over row blocks that everything computed from the inputs
takes (:meth:`~Predictions.map`, :meth:`~Predictions.stream`, :meth:`~Predictions.validate`, ``xent
compare``): it runs on the engine of the reading the predictions were loaded with, checks each block, shows
progress, locates errors in the input files and reports what was counted at the end.
"""

from __future__ import annotations

import threading

import numpy as np

from .. import core
from ..engine import LEAN_BLOCK_ELEMENTS, RowBlocks, collect, count, read_rows, remote_token
from ..errors import CallError, DataError
from ..printable import warning
from ..progress import Progress
from ..readers import Matrix
from .hints import PROBABILITY_LOOK_ROWS, renormalize_hint
from .reading import Reading

__all__ = ["CheckedRows", "ShiftedRows", "LabelRows", "Predictions"]


class CheckedRows:
    """Rows ``(N, C)`` of one input, read lazily (``values`` may be a file read by rows) and
    validated a block at a time by :meth:`check`, which subclasses define.

    What is shared: the command's :class:`~xentcli.inputs.reading.Reading` (its engine, and the
    options a hint may name), ``--renormalize`` (rows rescaled, counted, reported once at the end)
    and errors located in the input they came from.

    Pickled for the workers of a Dask cluster (``--scheduler``), an input keeps what
    checking and computing need — its rows' source (reopened there by path), kind
    and settings — with a token that maps errors and counts made there back to this
    object (:func:`xentcli.engine.remote_token`); not its lock, counts, reading (the
    client's engine: a worker only runs the blocks it is given) or :class:`Matrix`
    (errors are located and hinted here, on the client).
    """

    #: Counters of rows or values seen, added up block by block (:func:`xentcli.engine.count`).
    _COUNTERS = ("_rescaled",)

    def __init__(self, values, matrix: Matrix, *, reading: Reading, renormalize: bool = False):
        self.values, self.matrix, self.reading, self.renormalize = values, matrix, reading, renormalize
        self.lock = threading.Lock()  # the counters' (engine.count)
        self._rescaled = 0  # rows --renormalize changed

    def __getstate__(self) -> dict:
        remote_token(self)
        state = {k: v for k, v in self.__dict__.items() if k != "lock"}
        state.update(dict.fromkeys(self._COUNTERS, 0), matrix=None, reading=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.lock = threading.Lock()

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
            warning(f"{self.matrix.where}: --renormalize rescaled {self._rescaled} row(s) that did not sum to 1")


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

    def __init__(self, values, matrix: Matrix, *, reading: Reading, kind: str, renormalize: bool = False):
        super().__init__(values, matrix, reading=reading, renormalize=renormalize)
        self.kind = kind
        self.alternative = ""  # a hint that wins over --renormalize's (see hints.binary_hint)
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
        return self.alternative or renormalize_hint(self.values[error.row], self.reading)


class Predictions(CheckedRows):
    """Logits or probabilities as rows ``(N, C)``, validated block by block.

    ``values`` keeps the stored dtype and may be lazy (an ``.npy`` file read
    by rows): :meth:`blocks` runs a per-row function over row blocks on
    the engine of ``reading`` (the command's, from its ``--scheduler``), checking each block
    first (:meth:`check`), so even a multi-GB file is read once, in bounded
    memory. ``shape`` is the input's shape before leading axes were flattened
    (labels are matched against it).
    """

    _COUNTERS = ("_rescaled", "_float16_hits")

    def __init__(self, values, kind: str, shape: tuple[int, ...], matrix: Matrix, *, reading: Reading,
                 renormalize: bool = False, normalized: bool = True, binary: bool = False):
        super().__init__(values, matrix, reading=reading, renormalize=renormalize)
        self.kind, self.shape, self.normalized, self.binary = kind, shape, normalized, binary
        self._float16_hits = 0
        self._validated = False
        self.logits_option = "--logits"  # named in hints about probabilities that look like logits
        self.unshifted_shape = None  # the input's shape when shift() dropped each sequence's last position
        self.alternative = ""  # a hint that wins over the others (see hints.binary_hint)
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

    def blocks(self, fn, *others, screened: bool = False, report: bool = True, **engine_options):
        """``(start, stop, fn(checked rows, *rows of others))`` per row block, in order, on the reading's engine.

        ``others`` are arrays or row readers of the same rows (labels: their blocks are checked as
        they are read). A progress bar follows the blocks; a bad row fails with its file and line.
        When the blocks are done, what was counted (rows rescaled, float16 at its limit) is said on
        stderr, or with ``report=False`` forgotten (a checking pass: the computing pass reports).
        ``screened`` as for :meth:`map`; ``engine_options`` as for
        :meth:`xentcli.engine.Engine.blocks` (``block_elements``, ``rows_per_block``, ``threads``).
        """
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
                for start, stop, part in self.reading.engine.blocks(run, self.values, *others, **engine_options):
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
        return collect(self.blocks(fn, *others, screened=screened, **engine_options), len(self))

    def stream(self, fn, *others) -> RowBlocks:
        """Like :meth:`map` for a matrix result, computed block by block as it is written.

        It keeps the input's leading dimensions (``(B, T, V)`` in, ``(B, T, V)`` out in npy)
        and can :meth:`validate` every row before anything is written.
        """
        return RowBlocks((len(self), self.num_classes), (part for _, _, part in self.blocks(fn, *others)),
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

        A pass at read speed (on the engine), for outputs that cannot take back what
        they printed: a bad row anywhere fails the run before its first byte.
        """
        # Checks keep no block-sized temporaries: large blocks cut the per-block hand-off.
        for _ in self.blocks(lambda rows, *rest: None, *others, report=False, block_elements=LEAN_BLOCK_ELEMENTS):
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
                counts = renormalize_hint(row, self.reading)[2:]
                return logits + (f" (or {counts}, if they are counts)" if counts else "")
            return renormalize_hint(row, self.reading) if self.normalized else ""

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
            warning(f"{self.matrix.where}: float16 input holds {self._float16_hits} value(s) at ±65504 or ±inf, "
                    "the float16 limit: they may have overflowed when saved (xent computes in float64)")
        super()._report()


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
