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


def assert_no_crash(stderr) -> None:
    """No input may ever show the user a traceback or an internal error: only ``Error:`` lines."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    if "Traceback" in text or "internal error" in text:
        pytest.fail(f"the command crashed:\n{text}", pytrace=False)


def xent(*args, input=None, env=None, crash_ok: bool = False):
    """Run ``xent ARGS`` in-process; returns click's Result (exit_code, stdout, stderr, output).

    An exception escaping the command fails the test with its own traceback, and so does a
    ``Traceback`` or ``internal error`` on stderr (:func:`assert_no_crash`). ``crash_ok=True`` is
    only for a test that asks for a crash (``--debug``): the exception is then kept in
    ``result.exception`` and stderr is not checked.
    """
    result = CliRunner().invoke(main, [str(a) for a in args], input=input, env=env, catch_exceptions=crash_ok)
    if not crash_ok:
        assert_no_crash(result.stderr)
    return result


@pytest.fixture(name="xent", scope="session")
def xent_fixture():
    """The one in-process runner, :func:`xent`."""
    return xent


def run_process(*args, input=None, env=None, crash_ok: bool = False):
    """Run ``python -m xentcli ARGS`` as a real process (pipes, stdin, signals, exit codes).

    stderr is checked as :func:`xent` checks it, unless ``crash_ok``.
    """
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "xentcli", *map(str, args)],
        input=input, capture_output=True, env=full_env, timeout=120,
    )
    if not crash_ok:
        assert_no_crash(proc.stderr)
    return proc


@pytest.fixture(scope="session")
def reference():
    """PyTorch 2.13's and SciPy 1.17's own numbers (see tests/data/make_torch_reference.py)."""
    with open(DATA / "torch_reference.json") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def torch_cases(reference):
    """The cross-entropy cases of the reference."""
    return reference["cases"]
