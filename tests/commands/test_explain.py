"""``--explain`` (SPEC §8): the derivation, step by step, never a different number.

The numbers an explanation prints are parsed back out of its plain text and compared with the
JSON of the same run without ``--explain``; the document's example must show the document's
printed numbers; snapshots fix the wording of a few cases (read them as a user would).
"""

import json
import re

import pytest

from tests.cli_helpers import shows_number
from tests.conftest import run_process
from xentcli.numbers import format_number

DOC = ["--labels", "1,0,0;0,0.8,0.2", "--logits", "4,2,1;0,5,1"]
SATURATED = ["grad", "--loss", "mse", "--through", "sigmoid", "--logits", "5", "--labels", "0"]
NUMBER = re.compile(r"-?(?:\d+\.?\d*(?:e[-+]?\d+)?|inf)|nan")


def run(xent, *args):
    result = xent(*args)
    assert result.exit_code == 0, result.output
    return result


def steps(text: str) -> dict:
    """Step title -> its lines (without the two-space indent)."""
    out, title = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            title = line
            out[title] = []
        elif title and line.strip():
            out[title].append(line[2:])
    return out


def numbers(line: str) -> list[str]:
    return NUMBER.findall(line.split("=", 1)[1] if "=" in line else line)


def printed(x) -> str:
    return format_number(x, 8)


CE_PROBS_BITS = """\
cross-entropy, step by step

settings
  probabilities given (--probs): log p is taken of them directly

row 1: cross-entropy
  p = [0.7, 0.2, 0.1]
  log p = [-0.35667494, -1.6094379, -2.3025851]
  label y = [1, 0, 0]
  loss = -Σ y·log p
       = -[1·log 0.7 + 0·log 0.2 + 0·log 0.1]
       = -[1·(-0.35667494) + 0 + 0]
       = 0.35667494 nats
  in bits: divide by ln 2 = 0.69314718: loss = 0.35667494 / 0.69314718 = 0.51457317 bits

reduction (mean)
  sum = 0.51457317 bits (one sample)
  denominator = 1: the number of samples N
  mean = sum / denominator = 0.51457317 / 1 = 0.51457317 bits

perplexity
  perplexity = exp(mean in nats) = exp(0.35667494) = 1.4285714
  the branching factor: on average the model is as unsure as a fair choice among 1.4285714 classes \
(the same number in every base)

result
  reduction = mean
  denominator = 1
  mean = 0.51457317
  perplexity = 1.4285714
"""

SOFTMAX_T2 = """\
softmax, step by step

row 1: softmax
  logits z = [3, 1, -3]
  shift by the row maximum m = 3: z - m = [0, -2, -6]  (the shift cancels in the division; no exponential overflows)
  divide by T = 2: (z - m)/T = [0, -1, -3]
  exponentials exp((z - m)/T) = [1, 0.36787944, 0.049787068]
  their sum s = 1 + 0.36787944 + 0.049787068 = 1.4176665
  divide: p = exp((z - m)/T) / s = [0.70538451, 0.25949646, 0.035119027]

result: softmax of 1 row (T = 2)
  row 1: p = [0.70538451, 0.25949646, 0.035119027]
"""

GRAD_SATURATED = """\
gradient of squared error through sigmoid with respect to the logits, step by step

row 1: the gradient of its squared error through sigmoid
  logits z = [5]
  y = [0]
  σ(z) = 1 / (1 + exp(-z)) = [0.99330715]  (each entry its own probability)
  ∂loss/∂ŷ = 2·(ŷ - y) = [1.9866143]
  σ'(z) = σ(z)·(1 - σ(z)) = [0.0066480567]
  ∂loss/∂z = 2·(σ(z) - y)·σ'(z)
           = [1.9866143·0.0066480567]
           = [0.013207124]
  mean: divided by the denominator 1 = [0.013207124]

row 1: beside it, binary cross-entropy
  the same logits under binary cross-entropy (each sample's own loss, before any reduction):
    ∂loss/∂z = σ(z) - y
             = [0.99330715 - 0]
             = [0.99330715]
  side by side: BCE [0.99330715]   MSE [0.013207124]
  a saturated wrong prediction: σ'(z) = [0.0066480567], so MSE's gradient 2(σ(z) - y)·σ'(z) collapses
  while CE's stays σ(z) - y: MSE barely corrects a confident mistake, CE pushes at full strength. \
That is why classifiers are trained with cross-entropy.

result: ∂loss/∂z, 1 × 1, divided by the mean's denominator 1
  row 1: [0.013207124]
"""


