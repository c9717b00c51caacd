"""Benchmark of the embedded Toxiproxy: overhead against a direct connection, measured in the same run.

``python -m harness.bench.proxy [--quick]`` starts the proxy (``python -m harness.faults``) and an upstream
server as their own processes, then measures, direct and through the proxy, side by side:

* added latency per request without toxics (p50/p99): a 100-byte ping-pong on an open connection, and a
  request on a fresh connection (connect + request + answer);
* bulk throughput (MB/s, 1 MB = 10^6 bytes) of one connection reading as fast as it can;
* latency-toxic accuracy at 100 concurrent streams: the upstream stamps each chunk with its send time
  (``perf_counter`` is CLOCK_MONOTONIC, comparable across processes on Linux); the per-chunk delay through
  a 100 ms downstream latency toxic is compared with the 100 ms asked for (and with the direct delay).

Targets: <= 0.3 ms added at p50 and >= 100 MB/s bulk on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness._percentile import percentile

__all__ = ["main"]

_BLOCK = 1 << 20


# -- upstream server (runs in its own process: ``python -m harness.bench.proxy --upstream``) ---------------


class _Upstream(asyncio.Protocol):
    """Echo; a first message ``BULK n\\n`` instead gets n bytes as fast as flow control allows."""

    def __init__(self) -> None:
        self.t: asyncio.Transport | None = None
        self.first = True
        self.left = 0
        self.can_write = asyncio.Event()
        self.can_write.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.t = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        assert self.t is not None
        if self.first and data.startswith(b"TICKS "):
            self.first = False
            n, interval_ms = (int(x) for x in data.split()[1:3])
            self.left = -1
            asyncio.get_running_loop().create_task(self._ticks(n, interval_ms / 1000))
            return
        if self.first and data.startswith(b"BULK "):
            self.first = False
            self.left = int(data.split()[1])
            asyncio.get_running_loop().create_task(self._bulk())
            return
        self.first = False
        if self.left == 0:
            self.t.write(data)

    async def _bulk(self) -> None:
        assert self.t is not None
        block = b"x" * _BLOCK
        while self.left > 0 and not self.t.is_closing():
            await self.can_write.wait()
            n = min(self.left, _BLOCK)
            self.t.write(block if n == _BLOCK else block[:n])
            self.left -= n
        self.t.close()

    async def _ticks(self, n: int, interval: float) -> None:
        """n lines each carrying its send time (perf_counter: CLOCK_MONOTONIC, shared by processes)."""
        assert self.t is not None
        await asyncio.sleep(random.random() * interval)  # spread the streams over the interval
        for _ in range(n):
            if self.t.is_closing():
                return
            self.t.write(b"%.9f\n" % time.perf_counter())
            await asyncio.sleep(interval)
        self.t.close()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()


async def _serve_upstream() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Upstream, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


# -- measurements --------------------------------------------------------------------------------------------


@contextmanager
def _child(args: list[str]) -> Iterator[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    # fixed argv: this interpreter running our own modules
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True, env=env)  # noqa: S603
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def _connect(addr: tuple[str, int]) -> socket.socket:
    s = socket.create_connection(addr, timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _pingpong(addr: tuple[str, int], n: int) -> list[float]:
    msg = b"p" * 100
    out = []
    with _connect(addr) as s:
        for _ in range(n):
            t = time.perf_counter()
            s.sendall(msg)
            got = 0
            while got < len(msg):
                got += len(s.recv(4096))
            out.append(time.perf_counter() - t)
    return out


def _fresh(addr: tuple[str, int], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        with _connect(addr) as s:
            s.sendall(b"hello")
            s.recv(16)
        out.append(time.perf_counter() - t)
    return out


def _bulk(addr: tuple[str, int], nbytes: int) -> float:
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    with _connect(addr) as s:
        t = time.perf_counter()
        s.sendall(b"BULK %d\n" % nbytes)
        got = 0
        while n := s.recv_into(view):
            got += n
        elapsed = time.perf_counter() - t
    assert got == nbytes, (got, nbytes)
    return nbytes / elapsed / 1e6


async def _tick_delays(addr: tuple[str, int], streams: int, ticks: int, interval_ms: int) -> list[float]:
    """Per-chunk delay (receive time minus the upstream's send time) over ``streams`` concurrent streams."""

    async def one() -> list[float]:
        reader, writer = await asyncio.open_connection(*addr)
        out = []
        try:
            writer.write(b"TICKS %d %d\n" % (ticks, interval_ms))
            while line := await reader.readline():
                out.append(time.perf_counter() - float(line))
        finally:
            writer.close()
        return out

    results = await asyncio.gather(*(one() for _ in range(streams)))
    return [x for r in results for x in r]


def _interleaved(
    fn: Callable[[tuple[str, int], int], list[float]], a: tuple[str, int], b: tuple[str, int], n: int
) -> tuple[list[float], list[float]]:
    """Alternate blocks between the two paths so drift in machine load hits both equally."""
    xa: list[float] = []
    xb: list[float] = []
    for _ in range(10):
        xa += fn(a, n // 10)
        xb += fn(b, n // 10)
    return xa, xb


def _row(label: str, direct: list[float], proxied: list[float]) -> str:
    d50, d99 = percentile(direct, 50) * 1e3, percentile(direct, 99) * 1e3
    p50, p99 = percentile(proxied, 50) * 1e3, percentile(proxied, 99) * 1e3
    return f"{label:<34} {d50:8.3f} {d99:8.3f} | {p50:8.3f} {p99:8.3f} | {p50 - d50:+8.3f} {p99 - d99:+8.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.proxy", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.upstream:
        asyncio.run(_serve_upstream())
        return 0

    # Imported here so the --upstream child stays minimal.
    from harness.faults import ToxiproxyClient

    n_ping = 2000 if args.quick else 20000
    n_fresh = 300 if args.quick else 3000
    bulk_bytes = (128 if args.quick else 1024) * _BLOCK
    with (
        _child(["-m", "harness.bench.proxy", "--upstream"]) as up_port,
        _child(["-m", "harness.faults", "--port", "0"]) as line,
        ToxiproxyClient(line.split()[-1]) as api,
    ):
        direct = ("127.0.0.1", int(up_port))
        listen = api.create_proxy("bench", f"127.0.0.1:{up_port}")["listen"]
        host, _, port = listen.rpartition(":")
        proxied = (host, int(port))
        _pingpong(direct, 200)  # warm up both paths
        _pingpong(proxied, 200)

        print(f"embedded toxiproxy benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
        print(f"{'':<34} {'direct (ms)':>17} | {'proxied (ms)':>17} | {'added (ms)':>17}")
        print(f"{'':<34} {'p50':>8} {'p99':>8} | {'p50':>8} {'p99':>8} | {'p50':>8} {'p99':>8}")
        d, p = _interleaved(_pingpong, direct, proxied, n_ping)
        ping_added = percentile(p, 50) - percentile(d, 50)
        print(_row(f"ping-pong 100 B, open conn (n={n_ping})", d, p))
        d, p = _interleaved(_fresh, direct, proxied, n_fresh)
        print(_row(f"fresh connection + request (n={n_fresh})", d, p))

        runs = 3
        bd = [_bulk(direct, bulk_bytes) for _ in range(runs)]
        bp = [_bulk(proxied, bulk_bytes) for _ in range(runs)]
        mb = bulk_bytes / 1e6
        print(
            f"bulk {mb:.0f} MB, one connection (MB/s, median of {runs}):  direct {statistics.median(bd):8.1f}"
            f" | proxied {statistics.median(bp):8.1f}"
        )

        streams, ticks, interval_ms = 100, (10 if args.quick else 40), 50
        base = asyncio.run(_tick_delays(direct, streams, ticks, interval_ms))
        api.add_toxic("bench", "latency", {"latency": 100})
        tox = asyncio.run(_tick_delays(proxied, streams, ticks, interval_ms))
        api.delete_proxy("bench")
        err = [(x - 0.100) * 1e3 for x in tox]
        print(
            f"latency 100 ms, {streams} concurrent streams, 1 chunk / {interval_ms} ms each"
            f" (n={len(tox)} chunks):\n  per-chunk delay direct p50 {percentile(base, 50) * 1e3:.3f} ms"
            f" p99 {percentile(base, 99) * 1e3:.3f} ms;"
            f" proxied minus 100 ms p50 {percentile(err, 50):+.3f} ms, p99 {percentile(err, 99):+.3f} ms,"
            f" min {min(err):+.3f}, max {max(err):+.3f}"
        )
        bulk_p = statistics.median(bp)
        print(
            f"targets: added p50 <= 0.3 ms: {'PASS' if ping_added <= 0.0003 else 'FAIL'} "
            f"({ping_added * 1e3:.3f} ms); bulk >= 100 MB/s: {'PASS' if bulk_p >= 100 else 'FAIL'} "
            f"({bulk_p:.0f} MB/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
