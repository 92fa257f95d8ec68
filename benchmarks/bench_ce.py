"""Side-by-side timings of xent against what a user would otherwise run.

    python benchmarks/bench_ce.py [--rows 100000] [--classes 1000] [--repeat 3]

Generates its inputs on the fly in a temp folder (deleted afterwards) and
prints, in one run, each measurement beside its alternative and the ratio:

* CE kernel (index labels, float32 logits, mean): xent's core over row
  blocks vs the reference document's naive NumPy (softmax, then log) vs
  PyTorch CPU ``F.cross_entropy`` (skipped with a note if torch is absent);
* whole process ``xent ce`` on an .npy vs the same job as a ``python -c``
  NumPy script (and a torch script when torch is present);
* start-up of a tiny ``xent ce`` call vs ``python -c "import numpy"``;
* CSV ingest (MB/s) of xent's reader vs ``numpy.loadtxt``.

Timings are the best of ``--repeat`` runs (wall clock).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from xentcli import core
from xentcli.engine import map_rows
from xentcli.readers import parse_text


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def row(name: str, ours: float, theirs: float | None, unit: str = "s", other: str = "") -> None:
    if theirs is None:
        print(f"  {name:<44} xent {ours:9.4f} {unit}   ({other})")
    else:
        print(f"  {name:<44} xent {ours:9.4f} {unit}   {other} {theirs:9.4f} {unit}   ratio {ours / theirs:6.2f}x")


def naive_numpy_ce(z: np.ndarray, y: np.ndarray) -> float:
    """The reference document's code: softmax, then -log of the target's probability."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))


def xent_ce(z: np.ndarray, y: np.ndarray) -> float:
    per = map_rows(lambda zb, yb: core.cross_entropy(zb, yb), z, y)
    return core.reduce(per)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n, c, rep = args.rows, args.classes, args.repeat

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}")
    print(f"input: {n} x {c} float32 logits ({n * c * 4 / 1e6:.0f} MB), int64 targets; best of {rep}\n")
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, c), dtype=np.float32) * 3
    y = rng.integers(0, c, size=n)

    print("CE kernel (in memory, mean over rows)")
    ours = best(lambda: xent_ce(z, y), rep)
    row("xent core vs naive NumPy (document)", ours, best(lambda: naive_numpy_ce(z, y), rep), other="numpy")
    try:
        import torch
        import torch.nn.functional as F

        zt, yt = torch.from_numpy(z), torch.from_numpy(y)
        row(f"xent core vs torch F.cross_entropy ({torch.get_num_threads()} thr)", ours,
            best(lambda: F.cross_entropy(zt, yt).item(), rep), other="torch")
        assert abs(xent_ce(z, y) - F.cross_entropy(zt.double(), yt).item()) < 1e-9
    except ImportError:
        row("torch F.cross_entropy", ours, None, other="torch not installed: skipped")

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
        print("\nwhole process on .npy files")
        ours = best(lambda: subprocess.run(xent_cmd, check=True, capture_output=True), rep)
        row("xent ce vs python -c numpy script", ours,
            best(lambda: subprocess.run([sys.executable, "-c", numpy_script], check=True, capture_output=True), rep),
            other="numpy")
        torch_script = (
            "import numpy as np, torch, torch.nn.functional as F;"
            "print(F.cross_entropy(torch.from_numpy(np.load(%r)), torch.from_numpy(np.load(%r))).item())" % (zp, yp)
        )
        if subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0:
            row("xent ce vs python -c torch script", ours,
                best(lambda: subprocess.run([sys.executable, "-c", torch_script], check=True, capture_output=True), rep),
                other="torch")
        else:
            row("python -c torch script", ours, None, other="torch not installed: skipped")

        print("\nstart-up (tiny call)")
        tiny = [sys.executable, "-m", "xentcli", "ce", "--labels", "1,0,0", "--probs", "0.7,0.2,0.1", "--format", "json"]
        row("xent ce (inline) vs python -c 'import numpy'", best(lambda: subprocess.run(tiny, check=True, capture_output=True), max(rep, 5)),
            best(lambda: subprocess.run([sys.executable, "-c", "import numpy"], check=True), max(rep, 5)), other="numpy")

        print("\nCSV ingest")
        m = min(n, 20_000)
        csv = os.path.join(tmp, "z.csv")
        np.savetxt(csv, z[:m, :100], delimiter=",", fmt="%.7g")
        mb = os.path.getsize(csv) / 1e6
        with open(csv, "rb") as f:
            data = f.read()
        ours = best(lambda: parse_text(data, "csv"), rep)
        theirs = best(lambda: np.loadtxt(csv, delimiter=","), rep)
        row(f"parse {mb:.1f} MB: MB/s, xent vs numpy.loadtxt", mb / ours, mb / theirs, unit="MB/s", other="loadtxt")


if __name__ == "__main__":
    main()
