"""SPEC §4: every bad input fails cleanly, nothing is lost, numbers stay exact at the extremes."""

import io
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.conftest import BAD_ROWS, run_process, spoil, xent
from xentcli import core
from xentcli.errors import XentError
from xentcli.readers import read_matrix
from xentcli.readers.text import parse_text

mp.mp.dps = 50


def _installed_xent() -> list[str]:
    """The real console script of this environment (else ``python -m xentcli``)."""
    script = Path(sys.executable).with_name("xent")
    if script.exists():
        return [str(script)]
    found = shutil.which("xent")
    return [found] if found else [sys.executable, "-m", "xentcli"]


def _npy_bytes(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


_ok_npy = _npy_bytes(np.ones((2, 3)))

# name: (files {name: bytes}, args ({d} is the folder), stdin, exit code, substrings of the one-line message)
BAD_INPUTS = {
    "missing file": ({}, ["ce", "--labels", "{d}/nope.csv", "--logits", "1,2"], None, 2,
                     ["--labels", "nope.csv", "not found"]),
    # (a directory of supported files is read as shards: one holding none is a wrong call)
    "directory": ({"empty/README": b"no data here"}, ["softmax", "--logits", "{d}/empty"], None, 2,
                  ["--logits", "directory"]),
    "unknown extension": ({"z.xlsx": b"1,2"}, ["softmax", "--logits", "{d}/z.xlsx"], None, 2,
                          ["z.xlsx", "'.xlsx'", ".csv", ".npz"]),
    "empty file": ({"z.csv": b""}, ["softmax", "--logits", "{d}/z.csv"], None, 1, ["--logits", "z.csv", "empty"]),
    "empty stdin": ({}, ["softmax", "--logits", "-"], b"", 1, ["--logits", "stdin", "empty"]),
    "header only": ({"z.csv": b"cat,dog\n"}, ["softmax", "--logits", "{d}/z.csv"], None, 1, ["z.csv", "header"]),
    "ragged rows": ({"z.csv": b"1,2,3\n4,5\n"}, ["softmax", "--logits", "{d}/z.csv"], None, 1,
                    ["line 2", "2 values", "expected 3"]),
    "non-numeric cell": ({"z.csv": b"1,2\n3,abc\n"}, ["softmax", "--logits", "{d}/z.csv"], None, 1,
                         ["line 2, column 2", "'abc'"]),
    "empty cell": ({"z.csv": b"1,,2\n"}, ["softmax", "--logits", "{d}/z.csv"], None, 1,
                   ["line 1, column 2", "empty cell"]),
    "trailing delimiter": ({"z.csv": b"1,2,\n"}, ["softmax", "--logits", "{d}/z.csv"], None, 1,
                           ["line 1, column 3", "trailing delimiter"]),
    "non-UTF-8 bytes": ({"z.csv": b"1,2\n3,4\n\xe9,5\n"}, ["softmax", "--logits", "{d}/z.csv"], None, 1,
                        ["line 3", "0xe9", "UTF-8"]),
    "binary bytes": ({"z.csv": b"1,2\n\x00\x01\x02"}, ["softmax", "--logits", "{d}/z.csv"], None, 1,
                     ["line 2", "binary"]),
    "binary on stdin": ({}, ["softmax", "--logits", "-"], b"\x00\x01garbage", 1, ["stdin", "binary"]),
    "truncated npy": ({"z.npy": _ok_npy[:-5]}, ["softmax", "--logits", "{d}/z.npy"], None, 1, ["z.npy", "truncated"]),
    "fake npy": ({"z.npy": b"not numpy at all"}, ["softmax", "--logits", "{d}/z.npy"], None, 1,
                 ["z.npy", "not an NPY file"]),
    "truncated npy on stdin": ({}, ["softmax", "--logits", "-"], _ok_npy[:-5], 1, ["stdin", "NPY"]),
    "object npy": ({"z.npy": b""}, ["softmax", "--logits", "{d}/obj.npy"], None, 1,
                   ["obj.npy", "not numeric", "never unpickled"]),
    "string npy": ({"s.npy": _npy_bytes(np.array(["a", "b"]))}, ["softmax", "--logits", "{d}/s.npy"], None, 1,
                   ["s.npy", "not numeric"]),
    "npz key missing": ({}, ["softmax", "--logits", "{d}/d.npz:nope"], None, 2,
                        ["d.npz", "'nope'", "logits", "targets"]),
    "npz ambiguous": ({}, ["softmax", "--logits", "{d}/d.npz"], None, 2, ["d.npz", "2 arrays", "KEY"]),
    "NaN logit": ({"z.csv": b"1,2\n3,nan\n"}, ["softmax", "--logits", "{d}/z.csv"], None, 1, ["z.csv", "row 2", "nan"]),
    "+inf logit": ({"z.csv": b"1,inf\n"}, ["softmax", "--logits", "{d}/z.csv"], None, 1, ["row 1", "inf"]),
    # (not "1,2" on line 1: column numbers over a row without integers are a header, as pandas writes)
    "row of only -inf": ({"z.csv": b"2,1\n-inf,-inf\n"}, ["softmax", "--logits", "{d}/z.csv"], None, 1,
                         ["z.csv line 2", "row 2", "-inf"]),
    "shape mismatch": ({}, ["ce", "--labels", "1,0,0;0,1,0;0,0,1", "--logits", "1,2,3;4,5,6"], None, 1,
                       ["(3, 3)", "(2, 3)"]),
    "index out of range": ({"y.csv": b"0\n3\n"}, ["ce", "--labels", "{d}/y.csv", "--logits", "1,2,3;4,5,6"], None, 1,
                           ["y.csv line 2", "row 2", "class index 3", "3 classes"]),
    "negative index": ({}, ["ce", "--labels", "-1,0", "--logits", "1,2,3;4,5,6"], None, 1, ["row 1", "class index -1"]),
    "fractional index": ({}, ["ce", "--labels", "0.5,1", "--logits", "1,2,3;4,5,6"], None, 1,
                         ["row 1", "0.5", "integer"]),
    "negative label": ({}, ["ce", "--labels", "1.5,-0.5", "--logits", "1,2"], None, 1, ["--labels", "row 1", "-0.5"]),
    "probs outside [0,1]": ({}, ["ce", "--labels", "0", "--probs", "1.5,-0.5"], None, 1,
                            ["--probs", "row 1", "outside [0, 1]"]),
    "probs not summing": ({"p.csv": b"0.5,0.5\n0.5,0.7\n"}, ["ce", "--labels", "0,1", "--probs", "{d}/p.csv"], None, 1,
                          ["p.csv line 2", "row 2", "1.2", "--renormalize"]),
    "labels not summing": ({}, ["ce", "--labels", "0.5,0.7", "--logits", "1,2"], None, 1,
                           ["--labels", "row 1", "--renormalize"]),
    "weights wrong length": ({}, ["ce", "--labels", "0", "--logits", "1,2", "--weights", "1,2,3"], None, 1,
                             ["--weights", "(2)", "(3,)"]),
    "smoothing out of range": ({}, ["ce", "--labels", "0", "--logits", "1,2", "--label-smoothing", "1.5"], None, 2,
                               ["--label-smoothing", "1.5"]),
    "base 1": ({}, ["ce", "--labels", "0", "--logits", "1,2", "--base", "1"], None, 2, ["--base"]),
    "base 0": ({}, ["entropy", "--probs", "1,0", "--base", "0"], None, 2, ["--base"]),
    "base negative": ({}, ["kl", "--p", "1,0", "--q", "1,0", "--base", "-2"], None, 2, ["--base"]),
    "base word": ({}, ["kl", "--p", "1,0", "--q", "1,0", "--base", "ten"], None, 2, ["--base", "'ten'"]),
    "temperature 0": ({}, ["softmax", "--logits", "1,2", "--temperature", "0"], None, 2, ["--temperature"]),
    "temperature negative": ({}, ["ppl", "--logits", "1,2", "--targets", "0", "--temperature", "-1"], None, 2,
                             ["--temperature"]),
    "logits and probs": ({}, ["ce", "--labels", "0", "--logits", "1,2", "--probs", "0.5,0.5"], None, 2,
                         ["--logits", "--probs", "not both"]),
    "two stdin readers": ({}, ["ce", "--labels", "-", "--logits", "-"], b"1,2", 2, ["stdin", "--labels", "--logits"]),
    "malformed inline": ({}, ["ce", "--labels", "0", "--logits", "1,2;3"], None, 2, ["--logits", "malformed", "row 2"]),
    "malformed inline json": ({}, ["ce", "--labels", "0", "--logits", "[[1,2],[3"], None, 2, ["--logits", "malformed"]),
    "unknown option": ({}, ["ce", "--labels", "0", "--logits", "1,2", "--colour"], None, 2, ["--colour"]),
    "precision out of range": ({}, ["softmax", "--logits", "1,2", "--precision", "40"], None, 2, ["--precision"]),
}


def _setup(tmp_path: Path, files: dict):
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "d.npz", logits=np.ones((2, 3)), targets=np.array([0, 1]))


