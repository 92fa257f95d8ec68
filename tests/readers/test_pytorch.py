"""``.pt`` / ``.pth``: loaded only through ``torch.load(weights_only=True)``, only when PyTorch is installed.

The no-PyTorch path runs everywhere; the rest skips where PyTorch is absent. References are
computed here in float64 with NumPy, never by xent.
"""

import importlib.util

import numpy as np
import pytest

from tests.cli_helpers import cli_json, error
from tests.conftest import xent
from xentcli.errors import CallError
from xentcli.readers import read_matrix

rng = np.random.default_rng(5)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def values(spec):
    return np.asarray(read_matrix(str(spec), "--logits").values)


# --- without PyTorch (runs everywhere) -----------------------------------------------------------

@pytest.mark.parametrize("ext", [".pt", ".pth"])
def test_without_pytorch_it_is_a_wrong_call_and_nothing_is_unpickled(tmp_path, monkeypatch, ext):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "torch" else real(name, *a, **k))
    path = tmp_path / f"z{ext}"
    path.write_bytes(b"PK\x03\x04 not looked at")
    out = error("softmax", "--logits", path, code=2)
    assert str(path) in out and "needs PyTorch (pip install torch)" in out and "never unpickles" in out
    with pytest.raises(CallError, match=f"reading \\{ext} files needs PyTorch"):
        read_matrix(f"{path}:logits", "--logits")


def test_pt_and_pth_are_listed_in_help():
    out = xent("softmax", "--help").output
    assert ".pt" in out and ".pth" in out and ".json" in out


# --- with PyTorch ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "uint8", "bool"])
def test_a_tensor_reads_in_its_dtype(tmp_path, torch, dtype):
    a = rng.standard_normal((3, 4)) * 5
    a = (a > 0) if dtype == "bool" else np.abs(a).astype(dtype) if dtype == "uint8" else a.astype(dtype)
    path = tmp_path / "t.pt"
    torch.save(torch.from_numpy(a), path)
    got = values(path)
    assert got.dtype == np.dtype(dtype) and np.array_equal(got, a)


def test_bfloat16_is_widened_to_float32_exactly(tmp_path, torch):
    t = torch.randn(5, 6, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16) * 1e3
    bits = t.view(torch.int16).numpy().astype(np.uint16).astype(np.uint32) << 16  # bf16 → f32 by hand
    path = tmp_path / "bf.pth"
    torch.save(t, path)
    got = values(path)
    assert got.dtype == np.float32 and np.array_equal(got.view(np.uint32), bits)


def test_dict_of_tensors_by_key_and_one_tensor_needs_no_key(tmp_path, torch):
    z = rng.standard_normal((2, 3)).astype(np.float32)
    y = np.array([2, 0])
    both = tmp_path / "both.pt"
    torch.save({"logits": torch.from_numpy(z), "labels": torch.from_numpy(y), "step": 7}, both)
    assert np.array_equal(values(f"{both}:logits"), z) and np.array_equal(values(f"{both}:labels"), y)
    one = tmp_path / "one.pt"
    torch.save({"logits": torch.from_numpy(z).requires_grad_(), "note": "run 3"}, one)
    assert np.array_equal(values(one), z)


def test_list_and_tuple_by_index_and_a_non_contiguous_tensor(tmp_path, torch):
    z = rng.standard_normal((4, 3))
    path = tmp_path / "l.pt"
    torch.save([torch.from_numpy(z).t(), torch.zeros(4)], path)
    assert np.array_equal(values(f"{path}:0"), z.T)
    tup = tmp_path / "t.pt"
    torch.save((torch.from_numpy(z),), tup)
    assert np.array_equal(values(tup), z)


def test_ppl_of_bt_v_logits_and_bt_targets_against_numpy(tmp_path, torch):
    z = rng.standard_normal((2, 5, 7)).astype(np.float32)
    t = rng.integers(0, 7, (2, 5))
    path = tmp_path / "lm.pt"
    torch.save({"logits": torch.from_numpy(z), "targets": torch.from_numpy(t)}, path)
    r = cli_json("ppl", "--targets", f"{path}:targets", "--logits", f"{path}:logits")
    z64 = z.astype(np.float64).reshape(-1, 7)
    m = z64.max(axis=1)
    nll = m + np.log(np.exp(z64 - m[:, None]).sum(axis=1)) - z64[np.arange(10), t.reshape(-1)]
    assert r["n"] == 10
    assert r["mean"] == pytest.approx(nll.mean(), rel=1e-12)
    assert r["perplexity"] == pytest.approx(np.exp(nll.mean()), rel=1e-12)


