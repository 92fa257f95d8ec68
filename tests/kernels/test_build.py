"""The compiled kernel is optional: built where a C compiler works, and the install succeeds without one."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
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


def _clang() -> str | None:
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        for path in sorted(Path(folder).glob("clang*")) if Path(folder).is_dir() else ():
            if re.fullmatch(r"clang(-\d+)?", path.name) and os.access(path, os.X_OK):
                return str(path)
    return None


@pytest.mark.skipif(_clang() is None or importlib.util.find_spec("setuptools") is None,
                    reason="no clang (or no setuptools) on this machine")
def test_clang_builds_every_variant(tmp_path):
    """clang ignores GCC's target pragma: the AVX2 and AVX-512 variants need its own, or nothing compiles."""
    source = tmp_path / "source"
    shutil.copytree(ROOT / "xentcli" / "kernels", source / "xentcli" / "kernels",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    shutil.copy(ROOT / "setup.py", source / "setup.py")
    cc = _clang()
    env = dict(os.environ, CC=cc, LDSHARED=f"{cc} -shared")
    script = ("import setuptools, sys; sys.argv = ['setup.py', '-q', 'build_ext', '--inplace']; "
              "exec(open('setup.py').read())")
    build = subprocess.run([sys.executable, "-c", script], cwd=source, env=env, capture_output=True, text=True,
                           timeout=300)
    built = list((source / "xentcli" / "kernels").glob("_rowkernel*.so"))
    assert build.returncode == 0 and built, build.stderr[-3000:]
    check = ("import importlib.util, sys, numpy as np\n"
             f"spec = importlib.util.spec_from_file_location('xentcli.kernels._rowkernel', {str(built[0])!r})\n"
             "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
             "out = np.empty(1)\n"
             "for isa in m.isas():\n"
             "    m.set_isa(isa); m.ce_rows(np.array([[4.0, 2.0, 1.0]]), np.array([0]), out)\n"
             "    assert abs(out[0] - 0.16984601955628567) < 1e-15, (isa, out)\n"
             "print(*m.isas())\n")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    if platform.machine() in ("x86_64", "AMD64") and importlib.util.find_spec("xentcli.kernels._rowkernel"):
        from xentcli.kernels import _rowkernel

        assert done.stdout.split() == list(_rowkernel.isas())  # the same variants as the installed build
