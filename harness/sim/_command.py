"""``bakeoff sim`` (also ``python -m harness.sim``): serve a simulator file's endpoints as a process.

Prints ``name dialect base_url`` per endpoint once listening (with ``--workers N``: once all N
processes are listening on the shared port), then serves until SIGTERM/SIGINT (exit 0).
A bad config file prints one line per problem on stderr and exits 2. A ``--host`` that is not a
loopback address (127.0.0.0/8, ::1, ``localhost``) prints a WARNING line on stderr before binding.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import importlib.util
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import ValidationError

from harness._errors import ConfigError
from harness._http import is_loopback
from harness.sim._app import SimServer
from harness.sim.config import SimConfig

__all__ = ["load_config", "sim"]


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


@dataclass(frozen=True)
class _Options:
    config: str
    host: str
    ground_truth: str | None
    workers: int
    uvloop: bool


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def _start_workers(opts: _Options, port: int, n_lines: int) -> list[Any]:
    procs: list[Any] = []
    for i in range(1, opts.workers):
        cmd = [sys.executable, "-m", "harness.sim", "--config", opts.config, "--host", opts.host]
        cmd += ["--port", str(port), "--reuse-port", "--share", str(opts.workers), "--worker-index", str(i)]
        if opts.ground_truth:
            cmd += ["--ground-truth", opts.ground_truth]
        if opts.uvloop:
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


async def _serve(server: SimServer, opts: _Options) -> int:
    await server.start()
    procs: list[Any] = []
    try:
        if opts.workers > 1:
            procs = await _start_workers(opts, server.port, len(server.lines()))
        # Everything loaded at start-up (pydantic, the vocabulary) moves out of the collector's way,
        # so collections during the run only look at per-request objects.
        gc.collect()
        gc.freeze()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # before the ready lines: whoever reads them may stop us
            loop.add_signal_handler(sig, stop.set)
        sys.stdout.write("".join(line + "\n" for line in server.lines()))
        sys.stdout.flush()
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


@click.command("sim", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    required=True,
    type=click.Path(dir_okay=False),
    help="Simulator file (YAML: seed and endpoints); 'bakeoff schema --kind sim' prints its schema.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (anything but loopback prints a warning).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port to listen on (0 picks a free one; the ready lines name it).",
)
@click.option(
    "--ground-truth",
    type=click.Path(dir_okay=False),
    help="Append what each simulated response was made of here (JSONL), for accuracy checks.",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Serve from N processes sharing the port (SO_REUSEPORT); capacities and limits are split.",
)
@click.option(
    "--reuse-port", is_flag=True, help="Bind with SO_REUSEPORT so several processes can share the port."
)
@click.option(
    "--share",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="This process is one of N on the port: divide capacities and limits by N.",
)
@click.option(
    "--worker-index",
    type=click.IntRange(0),
    default=0,
    hidden=True,
    help="Which of the --workers processes this is (set by the first process for the others).",
)
@click.option("--uvloop", is_flag=True, help="Run on uvloop (the uvloop package must be installed).")
def sim(
    config: str,
    host: str,
    port: int,
    ground_truth: str | None,
    workers: int,
    reuse_port: bool,
    share: int,
    worker_index: int,
    uvloop: bool,
) -> None:
    """Serve simulated vendors: OpenAI, Anthropic, Azure OpenAI and Gemini wire protocols.

    Prints "name dialect base_url" per endpoint once listening, then serves until SIGTERM or
    Ctrl-C (exit 0). A bad simulator file prints one line per problem and exits 2.
    """
    sys.exit(
        _main(_Options(config, host, ground_truth, workers, uvloop), port, reuse_port, share, worker_index)
    )


def _main(opts: _Options, port: int, reuse_port: bool, share: int, worker_index: int) -> int:
    try:
        config = load_config(opts.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    if opts.uvloop and importlib.util.find_spec("uvloop") is None:
        print("--uvloop needs the uvloop package (pip install uvloop)", file=sys.stderr)
        return 2
    if not is_loopback(opts.host) and worker_index == 0:
        print(
            f"WARNING: the simulator will listen on {opts.host}, not loopback: anyone who can reach it can "
            "send it requests (its endpoints accept any non-empty key unless api_key is set).",
            file=sys.stderr,
            flush=True,
        )
    try:
        server = SimServer(
            config,
            host=opts.host,
            port=port,
            ground_truth=opts.ground_truth,
            reuse_port=reuse_port or opts.workers > 1,
            share=opts.workers if opts.workers > 1 else share,
            worker=worker_index,
        )
    except OSError as exc:
        print(f"cannot open ground-truth file: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        return _run(_serve(server, opts), use_uvloop=opts.uvloop)
    except OSError as exc:
        print(f"cannot serve on {opts.host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _run(coro: Any, *, use_uvloop: bool) -> int:
    if use_uvloop:
        import uvloop  # type: ignore[import-not-found,unused-ignore]  # optional, see harness/bench/sim.py

        return int(uvloop.run(coro))
    return int(asyncio.run(coro))
