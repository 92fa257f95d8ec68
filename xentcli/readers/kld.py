"""llama.cpp's ``.kld`` files (``llama-perplexity --kl-divergence-base FILE``): the base model's
log-probabilities, ``FILE.kld[:logprobs]``, and the tokens they score, ``:targets`` / ``:tokens``.

The layout, as written by ``perplexity()`` and ``process_logits(std::ostream &, …)`` and read
back by ``kl_divergence()`` and ``log_softmax(…, const uint16_t * base_log_prob, …)`` in
llama.cpp's ``tools/perplexity/perplexity.cpp`` (ggml-org/llama.cpp, commit 050fc7f):

* 8 bytes ``_logits_``; int32 ``n_ctx``; int32 ``n_vocab``; int32 ``n_chunk``;
* ``n_ctx × n_chunk`` int32 tokens (the chunks, one after the other);
* per chunk, its scored rows: the positions ``first = n_ctx/2`` … ``n_ctx - 2`` (``n_ctx - 1 - first``
  rows), row ``j`` predicting the token ``tokens[c·n_ctx + first + j + 1]``. Each row is
  ``nv = 2·((n_vocab + 1)/2) + 4`` uint16: float32 ``scale``, float32 ``min_log_prob``, then
  ``n_vocab`` uint16 codes padded to an even count.

A code decodes to the log-probability ``scale·code + min_log_prob``, in float32 as llama.cpp
does (``const float p_log_base = scale*base_log_prob[i] + min_log_prob``): xent computes the
product and the sum in float32, each rounded once. A row whose scale or min_log_prob is not finite,
or that decodes to a log-probability above 0 (beyond :data:`LOGPROB_SLACK` of rounding), is damaged:
bad data naming its row. Rows are read by ``os.pread`` in blocks and
decoded per block, so a file of any size is read in bounded memory.
"""

from __future__ import annotations

import os

import numpy as np

from ..core import RowError
from ..errors import CallError, DataError
from .source import Matrix, RawFile, RawRows

__all__ = ["read", "MAGIC", "SELECTORS", "KldFile"]

MAGIC = b"_logits_"
HEADER_BYTES = len(MAGIC) + 3 * 4
SELECTORS = ("logprobs", "targets", "tokens")
#: How far above 0 a decoded log-probability may be: float32 rounding of ``scale·code + min_log_prob``
#: (each term at most ~30 in size) near 0; more is a damaged row.
LOGPROB_SLACK = 1e-4


class KldFile(RawFile):
    """The scored rows' log-probabilities, ``(n_chunk·(n_ctx - 1 - n_ctx/2), n_vocab)`` float32,
    decoded block by block as they are read; ``n_ctx``, ``n_vocab``, ``n_chunk`` from the header."""

    def __init__(self, path: str, n_ctx: int, n_vocab: int, n_chunk: int, where: str | None = None):
        self.n_ctx, self.n_vocab, self.n_chunk = n_ctx, n_vocab, n_chunk
        self.where = where or path
        self.padded = n_vocab + n_vocab % 2
        record = np.dtype([("scale", "<f4"), ("min_log_prob", "<f4"), ("codes", "<u2", (self.padded,))])
        self.record = record

        def decode(raw: np.ndarray) -> np.ndarray:
            rec = raw.view(record)[:, 0]
            out = rec["codes"][:, :n_vocab].astype(np.float32)
            scale, low = rec["scale"].astype(np.float32), rec["min_log_prob"].astype(np.float32)
            for name, value in (("scale", scale), ("min_log_prob", low)):
                if not np.isfinite(value).all():
                    r = int(np.argmax(~np.isfinite(value)))
                    raise RowError(f"damaged .kld row: its {name} is {float(value[r])}, expected a finite number", r)
            if (scale < 0).any():  # llama.cpp's scale is (max - min) / 65535: a code of 0 is the row's minimum
                r = int(np.argmax(scale < 0))
                raise RowError(f"damaged .kld row: its scale is {float(scale[r])!r}, expected a number >= 0", r)
            with np.errstate(over="ignore", invalid="ignore"):
                out *= scale[:, None]
                out += low[:, None]
            high = out.max(axis=1, initial=-np.inf)
            if (high > LOGPROB_SLACK).any():
                r = int(np.argmax(high > LOGPROB_SLACK))
                raise RowError(f"damaged .kld row: it decodes to the log-probability {float(high[r])!r} (scale "
                               f"{float(scale[r])!r}, min_log_prob {float(low[r])!r}), expected at most 0", r)
            return out

        super().__init__(path, tokens_offset(n_ctx, n_chunk), (scored_rows(n_ctx) * n_chunk, n_vocab),
                         np.float32, row_bytes=record.itemsize, decode=decode)

    def as_rows(self) -> "_KldRows":
        rows = super().as_rows()
        located = _KldRows(rows.path, rows.offset, rows.shape, rows.dtype, row_bytes=self.row_bytes, decode=self.decode)
        located.where = self.where
        return located