def _check_message(code, stdout, stderr, expected_code, needles):
    assert code == expected_code, stderr
    assert stdout == ""
    assert stderr.startswith("Error: ") and stderr.count("\n") == 1 and "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_in_process(name, tmp_path):
    files, args, stdin, code, needles = BAD_INPUTS[name]
    _setup(tmp_path, files)
    result = xent(*(a.format(d=tmp_path) for a in args), input=stdin)
    _check_message(result.exit_code, result.stdout, result.stderr, code, needles)


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_installed_command(name, tmp_path):
    files, args, stdin, code, needles = BAD_INPUTS[name]
    _setup(tmp_path, files)
    p = subprocess.run(_installed_xent() + [a.format(d=tmp_path) for a in args], input=stdin or b"",
                       capture_output=True, timeout=60)
    _check_message(p.returncode, p.stdout.decode(), p.stderr.decode(), code, needles)


@pytest.mark.parametrize("classes", [5, 64])  # the shifted path and the one-pass path
@pytest.mark.parametrize("bad", BAD_ROWS)
def test_index_ce_checks_after_computing_yet_reports_as_before(classes, bad, tmp_path):
    # ce and ppl with index targets check only the rows that came out NaN: the error must name
    # the same first bad row as the up-front check of softmax, across blocks, ignored or not.
    z = np.random.default_rng(0).normal(size=(20000, classes)).astype(np.float32)
    z[9000, 1] = -np.inf  # valid: a masked class
    z[19000, 2] = np.nan  # a later bad row must not be the one reported
    spoil(z, 12345, bad)
    y = np.zeros(20000, dtype=np.int64)
    y[12345] = -100
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    zf, yf = str(tmp_path / "z.npy"), str(tmp_path / "y.npy")
    expected = xent("softmax", "--logits", zf, "--format", "npy", "-o", str(tmp_path / "p.npy"))
    assert expected.exit_code == 1 and "row 12346" in expected.stderr
    for args in (["ce", "--labels", yf, "--ignore-index", "-100"], ["ppl", "--targets", yf, "--ignore-index", "-100"],
                 ["ce", "--labels", yf, "--ignore-index", "-100",
                  "--weights", ",".join(["0"] + ["1"] * (classes - 1))]):
        got = xent(*args, "--logits", zf)
        assert (got.exit_code, got.stderr) == (1, expected.stderr), args


