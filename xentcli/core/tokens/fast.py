r"""Per-token statistics of two models' logits over the same tokens: :func:`token_stats` and its fast kernel.

The fast kernel computes a chunk of rows in few whole-array passes, with the Taylor series of
:mod:`.series` where the closed forms cancel; rows that are not plain (masked classes,
non-finite values, extreme ratios) are redone by the exact kernel (:mod:`.exact`). Which terms
it makes, and which optional pass makes each, is :data:`~.terms.TERMS`.

Logits may be float16/32/64; everything is computed in float64 from one log-softmax per row
(max-shifted, as :func:`~xentcli.core.softmax.log_softmax`). ``-inf`` logits are masked classes
(probability 0, and ``0·log 0 = 0``). Rows that are no distribution (NaN, ``+inf``, only ``-inf``)
give NaN in the float columns; callers check rows first (:func:`~xentcli.core.check_logits`).
"""

from __future__ import annotations

import threading

import numpy as np

from .._xlogy import negate
from ..divergence import FAR_SHIFT
from ..softmax import DOMINANT_SUM, log1p_fixup
from .exact import token_stats_exact
from .rows import (
    CHUNK_VALUES,
    LN2,
    by_chunks,
    check_top_k,
    checked_targets,
    contains,
    overlap,
    pair,
    rank_key,
    topk_ids,
)
from .series import JSD2_C, PHI_C, SMALL_UD, horner
from .terms import groups, needed_groups

__all__ = ["token_stats"]


def token_stats(base_logits, test_logits, targets=None, *, top_k: int = 5, keys=None) -> dict[str, np.ndarray]:
    r"""Per-token comparison of two models' logits over the same tokens: ``p = softmax(base)``, ``q = softmax(test)``.

    Formulas (natural logs; ``d_c = log p_c - log q_c`` from the logits as
    :func:`~xentcli.core.divergence.logit_log_ratio`):

    * ``kl = Σ p·d = Σ p·φ(d)``, ``φ(d) = e^{-d} - 1 + d >= 0``:
      :func:`~xentcli.core.kl_divergence_with_logits`' terms
      (:func:`~xentcli.core.divergence.kl_logit_terms`), never negative, ~1e-14
      relative even at 1e-19. ``kl_reverse = Σ q·φ(-d)``, each term got from the
      forward one as ``(p - q)·d - p·φ(d) >= 0``.
    * ``jsd`` (bits) ``= [½KL(p‖m) + ½KL(q‖m)] / ln 2``, ``m = (p + q)/2``,
      summed as ``Σ ½(p + q)·G(d/2)`` with ``G(h) = h·tanh h - log cosh h >= 0``
      (each class's share ``½[p·log(p/m) + q·log(q/m)]`` is itself ``>= 0``; the
      log-space form of ``log m = logaddexp(log p, log q) - ln 2`` without its
      cancellation for ``p ≈ q``).
    * ``tvd = ½Σ|p - q|``: the total variation distance, in ``[0, 1]``, each class's
      ``|p - q|`` as ``p·|e^{-d} - 1|`` (no cancellation of ``p`` and ``q``). Good to about 1e-16
      absolute: the rounding of each row's normalisation moves every ``d`` alike, which leaves KL
      unmoved to first order (``Σ p - q = 0``) but not TVD.
    * ``entropy_base``, ``entropy_test``: ``H = -Σ p·log p`` (nats).
    * ``top1_base``, ``top1_test``: ``argmax`` (int64, lowest index on ties, as
      ``np.argmax``); ``same_top1`` 0/1; ``topk_overlap = |top-K(p) ∩ top-K(q)| / K``,
      ``K = min(top_k, V)``, ties as :mod:`.rows` says.
    * with ``targets`` ``k``: ``nll_base = -log p_k``, ``nll_test = -log q_k``,
      ``p_target = p_k``, ``q_target = q_k``, ``delta_p = q_k - p_k`` (llama.cpp's
      ``Δp``), ``in_topk_base``/``_test`` (0/1: ``k`` in the top-K set),
      ``top1_correct_base``/``_test`` (0/1).

    Args:
      base_logits, test_logits: arrays of the same shape ``(n, V)``, float16/32/64.
      targets: optional int array ``(n,)`` in ``[0, V)`` (rows to ignore are
        dropped by the caller first).
      top_k: ``K`` of ``topk_overlap`` and ``in_topk_*`` (``>= 1``; capped at ``V``).
      keys: the keys wanted (None: all). Others may be left out, which saves their passes
        (the reverse KL, the JSD's ``log1p``, the entropies, the top-K sets); ``kl``, the
        ``top1`` and the target keys are always there. The values do not depend on it.

    Returns:
      dict of arrays of shape ``(n,)``: float64, ``top1_*`` int64.

    Edge cases: ``-inf`` logits are masked classes (``0·log 0 = 0``). A class the
    base gives mass and the test masks gives ``kl = inf`` (``kl_reverse`` stays
    finite unless the base masks a class the test gives mass); ``jsd`` is always
    finite, at most 1 bit. Raises ValueError for different shapes or out-of-range targets.

    Sources: the φ form, :func:`~xentcli.core.kl_divergence_with_logits`; the
    statistics, llama.cpp ``tools/perplexity/perplexity.cpp`` (``kl_divergence``:
    KL, ``Δp = p - p_base`` of the target, "same top p"); JSD, Lin (1991),
    "Divergence measures based on the Shannon entropy".

    >>> s = token_stats([[0.0, 0.0, -np.inf]], [[0.0, np.log(3.0), 0.0]], [1])
    >>> # p = (1/2, 1/2, 0), q = (1/5, 3/5, 1/5): KL = ½ln(5/2) + ½ln(5/6); q gives mass where p has none
    >>> round(float(s["kl"][0]), 12), float(s["kl_reverse"][0]), round(float(s["jsd"][0]), 6)
    (0.36698458754, inf, 0.151191)
    >>> int(s["top1_base"][0]), int(s["top1_test"][0]), float(s["same_top1"][0]), round(float(s["delta_p"][0]), 3)
    (0, 1, 0.0, 0.1)
    """
    check_top_k(top_k)
    zb, zt = pair(base_logits, test_logits)
    n, v = zb.shape
    k = None if targets is None else checked_targets(targets, n, v)
    kk = min(int(top_k), v)
    need = needed_groups(keys)
    return by_chunks(lambda *a: _token_stats(*a, kk, need), n, v, zb, zt, k)