# -- every number is the command's own ---------------------------------------------------------------


def test_ce_numbers_are_the_commands_own(xent):
    args = ["ce", "--labels", "0,1,2,1,0", "--logits", "4,2,1;0,5,1;1,1,1;2,-1,3;0.5,0,0", "--weights", "1,2,3",
            "--label-smoothing", "0.1", "--base", "2", "--reduction", "none"]
    doc = json.loads(run(xent, *args, "--format", "json").stdout)
    text = run(xent, *args, "--explain").stdout
    st = steps(text)
    for i in range(3):
        lines = st[f"row {i + 1}: cross-entropy"]
        in_bits = [line for line in lines if line.startswith("in bits")][0]
        assert in_bits.split()[-2] == printed(doc["per_sample"][i])
    result = dict(line.split(" = ", 1) for line in st["result"] if " = " in line)
    per = st["result"][0]
    assert numbers(per) == [printed(v) for v in doc["per_sample"]]
    assert result["mean"] == printed(doc["mean"])
    assert result["denominator"] == printed(doc["denominator"])
    assert result["perplexity"] == printed(doc["perplexity"])
    red = st["reduction (none)"]
    assert numbers(red[0])[-1] == printed(doc["sum"]) and numbers(red[2])[-1] == printed(doc["mean"])
    assert "2 more samples not explained" in text


def test_softmax_numbers_are_the_commands_own(xent):
    args = ["softmax", "--logits", "4,2,1;0,5,1;3,1,-3;1000,0,-1000", "--temperature", "0.7"]
    doc = json.loads(run(xent, *args, "--format", "json").stdout)
    st = steps(run(xent, *args, "--explain", "--explain-rows", "4").stdout)
    for i, row in enumerate(doc["probs"]):
        divided = [line for line in st[f"row {i + 1}: softmax"] if line.startswith("divide:")][0]
        assert numbers(divided.rsplit("=", 1)[1]) == [printed(p) for p in row]
        assert numbers(st["result: softmax of 4 rows (T = 0.7)"][i]) == [printed(p) for p in row]


def test_log_softmax_numbers_are_the_commands_own(xent):
    args = ["softmax", "--logits", "0,-1000;3,1", "--log"]
    doc = json.loads(run(xent, *args, "--format", "json").stdout)
    st = steps(run(xent, *args, "--explain").stdout)
    for i, row in enumerate(doc["log_probs"]):
        assert numbers(st["result: log-softmax of 2 rows"][i]) == [printed(p) for p in row]


@pytest.mark.parametrize("extra", [[], ["--reduction", "sum"],
                                   ["--loss", "bce", "--labels", "1,0;0,1", "--logits", "2,-1;0,3"],
                                   ["--loss", "mse", "--through", "softmax"],
                                   ["--weights", "1,2,3", "--label-smoothing", "0.2"]])
def test_grad_numbers_are_the_commands_own(xent, extra):
    base = ["grad", *DOC] if "--labels" not in extra else ["grad"]
    args = base + extra
    doc = json.loads(run(xent, *args, "--format", "json").stdout)
    st = steps(run(xent, *args, "--explain").stdout)
    result = [lines for title, lines in st.items() if title.startswith("result")][0]
    for i, row in enumerate(doc["grad"]):
        assert numbers(result[i].split(":", 1)[1]) == [printed(g) for g in row]
        own = [lines for title, lines in st.items() if title.startswith(f"row {i + 1}: the gradient")][0]
        assert numbers(own[-1].rsplit("=", 1)[1]) == [printed(g) for g in row]


