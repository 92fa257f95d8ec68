"""The README and the docs pages: their promises about the command line, their size, their links."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from xentcli.cli import XentGroup, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generator():
    spec = importlib.util.spec_from_file_location("make_cli_md", os.path.join(ROOT, "docs", "make_cli_md.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current():
    with open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8") as f:
        assert f.read() == generator().render(), "docs/cli.md is stale: run python docs/make_cli_md.py"


@pytest.mark.parametrize("command", XentGroup.list_commands(main, None))
def test_every_help_ends_with_real_examples(command):
    text = generator().help_text(command)
    tail = text.rstrip().split("Examples:")[-1].strip().splitlines()
    assert "Examples:" in text and 2 <= len(tail) <= 3
    assert all(line.strip().startswith(f"xent {command}") for line in tail)


def test_the_page_documents_every_option():
    page = generator().render()
    for name in XentGroup.list_commands(main, None):
        command = XentGroup.get_command(main, None, name)
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and not getattr(param, "hidden", False):
                    assert opt in page, (name, opt)


def complete(words: str) -> list[str]:
    """What bash completion offers for the command line ``words`` (click's protocol)."""
    parts = words.split(" ")
    env = dict(os.environ, _XENT_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(len(parts) - 1))
    r = subprocess.run([sys.executable, "-c", "from xentcli.cli import main; main()"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_shell_completion_of_commands_options_choices_and_files(tmp_path):
    assert "plain,compare" in complete("xent comp")
    assert "plain,--reduction" in complete("xent ce --red")
    assert {"plain,mean", "plain,sum", "plain,none"} <= set(complete("xent ce --reduction "))
    assert {"plain,csv", "plain,json"} <= set(complete("xent softmax --format "))
    assert {"plain,e", "plain,2", "plain,10"} <= set(complete("xent kl --base "))
    assert {"plain,ce", "plain,bce"} <= set(complete("xent grad --loss "))
    assert complete("xent ce --logits z") == ["file,z"] and complete("xent compare --base ") == ["file,"]


def test_bash_completion_script_is_printed():
    env = dict(os.environ, _XENT_COMPLETE="bash_source")
    r = subprocess.run([sys.executable, "-c", "from xentcli.cli import main; main()"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "_XENT_COMPLETE" in r.stdout and "complete " in r.stdout


def test_readme_shows_the_library_example_and_it_runs():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    block = re.search(r"## From Python\n.*?```python\n(.*?)```", readme, re.S).group(1)
    assert len(block.strip().splitlines()) <= 6
    exec(compile(block, "README", "exec"), {})


def test_readme_names_every_test_extra():
    # The README's Set-up paragraph is what a new user reads to know what the tests install.
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        extras = re.search(r"^test = \[(.*?)\]", f.read(), re.S | re.M).group(1)
    names = [re.match(r"[A-Za-z0-9_.-]+", s.strip().strip('"')).group(0) for s in extras.split(",") if s.strip()]
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        setup = re.search(r"## Set-up.*?\n## ", f.read(), re.S).group(0).lower()
    missing = [n for n in names if n.lower() not in setup]
    assert not missing, f"README's Set-up does not name the test extras {missing}"


def test_limits_page_states_the_bounds_the_code_uses():
    # docs/limits.md is what users read of the bounds: it must say the numbers the readers enforce.
    from xentcli import engine, readers
    from xentcli.readers import npz, safetensors, text
    from xentcli.readers.json import document as jsonfile
    from xentcli.readers.json import lines as jsonl

    with open(os.path.join(ROOT, "docs", "limits.md"), encoding="utf-8") as f:
        page = f.read()
    mb = 1 << 20
    rows = {
        "a line of a text file": f"{text.MAX_LINE // mb} MB",
        "comment lines before": f"{text.MAX_HEAD // mb} MB",
        "a `.json` document": f"{jsonfile.MAX_DOCUMENT_BYTES // mb} MB",
        "a JSON Lines line": f"{jsonl.MAX_LINE_BYTES // mb} MB",
        "nesting of JSON lists": f"{jsonfile.MAX_AXES} levels",
        "an `.npz` member": f"{npz.MAX_MEMBER_BYTES // mb} MB",
        "a `.safetensors` header": f"{safetensors.MAX_HEADER_BYTES // mb} MB",
        "stdin or a pipe": f"{readers.SPOOL_BYTES // mb} MB",
    }
    for row, bound in rows.items():
        line = next(line for line in page.splitlines() if line.startswith(f"| {row}"))
        assert bound in line, (row, bound, line)
    from xentcli.readers import arrow

    cell = next(line for line in page.splitlines() if line.startswith("| a Parquet list cell"))
    assert f"{arrow.MAX_ROW_VALUES >> 20} Mi values" in cell and f"{arrow.MAX_SEQUENCE_VALUES >> 20} Mi for" in cell
    batch = next(line for line in page.splitlines() if line.startswith("| a Feather/Arrow record batch"))
    assert f"{arrow.MAX_BATCH_BYTES >> 20} MB" in batch
    assert f"{engine.PER_CORE_LIMIT} per usable core" in page
    assert f"{readers.SPOOL_FREE_BYTES >> 30} GiB or {readers.SPOOL_FREE_SHARE:.0%}".replace("%", " %") in page


PAGES = ["README.md"] + sorted(os.path.join("docs", name) for name in os.listdir(os.path.join(ROOT, "docs"))
                               if name.endswith(".md"))


def read(page: str) -> str:
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return f.read()


def test_readme_is_at_most_200_lines():
    # The README says what xent is and how to start; the reference lives in docs/.
    assert len(read("README.md").splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES)
def test_user_pages_never_cite_the_internal_spec(page):
    text = read(page)
    assert "SPEC" not in text and "§" not in text


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_and_anchor_exists(page):
    text = read(page)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if "://" in target:
            continue
        path, _, fragment = target.partition("#")
        linked = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        assert os.path.exists(os.path.join(ROOT, linked)), (page, target)
        if fragment:
            headings = re.findall(r"^#+ (.*)$", read(linked), re.M)
            assert fragment in {anchor(h) for h in headings}, (page, target)


def test_the_readme_links_every_docs_page():
    readme = read("README.md")
    for page in PAGES[1:]:
        if not page.endswith("README.md"):
            assert f"]({page})" in readme, f"the README's page list misses {page}"


@pytest.mark.parametrize("page", PAGES)
def test_every_file_of_the_repository_a_page_names_exists(page):
    # Benchmarks, test files and sample data are named in code spans; a move must update the page.
    span = r"`(?:python )?((?:benchmarks|tests|docs|sample_data)/[\w./-]+\.(?:py|json|md|csv|tsv))"
    named = re.findall(span, read(page))
    missing = [path for path in named if not os.path.exists(os.path.join(ROOT, path))]
    assert not missing, (page, missing)


def test_readme_set_up_is_the_two_commands():
    setup = re.search(r"## Set-up.*?```sh\n(.*?)```", read("README.md"), re.S).group(1).splitlines()
    assert [line.split("#")[0].strip() for line in setup] == [
        "pip install . && xent example", "pip install -e '.[test]' && pytest"]
