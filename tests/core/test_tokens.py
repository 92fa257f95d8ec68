"""Per-token statistics of ``xent compare`` (xentcli/core/tokens/).

Expected values come from mpmath at 60 digits on the very float64 inputs, from
PyTorch numbers stored below with the lines that made them, from brute force
(sorting) written out here, or from re-implementations of llama.cpp's loops
written out here; never from the code under test.
"""

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from xentcli import core
from xentcli.core.tokens import KLD_LOGPROB_FLOOR, kld_token_stats, reference_token_stats, token_stats, topk_logprobs

INF = np.inf


# -- references -----------------------------------------------------------------------------------

@mpmath.workdps(60)
def exact_row(zb, zt, k=None) -> dict:
    """kl, kl_reverse, jsd (bits), entropies and NLLs of one pair of logit rows (-inf masked), at 60 digits."""
    def dist(z):
        e = [mpmath.exp(mpmath.mpf(float(v))) if v != -INF else mpmath.mpf(0) for v in z]
        s = sum(e)
        return [x / s for x in e]

    def kl(a, b):
        total = mpmath.mpf(0)
        for x, y in zip(a, b):
            if x > 0:
                if y == 0:
                    return mpmath.inf
                total += x * mpmath.log(x / y)
        return total

    p, q = dist(zb), dist(zt)
    m = [(x + y) / 2 for x, y in zip(p, q)]
    out = {
        "kl": kl(p, q), "kl_reverse": kl(q, p),
        "jsd": (kl(p, m) + kl(q, m)) / 2 / mpmath.log(2),
        "entropy_base": -sum(x * mpmath.log(x) for x in p if x > 0),
        "entropy_test": -sum(x * mpmath.log(x) for x in q if x > 0),
    }
    if k is not None:
        out["nll_base"] = -mpmath.log(p[k]) if p[k] > 0 else mpmath.inf
        out["nll_test"] = -mpmath.log(q[k]) if q[k] > 0 else mpmath.inf
        out["p_target"], out["q_target"], out["delta_p"] = p[k], q[k], q[k] - p[k]
    return out


def assert_close(got, exact, rel, abs_=0.0, what=""):
    if exact == mpmath.inf:
        assert got == INF, what
        return
    err = abs(mpmath.mpf(float(got)) - exact)
    assert err <= max(rel * abs(exact), abs_), (what, float(got), float(exact))


def stable_topk(row, k):
    """The first k ids of a stable descending sort: ties go to the lower id (the documented rule)."""
    return sorted(range(len(row)), key=lambda c: (-row[c], c))[:k]


# -- token_stats --------------------------------------------------------------------------------------

#: PyTorch 2.13 (float64), made by:
#:   zb, zt = torch.tensor(ZB, dtype=torch.float64), torch.tensor(ZT, dtype=torch.float64)
#:   lb, lt = zb.log_softmax(-1), zt.log_softmax(-1)
#:   F.kl_div(lt, lb, reduction='none', log_target=True).sum(-1)   # kl
#:   F.kl_div(lb, lt, reduction='none', log_target=True).sum(-1)   # kl_reverse
#:   F.cross_entropy(zb, torch.tensor(K), reduction='none')        # nll_base (zt: nll_test)
#:   -(lb.exp() * lb).sum(-1)                                      # entropy_base
ZB = [[2.0, -1.0, 0.5, 3.0, -2.0], [0.0, 0.0, 0.0, 0.0, 0.0], [10.0, -10.0, 5.0, 4.5, 0.0]]
ZT = [[1.5, -0.5, 0.5, 3.5, -3.0], [1.0, -1.0, 0.0, 2.0, 0.5], [9.0, -9.0, 6.0, 4.0, 1.0]]
K = [3, 2, 0]
TORCH = {
    "kl": [0.08184464081710818, 0.4650000271936958, 0.02904902427294526],
    "kl_reverse": [0.06739122236164578, 0.402948704812073, 0.05354824294775828],
    "nll_base": [0.38867021051925255, 1.6094379124341003, 0.010811465345127518],
    "nll_test": [0.18643095969175189, 2.574437939627796, 0.0553027144734466],
    "entropy_base": [0.8497115106529157, 1.6094379124341005, 0.06682362485349021],
}


