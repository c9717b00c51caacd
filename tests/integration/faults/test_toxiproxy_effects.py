"""Each toxic measured on loopback against its expected effect, through the embedded server run as a process.

Upstream: a thread-per-connection server. A request ``STREAM n interval_ms size\\n`` answers ``n`` chunks of
``size`` bytes, ``interval_ms`` apart, then closes; anything else is echoed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_loopback import LoopbackServer

from harness.faults import ToxiproxyClient

ROOT = Path(__file__).resolve().parents[3]


class Upstream(LoopbackServer):
    """Echoes, or on ``STREAM n interval_ms size`` writes n chunks at that interval."""

    def __init__(self) -> None:
        super().__init__(backlog=512)

    def handle(self, c: socket.socket) -> None:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(10)
        with contextlib.suppress(OSError), c:
            first = c.recv(65536)
            if first.startswith(b"STREAM "):
                n, interval_ms, size = (int(x) for x in first.split()[1:4])
                for i in range(n):
                    if i:
                        time.sleep(interval_ms / 1000)
                    c.sendall(bytes([48 + i % 10]) * size)
                return
            data = first
            while data:
                c.sendall(data)
                data = c.recv(65536)


@pytest.fixture(scope="module")
def api() -> Iterator[ToxiproxyClient]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.faults", "--port", "0", "--seed", "11"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("toxiproxy-compatible API listening on "), line
        with ToxiproxyClient(line.split()[-1], timeout=5.0) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    u = Upstream()
    yield u
    u.close()


@pytest.fixture
def listen(
    api: ToxiproxyClient, upstream: Upstream, request: pytest.FixtureRequest
) -> Iterator[tuple[str, int]]:
    name = request.node.name[:60]
    p = api.create_proxy(name, upstream.addr)
    host, _, port = p["listen"].rpartition(":")
    yield host, int(port)
    api.delete_proxy(name)


LATE_S = 0.025
"""How late a timer may fire on a busy 2-core machine (two suites at once, a CPU hog beside)."""


def connect(addr: tuple[str, int]) -> socket.socket:
    s = socket.create_connection(addr, timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_all(s: socket.socket) -> tuple[bytes, list[tuple[float, int]]]:
    """Read to EOF; returns the bytes and (time, size) per read."""
    out: list[bytes] = []
    reads: list[tuple[float, int]] = []
    while data := s.recv(65536):
        reads.append((time.perf_counter(), len(data)))
        out.append(data)
    return b"".join(out), reads


def ttft(addr: tuple[str, int]) -> float:
    with connect(addr) as s:
        t = time.perf_counter()
        s.sendall(b"STREAM 3 5 64\n")
        assert s.recv(1)
        return time.perf_counter() - t


def test_latency_adds_its_value_to_ttft(
    api: ToxiproxyClient, upstream: Upstream, listen: tuple[str, int]
) -> None:
    host, port = upstream.addr.rsplit(":", 1)
    target = (host, int(port))

    def added(n: int) -> tuple[float, float]:
        """Median of paired differences (proxied − direct, measured back to back), so a busy machine's
        drift between two separate series cannot pass for the toxic's effect; and the quickest proxied
        TTFT, which no toxic can make shorter than its latency (a difference can: a slow direct sample
        shrinks it by that sample's noise)."""
        pairs = [(ttft(listen), ttft(target)) for _ in range(n)]
        return statistics.median(p - d for p, d in pairs), min(p for p, _ in pairs)

    # A toxic never delays less than its value; a busy machine may add to it (timers fire late), so the
    # upper bounds allow LATE_S. Without a toxic the proxy adds next to nothing.
    assert added(7)[0] < LATE_S
    api.add_toxic(listen_name(api, listen), "latency", {"latency": 100})
    with_latency, quickest = added(7)
    assert quickest >= 0.100 - 0.002, quickest
    assert with_latency <= 0.100 + LATE_S, with_latency
    # Upstream latency delays the request bytes, which adds to TTFT too; several latencies add up.
    api.add_toxic(listen_name(api, listen), "latency", {"latency": 50}, stream="upstream")
    both, quickest = added(5)
    assert quickest >= 0.150 - 0.002, quickest
    assert 0.100 + LATE_S < both <= 0.150 + LATE_S, both  # more than the first toxic alone


def listen_name(api: ToxiproxyClient, addr: tuple[str, int]) -> str:
    want = f"{addr[0]}:{addr[1]}"
    return next(n for n, p in api.proxies().items() if p["listen"] == want)


def test_latency_applies_to_an_open_connection_and_removal_flushes(
    api: ToxiproxyClient, listen: tuple[str, int]
) -> None:
    name = listen_name(api, listen)
    with connect(listen) as s:
        s.sendall(b"a")
        assert s.recv(8) == b"a"
        api.add_toxic(name, "latency", {"latency": 1000})
        t = time.perf_counter()
        s.sendall(b"b")
        time.sleep(0.1)
        api.remove_toxic(name, "latency_downstream")  # held data goes out at once
        assert s.recv(8) == b"b"
        assert time.perf_counter() - t < 0.3


def test_jitter_never_reorders(api: ToxiproxyClient, listen: tuple[str, int]) -> None:
    api.add_toxic(listen_name(api, listen), "latency", {"latency": 20, "jitter": 15})
    with connect(listen) as s:
        s.sendall(b"STREAM 200 1 7\n")
        data, reads = recv_all(s)
    assert data == b"".join(bytes([48 + i % 10]) * 7 for i in range(200))
    assert len(reads) > 20


def test_bandwidth_within_ten_percent(api: ToxiproxyClient, listen: tuple[str, int]) -> None:
    api.add_toxic(listen_name(api, listen), "bandwidth", {"rate": 50})  # 50 KB/s, 1 KB = 1000 B
    with connect(listen) as s:
        t = time.perf_counter()
        s.sendall(b"STREAM 10 0 5000\n")  # 50 000 bytes: 1.0 s at 50 KB/s
        data, reads = recv_all(s)
    elapsed = reads[-1][0] - t
    assert len(data) == 50_000
    rate = 50_000 / elapsed
    assert 45_000 <= rate <= 55_000, rate


def test_limit_data_cuts_at_exactly_n_bytes(api: ToxiproxyClient, listen: tuple[str, int]) -> None:
    api.add_toxic(listen_name(api, listen), "limit_data", {"bytes": 1234})
    with connect(listen) as s:
        s.sendall(b"STREAM 10 1 1000\n")
        data, _ = recv_all(s)
    assert len(data) == 1234
    assert data == (b"0" * 1000 + b"1" * 234)


def test_timeout_closes_after_t_and_zero_holds(api: ToxiproxyClient, listen: tuple[str, int]) -> None:
    name = listen_name(api, listen)
    api.add_toxic(name, "timeout", {"timeout": 200})
    with connect(listen) as s:
        t = time.perf_counter()
        assert s.recv(16) == b""  # EOF, nothing delivered
        assert 0.19 <= time.perf_counter() - t <= 0.28
    api.update_toxic(name, "timeout_downstream", attributes={"timeout": 0})
    with connect(listen) as s:
        s.sendall(b"hello")
        s.settimeout(0.4)
        with pytest.raises(TimeoutError):
            s.recv(16)  # black hole: no data, no close
        s.settimeout(2)
        api.remove_toxic(name, "timeout_downstream")  # removal closes the connection it held
        assert s.recv(16) == b""


def test_reset_peer_gives_econnreset(api: ToxiproxyClient, listen: tuple[str, int]) -> None:
    name = listen_name(api, listen)
    with connect(listen) as early:  # opened before the toxic: closed with FIN, as in Toxiproxy
        early.sendall(b"x")
        assert early.recv(4) == b"x"
        api.add_toxic(name, "reset_peer", {"timeout": 50})
        with connect(listen) as s:
            t = time.perf_counter()
            s.sendall(b"hello")
            with pytest.raises(ConnectionResetError):
                s.recv(16)
            assert 0.045 <= time.perf_counter() - t <= 0.2
        early.sendall(b"y")
        assert early.recv(4) == b""


def test_slicer_splits_with_its_delay(api: ToxiproxyClient, listen: tuple[str, int]) -> None:
    attrs = {"average_size": 100, "size_variation": 0, "delay": 20_000}  # 20 ms
    api.add_toxic(listen_name(api, listen), "slicer", attrs)
    with connect(listen) as s:
        s.sendall(b"STREAM 1 0 800\n")
        data, reads = recv_all(s)
    assert len(data) == 800
    assert len(reads) >= 6  # 8 slices of 100 B (a read may catch two)
    assert reads[-1][0] - reads[0][0] >= 7 * 0.020 * 0.9


def test_disable_refuses_and_cuts_open_streams(api: ToxiproxyClient, listen: tuple[str, int]) -> None:
    name = listen_name(api, listen)
    with connect(listen) as s:
        s.sendall(b"STREAM 100 20 10\n")
        assert s.recv(10)
        api.update_proxy(name, enabled=False)
        t = time.perf_counter()
        rest, _ = recv_all(s)  # cut: EOF long before the 2 s stream ends
        assert time.perf_counter() - t < 0.2
        assert len(rest) < 100
    with pytest.raises(ConnectionRefusedError):
        connect(listen)
    api.update_proxy(name, enabled=True)
    with connect(listen) as s:
        s.sendall(b"back")
        assert s.recv(8) == b"back"


def test_toxicity_is_per_connection(api: ToxiproxyClient, listen: tuple[str, int]) -> None:
    api.add_toxic(listen_name(api, listen), "latency", {"latency": 20}, toxicity=0.5)
    toxic = mixed = 0
    for _ in range(150):
        with connect(listen) as s:
            s.sendall(b"w")  # warm-up: the first request also waits for the upstream dial
            assert s.recv(4) == b"w"
            slow = 0
            for _ in range(3):
                t = time.perf_counter()
                s.sendall(b"p")
                assert s.recv(4) == b"p"
                slow += time.perf_counter() - t >= 0.019  # a drawn toxic holds every chunk >= 20 ms
            toxic += slow == 3
            mixed += slow in (1, 2)
    assert 45 <= toxic <= 105, toxic  # 50 % of 150 connections; binomial sd ~6
    # Every request of a connection shares its draw: a per-request coin would mix ~75 % of connections.
    # A few may show a scheduling hiccup of >= 19 ms on a loaded 2-core machine.
    assert mixed <= 10, mixed
