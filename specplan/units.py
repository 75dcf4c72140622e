"""Parsing and printing of counts such as parameter and token counts: ``70e9``, ``70B``, ``7.5b``, ``405M``."""

import math
import re

from specplan.errors import SpecplanError

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_COUNT = re.compile(r"^\s*([+-]?[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgt]?)\s*$", re.IGNORECASE)


def parse_count(text: str, what: str = "") -> float:
    """Parse a positive count: plain or scientific (``70e9``) or with a K/M/B/G/T suffix (``7.5b``)."""
    match = _COUNT.match(str(text))
    if not match:
        raise SpecplanError(f"{what} {text!r} is not a number (try 70e9, 70B, 7.5b or 405M)".lstrip())
    value = float(match.group(1)) * _SUFFIX[match.group(2).lower()]
    if not math.isfinite(value) or value <= 0:
        raise SpecplanError(f"{what} {text!r} must be a positive number".lstrip())
    return value


def format_count(value: float) -> str:
    """Short human form: 70.6B, 290.2M, 15T."""
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.4g}{suffix}"
    return f"{value:.4g}"