def test_matches_stored_pytorch_numbers():
    s = token_stats(ZB, ZT, K)
    for key, expected in TORCH.items():
        np.testing.assert_allclose(s[key], expected, rtol=1e-13, err_msg=key)


def test_keys_shapes_and_dtypes():
    rng = np.random.default_rng(0)
    zb, zt = rng.normal(size=(7, 11)), rng.normal(size=(7, 11))
    s = token_stats(zb, zt, rng.integers(0, 11, 7))
    assert set(s) == {"kl", "kl_reverse", "jsd", "entropy_base", "entropy_test", "top1_base", "top1_test",
                      "same_top1", "topk_overlap", "nll_base", "nll_test", "p_target", "q_target", "delta_p",
                      "in_topk_base", "in_topk_test", "top1_correct_base", "top1_correct_test", "tvd"}
    for key, v in s.items():
        assert v.shape == (7,), key
        assert v.dtype == (np.int64 if key.startswith("top1_") and "correct" not in key else np.float64), key
    assert "nll_base" not in token_stats(zb, zt)


@pytest.mark.parametrize("scale", [0.1, 1.0, 5.0, 40.0])
def test_random_rows_against_mpmath(scale):
    rng = np.random.default_rng(int(scale * 10))
    zb = rng.normal(0, scale, size=(6, 7))
    zt = zb + rng.normal(0, scale, size=zb.shape)
    k = rng.integers(0, 7, 6)
    s = token_stats(zb, zt, k)
    for r in range(6):
        ex = exact_row(zb[r], zt[r], int(k[r]))
        for key, value in ex.items():
            assert_close(s[key][r], value, 1e-12, 1e-300, key)


def test_extreme_and_masked_rows_against_mpmath():
    zb = np.array([[1e4, -1e4, 0.0, 5e3], [0.0, -INF, 1.0, 2.0], [0.0, -INF, 1.0, 2.0],
                   [-INF, -INF, 3.0, 3.0], [0.0, 1.0, 1.0, 2.0], [-1e4, 1e4, -INF, 1e4]])
    zt = np.array([[-1e4, 1e4, 0.0, 5e3], [0.5, -INF, 1.0, 1.5], [0.5, 3.0, 1.0, 1.5],
                   [0.0, -INF, 3.0, 3.0], [0.5, -INF, 1.0, 1.5], [1e4, -1e4, -INF, 1e4]])
    k = np.array([1, 2, 3, 2, 0, 3])
    with np.errstate(divide="raise", over="raise", invalid="raise"):  # none may escape the core unhandled
        s = token_stats(zb, zt, k)
    for key, v in s.items():
        assert not np.isnan(v).any(), key
    for r in range(len(zb)):
        ex = exact_row(zb[r], zt[r], int(k[r]))
        for key, value in ex.items():
            assert_close(s[key][r], value, 1e-12, 1e-300, f"row {r} {key}")
    # Row 4: the test masks class 1, which the base gives mass: KL inf, the reverse finite.
    assert s["kl"][4] == INF and np.isfinite(s["kl_reverse"][4])
    # Row 2 and 3: the base masks a class the test gives mass: the reverse is inf, KL finite.
    assert s["kl_reverse"][2] == INF and np.isfinite(s["kl"][2])
    assert np.all(s["jsd"] <= 1.0 + 1e-15) and np.all(s["jsd"] >= 0)


@pytest.mark.parametrize("scale, target", [(4.5e-9, 1e-17), (4.5e-10, 1e-19)])
def test_nearly_equal_rows_keep_their_digits(scale, target):
    rng = np.random.default_rng(7)
    zb = rng.normal(0, 3, size=(4, 64))
    zt = zb + scale * rng.normal(size=zb.shape)
    s = token_stats(zb, zt)
    for key in ("kl", "kl_reverse", "jsd"):
        assert np.all(s[key] >= 0), key
    for r in range(4):
        ex = exact_row(zb[r], zt[r])
        assert target / 10 < ex["kl"] < target * 10
        for key in ("kl", "kl_reverse", "jsd"):
            assert_close(s[key][r], ex[key], 1e-6, 0.0, key)


