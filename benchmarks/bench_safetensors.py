"""xent's own ``.safetensors`` reader against ``safetensors.safe_open`` on the same block reads, in one run.

    python benchmarks/bench_safetensors.py [--gb 4] [--classes 32768] [--repeat 3] [--block-elements N]
                                           [--dtypes F32,BF16]

Writes one F32 and one BF16 file of ``--gb`` GB each (a ``(N, classes)`` tensor named ``logits``,
random values) into a temp folder, one at a time, and deletes each once it is measured. Each file is
read from start to end in the engine's blocks of rows (:func:`xentcli.engine.block_rows`: the
blocks every xent command reads), in a fresh process per run so that each peak RSS is its reader's:

* xent: ``read_matrix("FILE:logits")``'s rows, ``rows(start, stop)`` (``os.pread`` into a new
  array; BF16 widened to float32 as read);
* safetensors: ``safe_open(FILE, framework="numpy").get_slice("logits")[start:stop]`` for F32; NumPy
  has no bfloat16, so BF16 goes through ``framework="pt"`` and ``.to(torch.float32).numpy()``, the
  float32 rows xent gives.

Both readers must give the same values (a checksum of every block's first and last value is
compared). Runs alternate between the readers; "warm" runs read a file the page cache holds (it was
just written), "cold" runs first drop that file's pages (``posix_fadvise(DONTNEED)``, this file
only). Times are the best of ``--repeat`` runs; the ratio is safetensors' time over xent's (above 1:
xent is faster). Peak RSS is the process's maximum resident set, and "+read" what reading added to
it after the imports. If the temp folder's file system lacks room for a file and a margin, the size
is lowered and the run says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

WRITE_CHUNK = 64 << 20  # bytes of random values generated and written at a time


def write_file(path: str, dtype: str, rows: int, classes: int, seed: int) -> None:
    """A safetensors file written by hand from the format's layout (8-byte header length, JSON header,
    raw little-endian C-order data), a chunk at a time: the whole tensor is never in memory."""
    itemsize = {"F32": 4, "BF16": 2}[dtype]
    size = rows * classes * itemsize
    header = json.dumps({"logits": {"dtype": dtype, "shape": [rows, classes], "data_offsets": [0, size]}}).encode()
    header += b" " * (-len(header) % 8)
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, WRITE_CHUNK // (classes * itemsize))
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header)
        for start in range(0, rows, rows_per_chunk):
            block = rng.standard_normal((min(rows_per_chunk, rows - start), classes), dtype=np.float32) * 4
            if dtype == "BF16":
                block = block.view(np.uint32) >> 16  # bfloat16: a float32's high 16 bits
            f.write(block.astype("<u2" if dtype == "BF16" else "<f4").tobytes())


def peak_rss_kb() -> int:
    """This process's peak resident set (``VmHWM``: unlike ``ru_maxrss``, not inherited from the
    parent's image across ``fork`` and ``exec``)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def child(reader: str, path: str, dtype: str, cold: bool, block_elements: int | None) -> None:
    """One timed read of the whole file in blocks; prints its figures as JSON."""
    from xentcli.engine import block_rows

    if reader == "xent":
        from xentcli.readers import read_matrix
    else:
        from safetensors import safe_open

        if dtype == "BF16":
            import torch
    before = peak_rss_kb()
    if cold:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    checksum = 0.0
    t0 = time.perf_counter()
    if reader == "xent":
        rows = read_matrix(f"{path}:logits", "--logits").values.as_rows()
        n, c = rows.shape
        step = block_rows(c) if block_elements is None else block_rows(c, block_elements)
        for start in range(0, n, step):
            block = rows.rows(start, min(n, start + step))
            checksum += float(block[0, 0]) + float(block[-1, -1])
    else:
        framework = "pt" if dtype == "BF16" else "numpy"
        with safe_open(path, framework=framework) as f:
            tensor = f.get_slice("logits")
            n, c = tensor.get_shape()
            step = block_rows(c) if block_elements is None else block_rows(c, block_elements)
            for start in range(0, n, step):
                block = tensor[start:min(n, start + step)]  # safetensors refuses a stop past the end
                if dtype == "BF16":
                    block = block.to(torch.float32).numpy()
                checksum += float(block[0, 0]) + float(block[-1, -1])
    seconds = time.perf_counter() - t0
    peak = peak_rss_kb()
    print(json.dumps({"seconds": seconds, "before_kb": before, "peak_kb": peak, "checksum": checksum,
                      "block_rows": step}))


