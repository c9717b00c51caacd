"""Open model without coordinated omission against an overloaded simulator; the closed model's users."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.config import load_scenario
from harness.load import build_schedule
from harness.record import read_records, read_run

PROMPTS = Path(__file__).resolve().parents[3] / "prompts" / "default.jsonl"


def run(tmp_path: Path, body: str) -> Path:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"prompts: {PROMPTS}\n" + textwrap.dedent(body))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(scenario),
            "--out",
            str(tmp_path),
            "--quiet",
            "--no-report",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def test_open_model_overloaded_vendor_keeps_schedule_and_records_lag(tmp_path: Path) -> None:
    run_dir = run(
        tmp_path,
        """\
        name: overload
        seed: 3
        endpoints:
          - {name: slowpoke, dialect: openai-chat, sim: tiny, model: m}
        contenders:
          - {name: only, primary: slowpoke}
        sim_profiles:
          tiny: {ttft_ms: 150, ttft_jitter_ms: 0, tokens_per_s: 100, capacity: 2, queue_limit: 1000}
        load: {model: open, arrival: constant, rate: 12/s, users: 3, duration: 5s, grace: 20s}
        """,
    )
    df = read_records(run_dir)
    resolved = load_scenario(tmp_path / "s.yaml")
    schedule = build_schedule(resolved.scenario.load, len(resolved.prompts), 3)
    assert read_run(run_dir).manifest.schedule.logical_requests_per_contender == len(schedule) == 60
    assert df.request_id.nunique() == len(schedule)  # nothing dropped, nothing added
    final = df[df.is_final_attempt].sort_values("seq")
    assert list(final.seq) == list(range(60))
    assert (final.outcome == "ok").all()
    lag = final.t_dispatch - final.t_intended
    user_latency = final.t_end - final.t_intended
    e2e = final.t_end - final.t_dispatch
    assert (user_latency >= e2e).all()
    # 3 users cannot keep up with 12/s of ~0.5 s requests: requests wait and the wait is recorded
    assert lag.iloc[-10:].min() > 1.0
    assert lag.iloc[:2].max() < 0.05
    # and the vendor itself queued too (capacity 2 < 3 users): TTFT grows beyond the configured 150 ms
    ttft = final.t_first_token - final.t_dispatch
    assert ttft.max() > 0.3


def test_closed_model_users_spawn_and_loop(tmp_path: Path) -> None:
    run_dir = run(
        tmp_path,
        """\
        name: closed
        seed: 5
        endpoints:
          - {name: e1, dialect: anthropic-messages, sim: quick, model: m}
          - {name: e2, dialect: openai-chat, sim: quick, model: m}
        contenders:
          - {name: a, primary: e1}
          - {name: b, primary: e2}
        sim_profiles:
          quick: {ttft_ms: 50, ttft_jitter_ms: 0, tokens_per_s: 400}
        load: {model: closed, users: 3, spawn_rate: 2, think_time: 200ms, duration: 4s}
        """,
    )
    df = read_records(run_dir)
    final = df[df.is_final_attempt]
    for contender, g in final.groupby("contender"):
        starts = g.groupby("user").t_dispatch.min().sort_index()
        assert list(starts.index) == [0, 1, 2], contender
        # users join half a second apart (spawn_rate 2/s)
        assert (
            abs(starts.iloc[1] - starts.iloc[0] - 0.5) < 0.1
            and abs(starts.iloc[2] - starts.iloc[1] - 0.5) < 0.1
        )
        for _, u in g.sort_values("t_dispatch").groupby("user"):
            gaps = u.t_dispatch.to_numpy()[1:] - u.t_end.to_numpy()[:-1]
            assert (gaps >= 0.19).all()  # think time between a user's requests
        assert g.t_dispatch.max() < 4.0  # no request starts after the duration
    # both contenders walk the same prompt order
    a = final[final.contender == "a"].sort_values("seq").prompt_id.tolist()
    b = final[final.contender == "b"].sort_values("seq").prompt_id.tolist()
    n = min(len(a), len(b))
    assert n > 10 and a[:n] == b[:n]


def test_simulated_vendors_can_be_served_by_several_processes(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        f"prompts: {PROMPTS}\n"
        + textwrap.dedent("""\
        name: multi
        endpoints:
          - {name: e, dialect: openai-chat, sim: fast, model: m}
        contenders:
          - {name: c, primary: e}
        load: {model: open, arrival: constant, rate: 10/s, users: 8, duration: 4s}
        """)
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(scenario),
            "--out",
            str(tmp_path),
            "--quiet",
            "--no-report",
            "--no-probes",
            "--sim-processes",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    serving: set[str] = set()
    end = time.monotonic() + 60
    while time.monotonic() < end and proc.poll() is None:
        if any(p.stat().st_size for p in tmp_path.glob("*/records.jsonl")):
            found = subprocess.run(
                ["pgrep", "-f", f"harness.sim --config {tmp_path}"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            serving.update(found)
            if len(serving) >= 2:
                break
        time.sleep(0.1)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert len(serving) == 2  # two simulator processes share the port
    df = read_records(Path(out.strip().splitlines()[-1]))
    assert df.request_id.nunique() == 40 and (df.outcome == "ok").all()
