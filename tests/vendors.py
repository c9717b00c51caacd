"""Misbehaving vendors for tests, as real sockets on loopback (``from vendors import ...``).

One place holds a vendor shape that several tests meet (a test that needs a vendor only it uses keeps
it beside itself).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["http_vendor", "trickling_vendor"]


@contextlib.contextmanager
def http_vendor(handler: type[BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """``handler`` served on 127.0.0.1 (port 0, a thread per connection; TLS with ``tls``) while the
    block runs. Yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def trickling_vendor(interval_s: float = 0.2) -> Iterator[tuple[int, list[float]]]:
    """A vendor that answers every request with a status line, then one header byte every
    ``interval_s`` for ever: each byte restarts a read timeout, so only an overall deadline ends the wait.

    Yields its port and the monotonic times at which it accepted connections.
    """
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    seen: list[float] = []
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(max(0.5, 2 * interval_s))
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nx-slow: ")
            while not stop.is_set():
                conn.sendall(b"a")
                time.sleep(interval_s)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            seen.append(time.monotonic())
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(5)
        srv.close()
