"""HTTPS vendors through the embedded Toxiproxy: the client dials the proxy's listen address while the
Host header and TLS SNI stay the vendor's, so the certificate still verifies; toxics act on the stream."""

from __future__ import annotations

import contextlib
import json
import ssl
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import trustme
from vendors import http_vendor

from harness.client import Target, make_http_client, run_attempt
from harness.config import Endpoint, PromptItem
from harness.faults import ToxiproxyClient, serve_proxy_in_thread

SEEN: dict[str, list[str]] = {"host": [], "sni": []}


class _Vendor(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: object) -> None:
        pass

    def do_POST(self) -> None:  # an OpenAI-style stream of three deltas
        self.rfile.read(int(self.headers["content-length"]))
        SEEN["host"].append(self.headers["host"])
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        chunks += [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in ("Hello", " there")]
        chunks += [
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}},
        ]
        body = b"".join(
            b"data: "
            + json.dumps(
                {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m", **c}
            ).encode()
            + b"\n\n"
            for c in chunks
        )
        body += b"data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def vendor(ca: trustme.CA) -> Iterator[int]:
    SEEN["host"].clear()
    SEEN["sni"].clear()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("api.vendor.test").configure_cert(ctx)
    ctx.sni_callback = lambda _s, name, _c: SEEN["sni"].append(str(name))  # type: ignore[assignment,misc]
    with http_vendor(_Vendor, tls=ctx) as port:
        yield port


def attempt(client, target: Target):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    return run_attempt(
        client,
        target,
        PromptItem(id="p", messages=[{"role": "user", "content": "hi"}]),
        clock=lambda: time.perf_counter() - t0,
        run_id="r",
        request_id="c-1",
        attempt=1,
        contender="c",
        t_intended=0.0,
    )


@contextlib.contextmanager
def through_toxiproxy(
    ca: trustme.CA, vendor: int, host: str
) -> Iterator[tuple[ToxiproxyClient, Any, Target]]:
    """The embedded Toxiproxy in front of the vendor, a client trusting the test CA, and a Target for
    ``https://<host>:<vendor port>/v1`` that dials the proxy (``host`` never resolves)."""
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    ep = Endpoint(
        name="v", dialect="openai-chat", model="m", base_url=f"https://{host}:{vendor}/v1", api_key_env="K"
    )
    with (
        serve_proxy_in_thread() as srv,
        ToxiproxyClient(srv.url) as api,
        make_http_client(max_connections=4, verify=verify) as client,
    ):
        listen = api.create_proxy("v", upstream=f"127.0.0.1:{vendor}")["listen"]
        yield (
            api,
            client,
            Target(
                endpoint=ep,
                base_url=ep.base_url or "",
                connect_to=("127.0.0.1", int(listen.split(":")[1])),
                api_key="k",
                price=ep.price,
            ),
        )


def test_https_through_toxiproxy_keeps_host_and_sni_and_carries_toxics(ca: trustme.CA, vendor: int) -> None:
    with through_toxiproxy(ca, vendor, "api.vendor.test") as (api, client, target):
        plain = attempt(client, target)
        assert plain.outcome == "ok", plain.error_detail
        assert plain.output_excerpt == "Hello there"
        api.add_toxic("v", type="latency", attributes={"latency": 200})
        slowed = attempt(client, target)
        assert slowed.outcome == "ok", slowed.error_detail
        assert slowed.t_first_token is not None and plain.t_first_token is not None
        assert (slowed.t_first_token - slowed.t_dispatch) - (plain.t_first_token - plain.t_dispatch) > 0.15
    assert SEEN["host"] == [f"api.vendor.test:{vendor}"] * 2
    assert set(SEEN["sni"]) == {"api.vendor.test"}


def test_wrong_certificate_through_toxiproxy_is_refused(ca: trustme.CA, vendor: int) -> None:
    with through_toxiproxy(ca, vendor, "other.vendor.test") as (_api, client, target):
        rec = attempt(client, target)
    assert rec.outcome == "error" and rec.error_class == "connect_refused"
    assert "CERTIFICATE_VERIFY_FAILED" in (rec.error_detail or "")