def test_identical_rows_give_zero():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 9))
    z[:, 2] = -INF
    s = token_stats(z, z)
    for key in ("kl", "kl_reverse", "jsd"):
        assert s[key].tolist() == [0.0] * 5, key
    assert s["same_top1"].tolist() == [1.0] * 5 and s["topk_overlap"].tolist() == [1.0] * 5


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 9)), elements=st.floats(-50, 50)),
       st.floats(0, 1e-3), st.integers(0, 2**32 - 1))
def test_token_divergences_and_entropies_are_never_negative(zb, scale, seed):
    rng = np.random.default_rng(seed)
    for zt in (zb + scale * rng.normal(size=zb.shape), rng.permutation(zb, axis=-1), zb):
        s = token_stats(zb, zt)
        for key in ("kl", "kl_reverse", "jsd", "entropy_base", "entropy_test"):
            assert np.all(s[key] >= 0), key


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_low_precision_inputs_are_computed_in_float64(dtype):
    rng = np.random.default_rng(5)
    zb, zt = rng.normal(0, 3, (8, 40)).astype(dtype), rng.normal(0, 3, (8, 40)).astype(dtype)
    k = rng.integers(0, 40, 8)
    got, ref = token_stats(zb, zt, k), token_stats(zb.astype(np.float64), zt.astype(np.float64), k)
    for key in got:
        np.testing.assert_array_equal(got[key], ref[key], err_msg=key)


def test_top1_and_topk_by_brute_force_with_ties():
    # Small integer logits: many ties, also at the K-th place; -inf ties when fewer than K classes are left.
    rng = np.random.default_rng(11)
    zb = rng.integers(0, 4, size=(300, 8)).astype(np.float64)
    zt = rng.integers(0, 4, size=(300, 8)).astype(np.float64)
    zb[:20, 2:] = -INF
    zt[10:30, :5] = -INF
    k = rng.integers(0, 8, 300)
    for top_k in (1, 3, 5, 8, 20):
        s = token_stats(zb, zt, k, top_k=top_k)
        kk = min(top_k, 8)
        for r in range(300):
            tb, tt = stable_topk(zb[r].tolist(), kk), stable_topk(zt[r].tolist(), kk)
            assert s["top1_base"][r] == tb[0] == list(zb[r]).index(max(zb[r]))
            assert s["top1_test"][r] == tt[0]
            assert s["same_top1"][r] == float(tb[0] == tt[0])
            assert s["topk_overlap"][r] == len(set(tb) & set(tt)) / kk
            assert s["in_topk_base"][r] == float(k[r] in tb) and s["in_topk_test"][r] == float(k[r] in tt)
            assert s["top1_correct_base"][r] == float(k[r] == tb[0])


def test_topk_large_vocabulary_matches_sorting():
    rng = np.random.default_rng(2)
    zb = rng.normal(size=(50, 3000)).astype(np.float32)
    zt = (zb + rng.normal(0, 0.5, zb.shape)).astype(np.float32)
    s = token_stats(zb, zt, top_k=10)
    for r in range(50):
        tb, tt = stable_topk(zb[r].tolist(), 10), stable_topk(zt[r].tolist(), 10)
        assert s["topk_overlap"][r] == len(set(tb) & set(tt)) / 10


@pytest.mark.parametrize("chunk", [2**12, 2**18])
def test_many_rows_span_several_chunks(monkeypatch, chunk):
    # Rows are processed in chunks inside one call; the result must not depend on it.
    from xentcli.core.tokens import rows

    monkeypatch.setattr(rows, "CHUNK_VALUES", chunk)
    rng = np.random.default_rng(8)
    zb, zt = rng.normal(size=(700, 300)), rng.normal(size=(700, 300))
    zb[400, 3] = -np.inf  # a row the exact kernel redoes, in a later chunk
    k = rng.integers(0, 300, 700)
    whole = token_stats(zb, zt, k)
    for lo, hi in ((0, 1), (100, 333), (650, 700), (390, 410)):
        part = token_stats(zb[lo:hi], zt[lo:hi], k[lo:hi])
        for key in whole:
            np.testing.assert_array_equal(whole[key][lo:hi], part[key], err_msg=key)


