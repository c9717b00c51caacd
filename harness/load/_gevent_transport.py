"""An ``httpx`` transport on geventhttpclient's C response parser, for the gevent-patched load process.

``run_attempt`` talks to an ``httpx.Client``; this transport replaces httpcore + h11 under it, so the
attempt code, its timing and its error taxonomy stay as they are. Per request it writes the request head
and body in one ``sendall`` on a pooled keep-alive socket (``TCP_NODELAY``), feeds every ``recv`` to
geventhttpclient's llhttp parser and yields the decoded body bytes as they arrive — no line or block
buffering. It honours what ``harness.client`` relies on:

* the per-attempt read budget (``harness.client._transport.BUDGET``): every read is bounded by the
  budget's deadline and fails with ``httpx.ReadTimeout(budget.reason)``;
* routing through a proxy: a URL made by ``route_request`` dials the proxy address while the ``Host``
  header and the TLS SNI / certificate check keep the vendor's name (``sni_hostname`` extension);
* arrival times: every read is a ``recvmsg`` that brings the kernel's receive stamp of the bytes
  (``SO_TIMESTAMPNS``) into the attempt's budget (``ReadBudget.rx``); TLS runs on ``ssl.MemoryBIO`` over
  the plain socket (:class:`_TLS`) so encrypted reads are stamped too;
* bounds on the response head (``ReadBudget.head_bytes`` and ``.headers``, 1xx heads included):
  ``ResponseTooLarge`` past them;
* fairness: a body that is always ready to read (a vendor streaming as fast as loopback allows) cannot
  starve the other greenlets. A read that finds data waiting returns without a turn of the event loop
  (the loop's clock, ``loop.now()``, has not moved); once a stream has read ``_FLOOD_BYTES`` that way in
  a row, each of its reads (and what the caller does with it) is a turn of the process-wide
  :class:`_FloodLane`: one flooding stream at a time, each turn followed by a pause as long as itself,
  so the loop polls I/O between two turns and every other stream keeps at least half the CPU. A read
  that has to wait ends the flood;
* one shared ``ssl.SSLContext`` for every connection;
* errors mapped to httpx's classes by the table the client path uses
  (``harness.client._errormap.STEP_ERRORS``) with the ``OSError`` chained (so errno-based classification
  holds): ``ConnectTimeout``, ``ConnectError`` (refused, DNS, TLS), ``PoolTimeout``,
  ``WriteError``/``WriteTimeout``, ``ReadTimeout``, ``ReadError`` (reset), ``RemoteProtocolError`` (closed
  early, malformed HTTP).

geventhttpclient's parser and gevent's socket internals are used through ``harness.load._compat`` (the
fence for private APIs).

Only for processes patched by gevent (it imports gevent); everything else keeps httpx's own transport::

    client = make_gevent_client(max_connections=1000)
    rec = run_attempt(client, target, prompt, clock=clock, run_id="r1", ...)
"""

from __future__ import annotations

import http.cookiejar
import re
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.monkey
import gevent.socket
import gevent.ssl
import httpx

from harness.client._errormap import ResponseTooLarge, transport_error
from harness.client._transport import (
    _VIA,
    BUDGET,
    HEAD_BYTES,
    HEADERS,
    STAMPS_AVAILABLE,
    ReadBudget,
    stamp_arrivals,
)
from harness.load._compat import HTTPParseError, ResponseParser, recv_stamped
from harness.tokens import count_tokens

__all__ = ["GeventTransport", "make_gevent_client"]

_RECV = 65536
_FLOOD_BYTES = 2 * _RECV  # read in a row without the loop turning once: the stream is a flood


class _FloodLane:
    """Turns for flooding streams (see the module docstring): one at a time, each followed by a pause as
    long as the turn took. The pause is a timer, so the loop polls I/O before the next turn; handing the
    lane straight to the next flood at the end of a turn (a lock) would run every flood back to back,
    since gevent polls I/O between callbacks only every 50 of them (measured: 2 ms turns delayed a waiting
    read by 45 ms at the median with ``gevent.sleep(0)``, 2 ms with a timer). A turn whose read has to
    wait keeps the lane: the others wait on an event, not a spinning timer."""

    __slots__ = ("_free", "busy", "free_at")

    def __init__(self) -> None:
        self.busy = False
        self.free_at = 0.0
        self._free = gevent.event.Event()
        self._free.set()

    def enter(self) -> float:
        """Wait for a turn; returns when it started (for :meth:`leave`)."""
        while True:
            if self.busy:
                self._free.wait()
                continue
            wait = self.free_at - time.monotonic()
            if wait <= 0:
                self.busy = True
                self._free.clear()
                return time.monotonic()
            gevent.sleep(wait)

    def leave(self, started: float) -> None:
        now = time.monotonic()
        self.busy = False
        self.free_at = now + (now - started)
        self._free.set()