# -- the document -------------------------------------------------------------------------------------


def test_the_documents_example_explained(xent):
    text = run(xent, "ce", *DOC, "--explain").stdout
    for value in ("0.84379473", "0.1141952", "0.042010066", "0.16984602", "0.82474489", "0.49729545"):
        assert value in text  # 0.04201007 at 8 significant digits; the mean at the table's digits
    assert "0·log 0.1141952" in text and "= -[1·(-0.16984602) + 0 + 0]" in text
    assert "z - m = [0, -2, -3]" in text and "their sum s = 1 + 0.13533528 + 0.049787068 = 1.1851224" in text


def test_example_explain_walks_the_whole_document(xent):
    text = run(xent, "example", "--explain").stdout
    for value in ("0.84379473", "0.1141952", "0.04201007", "0.00657326", "0.97555875", "0.01786798",
                  "0.16984602", "0.82474489", "0.16984483", "0.82473288", "0.35667494393873245", "-0.15620527",
                  "-0.18213202"):
        assert value in text, value
    for value in (0.4972954548475541, 0.49728885581916177):  # all digits: within a few ulp
        assert shows_number(text, value), value
    assert "why the document's NumPy code and TensorFlow differ in the 6th digit" in text
    assert "log(p + ε) - log p = log(1 + ε/p) ≈ ε/p" in text
    assert "Traceback" not in text and "\x1b" not in text


# -- snapshots ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, expected", [
    (["ce", "--labels", "1,0,0", "--probs", "0.7,0.2,0.1", "--base", "2"], CE_PROBS_BITS),
    (["softmax", "--logits", "3,1,-3", "--temperature", "2"], SOFTMAX_T2),
    (SATURATED, GRAD_SATURATED),
])
def test_explain_wording_probs_in_bits_softmax_t2_saturated_grad(xent, args, expected):
    assert run(xent, *args, "--explain").stdout == expected


def test_snapshot_of_the_document_ce(xent):
    text = run(xent, "ce", *DOC, "--explain").stdout
    st = steps(text)
    assert list(st) == ["cross-entropy, step by step", "row 1: cross-entropy", "row 2: cross-entropy",
                        "reduction (mean)", "perplexity", "result"]
    assert st["row 2: cross-entropy"][-4:] == [
        "loss = -Σ y·log p",
        "     = -[0·log 0.0065732632 + 0.8·log 0.97555875 + 0.2·log 0.017867982]",
        "     = -[0 + 0.8·(-0.02474489) + 0.2·(-4.0247449)]",
        "     = 0.82474489 nats",
    ]
    assert st["result"] == ["reduction = mean", "denominator = 2", "mean = 0.49729545", "perplexity = 1.6442683"]


# -- where it goes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "npy"])
@pytest.mark.parametrize("command", [
    ["ce", *DOC], ["softmax", "--logits", "4,2,1;0,5,1"], ["grad", *DOC],
    ["kl", "--p", "0.5,0.5;0.2,0.8", "--q", "0.25,0.75;0.3,0.7"],
    ["kl", "--p-logits", "1,2,3", "--q-logits", "1,2,2.9", "--reduction", "none"],
    ["bce", "--labels", "1,0,1;0,1,0", "--logits", "2,-1,0.5;-3,4,0", "--pos-weight", "2,1,1"],
    ["ppl", "--logits", "4,2,1;0,5,1;1,1,1", "--targets", "0,1,-100", "--ignore-index", "-100"],
    ["mse", "--labels", "0,2", "--logits", "2,1,0;0,1,3", "--through", "softmax", "--reduction", "none"],
])
def test_machine_output_is_unchanged_and_the_explanation_on_stderr(xent, command, fmt):
    plain = run(xent, *command, "--format", fmt)
    explained = run(xent, *command, "--format", fmt, "--explain")
    assert explained.stdout_bytes == plain.stdout_bytes
    assert "step by step" in explained.stderr and plain.stderr == ""


