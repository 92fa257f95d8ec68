"""Every statistic of compare's one table (xentcli/comparison/columns.py) shows in every output form
it names: its JSON key, its table label (and the rows under it), its csv columns (with --bootstrap its
interval's), its --per-token columns (csv and Parquet), for each kind of base that makes it — logits,
a llama.cpp .kld file, a reference saved by --save-base — and is absent without targets if it needs them.

The inputs are made here; the command runs as a user runs it.
"""

import csv
import io
import json
import struct

import numpy as np
import pandas as pd
import pytest

from xentcli.comparison.columns import STATISTICS, csv_columns, made, per_token
from xentcli.core.tokens import TERMS
from xentcli.core.tokens.terms import KERNELS

B, T, V = 2, 9, 7
KINDS = ("logits", "kld", "reference")


def write_kld(path, logprobs, tokens, n_ctx):
    """A llama.cpp .kld base of ``logprobs`` (n_chunk * scored rows, V), as perplexity.cpp lays it out."""
    n_chunk = tokens.shape[0]
    n_vocab = logprobs.shape[1]
    out = bytearray(b"_logits_" + struct.pack("<3i", n_ctx, n_vocab, n_chunk))
    out += np.asarray(tokens, dtype="<i4").tobytes()
    for row in logprobs:
        low = float(row.min())
        scale = (float(row.max()) - low) / 65535
        codes = np.round((row - low) / scale).astype("<u2")
        out += struct.pack("<2f", scale, low) + np.pad(codes, (0, n_vocab % 2)).tobytes()
    path.write_bytes(bytes(out))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each kind of base: the ``--base``, ``--test`` and ``--targets`` arguments of one run."""
    d = tmp_path_factory.mktemp("columns")
    rng = np.random.default_rng(20)
    base = rng.normal(0, 2, size=(B, T, V))
    test = base + rng.normal(0, 0.5, size=(B, T, V))
    ids = rng.integers(0, V, size=(B, T))
    np.save(d / "base.npy", base)
    np.save(d / "q.npy", test)
    np.save(d / "ids.npy", ids)
    # a .kld file scores positions n_ctx/2 .. n_ctx-2 of each chunk against the next token
    first = T // 2
    logp = base - np.log(np.exp(base).sum(-1, keepdims=True))
    write_kld(d / "base.kld", logp[:, first:T - 1].reshape(-1, V), ids, T)
    np.save(d / "q_kld.npy", test[:, first:T - 1])
    return {
        "logits": (d / "base.npy", d / "q.npy", d / "ids.npy"),
        "kld": (d / "base.kld", d / "q_kld.npy", None),  # it brings its targets
        "reference": (d / "ref.safetensors", d / "q.npy", None),  # saved with its targets
        "dir": d,
    }


def compare(xent, runs, kind, *args, targets=True):
    base, test, ids = runs[kind]
    if kind == "reference" and not base.exists():
        saved = xent("compare", "--base", runs["logits"][0], "--targets", runs["logits"][2], "--save-base", base)
        assert saved.exit_code == 0, saved.output
    given = ["--targets", ids] if ids is not None and targets else []
    result = xent("compare", "--base", base, "--test", f"q={test}", *given, "--bytes", "500", *map(str, args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_statistic_is_made_by_some_kernel_of_a_known_term():
    names = {t.name for t in TERMS}
    assert all(s.term in names for s in STATISTICS)
    assert {s.key for k in KINDS for s in made(k)} == {s.key for s in STATISTICS}
    assert set(KINDS) == set(KERNELS)
    assert len({s.key for s in STATISTICS}) == len(STATISTICS)


@pytest.mark.parametrize("kind", KINDS)
def test_json_has_every_statistic_its_base_makes(xent, runs, kind):
    doc = json.loads(compare(xent, runs, kind, "--format", "json", "--bootstrap", "20"))
    for s in made(kind):
        where = doc["models"].values() if s.scope == "model" else doc["tests"].values()
        for entry in where:
            assert s.key in entry, (kind, s.key)
            if s.bootstrap:
                assert "ci95" in entry[s.key], (kind, s.key)
    for s in STATISTICS:
        if s not in made(kind):
            assert all(s.key not in e for e in [*doc["models"].values(), *doc["tests"].values()]), (kind, s.key)


@pytest.mark.parametrize("kind", ["logits", "reference"])
def test_without_targets_what_needs_them_is_absent(xent, runs, kind):
    doc = json.loads(compare(xent, runs, kind, "--format", "json", targets=False) if kind == "logits" else
                     _reference_without_targets(xent, runs))
    for s in made(kind):
        entries = doc["models"].values() if s.scope == "model" else doc["tests"].values()
        for entry in entries:
            assert (s.key in entry) != s.needs_targets, (kind, s.key)


def _reference_without_targets(xent, runs):
    d = runs["dir"]
    ref = d / "ref_no_targets.safetensors"
    if not ref.exists():
        assert xent("compare", "--base", runs["logits"][0], "--save-base", ref).exit_code == 0
    result = xent("compare", "--base", ref, "--test", f"q={runs['logits'][1]}", "--format", "json")
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_table_has_every_label_and_the_rows_under_it(xent, runs, kind):
    table = compare(xent, runs, kind, "--format", "table")
    for s in made(kind):
        assert s.label in table, (kind, s.label)
        for figure in s.figures:
            assert figure.label.strip() in table, (kind, figure.label)


@pytest.mark.parametrize("kind", KINDS)
def test_csv_header_has_every_csv_column(xent, runs, kind):
    text = compare(xent, runs, kind, "--format", "csv", "--header", "--bootstrap", "20")
    header, row = list(csv.reader(io.StringIO(text)))
    expected = [c for s in made(kind) for c, _ in s.csv]
    expected += [f"{s.key}_ci95_{end}" for s in made(kind) if s.csv and s.bootstrap for end in ("lo", "hi")]
    assert header == ["name", *expected] == ["name", *(c for _, c, _ in csv_columns(kind, True))]
    assert row[0] == "q" and all(v != "nan" for v in row[1:])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_per_token_file_has_every_per_token_column(xent, runs, kind, ext):
    out = runs["dir"] / f"tokens_{kind}{ext}"
    compare(xent, runs, kind, "--format", "json", "--per-token", out)
    table = pd.read_csv(out) if ext == ".csv" else pd.read_parquet(out)
    expected = []
    for s in per_token(kind, targets=True):
        expected += ([f"{s.per_token}_base"] if s.scope == "model" else []) + [f"{s.per_token}_q"]
    assert [c for c in table.columns if c not in ("index", "sequence", "position", "target")] == expected
    assert {s.per_token for s in made(kind) if s.per_token} == {s.per_token for s in per_token(kind, targets=True)}
    assert len(table) > 0 and not table[expected].isna().any().any()
