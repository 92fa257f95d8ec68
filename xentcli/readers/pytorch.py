"""PyTorch ``.pt`` / ``.pth`` files, loaded by ``torch.load(weights_only=True)``: never unpickled otherwise.

PyTorch is never a dependency of xent: without it these files are a wrong call (exit 2)
saying how to get it; xent has no unpickler of its own for them.

What is read: a tensor; a dict of tensors (a ``state_dict``), ``FILE:KEY`` picking one; a
list or tuple of tensors, ``FILE:INDEX`` (0-based) picking one. The selector is optional when
the file holds one tensor in all, counting every tensor reachable through nested dicts, lists
and tuples; with several, no selector is a wrong call listing each by its dotted name. Dots walk nested dicts and lists
(``out.pt:out.logits`` for ``torch.save({"out": {"logits": t}})``, ``x.pt:hidden.0``); a key
that itself contains the dots wins. A tensor is taken ``.detach().cpu()``; bfloat16 is widened to float32 (exactly),
float16 stays float16 (the engine widens it), other dtypes keep theirs through
``.numpy()``; complex, quantized and float8 tensors are bad data.

A file ``weights_only=True`` refuses (pickled objects other than tensors and plain
containers, a TorchScript archive) is bad data (exit 1): xent never runs the unrestricted
unpickler, whatever the environment says (an explicit ``weights_only=True`` is not
overridden by ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``). Loading reads the file whole.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import re
import warnings

from ..errors import CallError, DataError
from .selector import listed
from .source import Matrix, first_line, numeric, shown_path

__all__ = ["read"]



def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """The tensor of the file (or its ``selector`` entry) as a NumPy array."""
    if importlib.util.find_spec("torch") is None:  # looked up, not imported
        ext = os.path.splitext(path)[1].lower() or ".pt"
        raise CallError(f"{where}: reading {ext} files needs PyTorch (pip install torch); "
                        "xent never unpickles them without it")
    import torch

    obj = _load(torch, path, where)
    tensor, name = _pick(torch, obj, selector, path, where)
    return Matrix(numeric(_to_numpy(torch, tensor, name), name), where)


def _load(torch, path: str, where: str):
    try:
        with warnings.catch_warnings():  # torch's advice about its own defaults is not for xent's user
            warnings.simplefilter("ignore")
            return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        raise DataError(f"{where}: not a plain tensor file: torch.load(weights_only=True) refuses it"
                        f"{_refusal(str(e))}; xent never unpickles arbitrary objects") from e
    except RuntimeError as e:
        if "TorchScript" in str(e):
            raise DataError(f"{where}: not a plain tensor file: a TorchScript archive (torch.jit.save), "
                            "which xent does not run") from e
        raise DataError(f"{where}: not a PyTorch file: {first_line(e)}") from e
    except MemoryError:
        raise
    except OSError as e:
        raise DataError(f"{where}: cannot read: {e.strerror or e}") from e
    except EOFError as e:
        raise DataError(f"{where}: not a PyTorch file: it ended early ({os.path.getsize(path)} bytes)") from e
    except Exception as e:  # torch raises what its parsers raise (KeyError, ValueError, …) on foreign bytes
        raise DataError(f"{where}: not a PyTorch file: {type(e).__name__}: {first_line(e)}") from e


def _refusal(message: str) -> str:
    """The part of torch's refusal that says what the file holds (not its advice to unpickle anyway)."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    if found:
        return f" (it holds {found.group(1)}, which is not a tensor)"
    found = re.search(r"Unsupported operand \d+", message)
    if found:
        return f" ({found.group(0).lower()})"
    return ""


