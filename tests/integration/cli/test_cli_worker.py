"""``bakeoff worker --master HOST:PORT`` joins ``bakeoff run --expect-workers 1`` (as a remote worker
would, here on loopback) and serves the whole schedule; both processes exit 0."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from harness.record import read_records, read_run

ROOT = Path(__file__).resolve().parents[3]
_SCRIPT = Path(sys.executable).parent / "bakeoff"
BAKEOFF = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "harness.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_worker_started_by_hand_serves_the_run(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(f"""\
name: tiny
prompts: {ROOT / "prompts" / "default.jsonl"}
endpoints:
  - {{name: e, dialect: openai-chat, sim: quick, model: m}}
contenders:
  - {{name: c, primary: e}}
sim_profiles:
  quick: {{ttft_ms: 20, ttft_jitter_ms: 0, tokens_per_s: 500}}
load: {{model: open, arrival: constant, rate: 5/s, users: 4, duration: 2s, grace: 3s}}
""")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out_dir = tmp_path / "out"
    run_args = [
        "run",
        str(scenario),
        "--quiet",
        "--no-preflight",
        "--no-probes",
        "--no-report",
        "--out",
        str(out_dir),
    ]
    run = subprocess.Popen(
        [*BAKEOFF, *run_args, "--expect-workers", "1", "--master-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    worker = subprocess.Popen(
        [*BAKEOFF, "worker", "--master", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-3000:]
        w_out, w_err = worker.communicate(timeout=30)
        assert worker.returncode == 0, w_err[-3000:]
    finally:
        for proc in (run, worker):
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    assert w_out.splitlines()[0] == f"worker connected to 127.0.0.1:{port}"
    run_dir = Path(out.strip().splitlines()[-1])
    df = read_records(run_dir)
    per = read_run(run_dir).manifest.schedule.logical_requests_per_contender
    assert set(df.worker) == {"w0"} and df.request_id.nunique() == per == 10
    assert (df.outcome == "ok").all()


def test_a_worker_whose_key_cannot_be_sent_refuses_its_plan_without_echoing_the_key(tmp_path: Path) -> None:
    """A remote worker reads keys from its own environment, which `bakeoff validate` never saw: a key with
    a trailing newline stops the run with a line naming the variable, not a run of failed attempts."""
    scenario = tmp_path / "real.yaml"
    scenario.write_text(f"""\
name: real
prompts: {ROOT / "prompts" / "default.jsonl"}
endpoints:
  - {{name: e, dialect: openai-chat, base_url: "http://127.0.0.1:9/v1", model: m, api_key_env: REMOTE_KEY}}
contenders:
  - {{name: c, primary: e}}
load: {{model: open, arrival: constant, rate: 5/s, users: 4, duration: 2s, grace: 1s}}
""")
    port = _free_port()
    key = "sk-remote-0123456789"
    out_dir = tmp_path / "out"
    run_args = [
        "run",
        str(scenario),
        "--quiet",
        "--no-preflight",
        "--no-probes",
        "--no-report",
        "--out",
        str(out_dir),
    ]
    run = subprocess.Popen(
        [*BAKEOFF, *run_args, "--expect-workers", "1", "--master-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "REMOTE_KEY": key},
    )
    worker = subprocess.Popen(
        [*BAKEOFF, "worker", "--master", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "REMOTE_KEY": key + "\n"},
    )
    try:
        _out, err = run.communicate(timeout=120)
        _w_out, w_err = worker.communicate(timeout=30)
    finally:
        for proc in (run, worker):
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    assert run.returncode == 1, err[-3000:]
    assert (
        "error: worker 0 refused its plan: endpoint e: environment variable REMOTE_KEY: the key has a "
        "line break at the end" in err
    )
    assert key not in err and key not in w_err
