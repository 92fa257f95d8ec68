"""The ``xent`` command line: the click group, the one place errors become exit codes, and the
table of commands.

Each command lives in ``xentcli/commands/<name>.py`` and is imported only when it runs (or when
``xent --help`` lists it): it reads its inputs (:mod:`xentcli.inputs`), computes, and hands a
:class:`~xentcli.output.Result` to :func:`~xentcli.output.emit`.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

from . import __version__, options
from .errors import PipeClosed, XentError

#: Every command, by name: imported only when it runs or is listed, so a call pays for its own imports.
LAZY_COMMANDS = {
    "bce": "xentcli.commands.bce:bce",
    "ce": "xentcli.commands.ce:ce",
    "compare": "xentcli.commands.compare:compare",
    "entropy": "xentcli.commands.entropy:entropy",
    "example": "xentcli.commands.example:example",
    "grad": "xentcli.commands.grad:grad",
    "kl": "xentcli.commands.kl:kl",
    "mse": "xentcli.commands.mse:mse",
    "ppl": "xentcli.commands.ppl:ppl",
    "softmax": "xentcli.commands.softmax:softmax",
}

# Exit status when stdout is a pipe closed early (`| head`): 128 + SIGPIPE, as coreutils.
EXIT_BROKEN_PIPE = 141


class XentGroup(click.Group):
    """Runs a command and turns every failure into ``Error: …`` and an exit code (SPEC §4).

    Its commands are those of :data:`LAZY_COMMANDS`, each imported only when run or listed.
    """

    def list_commands(self, ctx):
        return sorted(LAZY_COMMANDS)

    def get_command(self, ctx, name):
        if name not in LAZY_COMMANDS:
            return None  # click's "No such command"
        module, attr = LAZY_COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def main(self, args=None, prog_name=None, **extra):
        args = list(sys.argv[1:] if args is None else args)
        if not args:  # bare `xent`: the command list, as `xent --help` prints it
            args = ["--help"]
        debug = "--debug" in args or bool(os.environ.get("XENT_DEBUG"))
        if not debug:
            warnings.showwarning = _show_warning
        try:
            rv = super().main(args=args, prog_name=prog_name or "xent", standalone_mode=False, **extra)
            sys.stdout.flush()
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.ClickException as e:  # usage errors: exit 2
            _fail(e.format_message(), e.exit_code)
        except XentError as e:
            if debug:
                raise
            _fail(str(e), e.exit_code)
        except (PipeClosed, BrokenPipeError):
            _quiet_broken_pipe()
        except (click.Abort, KeyboardInterrupt):
            click.echo("Error: interrupted", err=True)
            sys.exit(130)
        except ValueError as e:  # a core error no command put in context
            if debug:
                raise
            _fail(str(e), 1)
        except Exception as e:
            if debug:
                raise
            _fail(f"internal error ({type(e).__name__}: {e}); run again with --debug for a traceback", 1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # A library warning nobody anticipated: one line on stderr like ours, not a source dump.
    click.echo(f"Warning: {message}", err=True)


def _fail(message: str, code: int):
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _quiet_broken_pipe():
    # Python would complain again when it flushes stdout at exit; point it at /dev/null.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(EXIT_BROKEN_PIPE)


@click.group(cls=XentGroup, context_settings={"help_option_names": ["-h", "--help"]}, help=(
    "Softmax, cross-entropy, KL, entropy, perplexity and gradients from the command line.\n\n"
    f"Matrices come from files ({options.extensions()}; FILE:SELECTOR picks an array or columns), "
    "'-' for stdin, or inline values such as \"4,2,1;0,5,1\". Try: xent example"))
@click.version_option(__version__, prog_name="xent")
@options.debug_option
def main():
    pass
