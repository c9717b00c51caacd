"""The embedded Toxiproxy's HTTP API over real sockets: status codes, exact bodies, semantics, the client."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from faults_loopback import LoopbackServer

from harness._errors import ProxyError
from harness.faults import EmbeddedToxiproxy, ToxiproxyClient, serve_proxy_in_thread

ERR_HEADERS = {"content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff"}


class Echo(LoopbackServer):
    """Echoes every byte back; stops with the test."""

    def handle(self, c: socket.socket) -> None:
        c.settimeout(5)
        with contextlib.suppress(OSError), c:
            while data := c.recv(65536):
                c.sendall(data)


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedToxiproxy]:
    with serve_proxy_in_thread(seed=3) as srv:
        yield srv


@pytest.fixture
def api(server: EmbeddedToxiproxy) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(server.url, timeout=5.0) as client:
        yield client
        for name in client.proxies():
            client.delete_proxy(name)


@pytest.fixture
def echo() -> Iterator[Echo]:
    e = Echo()
    yield e
    e.close()


@pytest.fixture
def raw(server: EmbeddedToxiproxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5.0, trust_env=False) as c:
        yield c


def hostport(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host, int(port)


def roundtrip(listen: str, payload: bytes = b"ping") -> bytes:
    with socket.create_connection(hostport(listen), timeout=3) as s:
        s.sendall(payload)
        return s.recv(65536)


def assert_error(resp: httpx.Response, status: int, message: str) -> None:
    assert resp.status_code == status
    assert resp.content == b'{"error":"%s","status":%d}\n' % (message.encode(), status)
    for k, v in ERR_HEADERS.items():
        assert resp.headers[k] == v


def test_version_exact_body(raw: httpx.Client) -> None:
    r = raw.get("/version")
    assert r.status_code == 200
    assert r.content == b'{"version": "2.12.0"}\n'
    assert r.headers["content-type"] == "application/json;charset=utf-8"


def test_create_proxy_binds_real_port_and_forwards(
    api: ToxiproxyClient, raw: httpx.Client, echo: Echo
) -> None:
    r = raw.post("/proxies", json={"name": "a", "upstream": echo.addr, "listen": "localhost:0"})
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body == {
        "name": "a",
        "listen": body["listen"],
        "upstream": echo.addr,
        "enabled": True,
        "toxics": [],
    }
    host, port = hostport(body["listen"])
    assert host == "127.0.0.1" and port > 0
    assert roundtrip(body["listen"]) == b"ping"
    assert api.proxies() == {"a": body}
    assert api.get_proxy("a") == body


def test_listen_omitted_binds_loopback(api: ToxiproxyClient, raw: httpx.Client, echo: Echo) -> None:
    r = raw.post("/proxies", json={"name": "noaddr", "upstream": echo.addr})
    assert r.status_code == 201
    assert r.json()["listen"].startswith(
        "127.0.0.1:"
    )  # deliberate difference: Toxiproxy binds all interfaces


def test_create_errors(api: ToxiproxyClient, raw: httpx.Client, echo: Echo) -> None:
    assert_error(raw.post("/proxies", content=b"{"), 400, raw.post("/proxies", content=b"{").json()["error"])
    assert raw.post("/proxies", content=b"{").json()["error"].startswith("bad request body: ")
    assert_error(raw.post("/proxies", json={"upstream": echo.addr}), 400, "missing required field: name")
    assert_error(raw.post("/proxies", json={"name": "x"}), 400, "missing required field: upstream")
    api.create_proxy("dup", echo.addr)
    assert_error(
        raw.post("/proxies", json={"name": "dup", "upstream": echo.addr}), 409, "proxy already exists"
    )
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        r = raw.post("/proxies", json={"name": "busy", "upstream": echo.addr, "listen": f"127.0.0.1:{port}"})
        assert_error(r, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
        assert "busy" not in api.proxies()
    finally:
        taken.close()


def test_not_found_and_method_errors(api: ToxiproxyClient, raw: httpx.Client, echo: Echo) -> None:
    assert_error(raw.get("/proxies/ghost"), 404, "proxy not found")
    assert_error(raw.delete("/proxies/ghost"), 404, "proxy not found")
    assert_error(raw.get("/proxies/ghost/toxics"), 404, "proxy not found")
    api.create_proxy("p", echo.addr)
    assert_error(raw.get("/proxies/p/toxics/ghost"), 404, "toxic not found")
    assert_error(raw.delete("/proxies/p/toxics/ghost"), 404, "toxic not found")
    assert_error(raw.patch("/proxies/p/toxics/ghost", json={}), 404, "toxic not found")
    r = raw.get("/metrics")
    assert (r.status_code, r.content) == (404, b"404 page not found\n")
    assert raw.put("/proxies/p").status_code == 405
    r = raw.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert (r.status_code, r.content) == (403, b"User agent not allowed\n")


def test_toxic_create_rules(api: ToxiproxyClient, raw: httpx.Client, echo: Echo) -> None:
    api.create_proxy("t", echo.addr)
    r = raw.post("/proxies/t/toxics", json={"type": "latency", "attributes": {"latency": 10}})
    assert r.status_code == 200  # not 201
    assert r.json() == {
        "attributes": {"latency": 10, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1,
    }
    r = raw.post("/proxies/t/toxics", json={"type": "latency", "stream": "UpStream", "bogus": 1})
    assert r.json()["name"] == "latency_UpStream" and r.json()["stream"] == "UpStream"
    bad_stream = {"type": "nonsense", "stream": "sideways"}
    assert_error(
        raw.post("/proxies/t/toxics", json=bad_stream),
        400,
        "stream was invalid, can be either upstream or downstream",
    )
    assert_error(raw.post("/proxies/t/toxics", json={"type": "nonsense"}), 400, "invalid toxic type")
    assert_error(raw.post("/proxies/t/toxics", json={}), 400, "invalid toxic type")
    same_name = {"type": "noop", "name": "latency_downstream", "stream": "upstream"}
    assert_error(raw.post("/proxies/t/toxics", json=same_name), 409, "toxic already exists")
    assert raw.post("/proxies/t/toxics", json={"type": "noop"}).status_code == 200
    r = raw.post("/proxies/t/toxics", json={"type": "bandwidth", "attributes": {"rate": 1.5}})
    assert r.status_code == 400 and r.json()["error"].startswith("bad request body: ")
    names = [t["name"] for t in api.toxics("t")]
    assert names == ["latency_UpStream", "latency_downstream", "noop_downstream"]  # upstream chain first


def test_toxic_patch_merges_attributes(api: ToxiproxyClient, raw: httpx.Client, echo: Echo) -> None:
    api.create_proxy("m", echo.addr)
    api.add_toxic("m", "latency", {"latency": 100, "jitter": 10}, name="lat")
    r = raw.patch(
        "/proxies/m/toxics/lat", json={"attributes": {"jitter": 5}, "type": "timeout", "stream": "up"}
    )
    assert r.status_code == 200
    assert r.json() == {
        "attributes": {"latency": 100, "jitter": 5},
        "name": "lat",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1,
    }
    # the deprecated POST works like PATCH
    r = raw.post("/proxies/m/toxics/lat", json={"toxicity": 0.5})
    assert r.json()["toxicity"] == 0.5 and r.json()["attributes"] == {"latency": 100, "jitter": 5}
    assert api.update_toxic("m", "lat", attributes={"latency": 7})["attributes"] == {
        "latency": 7,
        "jitter": 5,
    }
    assert api.get_toxic("m", "lat")["attributes"]["latency"] == 7
    assert raw.delete("/proxies/m/toxics/lat").status_code == 204
    assert api.toxics("m") == []


def test_proxy_patch_enable_disable_and_listen(api: ToxiproxyClient, raw: httpx.Client, echo: Echo) -> None:
    p = api.create_proxy("e", echo.addr)
    listen = p["listen"]
    r = raw.patch("/proxies/e", json={"enabled": False, "name": "ignored"})
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["name"] == "e"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(hostport(listen), timeout=2)
    # deprecated POST, as toxiproxy-python sends it; the resolved port is kept
    r = raw.post("/proxies/e", json={"enabled": True})
    assert r.json()["listen"] == listen
    assert roundtrip(listen) == b"ping"
    moved = api.update_proxy("e", listen="127.0.0.1:0")
    assert moved["listen"] != listen and moved["enabled"] is True
    assert roundtrip(moved["listen"]) == b"ping"
    assert raw.delete("/proxies/e").status_code == 204
    assert_error(raw.get("/proxies/e"), 404, "proxy not found")


def test_populate_create_or_replace(api: ToxiproxyClient, raw: httpx.Client, echo: Echo) -> None:
    a = api.create_proxy("pa", echo.addr, listen="127.0.0.1:0")
    api.add_toxic("pa", "latency", {"latency": 1})
    api.create_proxy("keep", echo.addr)
    r = raw.post(
        "/populate",
        json=[
            {"name": "pa", "upstream": echo.addr, "listen": a["listen"].replace("127.0.0.1", "localhost")},
            {"name": "pb", "upstream": echo.addr, "listen": "127.0.0.1:0"},
        ],
    )
    assert r.status_code == 201 and r.headers["content-type"] == "application/json"
    out = r.json()["proxies"]
    assert [p["name"] for p in out] == ["pa", "pb"]
    assert out[0]["toxics"] and out[0]["listen"] == a["listen"]  # unchanged: left alone, toxics kept
    assert set(api.proxies()) == {"pa", "pb", "keep"}  # proxies missing from the list are kept
    # a changed upstream replaces the proxy, which loses its toxics
    out = api.populate([{"name": "pa", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}])
    assert out[0]["upstream"] == "127.0.0.1:1" and out[0]["toxics"] == []
    # the whole batch is checked before anything is created
    r = raw.post("/populate", json=[{"name": "pc", "upstream": echo.addr}, {"upstream": echo.addr}])
    assert r.status_code == 400
    assert r.json() == {"error": "missing required field: name at proxy 2", "status": 400, "proxies": []}
    assert "pc" not in api.proxies()
    assert raw.post("/populate", json=[]).json() == {"proxies": []}
    with pytest.raises(ProxyError, match=r"POST /populate: 400 missing required field: upstream at proxy 1"):
        api.populate([{"name": "x"}])


def test_reset_reenables_and_removes_toxics(api: ToxiproxyClient, raw: httpx.Client, echo: Echo) -> None:
    p = api.create_proxy("r", echo.addr)
    api.add_toxic("r", "timeout", {"timeout": 0})
    api.add_toxic("r", "latency", {"latency": 5}, stream="upstream")
    api.update_proxy("r", enabled=False)
    r = raw.post("/reset")
    assert r.status_code == 204 and r.content == b""
    after = api.get_proxy("r")
    assert after["enabled"] is True and after["toxics"] == [] and after["listen"] == p["listen"]
    assert roundtrip(p["listen"]) == b"ping"


def test_upstream_down_closes_client_instead_of_refusing(api: ToxiproxyClient) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    p = api.create_proxy("dead", f"127.0.0.1:{port}")
    with socket.create_connection(hostport(p["listen"]), timeout=3) as s:  # accepted, not refused
        s.settimeout(3)
        with contextlib.suppress(ConnectionResetError):
            assert s.recv(10) == b""


def test_client_errors_are_one_line_proxy_errors(api: ToxiproxyClient, server: EmbeddedToxiproxy) -> None:
    api.create_proxy("c", "127.0.0.1:9")
    api.add_toxic("c", "noop", name="n")
    with pytest.raises(ProxyError) as info:
        api.add_toxic("c", "noop", name="n")
    assert str(info.value) == f"toxiproxy {server.url}: POST /proxies/c/toxics: 409 toxic already exists"
    with pytest.raises(ProxyError, match=r": GET /proxies/nope: 404 proxy not found$"):
        api.get_proxy("nope")


def test_client_connection_refused_and_timeout() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with ToxiproxyClient(f"http://127.0.0.1:{port}", timeout=1.0) as c, pytest.raises(ProxyError) as info:
        c.version()
    assert f"toxiproxy http://127.0.0.1:{port}: GET /version: ConnectError" in str(info.value)
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(4)  # accepts (via the backlog) but never answers
    try:
        url = f"http://127.0.0.1:{mute.getsockname()[1]}"
        t = time.monotonic()
        with (
            ToxiproxyClient(url, timeout=0.3) as c,
            pytest.raises(ProxyError, match=r"no answer within 0\.3 s"),
        ):
            c.reset()
        assert time.monotonic() - t < 2
    finally:
        mute.close()
