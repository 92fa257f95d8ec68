"""``--scheduler``: the row blocks on a Dask cluster give the local engine's output, byte for byte.

One LocalCluster of 2 worker processes serves the module (clusters are slow to start); the
commands join it by its ``tcp://`` address, in-process. ``local:2`` is run once, as a real process.
"""

import importlib.util
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed")

# A run on a cluster that stopped making progress fails its test instead of holding CI forever.
pytestmark = pytest.mark.timeout(300)

import xentcli.engine.base as engine  # noqa: E402
from tests.conftest import run_process  # noqa: E402
from xentcli.engine import cluster  # noqa: E402
from xentcli.readers import text  # noqa: E402

N = 300_500  # rows of the large inputs: a NaN at row 300 001 is in their last block
C = 32


#: The module's cluster runs in a process of its own, as a user's would: the scheduler's event loop
#: then never shares this process with the commands' clients.
CLUSTER = (
    "import logging, sys\n"
    "from distributed import LocalCluster\n"
    "c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=':0',\n"
    "                 scheduler_kwargs={'dashboard': False}, silence_logs=logging.CRITICAL)\n"
    "print(c.scheduler_address, flush=True)\n"
    "sys.stdin.read()\n"
    "c.close()\n"
)


def _cluster_process(code: str):
    """A cluster started by ``code`` in a process of its own: yields its address, ends it after."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def address():
    yield from _cluster_process(CLUSTER)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cluster")
    r = np.random.default_rng(7)
    z = r.normal(0, 3, size=(N, C)).astype(np.float32)
    np.save(d / "z.npy", z)
    np.save(d / "y.npy", r.integers(0, C, size=N))
    np.save(d / "q.npy", (z + r.normal(0, 0.5, size=z.shape)).astype(np.float32))
    z[300_001, 5] = np.nan
    np.save(d / "zbad.npy", z)
    small = r.normal(size=(60_000, C))
    np.save(d / "small.npy", small)
    np.save(d / "targets.npy", r.uniform(size=small.shape))
    bad_targets = r.uniform(size=small.shape)
    bad_targets[41_234, 7] = 1.5
    np.save(d / "bad_targets.npy", bad_targets)
    p = r.dirichlet(np.ones(C), size=60_000)
    p[r.random(60_000) < 0.1] *= 1.01  # some rows to --renormalize
    np.save(d / "p.npy", p)
    np.save(d / "soft.npy", r.dirichlet(np.ones(C), size=60_000))
    np.save(d / "dist.npy", r.dirichlet(np.ones(C), size=60_000) * 1.001)
    h = r.normal(0, 4, size=(60_000, C)).astype(np.float16)
    h[r.random(h.shape) < 1e-4] = 65504
    np.save(d / "h.npy", h)
    np.save(d / "lm.npy", r.normal(0, 2, size=(40, 257, C)).astype(np.float32))
    np.save(d / "ids.npy", r.integers(0, C, size=(40, 257)))
    np.save(d / "base.npy", r.normal(size=(20_000, C)).astype(np.float32))
    np.save(d / "test.npy", r.normal(size=(20_000, C)).astype(np.float32))
    np.save(d / "tok.npy", r.integers(0, C, size=20_000))
    np.savetxt(d / "z.csv", r.normal(size=(20_000, 8)), delimiter=",", fmt="%.17g")
    lines = (d / "z.csv").read_text().splitlines()
    cells = lines[15_321].split(",")
    cells[3] = "abc"
    lines[15_321] = ",".join(cells)
    (d / "zbad.csv").write_text("\n".join(lines) + "\n")
    return d


#: The Dask engines the commands of the running test made (see :func:`closed`).
ENGINES: list = []


@pytest.fixture(autouse=True)
def engines_made(monkeypatch):
    """Keep every :class:`~xentcli.engine.cluster.DaskCluster` a command makes from its --scheduler."""
    ENGINES.clear()
    made = cluster.DaskCluster.__init__

    def init(self, address):
        made(self, address)
        ENGINES.append(self)

    monkeypatch.setattr(cluster.DaskCluster, "__init__", init)


def closed() -> bool:
    """Whether the engine of every run with --scheduler was closed when its command ended: no client, no cluster."""
    return all(e.client is None and e.cluster is None for e in ENGINES)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of at most 4096 rows (the engine caps a block at BLOCK_ELEMENTS rows): many blocks from small
    inputs. Spans are cut on the client, so the cluster's tasks follow."""
    monkeypatch.setattr(engine, "BLOCK_ELEMENTS", 4096)


