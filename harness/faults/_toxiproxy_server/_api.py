"""The HTTP API of the embedded Toxiproxy-compatible server: routes, JSON decoding, Toxiproxy's bodies.

:meth:`ToxiproxyApp.handle` maps ``(method, path, headers, body)`` to ``(status, headers, body)`` with the
wire details of Toxiproxy 2.12 (see shared/reference/toxiproxy-api.md, section A): error bodies
``{"error":"<msg>","status":<code>}\\n`` as ``text/plain; charset=utf-8`` with ``nosniff`` (Go's
``http.Error``), 201 on proxy creation and /populate, 200 on toxic creation, 204 on DELETE and /reset,
403 for browsers (``User-Agent: Mozilla/...``) on known routes, mux's 404 and 405 otherwise. The
deprecated ``POST /proxies/{p}`` and ``POST .../toxics/{t}`` behave like PATCH.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from harness.faults._toxiproxy_server._proxy import ProxyCollection
from harness.faults._toxiproxy_server._toxics import (
    TOXIC_ATTRIBUTES,
    ApiError,
    ToxicSpec,
    merge_attributes,
    parse_direction,
)

__all__ = ["TOXIPROXY_VERSION", "ApiResponse", "ToxiproxyApp"]

TOXIPROXY_VERSION: Final = "2.12.0"

ApiResponse = tuple[int, list[tuple[str, str]], bytes]

_JSON: Final = [("Content-Type", "application/json")]
_PLAIN: Final = [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")]
_SEGMENT: Final = r"([^/]+)"
_PROXY_FIELDS: Final = {"name": str, "listen": str, "upstream": str, "enabled": bool}
_TOXIC_FIELDS: Final = {"name": str, "type": str, "stream": str, "toxicity": float}
_GO_TYPES: Final[dict[type, str]] = {str: "string", bool: "bool", float: "float32"}


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _error(status: int, message: str) -> ApiResponse:
    return status, list(_PLAIN), _dumps({"error": message, "status": status}) + b"\n"


def _decode(body: bytes) -> object:
    """The first JSON value of the body, as Go's json.Decoder reads it (trailing bytes ignored)."""
    text = body.decode("utf-8", errors="replace").lstrip()
    if not text:
        raise ApiError(400, "bad request body: EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"bad request body: {exc.msg} at offset {exc.pos}") from exc
    return value


def _go_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _fields(value: object, spec: Mapping[str, type], go_type: str) -> dict[str, Any]:
    """Decode a JSON object into known fields like Go: keys match case-insensitively, null is no-op."""
    if not isinstance(value, dict):
        raise ApiError(
            400, f"bad request body: json: cannot unmarshal {_go_kind(value)} into Go value of type {go_type}"
        )
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key.lower()
        want = spec.get(name)
        if want is None or item is None:
            continue
        ok = (
            isinstance(item, bool)
            if want is bool
            else (isinstance(item, int | float) and not isinstance(item, bool))
            if want is float
            else isinstance(item, want)
        )
        if not ok:
            go_field = go_type.rsplit(".", 1)[-1]
            raise ApiError(
                400,
                f"bad request body: json: cannot unmarshal {_go_kind(item)} into Go struct field "
                f"{go_field}.{name} of type {_GO_TYPES[want]}",
            )
        out[name] = float(item) if want is float else item
    return out


Route = Callable[..., Awaitable[ApiResponse]]


class ToxiproxyApp:
    """The API over a :class:`ProxyCollection`; one instance per server, used from its event loop only."""

    def __init__(self, seed: int | None = None) -> None:
        self.proxies = ProxyCollection(seed)
        p, t = _SEGMENT, _SEGMENT
        self._routes: list[tuple[re.Pattern[str], dict[str, Route]]] = [
            (re.compile(r"/reset"), {"POST": self._reset}),
            (re.compile(r"/version"), {"GET": self._version}),
            (re.compile(r"/proxies"), {"GET": self._proxy_index, "POST": self._proxy_create}),
            (re.compile(r"/populate"), {"POST": self._populate}),
            (
                re.compile(rf"/proxies/{p}"),
                {
                    "GET": self._proxy_show,
                    "POST": self._proxy_update,
                    "PATCH": self._proxy_update,
                    "DELETE": self._proxy_delete,
                },
            ),
            (re.compile(rf"/proxies/{p}/toxics"), {"GET": self._toxic_index, "POST": self._toxic_create}),
            (
                re.compile(rf"/proxies/{p}/toxics/{t}"),
                {
                    "GET": self._toxic_show,
                    "POST": self._toxic_update,
                    "PATCH": self._toxic_update,
                    "DELETE": self._toxic_delete,
                },
            ),
        ]

    async def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> ApiResponse:
        """Answer one request. Never raises for a client mistake: every error becomes Toxiproxy's body."""
        for pattern, methods in self._routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            route = methods.get(method)
            if route is None:
                return 405, [], b""  # gorilla/mux: status only
            if (headers.get("user-agent") or "").startswith("Mozilla/"):
                return 403, list(_PLAIN), b"User agent not allowed\n"
            try:
                return await route(*m.groups(), body=body)
            except ApiError as exc:
                return _error(exc.status, exc.message)
        return 404, list(_PLAIN), b"404 page not found\n"

    def close(self) -> None:
        """Stop every proxy (listeners and open connections)."""
        self.proxies.close()

    # -- server --------------------------------------------------------------------------------------------

    async def _version(self, *, body: bytes) -> ApiResponse:
        return (
            200,
            [("Content-Type", "application/json;charset=utf-8")],
            f'{{"version": "{TOXIPROXY_VERSION}"}}\n'.encode(),
        )

    async def _reset(self, *, body: bytes) -> ApiResponse:
        for name in sorted(self.proxies.proxies):
            proxy = self.proxies.proxies[name]
            await proxy.start()  # ApiError 500 when the old port is taken now
            proxy.toxics.reset()
        return 204, [], b""

    # -- proxies -------------------------------------------------------------------------------------------

    async def _proxy_index(self, *, body: bytes) -> ApiResponse:
        data = {name: self.proxies.proxies[name].to_json() for name in sorted(self.proxies.proxies)}
        return 200, list(_JSON), _dumps(data)

    async def _proxy_create(self, *, body: bytes) -> ApiResponse:
        f = _fields(_decode(body), _PROXY_FIELDS, "proxy.Proxy")
        if not f.get("name"):
            raise ApiError(400, "missing required field: name")
        if not f.get("upstream"):
            raise ApiError(400, "missing required field: upstream")
        proxy = await self.proxies.add(f["name"], f.get("listen", ""), f["upstream"], f.get("enabled", True))
        return 201, list(_JSON), _dumps(proxy.to_json())

    async def _populate(self, *, body: bytes) -> ApiResponse:
        done: list[dict[str, Any]] = []
        try:
            raw = _decode(body)
            if not isinstance(raw, list):
                raise ApiError(
                    400,
                    f"bad request body: json: cannot unmarshal {_go_kind(raw)} into Go value of type "
                    '[]struct { proxy.Proxy; Enabled *bool "json:\\"enabled\\"" }',
                )
            items = [_fields(item, _PROXY_FIELDS, "proxy.Proxy") for item in raw]
            for i, f in enumerate(items, start=1):  # the whole batch is checked before anything is created
                if not f.get("name"):
                    raise ApiError(400, f"missing required field: name at proxy {i}")
                if not f.get("upstream"):
                    raise ApiError(400, f"missing required field: upstream at proxy {i}")
            for f in items:
                proxy = await self.proxies.add_or_replace(
                    f["name"], f.get("listen", ""), f["upstream"], f.get("enabled", True)
                )
                done.append(proxy.to_json())
        except ApiError as exc:
            # Toxiproxy answers a failed populate with the error *and* the proxies made so far, as JSON.
            payload = {"error": exc.message, "status": exc.status, "proxies": done}
            return exc.status, list(_JSON), _dumps(payload)
        return 201, list(_JSON), _dumps({"proxies": done})

    async def _proxy_show(self, name: str, *, body: bytes) -> ApiResponse:
        return 200, list(_JSON), _dumps(self.proxies.get(name).to_json())

    async def _proxy_update(self, name: str, *, body: bytes) -> ApiResponse:
        proxy = self.proxies.get(name)
        f = _fields(_decode(body), _PROXY_FIELDS, "proxy.Proxy")
        await proxy.update(
            f.get("listen", proxy.listen), f.get("upstream", proxy.upstream), f.get("enabled", proxy.enabled)
        )
        return 200, list(_JSON), _dumps(proxy.to_json())

    async def _proxy_delete(self, name: str, *, body: bytes) -> ApiResponse:
        self.proxies.remove(name)
        return 204, [], b""

    # -- toxics --------------------------------------------------------------------------------------------

    async def _toxic_index(self, name: str, *, body: bytes) -> ApiResponse:
        return 200, list(_JSON), _dumps(self.proxies.get(name).toxics.to_json())

    async def _toxic_create(self, name: str, *, body: bytes) -> ApiResponse:
        proxy = self.proxies.get(name)
        raw = _decode(body)
        f = _fields(raw, _TOXIC_FIELDS, "toxics.ToxicWrapper")
        assert isinstance(raw, dict)
        raw_attrs = next((v for k, v in raw.items() if k.lower() == "attributes"), None)
        if raw_attrs is not None and not isinstance(raw_attrs, dict):
            raise ApiError(
                400,
                f"bad request body: json: cannot unmarshal {_go_kind(raw_attrs)} into Go struct field "
                "ToxicWrapper.attributes of type toxics.NoopToxic",
            )
        stream = f.get("stream", "downstream")
        direction = parse_direction(stream)  # the stream is checked before the type
        toxic_type = f.get("type", "")
        toxic_name = f.get("name") or f"{toxic_type}_{stream}"
        if toxic_type not in TOXIC_ATTRIBUTES:
            raise ApiError(400, "invalid toxic type")
        if proxy.toxics.find(toxic_name) is not None:
            raise ApiError(409, "toxic already exists")
        defaults = dict.fromkeys(TOXIC_ATTRIBUTES[toxic_type], 0)
        spec = ToxicSpec(
            name=toxic_name,
            type=toxic_type,
            stream=stream,
            direction=direction,
            toxicity=f.get("toxicity", 1.0),
            attributes=merge_attributes(toxic_type, defaults, raw_attrs),
        )
        proxy.toxics.add(spec)
        return 200, list(_JSON), _dumps(spec.to_json())

    async def _toxic_show(self, name: str, toxic: str, *, body: bytes) -> ApiResponse:
        return 200, list(_JSON), _dumps(self.proxies.get(name).toxics.get(toxic).to_json())

    async def _toxic_update(self, name: str, toxic: str, *, body: bytes) -> ApiResponse:
        proxy = self.proxies.get(name)
        spec = proxy.toxics.get(toxic)
        raw = _decode(body)
        f = _fields(raw, {"toxicity": float}, "toxics.ToxicWrapper")
        assert isinstance(raw, dict)
        raw_attrs = next((v for k, v in raw.items() if k.lower() == "attributes"), None)
        attrs = merge_attributes(spec.type, spec.attributes, raw_attrs)  # merged: partial updates work
        spec.attributes = attrs
        spec.toxicity = f.get("toxicity", spec.toxicity)
        proxy.toxics.updated(spec.name)
        return 200, list(_JSON), _dumps(spec.to_json())

    async def _toxic_delete(self, name: str, toxic: str, *, body: bytes) -> ApiResponse:
        self.proxies.get(name).toxics.remove(toxic)
        return 204, [], b""