@pytest.mark.parametrize("keys", [("kl",), ("kl", "nll_base", "nll_test", "same_top1"), ("jsd",), ("entropy_test",),
                                  ("topk_overlap", "in_topk_base"), ("kl_reverse", "delta_p")])
def test_keys_leave_out_work_not_digits(keys):
    # What is asked for is bit-identical to the full run, also on rows the exact kernel redoes
    # (a masked class, a class far below the maximum) and rows with a tie at the K-th value.
    rng = np.random.default_rng(12)
    zb, zt = rng.normal(0, 3, (300, 64)), rng.normal(0, 3, (300, 64))
    zb[3, 5] = zt[4, 7] = -np.inf
    zb[5, 0] = -1e4
    zt[6, :8] = 9.0
    k = rng.integers(0, 64, 300)
    whole = token_stats(zb, zt, k)
    some = token_stats(zb, zt, k, keys=keys)
    assert set(keys) <= set(some)
    for key in some:
        np.testing.assert_array_equal(some[key], whole[key], err_msg=key)
    with pytest.raises(ValueError, match="unknown token statistic 'perplexity'"):
        token_stats(zb, zt, k, keys=("kl", "perplexity"))


def test_token_stats_refuse_other_shapes_out_of_range_ids_and_top_k_0():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        token_stats(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="out of range"):
        token_stats(np.zeros((2, 3)), np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="out of range"):
        token_stats(np.zeros((2, 3)), np.zeros((2, 3)), [-1, 0])
    with pytest.raises(ValueError, match="shape"):
        token_stats(np.zeros((2, 3)), np.zeros((2, 3)), [0])
    with pytest.raises(ValueError, match="top_k"):
        token_stats(np.zeros((2, 3)), np.zeros((2, 3)), top_k=0)


# -- llama.cpp .kld base -----------------------------------------------------------------------------------

def llama_encode(logits):
    """llama.cpp's .kld writer for one row, written out: perplexity.cpp,
    ``static double log_softmax(int n_vocab, const float * logits, uint16_t * log_prob, int tok)``:

        min_logit = std::max(min_logit, max_logit - 16);
        const float log_sum_exp = log(sum_exp);
        const float min_log_prob = min_logit - max_logit - log_sum_exp;
        const float scale = (max_logit - min_logit)/65535.f;
        log_prob[i] = logits[i] > min_logit ? nearest_int(inv_scale*(logits[i] - min_logit)) : 0;

    Returns the decoded float32 log-probabilities ``scale*u16 + min_log_prob``, as
    the reader hands them to kld_token_stats.
    """
    z = np.asarray(logits, dtype=np.float32)
    mx, mn = np.float32(z.max()), np.float32(max(z.min(), z.max() - np.float32(16)))
    sum_exp = float(np.sum(np.exp((z - mx).astype(np.float32)).astype(np.float64)))
    lse = np.float32(np.log(sum_exp))
    min_log_prob = np.float32(mn - mx - lse)
    scale = np.float32((mx - mn) / np.float32(65535))
    inv = np.float32(1) / scale
    u16 = np.where(z > mn, np.rint(inv * (z - mn)), 0).astype(np.uint16)
    return (scale * u16.astype(np.float32) + min_log_prob).astype(np.float32)


