"""``python -m harness.sim --config FILE [--host H] [--port N] [--ground-truth PATH] [--workers N]``.

Prints ``name dialect base_url`` per endpoint once listening (with ``--workers N``: once all N
processes are listening on the shared port), then serves until SIGTERM/SIGINT (exit 0).
A bad config file prints one line per problem on stderr and exits 2. A ``--host`` that is not a
loopback address (127.0.0.0/8, ::1, ``localhost``) prints a WARNING line on stderr before binding.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import importlib.util
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness._errors import ConfigError
from harness._http import is_loopback
from harness.sim._app import SimServer
from harness.sim.config import SimConfig

__all__ = ["is_loopback", "load_config", "main"]


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


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def _start_workers(args: argparse.Namespace, port: int, n_lines: int) -> list[Any]:
    procs: list[Any] = []
    for i in range(1, args.workers):
        cmd = [sys.executable, "-m", "harness.sim", "--config", args.config, "--host", args.host]
        cmd += ["--port", str(port), "--reuse-port", "--share", str(args.workers), "--worker-index", str(i)]
        if args.ground_truth:
            cmd += ["--ground-truth", args.ground_truth]
        if args.uvloop:
            cmd.append("--uvloop")
        procs.append(
            await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, preexec_fn=_die_with_parent)
        )
    for p in procs:
        assert p.stdout is not None
        for _ in range(n_lines):
            if not await asyncio.wait_for(p.stdout.readline(), 60):
                raise OSError("a worker process failed to start")
    return procs


async def _serve(server: SimServer, args: argparse.Namespace) -> int:
    await server.start()
    procs: list[Any] = []
    try:
        if args.workers > 1:
            procs = await _start_workers(args, server.port, len(server.lines()))
        # Everything loaded at start-up (pydantic, the vocabulary) moves out of the collector's way,
        # so collections during the run only look at per-request objects.
        gc.collect()
        gc.freeze()
        sys.stdout.write("".join(line + "\n" for line in server.lines()))
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
        for p in procs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(p.wait(), 10)
        await server.stop(grace_s=1.0)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bakeoff sim", description="Simulated vendor endpoints.")
    ap.add_argument("--config", required=True, help="YAML file of harness.sim.config.SimConfig")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--ground-truth", default=None, help="append per-request ground truth (JSONL) here")
    ap.add_argument(
        "--workers", type=int, default=1, help="serve from N processes sharing the port (SO_REUSEPORT)"
    )
    ap.add_argument(
        "--reuse-port", action="store_true", help="SO_REUSEPORT: several processes share the port"
    )
    ap.add_argument(
        "--share",
        type=int,
        default=1,
        help="this process is one of N on the port: divide capacity and limits by N",
    )
    ap.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop (must be installed)")
    args = ap.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    if args.share < 1 or args.workers < 1:
        print("--share and --workers must be at least 1", file=sys.stderr)
        return 2
    if args.uvloop and importlib.util.find_spec("uvloop") is None:
        print("--uvloop needs the uvloop package (pip install uvloop)", file=sys.stderr)
        return 2
    if not is_loopback(args.host) and args.worker_index == 0:
        print(
            f"WARNING: the simulator will listen on {args.host}, not loopback: anyone who can reach it can "
            "send it requests (its endpoints accept any non-empty key unless api_key is set).",
            file=sys.stderr,
            flush=True,
        )
    reuse = args.reuse_port or args.workers > 1
    try:
        server = SimServer(
            config,
            host=args.host,
            port=args.port,
            ground_truth=args.ground_truth,
            reuse_port=reuse,
            share=args.workers if args.workers > 1 else args.share,
            worker=args.worker_index,
        )
    except OSError as exc:
        print(f"cannot open ground-truth file: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        return _run(_serve(server, args), use_uvloop=args.uvloop)
    except OSError as exc:
        print(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _run(coro: Any, *, use_uvloop: bool) -> int:
    if use_uvloop:
        import uvloop  # type: ignore[import-not-found,unused-ignore]  # optional, see harness/bench/sim.py

        return int(uvloop.run(coro))
    return int(asyncio.run(coro))


if __name__ == "__main__":
    sys.exit(main())
