"""The compiled per-row kernel against its NumPy reference (:mod:`xentcli.core`) and mpmath.

Every instruction set this CPU runs is tested (generic, AVX2, AVX-512: whichever it has); the
assertions are tolerances, never bits, so they hold on any CPU: 1e-13 relative, against the
reference and against mpmath alike.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import mpmath as mp
import numpy as np
import pytest

from xentcli import core, kernels

module = kernels.compiled()
pytestmark = pytest.mark.skipif(module is None, reason="xent was installed without its compiled kernel")

RTOL = 1e-13


@pytest.fixture(params=module.isas() if module is not None else [None], autouse=True)
def isa(request):
    old = module.set_isa(request.param)
    yield request.param
    module.set_isa(old)


def hard_rows() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Logits rows that are hard for a CE kernel, with a target for each."""
    rng = np.random.default_rng(21)
    out = {}
    # The target is the max by a gap g: CE = log1p((V-1)·e^{-g}) reaches 1e-15.
    gaps = np.array([5.0, 7.0, 10.0, 15.0, 20.0, 25.0, 30.0, 33.0, 34.5, 36.0, 37.5, 38.5])
    z = -gaps[:, None] + rng.uniform(-0.5, 0.0, (len(gaps), 40))
    z[:, 0] = 0.0
    out["dominant"] = (z, np.zeros(len(gaps), np.int64))
    scales = np.array([1, 10, 100, 1000, 5000, 1e4, 1, 5, 50, 500, 2000, 5000, 3, 30, 300, 3000])
    out["wide"] = (rng.standard_normal((16, 300)) * scales[:, None], rng.integers(0, 300, 16))
    z = rng.standard_normal((6, 64)) * 4
    z[:, ::3] = -np.inf
    z[5, 1:] = -np.inf
    out["masked"] = (z, np.array([1, 2, 4, 5, 3, 0]))  # row 2: the target masked (CE = inf)
    z = np.round(rng.standard_normal((6, 50)) * 2)
    z[:, 7] = z[:, 9] = z[:, 11] = z.max(1) + 3.0
    z[3, :] = 2.0
    out["ties"] = (z, np.array([7, 9, 0, 5, 11, 1]))
    z = np.full((3, 33), -40.0)
    z[:, 3] = z[:, 4] = 1.0
    z[1, 10:] = -np.inf
    out["dominant_ties"] = (z, np.array([3, 4, 10]))
    z = rng.standard_normal((3, 50_000)) * 3
    z[2, 123] = 60.0
    out["wide_vocabulary"] = (z, np.array([5, 49_999, 123]))
    out["huge"] = (np.array([[1e308, -1e308, 0.0, 1e308], [-1e300, -5e299, -1e300, -1e300]]), np.array([0, 1]))
    out["few_classes"] = (rng.standard_normal((9, 3)) * 3, rng.integers(0, 3, 9))
    return out


CASES = [pytest.param(name, dtype, id=f"{name}-{np.dtype(dtype).name}")
         for name in hard_rows() for dtype in (np.float64, np.float32, np.float16)
         if not (dtype != np.float64 and name == "huge")]


def rows(name, dtype):
    z, k = hard_rows()[name]
    return z.astype(dtype), k


def ce_reference(z, k):
    return -core.target_log_probs(z, k)


@pytest.mark.parametrize("name, dtype", CASES)
def test_ce_against_numpy(name, dtype):
    z, k = rows(name, dtype)
    np.testing.assert_allclose(-kernels.target_log_probs(z, k), ce_reference(z, k), rtol=RTOL, atol=0)


