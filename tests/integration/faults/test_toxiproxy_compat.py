"""Wire compatibility: toxiproxy-python 0.1.1 (a client nobody here wrote) drives the embedded server,
and the server runs as its own process (``python -m harness.faults``)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import toxiproxy
from click.testing import CliRunner
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.faults import ToxiproxyClient, serve_proxy_in_thread
from harness.faults._command import proxy

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def echo_addr() -> Iterator[str]:
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    ls.settimeout(0.2)
    stop = threading.Event()

    def echo(c: socket.socket) -> None:
        c.settimeout(5)
        with contextlib.suppress(OSError), c:
            while data := c.recv(65536):
                c.sendall(data)

    def serve() -> None:
        while not stop.is_set():
            try:
                c, _ = ls.accept()
            except OSError:
                continue
            threading.Thread(target=echo, args=(c,), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"127.0.0.1:{ls.getsockname()[1]}"
    stop.set()
    t.join(2)
    ls.close()


def rtt(listen: str) -> float:
    host, _, port = listen.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=3) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = time.perf_counter()
        s.sendall(b"ping")
        assert s.recv(16) == b"ping"
        return time.perf_counter() - t


@pytest.fixture
def tp() -> Iterator[toxiproxy.Toxiproxy]:
    saved = (APIConsumer.host, APIConsumer.port)
    with serve_proxy_in_thread() as srv:
        server = toxiproxy.Toxiproxy()
        server.update_api_consumer(srv.host, srv.port)  # process-global in toxiproxy-python
        try:
            yield server
        finally:
            APIConsumer.host, APIConsumer.port = saved


def test_toxiproxy_python_drives_the_embedded_server(tp: toxiproxy.Toxiproxy, echo_addr: str) -> None:
    assert tp.running()
    assert tp.version() == b'{"version": "2.12.0"}\n'
    proxy = tp.create(upstream=echo_addr, name="vendor")
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert set(tp.proxies()) == {"vendor"}
    assert tp.get_proxy("vendor").upstream == echo_addr
    with pytest.raises(ProxyExists):
        tp.create(upstream=echo_addr, name="vendor")
    assert rtt(proxy.listen) < 0.05

    proxy.add_toxic(type="latency", attributes={"latency": 100})
    toxics = proxy.toxics()
    assert list(toxics) == ["latency_downstream"]
    assert toxics["latency_downstream"].attributes == {"latency": 100, "jitter": 0}
    assert 0.095 <= rtt(proxy.listen) <= 0.15
    with pytest.raises(ProxyExists):  # 409: names are unique
        proxy.add_toxic(type="latency", attributes={"latency": 100})
    with pytest.raises(InvalidToxic):  # 400
        proxy.add_toxic(type="no_such_toxic")
    assert proxy.destroy_toxic("latency_downstream") is True
    assert proxy.toxics() == {}
    assert rtt(proxy.listen) < 0.05

    proxy.disable()  # the deprecated POST /proxies/{p}
    with pytest.raises(ConnectionRefusedError):
        rtt(proxy.listen)
    assert tp.get_proxy("vendor").enabled is False
    proxy.enable()
    assert rtt(proxy.listen) < 0.05
    with proxy.down():
        assert tp.get_proxy("vendor").enabled is False
    assert tp.get_proxy("vendor").enabled is True

    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    proxy.disable()
    assert tp.reset() is True
    assert tp.get_proxy("vendor").enabled is True and proxy.toxics() == {}
    assert rtt(proxy.listen) < 0.05

    made = tp.populate([{"name": "second", "upstream": echo_addr, "listen": "127.0.0.1:0"}])
    assert [p.name for p in made] == ["second"]
    assert proxy.destroy() is True
    assert tp.get_proxy("vendor") is None
    with pytest.raises(NotFound):
        proxy.destroy()
    tp.destroy_all()
    assert tp.proxies() == {}


def _start(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "harness.faults", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _ready_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline() if proc.stdout else ""))
    reader.start()
    reader.join(15)
    assert box, "no ready line within 15 s"
    return box[0].strip()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_process_entry_point(sig: signal.Signals, echo_addr: str) -> None:
    proc = _start("--host", "127.0.0.1", "--port", "0", "--seed", "5")
    try:
        line = _ready_line(proc)
        assert line.startswith("toxiproxy-compatible API listening on http://127.0.0.1:")
        url = line.split()[-1]
        assert not url.endswith(":0")
        with ToxiproxyClient(url) as api:
            assert api.version() == "2.12.0"
            p = api.create_proxy("x", echo_addr)
            assert rtt(p["listen"]) < 0.05
        proc.send_signal(sig)
        assert proc.wait(10) == 0
        assert proc.stderr is not None and proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()


def test_process_port_in_use_is_one_line_error() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        proc = _start("--port", str(taken.getsockname()[1]))
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 1 and out == ""
        assert err.strip().count("\n") == 0 and "cannot listen on 127.0.0.1:" in err
    finally:
        taken.close()


# As in the load process (harness/load/_runner.py): httpcore must see trio as absent under gevent.
_GEVENT_SCRIPT = """
import sys
sys.modules.setdefault("trio", None)
from gevent import monkey
monkey.patch_all()
import gevent
from harness.faults import ToxiproxyClient

url, upstream = sys.argv[1], sys.argv[2]
with ToxiproxyClient(url, timeout=5.0) as api:
    api.create_proxy("g", upstream)
    jobs = [gevent.spawn(api.add_toxic, "g", "noop", name=f"n{i}") for i in range(10)]
    gevent.joinall(jobs, timeout=10, raise_error=True)
    print(len(api.toxics("g")), api.version())
"""


def test_client_works_in_a_gevent_patched_process(echo_addr: str) -> None:
    # gevent is only ever imported in a child process: never in this one, never outside harness/load.
    with serve_proxy_in_thread() as srv:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        out = subprocess.run(
            [sys.executable, "-c", _GEVENT_SCRIPT, srv.url, echo_addr],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=env,
            check=False,
        )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "10 2.12.0"


def test_client_from_plain_threads(echo_addr: str) -> None:
    with serve_proxy_in_thread() as srv, ToxiproxyClient(srv.url) as api:
        api.create_proxy("th", echo_addr)
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                for k in range(10):
                    api.add_toxic("th", "latency", {"latency": 1}, name=f"t{i}-{k}")
                    api.update_toxic("th", f"t{i}-{k}", attributes={"jitter": 1})
            except BaseException as exc:  # collected for the assert below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        assert len(api.toxics("th")) == 80


def test_proxy_command_warns_loudly_off_loopback() -> None:
    # 203.0.113.0/24 is TEST-NET-3: not on this machine, so the bind fails locally and nothing is sent.
    res = CliRunner().invoke(proxy, ["--host", "203.0.113.7", "--port", "0"])
    assert res.exit_code == 1
    err = res.stderr
    assert err.startswith("WARNING: the Toxiproxy API will listen on 203.0.113.7, not loopback")
    assert err.rstrip().splitlines()[-1].startswith("bakeoff proxy: cannot listen on 203.0.113.7:0: ")
