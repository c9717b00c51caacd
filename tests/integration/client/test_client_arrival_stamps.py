"""Chunk arrival times come from the kernel's receive stamps, not from when the client got round to reading.

A busy load generator reads each chunk some time after it arrived; the records must not carry that
delay. The loopback server notes the monotonic time just before each write; the client reads late on
purpose (its clock sleeps before every reading, as a starved reader would) and the recorded times must
still sit on the writes.
"""

from __future__ import annotations

import socket
import ssl
import statistics
import time

import pytest
import trustme
from client_loopback import PROMPT, Conn, make_endpoint, make_target, openai_chunk

from harness.client import make_http_client, run_attempt
from harness.client._transport import recv_stamped, stamp_arrivals

LATE_S = 0.015  # how late the reader is at every chunk
GAP_S = 0.04  # between the server's writes: the late reader still gets one chunk per read
TOLERANCE_S = 0.004


@pytest.fixture(autouse=True, scope="module")
def _stamping_on():
    """Keep one stamping socket open: the kernel turns receive stamps on a moment after the first socket
    asks (deferred work) and off again after the last one closes; tests must not race that switch."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    cli = socket.create_connection(lsock.getsockname())
    srv, _ = lsock.accept()
    assert stamp_arrivals(cli)
    for _ in range(100):
        srv.sendall(b".")
        if recv_stamped(cli, 1)[1]:
            break
        time.sleep(0.01)
    else:
        pytest.fail("the kernel never stamped a received segment")
    yield
    for s in (cli, srv, lsock):
        s.close()


def test_recv_stamped_reports_when_the_bytes_arrived_not_when_they_were_read() -> None:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    cli = socket.create_connection(lsock.getsockname())
    srv, _ = lsock.accept()
    try:
        assert stamp_arrivals(cli)
        sent = time.monotonic()
        srv.sendall(b"hello")
        time.sleep(0.06)
        data, rx = recv_stamped(cli, 100)
        read_at = time.monotonic()
        assert data == b"hello"
        # at the send (a busy machine may preempt between noting the time and the send), not 60 ms later
        assert -0.001 < rx - sent < 0.02, (rx - sent, read_at - sent)
        assert read_at - rx >= 0.05  # the read itself came 60 ms later
        # an unstamped socket reads the same bytes with no stamp (0.0: the caller falls back to its clock)
        plain = socket.create_connection(lsock.getsockname())
        peer, _ = lsock.accept()
        peer.sendall(b"x")
        time.sleep(0.01)
        assert recv_stamped(plain, 10) == (b"x", 0.0)
        plain.close()
        peer.close()
    finally:
        cli.close()
        srv.close()
        lsock.close()


def _late_clock() -> float:
    time.sleep(LATE_S)
    return time.monotonic()


def _paced_stream(writes: list[float]):
    def handler(c: Conn) -> None:
        if c.read_request():
            c.start_chunked(200, {"x-request-id": "req_1"})
            for i, word in enumerate(["Hello", " there", " my", " friend"]):
                time.sleep(GAP_S)
                writes.append(time.monotonic())
                c.chunk(openai_chunk(word, finish="stop" if i == 3 else None))
            c.chunk(b"data: [DONE]\n\n")
            c.end_chunked()

    return handler


def _attempt(client, target):
    return run_attempt(
        client,
        target,
        PROMPT,
        clock=_late_clock,
        run_id="r",
        request_id="x",
        attempt=1,
        contender="c",
        t_intended=time.monotonic(),
    )


def test_late_reader_still_records_the_arrival_times(serve) -> None:
    writes: list[float] = []
    srv = serve(_paced_stream(writes))
    client = make_http_client(max_connections=4)
    try:
        rec = _attempt(client, make_target(srv.url, make_endpoint()))
    finally:
        client.close()
    assert rec.outcome == "ok", rec.error_detail
    assert len(rec.chunk_times) == len(writes) == 4
    errors = [t - w for t, w in zip(rec.chunk_times, writes, strict=True)]
    # typically within TOLERANCE_S of the write (one sample may be preempted on a busy machine), never
    # before it, never as late as the reader
    assert statistics.median(errors) < TOLERANCE_S, errors
    assert all(0 <= e < LATE_S - 0.001 for e in errors), errors
    assert rec.t_first_token == rec.chunk_times[0] and rec.t_last_token == rec.chunk_times[-1]
    assert rec.t_end - rec.t_last_token < TOLERANCE_S  # the terminal event came with the last chunk


def test_over_tls_the_read_time_is_used(serve) -> None:
    """TLS hides the segments from the reader: no stamp, so the times are the reader's (late) clock."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("vendor.test").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    writes: list[float] = []
    srv = serve(_paced_stream(writes), ssl_context=server_ctx)
    client = make_http_client(max_connections=4, verify=client_ctx)
    try:
        target = make_target("https://vendor.test", make_endpoint(), connect_to=("127.0.0.1", srv.port))
        rec = _attempt(client, target)
    finally:
        client.close()
    assert rec.outcome == "ok", rec.error_detail
    errors = [t - w for t, w in zip(rec.chunk_times, writes, strict=True)]
    assert all(e >= LATE_S for e in errors), errors


@pytest.mark.parametrize("late", [False, True])
def test_stamps_never_precede_dispatch_or_follow_the_read(serve, late: bool) -> None:
    writes: list[float] = []
    srv = serve(_paced_stream(writes))
    client = make_http_client(max_connections=4)
    clock = _late_clock if late else time.monotonic
    try:
        rec = run_attempt(
            client,
            make_target(srv.url, make_endpoint()),
            PROMPT,
            clock=clock,
            run_id="r",
            request_id="x",
            attempt=1,
            contender="c",
            t_intended=time.monotonic(),
        )
    finally:
        client.close()
    assert rec.outcome == "ok"
    times = [rec.t_dispatch, rec.t_headers, *rec.chunk_times]
    assert times == sorted(times) and rec.t_end >= rec.chunk_times[-1]
