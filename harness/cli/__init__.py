"""The ``bakeoff`` command. Thin: parse arguments, call the library, map errors to exit codes.

Exit codes: 0 success; 1 a run or report failed (``BakeoffError``); 2 invalid input (``ConfigError``,
usage errors); 3 ``bakeoff gate`` found a contender failing its SLOs; 130 aborted by Ctrl-C.
"""

from __future__ import annotations

import sys

import click

from harness.cli._main import cli

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        code = cli.main(args=argv, prog_name="bakeoff", standalone_mode=False)
    except SystemExit as exc:  # a command's sys.exit(n)
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        raise  # sys.exit("message"): Python prints it and exits 1
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0  # ctx.exit(n) and --help/--version come back as n
