"""``bakeoff worker`` (also ``python -m harness.load._worker``): join a distributed run as a Locust worker.

Importing this module does not import Locust: the command imports the Locust runner (which patches
the process with gevent) before anything else, when it runs.
"""

from __future__ import annotations

import sys

import click

__all__ = ["parse_master", "worker"]

_DEFAULT_PORT = 5557


def parse_master(value: str) -> tuple[str, int]:
    """``HOST[:PORT]`` → (host, port); the port defaults to 5557 (Locust's master port)."""
    host, sep, port = value.strip().rpartition(":")
    if not sep:
        host, port = port, str(_DEFAULT_PORT)
    if not host:
        raise ValueError(f"{value!r} names no host")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port!r} is not a number from 1 to 65535")
    return host, int(port)


def _master(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    try:
        return parse_master(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("worker", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--master",
    default=f"127.0.0.1:{_DEFAULT_PORT}",
    show_default=True,
    metavar="HOST[:PORT]",
    callback=_master,
    help=f"Address of the master ('bakeoff run --expect-workers N'); the port defaults to {_DEFAULT_PORT}.",
)
def worker(master: tuple[str, int]) -> None:
    """Join a distributed run as a Locust worker.

    Connects to the master, receives its share of the schedule, sends its records back and exits when
    the master stops. API keys come from this machine's environment, by the variable names in the
    scenario.
    """
    from harness.load import ensure_patched

    ensure_patched()  # Locust patches the process (gevent): before anything else opens sockets
    from harness.load._worker import run_worker

    sys.exit(run_worker(*master))
