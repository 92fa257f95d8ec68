"""The statistics of ``xent compare``, summarised: each row of :data:`~.columns.STATISTICS` (the one
table of them) by its summary kind (:data:`SUMMARIES`), for JSON, the table and csv alike.

Summary kinds (a row's ``summary``):

* ``distribution``: ``mean``, ``se``, ``percentiles`` (NumPy's linear interpolation);
* ``distribution_rms``: those and ``rms``, ``rms_se``;
* ``mean``, ``share`` (of 0/1 values), ``ppl``, ``bits_per_token``, ``bits_per_byte``, ``ratio``:
  ``value`` and ``se``.

Standard errors are those of llama.cpp's ``perplexity --kl-divergence`` (SE of a mean =
sample standard deviation, ddof 1, / √n; see :mod:`xentcli.core.summary`), ``null`` whenever
n < 2 or none is defined.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..core import summary
from .columns import STATISTICS, Statistic, lookup

__all__ = ["SUMMARIES", "summarize", "bootstrap", "pair_summary", "worst_tokens", "histogram", "table_view", "LN2"]

LN2 = math.log(2.0)


def _se(se: float, n: int):
    """``null`` whenever n < 2, and where none is defined (NaN: a mean that is inf or NaN)."""
    return None if n < 2 or math.isnan(se) else se


def _number(value: float, se: float, n: int) -> dict:
    return {"value": value, "se": _se(se, n)}


def _distribution(s: Statistic, c: dict, ctx: dict) -> dict:
    x = c[s.term]
    mean, se = summary.mean_se(x)
    return {"mean": mean, "se": _se(se, x.size), "percentiles": summary.percentiles(x)}


def _mean_of(x: np.ndarray) -> dict:
    return _number(*summary.mean_se(x), x.size)


def _mean_number(s: Statistic, c: dict, ctx: dict) -> dict:
    return _mean_of(c[s.term])


def _share(s: Statistic, c: dict, ctx: dict) -> dict:
    return _number(*summary.share_se(c[s.term].astype(np.float64)), c[s.term].size)


def _ppl(s: Statistic, c: dict, ctx: dict) -> dict:
    mean, se = summary.mean_se(c[s.term])
    with np.errstate(over="ignore"):  # a mean NLL past ~709 nats is a perplexity of inf
        ppl = float(np.exp(mean))
    return _number(ppl, ppl * se, c[s.term].size)


def _bits_per_token(s: Statistic, c: dict, ctx: dict) -> dict:
    mean, se = summary.mean_se(c[s.term])
    return _number(mean / LN2, se / LN2, c[s.term].size)


def _bits_per_byte(s: Statistic, c: dict, ctx: dict) -> dict | None:
    if ctx.get("bytes") is None:
        return None
    n = c[s.term].size
    mean, se = summary.mean_se(c[s.term])
    scale = n / (LN2 * ctx["bytes"])  # Σ NLL / (ln 2 · bytes) = mean · n / (ln 2 · bytes)
    return _number(mean * scale, se * scale, n)


def _distribution_rms(s: Statistic, c: dict, ctx: dict) -> dict:
    out = _distribution(s, c, ctx)
    rms, rms_se = summary.rms_se(c[s.term])
    out["rms"], out["rms_se"] = rms, _se(rms_se, c[s.term].size)
    return out


def _ratio(s: Statistic, c: dict, ctx: dict) -> dict | None:
    """The test's NLL against the base's (:func:`~xentcli.core.summary.ratio_stats`), absent without the base's."""
    r = ctx.get("ratios")
    if r is None:
        return None
    if s.key == "nll_correlation":
        return {"value": r[s.key], "se": None}
    value, se = r[s.key]
    return _number(value, se, c[s.term].size)


#: Each summary kind of :data:`~.columns.STATISTICS`: ``(statistic, columns, context) -> JSON object`` (None: absent).
SUMMARIES: dict[str, Callable[[Statistic, dict, dict], dict | None]] = {
    "distribution": _distribution,
    "distribution_rms": _distribution_rms,
    "mean": _mean_number,
    "share": _share,
    "ppl": _ppl,
    "bits_per_token": _bits_per_token,
    "bits_per_byte": _bits_per_byte,
    "ratio": _ratio,
}


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
        out_tests[name] = _scope("test", cols, ctx)
    return models, out_tests


def _scope(scope: str, cols: dict[str, np.ndarray], ctx: dict) -> dict:
    out = {}
    for s in STATISTICS:
        if s.scope != scope or s.term not in cols:
            continue
        value = SUMMARIES[s.summary](s, cols, ctx)
        if value is not None:
            out[s.key] = value
    return out


def bootstrap(base: dict[str, np.ndarray], tests: dict[str, dict[str, np.ndarray]], out_tests: dict, groups,
              *, n_boot: int, seed: int) -> None:
    """Add ``ci95`` to each test's bootstrapped statistics (:data:`~.columns.STATISTICS`' ``bootstrap``):
    whole groups (sequences) resampled.

    Every interval is ``summary.block_bootstrap`` of the mean of its per-token value (a ``ratio``'s:
    the test's term less the base's) with this seed; they share the resamples, so these are drawn
    once for all of them (:func:`summary.block_bootstraps`)."""
    targets, jobs = [], []
    for name, cols in tests.items():
        for s in STATISTICS:
            if not s.bootstrap or s.key not in out_tests[name] or s.term not in cols:
                continue
            if s.summary == "ratio":
                if s.term not in base:
                    continue
                per_token = cols[s.term] - base[s.term]
            else:
                per_token = cols[s.term].astype(np.float64)
            targets.append(out_tests[name][s.key])
            jobs.append(({s.key: per_token}, lambda m, key=s.key: m[key]))
    if jobs:
        for target, (lo, hi) in zip(targets, summary.block_bootstraps(jobs, groups, n_boot=n_boot, seed=seed)):
            target["ci95"] = [lo, hi]


def pair_summary(tests: dict[str, dict[str, np.ndarray]]) -> dict:
    """For tests a, b in the order given: ``pairs["a-b"]`` with the paired means of KL_a − KL_b and
    nll_a − nll_b."""
    names = list(tests)
    pairs = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            entry = {}
            for key, column in (("kl_diff", "kl"), ("nll_diff", "nll")):
                if column in tests[a] and column in tests[b]:
                    with np.errstate(invalid="ignore"):  # inf - inf: NaN
                        d = tests[a][column] - tests[b][column]
                    entry[key] = _mean_of(d)
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
    from ..numbers import format_number

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
        entries = [where.get(c, {}).get(s.key) for c in columns]
        rows.append((s.label, [cell(e) for e in entries]))
        for f in s.figures:
            rows.append((f.label, [cell(None if e is None else {"value": lookup(e, f.value),
                                                                 "se": None if f.se is None else lookup(e, f.se)})
                                   for e in entries]))
    histograms = {name: histogram(v) for name, v in kl_values.items() if v is not None}
    worst = {name: t["worst"] for name, t in doc["tests"].items() if t.get("worst")}
    return {"columns": columns, "rows": rows, "histograms": histograms, "worst": worst, "kl_label": kl_label}
