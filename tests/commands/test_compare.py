"""``xent compare`` end to end (SPEC §7), against independent references.

Every expected value is computed here by a plain float64 NumPy evaluation of the
definitions (``log_softmax`` as ``z - max - log Σ exp(z - max)``, KL as
``Σ_{p>0} p·(log p - log q)``, …) written without xent's core, or is a stored
PyTorch number; the CLI's JSON (through click's ``CliRunner``) must agree within
1e-9 relative. The ``.kld`` base and the saved reference are built / read here byte
by byte from their layouts.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import stat
import struct
import threading

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_process, xent

RTOL = 1e-9
ATOL = 1e-14  # only for values that are 0 up to rounding (both sides ~1e-17)
LN2 = math.log(2.0)
PCT_Q = [0.0, 0.1, 1.0, 5.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0]
PCT_KEYS = ["min", "p0.1", "p1", "p5", "p10", "p50", "p90", "p95", "p99", "p99.9", "max"]


# ----------------------------------------------------------------------------------------------
# running the command
# ----------------------------------------------------------------------------------------------

def invoke(*args, env=None):
    """``xent compare ARGS`` through the one runner."""
    return xent("compare", *args, env=env)


def run_json(*args) -> dict:
    result = invoke(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def num(x):
    """A JSON number of xent ("inf", "-inf", "nan" are strings) as a float."""
    return float(x) if isinstance(x, str) else x


def assert_close(got, exp, path="doc"):
    """``got`` (xent's JSON) equals ``exp`` (a reference dict) key for key within 1e-9 relative."""
    if isinstance(exp, dict):
        assert isinstance(got, dict), path
        assert set(got) == set(exp), f"{path}: keys {sorted(got)} != {sorted(exp)}"
        for key in exp:
            assert_close(got[key], exp[key], f"{path}.{key}")
        return
    if exp is None:
        assert got is None, f"{path}: {got!r}, expected null"
        return
    if isinstance(exp, str) or isinstance(got, bool):
        assert got == exp, f"{path}: {got!r}, expected {exp!r}"
        return
    g, e = num(got), float(exp)
    assert g is not None, f"{path}: null, expected {e}"
    if math.isnan(e):
        assert math.isnan(g), f"{path}: {g}, expected nan"
    elif math.isinf(e):
        assert g == e, f"{path}: {g}, expected {e}"
    else:
        assert abs(g - e) <= RTOL * abs(e) + ATOL, f"{path}: {g!r}, expected {e!r} (rel {abs(g - e) / abs(e or 1):.2e})"


# ----------------------------------------------------------------------------------------------
# the independent reference: float64 NumPy, straight from the definitions
# ----------------------------------------------------------------------------------------------

def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def plogratio(p, lp, lq):
    """Σ_{p>0} p·(lp - lq) per row (a class with p > 0 and lq = -inf gives inf)."""
    with np.errstate(invalid="ignore"):
        return np.where(p > 0, p * (lp - lq), 0.0).sum(axis=-1)


def topk_sets(z, k):
    return np.argsort(-np.asarray(z, dtype=np.float64), axis=-1, kind="stable")[:, :k]


def ref_tokens(zb, zt, target, top_k):
    """Per-token values of one test against the base, (n, V) each; ``target`` (n,) or None."""
    lp, lq = log_softmax(zb), log_softmax(zt)
    p, q = np.exp(lp), np.exp(lq)
    m = (p + q) / 2
    with np.errstate(divide="ignore"):
        lm = np.log(m)
    k = min(top_k, zb.shape[1])
    out = {
        "kl": plogratio(p, lp, lq),
        "kl_reverse": plogratio(q, lq, lp),
        "jsd": (0.5 * plogratio(p, lp, lm) + 0.5 * plogratio(q, lq, lm)) / LN2,
        "tvd": 0.5 * np.abs(p - q).sum(axis=-1),
        "entropy_base": -plogratio(p, lp, 0.0),
        "entropy_test": -plogratio(q, lq, 0.0),
        "same_top1": (np.argmax(zb, axis=1) == np.argmax(zt, axis=1)).astype(float),
    }
    sb, st = topk_sets(zb, k), topk_sets(zt, k)
    out["topk_overlap"] = np.array([len(set(a) & set(b)) / k for a, b in zip(sb, st)])
    if target is not None:
        r = np.arange(len(target))
        out["nll_base"], out["nll_test"] = -lp[r, target], -lq[r, target]
        out["delta_p"] = q[r, target] - p[r, target]
        out["top1_base"] = (np.argmax(zb, axis=1) == target).astype(float)
        out["top1_test"] = (np.argmax(zt, axis=1) == target).astype(float)
        out["topk_base"] = np.array([t in s for t, s in zip(target, sb)], dtype=float)
        out["topk_test"] = np.array([t in s for t, s in zip(target, st)], dtype=float)
    return out


def se_of(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # inf tokens: no SE
        se = None if x.size < 2 else float(np.std(x, ddof=1) / math.sqrt(x.size))
    return None if se is None or math.isnan(se) else se


def linear_percentiles(x):
    """NumPy's default (linear) percentiles; with an inf among the values, the same rule by hand:
    at a data point that point, between two points a + (b - a)·f (NumPy gives inf·0 = nan there)."""
    if np.isfinite(x).all():
        return np.percentile(x, PCT_Q)
    s = np.sort(x)
    out = []
    for q in PCT_Q:
        pos = q / 100 * (s.size - 1)
        lo, f = int(math.floor(pos)), pos - math.floor(pos)
        out.append(s[lo] if f == 0 else s[lo] + (s[lo + 1] - s[lo]) * f)
    return np.array(out)


def distribution(x):
    with np.errstate(invalid="ignore"):
        pct = linear_percentiles(x)
    return {"mean": float(np.mean(x)), "se": se_of(x), "percentiles": dict(zip(PCT_KEYS, map(float, pct)))}


def share(s):
    v = float(np.mean(s))
    return {"value": v, "se": None if s.size < 2 else math.sqrt(v * (1 - v) / (s.size - 1))}


def mean_number(x):
    return {"value": float(np.mean(x)), "se": se_of(x)}


def ref_model(nll, entropy, top1, topk, n_bytes):
    out = {"entropy": mean_number(entropy)}
    if nll is not None:
        n = nll.size
        mean, se = float(np.mean(nll)), se_of(nll)
        ppl = math.exp(mean)
        out["nll"] = distribution(nll)
        out["ppl"] = {"value": ppl, "se": None if se is None else ppl * se}
        out["bits_per_token"] = {"value": mean / LN2, "se": None if se is None else se / LN2}
        if n_bytes is not None:
            out["bits_per_byte"] = {"value": float(np.sum(nll)) / (LN2 * n_bytes),
                                    "se": None if se is None else n * se / (LN2 * n_bytes)}
        out["top1_acc"], out["topk_acc"] = share(top1), share(topk)
    return out


def ref_test(t, b_nll):
    out = {key: distribution(t[key]) for key in ("kl", "kl_reverse", "jsd", "tvd")}
    out["same_top1"], out["topk_overlap"] = share(t["same_top1"]), mean_number(t["topk_overlap"])
    if "nll_test" in t:
        nb, nt = b_nll, t["nll_test"]
        n = nb.size
        d = nt - nb
        md = float(np.mean(d))
        sd = se_of(d)
        out["ln_ppl_ratio"] = {"value": md, "se": sd}
        ratio = math.exp(md)
        out["ppl_ratio"] = {"value": ratio, "se": None if sd is None else ratio * sd}
        ppl_b, ppl_t = math.exp(np.mean(nb)), math.exp(np.mean(nt))
        if n >= 2:
            cov = float(np.cov(nt, nb, ddof=1)[0, 1]) / n
            se_t, se_b = ppl_t * se_of(nt), ppl_b * se_of(nb)
            se_delta = math.sqrt(se_t ** 2 + se_b ** 2 - 2 * ppl_t * ppl_b * cov)
            r = float(np.corrcoef(nb, nt)[0, 1])
        else:
            se_delta, r = None, math.nan
        out["delta_ppl"] = {"value": ppl_t - ppl_b, "se": se_delta}
        out["nll_correlation"] = {"value": r, "se": None}
        dp = t["delta_p"]
        out["delta_p"] = distribution(dp)
        rms = math.sqrt(np.mean(dp ** 2))
        out["delta_p"]["rms"] = rms
        out["delta_p"]["rms_se"] = None if dp.size < 2 else se_of(dp ** 2) / (2 * rms)
    return out


def reference_doc(zb, tests, target=None, *, keep=None, top_k=5, n_bytes=None):
    """The whole JSON document from 2-D base/test logits (already shifted), targets (n,) or None,
    ``keep`` the scored rows (default all)."""
    n_rows = zb.shape[0]
    keep = np.ones(n_rows, bool) if keep is None else keep
    safe = None if target is None else np.where(keep, target, 0)
    per = {}
    for name, zt in tests.items():
        t = ref_tokens(zb, zt, safe, top_k)
        per[name] = {key: v[keep] for key, v in t.items()}
    first = next(iter(per.values()))
    nll_b = first.get("nll_base")
    models = {"base": ref_model(nll_b, first["entropy_base"], first.get("top1_base"), first.get("topk_base"), n_bytes)}
    out_tests = {}
    for name, t in per.items():
        models[name] = ref_model(t.get("nll_test"), t["entropy_test"], t.get("top1_test"), t.get("topk_test"), n_bytes)
        out_tests[name] = ref_test(t, nll_b)
    doc = {"command": "compare", "n": int(keep.sum()), "top_k": min(top_k, zb.shape[1]), "models": models,
           "tests": out_tests}
    names = list(per)
    if len(names) > 1:
        doc["pairs"] = {}
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                entry = {"kl_diff": mean_number(per[a]["kl"] - per[b]["kl"])}
                if target is not None:
                    entry["nll_diff"] = mean_number(per[a]["nll_test"] - per[b]["nll_test"])
                doc["pairs"][f"{a}-{b}"] = entry
    return doc, per


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------

B, T, V = 3, 8, 11


def dataset(kind: str, seed: int = 7):
    """(base, {name: test}, targets) of shape (B, T, V) and (B, T)."""
    rng = np.random.default_rng(seed)
    t_ = 40 if kind == "extreme" else T  # 120 tokens: one NLL of 1e4 keeps exp(mean NLL)·SE below 1e154
    base = rng.normal(size=(B, t_, V)) * 2
    a = base + rng.normal(size=(B, t_, V)) * 0.7
    b = rng.normal(size=(B, t_, V)) * 2
    ids = rng.integers(0, V, (B, t_))
    if kind == "masked":  # classes masked in both models (p = q = 0), never the target
        for z in (base, a, b):
            z[0, :, 3] = -np.inf
            z[1, 2:6, 7:9] = -np.inf
        ids[0][ids[0] == 3] = 4
        ids[1, 2:6][np.isin(ids[1, 2:6], [7, 8])] = 0
    elif kind == "extreme":  # ±1e4 logits: one-hot up to underflow, NLLs and KLs of ~1e4
        rows = [(i, j) for i in range(B) for j in range(t_)][::3]
        for n, (i, j) in enumerate(rows):
            hi, lo = rng.choice(V, 2, replace=False)
            for z in (base, a, b):
                z[i, j, hi] = 1e4 + rng.normal()
                z[i, j, lo] = -1e4 + rng.normal()
            if n:
                ids[i, j] = hi
            elif ids[i, j] == hi:
                ids[i, j] = (hi + 1) % V
        # the first hot row's target is not its +1e4 class (NLLs ~1e4, mean NLL still below 709), and
        # b moves that +1e4 to a third class (KL ~1e4)
        i, j = rows[0]
        moved = next(c for c in range(V) if b[i, j, c] < 1e3 and c != ids[i, j] and b[i, j, c] > -1e3)
        b[i, j, moved] = b[i, j].max()
        b[i, j] = np.where(b[i, j] > 1e3, 0.0, b[i, j])
        b[i, j, moved] = 1e4
    return base, {"a": a, "b": b}, ids


def save(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, array)
    return path


def files(tmp_path, base, tests, ids=None):
    paths = {"base": save(tmp_path, "base.npy", base)}
    for name, z in tests.items():
        paths[name] = save(tmp_path, f"{name}.npy", z)
    if ids is not None:
        paths["ids"] = save(tmp_path, "ids.npy", ids)
    return paths


def flat(z):
    return np.asarray(z).reshape(-1, np.shape(z)[-1])


# ----------------------------------------------------------------------------------------------
# every statistic against the reference
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["plain", "masked", "extreme"])
def test_every_statistic_two_tests_and_pairs(tmp_path, kind):
    base, tests, ids = dataset(kind)
    p = files(tmp_path, base, tests, ids)
    # test a by its file name, b by NAME=
    doc = run_json("--base", p["base"], "--test", p["a"], "--test", f"b={p['b']}", "--targets", p["ids"])
    exp, _ = reference_doc(flat(base), {k: flat(v) for k, v in tests.items()}, ids.reshape(-1))
    assert list(doc["models"]) == ["base", "a", "b"] and list(doc["tests"]) == ["a", "b"]
    assert list(doc["pairs"]) == ["a-b"]
    assert_close(doc, exp)
    if kind == "extreme":  # the inputs reach the intended regime
        assert doc["tests"]["b"]["kl"]["percentiles"]["max"] > 1e3
        assert doc["models"]["base"]["nll"]["percentiles"]["max"] > 1e3


def test_top_k_3_bytes_and_ignore_index(tmp_path):
    base, tests, ids = dataset("plain", seed=3)
    ids = ids.copy()
    ids[0, :3] = -100
    ids[2, 5] = -100
    p = files(tmp_path, base, tests, ids)
    doc = run_json("--base", p["base"], "--test", f"a={p['a']}", "--test", f"b={p['b']}", "--targets", p["ids"],
                   "--ignore-index", "-100", "--top-k", "3", "--bytes", "97")
    keep = ids.reshape(-1) != -100
    exp, _ = reference_doc(flat(base), {k: flat(v) for k, v in tests.items()}, ids.reshape(-1), keep=keep,
                           top_k=3, n_bytes=97)
    assert doc["n"] == B * T - 4
    assert_close(doc, exp)
    # --top-k changes topk_acc and topk_overlap, not the rest
    doc5 = run_json("--base", p["base"], "--test", f"a={p['a']}", "--targets", p["ids"], "--ignore-index", "-100")
    exp5, _ = reference_doc(flat(base), {"a": flat(tests["a"])}, ids.reshape(-1), keep=keep, top_k=5)
    assert_close(doc5, exp5)


def test_shift_against_logits_and_ids_sliced_by_hand(tmp_path):
    base, tests, ids = dataset("plain", seed=5)
    ids = ids.copy()
    ids[1, 4] = -100
    p = files(tmp_path, base, tests, ids)
    doc = run_json("--base", p["base"], "--test", p["a"], "--test", p["b"], "--targets", p["ids"], "--shift",
                   "--ignore-index", "-100")
    shifted = lambda z: flat(z[:, :-1])  # noqa: E731
    target = ids[:, 1:].reshape(-1)
    keep = target != -100
    exp, _ = reference_doc(shifted(base), {k: shifted(v) for k, v in tests.items()}, target, keep=keep)
    assert doc["n"] == B * (T - 1) - 1
    assert_close(doc, exp)


def test_without_targets_the_target_statistics_are_absent(tmp_path):
    base, tests, _ = dataset("plain", seed=9)
    p = files(tmp_path, base, tests)
    doc = run_json("--base", p["base"], "--test", f"a={p['a']}", "--test", f"b={p['b']}", "--bytes", "50")
    exp, _ = reference_doc(flat(base), {k: flat(v) for k, v in tests.items()})
    assert_close(doc, exp)  # the key sets are compared: no nll, ppl, accuracy, Δp, ratios, nll_diff
    for model in doc["models"].values():
        assert set(model) == {"entropy"}
    for test in doc["tests"].values():
        assert not {"ln_ppl_ratio", "ppl_ratio", "delta_ppl", "nll_correlation", "delta_p"} & set(test)
    assert set(doc["pairs"]["a-b"]) == {"kl_diff"}
    # csv: ln_ppl_ratio has no value
    out = invoke("--base", p["base"], "--test", f"a={p['a']}", "--format", "csv")
    assert out.exit_code == 0 and out.stdout.strip().split(",")[3] == "nan"


def test_one_token_has_no_standard_errors(tmp_path):
    doc = run_json("--base", "[[0.5,1,2,-1]]", "--test", "t=[[0,1,-1,2]]", "--targets", "2", "--bytes", "3")
    exp, _ = reference_doc(np.array([[0.5, 1, 2, -1]]), {"t": np.array([[0.0, 1, -1, 2]])}, np.array([2]), n_bytes=3)
    assert doc["n"] == 1
    assert_close(doc, exp)

    def ses(d):
        if isinstance(d, dict):
            for key, v in d.items():
                if key in ("se", "rms_se"):
                    yield v
                else:
                    yield from ses(v)
    assert list(ses(doc)) and all(s is None for s in ses(doc))


def test_infinite_kl_tokens(tmp_path):
    """A class the test masks where the base has mass: kl = inf for that token (a warning); a class the
    base masks where the test has mass: kl_reverse = inf. SEs of infinite means are null, not NaN."""
    base = np.array([[0.0, 1.0, 2.0], [1.0, -np.inf, 0.5], [0.3, 0.2, 0.1]])
    test = np.array([[0.0, 1.0, -np.inf], [0.0, 0.2, 1.0], [0.0, 0.0, 0.4]])
    p = files(tmp_path, base, {"t": test})
    result = invoke("--base", p["base"], "--test", p["t"], "--targets", "0,0,1", "--format", "json")
    assert result.exit_code == 0
    assert "Warning:" in result.stderr and "token 0" in result.stderr
    doc = json.loads(result.stdout)
    exp, per = reference_doc(base, {"t": test}, np.array([0, 0, 1]))
    assert np.isinf(per["t"]["kl"][0]) and np.isinf(per["t"]["kl_reverse"][1])
    for key in ("kl", "kl_reverse"):  # an infinite mean has no standard error
        exp["tests"]["t"][key]["se"] = None
    assert_close(doc, exp)


# ----------------------------------------------------------------------------------------------
# stored PyTorch numbers
# ----------------------------------------------------------------------------------------------

# Made once with torch 2.13.0 (CPU), float64:
#   B = torch.tensor(TORCH_BASE, dtype=torch.float64).reshape(-1, 5); T = ... TORCH_TEST
#   K = torch.tensor(TORCH_IDS).reshape(-1)
#   lp, lq = F.log_softmax(B, -1), F.log_softmax(T, -1)
#   TORCH_KL = F.kl_div(lq, lp, log_target=True, reduction='none').nan_to_num(0.0).sum(-1)
#   TORCH_KL_REVERSE = F.kl_div(lp, lq, log_target=True, reduction='none').nan_to_num(0.0).sum(-1)
#   TORCH_NLL_BASE = F.cross_entropy(B, K, reduction='none'); TORCH_NLL_TEST = F.cross_entropy(T, K, reduction='none')
# (nan_to_num: torch gives nan for the class both mask, -inf - -inf; 0·log 0 = 0 there.)
TORCH_BASE = [[[2.058, 3.284, 2.293, -1.946, -2.786], [0.134, 1.723, 1.018, 3.621, 1.502],
               [1.28, -1.463, -2.215, 2.969, 0.098]],
              [[1.623, -2.753, -0.873, -2.582, -1.551], [1.806, -2.961, -1.068, 0.328, -1.337],
               [-0.505, -0.444, 0.836, -0.863, -np.inf]]]
TORCH_TEST = [[[2.115, 3.709, 2.518, -0.288, -3.45], [1.333, 1.32, 0.06, 4.832, 1.062],
               [0.892, -2.852, -4.313, 3.603, -1.067]],
              [[2.401, -0.905, -0.988, -3.709, -1.157], [2.568, -3.223, -1.051, 1.663, -0.072],
               [0.205, -1.31, 0.782, -0.26, -np.inf]]]
TORCH_IDS = [[2, 2, 4], [4, 2, 0]]
TORCH_KL = [0.015074603866361447, 0.20679114595735384, 0.10688503723473773, 0.04589343505579031,
            0.04340311310465783, 0.1133820889823444]
TORCH_KL_REVERSE = [0.01693831310853978, 0.13445017520209557, 0.07273850476066494, 0.03943267753657892,
                    0.04298506912844201, 0.10700394740540294]
TORCH_NLL_BASE = [1.50522030811385, 2.9212088862588135, 3.101192739829672, 3.3152792790974215,
                  3.1638484791873895, 1.8847694978668827]
TORCH_NLL_TEST = [1.613766068769869, 4.859626440714655, 4.744903435736784, 3.654328972927842,
                  4.028302770152225, 1.288855617054328]


def test_kl_and_nll_against_stored_pytorch_numbers(tmp_path):
    p = files(tmp_path, np.array(TORCH_BASE), {"t": np.array(TORCH_TEST)}, np.array(TORCH_IDS))
    out = tmp_path / "tokens.csv"
    doc = run_json("--base", p["base"], "--test", p["t"], "--targets", p["ids"], "--per-token", out)
    table = pd.read_csv(out)
    for column, expected in (("kl_t", TORCH_KL), ("nll_base", TORCH_NLL_BASE), ("nll_t", TORCH_NLL_TEST)):
        np.testing.assert_allclose(table[column].to_numpy(), expected, rtol=1e-12, atol=0)
    kl = doc["tests"]["t"]
    assert_close(kl["kl"]["mean"], np.mean(TORCH_KL))
    assert_close(kl["kl"]["se"], np.std(TORCH_KL, ddof=1) / math.sqrt(6))
    assert_close(kl["kl_reverse"]["mean"], np.mean(TORCH_KL_REVERSE))
    assert_close(kl["kl"]["percentiles"]["max"], max(TORCH_KL))
    assert_close(doc["models"]["base"]["nll"]["mean"], np.mean(TORCH_NLL_BASE))
    assert_close(doc["models"]["t"]["ppl"]["value"], math.exp(np.mean(TORCH_NLL_TEST)))
    assert_close(kl["ln_ppl_ratio"]["value"], np.mean(np.subtract(TORCH_NLL_TEST, TORCH_NLL_BASE)))


# ----------------------------------------------------------------------------------------------
# a llama.cpp .kld base
# ----------------------------------------------------------------------------------------------

def build_kld(path, base_logits, tokens, n_ctx):
    """Write ``base_logits`` (n_chunk·n_scored, V) as llama.cpp's --kl-divergence-base file: ``_logits_``,
    int32 n_ctx, n_vocab, n_chunk, int32 tokens, then per scored row float32 scale, float32
    min_log_prob, n_vocab uint16 codes (padded to even). Encoded like llama.cpp: log-probabilities
    floored 16 nats below the row's maximum, 65535 steps from the floor to the maximum."""
    n_vocab = base_logits.shape[1]
    n_chunk = len(tokens) // n_ctx
    out = [b"_logits_", struct.pack("<iii", n_ctx, n_vocab, n_chunk), np.asarray(tokens, "<i4").tobytes()]
    for row in base_logits:
        lp = log_softmax(row).astype(np.float32)
        top = lp.max()
        low = max(lp.min(), np.float32(top - 16))
        scale = np.float32((top - low) / 65535)
        codes = np.clip(np.round((np.maximum(lp, low) - low) / scale), 0, 65535).astype("<u2")
        out += [struct.pack("<ff", scale, low), codes.tobytes()]
        if n_vocab % 2:
            out.append(b"\0\0")
    path.write_bytes(b"".join(out))


def read_kld(path):
    """(decoded float32 log-probabilities, targets) as llama.cpp reads them back."""
    data = path.read_bytes()
    assert data[:8] == b"_logits_"
    n_ctx, n_vocab, n_chunk = struct.unpack_from("<iii", data, 8)
    tokens = np.frombuffer(data, "<i4", n_ctx * n_chunk, 20)
    pos = 20 + 4 * n_ctx * n_chunk
    scored = n_ctx - 1 - n_ctx // 2
    width = n_vocab + n_vocab % 2
    rows, targets = [], []
    for c in range(n_chunk):
        for j in range(scored):
            scale, low = np.frombuffer(data, "<f4", 2, pos)
            codes = np.frombuffer(data, "<u2", n_vocab, pos + 8)
            rows.append(scale * codes.astype(np.float32) + low)  # float32, as llama.cpp
            targets.append(int(tokens[c * n_ctx + n_ctx // 2 + j + 1]))
            pos += 8 + 2 * width
    assert pos == len(data)
    return np.array(rows, dtype=np.float32), np.array(targets)


@pytest.mark.parametrize("n_vocab", [9, 10])
def test_kld_base_as_llama_cpp_computes_it(tmp_path, n_vocab):
    rng = np.random.default_rng(n_vocab)
    n_ctx, n_chunk = 8, 3
    n = n_chunk * (n_ctx - 1 - n_ctx // 2)
    base_logits = rng.normal(size=(n, n_vocab)) * 6  # wide: some entries fall to the -16 floor
    test = base_logits + rng.normal(size=(n, n_vocab))
    tokens = rng.integers(0, n_vocab, n_chunk * n_ctx)
    kld = tmp_path / "base.kld"
    build_kld(kld, base_logits, tokens, n_ctx)
    np.save(tmp_path / "q4.npy", test)
    lb, target = read_kld(kld)
    lb64 = lb.astype(np.float64)
    assert (lb64 <= -16).any() and (lb64 > -16).any()

    doc = run_json("--base", kld, "--test", tmp_path / "q4.npy", "--per-token", tmp_path / "tok.csv")
    # llama.cpp's loop: Σ over entries with decoded log p > -16 of exp(lp)·(lp - log q); nll_base = -lp[target]
    lq = log_softmax(test)
    r = np.arange(n)
    kl = np.where(lb64 > -16, np.exp(lb64) * (lb64 - lq), 0.0).sum(axis=1)
    nll_b, nll_t = -lb64[r, target], -lq[r, target]
    dp = np.exp(-nll_t) - np.exp(-nll_b)
    assert doc["n"] == n
    assert_close(doc["tests"]["q4"]["kl"], distribution(kl))
    assert "kl_reverse" not in doc["tests"]["q4"] and "jsd" not in doc["tests"]["q4"]
    assert_close(doc["models"]["base"]["nll"], distribution(nll_b))
    assert_close(doc["models"]["q4"]["nll"], distribution(nll_t))
    assert_close(doc["tests"]["q4"]["ln_ppl_ratio"]["value"], np.mean(nll_t - nll_b))
    assert_close(doc["tests"]["q4"]["delta_p"]["mean"], np.mean(dp))
    top1_b = np.array([np.flatnonzero(row == row.max())[0] for row in lb])  # the first largest decoded value
    assert_close(doc["tests"]["q4"]["same_top1"], share((top1_b == np.argmax(test, axis=1)).astype(float)))
    table = pd.read_csv(tmp_path / "tok.csv")
    assert table["target"].tolist() == target.tolist()
    # each chunk of n_ctx tokens is a sequence; llama.cpp scores its logits rows n_ctx/2 … n_ctx - 2
    scored = n_ctx - 1 - n_ctx // 2
    assert table["sequence"].tolist() == (np.arange(n) // scored).tolist()
    assert table["position"].tolist() == (n_ctx // 2 + np.arange(n) % scored).tolist()
    np.testing.assert_allclose(table["kl_q4"], kl, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(table["nll_base"], nll_b, rtol=1e-12)

    # --shift has nothing to align in a .kld base
    result = invoke("--base", kld, "--test", tmp_path / "q4.npy", "--shift")
    assert result.exit_code == 2 and result.stdout == "" and "--shift" in result.stderr


# ----------------------------------------------------------------------------------------------
# --save-base: a compact reference
# ----------------------------------------------------------------------------------------------

def read_safetensors(path):
    data = path.read_bytes()
    (size,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + size])
    meta = header.pop("__metadata__")
    dtypes = {"F32": "<f4", "I32": "<i4", "F64": "<f8", "I64": "<i8"}
    tensors = {}
    for name, info in header.items():
        lo, hi = info["data_offsets"]
        tensors[name] = np.frombuffer(data[8 + size + lo:8 + size + hi], dtypes[info["dtype"]]).reshape(info["shape"])
    return meta, tensors


def test_save_base_round_trip(tmp_path):
    base, tests, ids = dataset("plain", seed=11)
    p = files(tmp_path, base, tests, ids)
    ref = tmp_path / "ref.safetensors"
    exact_tokens = tmp_path / "exact.csv"
    exact = run_json("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--save-base", ref,
                     "--top-k", "3", "--per-token", exact_tokens)
    meta, t = read_safetensors(ref)
    assert meta == {"format": "xent-reference", "vocab": str(V), "top_k": "3", "shift": "false"}
    lp = log_softmax(flat(base))
    order = np.argsort(-lp, axis=1, kind="stable")[:, :3]
    n = B * T
    assert t["topk_ids"].shape == (n, 3) and t["topk_ids"].dtype == np.int32
    assert np.array_equal(t["topk_ids"], order)
    assert t["topk_logprobs"].dtype == np.float32
    np.testing.assert_allclose(t["topk_logprobs"], np.take_along_axis(lp, order, 1), rtol=2e-7)
    tail = np.log(np.exp(lp).sum(1) - np.exp(np.take_along_axis(lp, order, 1)).sum(1))
    np.testing.assert_allclose(t["tail_logmass"], tail, rtol=2e-6)
    np.testing.assert_allclose(t["entropy"], -(np.exp(lp) * lp).sum(1), rtol=2e-7)
    assert np.array_equal(t["target"], ids.reshape(-1))
    np.testing.assert_allclose(t["target_logprob"], lp[np.arange(n), ids.reshape(-1)], rtol=2e-7)

    # as --base: targets from the file, KL as a lower bound, never as kl
    bound_tokens = tmp_path / "bound.csv"
    doc = run_json("--base", ref, "--test", p["a"], "--per-token", bound_tokens)
    assert "kl" not in doc["tests"]["a"] and "kl_lower_bound" in doc["tests"]["a"]
    assert doc["n"] == n
    exact_t, bound_t = pd.read_csv(exact_tokens), pd.read_csv(bound_tokens)
    assert "kl_lower_bound_a" in bound_t.columns and "kl_a" not in bound_t.columns
    assert (bound_t["kl_lower_bound_a"] <= exact_t["kl_a"]).all()
    assert (bound_t["kl_lower_bound_a"] > 0).all()
    np.testing.assert_allclose(bound_t["nll_base"], exact_t["nll_base"], rtol=2e-7)
    np.testing.assert_allclose(bound_t["nll_a"], exact_t["nll_a"], rtol=1e-12)
    assert_close(doc["models"]["a"], exact["models"]["a"])  # the test side is exact
    base_nll = doc["models"]["base"]["nll"]["mean"]
    assert abs(base_nll - exact["models"]["base"]["nll"]["mean"]) <= 2e-7 * base_nll
    # the bound from K = 3 and the rest lumped, recomputed here from the saved float32 values
    lq = log_softmax(flat(tests["a"]))
    pk = np.exp(t["topk_logprobs"].astype(np.float64))
    qk = np.exp(np.take_along_axis(lq, t["topk_ids"].astype(np.int64), 1))
    p_rest = np.exp(t["tail_logmass"].astype(np.float64))
    q_rest = 1 - qk.sum(1)
    # KL of the K + 1 outcomes, with the terms p·(d + e^-d - 1) (SPEC §2's non-negative form): the plain
    # Σ p·d plus Σ q - Σ p, which is ~1e-7 here, the float32-stored p's not summing to 1 exactly
    bound = ((pk * np.log(pk / qk)).sum(1) + p_rest * np.log(p_rest / q_rest)
             + (qk.sum(1) + q_rest) - (pk.sum(1) + p_rest))
    np.testing.assert_allclose(bound_t["kl_lower_bound_a"], bound, rtol=1e-9)
    # --shift with a reference saved unshifted: a wrong call that says the fix
    result = invoke("--base", ref, "--test", p["a"], "--shift")
    assert result.exit_code == 2 and result.stdout == ""
    assert "saved without --shift" in result.stderr and "leave out --shift" in result.stderr


def test_reference_saved_with_shift_serves_shifted_tests(tmp_path):
    # --save-base --shift keeps the shifted rows; later --shift moves only the raw tests to meet them.
    base, tests, ids = dataset("plain", seed=47)
    p = files(tmp_path, base, tests, ids)
    ref = tmp_path / "ref.safetensors"
    exact = run_json("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--shift", "--save-base", ref)
    later = run_json("--base", ref, "--test", p["a"], "--shift")
    assert later["n"] == exact["n"] == base.shape[0] * (base.shape[1] - 1)
    assert_close(later["models"]["a"], exact["models"]["a"])  # the test side is exact
    assert later["tests"]["a"]["kl_lower_bound"]["mean"] <= exact["tests"]["a"]["kl"]["mean"]


def test_reference_saved_with_shift_used_without_it_says_give_shift(tmp_path):
    """Was a bare shape error: the reference records --shift, and a run without it is told the fix."""
    base, tests, ids = dataset("plain", seed=53)
    p = files(tmp_path, base, tests, ids)
    ref = tmp_path / "ref.safetensors"
    run_json("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--shift", "--save-base", ref)
    assert read_safetensors(ref)[0]["shift"] == "true"
    result = invoke("--base", ref, "--test", p["a"], "--format", "json")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: --base ") and "ref.safetensors was saved with --shift" in result.stderr
    assert "give --shift too" in result.stderr and len(result.stderr.splitlines()) == 1
    # with --shift: the bound's ci95 resamples the tests' sequences (B of them, T - 1 tokens each)
    doc = run_json("--base", ref, "--test", p["a"], "--shift", "--bootstrap", "100", "--seed", "2", "--worst", "2",
                   "--per-token", tmp_path / "t.csv")
    table = pd.read_csv(tmp_path / "t.csv")
    assert table["sequence"].tolist() == (np.arange(B * (T - 1)) // (T - 1)).tolist()
    draws = np.random.default_rng(2).multinomial(B, np.full(B, 1 / B), size=100)
    means = draws @ table["kl_lower_bound_a"].to_numpy().reshape(B, T - 1).sum(1) / (draws.sum(1) * (T - 1))
    np.testing.assert_allclose(doc["tests"]["a"]["kl_lower_bound"]["ci95"], np.percentile(means, [2.5, 97.5]),
                               rtol=1e-9)
    assert all(w["index"] == w["sequence"] * (T - 1) + w["position"] for w in doc["tests"]["a"]["worst"])


def test_reference_that_does_not_record_shift_hints_it_from_the_token_counts(tmp_path):
    base, tests, ids = dataset("plain", seed=71)
    p = files(tmp_path, base, tests, ids)
    for saved, later, hint in ((["--shift"], [], "give --shift too"), ([], ["--shift"], "leave out --shift")):
        ref = tmp_path / "ref.safetensors"
        run_json("--base", p["base"], "--test", p["a"], "--save-base", ref, *saved)
        data = ref.read_bytes()  # written before the shift was recorded: the metadata without it
        (size,) = struct.unpack_from("<Q", data, 0)
        header = json.loads(data[8:8 + size])
        del header["__metadata__"]["shift"]
        text = json.dumps(header).encode()
        ref.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size:])
        result = invoke("--base", ref, "--test", p["a"], *later)
        assert result.exit_code == 1 and result.stdout == "" and hint in result.stderr, result.stderr


def test_top_k_against_a_saved_reference_is_said_and_recorded(tmp_path):
    """Was ignored without a word: K is the file's top_k, said on stderr; the JSON records the K used."""
    base, tests, ids = dataset("plain", seed=59)
    p = files(tmp_path, base, tests, ids)
    ref = tmp_path / "ref.safetensors"
    assert run_json("--base", p["base"], "--test", p["a"], "--save-base", ref, "--top-k", "3")["top_k"] == 3
    result = invoke("--base", ref, "--test", p["a"], "--top-k", "7", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["top_k"] == 3
    assert result.stderr.count("\n") == 1 and "--top-k 7" in result.stderr and "K = 3 (its top_k)" in result.stderr
    for same in ([], ["--top-k", "3"]):  # the file's K, given or not: nothing to say
        result = invoke("--base", ref, "--test", p["a"], "--format", "json", *same)
        assert result.exit_code == 0 and result.stderr == "" and json.loads(result.stdout)["top_k"] == 3


def write_safetensors(path, meta, tensors):
    """A safetensors file of ``tensors`` (F32 / I32) and ``meta``, laid out by hand."""
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        data = a.tobytes()
        header[name] = {"dtype": "F32" if a.dtype.kind == "f" else "I32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = meta
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _lie(meta, t, name, change):
    t = {k: v.copy() for k, v in t.items()}
    if name == "meta":
        meta = {**meta, **change}
    else:
        t[name] = change(t[name])
    return meta, t


def _set(index, value):
    def change(a):
        a[index] = value
        return a
    return change


@pytest.mark.parametrize("name, change, says", [
    ("meta", {"top_k": "7"}, "topk_logprobs has shape (24, 3), expected 24 rows of top_k=7 columns"),
    ("meta", {"top_k": "0"}, "top_k metadata is '0'"),
    ("meta", {"vocab": "2"}, "top_k metadata is 3, more than its vocab 2"),
    ("topk_logprobs", _set((0, 0), 5.0), "row 1: a damaged saved reference: topk_logprobs: 5.0"),
    ("topk_logprobs", _set((3, 1), np.nan), "row 4, class 2: logit is nan"),
    ("topk_ids", _set((0, 0), 11), "row 1: a damaged saved reference: topk_ids: 11, expected a class id in [0, 11)"),
    ("topk_ids", _set((2, 0), -1), "row 3: a damaged saved reference: topk_ids: -1"),
    ("topk_ids", lambda a: np.repeat(a[:, :1], 3, axis=1), "row 1: a damaged saved reference: topk_ids: class"),
    ("topk_ids", lambda a: a.astype(np.float32), "topk_ids holds float32, expected integer class ids"),
    ("tail_logmass", _set(5, 0.5), "tail_logmass: row 6: 0.5, expected a log-probability (<= 0)"),
    ("entropy", _set(2, -1.0), "entropy: row 3: -1.0, expected an entropy (finite, >= 0)"),
    ("entropy", _set(2, np.inf), "entropy: row 3: inf"),
    ("entropy", lambda a: a[:-1], "entropy has shape (23,), expected 24 values"),
    ("tail_logmass", lambda a: a[:, None], "tail_logmass has shape (24, 1), expected 24 values"),
    ("target", lambda a: a[:-1], "target has shape (23,), expected 24 values"),
    ("target_logprob", _set(7, 0.25), "target_logprob: row 8: 0.25"),
    ("target_logprob", _set(7, np.nan), "row 8: its target"),
    ("target", _set(0, 11), "its stored targets: row 1: class index 11 is out of range"),
])
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_saved_reference_that_lies_is_bad_data_naming_base(tmp_path, name, change, says, fmt):
    # a reference whose metadata or values are not what --save-base writes: top_k=7 over 3 columns gave
    # "top_k": 7 computed with 3, a log-probability of 5.0 a KL bound of 46, a short entropy an internal error
    base, tests, ids = dataset("plain", seed=5)
    base, tests, ids = base[:, :8], {"a": tests["a"][:, :8]}, ids[:, :8]
    p = files(tmp_path, base, tests, ids)
    ref = tmp_path / "ref.safetensors"
    run_json("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--save-base", ref, "--top-k", "3")
    meta, t = _lie(*read_safetensors(ref), name, change)
    bad = tmp_path / "bad.safetensors"
    write_safetensors(bad, meta, t)
    result = invoke("--base", bad, "--test", p["a"], "--format", fmt)
    assert result.exit_code == 1 and result.stdout == "", result.stderr
    assert result.stderr.startswith(f"Error: --base {bad}: ") and says in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_saved_reference_rounding_above_zero_is_read(tmp_path):
    # float32 log-probabilities of a near-certain class round a hair above 0: not a lie
    base, tests, ids = dataset("plain", seed=6)
    p = files(tmp_path, base, tests, ids)
    ref = tmp_path / "ref.safetensors"
    run_json("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--save-base", ref)
    meta, t = read_safetensors(ref)
    t = {k: v.copy() for k, v in t.items()}
    t["topk_logprobs"][0, 0] = 5e-7
    write_safetensors(ref, meta, t)
    assert run_json("--base", ref, "--test", p["a"])["n"] == B * T


def test_save_base_with_ignored_tokens_worst_and_vocabulary(tmp_path):
    base, tests, ids = dataset("plain", seed=43)
    ids = ids.copy()
    ids[1, 2:5] = -100
    p = files(tmp_path, base, tests, ids)
    ref = tmp_path / "ref.safetensors"
    exact = run_json("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--ignore-index", "-100",
                     "--save-base", ref)
    _, t = read_safetensors(ref)
    assert t["target"].tolist() == ids.reshape(-1).tolist()  # every row saved, ignored ones with their target
    keep = ids.reshape(-1) != -100
    lp = log_softmax(flat(base))
    np.testing.assert_allclose(t["target_logprob"][keep], lp[np.flatnonzero(keep), ids.reshape(-1)[keep]], rtol=2e-7)
    doc = run_json("--base", ref, "--test", p["a"], "--ignore-index", "-100", "--worst", "2")
    assert doc["n"] == exact["n"] == keep.sum()
    assert abs(doc["models"]["base"]["nll"]["mean"] - exact["models"]["base"]["nll"]["mean"]) <= 2e-7 * 3
    assert_close(doc["models"]["a"], exact["models"]["a"])
    worst = doc["tests"]["a"]["worst"]
    assert [set(w) for w in worst] == [{"index", "sequence", "position", "kl_lower_bound", "target", "p_target",
                                        "q_target"}] * 2
    assert all(0 <= w["index"] < keep.sum() for w in worst)  # 0-based scored-token indices
    table = invoke("--base", ref, "--test", p["a"], "--ignore-index", "-100", "--worst", "2", "--format", "table")
    assert table.exit_code == 0 and "KL bound" in table.stdout and "lower bound" in table.stdout
    # without --ignore-index the stored -100 targets are bad data, located, with the hint
    result = invoke("--base", ref, "--test", p["a"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "ref.safetensors" in result.stderr and "--ignore-index -100" in result.stderr
    # a test of another vocabulary than the reference's
    wide = save(tmp_path, "wide.npy", np.concatenate([tests["a"], tests["a"][..., :2]], axis=-1))
    result = invoke("--base", ref, "--test", wide, "--ignore-index", "-100")
    assert result.exit_code == 1 and result.stdout == "" and "wide.npy" in result.stderr and "11" in result.stderr


# ----------------------------------------------------------------------------------------------
# --bootstrap
# ----------------------------------------------------------------------------------------------

def test_bootstrap_is_deterministic_and_brackets_the_mean(tmp_path):
    base, tests, ids = dataset("plain", seed=13)
    p = files(tmp_path, base, tests, ids)
    args = ["--base", p["base"], "--test", f"a={p['a']}", "--targets", p["ids"], "--bootstrap", "300", "--block", "2"]
    one, again = run_json(*args, "--seed", "1"), run_json(*args, "--seed", "1")
    other = run_json(*args, "--seed", "2")
    for key, centre in (("kl", "mean"), ("ln_ppl_ratio", "value"), ("same_top1", "value")):
        ci, ci_again, ci_other = (d["tests"]["a"][key]["ci95"] for d in (one, again, other))
        assert ci == ci_again
        if key != "same_top1":  # a share of 24 tokens takes few values: its interval may not move
            assert ci != ci_other
        assert ci[0] < one["tests"]["a"][key][centre] < ci[1]
    assert "ci95" not in one["tests"]["a"]["kl_reverse"]
    # without --bootstrap, no ci95
    assert "ci95" not in run_json(*args[:6])["tests"]["a"]["kl"]


def test_bootstrap_beyond_its_bound_is_a_wrong_call(tmp_path):
    # --bootstrap 100000000 on 17 tokens took 3.2 GB (MemoryError under a ulimit: an internal error)
    base, tests, ids = dataset("plain", seed=9)
    p = files(tmp_path, base, tests, ids)
    result = invoke("--base", p["base"], "--test", p["a"], "--bootstrap", "100001")
    assert result.exit_code == 2 and result.stdout == ""
    assert "--bootstrap" in result.stderr and "100000" in result.stderr
    assert "at most 100,000" in " ".join(invoke("--help").stdout.split())
    doc = run_json("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--bootstrap", "100000")
    lo, hi = doc["tests"]["a"]["kl"]["ci95"]
    assert lo <= doc["tests"]["a"]["kl"]["mean"] <= hi


def test_bootstrap_resamples_whole_sequences(tmp_path):
    """Sequences whose tokens all have the same KL: a (B,T,V) input resampled by rows gives
    resample means in {a, (a+b)/2, b} only, so ci95 = [min, max] of the two sequences' KLs exactly.
    With --shift the sequences are T - 1 scored tokens long (a grouping by T would mix them)."""
    rng = np.random.default_rng(17)
    zb0, zb1, zt0, zt1 = rng.normal(size=(4, 6))
    base = np.array([[zb0] * 5, [zb1] * 5])
    test = np.array([[zt0] * 5, [zt1] * 5])
    p = files(tmp_path, base, {"t": test})
    kls = [float(plogratio(np.exp(log_softmax(b)), log_softmax(b), log_softmax(t)))
           for b, t in ((zb0, zt0), (zb1, zt1))]
    for shift in ([], ["--shift"]):
        doc = run_json("--base", p["base"], "--test", p["t"], "--bootstrap", "400", "--seed", "3", *shift)
        lo, hi = doc["tests"]["t"]["kl"]["ci95"]
        assert_close(lo, min(kls))
        assert_close(hi, max(kls))
    # one sequence: every resample would be that sequence, an interval of width 0; none is given, and said
    p1 = files(tmp_path, base[:1], {"t": test[:1]})
    for args in ([p1["base"], "--test", p1["t"]], [p["base"], "--test", p["t"], "--block", "1000"]):
        out = invoke("--base", *args, "--bootstrap", "50", "--format", "json")
        assert out.exit_code == 0, out.output
        assert "ci95" not in json.loads(out.stdout)["tests"]["t"]["kl"]
        assert "are one sequence" in out.stderr and "no ci95 is given" in out.stderr


# ----------------------------------------------------------------------------------------------
# --per-token and --worst
# ----------------------------------------------------------------------------------------------

def read_table(path):
    ext = path.suffix
    if ext == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if ext == ".tsv" else ",")


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet"])
def test_per_token_file(tmp_path, ext):
    base, tests, ids = dataset("plain", seed=19)
    ids = ids.copy()
    ids[2, 1] = -1
    p = files(tmp_path, base, tests, ids)
    out = tmp_path / f"tokens{ext}"
    doc = run_json("--base", p["base"], "--test", f"a={p['a']}", "--test", f"b={p['b']}", "--targets", p["ids"],
                   "--ignore-index", "-1", "--per-token", out)
    table = read_table(out)
    assert list(table.columns) == ["index", "sequence", "position", "target", "nll_base", "nll_a", "nll_b", "kl_a",
                                   "kl_b", "delta_p_a", "delta_p_b", "top1_base", "top1_a", "top1_b", "tvd_a", "tvd_b"]
    keep = ids.reshape(-1) != -1
    assert table["index"].tolist() == list(range(keep.sum()))  # the 0-based scored-token index
    sequence, position = np.divmod(np.arange(B * T), T)  # each row of the (B, T, V) input
    assert table["sequence"].tolist() == sequence[keep].tolist()
    assert table["position"].tolist() == position[keep].tolist()
    assert table["target"].tolist() == ids.reshape(-1)[keep].tolist()
    _, per = reference_doc(flat(base), {k: flat(v) for k, v in tests.items()}, ids.reshape(-1), keep=keep)
    for name in ("a", "b"):
        np.testing.assert_allclose(table[f"kl_{name}"], per[name]["kl"], rtol=1e-9)
        np.testing.assert_allclose(table[f"nll_{name}"], per[name]["nll_test"], rtol=1e-9)
        np.testing.assert_allclose(table[f"delta_p_{name}"], per[name]["delta_p"], rtol=1e-9, atol=1e-15)
        np.testing.assert_array_equal(table[f"top1_{name}"], per[name]["top1_test"])
        np.testing.assert_allclose(table[f"tvd_{name}"], per[name]["tvd"], rtol=1e-9, atol=1e-15)
        assert_close(table[f"kl_{name}"].mean(), doc["tests"][name]["kl"]["mean"])
        assert_close(table[f"nll_{name}"].mean(), doc["models"][name]["nll"]["mean"])
        assert_close(table[f"delta_p_{name}"].mean(), doc["tests"][name]["delta_p"]["mean"])
        assert_close(table[f"top1_{name}"].mean(), doc["models"][name]["top1_acc"]["value"])
    assert_close(table["nll_base"].mean(), doc["models"]["base"]["nll"]["mean"])
    assert_close(table["top1_base"].mean(), doc["models"]["base"]["top1_acc"]["value"])
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".") or "tmp" in f]

    # without targets: where the token is, and KL
    out2 = tmp_path / f"no_targets{ext}"
    run_json("--base", p["base"], "--test", f"a={p['a']}", "--per-token", out2)
    assert list(read_table(out2).columns) == ["index", "sequence", "position", "kl_a", "tvd_a"]


def test_per_token_is_atomic(tmp_path):
    base, tests, ids = dataset("plain", seed=23)
    bad = tests["a"].copy()
    bad[2, 3, 4] = np.nan
    p = files(tmp_path, base, {"a": bad}, ids)
    before = set(os.listdir(tmp_path))
    result = invoke("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--per-token", tmp_path / "t.csv",
                    "--output", tmp_path / "out.json")
    assert result.exit_code == 1 and result.stdout == ""
    assert set(os.listdir(tmp_path)) == before  # no per-token file, no output, no temp file
    # an existing file is left as it was
    (tmp_path / "t.csv").write_text("old\n")
    result = invoke("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--per-token", tmp_path / "t.csv")
    assert result.exit_code == 1 and (tmp_path / "t.csv").read_text() == "old\n"


def test_per_token_and_save_base_onto_dev_stdout_dev_null_and_a_fifo_are_written_through(tmp_path):
    # They were refused ("write it as .csv…") where -o writes through: a name without an extension is
    # csv, --save-base is always safetensors, and the bytes go out only once the run has succeeded.
    base, tests, ids = dataset("plain", seed=13)
    p = files(tmp_path, base, tests, ids)
    args = ["compare", "--base", p["base"], "--test", p["a"], "--targets", p["ids"]]
    regular = tmp_path / "tokens.csv"
    exact = run_json(*args[1:], "--per-token", regular)
    proc = run_process(*args, "--per-token", "/dev/stdout", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    table, _, doc = proc.stdout.decode().partition("\n{")
    assert table + "\n" == regular.read_text()
    assert json.loads("{" + doc) == exact
    assert invoke(*args[1:], "--per-token", "/dev/null", "--save-base", "/dev/null").exit_code == 0
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    bare = tmp_path / "tokens"  # no extension: csv, as -o writes it
    assert invoke(*args[1:], "--per-token", bare).exit_code == 0 and bare.read_text() == regular.read_text()

    fifo = tmp_path / "ref.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()))
    reader.start()
    proc = run_process(*args, "--save-base", fifo, "--format", "json")
    reader.join(60)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    saved = tmp_path / "saved.safetensors"
    saved.write_bytes(received[0])
    meta, t = read_safetensors(saved)
    lp = log_softmax(flat(base))
    np.testing.assert_allclose(t["target_logprob"], lp[np.arange(B * T), ids.reshape(-1)], rtol=2e-7)
    assert run_json("--base", saved, "--test", p["a"])["n"] == B * T

    # a run that fails after the pass began writes nothing there: -o's rule
    late = flat(tests["a"]).copy()
    late[-1, 0] = np.nan
    bad = save(tmp_path, "late.npy", late.reshape(tests["a"].shape))
    proc = run_process("compare", "--base", p["base"], "--test", bad, "--per-token", "/dev/stdout",
                       "--save-base", "/dev/stdout")
    assert proc.returncode == 1 and proc.stdout == b"" and proc.stderr.decode().startswith("Error: --test ")


def test_worst_tokens_are_the_largest_kl_in_order(tmp_path):
    base, tests, ids = dataset("plain", seed=29)
    p = files(tmp_path, base, tests, ids)
    doc = run_json("--base", p["base"], "--test", f"a={p['a']}", "--test", f"b={p['b']}", "--targets", p["ids"],
                   "--worst", "3")
    _, per = reference_doc(flat(base), {k: flat(v) for k, v in tests.items()}, ids.reshape(-1))
    lp, target = log_softmax(flat(base)), ids.reshape(-1)
    for name in ("a", "b"):
        worst = doc["tests"][name]["worst"]
        order = np.argsort(-per[name]["kl"], kind="stable")[:3]
        assert [w["index"] for w in worst] == order.tolist()
        kls = [w["kl"] for w in worst]
        assert kls == sorted(kls, reverse=True)
        lq = log_softmax(flat(tests[name]))
        for w in worst:
            i = w["index"]
            assert list(w) == ["index", "sequence", "position", "kl", "target", "p_target", "q_target"]
            assert (w["sequence"], w["position"]) == divmod(i, T)
            assert w["target"] == target[i]
            assert_close(w["kl"], per[name]["kl"][i])
            assert_close(w["p_target"], math.exp(lp[i, target[i]]))
            assert_close(w["q_target"], math.exp(lq[i, target[i]]))
    # without targets: index and kl only
    doc = run_json("--base", p["base"], "--test", f"a={p['a']}", "--worst", "2")
    assert [set(w) for w in doc["tests"]["a"]["worst"]] == [{"index", "sequence", "position", "kl"}] * 2
    # with ignored tokens: the index agrees with the --per-token file's
    ids2 = ids.copy()
    ids2[0, :4] = -100
    np.save(p["ids"], ids2)
    doc = run_json("--base", p["base"], "--test", f"a={p['a']}", "--targets", p["ids"], "--ignore-index", "-100",
                   "--worst", "3", "--per-token", tmp_path / "pt.csv")
    table = pd.read_csv(tmp_path / "pt.csv").set_index("index")
    for w in doc["tests"]["a"]["worst"]:
        assert table.loc[w["index"], "kl_a"] == w["kl"] and table.loc[w["index"], "target"] == w["target"]
        assert (table.loc[w["index"], "sequence"], table.loc[w["index"], "position"]) == (w["sequence"], w["position"])


# ----------------------------------------------------------------------------------------------
# csv / tsv / table, threads and block sizes
# ----------------------------------------------------------------------------------------------

def test_csv_computes_less_and_writes_the_same(tmp_path):
    # csv prints four numbers, so the JSD, entropies and top-K sets are not computed; the line, the
    # --per-token file and --worst's tokens are the JSON run's, byte for byte.
    base, tests, ids = dataset("masked", seed=32)
    p = files(tmp_path, base, tests, ids)
    args = ["--base", p["base"], "--test", f"a={p['a']}", "--targets", p["ids"], "--worst", "3", "--bootstrap", "20"]
    doc = run_json(*args, "--per-token", tmp_path / "json.csv")
    out = invoke(*args, "--per-token", tmp_path / "csv.csv", "--format", "csv")
    assert out.exit_code == 0, out.output
    t = doc["tests"]["a"]
    cis = [v for key in ("kl", "ln_ppl_ratio", "same_top1") for v in t[key]["ci95"]]
    assert out.stdout == "a" + ",%r" * 10 % (t["kl"]["mean"], t["kl"]["se"], t["ln_ppl_ratio"]["value"],
                                             t["same_top1"]["value"], *cis) + "\n"
    assert (tmp_path / "csv.csv").read_bytes() == (tmp_path / "json.csv").read_bytes()


def test_csv_tsv_and_table_output(tmp_path):
    base, tests, ids = dataset("plain", seed=31)
    p = files(tmp_path, base, tests, ids)
    args = ["--base", p["base"], "--test", f"a={p['a']}", "--test", f"b={p['b']}", "--targets", p["ids"]]
    doc = run_json(*args)
    for fmt, sep in (("csv", ","), ("tsv", "\t")):
        plain = invoke(*args, "--format", fmt)
        headed = invoke(*args, "--format", fmt, "--header")
        assert plain.exit_code == headed.exit_code == 0
        lines = plain.stdout.splitlines()
        header = sep.join(["name", "kl_mean", "kl_se", "ln_ppl_ratio", "same_top1"])
        assert headed.stdout.splitlines() == [header] + lines
        assert len(lines) == 2
        for line, name in zip(lines, ("a", "b")):
            cells = line.split(sep)
            t = doc["tests"][name]
            assert cells[0] == name
            assert [float(c) for c in cells[1:]] == [t["kl"]["mean"], t["kl"]["se"], t["ln_ppl_ratio"]["value"],
                                                     t["same_top1"]["value"]]
    table = invoke(*args, "--format", "table")
    assert table.exit_code == 0
    text = table.stdout
    header = next(line for line in text.splitlines() if "statistic" in line)
    assert header.split()[1:] == ["base", "a", "b"]
    assert "█" in text and "KL(base‖a)" in text and "KL(base‖b)" in text
    assert "±" in text and "perplexity" in text


def _cli_json(args, env):
    out = run_process("compare", *args, "--format", "json", env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_identical_whatever_threads_and_block_size(tmp_path, monkeypatch):
    base, tests, ids = dataset("masked", seed=37)
    p = files(tmp_path, base, tests, ids)
    args = ["--base", p["base"], "--test", f"a={p['a']}", "--test", f"b={p['b']}", "--targets", p["ids"],
            "--bootstrap", "50", "--worst", "4"]
    one = _cli_json(args, {"XENT_THREADS": "1"})
    two = _cli_json(args, {"XENT_THREADS": "2"})
    assert one == two
    # in-process, blocks of 1, 3 and 5 rows (the engine caps a block at BLOCK_ELEMENTS rows), 1 or 3 threads
    import xentcli.engine.base as engine

    for rows, threads in ((1, "3"), (3, "1"), (5, "3")):
        monkeypatch.setattr(engine, "BLOCK_ELEMENTS", rows)
        monkeypatch.setenv("XENT_THREADS", threads)
        result = invoke(*args, "--format", "json")
        assert result.exit_code == 0 and result.stdout.encode() == one


def test_sequence_and_position_with_shift_in_per_token_and_worst(tmp_path):
    """(B, T, V) inputs with --shift: the position is the scored logits row's (its target is token
    position + 1 of the sequence); a flat (N, V) input has no sequences, so no such columns."""
    base, tests, ids = dataset("plain", seed=61)
    p = files(tmp_path, base, tests, ids)
    out = tmp_path / "t.parquet"
    doc = run_json("--base", p["base"], "--test", f"a={p['a']}", "--targets", p["ids"], "--shift", "--worst", "4",
                   "--per-token", out)
    table = pd.read_parquet(out)
    sequence, position = np.divmod(np.arange(B * (T - 1)), T - 1)
    assert table["sequence"].tolist() == sequence.tolist() and table["position"].tolist() == position.tolist()
    assert table["target"].tolist() == ids[sequence, position + 1].tolist()
    kl = ref_tokens(flat(base[:, :-1]), flat(tests["a"][:, :-1]), ids[:, 1:].reshape(-1), 5)["kl"]
    for w in doc["tests"]["a"]["worst"]:
        b, t = w["sequence"], w["position"]
        assert_close(w["kl"], kl[b * (T - 1) + t]) and w["target"] == ids[b, t + 1] and w["index"] == b * (T - 1) + t
    table = invoke("--base", p["base"], "--test", f"a={p['a']}", "--targets", p["ids"], "--shift", "--worst", "4",
                   "--format", "table")
    assert table.exit_code == 0 and re.search(r"index\s+sequence\s+position\s+kl", table.stdout)
    # flat (N, V): no sequences
    q = files(tmp_path, flat(base), {"a": flat(tests["a"])}, ids.reshape(-1))
    doc = run_json("--base", q["base"], "--test", f"a={q['a']}", "--targets", q["ids"], "--worst", "2",
                   "--per-token", tmp_path / "f.csv")
    assert list(doc["tests"]["a"]["worst"][0]) == ["index", "kl", "target", "p_target", "q_target"]
    assert list(pd.read_csv(tmp_path / "f.csv").columns)[:2] == ["index", "target"]


def test_ci95_in_csv_and_parquet_with_bootstrap(tmp_path):
    """Was JSON-only: csv and Parquet add the ends of each ci95 (kl, ln_ppl_ratio, same_top1), named by
    --header; NaN for a statistic without one; absent without --bootstrap. The interval is checked
    against the block bootstrap written out here: whole sequences drawn by NumPy's multinomial."""
    base, tests, ids = dataset("plain", seed=67)
    p = files(tmp_path, base, tests, ids)
    args = ["--base", p["base"], "--test", f"a={p['a']}", "--test", f"b={p['b']}", "--bootstrap", "200",
            "--seed", "5"]
    headed = invoke(*args, "--targets", p["ids"], "--format", "csv", "--header")
    assert headed.exit_code == 0, headed.output
    lines = [line.split(",") for line in headed.stdout.splitlines()]
    assert lines[0] == ["name", "kl_mean", "kl_se", "ln_ppl_ratio", "same_top1", "kl_ci95_lo", "kl_ci95_hi",
                        "ln_ppl_ratio_ci95_lo", "ln_ppl_ratio_ci95_hi", "same_top1_ci95_lo", "same_top1_ci95_hi"]
    assert [len(line) for line in lines] == [11, 11, 11]
    _, per = reference_doc(flat(base), {k: flat(v) for k, v in tests.items()}, ids.reshape(-1))
    draws = np.random.default_rng(5).multinomial(B, np.full(B, 1 / B), size=200)
    for line, name in zip(lines[1:], ("a", "b")):
        t = per[name]
        for column, values in (("kl", t["kl"]), ("ln_ppl_ratio", t["nll_test"] - t["nll_base"]),
                               ("same_top1", t["same_top1"].astype(float))):
            means = draws @ values.reshape(B, T).sum(1) / (draws.sum(1) * T)
            lo, hi = np.percentile(means, [2.5, 97.5])
            got = [float(line[lines[0].index(f"{column}_ci95_{end}")]) for end in ("lo", "hi")]
            np.testing.assert_allclose(got, [lo, hi], rtol=1e-9, atol=1e-15)
    out = tmp_path / "out.parquet"
    assert invoke(*args, "--targets", p["ids"], "-o", out).exit_code == 0
    frame = pd.read_parquet(out)
    assert list(frame.columns) == lines[0]
    np.testing.assert_allclose(frame.iloc[:, 1:].to_numpy(), [[float(c) for c in line[1:]] for line in lines[1:]],
                               rtol=1e-15)
    # without targets ln_ppl_ratio has no interval: NaN, the same columns; without --bootstrap: none
    plain = invoke(*args, "--format", "csv").stdout.splitlines()
    assert [len(line.split(",")) for line in plain] == [11, 11]
    assert plain[0].split(",")[7:9] == ["nan", "nan"] and "nan" not in plain[0].split(",")[5:7]
    assert [len(line.split(",")) for line in invoke(*args[:6], "--format", "csv").stdout.splitlines()] == [5, 5]


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------

def test_compare_wrong_calls_are_one_error_line_and_no_stdout(tmp_path):
    base, tests, ids = dataset("plain", seed=41)
    p = files(tmp_path, base, tests, ids)

    def fails(code, *args, says=()):
        result = invoke(*args)
        assert result.exit_code == code, (args, result.stderr)
        assert result.stdout == ""
        assert result.stderr.startswith("Error:")
        for s in says:
            assert s in result.stderr, (s, result.stderr)
        return result

    # shape mismatch: both shapes named
    short = save(tmp_path, "short.npy", tests["a"][:2])
    fails(1, "--base", p["base"], "--test", short, says=("(2, 8, 11)", "(3, 8, 11)", "short.npy"))
    # vocabularies of different size
    wide = save(tmp_path, "wide.npy", np.concatenate([tests["a"], tests["a"][..., :1]], axis=-1))
    fails(1, "--base", p["base"], "--test", wide, says=("wide.npy", "12", "11"))
    # no --test
    fails(2, "--base", p["base"], says=("--test",))
    fails(2, "--test", p["a"], says=("--base",))
    # two tests of one name; a test named base
    fails(2, "--base", p["base"], "--test", f"x={p['a']}", "--test", f"x={p['b']}", says=("'x'",))
    fails(2, "--base", p["base"], "--test", p["a"], "--test", tmp_path / "a.npy", says=("'a'",))
    fails(2, "--base", p["base"], "--test", f"base={p['a']}", says=("base",))
    # a bad row of a test file: its file and row (text: the line and column; NPY: the 1-based row)
    base2 = save(tmp_path, "base2.npy", flat(base))
    rows = flat(tests["b"]).copy()
    np.savetxt(tmp_path / "b.csv", rows, delimiter=",")
    lines = (tmp_path / "b.csv").read_text().splitlines()
    cells = lines[4].split(",")
    cells[2] = "oops"
    lines[4] = ",".join(cells)
    (tmp_path / "b.csv").write_text("\n".join(lines) + "\n")
    fails(1, "--base", base2, "--test", tmp_path / "b.csv", says=("--test", "b.csv", "line 5, column 3", "oops"))
    nan_rows = rows.copy()
    nan_rows[6, 2] = np.nan
    fails(1, "--base", base2, "--test", save(tmp_path, "nanny.npy", nan_rows),
          says=("--test", "nanny.npy: row 7", "nan"))
    # a --test file that does not exist: a wrong call naming it
    fails(2, "--base", p["base"], "--test", tmp_path / "missing.npy", says=("missing.npy",))
    # --per-token of an unsupported kind, before anything is read
    fails(2, "--base", p["base"], "--test", p["a"], "--per-token", tmp_path / "x.xlsx", says=("--per-token",))
    assert not (tmp_path / "x.xlsx").exists()
    # targets of the wrong length
    fails(1, "--base", p["base"], "--test", p["a"], "--targets", save(tmp_path, "few.npy", ids[:, :3]))
    # every target ignored
    fails(2, "--base", p["base"], "--test", p["a"], "--targets", save(tmp_path, "none.npy", np.full((B, T), -100)),
          "--ignore-index", "-100")


def test_kld_base_however_it_comes(tmp_path):
    # llama.cpp's file by its name, without an extension, and on stdin: read as llama.cpp reads it each time.
    rng = np.random.default_rng(41)
    n_ctx, n_chunk, v = 8, 2, 7
    n = n_chunk * (n_ctx - 1 - n_ctx // 2)
    base_logits = rng.normal(size=(n, v)) * 6
    kld = tmp_path / "base.kld"
    build_kld(kld, base_logits, rng.integers(0, v, n_chunk * n_ctx), n_ctx)
    np.save(tmp_path / "q.npy", base_logits + rng.normal(size=(n, v)))
    (tmp_path / "noext").write_bytes(kld.read_bytes())
    named = run_json("--base", kld, "--test", f"q={tmp_path / 'q.npy'}")
    assert "kl_reverse" not in named["tests"]["q"]  # llama.cpp's reading: no reverse KL from a floored base
    assert run_json("--base", tmp_path / "noext", "--test", f"q={tmp_path / 'q.npy'}") == named
    piped = run_process("compare", "--base", "-", "--test", f"q={tmp_path / 'q.npy'}", "--format", "json",
                        input=kld.read_bytes())
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout) == named


def test_test_of_another_layout_is_bad_data(tmp_path):
    rng = np.random.default_rng(42)
    np.save(tmp_path / "b.npy", rng.normal(size=(4, 6, 5)))
    np.save(tmp_path / "t.npy", rng.normal(size=(8, 3, 5)))  # the same 24 rows, other sequences
    out = invoke("--base", tmp_path / "b.npy", "--test", tmp_path / "t.npy")
    assert out.exit_code == 1 and out.stdout == ""
    assert "(8, 3, 5)" in out.stderr and "(4, 6, 5)" in out.stderr


def test_saved_reference_refuses_other_targets_or_per_token_without_them(tmp_path):
    base, tests, ids = dataset("plain", seed=43)
    p = files(tmp_path, base, tests, ids)
    with_t, without_t = tmp_path / "with.safetensors", tmp_path / "without.safetensors"
    run_json("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--save-base", with_t)
    run_json("--base", p["base"], "--test", p["a"], "--save-base", without_t)
    same = run_json("--base", with_t, "--test", p["a"], "--targets", p["ids"])
    assert same == run_json("--base", with_t, "--test", p["a"])  # its own targets, given again: the same run
    other = np.load(p["ids"])
    other.reshape(-1)[3] = (other.reshape(-1)[3] + 1) % base.shape[-1]
    np.save(tmp_path / "other.npy", other)
    out = invoke("--base", with_t, "--test", p["a"], "--targets", tmp_path / "other.npy")
    assert out.exit_code == 1 and out.stdout == "" and "first at token 3" in out.stderr
    out = invoke("--base", without_t, "--test", p["a"], "--targets", p["ids"], "--per-token", tmp_path / "x.csv")
    assert out.exit_code == 2 and "saved without targets" in out.stderr and not (tmp_path / "x.csv").exists()


def test_output_files_names_and_headers(tmp_path):
    base, tests, ids = dataset("plain", seed=44)
    p = files(tmp_path, base, tests, ids)
    doc = run_json("--base", p["base"], "--test", f"a,b={p['a']}", "--targets", p["ids"])
    t = doc["tests"]["a,b"]
    numbers = [t["kl"]["mean"], t["kl"]["se"], t["ln_ppl_ratio"]["value"], t["same_top1"]["value"]]
    # a name with the delimiter is quoted, as the csv module reads it back
    out = invoke("--base", p["base"], "--test", f"a,b={p['a']}", "--targets", p["ids"], "--format", "csv")

    row = next(csv.reader(io.StringIO(out.stdout)))
    assert row[0] == "a,b" and [float(x) for x in row[1:]] == numbers
    # Parquet: the names as a first column, every column named as --header names it
    out = invoke("--base", p["base"], "--test", f"a,b={p['a']}", "--targets", p["ids"], "-o", tmp_path / "c.parquet")
    assert out.exit_code == 0, out.output
    frame = pd.read_parquet(tmp_path / "c.parquet")
    assert list(frame.columns) == ["name", "kl_mean", "kl_se", "ln_ppl_ratio", "same_top1"]
    assert frame["name"].tolist() == ["a,b"] and frame.iloc[0, 1:].tolist() == numbers
    # -o - is stdout; two outputs naming one file are a wrong call, and nothing is written
    assert invoke("--base", p["base"], "--test", p["a"], "-o", "-").stdout.startswith("a,")
    out = invoke("--base", p["base"], "--test", p["a"], "-o", tmp_path / "s.csv", "--per-token", tmp_path / "s.csv")
    assert out.exit_code == 2 and "name the same file" in out.stderr and not (tmp_path / "s.csv").exists()
    out = invoke("--base", p["base"], "--test", p["a"], "--per-token", "/proc/x.csv")
    assert out.exit_code == 2 and out.stderr.startswith("Error: --per-token /proc/x.csv")
    # a saved reference's KL is a lower bound, in the csv header too
    run_json("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--save-base", tmp_path / "r.safetensors")
    out = invoke("--base", tmp_path / "r.safetensors", "--test", p["a"], "--format", "csv", "--header")
    assert out.stdout.splitlines()[0] == "name,kl_lower_bound_mean,kl_lower_bound_se,ln_ppl_ratio,same_top1"


def test_two_tests_on_stdin_are_named_as_the_option(tmp_path):
    out = invoke("--base", "-", "--test", "-")
    assert out.exit_code == 2 and "--base and --test both read it" in out.stderr
    np.save(tmp_path / "b.npy", np.zeros((2, 3)))
    out = invoke("--base", tmp_path / "b.npy", "--test", "-", "--test", "-")
    assert out.exit_code == 2 and "--test is '-' 2 times" in out.stderr


def test_an_empty_test_name_is_a_wrong_call(tmp_path):
    np.save(tmp_path / "b.npy", np.zeros((2, 3)))
    out = invoke("--base", tmp_path / "b.npy", "--test", f"={tmp_path / 'b.npy'}")
    assert out.exit_code == 2 and "the name before '=' is empty" in out.stderr


def test_top_k_above_the_vocabulary_is_said(tmp_path):
    rng = np.random.default_rng(45)
    np.save(tmp_path / "b.npy", rng.normal(size=(6, 4)))
    np.save(tmp_path / "t.npy", rng.normal(size=(6, 4)))
    out = invoke("--base", tmp_path / "b.npy", "--test", tmp_path / "t.npy", "--top-k", "9", "--format", "json")
    assert out.exit_code == 0 and "--top-k 9 is more than the 4 classes: K = 4" in out.stderr
    assert json.loads(out.stdout)["tests"]["t"]["topk_overlap"]["value"] == 1.0
    # the default K over a smaller vocabulary is no choice of the user's: nothing to say
    out = invoke("--base", tmp_path / "b.npy", "--test", tmp_path / "t.npy", "--format", "json")
    assert out.exit_code == 0 and out.stderr == "" and json.loads(out.stdout)["top_k"] == 4


def test_reference_base_of_other_length_names_its_tokens(tmp_path):
    base, tests, ids = dataset("plain", seed=46)
    p = files(tmp_path, base, tests, ids)
    run_json("--base", p["base"], "--test", p["a"], "--save-base", tmp_path / "r.safetensors")
    np.save(tmp_path / "short.npy", flat(tests["a"])[:-1])
    out = invoke("--base", tmp_path / "r.safetensors", "--test", tmp_path / "short.npy")
    n = len(flat(base))
    assert out.exit_code == 1 and f"has {n} tokens (a saved reference of vocabulary {base.shape[-1]})" in out.stderr


def test_bytes_without_targets_is_said(tmp_path):
    rng = np.random.default_rng(48)
    np.save(tmp_path / "b.npy", rng.normal(size=(6, 4)))
    out = invoke("--base", tmp_path / "b.npy", "--test", tmp_path / "b.npy", "--bytes", "100", "--format", "json")
    assert out.exit_code == 0 and "--bytes: bits per byte come from the NLL, which needs targets" in out.stderr
    assert "bits_per_byte" not in json.loads(out.stdout)["models"]["base"]


def test_per_token_header_quotes_names_and_shifted_reference_takes_raw_targets(tmp_path):
    base, tests, ids = dataset("plain", seed=49)
    p = files(tmp_path, base, tests, ids)
    # a test name with a comma: the per-token header is quoted, so the columns read back where they belong
    run_json("--base", p["base"], "--test", f"a,b={p['a']}", "--targets", p["ids"], "--per-token", tmp_path / "t.csv")
    table = pd.read_csv(tmp_path / "t.csv")
    assert list(table.columns) == ["index", "sequence", "position", "target", "nll_base", "nll_a,b", "kl_a,b",
                                   "delta_p_a,b", "top1_base", "top1_a,b", "tvd_a,b"]
    assert (table["kl_a,b"] >= 0).all() and set(table["top1_a,b"]) <= {0, 1}
    # a reference saved with --shift and --targets: the same raw (B, T) targets, shifted like the test, are its own
    ref = tmp_path / "ref.safetensors"
    exact = run_json("--base", p["base"], "--test", p["a"], "--targets", p["ids"], "--shift", "--save-base", ref)
    again = run_json("--base", ref, "--test", p["a"], "--shift", "--targets", p["ids"])
    assert_close(again["models"]["a"], exact["models"]["a"])
    other = np.load(p["ids"])
    other[0, 3] = (other[0, 3] + 1) % base.shape[-1]  # the shifted stream's token 2
    np.save(tmp_path / "other.npy", other)
    out = invoke("--base", ref, "--test", p["a"], "--shift", "--targets", tmp_path / "other.npy")
    assert out.exit_code == 1 and "first at token 2" in out.stderr
