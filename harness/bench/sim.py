"""Benchmark of one simulator process: SSE chunks/s and concurrent streams it sustains while the chunk
gaps it really emits (its own ground truth) stay within 3 ms of the configured 20 ms at p99.

    python -m harness.bench.sim [--streams 300,600,900,1200] [--seconds 8] [--trials 2] [--sim-rt 0]

The simulator runs as its own process (``python -m harness.sim``), the load as another one: a raw
asyncio client that keeps N keep-alive connections each streaming one request after another and only
looks for the end of each chunked body, so the client stays cheaper than the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from harness._percentile import percentile

__all__ = ["main"]

_GAP_MS = 20.0


def _config(path: Path, *, stream_tokens: int) -> None:
    # Full behaviour model on: limits (high enough not to fire), background error draws, failure draws,
    # queue accounting and ground truth — only the rates are zero so every stream runs to the end.
    cfg = {
        "seed": 1,
        "endpoints": [
            {
                "name": "bench",
                "dialect": "openai-chat",
                "model": "sim-bench",
                "behaviour": {
                    "ttft_ms": 50,
                    "ttft_jitter_ms": 5,
                    "tokens_per_s": 1000.0 / _GAP_MS,
                    "token_jitter_frac": 0.0,
                    "tokens_per_chunk": 1,
                    "output_tokens_default": stream_tokens,
                    "capacity": 100000,
                    "queue_limit": 100000,
                    "rpm_limit": 100_000_000,
                    "tpm_limit": 1_000_000_000,
                    "error_rates": {500: 0.0},
                    "midstream_error_rate": 0.0,
                    "stall_rate": 0.0,
                },
            },
            {
                "name": "flat",
                "dialect": "openai-chat",
                "model": "sim-bench",
                "behaviour": {
                    "ttft_ms": 0,
                    "ttft_jitter_ms": 0,
                    "tokens_per_s": 1e9,
                    "output_tokens_default": 16,
                },
            },
        ],
    }
    path.write_text(json.dumps(cfg))


def _request(path: str, *, stream: bool) -> bytes:
    body = json.dumps(
        {
            "model": "sim-bench",
            "messages": [{"role": "user", "content": "Tell me about load testing."}],
            "stream": stream,
            **({"stream_options": {"include_usage": True}} if stream else {}),
        }
    ).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer k\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


class _Conn(asyncio.Protocol):
    def __init__(self, req: bytes, stream: bool, counts: list[int], stop_at: float) -> None:
        self.req = req
        self.stream = stream
        self.counts = counts
        self.stop_at = stop_at
        self.tail = b""
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = t = cast("asyncio.Transport", transport)  # uvloop's transports are duck-typed
        t.write(self.req)

    def data_received(self, data: bytes) -> None:
        self.counts[1] += 1
        buf = self.tail + data
        self.tail = buf[-16:]
        done = buf.endswith(b"0\r\n\r\n") if self.stream else b"content-length" in buf and buf.endswith(b"}")
        if done:
            self.counts[0] += 1
            self.tail = b""
            if time.monotonic() < self.stop_at and self.transport is not None:
                self.transport.write(self.req)
            elif self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _client(port: int, path: str, stream: bool, n: int, seconds: float, ramp_s: float, out: Any) -> None:
    # The load generator shares the two cores with the simulator; at a lower priority it cannot preempt
    # it, so what is measured is the simulator's own pacing (the client only has to keep up on average).
    os.nice(10)

    async def one(delay: float, counts: list[int], stop_at: float, req: bytes) -> None:
        await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(
            lambda: _Conn(req, stream, counts, stop_at), "127.0.0.1", port
        )
        await proto.closed

    async def run() -> None:
        counts = [0, 0]
        t_start = time.monotonic()
        out.put(t_start)
        stop_at = t_start + seconds
        req = _request(path, stream=stream)
        # Stagger the starts over one stream's length so arrivals (and ends) are spread out in time,
        # as in an open-loop workload, instead of every stream ticking in lock-step.
        jobs = [one(ramp_s * i / n, counts, stop_at, req) for i in range(n)]
        await asyncio.wait_for(asyncio.gather(*jobs), timeout=seconds + 30)
        out.put(counts)

    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]  # optional: a cheaper load generator
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())


def _cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and its direct children (the ``--workers`` processes)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            rest = stat.read_text().rsplit(")", 1)[1]
        except OSError:
            continue
        fields = rest.split()
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                out.append(int(stat.parent.name))
        except (OSError, IndexError):
            continue
    return out


def _box_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def _run_step(
    port: int, sim_pid: int, gt: Path, *, stream: bool, n: int, seconds: float, ramp_s: float
) -> dict[str, float]:
    from harness.sim import read_ground_truth  # late: the spawned client stays light

    gt.write_text("")
    q: Any = mp.get_context("spawn").Queue()
    path = "/bench/v1/chat/completions" if stream else "/flat/v1/chat/completions"
    p = mp.get_context("spawn").Process(target=_client, args=(port, path, stream, n, seconds, ramp_s, q))
    p.start()
    t0 = q.get(timeout=60)
    # measure in the steady middle of the step: after the ramp, before the end
    lo, hi = t0 + ramp_s + 0.5, t0 + seconds
    time.sleep(max(0.0, lo - time.monotonic()))
    cpu0 = _cpu_s(sim_pid)
    busy0, all0 = _box_busy()
    time.sleep(max(0.0, hi - time.monotonic()))
    cpu = (_cpu_s(sim_pid) - cpu0) / (hi - lo)
    busy1, all1 = _box_busy()
    box = (busy1 - busy0) / max(1, all1 - all0) * (os.cpu_count() or 1)
    counts = q.get(timeout=seconds + 60)
    p.join(10)
    time.sleep(0.6)  # let the simulator flush its ground truth
    recs = read_ground_truth(gt)
    times = [t for r in recs for t in r.chunk_times if lo <= t <= hi]
    gaps = [
        (b - a) * 1000
        for r in recs
        for a, b in zip(r.chunk_times, r.chunk_times[1:], strict=False)
        if lo <= a <= hi
    ]
    dev = [abs(g - _GAP_MS) for g in gaps]
    return {
        "conns": n,
        "chunks_per_s": len(times) / (hi - lo),
        "requests_per_s": sum(1 for r in recs if lo <= r.t_end <= hi) / (hi - lo),
        "gap_p50_ms": percentile(gaps, 50),
        "gap_p99_ms": percentile(gaps, 99),
        "dev_p99_ms": percentile(dev, 99),
        "sim_cpu": cpu,
        "box_cores_busy": box,
        "client_done": counts[0],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.bench.sim")
    ap.add_argument("--streams", default="300,600,900,1200", help="concurrent streams per step")
    ap.add_argument("--seconds", type=float, default=8.0, help="per step, including the ramp")
    ap.add_argument("--tokens", type=int, default=100, help="chunks per stream")
    ap.add_argument(
        "--trials", type=int, default=1, help="runs per step; the best (least disturbed) is shown"
    )
    ap.add_argument("--uvloop", action="store_true", help="run the simulator on uvloop (must be installed)")
    ap.add_argument("--workers", type=int, default=1, help="simulator processes sharing the port")
    ap.add_argument(
        "--sim-rt", type=int, default=10, help="SCHED_RR priority of the simulator; 0 = normal (root only)"
    )
    ap.add_argument("--sim-nice", type=int, default=-10, help="nice value of the simulator (root only)")
    ap.add_argument("--skip-flat", action="store_true", help="skip the non-streaming requests/s step")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as td:
        cfg = Path(td) / "sim.json"
        gt = Path(td) / "gt.jsonl"
        _config(cfg, stream_tokens=args.tokens)
        cmd = [sys.executable, "-m", "harness.sim", "--config", str(cfg), "--ground-truth", str(gt)]
        if args.uvloop:
            cmd.append("--uvloop")
        if args.workers > 1:
            cmd += ["--workers", str(args.workers)]
        sim = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # noqa: S603 - our own interpreter
        try:
            assert sim.stdout is not None
            line = sim.stdout.readline()
            sim.stdout.readline()
            port = int(line.split()[2].split(":")[2].split("/")[0])
            _prioritise(sim.pid, args)
            print(
                f"simulator pid {sim.pid} ({args.workers} process(es), "
                f"{'uvloop' if args.uvloop else 'asyncio'}) on port {port}; chunk gap {_GAP_MS:g} ms "
                f"configured; pass = p99 |gap - {_GAP_MS:g} ms| <= 3 ms"
            )
            print(
                f"{'streams':>8} {'chunks/s':>9} {'req/s':>7} {'gap p50':>8} {'gap p99':>8} {'|dev| p99':>9} "
                f"{'sim CPU':>8} {'box busy':>9}  verdict"
            )
            best: dict[str, float] | None = None
            ramp = args.tokens * _GAP_MS / 1000
            for n in [int(x) for x in args.streams.split(",") if x]:
                trials = [
                    _run_step(port, sim.pid, gt, stream=True, n=n, seconds=args.seconds, ramp_s=ramp)
                    for _ in range(max(1, args.trials))
                ]
                r = min(trials, key=lambda t: t["dev_p99_ms"])
                ok = r["dev_p99_ms"] <= 3.0
                if ok and (best is None or r["chunks_per_s"] > best["chunks_per_s"]):
                    best = r
                print(
                    f"{n:>8} {r['chunks_per_s']:>9.0f} {r['requests_per_s']:>7.1f} {r['gap_p50_ms']:>8.2f} "
                    f"{r['gap_p99_ms']:>8.2f} {r['dev_p99_ms']:>9.2f} {r['sim_cpu']:>8.0%} "
                    f"{r['box_cores_busy']:>6.2f}/{os.cpu_count()}  {'ok' if ok else 'FAIL'}",
                    flush=True,
                )
            if best is not None:
                print(
                    f"sustained: {best['chunks_per_s']:.0f} chunks/s, {best['conns']:.0f} concurrent streams"
                )
            else:
                print("sustained: no step kept the p99 gap deviation within 3 ms")
            if not args.skip_flat:
                r = _run_step(port, sim.pid, gt, stream=False, n=64, seconds=args.seconds, ramp_s=0.5)
                print(
                    f"non-streaming: {r['requests_per_s']:.0f} requests/s over 64 connections, "
                    f"sim CPU {r['sim_cpu']:.0%}"
                )
        finally:
            sim.terminate()
            sim.wait(10)
    return 0


def _prioritise(pid: int, args: argparse.Namespace) -> None:
    """Keep other work on a shared box from preempting the process being measured (root only).

    The question is what one simulator process can sustain; on a 2-core machine shared with the load
    generator and anything else, plain scheduling mostly measures the neighbours. Real-time
    round-robin (kernel RT throttling still leaves others 5 %) isolates the simulator; ``--sim-rt 0``
    measures at normal priority (``--sim-nice``) instead.
    """
    pids = [pid, *_children(pid)]
    if args.sim_rt:
        try:
            for p in pids:
                os.sched_setscheduler(p, os.SCHED_RR, os.sched_param(args.sim_rt))
            print(f"(simulator at SCHED_RR {args.sim_rt})")
            return
        except OSError:
            print("(real-time priority not permitted; trying nice)")
    if args.sim_nice:
        try:
            for p in pids:
                os.setpriority(os.PRIO_PROCESS, p, args.sim_nice)
            print(f"(simulator at nice {args.sim_nice})")
        except OSError:
            print("(could not raise the simulator's priority; measuring at normal priority)")


if __name__ == "__main__":
    sys.exit(main())
