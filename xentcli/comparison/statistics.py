"""The statistics of ``xent compare``: one :data:`STATISTICS` entry each, which JSON, the table and
csv all iterate. Adding a statistic is one entry here (and a kernel in :mod:`xentcli.core.tokens`
if it needs new per-token math).

Each entry names its JSON key, its scope (``model``: the base and every test; ``test``: each test
against the base), the per-token columns it needs (absent columns — targets not given, a base
kind that does not define them — make the statistic absent, not zero), and how it is summarised:

* ``distribution``: ``mean``, ``se``, ``percentiles`` (NumPy's linear interpolation);
* ``number``: ``value`` and ``se``.

Standard errors are those of llama.cpp's ``perplexity --kl-divergence`` (SE of a mean =
sample standard deviation, ddof 1, / √n; see :mod:`xentcli.core.summary`), ``null`` whenever
n < 2 or none is defined.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from ..core import summary

__all__ = ["Statistic", "STATISTICS", "summarize", "pair_summary", "worst_tokens", "histogram", "LN2"]

LN2 = math.log(2.0)


class Statistic(NamedTuple):
    key: str
    scope: str  # "model" or "test"
    columns: tuple[str, ...]  # the per-token columns it reads
    summarize: Callable[..., dict]  # (columns dict, context) -> JSON object
    label: str  # the table's row name


def _se(se: float, n: int):
    """``null`` whenever n < 2, and where none is defined (NaN: a mean that is inf or NaN)."""
    return None if n < 2 or math.isnan(se) else se


def _number(value: float, se: float, n: int) -> dict:
    return {"value": value, "se": _se(se, n)}


def _distribution(x: np.ndarray) -> dict:
    mean, se = summary.mean_se(x)
    return {"mean": mean, "se": _se(se, x.size), "percentiles": summary.percentiles(x)}


def _mean_number(x: np.ndarray) -> dict:
    return _number(*summary.mean_se(x), x.size)


def _share(s: np.ndarray) -> dict:
    return _number(*summary.share_se(s.astype(np.float64)), s.size)


def _ppl(c, ctx) -> dict:
    mean, se = summary.mean_se(c["nll"])
    with np.errstate(over="ignore"):  # a mean NLL past ~709 nats is a perplexity of inf
        ppl = float(np.exp(mean))
    return _number(ppl, ppl * se, c["nll"].size)


def _bits_per_token(c, ctx) -> dict:
    mean, se = summary.mean_se(c["nll"])
    return _number(mean / LN2, se / LN2, c["nll"].size)


def _bits_per_byte(c, ctx) -> dict | None:
    if ctx.get("bytes") is None:
        return None
    n = c["nll"].size
    mean, se = summary.mean_se(c["nll"])
    scale = n / (LN2 * ctx["bytes"])  # Σ NLL / (ln 2 · bytes) = mean · n / (ln 2 · bytes)
    return _number(mean * scale, se * scale, n)


def _delta_p(c, ctx) -> dict:
    d = c["delta_p"]
    out = _distribution(d)
    rms, rms_se = summary.rms_se(d)
    out["rms"], out["rms_se"] = rms, _se(rms_se, d.size)
    return out


def _ratio(key: str):
    def get(c, ctx) -> dict:
        r = ctx["ratios"]
        if key == "nll_correlation":
            return {"value": r[key], "se": None}
        value, se = r[key]
        return _number(value, se, c["nll"].size)
    return get


STATISTICS: tuple[Statistic, ...] = (
    Statistic("nll", "model", ("nll",), lambda c, ctx: _distribution(c["nll"]), "NLL (nats)"),
    Statistic("ppl", "model", ("nll",), _ppl, "perplexity"),
    Statistic("bits_per_token", "model", ("nll",), _bits_per_token, "bits per token"),
    Statistic("bits_per_byte", "model", ("nll",), _bits_per_byte, "bits per byte"),
    Statistic("top1_acc", "model", ("top1_correct",), lambda c, ctx: _share(c["top1_correct"]), "top-1 accuracy"),
    Statistic("topk_acc", "model", ("in_topk",), lambda c, ctx: _share(c["in_topk"]), "top-k accuracy"),
    Statistic("entropy", "model", ("entropy",), lambda c, ctx: _mean_number(c["entropy"]), "entropy (nats)"),
    Statistic("kl", "test", ("kl",), lambda c, ctx: _distribution(c["kl"]), "KL(base‖test) (nats)"),
    Statistic("kl_lower_bound", "test", ("kl_lower_bound",), lambda c, ctx: _distribution(c["kl_lower_bound"]),
              "KL lower bound (nats)"),
    Statistic("kl_reverse", "test", ("kl_reverse",), lambda c, ctx: _distribution(c["kl_reverse"]),
              "KL(test‖base) (nats)"),
    Statistic("jsd", "test", ("jsd",), lambda c, ctx: _distribution(c["jsd"]), "JSD (bits)"),
    Statistic("ln_ppl_ratio", "test", ("nll",), _ratio("ln_ppl_ratio"), "ln(PPL ratio)"),
    Statistic("ppl_ratio", "test", ("nll",), _ratio("ppl_ratio"), "PPL ratio"),
    Statistic("delta_ppl", "test", ("nll",), _ratio("delta_ppl"), "ΔPPL"),
    Statistic("nll_correlation", "test", ("nll",), _ratio("nll_correlation"), "NLL correlation"),
    Statistic("delta_p", "test", ("delta_p",), _delta_p, "Δp"),
    Statistic("same_top1", "test", ("same_top1",), lambda c, ctx: _share(c["same_top1"]), "same top-1"),
    Statistic("topk_overlap", "test", ("topk_overlap",), lambda c, ctx: _mean_number(c["topk_overlap"]),
              "top-k overlap"),
)

#: The statistics whose interval ``--bootstrap`` adds, and the per-token value whose mean each is.
BOOTSTRAPPED = {"kl": "kl", "kl_lower_bound": "kl_lower_bound", "ln_ppl_ratio": "nll_diff", "same_top1": "same_top1"}


def summarize(base: dict[str, np.ndarray], tests: dict[str, dict[str, np.ndarray]], *, bytes_: int | None = None,
              base_name: str = "base") -> tuple[dict, dict]:
    """``(models, tests)`` of the JSON: every statistic whose columns are there."""
    models = {base_name: _scope("model", base, {"bytes": bytes_})}
    out_tests = {}
    for name, cols in tests.items():
        models[name] = _scope("model", cols, {"bytes": bytes_})
        ctx = {"bytes": bytes_}
        if "nll" in cols and "nll" in base:
            ctx["ratios"] = summary.ratio_stats(base["nll"], cols["nll"])
        out_tests[name] = _scope("test", cols, ctx, needs_base="nll" in base)
    return models, out_tests


def _scope(scope: str, cols: dict[str, np.ndarray], ctx: dict, *, needs_base: bool = True) -> dict:
    out = {}
    for s in STATISTICS:
        if s.scope != scope or not all(c in cols for c in s.columns):
            continue
        if s.key in ("ln_ppl_ratio", "ppl_ratio", "delta_ppl", "nll_correlation") and "ratios" not in ctx:
            continue
        value = s.summarize(cols, ctx)
        if value is not None:
            out[s.key] = value
    return out


def bootstrap(base: dict[str, np.ndarray], tests: dict[str, dict[str, np.ndarray]], out_tests: dict, groups,
              *, n_boot: int, seed: int) -> None:
    """Add ``ci95`` to ``kl`` (or a saved reference's ``kl_lower_bound``), ``ln_ppl_ratio`` and ``same_top1`` of
    each test: whole groups (sequences) resampled.

    Every interval is ``summary.block_bootstrap`` of its column with this seed; they share the
    resamples, so these are drawn once for all of them (:func:`summary.block_bootstraps`)."""
    targets, jobs = [], []
    for name, cols in tests.items():
        per_token = {}
        for kl in ("kl", "kl_lower_bound"):
            if kl in cols:
                per_token[kl] = cols[kl]
        if "nll" in cols and "nll" in base:
            per_token["nll_diff"] = cols["nll"] - base["nll"]
        if "same_top1" in cols:
            per_token["same_top1"] = cols["same_top1"].astype(np.float64)
        for key, column in BOOTSTRAPPED.items():
            if column in per_token and key in out_tests[name]:
                targets.append(out_tests[name][key])
                jobs.append(({column: per_token[column]}, lambda m, column=column: m[column]))
    if jobs:
        for target, (lo, hi) in zip(targets, summary.block_bootstraps(jobs, groups, n_boot=n_boot, seed=seed)):
            target["ci95"] = [lo, hi]


def pair_summary(tests: dict[str, dict[str, np.ndarray]]) -> dict:
    """For tests a, b in the order given: ``pairs["a-b"]`` with the paired means of KL_a − KL_b and nll_a − nll_b."""
    names = list(tests)
    pairs = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            entry = {}
            for key, column in (("kl_diff", "kl"), ("nll_diff", "nll")):
                if column in tests[a] and column in tests[b]:
                    with np.errstate(invalid="ignore"):  # inf - inf: NaN
                        d = tests[a][column] - tests[b][column]
                    entry[key] = _mean_number(d)
            pairs[f"{a}-{b}"] = entry
    return pairs


def worst_tokens(rows: np.ndarray, target, base: dict, cols: dict, count: int, kl_key: str = "kl",
                 *, located=None) -> list[dict]:
    """The ``count`` tokens of largest KL, largest first: their scored-token index, with ``located``
    (``rows -> (sequence, position)``) their sequence and position, KL and, with targets, the target
    and both models' probability of it."""
    kl = cols[kl_key]
    count = min(count, kl.size)
    if count <= 0:
        return []
    order = np.argsort(-kl, kind="stable")[:count]  # inf first; NaN last
    out = []
    for i in order:
        item = {"index": int(i)}  # the 0-based scored-token index, as --per-token's
        if located is not None:
            sequence, position = located(rows[i])
            item["sequence"], item["position"] = int(sequence), int(position)
        item[kl_key] = float(kl[i])  # a saved reference's bound is never called kl
        if target is not None and "nll" in base and "nll" in cols:
            item["target"] = int(target[i])
            item["p_target"] = float(np.exp(-base["nll"][i]))
            item["q_target"] = float(np.exp(-cols["nll"][i]))
        out.append(item)
    return out


def histogram(values: np.ndarray, *, width: int = 32) -> list[tuple[str, int, str]]:
    """log10 of the positive finite values in 6 to 16 bins of 1, ½, ¼, ⅕ or ⅒ decade: ``(label, count, bar)``
    rows, the label the bin's lower edge; zeros and infinities are counted in rows of their own."""
    finite = np.isfinite(values)
    v = values[finite & (values > 0)]
    rows = []
    zeros, infinite = int(np.count_nonzero(values == 0)), int(np.count_nonzero(~finite))
    if v.size:
        logs = np.log10(v)
        lo, hi = math.floor(float(logs.min())), math.ceil(float(logs.max()))
        hi = max(hi, lo + 1)
        step = next((s for s in (1.0, 0.5, 0.25, 0.2) if (hi - lo) / s >= 6), 0.1)
        edges = lo + step * np.arange(int(round((hi - lo) / step)) + 1)
        counts, _ = np.histogram(logs, bins=edges)
        first, last = int(np.flatnonzero(counts)[0]), int(np.flatnonzero(counts)[-1])
        rows = [(f"{10.0 ** edges[i]:.2g}", int(counts[i])) for i in range(first, last + 1)]
    if zeros:
        rows.insert(0, ("0", zeros))
    if infinite:
        rows.append(("inf or nan", infinite))
    top = max([c for _, c in rows], default=1) or 1
    return [(label, c, "█" * int(round(width * c / top)) if c else "") for label, c in rows]


def table_view(doc: dict, kl_values: dict, precision: int, *, kl_label: str = "KL") -> dict:
    """What the table shows, as plain data: column names, ``(label, cells)`` rows (``value ± se``),
    a histogram of log10 KL per test, and the worst tokens."""
    from ..writers import format_number

    def num(x) -> str:
        return "" if x is None else format_number(x, precision)

    def cell(entry: dict | None) -> str:
        if entry is None:
            return ""
        value = entry.get("mean", entry.get("value"))
        se = entry.get("se")
        text = num(value) + ("" if se is None else f" ± {num(se)}")
        if "ci95" in entry:
            text += f" [{num(entry['ci95'][0])}, {num(entry['ci95'][1])}]"
        return text

    columns = list(doc["models"])
    rows = []
    for s in STATISTICS:
        where = doc["models"] if s.scope == "model" else doc["tests"]
        if not any(s.key in where.get(c, {}) for c in columns):
            continue
        rows.append((s.label, [cell(where.get(c, {}).get(s.key)) for c in columns]))
        if s.key == "delta_p":
            rows.append(("RMS Δp", [cell({"value": where[c]["delta_p"]["rms"], "se": where[c]["delta_p"]["rms_se"]})
                                    if "delta_p" in where.get(c, {}) else "" for c in columns]))
        if s.key in ("kl", "kl_lower_bound"):
            for p in ("p50", "p99", "max"):
                rows.append((f"  {p} of it", [num(where[c][s.key]["percentiles"][p]) if s.key in where.get(c, {}) else ""
                                              for c in columns]))
    histograms = {name: histogram(v) for name, v in kl_values.items() if v is not None}
    worst = {name: t["worst"] for name, t in doc["tests"].items() if t.get("worst")}
    return {"columns": columns, "rows": rows, "histograms": histograms, "worst": worst, "kl_label": kl_label}
