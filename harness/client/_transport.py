"""The shared httpx client: sync, HTTP/1.1, no env proxies, and a read deadline that moves per phase.

httpx applies one fixed read timeout to every socket read of a request. An attempt needs three
(time to first token, idle gap between chunks, total), so the network backend here wraps each
socket stream and bounds every read by a per-attempt :class:`ReadBudget` held in a context variable
(per thread, and per greenlet under gevent). ``run_attempt`` moves the budget's deadline as the
stream progresses; an expired budget raises httpcore's ``ReadTimeout``, which the transport reports as
``httpx.ReadTimeout`` exactly as if the socket had timed out.

Plain TCP connections ask the kernel to stamp what they receive (:func:`stamp_arrivals`); each read
stores the stamp in the budget (``ReadBudget.rx``) and ``run_attempt`` records it as the arrival time, so
a thread that reads late does not make the vendor look slow. Over TLS (here; the load path's transport
stamps TLS too) the time of the read is used.

A :class:`Target` may name a ``connect_to`` address (a Toxiproxy listen address): the request then
goes to that address while the ``Host`` header and the TLS SNI / certificate check keep the
vendor's own host name.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from harness.client._errormap import ResponseTooLarge, from_httpcore
from harness.config import Endpoint, Price
from harness.tokens import count_tokens

__all__ = [
    "HEADERS",
    "HEAD_BYTES",
    "ReadBudget",
    "Target",
    "arrival_of",
    "make_http_client",
    "read_deadline",
    "recv_stamped",
    "route_request",
    "stamp_arrivals",
    "upstream_address",
    "upstream_refuses",
]


HEAD_BYTES = 64 * 1024
"""Default bound on a response head, 1xx heads included (``limits.head_bytes``)."""
HEADERS = 256
"""Default bound on the number of response header fields (``limits.headers``)."""


class ReadBudget:
    """Per-attempt read state shared with the transport.

    ``deadline``: the monotonic time (``time.monotonic``) after which reads of the current attempt fail;
    it is absolute, so no trickle of bytes extends it. ``rx``: written back by the transport on every
    read, the monotonic time the kernel received the bytes just read (see :func:`recv_stamped`), or 0.0
    when it is not known (TLS, no kernel support). ``head_bytes`` and ``headers``: bounds on the response
    head the transport accepts (``ResponseTooLarge`` past them).
    """

    __slots__ = ("deadline", "head_bytes", "headers", "reason", "rx")

    def __init__(
        self, deadline: float, reason: str, *, head_bytes: int = HEAD_BYTES, headers: int = HEADERS
    ) -> None:
        self.deadline = deadline
        self.reason = reason
        self.rx = 0.0
        self.head_bytes = head_bytes
        self.headers = headers


BUDGET: ContextVar[ReadBudget | None] = ContextVar("bakeoff_read_budget", default=None)


@contextmanager
def read_deadline(
    seconds: float, reason: str, *, head_bytes: int = HEAD_BYTES, headers: int = HEADERS
) -> Iterator[ReadBudget]:
    """Bound every read of the requests made inside to one wall-clock deadline, ``seconds`` from now, and
    their response heads to ``head_bytes`` and ``headers`` fields (either transport).

    A read timeout alone restarts on every byte: one header byte a second, or endless ``100 Continue``
    heads, would hold a request for ever. Past the deadline a read fails with ``httpx.ReadTimeout(reason)``::

        with read_deadline(10.0, "probe time limit 10 s"):
            with client.stream("POST", url, content=body) as resp:
                ...
    """
    budget = ReadBudget(time.monotonic() + seconds, reason, head_bytes=head_bytes, headers=headers)
    token = BUDGET.set(budget)
    try:
        yield budget
    finally:
        BUDGET.reset(token)


_SO_TIMESTAMPNS: int | None = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
_ANC_BYTES = socket.CMSG_SPACE(16) if hasattr(socket, "CMSG_SPACE") else 0
_TIMESPEC = struct.Struct("@qq")
STAMPS_AVAILABLE = _SO_TIMESTAMPNS is not None and bool(_ANC_BYTES) and hasattr(socket.socket, "recvmsg")
_MAX_AGE_S = 10.0  # an older stamp means the wall clock was stepped: not trusted


def stamp_arrivals(sock: socket.socket) -> bool:
    """Ask the kernel to stamp every segment ``sock`` receives (``SO_TIMESTAMPNS``); False if it cannot.

    Arrival times then come from the kernel, not from whenever the reading thread or greenlet got to
    run: a busy load generator no longer adds its own scheduling delay to the chunk times it records.
    """
    if not STAMPS_AVAILABLE or _SO_TIMESTAMPNS is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def recv_stamped(sock: socket.socket, max_bytes: int) -> tuple[bytes, float]:
    """``sock.recv(max_bytes)`` plus the monotonic time the kernel received those bytes (0.0: unknown).

    For a socket set up by :func:`stamp_arrivals`. With several segments in one read, the kernel
    reports the latest (segments that wait in the socket together are merged, keeping the latest
    stamp).
    """
    data, anc, _flags, _addr = sock.recvmsg(max_bytes, _ANC_BYTES)
    return data, arrival_of(anc)


def arrival_of(
    anc: list[tuple[int, int, bytes]],
    _unpack: Any = _TIMESPEC.unpack_from,
    _wall: Any = time.time,
    _mono: Any = time.monotonic,
) -> float:
    """The monotonic time of the kernel's receive stamp in ``recvmsg`` ancillary data (0.0: none).

    The stamp is on the wall clock; its age (wall now - stamp) is taken from the monotonic now, so a
    stamp never lies after the read, and a wall-clock step between the two clock reads is caught by the
    bounds. Called once per read on the load path: kept lean.
    """
    if anc:
        level, kind, raw = anc[0]  # the only control message asked for
        if kind == _SO_TIMESTAMPNS and level == socket.SOL_SOCKET and len(raw) >= 16:
            sec, nsec = _unpack(raw)
            age = _wall() - sec - nsec * 1e-9  # float seconds: 0.24 µs resolution, ample here
            now = _mono()
            if 0.0 <= age <= _MAX_AGE_S:
                return float(now - age)
            return float(now) if age < 0.0 else 0.0
    return 0.0


class _BudgetStream(httpcore.NetworkStream):
    """httpcore's stream with reads bounded by the attempt's budget; plain TCP reads are kernel-stamped."""

    __slots__ = ("_inner", "_raw")

    def __init__(self, inner: httpcore.NetworkStream, raw: socket.socket | None = None) -> None:
        self._inner = inner
        self._raw = raw  # the plain TCP socket, when it stamps arrivals

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        budget = BUDGET.get()
        if budget is not None:
            remaining = budget.deadline - time.monotonic()
            if remaining <= 0:
                raise httpcore.ReadTimeout(budget.reason)
            timeout = remaining if timeout is None else min(timeout, remaining)
        raw = self._raw
        if raw is None:
            if budget is not None:
                budget.rx = 0.0
            return self._inner.read(max_bytes, timeout)
        try:  # as httpcore's SyncStream.read, with the kernel's arrival stamp
            raw.settimeout(timeout)
            data, rx = recv_stamped(raw, max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc
        if budget is not None:
            budget.rx = rx
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _BudgetStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BudgetBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        via = _VIA.get(host)
        if via is not None:
            host, port = via
        inner = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        sock = inner.get_extra_info("socket")
        stamped = isinstance(sock, socket.socket) and not isinstance(sock, ssl.SSLSocket)
        return _BudgetStream(inner, sock if stamped and stamp_arrivals(sock) else None)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - not used
        return _BudgetStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore retries are off
        time.sleep(seconds)


class _ResponseStream(httpx.SyncByteStream):
    """httpcore's response body as httpx's, its errors as httpx's (:func:`from_httpcore`)."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except Exception as exc:
            mapped = from_httpcore(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class _Transport(httpx.BaseTransport):
    """What ``httpx.HTTPTransport`` does, on public APIs only: httpcore's pool, here with the budget-aware
    network backend, which ``HTTPTransport`` takes no parameter for (as of httpx 0.28; encode/httpx#3749
    proposes one). httpcore's errors become httpx's through :data:`~harness.client._errormap.HTTPCORE_ERRORS`.
    """

    def __init__(self, ctx: ssl.SSLContext, max_connections: int) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ctx,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_BudgetBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        req = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            resp = self._pool.handle_request(req)
        except Exception as exc:
            mapped = from_httpcore(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        assert isinstance(resp.stream, Iterable)
        budget = BUDGET.get()
        if budget is not None:  # h11 bounds the head's size (100 KiB); the attempt's own bounds apply too
            size = sum(len(k) + len(v) + 4 for k, v in resp.headers)
            if len(resp.headers) > budget.headers or size > budget.head_bytes:
                resp.close()
                raise ResponseTooLarge(
                    f"response head of {len(resp.headers)} header fields, {size} bytes: over the "
                    f"bounds of {budget.headers} fields and {budget.head_bytes} bytes (limits)"
                )
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_ResponseStream(resp.stream),
            extensions=resp.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _ShardedTransport(httpx.BaseTransport):
    """Several small connection pools; each thread (greenlet under gevent) sticks to one of them.

    httpcore's pool scans every connection, polling idle sockets, under one lock each time a request
    starts or ends: with hundreds of connections in one pool that costs more CPU than the streams
    themselves (measured: 1.3 ms per chunk at 500 streams vs 0.17 ms with 16 shards). Sticky shards
    keep keep-alive reuse intact. All shards share one SSL context.
    """

    def __init__(self, verify: ssl.SSLContext | bool | str, max_connections: int) -> None:
        if isinstance(verify, ssl.SSLContext):
            ctx = verify
        elif isinstance(verify, str):  # a CA bundle path (httpx 0.28 deprecates passing it as `verify`)
            ctx = ssl.create_default_context(cafile=verify)
        else:
            ctx = httpx.create_ssl_context(verify=verify)
        n = max(1, min(16, max_connections // 32))
        per_shard = -(-max_connections // n) + (8 if n > 1 else 0)
        self._shards = [_Transport(ctx, per_shard) for _ in range(n)]
        self._local = threading.local()
        self._next = itertools.count()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        shard: _Transport | None = getattr(self._local, "shard", None)
        if shard is None:
            shard = self._shards[next(self._next) % len(self._shards)]
            self._local.shard = shard
        return shard.handle_request(request)

    def close(self) -> None:
        for t in self._shards:
            t.close()


def make_http_client(max_connections: int = 1000, verify: ssl.SSLContext | bool | str = True) -> httpx.Client:
    """One shared client per process: HTTP/1.1, pool sized for load, ``Accept-Encoding: identity``.

    ``trust_env=False`` (no ``HTTP(S)_PROXY`` surprises), redirects not followed, no retries. ``verify``
    is a CA bundle path, an ``ssl.SSLContext`` or a bool, as in httpx.

        client = make_http_client(max_connections=400)
        record = run_attempt(client, target, prompt, clock=clock, run_id="r1", ...)

    Also loads the offline tokenizer now: its first use takes about a second of CPU, which inside a
    gevent process would otherwise freeze every greenlet in the middle of the run.
    """
    count_tokens("warm up")
    return httpx.Client(
        transport=_ShardedTransport(verify, max_connections),
        trust_env=False,
        follow_redirects=False,
        timeout=None,  # noqa: S113 - every request passes its own per-phase timeouts
        headers={"accept-encoding": "identity", "user-agent": "bakeoff"},
    )


@dataclass(frozen=True, slots=True)
class Target:
    """Where one endpoint's attempts go.

    ``base_url`` is the vendor's real base URL (as given to its SDK). ``connect_to`` is a proxy listen
    address dialled instead of the base URL's host:port, with Host and SNI kept. ``api_key`` never
    appears in records, logs or repr.
    """

    endpoint: Endpoint
    base_url: str
    connect_to: tuple[str, int] | None
    api_key: str | None = field(repr=False)
    price: Price


_VIA: dict[str, tuple[str, int]] = {}
_VIA_NAMES: dict[tuple[str, int, str], str] = {}
_VIA_LOCK = threading.Lock()


def _via_host(connect_to: tuple[str, int], netloc: str) -> str:
    """A private host name for (proxy address, vendor host): the connection pool keys on it.

    httpcore pools connections by the URL's origin. Dialling the proxy address directly would let two
    vendor hosts behind one proxy address share a TLS connection made for the other's SNI; a name per
    (address, vendor host) keeps them apart. The backend maps the name back to the address.
    """
    key = (connect_to[0], connect_to[1], netloc)
    name = _VIA_NAMES.get(key)
    if name is None:
        with _VIA_LOCK:
            name = _VIA_NAMES.get(key)
            if name is None:
                name = f"via{len(_VIA_NAMES)}.bakeoff.invalid"
                _VIA[name] = connect_to
                _VIA_NAMES[key] = name
    return name


def route_request(url: str, connect_to: tuple[str, int] | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL to dial, extra headers and httpx extensions for ``url`` sent through ``connect_to``.

    The request goes to ``connect_to`` while the ``Host`` header, the TLS SNI and the certificate check
    keep the vendor's host name:

    >>> url, headers, extensions = route_request("https://api.example.com/v1/x", ("127.0.0.1", 9000))
    >>> url.endswith(".bakeoff.invalid:9000/v1/x"), headers, extensions
    (True, {'host': 'api.example.com'}, {'sni_hostname': 'api.example.com'})
    """
    if connect_to is None:
        return url, {}, {}
    u = httpx.URL(url)
    host = u.host
    netloc = host if u.port is None else f"{host}:{u.port}"
    dial = u.copy_with(host=_via_host(connect_to, netloc), port=connect_to[1])
    ext: dict[str, Any] = {"sni_hostname": host} if u.scheme == "https" else {}
    return str(dial), {"host": netloc}, ext


def upstream_address(base_url: str) -> tuple[str, int]:
    """Host and port a vendor base URL connects to (default ports by scheme): a proxy's upstream."""
    u = httpx.URL(base_url)
    return u.host or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80)


def upstream_refuses(base_url: str, timeout: float) -> bool:
    """True when the vendor behind a proxy refuses a TCP connection right now (nothing listening).

    A TCP proxy (Toxiproxy and the embedded one alike) accepts the client first and dials the vendor
    afterwards; when that dial is refused it closes the client's connection, so the client sees a
    connection that opened and closed before any byte, never the refusal itself. Dialling the vendor's
    address directly tells the two apart. Only a refusal counts: a timeout, a DNS failure or a vendor
    that accepts all say "not refused". Nothing is sent on the connection.
    """
    host, port = upstream_address(base_url)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False
