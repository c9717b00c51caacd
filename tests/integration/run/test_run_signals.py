"""SIGINT and SIGTERM end ``bakeoff run`` within the grace period plus a few seconds in every phase:
while the commands are imported, while gevent patches the process, before the run's own handlers exist,
during probes against a vendor that trickles bytes, during load against it, and while the report is
built. Plus the exit codes of a run whose every attempt failed. Real processes on loopback, bounded."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from clirun import bakeoff, bakeoff_popen, cli_env
from vendors import trickling_vendor

from harness.record import read_run

ROOT = Path(__file__).resolve().parents[3]
PROMPTS = ROOT / "prompts" / "default.jsonl"


HOOK = """
import os, signal, sys
class Hook:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.{sig})
        return None
sys.meta_path.insert(0, Hook())
from harness.cli import main
sys.exit(main({argv!r}))
"""


def _signal_on_import(module: str, sig: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``bakeoff argv`` in a process that sends itself ``sig`` the moment ``module`` is imported."""
    code = textwrap.dedent(HOOK.format(module=module, sig=sig, argv=argv))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=cli_env(), check=False
    )


def test_ctrl_c_while_the_commands_are_imported_is_aborted_not_a_traceback() -> None:
    res = _signal_on_import("harness.cli._main", "SIGINT", ["--version"])
    assert res.returncode == 130 and res.stderr.strip() == "aborted" and res.stdout == ""


def test_ctrl_c_while_gevent_patches_the_process_ends_cleanly(tmp_path: Path) -> None:
    """A Ctrl-C in the middle of the patch once left the process hung in threading._shutdown: the signal
    waits for the patch to finish, then stops the command (the timeout of 60 s is the hang detector)."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: x\n", encoding="utf-8")
    res = _signal_on_import("locust", "SIGINT", ["run", str(scenario), "--quiet", "--out", str(tmp_path)])
    assert res.returncode == 130 and res.stderr.strip() == "aborted", res.stderr[-2000:]


def test_sigterm_before_the_run_has_its_handlers_is_a_clean_abort(tmp_path: Path) -> None:
    scenario = ROOT / "tests" / "e2e" / "short.yaml"
    res = _signal_on_import(
        "harness.run._run", "SIGTERM", ["run", str(scenario), "--quiet", "--out", str(tmp_path)]
    )
    assert res.returncode == 130 and "aborted" in res.stderr and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []  # nothing started


def _scenario(tmp_path: Path, port: int, grace: str = "1s") -> Path:
    path = tmp_path / "trickle.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: trickle
        prompts: {PROMPTS}
        endpoints:
          - name: slow
            dialect: openai-chat
            base_url: http://127.0.0.1:{port}/v1
            model: m
            api_key_env: TRICKLE_KEY
            timeouts: {{connect: 2s, ttft: 60s, idle: 60s, total: 120s}}
        contenders:
          - {{name: c, primary: slow}}
        load: {{model: open, arrival: constant, rate: 2/s, users: 4, duration: 30s, grace: {grace}}}
        """),
        encoding="utf-8",
    )
    return path


def _run(scenario: Path, out: Path, *args: str) -> subprocess.Popen[str]:
    return bakeoff_popen(
        "run", scenario, "--quiet", "--out", out, *args, env={"TRICKLE_KEY": "sk-trickle-0123456789"}
    )


