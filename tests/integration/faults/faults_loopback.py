"""A thread-per-connection TCP server on 127.0.0.1:0 for the proxy tests; subclasses handle a connection."""

from __future__ import annotations

import socket
import threading


class LoopbackServer:
    """Accepts on 127.0.0.1:0 until ``close()``; each connection runs ``handle`` in its own thread."""

    def __init__(self, backlog: int = 128) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.handle, args=(c,), daemon=True).start()

    def handle(self, c: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._t.join(2)
        self.sock.close()
