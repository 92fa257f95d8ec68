"""``.safetensors``: files written by hand from the format's description (an 8-byte little-endian
header length, a JSON header, raw little-endian C-order data after it), read like ``.npy``."""

import json
import os
import struct

import numpy as np
import pytest

from tests.cli_helpers import cli_json
from tests.conftest import xent
from xentcli.errors import CallError
from xentcli.readers import read_matrix

rng = np.random.default_rng(7)

NUMPY_OF = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
            "I8": "i1", "U8": "u1", "BOOL": "?"}


def write(path, tensors, *, metadata=None, pad=True, header=None, data=None, length=None):
    """A safetensors file: ``tensors`` maps a name to ``(dtype, shape, bytes)``, stored one after the
    other in the given order. ``header`` (a dict, or bytes) / ``data`` / ``length`` replace what
    would be written, to make files that lie."""
    entries, chunks, offset = {}, [], 0
    if metadata is not None:
        entries["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        entries[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = header if isinstance(header, bytes) else json.dumps(header if header is not None else entries).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    body = b"".join(chunks) if data is None else data
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text) if length is None else length) + text + body)
    return path


def tensor(array, dtype=None):
    """``(dtype, shape, bytes)`` of a NumPy array, little-endian."""
    array = np.asarray(array)
    if dtype is None:
        dtype = next(k for k, v in NUMPY_OF.items() if np.dtype(v) == array.dtype)
    return dtype, array.shape, np.ascontiguousarray(array, NUMPY_OF[dtype]).tobytes()


def bf16(x):
    """float32 values that BF16 holds exactly (low 16 bits zeroed) and their BF16 bytes."""
    bits = np.asarray(x, np.float32).view(np.uint32) & np.uint32(0xFFFF0000)
    return bits.view(np.float32), (bits >> 16).astype("<u2").tobytes()


# --- reading ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", list(NUMPY_OF))
def test_each_dtype_reads_as_stored(tmp_path, dtype):
    if dtype == "BOOL":
        a = rng.random((3, 4)) < 0.5
    elif dtype.startswith("F"):
        a = rng.standard_normal((3, 4)).astype(NUMPY_OF[dtype])
    else:
        info = np.iinfo(NUMPY_OF[dtype])
        a = rng.integers(info.min, info.max, (3, 4), endpoint=True, dtype=NUMPY_OF[dtype])
    path = write(tmp_path / "a.safetensors", {"t": (dtype, a.shape, a.astype(NUMPY_OF[dtype]).tobytes())})
    values = read_matrix(str(path), "--logits").values
    assert values.shape == (3, 4) and values.dtype == np.dtype(NUMPY_OF[dtype])
    got = np.asarray(values)
    assert got.dtype == np.dtype(NUMPY_OF[dtype]) and np.array_equal(got, a)


def test_bf16_is_widened_exactly(tmp_path):
    raw = np.concatenate([rng.standard_normal(40) * 10.0 ** rng.integers(-30, 30, 40),
                          [0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, 3.0e38, 1e-40, 65504.0, 1.0 / 3]])
    expected, data = bf16(raw.reshape(5, 10))
    path = write(tmp_path / "b.safetensors", {"w": ("BF16", (5, 10), data)})
    values = read_matrix(str(path), "--logits").values
    assert values.dtype == np.float32 and values.shape == (5, 10)
    got = np.asarray(values)
    assert got.dtype == np.float32
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))  # bit for bit, -0.0 and all
    rows = values.as_rows()
    assert rows.dtype == np.float32 and np.array_equal(rows.rows(1, 3), expected[1:3])
    assert np.array_equal(rows[[4, 0]], expected[[4, 0]])


def test_bf16_nan_stays_nan(tmp_path):
    _, data = bf16(np.array([[np.nan, 1.0]], np.float32))
    got = np.asarray(read_matrix(str(write(tmp_path / "n.safetensors", {"w": ("BF16", (1, 2), data)})), "x").values)
    assert np.isnan(got[0, 0]) and got[0, 1] == 1.0


