"""A vendor (or a reflecting gateway) that echoes the API key back: in its error body, its request id
header, its model name, its answer text. Nothing the harness records or reports may carry the key."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from vendors import http_vendor

from harness.client import Target, make_http_client, run_attempt
from harness.config import Endpoint, Price, PromptItem
from harness.probes import ProbeOptions, run_probes

KEY = "sk-reflected-canary-0123456789"


class _Reflect(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    where = "error"

    def log_message(self, *_a: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        key = self.headers.get("authorization", "").removeprefix("Bearer ")
        rid = f"req-{key}" if self.where == "request_id" else "req-1"
        if self.where == "error":
            body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}"}}).encode()
            status = 401
        else:
            model = key if self.where == "model" else "m"
            text = f"your key is {key}" if self.where == "answer" else "ok"
            body = json.dumps(
                {
                    "id": "c",
                    "model": model,
                    "choices": [{"index": 0, "message": {"content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1},
                }
            ).encode()
            status = 200
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("x-request-id", rid)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def reflecting(where: str) -> Iterator[int]:
    with http_vendor(type("R", (_Reflect,), {"where": where})) as port:
        yield port


def _record(where: str) -> str:
    ep = Endpoint(
        name="v", dialect="openai-chat", model="m", base_url="http://x/v1", api_key_env="K", stream=False
    )
    prompt = PromptItem.model_validate({"id": "p", "messages": [{"role": "user", "content": "hi"}]})
    client = make_http_client(max_connections=2)
    try:
        with reflecting(where) as port:
            t = Target(ep, f"http://127.0.0.1:{port}/v1", None, KEY, Price())
            rec = run_attempt(
                client,
                t,
                prompt,
                clock=time.monotonic,
                run_id="r",
                request_id="a-1",
                attempt=1,
                contender="a",
                t_intended=time.monotonic(),
            )
    finally:
        client.close()
    return json.dumps(rec.to_dict())


def test_key_echoed_in_an_error_body_is_redacted_from_the_record() -> None:
    row = _record("error")
    assert KEY not in row and "[redacted]" in row


@pytest.mark.parametrize("where", ["request_id", "model", "answer"])
def test_key_echoed_elsewhere_is_redacted_from_the_record(where: str) -> None:
    assert KEY not in _record(where)


@pytest.mark.parametrize("where", ["error", "request_id", "model", "answer"])
def test_probe_results_never_carry_an_echoed_key(where: str) -> None:
    ep = Endpoint(
        name="v", dialect="openai-chat", model="m", base_url="http://x/v1", api_key_env="K", stream=False
    )
    client = make_http_client(max_connections=2)
    try:
        with reflecting(where) as port:
            t = Target(ep, f"http://127.0.0.1:{port}/v1", None, KEY, Price())
            results = run_probes({"v": t}, client, options=ProbeOptions(overlong_tokens=0, timeout_s=3))
    finally:
        client.close()
    assert KEY not in json.dumps([r.to_dict() for r in results])


class _LongEcho(BaseHTTPRequestHandler):
    """Echoes the key after ``pad`` characters of text, so a 200-character detail cuts through it."""

    protocol_version = "HTTP/1.1"
    pad = 0

    def log_message(self, *_a: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        key = self.headers.get("authorization", "").removeprefix("Bearer ")
        message = "x" * self.pad + key + " was refused"
        body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("pad", [150, 160, 165, 170, 175, 180])
def test_a_key_cut_by_a_shortened_probe_detail_leaves_nothing_of_itself(pad: int) -> None:
    """Probe details were cut to 200 characters before redaction: all but the last character of a key
    across the cut survived. The exchange is redacted when it arrives, before anything shortens it."""
    ep = Endpoint(
        name="v", dialect="openai-chat", model="m", base_url="http://x/v1", api_key_env="K", stream=False
    )
    with (
        http_vendor(type("L", (_LongEcho,), {"pad": pad})) as port,
        make_http_client(max_connections=2) as client,
    ):
        target = Target(ep, f"http://127.0.0.1:{port}/v1", None, KEY, Price())
        results = run_probes({"v": target}, client, options=ProbeOptions(overlong_tokens=0, timeout_s=3))
    text = json.dumps([r.to_dict() for r in results])
    assert KEY[:6] not in text  # "sk-ref" would be left of a key cut after its sixth character
