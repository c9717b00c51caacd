"""Distributed runs, a worker dying, and Ctrl-C in the middle of a run — all on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from clirun import bakeoff_popen, run_dir_of

from harness.faults import ToxiproxyClient, serve_proxy_in_thread
from harness.record import read_fault_events, read_records, read_run

SHORT = Path(__file__).resolve().parents[2] / "e2e" / "short.yaml"


def bakeoff(*args: str) -> subprocess.Popen[str]:
    return bakeoff_popen("run", SHORT, "--quiet", *args)


def test_two_local_workers_lose_nothing(tmp_path: Path) -> None:
    proc = bakeoff("--out", str(tmp_path), "--workers", "2")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    run_dir = run_dir_of(out)
    df = read_records(run_dir)
    run = read_run(run_dir)
    per = run.manifest.schedule.logical_requests_per_contender
    assert df.request_id.nunique() == 3 * per
    assert set(df.worker) == {"w0", "w1"}
    assert run.end is not None
    workers = run.end.workers
    assert [w.lost for w in workers] == [0, 0]
    assert sum(w.records for w in workers) == len(df)  # every record sent reached the master
    assert sum(w.assigned for w in workers) == 3 * per
    events = read_fault_events(run_dir)
    assert [(e["action"], e["fault_id"]) for e in events] == [("apply", "f1-outage"), ("remove", "f1-outage")]


def wait_for_fault_applied(out: Path, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any('"action":"apply"' in p.read_text() for p in out.glob("*/faults.jsonl")):
            return
        time.sleep(0.1)
    raise AssertionError("the outage was never applied")


def wait_for_records(out: Path, n: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if sum(len(p.read_text().splitlines()) for p in out.glob("*/records.jsonl")) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} records within {timeout:.0f} s")


def _children(pid: int, pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False).stdout
    pids = []
    for p in out.split():
        try:
            stat = Path(f"/proc/{p}/stat").read_text().split()
        except OSError:
            continue
        if int(stat[3]) == pid:
            pids.append(int(p))
    return pids


def test_a_dead_worker_is_accounted_for_and_the_run_goes_on(tmp_path: Path) -> None:
    proc = bakeoff("--out", str(tmp_path), "--workers", "2", "--duration", "14s")
    deadline = time.monotonic() + 90  # start-up (simulators, proxy, preflight, probes) on a busy machine
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = _children(proc.pid, "harness.load._worker")
    assert len(workers) == 2
    wait_for_records(tmp_path, 5)  # the run is under way
    os.kill(workers[1], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err[-3000:]  # the evidence is incomplete: a documented non-zero exit
    assert "died" in err and "logical requests lost" in err
    run_dir = run_dir_of(out)
    end = read_run(run_dir).end
    assert end is not None and end.ended == "incomplete"
    dead = [w for w in end.workers if not w.alive_at_end]
    assert len(dead) == 1 and dead[0].lost > 0
    assert dead[0].completed + dead[0].lost == dead[0].assigned
    alive = [w for w in end.workers if w.alive_at_end]
    assert alive[0].lost == 0 and alive[0].completed == alive[0].assigned
    # the report says so: a banner, the counts per contender, and the verdict flags unequal shares
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="incomplete"' in html and f"load worker {dead[0].index} died" in html
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    counts = summary["meta"]["accounting"]
    per = read_run(run_dir).manifest.schedule.logical_requests_per_contender
    assert sum(c["no_record"] for c in counts.values()) == dead[0].lost
    assert all(c["scheduled"] == per and c["recorded"] + c["no_record"] == per for c in counts.values())
    measured = {c["measured"] for c in counts.values()}
    assert any(v["unequal_share"] for v in summary["verdict"]) == (len(measured) > 1)


def test_ctrl_c_keeps_records_reports_and_leaves_no_fault_behind(tmp_path: Path) -> None:
    with serve_proxy_in_thread() as srv:
        proc = bakeoff("--out", str(tmp_path), "--toxiproxy", srv.url)
        wait_for_fault_applied(tmp_path)  # inside the outage window: the proxy is disabled right now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
        assert "stopping: waiting up to" in err
        run_dir = run_dir_of(out)
        run = read_run(run_dir)
        assert run.interrupted and run.end is not None and run.end.ended == "interrupted"
        df = read_records(run_dir)
        # every scheduled request is a record: those the stop left unsent say so
        assert df.request_id.nunique() == 3 * run.manifest.schedule.logical_requests_per_contender
        final = df[df.is_final_attempt]
        assert 0 < (final.error_class == "not_sent").sum() < len(final)
        assert (run_dir / "report.html").is_file()
        with ToxiproxyClient(srv.url) as api:
            assert api.proxies() == {}  # every proxy this run made is gone, none left disabled
        events = read_fault_events(run_dir)
        assert [e["action"] for e in events] == ["apply", "remove"]  # the outage was lifted on the way out
    # the report can be rebuilt from the records alone
    rebuilt = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr


def _slow_scenario(tmp_path: Path, *, ttft_ms: int, tokens_per_s: int, rate: int, grace: str) -> Path:
    """One contender on a simulated vendor slow enough that many requests are in flight at any moment."""
    prompts = SHORT.parents[2] / "prompts" / "default.jsonl"
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(f"""\
name: slow
prompts: {prompts}
endpoints:
  - {{name: e, dialect: openai-chat, sim: slowpoke, model: m}}
