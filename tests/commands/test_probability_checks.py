"""Rows of probabilities sum to 1 within the rounding their format allows over their width, and
unsigned 64-bit labels never wrap.

Probabilities come from the float32 softmax a model computes (NumPy's exp(z - max) / sum in
float32, PyTorch's softmax), float16 and bfloat16 outputs, and text written by NumPy and pandas;
expected losses are NumPy's own -log p of the values as stored.
"""

import math

import numpy as np
import pytest

from xentcli import core

WIDTHS = [50_257, 152_064]  # GPT-2's and Qwen2's vocabularies


def float32_softmax(rows: int, width: int, seed: int = 0, scale: float = 4.0, running: bool = True) -> np.ndarray:
    """Softmax computed in float32 as a model does: exp(z - max) / sum, every step in float32.

    ``running``: the sum is a running float32 sum (a loop, as a simple kernel sums), whose
    rounding drifts far past 1e-6 at these widths; else NumPy's pairwise sum, which does not.
    """
    z = (np.random.default_rng(seed).standard_normal((rows, width)) * scale).astype(np.float32)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    total = np.add.accumulate(e, axis=1, dtype=np.float32)[:, -1:] if running else e.sum(axis=1, keepdims=True)
    p = e / total
    assert p.dtype == np.float32
    return p


def expected_ce(p: np.ndarray, ids: np.ndarray) -> float:
    """The mean of -log p(target), from the stored values widened to float64."""
    return float(np.mean(-np.log(p.astype(np.float64)[np.arange(len(ids)), ids])))


def targets(p: np.ndarray) -> np.ndarray:
    return np.random.default_rng(1).integers(0, p.shape[1], len(p))


@pytest.mark.parametrize("running", [True, False])
@pytest.mark.parametrize("width", WIDTHS)
def test_float32_softmax_over_a_vocabulary_is_accepted(xent, tmp_path, width, running):
    """Refused once: rounding alone put a float32 softmax row over 50,257 classes 1.4e-5 off."""
    p = float32_softmax(3, width, running=running)
    assert not running or np.abs(p.astype(np.float64).sum(axis=1) - 1).max() > 1e-5  # far beyond 1e-6
    ids = targets(p)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "ids.npy", ids)
    r = xent("ce", "--labels", tmp_path / "ids.npy", "--probs", tmp_path / "p.npy", "--format", "json")
    assert r.exit_code == 0, r.stderr
    import json

    assert json.loads(r.stdout)["mean"] == pytest.approx(expected_ce(p, ids), rel=1e-12)
    r = xent("ppl", "--targets", tmp_path / "ids.npy", "--probs", tmp_path / "p.npy")
    assert r.exit_code == 0, r.stderr
    assert float(r.stdout) == pytest.approx(math.exp(expected_ce(p, ids)), rel=1e-9)
    assert xent("entropy", "--probs", tmp_path / "p.npy").exit_code == 0
    assert xent("kl", "--p", tmp_path / "p.npy", "--q", tmp_path / "p.npy").stdout.strip() == "0.0"
    # the same rows as distribution labels of ce
    r = xent("ce", "--labels", tmp_path / "p.npy", "--logits", tmp_path / "p.npy")
    assert r.exit_code == 0, r.stderr


def test_float32_softmax_rows_drift_past_1e_6_and_stay_inside_the_bound():
    """A running float32 sum drifts most where the logits spread over a few units; the bound holds it."""
    for width in WIDTHS:
        worst = max(np.abs(float32_softmax(4, width, seed=s, scale=sc).astype(np.float64).sum(axis=1) - 1).max()
                    for s, sc in [(0, 1.0), (1, 3.0), (2, 3.5), (3, 4.0), (4, 8.0)])
        assert 1e-5 < worst <= core.sum_tolerance(width)


def test_torch_float32_softmax_is_accepted(xent, tmp_path):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    for width in WIDTHS:
        z = torch.randn(4, width, generator=g) * 4
        p = torch.softmax(z, dim=-1, dtype=torch.float32).numpy()
        sums = np.abs(p.astype(np.float64).sum(axis=1) - 1)
        assert sums.max() <= core.sum_tolerance(width)
        ids = targets(p)
        np.save(tmp_path / "p.npy", p)
        np.save(tmp_path / "ids.npy", ids)
        r = xent("ce", "--labels", tmp_path / "ids.npy", "--probs", tmp_path / "p.npy")
        assert r.exit_code == 0, r.stderr
        assert float(r.stdout) == pytest.approx(expected_ce(p, ids), rel=1e-12)


