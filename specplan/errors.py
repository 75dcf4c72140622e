"""The one error type for bad input: the CLI prints its message on one line and exits with code 2."""


class SpecplanError(ValueError):
    """Bad input or an unusable environment, described in one line that names the bad value."""