def test_unreadable_file_is_bad_data(tmp_path):
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("needs Linux /proc")
    r = xent("softmax", "--logits", "/proc/self/mem")
    _check_message(r.exit_code, r.stdout, r.stderr, 1, ["/proc/self/mem", "cannot read"])


def test_debug_shows_a_traceback(tmp_path):
    p = run_process("softmax", "--logits", "1,nan", "--debug", crash_ok=True)
    assert p.returncode != 0 and b"Traceback" in p.stderr


def test_failed_output_keeps_old_file_even_on_late_failure(tmp_path):
    # The error comes after reading and computing: only the writing is atomic.
    target = tmp_path / "out.json"
    target.write_text("keep me")
    r = xent("ce", "--labels", "0,5", "--logits", "1,2;3,4", "-o", str(target))
    assert r.exit_code == 1 and target.read_text() == "keep me"
    assert os.listdir(tmp_path) == ["out.json"]


# -- warnings: stderr, exit 0 ---------------------------------------------------------


@pytest.mark.parametrize(
    "args, needle",
    [
        (["ce", "--labels", "0", "--logits", "0.7,0.2,0.1"], "--probs"),
        (["ce", "--labels", "1", "--logits", "0,-inf"], "inf"),
        (["ce", "--labels", "0", "--probs", "2,1,1", "--renormalize"], "rescaled 1 row"),
        (["softmax", "--logits", "1;2"], "single class"),
        (["ppl", "--logits", "0,0", "--targets", "-1", "--ignore-index", "-1"], "every token is ignored"),
    ],
)
def test_warnings_go_to_stderr_with_exit_0(xent, args, needle):
    r = xent(*args)
    assert r.exit_code == 0 and r.stdout != ""
    assert r.stderr.startswith("Warning: ") and needle in r.stderr


