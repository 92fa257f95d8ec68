"""The reference document's worked example (SPEC §5): its printed numbers are the reference."""

import math

import numpy as np
import pytest

from tests.cli_helpers import shows_number
from tests.conftest import SAMPLE
from xentcli import core

LABELS = np.array([[1, 0, 0], [0, 0.8, 0.2]])
LOGITS = np.array([[4.0, 2, 1], [0, 5, 1]])
DOC_SOFTMAX = np.array([[0.84379473, 0.1141952, 0.04201007], [0.00657326, 0.97555875, 0.01786798]])


def test_softmax_matches_document():
    np.testing.assert_array_equal(np.round(core.softmax(LOGITS), 8), DOC_SOFTMAX)


def test_exact_cross_entropy_matches_tensorflow_numbers():
    per = core.cross_entropy(LOGITS, LABELS)
    np.testing.assert_array_equal(np.round(per, 8), [0.16984602, 0.82474489])
    assert core.reduce(per) == pytest.approx(0.4972954548475541, rel=5e-16)  # a few ulp: libm's exp/log differ by CPU


def test_eps_cross_entropy_matches_document_numpy():
    per = core.cross_entropy(LOGITS, LABELS, eps=1e-6)
    np.testing.assert_array_equal(np.round(per, 8), [0.16984483, 0.82473288])
    assert core.reduce(per) == pytest.approx(0.49728885581916177, rel=5e-16)
    # The document's own code, written out: -sum(y * log(softmax + eps)).
    e = np.exp(LOGITS)
    naive = -np.sum(LABELS * np.log(e / e.sum(1, keepdims=True) + 1e-6), axis=1)
    np.testing.assert_allclose(per, naive, rtol=1e-15)


def test_gradient_is_softmax_minus_labels():
    expected = DOC_SOFTMAX - LABELS  # the document's derivation, with its printed softmax
    np.testing.assert_allclose(core.cross_entropy_grad(LOGITS, LABELS), expected, atol=5e-9)
    np.testing.assert_allclose(core.cross_entropy_grad(LOGITS, LABELS, reduction="mean"), expected / 2, atol=5e-9)


def test_single_sample_cat_dog_man():
    loss = core.cross_entropy_with_probs([[0.7, 0.2, 0.1]], [[1.0, 0.0, 0.0]])[0]
    assert loss == pytest.approx(0.35667494393873245, rel=5e-16) and 0.35667494393873245 == -math.log(0.7)


def test_softmax_of_3_1_minus3():
    np.testing.assert_array_equal(np.round(core.softmax([3.0, 1.0, -3.0]), 8), [0.87887824, 0.11894324, 0.00217852])


def test_cli_reproduces_the_mean(xent):
    r = xent("ce", "--labels", SAMPLE / "labels.csv", "--logits", SAMPLE / "logits.csv")
    # printed as repr (round-trip), the value within a few ulp: NumPy's exp/log differ by CPU in the last bit
    assert r.exit_code == 0 and r.stdout == f"{float(r.stdout)!r}\n"
    assert float(r.stdout) == pytest.approx(0.4972954548475541, rel=5e-16)
    r = xent("ce", "--labels", SAMPLE / "labels.csv", "--logits", SAMPLE / "logits.csv", "--eps", "1e-6")
    assert r.stdout == f"{float(r.stdout)!r}\n" and float(r.stdout) == pytest.approx(0.49728885581916177, rel=5e-16)


def test_cli_inline_forms_give_the_same_numbers(xent):
    for labels, logits in [
        ("1,0,0;0,0.8,0.2", "4,2,1;0,5,1"),
        ("[[1,0,0],[0,0.8,0.2]]", "[[4,2,1],[0,5,1]]"),
        ("1 0 0; 0 0.8 0.2", "4 2 1; 0 5 1"),
    ]:
        r = xent("ce", "--labels", labels, "--logits", logits, "--reduction", "none")
        assert [float(v) for v in r.stdout.splitlines()] == pytest.approx([0.16984601955628567, 0.8247448901388226],
                                                                          rel=5e-16), (labels, logits)


@pytest.mark.parametrize(
    "text",
    [
        "0.84379473", "0.1141952", "0.04201007", "0.00657326", "0.97555875", "0.01786798",
        "0.16984602", "0.82474489", "0.4972954548475541",
        "0.16984483", "0.82473288", "0.49728885581916177",
        "-0.15620527", "0.17555875", "-0.18213202",  # softmax - labels
        "-0.07810263", "0.0570976", "-0.09106601",  # (softmax - labels) / 2
        "0.35667494393873245", "cat", "dog", "man", "label", "pred",
        "0.87887824", "0.11894324", "0.00217852",
    ],
)
def test_example_command_shows_every_number(xent, text):
    r = xent("example")
    assert r.exit_code == 0
    if len(text) > 15:  # repr, all digits: within a few ulp
        assert shows_number(r.stdout, float(text))
    else:
        assert text in r.stdout
