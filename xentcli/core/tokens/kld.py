"""Per-token statistics against llama.cpp's ``.kld`` base (``llama-perplexity --kl-divergence-base``).

The base's log-probabilities are used as llama.cpp decodes and uses them: not renormalised, and
only those above :data:`KLD_LOGPROB_FLOOR` summed.
"""

from __future__ import annotations

import numpy as np

from .._xlogy import negate
from .rows import (
    by_chunks,
    check_top_k,
    checked_targets,
    float64,
    log_softmax_parts,
    pair,
    rank_key,
    ranks,
    row_entropy,
)

__all__ = ["KLD_LOGPROB_FLOOR", "kld_token_stats"]

#: llama.cpp's ``kl_divergence`` sums only base classes whose decoded log-probability is above this
#: (``if (p_log_base > -16.f)`` in ``log_softmax(..., kl_divergence_result & kld)``, perplexity.cpp);
#: its writer keeps each row's log-probabilities down to the same 16 nats below the row's maximum
#: (``min_log_prob``), all lower ones decoding to that floor.
KLD_LOGPROB_FLOOR = -16.0


def kld_token_stats(base_logprobs, test_logits, targets, *, top_k: int = 5) -> dict[str, np.ndarray]:
    r"""Per-token comparison against llama.cpp's ``.kld`` base, as ``llama-perplexity --kl-divergence`` computes it.

    ``base_logprobs`` are the decoded log-probabilities (``scale·u16 + min_log_prob``
    per class, as llama.cpp decodes them), used as they are: not renormalised,
    every decoded value (also the floor ``min_log_prob`` that all classes below
    ``max - 16`` share) taken at face value. Test side: the exact float64
    log-softmax ``log q`` of ``test_logits``. Following llama.cpp
    ``tools/perplexity/perplexity.cpp``, ``log_softmax(n_vocab, logits, base_log_prob, tok, kld)``
    (the overload taking ``kl_divergence_result &``), in float64 where it uses float:

    * ``kl = Σ_{c: b_c > -16} e^{b_c}·(b_c - log q_c)`` with ``b`` the decoded
      base: its loop ``if (p_log_base > -16.f) { p_base = expf(p_log_base);
      sum += p_base * (p_log_base - logits[i] + max_logit); }`` (``max_logit``
      there already holds ``max + log Σ e^{z - max}``, so the bracket is
      ``b_c - log q_c``). Plain terms, not φ: they can sum slightly below 0 where the
      two models agree, exactly as llama.cpp's (the base is neither complete nor normalised).
    * ``nll_base = -b_k`` (``nll_base = -(scale*base_log_prob[tok] + min_log_prob)``,
      no floor), ``nll_test = -log q_k``.
    * ``p_target = e^{b_k}``, ``q_target = q_k``, ``delta_p = q_k - e^{b_k}``
      (``p_diff = expf(-nll) - expf(-nll_base)``).
    * ``top1_base``: the first class of largest decoded value (``if (i == 0 ||
      p_log_base > p_log_base_max)``), ``top1_test`` the first largest logit
      (``if (logits[i] > max_logit)``); ``same_top1``: ``imax == imax_base``.
    * not in llama.cpp, defined here: ``entropy_base = -Σ_{b_c > -16} e^{b_c}·b_c``
      (the classes KL sums), ``entropy_test`` exact, ``topk_overlap``,
      ``in_topk_*``, ``top1_correct_*`` as :func:`~.fast.token_stats` (the base ranked
      by its decoded values; classes at the shared floor tie, broken toward the lower id).

    Not returned: ``kl_reverse`` and ``jsd``. Both weigh ``log p`` by ``q`` over
    every class, and the ``.kld`` file keeps no ``log p`` below ``max - 16``:
    those classes all decode to one floor, so any value would depend on where the
    encoder put it.

    Args:
      base_logprobs: decoded log-probabilities ``(n, V)`` (float32 as stored, or float64).
      test_logits: ``(n, V)``, float16/32/64.
      targets: int ``(n,)`` in ``[0, V)``.
      top_k: as :func:`~.fast.token_stats`.

    Returns:
      dict of ``(n,)`` arrays, the keys above.

    >>> b = np.log([[0.5, 0.25, 0.25]])  # ½ln(3/2) + ½ln(3/4) against the uniform q
    >>> s = kld_token_stats(b, [[0.0, 0.0, 0.0]], [0])
    >>> round(float(s["kl"][0]), 12), round(float(s["nll_base"][0]), 12), round(float(s["delta_p"][0]), 6)
    (0.058891517828, 0.69314718056, -0.166667)
    """
    check_top_k(top_k)
    lb, zt = pair(base_logprobs, test_logits, "log-probabilities")
    n, v = lb.shape
    k = checked_targets(targets, n, v)
    kk = min(int(top_k), v)
    return by_chunks(lambda *a: _kld_token_stats(*a, kk), n, v, lb, zt, k)


def _kld_token_stats(lb, zt, k, kk) -> dict[str, np.ndarray]:
    lb64, zt64 = float64(lb), float64(zt)
    _, _, logpt, pt = log_softmax_parts(zt64)
    masked_t = zt64 == -np.inf

    with np.errstate(invalid="ignore", under="ignore"):  # NaN rows compare False
        kept = lb64 > KLD_LOGPROB_FLOOR
        pb = np.exp(np.where(kept, lb64, -np.inf))  # 0 outside the classes llama.cpp sums
        with np.errstate(over="ignore"):  # kept - (-inf) = inf: a class the test masks
            diff = lb64 - logpt
        terms = pb * diff
    np.copyto(terms, 0.0, where=~kept)  # 0·(±inf or NaN) of classes not summed
    out: dict[str, np.ndarray] = {"kl": np.sum(terms, axis=-1)}
    with np.errstate(invalid="ignore"):
        terms = pb * lb64
    np.copyto(terms, 0.0, where=~kept)
    out["entropy_base"] = negate(np.sum(terms, axis=-1))
    del terms, diff
    out["entropy_test"] = row_entropy(pt, logpt, masked_t)

    ranks(out, rank_key(lb, lb64), rank_key(zt, zt64), kk, k, lb64, logpt)
    return out
