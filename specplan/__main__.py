"""``python -m specplan`` (and the ``specplan`` script): Ctrl-C even while the command line is being imported ends
with one line and exit code 130, not a traceback."""

import sys


def main() -> None:
    try:
        from specplan.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
