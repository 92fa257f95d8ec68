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
    rows_off,
    sum_tolerance,
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
from .mse import (
    ACTIVATIONS,
    activation,
    activation_residual,
    check_finite,
    mean_squared_error,
    mse_denominator,
    mse_grad,
    mse_grad_with_logits,
    mse_with_logits,
    one_hot,
)
from .reductions import REDUCTIONS, in_base, log_base, perplexity, reduce
from .softmax import log_softmax, logsumexp, softmax

#: Names of ``compare``'s modules, imported on first use (PEP 562): the other commands start
#: without them (``from xentcli.core import token_stats`` works all the same).
_LAZY = {
    **dict.fromkeys(("block_bootstrap", "mean_se", "percentiles", "ratio_stats", "rms_se", "share_se"), "summary"),
    **dict.fromkeys(("kld_token_stats", "reference_token_stats", "token_stats", "topk_logprobs"), "tokens"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_grad", "binary_cross_entropy_with_logits",
    "per_sample", "sigmoid", "softplus", "check_binary_logits", "check_binary_targets",
    "cross_entropy_of_distributions", "entropy", "kl_divergence", "log_probs_of", "central_differences",
    "kl_divergence_of", "kl_divergence_with_logits", "rel_entr",
    "SUM_TOLERANCE", "RowError", "check_class_indices", "check_label_distribution",
    "check_logits", "check_probabilities", "check_weights", "looks_like_probabilities",
    "rows_off", "sum_tolerance",
    "cross_entropy", "cross_entropy_denominator", "cross_entropy_from_log_probs",
    "cross_entropy_grad", "cross_entropy_with_probs", "interpret_labels", "is_index_labels",
    "picks_target_log_probs", "target_log_probs",
    "ACTIVATIONS", "activation", "activation_residual", "check_finite", "mean_squared_error", "mse_denominator",
    "mse_grad", "mse_grad_with_logits", "mse_with_logits", "one_hot",
    "REDUCTIONS", "in_base", "log_base", "perplexity", "reduce",
    "log_softmax", "logsumexp", "softmax",
    "block_bootstrap", "mean_se", "percentiles", "ratio_stats", "rms_se", "share_se",
    "kld_token_stats", "reference_token_stats", "token_stats", "topk_logprobs",
]