def test_float16_overflow_warns(xent, tmp_path):
    # 60000 is not at the limit; 65504, -65504 and -inf are (3 values). ce and ppl read float16 unwidened.
    z = np.zeros((2, 40), dtype=np.float16)
    z[0, :3] = [60000, -65504, 1]
    z[1, :2] = [65504, -np.inf]
    np.save(tmp_path / "h.npy", z)
    np.save(tmp_path / "t.npy", np.array([2, 3]))
    for args in (["softmax"], ["ce", "--labels", tmp_path / "t.npy"], ["ppl", "--targets", tmp_path / "t.npy"]):
        r = xent(*args, "--logits", tmp_path / "h.npy")
        assert r.exit_code == 0 and "float16 input holds 3 value(s)" in r.stderr and "65504" in r.stderr, args
    z[1, 5] = np.nan
    np.save(tmp_path / "h.npy", z)
    r = xent("ppl", "--targets", tmp_path / "t.npy", "--logits", tmp_path / "h.npy")
    assert r.exit_code == 1 and "row 2, class 6: logit is nan" in r.stderr


# -- properties: nothing escapes the CLI, and the results keep their invariants --------

extreme = st.one_of(
    st.floats(-50, 50), st.sampled_from([1e4, -1e4, 1e300, -1e300, 3e38, -3e38, 0.0, -np.inf, np.inf, np.nan]),
)
matrices = hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)), elements=extreme)


def _inline(m) -> str:
    return ";".join(",".join(repr(float(v)) for v in row) for row in m) + ";"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrices, st.data())
def test_no_traceback_and_invariants_hold(z, data):
    n, c = z.shape
    k = data.draw(st.lists(st.integers(-1, c), min_size=n, max_size=n))

    def run(*args):
        r = xent(*args)
        assert r.exit_code in (0, 1, 2)
        if r.exit_code:  # warnings may come first; the error is the last line
            assert r.stderr.splitlines()[-1].startswith("Error: ")
        return r

    sm = run("softmax", "--logits", _inline(z), "--format", "json")
    if sm.exit_code == 0:
        import json

        p = np.array(json.loads(sm.stdout)["probs"], dtype=float)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    ce = run("ce", "--logits", _inline(z), "--labels", ",".join(map(str, k)), "--reduction", "none")
    if ce.exit_code == 0:
        assert all(float(v) >= 0 for v in ce.stdout.split())
    run("bce", "--logits", _inline(z), "--labels", _inline(np.clip(np.nan_to_num(z), 0, 1)))
    run("kl", "--p-logits", _inline(z), "--q-logits", _inline(z[::-1]))
    run("grad", "--logits", _inline(z), "--labels", ",".join(map(str, k)))


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 5)), elements=st.floats(-30, 30)),
       hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 5)), elements=st.floats(-30, 30)))
def test_cross_entropy_is_entropy_plus_kl(a, b):
    b = np.resize(b, a.shape)
    p, logp = core.log_probs_of(logits=a)
    ce = core.cross_entropy(b, p)  # soft labels P under logits of Q
    assert np.all(ce >= 0)
    kl = core.kl_divergence_with_logits(a, b)
    assert np.all(kl >= -1e-15)
    np.testing.assert_allclose(ce, core.entropy(p, logp) + kl, rtol=1e-10, atol=1e-10)


# -- fuzz: random bytes and near-CSV text give a result or a clean error --------------

near_csv = st.text(alphabet="0123456789.,;-+eE \t\r\n#infa\x00\xe9[]", max_size=200)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=300), near_csv.map(lambda s: s.encode("utf-8"))))
def test_random_bytes_parse_or_give_a_located_error(data):
    try:
        values, _, _ = parse_text(data, "--logits f")
        # numbers, or one column of names (class-name labels)
        assert values.ndim == 2 and (values.dtype == np.float64 or (values.dtype.kind == "U" and values.shape[1] == 1))
    except XentError as e:
        assert str(e).startswith("--logits f")
    try:
        m = read_matrix("-", "--logits", stdin=io.BytesIO(b"\x93NUMPY" + data))
        assert m.values.size > 0
    except XentError:
        pass


