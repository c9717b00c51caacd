"""A tiny OpenAI-style vendor on loopback whose good and bad habits are knobs, for probe tests.

Only what the probes touch: Bearer auth, JSON parsing, model check, parameter checks, a context limit,
streamed or JSON answers with optional usage / terminal event / request id / rate-limit headers.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    key: str | None = "good-key"  # None: accept any key (misbehaviour)
    model: str = "m"
    malformed_status: int = 400  # 500: crash on broken JSON (misbehaviour)
    error_body: bytes | None = None  # raw error body instead of the JSON envelope
    request_id: bool = True
    ratelimit: bool = True
    usage: bool = True
    terminal: bool = True
    context_limit_chars: int | None = 10_000  # None: accept any prompt length
    honour_max_tokens: bool = True
    error_delay_s: float = 0.0
    error_message_extra: str = ""  # appended to every error message (echoed keys, escapes)
    seen_keys: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    b: Behaviour

    def log_message(self, *_args: object) -> None:  # quiet
        pass

    def _headers(self) -> list[tuple[str, str]]:
        h = []
        if self.b.request_id:
            h.append(("x-request-id", "req_probe_vendor"))
        if self.b.ratelimit:
            h += [("x-ratelimit-remaining-requests", "99"), ("x-ratelimit-limit-requests", "100")]
        return h

    def _error(self, status: int, message: str, etype: str = "invalid_request_error") -> None:
        time.sleep(self.b.error_delay_s)
        body = self.b.error_body
        if body is None:
            msg = message + self.b.error_message_extra
            body = json.dumps(
                {"error": {"message": msg, "type": etype, "param": None, "code": None}}
            ).encode()
        self.send_response(status)
        for k, v in [("content-type", "application/json"), *self._headers()]:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.connection.settimeout(5)
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        auth = self.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        self.b.seen_keys.append(key)
        if not key or (self.b.key is not None and key != self.b.key):
            self._error(401, f"Incorrect API key provided: {key}")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            if self.b.malformed_status >= 500:
                self._error(self.b.malformed_status, "internal error", "server_error")
            else:
                self._error(self.b.malformed_status, "We could not parse the JSON body of your request.")
            return
        if body.get("model") != self.b.model:
            self._error(404, f"The model {body.get('model')} does not exist")
            return
        max_tokens = body.get("max_tokens", 16)
        if not isinstance(max_tokens, int) or max_tokens < 1 or not 0 <= body.get("temperature", 1) <= 2:
            self._error(400, "Invalid value for max_tokens or temperature")
            return
        text = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        if self.b.context_limit_chars is not None and len(text) > self.b.context_limit_chars:
            self._error(400, "This model's maximum context length is exceeded")
            return
        n = max_tokens if self.b.honour_max_tokens else max_tokens * 3
        if body.get("stream"):
            self.send_response(200)
            for k, v in [("content-type", "text/event-stream"), ("connection", "close"), *self._headers()]:
                self.send_header(k, v)
            self.end_headers()
            for _ in range(n):
                chunk = {
                    "id": "c",
                    "model": self.b.model,
                    "choices": [{"index": 0, "delta": {"content": " hello"}}],
                }
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            fin = {
                "id": "c",
                "model": self.b.model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
            }
            self.wfile.write(b"data: " + json.dumps(fin).encode() + b"\n\n")
            if self.b.usage:
                u = {"id": "c", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": n}}
                self.wfile.write(b"data: " + json.dumps(u).encode() + b"\n\n")
            if self.b.terminal:
                self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True
            return
        answer = {
            "id": "c",
            "model": self.b.model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "OK"}, "finish_reason": "stop"}
            ],
        }
        if self.b.usage:
            answer["usage"] = {"prompt_tokens": 5, "completion_tokens": 1}
        data = json.dumps(answer).encode()
        self.send_response(200)
        for k, v in [("content-type", "application/json"), *self._headers()]:
            self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def serve_vendor(b: Behaviour, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Serve ``b`` on 127.0.0.1:0 (TLS with ``tls``); yields the port; stops on exit."""
    handler = type("H", (_Handler,), {"b": b})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.handle_error = lambda *_a: None  # type: ignore[method-assign]  # TLS-only probes hang up early
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
