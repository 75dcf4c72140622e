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


def require_measuring_extra(command: str) -> None:
    """``bench`` and ``profile`` run models: without torch and transformers, one line with the install command.
    Only looked up, not imported (importing torch takes seconds; the arguments are checked first)."""
    missing = [module for module in ("torch", "transformers") if not _installed(module)]
    if missing:
        raise SpecplanError(f"{command} needs {' and '.join(missing)}: pip install 'specplan[bench]'")


def _installed(module: str) -> bool:
    import importlib.util
    import sys

    if module in sys.modules:  # imported already, or blocked (None)
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