_KEEPALIVE_S = 30.0  # as httpcore's keepalive_expiry in harness.client: an older idle socket is not reused
_poll: Any = gevent.monkey.get_original("select", "poll")
_POLLIN = 0x001
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_TLS_SOCKETS = (ssl.SSLSocket, gevent.ssl.SSLSocket)


# Control bytes h11 (httpx) keeps in a header value; it refuses NUL, VT and FF (and bare CR/LF), and so
# does llhttp, so those are left for the parser to refuse the same way.
_HEAD_CTL = re.compile(b"[\x01-\x08\x0e-\x1f\x7f]")
_CTL_TO_SP = bytes.maketrans(bytes([*range(0x01, 0x09), *range(0x0E, 0x20), 0x7F]), b" " * 27)


class HeadFilter:
    """Control characters in response header values become spaces before llhttp reads the head.

    RFC 9110 section 5.5: a control character in a field value is invalid; a recipient may replace it
    with SP (NUL, CR, LF: must reject or replace). llhttp refuses the whole response, while httpx (h11,
    what the vendors' own Python SDKs and the probes use) keeps the value: one stray byte in a header
    failed every load attempt while the probes saw HTTP 200. Replaced here, the load path accepts what
    h11 accepts and refuses what it refuses (NUL, VT, FF), and both record the same value
    (``harness.dialects`` reads header text the same way). Only bytes read while the head is incomplete
    are passed here, and only head bytes are touched: after the final head's blank line, bytes are body.
    Chunks without such a byte (every well-behaved response) pass through untouched.
    """

    __slots__ = ("_prev",)

    def __init__(self) -> None:
        self._prev = b""  # the last 3 bytes fed, to find a blank line split across two reads

    def __call__(self, data: bytes) -> bytes:
        prev, self._prev = self._prev, (self._prev + data)[-3:]
        if not _HEAD_CTL.search(data):
            return data
        out = bytearray()
        pos = 0
        while pos < len(data):
            joined = prev + data[pos:]
            end = joined.find(b"\r\n\r\n")
            if end < 0:  # the head goes on past this read
                out += data[pos:].translate(_CTL_TO_SP)
                break
            cut = pos + end + 4 - len(prev)
            out += data[pos:cut].translate(_CTL_TO_SP)
            pos, prev = cut, b""
            if not data.startswith(b"HTTP/", pos):  # the final head ended: the rest is body
                out += data[pos:]
                break
        return bytes(out)


class _Pool:
    """Idle keep-alive sockets of one origin with the time each went idle, most recently used last."""

    __slots__ = ("idle",)

    def __init__(self) -> None:
        self.idle: list[tuple[gevent.socket.socket, float]] = []


def _alive(sock: gevent.socket.socket) -> bool:
    """An idle keep-alive socket must not be readable: readable means closed by the peer (or junk)."""
    try:
        fd = sock.fileno()
        if fd < 0:
            return False
        p = _poll()
        p.register(fd, _POLLIN)
        return not p.poll(0)
    except (OSError, ValueError):
        return False