@pytest.mark.parametrize("name, dtype", CASES)
def test_logsumexp_softmax_and_log_softmax_against_numpy(name, dtype):
    z, _ = rows(name, dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # the reference's NaN for a row of only -inf
        np.testing.assert_allclose(kernels.logsumexp(z), core.logsumexp(z), rtol=RTOL, atol=0)
        np.testing.assert_allclose(kernels.log_softmax(z), core.log_softmax(z), rtol=RTOL, atol=0)
        np.testing.assert_allclose(kernels.softmax(z), core.softmax(z), rtol=RTOL, atol=1e-300)


@pytest.mark.parametrize("name, dtype", CASES)
def test_entropy_against_numpy(name, dtype):
    z, _ = rows(name, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        want = core.entropy(*core.log_probs_of(logits=z.astype(np.float64)))
    # The reference sums -p·log p, whose rounding is relative to the largest term: a tiny entropy
    # (a dominant row) is exact to ~1e-16 absolute there, relative in the kernel.
    np.testing.assert_allclose(kernels.entropy_of_logits(z), want, rtol=RTOL, atol=1e-15)


@pytest.mark.parametrize("temperature", [0.25, 0.7, 2.5])
@pytest.mark.parametrize("name, dtype", [c for c in CASES if c.values[0] != "huge"])
def test_temperature_against_numpy(name, dtype, temperature):
    z, k = rows(name, dtype)
    t = dict(temperature=temperature)
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_allclose(kernels.target_log_probs(z, k, **t), core.target_log_probs(z, k, **t),
                                   rtol=RTOL, atol=0)
        np.testing.assert_allclose(kernels.log_softmax(z, **t), core.log_softmax(z, **t), rtol=RTOL, atol=0)
        np.testing.assert_allclose(kernels.softmax(z, **t), core.softmax(z, **t), rtol=RTOL, atol=1e-300)
        want = core.entropy(*core.log_probs_of(logits=z.astype(np.float64), **t))
    np.testing.assert_allclose(kernels.entropy_of_logits(z, **t), want, rtol=RTOL, atol=1e-15)


def test_temperature_against_mpmath():
    z, k = hard_rows()["wide"]
    for temperature in (0.3, 4.0):
        got = -kernels.target_log_probs(z, k, temperature=temperature)
        np.testing.assert_allclose(got, [mp_ce(r / temperature, t) for r, t in zip(z, k)], rtol=RTOL, atol=0)


def mp_ce(row, k) -> float:
    with mp.workdps(60):
        lse = mp.log(mp.fsum(mp.exp(mp.mpf(float(v))) for v in row if v != -np.inf))
        return float(lse - mp.mpf(float(row[k])))


def mp_entropy(row) -> float:
    with mp.workdps(400):  # a wide row's entropy is ~1e-60 below its largest term: 60 digits are not enough
        z = [mp.mpf(float(v)) for v in row if v != -np.inf]
        lse = mp.log(mp.fsum(mp.exp(v) for v in z))
        return float(-mp.fsum(mp.exp(v - lse) * (v - lse) for v in z))


@pytest.mark.parametrize("name", ["dominant", "wide", "ties", "dominant_ties", "few_classes"])
def test_ce_and_entropy_against_mpmath(name):
    z, k = hard_rows()[name]
    np.testing.assert_allclose(-kernels.target_log_probs(z, k), [mp_ce(r, t) for r, t in zip(z, k)], rtol=RTOL, atol=0)
    np.testing.assert_allclose(kernels.entropy_of_logits(z), [mp_entropy(r) for r in z], rtol=RTOL, atol=0)


def test_ce_reaches_1e15_exactly():
    z, k = hard_rows()["dominant"]
    got = -kernels.target_log_probs(z, k)
    assert got.min() < 1.5e-15
    np.testing.assert_allclose(got, [mp_ce(r, 0) for r in z], rtol=RTOL, atol=0)


def test_rows_that_are_no_distribution_give_nan_as_the_reference():
    z = np.array([[0.0, np.nan, 1.0], [0.0, np.inf, 1.0], [-np.inf] * 3, [0.0, 1.0, 2.0]])
    k = np.array([0, 1, 2, 2])
    got = -kernels.target_log_probs(z, k)
    assert np.isnan(got[:3]).all() and np.isfinite(got[3])
    assert np.isnan(kernels.entropy_of_logits(z)[:3]).all()
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(kernels.logsumexp(z), core.logsumexp(z), rtol=RTOL)
        np.testing.assert_allclose(kernels.softmax(z), core.softmax(z), rtol=RTOL)
        np.testing.assert_allclose(kernels.log_softmax(z), core.log_softmax(z), rtol=RTOL)


def test_one_class():
    z = np.array([[3.5], [-np.inf], [np.nan], [np.inf]])
    ce = -kernels.target_log_probs(z, np.zeros(4, np.int64))
    assert ce[0] == 0.0 and math.copysign(1, ce[0]) == 1 and np.isnan(ce[1:]).all()
    np.testing.assert_array_equal(kernels.logsumexp(z), [3.5, -np.inf, np.nan, np.inf])
    assert kernels.softmax(z)[0, 0] == 1.0 and np.isnan(kernels.softmax(z)[1:]).all()


def test_cross_entropy_keeps_the_references_labels_weights_and_ignored_rows():
    rng = np.random.default_rng(7)
    z = (rng.standard_normal((50, 40)) * 3).astype(np.float32)
    k = rng.integers(0, 40, 50)
    k[::7] = -100
    settings = dict(weights=rng.uniform(0, 2, 40), ignore_index=-100)
    got = kernels.cross_entropy(z, k, **settings)
    np.testing.assert_allclose(got, core.cross_entropy(z, k, **settings), rtol=RTOL, atol=0)
    assert np.all(got[::7] == 0.0)


def test_gradient_against_numpy_and_finite_differences():
    rng = np.random.default_rng(8)
    z = rng.standard_normal((6, 35)) * 2
    k = rng.integers(0, 35, 6)
    got = kernels.cross_entropy_grad(z, k, reduction="mean")
    np.testing.assert_allclose(got, core.cross_entropy_grad(z, k, reduction="mean"), rtol=RTOL, atol=1e-17)
    h = 1e-6
    for i, c in [(0, 0), (3, int(k[3])), (5, 17)]:
        up, down = z.copy(), z.copy()
        up[i, c] += h
        down[i, c] -= h
        fd = (kernels.cross_entropy(up, k).mean() - kernels.cross_entropy(down, k).mean()) / (2 * h)
        assert abs(fd - got[i, c]) < 1e-8


def test_calls_the_kernel_does_not_take_go_to_the_reference():
    z = np.random.default_rng(9).standard_normal((4, 6, 5))
    k = np.arange(24).reshape(4, 6) % 5
    for got, want in [
        (kernels.softmax(z, axis=1), core.softmax(z, axis=1)),
        (kernels.logsumexp(z.astype(np.longdouble)), core.logsumexp(z.astype(np.longdouble))),
        (kernels.target_log_probs(z.astype(np.int64), k), core.target_log_probs(z.astype(np.int64), k)),
    ]:
        np.testing.assert_array_equal(got, want)
    for bad in (0.0, -1.0, np.nan):  # the reference's error
        with pytest.raises(ValueError, match="temperature"):
            kernels.softmax(z, temperature=bad)
    # (B, T, V) in: the kernel reads the rows, the shape stays.
    assert kernels.target_log_probs(z, k).shape == (4, 6)
    assert kernels.softmax(z).shape == z.shape


def test_xent_kernel_numpy_turns_it_off(monkeypatch):
    monkeypatch.setenv("XENT_KERNEL", "numpy")
    assert kernels.compiled() is None and kernels.name() == "numpy"
    monkeypatch.setenv("XENT_KERNEL", "compiled")
    assert kernels.name().startswith("compiled (")


def test_float16_widening_is_exact():
    """Every float16 bit pattern reaches the float64 loops unchanged (F16C on x86, scalar elsewhere)."""
    h = np.arange(65536, dtype=np.uint16).view(np.float16)
    np.testing.assert_array_equal(kernels.logsumexp(h.reshape(-1, 1)), h.astype(np.float64))
    finite = h[np.isfinite(h)]
    z = finite[: len(finite) // 9 * 9].reshape(-1, 9)  # 9 classes: the vector widening and its tail
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(kernels.log_softmax(z), core.log_softmax(z), rtol=RTOL, atol=0)


def test_bad_calls_raise():
    with pytest.raises(IndexError):
        module.ce_rows(np.zeros((2, 3)), np.array([0, 3]), np.empty(2))
    with pytest.raises(ValueError):
        module.ce_rows(np.zeros((2, 3)), np.array([0]), np.empty(2))
    for dtype in (np.int32, np.uint16):
        with pytest.raises(TypeError):
            module.logsumexp_rows(np.zeros((2, 3), dtype), np.empty(2))


def mp_exp(x) -> np.ndarray:
    with mp.workdps(40):
        return np.array([float(mp.exp(mp.mpf(float(v)))) for v in x])


@pytest.mark.parametrize("variant, low, high", [(0, -745.0, 709.0), (1, -745.0, 0.0), (2, -700.0, 0.0)])
def test_exp_against_mpmath(variant, low, high):
    """The vector exp of each variant (any x; x <= 0; -700 <= x <= 0): 1e-15 relative, subnormals within 2^-1074."""
    rng = np.random.default_rng(variant)
    x = np.concatenate([np.linspace(low, high, 3001), rng.uniform(low, high, 3000), rng.uniform(-1, min(high, 1), 1000),
                        [0.0, -0.0, -0.34657359, -708.39, low]])
    y = np.empty_like(x)
    module.exp(x, y, variant)
    want = mp_exp(x)
    normal = want >= 2.2250738585072014e-308
    assert (np.abs(y[normal] - want[normal]) / want[normal]).max() <= 1e-15
    assert np.all(np.abs(y[~normal] - want[~normal]) <= 5e-324)


def test_exp_special_values():
    x = np.array([-np.inf, -1e308, -746.0, -745.2, 709.8, 710.0, 1e308, np.inf, np.nan, 0.0])
    y = np.empty_like(x)
    module.exp(x, y)
    np.testing.assert_array_equal(y[:4], 0.0)
    assert np.all(y[4:8] == np.inf) and np.isnan(y[8]) and y[9] == 1.0


def test_threads_that_load_the_kernel_at_once_all_get_it():
    """The engine's threads ask for the kernel together on a run's first blocks: none may see a half-done import."""
    script = (
        "import threading\n"
        "from xentcli import kernels\n"
        "barrier, got = threading.Barrier(8), []\n"
        "def ask():\n"
        "    barrier.wait()\n"
        "    got.append(kernels.compiled())\n"
        "threads = [threading.Thread(target=ask) for _ in range(8)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "assert len(got) == 8 and all(m is not None for m in got), got\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XENT_KERNEL"}
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and not done.stderr, done.stderr


@pytest.mark.parametrize("value, isa", [("generic", "generic"), ("GENERIC", "generic"), ("bogus", None)])
def test_xent_kernel_isa(value, isa):
    env = dict(os.environ, XENT_KERNEL_ISA=value)
    env.pop("XENT_KERNEL", None)
    done = subprocess.run([sys.executable, "-m", "xentcli", "--version"], env=env, capture_output=True, text=True,
                          timeout=60)
    kernel = done.stdout.splitlines()[1]
    if isa is None:
        assert kernel == f"kernel: compiled ({module.isas()[-1]})"
        assert done.stderr.startswith("Warning: XENT_KERNEL_ISA='bogus' is not one of the instruction sets")
    else:
        assert kernel == f"kernel: compiled ({isa})" and not done.stderr