def _pick(torch, obj, selector: str | None, path: str, where: str):
    """The tensor ``selector`` names (or the only one) and how to name it in messages."""
    if isinstance(obj, torch.Tensor):
        if selector is not None:
            raise CallError(f"{where}: nothing named '{selector}' to select; the file holds one tensor "
                            f"({_describe(torch, obj)})")
        return obj, where
    if isinstance(obj, dict):
        entries = {str(k): v for k, v in obj.items()}
        kind, how = "dict", "KEY"
    elif isinstance(obj, (list, tuple)):
        entries = {str(i): v for i, v in enumerate(obj)}
        kind, how = type(obj).__name__, "INDEX"
    else:
        raise DataError(f"{where}: the file holds {_describe(torch, obj)}, not a tensor")
    if selector is None:
        tensors = dict(_reachable(torch, obj, ""))
        if len(tensors) == 1:
            return next(iter(tensors.values())), where
        if not tensors:
            raise DataError(f"{where}: the file holds a {kind} of no tensors"
                            + (f" ({_listed(torch, entries)})" if entries else " (it is empty)"))
        raise CallError(f"{where}: the file holds {len(tensors)} tensors ({_listed(torch, tensors)}); "
                        f"name one as {shown_path(where)}:{how}")
    value = entries[selector] if selector in entries else _walk(torch, obj, selector, kind, where)
    name = f"{where}:{selector}"
    if not isinstance(value, torch.Tensor):
        inside = _entries(value)
        raise DataError(f"{name}: {_describe(torch, value)}, not a tensor"
                        + (f"; name one of its entries as {shown_path(where)}:{selector}.KEY ({_listed(torch, inside)})"
                           if inside else ""))
    return value, name


def _entries(value) -> "dict | None":
    """A dict's entries by their keys as text, a list's or tuple's by their 0-based index; else ``None``."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {str(i): v for i, v in enumerate(value)}
    return None


def _reachable(torch, value, prefix: str):
    """Every tensor inside nested dicts, lists and tuples, in order, with its dotted name (``out.logits``)."""
    for key, entry in _entries(value).items():
        if isinstance(entry, torch.Tensor):
            yield prefix + key, entry
        elif _entries(entry) is not None:
            yield from _reachable(torch, entry, f"{prefix}{key}.")


def _walk(torch, obj, selector: str, kind: str, where: str):
    """The entry a dotted ``selector`` names (``out.logits``, ``hidden.0``): each part a key of a dict or
    an index of a list, one level down each."""
    value, walked = obj, []
    for part in selector.split("."):
        entries = _entries(value)
        if entries is None or part not in entries:
            if not walked:
                raise CallError(f"{where}: no entry '{selector}' in the file's {kind}; it holds "
                                f"{_listed(torch, entries) if entries else 'nothing'}")
            at = ".".join(walked)
            holds = f"it holds {_listed(torch, entries) if entries else 'nothing'}" if entries is not None else \
                f"it is {_describe(torch, value)}"
            raise CallError(f"{where}: no entry '{selector}': '{at}' has no entry '{part}'; {holds}")
        value = entries[part]
        walked.append(part)
    return value


def _describe(torch, value) -> str:
    if isinstance(value, torch.Tensor):
        return f"{str(value.dtype).removeprefix('torch.')} {tuple(value.shape)}"
    if isinstance(value, dict):
        return f"a dict of {len(value)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    kind = type(value).__name__
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def _listed(torch, entries: dict) -> str:
    return listed((f"{k}: {_describe(torch, v)}" for k, v in entries.items()), len(entries))


def _to_numpy(torch, t, name: str):
    """The tensor as a NumPy array: bfloat16 widened to float32 (exact), every other dtype kept."""
    t = t.detach().cpu()
    if t.is_quantized:
        raise DataError(f"{name}: a quantized tensor ({t.dtype}); dequantize it before saving")
    if t.is_complex():
        raise DataError(f"{name}: dtype {str(t.dtype).removeprefix('torch.')} is complex, not real numbers")
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.dtype == torch.bfloat16:
        t = t.to(torch.float32)  # every bfloat16 is a float32 with its low 16 bits zero
    t = t.resolve_neg().resolve_conj().contiguous()
    try:
        return t.numpy()
    except (TypeError, RuntimeError) as e:
        raise DataError(f"{name}: dtype {str(t.dtype).removeprefix('torch.')} is not supported "
                        f"(NumPy has no such type); save it as float32") from e