def llama_kld_row(base_lp, test_logits, tok):
    """llama.cpp's per-token KL step for one row, written out (perplexity.cpp,
    ``static std::pair<double, float> log_softmax(int n_vocab, const float * logits,
    const uint16_t * base_log_prob, int tok, kl_divergence_result & kld)``), in
    float64 where it uses float (xent's documented choice):

        if (logits[i] > max_logit) { max_logit = logits[i]; imax = i; }
        const float nll = max_logit + log_sum_exp - logits[tok];
        const float nll_base = -(scale*base_log_prob[tok] + min_log_prob);
        max_logit += log_sum_exp;
        if (i == 0 || p_log_base > p_log_base_max) { p_log_base_max = p_log_base; imax_base = i; }
        if (p_log_base > -16.f) { const float p_base = expf(p_log_base);
                                  sum += p_base * (p_log_base - logits[i] + max_logit); }
        if (imax == imax_base) ++kld.n_same_top;
        const float p_diff = expf(-nll) - expf(-nll_base);
    """
    z = [float(v) for v in test_logits]
    b = [float(v) for v in base_lp]
    max_logit, imax = z[0], 0
    for i in range(1, len(z)):
        if z[i] > max_logit:
            max_logit, imax = z[i], i
    log_sum_exp = float(np.log(sum(np.exp(v - max_logit) for v in z)))
    nll = max_logit + log_sum_exp - z[tok]
    nll_base = -b[tok]
    max_logit += log_sum_exp
    total, imax_base, p_log_base_max = 0.0, -1, 0.0
    for i in range(len(z)):
        if i == 0 or b[i] > p_log_base_max:
            p_log_base_max, imax_base = b[i], i
        if b[i] > -16.0:
            total += float(np.exp(b[i])) * (b[i] - z[i] + max_logit)
    return {"kl": total, "nll_base": nll_base, "nll_test": nll, "same_top1": float(imax == imax_base),
            "top1_base": imax_base, "top1_test": imax,
            "delta_p": float(np.exp(-nll)) - float(np.exp(-nll_base))}


def test_kld_kernel_matches_llama_cpp_loop():
    rng = np.random.default_rng(21)
    n, v = 40, 60
    base_logits = rng.normal(0, 4, (n, v)).astype(np.float32)
    base_logits[:5, :30] = base_logits[:5, :1]  # ties at the top of the base
    test = (base_logits + rng.normal(0, 0.5, (n, v))).astype(np.float32)
    test[5:8, 10:] = test[5:8, 10:11]  # ties at the top of the test
    lp = np.stack([llama_encode(row) for row in base_logits])
    assert (lp <= KLD_LOGPROB_FLOOR).any() and (lp > KLD_LOGPROB_FLOOR).any()  # both sides of the floor
    k = rng.integers(0, v, n)
    s = kld_token_stats(lp, test, k)
    assert "kl_reverse" not in s and "jsd" not in s
    for r in range(n):
        ref = llama_kld_row(lp[r], test[r], int(k[r]))
        for key in ("kl", "nll_base", "nll_test", "delta_p"):
            np.testing.assert_allclose(s[key][r], ref[key], rtol=1e-12, atol=1e-15, err_msg=f"row {r} {key}")
        for key in ("same_top1", "top1_base", "top1_test"):
            assert s[key][r] == ref[key], (r, key)


def test_kld_floor_and_not_renormalised():
    # Decoded log-probs taken at face value: a class at -16 exactly is not summed, one just above is;
    # the base sums to less than 1 and is not renormalised.
    lp = np.array([[np.log(0.5), np.log(0.25), -16.0, np.nextafter(-16.0, 0)]])
    z = np.zeros((1, 4))
    s = kld_token_stats(lp, z, [2])
    p = np.exp(lp[0])
    expected = sum(p[c] * (lp[0, c] - np.log(0.25)) for c in (0, 1, 3))
    assert s["kl"][0] == pytest.approx(expected, rel=1e-14)
    assert s["nll_base"][0] == 16.0 and s["p_target"][0] == pytest.approx(np.exp(-16.0), rel=1e-15)
    assert s["entropy_base"][0] == pytest.approx(-sum(p[c] * lp[0, c] for c in (0, 1, 3)), rel=1e-14)


# -- compact reference ---------------------------------------------------------------------------------------

