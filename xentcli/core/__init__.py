"""xent's numerical core: NumPy functions that never print, parse or read files.

Per-sample functions return one value per sample; reductions are separate
(:func:`reduce`), as in optax.
"""

from .binary import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    per_sample,
    sigmoid,
    softplus,
)
from .checks import (
    SUM_TOLERANCE,
    RowError,
    check_binary_logits,
    check_binary_targets,
    check_class_indices,
    check_label_distribution,
    check_logits,
    check_probabilities,
    check_weights,
    looks_like_probabilities,
)
from .cross_entropy import (
    cross_entropy,
    cross_entropy_denominator,
    cross_entropy_from_log_probs,
    cross_entropy_grad,
    cross_entropy_with_probs,
    picks_target_log_probs,
    target_log_probs,
)
from .divergence import (
    cross_entropy_of_distributions,
    entropy,
    kl_divergence,
    kl_divergence_of,
    kl_divergence_with_logits,
    log_probs_of,
    rel_entr,
)
from .gradcheck import central_differences
from .labels import interpret_labels, is_index_labels
from .reductions import REDUCTIONS, in_base, log_base, perplexity, reduce
from .softmax import log_softmax, logsumexp, softmax
from .summary import block_bootstrap, mean_se, percentiles, ratio_stats, rms_se, share_se
from .tokens import kld_token_stats, reference_token_stats, token_stats, topk_logprobs

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_grad", "binary_cross_entropy_with_logits",
    "per_sample", "sigmoid", "softplus", "check_binary_logits", "check_binary_targets",
    "cross_entropy_of_distributions", "entropy", "kl_divergence", "log_probs_of", "central_differences",
    "kl_divergence_of", "kl_divergence_with_logits", "rel_entr",
    "SUM_TOLERANCE", "RowError", "check_class_indices", "check_label_distribution",
    "check_logits", "check_probabilities", "check_weights", "looks_like_probabilities",
    "cross_entropy", "cross_entropy_denominator", "cross_entropy_from_log_probs",
    "cross_entropy_grad", "cross_entropy_with_probs", "interpret_labels", "is_index_labels",
    "picks_target_log_probs", "target_log_probs",
    "REDUCTIONS", "in_base", "log_base", "perplexity", "reduce",
    "log_softmax", "logsumexp", "softmax",
    "block_bootstrap", "mean_se", "percentiles", "ratio_stats", "rms_se", "share_se",
    "kld_token_stats", "reference_token_stats", "token_stats", "topk_logprobs",
]