@settings(max_examples=200, deadline=None)
@given(near_csv)
def test_fuzz_inline_values(text):
    try:
        read_matrix(text, "--logits", stdin=io.BytesIO(text.encode("utf-8", "surrogatepass")))
    except XentError as e:
        assert e.exit_code in (1, 2)


# -- accuracy against mpmath at 50 digits -------------------------------------------------


def _mp_log_softmax(row):
    terms = [mp.mpf(float(v)) for v in row]
    lse = mp.log(mp.fsum(mp.exp(t) for t in terms))
    return [t - lse for t in terms]


def _close(got, exact, rel=1e-13):
    exact = mp.mpf(exact)
    if abs(exact) < 1e-300:  # at and below float64's subnormals only an absolute error means anything
        return abs(mp.mpf(float(got)) - exact) < 1e-300
    return abs((mp.mpf(float(got)) - exact) / exact) <= rel


EXTREME_ROWS = [
    [1e4, -1e4, 0.0], [1e300, -1e300, 0.0], [3e38, -3e38, 1.0], [700.0, 699.0, -700.0],
    [-745.0, -746.0, -744.5], [0.0, 1e-300, -1e-300], [1e-10, 2e-10, 3e-10], [30.0, 0.0, -30.0],
]


@pytest.mark.parametrize("row", EXTREME_ROWS + np.random.default_rng(7).normal(scale=20, size=(12, 5)).tolist())
def test_accuracy_against_mpmath(row):
    exact = _mp_log_softmax(row)
    got = core.log_softmax(row)
    for j in range(len(row)):
        if exact[j] < -1e300:  # beyond float64: -inf is right
            assert got[j] == -np.inf or _close(got[j], exact[j])
        else:
            assert _close(got[j], exact[j]), (j, got[j], exact[j])
    for k in range(len(row)):
        ce = core.cross_entropy([row], np.array([k]))[0]
        assert np.isfinite(ce) and _close(ce, -exact[k]), (k, ce)
    p = [mp.exp(e) for e in exact]
    h = -mp.fsum(pi * e for pi, e in zip(p, exact) if pi > 0)
    q, logq = core.log_probs_of(logits=[row])
    assert _close(core.entropy(q, logq)[0], h, rel=1e-12)


@pytest.mark.parametrize("z", [-1e4, -745.0, -30.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 30.0, 745.0, 1e4])
@pytest.mark.parametrize("y", [0.0, 0.3, 1.0])
def test_bce_accuracy_against_mpmath(z, y):
    zz = mp.mpf(z)
    log_sig = -mp.log1p(mp.exp(-zz))
    log_one_minus = -mp.log1p(mp.exp(zz))
    exact = -(y * log_sig + (1 - mp.mpf(y)) * log_one_minus)
    got = core.binary_cross_entropy_with_logits([[z]], [[y]])[0, 0]
    assert _close(got, exact), (got, exact)


def test_shift_invariance_and_float32_accumulation():
    rng = np.random.default_rng(9)
    z = rng.normal(size=(50, 40))
    k = rng.integers(0, 40, 50)
    base = core.cross_entropy(z, k)
    for shift in (-1e3, 1e3, 12345.678):
        np.testing.assert_allclose(core.cross_entropy(z + shift, k), base, rtol=1e-10)
    z32 = z.astype(np.float32)
    np.testing.assert_allclose(core.cross_entropy(z32, k), core.cross_entropy(z32.astype(np.float64), k),
                               rtol=0, atol=0)
    assert math.isclose(core.softmax(np.array([1000.0, 0.0, 0.0]))[0], 1.0) and core.softmax([1000.0, 0, 0])[1] == 0.0


# --- every Error/Warning is one line of visible text ---------------------------------------------

@pytest.mark.parametrize("name", ["a\nb.csv", "a\rb.csv", "esc\x1b[2J.csv", "c1\x85\x9b.csv", "del\x7f.csv"])
def test_a_file_name_with_control_characters_gives_one_escaped_error_line(tmp_path, name):
    path = tmp_path / name
    path.write_text("1,2,x\n")
    result = xent("ce", "--logits", str(path), "--labels", "0")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert not any(c in result.stderr[:-1] for c in "\n\r\x1b\x7f\x85\x9b")
    assert repr(name)[1:-1] in result.stderr  # spelled as Python's repr spells it