@pytest.fixture
def streamed_text(monkeypatch):
    """Text files over 1 MB are streamed (TextRows), in chunks of 256 KB: the workers parse them."""
    monkeypatch.setattr(text.main, "STREAM_TEXT_BYTES", 1 << 20)
    monkeypatch.setattr(text.common, "TEXT_CHUNK", 1 << 18)


def same(xent, address, *args):
    """The command locally and on the cluster: the same exit code, stdout and stderr."""
    local = xent(*args)
    remote = xent(*args, "--scheduler", address)
    assert closed()  # the run's client is closed with its command
    assert (remote.exit_code, remote.stderr) == (local.exit_code, local.stderr)
    assert remote.stdout == local.stdout
    return local


@pytest.mark.parametrize("args", [
    ("ce", "--logits", "z.npy", "--labels", "y.npy"),
    ("ce", "--logits", "small.npy", "--labels", "soft.npy", "--label-smoothing", "0.1"),
    ("bce", "--logits", "small.npy", "--labels", "targets.npy"),
    ("kl", "--p-logits", "z.npy", "--q-logits", "q.npy"),
    ("entropy", "--logits", "z.npy", "--reduction", "none"),
], ids=["ce", "ce-soft", "bce", "kl", "entropy"])
def test_same_json_as_local(xent, address, data, args):
    args = [str(data / a) if a.endswith(".npy") else a for a in args]
    out = same(xent, address, *args, "--format", "json")
    assert out.exit_code == 0 and json.loads(out.stdout)


def test_ppl_shift_btv(xent, address, data, small_blocks):
    out = same(xent, address, "ppl", "--logits", data / "lm.npy", "--targets", data / "ids.npy", "--shift",
               "--format", "json")
    assert json.loads(out.stdout)["n"] == 40 * 256


def test_ce_shift_btv_per_token(xent, address, data, small_blocks):
    same(xent, address, "ce", "--logits", data / "lm.npy", "--labels", data / "ids.npy", "--shift",
         "--reduction", "none", "--format", "csv")


def test_softmax_npy_bytes(xent, address, data, tmp_path):
    local, remote = tmp_path / "local.npy", tmp_path / "remote.npy"
    assert xent("softmax", "--logits", data / "small.npy", "-o", local).exit_code == 0
    r = xent("softmax", "--logits", data / "small.npy", "-o", remote, "--scheduler", address)
    assert r.exit_code == 0, r.stderr
    assert remote.read_bytes() == local.read_bytes()


def test_compare_on_a_cluster_gives_the_local_json(xent, address, data, small_blocks):
    same(xent, address, "compare", "--base", data / "base.npy", "--test", data / "test.npy", "--targets",
         data / "tok.npy", "--format", "json")


def test_streamed_csv_on_a_cluster_gives_the_local_json(xent, address, data, small_blocks, streamed_text):
    out = same(xent, address, "entropy", "--logits", data / "z.csv", "--format", "json")
    assert json.loads(out.stdout)["n"] == 20_000


