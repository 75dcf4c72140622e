"""The one error type for bad input: the CLI prints its message on one line and exits with code 2."""


class SpecplanError(ValueError):
    """Bad input or an unusable environment, described in one line that names the bad value."""


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (at most ``limit`` characters), or its type name when it has
    none: what a one-line error quotes of a library's multi-line message."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
