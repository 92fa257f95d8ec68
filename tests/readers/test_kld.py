"""llama.cpp ``.kld`` files (``llama-perplexity --kl-divergence-base``), built by hand from the layout
of ``tools/perplexity/perplexity.cpp``: ``_logits_``, int32 n_ctx, n_vocab, n_chunk, the n_ctx·n_chunk
int32 tokens, then per chunk n_ctx - 1 - n_ctx/2 rows of float32 scale, float32 min_log_prob and
n_vocab uint16 codes padded to an even count."""

import json
import struct

import numpy as np
import pytest

from tests.conftest import xent
from xentcli.readers import read_matrix

rng = np.random.default_rng(11)


def build(n_ctx, n_vocab, n_chunk, *, codes=None, scale=None, minimum=None):
    """The file's bytes and what it holds: tokens (n_chunk·n_ctx), and per scored row its scale,
    min_log_prob and codes. The padding code of an odd vocabulary is junk, which must be skipped."""
    rows = n_chunk * (n_ctx - 1 - n_ctx // 2)
    tokens = rng.integers(0, n_vocab, n_chunk * n_ctx).astype(np.int32)
    if codes is None:
        codes = rng.integers(0, 65536, (rows, n_vocab)).astype(np.uint16)
    if scale is None:
        scale = (rng.random(rows) * 16 / 65535).astype(np.float32)
    if minimum is None:  # the largest code decodes to at most 0, as log-probabilities are
        minimum = (-scale.astype(np.float64) * 65535 - rng.random(rows) * 14).astype(np.float32)
    out = [b"_logits_", struct.pack("<iii", n_ctx, n_vocab, n_chunk), tokens.astype("<i4").tobytes()]
    for r in range(rows):
        out.append(struct.pack("<ff", scale[r], minimum[r]))
        out.append(codes[r].astype("<u2").tobytes())
        if n_vocab % 2:
            out.append(struct.pack("<H", 0xBEEF))
    return b"".join(out), tokens, scale, minimum, codes


def decoded(scale, minimum, codes):
    """What llama.cpp computes: ``scale*base_log_prob[i] + min_log_prob`` in float."""
    return scale[:, None] * codes.astype(np.float32) + minimum[:, None]


def write(tmp_path, n_ctx=8, n_vocab=5, n_chunk=2, name="base.kld", **kw):
    data, *held = build(n_ctx, n_vocab, n_chunk, **kw)
    path = tmp_path / name
    path.write_bytes(data)
    return path, held


@pytest.mark.parametrize("n_ctx, n_vocab, n_chunk", [(8, 5, 2), (8, 6, 3), (7, 9, 2), (4, 1, 2), (9, 2, 4)])
def test_logprobs_are_the_decoded_rows(tmp_path, n_ctx, n_vocab, n_chunk):
    path, (tokens, scale, minimum, codes) = write(tmp_path, n_ctx, n_vocab, n_chunk)
    expected = decoded(scale, minimum, codes)
    assert expected.dtype == np.float32
    assert expected.shape == (n_chunk * (n_ctx - 1 - n_ctx // 2), n_vocab)
    for spec in (str(path), f"{path}:logprobs"):
        values = read_matrix(spec, "--logits").values
        assert values.shape == expected.shape and values.dtype == np.float32 and len(values) == len(expected)
        got = np.asarray(values)
        assert got.dtype == np.float32 and np.array_equal(got.view(np.uint32), expected.view(np.uint32))
        rows = values.as_rows()
        assert rows.shape == expected.shape and rows.dtype == np.float32
        assert np.array_equal(rows.rows(1, 3), expected[1:3]) and np.array_equal(rows[[-1, 0]], expected[[-1, 0]])


@pytest.mark.parametrize("n_ctx, n_chunk", [(8, 2), (7, 3), (3, 2)])
def test_targets_and_tokens(tmp_path, n_ctx, n_chunk):
    path, (tokens, *_) = write(tmp_path, n_ctx, 7, n_chunk)
    first = n_ctx // 2
    expected = [tokens[c * n_ctx + first + j + 1] for c in range(n_chunk) for j in range(n_ctx - 1 - first)]
    targets = np.asarray(read_matrix(f"{path}:targets", "--targets").values)
    assert targets.dtype == np.int64 and targets.tolist() == [int(t) for t in expected]
    all_tokens = np.asarray(read_matrix(f"{path}:tokens", "--targets").values)
    assert all_tokens.dtype == np.int64 and all_tokens.tolist() == tokens.tolist()


def test_codes_from_llama_cpps_encoder_decode_to_log_softmax(tmp_path):
    """Rows encoded as llama.cpp's writer does (``log_softmax(n_vocab, logits, uint16_t *log_prob, tok)``):
    the decoded values are the log-softmax to within one step of the code."""
    n_ctx, n_vocab, n_chunk = 6, 11, 2
    rows = n_chunk * (n_ctx - 1 - n_ctx // 2)
    logits = (rng.standard_normal((rows, n_vocab)) * 4).astype(np.float32)
    logits[0, 3] = -100.0  # below max - 16: clipped to the minimum code
    mx, mn = logits.max(axis=1), logits.min(axis=1)
    mn = np.maximum(mn, mx - 16)
    lse = np.log(np.exp((logits - mx[:, None]).astype(np.float64)).sum(axis=1)).astype(np.float32)
    minimum = (mn - mx - lse).astype(np.float32)
    scale = ((mx - mn) / np.float32(65535)).astype(np.float32)
    inv = (1 / scale).astype(np.float32)
    codes = np.where(logits > mn[:, None], np.rint(inv[:, None] * (logits - mn[:, None])), 0).astype(np.uint16)
    path, _ = write(tmp_path, n_ctx, n_vocab, n_chunk, codes=codes, scale=scale, minimum=minimum)
    got = np.asarray(read_matrix(str(path), "--logits").values).astype(np.float64)
    truth = logits - mx[:, None] - lse[:, None]
    truth = np.maximum(truth, minimum[:, None])
    assert np.all(np.abs(got - truth) <= scale[:, None] + 1e-5)


def test_ppl_of_the_base_model(tmp_path):
    """``ppl --logits f.kld --targets f.kld:targets``: log-probabilities given as logits (softmax
    renormalises them) scored at the targets, as NumPy computes it."""
    n_ctx, n_vocab, n_chunk = 10, 7, 3
    path, (tokens, scale, minimum, codes) = write(tmp_path, n_ctx, n_vocab, n_chunk)
    z = decoded(scale, minimum, codes).astype(np.float64)
    first = n_ctx // 2
    targets = tokens.reshape(n_chunk, n_ctx)[:, first + 1:].reshape(-1)
    m = z.max(axis=1, keepdims=True)
    log_softmax = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    nll = -log_softmax[np.arange(len(z)), targets]
    result = xent("ppl", "--logits", path, "--targets", f"{path}:targets", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n"] == len(targets)
    assert out["mean"] == pytest.approx(nll.mean(), rel=1e-12)
    assert out["perplexity"] == pytest.approx(np.exp(nll.mean()), rel=1e-12)
    ce = xent("ce", "--logits", f"{path}:logprobs", "--labels", f"{path}:targets", "--reduction", "none",
              "--format", "json")
    assert ce.exit_code == 0, ce.output
    assert json.loads(ce.stdout)["per_sample"] == pytest.approx(nll.tolist(), rel=1e-12)


def test_rows_are_read_by_blocks_only_where_asked(tmp_path, preads):
    n_ctx, n_vocab, n_chunk = 8, 5, 3
    path, (tokens, scale, minimum, codes) = write(tmp_path, n_ctx, n_vocab, n_chunk)
    reads = preads
    rows = read_matrix(str(path), "--logits").values.as_rows()
    assert reads == []
    row_bytes = 8 + 2 * (n_vocab + 1)
    start = 20 + 4 * n_ctx * n_chunk
    assert np.array_equal(rows.rows(4, 6), decoded(scale, minimum, codes)[4:6])
    assert reads == [(start + 4 * row_bytes, 2 * row_bytes)]


def test_a_bad_selector_is_a_wrong_call(tmp_path):
    path, _ = write(tmp_path)
    result = xent("softmax", "--logits", f"{path}:probs")
    assert result.exit_code == 2 and result.output.startswith("Error:")
    assert all(s in result.output for s in ("logprobs", "targets", "tokens", str(path)))


@pytest.mark.parametrize("cut", [0, 5, 12, 19, 20 + 4 * 16 - 2, -1, -13])
def test_a_truncated_file_is_bad_data(tmp_path, cut):
    data, *_ = build(8, 5, 2)
    path = tmp_path / "cut.kld"
    path.write_bytes(data[:cut])
    for spec in (path, f"{path}:targets", f"{path}:tokens"):
        result = xent("ppl", "--logits", path, "--targets", spec)
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error:") and str(path) in result.output


@pytest.mark.parametrize("change", ["magic", "n_ctx", "n_vocab", "n_chunk"])
def test_a_bad_header_is_bad_data(tmp_path, change):
    data, *_ = build(8, 5, 2)
    if change == "magic":
        data = b"_logitz_" + data[8:]
    else:
        at = 8 + 4 * ("n_ctx", "n_vocab", "n_chunk").index(change)
        for value in (0, -3):
            bad = data[:at] + struct.pack("<i", value) + data[at + 4:]
            path = tmp_path / f"{change}{value}.kld"
            path.write_bytes(bad)
            result = xent("softmax", "--logits", path)
            assert result.exit_code == 1 and result.output.startswith("Error:") and change in result.output
        return
    path = tmp_path / "bad.kld"
    path.write_bytes(data)
    result = xent("softmax", "--logits", path)
    assert result.exit_code == 1 and result.output.startswith("Error:") and str(path) in result.output


def test_a_context_that_scores_no_rows_is_empty(tmp_path):
    path, _ = write(tmp_path, n_ctx=2, n_vocab=3, n_chunk=2)
    result = xent("softmax", "--logits", path)
    assert result.exit_code == 1 and "empty" in result.output
    assert np.asarray(read_matrix(f"{path}:tokens", "x").values).shape == (4,)


@pytest.mark.parametrize("n_ctx, n_vocab, n_chunk", [(2**31 - 1, 2**31 - 1, 2**31 - 1), (8, 5, 3), (8, 4, 2)])
def test_header_counts_that_lie_or_overflow_are_bad_data_never_an_allocation(tmp_path, n_ctx, n_vocab, n_chunk):
    # A file of 8, 5, 2 whose header claims other counts: more bytes than it has, or fewer (a header that lies).
    data, *_ = build(8, 5, 2)
    path = tmp_path / "lie.kld"
    path.write_bytes(data[:8] + struct.pack("<iii", n_ctx, n_vocab, n_chunk) + data[20:])
    for spec in (path, f"{path}:targets", f"{path}:tokens"):
        result = xent("softmax", "--logits", spec)
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"Error: --logits {path}: ") and result.output.count("\n") == 1
        assert f"n_ctx={n_ctx}, n_vocab={n_vocab}, n_chunk={n_chunk}" in result.output


@pytest.mark.parametrize("field, value, says", [
    ("minimum", 51.0, "decodes to the log-probability"),  # a positive min_log_prob: base NLL -51 before
    ("minimum", np.nan, "min_log_prob is nan"),
    ("minimum", -np.inf, "min_log_prob is -inf"),
    ("scale", np.inf, "scale is inf"),
    ("scale", np.nan, "scale is nan"),
    ("scale", -16 / 65535, "expected a number >= 0"),  # a negative scale: mean KL -0.059 with exit 0
])
def test_kld_row_decoding_above_zero_or_with_a_non_finite_scale_is_bad_data(tmp_path, field, value, says):
    rows = 2 * (8 - 1 - 4)
    scale = np.full(rows, 16 / 65535, np.float32)
    minimum = np.full(rows, -17.0, np.float32)
    {"scale": scale, "minimum": minimum}[field][4] = value
    path, _ = write(tmp_path, 8, 5, 2, scale=scale, minimum=minimum)
    for args in (["ce", "--logits", path, "--labels", f"{path}:targets"],
                 ["compare", "--base", path, "--test", f"q={path}", "--format", "json"]):
        result = xent(*args)
        assert result.exit_code == 1 and result.stdout == "", result.output
        assert result.stderr.startswith(f"Error: {args[1]} {path}: row 5: ") and says in result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_kld_rows_at_zero_up_to_float32_rounding_are_read(tmp_path):
    # llama.cpp stores the row maximum as min_log_prob + 65535·scale: in float32 a hair above 0
    scale = np.full(6, np.float32(16 / 65535), np.float32)
    minimum = np.float32(-1) * (scale * np.float32(65535)) + np.float32(3e-6)
    codes = np.full((6, 5), 65535, np.uint16)
    path, _ = write(tmp_path, 8, 5, 2, scale=scale, minimum=minimum.astype(np.float32), codes=codes)
    assert (decoded(scale, minimum.astype(np.float32), codes) > 0).all()
    assert xent("ce", "--logits", path, "--labels", f"{path}:targets").exit_code == 0
