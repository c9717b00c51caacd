"""A minimal, fast, pure-asyncio HTTP/1.1 server core shared by the simulator and the embedded proxy API.

One ``asyncio.Protocol`` per connection parses requests (Content-Length bodies, keep-alive, no
pipelining: bytes that arrive while a request is being answered wait until it is answered), runs one
``async`` handler per request and gives it a :class:`Response` to answer with. Every accepted socket
gets ``TCP_NODELAY`` and every write goes straight to the transport, so each streamed chunk leaves
as its own segment. Malformed requests get ``400`` and the connection is closed.

Usage::

    async def handler(req: Request, resp: Response) -> None:
        if req.path == "/healthz":
            resp.send(200, [("content-type", "text/plain")], b"ok")
            return
        resp.start(200, [("content-type", "text/event-stream")])   # chunked transfer encoding
        resp.write(b"data: 1\\n\\n")                                 # one chunk, flushed now
        resp.finish()                                                # terminal zero-length chunk

    server = HttpServer(handler, host="127.0.0.1", port=0)
    await server.start()            # bound and listening; server.port is the real port
    ...
    await server.stop(grace_s=1.0)  # stop accepting, let handlers finish, close connections

API summary:

* :class:`Request`: ``method``, ``target`` (raw), ``path`` (percent-decoded, no query), ``query``
  (first value per name), ``headers`` (:class:`Headers`, case-insensitive), ``body``, ``version``,
  ``peer``, ``t_received`` (``time.monotonic()`` when the request was complete).
* :class:`Response`: exactly one of ``send(status, headers, body)`` or ``start(status, headers)`` +
  ``write(chunk)``... + ``finish()``; at any time ``abort(reset=False)`` closes the connection
  abruptly (FIN after already written bytes; ``reset=True`` sends RST via ``SO_LINGER`` 0).
  ``closed`` is true once the peer has gone; ``await drain()`` waits for the write buffer to empty
  below the transport's high-water mark. ``close_after`` forces ``Connection: close``.
* A handler that raises before answering produces ``500``; after ``start()`` the connection is
  aborted. If the peer disconnects, the handler task is cancelled.
* :class:`HttpServer`: ``start()``, ``port``, ``host``, ``stop(grace_s)``; ``reuse_port=True`` sets
  ``SO_REUSEPORT`` so several processes can share one port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import cast
from urllib.parse import parse_qsl, unquote

__all__ = ["Handler", "Headers", "HttpServer", "Request", "Response", "is_loopback"]

_MAX_HEAD_BYTES = 64 * 1024
_MAX_BODY_BYTES = 64 * 1024 * 1024
_READ_PAUSE_BYTES = 1024 * 1024


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1, also written ``[::1]``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Headers(dict[str, str]):
    """Request headers with lower-cased names; repeated headers are joined with ``", "``."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class Request:
    """One parsed HTTP request."""

    __slots__ = ("body", "headers", "method", "path", "peer", "query", "t_received", "target", "version")

    def __init__(
        self,
        method: str,
        target: str,
        *,
        version: str,
        headers: Headers,
        body: bytes,
        peer: tuple[str, int] | None,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.peer = peer
        self.t_received = time.monotonic()
        raw_path, _, raw_query = target.partition("?")
        self.path = unquote(raw_path)
        self.query: dict[str, str] = {}
        if raw_query:
            for k, v in parse_qsl(raw_query, keep_blank_values=True):
                self.query.setdefault(k, v)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target}>"


Handler = Callable[[Request, "Response"], Awaitable[None]]

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_REASONS[529] = "Site Overloaded"

_date_cache: tuple[int, bytes] = (0, b"")


def _date_header() -> bytes:
    global _date_cache  # noqa: PLW0603 - one-second cache of the Date header shared by all connections
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode())
    return _date_cache[1]


def _head(status: int, headers: Iterable[tuple[str, str]] | Mapping[str, str], extra: bytes) -> bytes:
    items = headers.items() if isinstance(headers, Mapping) else headers
    parts = [
        b"HTTP/1.1 %d %s\r\ndate: %s\r\n" % (status, _REASONS.get(status, "Unknown").encode(), _date_header())
    ]
    for name, value in items:
        parts.append(f"{name}: {value}\r\n".encode("latin-1"))
    parts.append(extra)
    parts.append(b"\r\n")
    return b"".join(parts)


