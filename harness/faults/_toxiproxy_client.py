"""A small, strict client of the Toxiproxy 2.x HTTP API (real Toxiproxy or the embedded server).

Every call has explicit connect and read timeouts (Toxiproxy can hang on toxic removal under load, and
toxiproxy-python has no timeout at all), and every failure is one :class:`~harness._errors.ProxyError`
line naming the server, the call and the server's own error text, e.g.::

    toxiproxy http://127.0.0.1:8474: POST /proxies/a/toxics: 409 toxic already exists

It uses a synchronous ``httpx.Client``, so it works from plain threads (one instance may be shared:
httpx's connection pool is thread-safe) and from a gevent-patched process (the sync client goes through
the patched stdlib socket; the process must hide trio from httpcore, as harness/load does).
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from harness._errors import ProxyError

__all__ = ["ToxiproxyClient"]


class ToxiproxyClient:
    """Toxiproxy API client.

    Example::

        with ToxiproxyClient("http://127.0.0.1:8474") as api:
            p = api.create_proxy("vendor", upstream="127.0.0.1:9000")   # listen 127.0.0.1:0
            api.add_toxic("vendor", "latency", {"latency": 100}, stream="downstream")
            api.update_proxy("vendor", enabled=False)                     # outage
            api.reset()
    """

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"User-Agent": "bakeoff-toxiproxy-client"},
            trust_env=False,  # never route the fault API through an environment proxy
        )

    # -- plumbing -----------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,)) -> Any:
        where = f"toxiproxy {self.base_url}: {method} {path}"
        try:
            resp = self._client.request(method, path, json=body if body is not None else None)
        except httpx.TimeoutException as exc:
            raise ProxyError(f"{where}: no answer within {self.timeout:g} s ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise ProxyError(f"{where}: {type(exc).__name__}: {exc or 'connection failed'}") from exc
        if resp.status_code not in expect:
            raise ProxyError(f"{where}: {resp.status_code} {_error_text(resp)}")
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise ProxyError(f"{where}: {resp.status_code} with a body that is not JSON") from exc

    @staticmethod
    def _p(name: str) -> str:
        return quote(name, safe="")

    # -- server -------------------------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version string (``"2.12.0"``); accepts the pre-2.7 plain-text form too."""
        where = f"toxiproxy {self.base_url}: GET /version"
        try:
            resp = self._client.get("/version")
        except httpx.HTTPError as exc:
            raise ProxyError(f"{where}: {type(exc).__name__}: {exc or 'connection failed'}") from exc
        if resp.status_code != 200:
            raise ProxyError(f"{where}: {resp.status_code} {_error_text(resp)}")
        try:
            data = resp.json()
        except ValueError:
            return resp.text.strip()
        return str(data.get("version", "")) if isinstance(data, dict) else str(data)

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic (proxies are kept)."""
        self._call("POST", "/reset", expect=(204,))

    # -- proxies ------------------------------------------------------------------------------------------

    def proxies(self) -> dict[str, dict[str, Any]]:
        """Every proxy by name, each with its ``toxics``."""
        data = self._call("GET", "/proxies")
        return dict(data or {})

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> dict[str, Any]:
        """Create a proxy; the answer's ``listen`` is the real bound address (port 0 resolved)."""
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return dict(self._call("POST", "/proxies", body, expect=(201,)))

    def get_proxy(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/proxies/{self._p(name)}"))

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        """PATCH ``listen``, ``upstream`` and/or ``enabled``; other fields keep their values."""
        return dict(self._call("PATCH", f"/proxies/{self._p(name)}", fields))

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{self._p(name)}", expect=(204,))

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create-or-replace proxies by name (unchanged ones keep their toxics); others are kept."""
        data = self._call("POST", "/populate", proxies, expect=(201,))
        return list((data or {}).get("proxies") or [])

    # -- toxics -------------------------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/proxies/{self._p(proxy)}/toxics") or [])

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, Any] | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Add a toxic (default name ``<type>_<stream>``); it applies to open connections too."""
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name is not None:
            body["name"] = name
        return dict(self._call("POST", f"/proxies/{self._p(proxy)}/toxics", body))

    def get_toxic(self, proxy: str, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/proxies/{self._p(proxy)}/toxics/{self._p(name)}"))

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: dict[str, Any] | None = None,
        toxicity: float | None = None,
    ) -> dict[str, Any]:
        """PATCH a toxic: ``attributes`` are merged into the current ones; type and stream cannot change."""
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        return dict(self._call("PATCH", f"/proxies/{self._p(proxy)}/toxics/{self._p(name)}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{self._p(proxy)}/toxics/{self._p(name)}", expect=(204,))

    # -- lifecycle ----------------------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.base_url!r}, timeout={self.timeout:g})"


def _error_text(resp: httpx.Response) -> str:
    """Toxiproxy's ``error`` field when the body has one, else the first line of the body."""
    text = resp.text.strip()
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    first = text.splitlines()[0] if text else (resp.reason_phrase or "").lower()
    return first[:200]
