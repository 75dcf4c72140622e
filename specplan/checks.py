"""Small checks shared by every reader of user input: finite numbers, readable UTF-8 files, YAML without aliases.

Each raises :class:`SpecplanError` with one line that names the bad value (shown short: a long value is cut).
No torch here.
"""

import math
import unicodedata
from pathlib import Path

import yaml

from specplan.errors import SpecplanError, first_line

MAX_SHOWN = 60  # characters of a bad value quoted in an error line
MAX_TEXT_FILE_BYTES = 20_000_000  # a profile, law, plan or prompts file is kilobytes; refuse before reading gigabytes


def shown(value) -> str:
    """``repr(value)``, cut to a short single line (error messages quote bad values, never whole documents)."""
    text = repr(value).replace("\n", "\\n")
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def is_number(value) -> bool:
    """An int or float that is not a bool (JSON/YAML ``true`` is not 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value) -> bool:
    return is_number(value) and math.isfinite(value)


def is_count(value, least: int = 0) -> bool:
    """An integer (not a bool, not 2.0) of at least ``least``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def number_in(value, what: str, low: float, high: float, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it is a finite number within [low, high] (ends open where asked), else an error."""
    ok = is_finite_number(value) and (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        kind = "" if is_finite_number(value) else "a finite number "
        raise SpecplanError(f"{what} {shown(value)} must be {kind}in {interval}")
    return float(value)


def count_in(value, what: str, low: int, high: int) -> int:
    """``value`` if it is an integer within [low, high], else an error naming it."""
    if not (isinstance(value, int) and not isinstance(value, bool)):
        raise SpecplanError(f"{what} {shown(value)} must be an integer from {low} to {high}")
    if value < low:
        raise SpecplanError(f"{what} {shown(value)} must be at least {low}")
    if value > high:
        raise SpecplanError(f"{what} {shown(value)} must be at most {high}")
    return value


def check_name(value: str, option: str) -> str:
    """A model name or path given by the user, refused when it holds a control character (a newline would inject
    a key into emitted YAML, a line into a shell command or a row into a markdown table)."""
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        raise SpecplanError(f"{option} {shown(value)} holds the control character {bad!r}: rename it")
    return value


def read_text_file(path, what: str, max_bytes: int = MAX_TEXT_FILE_BYTES) -> str:
    """A UTF-8 text file's content; a missing, unreadable, oversized or non-UTF-8 file is one error line."""
    path = Path(path)
    try:
        if path.is_dir():
            raise SpecplanError(f"{what} {str(path)!r} is a folder, not a file")
        size = path.stat().st_size
        if size > max_bytes:
            raise SpecplanError(f"{what} {str(path)!r} is {size} bytes, more than the {max_bytes} this reads")
        with path.open("rb") as file:  # a device or pipe (/dev/zero) states size 0: the read itself is capped
            data = file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise SpecplanError(f"{what} {str(path)!r} holds more than the {max_bytes} bytes this reads")
    except FileNotFoundError:
        raise SpecplanError(f"{what} {str(path)!r} does not exist") from None
    except OSError as exc:
        raise SpecplanError(f"{what} {str(path)!r} could not be read: {exc.strerror}") from None
    if b"\0" in data:  # /dev/zero, a binary file: no text format here holds NUL bytes
        raise SpecplanError(f"{what} {str(path)!r} is not text (it holds NUL bytes, first at byte {data.index(0)})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecplanError(f"{what} {str(path)!r} is not UTF-8 text (byte {exc.start}: "
                            f"{data[exc.start:exc.start + 1]!r})") from None


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases: ``*name`` lets 1 KB expand to gigabytes (a "billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise SpecplanError(f"uses the YAML alias *{event.anchor} (line {event.start_mark.line + 1}); "
                                "aliases are not accepted, write the value out")
        return super().compose_node(parent, index)


def load_yaml(text: str, where: str):
    """YAML (or JSON) text to Python values with the safe loader, refusing aliases and ``!!python`` tags."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except SpecplanError as exc:
        raise SpecplanError(f"{where} {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecplanError(f"{where}: not valid YAML ({first_line(exc)})") from None


def read_yaml_file(path, what: str):
    """A YAML file read with :func:`read_text_file` and :func:`load_yaml`."""
    return load_yaml(read_text_file(path, what), f"{what} {str(path)!r}")
