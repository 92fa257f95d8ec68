"""The real command, run in-process, for the tests of every input form."""

import json
import math
import re

from .conftest import xent


def cli_json(*args):
    """The JSON of a run that must succeed."""
    result = xent(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error(*args, code):
    """The one ``Error:`` line of a run that must fail with exit ``code``."""
    result = xent(*args)
    assert result.exit_code == code, result.output
    assert result.output.startswith("Error:")
    return result.output


_NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def shows_number(text: str, value: float, rel: float = 5e-16) -> bool:
    """Whether ``text`` prints a number within ``rel`` of ``value`` (a few ulp): a value printed to full
    precision that went through NumPy's exp/log can differ in its last bit on another CPU."""
    return any(math.isclose(float(m), value, rel_tol=rel) for m in _NUMBER.findall(text))
