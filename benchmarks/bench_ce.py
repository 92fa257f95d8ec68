"""Side-by-side timings of xent against what a user would otherwise run, in one run.

    python benchmarks/bench_ce.py [--rows 100000] [--classes 1000] [--repeat 5] [--big-gb 4]

Generates its inputs on the fly in a temp folder (deleted afterwards) and
prints each measurement beside its alternative with the ratio:

1. CE kernel (index labels, float32 logits, mean), in memory: xent's block
   engine vs PyTorch CPU ``F.cross_entropy`` at the same thread count, and vs
   the reference document's naive NumPy (softmax, then log);
2. the whole ``xent ce`` process on an ``.npy`` vs the same job as a
   ``python -c`` torch script and a NumPy script;
3. start-up of a tiny inline call vs ``python -c "import numpy"``;
4. peak RSS and GB/s of ``xent ce`` on a multi-GB ``.npy`` (``--big-gb``; 0 skips);
5. CSV ingest in MB/s: xent's reader vs ``numpy.loadtxt``, and peak RSS of ``xent ce`` on a
   large CSV (``--csv-mb``; 0 skips) vs a ``numpy.loadtxt`` script.

Times are the best of ``--repeat`` runs (wall clock). PyTorch is optional:
without it its rows say so and are skipped.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from xentcli import core
from xentcli.engine import LEAN_BLOCK_ELEMENTS, ThreadPool, collect, default_threads
from xentcli.readers.text import parse_text


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def best_interleaved(fns, repeat: int) -> list[float]:
    """Best time of each function, run in turns, so a slower spell of a shared machine hits all alike."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [min(ts) for ts in times]


def row(name: str, ours: float, theirs: float | None, unit: str = "s", other: str = "", higher_is_better=False) -> None:
    if theirs is None:
        print(f"  {name:<46} xent {ours:10.4f} {unit:<5} ({other})")
        return
    ratio = ours / theirs
    note = f"{ratio:.2f}x" + (f" ({1 / ratio:.2f}x as fast)" if not higher_is_better and ratio < 1 else "")
    print(f"  {name:<46} xent {ours:10.4f} {unit:<5} {other:>8} {theirs:10.4f} {unit:<5} ratio {note}")


def naive_numpy_ce(z: np.ndarray, y: np.ndarray) -> float:
    """The reference document's code: softmax, then -log of the target's probability."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))


def xent_ce(z: np.ndarray, y: np.ndarray, threads: int) -> float:
    """What ``xent ce`` runs per block for index labels (its validation costs nothing more on clean rows)."""
    parts = ThreadPool().blocks(lambda zb, yb: core.cross_entropy(zb, yb), z, y, threads=threads,
                                block_elements=LEAN_BLOCK_ELEMENTS)
    return core.reduce(collect(parts, len(z)))


def run_rss(cmd: list[str]) -> tuple[float, int]:
    """(seconds, peak RSS in bytes) of a command, from a fresh child so the peak is its own."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter();"
        f"subprocess.run({cmd!r}, check=True, stdout=subprocess.DEVNULL);"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]) * 1024


def write_big_npy(path: str, rows: int, classes: int) -> None:
    rng = np.random.default_rng(1)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, classes)})
        for start in range(0, rows, 50_000):
            f.write((rng.standard_normal((min(50_000, rows - start), classes), dtype=np.float32) * 3).tobytes())


