"""Per-token statistics against a compact saved reference: each token's top-K base
log-probabilities and the log of the mass outside them (:func:`topk_logprobs` writes its rows,
:func:`reference_token_stats` compares a test with it).
"""

from __future__ import annotations

import numpy as np

from ..divergence import kl_logit_terms
from ..softmax import max_and_log_sum
from .rows import (
    check_top_k,
    checked_targets,
    float64,
    log_softmax_parts,
    overlap,
    rank_key,
    row_entropy,
    target_columns,
    topk_ids,
)

__all__ = ["log_rest", "topk_logprobs", "reference_token_stats"]


def log_rest(logp: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``log Σ_{c ∉ ids} e^{logp_c}`` per row, in log space (no ``1 - Σ`` cancellation); ``-inf`` if nothing
    is left."""
    rest = logp.copy()
    np.put_along_axis(rest, ids, -np.inf, axis=1)
    m, s = max_and_log_sum(rest)
    return (m + s)[:, 0]


def topk_logprobs(logits, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The compact reference of each row: its top-``k`` log-probabilities, their ids, the log tail mass
    and the entropy.

    Formulas: ``log p = log_softmax(z)`` (float64); the top-``k`` classes as the
    top-K rule of :mod:`.rows` ranks them (ties to the lower id), largest first;
    ``tail_logmass = log(1 - Σ_{top-k} p) = log Σ_{rest} p`` summed in log space
    over the other classes, so it keeps its digits when the top-``k`` hold
    nearly all the mass; ``entropy = -Σ p·log p`` over all classes.

    Args:
      logits: ``(n, V)``, float16/32/64.
      k: ``>= 1``; capped at ``V`` (then the tail is empty: ``-inf``).

    Returns:
      ``(values, ids, tail_logmass, entropy)``: float64 ``(n, K)`` (exact in
      float64; the writer may store them as float32), int32 ``(n, K)``,
      float64 ``(n,)``, float64 ``(n,)``.

    >>> values, ids, tail, h = topk_logprobs(np.log([[0.1, 0.6, 0.3]]), 2)
    >>> ids.tolist(), np.exp(values).round(12).tolist(), round(float(np.exp(tail[0])), 12)
    ([[1, 2]], [[0.6, 0.3]], 0.1)
    """
    check_top_k(k)
    z = np.asarray(logits)
    if z.ndim != 2:
        raise ValueError(f"logits of shape {z.shape}: expected (n, V)")
    z64 = float64(z)
    kk = min(int(k), z.shape[1])
    _, _, logp, p = log_softmax_parts(z64)
    ids = topk_ids(rank_key(z, z64), kk)
    values = np.take_along_axis(logp, ids, axis=1)
    return values, ids.astype(np.int32), log_rest(logp, ids), row_entropy(p, logp, z64 == -np.inf)


def reference_token_stats(ref_topk_logprobs, ref_topk_ids, ref_tail_logmass, test_logits, targets=None,
                          ref_target_logprobs=None, *, top_k: int | None = None) -> dict[str, np.ndarray]:
    r"""Per-token comparison against a compact saved reference (:func:`topk_logprobs`' output).

    The base is known on its stored classes ``S`` (``|S| = K``) and as one
    lumped outcome "the rest", of mass ``p_rest = e^{tail}``. The test's ``q``
    is exact (log-softmax of ``test_logits``), lumped the same way:
    ``q_rest = Σ_{c ∉ S} q_c``, summed in log space.

    * ``kl_lower_bound = Σ_{c∈S} p_c·log(p_c/q_c) + p_rest·log(p_rest/q_rest)``:
      the KL divergence of the two distributions on the ``K + 1`` outcomes, which
      by the log-sum inequality (Cover & Thomas, *Elements of Information
      Theory*, 2.7.1) is ``<=`` the full ``KL(p‖q)``, with equality when
      ``K = V``. Summed as :func:`~.fast.token_stats`' ``kl`` (terms ``p·φ(d) >= 0``, the
      :func:`~xentcli.core.divergence.kl_logit_terms` of the ``K + 1`` outcomes),
      so it is never negative even where float32-stored values do not sum to 1.
    * ``top1_base`` (the stored id of the largest stored value), ``top1_test``
      (``argmax`` of the test logits), ``same_top1``; ``topk_overlap`` of the
      first ``top_k`` stored ids (``K`` by default) and the test's top set of the same size;
      ``entropy_test``.
    * with ``targets`` and ``ref_target_logprobs`` (the base's exact ``log p_k``,
      stored beside the top-K so that its NLL and perplexity stay exact):
      ``nll_base = -ref_target_logprobs``, ``nll_test``, ``p_target``,
      ``q_target``, ``delta_p``, ``in_topk_base`` (``k`` among the stored top
      ids), ``in_topk_test``, ``top1_correct_*``.

    Args:
      ref_topk_logprobs: ``(n, K)`` base log-probabilities (float32 or float64).
      ref_topk_ids: ``(n, K)`` their class ids (distinct per row).
      ref_tail_logmass: ``(n,)`` ``log(1 - Σ_S p)`` (``-inf`` when ``K = V``).
      test_logits: ``(n, V)``.
      targets, ref_target_logprobs: both or neither, ``(n,)``.
      top_k: the overlap's ``K`` (at most the stored ``K``; default all stored).

    >>> z = np.log([[0.5, 0.3, 0.2]])
    >>> v, i, tail, _ = topk_logprobs(z, 1)
    >>> s = reference_token_stats(v, i, tail, np.log([[0.4, 0.4, 0.2]]))
    >>> round(float(s["kl_lower_bound"][0]), 12)  # 0.5·ln(0.5/0.4) + 0.5·ln(0.5/0.6)
    0.02041099726
    """
    zt = np.asarray(test_logits)
    lp = np.asarray(ref_topk_logprobs, dtype=np.float64)
    ids = np.asarray(ref_topk_ids)
    tail = np.asarray(ref_tail_logmass, dtype=np.float64)
    if zt.ndim != 2 or lp.ndim != 2 or ids.shape != lp.shape or lp.shape[0] != zt.shape[0] \
            or tail.shape != (zt.shape[0],):
        raise ValueError(f"reference of shapes {lp.shape} (log-probabilities), {ids.shape} (ids), {tail.shape} (tail) "
                         f"and test logits of shape {zt.shape}: expected (n, K), (n, K), (n,) and (n, V)")
    n, v = zt.shape
    stored = lp.shape[1]
    if ids.dtype.kind not in "iu" or (ids.size and (ids.min() < 0 or ids.max() >= v)):
        raise ValueError(f"reference ids must be integer class indices in [0, {v})")
    if (targets is None) != (ref_target_logprobs is None):
        raise ValueError("give both targets and ref_target_logprobs, or neither")
    kk = stored if top_k is None else min(int(top_k), stored)
    check_top_k(kk)
    ids = ids.astype(np.int64)
    # Largest first, ties to the lower id, whatever order the file kept.
    order = np.lexsort((ids, -lp), axis=-1)
    lp, ids = np.take_along_axis(lp, order, axis=1), np.take_along_axis(ids, order, axis=1)

    zt64 = float64(zt)
    _, _, logpt, pt = log_softmax_parts(zt64)
    masked_t = zt64 == -np.inf

    # The K + 1 outcomes: the stored classes, then the rest.
    logp2 = np.concatenate([lp, tail[:, None]], axis=1)
    logq2 = np.concatenate([np.take_along_axis(logpt, ids, axis=1), log_rest(logpt, ids)[:, None]], axis=1)
    with np.errstate(invalid="ignore", over="ignore"):  # -inf - -inf for outcomes both sides lack: handled by the masks
        d2 = logp2 - logq2
    p_masked, q_masked = logp2 == -np.inf, logq2 == -np.inf
    terms = kl_logit_terms(np.exp(logp2), logq2, d2, p_masked, q_masked)
    out: dict[str, np.ndarray] = {"kl_lower_bound": np.sum(terms, axis=-1)}

    key_t = rank_key(zt, zt64)
    out["top1_base"] = ids[:, 0].copy()
    out["top1_test"] = np.argmax(key_t, axis=1).astype(np.int64)
    out["same_top1"] = (out["top1_base"] == out["top1_test"]).astype(np.float64)
    ids_t = topk_ids(key_t, min(kk, v))
    out["topk_overlap"] = overlap(ids[:, :kk], ids_t)
    out["entropy_test"] = row_entropy(pt, logpt, masked_t)
    if targets is not None:
        k = checked_targets(targets, n, v)
        lpk = np.asarray(ref_target_logprobs, dtype=np.float64)
        if lpk.shape != (n,):
            raise ValueError(f"ref_target_logprobs of shape {lpk.shape}: expected ({n},)")
        target_columns(out, k, lpk, logpt[np.arange(n), k], out["top1_base"], out["top1_test"], ids[:, :kk], ids_t)
    return out
