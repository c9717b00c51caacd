"""Preflight: reach every endpoint once before the load, through the path the load uses.

One ``GET <base_url>`` per endpoint, without a key (nothing is billed, no secret leaves), dialled
through the endpoint's proxy with the vendor's Host and TLS SNI kept, as every load attempt is: TCP
connect, TLS handshake (certificate checked), one HTTP answer. Any status counts as reached (a vendor
answers 401 or 404 to a bare GET); a refused or reset connection, a name that does not resolve, a TLS
failure or no answer in time does not. Behind a proxy a refused upstream shows up as a connection the
proxy closes, so a failure is then checked once directly to name its cause.

Each endpoint gets one overall deadline (its connect timeout plus ``ANSWER_TIMEOUT_S``): a vendor that
trickles header bytes (each byte restarts a read timeout) cannot hold the run, and a stop signal ends
the phase at once. The checks run as background tasks of the run's runtime.

An unreachable endpoint stops the run before the load (``RunError``: ``bakeoff run`` exits 1) unless
the user opts out with ``--no-preflight``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from harness.client import make_http_client, route_request
from harness.run._stack import upstream_of

__all__ = ["Reach", "check_reachable", "preflight"]

ANSWER_TIMEOUT_S = 10.0
"""How long a reached endpoint may take to answer the bare GET (status line and headers, in all)."""


@dataclass(frozen=True)
class Reach:
    """What reaching one endpoint gave: ``detail`` is ``HTTP 404 in 12 ms`` or the error."""

    endpoint: str
    base_url: str
    address: str  # the vendor's host:port (what the proxy dials)
    ok: bool
    detail: str

    def line(self) -> str:
        return f"endpoint {self.endpoint} ({self.base_url}, {self.address}): {self.detail}"


_NO_ANSWER = "without sending a response"
"""httpx's words when the connection closed before any byte of an answer (behind a proxy: the vendor
refused the proxy's dial); any other protocol error means bytes of an answer arrived."""


def _direct_cause(host: str, port: int, timeout_s: float) -> str | None:
    """Why ``host:port`` cannot be reached from here, or None when it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"name does not resolve ({exc.strerror or exc})"
    last = "no address"
    for family, kind, proto, _name, addr in infos:
        where = f"{addr[0]!s}:{addr[1]!r}"
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout_s)
        try:
            sock.connect(addr)
            return None
        except ConnectionRefusedError:
            last = f"connection refused by {where}"
        except TimeoutError:
            last = f"no answer from {where} within {timeout_s:g} s (connect timeout)"
        except OSError as exc:
            last = f"{exc.strerror or exc} ({where})"
        finally:
            sock.close()
    return last


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timeout ({text})"
    if isinstance(exc, httpx.TimeoutException):
        return f"no HTTP answer in time ({text})"
    return text


def _reach_one(
    client: httpx.Client,
    endpoint: str,
    base_url: str,
    connect_to: tuple[str, int] | None,
    connect_timeout_s: float,
) -> Reach:
    host, port = upstream_of(base_url)
    address = f"{host}:{port}"
    url, headers, extensions = route_request(base_url, connect_to)
    timeout = httpx.Timeout(
        connect=connect_timeout_s, read=ANSWER_TIMEOUT_S, write=ANSWER_TIMEOUT_S, pool=ANSWER_TIMEOUT_S
    )
    t0 = time.perf_counter()
    try:
        with client.stream("GET", url, headers=headers, timeout=timeout, extensions=extensions) as resp:
            status = resp.status_code
        return Reach(
            endpoint, base_url, address, True, f"HTTP {status} in {(time.perf_counter() - t0) * 1e3:.0f} ms"
        )
    except httpx.RemoteProtocolError as exc:
        if _NO_ANSWER not in str(exc):  # bytes came back, just not valid or bounded HTTP: reached
            detail = f"answered, but not with valid HTTP ({exc}); the load will record what it sends"
            return Reach(endpoint, base_url, address, True, detail)
        error = _describe(exc)
    except httpx.HTTPError as exc:
        error = _describe(exc)
    if connect_to is None:
        return Reach(endpoint, base_url, address, False, error)
    cause = _direct_cause(host, port, connect_timeout_s)
    if cause is None:
        via = f"{connect_to[0]}:{connect_to[1]}"
        return Reach(
            endpoint, base_url, address, False, f"reached directly, but not through its proxy {via}: {error}"
        )
    return Reach(endpoint, base_url, address, False, cause)


def preflight(
    base_urls: Mapping[str, str],
    connect_to: Mapping[str, tuple[str, int]],
    connect_timeouts: Mapping[str, float],
    *,
    spawn: Callable[..., Any],
    sleep: Callable[[float], None],
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
) -> list[Reach] | None:
    """Reach every endpoint of ``base_urls`` once (concurrently), in the given order.

    ``spawn``/``sleep`` are the run's runtime (``harness.load._runtime``). An endpoint that has not
    answered by its deadline is not reached; ``stop()`` true ends the phase at once (returns None).
    """
    names = list(base_urls)
    if not names:
        return []
    results: dict[str, Reach] = {}
    with make_http_client(max_connections=len(names)) as client:
        t0 = clock()
        deadlines: dict[str, float] = {}
        tasks: dict[str, Any] = {}
        for name in names:
            connect_s = connect_timeouts.get(name, 5.0)
            deadlines[name] = t0 + connect_s + ANSWER_TIMEOUT_S

            def one(name: str = name, connect_s: float = connect_s) -> None:
                results[name] = _reach_one(client, name, base_urls[name], connect_to.get(name), connect_s)

            tasks[name] = spawn(one)
        try:
            while any(not t.done for t in tasks.values()):
                if stop():
                    return None
                now = clock()
                for name, task in tasks.items():
                    if not task.done and now >= deadlines[name]:
                        task.stop()
                        budget = deadlines[name] - t0
                        host, port = upstream_of(base_urls[name])
                        results[name] = Reach(
                            name,
                            base_urls[name],
                            f"{host}:{port}",
                            False,
                            f"no complete HTTP answer within {budget:g} s (the vendor accepted the "
                            "connection but did not finish its status line and headers)",
                        )
                sleep(0.05)
        finally:
            for task in tasks.values():
                if not task.done:
                    task.stop()
        for task in tasks.values():
            if task.error is not None:
                raise task.error
    return [results[name] for name in names]


def check_reachable(results: list[Reach]) -> str | None:
    """The message that stops the run when an endpoint was not reached, else None."""
    bad = [r for r in results if not r.ok]
    if not bad:
        return None
    lines = [
        f"preflight: {len(bad)} of {len(results)} endpoints cannot be reached; the run stops before the "
        "load (bakeoff run --no-preflight starts it anyway):",
        *(f"  {r.line()}" for r in bad),
    ]
    return "\n".join(lines)
