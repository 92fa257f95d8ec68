"""A saved reference (--save-base) given as --base reads --targets as its test's tokens.

Regression: it read them against a stand-in for the predictions that lacked what a shape error
names, so --targets of the wrong shape or length was an internal error instead of an Error line.
"""

import numpy as np
import pytest


@pytest.fixture
def saved(tmp_path, xent):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(2, 5, 6))
    np.save(tmp_path / "base.npy", base)
    np.save(tmp_path / "q.npy", base + rng.normal(0, 0.3, size=base.shape))
    np.save(tmp_path / "ids.npy", rng.integers(0, 6, size=(2, 5)))
    ref = tmp_path / "ref.safetensors"
    assert xent("compare", "--base", tmp_path / "base.npy", "--targets", tmp_path / "ids.npy", "--save-base",
                ref).exit_code == 0
    return tmp_path, ref


@pytest.mark.parametrize("targets", [np.arange(3), np.zeros((10, 2), dtype=int)], ids=["short", "two-columns"])
def test_reference_targets_of_the_wrong_shape_are_an_error_line(saved, xent, targets):
    d, ref = saved
    np.save(d / "bad.npy", targets)
    result = xent("compare", "--base", ref, "--test", d / "q.npy", "--targets", d / "bad.npy")
    assert result.exit_code != 0
    assert result.stderr.startswith(f"Error: --targets {d / 'bad.npy'}: labels of shape {targets.shape} fit "
                                    "predictions of shape (2, 5, 6) neither"), result.stderr


def test_a_test_of_other_tokens_is_named_before_the_targets(saved, xent):
    d, ref = saved
    np.save(d / "short.npy", np.load(d / "q.npy")[:1])
    np.save(d / "bad.npy", np.arange(3))
    result = xent("compare", "--base", ref, "--test", d / "short.npy", "--targets", d / "bad.npy")
    assert result.exit_code != 0
    assert "has shape (1, 5, 6) but --base" in result.stderr and "10 tokens" in result.stderr, result.stderr


def test_reference_targets_given_again_agree(saved, xent):
    d, ref = saved
    result = xent("compare", "--base", ref, "--test", d / "q.npy", "--targets", d / "ids.npy", "--format", "json")
    assert result.exit_code == 0, result.output
