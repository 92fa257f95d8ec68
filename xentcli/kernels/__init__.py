"""The per-row kernels behind one interface: a compiled one where it was built, else the NumPy reference.

Every function here has the signature and the meaning of the :mod:`xentcli.core` function of the
same name, which is the reference: the compiled kernel (``_rowkernel``, C, built by
``pip install .`` where a C compiler works) computes the same numbers row by row, each row read
from memory once (its maximum, then its sums while it is in cache), and agrees with it within
1e-13 relative (tested on hard rows: CE down to 1e-15, logits thousands apart, ``-inf``
classes, ties, float16 input, temperatures). Calls the compiled kernel does not
cover (a class axis that is not the last, dtypes other than float16/32/64) go to the reference,
as everything does when the kernel was not built or ``XENT_KERNEL=numpy`` is set.

The compiled kernel releases the GIL for its row loops, so the engine's threads run blocks in
parallel; it keeps no state between calls.

>>> import numpy as np
>>> z = np.array([[4.0, 2.0, 1.0], [0.0, 5.0, 1.0]])
>>> cross_entropy(z, np.array([0, 1])).round(8).tolist()
[0.16984602, 0.02474489]
>>> bool(np.allclose(softmax(z), core.softmax(z), rtol=1e-13, atol=0))
True
"""

from __future__ import annotations

import os
import threading

import numpy as np

from .. import core
from ..environment import warning_once

__all__ = ["name", "compiled", "cross_entropy", "target_log_probs", "softmax", "log_softmax", "logsumexp",
           "entropy_of_logits", "cross_entropy_grad", "token_stats"]

#: The input dtypes the compiled kernel reads as they are (others go to the reference).
_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))

_loaded: list = []  # [the extension module or None], filled once
_lock = threading.Lock()


def _extension():
    """The compiled module, imported on first use (None when it was not built).

    Under a lock: the engine's threads all ask at once, and one that saw a half-done import would
    compute its block with NumPy (other bits) or warn that there is no compiled kernel.
    """
    if not _loaded:
        with _lock:
            if not _loaded:
                _loaded.append(_import())
    return _loaded[0]


def _import():
    try:
        from . import _rowkernel
    except ImportError:
        return None
    cap = os.environ.get("XENT_KERNEL_ISA", "").strip().lower()
    if cap:
        try:
            _rowkernel.set_isa(cap)
        except ValueError:
            warning_once(f"XENT_KERNEL_ISA={cap!r} is not one of the instruction sets this CPU runs "
                         f"({', '.join(_rowkernel.isas())}); using {_rowkernel.isa()}")
    return _rowkernel


def compiled():
    """The compiled kernel module in use, or None: not built, or ``XENT_KERNEL=numpy``.

    ``XENT_KERNEL`` is read on every call, so tests and benchmarks may switch it in one process.
    A value other than ``numpy``, ``compiled`` or empty is named in a warning and ignored.
    """
    choice = os.environ.get("XENT_KERNEL", "").strip().lower()
    if choice == "numpy":
        return None
    if choice not in ("", "compiled", "auto"):
        warning_once(f"XENT_KERNEL={choice!r} is not 'numpy' or 'compiled'; using the default")
    module = _extension()
    if module is None and choice == "compiled":
        warning_once("XENT_KERNEL=compiled, but this installation has no compiled kernel (it was installed "
                     "without a working C compiler); using numpy")
    return module


def name() -> str:
    """The kernel in use: ``compiled (avx512)``, ``compiled (avx2)``, ``compiled (generic)`` or ``numpy``."""
    module = compiled()
    return "numpy" if module is None else f"compiled ({module.isa()})"


def _rows(z: np.ndarray, temperature: float = 1.0) -> np.ndarray | None:
    """``z`` as C-contiguous ``(N, C)`` rows the compiled kernel reads, or None if it does not take them.

    A temperature that is not a finite number > 0 goes to the reference too, whose error names it.
    """
    if z.dtype not in _DTYPES or z.ndim == 0 or z.shape[-1] == 0 or not 0 < temperature < np.inf:
        return None
    return np.ascontiguousarray(z.reshape(-1, z.shape[-1]))


