"""Issue 13, observation 6: one event, one class. A vendor that refuses connections is ``connect_refused``
whether an injected outage closed the proxy's listener or the vendor itself refuses behind the proxy
(nothing listening, or killed mid-run), although the proxy (Toxiproxy, and the embedded one with it)
accepts the client first and then closes it. A vendor that is up keeps the class of what happened."""

from __future__ import annotations

import socket

from client_loopback import PROMPT, Conn, clock, make_endpoint, make_target, openai_stream

from harness.client import run_attempt
from harness.faults import ToxiproxyClient, serve_proxy_in_thread


def free_port() -> int:
    with socket.socket() as s:  # bound, never listening, then freed: connects to it are refused
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def attempt(client, url: str, proxy_port: int):
    target = make_target(url, make_endpoint(), connect_to=("127.0.0.1", proxy_port))
    return run_attempt(
        client,
        target,
        PROMPT,
        clock=clock,
        run_id="r",
        request_id="c-1",
        attempt=1,
        contender="c",
        t_intended=0,
    )


def ok_stream(c: Conn) -> None:
    """One answer per connection (the vendor closes it after): a later attempt needs a new connection."""
    if c.read_request():
        c.start_chunked(headers={"connection": "close"})
        for frame in openai_stream(["Hello"]):
            c.chunk(frame)
        c.end_chunked()


def test_nothing_listening_behind_the_proxy_is_connect_refused(client) -> None:
    port = free_port()
    with serve_proxy_in_thread() as srv, ToxiproxyClient(srv.url) as api:
        proxy = api.create_proxy("vendor", upstream=f"127.0.0.1:{port}")
        rec = attempt(client, f"http://127.0.0.1:{port}", int(proxy["listen"].rpartition(":")[2]))
    assert rec.error_class == "connect_refused" and rec.status is None
    assert f"the vendor at 127.0.0.1:{port} refused the connection behind the proxy" in rec.error_detail
    assert rec.t_end - rec.t_dispatch < 1.0


def test_a_vendor_killed_mid_run_is_connect_refused_like_an_outage(serve, client) -> None:
    vendor = serve(ok_stream)
    with serve_proxy_in_thread() as srv, ToxiproxyClient(srv.url) as api:
        proxy = api.create_proxy("vendor", upstream=f"127.0.0.1:{vendor.port}")
        listen = int(proxy["listen"].rpartition(":")[2])
        assert attempt(client, vendor.url, listen).outcome == "ok"
        vendor.close()  # the vendor dies: its port now refuses connections
        killed = attempt(client, vendor.url, listen)
        api.update_proxy("vendor", enabled=False)  # an injected outage, for comparison
        outage = attempt(client, vendor.url, listen)
    assert killed.error_class == outage.error_class == "connect_refused", killed.error_detail


def test_a_live_vendor_behind_a_reset_keeps_its_class(serve, client) -> None:
    vendor = serve(ok_stream)
    with serve_proxy_in_thread() as srv, ToxiproxyClient(srv.url) as api:
        proxy = api.create_proxy("vendor", upstream=f"127.0.0.1:{vendor.port}")
        api.add_toxic("vendor", "reset_peer", {"timeout": 0}, stream="upstream")
        rec = attempt(client, vendor.url, int(proxy["listen"].rpartition(":")[2]))
    # the connection closed before any answer, but the vendor accepted the direct check: not a refusal
    assert rec.error_class in ("conn_reset", "conn_closed_early"), rec.error_detail
