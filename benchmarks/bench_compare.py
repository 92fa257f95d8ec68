"""``xent compare`` against the PyTorch script a user would write, side by side in one run.

    python benchmarks/bench_compare.py [--rows 100000] [--classes 1000] [--repeat 3] [--big-gb 4]

Generates (in a temp folder, deleted afterwards) a base dump of float32 logits
(``--rows`` × ``--classes``, N(0, 3)), a test dump (the base plus N(0, 0.3) noise, a
"quantised" model) and targets, then measures whole processes (wall time, work time =
user + system CPU of the process, peak RSS):

1. ``xent compare --base b.npy --test t.npy --targets y.npy`` twice: ``--format csv`` (its line is
   the mean KL ± SE, ln PPL ratio and same top-1: the statistics of the script below, and only
   those are computed) and ``--format json`` (every statistic: also the reverse KL, JSD,
   entropies, top-K sets, percentiles);
2. a ``python -c`` PyTorch script computing those core statistics in float64: log_softmax of
   both, KL per token, both NLLs, top-1 agreement (torch's threads = xent's: ``XENT_THREADS``, else the cores);
   and checks that xent and it give the same mean KL to 1e-9 relative;
3. how the cost grows: the same bytes with a 4× wider vocabulary, and two tests instead of one;
4. two ``--big-gb`` dumps (0 skips): peak RSS stays bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

PROBE = (
    "import resource, subprocess, sys, time; t = time.perf_counter();"
    "out = subprocess.run(sys.argv[1:], check=True, stdout=subprocess.PIPE).stdout;"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss);"
    "sys.stdout.flush(); sys.stdout.buffer.write(out)"
)


def measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, int, bytes]:
    """(wall s, work s = user + sys, peak RSS bytes, stdout) of a command, from a fresh child."""
    out = subprocess.run([sys.executable, "-c", PROBE, *cmd], check=True, capture_output=True, env=env).stdout
    first, _, rest = out.partition(b"\n")
    wall, work, rss = first.split()
    return float(wall), float(work), int(rss) * 1024, rest


def best(cmd: list[str], repeat: int):
    measured(cmd)  # warm the page cache
    return min((measured(cmd) for _ in range(repeat)), key=lambda r: r[1])


def write_dumps(folder: str, rows: int, classes: int, seed: int = 0, tests: int = 1) -> None:
    """b.npy, t.npy (t2.npy …) and y.npy, written in slices (nothing held whole)."""
    rng = np.random.default_rng(seed)
    files = [open(os.path.join(folder, name), "wb") for name in ["b.npy"] + [f"t{i or ''}.npy" for i in range(tests)]]
    for f in files:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, classes)})
    step = max(1, 20_000_000 // classes)
    for start in range(0, rows, step):
        b = rng.standard_normal((min(step, rows - start), classes), dtype=np.float32) * 3
        files[0].write(b.tobytes())
        for i, f in enumerate(files[1:]):
            f.write((b + rng.standard_normal(b.shape, dtype=np.float32) * np.float32(0.3 * (i + 1))).tobytes())
    for f in files:
        f.close()
    np.save(os.path.join(folder, "y.npy"), rng.integers(0, classes, rows))


TORCH_SCRIPT = """
import os, sys, numpy as np, torch, torch.nn.functional as F
torch.set_num_threads(int(os.environ.get("XENT_THREADS") or len(os.sched_getaffinity(0))))
b = torch.from_numpy(np.load(sys.argv[1])).double(); t = torch.from_numpy(np.load(sys.argv[2])).double()
y = torch.from_numpy(np.load(sys.argv[3]))
lp, lq = F.log_softmax(b, -1), F.log_softmax(t, -1)
kl = F.kl_div(lq, lp, log_target=True, reduction="none").sum(-1)
nll_b = -lp.gather(1, y[:, None])[:, 0]; nll_t = -lq.gather(1, y[:, None])[:, 0]
same = (lp.argmax(-1) == lq.argmax(-1)).double()
print(kl.mean().item(), nll_b.mean().item(), nll_t.mean().item(), same.mean().item())
"""


def xent(folder: str, *tests: str, fmt: str = "json") -> list[str]:
    p = lambda name: os.path.join(folder, name)  # noqa: E731
    cmd = [sys.executable, "-m", "xentcli", "compare", "--base", p("b.npy"), "--targets", p("y.npy"), "--format", fmt]
    for t in tests:
        cmd += ["--test", p(t)]
    return cmd


def show(name: str, r, other=None, what: str = "") -> None:
    line = f"  {name:<40} wall {r[0]:6.2f} s  work {r[1]:6.2f} s  peak RSS {r[2] / 1e6:6.0f} MB"
    if other is not None:
        line += f"   | {what}: wall {other[0]:.2f} s, work {other[1]:.2f} s, {other[2] / 1e6:.0f} MB" \
                f" -> xent is {other[1] / r[1]:.2f}x faster in work time, {other[0] / r[0]:.2f}x in wall time"
    print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big-gb", type=float, default=4.0)
    args = ap.parse_args()
    import importlib.util

    have_torch = importlib.util.find_spec("torch") is not None
    with tempfile.TemporaryDirectory() as tmp:
        write_dumps(tmp, args.rows, args.classes)
        size = os.path.getsize(os.path.join(tmp, "b.npy")) / 1e6
        print(f"1-2. two {size:.0f} MB float32 dumps ({args.rows} x {args.classes}) with targets; "
              f"best of {args.repeat}")
        same_stats = best(xent(tmp, "t.npy", fmt="csv"), args.repeat)
        ours = best(xent(tmp, "t.npy"), args.repeat)
        doc = json.loads(ours[3])
        if have_torch:
            script = [sys.executable, "-c", TORCH_SCRIPT] + [os.path.join(tmp, n) for n in ("b.npy", "t.npy", "y.npy")]
            theirs = best(script, args.repeat)
            show("xent compare --format csv (same stats)", same_stats, theirs, "torch float64 script")
            show("xent compare (every statistic)", ours, theirs, "torch float64 script")
            kl_csv = float(same_stats[3].decode().split(",")[1])
            kl_t, nll_b, nll_t, same = map(float, theirs[3].split())
            print(f"  {'':<40} mean KL of the csv line {kl_csv!r} "
                  f"(the JSON's, to the bit: {kl_csv == doc['tests']['t']['kl']['mean']})")
            kl = doc["tests"]["t"]["kl"]["mean"]
            print(f"  {'':<40} mean KL: xent {kl!r}, torch {kl_t!r}, relative difference {abs(kl - kl_t) / kl_t:.1e}")
            print(f"  {'':<40} NLL base/test: xent {doc['models']['base']['nll']['mean']!r} / "
                  f"{doc['models']['t']['nll']['mean']!r}; torch {nll_b!r} / {nll_t!r}; same top-1 "
                  f"{doc['tests']['t']['same_top1']['value']!r} vs {same!r}")
        else:
            show("xent compare (every statistic)", ours)
            print("  (torch is not installed: its row is skipped)")

        print("\n3. how the cost grows")
        write_dumps(tmp, args.rows, args.classes, tests=2)
        two = best(xent(tmp, "t.npy", "t1.npy"), args.repeat)
        show("two tests (one pass over the base)", two)
        print(f"  {'':<40} {two[1] / ours[1]:.2f}x the work of one test")
        wide = args.classes * 4
        write_dumps(tmp, args.rows // 4, wide)
        w = best(xent(tmp, "t.npy"), args.repeat)
        show(f"vocabulary {wide} (same bytes, 1/4 the tokens)", w)
        print(f"  {'':<40} {w[1] / ours[1]:.2f}x the work of vocabulary {args.classes} at the same bytes")

        if args.big_gb > 0:
            rows = int(args.big_gb * 1e9 / (4 * args.classes))
            write_dumps(tmp, rows, args.classes)
            big = measured(xent(tmp, "t.npy"))
            print(f"\n4. two {args.big_gb:.1f} GB dumps ({rows} x {args.classes})")
            show("xent compare", big)


if __name__ == "__main__":
    main()
