"""bce, kl, entropy, ppl and grad against PyTorch, SciPy, closed forms and finite differences."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.conftest import SAMPLE
from xentcli import core


def as_json(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def csv_matrix(rows) -> str:
    return ";".join(",".join(repr(float(v)) for v in row) for row in rows)


# -- bce -------------------------------------------------------------------------------


def test_bce_against_pytorch(xent, reference):
    for case in reference["bce"]:
        args = ["bce", "--logits", csv_matrix(case["logits"]) + ";", "--labels", csv_matrix(case["targets"]) + ";",
                "--reduction", case["reduction"], "--format", "json"]
        if case["pos_weight"]:
            args += ["--pos-weight", ",".join(map(repr, case["pos_weight"]))]
        if case["class_mean"]:
            args.append("--class-mean")
        doc = as_json(xent(*args))
        got = doc["per_sample"] if case["reduction"] == "none" else doc[case["reduction"]]
        np.testing.assert_allclose(got, case["loss"], rtol=1e-12, err_msg=str(args))
        g = core.binary_cross_entropy_grad(case["logits"], case["targets"], pos_weight=case["pos_weight"],
                                           class_mean=case["class_mean"])
        if case["reduction"] == "mean":
            g = g / len(case["logits"])
        np.testing.assert_allclose(g, case["grad"], rtol=1e-12, atol=1e-300)


def test_bce_is_stable_at_extreme_and_infinite_logits():
    z = np.array([[1e4, -1e4, 1e4, -1e4, np.inf, -np.inf, np.inf, -np.inf]])
    y = np.array([[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(core.binary_cross_entropy_with_logits(z, y), [[0, 0, 1e4, 1e4, 0, 0, np.inf, np.inf]])
    g = core.binary_cross_entropy_grad(z, y)
    np.testing.assert_array_equal(g, [[0, 0, 1, -1, 0, 0, 1, -1]])


def test_bce_cli_accepts_infinite_logits_and_rejects_nan(xent):
    doc = as_json(xent("bce", "--labels", "1,0,1,0", "--logits", "inf,-inf,-inf,inf", "--reduction", "none",
                       "--format", "json"))
    assert doc["per_sample"] == [0.0, 0.0, "inf", "inf"]  # four samples; the last two are certain and wrong
    doc = as_json(xent("bce", "--labels", "1,0,1,0;", "--logits", "inf,-inf,-inf,inf;", "--reduction", "none",
                       "--format", "json"))
    assert doc["per_sample"] == ["inf"]  # one sample of four outputs
    assert float(xent("bce", "--labels", "1,0", "--logits", "inf,-inf").stdout) == 0.0
    r = xent("grad", "--loss", "bce", "--labels", "1,0;", "--logits", "inf,-inf;", "--format", "json", "--check")
    assert as_json(r)["grad"] == [[0.0, 0.0]] and r.stderr == ""
    r = xent("bce", "--labels", "1,0", "--logits", "nan,0")
    assert r.exit_code == 1 and "row 1, class 1" in r.stderr and "nan" in r.stderr


def test_bce_from_probabilities_is_the_formula():
    p, y = np.array([[0.7, 0.2, 0.0]]), np.array([[1.0, 0.5, 0.0]])
    expected = -(math.log(0.7) + 0.5 * math.log(0.2) + 0.5 * math.log(0.8))
    assert core.per_sample(core.binary_cross_entropy(p, y))[0] == pytest.approx(expected, rel=1e-15)


def test_bce_cli_probs_and_errors(xent):
    # a 1-D input is N samples of one output: the mean over the two
    assert float(xent("bce", "--labels", "1,0", "--probs", "0.7,0.2").stdout) == pytest.approx(
        (-math.log(0.7) - math.log(0.8)) / 2, rel=1e-15)
    r = xent("bce", "--labels", "1,0", "--probs", "0.7,1.2")
    assert r.exit_code == 1 and "outside [0, 1]" in r.stderr
    r = xent("bce", "--labels", "1,2", "--logits", "0.7,0.2")
    assert r.exit_code == 1 and "target 2.0 is outside [0, 1]" in r.stderr
    r = xent("bce", "--labels", "1", "--logits", "0.7,0.2;1,1")
    assert r.exit_code == 1 and "shape" in r.stderr
    r = xent("bce", "--labels", "1,0", "--logits", "0,0", "--pos-weight", "1,2,3")
    assert r.exit_code == 1 and "--pos-weight" in r.stderr
    doc = as_json(xent("bce", "--labels", "1,0", "--logits", "0,0", "--format", "json", "--class-mean", "--base", "2"))
    assert list(doc) == ["command", "n", "base", "reduction", "mean", "sum", "denominator"]
    assert doc["mean"] == pytest.approx(1.0, rel=1e-15)  # log2(2): each entry costs one bit


# -- kl and entropy -----------------------------------------------------------------------


def test_kl_and_entropy_against_scipy_and_torch(xent, reference):
    for case in reference["divergence"]:
        r = as_json(xent("kl", "--p", csv_matrix(case["p"]) + ";", "--q", csv_matrix(case["q"]) + ";",
                         "--reduction", "none", "--format", "json"))
        np.testing.assert_allclose(r["per_sample"], case["kl_probs"], rtol=1e-12)
        r = as_json(xent("kl", "--p-logits", csv_matrix(case["p_logits"]) + ";",
                         "--q-logits", csv_matrix(case["q_logits"]) + ";", "--reduction", "none", "--format", "json"))
        np.testing.assert_allclose(r["per_sample"], case["kl_logits"], rtol=1e-12)
        r = as_json(xent("entropy", "--probs", csv_matrix(case["p"]) + ";", "--reduction", "none", "--format", "json"))
        np.testing.assert_allclose(r["per_sample"], case["entropy_probs"], rtol=1e-12)
        r = as_json(xent("entropy", "--logits", csv_matrix(case["p_logits"]) + ";", "--reduction", "none",
                         "--format", "json"))
        np.testing.assert_allclose(r["per_sample"], case["entropy_logits"], rtol=1e-12)


def test_kl_by_hand_mixed_forms_and_inf(xent):
    # KL([1/2,1/2] ‖ [1/4,3/4]) = 1/2 log 2 + 1/2 log(2/3)
    expected = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert float(xent("kl", "--p", "0.5,0.5", "--q", "0.25,0.75").stdout) == pytest.approx(expected, rel=1e-14)
    # Q as logits: softmax(0, log 3) = (1/4, 3/4).
    assert float(xent("kl", "--p", "0.5,0.5", "--q-logits", f"0,{math.log(3)!r}").stdout) == pytest.approx(
        expected, rel=1e-14)
    r = xent("kl", "--p", "0.5,0.5", "--q", "1,0")
    assert r.exit_code == 0 and r.stdout == "inf\n" and "Q gives probability 0" in r.stderr
    assert float(xent("kl", "--p", "1,0", "--q", "0.5,0.5").stdout) == pytest.approx(math.log(2), rel=1e-15)
    r = xent("kl", "--p", "0.5,0.5", "--q", "0.2,0.3,0.5")
    assert r.exit_code == 1 and "(1, 2)" in r.stderr and "(1, 3)" in r.stderr
    r = xent("kl", "--p", "0.5,0.5")
    assert r.exit_code == 2 and "--q" in r.stderr


def test_kl_table_shows_cross_entropy_minus_entropy(xent):
    r = xent("kl", "--p", "0.5,0.5", "--q", "0.25,0.75", "--format", "table")
    for text in ("H(P,Q)", "H(P)", "KL(P‖Q)", "0.83698822", "0.69314718", "0.14384104"):
        assert text in r.stdout


probability_rows = hnp.arrays(
    np.float64, st.tuples(st.integers(1, 4), st.integers(2, 6)), elements=st.floats(0.0, 1.0)
).filter(lambda a: np.all(a.sum(axis=1) > 1e-3))


@settings(max_examples=150, deadline=None)
@given(probability_rows, probability_rows)
def test_kl_nonnegative_zero_on_itself_equals_ce_minus_entropy(a, b):
    p = a / a.sum(axis=1, keepdims=True)
    q = (b[: len(p), : p.shape[1]] if b.shape[0] >= p.shape[0] and b.shape[1] >= p.shape[1] else np.ones_like(p))
    q = (q + 1e-3) / (q + 1e-3).sum(axis=1, keepdims=True)
    p_, logp = core.log_probs_of(probs=p)
    _, logq = core.log_probs_of(probs=q)
    kl = core.kl_divergence(p_, q)
    assert np.all(kl >= -1e-15)
    np.testing.assert_allclose(core.kl_divergence(p_, p_), 0.0, atol=0)
    ce_minus_h = core.cross_entropy_of_distributions(p_, logq) - core.entropy(p_, logp)
    np.testing.assert_allclose(kl, ce_minus_h, atol=1e-12)


def test_entropy_of_uniform_is_log_c(xent):
    for c in (2, 3, 10):
        probs = ",".join(["1"] * c)
        assert float(xent("entropy", "--probs", probs, "--renormalize").stdout) == pytest.approx(math.log(c), rel=1e-15)
        assert float(xent("entropy", "--logits", ",".join(["0"] * c), "--base", "2").stdout) == pytest.approx(
            math.log2(c), rel=1e-15)
    assert float(xent("entropy", "--probs", "1,0,0").stdout) == 0.0


# -- ppl --------------------------------------------------------------------------------


def test_ppl_against_pytorch_on_batch_seq_vocab(xent, reference, tmp_path):
    for i, case in enumerate(reference["ppl"]):
        z, t = tmp_path / f"z{i}.npy", tmp_path / f"t{i}.npy"
        np.save(z, np.array(case["logits"], dtype=np.float32))
        np.save(t, np.array(case["targets"]))
        args = ["ppl", "--logits", z, "--targets", t]
        if case["ignore_index"] is not None:
            args += ["--ignore-index", case["ignore_index"]]
        csv_args, args = args, args + ["--format", "json"]
        doc = as_json(xent(*args))
        assert list(doc) == ["command", "n", "base", "mean", "perplexity"]
        assert doc["n"] == case["n"]
        assert doc["mean"] == pytest.approx(case["mean"], rel=1e-12)
        assert doc["perplexity"] == pytest.approx(case["perplexity"], rel=1e-12)
        # The same tokens flattened to (B·T, V) give the same numbers; base 2 gives the same perplexity.
        flat = tmp_path / f"flat{i}.npy"
        np.save(flat, np.array(case["logits"], dtype=np.float32).reshape(-1, 11))
        doc2 = as_json(xent(*(args[:2] + [flat] + args[3:] + ["--base", "2"])))
        assert doc2["perplexity"] == doc["perplexity"]
        assert doc2["mean"] == pytest.approx(doc["mean"] / math.log(2), rel=1e-15)
        assert float(xent(*csv_args).stdout) == doc["perplexity"]  # csv prints the perplexity


def test_ppl_table_reports_tokens_ignored_and_perplexity(xent):
    r = xent("ppl", "--logits", "0,0,0,0;0,0,0,0;1,2,3,4", "--targets", "1,3,-100", "--ignore-index", "-100",
             "--base", "2", "--format", "table")
    assert r.exit_code == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    assert ["tokens", "2"] in lines and ["ignored", "1", "(index", "-100)"] in lines
    assert ["mean", "CE", "(bits)", "2"] in lines and ["perplexity", "4"] in lines


def test_ppl_of_uniform_logits_is_the_vocabulary_size(xent):
    assert float(xent("ppl", "--logits", "0,0,0,0;0,0,0,0", "--targets", "1,3").stdout) == pytest.approx(4.0, rel=1e-15)
    r = xent("ppl", "--logits", "0,0;0,0", "--targets", "1,0;0,1")
    assert r.exit_code == 1 and "class index per sample" in r.stderr
    r = xent("ppl", "--logits", "0,0;0,0", "--targets", "-1,-1", "--ignore-index", "-1", "--format", "json")
    assert r.exit_code == 0 and "every token is ignored" in r.stderr and json.loads(r.stdout)["n"] == 0


# -- grad -------------------------------------------------------------------------------


def test_grad_ce_against_pytorch_autograd(xent, torch_cases):
    for case in torch_cases[::3]:
        logits = csv_matrix(case["logits"]) + ";"
        labels = ",".join(str(k) for k in case["labels"]) if case["index"] else csv_matrix(case["labels"]) + ";"
        args = ["grad", "--logits", logits, "--labels", labels, "--reduction", case["reduction"], "--format", "json",
                "--label-smoothing", case["label_smoothing"], "--temperature", case["temperature"], "--check"]
        if case["weights"]:
            args += ["--weights", ",".join(map(repr, case["weights"]))]
        if case["ignore_index"] is not None:
            args += ["--ignore-index", case["ignore_index"]]
        if case["index"] and len(case["logits"]) == 1:
            args[4] = labels + ";"  # one index as a 1x1 matrix, not a 1-D label vector
        doc = as_json(xent(*args))
        assert list(doc) == ["command", "shape", "loss", "reduction", "grad", "max_abs_diff"]
        np.testing.assert_allclose(doc["grad"], case["grad"], rtol=1e-12, atol=1e-15, err_msg=str(args))
        assert doc["max_abs_diff"] <= 1e-6


def test_grad_document_example_and_output_forms(xent):
    labels, logits = str(SAMPLE / "labels.csv"), str(SAMPLE / "logits.csv")
    r = xent("grad", "--logits", logits, "--labels", labels, "--reduction", "none")
    g = np.array([[float(v) for v in line.split(",")] for line in r.stdout.splitlines()])
    softmax = np.array([[0.84379473, 0.1141952, 0.04201007], [0.00657326, 0.97555875, 0.01786798]])
    np.testing.assert_allclose(g, softmax - np.array([[1, 0, 0], [0, 0.8, 0.2]]), atol=5e-9)
    r = xent("grad", "--logits", logits, "--labels", labels, "--check")
    assert r.exit_code == 0 and r.stderr.startswith("max_abs_diff: ") and float(r.stderr.split()[1]) < 1e-9
    r = xent("grad", "--logits", logits, "--labels", labels, "--format", "table")
    for text in ("softmax", "gradient", "-0.078102633", "denominator"):
        assert text in r.stdout


def test_grad_bce_matches_sigmoid_minus_targets_and_finite_differences(xent):
    doc = as_json(xent("grad", "--loss", "bce", "--logits", "0,1e4;-1e4,2", "--labels", "1,0;0,0.5",
                       "--reduction", "sum", "--format", "json", "--check"))
    s = 1 / (1 + math.exp(-2))
    np.testing.assert_allclose(doc["grad"], [[-0.5, 1.0], [0.0, s - 0.5]], rtol=1e-15)
    assert doc["max_abs_diff"] <= 1e-6


def test_grad_rejects_options_of_the_other_loss(xent):
    r = xent("grad", "--loss", "ce", "--logits", "0,1", "--labels", "1", "--pos-weight", "1,2")
    assert r.exit_code == 2 and "--pos-weight does not apply to --loss ce" in r.stderr
    r = xent("grad", "--loss", "bce", "--logits", "0,1", "--labels", "1,0", "--label-smoothing", "0.1")
    assert r.exit_code == 2 and "--label-smoothing" in r.stderr


# -- labels of the predictions' shape in a file are read block by block ----------------------


def test_label_files_stream_and_give_the_numbers_of_labels_in_memory(xent, tmp_path):
    rng = np.random.default_rng(5)
    z = rng.normal(size=(30000, 40))  # several blocks of 512 Ki values
    y = rng.dirichlet(np.ones(40), size=30000)
    t = (rng.random((30000, 40)) < 0.3).astype(np.float64)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "t.npy", t)
    # The same labels held in memory: an .npz array is read whole.
    np.savez(tmp_path / "mem.npz", y=y, t=t)
    zf = str(tmp_path / "z.npy")
    for streamed, whole, extra in [(tmp_path / "y.npy", f"{tmp_path}/mem.npz:y", []),
                                   (tmp_path / "y.npy", f"{tmp_path}/mem.npz:y", ["--label-smoothing", "0.1"])]:
        a = json.loads(xent("ce", "--logits", zf, "--labels", streamed, "--format", "json", *extra).stdout)
        b = json.loads(xent("ce", "--logits", zf, "--labels", whole, "--format", "json", *extra).stdout)
        assert a == b
    a = xent("bce", "--logits", zf, "--labels", tmp_path / "t.npy", "--reduction", "none").stdout
    assert a == xent("bce", "--logits", zf, "--labels", f"{tmp_path}/mem.npz:t", "--reduction", "none").stdout
    g1 = xent("grad", "--logits", zf, "--labels", tmp_path / "y.npy", "--format", "npy", "--check")
    g2 = xent("grad", "--logits", zf, "--labels", f"{tmp_path}/mem.npz:y", "--format", "npy", "--check")
    assert g1.stdout_bytes == g2.stdout_bytes and g1.stderr == g2.stderr
    assert xent("ce", "--logits", zf, "--labels", tmp_path / "y.npy", "--format", "table").exit_code == 0


def test_streamed_label_errors_name_the_row_and_file(xent, tmp_path):
    rng = np.random.default_rng(6)
    z = rng.normal(size=(30000, 40))
    y = rng.dirichlet(np.ones(40), size=30000)
    y[25000] *= 2.0  # sums to 2, in a later block: --renormalize would fix it
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    r = xent("ce", "--logits", tmp_path / "z.npy", "--labels", tmp_path / "y.npy")
    assert r.exit_code == 1 and "y.npy: row 25001" in r.stderr and "--renormalize" in r.stderr
    r = xent("ce", "--logits", tmp_path / "z.npy", "--labels", tmp_path / "y.npy", "--renormalize", "--format", "json")
    assert r.exit_code == 0 and "rescaled 1 row(s)" in r.stderr
    r = xent("ce", "--logits", tmp_path / "z.npy", "--labels", tmp_path / "y.npy", "--ignore-index", "0")
    assert r.exit_code == 2 and "--ignore-index applies to class-index labels only" in r.stderr
    t = (rng.random((30000, 40)) < 0.3).astype(np.float64)
    t[29999, 39] = 1.5
    np.save(tmp_path / "t.npy", t)
    r = xent("bce", "--logits", tmp_path / "z.npy", "--labels", tmp_path / "t.npy")
    assert r.exit_code == 1 and "t.npy: row 30000, class 40" in r.stderr


def test_label_files_are_not_read_whole(tmp_path):
    from xentcli.engine import ThreadPool
    from xentcli.inputs import LabelRows, Reading, load_labels, load_predictions

    np.save(tmp_path / "z.npy", np.zeros((10, 4)))
    np.save(tmp_path / "y.npy", np.full((10, 4), 0.25))
    reading = Reading("ce", "auto", ThreadPool(), frozenset())
    pred = load_predictions(str(tmp_path / "z.npy"), None, reading=reading)
    y, _ = load_labels(str(tmp_path / "y.npy"), pred, reading=reading)
    assert isinstance(y, LabelRows) and not core.is_index_labels(y)
    assert core.cross_entropy_denominator(y) == 10.0


def test_default_class_names_are_made_when_asked(xent):
    """0 … C-1 without a list of C strings (a vocabulary of millions), and the same names wherever shown."""
    from xentcli.inputs.labels import IndexNames

    names = IndexNames(5)
    assert len(names) == 5 and list(names) == ["0", "1", "2", "3", "4"]
    assert names[-1] == "4" and names[1:3] == ["1", "2"] and "3" in names and "5" not in names
    with pytest.raises(IndexError):
        names[5]
    wide = IndexNames(10**9)
    assert len(wide) == 10**9 and wide[123456789] == "123456789"
    out = xent("softmax", "--logits", "0,1,2", "--format", "csv", "--header")
    assert out.output.splitlines()[0] == "0,1,2"
