"""SIGINT, SIGTERM and SIGHUP sent to a real xent mid-run: one ``Error: interrupted`` line, exit
128 + the signal's number, and no ``-o`` temp file or stdin spool left behind (also with Dask
workers, which Ctrl-C reaches too: the terminal signals the whole process group)."""

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")

SIGNALS = [(signal.SIGINT, "Error: interrupted\n"), (signal.SIGTERM, "Error: interrupted (SIGTERM)\n"),
           (signal.SIGHUP, "Error: interrupted (SIGHUP)\n")]


def _start(args, tmp_path, **popen):
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "xentcli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, **popen)


def _wait_for(found, proc, seconds=60):
    """Poll until ``found()`` is true (and ``proc`` still runs)."""
    end = time.monotonic() + seconds
    while not found():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the run never reached the point to interrupt"
        time.sleep(0.02)


@pytest.mark.parametrize("signum, message", SIGNALS)
def test_a_signal_while_writing_output_removes_the_temp_file(tmp_path, signum, message):
    # softmax of 4 M logits writes ~80 MB of csv: seconds, long enough to be caught writing.
    np.save(tmp_path / "z.npy", np.random.default_rng(0).normal(size=(4000, 1000)).astype(np.float32))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "result.csv").write_text("kept\n")
    proc = _start(["softmax", "--logits", tmp_path / "z.npy", "-o", tmp_path / "out" / "result.csv"], tmp_path)
    _wait_for(lambda: len(os.listdir(tmp_path / "out")) > 1, proc)  # the temp file beside the target
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum and err.decode() == message and out == b""
    assert os.listdir(tmp_path / "out") == ["result.csv"] and (tmp_path / "out" / "result.csv").read_text() == "kept\n"


@pytest.mark.parametrize("signum, message", SIGNALS)
def test_a_signal_while_spooling_stdin_removes_the_spool(tmp_path, signum, message):
    """stdin beyond what is held in memory (64 MiB) is spooled to $TMPDIR; the writer here holds the
    pipe open, so xent is still spooling when the signal comes."""
    proc = _start(["ce", "--logits", "-", "--labels", "0"], tmp_path, stdin=subprocess.PIPE)
    header = b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (10000000, 10), }"
    header += b" " * (127 - len(header)) + b"\n"

    def feed():
        try:
            proc.stdin.write(header + bytes(80 << 20))  # more than is held in memory, less than the array
            proc.stdin.flush()
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    spooled = lambda: any(name.startswith("xent-spool-") for name in os.listdir(tmp_path / "tmp"))  # noqa: E731
    _wait_for(spooled, proc)
    time.sleep(0.2)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)  # closes our end of stdin too
    writer.join(10)
    assert proc.returncode == 128 + signum and err.decode() == message and out == b""
    assert os.listdir(tmp_path / "tmp") == []


def test_a_fifo_input_held_open_is_interrupted_cleanly(tmp_path):
    """Blocked reading a FIFO whose writer never finishes: SIGTERM still ends the run at once."""
    fifo = tmp_path / "logits"
    os.mkfifo(fifo)
    proc = _start(["ce", "--logits", fifo, "--labels", "0"], tmp_path)
    with open(fifo, "wb") as w:  # held open: xent waits for more
        w.write(b"1,2,3\n")
        w.flush()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err == b"Error: interrupted (SIGTERM)\n" and out == b""


def test_an_ignored_sighup_stays_ignored(tmp_path):
    """Under ``nohup`` SIGHUP is ignored when xent starts: it must not end the run."""
    np.save(tmp_path / "z.npy", np.random.default_rng(0).normal(size=(2000, 1000)).astype(np.float32))
    (tmp_path / "out").mkdir()
    proc = _start(["softmax", "--logits", tmp_path / "z.npy", "-o", tmp_path / "out" / "r.csv"], tmp_path,
                  preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    _wait_for(lambda: len(os.listdir(tmp_path / "out")) > 0, proc)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and err == b"" and os.listdir(tmp_path / "out") == ["r.csv"]


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="needs dask distributed")
@pytest.mark.timeout(180)
def test_ctrl_c_under_a_local_cluster_is_one_line(tmp_path):
    """Ctrl-C reaches every process of the job, Dask's worker processes too: still one line, exit 130."""
    rng = np.random.default_rng(1)
    np.save(tmp_path / "z.npy", rng.normal(size=(400_000, 50)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.integers(0, 50, 400_000))
    env = dict(os.environ, XENT_TEST_BLOCK_DELAY="30", TMPDIR=str(tmp_path))  # blocks that outlast the test
    proc = subprocess.Popen([sys.executable, "-m", "xentcli", "ce", "--logits", str(tmp_path / "z.npy"), "--labels",
                             str(tmp_path / "y.npy"), "--scheduler", "local:2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    time.sleep(10)  # the cluster up and its blocks running (a SIGINT while it starts waits for it)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err == b"Error: interrupted\n" and out == b""
