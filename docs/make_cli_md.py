"""Write docs/cli.md, the full command-line reference, from the commands' own ``--help``.

    python docs/make_cli_md.py            # rewrite docs/cli.md
    python docs/make_cli_md.py --check    # exit 1 if docs/cli.md is stale

``tests/test_docs.py`` runs the check, so the page cannot drift from the help.
"""

from __future__ import annotations

import os
import sys

from click.testing import CliRunner

from xentcli.cli import main

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli.md")
WIDTH = 88  # the help is wrapped at this width whatever the terminal, so the page is reproducible


def help_text(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--help"], prog_name="xent", terminal_width=WIDTH,
                                max_content_width=WIDTH)
    if result.exit_code != 0:
        raise SystemExit(f"xent {' '.join(args)} --help failed: {result.output}")
    return result.stdout.rstrip() + "\n"


def render() -> str:
    from xentcli.cli import XentGroup

    commands = XentGroup.list_commands(main, None)
    parts = [
        "# xent command-line reference\n",
        "Generated from each command's `--help` by `python docs/make_cli_md.py`; a test fails when it is "
        "stale. The pages beside it explain the ideas ([inputs](inputs.md), [outputs](outputs.md), "
        "[formulas](math.md), [errors](errors.md), and the others the README lists); this page lists every option.\n",
        "## xent\n", "```text", help_text().rstrip(), "```\n",
    ]
    for name in commands:
        parts += [f"## xent {name}\n", "```text", help_text(name).rstrip(), "```\n"]
        command = XentGroup.get_command(main, None, name)
        for sub in getattr(command, "commands", {}):  # a group: each of its commands too
            parts += [f"### xent {name} {sub}\n", "```text", help_text(name, sub).rstrip(), "```\n"]
    return "\n".join(parts)


def main_(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        with open(PAGE, encoding="utf-8") as f:
            if f.read() != text:
                print("docs/cli.md is stale: run python docs/make_cli_md.py", file=sys.stderr)
                return 1
        return 0
    with open(PAGE, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main_(sys.argv[1:]))
