"""Start-up of a tiny ``xent`` call against ``python -c "import numpy"``, side by side in one run.

    pip install . && python benchmarks/bench_startup.py [--repeat 30]

Times the installed ``xent`` script (the one on PATH, byte-compiled by ``pip install .``)
on a tiny inline call, and ``import numpy`` by the same interpreter, in turns; prints the
best and the median of each and their ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

TINY = ["ce", "--labels", "1,0,0", "--probs", "0.7,0.2,0.1", "--format", "json"]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    xent = shutil.which("xent")
    if xent is None:
        sys.exit("no xent on PATH: pip install . first")
    with open(xent) as f:
        python = f.readline()[2:].strip() or sys.executable
    ours, numpy = [], []
    for cmd in ([xent, *TINY], [python, "-c", "import numpy"]):
        timed(cmd)  # warm the file cache
    for _ in range(args.repeat):
        ours.append(timed([xent, *TINY]))
        numpy.append(timed([python, "-c", "import numpy"]))
    print(f"xent {' '.join(TINY)}")
    print(f"  xent:          best {min(ours):.3f} s, median {statistics.median(ours):.3f} s")
    print(f"  import numpy:  best {min(numpy):.3f} s, median {statistics.median(numpy):.3f} s")
    print(f"  ratio: {min(ours) / min(numpy):.2f}x (best), "
          f"{statistics.median(ours) / statistics.median(numpy):.2f}x (median)")


if __name__ == "__main__":
    main()
