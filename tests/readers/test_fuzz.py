"""Seeded mutation fuzzing of every binary and structured input format.

Valid files are written by the tools users hold (NumPy, pandas/pyarrow, PyTorch, a
safetensors writer, llama.cpp's ``.kld`` layout), then mutated: truncated, header bytes
flipped, little-endian integers in the header replaced by lying lengths, offsets and
shapes (0, -1, 2³¹−1, 2⁶³−1, …), bytes inserted or deleted. Every mutant must end with exit 0
(still valid), 1 or 2, and a failure is exactly one stderr line starting ``Error:`` that names
the option and the file: never ``internal error``, never a traceback. Most mutants run
in-process (click's CliRunner); a few run as real processes whose peak memory must stay
under 512 MB.

Short by default; ``XENT_FUZZ_CASES=N`` runs N mutants per format (``XENT_FUZZ_SEED`` picks
another seed), e.g. ``XENT_FUZZ_CASES=400 pytest tests/test_fuzz.py``.
"""

import io
import json
import os
import struct
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest

CASES = int(os.environ.get("XENT_FUZZ_CASES", "60"))
SEED = int(os.environ.get("XENT_FUZZ_SEED", "19"))
#: Mutants per format run as real processes, their peak memory measured.
PROCESS_CASES = 1 if "XENT_FUZZ_CASES" not in os.environ else max(1, CASES // 50)
PEAK_BYTES = 512 << 20
QUICK_PROCESS_FORMATS = ("d.npz", "m.safetensors", "t.parquet", "z.pt")
#: Values a lying integer field takes.
LIES = [0, 1, -1, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1, 2**64 - 1, 2**40, 7, 1 << 20]


# --- valid files, as their tools write them --------------------------------------------------------

def _safetensors(tensors: dict) -> bytes:
    header, chunks, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dtype = {"<f4": "F32", "<i8": "I64"}[a.dtype.str]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        chunks.append(a.tobytes())
        offset += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def _kld(n_ctx: int, n_vocab: int, n_chunk: int, rng) -> bytes:
    rows = n_chunk * (n_ctx - 1 - n_ctx // 2)
    out = [b"_logits_", struct.pack("<iii", n_ctx, n_vocab, n_chunk),
           rng.integers(0, n_vocab, n_ctx * n_chunk).astype("<i4").tobytes()]
    for _ in range(rows):
        out.append(struct.pack("<ff", 1e-4, -12.0))
        out.append(rng.integers(0, 65536, n_vocab + n_vocab % 2).astype("<u2").tobytes())
    return b"".join(out)


def seeds(tmp) -> dict[str, tuple[bytes, str]]:
    """Each format's valid file: ``name → (bytes, selector or "")``."""
    rng = np.random.default_rng(SEED)
    z = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.integers(0, 4, 6)
    out = {}
    buf = io.BytesIO()
    np.save(buf, z)
    out["z.npy"] = (buf.getvalue(), "")
    buf = io.BytesIO()
    np.savez(buf, logits=z, y=y)
    out["d.npz"] = (buf.getvalue(), ":logits")
    buf = io.BytesIO()
    np.savez_compressed(buf, logits=z)
    out["c.npz"] = (buf.getvalue(), "")
    out["m.safetensors"] = (_safetensors({"logits": z, "y": y}), ":logits")
    out["base.kld"] = (_kld(8, 5, 2, rng), "")
    out["z.json"] = (json.dumps({"logits": z.tolist(), "y": y.tolist()}).encode(), ":logits")
    out["z.jsonl"] = ("".join(json.dumps({"logits": r.tolist(), "label": int(t)}) + "\n"
                              for r, t in zip(z, y)).encode(), ":logits")
    try:
        import pyarrow as pa
        import pyarrow.feather as feather
        import pyarrow.parquet as pq
    except ImportError:  # an optional extra: the other formats are fuzzed without it
        pa = None
    if pa is not None:
        _tables(pa, feather, pq, z, tmp, out)
    try:
        import torch
    except ImportError:
        return out
    buf = io.BytesIO()
    torch.save({"logits": torch.from_numpy(z), "y": torch.from_numpy(y)}, buf)
    out["z.pt"] = (buf.getvalue(), ":logits")
    return out


def _tables(pa, feather, pq, z, tmp, out: dict) -> None:
    table = pa.table({"a": z[:, 0], "b": z[:, 1], "c": z[:, 2], "logits": [r.tolist() for r in z]})
    for name, write in (("t.parquet", lambda p: pq.write_table(table, p, row_group_size=3)),
                        ("t.feather", lambda p: feather.write_feather(table, p)),
                        ("t.arrow", lambda p: _arrow_stream(pa, table, p))):
        path = tmp / name
        write(str(path))
        out[name] = (path.read_bytes(), ":a,b,c" if name != "t.arrow" else ":logits")


def _arrow_stream(pa, table, path: str) -> None:
    with pa.OSFile(path, "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(table, max_chunksize=2)


# --- mutations ---------------------------------------------------------------------------------------

def mutate(data: bytes, rng) -> bytes:
    """One seeded mutation of ``data``: truncation, flipped (header) bytes, a lying integer, bytes inserted
    or deleted, or a zip member's declared sizes changed."""
    n = len(data)
    kind = rng.integers(0, 7)
    head = max(1, min(n, 512))
    if kind == 0:
        return data[: int(rng.integers(0, n))]
    if kind == 1:
        out = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            out[int(rng.integers(0, head))] ^= 1 << int(rng.integers(0, 8))
        return bytes(out)
    if kind == 2:
        out = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            out[int(rng.integers(0, n))] = int(rng.integers(0, 256))
        return bytes(out)
    if kind == 3:  # a lying length, offset or count: a 4- or 8-byte integer in the header
        width = 4 if rng.integers(0, 2) else 8
        at = int(rng.integers(0, max(1, min(n, 256) - width)))
        value = LIES[int(rng.integers(0, len(LIES)))] % (1 << (8 * width))
        return data[:at] + value.to_bytes(width, "little") + data[at + width:]
    if kind == 4:
        at = int(rng.integers(0, n))
        return data[:at] + bytes(rng.integers(0, 256, int(rng.integers(1, 16))).astype(np.uint8)) + data[at:]
    if kind == 5:
        at = int(rng.integers(0, n))
        return data[:at] + data[at + int(rng.integers(1, 16)):]
    return _lying_text(data, rng) if data[:1] in (b"{", b"[") else _lying_zip(data, rng)


def _lying_zip(data: bytes, rng) -> bytes:
    """A zip member (npz, pt) whose local or central header declares another size; else a header flip."""
    out = bytearray(data)
    sig, at = ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24), (b"PK\x03\x04", 18), (b"PK\x01\x02", 20))[
        int(rng.integers(0, 4))]
    i = out.find(sig)
    if i < 0:
        out[int(rng.integers(0, min(len(out), 64)))] ^= 0xFF
        return bytes(out)
    value = (1, 100, 2**31 - 1, 2**32 - 1, 1 << 29)[int(rng.integers(0, 5))]
    out[i + at:i + at + 4] = value.to_bytes(4, "little")
    return bytes(out)


def _lying_text(data: bytes, rng) -> bytes:
    """JSON mutations: deep nesting, a bracket or quote inserted, a number replaced."""
    text = data.decode("utf-8", "replace")
    at = int(rng.integers(0, len(text)))
    choice = rng.integers(0, 4)
    if choice == 0:
        depth = int(rng.choice([64, 65, 999, 1000, 5000]))
        return (text[:at] + "[" * depth + "1" + "]" * depth + text[at:]).encode()
    if choice == 1:
        token = str(rng.choice(["[", "]", "{", "}", '"', ",", "null", "1e999", '"x"', "\n"]))
        return (text[:at] + token + text[at:]).encode()
    if choice == 2:
        return text.replace("0.", "-", 1).encode()
    return (text[:at] + "\x00\x1b[31m" + text[at:]).encode()


# --- the checks ----------------------------------------------------------------------------------------

def check(code: int, stderr: str, path, what: str) -> None:
    """Exit 0, 1 or 2; a failure is one last ``Error: --logits FILE…`` line (``(stdin)`` when ``path`` is None)."""
    assert code in (0, 1, 2), f"{what}: exit {code}\n{stderr}"
    assert "Traceback" not in stderr and "internal error" not in stderr, f"{what}:\n{stderr}"
    if code:
        lines = stderr.splitlines()
        errors = [line for line in lines if line.startswith("Error:")]
        assert len(errors) == 1 and lines[-1] == errors[0], f"{what}: not one Error: line\n{stderr}"
        named = "(stdin)" if path is None else path.name
        assert errors[0].startswith("Error: --logits ") and named in errors[0], f"{what}: not located\n{stderr}"


def cases(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    return tmp, seeds(tmp)


@pytest.fixture(scope="module")
def fuzz_files(tmp_path_factory):
    return cases(tmp_path_factory)


def test_seeds_are_valid(fuzz_files, xent):
    tmp, files = fuzz_files
    for name, (data, selector) in files.items():
        path = tmp / f"seed-{name}"
        path.write_bytes(data)
        r = xent("softmax", "--logits", f"{path}{selector}", "--format", "csv")
        assert r.exit_code == 0, (name, r.stderr)


def test_mutants_fail_cleanly_in_process(fuzz_files, xent):
    tmp, files = fuzz_files
    for k, (name, (data, selector)) in enumerate(sorted(files.items())):
        rng = np.random.default_rng([SEED, k])
        for i in range(CASES):
            path = tmp / f"m{i}-{name}"
            mutant = mutate(data, rng)
            path.write_bytes(mutant)
            stdin = i % 4 == 3  # every fourth through stdin: held in memory or spooled, then sniffed
            with warnings.catch_warnings():  # as a real run has them: a Warning: line, not an exception
                warnings.simplefilter("default")
                spec = f"-{selector}" if stdin else f"{path}{selector}"
                r = xent("softmax", "--logits", spec, "--format", "csv", input=mutant if stdin else None)
            check(r.exit_code, r.stderr, None if stdin else path,
                  f"{name} mutant {i} (seed {SEED}{', stdin' if stdin else ''})")
            path.unlink()


_PEAK = """
import resource, subprocess, sys
r = subprocess.run([sys.executable, "-m", "xentcli", *sys.argv[1:]], capture_output=True, text=True)
sys.stderr.write(r.stderr)
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak(*args):
    """``(exit code, stderr, peak resident bytes)`` of ``xent ARGS`` as a real process."""
    r = subprocess.run([sys.executable, "-c", _PEAK, *map(str, args)], capture_output=True, text=True, timeout=120)
    code, kb = r.stdout.split()
    return int(code), r.stderr, int(kb) * 1024


def test_mutants_as_processes_stay_under_512_mb(fuzz_files):
    tmp, files = fuzz_files
    for k, (name, (data, selector)) in enumerate(sorted(files.items())):
        if name not in QUICK_PROCESS_FORMATS and "XENT_FUZZ_CASES" not in os.environ:
            continue  # a short run measures the formats whose readers allocate what a file declares
        rng = np.random.default_rng([SEED, k, 1])
        for i in range(PROCESS_CASES):
            path = tmp / f"p{i}-{name}"
            path.write_bytes(_lying_zip(data, rng) if name.endswith(".npz") else mutate(data, rng))
            code, stderr, used = peak("softmax", "--logits", f"{path}{selector}", "--format", "csv")
            check(code, stderr, path, f"{name} process mutant {i} (seed {SEED})")
            assert used < PEAK_BYTES, f"{name} mutant {i}: peak {used >> 20} MB"


def test_zip_bomb_npz_stays_under_512_mb(tmp_path):
    """An archive of under 2 MB whose member inflates to 320 MB, above the bound (its size
    declared honestly, or declared small: inflating must stop at what the archive declares)."""
    header = io.BytesIO()
    values = 40_000_000
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (values,)})
    zeros = bytes(1 << 22)
    honest, small = tmp_path / "bomb-honest.npz", tmp_path / "bomb-small.npz"
    with zipfile.ZipFile(honest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z, z.open("x.npy", "w") as m:
        m.write(header.getvalue())
        for _ in range(8 * values // len(zeros)):
            m.write(zeros)
        m.write(bytes(8 * values % len(zeros)))
    data = honest.read_bytes()
    assert len(data) < 2 << 20
    i = data.find(b"PK\x01\x02")
    small.write_bytes(data[:i + 24] + (1000).to_bytes(4, "little") + data[i + 28:])
    for path in (honest, small):
        code, stderr, used = peak("softmax", "--logits", path)
        check(code, stderr, path, path.name)
        assert code == 1 and used < PEAK_BYTES, (stderr, used >> 20)


def test_npz_float16_member_widened_to_float64_took_1_5_gb(tmp_path):
    """A 250 MB float16 member (under the byte bound) widens four-fold as float64: bounded by its values."""
    from xentcli.readers.npz import MAX_MEMBER_BYTES, MAX_MEMBER_VALUES

    shape = (125_000, 1000)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f2", "fortran_order": False, "shape": shape})
    path = tmp_path / "half.npz"
    row = np.zeros(shape[1], np.float16).tobytes()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z, z.open("y.npy", "w") as m:
        m.write(header.getvalue())
        m.write(row * shape[0])
    assert zipfile.ZipFile(path).infolist()[0].file_size < MAX_MEMBER_BYTES
    code, stderr, used = peak("ce", "--labels", path, "--logits", ",".join(["0"] * shape[1]))
    assert stderr.startswith(f"Error: --labels {path}:y: ") and stderr.count("\n") == 1
    assert code == 1 and used < PEAK_BYTES, (stderr, used >> 20)
    assert f"holds 125000000 values (float16, shape {shape}), more than the {MAX_MEMBER_VALUES}" in stderr
    assert ".npy" in stderr


def test_parquet_one_list_cell_of_millions_of_zeros_took_gigabytes(tmp_path):
    """A Parquet file of a few hundred bytes whose one list cell decodes to 64 MB (one row of 8 Mi
    classes, a NaN last): refused from the row group's declared values, before the cell is decoded."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from xentcli.readers.arrow import MAX_ROW_VALUES

    values = np.zeros(8 << 20)
    values[-1] = np.nan
    path = tmp_path / "onecell.parquet"
    pq.write_table(pa.table({"z": pa.array([values], type=pa.list_(pa.float64()))}), path)
    assert path.stat().st_size < 4096
    code, stderr, used = peak("entropy", "--logits", path)
    check(code, stderr, path, path.name)
    assert code == 1 and used < PEAK_BYTES, (stderr, used >> 20)
    assert f"column 'z', row 1: the file declares {8 << 20} values for 1 row, more than the {MAX_ROW_VALUES}" in stderr


@pytest.mark.parametrize("layout", ["feather", "stream"])
def test_zstd_feather_record_batch_of_hundreds_of_mb_took_a_gigabyte(tmp_path, layout):
    """A zstd Feather (or Arrow stream) file of kilobytes holding one 160 MB record batch, a NaN last:
    refused from the batch's declared buffer sizes, before it is decompressed."""
    pa = pytest.importorskip("pyarrow")
    feather = pytest.importorskip("pyarrow.feather")
    from xentcli.readers.arrow import MAX_BATCH_BYTES

    n = 20_000_000
    values = np.zeros(n)
    values[-1] = np.nan
    table = pa.table({"z": values})
    path = tmp_path / ("big.feather" if layout == "feather" else "big.arrow")
    if layout == "feather":
        feather.write_feather(table, path, compression="zstd", chunksize=n)
    else:
        with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(
                f, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
            writer.write_table(table, max_chunksize=n)
    assert path.stat().st_size < 1 << 20
    code, stderr, used = peak("entropy", "--logits", path)
    check(code, stderr, path, path.name)
    assert code == 1 and used < PEAK_BYTES, (stderr, used >> 20)
    assert (f"record batch 1 (rows 1–{n}) decompresses to {8 * n} bytes, more than the "
            f"{MAX_BATCH_BYTES >> 20} MB") in stderr and "smaller record batches" in stderr


def test_parquet_categorical_labels_of_millions_of_rows_took_hundreds_of_mb(tmp_path):
    """A 14 KB categorical column of 4 M class names: held as codes while read, refused by its bound."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from xentcli.readers.arrow import MAX_CLASS_NAME_BYTES

    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"label": pa.array(["versicolor"] * 4_000_000).dictionary_encode()}), path)
    code, stderr, used = peak("ce", "--labels", path, "--logits", "0,0,0", "--classes", "setosa,versicolor,virginica")
    assert code == 1 and used < PEAK_BYTES, (stderr, used >> 20)
    assert stderr.startswith(f"Error: --labels {path}: column 'label', row ") and stderr.count("\n") == 1
    assert f"up to 10 characters take more than the {MAX_CLASS_NAME_BYTES >> 20} MB" in stderr