class _KldRows(RawRows):
    """The rows of a :class:`KldFile`: a damaged row is bad data naming the file and its row, however
    the rows are read (a first look, a block of the pass)."""

    where: str

    def rows(self, start: int, stop: int) -> np.ndarray:
        try:
            return super().rows(start, stop)
        except RowError as e:
            raise DataError(f"{self.where}: {e.shifted(max(0, start))}") from None


def scored_rows(n_ctx: int) -> int:
    """Rows scored per chunk: the second half of the context, but for its last position."""
    return n_ctx - 1 - n_ctx // 2


def tokens_offset(n_ctx: int, n_chunk: int) -> int:
    """Where the rows start: after the header and the tokens."""
    return HEADER_BYTES + 4 * n_ctx * n_chunk


def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """``logprobs`` (the default) lazily; ``targets`` and ``tokens`` as int64 arrays."""
    if selector is not None and selector not in SELECTORS:
        raise CallError(f"{where}: nothing named '{selector}' to select; a .kld file holds {', '.join(SELECTORS)}")
    n_ctx, n_vocab, n_chunk = _read_header(path, where)
    if selector == "tokens":
        return Matrix(_read_tokens(path, n_ctx, n_chunk), where)
    if scored_rows(n_ctx) <= 0:
        raise DataError(f"{where}: the file scores no rows (n_ctx={n_ctx}: empty)")
    if selector == "targets":
        tokens = _read_tokens(path, n_ctx, n_chunk).reshape(n_chunk, n_ctx)
        return Matrix(np.ascontiguousarray(tokens[:, n_ctx // 2 + 1:]).reshape(-1), where)
    return Matrix(KldFile(path, n_ctx, n_vocab, n_chunk, where), where)


def _read_header(path: str, where: str) -> tuple[int, int, int]:
    """``n_ctx, n_vocab, n_chunk``, checked: each positive, and together exactly the file's size."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    if head[: len(MAGIC)] != MAGIC and not MAGIC.startswith(head):  # a prefix of the magic: truncated
        raise DataError(f"{where}: not a llama.cpp .kld file (it does not start with '_logits_')")
    if len(head) < HEADER_BYTES:
        raise DataError(f"{where}: truncated .kld file: {size} bytes, the header alone takes {HEADER_BYTES}")
    n_ctx, n_vocab, n_chunk = (int(v) for v in np.frombuffer(head, "<i4", 3, len(MAGIC)))
    for name, value in (("n_ctx", n_ctx), ("n_vocab", n_vocab), ("n_chunk", n_chunk)):
        if value <= 0:
            raise DataError(f"{where}: damaged .kld header: {name} is {value}")
    row_bytes = 8 + 2 * (n_vocab + n_vocab % 2)
    expected = tokens_offset(n_ctx, n_chunk) + n_chunk * scored_rows(n_ctx) * row_bytes
    if size != expected:  # counted in exact integers: a header that lies is refused before any allocation
        raise DataError(
            f"{where}: {'truncated' if size < expected else 'damaged'} .kld file: n_ctx={n_ctx}, n_vocab={n_vocab}, "
            f"n_chunk={n_chunk} take {expected} bytes, found {size}"
        )
    return n_ctx, n_vocab, n_chunk


def _read_tokens(path: str, n_ctx: int, n_chunk: int) -> np.ndarray:
    count = n_ctx * n_chunk
    tokens = np.empty(count, dtype="<i4")
    view = memoryview(tokens).cast("B")
    fd = os.open(path, os.O_RDONLY)
    try:
        done = 0
        while done < len(view):
            got = os.preadv(fd, [view[done:]], HEADER_BYTES + done)
            if got <= 0:
                raise DataError(f"{path}: the file ended early (was it changed while being read?)")
            done += got
    finally:
        os.close(fd)
    return tokens.astype(np.int64)
