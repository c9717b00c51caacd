"""The simulator process: one HTTP server, several named endpoints under ``/<name>/…``, ``GET /healthz``,
and vLLM-named Prometheus metrics at ``GET /metrics`` (every endpoint) and ``GET /<name>/metrics`` (one)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from harness._http import HttpServer, Request, Response
from harness.behaviour import SimConfig, SimEndpoint
from harness.servermetrics import Family, render_text
from harness.sim._engine import EndpointRuntime
from harness.sim._groundtruth import GroundTruthWriter
from harness.sim.handlers import SimHTTPError
from harness.tokens import count_tokens

__all__ = ["SimServer", "SimThread", "base_url_for", "serve_in_thread"]

_log = logging.getLogger("harness.sim")
_API_ROOT = {"openai-chat": "/v1", "gemini": "/v1beta"}


def base_url_for(ep: SimEndpoint, host: str, port: int) -> str:
    """The URL to hand the vendor's official SDK (``base_url``; ``azure_endpoint`` for azure-openai;
    the ``…/v1beta`` API root for gemini)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    root = f"http://{host}:{port}/{ep.name}"
    return root + _API_ROOT.get(ep.dialect, "")


class SimServer:
    """All endpoints of a :class:`SimConfig` on one port.

    ``share`` > 1 means this process is one of ``share`` processes on the same port (``reuse_port``):
    capacity, queue and rate limits are divided by ``share`` (the kernel spreads connections, so the
    limits hold on average, not exactly). ``worker`` varies the timing draws between such processes.
    """

    def __init__(
        self,
        config: SimConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ground_truth: str | Path | None = None,
        reuse_port: bool = False,
        share: int = 1,
        worker: int = 0,
    ) -> None:
        self.config = config
        self._gt = GroundTruthWriter(ground_truth) if ground_truth else None
        self.runtimes: dict[str, EndpointRuntime] = {
            ep.name: EndpointRuntime(ep, config.seed, self._gt, share=share, worker=worker)
            for ep in config.endpoints
        }
        self.http = HttpServer(self._handle, host=host, port=port, reuse_port=reuse_port)

    @property
    def port(self) -> int:
        return self.http.port

    @property
    def base_urls(self) -> dict[str, str]:
        return {ep.name: base_url_for(ep, self.http.host, self.port) for ep in self.config.endpoints}

    def lines(self) -> list[str]:
        """The start-up lines: ``name dialect base_url`` per endpoint."""
        urls = self.base_urls
        return [f"{ep.name} {ep.dialect} {urls[ep.name]}" for ep in self.config.endpoints]

    async def start(self) -> None:
        count_tokens("warm up")  # load the vocabulary (~0.5 s) before the first request, not during it
        await self.http.start()
        if self._gt is not None:
            self._gt.start()

    async def stop(self, grace_s: float = 1.0) -> None:
        await self.http.stop(grace_s)
        if self._gt is not None:
            self._gt.close()

    async def _handle(self, req: Request, resp: Response) -> None:
        try:
            target = self._route(req, resp)
        except Exception:  # EndpointRuntime.handle answers its own errors; this covers routing
            _log.exception("simulator: unexpected error on %s %s", req.method, req.path)
            if not resp.started:
                body = {"error": {"message": "internal error in the simulator", "type": "server_error"}}
                resp.close_after = True
                resp.send(500, [("content-type", "application/json")], json.dumps(body).encode())
            return
        if target is not None:
            rt, (op, arg) = target
            await rt.handle(req, resp, op, arg)

    @staticmethod
    def _send_metrics(resp: Response, runtimes: list[EndpointRuntime]) -> None:
        """vLLM-named metrics of ``runtimes`` (``/metrics``: every endpoint, one ``model_name`` each;
        ``/<endpoint>/metrics``: that endpoint alone, as its own vLLM server would answer)."""
        merged: dict[str, Family] = {}
        for rt in runtimes:
            for fam in rt.metrics.families():
                if fam.name in merged:
                    merged[fam.name].samples.extend(fam.samples)
                else:
                    merged[fam.name] = fam
        body = render_text(merged.values()).encode()
        resp.send(200, [("content-type", "text/plain; version=0.0.4; charset=utf-8")], body)

    def _route(self, req: Request, resp: Response) -> tuple[EndpointRuntime, tuple[str, str]] | None:
        """The endpoint and operation of a request, or None once it has been answered (404, healthz)."""
        path = req.path
        if path == "/healthz":
            resp.send(200, [("content-type", "text/plain")], b"ok\n")
            return None
        if path == "/metrics" and req.method == "GET":
            self._send_metrics(resp, list(self.runtimes.values()))
            return None
        name, _, rest = path[1:].partition("/")
        rt = self.runtimes.get(name)
        if rt is not None and rest == "metrics" and req.method == "GET":
            self._send_metrics(resp, [rt])
            return None
        if rt is None:
            body = json.dumps(
                {"error": {"message": f"no simulated endpoint named {name!r}", "type": "not_found"}}
            )
            resp.send(404, [("content-type", "application/json")], body.encode())
            return None
        route = rt.dialect.route(rt.ep, req.method, "/" + rest)
        if route is None:
            rid = f"req_{rt.rng.getrandbits(128):032x}"
            exc = SimHTTPError(404, "not_found", f"Invalid URL ({req.method} {path})")
            headers, body_b = rt.dialect.error(exc, rid)
            resp.send(404, [*headers, *rt.id_headers(rid)], body_b)
            return None
        return rt, route


class SimThread:
    """A simulator running in a background thread with its own event loop (see :func:`serve_in_thread`)."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def base_urls(self) -> dict[str, str]:
        return self.server.base_urls

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            n: {
                "requests": rt.requests,
                "chunks": rt.chunks,
                "active": rt.gate.active,
                "queued": rt.gate.queued,
            }
            for n, rt in self.server.runtimes.items()
        }


@contextlib.contextmanager
def serve_in_thread(
    config: SimConfig,
    *,
    ground_truth: str | Path | None = None,
    host: str = "127.0.0.1",
    timeout_s: float = 10.0,
) -> Iterator[SimThread]:
    """Run a simulator on ``host``:0 in a daemon thread; yields once it is listening.

    Example::

        cfg = SimConfig(endpoints=[SimEndpoint(name="a", dialect="openai-chat", model="m")])
        with serve_in_thread(cfg) as sim:
            client = openai.OpenAI(base_url=sim.base_urls["a"], api_key="k")
    """
    server = SimServer(config, host=host, port=0, ground_truth=ground_truth)
    handle = SimThread(server)
    ready = threading.Event()
    stop: asyncio.Event | None = None
    errors: list[BaseException] = []

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        handle.loop = asyncio.get_running_loop()
        try:
            await server.start()
        except BaseException as exc:
            errors.append(exc)
            ready.set()
            return
        ready.set()
        await stop.wait()
        await server.stop(grace_s=0.5)

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="bakeoff-sim", daemon=True)
    thread.start()
    if not ready.wait(timeout_s):
        raise RuntimeError("simulator did not start in time")
    if errors:
        raise errors[0]
    try:
        yield handle
    finally:
        if handle.loop is not None and stop is not None:
            handle.loop.call_soon_threadsafe(stop.set)
        thread.join(timeout_s)