def test_output_file_gets_the_result_and_stderr_the_explanation(xent, tmp_path):
    run(xent, "ce", *DOC, "-o", tmp_path / "a.json")
    explained = run(xent, "ce", *DOC, "-o", tmp_path / "b.json", "--explain")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert explained.stdout == "" and "step by step" in explained.stderr


def test_explain_rows_says_how_many_it_left_out(xent):
    text = run(xent, "ce", "--labels", "0,1,2,1,0", "--logits", "4,2,1;0,5,1;1,1,1;2,-1,3;0.5,0,0",
               "--explain", "--explain-rows", "1").stdout
    assert "row 1: cross-entropy" in text and "row 2:" not in text
    assert "4 more samples not explained" in text
    grad = run(xent, "grad", *DOC, "--explain-rows", "1", "--explain").stdout
    assert "1 more row not explained" in grad


def test_saturated_sigmoid_shows_both_gradients(xent):
    text = run(xent, *SATURATED, "--explain").stdout
    assert "side by side: BCE [0.99330715]   MSE [0.013207124]" in text
    assert "σ'(z) = σ(z)·(1 - σ(z)) = [0.0066480567]" in text and "collapses" in text


def test_grad_ce_puts_mse_beside_it(xent):
    text = run(xent, "grad", *DOC, "--explain").stdout
    assert "row 1: beside it, squared error through softmax" in text
    assert "side by side: CE [-0.15620527, 0.1141952, 0.042010066]" in text


def test_no_ansi_on_a_pipe():
    for args in (["ce", *DOC], ["example"], SATURATED):
        out = run_process(*args, "--explain")
        assert out.returncode == 0, out.stderr
        assert b"\x1b" not in out.stdout and b"step by step" in out.stdout and out.stderr == b""


def test_entropy_numbers_are_the_commands_own(xent):
    args = ["entropy", "--logits", "4,2,1;0,5,1;1,1,1;0,0,-inf", "--base", "2", "--reduction", "none"]
    doc = json.loads(run(xent, *args, "--format", "json").stdout)
    text = run(xent, *args, "--explain", "--explain-rows", "4").stdout
    st = steps(text)
    for i in range(4):
        in_bits = [line for line in st[f"row {i + 1}: entropy"] if line.startswith("in bits")][0]
        assert in_bits.split()[-2] == printed(doc["per_sample"][i])
    assert "0·log 0" in st["row 4: entropy"][-4] and "1.5 bits" not in text
    result = dict(line.split(" = ", 1) for line in st["result"][1:])
    assert result["mean"] == printed(doc["mean"])
    assert numbers(st["result"][0]) == [printed(v) for v in doc["per_sample"]]


# -- kl, bce, ppl, mse ---------------------------------------------------------------------------------


def test_kl_numbers_are_the_commands_own(xent):
    args = ["kl", "--p", "0.5,0.5,0;0.2,0.3,0.5;0.1,0.1,0.8", "--q", "0.25,0.5,0.25;0.2,0.3,0.5;0.3,0.3,0.4",
            "--base", "2", "--reduction", "none"]
    doc = json.loads(run(xent, *args, "--format", "json").stdout)
    st = steps(run(xent, *args, "--explain").stdout)
    for i in range(3):
        lines = st[f"row {i + 1}: KL(P‖Q) = H(P,Q) - H(P)"]
        in_bits = [line for line in lines if line.startswith("in bits")][0]
        assert in_bits.split()[-2] == printed(doc["per_sample"][i])
        assert any(line.startswith("H(P,Q) = -Σ p·log q") for line in lines)
        assert any(line.startswith("H(P) = -Σ p·log p") for line in lines)
    assert st["row 2: KL(P‖Q) = H(P,Q) - H(P)"][-2].endswith("= 0 nats")  # P = Q: exactly 0
    assert numbers(st["result"][0]) == [printed(v) for v in doc["per_sample"]]
    result = dict(line.split(" = ", 1) for line in st["result"][1:])
    assert result["mean"] == printed(doc["mean"]) and result["denominator"] == printed(doc["denominator"])
    red = st["reduction (none)"]
    assert numbers(red[0])[-1] == printed(doc["sum"]) and numbers(red[2])[-1] == printed(doc["mean"])


