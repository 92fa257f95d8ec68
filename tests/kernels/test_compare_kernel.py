"""The compiled kernel's compare statistics (``kernels.token_stats``) against the NumPy reference
(``core.token_stats``) and, on hard rows, against mpmath: every key, every ISA the CPU offers.

Tolerances: 1e-13 relative, with absolute floors where a value is about 0 or where the reference
itself is known to be less exact (each floor says why).
"""

from __future__ import annotations

import numpy as np
import pytest

from xentcli import core, kernels
from xentcli.core.divergence import FAR_SHIFT
from xentcli.core.tokens import kernel_keys

module = kernels.compiled()
if module is None:
    pytest.skip("the compiled kernel is not built (or XENT_KERNEL=numpy)", allow_module_level=True)

RTOL = 1e-13
KEYS = kernel_keys("logits")
INT_KEYS = ("top1_base", "top1_test")


@pytest.fixture(params=module.isas())
def isa(request):
    previous = module.set_isa(request.param)
    yield request.param
    module.set_isa(previous)


def floors(ref: dict, zb, zt) -> dict:
    """Absolute floors per key (arrays per row where they scale with another value)."""
    with np.errstate(invalid="ignore", over="ignore"):
        mb, mt = np.max(np.asarray(zb, np.float64), axis=1), np.max(np.asarray(zt, np.float64), axis=1)
        # the reference's row constant (m_b - m_t) + (log s_b - log s_t) rounds to a few ulp of the maxima's
        # difference: every d moves by that, the TVD to first order, KL and JSD to second
        shift = np.where(np.isfinite(mb - mt), 4.5e-16 * (np.abs(mb - mt) + 1.0), 0.0)
        out = {
            # the reference's TVD is good to about 1e-16 absolute where the maxima are close (fast.py); the
            # compiled kernel removes that first order
            "tvd": 1e-15 + shift,
            # JSD and KL of nearly equal rows: the reference's row constant rounds (δ²/2 ~ 1e-32)
            "kl": 1e-31 + shift**2, "jsd": 1e-31 + shift**2,
        }
        if "p_target" in ref:
            out["delta_p"] = 1e-14 * np.fmax(ref["p_target"], ref["q_target"])
        if "kl_reverse" in ref:
            # the reference's fast kernel takes it as (KL + rev) - KL: a few ulp of KL
            out["kl_reverse"] = 1e-31 + shift**2 + 2e-15 * ref["kl"]
    return out


def assert_close(got: dict, ref: dict, zb, zt) -> None:
    assert list(got) == list(ref)
    floor = floors(ref, zb, zt)
    for key, r in ref.items():
        g = got[key]
        assert g.dtype == r.dtype and g.shape == r.shape, key
        if key in INT_KEYS:
            np.testing.assert_array_equal(g, r, err_msg=key)
            continue
        nan = np.isnan(r)
        np.testing.assert_array_equal(np.isnan(g), nan, err_msg=key)
        with np.errstate(invalid="ignore"):  # inf - inf where both are inf: equal
            err = np.where(nan | (g == r), 0.0, np.abs(g - r))
        bound = RTOL * np.abs(np.where(nan, 0.0, r)) + floor.get(key, 0.0)
        bad = err > bound
        assert not bad.any(), (key, np.flatnonzero(bad)[:5], g[bad][:5], r[bad][:5])


def check(zb, zt, k=None, **kw):
    """The compiled kernel against the reference on these rows."""
    assert_close(kernels.token_stats(zb, zt, k, **kw), core.token_stats(zb, zt, k, **kw), zb, zt)