def test_counts_come_back_from_workers(xent, address, data):
    """--renormalize rows and float16 values at the limit are counted on the workers and said once, as locally."""
    out = same(xent, address, "ce", "--probs", data / "p.npy", "--labels", data / "dist.npy", "--renormalize",
               "--format", "json")
    assert "--renormalize rescaled" in out.stderr and out.stderr.count("rescaled") == 2  # probs and labels
    out = same(xent, address, "entropy", "--logits", data / "h.npy", "--format", "json")
    assert "float16 input holds" in out.stderr


@pytest.mark.parametrize("args, expected", [
    (("ce", "--logits", "zbad.npy", "--labels", "y.npy"), "row 300002, class 6: logit is nan"),
    (("entropy", "--logits", "zbad.npy"), "row 300002, class 6: logit is nan"),
    (("bce", "--logits", "small.npy", "--labels", "bad_targets.npy"), "bad_targets.npy"),
], ids=["ce-one-pass", "entropy", "labels"])
def test_worker_side_bad_row(xent, address, data, args, expected):
    """A RowError raised on a worker: shifted to its global row there, located here (the right file)."""
    args = [str(data / a) if a.endswith(".npy") else a for a in args]
    out = same(xent, address, *args, "--format", "json")
    assert out.exit_code == 1 and out.stderr.startswith("Error: ") and expected in out.stderr
    assert out.stderr.count("\n") == 1


def test_worker_side_text_error(xent, address, data, small_blocks, streamed_text):
    out = same(xent, address, "entropy", "--logits", data / "zbad.csv", "--format", "json")
    assert out.exit_code == 1 and "line 15322, column 4: expected a number, found 'abc'" in out.stderr


def test_xent_scheduler_variable_gives_the_local_json(xent, address, data, monkeypatch):
    local = xent("kl", "--p-logits", data / "z.npy", "--q-logits", data / "q.npy", "--format", "json")
    monkeypatch.setenv("XENT_SCHEDULER", address)
    on_cluster = xent("kl", "--p-logits", data / "z.npy", "--q-logits", data / "q.npy", "--format", "json")
    assert on_cluster.stdout == local.stdout


