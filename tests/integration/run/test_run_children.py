"""Children die with the run, however it dies: ``kill -9`` of ``bakeoff run`` (simulator, proxy, local
workers), of a process whose children only have the watch pipe (what macOS gets), and of a run building
its report. Real processes on loopback; every wait is bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.analysis import write_synthetic_run

ROOT = Path(__file__).resolve().parents[3]
SHORT = ROOT / "tests" / "e2e" / "short.yaml"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _children_of(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(p.name))
    return out


def _gone_within(pids: list[int], seconds: float) -> float:
    t0 = time.monotonic()
    while any(_alive(p) for p in pids):
        assert time.monotonic() - t0 < seconds, (
            f"still alive after {seconds} s: {[p for p in pids if _alive(p)]}"
        )
        time.sleep(0.01)
    return time.monotonic() - t0


def test_kill_9_of_bakeoff_run_takes_the_simulator_proxy_and_workers_with_it(tmp_path: Path) -> None:
    argv = ["run", str(SHORT), "--quiet", "--no-probes", "--out", str(tmp_path), "--workers", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *argv, "--duration", "30s"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        start_new_session=True,
    )
    try:
        end = time.monotonic() + 90
        kids: list[int] = []
        while len(kids) < 4:  # simulator, proxy, two workers
            assert proc.poll() is None and time.monotonic() < end, "the run never started its children"
            time.sleep(0.1)
            kids = _children_of(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        _gone_within(kids, 10)
    finally:
        if proc.poll() is None:
            proc.kill()


PARENT = """
import sys, time
from pathlib import Path
from harness._children import ChildProcess
d = Path(sys.argv[1])
(d / "sim.yaml").write_text("seed: 1\\nendpoints:\\n  - {name: a, dialect: openai-chat, model: m}\\n")
pdeathsig = sys.argv[2] == "pdeathsig"
argv = ["harness.sim", "--config", str(d / "sim.yaml")]
sim = ChildProcess("sim", argv, d / "sim.log", pdeathsig=pdeathsig)
sim.start(1)
argv = ["harness.load._worker", "--master", "127.0.0.1:9"]
worker = ChildProcess("w", argv, d / "w.log", pdeathsig=pdeathsig)
worker.start(0)
print(sim.proc.pid, worker.proc.pid, flush=True)
time.sleep(120)
"""


def _kill_parent_of_children(tmp_path: Path, mode: str) -> float:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT), str(tmp_path), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        pids = [int(x) for x in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        time.sleep(1.0)  # the worker patches itself (gevent) and starts its watch
        assert all(_alive(p) for p in pids)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return _gone_within(pids, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_watch_pipe_alone_stops_children_when_the_parent_is_killed(tmp_path: Path) -> None:
    """No parent-death signal (macOS): the simulator (a thread) and a gevent worker (a greenlet) read
    end-of-file on the pipe and stop themselves."""
    _kill_parent_of_children(tmp_path, "pipe")


def test_the_parent_death_signal_stops_children_at_once(tmp_path: Path) -> None:
    assert _kill_parent_of_children(tmp_path, "pdeathsig") < 5


REPORTER = """
import sys, time
from pathlib import Path
from harness.run._report import build_report
build_report(Path(sys.argv[1]), sleep=time.sleep, abort=lambda: False)
"""


def test_the_report_child_dies_with_the_run(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "run", n_requests=20)
    records = run_dir / "records.jsonl"
    records.unlink()
    os.mkfifo(records)  # the report child blocks reading it: it is still running when the run dies
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(REPORTER), str(run_dir)], env=_env())
    try:
        end = time.monotonic() + 60
        kids: list[int] = []
        while not kids:
            assert proc.poll() is None and time.monotonic() < end, "no report child"
            time.sleep(0.05)
            kids = _children_of(proc.pid)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        _gone_within(kids, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
