"""The statistics of ``xent compare``: ONE table, :data:`STATISTICS`, which every output reads.

A row is one statistic: the per-token term it summarises (a :class:`~xentcli.core.tokens.Term`
of :data:`xentcli.core.tokens.TERMS`, which the kernels compute), its JSON key, its table label,
how it is summarised, and where else it shows: rows under it in the table, csv columns (with
``--bootstrap`` its interval's ends too), a ``--per-token`` column. Whether it needs targets is its
term's. The JSON document, the table, csv and ``--per-token`` all iterate this table, in its order
(``--per-token``'s columns in the order of their terms in ``TERMS``).

Adding a statistic is one row here; one summarising a new per-token value also needs its term in
``TERMS`` and its formula in each kernel that makes it.

Scope: ``model``, a statistic of the base and of every test (the JSON's ``models``); ``test``, of
each test against the base (``tests``). A statistic is absent, not zero, where its term is (targets
not given, a base whose kernel does not make it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.tokens import TERMS, Term, term

__all__ = ["Figure", "Statistic", "STATISTICS", "made", "divergence", "csv_columns", "lookup", "per_token",
           "terms_for"]


@dataclass(frozen=True)
class Figure:
    """A table row under its statistic's: ``label``, and the fields of the statistic's JSON object its
    cells show (:func:`lookup` paths; ``se`` shown as ``± se`` when given)."""

    label: str
    value: str
    se: str | None = None


@dataclass(frozen=True)
class Statistic:
    """One statistic of ``xent compare``.

    Attributes:
      key: its JSON key.
      label: its table row's label.
      scope: ``"model"`` or ``"test"``.
      term: the per-token term it summarises (``TERMS``).
      summary: how (:data:`xentcli.comparison.statistics.SUMMARIES`): ``distribution`` (mean, se,
        percentiles), ``distribution_rms`` (also the root mean square), ``mean``, ``share`` (of 0/1
        values), ``ppl``, ``bits_per_token``, ``bits_per_byte``, ``ratio`` (of the test's term to the
        base's: NLL ratios and correlation).
      figures: table rows under its own.
      csv: ``(column, field)`` pairs of the csv line (and npy matrix): the field of its JSON object.
      per_token: the stem of its ``--per-token`` columns (``<stem>_base``, ``<stem>_<test>``), or None.
      bootstrap: ``--bootstrap`` adds its ``ci95`` (the mean of its term; for a ``ratio``, of the test's
        term less the base's); csv adds ``<key>_ci95_lo`` and ``_hi`` when it has csv columns.
      worst: the divergence ``--worst`` ranks tokens by and the table's histogram shows (one a kernel).
    """

    key: str
    label: str
    scope: str
    term: str
    summary: str
    figures: tuple[Figure, ...] = ()
    csv: tuple[tuple[str, str], ...] = ()
    per_token: str | None = None
    bootstrap: bool = False
    worst: bool = False

    @property
    def made_of(self) -> Term:
        return term(self.term)

    @property
    def needs_targets(self) -> bool:
        return self.made_of.targets


#: The KL's rows under it in the table.
_KL_FIGURES = tuple(Figure(f"  {p} of it", f"percentiles.{p}") for p in ("p50", "p99", "max"))

STATISTICS: tuple[Statistic, ...] = (
    Statistic("nll", "NLL (nats)", "model", "nll", "distribution", per_token="nll"),
    Statistic("ppl", "perplexity", "model", "nll", "ppl"),
    Statistic("bits_per_token", "bits per token", "model", "nll", "bits_per_token"),
    Statistic("bits_per_byte", "bits per byte", "model", "nll", "bits_per_byte"),
    Statistic("top1_acc", "top-1 accuracy", "model", "top1_correct", "share", per_token="top1"),
    Statistic("topk_acc", "top-k accuracy", "model", "in_topk", "share"),
    Statistic("entropy", "entropy (nats)", "model", "entropy", "mean"),
    Statistic("kl", "KL(base‖test) (nats)", "test", "kl", "distribution", _KL_FIGURES,
              csv=(("kl_mean", "mean"), ("kl_se", "se")), per_token="kl", bootstrap=True, worst=True),
    Statistic("kl_lower_bound", "KL lower bound (nats)", "test", "kl_lower_bound", "distribution", _KL_FIGURES,
              csv=(("kl_lower_bound_mean", "mean"), ("kl_lower_bound_se", "se")), per_token="kl_lower_bound",
              bootstrap=True, worst=True),
    Statistic("kl_reverse", "KL(test‖base) (nats)", "test", "kl_reverse", "distribution"),
    Statistic("jsd", "JSD (bits)", "test", "jsd", "distribution"),
    Statistic("tvd", "TV distance", "test", "tvd", "distribution", per_token="tvd"),
    Statistic("ln_ppl_ratio", "ln(PPL ratio)", "test", "nll", "ratio", csv=(("ln_ppl_ratio", "value"),),
              bootstrap=True),
    Statistic("ppl_ratio", "PPL ratio", "test", "nll", "ratio"),
    Statistic("delta_ppl", "ΔPPL", "test", "nll", "ratio"),
    Statistic("nll_correlation", "NLL correlation", "test", "nll", "ratio"),
    Statistic("delta_p", "Δp", "test", "delta_p", "distribution_rms", (Figure("RMS Δp", "rms", "rms_se"),),
              per_token="delta_p"),
    Statistic("same_top1", "same top-1", "test", "same_top1", "share", csv=(("same_top1", "value"),), bootstrap=True),
    Statistic("topk_overlap", "top-k overlap", "test", "topk_overlap", "mean"),
)


def made(kind: str) -> tuple[Statistic, ...]:
    """The statistics a base of ``kind`` (``logits``, ``kld``, ``reference``: its kernel) can give."""
    return tuple(s for s in STATISTICS if kind in s.made_of.kernels)


def divergence(kind: str) -> str:
    """The JSON key (and term) of the divergence ``--worst`` ranks tokens by, for a base of ``kind``."""
    (s,) = (s for s in made(kind) if s.worst)
    return s.key


def csv_columns(kind: str, intervals: bool) -> list[tuple[Statistic, str, str]]:
    """The csv line's columns after ``name``: ``(statistic, column, field)``, then with ``intervals``
    each bootstrapped one's ``(statistic, <key>_ci95_lo / _hi, ci95.0 / ci95.1)``."""
    shown = [s for s in made(kind) if s.csv]
    out = [(s, column, field) for s in shown for column, field in s.csv]
    if intervals:
        out += [(s, f"{s.key}_ci95_{end}", f"ci95.{i}") for s in shown if s.bootstrap
                for i, end in enumerate(("lo", "hi"))]
    return out


def lookup(entry, path: str):
    """The field ``path`` (dotted: ``percentiles.p50``; a number indexes a list: ``ci95.0``) of a
    statistic's JSON object, None where it has none."""
    for part in path.split("."):
        if entry is None:
            return None
        entry = entry[int(part)] if isinstance(entry, list) else entry.get(part)
    return entry


def per_token(kind: str, targets: bool) -> list[Statistic]:
    """The statistics with ``--per-token`` columns, in their terms' order (``TERMS``)."""
    order = {t.name: i for i, t in enumerate(TERMS)}
    return sorted((s for s in made(kind) if s.per_token and (targets or not s.needs_targets)),
                  key=lambda s: order[s.term])


def terms_for(kind: str, per_token_file: bool) -> set[str]:
    """The terms the csv line reads, and with ``per_token_file`` those ``--per-token`` reads."""
    wanted = {s.term for s in made(kind) if s.csv}
    return wanted | ({s.term for s in per_token(kind, True)} if per_token_file else set())