contenders:
  - {{name: c, primary: e}}
sim_profiles:
  slowpoke: {{ttft_ms: {ttft_ms}, ttft_jitter_ms: 0, tokens_per_s: {tokens_per_s}}}
load: {{model: open, arrival: constant, rate: {rate}/s, users: 50, duration: 30s, grace: {grace}}}
""")
    return scenario


def test_ctrl_c_lets_in_flight_requests_finish_within_grace(tmp_path: Path) -> None:
    """The grace period is real: requests in flight at Ctrl-C end as answers, not as cut attempts."""
    scenario = _slow_scenario(tmp_path, ttft_ms=1500, tokens_per_s=200, rate=4, grace="30s")
    out_dir = tmp_path / "out"
    proc = bakeoff_popen("run", scenario, "--quiet", "--out", out_dir, "--no-probes", "--no-report")
    wait_for_records(out_dir, 1)  # each answer takes 1.5 s at 4/s: about six are in flight now
    proc.send_signal(signal.SIGINT)
    [records_file] = out_dir.glob("*/records.jsonl")
    done_at_signal = len(records_file.read_text().splitlines())
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err[-2000:]
    df = read_records(run_dir_of(out))
    sent = df[df.error_class != "not_sent"]
    # more answers than had arrived at the signal: the in-flight ones were waited for, and all succeeded
    assert len(sent) > done_at_signal + 1, (len(sent), done_at_signal)
    assert (sent.outcome == "ok").all(), sent.error_class.value_counts()
    assert "run_ended" not in set(df.error_class.dropna())


def test_second_ctrl_c_aborts_and_records_stay_readable(tmp_path: Path) -> None:
    scenario = _slow_scenario(tmp_path, ttft_ms=3000, tokens_per_s=50, rate=5, grace="20s")
    proc = bakeoff_popen("run", scenario, "--quiet", "--out", tmp_path / "out", "--no-probes")
    wait_for_records(tmp_path / "out", 1)  # requests finish after 3 s, so many are in flight now
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "aborting now" in err
    run_dir = run_dir_of(out)
    assert run_dir.is_dir() and not (run_dir / "report.html").exists()  # aborted: no report yet
    df = read_records(run_dir)
    end = read_run(run_dir).end
    assert len(df) >= 1 and end is not None and end.ended == "aborted"
    # requests in flight were cut (their timings kept), the rest recorded as never sent
    assert df.request_id.nunique() == read_run(run_dir).manifest.schedule.logical_requests_per_contender
    assert {"run_ended", "not_sent"} <= set(df.error_class.dropna())
    rebuilt = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr


def test_ctrl_c_during_start_up_cleans_up_and_exits_cleanly(tmp_path: Path) -> None:
    proc = bakeoff("--out", str(tmp_path))
    end = time.monotonic() + 60
    while not list(tmp_path.glob("*/sim.yaml")):  # the simulated vendors are being started right now
        assert proc.poll() is None and time.monotonic() < end, "the run never started its stack"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10  # starting children is cut short, not waited for
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "stopping: the run is in its start-up phase" in err
    run_dir = run_dir_of(out)
    assert run_dir.is_dir()
    # stopped while the stack was starting: no manifest (nothing was run), nothing sent
    assert not (run_dir / "manifest.json").exists() and (run_dir / "records.jsonl").read_text() == ""
    # no simulator or proxy child outlives the run (the simulator's config sits in the run folder)
    left = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == ""


def test_http_faults_reach_every_worker(tmp_path: Path) -> None:
    """The master owns the timeline; HTTP faults act in the workers' client path, so they are relayed,
    with the network paths they act on: a fault on contender c never touches d on the same endpoint."""
    prompts = SHORT.parents[2] / "prompts" / "default.jsonl"
    scenario = tmp_path / "relay.yaml"
    scenario.write_text(f"""\
name: relay
prompts: {prompts}
endpoints:
  - {{name: e, dialect: openai-chat, sim: quick, model: m}}
contenders:
  - {{name: c, primary: e}}
  - {{name: d, primary: e}}
sim_profiles:
  quick: {{ttft_ms: 30, ttft_jitter_ms: 0, tokens_per_s: 500}}
load: {{model: open, arrival: constant, rate: 10/s, users: 8, duration: 6s, grace: 5s}}
faults:
  - {{at: 2s, duration: 2s, target: c, fault: {{kind: http_status, status: 503}}, name: edge-503}}
""")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(scenario),
            "--quiet",
            "--no-probes",
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = run_dir_of(proc.stdout)
    df = read_records(run_dir)
    assert (df[df.contender == "d"].outcome == "ok").all()  # d's own path to e was never faulted
    df = df[df.contender == "c"]
    events = {e["action"]: e["t_applied"] for e in read_fault_events(run_dir)}
    hit = df[df.fault_injected == "f1-edge-503"]
    assert set(hit.worker) == {"w0", "w1"}
    assert (hit.status == 503).all() and set(hit.error_class) == {"overloaded"}  # 503 is overload
    inside = df[(df.t_dispatch > events["apply"] + 0.05) & (df.t_dispatch < events["remove"] - 0.05)]
    outside = df[(df.t_dispatch < events["apply"] - 0.05) | (df.t_dispatch > events["remove"] + 0.05)]
    assert len(inside) > 10 and inside.fault_injected.notna().all()
    assert len(outside) > 20 and outside.fault_injected.isna().all() and (outside.outcome == "ok").all()