def test_float16_and_bfloat16_softmax_are_accepted(xent, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    z = torch.randn(4, WIDTHS[0], generator=torch.Generator().manual_seed(2)) * 4
    half = torch.softmax(z.half(), dim=-1)  # PyTorch accumulates in float32 and rounds the output to float16
    np.save(tmp_path / "p16.npy", half.numpy())
    ids = half.float().numpy().argmax(axis=1)  # float16 flushes the tail to 0: score classes it kept
    np.save(tmp_path / "ids.npy", ids)
    bf16 = torch.softmax(z.bfloat16(), dim=-1)
    torch.save(bf16, tmp_path / "pbf.pt")
    save_file({"probs": bf16}, str(tmp_path / "pbf.safetensors"))
    for probs, stored in [("p16.npy", half.float().numpy()), ("pbf.pt", bf16.float().numpy()),
                          ("pbf.safetensors:probs", bf16.float().numpy())]:
        r = xent("ce", "--labels", tmp_path / "ids.npy", "--probs", f"{tmp_path}/{probs}")
        assert r.exit_code == 0, (probs, r.stderr)
        assert float(r.stdout) == pytest.approx(expected_ce(stored, ids), rel=1e-12)


def test_text_of_float32_softmax_is_held_to_float32_rounding(xent, tmp_path):
    """Decimal text carries no dtype: float32 output written with 8 digits (np.savetxt) or
    float32's shortest digits (pandas) passes; a row off by 1e-3 does not."""
    pd = pytest.importorskip("pandas")
    p = float32_softmax(2, WIDTHS[0], seed=3)
    np.savetxt(tmp_path / "p8.csv", p, fmt="%.8g", delimiter=",")
    pd.DataFrame(p).to_csv(tmp_path / "pd.csv", index=False, header=False)
    ids = targets(p)
    np.savetxt(tmp_path / "ids.csv", ids, fmt="%d")
    for name in ("p8.csv", "pd.csv"):
        r = xent("ce", "--labels", tmp_path / "ids.csv", "--probs", tmp_path / name)
        assert r.exit_code == 0, (name, r.stderr)
        assert float(r.stdout) == pytest.approx(expected_ce(p, ids), rel=1e-6)
    off = p.astype(np.float64)
    off[1, 7] += 1e-3
    np.savetxt(tmp_path / "off.csv", off, fmt="%.8g", delimiter=",")
    r = xent("ce", "--labels", tmp_path / "ids.csv", "--probs", tmp_path / "off.csv")
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: --probs ") and "off.csv line 2: row 2: probabilities sum to 1.00" in r.stderr


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize("width", [3] + WIDTHS)
def test_a_row_off_by_1e_3_is_refused(xent, tmp_path, dtype, width):
    p = float32_softmax(3, width, seed=4).astype(dtype)
    p[2, 0] += np.asarray(1e-3, dtype=dtype)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "ids.npy", np.zeros(3, dtype=np.int64))
    for command in (["ce", "--labels", tmp_path / "ids.npy", "--probs"], ["entropy", "--probs"],
                    ["kl", "--q", tmp_path / "p.npy", "--p"]):
        r = xent(*command, tmp_path / "p.npy")
        assert r.exit_code == 1, (command, r.stdout)
        assert "row 3: probabilities sum to 1.00" in r.stderr
        assert len(r.stderr.splitlines()) == 1


def test_small_rows_are_held_near_1e_6(xent):
    """Three classes: 8·√3·2⁻²³ + 2⁻²⁴ = 1.7e-6."""
    assert core.sum_tolerance(3) == pytest.approx(8 * math.sqrt(3) * 2.0**-23 + 2.0**-24)
    assert xent("ce", "--labels", "0", "--probs", "0.5,0.25,0.25001").exit_code == 1
    assert xent("ce", "--labels", "0", "--probs", "0.5,0.25,0.2500005").exit_code == 0
    r = xent("ce", "--labels", "0.5,0.25,0.25001", "--logits", "1,2,3")
    assert r.exit_code == 1 and "labels sum to 1.00001, expected 1 within 1.7" in r.stderr


def test_softmax_output_given_as_logits_is_recognised_at_vocabulary_width(xent, tmp_path):
    np.save(tmp_path / "p.npy", float32_softmax(2, WIDTHS[0]))
    r = xent("entropy", "--logits", tmp_path / "p.npy")
    assert r.exit_code == 0
    assert "look like probabilities" in r.stderr and "--probs" in r.stderr


def test_renormalize_counts_only_rows_off_beyond_rounding(xent, tmp_path):
    p = float32_softmax(3, WIDTHS[0], seed=6).astype(np.float64)
    p[1] *= 2
    np.save(tmp_path / "p.npy", p)
    r = xent("entropy", "--probs", tmp_path / "p.npy", "--renormalize")
    assert r.exit_code == 0
    assert "rescaled 1 row(s)" in r.stderr


# Unsigned 64-bit labels never wrap -----------------------------------------------------------

LOGITS = "1,2,3;3,2,1;0,0,0"


def test_uint64_label_beyond_int64_is_out_of_range_not_minus_one(xent, tmp_path):
    """2**64 - 1 stored as uint64 once wrapped to -1, which --ignore-index -1 then dropped."""
    np.save(tmp_path / "y.npy", np.array([0, 2**64 - 1, 1], dtype=np.uint64))
    for extra in ([], ["--ignore-index", "-1"]):
        r = xent("ce", "--labels", tmp_path / "y.npy", "--logits", LOGITS, *extra)
        assert r.exit_code == 1, r.stdout
        assert r.stderr.startswith("Error: --labels ") and "y.npy: row 2: class index 18446744073709551615" in r.stderr
    r = xent("ppl", "--targets", tmp_path / "y.npy", "--logits", LOGITS, "--ignore-index", "-1")
    assert r.exit_code == 1 and "row 2: class index 18446744073709551615" in r.stderr


def test_uint64_parquet_labels_never_wrap(xent, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pd.DataFrame({"label": np.array([0, 1, 2**63], dtype=np.uint64)}).to_parquet(tmp_path / "y.parquet")
    r = xent("ce", "--labels", f"{tmp_path}/y.parquet:label", "--logits", LOGITS, "--ignore-index",
             str(-(2**63)))
    assert r.exit_code == 1
    assert "row 3: class index 9223372036854775808" in r.stderr


def test_uint64_labels_in_range_are_class_indices(xent, tmp_path):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y = np.array([0, 2, 1], dtype=np.uint64)
    np.save(tmp_path / "y.npy", y)
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]])
    r = xent("ce", "--labels", tmp_path / "y.npy", "--probs", ";".join(",".join(map(str, row)) for row in p))
    assert r.exit_code == 0, r.stderr
    assert float(r.stdout) == pytest.approx(sklearn_metrics.log_loss(y.astype(np.int64), p, labels=[0, 1, 2]),
                                            rel=1e-12)
