"""Bind discipline: the simulator, the embedded proxy (API and proxies) and the Locust master listen on
loopback by default, and say so loudly when told to listen elsewhere.

Off-loopback cases use 192.0.2.1 (TEST-NET-1, never local): the warning must come before the bind,
which then fails cleanly, so no test ever opens a port beyond loopback.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

from harness.faults import ToxiproxyClient, serve_proxy_in_thread
from harness.sim import SimConfig, SimEndpoint, serve_in_thread

OFF_LOOPBACK = "192.0.2.1"


def _run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _sim_config(tmp_path: Path) -> Path:
    path = tmp_path / "sim.yaml"
    path.write_text("endpoints:\n  - {name: a, dialect: openai-chat, model: m}\n", encoding="utf-8")
    return path


def _first_line(argv: list[str], timeout: float = 20) -> str:
    """Start ``python -m argv``, read its first stdout line, stop it (SIGTERM to its own pid)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout), "no ready line in time"
        sel.close()
        return proc.stdout.readline().decode()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


# --- defaults are loopback -----------------------------------------------------------------------


def test_in_thread_simulator_binds_loopback() -> None:
    cfg = SimConfig(endpoints=[SimEndpoint(name="a", dialect="openai-chat", model="m")])
    with serve_in_thread(cfg) as sim:
        sockets = sim.server.http._server.sockets  # the listening sockets themselves
        assert sockets and all(s.getsockname()[0] == "127.0.0.1" for s in sockets)


def test_embedded_proxy_api_and_proxies_bind_loopback() -> None:
    with serve_proxy_in_thread(port=0) as srv, ToxiproxyClient(srv.url) as api:
        assert srv.url.startswith("http://127.0.0.1:")
        for listen in ("", ":0"):  # real Toxiproxy binds every interface here; ours keeps loopback
            name = f"p{len(listen)}"
            created = api.create_proxy(name, upstream="127.0.0.1:9", listen=listen)
            assert str(created["listen"]).startswith("127.0.0.1:"), created
            api.delete_proxy(name)


def test_proxy_process_default_is_loopback() -> None:
    line = _first_line(["harness.faults", "--port", "0"])
    assert "http://127.0.0.1:" in line


def test_simulator_process_default_is_loopback(tmp_path: Path) -> None:
    line = _first_line(["harness.sim", "--config", str(_sim_config(tmp_path)), "--port", "0"])
    assert "http://127.0.0.1:" in line


# --- off loopback: a loud warning ------------------------------------------------------------------


def test_proxy_warns_before_binding_off_loopback() -> None:
    proc = _run("harness.faults", "--host", OFF_LOOPBACK, "--port", "0")
    assert proc.returncode != 0
    assert "WARNING" in proc.stderr and OFF_LOOPBACK in proc.stderr and "not loopback" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_locust_master_warns_off_loopback_and_not_on_loopback() -> None:
    loud = _run("harness.cli", "run", "/nonexistent/scenario.yaml", "--master-bind", OFF_LOOPBACK)
    assert loud.returncode == 2
    assert "WARNING" in loud.stderr and OFF_LOOPBACK in loud.stderr
    quiet = _run("harness.cli", "run", "/nonexistent/scenario.yaml", "--master-bind", "127.0.0.1")
    assert quiet.returncode == 2 and "WARNING" not in quiet.stderr


def test_simulator_warns_off_loopback(tmp_path: Path) -> None:
    proc = _run("harness.sim", "--config", str(_sim_config(tmp_path)), "--host", OFF_LOOPBACK, "--port", "0")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "WARNING" in proc.stderr and OFF_LOOPBACK in proc.stderr
