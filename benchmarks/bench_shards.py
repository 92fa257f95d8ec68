"""Many files as one matrix (SPEC §9): ``xent ce`` over a dump cut into shards vs the same dump as one file.

    python benchmarks/bench_shards.py [--gb 4] [--shards 16] [--classes 8192] [--repeat 3]

Generates (in a temp folder, deleted afterwards) ``--gb`` GB of float32 logits
(N(0, 3), ``--classes`` wide) and their index targets, written both as one ``.npy``
each and as ``--shards`` ``.npy`` shards each (``z/shard-0.npy`` …, uneven sizes, so that
blocks straddle shard boundaries), then times whole processes, in turns so that a slower
spell of a shared machine hits both alike:

    xent ce --logits z.npy      --labels y.npy      --format json
    xent ce --logits 'z/*.npy'  --labels 'y/*.npy'  --format json

and prints the best wall time of each, their ratio (the goal: the shards ≤ 5 % slower),
work time (user + system CPU), peak RSS, and checks that both print the same bytes.
Every run after a first, untimed one reads from the page cache (the data must fit in RAM
twice for that: the script says when it does not).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

XENT = [sys.executable, "-m", "xentcli"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        ram = float("nan")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return (f"{platform.system()} {platform.release()}, {cpu}, {cores} cores usable, {ram:.1f} GiB RAM, "
            f"Python {platform.python_version()}, NumPy {np.__version__}, "
            f"XENT_THREADS={os.environ.get('XENT_THREADS', '-')}")


def run_measured(cmd: list[str]) -> tuple[float, float, int, bytes]:
    """(wall s, work s = user + sys CPU, peak RSS bytes, stdout) of one process: its own rusage, by ``wait4``."""
    t = time.perf_counter()
    with open(os.devnull, "wb") as null:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=null)
        chunks = []
        while True:
            b = p.stdout.read(1 << 16)
            if not b:
                break
            chunks.append(b)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with exit {p.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, b"".join(chunks)


def write(folder: str, gb: float, classes: int, shards: int, seed: int = 0) -> tuple[int, list[int]]:
    """z.npy, y.npy and z/shard-K.npy, y/shard-K.npy: the same rows, written in slices (nothing held whole)."""
    rows = int(gb * 2**30 // (4 * classes))
    rng = np.random.default_rng(seed)
    # Uneven shard sizes (±25 %), summing to rows.
    weights = rng.uniform(0.75, 1.25, shards)
    sizes = np.floor(weights / weights.sum() * rows).astype(int)
    sizes[-1] += rows - sizes.sum()
    for sub in ("z", "y"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)

    def header(f, shape, descr):
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})

    with open(os.path.join(folder, "z.npy"), "wb") as z, open(os.path.join(folder, "y.npy"), "wb") as y:
        header(z, (rows, classes), "<f4")
        header(y, (rows,), "<i8")
        step = max(1, 32_000_000 // classes)
        for k, n in enumerate(sizes):
            with open(os.path.join(folder, "z", f"shard-{k}.npy"), "wb") as zs, \
                    open(os.path.join(folder, "y", f"shard-{k}.npy"), "wb") as ys:
                header(zs, (int(n), classes), "<f4")
                header(ys, (int(n),), "<i8")
                for start in range(0, n, step):
                    m = min(step, n - start)
                    block = (rng.standard_normal((m, classes), dtype=np.float32) * 3).tobytes()
                    ids = rng.integers(0, classes, m).astype("<i8").tobytes()
                    z.write(block)
                    zs.write(block)
                    y.write(ids)
                    ys.write(ids)
    return rows, sizes.tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", type=float, default=4.0, help="GB of float32 logits (default 4)")
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--classes", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each, in turns (default 3)")
    ap.add_argument("--dir", default=None, help="where to write the dump (default: a temp folder)")
    args = ap.parse_args()

    print(f"machine: {machine()}")
    folder = tempfile.mkdtemp(prefix="xent-bench-shards-", dir=args.dir)
    try:
        t = time.perf_counter()
        rows, sizes = write(folder, args.gb, args.classes, args.shards)
        data = rows * args.classes * 4
        print(f"dump: {rows} rows x {args.classes} classes float32 = {data / 1e9:.2f} GB, as one file and as "
              f"{args.shards} shards of {min(sizes)}-{max(sizes)} rows (written in {time.perf_counter() - t:.0f} s)")
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if 2 * data > 0.8 * ram:
            print("note: both copies do not fit in the page cache: the runs read from disk, and disk speed dominates")
        one = [*XENT, "ce", "--logits", os.path.join(folder, "z.npy"), "--labels", os.path.join(folder, "y.npy"),
               "--format", "json"]
        many = [*XENT, "ce", "--logits", os.path.join(folder, "z", "*.npy"),
                "--labels", os.path.join(folder, "y", "*.npy"), "--format", "json"]
        outs = {"one file": run_measured(one)[3], f"{args.shards} shards": run_measured(many)[3]}  # warm the cache
        results: dict[str, list] = {"one file": [], f"{args.shards} shards": []}
        for _ in range(args.repeat):
            for name, cmd in (("one file", one), (f"{args.shards} shards", many)):
                results[name].append(run_measured(cmd))
        same = len({o for o in outs.values()} | {r[3] for rs in results.values() for r in rs}) == 1
        print(f"xent ce, index targets, best of {args.repeat} in turns:")
        best = {}
        for name, rs in results.items():
            wall = min(r[0] for r in rs)
            work = min(r[1] for r in rs)
            rss = max(r[2] for r in rs)
            best[name] = wall
            print(f"  {name:<12} wall {wall:7.3f} s  ({data / wall / 1e9:5.2f} GB/s)  work {work:7.3f} s  "
                  f"peak RSS {rss / 2**20:7.1f} MiB   all walls: {' '.join(f'{r[0]:.3f}' for r in rs)}")
        one_t, many_t = best.values()
        ratio = many_t / one_t
        verdict = "within" if ratio <= 1.05 else "OVER"
        print(f"  ratio shards / one file: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %; goal <= +5 %: {verdict})")
        print(f"  same output: {'yes' if same else 'NO'}   {outs['one file'].decode().strip()[:120]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
