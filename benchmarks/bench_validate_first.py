"""What "nothing on stdout when the command fails" costs, in one run, side by side.

    python benchmarks/bench_validate_first.py [--rows 100000] [--classes 1000] [--repeat 3]

A matrix output (softmax, grad) written to stdout is checked row by row before its
first byte (stdout cannot take back what it printed). This runs the same
``xent softmax`` on a float32 ``.npy`` (400 MB by default) to stdout, redirected to a
file, with that validation pass and with it switched off (the code as it was before,
by patching ``Predictions.validate`` away in the child), in turns, and prints the
ratio, for ``--format npy`` and ``--format csv``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

NO_VALIDATION = (
    "import sys; from xentcli import inputs; inputs.Predictions.validate = lambda self, *others: None;"
    "from xentcli.cli import main; sys.argv[0] = 'xent'; main()"
)


def timed(cmd: list[str], sink: str) -> float:
    with open(sink, "wb") as out:
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=out)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--csv-rows", type=int, default=100_000, help="rows for the csv output (formatting is slow)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        z = os.path.join(tmp, "z.npy")
        zc = os.path.join(tmp, "zc.npy")
        a = np.random.default_rng(0).standard_normal((args.rows, args.classes), dtype=np.float32) * 3
        np.save(z, a)
        np.save(zc, a[: args.csv_rows])
        sink = os.path.join(tmp, "out")
        print(f"softmax of a {os.path.getsize(z) / 1e6:.0f} MB float32 .npy ({args.rows} x {args.classes}) to stdout "
              f"(redirected to a file); best of {args.repeat}, taking turns")
        for fmt, path, repeat in (("npy", z, args.repeat), ("csv", zc, 1)):
            rest = ["softmax", "--logits", path, "--format", fmt]
            validated = [sys.executable, "-m", "xentcli", *rest]
            unvalidated = [sys.executable, "-c", NO_VALIDATION, *rest]
            timed(validated, sink)  # page cache warm for both
            best_v, best_u = float("inf"), float("inf")
            for _ in range(repeat):
                best_v = min(best_v, timed(validated, sink))
                best_u = min(best_u, timed(unvalidated, sink))
            size = os.path.getsize(sink) / 1e6
            print(f"  --format {fmt:<4} ({size:,.0f} MB out): validated first {best_v:.3f} s, "
                  f"without the pass {best_u:.3f} s: {best_v / best_u:.3f}x ({(best_v / best_u - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
