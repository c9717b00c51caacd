"""Proxies of the embedded Toxiproxy-compatible server: listeners, connections and their toxic collection.

Semantics follow Toxiproxy 2.x (``proxy.go``, ``toxic_collection.go``): the proxy accepts the client first
and then dials the upstream (a failed dial closes the client at once, it is not refused); each connection
gets an upstream link (client → server) and a downstream link (server → client); toxic changes rewire the
links of open connections; disabling closes the listener and every open socket with a normal close.

Deliberate difference: a ``listen`` with an empty host (``":8080"``, or no ``listen`` at all) binds
127.0.0.1, not every interface as real Toxiproxy does: the harness keeps faults on loopback unless told.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from typing import Any

from harness.faults._toxiproxy_server._link import Link, set_linger_zero
from harness.faults._toxiproxy_server._toxics import ApiError, ToxicSpec

__all__ = ["Proxy", "ProxyCollection", "ToxicCollection", "format_addr", "split_host_port"]

DEFAULT_LISTEN_HOST = "127.0.0.1"


def split_host_port(addr: str) -> tuple[str, int]:
    """Split ``host:port`` / ``[v6]:port`` like Go's net.SplitHostPort, with Go's error texts."""
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0:
            raise ValueError(f"address {addr}: missing ']' in address")
        host, rest = addr[1:end], addr[end + 1 :]
        if not rest.startswith(":"):
            raise ValueError(f"address {addr}: missing port in address")
        port_s = rest[1:]
    else:
        host, sep, port_s = addr.rpartition(":")
        if not sep:
            raise ValueError(f"address {addr}: missing port in address")
        if ":" in host:
            raise ValueError(f"address {addr}: too many colons in address")
    if not port_s.isdigit() or int(port_s) > 65535:
        raise ValueError(f"address {addr}: invalid port")
    return host, int(port_s)


def format_addr(sockname: tuple[Any, ...]) -> str:
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _resolve_listen(listen: str) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    host, port = split_host_port(listen or ":0")  # Go's net.Listen("tcp", "") is ":0"
    host = host or DEFAULT_LISTEN_HOST
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    infos.sort(key=lambda i: i[0] != socket.AF_INET)  # IPv4 first, as Go does for "localhost"
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _bind(listen: str) -> socket.socket:
    """A listening socket for ``listen`` or ApiError 500 with Go's ``listen tcp ...`` message."""
    try:
        family, sockaddr = _resolve_listen(listen)
    except ValueError as exc:
        raise ApiError(500, f"listen tcp {listen}: {exc}") from exc
    except OSError as exc:
        raise ApiError(500, f"listen tcp {listen}: lookup: {exc.strerror or exc}".lower()) from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        where = format_addr(sockaddr)
        raise ApiError(500, f"listen tcp {where}: bind: {(exc.strerror or str(exc)).lower()}") from exc
    return sock


def same_listen(current: str, wanted: str) -> bool:
    """True when ``wanted`` resolves to the address ``current`` is bound to (port 0 never matches)."""
    if current == wanted:
        return True
    try:
        _, a = _resolve_listen(current)
        _, b = _resolve_listen(wanted)
    except (ValueError, OSError):
        return False
    return bool(a[0] == b[0] and a[1] == b[1] and b[1] != 0)


