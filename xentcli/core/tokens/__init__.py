r"""Per-token statistics of a model (the *test*) against a reference (the *base*) over the same tokens.

The numerical core of ``xent compare``. Every function takes one block of rows
(token positions) ``(n, V)`` and returns one float64 (or int64) value per row;
summaries over tokens are :mod:`xentcli.core.summary`'s business. Which terms
each kernel makes is :data:`TERMS`.

Three kinds of base:

* full logits (:func:`token_stats`, :mod:`.fast` with its fallback :mod:`.exact` and the
  series of :mod:`.series`): every statistic exact;
* llama.cpp's ``.kld`` file, decoded to log-probabilities
  (:func:`kld_token_stats`, :mod:`.kld`): llama.cpp's own estimators, term by term;
* a compact saved reference, the top-K log-probabilities and the tail mass
  (:func:`reference_token_stats`, written through :func:`topk_logprobs`, :mod:`.reference`):
  a lower bound of the KL divergence.

What they share (input checks, one log-softmax per row, top-K sets and their ties) is :mod:`.rows`.
"""

from .fast import token_stats
from .kld import KLD_LOGPROB_FLOOR
from .kld import kld_token_stats
from .reference import reference_token_stats
from .reference import topk_logprobs
from .terms import TERMS
from .terms import Term
from .terms import kernel_keys
from .terms import term

__all__ = [
    "token_stats",
    "KLD_LOGPROB_FLOOR",
    "kld_token_stats",
    "reference_token_stats",
    "topk_logprobs",
    "TERMS",
    "Term",
    "kernel_keys",
    "term",
]