def write_big_csv(path: str, rows: np.ndarray, size: float) -> int:
    """A CSV of about ``size`` bytes: ``rows`` formatted once and written again and again; returns its rows."""
    lines = "".join(",".join(f"{v:.7g}" for v in r) + "\n" for r in rows.tolist()).encode()
    copies = max(1, int(size // len(lines)))
    with open(path, "wb") as f:
        for _ in range(copies):
            f.write(lines)
    return copies * len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--big-gb", type=float, default=4.0, help="size of the multi-GB .npy for RSS (0 skips)")
    ap.add_argument("--csv-mb", type=float, default=400.0, help="size of the large CSV for RSS (0 skips)")
    args = ap.parse_args()
    n, c, rep = args.rows, args.classes, args.repeat
    threads = default_threads()
    try:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(threads)
    except ImportError:
        torch = None

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, torch {torch.__version__ if torch else 'absent'}; xent threads {threads}")
    print(f"input: {n} x {c} float32 logits ({n * c * 4 / 1e6:.0f} MB), int64 targets; best of {rep}\n")
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, c), dtype=np.float32) * 3
    y = rng.integers(0, c, size=n)

    print(f"1. CE kernel (in memory, mean over rows; best of {3 * rep}, taking turns)")
    kernel_rep = 3 * rep  # a tenth of a second each: more turns cost little and steady the ratio
    if torch is not None:
        zt, yt = torch.from_numpy(z), torch.from_numpy(y)
        ours, theirs = best_interleaved([lambda: xent_ce(z, y, threads), lambda: F.cross_entropy(zt, yt).item()],
                                        kernel_rep)
        row(f"xent vs torch F.cross_entropy ({threads} threads)", ours, theirs, other="torch")
        print(f"  {'':<46} throughput: xent {theirs / ours:.2f}x torch's")
        exact = F.cross_entropy(zt.double(), yt).item()
        print(f"  {'':<46} |xent - torch float64| = {abs(xent_ce(z, y, threads) - exact):.1e}, "
              f"|torch float32 - torch float64| = {abs(F.cross_entropy(zt, yt).item() - exact):.1e}")
    else:
        ours = best(lambda: xent_ce(z, y, threads), kernel_rep)
        row("torch F.cross_entropy", ours, None, other="torch not installed: skipped")
    row("xent vs naive NumPy of the document", ours, best(lambda: naive_numpy_ce(z, y), rep), other="numpy")
    same = xent_ce(z, y, 1) == xent_ce(z, y, threads)
    print(f"  {'':<46} 1 thread and {threads} threads give the same mean: {same}")

    with tempfile.TemporaryDirectory() as tmp:
        zp, yp = os.path.join(tmp, "z.npy"), os.path.join(tmp, "y.npy")
        np.save(zp, z)
        np.save(yp, y)
        xent_cmd = [sys.executable, "-m", "xentcli", "ce", "--logits", zp, "--labels", yp, "--format", "json"]
        numpy_script = (
            "import numpy as np; z=np.load(%r).astype(np.float64); y=np.load(%r);"
            "m=z.max(1,keepdims=True); ls=(z-m)-np.log(np.exp(z-m).sum(1,keepdims=True));"
            "print(-ls[np.arange(len(y)),y].mean())" % (zp, yp)
        )
        torch_script = (
            "import numpy as np, torch, torch.nn.functional as F;"
            "print(F.cross_entropy(torch.from_numpy(np.load(%r)), torch.from_numpy(np.load(%r))).item())" % (zp, yp)
        )
        print(f"\n2. whole process on a {n * c * 4 / 1e6:.0f} MB .npy")
        ours = best(lambda: subprocess.run(xent_cmd, check=True, capture_output=True), rep)
        if torch is not None:
            row("xent ce vs python -c torch script", ours,
                best(lambda: subprocess.run([sys.executable, "-c", torch_script], check=True, capture_output=True),
                     rep),
                other="torch")
        row("xent ce vs python -c NumPy script", ours,
            best(lambda: subprocess.run([sys.executable, "-c", numpy_script], check=True, capture_output=True), rep),
            other="numpy")

        print("\n3. start-up (tiny inline call)")
        tiny = [sys.executable, "-m", "xentcli", "ce", "--labels", "1,0,0", "--probs", "0.7,0.2,0.1",
                "--format", "json"]
        row("xent ce vs python -c 'import numpy'",
            best(lambda: subprocess.run(tiny, check=True, capture_output=True), max(rep, 7)),
            best(lambda: subprocess.run([sys.executable, "-c", "import numpy"], check=True), max(rep, 7)),
            other="numpy")

        if args.big_gb > 0:
            big_rows = int(args.big_gb * 1e9 / (4 * c))
            bz, by = os.path.join(tmp, "big.npy"), os.path.join(tmp, "big_y.npy")
            write_big_npy(bz, big_rows, c)
            np.save(by, np.random.default_rng(2).integers(0, c, big_rows))
            size = os.path.getsize(bz)
            print(f"\n4. a {size / 1e9:.1f} GB .npy ({big_rows} x {c} float32)")
            cmd = [sys.executable, "-m", "xentcli", "ce", "--logits", bz, "--labels", by, "--format", "json"]
            run_rss(cmd)  # once to bring the file into the page cache, as for the alternatives above
            secs, rss = min((run_rss(cmd) for _ in range(max(1, rep // 2))), key=lambda r: r[0])
            print(f"  {'xent ce':<46} {secs:.2f} s, {size / secs / 1e9:.2f} GB/s, peak RSS {rss / 1e6:.0f} MB")
            os.remove(bz)

        print("\n5. CSV ingest")
        m = min(n, 20_000)
        csv = os.path.join(tmp, "z.csv")
        np.savetxt(csv, z[:m, :100], delimiter=",", fmt="%.7g")
        mb = os.path.getsize(csv) / 1e6
        with open(csv, "rb") as f:
            data = f.read()
        row(f"parse {mb:.1f} MB (MB/s): xent vs numpy.loadtxt", mb / best(lambda: parse_text(data, "csv"), rep),
            mb / best(lambda: np.loadtxt(csv, delimiter=","), rep), unit="MB/s", other="loadtxt", higher_is_better=True)
        if args.csv_mb > 0:
            big_csv, big_y = os.path.join(tmp, "big.csv"), os.path.join(tmp, "big_y.csv")
            rows_csv = write_big_csv(big_csv, z[:2000], args.csv_mb * 1e6)
            np.savetxt(big_y, np.resize(y, rows_csv), fmt="%d")
            size = os.path.getsize(big_csv)
            cmd = [sys.executable, "-m", "xentcli", "ce", "--logits", big_csv, "--labels", big_y, "--format", "json"]
            script = ("import numpy as np; z=np.loadtxt(%r, delimiter=','); y=np.loadtxt(%r, dtype=np.int64);"
                      "m=z.max(1,keepdims=True); ls=(z-m)-np.log(np.exp(z-m).sum(1,keepdims=True));"
                      "print(-ls[np.arange(len(y)),y].mean())" % (big_csv, big_y))
            ours, theirs = run_rss(cmd), run_rss([sys.executable, "-c", script])
            print(f"  {f'xent ce on a {size / 1e6:.0f} MB CSV':<46} {ours[0]:.2f} s, peak RSS {ours[1] / 1e6:.0f} MB;"
                  f" numpy.loadtxt script {theirs[0]:.2f} s, peak RSS {theirs[1] / 1e6:.0f} MB")
    print(f"\npeak RSS of this benchmark process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


if __name__ == "__main__":
    main()
