"""``--scheduler local:2`` (Dask worker processes) against the thread pool, and the cost of a task.

    python benchmarks/bench_cluster.py [--mb 400] [--csv-mb 200] [--repeat 3] [--tasks 3000]

1. ``xent ce --logits big.npy --labels ids.npy`` on a float32 ``.npy`` of ``--mb`` MB (1000
   classes): the thread pool vs ``local:2`` (whole process: the cluster's start-up included,
   and shown apart);
2. ``xent ce --logits big.csv --labels ids.npy`` on a ``--csv-mb`` MB CSV (100 columns): text
   parsing holds the GIL, so two processes should beat threads;
3. the engine's cost per task on a running cluster (``tcp://``, client, scheduler and worker
   together): ``--tasks`` blocks of one row each through :meth:`xentcli.engine.Engine.blocks`, and the
   bytes each result brings back.

Every run's JSON is checked to be identical between the two runners.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CLASSES = 1000
CSV_COLUMNS = 100


def xent(*args, env=None) -> tuple[float, bytes]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "xentcli", *map(str, args)], capture_output=True,
                       env=dict(os.environ, **(env or {})))
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"xent {' '.join(map(str, args))} failed: {p.stderr.decode()}")
    return elapsed, p.stdout


def best(repeat: int, *args) -> tuple[float, bytes]:
    runs = [xent(*args) for _ in range(repeat)]
    assert len({out for _, out in runs}) == 1
    return min(t for t, _ in runs), runs[0][1]


def compare(label: str, repeat: int, *args) -> None:
    threads, out_t = best(repeat, *args)
    cluster, out_c = best(repeat, *args, "--scheduler", "local:2")
    assert out_t == out_c, "the runners disagree"
    print(f"{label}: threads {threads:.2f} s, local:2 {cluster:.2f} s ({cluster / threads:.2f}x), identical JSON")


def cluster_startup() -> float:
    from distributed import Client, LocalCluster

    t = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=max(1, os.cpu_count() // 2), processes=True,
                      dashboard_address=":0", scheduler_kwargs={"dashboard": False},
                      silence_logs=logging.CRITICAL) as c, Client(c):
        up = time.perf_counter() - t
    return up, time.perf_counter() - t - up


def task_cost(tasks: int) -> None:
    """Per-task cost as xent's runner sees it: blocks of one row, nothing computed."""
    from distributed import Client, LocalCluster

    import xentcli.engine.cluster as cl
    from xentcli.engine import engine_for

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      scheduler_kwargs={"dashboard": False}, silence_logs=logging.CRITICAL) as c, Client(c) as client:
        source = np.zeros((tasks, 4))
        runner = engine_for(c.scheduler_address)
        try:
            for _ in range(2):  # the first run connects and warms up
                t = time.perf_counter()
                for _ in runner.blocks(lambda rows: rows[:, 0], source, rows_per_block=1):
                    pass
                elapsed = time.perf_counter() - t
        finally:
            runner.close()
        print(f"task cost: {tasks} blocks in {elapsed:.2f} s = {elapsed / tasks * 1e3:.2f} ms a block "
              f"({tasks / elapsed:.0f} blocks/s; 2 workers × 1 thread, window {cl.IN_FLIGHT * 2})")
        t = time.perf_counter()
        client.gather(client.map(lambda i: i, range(tasks), pure=False))
        raw = time.perf_counter() - t
        print(f"plain Dask, client.map + gather of {tasks} no-op tasks: "
              f"{raw:.2f} s = {raw / tasks * 1e3:.2f} ms a task")
        del runner


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=400)
    ap.add_argument("--csv-mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=3000)
    a = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; numpy {np.__version__}")
    up, down = cluster_startup()
    print(f"LocalCluster(2 processes) start {up:.2f} s, stop {down:.2f} s")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        rng = np.random.default_rng(0)
        rows = a.mb * 10**6 // (4 * CLASSES)
        big = os.path.join(d, "big.npy")
        out = np.lib.format.open_memmap(big, mode="w+", dtype=np.float32, shape=(rows, CLASSES))
        for s in range(0, rows, 20_000):
            out[s:s + 20_000] = rng.normal(0, 3, size=(min(20_000, rows - s), CLASSES))
        del out
        np.save(os.path.join(d, "ids.npy"), rng.integers(0, CLASSES, size=rows))
        compare(f"ce .npy {rows}×{CLASSES} float32 ({a.mb} MB)", a.repeat,
                "ce", "--logits", big, "--labels", os.path.join(d, "ids.npy"), "--format", "json")
        os.remove(big)

        piece_rows = 5000
        piece = "\n".join(",".join(f"{v:.6f}" for v in row)
                          for row in rng.normal(0, 3, size=(piece_rows, CSV_COLUMNS))).encode() + b"\n"
        copies = max(1, a.csv_mb * 10**6 // len(piece))
        csv = os.path.join(d, "big.csv")
        with open(csv, "wb") as f:
            for _ in range(copies):
                f.write(piece)
        np.save(os.path.join(d, "csv_ids.npy"), rng.integers(0, CSV_COLUMNS, size=copies * piece_rows))
        compare(f"ce CSV {copies * piece_rows}×{CSV_COLUMNS} ({os.path.getsize(csv) / 1e6:.0f} MB)", a.repeat,
                "ce", "--logits", csv, "--labels", os.path.join(d, "csv_ids.npy"), "--format", "json")
    task_cost(a.tasks)


if __name__ == "__main__":
    main()