def test_selectors_pick_tensors_and_three_axes_are_rows(tmp_path):
    z = rng.standard_normal((2, 3, 5)).astype(np.float32)
    y = rng.integers(0, 5, (2, 3)).astype(np.int64)
    w, w_bytes = bf16(rng.standard_normal((4, 2)))
    path = write(tmp_path / "m.safetensors", {"logits": tensor(z), "labels": tensor(y), "w": ("BF16", (4, 2), w_bytes)},
                 metadata={"format": "pt"})
    logits = read_matrix(f"{path}:logits", "--logits").values
    assert logits.shape == (2, 3, 5) and logits.ndim == 3 and logits.size == 30 and len(logits) == 2
    rows = logits.as_rows()
    assert rows.shape == (6, 5) and rows.ndim == 2 and len(rows) == 6
    assert np.array_equal(rows.rows(0, 6), z.reshape(6, 5)) and np.array_equal(rows[2], z.reshape(6, 5)[2])
    assert np.array_equal(rows[1:6:2], z.reshape(6, 5)[1:6:2])
    assert np.array_equal(np.asarray(read_matrix(f"{path}:labels", "--labels").values), y)
    assert np.array_equal(np.asarray(read_matrix(f"{path}:w", "--x").values), w)


def test_one_tensor_needs_no_name_and_metadata_is_ignored(tmp_path):
    z = rng.standard_normal((3, 4))
    path = write(tmp_path / "one.safetensors", {"only": tensor(z)}, metadata={"k": "v"})
    assert np.array_equal(np.asarray(read_matrix(str(path), "--logits").values), z)
    assert np.array_equal(np.asarray(read_matrix(f"{path}:only", "--logits").values), z)


