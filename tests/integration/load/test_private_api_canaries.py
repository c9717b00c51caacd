"""Canaries for the private APIs behind harness/load/_compat.py (the fence): one test per private name.

Each checks that the name still exists with the shape and behaviour the fence relies on, and fails with
the package, its installed version and the file to update. gevent must never be imported by the test
process, so the gevent-side checks run in a child process: pytest runs this file as a script, which
patches itself as every load process does (``harness.load._runner`` first), runs every check on loopback
sockets and prints one JSON line ``{name: problem or null}``. The httpx checks run here.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

FENCE = "harness/load/_compat.py"

# private name -> the distribution it belongs to
CANARIES = {
    "gevent.socket.socket._sock": "gevent",
    "gevent.socket.socket._read_event": "gevent",
    "geventhttpclient._parser.HTTPResponseParser": "geventhttpclient",
    "geventhttpclient._parser.HTTPParseError": "geventhttpclient",
    "locust.contrib.fasthttp.FastResponse._response": "locust",
}


# public names whose behaviour the load path leans on (not in the fence's list: they are not private)
RELIED_ON = {
    "gevent.hub.Hub.loop.now": "gevent",  # the flood lane: the loop's clock moves only when the loop turns
    "gevent.Greenlet.kill": "gevent",  # LoadExecutor.end: the exception instance lands where it waits
}


def _broken(package: str, name: str, problem: str) -> str:
    return (
        f"{package} {version(package)} no longer has {name} as {FENCE} uses it: {problem}. "
        f"Update {FENCE} (and this canary)."
    )


@pytest.fixture(scope="module")
def report() -> dict[str, str | None]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, str | None] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("name", sorted(CANARIES))
def test_private_name_keeps_the_shape_the_fence_uses(report: dict[str, str | None], name: str) -> None:
    assert name in report, f"the child process did not check {name}"
    problem = report[name]
    if problem is not None:
        pytest.fail(_broken(CANARIES[name], name, problem))


@pytest.mark.parametrize("name", sorted(RELIED_ON))
def test_public_behaviour_the_load_path_leans_on_holds(report: dict[str, str | None], name: str) -> None:
    assert name in report, f"the child process did not check {name}"
    problem = report[name]
    if problem is not None:
        pytest.fail(_broken(RELIED_ON[name], name, problem))


def test_every_private_name_in_the_fence_has_a_canary() -> None:
    fence = (Path(__file__).resolve().parents[3] / FENCE).read_text()
    doc = fence.split('"""')[1]
    listed = {line.split("``")[1] for line in doc.splitlines() if line.startswith("* ``")}
    assert listed == set(CANARIES)


# --- httpx: public names, but the lean client (harness/load/_gevent_transport.py) leans on how they work --
class _Recorder(httpx.Client):
    """Overrides exactly what ``_LeanClient`` overrides, with the same signatures."""

    calls: list[tuple[str, Any]]

    def build_request(self, method: str, url: httpx.URL | str, **kw: Any) -> httpx.Request:
        self.calls.append(("build_request", kw.get("timeout", httpx.USE_CLIENT_DEFAULT)))
        return super().build_request(method, url, **kw)

    def send(self, request: httpx.Request, *, stream: bool = False, **kw: Any) -> httpx.Response:
        self.calls.append(("send", stream))
        return super().send(request, stream=stream, **kw)


def test_httpx_client_requests_go_through_build_request_and_send() -> None:
    client = _Recorder(transport=httpx.MockTransport(lambda request: httpx.Response(200, text="ok")))
    client.calls = []
    with client.stream("POST", "http://vendor.test/v1", content=b"x") as resp:
        assert resp.read() == b"ok"
    assert client.get("http://vendor.test/v1").text == "ok"
    default = httpx.USE_CLIENT_DEFAULT
    expected = [("build_request", default), ("send", True), ("build_request", default), ("send", False)]
    if client.calls != expected:
        pytest.fail(
            _broken(
                "httpx",
                "Client.stream/request -> self.build_request + self.send(stream=...)",
                f"calls were {client.calls}",
            )
        )


def test_httpx_timeout_default_is_the_use_client_default_singleton() -> None:
    for method in (httpx.Client.stream, httpx.Client.request, httpx.Client.build_request):
        default = inspect.signature(method).parameters["timeout"].default
        if default is not httpx.USE_CLIENT_DEFAULT:
            pytest.fail(
                _broken("httpx", f"Client.{method.__name__}(timeout=USE_CLIENT_DEFAULT)", repr(default))
            )


def test_the_lean_clients_own_attributes_do_not_shadow_httpx() -> None:
    client = httpx.Client()
    clash = [name for name in ("gevent_transport", "_url_cache") if hasattr(client, name)]
    client.close()
    if clash:
        pytest.fail(_broken("httpx", "no attribute named like the lean client's own", f"httpx has {clash}"))


