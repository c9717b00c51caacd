"""`bakeoff run` end to end on loopback: simulated vendors, embedded proxy, Locust, records, report."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from clirun import bakeoff

from harness.record import read_fault_events, read_records, read_run

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def run_dir(real_run: Path) -> Path:
    return real_run  # tests/conftest.py: one real run of short.yaml per session


def test_every_attempt_recorded_once(run_dir: Path) -> None:
    df = read_records(run_dir)
    per = read_run(run_dir).manifest.schedule.logical_requests_per_contender
    assert per > 20
    logical = df.groupby("request_id")
    # every logical request: attempts numbered 1..n, exactly one final attempt, and nothing lost
    assert len(df) == sum(len(g) for _, g in logical)
    for _, g in logical:
        assert sorted(g["attempt"]) == list(range(1, len(g) + 1))
        assert int(g["is_final_attempt"].sum()) == 1
    for contender in ("alpha", "beta", "gamma"):
        assert df.loc[df.contender == contender, "request_id"].nunique() == per
    assert (df["error_class"] == "client_error").sum() == 0


def test_identical_prompt_sequence_and_intended_times(run_dir: Path) -> None:
    df = read_records(run_dir)
    first = df[df.attempt == 1].sort_values("seq")
    seqs = {
        c: g[["seq", "prompt_id", "t_intended"]].reset_index(drop=True) for c, g in first.groupby("contender")
    }
    ref = seqs["alpha"]
    for c, frame in seqs.items():
        assert frame.equals(ref), c


def test_outage_hits_only_the_targeted_endpoint(run_dir: Path) -> None:
    df = read_records(run_dir)
    events = read_fault_events(run_dir)
    apply = next(e for e in events if e["action"] == "apply")
    remove = next(e for e in events if e["action"] == "remove")
    assert apply["endpoints"] == ["alpha-fast"] and apply["outcome"] == "ok" and remove["outcome"] == "ok"
    lo, hi = apply["t_applied"], remove["t_applied"]
    inside = df[(df.t_dispatch > lo + 0.05) & (df.t_end < hi)]
    target = inside[inside.endpoint == "alpha-fast"]
    others = inside[inside.endpoint != "alpha-fast"]
    assert len(target) > 0 and (target.outcome == "error").all()
    assert set(target.error_class) <= {"connect_refused", "conn_reset", "conn_closed_early"}
    assert len(others) > 0 and (others.outcome == "ok").all()
    # alpha's users were rescued by the fallback during the outage
    alpha_final = df[
        (df.contender == "alpha")
        & df.is_final_attempt
        & (df.t_intended > lo + 0.5)
        & (df.t_intended < hi - 0.5)
    ]
    assert len(alpha_final) > 0
    assert (alpha_final.endpoint == "gamma-messages").all() and (alpha_final.outcome == "ok").all()
    # outside the outage alpha is served by its primary
    after = df[(df.contender == "alpha") & df.is_final_attempt & (df.t_intended > hi + 1.0)]
    assert len(after) > 0 and (after.endpoint == "alpha-fast").mean() > 0.9


def test_report_and_manifest(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    for name in ("alpha", "beta", "gamma"):
        assert name in html
    run = read_run(run_dir)
    assert not run.interrupted and run.manifest.seed == 7
    assert [c.name for c in run.manifest.contenders] == ["alpha", "beta", "gamma"]
    assert (run_dir / "records.parquet").is_file()
    text = (run_dir / "manifest.json").read_text() + (run_dir / "end.json").read_text()
    assert 'api_key"' not in text


def test_gate_on_the_run(run_dir: Path) -> None:
    """`bakeoff gate` on a real run folder: exit 3 when an SLO no vendor can meet fails every contender,
    exit 0 when the SLOs are loose enough for all; one line per contender either way."""

    def gate(*slos: str) -> subprocess.CompletedProcess[str]:
        args = [arg for slo in slos for arg in ("--slo", slo)]
        return bakeoff("gate", run_dir, *args, timeout=60)

    strict = gate("ttft=1us")
    assert strict.returncode == 3, strict.stderr
    assert [line.split(":")[0] for line in strict.stdout.splitlines()[2:]] == [
        "FAIL alpha",
        "FAIL beta",
        "FAIL gamma",
    ]
    loose = gate("ttft=1h", "e2e=1h", "tpot=1h", "max_error_rate=100%", "min_good_fraction=0")
    assert loose.returncode == 0, loose.stdout + loose.stderr
    assert [line.split(":")[0] for line in loose.stdout.splitlines()[2:]] == [
        "PASS alpha",
        "PASS beta",
        "PASS gamma",
    ]
