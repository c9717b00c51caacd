"""Sans-I/O parts of the embedded Toxiproxy: attribute decoding, slicer split, API routing, idle proxies."""

from __future__ import annotations

import asyncio
import itertools
import json
import random

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from harness.faults._command import proxy
from harness.faults._toxiproxy_server import TOXIPROXY_VERSION, ToxiproxyApp, is_loopback
from harness.faults._toxiproxy_server._proxy import split_host_port
from harness.faults._toxiproxy_server._toxics import (
    ApiError,
    ToxicSpec,
    merge_attributes,
    parse_direction,
    slice_offsets,
)


@given(
    size=st.integers(1, 5000),
    avg=st.integers(1, 300),
    var=st.integers(0, 50),
    seed=st.integers(0, 10_000),
)
def test_slice_offsets_cover_the_chunk_in_order(size: int, avg: int, var: int, seed: int) -> None:
    var = min(var, avg - 1) if avg > 1 else 0
    offs = slice_offsets(0, size, avg, var, random.Random(seed))
    assert offs[0] == 0 and offs[-1] == size
    pairs = list(zip(offs[::2], offs[1::2], strict=True))
    assert all(a < b for a, b in pairs)
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(pairs))
    assert all(b - a <= avg + var for a, b in pairs)


def test_slice_offsets_without_variation_halve_evenly() -> None:
    assert slice_offsets(0, 400, 100, 0, random.Random(0)) == [0, 100, 100, 200, 200, 300, 300, 400]


def test_merge_attributes_merges_and_ignores_unknown_keys() -> None:
    base = {"latency": 100, "jitter": 10}
    assert merge_attributes("latency", base, {"jitter": 5, "bogus": 1}) == {"latency": 100, "jitter": 5}
    assert merge_attributes("latency", base, {"latency": None}) == base
    assert merge_attributes("latency", base, None) == base


@pytest.mark.parametrize("bad", [1.5, "10", True, [1]])
def test_merge_attributes_refuses_non_integers_like_go(bad: object) -> None:
    with pytest.raises(ApiError) as info:
        merge_attributes("bandwidth", {"rate": 0}, {"rate": bad})
    assert info.value.status == 400
    assert info.value.message.startswith("bad request body: json: cannot unmarshal")


def test_parse_direction_is_case_insensitive() -> None:
    assert parse_direction("UpStream") == "upstream"
    with pytest.raises(ApiError, match="stream was invalid"):
        parse_direction("sideways")


def test_toxic_json_shape_matches_toxiproxy() -> None:
    t = ToxicSpec("l", "latency", "Downstream", "downstream", 1.0, {"latency": 5, "jitter": 0})
    assert list(t.to_json()) == ["attributes", "name", "type", "stream", "toxicity"]
    assert t.to_json()["toxicity"] == 1 and isinstance(t.to_json()["toxicity"], int)
    t.toxicity = 0.25
    assert t.to_json()["toxicity"] == 0.25


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        (":0", ("", 0)),
        ("[::1]:9", ("::1", 9)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_split_host_port(addr: str, expected: tuple[str, int]) -> None:
    assert split_host_port(addr) == expected


@pytest.mark.parametrize("addr", ["nohost", "1.2.3.4:x", "a:b:1", "[::1]"])
def test_split_host_port_errors(addr: str) -> None:
    with pytest.raises(ValueError, match="address"):
        split_host_port(addr)


def call(app: ToxiproxyApp, method: str, path: str, body: object = None, ua: str = "t") -> tuple[int, object]:
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    status, headers, out = asyncio.run(app.handle(method, path, {"user-agent": ua}, raw))
    h = dict(headers)
    if out and h.get("Content-Type", "").startswith(("application/json", "text/plain; charset")):
        try:
            return status, json.loads(out)
        except ValueError:
            return status, out
    return status, out


def test_api_routing_without_sockets() -> None:
    app = ToxiproxyApp()
    # A disabled proxy binds nothing, so the whole toxic API can be exercised in memory.
    assert call(app, "POST", "/proxies", {"name": "a", "upstream": "x:1", "enabled": False})[0] == 201
    assert call(app, "GET", "/version") == (200, {"version": TOXIPROXY_VERSION})
    assert call(app, "POST", "/proxies/a/toxics", {"type": "noop"})[1]["name"] == "noop_downstream"
    assert call(app, "POST", "/proxies/a/toxics", {"type": "noop", "stream": "UP"})[0] == 400
    # stream is checked before type
    assert call(app, "POST", "/proxies/a/toxics", {"type": "nope", "stream": "x"})[1]["error"].startswith(
        "stream"
    )
    assert call(app, "POST", "/proxies/a/toxics", {"type": "nope"}) == (
        400,
        {"error": "invalid toxic type", "status": 400},
    )
    # names are unique across both directions
    dup = {"type": "latency", "name": "noop_downstream", "stream": "upstream"}
    assert call(app, "POST", "/proxies/a/toxics", dup)[0] == 409
    assert call(app, "GET", "/nowhere") == (404, b"404 page not found\n")
    assert call(app, "PUT", "/proxies")[0] == 405
    assert call(app, "GET", "/proxies", ua="Mozilla/5.0") == (403, b"User agent not allowed\n")
    assert call(app, "GET", "/nowhere", ua="Mozilla/5.0")[0] == 404  # the browser check runs on routes only
    assert call(app, "POST", "/proxies", b"") == (400, {"error": "bad request body: EOF", "status": 400})
    assert call(app, "POST", "/proxies", {"name": 5, "upstream": "x:1"})[1]["error"] == (
        "bad request body: json: cannot unmarshal number into Go struct field Proxy.name of type string"
    )


@pytest.mark.parametrize(
    ("host", "loop"),
    [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("localhost", True), ("0.0.0.0", False)],
)
def test_is_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_proxy_command_refuses_a_bad_port() -> None:
    res = CliRunner().invoke(proxy, ["--port", "70000"])
    assert res.exit_code == 2
    assert "Invalid value for '--port': 70000 is not in the range 0<=x<=65535" in res.stderr


def test_public_names_are_exported() -> None:
    import harness.faults as faults

    mine = {"EmbeddedToxiproxy", "ToxiproxyClient", "ToxiproxyServer", "serve_proxy_in_thread"}
    assert mine <= set(faults.__all__)
    assert all(hasattr(faults, name) for name in faults.__all__)
