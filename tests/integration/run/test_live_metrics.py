"""``bakeoff run --metrics-port``: the metrics server on a real loopback socket, its text checked by
Prometheus's own ``promtool``, and a real Prometheus server (Debian's ``prometheus`` package) scraping a
live run and answering PromQL over its HTTP API. The Prometheus parts skip, saying why, where the
binaries are missing (scripts/test installs them as root on Debian)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import bakeoff, bakeoff_popen, run_dir_of
from factories import make_fault_event, make_record

from harness.record import read_records
from harness.run._exposition import CONTENT_TYPE
from harness.run._live_metrics import RunMetrics
from harness.run._metrics_server import MetricsServer

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
NEEDS_PROMETHEUS = (
    "the prometheus binary is missing (Debian: apt-get install -y prometheus; scripts/test does it)"
)


def _thread(fn: Callable[..., Any], *args: Any) -> None:
    threading.Thread(target=fn, args=args, daemon=True).start()


@contextlib.contextmanager
def _server(render: Callable[[], str]) -> Iterator[MetricsServer]:
    server = MetricsServer("127.0.0.1", 0, render, _thread)
    _thread(server.serve)
    try:
        yield server
    finally:
        server.close()


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_the_server_answers_get_metrics_and_nothing_else() -> None:
    with _server(lambda: "a_total 1\n") as server:
        with urllib.request.urlopen(server.url, timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == CONTENT_TYPE
            assert resp.read() == b"a_total 1\n"
        assert _raw(server.port, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 404 ")
        assert _raw(server.port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 405 ")
        huge = b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"p" * 20000 + b"\r\n\r\n"
        assert _raw(server.port, huge).startswith(b"HTTP/1.1 431 ")
        head = _raw(server.port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
        assert server.scrapes == 2


def test_a_taken_port_is_one_line_before_the_run_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = bakeoff("run", "short/soak", "--out", tmp_path, "--quiet", "--metrics-port", port, timeout=60)
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert errors == [f"error: --metrics-port {port}: cannot listen on 127.0.0.1: Address already in use"]
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())  # no run folder: nothing started


def test_a_non_loopback_bind_is_warned_about(tmp_path: Path) -> None:
    # 0.0.0.0 is not loopback: the warning comes first; the run itself is cut short by a bad duration
    proc = bakeoff(
        "run", "short/soak", "--out", tmp_path, "--metrics-port", "0", "--metrics-bind", "0.0.0.0",
        "--duration", "0s", timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("WARNING: the live metrics will be served on 0.0.0.0, reachable from other")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is missing (Debian package prometheus)")
def test_promtool_accepts_the_text_with_hostile_label_values() -> None:
    m = RunMetrics('scen "x"', ["A", 'we\\ird "name"\nline2'], run_id="r1")
    m.add(make_record(contender='we\\ird "name"\nline2', t_first_token=0.2, t_end=0.5))
    m.add(make_record(outcome="error", error_class="server_error", status=503, t_end=0.1))
    m.fault(make_fault_event())
    assert PROMTOOL is not None
    proc = subprocess.run(
        [PROMTOOL, "check", "metrics"],
        input=m.render(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _free_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen[str], str]:
    """Prometheus scraping ``target`` every second, on a free loopback port; returns it and its API URL."""
    assert PROMETHEUS is not None
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: bakeoff\n    static_configs:\n      - targets: ['{target}']\n"
    )
    log = tmp_path / "prometheus.log"
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         "--web.listen-address=127.0.0.1:0", "--log.level=info"],
        stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r'msg="Listening on" address=(127\.0\.0\.1:\d+)', log.read_text())
        if found:
            return proc, f"http://{found.group(1)}"
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("prometheus did not say where it listens: " + log.read_text()[-3000:])


def _query(api: str, promql: str) -> list[dict[str, Any]]:
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.load(resp)
    except OSError:
        return []  # not ready yet
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _poll(api: str, promql: str, ok: Callable[[list[dict[str, Any]]], bool], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        result = _query(api, promql)
        if ok(result):
            return result
        time.sleep(0.25)
    raise AssertionError(f"{promql}: no satisfying answer within {timeout} s; last {result}")


# about 20 s: a simulated stack, a Prometheus server, scrapes every second
@pytest.mark.skipif(PROMETHEUS is None, reason=NEEDS_PROMETHEUS)
@pytest.mark.parametrize("workers", [0, 2])
def test_a_real_prometheus_scrapes_a_live_run_and_answers_promql(tmp_path: Path, workers: int) -> None:
    """The run goes on (60 s planned) until Prometheus has answered; then one Ctrl-C ends it cleanly, and
    what Prometheus stored is compared with the run's own records. With --workers 2 the master serves
    the sum of what both workers did."""
    run = bakeoff_popen(
        "run", "short/default", "--out", tmp_path / "out", "--quiet", "--no-probes", "--no-report",
        "--duration", "60s", "--metrics-port", "0", *(["--workers", str(workers)] if workers else []),
    )  # fmt: skip
    prom: subprocess.Popen[str] | None = None
    try:
        assert run.stderr is not None
        seen: list[str] = []
        found = None
        while found is None and len(seen) < 50:  # warnings, then the address, before the run starts
            seen.append(run.stderr.readline())
            found = re.match(r"live metrics: http://(127\.0\.0\.1:\d+)/metrics ", seen[-1])
            assert seen[-1], seen  # the run ended without saying where
        assert found, seen
        prom, api = _free_prometheus(tmp_path, found.group(1))
        _poll(api, 'up{job="bakeoff"}', lambda r: bool(r) and r[0]["value"][1] == "1")
        # requests flowed through every contender, and the histograms answer a quantile
        _poll(api, "sum by (contender) (bakeoff_requests_total)", lambda r: len(r) == 3)
        _poll(api, "sum(bakeoff_logical_requests_total) > 10", bool)
        p50 = _poll(
            api,
            "histogram_quantile(0.5, sum by (le) (bakeoff_ttft_seconds_bucket))",
            lambda r: bool(r) and r[0]["value"][1] not in ("NaN", "+Inf"),
        )
        in_flight = _query(api, "bakeoff_in_flight")
        faults = _query(api, "bakeoff_fault_active")
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err[-3000:]
        # after the run, the last scraped values stay queryable over a window
        scraped = _poll(api, "max_over_time(bakeoff_requests_total[10m])", bool)
    finally:
        if run.poll() is None:
            run.kill()
        if prom is not None:
            prom.terminate()
            prom.wait(timeout=30)
    # the simulated vendors answer TTFT in well under 2 s: the median is a bucket bound below that
    assert 0 < float(p50[0]["value"][1]) <= 2.0
    assert {r["metric"]["contender"] for r in in_flight} == {"alpha", "beta", "gamma"}
    assert {(r["metric"]["fault"], r["metric"]["target"]) for r in faults} == {
        ("f1-outage", "each-contender")
    }
    # what Prometheus last saw never exceeds what the run recorded, per label set
    records = read_records(run_dir_of(out))
    for row in scraped:
        lab = row["metric"]
        mine = records[
            (records.contender == lab["contender"])
            & (records.endpoint == lab["endpoint"])
            & (records.outcome == lab["outcome"])
            & (records.error_class.fillna("none") == lab["error_class"])
        ]
        assert 0 < float(row["value"][1]) <= len(mine), lab
    if workers:  # both workers' records reached the master, and its counters hold them all
        assert set(records.worker) == {"w0", "w1"}
        served = sum(float(row["value"][1]) for row in scraped)
        per_worker = records.groupby("worker").size()
        # more than either worker alone sent (what came after the last scrape aside)
        assert per_worker.max() < served <= len(records), (served, per_worker.to_dict())