def test_a_class_name_with_an_escape_sequence_is_escaped_in_warnings_and_tables(tmp_path):
    (tmp_path / "p.csv").write_text("cat,[bold]dog,\x1b[31mred\n0.7,0.2,0.1\n")
    result = xent("ce", "--labels", "0", "--probs", str(tmp_path / "p.csv"), "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\\x1b[31mred" in result.stdout
    assert "[bold]dog" in result.stdout  # rich markup in a name is a name, not a style


def test_a_library_warning_is_one_escaped_line():
    from xentcli import cli

    buf = io.StringIO()
    sys_stderr, sys.stderr = sys.stderr, buf
    try:
        cli._show_warning(UserWarning("two\nlines \x1b[1m"), UserWarning, "f.py", 1)
    finally:
        sys.stderr = sys_stderr
    assert buf.getvalue() == "Warning: two\\nlines \\x1b[1m\n"


# --- XENT_* variables: a bad value is named, never a failure of every run ------------------------

@pytest.mark.parametrize("name, value, needle", [
    ("XENT_THREADS", "abc", "XENT_THREADS='abc' is not a whole number of threads ≥ 1; using "),
    ("XENT_THREADS", "0", "XENT_THREADS='0' is not a whole number of threads ≥ 1; using "),
    ("XENT_THREADS", "100000", "XENT_THREADS=100000 is above the limit of "),
    ("XENT_PROGRESS_AFTER", "abc", "XENT_PROGRESS_AFTER='abc' is not a number of seconds ≥ 0; using 1 instead"),
    ("XENT_PROGRESS_AFTER", "-1", "XENT_PROGRESS_AFTER='-1' is not a number of seconds ≥ 0; using 1 instead"),
    ("XENT_SPOOL_MAX", "lots", "XENT_SPOOL_MAX='lots' is not a number of bytes ≥ 1; using no limit instead"),
    ("XENT_THREADS", "1_0", "XENT_THREADS='1_0' is not a whole number of threads ≥ 1; using "),
    ("XENT_THREADS", "\u0663", "XENT_THREADS='\u0663' is not a whole number of threads ≥ 1; using "),
    ("XENT_PROGRESS_AFTER", "\uff12", "XENT_PROGRESS_AFTER='\uff12' is not a number of seconds ≥ 0; using 1"),
])
def test_a_bad_environment_value_is_one_warning_and_the_run_goes_on(name, value, needle):
    # the document's worked example: mean CE 0.4972954548475541 (SPEC §5)
    p = run_process("ce", "--labels", "1,0,0;0,0.8,0.2", "--logits", "4,2,1;0,5,1", env={name: value})
    assert p.returncode == 0 and float(p.stdout) == pytest.approx(0.4972954548475541, rel=1e-12)
    assert p.stderr.decode().count("\n") == 1 and p.stderr.decode().startswith("Warning: " + needle)


def test_threads_are_capped_at_four_per_core(monkeypatch):
    from xentcli.engine import base as engine

    monkeypatch.setattr(engine, "usable_cores", lambda: 3)
    monkeypatch.setenv("XENT_THREADS", "12")
    assert engine.default_threads() == 12
    monkeypatch.setenv("XENT_THREADS", "13")
    assert engine.default_threads() == 12


# --- streams: sniffed before they are spooled, and the spool is bounded --------------------------

@pytest.fixture
def small_spool(tmp_path, monkeypatch):
    """Streams beyond 1000 bytes are spooled, to a temp folder of the test's own."""
    import tempfile

    import xentcli.readers as readers

    monkeypatch.setattr(readers, "SPOOL_BYTES", 1000)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return tmp_path / "tmp"


def test_dev_zero_as_input_is_refused_before_spooling(small_spool):
    """The NUL bytes of /dev/zero are no text: refused as they arrive, nothing left in $TMPDIR."""
    result = xent("ce", "--logits", "/dev/zero", "--labels", "0")
    assert result.exit_code == 1
    assert result.stderr == ("Error: --logits /dev/zero: binary data where text was expected (a NUL byte at byte 1); "
                             "no format xent reads starts like this\n")
    assert os.listdir(small_spool) == []


def test_a_nul_byte_deep_in_spooled_text_is_refused(small_spool):
    data = b"1,2,3\n" * 500 + b"4,\x005\n"
    result = xent("ce", "--logits", "-", "--labels", "0", input=data)
    assert result.exit_code == 1 and "a NUL byte at byte 3003" in result.stderr
    assert os.listdir(small_spool) == []


def test_the_spool_stops_at_xent_spool_max(small_spool, monkeypatch):
    monkeypatch.setenv("XENT_SPOOL_MAX", "4K")
    data = _npy_bytes(np.zeros((100, 10)))  # 8128 bytes
    result = xent("ce", "--logits", "-", "--labels", "0", input=data)
    assert result.exit_code == 1
    assert "--logits (stdin): the input is larger than XENT_SPOOL_MAX (4,096 bytes)" in result.stderr
    assert os.listdir(small_spool) == []
    monkeypatch.setenv("XENT_SPOOL_MAX", "1M")  # room enough: the same input is read
    result = xent("softmax", "--logits", "-", "--format", "npy", input=data)
    assert result.exit_code == 0 and np.load(io.BytesIO(result.stdout_bytes)).shape == (100, 10)


def test_the_spool_stops_before_the_disk_fills(small_spool, monkeypatch):
    import xentcli.readers as readers

    monkeypatch.setattr(readers, "SPOOL_FREE_SHARE", 1.0)  # a margin of the whole disk: never room
    monkeypatch.setattr(readers, "SPOOL_FREE_BYTES", 1 << 62)
    result = xent("ce", "--logits", "-", "--labels", "0", input=_npy_bytes(np.zeros((100, 10))))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert f"--logits (stdin): copying the stream to {small_spool} would leave less than" in result.stderr
    assert "set TMPDIR to a folder with room" in result.stderr
    assert os.listdir(small_spool) == []


def test_a_symlink_loop_or_dangling_link_as_input_is_a_located_wrong_call(tmp_path):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    (tmp_path / "d.csv").symlink_to("gone.csv")
    for name, why in (("a.csv", "(a symlink loop)"), ("d.csv", "(a symlink to gone.csv, which does not exist)")):
        result = xent("ce", "--logits", str(tmp_path / name), "--labels", "0")
        assert result.exit_code == 2
        assert result.stderr == f"Error: --logits: file not found: {tmp_path / name} {why}\n"


@pytest.mark.parametrize("dtype, bits", [(np.float32, 0x7F801234), (np.float16, 0x7C12)])
@pytest.mark.parametrize("command", [
    ("softmax", "--logits", "{f}"), ("entropy", "--logits", "{f}"), ("entropy", "--probs", "{f}"),
    ("ce", "--labels", "0,1,2", "--logits", "{f}"), ("ce", "--labels", "0,1,2", "--probs", "{f}"),
    ("kl", "--p", "{f}", "--q", "{f}"), ("bce", "--labels", "{f}", "--logits", "{f}"),
    ("mse", "--labels", "{f}", "--preds", "{f}"), ("grad", "--labels", "0,1,2", "--logits", "{f}"),
])
def test_gh_signalling_nan_is_one_error_line(tmp_path, dtype, bits, command):
    # Widening a signalling NaN raises NumPy's "invalid value encountered in cast": a stray Warning line.
    p = np.full((3, 4), 0.25, dtype=dtype)
    p.view(np.uint32 if dtype == np.float32 else np.uint16)[1, 2] = bits
    f = tmp_path / "s.npy"
    np.save(f, p)
    r = run_process(*(a.format(f=f) for a in command))
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("Error:") and "nan" in lines[0], lines


@pytest.mark.parametrize("args", [("--base", "\u0662"), ("--base", "1_0"), ("--precision", "\u0663"),
                                  ("--ignore-index", "\u0661"), ("--precision", "1_0"),
                                  ("--scheduler", "local:\u0662")])
def test_gh_whole_number_options_are_ascii(xent, args):
    r = xent("ce", "--labels", "0,1", "--logits", "1,2;3,4", *args)
    assert r.exit_code == 2 and r.stdout == "" and args[0] in r.stderr and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("option", ["--eps", "--temperature", "--label-smoothing"])
@pytest.mark.parametrize("value", ["nan", "NaN", "1_0", "\uff12", "\u0663"])
def test_gh_option_numbers_are_ascii_and_never_nan(xent, option, value):
    # click's FloatRange lets nan through every bound, and float() reads '1_0' and other scripts' digits.
    r = xent("ce", "--labels", "0,1", "--logits", "1,2;3,4", option, value)
    assert r.exit_code == 2 and r.stdout == "" and option in r.stderr and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", [("ppl", "--logits", "{z}", "--targets", "{t}"),
                                     ("ce", "--logits", "{z}", "--labels", "{t}"),
                                     ("grad", "--logits", "{z}", "--labels", "{t}"),
                                     ("compare", "--base", "{z}", "--test", "{z}", "--targets", "{t}")])
