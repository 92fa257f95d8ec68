"""The README's tour and the examples of the docs pages run as written.

A shell example is a line of a fenced ``sh`` block that starts with ``xent`` (after optional
``NAME=value`` environment words; a trailing backslash continues it). It runs in-process, each
``|``-joined ``xent`` command fed the previous one's stdout, and must exit 0 (or the N of a
``# exit N`` comment) with no Traceback. Which lines run is decided by one rule:

- a file argument under ``sample_data/`` must exist (a missing one fails the test, unless the
  line expects a failure: ``# exit 2``), and every other file argument must exist too, or the
  line needs a user's file (``q4.npy``) and is skipped; inline values are never file arguments;
- a line that needs a shell beyond ``|`` between ``xent`` commands (``<(…)``, ``| head``) or that
  starts a Dask cluster (``--scheduler``, run by tests/engine/test_cluster.py) is skipped.

The README's tour may skip nothing. A ``text`` block right after a one-command ``sh`` block
shows that command's output: each of its lines but ``...`` must appear in what it prints.
"""

import glob
import os
import re
import shlex
from pathlib import Path

import pytest

from xentcli.readers.formats import FORMATS

from .conftest import xent

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md")
#: Options whose value is a file xent writes, not one it reads.
OUTPUTS = {"-o", "--output", "--per-token", "--save-base"}
PATH_LIKE = re.compile("(" + "|".join(re.escape(ext) for ext in (*FORMATS, ".arpa", ".arpa.gz")) + ")$")


def blocks(text: str):
    """``(language, body, following block's (language, body) or None)`` of each fenced block."""
    found = re.findall(r"^```(\w*)\n(.*?)^```\n?", text, re.S | re.M)
    return [(lang, body, found[i + 1] if i + 1 < len(found) else None) for i, (lang, body) in enumerate(found)]


def example_lines(body: str) -> list[str]:
    lines = re.sub(r"\\\n\s*", " ", body).splitlines()
    return [line.strip() for line in lines if re.match(r"(\w+=\S+\s+)*xent\s", line.strip())]


def examples(page: Path, section: str = ""):
    """``(line, expected text or None)`` of every shell example of ``page`` (of its ``section`` only)."""
    text = page.read_text(encoding="utf-8")
    if section:
        text = re.search(rf"^## {section}\n(.*?)(?=^## |\Z)", text, re.S | re.M).group(1)
    out = []
    for lang, body, following in blocks(text):
        if lang != "sh":
            continue
        lines = example_lines(body)
        shown = following[1] if following and following[0] == "text" and len(lines) == 1 else None
        out += [(line, shown) for line in lines]
    return out


def plan(line: str):
    """``(env, [argv, …], expected exit)``, or a string saying why the line is skipped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = list(lexer)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    commands, current = [], []
    for word in words + ["|"]:
        if word == "|":
            if not current or current[0] != "xent":
                return "a shell line"
            commands.append(current[1:])
            current = []
        elif set(word) <= set("();<>&") and word:
            return "a shell line"
        else:
            current.append(word)
    if any("--scheduler" in argv for argv in commands):
        return "starts a Dask cluster"
    expected = re.search(r"#\s*exit (\d+)", line)
    expected = int(expected.group(1)) if expected else 0
    for argv in commands:
        for previous, word in zip(["xent"] + argv, argv):
            if word.startswith("-") or previous in OUTPUTS:
                continue
            value = word.split("=", 1)[1] if previous == "--test" and "=" in word else word
            if "://" in value:
                return f"needs {value}"
            path = value.split(":", 1)[0] if ":" in value and not os.path.exists(value) else value
            if "/" not in path and not PATH_LIKE.search(path):
                continue
            if not glob.glob(path):
                if path.startswith("sample_data/"):
                    assert expected, f"{line}: {path} is not in sample_data/"
                    continue
                return f"needs {path}"
    return env, commands, expected


def run(line: str):
    """Run the example ``line``; return the last command's stdout, or a string saying why not."""
    how = plan(line)
    if isinstance(how, str):
        return how
    env, commands, expected = how
    stdin = None
    for i, argv in enumerate(commands):
        result = xent(*argv, input=stdin, env=env)
        want = expected if i == len(commands) - 1 else 0
        assert result.exit_code == want, (line, result.exit_code, result.stderr)
        stdin = result.stdout_bytes
    return None, result.stdout


def check_shown(line: str, stdout: str, shown: str) -> None:
    printed = {row.strip() for row in stdout.splitlines()}
    for row in shown.splitlines():
        if row.strip() and row.strip() != "...":
            assert row.strip() in printed, (line, row)


TOUR = examples(ROOT / "README.md", "A tour")
DOCS = [(page.name, line, shown) for page in PAGES[1:] for line, shown in examples(page)]


def test_the_readme_has_a_tour():
    assert len(TOUR) >= 10


@pytest.mark.parametrize("line,shown", TOUR, ids=[line[:60] for line, _ in TOUR])
def test_every_readme_tour_line_runs_on_the_shipped_data(line, shown, monkeypatch):
    monkeypatch.chdir(ROOT)
    outcome = run(line)
    assert not isinstance(outcome, str), f"the README's tour line needs what is not shipped ({outcome}): {line}"
    if shown:
        check_shown(line, outcome[1], shown)


@pytest.mark.parametrize("page,line,shown", DOCS, ids=[f"{page}:{line[:50]}" for page, line, _ in DOCS])
def test_docs_examples_on_shipped_files_run(page, line, shown, tmp_path, monkeypatch):
    # Outputs (-o probs.npy) land in a scratch folder that sees the shipped data at the same path.
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    monkeypatch.chdir(tmp_path)
    outcome = run(line)
    if isinstance(outcome, str):
        pytest.skip(outcome)
    if shown:
        check_shown(line, outcome[1], shown)


@pytest.mark.parametrize("page", [p.name for p in PAGES[1:] if p.name != "testing.md"])
def test_every_docs_page_with_examples_runs_some(page):
    lines = [line for name, line, _ in DOCS if name == page]
    runnable = [line for line in lines if not isinstance(plan_at_root(line), str)]
    assert not lines or runnable, f"docs/{page}: no example runs on the shipped data"


def plan_at_root(line: str):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return plan(line)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("page", [p.name for p in PAGES[1:]])
def test_python_examples_of_the_docs_run(page):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    for i, block in enumerate(re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)):
        exec(compile(block, f"docs/{page} python block {i + 1}", "exec"), {})
