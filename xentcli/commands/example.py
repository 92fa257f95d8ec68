"""``xent example``: the reference document's worked example on the shipped sample data."""

from __future__ import annotations

import sys

import click

from .. import options


@click.command(epilog=options.examples('xent example', 'xent example | less -R', 'xent example --explain'))
@options.explain_options
@options.debug_option
def example(explain, explain_rows):
    """Reproduce the reference document's worked example on the shipped sample data.

    --explain walks it step by step (both samples; --explain-rows does not apply).
    """
    from ..example import worked_example, worked_example_explained
    from ..render.console import render, render_explanation

    if explain:
        render_explanation(worked_example_explained(), sys.stdout.buffer, terminal=sys.stdout.isatty())
        return
    render(worked_example(), sys.stdout.buffer, terminal=sys.stdout.isatty())
