"""Running the embedded Toxiproxy-compatible server: as a process (``python -m harness.faults``) or a thread.

The server is pure asyncio: the HTTP API (on ``harness._http``) and every proxy share one event loop, so
API changes and data movement never race and the API answers while streams flow. Run it as its own
process in real runs (it must never share a process with Locust's gevent patching);
:func:`serve_proxy_in_thread` is for tests of other parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from harness._http import HttpServer, Request, Response, is_loopback
from harness.faults._toxiproxy_server._api import ToxiproxyApp

__all__ = ["EmbeddedToxiproxy", "ToxiproxyServer", "is_loopback", "run_until_signal", "serve_proxy_in_thread"]


class ToxiproxyServer:
    """The API server plus its proxies, on the running event loop.

    Example::

        server = ToxiproxyServer(port=0)
        await server.start()
        print(server.url)          # http://127.0.0.1:40123
        ...
        await server.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8474, *, seed: int | None = None) -> None:
        self.app = ToxiproxyApp(seed)
        self._http = HttpServer(self._handle, host=host, port=port)

    @property
    def host(self) -> str:
        return self._http.host

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        await self._http.start()

    async def stop(self) -> None:
        """Stop the API and every proxy; let cancelled link tasks finish."""
        self.app.close()
        await self._http.stop(grace_s=0.5)
        await _settle()

    async def _handle(self, req: Request, resp: Response) -> None:
        status, headers, body = await self.app.handle(req.method, req.path, req.headers, req.body)
        resp.send(status, headers, body)


async def _settle() -> None:
    """Give cancelled tasks a turn, then cancel whatever is left (other than the caller)."""
    for _ in range(3):
        await asyncio.sleep(0)
    me = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    for t in rest:
        t.cancel()
    if rest:
        await asyncio.gather(*rest, return_exceptions=True)


async def run_until_signal(host: str, port: int, seed: int | None = None) -> int:
    """Serve until SIGTERM/SIGINT; print the ready line on stdout. Returns the exit code."""
    server = ToxiproxyServer(host, port, seed=seed)
    try:
        await server.start()
    except OSError as exc:
        print(f"bakeoff proxy: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"toxiproxy-compatible API listening on {server.url}", flush=True)
    await stop.wait()
    await server.stop()
    return 0


@dataclass(frozen=True)
class EmbeddedToxiproxy:
    """A server running in a background thread: ``url`` is its API base URL."""

    url: str
    host: str
    port: int
    loop: asyncio.AbstractEventLoop


@contextlib.contextmanager
def serve_proxy_in_thread(
    host: str = "127.0.0.1", port: int = 0, *, seed: int | None = None
) -> Iterator[EmbeddedToxiproxy]:
    """Run the embedded server in a daemon thread with its own event loop, for tests.

    Example::

        with serve_proxy_in_thread() as srv, ToxiproxyClient(srv.url) as api:
            api.create_proxy("vendor", upstream="127.0.0.1:9000")
    """
    ready = threading.Event()
    state: dict[str, object] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        server = ToxiproxyServer(host, port, seed=seed)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # reported to the caller's thread
            state["error"] = exc
            loop.close()
            ready.set()
            return
        state["server"] = server
        state["loop"] = loop
        ready.set()
        try:
            loop.run_forever()
            loop.run_until_complete(server.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="embedded-toxiproxy", daemon=True)
    thread.start()
    if not ready.wait(10.0):
        raise RuntimeError("embedded toxiproxy did not start within 10 s")
    if "error" in state:
        err = state["error"]
        assert isinstance(err, BaseException)
        raise err
    server = state["server"]
    loop = state["loop"]
    assert isinstance(server, ToxiproxyServer)
    assert isinstance(loop, asyncio.AbstractEventLoop)
    try:
        yield EmbeddedToxiproxy(url=server.url, host=server.host, port=server.port, loop=loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
