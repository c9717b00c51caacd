"""The TLS probe: a handshake with the vendor host (through the proxy address, SNI kept), checking the
version and the certificate; tested with trustme certificates on a loopback TLS server."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
import trustme
from probe_vendor import Behaviour, serve_vendor

from harness.client import Target, make_http_client
from harness.config import Endpoint, Price
from harness.probes import ProbeOptions, check_tls, run_probes

KEY = "tls-vendor-key-123456"
HOST = "vendor.test"
OPTS = ProbeOptions(overlong_tokens=6_000, timeout_s=3, answer_timeout_s=5)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_ctx(ca: trustme.CA, *names: str, not_after: dt.datetime | None = None, seen=None):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names, not_after=not_after).configure_cert(ctx)
    if seen is not None:
        ctx.sni_callback = lambda _s, name, _c: seen.append(name)
    return ctx


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def target(port: int) -> Target:
    ep = Endpoint(name="v", dialect="openai-chat", model="m", base_url=f"https://{HOST}/v1", api_key_env="K")
    return Target(ep, f"https://{HOST}/v1", ("127.0.0.1", port), KEY, Price())


def test_valid_certificate_via_proxy_address_passes_with_sni(ca) -> None:
    seen: list = []
    client = make_http_client(max_connections=4, verify=trusting(ca))
    try:
        with serve_vendor(Behaviour(key=KEY), tls=server_ctx(ca, HOST, seen=seen)) as port:
            res = {
                r.probe: r
                for r in run_probes({"v": target(port)}, client, options=OPTS, tls_context=trusting(ca))
            }
    finally:
        client.close()
    assert res["tls"].passed is True, res["tls"].observed
    assert res["tls"].observed.startswith(("TLSv1.3", "TLSv1.2"))
    assert "certificate valid until" in res["tls"].observed
    assert set(seen) == {HOST}  # the handshake and every request named the vendor host
    assert {p for p, r in res.items() if r.passed is not True} == set()


def test_untrusted_certificate_fails_and_still_reports_the_version(ca) -> None:
    with serve_vendor(Behaviour(key=KEY), tls=server_ctx(ca, HOST)) as port:
        info = check_tls(f"https://{HOST}/v1", ("127.0.0.1", port), context=ssl.create_default_context())
    assert info.cert_valid is False and info.version in ("TLSv1.2", "TLSv1.3")
    assert "certificate not valid" in (info.error or "")


def test_certificate_for_another_host_fails(ca) -> None:
    client = make_http_client(max_connections=4, verify=trusting(ca))
    try:
        with serve_vendor(Behaviour(key=KEY), tls=server_ctx(ca, "other.test")) as port:
            res = {
                r.probe: r
                for r in run_probes({"v": target(port)}, client, options=OPTS, tls_context=trusting(ca))
            }
    finally:
        client.close()
    assert res["tls"].passed is False and HOST in res["tls"].observed
    assert res["bad_key"].passed is False  # no request got through the failed certificate check


def test_expired_certificate_fails(ca) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with serve_vendor(Behaviour(key=KEY), tls=server_ctx(ca, HOST, not_after=past)) as port:
        info = check_tls(f"https://{HOST}/v1", ("127.0.0.1", port), context=trusting(ca))
    assert info.cert_valid is False and "expired" in (info.error or "")


def test_nothing_listening_fails_fast() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    info = check_tls(f"https://{HOST}/v1", ("127.0.0.1", port), timeout_s=2)
    assert info.error is not None and "cannot connect" in info.error


def test_days_left_is_measured(ca) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=5)
    with serve_vendor(Behaviour(key=KEY), tls=server_ctx(ca, HOST, not_after=soon)) as port:
        info = check_tls(f"https://{HOST}/v1", ("127.0.0.1", port), context=trusting(ca))
    assert info.cert_valid and info.days_left is not None and 4.5 < info.days_left < 5.5
