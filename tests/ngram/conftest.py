"""The frozen KenLM oracles (tests/ngram/fixtures, see COMMANDS.md) and readers for them.

The readers here are written from the formats' descriptions, not with ``xentcli.ngram``: they are
what the code under test is checked against.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "MANIFEST.json").read_text())

#: lmplz's option (as frozen in the manifest) → xent's.
_OPTION = {"--interpolate_unigrams": "--no-interpolate-unigrams", "--vocab_pad": "--vocab-pad",
           "--prune": "--prune", "--discount_fallback": "--discount-fallback"}


def built_models() -> list[dict]:
    """Every model lmplz built (not refused)."""
    return [m for m in MANIFEST["models"] if m["source"] == "lmplz" and not m["refused"]]


def refused_models() -> list[dict]:
    return [m for m in MANIFEST["models"] if m["source"] == "lmplz" and m["refused"]]


def query_cases() -> list[tuple[dict, dict]]:
    """(model, query) for every frozen query run, the hand-written model's included."""
    return [(m, q) for m in MANIFEST["models"] for q in m.get("queries") or []]


def case_id(case) -> str:
    model, query = case if isinstance(case, tuple) else (case, None)
    return model["name"] if query is None else f"{model['name']}-{query['text']}"


def xent_options(model: dict) -> list[str]:
    """The xent build options equivalent to the lmplz options the model was made with."""
    out: list[str] = []
    opts = model["options"]
    i = 0
    while i < len(opts):
        name = opts[i]
        values = []
        i += 1
        while i < len(opts) and not opts[i].startswith("--"):
            values.append(opts[i])
            i += 1
        if name == "--interpolate_unigrams":
            assert values == ["0"]
            out.append(_OPTION[name])
        else:
            out += [_OPTION[name], *values]
    return out


def read_bytes(path) -> bytes:
    data = Path(path).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def parse_arpa(path) -> dict[int, dict[tuple[str, ...], tuple[float, float]]]:
    """{order: {words: (log10 p, log10 back-off or 0)}} of an ARPA file; asserts \\data\\ agrees."""
    declared: dict[int, int] = {}
    grams: dict[int, dict] = {}
    section = None
    for line in read_bytes(path).decode().splitlines():
        line = line.strip()
        if not line or line == "\\data\\" or line == "\\end\\":
            continue
        if line.startswith("ngram "):
            n, c = line[6:].split("=")
            declared[int(n)] = int(c)
        elif line.startswith("\\") and line.endswith("-grams:"):
            section = int(line[1:-7])
            grams[section] = {}
        else:
            fields = line.split()
            words = tuple(fields[1:1 + section])
            bo = float(fields[1 + section]) if len(fields) > 1 + section else 0.0
            assert words not in grams[section]
            grams[section][words] = (float(fields[0]), bo)
    assert {n: len(g) for n, g in grams.items()} == declared
    return grams


def parse_query_word(path) -> list[list[tuple[str, int, int, float]]]:
    """``query -v word``: per sentence, (word, vocab id, n-gram length, log10 p) of each token."""
    sentences, current = [], []
    for item in Path(path).read_text().split("\t"):
        if not item.strip():
            continue
        head, length, logp = item.strip().rsplit(" ", 2)
        word, vocab_id = head.rsplit("=", 1)
        current.append((word, int(vocab_id), int(length), float(logp)))
        if word == "</s>":
            sentences.append(current)
            current = []
    assert not current
    return sentences


def parse_query_sentence(path) -> list[tuple[float, int]]:
    """``query -v sentence``: (total log10 p, OOVs) per line."""
    out = []
    for line in Path(path).read_text().splitlines():
        _, total, _, oov = line.split()
        out.append((float(total), int(oov)))
    return out


def parse_query_summary(path) -> dict[str, float]:
    """``query -v summary``: ppl, ppl_excluding_oovs, oovs, tokens."""
    keys = {"Perplexity including OOVs": "ppl", "Perplexity excluding OOVs": "ppl_excluding_oovs",
            "OOVs": "oovs", "Tokens": "tokens"}
    out = {}
    for line in Path(path).read_text().splitlines():
        name, value = line.split(":")
        out[keys[name.strip()]] = float(value)
    return out
