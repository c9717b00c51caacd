"""Preflight: before the load every endpoint is reached once through its proxy; one that refuses stops
the run (exit 1) with a line naming the endpoint, its address and the error, unless --no-preflight."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from clirun import bakeoff, bakeoff_popen
from vendors import http_vendor, trickling_vendor

from harness.client import make_http_client
from harness.run import _preflight

ROOT = Path(__file__).resolve().parents[3]


def _closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connections to it are refused
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scenario(tmp_path: Path, dead_url: str) -> Path:
    path = tmp_path / "dead.yaml"
    path.write_text(
        f"""\
name: preflight
prompts: {ROOT / "prompts" / "default.jsonl"}
endpoints:
  - {{name: dead, dialect: openai-chat, base_url: "{dead_url}", api_key_env: PREFLIGHT_KEY, model: m}}
  - {{name: alive, dialect: openai-chat, sim: fast, model: m}}
contenders:
  - {{name: one, primary: dead}}
  - {{name: two, primary: alive}}
load: {{model: open, arrival: constant, rate: 2/s, users: 4, duration: 2s, grace: 1s}}
""",
        encoding="utf-8",
    )
    return path


def _bakeoff(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return bakeoff(*args, env={"PREFLIGHT_KEY": "k"})


def test_a_refusing_endpoint_stops_the_run_before_the_load(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/v1"
    proc = _bakeoff("run", _scenario(tmp_path, url), "--out", tmp_path / "reports", "--no-probes")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "starting 1 simulated vendor and the embedded Toxiproxy-compatible proxy" in proc.stderr
    assert "error: preflight: 1 of 2 endpoints cannot be reached" in proc.stderr
    assert f"  endpoint dead ({url}, 127.0.0.1:{port}): connection refused by 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
    [run_dir] = (tmp_path / "reports").iterdir()
    end = json.loads((run_dir / "end.json").read_text())
    assert end["ended"] == "error" and "preflight" in end["problems"][0]
    assert (run_dir / "records.jsonl").read_text() == ""  # no load was sent


def test_no_preflight_sends_the_load_anyway(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    proc = _bakeoff(
        "run",
        _scenario(tmp_path, url),
        "--out",
        tmp_path / "reports",
        "--no-preflight",
        "--no-probes",
        "--no-report",
        "--quiet",
    )
    assert "preflight" not in proc.stderr, proc.stderr[-3000:]
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (run_dir / "records.jsonl").open()]
    dead = [r for r in rows if r["endpoint"] == "dead"]
    assert dead and all(r["outcome"] == "error" for r in dead)
    assert any(r["endpoint"] == "alive" and r["outcome"] == "ok" for r in rows)


def test_only_real_endpoints_say_no_simulated_vendor_is_started(tmp_path: Path) -> None:
    port = _closed_port()
    path = _scenario(tmp_path, f"http://127.0.0.1:{port}/v1")
    path.write_text(path.read_text().replace("  - {name: two, primary: alive}\n", ""))
    proc = _bakeoff("run", path, "--out", tmp_path / "reports", "--no-probes")
    assert "starting the embedded Toxiproxy-compatible proxy (no simulated vendors" in proc.stderr
    assert "simulated vendors and proxies" not in proc.stderr
    assert proc.returncode == 1


class _Answer404(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with http_vendor(_Answer404) as port:
        yield f"http://127.0.0.1:{port}/v1"


class _ThreadTask:
    """The run's runtime Task, on a daemon thread (this test process is not patched by gevent): a stopped
    task is only abandoned, which is all a test of the deadline needs."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._error: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._call, args=(fn,), daemon=True)
        self._thread.start()

    def _call(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:
            self._error = exc

    @property
    def done(self) -> bool:
        return self._stopped or not self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        return self._error

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped = True


RUNTIME: dict[str, object] = {"spawn": _ThreadTask, "sleep": time.sleep}


def test_any_http_answer_counts_as_reached(server: str) -> None:
    [reach] = _preflight.preflight({"v": server}, {}, {"v": 2.0}, **RUNTIME)  # type: ignore[arg-type]
    assert reach.ok and reach.detail.startswith("HTTP 404 in ")
    assert _preflight.check_reachable([reach]) is None


def test_a_name_that_does_not_resolve_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # the resolver's answer is the input here (no DNS traffic from tests): the message must carry it
    def no_such_name(*_: object, **__: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    with make_http_client(max_connections=1) as client:
        reach = _preflight._reach_one(
            client, "v", "https://api.vendor.example/v1", ("127.0.0.1", _closed_port()), 1.0
        )
    assert not reach.ok
    assert reach.line() == (
        "endpoint v (https://api.vendor.example/v1, api.vendor.example:443): "
        "name does not resolve (Name or service not known)"
    )


@pytest.fixture
def trickler() -> Iterator[str]:
    with trickling_vendor(0.2) as (port, _seen):
        yield f"http://127.0.0.1:{port}/v1"


def test_a_vendor_trickling_header_bytes_is_not_reached_after_the_deadline(
    trickler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_preflight, "ANSWER_TIMEOUT_S", 1.0)
    t0 = time.monotonic()
    [reach] = _preflight.preflight({"v": trickler}, {}, {"v": 0.5}, **RUNTIME)  # type: ignore[arg-type]
    took = time.monotonic() - t0
    assert not reach.ok
    assert reach.detail.startswith("no complete HTTP answer within 1.5 s"), reach.detail
    assert 1.5 <= took < 1.5 + 5, took


def test_a_stop_ends_the_preflight_at_once(trickler: str) -> None:
    t0 = time.monotonic()
    got = _preflight.preflight(
        {"v": trickler},
        {},
        {"v": 2.0},
        stop=lambda: time.monotonic() - t0 > 0.5,
        **RUNTIME,  # type: ignore[arg-type]
    )
    assert got is None
    # the stop, not the endpoint's own deadline (2 s to connect + ANSWER_TIMEOUT_S), ended the wait; the
    # margin is for a busy machine
    assert time.monotonic() - t0 < (2.0 + _preflight.ANSWER_TIMEOUT_S) / 2


def test_sigterm_during_preflight_against_a_trickling_vendor_ends_the_run_at_once(
    trickler: str, tmp_path: Path
) -> None:
    """Through the real command: the preflight's GET is held by the trickle; SIGTERM ends the run."""
    scenario = tmp_path / "trickle.yaml"
    scenario.write_text(
        f"""\
name: trickle
prompts: {ROOT / "prompts" / "default.jsonl"}
endpoints:
  - {{name: slow, dialect: openai-chat, base_url: "{trickler}", api_key_env: PREFLIGHT_KEY, model: m}}
contenders:
  - {{name: one, primary: slow}}
load: {{model: open, arrival: constant, rate: 2/s, users: 4, duration: 2s, grace: 1s}}
""",
        encoding="utf-8",
    )
    proc = bakeoff_popen(
        "run", scenario, "--out", tmp_path / "out", "--no-report", env={"PREFLIGHT_KEY": "k"}
    )
    assert proc.stderr is not None
    line, end = "", time.monotonic() + 90
    while "preflight: reaching" not in line:
        assert time.monotonic() < end and proc.poll() is None, "the run never reached its preflight"
        line = proc.stderr.readline()
    time.sleep(0.5)  # the GET is now reading one byte at a time
    proc.send_signal(15)
    t0 = time.monotonic()
    _out, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 0, err[-2000:]
    assert "stopping: the run is in its preflight phase" in err and "Traceback" not in err
    [run_dir] = (tmp_path / "out").iterdir()
    end_info = json.loads((run_dir / "end.json").read_text())
    assert end_info["ended"] == "interrupted"


def test_a_vendor_answering_with_broken_http_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A head too long for any client is the vendor's answer, not an unreachable endpoint: the load
    records it (response_too_large); the preflight must not stop the run over it."""
    srv = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 200_000 + b"\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{srv.getsockname()[1]}/v1"
        [reach] = _preflight.preflight({"v": url}, {}, {"v": 2.0}, **RUNTIME)  # type: ignore[arg-type]
    finally:
        thread.join(5)
        srv.close()
    assert reach.ok, reach.detail
    assert reach.detail.startswith("answered, but not with valid HTTP"), reach.detail
