"""``bakeoff proxy`` (also ``python -m harness.faults``): the embedded Toxiproxy as a process.

Prints ``toxiproxy-compatible API listening on http://HOST:PORT`` once ready (``--port 0`` prints the
real port) and runs until SIGTERM/SIGINT (exit 0). Proxies it creates bind loopback unless a proxy's
``listen`` names another address.
"""

from __future__ import annotations

import asyncio
import sys

import click

from harness.faults._toxiproxy_server import is_loopback, run_until_signal

__all__ = ["proxy"]


@click.command("proxy", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address the API listens on (anything but loopback prints a warning).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8474,
    show_default=True,
    help="Port the API listens on (0 picks a free one; the ready line names it).",
)
@click.option("--seed", type=int, help="Seed the toxicity, jitter and slicer draws (reproducible faults).")
def proxy(host: str, port: int, seed: int | None) -> None:
    """Serve the embedded Toxiproxy-compatible API (Toxiproxy 2.x HTTP API).

    Prints "toxiproxy-compatible API listening on URL" once ready, then serves until SIGTERM or
    Ctrl-C (exit 0). The proxies it creates listen on loopback unless told otherwise.
    """
    if not is_loopback(host):
        print(
            f"WARNING: the Toxiproxy API will listen on {host}, not loopback: anyone who can reach it "
            "can create proxies on this machine and make it open connections.",
            file=sys.stderr,
            flush=True,
        )
    try:
        code = asyncio.run(run_until_signal(host, port, seed))
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)