#: A row falls back to :func:`~.exact.token_stats_exact` when its base has a class below ``max - _FAR_BELOW``:
#: ``p_c = e^{z_c - max}/s`` is then subnormal or 0 while ``q_c = p_c·e^{-d_c}`` may not be, and the
#: terms ``p·φ(d)`` (about ``q``) lose their digits; the exact kernel takes ``q`` itself there.
_FAR_BELOW = 700.0

#: Rows whose reverse KL is below this fraction of the forward one are redone by the exact kernel
#: (the difference ``(KL + rev) - KL`` keeps ``rev`` to ``eps·KL/rev``: 2e-12 relative at worst).
_REV_CANCELS = 1e-4


#: The parts of :func:`_token_stats` that can be left out, and the output keys each one makes
#: (the terms of no group are always made).
_WORK_GROUPS = groups("logits")
_ALL = frozenset(_WORK_GROUPS)


class _Workspace(threading.local):
    """Per-thread float64 buffers of one chunk, reused from chunk to chunk (``out=`` everywhere).

    Fresh arrays of a chunk's size (512 KiB) come from ``mmap`` and cost their page faults on
    every use, as much as the arithmetic; reused ones stay mapped and in cache.
    """

    def get(self, name: str, shape: tuple[int, int], dtype=np.float64) -> np.ndarray:
        size = shape[0] * shape[1]
        buf = self.__dict__.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = np.empty(max(size, CHUNK_VALUES), dtype=dtype)
            self.__dict__[name] = buf
        return buf[:size].reshape(shape)


_WORK = _Workspace()


def _side(z: np.ndarray, key: np.ndarray, x: np.ndarray, e: np.ndarray, rows, k, entropy: bool):
    """One side's ``(m, log_s, s, entropy, log p_k)``, with ``x = z - m`` and ``e = e^x`` (unnormalised) written.

    As :func:`~.rows.log_softmax_parts` (``log_s`` with its ``log1p`` fix), but ``p = e/s`` is never
    formed: sums weighted by ``p`` are divided by ``s`` once per row. ``H = log s - Σ e·(z - m)/s``,
    two terms ``>= 0`` (no cancellation), or None when not ``entropy``. Rows with masked classes
    get NaN here (``0·(-inf)``) and are redone by the exact kernel.
    """
    m = np.max(key, axis=1, keepdims=True).astype(np.float64)
    with np.errstate(all="ignore"):  # inf/NaN rows: NaN results, redone by the exact kernel
        bad_m = ~np.isfinite(m)
        if bad_m.any():
            m[bad_m] = 0.0  # as row_max
        np.subtract(z, m, out=x)
        np.exp(x, out=e)
        s = np.add.reduce(e, axis=1)
        log_s = np.log(s)[:, None]
        close = (s < DOMINANT_SUM) & (s >= 1.0)
        if close.any():
            log_s = log1p_fixup(z, m, close[:, None], log_s, -1, 1.0)
        h = log_s[:, 0] - np.einsum("ij,ij->i", e, x) / s if entropy else None
        lpk = None if k is None else x[rows, k] - log_s[:, 0]
    return m, log_s, s, h, lpk