class _TLS:
    """TLS over a plain gevent socket through ``ssl.MemoryBIO``, so that every read of the encrypted bytes is
    a kernel-stamped ``recvmsg`` (an ``SSLSocket`` reads inside OpenSSL, out of reach of the stamps).

    The decrypted bytes of a read carry the stamp of the raw read that completed their TLS record. Same
    duck type as the socket where the transport needs it: ``settimeout``, ``sendall``, ``fileno``,
    ``close``. Raises what ``SSLSocket`` raises: ``TimeoutError``, ``OSError``, ``ssl.SSLError``.
    """

    __slots__ = ("_in", "_obj", "_out", "rx", "sock")

    def __init__(self, sock: gevent.socket.socket, ctx: ssl.SSLContext, server_hostname: str) -> None:
        self.sock = sock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = ctx.wrap_bio(self._in, self._out, server_hostname=server_hostname)
        self.rx = 0.0  # stamp of the latest raw read (0.0: none)
        self._io(self._obj.do_handshake)

    def _pull(self) -> None:
        raw, rx = recv_stamped(self.sock, _RECV, self.sock.timeout)
        if raw:
            self._in.write(raw)
            self.rx = rx
        else:
            self._in.write_eof()

    def _push(self) -> None:
        pending = self._out.read()
        if pending:
            self.sock.sendall(pending)

    def _io(self, op: Any, *args: Any) -> Any:
        while True:
            try:
                result = op(*args)
            except ssl.SSLWantReadError:
                self._push()
                self._pull()
                continue
            self._push()
            return result

    def recv_stamped(self, max_bytes: int) -> tuple[bytes, float]:
        try:
            data: bytes = self._io(self._obj.read, max_bytes)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # closed, with or without close_notify
            return b"", self.rx  # as SSLSocket with suppress_ragged_eofs (the default)
        return data, self.rx

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._io(self._obj.write, view)
            view = view[n:]

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def fileno(self) -> int:
        return int(self.sock.fileno())

    def close(self) -> None:
        self.sock.close()


