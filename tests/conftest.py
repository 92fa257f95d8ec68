import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings

from xentcli.cli import main

# CI runs each property on the same examples every time (a submission must not land or fail by
# chance); a developer's run draws new ones, which is how they find what CI then keeps.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
DATA = Path(__file__).resolve().parent / "data"

#: The three ways a row of logits is no distribution (SPEC §4).
BAD_ROWS = ["nan", "+inf", "all -inf"]


def spoil(z, row: int, bad: str) -> None:
    """Make ``z[row]`` a bad logits row of the kind ``bad`` (one of :data:`BAD_ROWS`), in place."""
    if bad == "all -inf":
        z[row] = float("-inf")
    else:
        z[row, 1 if z.shape[1] > 1 else 0] = float("nan") if bad == "nan" else float("inf")


@pytest.fixture
def xent():
    """Run ``xent ARGS`` in-process; returns click's Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def run(*args, input=None):
        result = runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)
        # No command may ever let a traceback reach the user.
        assert "Traceback" not in result.stderr
        return result

    return run


def run_process(*args, input=None, env=None):
    """Run ``python -m xentcli ARGS`` as a real process (pipes, stdin, exit codes)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "xentcli", *map(str, args)],
        input=input, capture_output=True, env=full_env, timeout=120,
    )


@pytest.fixture(scope="session")
def reference():
    """PyTorch 2.13's and SciPy 1.17's own numbers (see tests/data/make_torch_reference.py)."""
    with open(DATA / "torch_reference.json") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def torch_cases(reference):
    """The cross-entropy cases of the reference."""
    return reference["cases"]
