"""Option parsers shared by the commands: they turn bad values into one-line usage errors."""

import typer

from specplan.errors import SpecplanError
from specplan.units import parse_count


def parse_count_option(text: str) -> float:
    """A typer ``parser=`` for positive counts such as ``70e9``, ``70B``, ``7.5b`` or ``405M``."""
    try:
        return parse_count(text)
    except SpecplanError as exc:
        raise typer.BadParameter(str(exc)) from None