def test_ce_matches_npy_and_bf16_matches_its_float32(tmp_path, torch):
    z = rng.standard_normal((6, 5))
    y = rng.integers(0, 5, 6)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    torch.save(torch.from_numpy(z), tmp_path / "z.pt")
    torch.save(torch.from_numpy(y), tmp_path / "y.pt")
    assert (cli_json("ce", "--labels", tmp_path / "y.pt", "--logits", tmp_path / "z.pt", "--reduction", "none")
            == cli_json("ce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "z.npy", "--reduction", "none"))
    bf = torch.from_numpy(z).to(torch.bfloat16)
    torch.save(bf, tmp_path / "bf.pt")
    np.save(tmp_path / "bf.npy", bf.float().numpy())
    assert (cli_json("ce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "bf.pt")
            == cli_json("ce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "bf.npy"))


class Payload:
    """A pickle that would write a file when unpickled without restriction."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class Plain:
    pass


def test_a_malicious_pickle_is_refused_as_bad_data(tmp_path, torch):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"logits": torch.zeros(2, 3), "x": Payload(marker)}, path)
    out = error("softmax", "--logits", f"{path}:logits", code=1)
    assert str(path) in out and "not a plain tensor file" in out and "weights_only" in out
    assert not marker.exists()
    plain = tmp_path / "obj.pth"
    torch.save(Plain(), plain)
    out = error("softmax", "--logits", plain, code=1)
    assert "not a plain tensor file" in out and "Plain" in out


def test_refused_even_when_the_environment_asks_torch_to_unpickle(tmp_path, torch, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save(Payload(marker), path)
    assert "not a plain tensor file" in error("softmax", "--logits", path, code=1)
    assert not marker.exists()


@pytest.mark.parametrize("data", [b"", b"hello, world\n", b"PK\x03\x04" + bytes(40), bytes(range(256))])
def test_not_a_torch_file_is_bad_data(tmp_path, torch, data):
    path = tmp_path / "x.pt"
    path.write_bytes(data)
    assert str(path) in error("softmax", "--logits", path, code=1)


def test_names_that_are_not_there_are_wrong_calls_listing_the_tensors(tmp_path, torch):
    path = tmp_path / "m.pt"
    torch.save({"logits": torch.zeros(2, 3), "labels": torch.zeros(2, dtype=torch.int64)}, path)
    out = error("softmax", "--logits", path, code=2)
    assert "logits: float32 (2, 3)" in out and "labels: int64 (2,)" in out and f"{path}:KEY" in out
    out = error("softmax", "--logits", f"{path}:nope", code=2)
    assert "'nope'" in out and "logits: float32 (2, 3)" in out and str(path) in out
    single = tmp_path / "s.pt"
    torch.save(torch.zeros(2, 3), single)
    assert "holds one tensor (float32 (2, 3))" in error("softmax", "--logits", f"{single}:x", code=2)
    lst = tmp_path / "l.pt"
    torch.save([torch.zeros(1, 2), torch.zeros(1, 2)], lst)
    assert f"{lst}:INDEX" in error("softmax", "--logits", lst, code=2)
    assert "no entry '2'" in error("softmax", "--logits", f"{lst}:2", code=2)


def test_what_is_not_a_real_tensor_is_bad_data(tmp_path, torch):
    path = tmp_path / "m.pt"
    torch.save({"c": torch.zeros(2, 2, dtype=torch.complex64), "nested": {"z": torch.zeros(2)}, "n": 3,
                "e": torch.zeros(0, 3), "f8": torch.zeros(2, 2).to(torch.float8_e4m3fn)}, path)
    assert "complex" in error("softmax", "--logits", f"{path}:c", code=1)
    assert f"name one of its entries as {path}:nested.KEY (z: float32 (2,))" in error(
        "softmax", "--logits", f"{path}:nested", code=1)
    assert "an int, not a tensor" in error("softmax", "--logits", f"{path}:n", code=1)
    assert "empty" in error("softmax", "--logits", f"{path}:e", code=1)
    assert "float8_e4m3fn is not supported" in error("softmax", "--logits", f"{path}:f8", code=1)
    none = tmp_path / "none.pt"
    torch.save({"n": 3}, none)
    assert "no tensors" in error("softmax", "--logits", none, code=1)


def test_nested_keys_walk_dicts_and_lists_and_an_exact_dotted_key_wins(tmp_path, torch):
    z = rng.standard_normal((3, 4))
    y = np.array([3, 0, 1])
    path = tmp_path / "out.pt"
    torch.save({"out": {"logits": torch.from_numpy(z), "hidden": [torch.zeros(3, 4), torch.from_numpy(2 * z)]},
                "y": torch.from_numpy(y), "a.b": torch.from_numpy(z), "a": {"b": torch.zeros(3, 4)}}, path)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected = -logp[np.arange(3), y].mean()
    got = cli_json("ce", "--logits", f"{path}:out.logits", "--labels", f"{path}:y")
    assert got["mean"] == pytest.approx(expected, rel=1e-12)
    assert np.array_equal(values(f"{path}:out.hidden.1"), 2 * z)
    assert np.array_equal(values(f"{path}:a.b"), z)  # the key "a.b" itself, not a → b
    out = error("softmax", "--logits", f"{path}:out.scores", code=2)
    assert "'out' has no entry 'scores'" in out and "logits: float64 (3, 4)" in out
    assert "'out.hidden' has no entry '7'" in error("softmax", "--logits", f"{path}:out.hidden.7", code=2)


def test_pt_dict_with_one_tensor_at_its_top_level_and_others_nested_silently_used_it(tmp_path, torch):
    """``{"out": {"logits", "labels"}, "input_ids"}`` read without a selector took ``input_ids``."""
    lg = torch.randn(2, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    lab = torch.tensor([4, 1])
    ids = torch.tensor([[101, 7, 9], [101, 3, 2]])
    path = tmp_path / "lm.pt"
    torch.save({"out": {"logits": lg, "labels": lab}, "input_ids": ids}, path)
    out = error("softmax", "--logits", path, code=2)
    assert out.startswith(f"Error: --logits {path}: ") and out.count("\n") == 1
    assert "3 tensors (out.logits: float64 (2, 5), out.labels: int64 (2,), input_ids: int64 (2, 3))" in out
    got = cli_json("ce", "--logits", f"{path}:out.logits", "--labels", f"{path}:out.labels")
    expected = torch.nn.functional.cross_entropy(lg, lab).item()
    assert got["mean"] == pytest.approx(expected, rel=1e-12)
    # One tensor in all, however deep, needs no selector.
    one = tmp_path / "one.pt"
    torch.save({"out": {"logits": lg, "step": 3}, "hidden": []}, one)
    assert np.array_equal(values(one), lg.numpy())
