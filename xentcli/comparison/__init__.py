"""``xent compare``: a model against a reference over the same tokens, in one streamed pass.

:func:`run` reads the base and every test once, a row block at a time on the engine's
threads, computes each token's values with :mod:`xentcli.core.tokens` and keeps only those
(:class:`Columns`: a few numbers a token); :mod:`.statistics` summarises them, and
:mod:`.reference` writes and reads the compact reference of ``--save-base``.

Three kinds of base:

* ``"logits"``: logits or log-probabilities of any input form (softmax renormalises them);
* ``"kld"``: llama.cpp's ``--kl-divergence-base`` file, used as llama.cpp uses it;
* ``"reference"``: a reference saved by ``--save-base`` (top-K log-probabilities per token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .. import core, kernels
from ..core.tokens import TERMS
from ..errors import DataError
from ..inputs import Predictions

__all__ = ["Test", "Columns", "run", "check_tokens"]

#: Each kernel key's column and side: a term of each model is two keys, ``<term>_base`` and ``<term>_test``.
_COLUMN_OF = {key: (t.name, "base" if t.per_model and key == t.keys[0] else "test") for t in TERMS for key in t.keys}
#: Kept as 0/1 bytes rather than float64: they are shares.
_FLAGS = {t.name for t in TERMS if t.flag}


@dataclass
class Test:
    """One model compared with the base: its name (``NAME=`` or the file name) and its rows."""

    name: str
    pred: Predictions


@dataclass
class Columns:
    """Per-token values of the scored tokens (ignored ones dropped), in input order.

    Attributes:
      rows: each scored token's row in the (shifted) input: its index for ``--worst`` and
        ``--per-token``, and its sequence for the block bootstrap.
      target: the target token of each, or None without targets.
      base, tests: column name → 1-D array; ``tests`` by test name. A column that needs
        targets is absent without them.
    """

    rows: np.ndarray
    target: np.ndarray | None
    base: dict[str, np.ndarray] = field(default_factory=dict)
    tests: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.rows)


class _Checked:
    """A test's rows for the engine: read a block, check it (errors name the test's file)."""

    def __init__(self, pred: Predictions):
        self.pred = pred
        self.shape = (len(pred), pred.num_classes)

    def __len__(self) -> int:
        return len(self.pred)

    def rows(self, start: int, stop: int) -> np.ndarray:
        from ..engine import read_rows

        return self.pred.check(read_rows(self.pred.values, start, stop))


def run(base: Predictions, tests: list[Test], targets: np.ndarray | None, *, kind: str = "logits",
        reference=None, ignore_index: int | None = None, top_k: int = 5, save_top_k: int | None = None,
        on_block=None, columns=None) -> Columns:
    """One pass over ``base`` and every test: the per-token values of every scored token.

    Args:
      base: the base's rows (logits or log-probabilities; for ``kind="kld"`` the decoded
        log-probabilities; for ``"reference"`` unused but for its length).
      targets: one target token per row, or None (target statistics are then absent).
      reference: for ``kind="reference"``, the :class:`~.reference.Reference` read from disk.
      ignore_index: targets equal to it are not scored.
      save_top_k: also compute each row's compact reference (``--save-base``), all rows.
      on_block: called in order with each block's first row, its :class:`_Block` (the scored
        tokens' columns, and the reference rows): ``--per-token`` and ``--save-base`` write there.
      columns: the column names to keep (None: all); a base given as logits then computes only
        those (csv prints four numbers: the JSD, the entropies and the top-K sets are not needed).
    """
    check_tokens(base, tests, kind=kind, reference=reference)
    n = len(base)
    sources = [_Checked(t.pred) for t in tests]
    if targets is not None:
        sources.append(targets)
    if kind == "reference":
        sources += reference.sources()

    keys = None if columns is None else sorted({k for t in TERMS if t.name in columns and "logits" in t.kernels
                                                for k in t.keys})
    wanted = (lambda name: True) if columns is None else (lambda name: name in columns)

    def per_block(b, *rest):
        tests_rows = rest[:len(tests)]
        tail = rest[len(tests):]
        target = tail[0] if targets is not None else None
        ref_rows = tail[1 if targets is not None else 0:]
        keep = np.ones(len(b), dtype=bool) if target is None or ignore_index is None else target != ignore_index
        safe = None if target is None else np.where(keep, target, 0)
        base_cols: dict[str, np.ndarray] = {}
        test_cols: dict[str, dict[str, np.ndarray]] = {}
        for t, rows in zip(tests, tests_rows):
            if kind == "kld":
                stats = core.kld_token_stats(b, rows, safe, top_k=top_k)
            elif kind == "reference":
                stats = reference.token_stats(b, ref_rows, rows, safe, top_k=top_k)
            else:
                stats = kernels.token_stats(b, rows, safe, top_k=top_k, keys=keys)
            cols = {}
            for key, value in stats.items():
                name, side = _COLUMN_OF.get(key, (None, None))
                if name is None or not wanted(name):
                    continue
                if side == "base":
                    base_cols[name] = value[keep]
                else:
                    cols[name] = (value[keep] != 0).astype(np.uint8) if name in _FLAGS else value[keep]
            test_cols[t.name] = cols
        if not tests and kind == "logits":  # --save-base alone: the base's own values
            stats = kernels.token_stats(b, b, safe, top_k=top_k, keys=keys)
            base_cols = {name: v[keep] for k, v in stats.items() if k in _COLUMN_OF
                         for name, side in [_COLUMN_OF[k]] if side == "base" and wanted(name)}
        for k in list(base_cols):
            if k in _FLAGS:
                base_cols[k] = (base_cols[k] != 0).astype(np.uint8)
        saved = None
        if save_top_k is not None:
            from .reference import ReferenceWriter

            saved = ReferenceWriter.block(b, save_top_k, safe)
            if target is not None and not keep.all():
                # ignored tokens keep their target (a later --ignore-index skips them) and have no log-probability
                saved["target"] = target
                saved["target_logprob"] = np.where(keep, saved["target_logprob"], np.nan)
        return _Block(keep, None if target is None else target[keep], base_cols, test_cols, saved)

    store = _Store(n)
    for start, stop, block in base.blocks(per_block, *sources):
        rows = np.arange(start, stop)[block.keep]
        if on_block is not None:
            on_block(start, rows, block)
        store.add(rows, block)
    return store.columns(targets is not None)


def check_tokens(base: Predictions, tests: list[Test], *, kind: str = "logits", reference=None) -> None:
    """Every test has the base's vocabulary (a saved reference's rows are its top K: not there) and its
    number of tokens; a DataError naming both inputs otherwise."""
    n = len(base)
    for t in tests:
        if t.pred.num_classes != base.num_classes and kind != "reference":
            raise DataError(f"{t.pred.matrix.where} has a vocabulary of {t.pred.num_classes} but "
                            f"{base.matrix.where} of {base.num_classes}: the models must share one")
        if len(t.pred) != n:
            # a saved reference's rows are its top K: the tokens it covers are what to compare
            held = f"{n} tokens (a saved reference of vocabulary {reference.vocab})" if kind == "reference" else \
                f"shape {base.shape}"
            hint = _shift_hint(t.pred, n) if kind == "reference" else ""
            raise DataError(f"{t.pred.matrix.where} has shape {t.pred.shape} but {base.matrix.where} has {held}: "
                            f"the same tokens are needed in both{hint}")


def _shift_hint(pred: Predictions, n: int) -> str:
    """For a saved reference that does not record --shift: the fix when the test's tokens are its
    rows shifted (one token less a sequence) or unshifted (one more)."""
    shape = pred.unshifted_shape or pred.shape
    sequences = int(np.prod(shape[:-2])) if len(shape) >= 2 else 1
    if pred.unshifted_shape is None and len(pred) - sequences == n:
        return "; the reference was likely saved with --shift: give --shift too"
    if pred.unshifted_shape is not None and len(pred) + sequences == n:
        return "; the reference was likely saved without --shift: leave out --shift"
    return ""


class _Store:
    """The scored tokens' columns, filled block by block into arrays of the input's length (no
    copy of the whole at the end: only the used part is viewed)."""

    def __init__(self, n: int):
        self.n, self.filled = n, 0
        self.rows = np.empty(n, dtype=np.int64)
        self.target = None
        self.base: dict[str, np.ndarray] = {}
        self.tests: dict[str, dict[str, np.ndarray]] = {}

    def _put(self, into: dict, name: str, values: np.ndarray) -> None:
        if name not in into:
            into[name] = np.empty(self.n, dtype=values.dtype)
        into[name][self.filled:self.filled + len(values)] = values

    def add(self, rows: np.ndarray, block: "_Block") -> None:
        self.rows[self.filled:self.filled + len(rows)] = rows
        if block.target is not None:
            if self.target is None:
                self.target = np.empty(self.n, dtype=np.int64)
            self.target[self.filled:self.filled + len(rows)] = block.target
        for name, values in block.base.items():
            self._put(self.base, name, values)
        for test, cols in block.tests.items():
            for name, values in cols.items():
                self._put(self.tests.setdefault(test, {}), name, values)
        self.filled += len(rows)

    def columns(self, with_targets: bool) -> Columns:
        k = self.filled
        cols = Columns(self.rows[:k], self.target[:k] if with_targets and self.target is not None else
                       (np.empty(0, dtype=np.int64) if with_targets else None))
        cols.base = {name: v[:k] for name, v in self.base.items()}
        cols.tests = {t: {name: v[:k] for name, v in c.items()} for t, c in self.tests.items()}
        return cols


class _Block(NamedTuple):
    """What one row block gives: which rows are scored, their targets and columns, and the
    rows of the reference (``--save-base``, every row)."""

    keep: np.ndarray
    target: np.ndarray | None
    base: dict
    tests: dict
    saved: dict | None