def test_local_cluster_process(xent, data):
    """``local:2`` starts its own 2 worker processes for the run and stops them at its end."""
    args = ["ce", "--logits", data / "z.npy", "--labels", data / "y.npy", "--format", "json"]
    local = xent(*args)
    proc = run_process(*args, "--scheduler", "local:2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == local.stdout
    assert proc.stderr == b""


def test_scheduler_without_dask_names_the_extra(xent, data, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name in ("dask", "distributed") else real(name, *a, **k))
    out = xent("ce", "--logits", data / "z.npy", "--labels", data / "y.npy", "--scheduler", "local:2")
    assert out.exit_code == 2
    assert out.stderr.startswith("Error: ") and "pip install 'xentcli[dask]'" in out.stderr


@pytest.mark.parametrize("bad", ["localhost", "local:0", "local:x", "local:", "http://host:8786", "tcp://",
                                 "tcp://host:port"])
def test_scheduler_that_is_no_address_is_a_wrong_call(xent, bad):
    out = xent("ce", "--logits", "1,2,3", "--labels", "0", "--scheduler", bad)
    assert out.exit_code == 2 and out.stderr.startswith("Error: --scheduler")


@pytest.mark.parametrize("cores", [1, 2, 16])
def test_local_cluster_size_is_bounded_by_the_cores(xent, monkeypatch, cores):
    """Regression: ``local:99999`` started workers for minutes. At most 4 per usable core; starts nothing."""
    monkeypatch.setattr(engine, "usable_cores", lambda: cores)
    monkeypatch.setattr("xentcli.engine.cluster.usable_cores", lambda: cores)
    out = xent("ce", "--logits", "1,2,3", "--labels", "0", "--scheduler", f"local:{4 * cores + 1}")
    assert out.exit_code == 2 and closed()
    assert out.stderr == (f"Error: --scheduler local:{4 * cores + 1}: a local cluster takes at most {4 * cores} "
                          f"workers (4 per core, and xent may use {cores} cores here)\n")
    monkeypatch.setenv("XENT_SCHEDULER", "local:99999")
    out = xent("ce", "--logits", "1,2,3", "--labels", "0")
    assert out.exit_code == 2 and out.stderr.startswith("Error: XENT_SCHEDULER=local:99999 (--scheduler): ")
    monkeypatch.setenv("XENT_SCHEDULER", f"local:{4 * cores}")
    assert xent("ce", "--logits", "1,2,3", "--labels", "0").exit_code == 0  # the bound itself is allowed


def test_one_block_runs_here(xent):
    """An input of one block needs no cluster: ``local:N`` starts nothing."""
    out = xent("ce", "--logits", "1,2,3", "--labels", "0", "--scheduler", "local:4", "--format", "json")
    assert out.exit_code == 0 and closed()


def test_sources_pickle_by_path(data, tmp_path, streamed_text):
    """Sources travel as path and parameters; the copy reopens the file (also by an fsspec URL)."""
    from xentcli.engine import ThreadPool
    from xentcli.inputs import Reading, load_predictions
    from xentcli.readers import read_matrix

    rows = read_matrix(str(data / "z.npy"), "--logits").values.as_rows()
    copy = pickle.loads(pickle.dumps(rows))
    assert copy._fd != rows._fd and np.array_equal(copy.rows(1000, 1010), rows.rows(1000, 1010))
    assert len(pickle.dumps(rows)) < 1000
    lazy = read_matrix(str(data / "z.csv"), "--logits").values
    assert isinstance(lazy, text.TextRows)
    assert np.array_equal(pickle.loads(pickle.dumps(lazy)).rows(5000, 7000), lazy.rows(5000, 7000))
    pred = load_predictions(str(data / "p.npy"), None, reading=Reading("ce", "auto", ThreadPool(), frozenset()))
    token = engine.remote_token(pred)
    back = pickle.loads(pickle.dumps(pred))
    assert back.matrix is None and back._remote_token == token and engine.remote_object(token) is pred
    pytest.importorskip("fsspec")
    url = type(rows)("file://" + str(data / "z.npy"), rows.offset, rows.shape, rows.dtype)
    assert np.array_equal(url.rows(3, 9), rows.rows(3, 9))


@pytest.fixture(scope="module")
def client(address):
    """The test's own client of the module's cluster (the workers' environment and pids), not the default one."""
    from distributed import Client

    with Client(address, set_as_default=False) as c:
        yield c


def block_delay(client, seconds):
    """Every block task sleeps ``seconds`` first (None: not), on every worker of ``client``.

    Sent as source for ``exec``: a bound method of ``os.environ`` (or a function of this module) would be
    pickled by value, and set a copy of this process's environment on the worker.
    """
    code = ("os.environ.pop('XENT_TEST_BLOCK_DELAY', None)" if seconds is None
            else f"os.environ['XENT_TEST_BLOCK_DELAY'] = {str(seconds)!r}")
    client.run(exec, "import os; " + code, {})


def test_beside_a_default_client(xent, address, data, small_blocks):
    """A client of the caller's own, current in this thread (``with Client(...)``, as in a notebook), is not the
    run's: the run's blocks are still waited for and fetched on the run's client and its event loop."""
    from distributed import Client

    with Client(address):
        same(xent, address, "kl", "--p-logits", data / "small.npy", "--q-logits", data / "targets.npy",
             "--reduction", "none", "--format", "csv")


def test_stall_is_an_error(xent, address, data, client, small_blocks, monkeypatch):
    """A run whose next block does not come back in XENT_SCHEDULER_STALL seconds ends with one line, exit 2."""
    monkeypatch.setenv("XENT_SCHEDULER_STALL", "0.3")
    block_delay(client, 1.5)
    try:
        t = time.monotonic()
        out = xent("kl", "--p-logits", data / "small.npy", "--q-logits", data / "targets.npy", "--scheduler", address)
        elapsed = time.monotonic() - t
    finally:
        block_delay(client, None)
    assert out.exit_code == 2 and out.stdout == ""
    assert out.stderr.startswith(f"Error: --scheduler {address}: no block came back in 0.3 s")
    assert "XENT_SCHEDULER_STALL" in out.stderr and out.stderr.count("\n") == 1
    assert elapsed < 30
    assert closed()


@pytest.mark.parametrize("value", ["0", "-1", "abc", "inf", "nan"])
def test_bad_stall_limit(xent, monkeypatch, value):
    monkeypatch.setenv("XENT_SCHEDULER_STALL", value)
    out = xent("ce", "--logits", "1,2,3", "--labels", "0", "--scheduler", "local:2")
    assert out.exit_code == 2 and out.stderr.startswith("Error: XENT_SCHEDULER_STALL=")


def test_lost_worker_changes_nothing(xent, address, data, client, small_blocks):
    """A worker killed mid-run: its tasks run again elsewhere, and the output is the same."""
    args = ["kl", "--p-logits", data / "small.npy", "--q-logits", data / "targets.npy", "--reduction", "none",
            "--format", "csv"]
    local = xent(*args)
    pids = list(client.run(os.getpid).values())
    block_delay(client, 0.1)  # 15 blocks on 2 workers: ~0.8 s
    state = {"running": True, "killed": False}

    def kill_after_first_results():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and state["running"]:
            try:
                started = client.run_on_scheduler(
                    lambda dask_scheduler: any(str(k).startswith("xent-block") for k in list(dask_scheduler.tasks)))
            except RuntimeError:  # the scheduler changed its dict while it looked
                continue
            if started:
                time.sleep(0.25)  # the first results are in, the worker busy with the next blocks
                os.kill(pids[0], signal.SIGKILL)
                state["killed"] = state["running"]
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_after_first_results)
    killer.start()
    try:
        remote = xent(*args, "--scheduler", address)
    finally:
        state["running"] = False
        killer.join()
        block_delay(client, None)
    assert state["killed"], "the worker was not killed while the command ran"
    assert remote.exit_code == 0, remote.stderr
    assert remote.stdout == local.stdout
    client.wait_for_workers(2, timeout=30)
    assert pids[0] not in client.run(os.getpid).values()  # the nanny started a new worker in its place