class _Stream(httpx.SyncByteStream):
    """The response body, decoded from chunked framing, yielded as each ``recv`` brings it."""

    __slots__ = ("_first", "_key", "_parser", "_read_timeout", "_sock", "_transport")

    def __init__(
        self,
        transport: GeventTransport,
        key: tuple[bytes, str, int],
        sock: gevent.socket.socket,
        parser: ResponseParser,
        first: bytes,
        read_timeout: float | None,
    ) -> None:
        self._transport = transport
        self._key = key
        self._sock: gevent.socket.socket | None = sock
        self._parser = parser
        self._first = first
        self._read_timeout = read_timeout

    def __iter__(self) -> Iterator[bytes]:
        parser = self._parser
        if self._first:
            yield self._first
            self._first = b""
        sock = self._sock
        body = parser.body
        recv = self._transport._recv
        lane = self._transport._lane
        loop_now = gevent.get_hub().loop.now  # moves only when the loop turns
        budget = BUDGET.get()  # the attempt's budget object: its deadline moves, the object stays
        ready = 0  # bytes read in a row by reads that found them waiting (no turn of the loop)
        turn = 0.0  # when this stream's turn in the flood lane started (0.0: not in the lane)
        try:
            while not parser.message_complete and sock is not None:
                if ready >= _FLOOD_BYTES:  # a turn is one read plus what the caller did with it
                    if turn:
                        lane.leave(turn)
                        turn = 0.0
                    turn = lane.enter()  # before the read: a stop landing here loses no bytes read
                before = loop_now()
                data = recv(sock, self._read_timeout, budget)
                if loop_now() == before:
                    ready += len(data)
                else:  # the read waited: no flood (now)
                    ready = 0
                    if turn:
                        lane.leave(turn)
                        turn = 0.0
                try:
                    parser.feed(data)
                except HTTPParseError as exc:
                    self._discard()
                    if not data:
                        raise httpx.RemoteProtocolError(
                            "peer closed connection without sending complete message body"
                        ) from exc
                    raise transport_error("parse", exc, "response body") from exc
                if not data:
                    if parser.message_complete:  # a body delimited by the end of the connection
                        if body:
                            yield bytes(body)
                        break
                    self._discard()
                    raise httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body"
                    )
                if body:
                    chunk = bytes(body)
                    body.clear()
                    yield chunk
        finally:
            if turn:
                lane.leave(turn)
        self.close()

    def _discard(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            self._transport._release(sock)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        p = self._parser
        if p.message_complete and p.should_keep_alive() and not p.parser_failed():
            self._transport._return(self._key, sock)
        else:
            self._transport._release(sock)


class GeventTransport(httpx.BaseTransport):
    """HTTP/1.1 over gevent sockets with keep-alive pools per origin; see the module docstring."""

    def __init__(
        self,
        verify: ssl.SSLContext | bool | str = True,
        max_connections: int = 1000,
        *,
        kernel_stamps: bool = True,
    ) -> None:
        self._stamp = kernel_stamps and STAMPS_AVAILABLE  # off: arrivals are the time of the read
        if isinstance(verify, ssl.SSLContext):
            self._ssl = verify
        elif isinstance(verify, str):
            self._ssl = ssl.create_default_context(cafile=verify)
        else:
            self._ssl = httpx.create_ssl_context(verify=verify)
        self._pools: dict[tuple[bytes, str, int], _Pool] = {}
        self._slots = gevent.lock.BoundedSemaphore(max_connections)
        self._lane = _FloodLane()
        self._closed = False

    # --- connections ------------------------------------------------------------------------
    def _connect(self, scheme: bytes, host: str, port: int, sni: str, timeout: float | None) -> Any:
        dial_host, dial_port = _VIA.get(host, (host, port))
        try:
            sock = gevent.socket.create_connection((dial_host, dial_port), timeout=timeout)
        except OSError as exc:  # TimeoutError, ssl.SSLError and the rest: STEP_ERRORS says which class
            raise transport_error("connect", exc, f"{dial_host}:{dial_port}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._stamp and stamp_arrivals(sock):
                if scheme == b"https":
                    return _TLS(sock, self._ssl, sni)
            elif scheme == b"https":
                sock = self._ssl.wrap_socket(sock, server_hostname=sni)
        except OSError as exc:
            sock.close()
            raise transport_error("tls", exc, sni) from exc
        return sock

    def _return(self, key: tuple[bytes, str, int], sock: gevent.socket.socket) -> None:
        if self._closed:
            sock.close()
        else:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = _Pool()
            pool.idle.append((sock, time.monotonic()))
        self._slots.release()

    def _release(self, sock: gevent.socket.socket) -> None:
        try:
            sock.close()
        finally:
            self._slots.release()

    def _recv(
        self, sock: gevent.socket.socket, read_timeout: float | None, budget: ReadBudget | None
    ) -> bytes:
        timeout = read_timeout
        if budget is not None:
            remaining = budget.deadline - time.monotonic()
            if remaining <= 0:
                raise httpx.ReadTimeout(budget.reason)
            timeout = remaining if timeout is None else min(timeout, remaining)
        try:
            if type(sock) is _TLS:
                sock.settimeout(timeout)
                data, rx = sock.recv_stamped(_RECV)
            elif self._stamp and not isinstance(sock, _TLS_SOCKETS):
                data, rx = recv_stamped(sock, _RECV, timeout)
            else:  # no kernel stamp: the arrival is taken as now
                sock.settimeout(timeout)
                data, rx = bytes(sock.recv(_RECV)), 0.0
            if budget is not None:
                budget.rx = rx
            return data
        except OSError as exc:
            reason = budget.reason if budget is not None else "read timed out"
            raise transport_error("read", exc, reason) from exc

    # --- httpx.BaseTransport --------------------------------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        host = url.host
        port = url.port or _DEFAULT_PORTS[scheme]
        key = (scheme, host, port)
        to: dict[str, float | None] = request.extensions.get("timeout", {})
        if not self._slots.acquire(timeout=to.get("pool")):
            raise httpx.PoolTimeout("no free connection in the pool")
        pool = self._pools.get(key)
        sock = None
        if pool is not None and pool.idle:
            oldest = time.monotonic() - _KEEPALIVE_S
            while pool.idle:
                cand, since = pool.idle.pop()
                if since >= oldest and _alive(cand):
                    sock = cand
                    break
                cand.close()
        try:
            if sock is None:
                sni = request.extensions.get("sni_hostname") or host
                sock = self._connect(scheme, host, port, sni, to.get("connect"))
        except BaseException:
            self._slots.release()
            raise
        method = request.method.encode("ascii")
        try:
            head = [method, b" ", url.raw_path, b" HTTP/1.1\r\n"]
            for name, value in request.headers.raw:
                head += (name, b": ", value, b"\r\n")
            head.append(b"\r\n")
            sock.settimeout(to.get("write"))
            sock.sendall(b"".join(head) + request.read())
        except OSError as exc:
            self._release(sock)
            raise transport_error("write", exc) from exc
        except BaseException:
            self._release(sock)
            raise
        parser = ResponseParser(head_only=method == b"HEAD")
        read_timeout = to.get("read")
        budget = BUDGET.get()
        max_head, max_fields = (budget.head_bytes, budget.headers) if budget else (HEAD_BYTES, HEADERS)
        got = 0
        try:
            head_filter = HeadFilter()
            while True:  # 1xx heads: read on, and they count towards the bounds
                data = self._recv(sock, read_timeout, budget)
                if not data:
                    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
                got += len(data)
                parser.feed(head_filter(data))
                if len(parser.headers) > max_fields:
                    raise ResponseTooLarge(
                        f"response head with over {max_fields} header fields (limits.headers)"
                    )
                done = parser.headers_complete and parser.get_code() >= 200
                if got - len(parser.body) > max_head:
                    raise ResponseTooLarge(f"response head over {max_head} bytes (limits.head_bytes)")
                if done:
                    break
        except HTTPParseError as exc:
            self._release(sock)
            raise transport_error("parse", exc, "response head") from exc
        except BaseException:
            self._release(sock)
            raise
        first = bytes(parser.body)
        parser.body.clear()
        return httpx.Response(
            parser.get_code(),
            headers=parser.headers,
            stream=_Stream(self, key, sock, parser, first, read_timeout),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": parser.reason.encode("latin-1")},
        )

    def close(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            while pool.idle:
                pool.idle.pop()[0].close()
        self._pools.clear()


class _NoCookies(http.cookiejar.CookieJar):
    """A jar that never stores: vendor APIs need no cookies, and one client is shared by every user (a
    cookie set for one simulated user must not travel with another's requests). It also saves the
    ``http.cookiejar`` parse httpx runs on every response (about a tenth of the per-request CPU)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None


class _LeanClient(httpx.Client):
    """``httpx.Client`` minus what ``run_attempt`` never uses, on its hot path: no base URL or query
    merging, no cookies, no auth flow, no redirects, no event hooks (the client is built without any of
    them). Parsed URLs are cached (a load run sends to a handful). Anything unusual goes the normal way.

    It relies on ``httpx.Client.stream``/``request`` calling ``build_request`` then ``send`` (a canary in
    tests/integration/load/test_private_api_canaries.py checks it), and keeps its own reference to the
    transport (httpx's is private).
    """

    def __init__(self, *, transport: GeventTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self.gevent_transport = transport
        self._url_cache: dict[str, httpx.URL] = {}

    def build_request(self, method: str, url: httpx.URL | str, **kw: Any) -> httpx.Request:
        if any(kw.get(k) is not None for k in ("data", "files", "json", "params", "cookies")):
            return super().build_request(method, url, **kw)
        if isinstance(url, str):
            cached = self._url_cache.get(url)
            if cached is None:
                cached = httpx.URL(url)
                if len(self._url_cache) < 4096:
                    self._url_cache[url] = cached
            url = cached
        headers = self.headers.raw
        extra = kw.get("headers")
        if extra:
            if isinstance(extra, dict):  # one list, the caller's values replacing the client's defaults
                own = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
                names = {k for k, _ in own}
                headers = [kv for kv in headers if kv[0].lower() not in names] + own
            else:
                merged = httpx.Headers(headers)
                merged.update(extra)
                headers = merged.raw
        extensions = dict(kw.get("extensions") or {})
        if "timeout" not in extensions:
            timeout = kw.get("timeout", httpx.USE_CLIENT_DEFAULT)
            t = self.timeout if timeout is httpx.USE_CLIENT_DEFAULT else httpx.Timeout(timeout)
            extensions["timeout"] = t.as_dict()
        return httpx.Request(method, url, content=kw.get("content"), headers=headers, extensions=extensions)

    def send(self, request: httpx.Request, *, stream: bool = False, **_: Any) -> httpx.Response:
        response = self.gevent_transport.handle_request(request)
        response.request = request
        if not stream:
            try:
                response.read()
            finally:
                response.close()
        return response


def make_gevent_client(
    max_connections: int = 1000, verify: ssl.SSLContext | bool | str = True
) -> httpx.Client:
    """``make_http_client``'s twin over :class:`GeventTransport` (same headers, no env proxies, no
    redirects, per-request timeouts); loads the tokenizer now so its first use never stalls the run."""
    count_tokens("warm up")
    return _LeanClient(
        transport=GeventTransport(verify, max_connections),
        cookies=_NoCookies(),
        trust_env=False,
        follow_redirects=False,
        timeout=None,  # every request passes its own per-phase timeouts
        headers={"accept-encoding": "identity", "user-agent": "bakeoff"},
    )