def run_child(reader: str, path: str, dtype: str, cold: bool, block_elements: int | None) -> dict:
    args = [sys.executable, __file__, "--child", reader, path, dtype, "cold" if cold else "warm"]
    if block_elements is not None:
        args += ["--block-elements", str(block_elements)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = []
    for name in ("numpy", "safetensors", "torch"):
        try:
            versions.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            versions.append(f"{name} missing")
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPUs, {memory:.0f} GB RAM; "
            f"Python {platform.python_version()}, {', '.join(versions)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, default=4.0, help="size of each file in GB (2**30 bytes)")
    ap.add_argument("--classes", type=int, default=32768, help="values a row (the vocabulary)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--block-elements", type=int, default=None, help="values a block (default: the engine's)")
    ap.add_argument("--dtypes", default="F32,BF16", help="which files: F32, BF16 or both")
    ap.add_argument("--child", nargs=4, metavar=("READER", "PATH", "DTYPE", "CACHE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        reader, path, dtype, cache = a.child
        child(reader, path, dtype, cache == "cold", a.block_elements)
        return
    print(machine())
    with tempfile.TemporaryDirectory(prefix="xent-bench-st-") as tmp:
        free = shutil.disk_usage(tmp).free
        size = int(a.gb * 2**30)
        if size > free - (2 << 30):
            size = max(0, free - (2 << 30))
            print(f"note: {a.gb:g} GB does not fit in {tmp} ({free / 2**30:.1f} GB free): "
                  f"{size / 2**30:.2f} GB files instead")
        print(f"python benchmarks/bench_safetensors.py --gb {a.gb:g} --classes {a.classes} --repeat {a.repeat}"
              + (f" --block-elements {a.block_elements}" if a.block_elements else "") + f" --dtypes {a.dtypes}")
        print(f"{'dtype':5} {'cache':5} {'GB':>5} {'rows/block':>10} | {'xent s':>7} {'GB/s':>5} "
              f"{'peak RSS':>9} {'+read':>7} | {'safetensors s':>13} {'GB/s':>5} {'peak RSS':>9} {'+read':>7} | "
              f"{'ratio':>5}")
        for k, dtype in enumerate(a.dtypes.split(",")):
            itemsize = 4 if dtype == "F32" else 2
            rows = max(1, size // (a.classes * itemsize))
            path = os.path.join(tmp, f"{dtype.lower()}.safetensors")
            write_file(path, dtype, rows, a.classes, seed=k)
            gb = os.path.getsize(path) / 2**30
            for cold in (False, True):
                runs: dict[str, list[dict]] = {"xent": [], "safetensors": []}
                for _ in range(a.repeat):
                    for reader in runs:
                        runs[reader].append(run_child(reader, path, dtype, cold, a.block_elements))
                sums = {r["checksum"] for rs in runs.values() for r in rs}
                if len(sums) != 1:
                    raise SystemExit(f"{dtype}: the readers disagree (checksums {sorted(sums)})")
                cells = []
                for reader, rs in runs.items():
                    best = min(r["seconds"] for r in rs)
                    peak = max(r["peak_kb"] for r in rs) / 2**10
                    added = max(r["peak_kb"] - r["before_kb"] for r in rs) / 2**10
                    cells.append((best, gb / best, peak, added))
                (xs, xg, xp, xa), (ss, sg, sp, sa) = cells
                width = 13 - 1
                print(f"{dtype:5} {'cold' if cold else 'warm':5} {gb:5.2f} {runs['xent'][0]['block_rows']:>10} | "
                      f"{xs:7.2f} {xg:5.2f} {xp:6.0f} MB {xa:4.0f} MB | {ss:{width + 1}.2f} {sg:5.2f} {sp:6.0f} MB "
                      f"{sa:4.0f} MB | {ss / xs:5.2f}")
            os.unlink(path)


if __name__ == "__main__":
    main()
