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

import json
import os
import struct

import numpy as np

from .. import core
from ..errors import CallError, DataError

__all__ = ["FORMAT", "ReferenceWriter", "Reference", "is_reference"]

FORMAT = "xent-reference"


class ReferenceWriter:
    """Writes the reference block by block at its place in the file (``os.pwrite``) into ``out``,
    an open binary file (the atomic temp file of :func:`~xentcli.writers.open_output`)."""

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
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        self.start = 8 + len(text)
        os.pwrite(self.fd, struct.pack("<Q", len(text)) + text, 0)
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


def _metadata(path: str) -> dict | None:
    """The ``__metadata__`` of a safetensors file, or None if it has none (or is not one)."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 100_000_000:
                return None
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else None


def is_reference(path: str) -> bool:
    """Whether ``path`` is a reference written by ``--save-base``."""
    return path.lower().endswith(".safetensors") and (_metadata(path) or {}).get("format") == FORMAT


class Reference:
    """A saved reference read as the base: its tensors, read by rows like any safetensors file."""

    def __init__(self, path: str, option: str = "--base"):
        from ..readers import read_matrix

        meta = _metadata(path) or {}
        try:
            self.vocab, self.top_k = int(meta["vocab"]), int(meta["top_k"])
        except (KeyError, ValueError) as e:
            raise DataError(f"{option} {path}: a saved reference without its vocab and top_k metadata") from e
        self.path, self.option = path, option
        #: whether its rows were shifted (--save-base --shift); None for a file that does not say
        self.shift = {"true": True, "false": False}.get(meta.get("shift"))
        read = lambda name: read_matrix(f"{path}:{name}", option).values  # noqa: E731
        try:
            self.logprobs = read("topk_logprobs")
            self.ids, self.tail, self.entropy = read("topk_ids"), read("tail_logmass"), read("entropy")
        except CallError as e:
            raise DataError(f"{option} {path}: not a complete saved reference: {e}") from e
        # one number a token: held whole, as targets are
        self.tail = np.asarray(self.tail, dtype=np.float64).reshape(-1)
        self.entropy = np.asarray(self.entropy, dtype=np.float64).reshape(-1)
        self.targets = self.target_logprob = None
        if "target" in _names(path):
            self.targets = np.asarray(read("target"), dtype=np.int64).reshape(-1)
            self.target_logprob = np.asarray(read("target_logprob"), dtype=np.float64).reshape(-1)

    def sources(self) -> list:
        """The row sources the engine reads beside the tests (in :meth:`token_stats`' order)."""
        rows = [self.ids.as_rows(), self.tail, self.entropy]
        return rows + ([self.target_logprob] if self.target_logprob is not None else [])

    def token_stats(self, logprobs, ref_rows, test_rows, targets, *, top_k: int) -> dict[str, np.ndarray]:
        """:func:`~xentcli.core.reference_token_stats` of one block: ``logprobs`` the stored top-K rows,
        ``ref_rows`` the rows of :meth:`sources`."""
        ids, tail, entropy = ref_rows[0], ref_rows[1], ref_rows[2]
        target_logprob = ref_rows[3] if len(ref_rows) > 3 and targets is not None else None
        stats = core.reference_token_stats(logprobs, ids, tail, test_rows, targets if target_logprob is not None else None,
                                           target_logprob, top_k=min(top_k, self.top_k))
        stats["entropy_base"] = np.asarray(entropy, dtype=np.float64)
        return stats


def _names(path: str) -> set[str]:
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            return set(json.loads(f.read(n)))
    except (OSError, ValueError, struct.error):
        return set()
