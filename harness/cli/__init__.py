"""The ``bakeoff`` command. Thin: parse arguments, call the library, map errors to exit codes.

Exit codes: 0 success; 1 a run or report failed (``BakeoffError``); 2 invalid input (``ConfigError``,
usage errors); 3 ``bakeoff gate`` found a contender failing its SLOs; 4 ``bakeoff run`` ended with
scheduled requests unaccounted for (a worker died, records lost: the report says which); 5 ``bakeoff run``
recorded attempts but none reached a vendor (refused, timed out, key refused); 130 aborted (Ctrl-C or
SIGTERM before the run started, or a second one during it).

This module imports nothing heavy: the console script imports it, and a Ctrl-C while the commands are
being imported must end in "aborted" (exit 130), not a traceback. ``cli`` is loaded on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.cli._main import cli

__all__ = ["cli", "main"]


def __getattr__(name: str) -> Any:
    if name == "cli":
        from harness.cli._main import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        import click

        from harness.cli._main import cli
    except KeyboardInterrupt:  # Ctrl-C while the commands load
        print("aborted", file=sys.stderr)
        return 130
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
