"""The ``specplan`` command line: one module per command, each thin (parse, call the library, render, exit)."""

import sys

import click
import typer
from typer.core import TyperGroup

from specplan.errors import SpecplanError


class _OneLineErrors(TyperGroup):
    """Bad input ends with one line on stderr and exit code 2, never a traceback or a usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:  # usage errors and bad option values
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(2)
        except SpecplanError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    name="specplan",
    help="Choose a draft model for speculative decoding from scaling laws, then prove it by measurement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module registers its command on `app` when imported.
from specplan.cli import plan, list_profiles, models  # noqa: E402,F401
from specplan.cli import profile  # noqa: E402,F401
from specplan.cli import calibrate  # noqa: E402,F401
from specplan.cli import bench  # noqa: E402,F401
from specplan.cli import report  # noqa: E402,F401


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the specplan version and exit.", is_eager=True),
) -> None:
    if version:
        from specplan import __version__

        typer.echo(__version__)
        raise typer.Exit()


def main() -> None:
    app()
