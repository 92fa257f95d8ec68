"""``xent compare``'s per-token statistics of two logits arrays: :func:`token_stats`, compiled where it was built.

The compiled kernel (``_rowkernel.compare_stats``, ``_rowkernel_compare*.h``) makes every statistic of a row
pair in two passes over it (the exponentials of each side, then every per-class term), and hands back the
rows the NumPy reference's fast kernel hands to its exact one: a masked (``-inf``) class, NaN or ``±inf``,
a base class more than 700 below its row's maximum, row maxima more than ``FAR_SHIFT`` apart. Those are
redone here by :func:`~xentcli.core.tokens.exact.token_stats_exact`, so they come out exactly as the
reference has them.

It agrees with :func:`xentcli.core.token_stats` within 1e-13 relative, with an absolute floor where a value
is about 0: 1e-16 for ``tvd`` and ``delta_p`` (the rounding of each row's normalisation moves them to first
order).
Where they differ by more than rounding, the compiled kernel is the closer to the exact value: nearly
equal rows (KL about 1e-19), whose row constant's rounding it removes (the reference is some 1e-13 off
there), and a reverse KL far below the forward one, which it sums term by term instead of as a
difference.
"""

from __future__ import annotations

import numpy as np

from .. import core
from ..core.tokens.exact import token_stats_exact
from ..core.tokens.rows import check_top_k, checked_targets, pair
from ..core.tokens.terms import groups, needed_groups

__all__ = ["token_stats"]

_GROUPS = groups("logits")
_TARGET_KEYS = ("nll_base", "nll_test", "p_target", "q_target", "delta_p", "top1_correct_base", "top1_correct_test")


def token_stats(module, base_logits, test_logits, targets=None, *, top_k: int = 5, keys=None) -> dict[str, np.ndarray]:
    """:func:`xentcli.core.token_stats` on the compiled kernel ``module``, for float16/32/64 logits: the same keys (in
    the same order), dtypes and shapes; rows of no class go to the reference."""
    check_top_k(top_k)
    zb, zt = pair(base_logits, test_logits)
    n, v = zb.shape
    if v == 0:
        return core.token_stats(zb, zt, targets, top_k=top_k, keys=keys)
    k = None if targets is None else checked_targets(targets, n, v)
    need = needed_groups(keys)
    kk = min(int(top_k), v)
    common = np.result_type(zb.dtype, zt.dtype)  # float16 in float32 or float64: exact
    out = np.empty((len(module.COMPARE_ROWS), n))
    top1 = np.empty((2, n), dtype=np.int64)
    redo = np.empty(n, dtype=np.int64)
    module.compare_stats(np.ascontiguousarray(zb, dtype=common), np.ascontiguousarray(zt, dtype=common),
                         None if k is None else np.ascontiguousarray(k), kk,
                         sum(module.COMPARE_NEED[g] for g in need), out, top1, redo)
    stats = _assemble(dict(zip(module.COMPARE_ROWS, out)), top1, k is not None, need)
    r = np.flatnonzero(redo)
    if r.size:
        exact = token_stats_exact(zb[r], zt[r], None if k is None else k[r], kk)
        for key, value in stats.items():
            value[r] = exact[key]
    return stats


def _assemble(rows: dict[str, np.ndarray], top1: np.ndarray, with_targets: bool,
              need: list[str]) -> dict[str, np.ndarray]:
    """The kernel's rows (by name) as :func:`xentcli.core.token_stats`' dict: its keys, in its order."""
    stats = {"kl": rows["kl"]}
    for group in ("kl_reverse", "tvd", "jsd", "entropy"):
        if group in need:
            stats.update((key, rows[key]) for key in _GROUPS[group])
    stats["top1_base"], stats["top1_test"] = top1
    stats["same_top1"] = rows["same_top1"]
    if with_targets:
        stats.update((key, rows[key]) for key in _TARGET_KEYS)
    if "topk" in need:
        stats.update((key, rows[key]) for key in _GROUPS["topk"] if with_targets or key == "topk_overlap")
    return stats