def test_header_padding_order_and_offsets_after_the_header(tmp_path):
    """Offsets count from the byte after the header; the JSON need not list tensors in data order,
    and the header may end in spaces (the reference writer pads it to 8 bytes)."""
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((3, 2))
    header = {"b": {"dtype": "F64", "shape": [3, 2], "data_offsets": [24, 72]},
              "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}
    text = json.dumps(header).encode() + b"      "
    path = write(tmp_path / "p.safetensors", {}, header=text, pad=False, data=a.tobytes() + b.tobytes())
    assert np.array_equal(np.asarray(read_matrix(f"{path}:a", "x").values), a)
    assert np.array_equal(np.asarray(read_matrix(f"{path}:b", "x").values), b)


def test_a_scalar_and_a_vector(tmp_path):
    path = write(tmp_path / "s.safetensors", {"s": tensor(np.array(2.5)), "v": tensor(np.arange(4, dtype=np.int32))})
    s = read_matrix(f"{path}:s", "x").values
    assert s.shape == () and np.asarray(s) == 2.5
    v = read_matrix(f"{path}:v", "x").values
    assert v.shape == (4,) and np.asarray(v).tolist() == [0, 1, 2, 3] and v.as_rows().shape == (1, 4)


def test_reading_touches_only_the_header_then_only_the_asked_rows(tmp_path, preads):
    """Streamed like .npy: opening reads no data; ``rows(a, b)`` reads exactly those rows' bytes."""
    z = rng.standard_normal((50, 7)).astype(np.float32)
    path = write(tmp_path / "big.safetensors", {"pad": tensor(np.zeros(3, np.int8)), "z": tensor(z)})
    reads = preads
    values = read_matrix(f"{path}:z", "--logits").values
    assert reads == []
    rows = values.as_rows()
    start = os.path.getsize(path) - z.nbytes
    assert np.array_equal(rows.rows(10, 13), z[10:13])
    assert reads == [(start + 10 * 28, 3 * 28)]
    reads.clear()
    _, bf_bytes = bf16(z)
    bpath = write(tmp_path / "bf.safetensors", {"z": ("BF16", z.shape, bf_bytes)})
    rows = read_matrix(str(bpath), "--logits").values.as_rows()
    rows.rows(40, 41)
    assert reads == [(os.path.getsize(bpath) - z.size * 2 + 40 * 14, 14)]


def test_files_of_the_reference_writer(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    tensors = {"logits": rng.standard_normal((4, 6)).astype(np.float32),
               "half": rng.standard_normal((2, 3, 4)).astype(np.float16),
               "labels": rng.integers(0, 6, 4).astype(np.int64),
               "mask": rng.random(5) < 0.5}
    path = tmp_path / "ref.safetensors"
    st.save_file(tensors, str(path), metadata={"framework": "np"})
    for name, a in tensors.items():
        got = np.asarray(read_matrix(f"{path}:{name}", "x").values)
        assert got.dtype == a.dtype and np.array_equal(got, a), name


# --- through the CLI: the same numbers as .npy ----------------------------------------------------

def test_cli_gives_the_numbers_of_npy(tmp_path):
    z = rng.standard_normal((2, 4, 9)).astype(np.float32)
    y = rng.integers(0, 9, 8).astype(np.int64)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    st = write(tmp_path / "z.safetensors", {"z": tensor(z)})
    both = write(tmp_path / "both.safetensors", {"logits": tensor(z), "targets": tensor(y)})
    ref = cli_json("ce", "--labels", tmp_path / "y.npy", "--logits", tmp_path / "z.npy", "--reduction", "none")
    assert cli_json("ce", "--labels", tmp_path / "y.npy", "--logits", st, "--reduction", "none") == ref
    assert cli_json("ce", "--labels", f"{both}:targets", "--logits", f"{both}:logits", "--reduction", "none") == ref
    assert (cli_json("ppl", "--targets", f"{both}:targets", "--logits", f"{both}:logits")
            == cli_json("ppl", "--targets", tmp_path / "y.npy", "--logits", tmp_path / "z.npy"))
    assert cli_json("softmax", "--logits", st) == cli_json("softmax", "--logits", tmp_path / "z.npy")


@pytest.mark.parametrize("dtype", ["BF16", "F16", "F64"])
def test_cli_other_float_dtypes_match_npy(tmp_path, dtype):
    z = rng.standard_normal((6, 5)) * 3
    if dtype == "BF16":
        npy_values, data = bf16(z)
    else:
        npy_values = z.astype(NUMPY_OF[dtype])
        data = npy_values.tobytes()
    np.save(tmp_path / "z.npy", npy_values)
    path = write(tmp_path / "z.safetensors", {"z": (dtype, z.shape, data)})
    y = "0,1,2,3,4,0"
    assert (cli_json("ce", "--labels", y, "--logits", path, "--reduction", "none")
            == cli_json("ce", "--labels", y, "--logits", tmp_path / "z.npy", "--reduction", "none"))


def test_distribution_labels_from_safetensors_stay_lazy(tmp_path):
    z = rng.standard_normal((4, 3)).astype(np.float32)
    p = rng.random((4, 3))
    p /= p.sum(axis=1, keepdims=True)
    np.save(tmp_path / "p.npy", p)
    path = write(tmp_path / "d.safetensors", {"z": tensor(z), "p": tensor(p)})
    np.save(tmp_path / "z.npy", z)
    assert (cli_json("ce", "--labels", f"{path}:p", "--logits", f"{path}:z")
            == cli_json("ce", "--labels", tmp_path / "p.npy", "--logits", tmp_path / "z.npy"))


# --- wrong calls (exit 2) and lying headers (exit 1) ------------------------------------------------

def test_unknown_name_is_a_wrong_call_listing_the_tensors(tmp_path):
    path = write(tmp_path / "m.safetensors", {"logits": tensor(np.zeros((2, 3), np.float32)),
                                               "labels": tensor(np.zeros(2, np.int64))})
    result = xent("softmax", "--logits", f"{path}:nope", "--format", "json")
    assert result.exit_code == 2 and result.output.startswith("Error:")
    for part in ("nope", "logits: F32 (2, 3)", "labels: I64 (2,)", str(path)):
        assert part in result.output
    md = write(tmp_path / "md.safetensors", {"a": tensor(np.ones(2))}, metadata={"a": "b"})
    with pytest.raises(CallError, match="__metadata__"):
        read_matrix(f"{md}:__metadata__", "x")


def test_several_tensors_and_no_name_is_a_wrong_call(tmp_path):
    path = write(tmp_path / "m.safetensors", {"a": tensor(np.zeros((2, 3))), "b": tensor(np.zeros(4, np.int32))})
    result = xent("softmax", "--logits", path, "--format", "json")
    assert result.exit_code == 2 and result.output.startswith("Error:")
    assert "a: F64 (2, 3)" in result.output and "b: I32 (4,)" in result.output and str(path) in result.output


def _entry(dtype="F32", shape=(2, 2), offsets=(0, 16)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


LIES = {
    "length beyond the file": dict(header={"t": _entry()}, length=10_000),
    "huge length": dict(header={"t": _entry()}, length=2**63),
    "invalid JSON": dict(header=b'{"t": {"dtype": "F32", '),
    "not UTF-8": dict(header=b'{"t\xff": 1}'),
    "not an object": dict(header=b"[1, 2]"),
    "entry not an object": dict(header={"t": [1, 2]}),
    "no data_offsets": dict(header={"t": {"dtype": "F32", "shape": [2, 2]}}),
    "offsets beyond the data": dict(header={"t": _entry(offsets=(8, 24))}),
    "negative offset": dict(header={"t": _entry(offsets=(-8, 8))}),
    "end before begin": dict(header={"t": _entry(offsets=(16, 0))}),
    "size mismatch": dict(header={"t": _entry(shape=(2, 3))}),
    "size mismatch by dtype": dict(header={"t": _entry(dtype="F64")}),
    "unknown dtype": dict(header={"t": _entry(dtype="F7")}),
    "bad shape": dict(header={"t": _entry(shape=(2, -2))}),
    "float offsets": dict(header={"t": _entry(offsets=(0.0, 16.0))}),
    "overlapping tensors": dict(header={"t": _entry(), "u": _entry(shape=(2,), offsets=(8, 16))}),
    "zero-size tensor": dict(header={"t": _entry(shape=(0, 2), offsets=(0, 0))}),
    "no tensors": dict(header={"__metadata__": {}}),
    "element count beyond int64": dict(header={"t": _entry(shape=(2**62, 4))}),
    "zero-size tensor of a dimension beyond int64": dict(header={"t": _entry(shape=(0, 2**70), offsets=(0, 0))}),
    "more axes than NumPy's 64": dict(header={"t": _entry(shape=(1,) * 70, offsets=(0, 4))}),
    "nested too deeply": dict(header=b'{"t": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "header above the bound": dict(header={"t": _entry()}, length=(16 << 20) + 8),
}


@pytest.mark.parametrize("lie", list(LIES))
def test_a_header_that_lies_is_bad_data(tmp_path, lie):
    path = write(tmp_path / "lie.safetensors", {}, data=np.arange(4, dtype=np.float32).tobytes(), **LIES[lie])
    result = xent("softmax", "--logits", path, "--format", "json")
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error:") and str(path) in result.output and result.output.count("\n") == 1
    assert "internal error" not in result.output
    if lie.endswith("empty") or "zero-size" in lie or lie == "no tensors":
        assert "empty" in result.output


def test_files_too_short_for_a_header_are_bad_data(tmp_path):
    for data in (b"", b"\x08\x00\x00"):
        path = tmp_path / "short.safetensors"
        path.write_bytes(data)
        result = xent("softmax", "--logits", path)
        assert result.exit_code == 1 and result.output.startswith("Error:") and str(path) in result.output


def test_a_known_but_unread_dtype_is_bad_data_only_when_read(tmp_path):
    z = rng.standard_normal((2, 3)).astype(np.float32)
    path = write(tmp_path / "f8.safetensors", {"q": ("F8_E4M3", (2, 3), bytes(6)), "z": tensor(z)})
    assert np.array_equal(np.asarray(read_matrix(f"{path}:z", "x").values), z)
    result = xent("softmax", "--logits", f"{path}:q")
    assert result.exit_code == 1 and "F8_E4M3" in result.output and "not supported" in result.output