def _topk_masks(key: np.ndarray, kk: int, work: np.ndarray, mask: np.ndarray):
    """``(kth, count)``: the ``kk``-th largest value per row, and ``mask = key >= kth`` (written) with its row counts.

    Where ``count == kk`` the mask is the top-``kk`` set (no tie at the boundary); other rows
    (ties at the ``kk``-th value, NaN) go through :func:`~.rows.topk_ids`.
    """
    v = key.shape[1]
    np.copyto(work, key)
    work.partition(v - kk, axis=1)
    kth = work[:, v - kk:v - kk + 1].copy()
    with np.errstate(invalid="ignore"):  # NaN rows compare False (count 0: redone)
        np.greater_equal(key, kth, out=mask)
    return kth, np.count_nonzero(mask, axis=1)


def _topk_columns(out: dict, kb, kt, kk: int, k, mask_b, redo) -> None:
    """``topk_overlap`` and (with targets ``k``) ``in_topk_*``: the ``>= kth`` masks where the
    ``kk``-th value is not tied, :func:`~.rows.topk_ids` on the other rows (``mask_b`` a free bool buffer)."""
    mask_t = _WORK.get("mask_t", kb.shape, np.bool_)
    part = _WORK.get("part" + kb.dtype.str, kb.shape, kb.dtype)
    kth_b, count_b = _topk_masks(kb, kk, part, mask_b)
    kth_t, count_t = _topk_masks(kt, kk, part, mask_t)
    np.logical_and(mask_b, mask_t, out=mask_b)
    out["topk_overlap"] = np.count_nonzero(mask_b, axis=1) / kk
    if k is not None:
        rows = np.arange(len(k))
        with np.errstate(invalid="ignore"):  # NaN rows compare False (and are redone)
            out["in_topk_base"] = (kb[rows, k] >= kth_b[:, 0]).astype(np.float64)
            out["in_topk_test"] = (kt[rows, k] >= kth_t[:, 0]).astype(np.float64)
    tied = ((count_b != kk) | (count_t != kk)) & ~redo
    if tied.any():  # the top-K sets the documented way (ties to the lower id), on those rows
        r = np.flatnonzero(tied)
        ids_b, ids_t = topk_ids(kb[r], kk), topk_ids(kt[r], kk)
        out["topk_overlap"][r] = overlap(ids_b, ids_t)
        if k is not None:
            out["in_topk_base"][r] = contains(ids_b, k[r])
            out["in_topk_test"][r] = contains(ids_t, k[r])


