"""``python -m specplan`` (and the ``specplan`` script): Ctrl-C even while the command line is being imported ends
with one line and exit code 130, not a traceback."""

import signal
import sys


def main() -> None:
    try:
        from specplan.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        _exit_quietly("interrupted\n", 130)
    except SystemExit as exc:
        _exit_quietly("", exc.code)
    _exit_quietly("", 0)


def _exit_quietly(message: str, code) -> None:
    """Exit with ``code``; a Ctrl-C arriving while the interpreter shuts down no longer turns into a traceback
    or a death by signal (the work is done by then)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stderr.write(message)
    sys.exit(code)


if __name__ == "__main__":
    main()