# Dask's own output never reaches the user: xent's one-line messages only (--debug shows it all).

#: A scheduler with no worker, in a process of its own: every run on it stalls.
NO_WORKERS = CLUSTER.replace("n_workers=2, threads_per_worker=1", "n_workers=0")


@pytest.fixture(scope="module")
def idle_address():
    yield from _cluster_process(NO_WORKERS)


@pytest.mark.parametrize("args", [
    ("ce", "--logits", "z.npy", "--labels", "y.npy"),
    ("kl", "--p-logits", "z.npy", "--q-logits", "q.npy"),
    ("compare", "--base", "z.npy", "--test", "q.npy", "--targets", "y.npy"),
], ids=["ce", "kl", "compare"])
def test_stall_without_workers_is_one_line(idle_address, data, args):
    """No worker at all: the stall limit ends the run with the one Error line, nothing of Dask's after it
    (a gather cut short says "Task exception was never retrieved … AllExit" when its client closes)."""
    args = [data / a if a.endswith(".npy") else a for a in args]
    proc = run_process(*args, "--scheduler", idle_address, env={"XENT_SCHEDULER_STALL": "1"})
    assert proc.returncode == 2 and proc.stdout == b""
    stderr = proc.stderr.decode()
    assert stderr.startswith(f"Error: --scheduler {idle_address}: no block came back in 1 s"), stderr
    assert stderr.count("\n") == 1, stderr