# --------------------------------------------------------------------------------------------------
# the checks (child process only)
# --------------------------------------------------------------------------------------------------
def _main() -> None:  # pragma: no cover - runs in the child
    from harness.load import _runner  # patches the process (gevent), as every load process does

    _ = _runner

    import errno
    import time

    import gevent
    import gevent.socket
    from locust.contrib.fasthttp import FastHttpSession
    from locust.env import Environment

    from harness.load._compat import HTTPParseError, ResponseParser, ghc_response, recv_stamped

    def tcp_pair() -> tuple[Any, Any]:
        ls = gevent.socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        a = gevent.socket.create_connection(ls.getsockname())
        b, _ = ls.accept()
        ls.close()
        return a, b

    def sock_() -> None:
        a, b = tcp_pair()
        raw = a._sock
        assert raw.fileno() == a.fileno(), "not the socket's own file descriptor"
        assert raw.gettimeout() == 0.0, f"not non-blocking (timeout {raw.gettimeout()!r})"
        try:
            raw.recvmsg(16, 64)
            raise AssertionError("recvmsg without data did not raise BlockingIOError")
        except BlockingIOError:
            pass
        b.sendall(b"hello")
        data, _rx = recv_stamped(a, 16, 2.0)
        assert data == b"hello", data
        a.close()
        b.close()

    def read_event() -> None:
        a, b = tcp_pair()
        watcher = a._read_event
        assert watcher is not None and watcher.fd == a.fileno(), f"not the socket's read watcher: {watcher!r}"
        assert callable(watcher.start) and callable(watcher.stop), "no start/stop"
        t0 = time.monotonic()
        try:
            recv_stamped(a, 16, 0.05)
            raise AssertionError("a wait without data did not time out")
        except TimeoutError:
            assert 0.04 <= time.monotonic() - t0 < 1.0, "the wait did not last its timeout"
        gevent.spawn_later(0.02, b.sendall, b"late")
        assert recv_stamped(a, 16, 2.0)[0] == b"late", "the watcher did not wake the wait"
        gevent.spawn_later(0.02, a.close)
        try:
            recv_stamped(a, 16, 2.0)
            raise AssertionError("closing the socket in another greenlet did not end the wait")
        except OSError as exc:
            assert exc.errno == errno.EBADF, exc
        assert a._read_event is None, "a closed socket keeps its read watcher"
        b.close()

    def parser() -> None:
        p = ResponseParser(head_only=False)
        wire = (
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        for i in range(0, len(wire), 7):  # pieces cut through names, values and chunk sizes
            p.feed(wire[i : i + 7])
        assert p.get_code() == 200 and p.reason == "OK", (p.get_code(), p.reason)
        assert p.headers == [(b"Content-Type", b"text/event-stream"), (b"Transfer-Encoding", b"chunked")], (
            p.headers
        )
        assert p.headers_complete and p.message_complete, "completion callbacks not called"
        assert bytes(p.body) == b"hello world", p.body
        assert p.should_keep_alive() and not p.parser_failed()
        head = ResponseParser(head_only=True)
        head.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        assert head.message_complete and not head.body, "a true _on_headers_complete did not skip the body"
        close = ResponseParser(head_only=False)
        close.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        assert close.message_complete and not close.should_keep_alive(), "Connection: close kept alive"

    def parse_error() -> None:
        assert issubclass(HTTPParseError, Exception)
        p = ResponseParser(head_only=False)
        try:
            p.feed(b"NOT HTTP AT ALL\r\n\r\n")
            raise AssertionError("garbage did not raise HTTPParseError")
        except HTTPParseError:
            pass
        assert p.parser_failed(), "parser_failed() is false after a parse error"

    def fast_response() -> None:
        ls = gevent.socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)

        def serve() -> None:
            conn, _ = ls.accept()
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nline1\nline2\n")
            gevent.sleep(0.2)
            conn.close()

        gevent.spawn(serve)
        session = FastHttpSession(
            f"http://127.0.0.1:{ls.getsockname()[1]}", Environment().events.request, None
        )
        resp = session.request("GET", "/", stream=True)
        raw = ghc_response(resp)
        assert raw is not None, "no geventhttpclient response"
        lines = [raw.readline(b"\n"), raw.readline(b"\n"), raw.readline(b"\n")]
        assert lines == [b"line1\n", b"line2\n", b""], lines
        ls.close()

    def loop_now() -> None:
        now = gevent.get_hub().loop.now
        a, b = tcp_pair()
        b.sendall(b"ready")
        t0 = now()
        busy = time.perf_counter() + 0.005
        while time.perf_counter() < busy:  # work without a switch
            pass
        data, _rx = recv_stamped(a, 16, 2.0)  # data waiting: no turn of the loop
        assert data == b"ready" and now() == t0, "the loop's clock moved without a turn of the loop"
        gevent.spawn_later(0.01, b.sendall, b"later")
        assert recv_stamped(a, 16, 2.0)[0] == b"later"
        assert now() > t0, "a read that waited did not move the loop's clock"
        a.close()
        b.close()

    def kill() -> None:
        class Cut(BaseException):
            pass

        def waits() -> str:
            try:
                gevent.sleep(5)
            except Cut as exc:
                return f"cut: {exc}"
            return "not cut"

        g = gevent.spawn(waits)
        gevent.sleep(0.01)
        g.kill(Cut("now"), block=True, timeout=2)
        assert g.value == "cut: now", f"the instance did not land where the greenlet waited: {g.value!r}"

    checks = {
        "gevent.hub.Hub.loop.now": loop_now,
        "gevent.Greenlet.kill": kill,
        "gevent.socket.socket._sock": sock_,
        "gevent.socket.socket._read_event": read_event,
        "geventhttpclient._parser.HTTPResponseParser": parser,
        "geventhttpclient._parser.HTTPParseError": parse_error,
        "locust.contrib.fasthttp.FastResponse._response": fast_response,
    }
    result: dict[str, str | None] = {}
    for name, check in checks.items():
        try:
            check()
            result[name] = None
        except Exception as exc:
            result[name] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    _main()
