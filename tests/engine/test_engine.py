"""The block engine: same numbers whatever the blocks and threads; errors located in the whole input."""

import json

import numpy as np
import pytest

from xentcli import core
from xentcli.engine import ThreadPool, block_rows, collect


@pytest.fixture(scope="module")
def lm():
    rng = np.random.default_rng(11)
    z = (rng.standard_normal((3001, 257)) * 4).astype(np.float32)
    z[5, 3] = 900.0  # exp overflows: a row the one-pass form redoes shifted
    z[7, 0] = z[8, 0] = 60.0  # a dominant class: the target in row 7 (log1p redo), not in row 8
    y = rng.integers(1, 257, size=3001)
    y[7] = 0
    return z, y


def map_rows(fn, *sources, **engine_options):
    """``fn`` over row blocks of ``sources`` on the thread pool, as one float64 array."""
    return collect(ThreadPool().blocks(fn, *sources, **engine_options), len(sources[0]))


def test_identical_whatever_block_size_and_threads(lm):
    z, y = lm
    reference = map_rows(lambda a, b: core.cross_entropy(a, b), z, y, rows_per_block=len(z), threads=1)
    for rows, threads in [(1, 1), (7, 2), (64, 2), (1000, 2), (3001, 2), (13, 3)]:
        got = map_rows(lambda a, b: core.cross_entropy(a, b), z, y, rows_per_block=rows, threads=threads)
        np.testing.assert_array_equal(got, reference)
        assert float(np.sum(got)) == float(np.sum(reference))


def _two_hot(y, c):
    t = np.zeros((len(y), c))
    t[np.arange(len(y)), y] = 1.0
    t[np.arange(len(y)), (y * 7) % c] = 1.0
    return t


KERNELS = {
    "softmax": lambda z, y: core.softmax(z),
    "log_softmax": lambda z, y: core.log_softmax(z),
    "entropy": lambda z, y: core.entropy(*core.log_probs_of(logits=z)),
    "kl": lambda z, y: core.kl_divergence_with_logits(z, z[:, ::-1]),
    "ce at T=2 (shifted, chunked)": lambda z, y: core.cross_entropy(z, y, temperature=2.0),
    "ce with smoothing": lambda z, y: core.cross_entropy(z, y, label_smoothing=0.1),
    "gradient": lambda z, y: core.cross_entropy_grad(z, y),
    "bce": lambda z, y: core.per_sample(core.binary_cross_entropy_with_logits(z, _two_hot(y, z.shape[1]))),
}


@pytest.mark.parametrize("name", list(KERNELS))
def test_every_kernel_is_identical_whatever_block_size_and_threads(lm, name):
    z, y = lm
    kernel = KERNELS[name]
    reference = map_rows(kernel, z, y, rows_per_block=len(z), threads=1)
    for rows, threads in [(1, 1), (7, 2), (640, 2), (13, 3)]:
        np.testing.assert_array_equal(map_rows(kernel, z, y, rows_per_block=rows, threads=threads), reference)


def test_fast_path_agrees_with_the_shifted_formula(lm):
    z, y = lm
    z64 = z.astype(np.float64)
    m = z64.max(axis=1, keepdims=True)
    shifted = -(((z64 - m) - np.log(np.exp(z64 - m).sum(axis=1, keepdims=True)))[np.arange(len(y)), y])
    got = core.cross_entropy(z, y)
    np.testing.assert_allclose(np.delete(got, 7), np.delete(shifted, 7), rtol=1e-13)
    # Row 7's target dominates: that formula rounds its loss to 0; the exact one is log1p(Σ_{c≠0} e^{z_c - 60}).
    import mpmath as mp

    exact = mp.log1p(mp.fsum(mp.exp(mp.mpf(float(v)) - 60) for v in z64[7, 1:]))
    assert shifted[7] == 0 and abs(got[7] - exact) / exact < 1e-13


def test_blocks_are_in_order_and_cover_every_row():
    seen = [(s, e) for s, e, _ in ThreadPool().blocks(lambda a: a[:, 0], np.zeros((103, 4)), rows_per_block=10,
                                                      threads=2)]
    assert seen == [(s, min(103, s + 10)) for s in range(0, 103, 10)]
    assert block_rows(1000) >= 1 and block_rows(10**9) == 1