class _Side(asyncio.Protocol):
    """One socket of a proxied connection; implements the link ``LinkEnd`` protocol."""

    def __init__(self, conn: Connection | None) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.out_link: Link | None = None  # the link this socket's reads feed
        self.in_link: Link | None = None  # the link that writes to this socket
        self._write_paused = False
        self._gone = False
        self._writable: asyncio.Future[None] | None = None

    # LinkEnd
    @property
    def write_paused(self) -> bool:
        return self._write_paused

    @property
    def gone(self) -> bool:
        return self._gone or self.transport is None or self.transport.is_closing()

    def write(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self._gone:
            self.transport.abort()

    def set_reading(self, on: bool) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        if on:
            t.resume_reading()
        else:
            t.pause_reading()

    async def wait_writable(self) -> None:
        if not self._write_paused or self._gone:
            return
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._writable)

    def set_linger_zero(self) -> None:
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    set_linger_zero(sock)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # nothing is read until both links exist
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        link = self.out_link
        if link is not None:
            link.feed(data)

    def eof_received(self) -> bool:
        if self.out_link is not None:
            self.out_link.feed_eof()
        return True  # keep the socket open for writing: the other link may still deliver

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone = True
        self._wake()
        if self.out_link is not None:
            self.out_link.feed_eof()
        if self.in_link is not None:
            self.in_link.dest_lost()
        if self.conn is not None:
            self.conn.side_lost()

    def pause_writing(self) -> None:
        self._write_paused = True
        if self.in_link is not None:
            self.in_link.update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()
        if self.in_link is not None:
            self.in_link.update_reading()

    def _wake(self) -> None:
        w = self._writable
        if w is not None and not w.done():
            w.set_result(None)


