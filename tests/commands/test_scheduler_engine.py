"""The engine a command makes from ``--scheduler`` and passes to its loaders: a Dask cluster of two worker
processes (``local:2``) and the thread pool give the same bytes, and the cluster really runs the blocks."""

import numpy as np
import pytest

pytest.importorskip("distributed")

from xentcli.engine import ThreadPool, base, cluster, engine_for  # noqa: E402
from xentcli.inputs import Reading, load_predictions  # noqa: E402

pytestmark = pytest.mark.timeout(300)

N, C = 3_001, 64


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("engine")
    r = np.random.default_rng(20)
    z = r.normal(0, 3, size=(N, C)).astype(np.float32)
    np.save(d / "z.npy", z)
    np.save(d / "q.npy", (z + r.normal(0, 0.5, size=z.shape)).astype(np.float32))
    np.save(d / "y.npy", r.integers(0, C, size=N))
    return d


@pytest.fixture
def spans_on_the_cluster(monkeypatch):
    """Blocks of 64 rows, 47 of them (the engine caps a block at BLOCK_ELEMENTS rows), and the spans every
    DaskCluster engine was given to run."""
    monkeypatch.setattr(base, "BLOCK_ELEMENTS", 64)
    seen = []
    run = cluster.DaskCluster.run

    def spy(self, fn, sources, spans, **kwargs):
        seen.extend(spans)
        yield from run(self, fn, sources, spans, **kwargs)

    monkeypatch.setattr(cluster.DaskCluster, "run", spy)
    return seen


@pytest.mark.parametrize("args", [
    ("ce", "--logits", "z.npy", "--labels", "y.npy", "--reduction", "none", "--format", "csv"),
    ("kl", "--p-logits", "z.npy", "--q-logits", "q.npy", "--format", "json"),
    ("softmax", "--logits", "z.npy", "--format", "csv"),
])
def test_local_cluster_prints_what_the_threads_print(xent, data, spans_on_the_cluster, args):
    args = [data / a if a.endswith(".npy") else a for a in args]
    threads = xent(*args)
    dask = xent(*args, "--scheduler", "local:2")
    assert threads.exit_code == 0 and threads.stdout
    assert (dask.exit_code, dask.stdout, dask.stderr) == (threads.exit_code, threads.stdout, threads.stderr)
    assert spans_on_the_cluster[:2] == [(0, 64), (64, 128)] and spans_on_the_cluster[-1] == (N // 64 * 64, N)


def test_predictions_run_on_the_engine_they_were_loaded_with(data, spans_on_the_cluster):
    """The loader's ``engine``: the cross-entropy of every row, the same bits on the cluster as on the threads,
    and as NumPy's own log-softmax in float64 gives it."""
    z, y = np.load(data / "z.npy").astype(np.float64), np.load(data / "y.npy")
    shifted = z - z.max(axis=1, keepdims=True)
    expected = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(N), y]

    def cross_entropy(rows, ids):
        rows = rows.astype(np.float64)
        shifted = rows - rows.max(axis=1, keepdims=True)
        return np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(ids)), ids]

    def per_row(engine):
        pred = load_predictions(str(data / "z.npy"), None, reading=Reading("ce", "auto", engine, frozenset()))
        return pred.map(cross_entropy, y)

    dask = engine_for("local:2")
    try:
        on_cluster = per_row(dask)
        assert dask.client is not None  # connected: the blocks ran there
    finally:
        dask.close()
    assert isinstance(dask, cluster.DaskCluster) and dask.client is None and len(spans_on_the_cluster) == 47
    on_threads = per_row(ThreadPool())
    np.testing.assert_array_equal(on_cluster, on_threads)
    np.testing.assert_allclose(on_threads, expected, rtol=1e-12)
