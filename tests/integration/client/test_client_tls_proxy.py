"""HTTPS through a proxy address: the client dials the relay, while Host and TLS SNI stay the vendor's."""

from __future__ import annotations

import json
import ssl

import pytest
import trustme
from client_loopback import PROMPT, Conn, Relay, clock, make_endpoint, openai_stream

from harness.client import Target, make_http_client, run_attempt
from harness.config import Price


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_client(ca: trustme.CA):
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    c = make_http_client(max_connections=10, verify=ctx)
    yield c
    c.close()


def tls_server(serve, ca: trustme.CA, seen: dict):
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("vendor.test").configure_cert(server_ctx)

    def sni(sock: ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
        seen.setdefault("sni", []).append(name)

    server_ctx.sni_callback = sni

    def h(c: Conn) -> None:
        while c.read_request():
            seen.setdefault("host", []).append(c.header("host"))
            seen.setdefault("path", []).append(c.head.split(b" ")[1].decode())
            c.start_chunked()
            for ch in openai_stream(["Hello"]):
                c.chunk(ch)
            c.end_chunked()

    return serve(h, server_ctx)


def target(base_url: str, relay: Relay) -> Target:
    return Target(
        endpoint=make_endpoint(),
        base_url=base_url,
        connect_to=("127.0.0.1", relay.port),
        api_key="k",
        price=Price(),
    )


def run(client, t: Target):
    rec = run_attempt(
        client,
        t,
        PROMPT,
        clock=clock,
        run_id="r",
        request_id="c-1",
        attempt=1,
        contender="c",
        t_intended=clock(),
    )
    assert rec.error_class != "client_error", rec.error_detail
    return rec


def test_https_via_proxy_keeps_host_and_sni(serve, ca, tls_client) -> None:
    seen: dict = {}
    srv = tls_server(serve, ca, seen)
    relay = Relay(("127.0.0.1", srv.port))
    try:
        t = target("https://vendor.test:8443/v1", relay)
        recs = [run(tls_client, t) for _ in range(2)]
    finally:
        relay.close()
    assert [r.outcome for r in recs] == ["ok", "ok"], recs[0].error_detail
    assert seen["sni"] == ["vendor.test"]  # one TLS session, reused by the second attempt
    assert seen["host"] == ["vendor.test:8443", "vendor.test:8443"]
    assert seen["path"] == ["/v1/chat/completions"] * 2
    assert relay.connections == 1


def test_default_port_host_header_and_certificate_mismatch(serve, ca, tls_client) -> None:
    seen: dict = {}
    srv = tls_server(serve, ca, seen)
    relay = Relay(("127.0.0.1", srv.port))
    try:
        ok = run(tls_client, target("https://vendor.test/v1", relay))
        bad = run(tls_client, target("https://other.test/v1", relay))
    finally:
        relay.close()
    assert ok.outcome == "ok" and seen["host"] == ["vendor.test"]
    assert bad.error_class == "connect_refused" and "CERTIFICATE_VERIFY_FAILED" in bad.error_detail
    assert "other.test" in seen["sni"]  # the vendor name was offered as SNI, and the cert check used it


def test_tls_handshake_that_never_completes_is_a_connect_timeout(serve, tls_client) -> None:
    def silent(c: Conn) -> None:
        c.hold()

    srv = serve(silent)  # plain TCP accept, no TLS: the ClientHello is never answered
    relay = Relay(("127.0.0.1", srv.port))
    try:
        t = Target(
            endpoint=make_endpoint(connect=0.3),
            base_url="https://vendor.test/v1",
            connect_to=("127.0.0.1", relay.port),
            api_key=None,
            price=Price(),
        )
        rec = run(tls_client, t)
    finally:
        relay.close()
    assert rec.error_class == "connect_timeout", rec.error_detail


def test_plain_http_via_proxy_keeps_host(serve, client) -> None:
    seen: dict = {}

    def h(c: Conn) -> None:
        c.read_request()
        seen["host"] = c.header("host")
        seen["body"] = json.loads(c.body)
        c.start_chunked()
        for ch in openai_stream(["Hello"]):
            c.chunk(ch)
        c.end_chunked()

    srv = serve(h)
    relay = Relay(("127.0.0.1", srv.port))
    try:
        rec = run(client, target("http://api.vendor.test:9999/v1", relay))
    finally:
        relay.close()
    assert rec.outcome == "ok" and seen["host"] == "api.vendor.test:9999" and seen["body"]["model"] == "m-1"


def test_ca_bundle_path_as_verify(serve, ca, tmp_path) -> None:
    seen: dict = {}
    srv = tls_server(serve, ca, seen)
    relay = Relay(("127.0.0.1", srv.port))
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    client = make_http_client(max_connections=4, verify=str(bundle))
    try:
        rec = run(client, target("https://vendor.test/v1", relay))
    finally:
        client.close()
        relay.close()
    assert rec.outcome == "ok", rec.error_detail
