"""The compact reference of ``--save-base``: a ``.safetensors`` file of each token's top-K base
log-probabilities, written while the base is read, and read back as a ``--base``.

Tensors (all rows of the base, ignored tokens too, so that later tests line up with it):
``topk_logprobs`` F32 (n, K), ``topk_ids`` I32 (n, K) (largest first), ``tail_logmass`` F32 (n,)
(log of the mass outside the top K), ``entropy`` F32 (n,); with targets ``target`` I32 (n,) and
``target_logprob`` F32 (n,). ``__metadata__``: ``format`` = ``xent-reference``, ``vocab``, ``top_k``, ``shift``
(``true`` when saved with ``--shift``: its rows are each sequence's positions but the last, scored
against the next token; else ``false``) (strings, as the format wants).
"""

from __future__ import annotations

import os

import numpy as np

from .. import core
from ..errors import CallError, DataError
from ..readers.safetensors import header_bytes, read_header

__all__ = ["FORMAT", "ReferenceWriter", "Reference", "is_reference"]

FORMAT = "xent-reference"
#: How far above 0 a stored log-probability may be: float32 rounding of a value near 0.
LOGPROB_SLACK = 1e-6


class ReferenceWriter:
    """Writes the reference block by block at its place in the file (``os.pwrite``) into ``out``,
    an open binary file (the atomic temp file of :func:`~xentcli.destination.open_output`)."""

    def __init__(self, out, n: int, vocab: int, top_k: int, with_targets: bool, *, shift: bool = False):
        k = min(top_k, vocab)
        self.fd, self.k = out.fileno(), k
        tensors = [("topk_logprobs", "F32", (n, k), 4), ("topk_ids", "I32", (n, k), 4),
                   ("tail_logmass", "F32", (n,), 4), ("entropy", "F32", (n,), 4)]
        if with_targets:
            tensors += [("target", "I32", (n,), 4), ("target_logprob", "F32", (n,), 4)]
        header, offset, self.offsets = {}, 0, {}
        for name, dtype, shape, item in tensors:
            size = int(np.prod(shape)) * item
            header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
            self.offsets[name] = (offset, size // shape[0] if shape[0] else 0)
            offset += size
        header["__metadata__"] = {"format": FORMAT, "vocab": str(vocab), "top_k": str(k),
                                  "shift": "true" if shift else "false"}
        head = header_bytes(header)
        self.start = len(head)
        os.pwrite(self.fd, head, 0)
        os.ftruncate(self.fd, self.start + offset)

    def write(self, start: int, arrays: dict[str, np.ndarray]) -> None:
        """Rows ``start:`` of each named tensor."""
        for name, values in arrays.items():
            offset, row_bytes = self.offsets[name]
            dtype = "<i4" if name in ("topk_ids", "target") else "<f4"
            data = np.ascontiguousarray(values, dtype=dtype).tobytes()
            os.pwrite(self.fd, data, self.start + offset + start * row_bytes)

    @staticmethod
    def block(logits: np.ndarray, k: int, target=None) -> dict[str, np.ndarray]:
        """The reference's rows of one block of base logits (computed on the engine's threads)."""
        values, ids, tail, entropy = core.topk_logprobs(logits, k)
        out = {"topk_logprobs": values, "topk_ids": ids, "tail_logmass": tail, "entropy": entropy}
        if target is not None:
            out["target"] = target
            # the exact log p of the target, so the base's NLL stays exact from the reference
            out["target_logprob"] = -core.token_stats(logits, logits, target, top_k=1)["nll_base"]
        return out


def _header(path: str) -> dict:
    """The header of a safetensors file; empty if it is not one the reader reads."""
    try:
        return read_header(path, path)[1]
    except (OSError, DataError):
        return {}


def _metadata(path: str) -> dict | None:
    """The ``__metadata__`` of a safetensors file, or None if it has none (or is not one)."""
    meta = _header(path).get("__metadata__")
    return meta if isinstance(meta, dict) else None


def is_reference(path: str) -> bool:
    """Whether ``path`` is a reference written by ``--save-base``."""
    return path.lower().endswith(".safetensors") and (_metadata(path) or {}).get("format") == FORMAT


class Reference:
    """A saved reference read as the base: its tensors, read by rows like any safetensors file.

    Nothing in it is taken on trust (a bad one is bad data naming ``--base FILE``): the metadata
    agrees with the tensors' shapes (``top_k`` columns, one row a token in every tensor, ids and
    targets integers in ``[0, vocab)``); stored log-probabilities (top K, tail mass, targets') are
    at most :data:`LOGPROB_SLACK` and not NaN, entropies finite and ``>= 0``, each row's ids distinct.
    Tensors held whole are checked here, the top-K rows block by block as they are read.
    """

    def __init__(self, path: str, option: str = "--base"):
        from ..readers import read_matrix

        self.path, self.option = path, option
        meta = _metadata(path) or {}
        self.vocab, self.top_k = self._positive(meta, "vocab"), self._positive(meta, "top_k")
        if self.top_k > self.vocab:
            self._bad(f"its top_k metadata is {self.top_k}, more than its vocab {self.vocab}")
        #: whether its rows were shifted (--save-base --shift); None for a file that does not say
        self.shift = {"true": True, "false": False}.get(meta.get("shift"))
        read = lambda name: read_matrix(f"{path}:{name}", option).values  # noqa: E731
        names = _names(path)
        if ("target" in names) != ("target_logprob" in names):
            self._bad("it holds one of target and target_logprob without the other")
        try:
            self.logprobs = read("topk_logprobs")
            self.ids, self.tail, self.entropy = read("topk_ids"), read("tail_logmass"), read("entropy")
            stored = {"topk_logprobs": self.logprobs, "topk_ids": self.ids, "tail_logmass": self.tail,
                      "entropy": self.entropy}
            if "target" in names:
                stored.update(target=read("target"), target_logprob=read("target_logprob"))
        except CallError as e:
            raise DataError(f"{option} {path}: not a complete saved reference: {e}") from e
        self._check_shapes(stored)
        # one number a token: held whole, as targets are
        self.tail = self._vector(stored["tail_logmass"], "tail_logmass", at_most=LOGPROB_SLACK)
        self.entropy = self._vector(stored["entropy"], "entropy", at_least=-LOGPROB_SLACK)
        self.targets = self.target_logprob = None
        if "target" in names:
            self.targets = np.asarray(stored["target"], dtype=np.int64).reshape(-1)
            # NaN: an ignored token's (the caller checks that every scored token has one)
            self.target_logprob = self._vector(stored["target_logprob"], "target_logprob", at_most=LOGPROB_SLACK,
                                               nan=True)

    def _bad(self, what: str):
        raise DataError(f"{self.option} {self.path}: a damaged saved reference: {what}")

    def _positive(self, meta: dict, key: str) -> int:
        value = meta.get(key)
        if not isinstance(value, str) or not value.isascii() or not value.isdigit() or int(value) < 1:
            if value is None:
                raise DataError(f"{self.option} {self.path}: a saved reference without its {key} metadata")
            self._bad(f"its {key} metadata is {value!r}, expected an integer >= 1")
        return int(value)

    def _check_shapes(self, stored: dict) -> None:
        n = stored["topk_logprobs"].shape[0] if len(stored["topk_logprobs"].shape) == 2 else None
        for name, values in stored.items():
            want = (n, self.top_k) if name.startswith("topk_") else (n,)
            if tuple(values.shape) != want:
                found = tuple(values.shape)
                expected = f"{n} rows of top_k={self.top_k} columns" if name.startswith("topk_") else f"{n} values"
                if n is None:
                    expected = f"a matrix of top_k={self.top_k} columns"
                self._bad(f"{name} has shape {found}, expected {expected} (its metadata: vocab {self.vocab}, "
                          f"top_k {self.top_k})")
            if name in ("topk_ids", "target") and np.dtype(values.dtype).kind not in "iu":
                self._bad(f"{name} holds {np.dtype(values.dtype)}, expected integer class ids")

    def _vector(self, values, name: str, *, at_most=None, at_least=None, nan: bool = False) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        bad = (v > at_most) if at_most is not None else (v < at_least) | np.isinf(v)
        if not nan:
            bad |= np.isnan(v)
        if bad.any():
            r = int(np.argmax(bad))
            expected = "a log-probability (<= 0)" if at_most is not None else "an entropy (finite, >= 0)"
            self._bad(f"{name}: row {r + 1}: {float(v[r])!r}, expected {expected}")
        return v

    def sources(self) -> list:
        """The row sources the engine reads beside the tests (in :meth:`token_stats`' order)."""
        rows = [self.ids.as_rows(), self.tail, self.entropy]
        return rows + ([self.target_logprob] if self.target_logprob is not None else [])

    def check_rows(self, logprobs, ids) -> None:
        """One block of the top-K rows: log-probabilities at most :data:`LOGPROB_SLACK`, not NaN; ids
        distinct class indices in ``[0, vocab)`` (a RowError, its row counted in the block)."""
        lp, ids = np.asarray(logprobs), np.asarray(ids)
        checks = ((lp, (lp > LOGPROB_SLACK) | np.isnan(lp), "a log-probability (<= 0)"),
                  (ids, (ids < 0) | (ids >= self.vocab), f"a class id in [0, {self.vocab})"))
        for name, (values, bad, expected) in zip(("topk_logprobs", "topk_ids"), checks):
            if bad.any():
                r, c = np.unravel_index(int(np.argmax(bad)), bad.shape)
                raise core.RowError(f"a damaged saved reference: {name}: {values[r, c].item()!r}, expected {expected} "
                                    f"(column {int(c) + 1})", int(r))
        ordered = np.sort(ids, axis=1)
        repeated = ordered[:, 1:] == ordered[:, :-1]
        if repeated.any():
            r, c = np.unravel_index(int(np.argmax(repeated)), repeated.shape)
            raise core.RowError(f"a damaged saved reference: topk_ids: class {int(ordered[r, c])} "
                                "twice, expected distinct classes", int(r))

    def token_stats(self, logprobs, ref_rows, test_rows, targets, *, top_k: int) -> dict[str, np.ndarray]:
        """:func:`~xentcli.core.reference_token_stats` of one block: ``logprobs`` the stored top-K rows,
        ``ref_rows`` the rows of :meth:`sources`."""
        ids, tail, entropy = ref_rows[0], ref_rows[1], ref_rows[2]
        self.check_rows(logprobs, ids)
        target_logprob = ref_rows[3] if len(ref_rows) > 3 and targets is not None else None
        scored = targets if target_logprob is not None else None
        stats = core.reference_token_stats(logprobs, ids, tail, test_rows, scored, target_logprob,
                                           top_k=min(top_k, self.top_k))
        stats["entropy_base"] = np.asarray(entropy, dtype=np.float64)
        return stats


def _names(path: str) -> set[str]:
    return set(_header(path))
