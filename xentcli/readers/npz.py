"""NumPy ``.npz`` archives: ``d.npz:key`` names one array (optional when it holds one); read whole."""

from __future__ import annotations

import numpy as np

from ..errors import CallError, DataError
from .source import Matrix, numeric, shown_path

__all__ = ["read"]


def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """The array ``key`` of the archive (never unpickled)."""
    return Matrix(_read_npz(path, selector, where), where)


def _read_npz(path: str, key: str | None, where: str) -> np.ndarray:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{where}: not a readable NPZ archive: {e}") from e
    if not hasattr(archive, "files"):
        raise DataError(f"{where}: not an NPZ archive")
    with archive:
        keys = list(archive.files)
        if key is None:
            if len(keys) != 1:
                raise CallError(
                    f"{where}: the archive holds {len(keys)} arrays ({', '.join(keys) or 'none'}); "
                    f"name one as {shown_path(where)}:KEY"
                )
            key = keys[0]
        if key not in keys:
            raise CallError(f"{where}: no array '{key}' in the archive; it holds {', '.join(keys) or 'none'}")
        try:
            values = archive[key]
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"{where}:{key}: cannot read the array: {e}") from e
    return numeric(values, f"{where}:{key}")