def random_pair(rng, n, v, scale, spread, dtype=np.float64):
    zb = rng.normal(size=(n, v)) * scale
    zt = zb + rng.normal(size=(n, v)) * spread
    return zb.astype(dtype), zt.astype(dtype), rng.integers(0, v, n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize(("scale", "spread"), [(1.0, 0.3), (3.0, 3.0), (10.0, 5.0), (0.1, 1e-3)])
def test_random_rows(isa, dtype, scale, spread):
    rng = np.random.default_rng(7)
    zb, zt, k = random_pair(rng, 300, 97, scale, spread, dtype)
    check(zb, zt, k)
    check(zb, zt)


def hard_rows(rng):
    """(name, base, test) rows of 9 classes each: the cases the kernels treat apart."""
    v = 9
    z = (rng.normal(size=v) * 2).astype(np.float32).astype(np.float64)  # z + 512 exact
    rows = {
        "identical": (z, z.copy()),
        "tiny kl": (z, z + 1e-9 * rng.normal(size=v)),
        "tiny kl 1e-7": (z, z + 1e-7 * rng.normal(size=v)),
        "shifted 512": (z, z + 512.0),
        "shifted far": (z, z + 1e12),
        "far apart maxima": (z, z[::-1] + 4 * FAR_SHIFT),
        "large d": (z, z * 40),
        "dominant": (np.r_[40.0, z[1:]], np.r_[41.0, z[1:]]),
        "dominant both ways": (np.r_[40.0, z[1:]], np.r_[z[:-1], 40.0]),
        "base class far below": (np.r_[z[:-1], -800.0], z),
        "test class far below": (z, np.r_[z[:-1], -800.0]),
        "masked in base": (np.r_[z[:-1], -np.inf], z),
        "masked in test": (z, np.r_[z[:-1], -np.inf]),
        "masked in both": (np.r_[z[:-1], -np.inf], np.r_[z[:-1] + 0.5, -np.inf]),
        "ties": (np.array([1.0, 3, 3, 2, 2, 2, 0, 3, 2]), np.array([3.0, 1, 2, 2, 3, 2, 3, 0, 2])),
        "all equal": (np.zeros(v), np.ones(v)),
        "nan": (np.r_[z[:-1], np.nan], z),
        "inf": (z, np.r_[np.inf, z[1:]]),
        "all masked": (np.full(v, -np.inf), z),
    }
    names = list(rows)
    zb = np.array([rows[n][0] for n in names])
    zt = np.array([rows[n][1] for n in names])
    return names, zb, zt


@pytest.mark.parametrize("top_k", [1, 2, 3, 5, 9, 20])
def test_hard_rows(isa, top_k):
    names, zb, zt = hard_rows(np.random.default_rng(3))
    k = np.arange(len(names)) % zb.shape[1]
    for dtype in (np.float64, np.float32, np.float16):
        with np.errstate(over="ignore"):
            b, t = zb.astype(dtype), zt.astype(dtype)
        check(b, t, k, top_k=top_k)
        check(b, t, None, top_k=top_k)


def test_ties_in_top_k(isa):
    """Integer logits in a small range: ties at the top-1 and at the K-th value on most rows."""
    rng = np.random.default_rng(5)
    zb = rng.integers(0, 4, size=(400, 12)).astype(np.float32)
    zt = rng.integers(0, 4, size=(400, 12)).astype(np.float32)
    k = rng.integers(0, 12, 400)
    for top_k in (1, 2, 4, 7, 11, 12):
        check(zb, zt, k, top_k=top_k)


@pytest.mark.parametrize("v", [1, 2, 3, 4, 7, 8, 17])
def test_narrow_rows(isa, v):
    """V = 1, V below top_k and every tail length of the vector loops."""
    rng = np.random.default_rng(v)
    zb, zt, k = random_pair(rng, 50, v, 2.0, 1.0)
    check(zb, zt, k, top_k=5)
    check(zb.astype(np.float32), zt.astype(np.float32), k, top_k=3)


@pytest.mark.parametrize("key", KEYS)
def test_each_key(isa, key):
    """A subset of keys gives the reference's keys (the always-made ones and those asked) and the same values."""
    rng = np.random.default_rng(11)
    zb, zt, k = random_pair(rng, 40, 33, 2.0, 1.0, np.float32)
    check(zb, zt, k, keys=[key])
    check(zb, zt, None, keys=[key])


def test_padding_masked_on_both_sides(isa):
    """Classes both models mask (a padded vocabulary): the compiled kernel's own rows, as the reference's exact ones."""
    rng = np.random.default_rng(8)
    zb, zt, k = random_pair(rng, 200, 40, 2.0, 1.0, np.float32)
    zb[:, 30:] = zt[:, 30:] = -np.inf
    zb[::7, 5] = zt[::7, 5] = -np.inf
    check(zb, zt, k % 30)
    check(zb, zt, k)  # masked targets: NLL inf, p 0
    check(zb, zt, None, top_k=35)


def test_which_rows_are_handed_back(isa):
    """The kernel computes plain rows and those with classes both sides mask; the others go to the exact kernel."""
    names, zb, zt = hard_rows(np.random.default_rng(3))
    n = len(names)
    out, top1, redo = np.empty((17, n)), np.empty((2, n), np.int64), np.empty(n, np.int64)
    module.compare_stats(zb, zt, None, 5, 31, out, top1, redo)
    handed = {"shifted far", "far apart maxima", "base class far below", "masked in base", "masked in test", "nan",
              "inf", "all masked"}
    assert {name for name, r in zip(names, redo) if r} == handed


def test_mixed_dtypes_and_errors(isa):
    rng = np.random.default_rng(2)
    zb, zt, k = random_pair(rng, 20, 10, 2.0, 1.0)
    check(zb.astype(np.float16), zt.astype(np.float32), k)
    check(zb[:0], zt[:0], k[:0])
    with pytest.raises(ValueError, match="out of range"):
        kernels.token_stats(zb, zt, k + 10)
    with pytest.raises(ValueError, match="same shape"):
        kernels.token_stats(zb, zt[:, :5])
    with pytest.raises(ValueError, match="unknown token statistic"):
        kernels.token_stats(zb, zt, keys=["nope"])
    with pytest.raises(ValueError, match="top_k"):
        kernels.token_stats(zb, zt, top_k=0)


def test_numpy_switch(monkeypatch):
    """``XENT_KERNEL=numpy``: the reference itself."""
    rng = np.random.default_rng(4)
    zb, zt, k = random_pair(rng, 20, 10, 2.0, 1.0)
    monkeypatch.setenv("XENT_KERNEL", "numpy")
    got, ref = kernels.token_stats(zb, zt, k), core.token_stats(zb, zt, k)
    for key in ref:
        np.testing.assert_array_equal(got[key], ref[key])


def exact_stats(zb, zt) -> dict[str, float]:
    """KL both ways, JSD (bits), TVD and both entropies of one row pair, at 500 digits."""
    mp = pytest.importorskip("mpmath").mp
    with mp.workdps(500):  # p down to e^-400 beside 1 in the log-sums
        live = [j for j in range(len(zb)) if zb[j] > -np.inf or zt[j] > -np.inf]  # both masked: adds 0
        lb = [mp.mpf(float(zb[j])) for j in live]
        lt = [mp.mpf(float(zt[j])) for j in live]
        lsb, lst = mp.log(mp.fsum(mp.exp(x) for x in lb)), mp.log(mp.fsum(mp.exp(x) for x in lt))
        lp = [x - lsb for x in lb]
        lq = [x - lst for x in lt]
        p = [mp.exp(x) for x in lp]
        q = [mp.exp(x) for x in lq]
        lm = [mp.log((a + b) / 2) for a, b in zip(p, q)]
        return {
            "kl": float(mp.fsum(a * (x - y) for a, x, y in zip(p, lp, lq))),
            "kl_reverse": float(mp.fsum(b * (y - x) for b, x, y in zip(q, lp, lq))),
            "jsd": float(mp.fsum(a * (x - m) + b * (y - m) for a, b, x, y, m in zip(p, q, lp, lq, lm)) / 2 / mp.log(2)),
            "tvd": float(mp.fsum(abs(a - b) for a, b in zip(p, q)) / 2),
            "entropy_base": float(-mp.fsum(a * x for a, x in zip(p, lp))),
            "entropy_test": float(-mp.fsum(b * y for b, y in zip(q, lq))),
        }


@pytest.mark.parametrize("case", ["identical", "tiny kl", "tiny kl 1e-7", "shifted 512", "large d", "dominant",
                                  "dominant both ways", "test class far below", "masked in both"])
def test_hard_rows_against_mpmath(isa, case):
    """Rows the C kernel computes itself, against 500-digit values of the same float64 logits (the
    reference's known 1e-13 on nearly equal rows is not in the way here): 1e-13 relative, no floor."""
    names, zb, zt = hard_rows(np.random.default_rng(3))
    i = names.index(case)
    got = kernels.token_stats(zb[i:i + 1], zt[i:i + 1])
    for key, want in exact_stats(zb[i], zt[i]).items():
        assert abs(got[key][0] - want) <= RTOL * abs(want), (key, got[key][0], want)
