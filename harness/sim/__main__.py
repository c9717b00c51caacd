"""``python -m harness.sim --config FILE [--host H] [--port N] [--ground-truth PATH] [--reuse-port]``.

Prints ``name dialect base_url`` per endpoint once listening, then serves until SIGTERM/SIGINT (exit 0).
A bad config file prints one line per problem on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from harness._errors import ConfigError
from harness.sim._app import SimServer
from harness.sim.config import SimConfig

__all__ = ["load_config", "main"]


def _loc(loc: tuple[int | str, ...]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def load_config(path: str | Path) -> SimConfig:
    """Read and validate a simulator YAML file; raises ConfigError with one line per problem."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError([f"{p}{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{p}: expected a mapping with 'seed' and 'endpoints'"])
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{p}: {e['msg']} @ {_loc(tuple(e['loc']))}" for e in exc.errors()]) from None


async def _serve(server: SimServer) -> None:
    await server.start()
    sys.stdout.write("".join(line + "\n" for line in server.lines()))
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace_s=1.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.sim", description="Simulated vendor endpoints.")
    ap.add_argument("--config", required=True, help="YAML file of harness.sim.config.SimConfig")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--ground-truth", default=None, help="append per-request ground truth (JSONL) here")
    ap.add_argument(
        "--reuse-port", action="store_true", help="SO_REUSEPORT: several processes share the port"
    )
    ap.add_argument(
        "--share",
        type=int,
        default=1,
        help="this process is one of N on the port: divide capacity and limits by N",
    )
    ap.add_argument(
        "--no-uvloop", action="store_true", help="use the stdlib event loop even if uvloop is installed"
    )
    args = ap.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    if args.share < 1:
        print("--share must be at least 1", file=sys.stderr)
        return 2
    try:
        server = SimServer(
            config,
            host=args.host,
            port=args.port,
            ground_truth=args.ground_truth,
            reuse_port=args.reuse_port,
            share=args.share,
        )
    except OSError as exc:
        print(f"cannot open ground-truth file: {exc}", file=sys.stderr)
        return 2
    try:
        _run(_serve(server), use_uvloop=not args.no_uvloop)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _run(coro: object, *, use_uvloop: bool) -> None:
    if use_uvloop:
        try:
            import uvloop  # type: ignore[import-not-found,unused-ignore]

            uvloop.run(coro)
            return
        except ImportError:
            pass
    asyncio.run(coro)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