def test_stdin_payload_sends_quietly(xent, data):
    """Data read from stdin travels in the run's payload, on purpose: Dask's "Sending large graph" warning
    is not the user's business (``XENT_DEBUG`` shows it)."""
    args = ["ce", "--logits", "-", "--labels", data / "y.npy", "--format", "json"]
    local = xent("ce", "--logits", data / "z.npy", "--labels", data / "y.npy", "--format", "json")
    raw = (data / "z.npy").read_bytes()
    proc = run_process(*args, "--scheduler", "local:2", input=raw)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == local.stdout
    assert b"Sending large graph" not in proc.stderr and proc.stderr == b""
    debug = run_process(*args, "--scheduler", "local:2", input=raw, env={"XENT_DEBUG": "1"})
    assert debug.returncode == 0 and b"Sending large graph" in debug.stderr


@pytest.mark.parametrize("value, expected", [
    ("bogus", "Error: XENT_SCHEDULER=bogus (--scheduler): not a scheduler address"),
    ("local:0", "Error: XENT_SCHEDULER=local:0 (--scheduler): a local cluster needs at least 1 worker"),
])
def test_bad_address_from_environment(xent, monkeypatch, value, expected):
    """A wrong XENT_SCHEDULER says where it came from: the user may not know it is set."""
    monkeypatch.setenv("XENT_SCHEDULER", value)
    out = xent("ce", "--logits", "1,2,3", "--labels", "0")
    assert out.exit_code == 2 and out.stderr.startswith(expected) and out.stderr.count("\n") == 1
    monkeypatch.delenv("XENT_SCHEDULER")
    out = xent("ce", "--logits", "1,2,3", "--labels", "0", "--scheduler", value)
    assert out.exit_code == 2 and out.stderr.startswith("Error: --scheduler ") and value in out.stderr
    assert "XENT_SCHEDULER" not in out.stderr


def test_refused_connection_fails_soon(xent, data):
    """Nothing listening at the address: one line within seconds, not after Dask's 20 s of retries; the
    loggers silenced for the run are as they were after it."""
    import logging
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    levels = {n: logging.getLogger(n).level for n in ("distributed", "distributed.client", "tornado", "asyncio")}
    t = time.monotonic()
    out = xent("ce", "--logits", data / "z.npy", "--labels", data / "y.npy", "--scheduler", address)
    elapsed = time.monotonic() - t
    assert elapsed < 10, (elapsed, out.stderr)
    assert out.exit_code != 0 and out.stdout == ""
    assert out.stderr == f"Error: --scheduler {address}: cannot reach the scheduler: connection refused " \
                         f"(nothing listens at {address})\n"
    assert {n: logging.getLogger(n).level for n in levels} == levels
    assert closed()


def _scratch_left(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_local_cluster_leaves_no_dask_scratch_space_in_tmpdir(data, tmp_path):
    """Regression: every ``local:2`` run left ``$TMPDIR/dask-scratch-space/{global,purge}.lock``. The cluster
    has a scratch folder of its own, removed when it closes: after a run, and after SIGTERM mid-run."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {"TMPDIR": str(tmpdir)}
    args = ["ce", "--logits", data / "z.npy", "--labels", data / "y.npy", "--scheduler", "local:2"]
    proc = run_process(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    assert _scratch_left(tmpdir) == []

    slow = subprocess.Popen([sys.executable, "-m", "xentcli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, **env, XENT_TEST_BLOCK_DELAY="5"))
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith("worker-") for p in tmpdir.glob("xent-dask-*/dask-scratch-space/*")):
            assert time.monotonic() < deadline and slow.poll() is None, "the local cluster never started"
            time.sleep(0.1)
        slow.send_signal(signal.SIGTERM)
        _, stderr = slow.communicate(timeout=60)
    finally:
        if slow.poll() is None:
            slow.kill()
    assert slow.returncode == 128 + signal.SIGTERM and stderr.decode().startswith("Error: interrupted"), stderr
    assert _scratch_left(tmpdir) == [], (_scratch_left(tmpdir), stderr)
