"""The ``xent`` command line: the click group, the one place errors become exit codes, and the
table of commands.

Each command lives in ``xentcli/commands/<name>.py`` and is imported only when it runs (or when
``xent --help`` lists it): it reads its inputs (:mod:`xentcli.inputs`), computes, and hands a
:class:`~xentcli.output.Result` to :func:`~xentcli.output.emit`.
"""

from __future__ import annotations

import errno
import importlib
import os
import signal
import sys
import threading
import warnings

import click

from . import __version__, options
from .environment import forget_warnings
from .errors import PipeClosed, XentError
from .printable import hold_warnings, printable, release_warnings, warning

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
    "ngram": "xentcli.commands.ngram:ngram",
    "ppl": "xentcli.commands.ppl:ppl",
    "softmax": "xentcli.commands.softmax:softmax",
}

# Exit status when stdout is a pipe closed early (`| head`): 128 + SIGPIPE, as coreutils.
EXIT_BROKEN_PIPE = 141


class XentGroup(click.Group):
    """Runs a command and turns every failure into ``Error: …`` and an exit code (docs/errors.md).

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
        # A signalling NaN in float16/float32 input warns when widened; the value checks then name
        # that NaN in their one Error line, so the cast's warning says nothing more.
        warnings.filterwarnings("ignore", "invalid value encountered in cast", RuntimeWarning)
        forget_warnings()
        if not debug:
            hold_warnings()
        handlers = _catch_signals()
        try:
            check_environment()
            rv = super().main(args=args, prog_name=prog_name or "xent", standalone_mode=False, **extra)
            sys.stdout.flush()
        except click.exceptions.Exit as e:
            release_warnings(show=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:  # usage errors: exit 2
            _fail(e.format_message(), e.exit_code)
        except XentError as e:
            if debug:
                raise
            _fail(str(e), e.exit_code)
        except (PipeClosed, BrokenPipeError):
            _quiet_broken_pipe()
        except Signalled as e:
            _fail("interrupted" if e.signum == signal.SIGINT else f"interrupted ({signal.Signals(e.signum).name})",
                  128 + e.signum)
        except (click.Abort, KeyboardInterrupt):
            _fail("interrupted", 128 + signal.SIGINT)
        except ValueError as e:  # a core error no command put in context
            if debug:
                raise
            _fail(str(e), 1)
        except Exception as e:
            if debug:
                raise
            # what was printed could not be written
            if isinstance(e, OSError) and (_stdout_failed() or _write_error(e)):
                from .errors import reason

                _detach_stdout()
                _fail(f"stdout: {reason(e)}", 1)
            _fail(f"internal error ({type(e).__name__}: {e}); run again with --debug for a traceback", 1)
        finally:
            _restore_signals(handlers)
        release_warnings(show=True)
        sys.exit(rv if isinstance(rv, int) else 0)


class Signalled(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived: the run unwinds as for any failure (temp files and spools
    removed, a cluster shut down), then exits 128 + the signal's number.

    Not an ``Exception``, so no ``except Exception`` on the way takes it for an error of its own, and
    not a ``KeyboardInterrupt``, which click would answer with a line of its own.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


#: The signals that end a run cleanly; one that is ignored when xent starts (``nohup``, ``&``) stays ignored.
CAUGHT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def _catch_signals() -> dict:
    """Make :data:`CAUGHT_SIGNALS` raise :class:`Signalled`; the handlers they had, for :func:`_restore_signals`."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        return {}
    saved = {}
    for signum in CAUGHT_SIGNALS:
        old = signal.getsignal(signum)
        if old is not signal.SIG_IGN and old is not None:
            saved[signum] = old
            signal.signal(signum, _on_signal)
    return saved


def _on_signal(signum, frame):
    # The first signal unwinds the run; more of them must not cut its clean-up short.
    for caught in CAUGHT_SIGNALS:
        if signal.getsignal(caught) is _on_signal:
            signal.signal(caught, signal.SIG_IGN)
    raise Signalled(signum)


def _restore_signals(saved: dict) -> None:
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def check_environment() -> None:
    """Read every variable that tunes a run once, so a bad value is named on every run, used or not."""
    from .engine import default_threads
    from .progress import delay
    from .readers import spool_limit

    default_threads()
    delay()
    spool_limit()


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # A library warning nobody anticipated: one line on stderr like ours, not a source dump.
    warning(str(message))


def _fail(message: str, code: int):
    """``Error: message`` on one line of stderr (control characters escaped), the run's only line
    there (its warnings are dropped), then exit ``code``."""
    release_warnings(show=False)
    if _stdout_failed():
        _detach_stdout()
    try:
        click.echo(f"Error: {printable(message)}", err=True)
    except OSError:  # stderr gone too (a hung-up terminal): the exit status says it
        pass
    sys.exit(code)


def _write_error(e: OSError) -> bool:
    """An error of writing (or an I/O error) that names no file: stdout's (``--output`` and the readers
    name their file)."""
    from .destination import WRITE_ERRNOS

    return e.filename is None and e.errno in (*WRITE_ERRNOS, errno.EIO)


def _stdout_failed() -> bool:
    """Whether stdout cannot take what is still buffered for it (a full disk, an I/O error)."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        return True
    return False


def _detach_stdout() -> None:
    """Point stdout at /dev/null, so Python's flush at exit neither fails nor complains again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _quiet_broken_pipe():
    # Python would complain again when it flushes stdout at exit; point it at /dev/null.
    _detach_stdout()
    release_warnings(show=True)  # the reader left early: the run itself did not fail
    sys.exit(EXIT_BROKEN_PIPE)


def _version(ctx: click.Context, _param, value: bool) -> None:
    """``--version``: the version, then the kernel computing per-row values (compiled or numpy)."""
    if not value or ctx.resilient_parsing:
        return
    from .kernels import name

    click.echo(f"xent, version {__version__}\nkernel: {name()}")
    ctx.exit()


@click.group(cls=XentGroup, context_settings={"help_option_names": ["-h", "--help"]}, help=(
    "Softmax, cross-entropy, KL, entropy, perplexity and gradients from the command line.\n\n"
    f"Matrices come from files ({options.extensions()}; FILE:SELECTOR picks an array or columns), "
    "'-' for stdin, or inline values such as \"4,2,1;0,5,1\". Try: xent example"))
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="Show the version and the kernel in use, and exit.")
@options.debug_option
def main():
    pass
