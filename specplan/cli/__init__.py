"""The ``specplan`` command line: one module per command, each thin (parse, call the library, render, exit)."""

import sys

import click
import typer
from typer.core import TyperGroup

from specplan.errors import SpecplanError


INTERRUPTED = 130  # exit code after Ctrl-C (128 + SIGINT), as shells report it
_interrupt_reported = False
_interrupt_note = None  # a command's description of what Ctrl-C leaves behind (see on_interrupt)


def on_interrupt(describe) -> None:
    """Register ``describe()``: the one line Ctrl-C prints from here on in this command (what was kept). The one
    handler, in the app below, prints it and exits 130."""
    global _interrupt_note
    _interrupt_note = describe


def interrupted(message: str) -> typer.Exit:
    """For a command that handled Ctrl-C itself: print its one line (what was kept) and return the Exit to raise."""
    global _interrupt_reported
    _interrupt_reported = True
    click.echo(message, err=True)
    return typer.Exit(INTERRUPTED)


class _OneLineErrors(TyperGroup):
    """Bad input ends with one line on stderr and exit code 2, never a traceback or a usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        global _interrupt_reported, _interrupt_note
        _interrupt_reported, _interrupt_note = False, None
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `specplan`: the help (plain layout), exit 0
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except click.ClickException as exc:  # usage errors and bad option values
            click.echo(f"error: {_one_line(exc.format_message())}", err=True)
            sys.exit(2)
        except SpecplanError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (click.Abort, KeyboardInterrupt):
            code = INTERRUPTED
        if code == INTERRUPTED and not _interrupt_reported:  # typer turns Ctrl-C into a silent exit 130
            click.echo(_interrupt_note() if _interrupt_note else "interrupted", err=True)
        sys.exit(code if isinstance(code, int) else 0)


def _one_line(message: str) -> str:
    """click's messages may span lines (a choice list); the error is one line."""
    return " ".join(message.split())


app = typer.Typer(
    cls=_OneLineErrors,
    name="specplan",
    help="Choose a draft model for speculative decoding from scaling laws, then prove it by measurement.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: option names are never cut or split at 80 columns (CI logs, pipes)
)

# Each module registers its command on `app` when imported.
from specplan.cli import plan, list_profiles, models  # noqa: E402,F401
from specplan.cli import profile  # noqa: E402,F401
from specplan.cli import calibrate  # noqa: E402,F401
from specplan.cli import bench  # noqa: E402,F401
from specplan.cli import report  # noqa: E402,F401
from specplan.cli import acceptance  # noqa: E402,F401


def _print_version(value: bool) -> None:
    if value:
        from specplan import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the specplan version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    pass


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C outside the command's own handling (e.g. while imports run)
        sys.stderr.write("interrupted\n")
        sys.exit(130)
