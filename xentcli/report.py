"""The summary every per-sample loss command reports: values in the base, the reduction, JSON and footer.

``ce``, ``bce``, ``kl`` and ``entropy`` all print the same keys (docs/outputs.md);
this is the one place they are assembled.
"""

from __future__ import annotations

import numpy as np

from . import core

__all__ = ["LossReport", "base_label"]


def base_label(base) -> str:
    """How a log base is shown in a column header."""
    return {"e": "nats", 2: "bits", 10: "bans"}.get(base, f"base {base}")


class LossReport:
    """Per-sample values reduced for one command.

    Attributes:
      per: per-sample values in ``base`` (nats divided by ``ln base``).
      mean, sum: the reductions in ``base``; ``mean = sum / denominator``.
      perplexity: ``exp(mean in nats)``, the same in every base.
    """

    # A plain class, not a dataclass: ``dataclasses`` costs every call's start-up a millisecond.
    def __init__(self, command: str, base, reduction: str, per: np.ndarray, mean: float, sum: float,
                 denominator: float, perplexity: float):
        self.command, self.base, self.reduction, self.per = command, base, reduction, per
        self.mean, self.sum, self.denominator, self.perplexity = mean, sum, denominator, perplexity

    @classmethod
    def of(cls, command: str, per_nats: np.ndarray, *, base, reduction: str, denominator: float | None = None):
        denominator = float(len(per_nats) if denominator is None else denominator)
        mean_nats = core.reduce(per_nats, "mean", denominator=denominator)
        scale = core.log_base(base)
        return cls(
            command, base, reduction, np.asarray(per_nats) / scale, mean_nats / scale,
            core.reduce(per_nats, "sum") / scale, denominator, core.perplexity(mean_nats),
        )

    @property
    def value(self):
        """What csv/tsv/npy print: the reduced number, or every sample's with ``none``."""
        return {"mean": self.mean, "sum": self.sum, "none": self.per}[self.reduction]

    @property
    def header(self) -> list[str]:
        return ["loss" if self.reduction == "none" else self.reduction]

    def json(self, *, perplexity: bool = False) -> dict:
        doc = {
            "command": self.command, "n": len(self.per), "base": self.base, "reduction": self.reduction,
            "mean": self.mean, "sum": self.sum, "denominator": self.denominator,
        }
        if self.reduction == "none":
            doc["per_sample"] = self.per
        if perplexity:
            doc["perplexity"] = self.perplexity
        return doc

    def footer(self, number=lambda x: x, *, perplexity: bool = False) -> list[tuple[str, object]]:
        """(name, value) rows under a table: reduction, denominator, the reduced value, perplexity; numbers
        through ``number`` (a table view keeps them numbers: they are formatted where they are drawn)."""
        shown = "sum" if self.reduction == "sum" else "mean"
        rows = [
            ("reduction", self.reduction),
            ("denominator", number(self.denominator)),
            (shown, number(self.sum if shown == "sum" else self.mean)),
        ]
        if perplexity:
            rows.append(("perplexity", number(self.perplexity)))
        return rows
