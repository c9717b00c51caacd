"""``python -m harness.faults [--host 127.0.0.1] [--port 8474] [--seed N]``: the embedded Toxiproxy.

Prints ``toxiproxy-compatible API listening on http://HOST:PORT`` once ready (``--port 0`` prints the
real port) and runs until SIGTERM/SIGINT (exit 0). Proxies it creates bind loopback unless a proxy's
``listen`` names another address.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from harness.faults._toxiproxy_server import is_loopback, run_until_signal

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bakeoff proxy",
        description="Run the embedded Toxiproxy-compatible server (Toxiproxy 2.x HTTP API).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="API address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8474, help="API port (default 8474; 0 picks a free one)")
    parser.add_argument(
        "--seed", type=int, default=None, help="seed toxicity, jitter and slicer draws (reproducible runs)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"bakeoff proxy: --port must be 0..65535, got {args.port}", file=sys.stderr)
        return 2
    if not is_loopback(args.host):
        print(
            f"WARNING: the Toxiproxy API will listen on {args.host}, not loopback: anyone who can reach it "
            "can create proxies on this machine and make it open connections.",
            file=sys.stderr,
            flush=True,
        )
    try:
        return asyncio.run(run_until_signal(args.host, args.port, args.seed))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
