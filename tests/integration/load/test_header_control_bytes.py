"""One control byte in a response header: the load path (llhttp under gevent) and the probes' path
(httpx/h11, as the vendors' SDKs) must agree. RFC 9110 5.5 lets a recipient replace it with a space:
both paths accept such an answer and record the same request id; both refuse a NUL (which h11 refuses).

The gevent side runs in a child process (this test process never imports gevent): it patches, runs
one attempt against the vendor served here, checks the head filter on split reads, and prints JSON."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness.client import Target, make_http_client, run_attempt
from harness.config import Endpoint, Price, PromptItem

ROOT = Path(__file__).resolve().parents[3]
BODY = (
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
    b'"delta":{"content":"hi"}}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},'
    b'"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\ndata: [DONE]\n\n'
)
HEADS = {
    "benign": b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-request-id: req\x01\x7fid\r\n"
    b"x-other: a\x1bb\r\ncontent-length: %d\r\n\r\n" % len(BODY),
    "nul": b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-request-id: req\x00id\r\n"
    b"content-length: %d\r\n\r\n" % len(BODY),
}


@contextlib.contextmanager
def vendor(head: bytes) -> Iterator[int]:
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            request, _, rest = data.partition(b"\r\n\r\n")
            size = next(
                (
                    int(h.split(b":")[1])
                    for h in request.split(b"\r\n")
                    if h.lower().startswith(b"content-length")
                ),
                0,
            )
            while len(rest) < size:
                rest += conn.recv(65536)
            conn.sendall(head[:40])  # the head arrives in two reads, the control bytes in the second
            time.sleep(0.02)
            conn.sendall(head[40:] + BODY)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(5)
        srv.close()


def _attempt(client: object, port: int) -> dict[str, object]:
    ep = Endpoint(name="e", dialect="openai-chat", model="m", base_url="http://x/v1", api_key_env="K")
    prompt = PromptItem.model_validate({"id": "p", "messages": [{"role": "user", "content": "hi"}]})
    rec = run_attempt(
        client,  # type: ignore[arg-type]
        Target(ep, f"http://127.0.0.1:{port}/v1", None, "sk-0123456789", Price()),
        prompt,
        clock=time.monotonic,
        run_id="r",
        request_id="q",
        attempt=1,
        contender="c",
        t_intended=time.monotonic(),
    )
    return {
        k: getattr(rec, k) for k in ("outcome", "status", "error_class", "vendor_request_id", "output_tokens")
    }


CHILD = """
import json, sys
from harness.load import ensure_patched
ensure_patched()
from harness.load._gevent_transport import HeadFilter, make_gevent_client
sys.path.insert(0, {here!r})
from test_header_control_bytes import _attempt
f = HeadFilter()
reads = [b"HTTP/1.1 100 Continue\\r\\n\\r", b"\\nHTTP/1.1 200 OK\\r\\nx: a\\x01", b"b\\r\\n\\r\\n\\x01body"]
split = [f(r).decode("latin-1") for r in reads]
print(json.dumps({{"attempt": _attempt(make_gevent_client(), {port}), "split": split}}))
"""


def _both_paths(head: bytes) -> tuple[dict[str, object], dict[str, object]]:
    with vendor(head) as port:
        with make_http_client(max_connections=2) as client:
            via_httpx = _attempt(client, port)
        child = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(CHILD.format(here=str(Path(__file__).parent), port=port))],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )
    assert child.returncode == 0, child.stderr[-3000:]
    seen: dict[str, object] = json.loads(child.stdout.strip().splitlines()[-1])
    return via_httpx, seen


def test_both_paths_accept_the_answer_and_record_the_same_request_id() -> None:
    via_httpx, seen = _both_paths(HEADS["benign"])
    assert (
        via_httpx
        == seen["attempt"]
        == {
            "outcome": "ok",
            "status": 200,
            "error_class": None,
            "vendor_request_id": "req  id",
            "output_tokens": 1,
        }
    )
    # head bytes only: the blank line split across reads is found, the body after it is left alone
    assert seen["split"] == ["HTTP/1.1 100 Continue\r\n\r", "\nHTTP/1.1 200 OK\r\nx: a ", "b\r\n\r\n\x01body"]


def test_both_paths_refuse_a_nul_in_a_header_the_same_way() -> None:
    via_httpx, seen = _both_paths(HEADS["nul"])
    assert via_httpx["outcome"] == "error" and via_httpx == seen["attempt"]