@mpmath.workdps(60)
def test_topk_logprobs_against_mpmath():
    z = np.array([[3.0, 1.0, 2.0, 3.0, -INF, 0.5], [1e4, 0.0, -1e4, 5.0, 4.0, 3.0]])
    values, ids, tail, entropy = topk_logprobs(z, 3)
    assert ids.dtype == np.int32 and ids.tolist() == [[0, 3, 2], [0, 3, 4]]
    for r in range(2):
        e = [mpmath.exp(mpmath.mpf(float(v))) if v != -INF else mpmath.mpf(0) for v in z[r]]
        s = sum(e)
        for j, c in enumerate(ids[r]):
            assert_close(values[r, j], mpmath.log(e[c] / s), 1e-15, 1e-300)
        rest = sum(e[c] for c in range(6) if c not in ids[r]) / s
        assert_close(tail[r], mpmath.log(rest), 1e-14)
        assert_close(entropy[r], -sum((x / s) * mpmath.log(x / s) for x in e if x > 0), 1e-14, 1e-300)
    _, _, tail_all, _ = topk_logprobs(z, 10)
    assert tail_all.tolist() == [-INF, -INF]


def reference_of(zb, k):
    v, i, tail, _ = topk_logprobs(zb, k)
    return v, i, tail


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 12), st.integers(1, 12), st.floats(0.01, 20), st.floats(0, 3), st.integers(0, 2**32 - 1))
def test_kl_lower_bound_is_below_the_exact_kl(v, kk, scale, noise, seed):
    rng = np.random.default_rng(seed)
    zb = rng.normal(0, scale, (3, v))
    zt = zb + rng.normal(0, noise, (3, v))
    exact = core.kl_divergence_with_logits(zb, zt)
    lb = reference_token_stats(*reference_of(zb, kk), zt)["kl_lower_bound"]
    assert np.all(lb >= 0)
    assert np.all(lb <= exact * (1 + 1e-9) + 1e-15), (lb, exact)
    if kk >= v:  # nothing lumped: the bound is the KL itself
        np.testing.assert_allclose(lb, exact, rtol=1e-9, atol=1e-15)


def test_reference_against_mpmath_and_brute_force():
    rng = np.random.default_rng(31)
    zb = rng.normal(0, 3, (12, 9))
    zt = zb + rng.normal(0, 1, zb.shape)
    zt[0, np.argmax(zb[0])] = -INF  # the base's top class, stored with mass: the bound is inf
    k = rng.integers(0, 9, 12)
    v, i, tail = reference_of(zb, 4)
    target_lp = core.log_softmax(zb)[np.arange(12), k]
    s = reference_token_stats(v, i, tail, zt, k, target_lp)
    with mpmath.workdps(60):
        for r in range(12):
            eb = [mpmath.exp(mpmath.mpf(float(x))) for x in zb[r]]
            et = [mpmath.exp(mpmath.mpf(float(x))) if x != -INF else mpmath.mpf(0) for x in zt[r]]
            p = [x / sum(eb) for x in eb]
            q = [x / sum(et) for x in et]
            top = stable_topk(zb[r].tolist(), 4)
            pr, qr = 1 - sum(p[c] for c in top), sum(q[c] for c in range(9) if c not in top)
            bound = sum(p[c] * mpmath.log(p[c] / q[c]) if q[c] > 0 else mpmath.inf for c in top)
            bound += pr * mpmath.log(pr / qr)
            assert_close(s["kl_lower_bound"][r], bound, 1e-10, 1e-300, f"row {r}")
            assert s["top1_base"][r] == top[0]
            tt = stable_topk(zt[r].tolist(), 4)
            assert s["same_top1"][r] == float(top[0] == tt[0])
            assert s["topk_overlap"][r] == len(set(top) & set(tt)) / 4
            assert_close(s["nll_test"][r], -mpmath.log(q[k[r]]) if q[k[r]] > 0 else mpmath.inf, 1e-13)
            assert_close(s["delta_p"][r], q[k[r]] - p[k[r]], 1e-12, 1e-16)
            assert s["in_topk_base"][r] == float(k[r] in top)
    np.testing.assert_allclose(s["nll_base"], -target_lp, rtol=0)
    assert s["kl_lower_bound"][0] == INF