def _token_stats(zb, zt, k, kk, need: frozenset = _ALL) -> dict[str, np.ndarray]:
    r""":func:`token_stats` of one chunk of rows, in few whole-array passes; only the ``need`` groups
    (:data:`_WORK_GROUPS`) besides ``kl`` and the target keys.

    ``d = log p - log q`` as :func:`~xentcli.core.divergence.logit_log_ratio` (kept negated,
    ``D = -d``), ``u = e^{-d} - 1 = expm1(D)``; with ``e = e^{z_b - m_b}`` (``p = e/s_b``) the
    per-class terms are ``p`` times

    * KL: ``φ(d) = u - D``;
    * reverse KL: ``R(d) = u·D - φ(d)`` (``= (q - p)/p·D - φ``, :func:`~.exact.reverse_kl_terms`' identity);
    * JSD: ``J(d) = ½[(1 + u)·D - (2 + u)·L]``, ``L = log1p(u/2) = log((p + q)/2p)``:
      ``½[p·log(p/m) + q·log(q/m)]`` with ``log(p/m) = -L``, ``log(q/m) = D - L``;
    * TVD: ``½|u|`` (``|q - p| = p·|u|``);

    and for ``|d| < SMALL_D`` (:mod:`.series`) (where those cancel) their Taylor series
    (:func:`~.series.small_d_coefficients`), on the gathered elements only. Rows that are not plain
    (a masked class, ``±inf``/NaN, a non-finite or overflowing term, a base class more than
    ``_FAR_BELOW`` below its row's maximum) are redone by :func:`~.exact.token_stats_exact`.
    """
    n, v = zb.shape
    shape = (n, v)
    w_ = _WORK
    zb64 = zb if zb.dtype == np.float64 else w_.get("zb", shape)
    zt64 = zt if zt.dtype == np.float64 else w_.get("zt", shape)
    zb64 is zb or np.copyto(zb64, zb)
    zt64 is zt or np.copyto(zt64, zt)
    kb, kt = rank_key(zb, zb64), rank_key(zt, zt64)
    x, eb, u, f, w = (w_.get(name, shape) for name in ("x", "eb", "u", "f", "w"))
    rows = None if k is None else np.arange(n)
    entropy = "entropy" in need
    mt, st, _, ht, lpt = _side(zt64, kt, x, u, rows, k, entropy)
    mb, sb, s_b, hb, lpb = _side(zb64, kb, x, eb, rows, k, entropy)
    big_d = x
    out: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):  # bad rows: non-finite sums, redone below; large |D|: overflow, ditto
        far = (mb[:, 0] - np.min(kb, axis=1)) > _FAR_BELOW
        far |= np.abs(mb[:, 0] - mt[:, 0]) > FAR_SHIFT  # the row constant below would round: logit_log_ratio
        np.subtract(zt64, zb64, out=big_d)  # D = -d: d as logit_log_ratio, negated (exactly)
        big_d += (mb - mt) + (sb - st)
        np.expm1(big_d, out=u)
        np.subtract(u, big_d, out=f)  # φ(d)
        np.multiply(u, big_d, out=w)  # u·D = (q - p)/p·D >= 0, about d² for small d: the mask of those
        small_mask = w_.get("small", shape, np.bool_)
        np.less(w, SMALL_UD, out=small_mask)
        small = np.flatnonzero(small_mask)
        if small.size:
            ds = np.take(big_d, small)
            np.negative(ds, out=ds)  # d
            d2 = ds * ds
            np.put(f, small, horner(PHI_C, ds, d2))
        inv_s = 1.0 / s_b
        out["kl"] = kl = np.einsum("ij,ij->i", eb, f) * inv_s
        finite = np.isfinite(kl)
        if "kl_reverse" in need:
            # Σ p·u·D = Σ (q - p)·(log q - log p) = KL(p‖q) + KL(q‖p): the reverse is that minus kl, all
            # three >= 0 and u·D exact to a few ulp for any d (no cancellation in the product).
            rev = np.einsum("ij,ij->i", eb, w) * inv_s
            rev -= kl
            out["kl_reverse"] = np.maximum(rev, 0.0, out=rev)
            finite &= np.isfinite(rev)
            far |= rev < _REV_CANCELS * kl  # rev = (KL + rev) - KL would have lost digits: the exact terms
        if "tvd" in need:  # before the JSD's pass overwrites u
            np.abs(u, out=f)
            out["tvd"] = np.einsum("ij,ij->i", eb, f) * (inv_s * 0.5)
            finite &= np.isfinite(out["tvd"])
        if "jsd" in need:
            w += big_d  # (1 + u)·D
            np.multiply(u, 0.5, out=f)
            np.log1p(f, out=f)  # L
            u += 2.0
            u *= f
            w -= u  # 2·J(d)
            if small.size:
                np.put(w, small, horner(JSD2_C, ds, d2))
            out["jsd"] = np.einsum("ij,ij->i", eb, w) * (inv_s * (0.5 / LN2))
            finite &= np.isfinite(out["jsd"])
        if entropy:
            out["entropy_base"], out["entropy_test"] = hb, ht
            finite &= np.isfinite(hb) & np.isfinite(ht)
        redo = ~finite | far

    out["top1_base"] = top1_b = np.argmax(kb, axis=1).astype(np.int64)
    out["top1_test"] = top1_t = np.argmax(kt, axis=1).astype(np.int64)
    out["same_top1"] = (top1_b == top1_t).astype(np.float64)
    if k is not None:
        out["nll_base"] = negate(lpb)
        out["nll_test"] = negate(lpt)
        out["p_target"] = np.exp(lpb)
        out["q_target"] = np.exp(lpt)
        out["delta_p"] = out["q_target"] - out["p_target"]
        out["top1_correct_base"] = (top1_b == k).astype(np.float64)
        out["top1_correct_test"] = (top1_t == k).astype(np.float64)
    if "topk" in need:
        _topk_columns(out, kb, kt, kk, k, small_mask, redo)
    if redo.any():
        r = np.flatnonzero(redo)
        exact = token_stats_exact(zb[r], zt[r], None if k is None else k[r], kk)
        for key, value in out.items():
            value[r] = exact[key]
    return out
