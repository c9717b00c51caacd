"""A tiny HTTP server for ``/metrics`` (``bakeoff run --metrics-port``): GET /metrics answers the
registry's text; anything else is 404 or 405. One request per connection.

It uses blocking sockets with timeouts and runs its loops with the ``spawn`` it is given: in the run
process (patched by gevent) those are greenlets of the run's runtime, so a scrape never blocks the load;
in a plain process, threads. Every size a client controls is bounded: the request head (8 KiB), the time
to send it (5 s) and the connections served at once (16; more are closed at once).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from harness.run._exposition import CONTENT_TYPE

__all__ = ["MetricsServer"]

_MAX_HEAD = 8192
_CLIENT_TIMEOUT_S = 5.0
_MAX_CONNECTIONS = 16
_ACCEPT_POLL_S = 0.5


class MetricsServer:
    """Binds at construction (``OSError`` when the address is taken); ``serve()`` runs until ``close()``."""

    def __init__(self, host: str, port: int, render: Callable[[], str], spawn: Callable[..., Any]) -> None:
        self.render = render
        self._spawn = spawn
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        sock.settimeout(_ACCEPT_POLL_S)
        self._sock = sock
        self.host = host
        self.port: int = sock.getsockname()[1]
        self._closed = False
        self._active = 0
        self.scrapes = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def serve(self) -> None:
        while not self._closed:
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._closed:
                    return
                continue
            if self._active >= _MAX_CONNECTIONS:
                conn.close()
                continue
            self._active += 1
            self._spawn(self._handle, conn)

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(_CLIENT_TIMEOUT_S)
            head = b""
            while b"\r\n\r\n" not in head and b"\n\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
                if len(head) > _MAX_HEAD:
                    self._answer(conn, 431, "Request Header Fields Too Large", "request head too large\n")
                    _drain(conn)
                    return
            method, _, rest = head.split(b"\n", 1)[0].decode("latin-1").strip().partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if path != "/metrics":
                self._answer(conn, 404, "Not Found", "bakeoff serves /metrics only\n")
            elif method not in ("GET", "HEAD"):
                self._answer(conn, 405, "Method Not Allowed", "GET /metrics\n", extra="Allow: GET, HEAD\r\n")
            else:
                try:
                    body = self.render()
                except Exception as exc:  # a harness bug: the scraper sees a 500, the run goes on
                    self._answer(conn, 500, "Internal Server Error", f"{type(exc).__name__}\n")
                    return
                self.scrapes += 1
                self._answer(conn, 200, "OK", body, content_type=CONTENT_TYPE, head_only=method == "HEAD")
        except OSError:
            pass  # the scraper went away or was too slow: nothing to answer
        finally:
            self._active -= 1
            conn.close()

    @staticmethod
    def _answer(
        conn: socket.socket,
        status: int,
        reason: str,
        body: str,
        *,
        content_type: str = "text/plain; charset=utf-8",
        extra: str = "",
        head_only: bool = False,
    ) -> None:
        data = body.encode("utf-8")
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(data)}\r\n{extra}Connection: close\r\n\r\n"
        ).encode("ascii")
        conn.sendall(head if head_only else head + data)


def _drain(conn: socket.socket, limit: int = 65536) -> None:
    """Read (a bounded amount of) what the client still sends, so closing does not reset the connection
    before it has read the answer."""
    conn.shutdown(socket.SHUT_WR)
    conn.settimeout(1.0)
    read = 0
    while read < limit:
        chunk = conn.recv(4096)
        if not chunk:
            return
        read += len(chunk)