class Response:
    """The answer to one request: a complete response, or a chunked stream. See the module docstring."""

    __slots__ = ("_conn", "_keep_alive", "close_after", "finished", "started", "status")

    def __init__(self, conn: _Connection, keep_alive: bool) -> None:
        self._conn = conn
        self._keep_alive = keep_alive
        self.close_after = False
        self.started = False
        self.finished = False
        self.status = 0

    @property
    def closed(self) -> bool:
        """True once the connection is gone (peer closed, reset, or aborted)."""
        return self._conn.transport is None

    def _conn_header(self) -> bytes:
        if self._keep_alive and not self.close_after:
            return b"connection: keep-alive\r\n"
        return b"connection: close\r\n"

    def send(
        self, status: int, headers: Iterable[tuple[str, str]] | Mapping[str, str] = (), body: bytes = b""
    ) -> None:
        """Send a complete response with ``content-length``; the request is then done."""
        if self.started:
            raise RuntimeError("response already started")
        self.started = self.finished = True
        self.status = status
        t = self._conn.transport
        if t is None:
            return
        extra = self._conn_header() + b"content-length: %d\r\n" % len(body)
        head = _head(status, headers, extra)
        t.write(head + body if self._conn.method != "HEAD" else head)
        self._conn.response_done(self._keep_alive and not self.close_after)

    def start(self, status: int, headers: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        """Send the status line and headers of a streamed (chunked) response."""
        if self.started:
            raise RuntimeError("response already started")
        self.started = True
        self.status = status
        t = self._conn.transport
        if t is not None:
            t.write(_head(status, headers, self._conn_header() + b"transfer-encoding: chunked\r\n"))

    def write(self, data: bytes) -> None:
        """Write one chunk now (no buffering in this layer). Empty data is ignored."""
        if not self.started or self.finished:
            raise RuntimeError("write() needs start() and no finish()")
        t = self._conn.transport
        if t is not None and data:
            t.write(b"%x\r\n%s\r\n" % (len(data), data))

    def finish(self, last: bytes = b"") -> None:
        """Write ``last`` (if any) as a final chunk plus the terminal zero-length chunk, in one write."""
        if not self.started or self.finished:
            raise RuntimeError("finish() needs start() and no earlier finish()")
        self.finished = True
        t = self._conn.transport
        if t is None:
            return
        t.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(last), last) if last else b"0\r\n\r\n")
        self._conn.response_done(self._keep_alive and not self.close_after)

    def abort(self, *, reset: bool = False) -> None:
        """Close the connection now without completing the response (FIN, or RST when ``reset``)."""
        self.finished = True
        self._conn.abort(reset=reset)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark (or the peer is gone)."""
        await self._conn.drain()


class _Connection(asyncio.Protocol):
    __slots__ = (
        "_buf",
        "_drain_waiter",
        "_paused_writing",
        "_reading_paused",
        "_resp",
        "_task",
        "method",
        "peer",
        "server",
        "transport",
    )

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._task: asyncio.Task[None] | None = None
        self._resp: Response | None = None
        self._paused_writing = False
        self._reading_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self.method = ""
        self.peer: tuple[str, int] | None = None

    # --- asyncio.Protocol -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods
        self.transport = t = cast("asyncio.Transport", transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = t.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        self.server._conns.add(self)
        if self.server._stopping:
            t.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server._conns.discard(self)
        # The peer went away mid-answer: stop the handler. If the handler itself ended the answer
        # (finish or abort), let it run on to record what it did.
        if self._task is not None and not self._task.done() and not (self._resp and self._resp.finished):
            self._task.cancel()
        self._wake_drain()

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._task is None:
            self._process()
        elif len(self._buf) > _READ_PAUSE_BYTES and self.transport is not None and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        # Half-close from the client: finish the current answer, then close.
        if self._task is None and self.transport is not None:
            self.transport.close()
        return True

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        self._wake_drain()

    # --- internals --------------------------------------------------------
    def _wake_drain(self) -> None:
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_result(None)
        self._drain_waiter = None

    async def drain(self) -> None:
        if self.transport is None or not self._paused_writing:
            return
        if self._drain_waiter is None:
            self._drain_waiter = asyncio.get_running_loop().create_future()
        await self._drain_waiter

    def abort(self, *, reset: bool) -> None:
        t = self.transport
        if t is None:
            return
        if reset:
            sock = t.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            t.abort()
        else:
            t.close()

    def _bad_request(self, status: int = 400) -> None:
        t = self.transport
        if t is None:
            return
        body = _REASONS.get(status, "Bad Request").encode()
        t.write(
            _head(
                status,
                [("content-type", "text/plain")],
                b"connection: close\r\ncontent-length: %d\r\n" % len(body),
            )
            + body
        )
        t.close()
        self._buf.clear()

    def _process(self) -> None:
        """Parse one complete request from the buffer, if there is one, and start its handler."""
        if self.transport is None or self._task is not None:
            return
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD_BYTES:
                self._bad_request(431)
            return
        try:
            head = bytes(buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            while lines and not lines[0]:  # tolerate stray CRLFs between requests
                lines.pop(0)
            method, target, version = lines[0].split(" ")
            if not version.startswith("HTTP/1.") or not method.isalpha() or not target:
                raise ValueError(version)
            headers = Headers()
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    raise ValueError(line)
                key = name.lower()
                value = value.strip()
                prev = dict.get(headers, key)
                dict.__setitem__(headers, key, value if prev is None else f"{prev}, {value}")
            if "transfer-encoding" in headers:
                raise ValueError("chunked request bodies are not supported")
            length = int(headers.get("content-length") or 0)
            if length < 0 or length > _MAX_BODY_BYTES:
                raise ValueError("content-length")
        except (ValueError, IndexError):
            self._bad_request()
            return
        total = end + 4 + length
        if len(buf) < total:
            return
        body = bytes(buf[end + 4 : total])
        del buf[:total]
        conn_hdr = (headers.get("connection") or "").lower()
        keep_alive = "close" not in conn_hdr if version == "HTTP/1.1" else "keep-alive" in conn_hdr
        req = Request(method.upper(), target, version=version, headers=headers, body=body, peer=self.peer)
        self.method = req.method
        resp = Response(self, keep_alive)
        self._resp = resp
        self._task = asyncio.get_running_loop().create_task(self._run(req, resp))

    async def _run(self, req: Request, resp: Response) -> None:
        try:
            await self.server.handler(req, resp)
        except asyncio.CancelledError:
            if not resp.finished:
                self.abort(reset=False)
            raise
        except Exception:
            if not resp.started:
                resp.close_after = True
                resp.send(500, [("content-type", "text/plain")], b"internal server error")
            else:
                self.abort(reset=False)
            return
        if not resp.started:
            resp.close_after = True
            resp.send(500, [("content-type", "text/plain")], b"handler sent no response")
        elif not resp.finished:
            self.abort(reset=False)

    def response_done(self, keep_alive: bool) -> None:
        """Called by Response when the answer is complete: close, or get ready for the next request."""
        self._task = None
        t = self.transport
        if t is None:
            return
        if not keep_alive or self.server._stopping:
            t.close()
            return
        if self._reading_paused:
            self._reading_paused = False
            t.resume_reading()
        if self._buf:
            asyncio.get_running_loop().call_soon(self._process)


class HttpServer:
    """Listens on ``host:port`` (``port=0`` picks a free port; read the real one from :attr:`port`)."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reuse_port: bool = False,
        backlog: int = 2048,
    ) -> None:
        self.handler = handler
        self.host = host
        self._port = port
        self._reuse_port = reuse_port
        self._backlog = backlog
        self._server: asyncio.Server | None = None
        self._conns: set[_Connection] = set()
        self._stopping = False

    @property
    def port(self) -> int:
        """The bound port (valid after :meth:`start`)."""
        return self._port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self),
            host=self.host,
            port=self._port,
            reuse_address=True,
            reuse_port=self._reuse_port or None,
            backlog=self._backlog,
        )
        sock = self._server.sockets[0]
        self._port = int(sock.getsockname()[1])

    async def serve_forever(self) -> None:
        assert self._server is not None, "call start() first"
        await self._server.serve_forever()

    async def stop(self, grace_s: float = 1.0) -> None:
        """Stop accepting, let running handlers finish for up to ``grace_s``, then close every connection."""
        self._stopping = True
        if self._server is not None:
            # CPython 3.11: closing a server while an accepted socket's transport is still being built
            # leaks that transport (assert in Server._attach). Stop polling the listening sockets first,
            # let pending accepts finish (they see _stopping and close), then close the server.
            loop = asyncio.get_running_loop()
            for sock in self._server.sockets:
                with contextlib.suppress(Exception):
                    loop.remove_reader(sock.fileno())
            for _ in range(3):
                await asyncio.sleep(0)
            self._server.close()
        deadline = time.monotonic() + grace_s
        while any(c._task is not None for c in self._conns) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for c in list(self._conns):
            if c.transport is not None:
                c.transport.close()
        for c in list(self._conns):
            if c._task is not None:
                c._task.cancel()
        await asyncio.sleep(0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=max(0.1, grace_s))
