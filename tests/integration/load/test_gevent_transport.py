"""The geventhttpclient transport under ``run_attempt``: streaming timing, keep-alive, error classes, TLS
through a proxy address with Host and SNI kept.

gevent must never be imported by the test process, so this file is also the probe: pytest runs it as a
script in a child process (``python this_file.py``), which monkey-patches, runs every scenario against
loopback servers (greenlets on 127.0.0.1, port 0) and prints one JSON line of observations; the tests
assert on those.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BUSY_MS = 250
"""How late a timer or a write may fire on a busy 2-core machine (two suites at once, a CPU hog beside):
bounds below that are about lateness allow it; bounds about earliness or ordering never do."""


def _at_arrival(errors_ms: list[float]) -> bool:
    """Stamped chunk times sit on the server's writes: typically under 4 ms after it, never before it,
    and never as late as the reader (15 ms). One sample may be preempted between noting the time and the
    write on a busy machine, so the typical error is the median."""
    return statistics.median(errors_ms) < 4 and all(0 <= e < 14 for e in errors_ms)


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__))],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_chunks_are_yielded_as_they_arrive(probe: dict[str, Any]) -> None:
    gaps = probe["raw_gaps_ms"]
    assert len(gaps) == 4, gaps  # five chunks, each its own read
    # written 50 ms apart: never coalesced nor early; late only by how busy the machine is
    assert all(40 <= g <= 50 + BUSY_MS for g in gaps), gaps
    assert probe["raw_body"] == "one|two|three|four|five|"


def test_attempt_ok_times_chunks_and_reuses_the_connection(probe: dict[str, Any]) -> None:
    ok = probe["ok"]
    assert ok["outcome"] == "ok" and ok["status"] == 200, ok
    assert ok["chunks"] == 3 and ok["output_tokens"] == 3
    assert all(25 <= g <= 40 + BUSY_MS for g in ok["gaps_ms"]), ok["gaps_ms"]  # written 40 ms apart
    assert 80 <= ok["ttft_ms"] <= 100 + BUSY_MS, ok  # first token written 100 ms after the request
    assert probe["ok_connections"] == 1 and probe["ok_requests"] == 3  # one keep-alive connection


def test_chunk_times_are_the_kernel_arrival_times_when_the_reader_is_late(probe: dict[str, Any]) -> None:
    # the server blocks the whole hub for 15 ms after each write, so every read comes >= 15 ms late
    late = probe["late"]
    assert late["stamped"]["outcome"] == "ok" and len(late["stamped"]["errors_ms"]) == 4, late
    assert _at_arrival(late["stamped"]["errors_ms"]), late  # recorded at the arrival
    assert all(e >= 14 for e in late["unstamped"]["errors_ms"]), late  # without stamps: at the read


def test_over_tls_too_chunk_times_are_the_kernel_arrival_times(probe: dict[str, Any]) -> None:
    # TLS runs over memory BIOs on the plain socket, so the encrypted bytes are read with their stamps
    late = probe["late"]
    assert late["tls_stamped"]["outcome"] == "ok" and len(late["tls_stamped"]["errors_ms"]) == 4, late
    assert _at_arrival(late["tls_stamped"]["errors_ms"]), late
    assert late["tls_unstamped"]["outcome"] == "ok", late
    assert all(e >= 14 for e in late["tls_unstamped"]["errors_ms"]), late


@pytest.mark.parametrize(
    ("case", "error_class", "detail"),
    [
        ("refused", "connect_refused", "refused"),
        ("connect_timeout", "connect_timeout", "no connection within"),
        ("ttft_timeout", "read_timeout", "no first token within 0.3 s"),
        ("idle_timeout", "read_timeout", "idle gap between chunks over 0.3 s"),
        ("closed_early", "conn_closed_early", "disconnected"),
        ("fin_mid_stream", "stream_truncated", "without"),
        ("reset_mid_stream", "conn_reset", ""),
        ("garbage", "conn_closed_early", "malformed"),
        ("tls_untrusted", "connect_refused", "TLS handshake"),
    ],
)
def test_errors_keep_the_taxonomy(probe: dict[str, Any], case: str, error_class: str, detail: str) -> None:
    rec = probe["errors"][case]
    assert rec["error_class"] == error_class, rec
    assert detail.lower() in (rec["error_detail"] or "").lower(), rec


def test_timeouts_fire_on_time(probe: dict[str, Any]) -> None:
    # 0.3 s timeouts: never early; late only by how busy the machine is
    assert 0.28 <= probe["errors"]["ttft_timeout"]["elapsed"] <= 0.3 + BUSY_MS / 1e3
    assert 0.28 <= probe["errors"]["connect_timeout"]["elapsed"] <= 0.3 + BUSY_MS / 1e3 + 0.2


def test_https_through_proxy_address_keeps_host_and_sni(probe: dict[str, Any]) -> None:
    tls = probe["tls"]
    assert tls["outcome"] == "ok", tls
    assert tls["sni"] == ["vendor.test"] and tls["host"] == ["vendor.test", "vendor.test"]
    assert tls["connections"] == 1  # the TLS connection is kept alive and reused


def test_plain_request_merges_headers_and_reads_the_body(probe: dict[str, Any]) -> None:
    plain = probe["plain"]
    assert plain["status"] == 200 and plain["path"] == "/x?q=1"
    h = plain["headers"]
    assert h["user-agent"] == ["probe"]  # the caller's value replaces the client default, never both
    assert h["x-extra"] == ["1"] and h["accept-encoding"] == ["identity"] and len(h["host"]) == 1


def test_interim_response_is_skipped(probe: dict[str, Any]) -> None:
    assert probe["interim"] == [200, "ok"]


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("many_headers", "over 256 header fields (limits.headers)"),
        ("endless_interim", "response head over 65536 bytes (limits.head_bytes)"),
        ("head_over_bound", "response head over 16384 bytes (limits.head_bytes)"),
    ],
)
def test_a_response_head_past_its_bounds_ends_the_attempt(
    probe: dict[str, Any], case: str, detail: str
) -> None:
    rec = probe["bounds"][case]
    assert rec["error_class"] == "response_too_large" and detail in rec["error_detail"], rec
    assert rec["elapsed"] < 2.0, rec  # the bound, not a timeout, ended it


def test_an_attempt_cut_in_flight_keeps_its_timings(probe: dict[str, Any]) -> None:
    cut = probe["cut"]
    assert cut["error_class"] == "run_ended" and "test cut" in cut["error_detail"], cut
    assert cut["t_headers"] is not None and cut["chunks"] == 1  # what it reached before the cut
    assert cut["t_end"] >= cut["t_first_token"]
    assert cut["released"]  # the connection was closed, its pool slot returned


def test_pool_slots_are_returned(probe: dict[str, Any]) -> None:
    # after every scenario (errors included) all slots are free again: a leak would block new requests
    assert probe["free_slots"] == probe["max_connections"]


# --------------------------------------------------------------------------------------------------
# the probe (child process only)
# --------------------------------------------------------------------------------------------------
def _main() -> None:  # pragma: no cover - runs in the child
    from gevent import monkey

    monkey.patch_all()
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]  # as harness/load does

    import socket
    import ssl
    import struct
    import time

    import gevent
    import trustme

    from harness.client import Target, run_attempt
    from harness.config import Endpoint, Price, PromptItem
    from harness.load._gevent_transport import make_gevent_client

    def serve(
        handler: Any, ctx: ssl.SSLContext | None = None, backlog: int = 64
    ) -> tuple[int, dict[str, Any]]:
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(backlog)
        stats: dict[str, Any] = {"connections": 0, "requests": 0, "sni": [], "host": [], "ls": ls}

        def one(conn: socket.socket) -> None:
            try:
                if ctx is not None:
                    conn = ctx.wrap_socket(conn, server_side=True)
                handler(conn, stats)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

        def loop() -> None:
            while True:
                conn, _ = ls.accept()
                stats["connections"] += 1
                gevent.spawn(one, conn)

        gevent.spawn(loop)
        return ls.getsockname()[1], stats

    def read_request(conn: socket.socket, stats: dict[str, Any], buf: bytearray) -> bool:
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return False
            buf += data
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        length = 0
        stats["path"] = head.split(b" ")[1].decode()
        stats["headers"] = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            stats["headers"].setdefault(name.strip().lower().decode(), []).append(value.strip().decode())
            if name.strip().lower() == b"content-length":
                length = int(value)
            if name.strip().lower() == b"host":
                stats["host"].append(value.strip().decode())
        while len(rest) < length:
            rest += conn.recv(65536)
        buf[:] = rest[length:]
        stats["requests"] += 1
        return True

    def chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    def sse(text: str | None = None, *, finish: bool = False) -> bytes:
        delta = {"content": text} if text is not None else {}
        choice = {"index": 0, "delta": delta, "finish_reason": "stop" if finish else None}
        return b"data: " + json.dumps({"id": "c1", "model": "m", "choices": [choice]}).encode() + b"\n\n"

    stream_head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-request-id: req_1\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )

    def openai_ok(conn: socket.socket, stats: dict[str, Any]) -> None:
        buf = bytearray()
        while read_request(conn, stats, buf):
            gevent.sleep(0.1)
            conn.sendall(stream_head + chunk(sse("Hello")))
            for word in (" there", " friend"):
                gevent.sleep(0.04)
                conn.sendall(chunk(sse(word)))
            conn.sendall(chunk(sse(finish=True) + b"data: [DONE]\n\n") + b"0\r\n\r\n")

    def raw_chunks(conn: socket.socket, stats: dict[str, Any]) -> None:
        buf = bytearray()
        if read_request(conn, stats, buf):
            conn.sendall(stream_head)
            for word in (b"one", b"two", b"three", b"four", b"five"):
                conn.sendall(chunk(word + b"|"))
                gevent.sleep(0.05)
            conn.sendall(b"0\r\n\r\n")

    def stall_before_first(conn: socket.socket, stats: dict[str, Any]) -> None:
        buf = bytearray()
        if read_request(conn, stats, buf):
            conn.sendall(stream_head)
            gevent.sleep(3)

    def stall_after_first(conn: socket.socket, stats: dict[str, Any]) -> None:
        buf = bytearray()
        if read_request(conn, stats, buf):
            conn.sendall(stream_head + chunk(sse("Hi")))
            gevent.sleep(3)

    def close_early(conn: socket.socket, stats: dict[str, Any]) -> None:
        read_request(conn, stats, bytearray())

    def fin_mid(conn: socket.socket, stats: dict[str, Any]) -> None:
        if read_request(conn, stats, bytearray()):
            conn.sendall(stream_head + chunk(sse("Hi")))
            gevent.sleep(0.02)

    def rst_mid(conn: socket.socket, stats: dict[str, Any]) -> None:
        if read_request(conn, stats, bytearray()):
            conn.sendall(stream_head + chunk(sse("Hi")))
            gevent.sleep(0.02)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def garbage(conn: socket.socket, stats: dict[str, Any]) -> None:
        if read_request(conn, stats, bytearray()):
            conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            gevent.sleep(0.2)

    prompt = PromptItem.model_validate({"id": "p", "messages": [{"role": "user", "content": "hi"}]})
    t0 = time.perf_counter()

    def clock() -> float:
        return round(time.perf_counter() - t0, 6)

    def target(
        base_url: str,
        connect_to: tuple[str, int] | None = None,
        limits: dict[str, Any] | None = None,
        **timeouts: float,
    ) -> Target:
        ep = Endpoint.model_validate(
            {
                "name": "v",
                "dialect": "openai-chat",
                "model": "m",
                "base_url": base_url,
                "timeouts": {"connect": 2, "ttft": 5, "idle": 5, "total": 10, **timeouts},
                "limits": limits or {},
            }
        )
        return Target(endpoint=ep, base_url=base_url, connect_to=connect_to, api_key="k", price=Price())

    def attempt(client: Any, t: Target) -> dict[str, Any]:
        start = time.perf_counter()
        rec = run_attempt(
            client, t, prompt, clock=clock, run_id="r", request_id="x", attempt=1, contender="c", t_intended=0
        )
        ct = rec.chunk_times
        return {
            "outcome": rec.outcome,
            "status": rec.status,
            "error_class": rec.error_class,
            "error_detail": rec.error_detail,
            "chunks": len(ct),
            "output_tokens": rec.output_tokens,
            "gaps_ms": [(b - a) * 1e3 for a, b in itertools.pairwise(ct)],
            "ttft_ms": ((rec.t_first_token or 0) - rec.t_dispatch) * 1e3,
            "elapsed": time.perf_counter() - start,
        }

    max_conn = 50
    client = make_gevent_client(max_connections=max_conn)
    result: dict[str, Any] = {"max_connections": max_conn}

    port, _ = serve(raw_chunks)
    times: list[float] = []
    parts: list[bytes] = []
    with client.stream("GET", f"http://127.0.0.1:{port}/raw") as resp:
        for data in resp.iter_raw():
            times.append(time.perf_counter())
            parts.append(data)
    result["raw_gaps_ms"] = [(b - a) * 1e3 for a, b in itertools.pairwise(times)]
    result["raw_body"] = b"".join(parts).decode()

    def echo_headers(conn: socket.socket, stats: dict[str, Any]) -> None:
        buf = bytearray()
        while read_request(conn, stats, buf):
            body = json.dumps(stats["headers"]).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
            conn.sendall(b"content-length: %d\r\n\r\n%s" % (len(body), body))

    def interim_then_ok(conn: socket.socket, stats: dict[str, Any]) -> None:
        if read_request(conn, stats, bytearray()):
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            gevent.sleep(0.02)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    port, _ = serve(interim_then_ok)
    interim = client.get(f"http://127.0.0.1:{port}/")
    result["interim"] = [interim.status_code, interim.text]

    port, stats = serve(echo_headers)
    plain = client.get(f"http://127.0.0.1:{port}/x?q=1", headers={"User-Agent": "probe", "x-extra": "1"})
    result["plain"] = {"status": plain.status_code, "headers": plain.json(), "path": stats["path"]}

    writes: list[float] = []

    def late_paced(conn: socket.socket, stats: dict[str, Any]) -> None:
        buf = bytearray()
        while read_request(conn, stats, buf):
            conn.sendall(stream_head)
            for i, word in enumerate(("Hello", " there", " my", " friend")):
                gevent.sleep(0.04)
                writes.append(clock())
                conn.sendall(chunk(sse(word) + (sse(finish=True) + b"data: [DONE]\n\n" if i == 3 else b"")))
                busy_until = time.perf_counter() + 0.015
                while time.perf_counter() < busy_until:  # blocks the hub: the reader wakes late
                    pass
            # the end of the body after the reader's wake-up: in one read with the last chunk, the kernel
            # would report the later of the two arrivals for both
            gevent.sleep(0.02)
            conn.sendall(b"0\r\n\r\n")

    late: dict[str, Any] = {}

    def late_attempt(name: str, t: Target, stamp: bool, verify: Any = True) -> None:
        late_client = make_gevent_client(max_connections=4, verify=verify)
        late_client.gevent_transport._stamp = stamp  # type: ignore[attr-defined]
        writes.clear()
        rec = run_attempt(
            late_client,
            t,
            prompt,
            clock=clock,
            run_id="r",
            request_id="late",
            attempt=1,
            contender="c",
            t_intended=0,
        )
        late[name] = {
            "outcome": rec.outcome,
            "error": rec.error_detail,
            "errors_ms": [(t - w) * 1e3 for t, w in zip(rec.chunk_times, writes, strict=False)],
        }
        late_client.close()

    port, _ = serve(late_paced)
    late_attempt("stamped", target(f"http://127.0.0.1:{port}/v1"), True)
    late_attempt("unstamped", target(f"http://127.0.0.1:{port}/v1"), False)
    result["late"] = late

    port, stats = serve(openai_ok)
    t_ok = target(f"http://127.0.0.1:{port}/v1")
    result["ok"] = attempt(client, t_ok)
    attempt(client, t_ok)
    attempt(client, t_ok)
    result["ok_connections"], result["ok_requests"] = stats["connections"], stats["requests"]

    errors: dict[str, Any] = {}
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    errors["refused"] = attempt(client, target(f"http://127.0.0.1:{dead_port}/v1"))
    # a listener that never accepts, its queue filled: further SYNs are dropped, so connect hangs
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(OSError):
            s.connect(full.getsockname())
        fillers.append(s)
    gevent.sleep(0.05)
    errors["connect_timeout"] = attempt(
        client, target(f"http://127.0.0.1:{full.getsockname()[1]}/v1", connect=0.3)
    )
    for name, handler, tos in (
        ("ttft_timeout", stall_before_first, {"ttft": 0.3}),
        ("idle_timeout", stall_after_first, {"idle": 0.3}),
        ("closed_early", close_early, {}),
        ("fin_mid_stream", fin_mid, {}),
        ("reset_mid_stream", rst_mid, {}),
        ("garbage", garbage, {}),
    ):
        port, _ = serve(handler)
        errors[name] = attempt(client, target(f"http://127.0.0.1:{port}/v1", **tos))

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("vendor.test").configure_cert(server_ctx)
    tls_stats: dict[str, Any] = {}

    def on_sni(_sock: Any, name: str | None, _ctx: Any) -> None:
        tls_stats.setdefault("sni", []).append(name)

    server_ctx.sni_callback = on_sni
    port, stats = serve(openai_ok, server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    tls_client = make_gevent_client(max_connections=10, verify=client_ctx)
    t_tls = target("https://vendor.test/v1", connect_to=("127.0.0.1", port))
    tls = attempt(tls_client, t_tls)
    attempt(tls_client, t_tls)
    tls.update(sni=list(tls_stats.get("sni", [])), host=list(stats["host"]), connections=stats["connections"])
    result["tls"] = tls
    port, _ = serve(late_paced, server_ctx)
    late_tls = target("https://vendor.test/v1", connect_to=("127.0.0.1", port))
    late_attempt("tls_stamped", late_tls, True, client_ctx)
    late_attempt("tls_unstamped", late_tls, False, client_ctx)
    errors["tls_untrusted"] = attempt(client, t_tls)  # the default trust store does not know this CA
    tls_client.close()

    def many_headers(conn: socket.socket, stats: dict[str, Any]) -> None:
        if read_request(conn, stats, bytearray()):
            fields = b"".join(b"x-h%d: v\r\n" % i for i in range(300))
            conn.sendall(b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n")
            gevent.sleep(2)

    def endless_interim(conn: socket.socket, stats: dict[str, Any]) -> None:
        if read_request(conn, stats, bytearray()):
            for _ in range(100_000):
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" * 100)

    def big_head(conn: socket.socket, stats: dict[str, Any]) -> None:
        if read_request(conn, stats, bytearray()):
            conn.sendall(b"HTTP/1.1 200 OK\r\nx-request-id: " + b"r" * 20_000 + b"\r\n\r\n")
            gevent.sleep(2)

    bounds: dict[str, Any] = {}
    for name, handler, limits in (
        ("many_headers", many_headers, {}),
        ("endless_interim", endless_interim, {}),
        ("head_over_bound", big_head, {"head_bytes": "16KiB"}),
    ):
        port, _ = serve(handler)
        bounds[name] = attempt(client, target(f"http://127.0.0.1:{port}/v1", limits=limits))
    result["bounds"] = bounds

    from harness.client import RunEnded

    port, _ = serve(stall_after_first)
    free_before = client.gevent_transport._slots.counter  # type: ignore[attr-defined]
    g = gevent.spawn(
        run_attempt,
        client,
        target(f"http://127.0.0.1:{port}/v1"),
        prompt,
        clock=clock,
        run_id="r",
        request_id="cut",
        attempt=1,
        contender="c",
        t_intended=0,
    )
    gevent.sleep(0.3)
    g.kill(RunEnded("test cut"), block=True, timeout=2)
    cut = g.value
    result["cut"] = {
        "error_class": cut.error_class,
        "error_detail": cut.error_detail,
        "t_headers": cut.t_headers,
        "t_first_token": cut.t_first_token,
        "t_end": cut.t_end,
        "chunks": len(cut.chunk_times),
        "released": client.gevent_transport._slots.counter == free_before,  # type: ignore[attr-defined]
    }

    result["errors"] = errors
    result["free_slots"] = client.gevent_transport._slots.counter  # type: ignore[attr-defined]
    client.close()
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    _main()
