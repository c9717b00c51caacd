"""A hostile vendor on loopback: an OpenAI-style endpoint whose answers misbehave on purpose (issue 14).

    python -m harness.bench.hostile_vendor [--port 0]      # prints http://127.0.0.1:PORT, serves until killed

Each request's first path segment picks a misbehaviour, so one server plays every row of the table at
once: an endpoint with ``base_url: http://127.0.0.1:PORT/flood/v1`` gets ``/flood/v1/chat/completions``.
Plain threads on raw sockets (no asyncio, no gevent): it runs as its own process, never sharing the event
loop of the load process it attacks, and streams as fast as loopback allows where a mode says so.

Modes (``MODES``): ``ok`` a short well-formed stream; ``silent`` headers, then nothing; ``endless`` an SSE
stream of deltas every 20 ms that never ends; ``flood`` deltas as fast as loopback allows, never ending;
``json_2gb`` a 2 GB JSON body (``Content-Length`` says so; streamed, never allocated); ``gzip_bomb`` 1 MB
of gzip that inflates to 1 GB, sent with ``Content-Encoding: gzip`` (bakeoff asks for identity);
``endless_head`` response headers that never end; ``big_id`` a 1 MB ``x-request-id``; ``long_id`` a
40 KB one (inside the head bound: the record's field bound cuts it); ``long_line`` one 200 MB SSE line
without a newline; ``endless_1xx`` ``100 Continue`` heads every 50 ms for ever; ``slow_head`` one byte of
the response head per second.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import socketserver
import sys
import threading
import time
import zlib
from collections.abc import Callable

__all__ = ["MODES", "HostileServer", "main"]

_EVENT = (
    b'data: {"id":"chatcmpl-hostile","object":"chat.completion.chunk","model":"hostile",'
    b'"choices":[{"index":0,"delta":{"content":"flood "},"finish_reason":null}]}\n\n'
)
_BLOCK = _EVENT * (65536 // len(_EVENT))
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"x-request-id: req-hostile\r\nconnection: close\r\n"
)


def _gzip_bomb() -> bytes:
    """About 1 MB of gzip that inflates to 1 GB of zeros (made once, in pieces: never 1 GB in memory)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    parts = [z.compress(zeros) for _ in range(1024)]
    parts.append(z.flush())
    return b"".join(parts)


_BOMB: list[bytes] = []
_BOMB_READY = threading.Event()


def _make_bomb() -> None:
    _BOMB.append(_gzip_bomb())
    _BOMB_READY.set()


def _ok(sock: socket.socket) -> None:
    events = [
        {"id": "chatcmpl-ok", "model": "hostile", "choices": [{"index": 0, "delta": {"content": w}}]}
        for w in ("one ", "two ", "three")
    ]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    usage = {
        "id": "chatcmpl-ok",
        "model": "hostile",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    body += b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
    sock.sendall(_SSE_HEAD + b"\r\n" + body)


def _silent(sock: socket.socket) -> None:
    sock.sendall(_SSE_HEAD + b"\r\n")
    _wait_closed(sock)


def _endless(sock: socket.socket) -> None:
    sock.sendall(_SSE_HEAD + b"\r\n")
    while True:
        sock.sendall(_EVENT)
        time.sleep(0.02)


def _flood(sock: socket.socket) -> None:
    sock.sendall(_SSE_HEAD + b"\r\n")
    while True:
        sock.sendall(_BLOCK)


def _json_2gb(sock: socket.socket) -> None:
    total = 2 << 30
    opening = b'{"id":"chatcmpl-big","model":"hostile","choices":[{"index":0,"message":{"content":"'
    sock.sendall(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
        + f"content-length: {total}\r\n\r\n".encode()
        + opening
    )
    block = b"x" * 65536
    left = total - len(opening)
    while left > 0:
        n = min(left, len(block))
        sock.sendall(block[:n])
        left -= n


def _gzip(sock: socket.socket) -> None:
    _BOMB_READY.wait()
    bomb = _BOMB[0]
    sock.sendall(
        _SSE_HEAD + b"content-encoding: gzip\r\n" + f"content-length: {len(bomb)}\r\n\r\n".encode() + bomb
    )
    _wait_closed(sock)


def _endless_head(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
    line = b"x-pad: " + b"p" * 1000 + b"\r\n"
    block = line * 64
    while True:
        sock.sendall(block)


def _request_id(size: int) -> Callable[[socket.socket], None]:
    def send(sock: socket.socket) -> None:
        head = _SSE_HEAD.replace(b"x-request-id: req-hostile", b"x-request-id: " + b"r" * size)
        sock.sendall(head + b"\r\n")
        _ok_body(sock)

    return send


def _ok_body(sock: socket.socket) -> None:
    ev = {"id": "chatcmpl-ok", "model": "hostile", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    sock.sendall(b"data: " + json.dumps(ev).encode() + b"\n\ndata: [DONE]\n\n")


def _long_line(sock: socket.socket) -> None:
    sock.sendall(_SSE_HEAD + b"\r\n" + b'data: {"choices":[{"delta":{"content":"')
    block = b"y" * 65536
    for _ in range((200 << 20) // len(block)):
        sock.sendall(block)
    _wait_closed(sock)


def _endless_1xx(sock: socket.socket) -> None:
    while True:
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.05)


def _slow_head(sock: socket.socket) -> None:
    for byte in _SSE_HEAD + b"\r\n":
        sock.sendall(bytes([byte]))
        time.sleep(1.0)


def _wait_closed(sock: socket.socket) -> None:
    """Hold the connection open until the client closes it (or an hour passes)."""
    sock.settimeout(3600)
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass


MODES: dict[str, Callable[[socket.socket], None]] = {
    "ok": _ok,
    "silent": _silent,
    "endless": _endless,
    "flood": _flood,
    "json_2gb": _json_2gb,
    "gzip_bomb": _gzip,
    "endless_head": _endless_head,
    "big_id": _request_id(1 << 20),
    "long_id": _request_id(40_000),
    "long_line": _long_line,
    "endless_1xx": _endless_1xx,
    "slow_head": _slow_head,
}


def _read_request(sock: socket.socket) -> str | None:
    """The request's path (the body is read and dropped), or None when the client went away."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
        if len(buf) > 1 << 20:
            return None
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    left = length - len(rest)
    while left > 0:
        data = sock.recv(min(left, 65536))
        if not data:
            return None
        left -= len(data)
    parts = lines[0].split(" ")
    return parts[1] if len(parts) > 1 else "/"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            path = _read_request(sock)
            if path is None:
                return
            mode = path.strip("/").split("/", 1)[0]
            MODES.get(mode, _ok)(sock)
        except OSError:  # the client gave up (what every bounded mode expects)
            pass


class HostileServer(socketserver.ThreadingTCPServer):
    """The server (threads, one per connection); ``url`` is its root."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        if not _BOMB_READY.is_set() and not _BOMB:  # seconds of deflate: made once, before it is asked for
            threading.Thread(target=_make_bomb, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness.bench.hostile_vendor", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    with HostileServer(args.port) as srv:
        print(srv.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
