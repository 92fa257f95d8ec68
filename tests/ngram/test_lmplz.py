"""``xent ngram build`` against the frozen ``lmplz`` models: the same n-grams, every log10 probability
and back-off within 1e-6, the discounts lmplz printed, and lmplz's refusals as exit 1."""

from __future__ import annotations

import json
import math
import re

import pytest

from tests.ngram.conftest import FIXTURES, built_models, case_id, parse_arpa, refused_models, xent_options

BUILT = built_models()
REFUSED = refused_models()


@pytest.fixture(scope="module")
def builds(xent, tmp_path_factory):
    """Each lmplz model built by xent from the same corpus and options: (ARPA path, JSON report)."""
    folder = tmp_path_factory.mktemp("lmplz")
    out = {}
    for model in BUILT:
        path = folder / f"{model['name']}.arpa"
        result = xent("ngram", "build", "--text", FIXTURES / model["corpus"], "--order", model["order"],
                      *xent_options(model), "-o", path, "--format", "json")
        assert result.exit_code == 0, result.output
        out[model["name"]] = (path, json.loads(result.stdout))
    return out


def test_every_option_lmplz_was_given_is_covered():
    assert {o for m in BUILT for o in m["options"] if o.startswith("--")} == {
        "--interpolate_unigrams", "--vocab_pad", "--prune", "--discount_fallback"}
    assert len({m["order"] for m in BUILT}) >= 4


@pytest.mark.parametrize("model", BUILT, ids=case_id)
def test_same_ngrams_probabilities_and_backoffs(builds, model):
    ours = parse_arpa(builds[model["name"]][0])
    theirs = parse_arpa(FIXTURES / model["arpa"])
    assert sorted(ours) == sorted(theirs)
    for n in theirs:
        assert set(ours[n]) == set(theirs[n]), f"{n}-grams differ"
        worst = max(max(abs(ours[n][g][0] - p), abs(ours[n][g][1] - b)) for g, (p, b) in theirs[n].items())
        assert worst <= 1e-6, f"{n}-grams: off by {worst:.3g}"


def _statistics(model) -> dict[int, tuple[int, list[float]]]:
    """lmplz's ``Statistics:`` block: per order, the n-grams kept and D1, D2, D3+ as printed."""
    text = (FIXTURES / model["lmplz_stderr"]).read_text()
    block = text.split("Statistics:\n", 1)[1].split("Memory estimate", 1)[0]
    out = {}
    for line in block.splitlines():
        m = re.match(r"^(\d+) (\d+)(?:/\d+)? D1=(\S+) D2=(\S+) D3\+=(\S+)$", line)
        assert m, line
        out[int(m.group(1))] = (int(m.group(2)), [float(m.group(k)) for k in (3, 4, 5)])
    return out


@pytest.mark.parametrize("model", BUILT, ids=case_id)
def test_report_matches_lmplz_statistics(builds, model):
    report = builds[model["name"]][1]
    stats = _statistics(model)
    assert report["order"] == model["order"]
    assert report["tokens"] == model["tokens"]
    assert report["types"] == model["types"]
    assert report["ngrams"] == [stats[n][0] for n in range(1, model["order"] + 1)]
    for n, (_, printed) in stats.items():
        params = report["parameters"][n - 1]
        ours = [params["D1"], params["D2"], params["D3+"]]
        for d, shown in zip(ours, printed):
            # lmplz prints 6 significant digits of discounts it computes in float32 (2^-24 relative)
            half_digit = 0.5 * 10.0 ** (math.floor(math.log10(abs(shown))) - 5)
            assert abs(d - shown) <= half_digit + abs(shown) * 2.0 ** -23, f"order {n}: {ours} vs {printed}"


@pytest.mark.parametrize("model", REFUSED, ids=case_id)
def test_refused_data_is_exit_1_naming_order_count_and_fallback(xent, model):
    result = xent("ngram", "build", "--text", FIXTURES / model["corpus"], "--order", model["order"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    m = re.search(r"(\d)-grams? .*adjusted count (\d)|for (\d)-grams with adjusted count (\d)", model["error"])
    order, count = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    message = errors[0]
    assert re.search(rf"\b{order}-gram", message), message
    assert re.search(rf"\b{count}\b", message), message
    assert "--discount-fallback" in message
    assert result.stdout == ""


@pytest.mark.parametrize("model", [m for m in BUILT if m["fallback_orders"]], ids=case_id)
def test_fallback_names_the_orders_it_replaced(builds, model):
    report = builds[model["name"]][1]
    notes = " ".join(report["notes"])
    for n in model["fallback_orders"]:
        assert f"{n}-gram" in notes, notes