def target_log_probs(logits, targets, *, temperature: float = 1.0) -> np.ndarray:
    """:func:`xentcli.core.target_log_probs`: ``log softmax(z / T)[k]`` of each row's target."""
    module = compiled()
    z = np.asarray(logits)
    k = np.asarray(targets)
    rows = None if module is None else _rows(z, temperature)
    # Targets the kernel does not take as they are (not integers, or negative: NumPy counts those from the end)
    # go to the reference, which says what it does with them.
    if rows is None or k.dtype.kind not in "iu" or (k.size and k.min() < 0):
        return core.target_log_probs(z, targets, temperature=temperature)
    k = np.ascontiguousarray(k.reshape(-1), dtype=np.int64)
    out = np.empty(len(rows))
    module.ce_rows(rows, k, out, temperature)
    return np.negative(out, out=out).reshape(np.shape(targets))


def cross_entropy(logits, labels, **settings) -> np.ndarray:
    """:func:`xentcli.core.cross_entropy`, the targets' log-probabilities from :func:`target_log_probs`."""
    return core.cross_entropy(logits, labels, pick=target_log_probs, **settings)


def _matrix(logits, axis: int, temperature: float, log: bool):
    module = compiled()
    z = np.asarray(logits)
    rows = _rows(z, temperature) if module is not None and axis in (-1, z.ndim - 1) else None
    if rows is None:
        return None
    out = np.empty(z.shape)
    module.softmax_rows(rows, out.reshape(rows.shape), log, temperature)
    return out


def softmax(logits, *, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """:func:`xentcli.core.softmax`."""
    out = _matrix(logits, axis, temperature, log=False)
    return core.softmax(logits, axis=axis, temperature=temperature) if out is None else out


def log_softmax(logits, *, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """:func:`xentcli.core.log_softmax`."""
    out = _matrix(logits, axis, temperature, log=True)
    return core.log_softmax(logits, axis=axis, temperature=temperature) if out is None else out


def logsumexp(logits, *, axis: int = -1) -> np.ndarray:
    """:func:`xentcli.core.logsumexp` (without ``keepdims``)."""
    module = compiled()
    z = np.asarray(logits)
    rows = _rows(z) if module is not None and axis in (-1, z.ndim - 1) else None
    if rows is None:
        return core.logsumexp(z, axis=axis)
    out = np.empty(len(rows))
    module.logsumexp_rows(rows, out)
    return out.reshape(z.shape[:-1])


def entropy_of_logits(logits, *, temperature: float = 1.0) -> np.ndarray:
    """``H(softmax(z / T)) = -Σ_c p_c log p_c`` of each row (nats), as :func:`xentcli.core.entropy` of
    :func:`xentcli.core.log_probs_of` the logits."""
    module = compiled()
    z = np.asarray(logits)
    rows = None if module is None else _rows(z, temperature)
    if rows is None:
        return core.entropy(*core.log_probs_of(logits=z, temperature=temperature))
    out = np.empty(len(rows))
    module.entropy_rows(rows, out, temperature)
    return out.reshape(z.shape[:-1])


def cross_entropy_grad(logits, labels, *, temperature: float = 1.0, **settings) -> np.ndarray:
    """:func:`xentcli.core.cross_entropy_grad`, its softmax from :func:`softmax`."""
    probs = _matrix(logits, -1, temperature, log=False) if settings.get("axis", -1) == -1 else None
    return core.cross_entropy_grad(logits, labels, temperature=temperature, probs=probs, **settings)


def token_stats(base_logits, test_logits, targets=None, *, top_k: int = 5, keys=None) -> dict[str, np.ndarray]:
    """:func:`xentcli.core.token_stats`: compare's per-token statistics of two logits arrays (:mod:`.compare`)."""
    module = compiled()
    zb, zt = np.asarray(base_logits), np.asarray(test_logits)
    if module is None or zb.dtype not in _DTYPES or zt.dtype not in _DTYPES:
        return core.token_stats(zb, zt, targets, top_k=top_k, keys=keys)
    from . import compare  # with core.tokens: only compare needs them, and they cost ce's start-up 11 ms

    return compare.token_stats(module, zb, zt, targets, top_k=top_k, keys=keys)
