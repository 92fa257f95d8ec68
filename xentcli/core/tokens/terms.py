"""The per-token terms the kernels compute: one :class:`Term` each, in :data:`TERMS`.

A term is one number a token (``kl``, ``nll``, …); a term of each model (``per_model``) is two
kernel keys, ``<name>_base`` and ``<name>_test``. The kernels' key lists, the fast kernel's
optional passes and ``xent compare``'s per-token columns all derive from :data:`TERMS`: a new
term is one entry here plus its formula in the kernels that make it.

Three kernels: ``logits`` (:func:`~xentcli.core.tokens.token_stats`: the fast kernel and its exact
fallback), ``kld`` (:func:`~xentcli.core.tokens.kld_token_stats`) and ``reference``
(:func:`~xentcli.core.tokens.reference_token_stats`; its base entropy is the one the saved
reference stores).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Term", "TERMS", "KERNELS", "EXTRA_KEYS", "term", "kernel_keys", "groups", "needed_groups"]

KERNELS = ("logits", "kld", "reference")

#: Kernel outputs that are no term: the top-1 classes and the target's probabilities of each side.
EXTRA_KEYS = ("top1_base", "top1_test", "p_target", "q_target")


@dataclass(frozen=True)
class Term:
    """One per-token term.

    Attributes:
      name: the term's name (its kernel key, or the stem of its two).
      per_model: one value per model: the kernel keys ``<name>_base`` and ``<name>_test``.
      targets: made only with targets.
      flag: a 0/1 value (kept as bytes by ``compare``).
      group: the fast kernel's optional pass that makes it (None: always made).
      kernels: the kernels that make it.
    """

    name: str
    per_model: bool = False
    targets: bool = False
    flag: bool = False
    group: str | None = None
    kernels: tuple[str, ...] = KERNELS

    @property
    def keys(self) -> tuple[str, ...]:
        """Its kernel keys."""
        return (f"{self.name}_base", f"{self.name}_test") if self.per_model else (self.name,)


#: Every term, in the order of ``compare --per-token``'s columns.
TERMS: tuple[Term, ...] = (
    Term("nll", per_model=True, targets=True),
    Term("kl", kernels=("logits", "kld")),
    Term("kl_lower_bound", kernels=("reference",)),
    Term("kl_reverse", group="kl_reverse", kernels=("logits",)),
    Term("jsd", group="jsd", kernels=("logits",)),
    Term("delta_p", targets=True),
    Term("entropy", per_model=True, group="entropy"),
    Term("same_top1", flag=True),
    Term("topk_overlap", group="topk"),
    Term("top1_correct", per_model=True, targets=True, flag=True),
    Term("in_topk", per_model=True, targets=True, flag=True, group="topk"),
    Term("tvd", group="tvd", kernels=("logits",)),
)

_BY_NAME = {t.name: t for t in TERMS}


def term(name: str) -> Term:
    """The term called ``name`` (KeyError naming the known ones otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no token term {name!r}: expected one of {', '.join(_BY_NAME)}") from None


def kernel_keys(kernel: str) -> tuple[str, ...]:
    """The keys ``kernel`` returns: its terms' keys and :data:`EXTRA_KEYS`."""
    return tuple(key for t in TERMS if kernel in t.kernels for key in t.keys) + EXTRA_KEYS


def groups(kernel: str = "logits") -> dict[str, tuple[str, ...]]:
    """The optional passes of ``kernel`` and the keys each makes."""
    out: dict[str, tuple[str, ...]] = {}
    for t in TERMS:
        if t.group is not None and kernel in t.kernels:
            out[t.group] = out.get(t.group, ()) + t.keys
    return out


def needed_groups(keys, kernel: str = "logits") -> frozenset:
    """The optional passes of ``kernel`` that make ``keys`` (None: all of them).

    Raises ValueError naming a key ``kernel`` does not make.
    """
    made = groups(kernel)
    if keys is None:
        return frozenset(made)
    known = kernel_keys(kernel)
    unknown = sorted(set(keys) - set(known))
    if unknown:
        raise ValueError(f"unknown token statistic {unknown[0]!r}: expected some of {', '.join(known)}")
    return frozenset(g for g, keys_of in made.items() if set(keys_of) & set(keys))