class Connection:
    """One proxied client connection: the client socket, the upstream socket and the two links."""

    def __init__(self, proxy: Proxy, sock: socket.socket) -> None:
        self.proxy = proxy
        self.sock: socket.socket | None = sock  # the accepted socket until it is wrapped in a transport
        self.client: _Side | None = None
        self.upstream: _Side | None = None
        self.links: list[Link] = []
        self.closed = False
        proxy.connections.add(self)
        self._task = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        sock, self.sock = self.sock, None
        if sock is None or self.closed:  # aborted before this task ran: abort() closed the socket
            return
        # Wrap the accepted socket while the upstream is being dialled (saves loop turns per connection).
        try:
            dial, wrap = await asyncio.gather(
                self._dial(loop),
                loop.connect_accepted_socket(lambda: _Side(self), sock),
                return_exceptions=True,
            )
        except asyncio.CancelledError:  # only at server shutdown: abort() never cancels this task
            sock.close()
            raise
        client = wrap[1] if isinstance(wrap, tuple) else None
        up = dial[1] if isinstance(dial, tuple) else None
        if isinstance(client, _Side):
            self.client = client
        else:
            sock.close()
        if isinstance(up, _Side):
            self.upstream = up
        if not isinstance(client, _Side) or not isinstance(up, _Side) or self.closed:
            # A failed dial closes the accepted client at once (FIN): the client sees open-then-close,
            # not ECONNREFUSED, exactly as with Toxiproxy.
            if isinstance(client, _Side):
                client.close()
            if isinstance(up, _Side):
                up.abort()
            self._forget()
            return
        col = self.proxy.toxics
        rng = self.proxy.rng
        up_link = Link(loop, "upstream", client, up, col.chains["upstream"], rng, col.unregister)
        down_link = Link(loop, "downstream", up, client, col.chains["downstream"], rng, col.unregister)
        client.out_link, client.in_link = up_link, down_link
        up.out_link, up.in_link = down_link, up_link
        if up_link.has_reset_peer or down_link.has_reset_peer:
            # Only connections opened while a reset_peer toxic exists get SO_LINGER 0 (RST on close).
            client.set_linger_zero()
            up.set_linger_zero()
        self.links = [up_link, down_link]
        col.register(up_link)
        col.register(down_link)
        for link in self.links:
            link.mark_source_paused()
            link.start()

    async def _dial(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
        host, port = split_host_port(self.proxy.upstream)
        return await loop.create_connection(lambda: _Side(self), host, port)

    def _close_raw(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def side_lost(self) -> None:
        if (self.client is None or self.client.gone) and (self.upstream is None or self.upstream.gone):
            self._forget()

    def _forget(self) -> None:
        self.closed = True
        self.proxy.connections.discard(self)

    def abort(self) -> None:
        """Close both sockets now (FIN, or RST under linger 0) and stop the links."""
        self.closed = True
        for link in self.links:
            link.abort()
        self._close_raw()
        if self.client is not None:
            self.client.abort()
        if self.upstream is not None:
            self.upstream.abort()
        # The setup task is not cancelled: cancelling its gather would orphan a transport that is
        # already made. It sees ``closed`` when both sockets are ready and closes them itself.
        self._forget()


class ToxicCollection:
    """The toxics of one proxy, per direction, and the open links they apply to."""

    def __init__(self) -> None:
        self.chains: dict[str, list[ToxicSpec]] = {"upstream": [], "downstream": []}
        self._links: dict[str, dict[Link, None]] = {"upstream": {}, "downstream": {}}

    def register(self, link: Link) -> None:
        if not link.finished:
            self._links[link.direction][link] = None

    def unregister(self, link: Link) -> None:
        self._links[link.direction].pop(link, None)

    def find(self, name: str) -> tuple[str, int, ToxicSpec] | None:
        for direction, chain in self.chains.items():
            for i, spec in enumerate(chain):
                if spec.name == name:
                    return direction, i, spec
        return None

    def get(self, name: str) -> ToxicSpec:
        found = self.find(name)
        if found is None:
            raise ApiError(404, "toxic not found")
        return found[2]

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.chains["upstream"] + self.chains["downstream"]]

    def add(self, spec: ToxicSpec) -> None:
        if self.find(spec.name) is not None:
            raise ApiError(409, "toxic already exists")
        self.chains[spec.direction].append(spec)
        for link in list(self._links[spec.direction]):
            link.add_toxic(spec)

    def updated(self, name: str) -> None:
        """Restart the stages of an updated toxic on every open link (toxicity drawn again)."""
        found = self.find(name)
        if found is None:
            return
        direction, index, _ = found
        for link in list(self._links[direction]):
            link.update_toxic(index)

    def remove(self, name: str) -> None:
        found = self.find(name)
        if found is None:
            raise ApiError(404, "toxic not found")
        direction, index, _ = found
        self.chains[direction].pop(index)
        for link in list(self._links[direction]):
            link.remove_toxic(index)

    def reset(self) -> None:
        """Remove every toxic, last first in each direction, as Toxiproxy's ResetToxics does."""
        for chain in self.chains.values():
            while chain:
                self.remove(chain[-1].name)


class Proxy:
    """One proxy: a listener on ``listen`` forwarding to ``upstream`` through its toxics."""

    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.rng = rng
        self.toxics = ToxicCollection()
        self.connections: set[Connection] = set()
        self._listener: socket.socket | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics.to_json(),
        }

    async def start(self) -> None:
        """Listen on ``listen`` (port 0 → the real port is kept in ``listen``). No-op when enabled."""
        if self.enabled:
            return
        sock = _bind(self.listen)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept)
        self._listener = sock
        self.listen = format_addr(sock.getsockname())
        self.enabled = True

    def _accept(self) -> None:
        lsock = self._listener
        for _ in range(64):
            if lsock is None:
                return
            try:
                sock, _ = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EMFILE, ECONNABORTED...: try again on the next readiness event
                return
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            Connection(self, sock)

    def stop(self) -> None:
        """Close the listener (new connects are refused) and every open connection (FIN)."""
        if not self.enabled:
            return
        self.enabled = False
        lsock, self._listener = self._listener, None
        if lsock is not None:
            asyncio.get_running_loop().remove_reader(lsock.fileno())
            lsock.close()
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """PATCH semantics: a new listen or upstream restarts the proxy (dropping connections)."""
        if listen != self.listen or upstream != self.upstream:
            self.stop()
            self.listen = listen
            self.upstream = upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                self.stop()


class ProxyCollection:
    """Every proxy of the server, by name."""

    def __init__(self, seed: int | None = None) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.rng = random.Random(seed)

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(404, "proxy not found")
        return proxy

    async def add(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        if name in self.proxies:
            raise ApiError(409, "proxy already exists")
        proxy = Proxy(name, listen, upstream, self.rng)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def add_or_replace(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        """/populate: an unchanged proxy (same listen after resolving, same upstream) is left alone."""
        existing = self.proxies.get(name)
        if existing is not None:
            if existing.upstream == upstream and same_listen(existing.listen, listen):
                return existing
            existing.stop()
        proxy = Proxy(name, listen, upstream, self.rng)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    def remove(self, name: str) -> None:
        proxy = self.get(name)
        proxy.stop()
        del self.proxies[name]

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
