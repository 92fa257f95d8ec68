"""What the kernels of :mod:`xentcli.core.tokens` share: input checks, row chunks, one log-softmax
per row, entropies, top-K sets and the target terms.

Top-K ties. The top-K set of a row is its first K classes in a stable
descending sort: the K largest values, ties at the K-th value broken toward
the lower class index (so ``top1 = argmax``, lowest index on ties, is always
in it, and the set does not depend on the sorting algorithm).
"""

from __future__ import annotations

import math

import numpy as np

from .._xlogy import negate
from ..checks import RowError
from ..softmax import DOMINANT_SUM, log1p_fixup, row_max

__all__ = ["LN2", "CHUNK_VALUES", "pair", "float64", "rank_key", "checked_targets", "check_top_k", "by_chunks",
           "log_softmax_parts", "row_entropy", "topk_ids", "overlap", "contains", "ranks", "target_columns"]

LN2 = math.log(2.0)


def pair(base, test, what: str = "logits") -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as 2-D arrays ``(n, V)`` of the same shape (ValueError naming both shapes otherwise)."""
    a, b = np.asarray(base), np.asarray(test)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"base {what} of shape {a.shape} and test logits of shape {b.shape}: "
                         "expected the same shape (n, V)")
    return a, b


def float64(z: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(z, dtype=np.float64)


def rank_key(z: np.ndarray, z64: np.ndarray) -> np.ndarray:
    """The array to rank classes by: the input itself where NumPy ranks it natively (float32/64)."""
    return z if z.dtype in (np.float32, np.float64) else z64


def checked_targets(targets, n: int, num_classes: int) -> np.ndarray:
    """``targets`` as int64 of shape ``(n,)``, each in ``[0, num_classes)`` (RowError, a ValueError, otherwise)."""
    k = np.asarray(targets)
    if k.shape != (n,):
        raise ValueError(f"targets of shape {k.shape}: expected ({n},), one per row")
    if k.dtype.kind not in "iu":
        raise ValueError(f"targets must be integer class indices, got dtype {k.dtype}")
    bad = (k < 0) | (k >= num_classes)
    if bad.any():
        r = int(np.argmax(bad))
        raise RowError(f"target {int(k[r])} is out of range for {num_classes} classes "
                       f"(expected 0 to {num_classes - 1})", r)
    return k.astype(np.int64, copy=False)


def check_top_k(top_k: int) -> None:
    if int(top_k) != top_k or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")


#: Rows are processed in chunks of about this many values (2 MiB float64 temporaries). Smaller chunks
#: fit the L2 cache better but make every NumPy call shorter, and threads then spend their time
#: passing the GIL: measured on 2 cores, ``xent compare`` at 2**16 took 1.5x the wall time of 2**18.
CHUNK_VALUES = 2**18


def by_chunks(fn, n: int, v: int, *row_arrays) -> dict[str, np.ndarray]:
    """``fn(*chunk)`` over row chunks of ``row_arrays`` (``None`` passed through), outputs concatenated."""
    step = max(1, CHUNK_VALUES // max(v, 1))
    if n <= step:
        return fn(*row_arrays)
    parts = [fn(*(None if a is None else a[i:i + step] for a in row_arrays)) for i in range(0, n, step)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def log_softmax_parts(z: np.ndarray):
    """``(m, log_s, logp, p)`` of float64 rows ``z``: one exponential pass serves both ``p`` and the sum.

    ``m``, ``log_s`` are :func:`~xentcli.core.softmax.max_and_log_sum`'s (with its
    ``log1p`` fix for rows dominated by one class), ``logp = (z - m) - log_s``
    exactly as :func:`~xentcli.core.softmax.log_softmax`, ``p = e^{z - m}·(1/s)``.
    """
    m = row_max(z, -1)
    with np.errstate(over="ignore", invalid="ignore"):  # -1e308 - 1e308 = -inf (p = 0); NaN rows stay NaN
        logp = z - m
    p = np.exp(logp)
    s = np.sum(p, axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):  # log 0 = -inf for an all -inf row (NaN below)
        log_s = np.log(s)
    close = (s < DOMINANT_SUM) & (s >= 1.0)
    if close.any():
        log_s = log1p_fixup(z, m, close, log_s, -1, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):  # inf - inf, 1/0 in rows that are no distribution: NaN
        logp -= log_s
        p *= 1.0 / s  # one rounding more than p / s (≤ 1 ulp), at a third of a division's cost
    return m, log_s, logp, p


def row_entropy(p: np.ndarray, logp: np.ndarray, masked: np.ndarray) -> np.ndarray:
    """``-Σ p·log p`` per row, masked classes (``p = 0``, ``log p = -inf``) adding 0."""
    with np.errstate(invalid="ignore"):  # 0·(-inf) of masked classes: zeroed below
        terms = p * logp
    if masked.any():
        np.copyto(terms, 0.0, where=masked)
    return negate(np.sum(terms, axis=-1))


def topk_ids(key: np.ndarray, k: int) -> np.ndarray:
    """The top-``k`` class ids of each row of ``key``, ``(n, k)`` int64, largest first, ties to the lower id.

    ``np.argpartition`` finds k largest; rows where more than k classes reach the
    k-th value (a tie at the boundary, where argpartition's pick is arbitrary) are
    redone by a stable sort, so the set is the module's documented one.
    """
    n, v = key.shape
    ids = np.argpartition(key, v - k, axis=1)[:, v - k:]
    vals = np.take_along_axis(key, ids, axis=1)
    kth = np.min(vals, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):  # NaN rows (no distribution) compare False
        tied = np.count_nonzero(key >= kth, axis=1) > k
    if tied.any():
        rows = np.flatnonzero(tied)
        ids[rows] = np.argsort(-key[rows], axis=1, kind="stable")[:, :k]
        vals[rows] = np.take_along_axis(key[rows], ids[rows], axis=1)
    order = np.lexsort((ids, -vals), axis=-1)  # value descending, then id ascending
    return np.take_along_axis(ids, order, axis=1)


def overlap(ids_a: np.ndarray, ids_b: np.ndarray) -> np.ndarray:
    """``|A ∩ B| / K`` per row for id sets of ``K`` distinct ids each."""
    k = ids_a.shape[1]
    return np.count_nonzero(ids_a[:, :, None] == ids_b[:, None, :], axis=(1, 2)) / k


def contains(ids: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.any(ids == k[:, None], axis=1).astype(np.float64)


def ranks(out: dict, key_b, key_t, kk: int, k, logpb, logpt) -> None:
    """Top-1 of each side, ``same_top1``, ``topk_overlap`` and (with targets ``k``) the target columns."""
    out["top1_base"] = np.argmax(key_b, axis=1).astype(np.int64)
    out["top1_test"] = np.argmax(key_t, axis=1).astype(np.int64)
    out["same_top1"] = (out["top1_base"] == out["top1_test"]).astype(np.float64)
    ids_b, ids_t = topk_ids(key_b, kk), topk_ids(key_t, kk)
    out["topk_overlap"] = overlap(ids_b, ids_t)
    if k is not None:
        rows = np.arange(len(k))
        target_columns(out, k, logpb[rows, k], logpt[rows, k], out["top1_base"], out["top1_test"], ids_b, ids_t)


def target_columns(out: dict, k: np.ndarray, logp_b, logp_t, top1_b, top1_t, ids_b, ids_t) -> None:
    """The target keys, from the base's and the test's log-probabilities of the targets ``(n,)``."""
    out["nll_base"] = negate(logp_b)
    out["nll_test"] = negate(logp_t)
    out["p_target"] = np.exp(logp_b)
    out["q_target"] = np.exp(logp_t)
    out["delta_p"] = out["q_target"] - out["p_target"]
    out["in_topk_base"] = contains(ids_b, k)
    out["in_topk_test"] = contains(ids_t, k)
    out["top1_correct_base"] = (top1_b == k).astype(np.float64)
    out["top1_correct_test"] = (top1_t == k).astype(np.float64)
