"""NumPy ``.npz`` archives: ``d.npz:key`` names one array (optional when it holds one); read whole.

xent opens the zip itself rather than through ``np.load``, so that nothing is inflated
beyond what the member's NPY header says: the member's size declared in the archive must
equal its header plus the bytes its shape takes, must not pass :data:`MAX_MEMBER_BYTES`,
its shape must hold at most :data:`MAX_MEMBER_VALUES` values (the float64 working copies of a
narrow dtype such as float16 grow four-fold, and must stay within the 512 MB budget), and the
data is inflated straight into an array of that size (an archive whose member inflates to more
or less, or fails its CRC, is bad data). A member above either bound
is refused with a message that suggests ``.npy``, which is read in blocks at any size.
Nothing is unpickled.
"""

from __future__ import annotations

import lzma
import math
import struct
import zipfile
import zlib

import numpy as np

from ..errors import CallError, DataError, XentError
from .npy import header
from .source import Matrix, first_line, shown_path

__all__ = ["read", "MAX_MEMBER_BYTES", "MAX_MEMBER_VALUES"]

#: The most one archive member may inflate to (its NPY header and data).
MAX_MEMBER_BYTES = 256 << 20
#: The most values one archive member may hold: 256 MB as float64, whatever its dtype on disk.
MAX_MEMBER_VALUES = 32 << 20
#: Inflated per read, so no second copy of the member is ever held.
_CHUNK = 1 << 20
#: What zipfile, zlib, bz2 and lzma raise on a damaged archive (bz2 raises OSError).
_DAMAGED = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, struct.error, EOFError, OSError, ValueError,
            RuntimeError, NotImplementedError, IndexError)


def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """The array ``selector`` of the archive (never unpickled)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {}
            for info in archive.infolist():
                if not info.is_dir():
                    members.setdefault(info.filename.removesuffix(".npy"), info)
            key = _pick(list(members), selector, where)
            return Matrix(_read_member(archive, members[key], f"{where}:{key}"), where)
    except XentError:
        raise
    except _DAMAGED as e:
        raise DataError(f"{where}: not a readable NPZ archive: {first_line(e)}") from e


def _pick(keys: list[str], key: str | None, where: str) -> str:
    if key is None:
        if len(keys) != 1:
            raise CallError(f"{where}: the archive holds {len(keys)} arrays ({', '.join(keys[:20]) or 'none'}"
                            f"{' …' if len(keys) > 20 else ''}); name one as {shown_path(where)}:KEY")
        return keys[0]
    if key not in keys:
        raise CallError(f"{where}: no array '{key}' in the archive; it holds {', '.join(keys[:20]) or 'none'}"
                        f"{' …' if len(keys) > 20 else ''}")
    return key


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> np.ndarray:
    """One member's array, inflated into an array of the size its header declares, and no further."""
    if info.file_size > MAX_MEMBER_BYTES:
        raise DataError(f"{name}: the array takes {info.file_size} bytes uncompressed, more than the "
                        f"{MAX_MEMBER_BYTES >> 20} MB xent inflates from an .npz; save it with np.save as .npy, "
                        "which is read in blocks at any size")
    try:
        with archive.open(info) as member:
            shape, fortran_order, dtype, offset = header(member, info.file_size, name)
            if math.prod(shape) > MAX_MEMBER_VALUES:
                raise DataError(f"{name}: the array holds {math.prod(shape)} values ({dtype}, shape {shape}), more "
                                f"than the {MAX_MEMBER_VALUES} (32 Mi) xent reads from an .npz; save it with np.save "
                                "as .npy, which is read in blocks at any size")
            values = np.empty(int(np.prod(shape)), dtype=dtype)
            view, done = memoryview(values).cast("B"), 0
            while done < len(view):
                chunk = member.read(min(_CHUNK, len(view) - done))
                if not chunk:
                    raise DataError(f"{name}: damaged archive: the member ended after {offset + done} of its "
                                    f"{info.file_size} bytes")
                view[done:done + len(chunk)] = chunk
                done += len(chunk)
            if member.read(1):
                raise DataError(f"{name}: damaged archive: the member holds more than its {info.file_size} bytes")
    except XentError:
        raise
    except _DAMAGED as e:
        raise DataError(f"{name}: damaged archive: {first_line(e)}") from e
    return np.ascontiguousarray(values.reshape(shape, order="F" if fortran_order else "C"))