def test_saved_reference_refuses_other_shapes_and_bad_ids():
    v, i, tail = reference_of(np.zeros((2, 5)), 2)
    with pytest.raises(ValueError, match="shapes"):
        reference_token_stats(v, i, tail, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="both"):
        reference_token_stats(v, i, tail, np.zeros((2, 5)), [0, 1])
    with pytest.raises(ValueError, match="ids"):
        reference_token_stats(v, i + 5, tail, np.zeros((2, 5)))


# -- the fast kernel's series and fallbacks (xentcli/core/tokens/fast.py, series.py) -----------------------

@mpmath.workdps(60)
@pytest.mark.parametrize("d", [2.0**-5, -(2.0**-5), 0.9 * 2.0**-5, -0.03, 1e-3, -1e-3, 1e-9, -1e-9])
def test_small_d_series_against_mpmath(d):
    # φ(d) = e^{-d} - 1 + d and 2·J(d) = (1 + e^{-d})·G(d/2), G(h) = h·tanh h - log cosh h, at the threshold and below.
    from xentcli.core.tokens.series import JSD2_C, PHI_C, SMALL_D, horner
    assert abs(d) <= SMALL_D
    x = mpmath.mpf(d)
    phi = mpmath.exp(-x) - 1 + x
    h = x / 2
    jsd2 = (1 + mpmath.exp(-x)) * (h * mpmath.tanh(h) - mpmath.log(mpmath.cosh(h)))
    xs = np.array([d])
    for coeffs, exact in ((PHI_C, phi), (JSD2_C, jsd2)):
        got = horner(coeffs, xs, xs * xs)[0]
        assert abs(mpmath.mpf(float(got)) - exact) <= 2.0**-50 * abs(exact), (d, float(got), float(exact))


def test_rows_straddling_the_series_threshold_against_mpmath():
    # |d| just below and above 1/32 (series / closed forms), and larger: both sides of every branch in one row.
    rng = np.random.default_rng(41)
    zb = rng.normal(0, 2, size=(6, 40))
    offsets = np.array([2.0**-5 * (1 + s) for s in (-1e-3, 1e-3, -0.5, 0.5, 3.0, 30.0)])
    signs = rng.choice([-1.0, 1.0], size=(6, 40))
    zt = zb + signs * rng.choice(offsets, size=(6, 40))
    k = rng.integers(0, 40, 6)
    s = token_stats(zb, zt, k)
    for r in range(6):
        ex = exact_row(zb[r], zt[r], int(k[r]))
        for key, value in ex.items():
            assert_close(s[key][r], value, 1e-12, 1e-300, f"row {r} {key}")


def test_rows_the_fast_kernel_hands_to_the_exact_one():
    # A base class 800 below its row's maximum (p underflows, q does not), a reverse KL far below the forward one,
    # and a class only one side masks, next to plain rows: each against mpmath, the plain rows unaffected.
    zb = np.array([[0.0, -800.0, 1.0, 2.0], [30.0, 0.0, 0.0, 0.0], [0.0, -INF, 1.0, 2.0], [0.0, 0.5, 1.0, 2.0]])
    zt = np.array([[0.0, 5.0, 1.0, 2.0], [0.0, 30.0, 30.0, 30.0], [0.0, 1.0, 1.0, 2.0], [0.5, 0.5, 1.0, 1.5]])
    k = np.array([1, 0, 2, 3])
    with np.errstate(divide="raise", over="raise", invalid="raise"):
        s = token_stats(zb, zt, k)
    for r in range(len(zb)):
        ex = exact_row(zb[r], zt[r], int(k[r]))
        for key, value in ex.items():
            assert_close(s[key][r], value, 1e-12, 1e-300, f"row {r} {key}")
        alone = token_stats(zb[r:r + 1], zt[r:r + 1], k[r:r + 1])
        np.testing.assert_array_equal([s[key][r] for key in s], [v[0] for v in alone.values()])