def test_kl_from_logits_uses_the_commands_columns(xent):
    args = ["kl", "--p-logits", "1,2,3;0,0,0", "--q-logits", "1,2,2.9;0,0,1e-9"]
    doc = json.loads(run(xent, *args, "--format", "json", "--reduction", "none").stdout)
    st = steps(run(xent, *args, "--explain", "--reduction", "none").stdout)
    for i in range(2):
        lines = st[f"row {i + 1}: KL(P‖Q) = H(P,Q) - H(P)"]
        assert lines[0].startswith("P from logits z_P") and lines[2].startswith("Q from logits z_Q")
        assert lines[-1].split()[-2] == printed(doc["per_sample"][i])  # summed exactly, not H(P,Q) - H(P)


@pytest.mark.parametrize("extra", [[], ["--pos-weight", "2,1,0.5"], ["--class-mean", "--base", "2"],
                                   ["--reduction", "sum"]])
def test_bce_numbers_are_the_commands_own(xent, extra):
    args = ["bce", "--labels", "1,0,1;0,1,0;1,1,0;0,0,1", "--logits", "2,-1,0.5;-3,4,0;1,1,1;-20,30,2", *extra]
    doc = json.loads(run(xent, *args, "--format", "json", "--reduction", "none").stdout)
    plain = json.loads(run(xent, *args, "--format", "json").stdout)
    st = steps(run(xent, *args, "--explain").stdout)
    in_base = "--base" in extra
    for i in range(3):
        lines = st[f"row {i + 1}: binary cross-entropy"]
        loss = [line for line in lines if line.startswith("loss =")][0]
        if in_base:
            loss = [line for line in lines if line.startswith("in bits")][0]
        assert loss.split()[-2] == printed(doc["per_sample"][i])
        assert sum(1 for line in lines if line.startswith("  class ")) == 3
    assert "1 more sample not explained" in "\n".join(st["the other samples"])
    result = dict(line.split(" = ", 1) for line in st["result"])
    shown = "sum" if plain["reduction"] == "sum" else "mean"
    assert result[shown] == printed(plain[shown]) and result["denominator"] == printed(plain["denominator"])
    red = st[f"reduction ({plain['reduction']})"]
    assert numbers(red[0])[-1] == printed(plain["sum"]) and numbers(red[2])[-1] == printed(plain["mean"])


def test_bce_element_terms_are_the_cores(xent):
    text = run(xent, "bce", "--labels", "1,0;", "--probs", "0.9,0.2;", "--explain").stdout
    assert "class 0: -[1·(-0.10536052) + 0] = 0.10536052" in text
    assert "class 1: -[0 + 1·(-0.22314355)] = 0.22314355" in text


@pytest.mark.parametrize("extra", [[], ["--base", "2"], ["--temperature", "0.5"]])
def test_ppl_numbers_are_the_commands_own(xent, extra):
    args = ["ppl", "--logits", "4,2,1;0,5,1;1,1,1;2,-1,3;0,0,9", "--targets", "0,1,-100,2,1", "--ignore-index", "-100",
            *extra]
    doc = json.loads(run(xent, *args, "--format", "json").stdout)
    text = run(xent, *args, "--explain", "--explain-rows", "4").stdout
    st = steps(text)
    assert "token 3: ignored" in st and "1 more token not explained" in text
    mean = st["mean cross-entropy over the counted tokens"]
    assert mean[0].startswith("1 token ignored (--ignore-index -100)")
    assert numbers(mean[2])[0] == printed(doc["n"]) and numbers(mean[-1])[-1] == printed(doc["mean"])
    ppl = st["perplexity"]
    assert numbers(ppl[0])[-1] == printed(doc["perplexity"])
    assert f"as uncertain as a uniform choice among {printed(doc['perplexity'])} tokens" in ppl[-1]
    result = dict(line.split(" = ", 1) for line in st["result"])
    assert result["perplexity"] == printed(doc["perplexity"]) and result["tokens"] == str(doc["n"])
    assert [v for k, v in result.items() if k.startswith("mean CE")] == [printed(doc["mean"])]