def test_gh_transposed_targets_of_sequences_are_refused(xent, tmp_path, command):
    # (T, B) ids beside (B, T, V) logits hold the right count and were read in C order: wrong tokens, exit 0.
    rng = np.random.default_rng(8)
    z, ids = rng.normal(size=(2, 9, 5)), rng.integers(0, 5, (2, 9))
    np.save(tmp_path / "z.npy", z)
    for name, t in (("t.npy", ids.T), ("r.npy", ids.reshape(9, 2))):
        np.save(tmp_path / name, t)
        r = xent(*(a.format(z=tmp_path / "z.npy", t=tmp_path / name) for a in command))
        assert r.exit_code == 1 and "of shape (2, 9) or flat" in r.stderr, r.output
    # the (B, T) ids and their flat form are the same targets
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    expected = np.exp(-np.take_along_axis(log_p, ids[..., None], axis=-1).mean())
    for t in (ids, ids.reshape(-1), ids.reshape(-1, 1)):
        np.save(tmp_path / "ok.npy", t)
        r = xent("ppl", "--logits", tmp_path / "z.npy", "--targets", tmp_path / "ok.npy")
        assert r.exit_code == 0 and float(r.stdout) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("alias", ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "link"])
def test_gh_stdin_read_by_two_options_through_a_path_is_a_wrong_call(alias, tmp_path):
    if alias == "link":  # a symlink of the user's own to the stream
        alias = tmp_path / "stdin"
        os.symlink("/dev/stdin", alias)
    if not os.path.exists("/dev/stdin"):
        pytest.skip("no /dev/stdin here")
    r = run_process("ce", "--labels", "-", "--logits", alias, input=b"0\n1\n")
    assert r.returncode == 2 and r.stderr.decode().startswith("Error: only one option may read stdin")


