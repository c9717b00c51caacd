"""The fence: every private name of another package that bakeoff uses lives here, each with a canary test.

Only the load path needs private APIs, and all of them belong to the gevent world (gevent,
geventhttpclient, Locust), so the fence lives in ``harness/load``: gevent is imported nowhere else,
and ``harness.client`` uses public APIs only. Nothing outside this module touches these names
(``tests/test_quality.py`` checks imports and the attributes below).
``tests/integration/load/test_private_api_canaries.py`` checks each one in a gevent-patched child process
and names the package, its version and this file when an upgrade changes it. gevent and geventhttpclient
are declared in pyproject.toml for that reason.

Private names used, what for, and why no public API does it:

* ``gevent.socket.socket._sock`` — the non-blocking stdlib socket under a gevent socket. :func:`recv_stamped`
  calls ``recvmsg`` on it directly for the kernel's receive stamps. gevent's public ``recvmsg`` waits
  through a ``Timeout`` object and exception per wait: 21 µs instead of 14 µs per chunk round trip
  (``python -m harness.bench.load``).
* ``gevent.socket.socket._read_event`` — the socket's read watcher (libev/libuv io). :func:`recv_stamped`
  waits on it with one ``Waiter`` and one loop timer; gevent's public ``wait_read`` makes a new watcher
  and a ``Timeout`` per wait. Closing the socket in another greenlet cancels it, which a watcher of
  our own (``hub.loop.io``) would not see.
* ``geventhttpclient._parser.HTTPResponseParser`` — the llhttp response parser, with its callback
  protocol (``_on_status``, ``_on_message_begin``, ``_on_header_field``, ``_on_header_value``,
  ``_on_headers_complete`` (true: no body), ``_on_body``, ``_on_message_complete``) and methods ``feed``,
  ``get_code``, ``should_keep_alive``, ``parser_failed``. geventhttpclient's public ``HTTPResponse``
  owns the socket and buffers the body; the gevent transport needs each ``recv`` parsed as it arrives
  (:class:`ResponseParser`). No public module exports the parser.
* ``geventhttpclient._parser.HTTPParseError`` — what ``feed`` raises on a malformed response; the gevent
  transport maps it to ``httpx.RemoteProtocolError``.
* ``locust.contrib.fasthttp.FastResponse._response`` — the geventhttpclient response under a Locust
  ``FastHttpUser`` response, read line by line by the benchmark's bare-Locust baseline
  (:func:`ghc_response`); Locust's public ``iter_content`` reads 1 KiB blocks, not what arrived.

Relied on, though public names: ``httpx.Client.stream``/``request`` build the request with
``self.build_request`` and hand it to ``self.send`` (``stream=True``/``False``), which the load path's
lean client overrides; its timeout default is ``httpx.USE_CLIENT_DEFAULT`` (compared by identity).
gevent's ``hub.loop.now()`` moves only when the loop turns (the gevent transport's flood lane tells a
read that found data waiting from one that waited by it), and ``Greenlet.kill(instance)`` raises that
instance where the greenlet waits (``LoadExecutor.end`` cuts attempts in flight with ``RunEnded``).
Canaries check all four. ``harness.load._runner`` hides trio from httpcore (``sys.modules["trio"] = None``)
before anything imports it: httpcore probes for trio at import, and trio breaks under gevent's patched
``select``; every load test would fail loudly if that changed.

Replaced by public APIs (issue 18): ``httpx.HTTPTransport._pool`` (now an ``httpx.BaseTransport`` over
httpcore's public ``ConnectionPool(network_backend=...)``), ``httpx._client.UseClientDefault`` (identity
with ``httpx.USE_CLIENT_DEFAULT``), ``httpx.Client._transport`` (the lean client keeps its own
reference), ``gevent._waiter.Waiter`` (``gevent.hub.Waiter``).
"""

from __future__ import annotations

import errno
from typing import Any

from gevent.hub import Waiter, get_hub
from geventhttpclient._parser import HTTPParseError, HTTPResponseParser

from harness.client._transport import _ANC_BYTES, arrival_of

__all__ = ["HTTPParseError", "ResponseParser", "ghc_response", "recv_stamped"]


class ResponseParser(HTTPResponseParser):
    """llhttp callbacks: status, raw header pairs and body bytes (no per-chunk objects beyond bytes).

    ``feed(data)`` parses what arrived (``HTTPParseError`` on malformed input); then ``headers_complete``,
    ``message_complete``, ``get_code()``, ``reason``, ``headers`` and ``body`` (drained by the caller) tell
    what it was. ``head_only``: a response to HEAD, whose head announces a body that never comes.
    """

    def __init__(self, head_only: bool) -> None:
        super().__init__()
        self.head_only = head_only
        self.headers: list[tuple[bytes, bytes]] = []
        self.field: str | None = None
        self.value: str | None = None
        self.reason = ""
        self.body = bytearray()
        self.headers_complete = False
        self.message_complete = False

    def _on_status(self, msg: str) -> None:
        self.reason = msg

    def _on_message_begin(self) -> None:
        self.headers.clear()
        self.headers_complete = False
        self.message_complete = False

    def _on_header_field(self, string: str) -> None:
        if self.value is not None:
            self._flush()
        self.field = string if self.field is None else self.field + string

    def _on_header_value(self, string: str) -> None:
        self.value = string if self.value is None else self.value + string

    def _flush(self) -> None:
        if self.field is not None:
            self.headers.append((self.field.encode("latin-1"), (self.value or "").encode("latin-1")))
        self.field = self.value = None

    def _on_headers_complete(self) -> bool:
        self._flush()
        self.headers_complete = True
        return self.head_only

    def _on_body(self, buf: bytes) -> None:
        self.body += buf

    def _on_message_complete(self) -> None:
        self.message_complete = True


def recv_stamped(sock: Any, size: int, timeout: float | None) -> tuple[bytes, float]:
    """``harness.client.recv_stamped`` for a gevent socket, with the wait done here: one waiter and one loop
    timer per wait instead of gevent's ``Timeout`` object and exception (measured: 21 µs -> 14 µs per chunk
    round trip). Raises ``TimeoutError`` after ``timeout`` seconds without data, ``OSError`` as ``recv``
    does. A socket closed by another greenlet wakes the wait with gevent's own cancel error.
    """
    raw = sock._sock
    while True:
        try:
            data, anc, _flags, _addr = raw.recvmsg(size, _ANC_BYTES)
            return data, arrival_of(anc)
        except BlockingIOError:
            pass
        watcher = sock._read_event
        if watcher is None:  # closed meanwhile
            raise OSError(errno.EBADF, "socket closed")
        hub = get_hub()
        waiter = Waiter(hub)
        timer = hub.loop.timer(timeout) if timeout is not None else None
        watcher.start(waiter.switch, True)
        if timer is not None:
            timer.start(waiter.switch, False)
        try:
            readable = waiter.get()
        finally:
            watcher.stop()
            if timer is not None:
                timer.stop()
                timer.close()
        if not readable:
            raise TimeoutError("timed out")


def ghc_response(resp: Any) -> Any:
    """The geventhttpclient response under a Locust ``FastResponse`` (None: the request failed)."""
    return resp._response
