"""``.safetensors`` files, parsed by xent itself: ``FILE:NAME`` picks a tensor (optional when it holds one).

The format (huggingface/safetensors, ``safetensors/src/tensor.rs``): an 8-byte
little-endian u64 N, then N bytes of UTF-8 JSON (possibly padded with spaces)
mapping each tensor's name to ``{"dtype", "shape", "data_offsets": [begin, end]}``
plus an optional ``"__metadata__"`` of strings, then the data: raw little-endian
C-order values, the offsets counted from the first byte after the header.

Only the header is read here; the tensor's rows are read later, block by block,
with ``os.pread`` (a :class:`~xentcli.readers.source.RawFile`), like ``.npy``.
BF16 is widened exactly to float32 as it is read.
"""

from __future__ import annotations

import json
import math
import os
import struct

import numpy as np

from ..errors import CallError, DataError
from .selector import listed
from .source import MAX_AXES, Matrix, RawFile, shown_path

__all__ = ["read", "read_header", "header_bytes", "DTYPES", "MAX_HEADER_BYTES"]

#: The dtypes xent reads: the safetensors name → the NumPy dtype of the stored values.
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # widened to float32 as read
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
#: Bytes per value of the format's dtypes that xent does not read: their tensors are still
#: checked (their size against their shape), and another tensor of the file can be read.
OTHER_ITEMSIZES = {"F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "C64": 8}
#: The largest header xent parses (checked before reading it): parsed JSON takes up to about
#: 30 times its text, so a failing file stays well under 512 MB. The reference implementation
#: allows 100 MB; real headers (hundreds of tensors) take kilobytes.
MAX_HEADER_BYTES = 16 << 20


class _Tensor:
    __slots__ = ("name", "dtype", "shape", "begin", "end")

    def __init__(self, name: str, dtype: str, shape: tuple[int, ...], begin: int, end: int):
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, shape, begin, end

    def describe(self) -> str:
        return f"{self.name}: {self.dtype} {self.shape}"


def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """The tensor ``selector`` of the file (or its only tensor) as a :class:`Matrix` of a lazy
    :class:`~xentcli.readers.source.RawFile`: nothing is read but the header."""
    start, tensors = _read_header(path, where)
    if selector is None:
        if not tensors:
            raise DataError(f"{where}: the file holds no tensors (empty)")
        if len(tensors) > 1:
            raise CallError(f"{where}: the file holds {len(tensors)} tensors ({_listed(tensors)}); "
                            f"name one as {shown_path(where)}:NAME")
        tensor = tensors[0]
    else:
        found = [t for t in tensors if t.name == selector]
        if not found:
            raise CallError(f"{where}: no tensor named '{selector}' in the file; "
                            f"it holds {_listed(tensors) if tensors else 'no tensors'}")
        tensor = found[0]
    name = f"{where}:{tensor.name}" if selector is not None or len(tensors) > 1 else where
    if tensor.dtype not in DTYPES:
        raise DataError(f"{name}: dtype {tensor.dtype} is not supported; "
                        f"xent reads {' '.join(DTYPES)}")
    if math.prod(tensor.shape) == 0:
        raise DataError(f"{name}: the tensor is empty (shape {tensor.shape})")
    stored = DTYPES[tensor.dtype]
    offset = start + tensor.begin
    if tensor.dtype == "BF16":
        c = tensor.shape[-1] if tensor.shape else 1
        values = RawFile(path, offset, tensor.shape, np.float32, row_bytes=2 * c, decode=_widen_bf16)
    else:
        values = RawFile(path, offset, tensor.shape, stored)
    return Matrix(values, where)


def _widen_bf16(raw: np.ndarray) -> np.ndarray:
    """BF16 rows (``(n, 2C)`` bytes) as float32, exactly: each value's 16 bits are a float32's high half."""
    out = np.empty((raw.shape[0], raw.shape[1] // 2), dtype=np.float32)
    bits = out.view(np.uint32)
    bits[...] = raw.view("<u2")
    bits <<= 16
    return out


def read_header(path: str, where: str) -> tuple[int, dict]:
    """The data's start in the file and its header: the JSON object after the 8-byte length. A file
    too short for it, a length beyond the file or above :data:`MAX_HEADER_BYTES`, and text that is not
    a UTF-8 JSON object are bad data."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise DataError(f"{where}: not a safetensors file: {size} bytes, too short for the "
                            "8-byte header length")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise DataError(f"{where}: damaged safetensors header: its length {n} goes beyond the end "
                            f"of the file ({size} bytes)")
        if n > MAX_HEADER_BYTES:
            raise DataError(f"{where}: damaged safetensors header: its length {n} is above the "
                            f"{MAX_HEADER_BYTES} bytes allowed")
        text = f.read(n)
    if len(text) < n:
        raise DataError(f"{where}: the file ended early (was it changed while being read?)")
    try:
        header = json.loads(text.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: damaged safetensors header: not UTF-8 ({e.reason} at byte {8 + e.start})") from e
    except ValueError as e:
        raise DataError(f"{where}: damaged safetensors header: invalid JSON: {e}") from e
    except RecursionError as e:
        raise DataError(f"{where}: damaged safetensors header: JSON nested too deeply") from e
    if not isinstance(header, dict):
        raise DataError(f"{where}: damaged safetensors header: expected a JSON object, "
                        f"found {type(header).__name__}")
    return 8 + n, header


def header_bytes(header: dict) -> bytes:
    """What starts a file of ``header``: its 8-byte length, then its JSON, padded with spaces to a
    multiple of 8 bytes so that the data after it is aligned."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def _read_header(path: str, where: str) -> tuple[int, list[_Tensor]]:
    """The data's start in the file and the tensors of the header (in the order of their data),
    each checked against the file: a header that lies is bad data."""
    start, header = read_header(path, where)
    data_bytes = os.path.getsize(path) - start
    tensors = [_tensor(name, info, data_bytes, where) for name, info in header.items() if name != "__metadata__"]
    tensors.sort(key=lambda t: (t.begin, t.end))
    previous = None
    for t in tensors:
        if t.end == t.begin:
            continue
        if previous is not None and t.begin < previous.end:
            raise DataError(f"{where}: damaged safetensors header: the data of tensors '{previous.name}' "
                            f"[{previous.begin}, {previous.end}] and '{t.name}' [{t.begin}, {t.end}] overlap")
        previous = t
    return start, tensors


def _tensor(name: str, info, data_bytes: int, where: str) -> _Tensor:
    """One entry of the header, checked: its fields, its offsets inside the data, its size."""
    bad = f"{where}: damaged safetensors header: tensor '{name}'"
    if not isinstance(info, dict):
        raise DataError(f"{bad}: expected an object with dtype, shape and data_offsets")
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
    if missing:
        raise DataError(f"{bad}: no {', '.join(missing)}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str):
        raise DataError(f"{bad}: dtype {_short(dtype)} is not a name")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise DataError(f"{bad}: shape {_short(shape)} is not a list of non-negative integers")
    if len(shape) > MAX_AXES:
        raise DataError(f"{bad}: shape of {len(shape)} axes; xent reads at most {MAX_AXES}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        raise DataError(f"{bad}: data_offsets {_short(offsets)} is not a pair of integers [begin, end]")
    begin, end = offsets
    if end < begin:
        raise DataError(f"{bad}: data_offsets [{begin}, {end}] end before they begin")
    if not 0 <= begin <= end <= data_bytes:
        raise DataError(f"{bad}: data_offsets [{begin}, {end}] out of range: the data after the header "
                        f"holds {data_bytes} bytes")
    itemsize = DTYPES[dtype].itemsize if dtype in DTYPES else OTHER_ITEMSIZES.get(dtype)
    if itemsize is None:
        raise DataError(f"{bad}: unknown dtype {dtype!r}; xent reads {' '.join(DTYPES)}")
    expected = math.prod(shape) * itemsize
    if end - begin != expected:
        raise DataError(f"{bad}: data_offsets [{begin}, {end}] span {end - begin} bytes, but shape "
                        f"{tuple(shape)} of {dtype} needs {expected}")
    return _Tensor(name, dtype, tuple(shape), begin, end)


def _short(value) -> str:
    """A header value as shown in a message: its JSON, cut to 60 characters."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _listed(tensors: list[_Tensor]) -> str:
    return listed((t.describe() for t in tensors), len(tensors))
