"""The kernel-term registry (xentcli/core/tokens/terms.py) says what each kernel returns: the keys of
token_stats (fast and exact kernels), kld_token_stats and reference_token_stats are its keys, and the
optional passes leave out only what their group makes."""

import numpy as np
import pytest

from xentcli.core.tokens import TERMS, kernel_keys, kld_token_stats, reference_token_stats, token_stats, topk_logprobs
from xentcli.core.tokens.terms import groups

rng = np.random.default_rng(5)
ZB, ZT = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
K = np.array([0, 5, 2, 3])


@pytest.mark.parametrize("masked", [False, True])  # a -inf logit: every row through the exact kernel
def test_token_stats_returns_the_logits_kernels_keys(masked):
    zb = ZB.copy()
    if masked:
        zb[:, 1] = -np.inf
    assert set(token_stats(zb, ZT, K)) == set(kernel_keys("logits"))


def test_token_stats_without_targets_leaves_out_the_target_terms():
    targets = {key for t in TERMS if t.targets for key in t.keys} | {"p_target", "q_target"}
    assert set(token_stats(ZB, ZT)) == set(kernel_keys("logits")) - targets


@pytest.mark.parametrize("group", sorted(groups()))
def test_a_pass_left_out_drops_only_its_keys(group):
    wanted = [k for k in kernel_keys("logits") if k not in groups()[group]]
    assert set(token_stats(ZB, ZT, K, keys=wanted)) == set(kernel_keys("logits")) - set(groups()[group])


def test_kld_kernel_keys():
    lp = ZB - np.log(np.exp(ZB).sum(-1, keepdims=True))
    assert set(kld_token_stats(lp, ZT, K)) == set(kernel_keys("kld"))


def test_reference_kernel_keys_but_the_stored_entropy():
    values, ids, tail, _ = topk_logprobs(ZB, 3)
    lp = ZB - np.log(np.exp(ZB).sum(-1, keepdims=True))
    got = reference_token_stats(values, ids, tail, ZT, K, lp[np.arange(4), K])
    # the base's entropy is the one the saved reference stores (xentcli.comparison.reference)
    assert set(got) == set(kernel_keys("reference")) - {"entropy_base"}
