"""The ``bakeoff`` console script as a real process: exit codes that come from ``sys.exit`` in a command,
the serving commands (sim, proxy) start, announce themselves and stop on SIGTERM, and the module entry
points a run starts its children with (``python -m harness.sim`` / ``harness.faults`` /
``harness.load._worker``) parse the same options as the ``bakeoff`` commands and do not import Locust."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.analysis import write_synthetic_run

ROOT = Path(__file__).resolve().parents[3]
_SCRIPT = Path(sys.executable).parent / "bakeoff"
# The console script pip installs (`bakeoff = harness.cli:main`); without one, the same entry point.
BAKEOFF = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "harness.cli"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's harness, whatever is installed


def bakeoff(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BAKEOFF, *args], capture_output=True, text=True, timeout=timeout, check=False, env=_env()
    )


@contextmanager
def serving(argv: list[str], lines: int) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start a serving command, read its ready lines, then SIGTERM it (SIGKILL if it lingers)."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True
    )
    assert proc.stdout is not None
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = []
        for _ in range(lines):
            assert sel.select(30), "no ready line in time"
            ready.append(proc.stdout.readline().strip())
        sel.close()
        yield proc, ready
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_run(tmp_path_factory.mktemp("proc") / "run", n_requests=150)


def test_gate_exit_code_reaches_the_shell(run_dir: Path) -> None:
    failed = bakeoff("gate", str(run_dir))
    assert failed.returncode == 3, failed.stderr
    assert failed.stdout.splitlines()[2].startswith("FAIL alpha: ")
    passed = bakeoff("gate", str(run_dir), "--slo", "max_error_rate=50%", "--slo", "min_good_fraction=0.5")
    assert passed.returncode == 0, passed.stderr


def test_gate_ci_outputs_from_the_console_script(run_dir: Path, tmp_path: Path) -> None:
    """--junit, --github-summary and --json together, as a GitHub Actions step runs them."""
    import json
    import xml.etree.ElementTree as ET

    junit, summary = tmp_path / "gate.xml", tmp_path / "step-summary.md"
    res = subprocess.run(
        [*BAKEOFF, "gate", str(run_dir), "--junit", str(junit), "--github-summary", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**_env(), "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert res.returncode == 3, res.stderr
    assert json.loads(res.stdout)["passed"] is False
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert "| alpha | error rate ≤ 5.0 % | yes | ❌ FAIL | 10.0 % | ≤ 5.0 % |" in summary.read_text("utf-8")


def test_failure_and_invalid_input_codes(tmp_path: Path) -> None:
    report = bakeoff("report", str(tmp_path))
    assert report.returncode == 1 and report.stderr.startswith("error: ") and "Traceback" not in report.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nendpointz: []\n", encoding="utf-8")
    validate = bakeoff("validate", str(bad))
    assert validate.returncode == 2 and f"{bad}:2: endpointz: unknown key" in validate.stderr
    run = bakeoff("run", str(tmp_path / "missing.yaml"), "--quiet")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    usage = bakeoff("gate", str(tmp_path), "--no-such-option")
    assert usage.returncode == 2 and "No such option '--no-such-option'" in usage.stderr


def test_version_and_help() -> None:
    version = bakeoff("--version")
    assert version.returncode == 0 and version.stdout.startswith("bakeoff, version ")
    res = bakeoff("worker", "--help")  # the command imports Locust when it runs, not for its help
    assert res.returncode == 0 and res.stdout.startswith("Usage: bakeoff worker [OPTIONS]"), res.stderr


def test_bakeoff_proxy_serves_until_sigterm() -> None:
    with serving([*BAKEOFF, "proxy", "--port", "0", "--seed", "3"], lines=1) as (proc, ready):
        assert re.fullmatch(r"toxiproxy-compatible API listening on http://127\.0\.0\.1:\d+", ready[0])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_bakeoff_sim_serves_until_sigterm(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("seed: 1\nendpoints:\n  - {name: a, dialect: openai-chat, model: m}\n", encoding="utf-8")
    with serving([*BAKEOFF, "sim", "--config", str(cfg), "--port", "0"], lines=1) as (proc, ready):
        assert re.fullmatch(r"a openai-chat http://127\.0\.0\.1:\d+/a/v1", ready[0])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


@pytest.mark.parametrize(
    ("module", "command"),
    [("harness.sim", "sim"), ("harness.faults", "proxy"), ("harness.load._worker", "worker")],
)
def test_module_entry_points_take_the_commands_options(module: str, command: str) -> None:
    """The run starts its children with ``python -m``: same options, same help as ``bakeoff <command>``."""

    def options(text: str) -> list[str]:
        return re.findall(r"^\s+(?:-\w, )?(--[a-z-]+)", text, flags=re.MULTILINE)

    as_module = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    as_command = bakeoff(command, "--help")
    assert as_module.returncode == 0 == as_command.returncode, as_module.stderr
    assert options(as_module.stdout) == options(as_command.stdout) != []


@pytest.mark.parametrize("module", ["harness.sim", "harness.faults"])
def test_simulator_and_proxy_processes_do_not_import_locust(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert proc.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "click" in imported  # the listing is real
    assert not {m for m in imported if m.split(".")[0] in ("locust", "gevent")}
