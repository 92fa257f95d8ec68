"""The code's shape: no import cycle (imports inside functions included), ``core`` on its own,
modules of one job, every package shipped in the wheel, and ruff clean."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "xentcli"
#: Longer modules say why in their docstring with these words.
LONG_REASON = "over 500 lines because"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The xentcli modules ``name`` imports anywhere in its file (a package's ``__init__`` counts as
    the package; ``from . import x`` as module ``x`` where it is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for candidate in [target] + [f"{target}.{alias.name}" for alias in node.names]:
                if candidate in modules and candidate != name:
                    out.add(candidate)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in modules and alias.name != name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_including_imports_inside_functions():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []


def test_core_imports_nothing_outside_core():
    modules = _modules()
    outside = {name: sorted(m for m in _imports(name, path, modules) if not m.startswith("xentcli.core"))
               for name, path in modules.items() if name.startswith("xentcli.core")}
    assert {name: found for name, found in outside.items() if found} == {}


def test_no_module_over_500_lines_without_a_stated_reason():
    long = [str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py")
            if len(path.read_text(encoding="utf-8").splitlines()) > 500
            and LONG_REASON not in (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "")]
    assert long == []


def test_the_wheel_ships_every_package():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(re.findall(r'"(xentcli[\w.]*)"', re.search(r"^packages = \[(.*?)\]", text, re.S | re.M).group(1)))
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert listed == folders | {"xentcli.sample_data"}


#: ruff on PATH, else beside this interpreter (a venv's bin/ that is not activated).
RUFF = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(RUFF is None, reason="ruff is in the test extra")
def test_ruff_is_clean():
    result = subprocess.run([RUFF, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
