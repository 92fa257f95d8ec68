"""The formats users hold, side by side in one run: time and peak RSS of the whole ``xent`` process.

    python benchmarks/bench_formats.py [--gb 4] [--parquet-gb 1] [--repeat 3]

Inputs are generated into a temp folder (deleted afterwards):

1. a float32 logits matrix (``--gb``, 1000 classes) as ``.npy`` and as ``.safetensors``:
   ``xent ce`` on each, in turns (same rows, same targets), and the ratio;
2. the same logits as BF16 and F16 ``.safetensors`` (half the bytes; widened while read);
3. a llama.cpp ``.kld`` file of the same size class (uint16 codes): ``xent ppl`` on its
   decoded log-probabilities with its own ``:targets``;
4. a Parquet file with one list<float> column of logits (Hugging Face datasets' layout,
   ``--parquet-gb``) and an int label column: ``xent ppl`` against a pandas script that
   reads it (what a user would otherwise run).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ce import run_rss  # noqa: E402  (the benchmarks share one RSS probe)

CLASSES = 1000
ROWS_PER_WRITE = 50_000


def write_logits(path_npy: str, path_st: str, rows: int, dtype_name: str = "F32") -> None:
    """The same rows as .npy (float32) and as .safetensors (``dtype_name``), written in slices."""
    rng = np.random.default_rng(1)
    item = {"F32": 4, "F16": 2, "BF16": 2}[dtype_name]
    header = json.dumps({"logits": {"dtype": dtype_name, "shape": [rows, CLASSES],
                                    "data_offsets": [0, rows * CLASSES * item]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path_st, "wb") as st, (open(path_npy, "wb") if path_npy else open(os.devnull, "wb")) as npy:
        st.write(struct.pack("<Q", len(header)) + header)
        if path_npy:
            np.lib.format.write_array_header_1_0(npy, {"descr": "<f4", "fortran_order": False,
                                                       "shape": (rows, CLASSES)})
        for start in range(0, rows, ROWS_PER_WRITE):
            block = rng.standard_normal((min(ROWS_PER_WRITE, rows - start), CLASSES), dtype=np.float32) * 3
            npy.write(block.tobytes())
            if dtype_name == "F32":
                st.write(block.tobytes())
            elif dtype_name == "F16":
                st.write(block.astype("<f2").tobytes())
            else:
                st.write((block.view(np.uint32) >> 16).astype("<u2").tobytes())


def write_kld(path: str, n_ctx: int, n_vocab: int, n_chunk: int) -> None:
    """llama.cpp's --kl-divergence-base layout, with random codes (decoding cost is what is measured)."""
    rng = np.random.default_rng(3)
    scored = n_ctx - 1 - n_ctx // 2
    padded = n_vocab + n_vocab % 2
    with open(path, "wb") as f:
        f.write(b"_logits_" + struct.pack("<iii", n_ctx, n_vocab, n_chunk))
        f.write(rng.integers(0, n_vocab, n_ctx * n_chunk, dtype=np.int32).tobytes())
        row = np.empty((scored, 2 + padded // 2), dtype=np.uint32)  # scale, min, then codes as uint16 pairs
        for _ in range(n_chunk):
            codes = rng.integers(0, 65535, (scored, padded), dtype=np.uint16)
            head = np.empty((scored, 2), dtype=np.float32)
            head[:, 0], head[:, 1] = 16.0 / 65535, -16.0
            row[:, :2] = head.view(np.uint32)
            row[:, 2:] = codes.view(np.uint32)
            f.write(row.tobytes())


def timed(cmd: list[str], repeat: int) -> tuple[float, int]:
    """Best (seconds, peak RSS bytes) of ``repeat`` runs after one that warms the page cache."""
    run_rss(cmd)
    return min((run_rss(cmd) for _ in range(repeat)), key=lambda r: r[0])


def xent(*args) -> list[str]:
    return [sys.executable, "-m", "xentcli", *map(str, args), "--format", "json"]


def show(name: str, secs: float, rss: int, size: int, other: tuple[float, int] | None = None, what: str = "") -> None:
    line = f"  {name:<44} {secs:7.2f} s  {size / secs / 1e9:5.2f} GB/s  peak RSS {rss / 1e6:6.0f} MB"
    if other is not None:
        line += f"   {what} {other[0]:.2f} s, {other[1] / 1e6:.0f} MB: time ratio {secs / other[0]:.3f}"
    print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=4.0)
    ap.add_argument("--parquet-gb", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = int(args.gb * 1e9 / (4 * CLASSES))
    with tempfile.TemporaryDirectory() as tmp:
        p = lambda name: os.path.join(tmp, name)  # noqa: E731
        np.save(p("y.npy"), np.random.default_rng(2).integers(0, CLASSES, rows))
        write_logits(p("z.npy"), p("z.safetensors"), rows)
        size = os.path.getsize(p("z.npy"))
        print(f"1. {size / 1e9:.1f} GB of float32 logits ({rows} x {CLASSES}), xent ce with index targets")
        npy_cmd, st_cmd = xent("ce", "--logits", p("z.npy"), "--labels", p("y.npy")), \
            xent("ce", "--logits", p("z.safetensors"), "--labels", p("y.npy"))
        same = (subprocess.run(npy_cmd, capture_output=True).stdout
                == subprocess.run(st_cmd, capture_output=True).stdout)
        best_npy, best_st = (float("inf"), 0), (float("inf"), 0)
        for _ in range(args.repeat):  # in turns, so a slow spell of the shared machine hits both
            best_npy = min(best_npy, timed(npy_cmd, 1), key=lambda r: r[0])
            best_st = min(best_st, timed(st_cmd, 1), key=lambda r: r[0])
        show(".npy", *best_npy, size)
        show(".safetensors (F32)", *best_st, size, best_npy, ".npy")
        print(f"  {'':<44} same JSON from both: {same}")
        os.remove(p("z.npy"))
        os.remove(p("z.safetensors"))

        print("\n2. the same logits as 16-bit safetensors (widened exactly while read)")
        for name in ("BF16", "F16"):
            write_logits("", p("h.safetensors"), rows, name)
            show(f".safetensors ({name})", *timed(xent("ce", "--logits", p("h.safetensors"), "--labels", p("y.npy")),
                                                   args.repeat), os.path.getsize(p("h.safetensors")))
            os.remove(p("h.safetensors"))

        n_ctx, n_vocab = 512, 32000
        n_chunk = max(1, int(args.gb / 2 * 1e9 / ((n_ctx - 1 - n_ctx // 2) * (2 * n_vocab + 8))))
        write_kld(p("base.kld"), n_ctx, n_vocab, n_chunk)
        kld = os.path.getsize(p("base.kld"))
        print(f"\n3. a {kld / 1e9:.1f} GB llama.cpp .kld ({n_chunk} chunks of {n_ctx}, vocabulary {n_vocab})")
        show("xent ppl --logits base.kld --targets base.kld:targets",
             *timed(xent("ppl", "--logits", p("base.kld"), "--targets", f"{p('base.kld')}:targets"), args.repeat), kld)
        os.remove(p("base.kld"))

        import pyarrow as pa
        import pyarrow.parquet as pq

        prow = int(args.parquet_gb * 1e9 / (4 * CLASSES))
        rng = np.random.default_rng(4)
        with pq.ParquetWriter(p("d.parquet"), pa.schema([("logits", pa.list_(pa.float32())), ("label", pa.int64())]),
                              compression="none") as w:
            for start in range(0, prow, 20_000):
                n = min(20_000, prow - start)
                flat = rng.standard_normal(n * CLASSES, dtype=np.float32)
                offsets = pa.array(np.arange(0, (n + 1) * CLASSES, CLASSES, dtype=np.int32))
                w.write_table(pa.table({"logits": pa.ListArray.from_arrays(offsets, pa.array(flat)),
                                        "label": pa.array(rng.integers(0, CLASSES, n))}))
        psize = os.path.getsize(p("d.parquet"))
        pandas_script = (
            "import numpy as np, pandas as pd; df = pd.read_parquet(%r);"
            "z = np.stack(df['logits'].to_numpy()).astype(np.float64); y = df['label'].to_numpy();"
            "m = z.max(1, keepdims=True); ls = (z - m) - np.log(np.exp(z - m).sum(1, keepdims=True));"
            "print(np.exp(-ls[np.arange(len(y)), y].mean()))" % p("d.parquet"))
        print(f"\n4. a {psize / 1e9:.1f} GB Parquet file, list<float> logits ({prow} x {CLASSES}) and int labels")
        show("xent ppl --logits d.parquet:logits --targets :label",
             *timed(xent("ppl", "--logits", f"{p('d.parquet')}:logits", "--targets", f"{p('d.parquet')}:label"),
                    args.repeat), psize, timed([sys.executable, "-c", pandas_script], 1), "pandas script")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\n(benchmark took {time.perf_counter() - t0:.0f} s)")
