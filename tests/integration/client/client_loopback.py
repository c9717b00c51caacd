"""Tiny scripted loopback servers: each test says, byte by byte, what the 'vendor' does on the socket."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from harness.client import Target, make_http_client
from harness.config import Endpoint, Price, PromptItem

Handler = Callable[["Conn"], None]


@dataclass
class Conn:
    sock: socket.socket
    head: bytes = b""
    body: bytes = b""
    requests: list[bytes] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def hold(self, seconds: float = 3.0) -> None:
        """Keep the connection open doing nothing, until ``seconds`` pass or the server stops."""
        self.stop.wait(seconds)

    def read_request(self) -> bool:
        """Read one request (head + Content-Length body). False when the client closed first."""
        buf = b""
        self.sock.settimeout(5)
        while b"\r\n\r\n" not in buf:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return False
            if not data:
                return False
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(rest) < length:
            data = self.sock.recv(65536)
            if not data:
                return False
            rest += data
        self.head, self.body = head, rest[:length]
        self.requests.append(head)
        return True

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == name.lower().encode():
                return v.strip().decode()
        return None

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def start_chunked(
        self, status: int = 200, headers: dict[str, str] | None = None, ctype: str = "text/event-stream"
    ) -> None:
        h = {"content-type": ctype, "transfer-encoding": "chunked", **(headers or {})}
        self.send(
            f"HTTP/1.1 {status} X\r\n".encode()
            + b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items())
            + b"\r\n"
        )

    def chunk(self, data: bytes) -> None:
        self.send(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunked(self) -> None:
        self.send(b"0\r\n\r\n")

    def respond(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, ctype: str = "application/json"
    ) -> None:
        h = {"content-type": ctype, "content-length": str(len(body)), **(headers or {})}
        self.send(
            f"HTTP/1.1 {status} X\r\n".encode()
            + b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items())
            + b"\r\n"
            + body
        )

    def reset(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


class ScriptServer:
    """Accepts connections on 127.0.0.1:0 and runs ``handler(conn)`` for each, in its own thread."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.02)
        self.port = self.lsock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._loop, daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                s, _ = self.lsock.accept()
            except OSError:
                continue
            self.connections += 1
            t = threading.Thread(target=self._run, args=(s,), daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self, s: socket.socket) -> None:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError):
            if self.ssl_context is not None:
                s.settimeout(5)
                s = self.ssl_context.wrap_socket(s, server_side=True)
            self.handler(Conn(s, stop=self._stop))
        with contextlib.suppress(OSError):
            s.close()

    def close(self) -> None:
        self._stop.set()
        self._accept.join(2)
        self.lsock.close()
        for t in self._threads:
            t.join(3)


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptServer]]:
    servers: list[ScriptServer] = []

    def start(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> ScriptServer:
        s = ScriptServer(handler, ssl_context)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def client() -> Iterator[object]:
    c = make_http_client(max_connections=50)
    yield c
    c.close()


T0 = time.perf_counter()


def clock() -> float:
    return round(time.perf_counter() - T0, 6)


def make_endpoint(
    dialect: str = "openai-chat",
    *,
    stream: bool = True,
    name: str = "ep",
    limits: dict | None = None,
    **timeouts: float,
) -> Endpoint:
    return Endpoint.model_validate(
        {
            "name": name,
            "dialect": dialect,
            "model": "m-1",
            "base_url": "http://placeholder",
            "api_version": "2024-10-21",
            "stream": stream,
            "timeouts": {"connect": 2.0, "ttft": 2.0, "idle": 2.0, "total": 5.0, **timeouts},
            "limits": limits or {},
        }
    )


def make_target(
    url: str,
    endpoint: Endpoint,
    *,
    price: Price | None = None,
    api_key: str | None = "sk-test-key",
    connect_to: tuple[str, int] | None = None,
) -> Target:
    base = url + ("/v1" if endpoint.dialect == "openai-chat" else "")
    return Target(
        endpoint=endpoint,
        base_url=base,
        connect_to=connect_to,
        api_key=api_key,
        price=price or Price(input_per_mtok=1.0, output_per_mtok=2.0),
    )


PROMPT = PromptItem.model_validate(
    {
        "id": "p1",
        "messages": [{"role": "user", "content": "Say hi"}],
        "max_tokens": 20,
        "check": {"contains": "Hello"},
    }
)


def openai_chunk(
    content: str | None = None, finish: str | None = None, usage: dict | None = None, choices: bool = True
) -> bytes:
    c: dict = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m-1-served"}
    c["choices"] = (
        [{"index": 0, "delta": {} if content is None else {"content": content}, "finish_reason": finish}]
        if choices
        else []
    )
    c["usage"] = usage
    return b"data: " + json.dumps(c).encode() + b"\n\n"


def openai_stream(words: list[str], *, usage: bool = True) -> list[bytes]:
    out = [openai_chunk("")] + [openai_chunk(w) for w in words] + [openai_chunk(None, "stop")]
    if usage:
        out.append(
            openai_chunk(
                usage={"prompt_tokens": 9, "completion_tokens": len(words), "total_tokens": 9 + len(words)},
                choices=False,
            )
        )
    return [*out, b"data: [DONE]\n\n"]


class Relay:
    """A plain TCP relay (what Toxiproxy is without toxics): 127.0.0.1:port -> upstream."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.02)
        self.port = self.lsock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        t = threading.Thread(target=self._loop, daemon=True)
        t.start()
        self._threads.append(t)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                down, _ = self.lsock.accept()
            except OSError:
                continue
            self.connections += 1
            up = socket.create_connection(self.upstream, timeout=2)
            self._socks += [down, up]
            for a, b in ((down, up), (up, down)):
                t = threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                t.start()
                self._threads.append(t)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(5)
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        self.lsock.close()
        self._threads[0].join(2)
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(6)