@pytest.mark.parametrize("extra", [["--preds", "0.7,0.2,0.1;0.1,0.8,0.1;0.3,0.3,0.4;0,0,1"],
                                   ["--logits", "2,1,0;0,1,3;5,5,5;-1,0,1", "--through", "softmax"],
                                   ["--logits", "2,1,0;0,1,3;5,5,5;-1,0,40", "--through", "sigmoid", "--half"],
                                   ["--preds", "0.7,0.2,0.1;0.1,0.8,0.1;0.3,0.3,0.4;0,0,1", "--reduction", "sum"]])
def test_mse_numbers_are_the_commands_own(xent, extra):
    args = ["mse", "--labels", "0,1,2,2", *extra]
    doc = json.loads(run(xent, *args, "--format", "json", "--reduction", "none").stdout)
    plain = json.loads(run(xent, *args, "--format", "json").stdout)
    st = steps(run(xent, *args, "--explain", "--explain-rows", "3").stdout)
    for i in range(3):
        lines = st[f"row {i + 1}: squared error"]
        assert numbers(lines[-1])[-1] == printed(doc["per_sample"][i])
        assert "--half" in lines[-1] if "--half" in extra else lines[-1].startswith("           = ")
    reduction = plain["reduction"]
    red = st[f"reduction ({reduction})"]
    assert numbers(red[0])[-1] == printed(plain["sum"]) and numbers(red[2])[-1] == printed(plain["mean"])
    denominator = "4" if "--half" in extra else "12"  # --half: ½·(1/m)·Σ over the m samples; else N·C entries
    assert numbers(red[1])[0] == printed(plain["denominator"]) == denominator
    result = dict(line.split(" = ", 1) for line in st["result"] if " = " in line)
    assert result[reduction] == printed(plain[reduction]) and result["denominator"] == denominator


MSE_DOC = """\
squared error, step by step

row 1: squared error
  ŷ = [0.7, 0.2, 0.1]
  y = [1, 0, 0]
  ŷ - y = [-0.3, 0.2, 0.1]
  Σ (ŷ - y)² = (-0.3)² + 0.2² + 0.1²
             = 0.09 + 0.04 + 0.01
             = 0.14

reduction (mean)
  sum = 0.14 (one sample)
  denominator = 3: every entry, N·C = 1·3 (torch.nn.MSELoss's mean)
  mean = sum / denominator = 0.14 / 3 = 0.046666667

result
  reduction = mean
  denominator = 3
  mean = 0.046666667
"""


def test_mse_explain_of_the_documents_sample_reads_as_written(xent):
    assert run(xent, "mse", "--labels", "1,0,0;", "--preds", "0.7,0.2,0.1;", "--explain").stdout == MSE_DOC


@pytest.mark.parametrize("extra, divisor", [([], ""), (["--class-mean"], " / 2")])
def test_grad_pos_weight_terms_are_substituted(xent, extra, divisor):
    # σ(2) = 1/(1 + e^-2) = 0.8807970779778823, σ(-1) = 0.2689414213699951 (by hand); with pw = (3, 2):
    # 0.88079708·(3·1 + 1 - 1) - 3·1 = -0.35760877 (PyTorch autograd of BCEWithLogits, sum: -0.3576087660663531)
    out = run(xent, "grad", "--loss", "bce", "--logits", "2,-1;", "--labels", "1,0;", "--pos-weight", "3,2", *extra,
              "--explain").stdout
    assert f"= [0.88079708·(3·1 + 1 - 1) - 3·1, 0.26894142·(2·0 + 1 - 0) - 2·0]{divisor}\n" in out
    assert ("= [-0.35760877, 0.26894142]" if not extra else "= [-0.17880438, 0.13447071]") in out