def _wait(cond: object, proc: subprocess.Popen[str], what: str, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < end, f"no {what} within {timeout:.0f} s"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_probe_phase_while_a_vendor_trickles(tmp_path: Path, sig: int) -> None:
    with trickling_vendor(0.3) as (port, seen):
        proc = _run(_scenario(tmp_path, port), tmp_path / "out", "--no-preflight")  # its GET would trickle
        _wait(lambda: seen, proc, "probe request")
        time.sleep(1.0)  # the probe is now reading one byte at a time
        proc.send_signal(sig)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    assert proc.returncode == 0, err[-2000:]
    assert took < 1 + 10, took  # grace plus a few seconds (the report included)
    assert "stopping: the run is in its probes phase" in err and "Traceback" not in err
    run_dir = Path(out.strip().splitlines()[-1]).parent
    end = read_run(run_dir).end
    assert end is not None and end.ended == "interrupted"
    assert (run_dir / "probes.jsonl").exists()  # what was known when it stopped
    assert (run_dir / "records.jsonl").read_text() == ""  # no load was sent


def test_sigterm_during_load_against_a_trickling_vendor_ends_within_grace(tmp_path: Path) -> None:
    with trickling_vendor(0.3) as (port, seen):
        proc = _run(
            _scenario(tmp_path, port, grace="2s"),
            tmp_path / "out",
            "--no-preflight",
            "--no-probes",
            "--no-report",
        )
        _wait(lambda: len(seen) >= 3, proc, "load requests")
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        _out, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    assert proc.returncode == 0, err[-2000:]
    assert took < 2 + 8, took
    assert "stopping: waiting up to 2 s" in err
    [run_dir] = list((tmp_path / "out").iterdir())
    end = read_run(run_dir).end
    assert end is not None and end.ended == "interrupted"


def test_a_signal_while_the_report_is_built_stops_it_after_grace(tmp_path: Path) -> None:
    scenario = tmp_path / "quick.yaml"
    scenario.write_text(
        textwrap.dedent(f"""\
        name: quick
        prompts: {PROMPTS}
        endpoints:
          - {{name: e, dialect: openai-chat, sim: quick, model: m}}
        contenders:
          - {{name: c, primary: e}}
        sim_profiles:
          quick: {{ttft_ms: 20, ttft_jitter_ms: 0, tokens_per_s: 2000}}
        load: {{model: open, arrival: constant, rate: 1/s, users: 4, duration: 3s, grace: 0s}}
        """),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    proc = _run(scenario, out, "--no-probes")
    _wait(lambda: list(out.glob("*/report.log")), proc, "report phase")
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    stdout, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 5
    assert proc.returncode == 0, err[-2000:]
    assert "the report gets up to 0 s to finish" in err and "report not written (stopped)" in err
    run_dir = Path(stdout.strip().splitlines()[-1])
    assert not (run_dir / "report.html").exists() and read_run(run_dir).end is not None


def test_a_run_that_reached_no_vendor_exits_5(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on: every attempt fails
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scenario = tmp_path / "dead.yaml"
    scenario.write_text(
        textwrap.dedent(f"""\
        name: dead
        prompts: {PROMPTS}
        endpoints:
          - {{name: e, dialect: openai-chat, base_url: "http://127.0.0.1:{port}/v1", model: m,
             api_key_env: K}}
        contenders:
          - {{name: c, primary: e}}
        load: {{model: open, arrival: constant, rate: 4/s, users: 2, duration: 1s, grace: 1s}}
        """),
        encoding="utf-8",
    )
    res = bakeoff(
        "run",
        scenario,
        "--quiet",
        "--no-preflight",  # the load itself must find that nothing is there
        "--no-probes",
        "--no-report",
        "--out",
        tmp_path / "out",
        env={"K": "sk-dead-0123456789"},
    )
    assert res.returncode == 5, res.stderr[-2000:]
    assert "error: no attempt reached a vendor" in res.stderr
    [run_dir] = list((tmp_path / "out").iterdir())
    rows = [json.loads(x) for x in (run_dir / "records.jsonl").read_text().splitlines()]
    assert rows and {r["outcome"] for r in rows} == {"error"}  # the proxy accepts, the vendor is not there


def _listening(port: int) -> set[str]:
    """The IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp: state 0A)."""
    found = set()
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = row.split()[1], row.split()[3]
        addr, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return found


def test_a_signal_while_the_master_waits_for_workers_ends_the_run_at_once(tmp_path: Path) -> None:
    """Waiting for remote workers (up to a minute) is part of start-up: a stop ends it at once."""
    out = tmp_path / "out"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # --no-report: the report phase has its own test; here the wait for workers must end at once
    args = ("--no-probes", "--no-report", "--expect-workers", "1", "--master-port", str(port))
    proc = _run(ROOT / "tests" / "e2e" / "short.yaml", out, *args)
    assert proc.stderr is not None
    line = ""
    end = time.monotonic() + 90
    while "waiting for 1 worker(s)" not in line:
        assert time.monotonic() < end and proc.poll() is None, "the master never started waiting"
        line = proc.stderr.readline()
    # the Locust master listens on loopback only (the default --master-bind), seen on the real socket
    assert _listening(port) == {"127.0.0.1"}
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    _stdout, err = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    assert proc.returncode == 0, err[-2000:]
    assert took < 10, (took, err[-2000:])  # cleanup included: the simulators and the proxy stop
    [run_dir] = list(out.iterdir())
    end_info = read_run(run_dir).end
    assert end_info is not None and end_info.ended == "interrupted"
