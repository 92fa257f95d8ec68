"""The compiled kernel is optional: built where a C compiler works, and the install succeeds without one."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compiler() -> str | None:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or ""
    words = shlex.split(cc)
    return shutil.which(words[0]) if words else None


@pytest.mark.skipif(_compiler() is None, reason="no C compiler on this machine")
def test_the_kernel_is_built_where_a_compiler_exists():
    assert importlib.util.find_spec("xentcli.kernels._rowkernel") is not None


def test_without_a_compiler_the_install_succeeds_and_numpy_computes(tmp_path):
    """``CC=false``: the wheel builds without the extension, and the installed xent runs on NumPy."""
    source = tmp_path / "source"  # the sources alone: no extension built in place, no build/ folder
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("xentcli", "sample_data"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    env = dict(os.environ, CC="false", LDSHARED="false", PIP_NO_INPUT="1")
    env.pop("XENT_KERNEL", None)
    # As a user's `pip install .` builds: in an isolated environment with the build-system's setuptools.
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                            str(source)], env=env, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("xentcli-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "xentcli/kernels/__init__.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd"))]
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    run_env = dict(env, PYTHONPATH=str(site))
    version = subprocess.run([sys.executable, "-m", "xentcli", "--version"], env=run_env, capture_output=True,
                             text=True, cwd=tmp_path, timeout=60)
    assert version.returncode == 0 and version.stdout.splitlines()[1] == "kernel: numpy", version
    ce = subprocess.run([sys.executable, "-m", "xentcli", "ce", "--labels", "0", "--logits", "4,2,1"],
                        env=run_env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    # -log softmax(4, 2, 1)[0] = log(1 + e^-2 + e^-3)
    assert ce.returncode == 0 and "0.1698" in ce.stdout, ce