def test_an_error_in_a_later_block_names_the_row_of_the_input(tmp_path, xent):
    z = np.zeros((5000, 8))
    z[4321, 2] = np.nan
    np.save(tmp_path / "z.npy", z)
    r = xent("softmax", "--logits", str(tmp_path / "z.npy"), "--format", "json", env={"XENT_THREADS": "2"})
    assert r.exit_code == 1 and "row 4322, class 3" in r.stderr


def test_cli_same_numbers_with_one_or_two_threads(tmp_path, xent):
    rng = np.random.default_rng(3)
    np.save(tmp_path / "z.npy", rng.normal(size=(20000, 50)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.integers(0, 50, 20000))
    docs = [
        json.loads(xent("ce", "--logits", str(tmp_path / "z.npy"), "--labels", str(tmp_path / "y.npy"),
                        "--format", "json", env={"XENT_THREADS": t}).stdout)
        for t in ("1", "2")
    ]
    assert docs[0] == docs[1]


def test_progress_bar_on_a_terminal_only(tmp_path):
    pytest.importorskip("pty")  # the child process forks the terminal with it
    import os
    import subprocess
    import sys

    # A file name with rich markup and an escape sequence: the bar shows it as spelled, escaped.
    z = "[b]\x1b.npy"  # short: the bar keeps 24 characters of its label
    np.save(tmp_path / z, np.zeros((150_000, 64), dtype=np.float16))  # 3 of ce's larger blocks
    np.save(tmp_path / "y.npy", np.zeros(150_000, dtype=np.int64))
    args = [sys.executable, "-m", "xentcli", "ce", "--logits", z, "--labels", "y.npy"]
    out = tmp_path / "tty.out"
    code = (
        "import os, pty, sys\n"
        "pid, fd = pty.fork()\n"
        "if pid == 0:\n"
        f"    os.execvpe(sys.executable, {args!r}, dict(os.environ, XENT_PROGRESS_AFTER='0', XENT_THREADS='1'))\n"
        "data = b''\n"
        "while True:\n"
        "    try: chunk = os.read(fd, 65536)\n"
        "    except OSError: break\n"
        "    if not chunk: break\n"
        "    data += chunk\n"
        f"open({str(out)!r}, 'wb').write(data)\n"
    )
    subprocess.run([sys.executable, "-c", code], timeout=120, check=True, cwd=tmp_path)
    assert b"GB/s" in out.read_bytes() and b"rows" in out.read_bytes()
    assert b"--logits [b]\\x1b.npy" in out.read_bytes() and b"\x1b.npy" not in out.read_bytes()
    # Off a terminal: nothing but the result.
    p = subprocess.run(args, capture_output=True, env=dict(os.environ, XENT_PROGRESS_AFTER="0"), timeout=120,
                       cwd=tmp_path)
    assert p.stderr == b"" and float(p.stdout) == pytest.approx(np.log(64), rel=1e-15)


def test_huge_logits_in_wide_rows_are_exact_and_quiet(xent):
    row = ",".join(["1000"] + ["0"] * 40)  # C >= 32: the fast kernel overflows, the row is redone exactly
    r = xent("ce", "--labels", "1", "--logits", row)
    assert r.exit_code == 0 and r.stderr == "" and float(r.stdout) == 1000.0


def test_float16_input_gives_the_numbers_of_its_exact_float32_values(xent, tmp_path):
    rng = np.random.default_rng(8)
    z16 = (rng.standard_normal((3, 40, 600)) * 4).astype(np.float16)
    t = rng.integers(0, 600, (3, 40))
    np.save(tmp_path / "h.npy", z16)
    np.save(tmp_path / "f.npy", z16.astype(np.float32))
    np.save(tmp_path / "t.npy", t)
    runs = [json.loads(xent("ppl", "--logits", tmp_path / name, "--targets", tmp_path / "t.npy",
                            "--format", "json").stdout)
            for name in ("h.npy", "f.npy")]
    assert runs[0] == runs[1]