def test_a_regular_file_on_stdin_may_be_named_by_its_path(tmp_path):
    f = tmp_path / "z.csv"
    f.write_text("1,2\n3,4\n")
    with open(f, "rb") as stdin:
        r = subprocess.run([sys.executable, "-m", "xentcli", "ce", "--labels", "0,1", "--logits", "/dev/stdin"],
                           stdin=stdin, capture_output=True, timeout=60)
    assert r.returncode == 0 and float(r.stdout) == pytest.approx(
        (math.log1p(math.e) + math.log1p(math.exp(-1))) / 2, rel=1e-12)


@pytest.mark.parametrize("args", [
    ("ce", "--labels", "0.3,0.7", "--logits", "1"),  # a single class, warned of, then swapped inputs
    ("mse", "--labels", "1,0", "--preds", "0.5,nan"),
    ("ce", "--labels", "{y}", "--probs", "{p}"),  # pandas' header note, then a bad probability
])
def test_gh_a_failed_run_prints_its_error_alone(tmp_path, args):
    # Warnings said on the way concern a result the run never gave: stderr holds the one Error line.
    (tmp_path / "y.csv").write_text("0\n0\n1\n")
    (tmp_path / "p.csv").write_text("0\n0.5\n1.5\n")
    r = run_process(*(a.format(y=tmp_path / "y.csv", p=tmp_path / "p.csv") for a in args))
    lines = r.stderr.decode().splitlines()
    assert r.returncode in (1, 2) and len(lines) == 1 and lines[0].startswith("Error:"), lines


def test_a_successful_run_still_shows_its_warnings():
    r = run_process("ce", "--labels", "1,0,0", "--logits", "0.7,0.2,0.1")
    assert r.returncode == 0 and r.stderr.decode().startswith("Warning: --logits rows look like probabilities")


def test_gh_kl_shape_error_starts_with_the_option_and_file(xent):
    r = xent("kl", "--p", "0.5,0.5;0.3,0.7", "--q", "0.2,0.8")
    assert r.exit_code == 1 and r.stderr.startswith(
        "Error: --q inline value: Q has shape (1, 2) but P (--p inline value)")
