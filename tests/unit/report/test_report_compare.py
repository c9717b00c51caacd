from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness._errors import ConfigError, ReportError
from harness.analysis import analyse, compare_analyses, compare_runs, synthetic_run, write_synthetic_run
from harness.cli import cli
from harness.report import comparison_text, parse_slo_overrides, write_comparison


def _analysis(seed: int, **kw):
    df, ev, m = synthetic_run(200, seed=seed, **kw)
    return analyse(df, ev, m)


def test_repeats_pool_into_intervals_and_findings() -> None:
    cmp = compare_analyses([_analysis(s) for s in (1, 2, 3)])
    assert cmp.runs == ["synthetic-1", "synthetic-2", "synthetic-3"] and cmp.contenders == ["alpha", "beta"]
    row = cmp.table.set_index(["contender", "metric"]).loc[("alpha", "error_rate")]
    assert row["n"] == 3 and row["ci_low"] <= row["mean"] <= row["ci_high"]
    texts = {f["metric"]: f for f in cmp.findings}
    # alpha's outage costs it ~10 % of requests in every run, beta loses none: proven
    assert texts["error_rate"]["proven"] and texts["error_rate"]["best"] == "beta"


def test_single_run_never_proves_a_difference() -> None:
    cmp = compare_analyses([_analysis(1)])
    assert not any(f["proven"] for f in cmp.findings)
    assert any("difference not proven" in f["text"] for f in cmp.findings)
    assert any("one run only" in w for w in cmp.warnings)


def test_different_scenarios_are_refused() -> None:
    a, b = _analysis(1), _analysis(2)
    b.meta["scenario"] = "other"
    with pytest.raises(ReportError, match="different scenarios"):
        compare_analyses([a, b])


def test_write_comparison_html_and_text(tmp_path: Path) -> None:
    dirs = [write_synthetic_run(tmp_path / f"r{s}", n_requests=150, seed=s) for s in (1, 2)]
    html = write_comparison(dirs, tmp_path / "cmp.html").read_text(encoding="utf-8")
    assert 'id="compare-table"' in html and "http" not in html
    text = write_comparison(dirs, tmp_path / "cmp.txt").read_text(encoding="utf-8")
    assert text.startswith("scenario synthetic: 2 runs") and "good fraction" in text


def test_parse_slo_overrides() -> None:
    assert parse_slo_overrides(["ttft=800ms", "max_error_rate=2%", "min_good_fraction=0.95"]) == {
        "ttft": 0.8,
        "max_error_rate": 0.02,
        "min_good_fraction": 0.95,
    }
    with pytest.raises(ConfigError) as exc:
        parse_slo_overrides(["latency=1", "max_error_rate=150%"])
    assert len(exc.value.problems) == 2


def test_the_same_run_twice_is_not_a_repeat() -> None:
    a = _analysis(1)
    cmp = compare_analyses([a, a])
    assert cmp.runs == ["synthetic-1"]
    assert any("more than once" in w for w in cmp.warnings)
    assert not any(f["proven"] for f in cmp.findings)


# ---- issue 13, observation 7: bootstrap intervals, refused mismatches, every pair ------------------------


def _three_contender_run(run_id: str, ttft_scale: float, seed: int):
    """A, B, C on one schedule; A's TTFT scaled by ``ttft_scale`` (small, variable latencies)."""
    import numpy as np
    from factories import record_row, records_frame

    from harness.record import Manifest, RunEnd, RunInfo

    rng = np.random.default_rng(seed)
    rows = []
    for c, ep, speed in (("A", "a1", ttft_scale), ("B", "b1", 0.3), ("C", "c1", 0.6)):
        for i in range(120):
            t = i * 0.5
            tt = speed * rng.exponential(1.0)
            rows.append(
                record_row(
                    run_id=run_id,
                    contender=c,
                    endpoint=ep,
                    request_id=f"{c}{i}",
                    t_intended=t,
                    t_dispatch=t,
                    t_first_token=t + tt,
                    t_last_token=t + tt + 0.5,
                    t_end=t + tt + 0.6,
                    output_tokens=20,
                    cost_usd=0.001,
                )
            )
    manifest = Manifest.model_validate(
        {
            "run_id": run_id,
            "scenario": {"name": "three"},
            "seed": 1,
            "started_at": "2026-01-01T00:00:00+00:00",
            "duration_s": 60.0,
            "contenders": [{"name": c, "primary": c.lower() + "1"} for c in "ABC"],
            "load": {"duration": 60.0},
            "slo": {"ttft": 1.0},
        }
    )
    end = RunEnd(ended_at="2026-01-01T00:01:00+00:00", ended="completed", elapsed_s=60.0)
    return analyse(records_frame(rows), [], RunInfo(manifest, end))


def test_latency_intervals_come_from_the_bootstrap_and_never_go_below_zero() -> None:
    """'user TTFT p95 241 ms [-192 ms, 674 ms]': two very different repeats gave a negative t-interval."""
    runs = [_three_contender_run("r1", 0.02, 1), _three_contender_run("r2", 0.45, 2)]
    cmp = compare_analyses(runs)
    sec = cmp.table.loc[cmp.table["kind"] == "sec"]
    assert (sec["ci_low"] >= 0).all() and (sec["ci_low"] <= sec["ci_high"]).all()
    row = cmp.table.set_index(["contender", "metric"]).loc[("A", "user_ttft_p95")]
    values = json.loads(row["values"])
    assert 0 < row["ci_low"] < min(values) * 1.5 and row["ci_high"] <= max(values) * 1.5
    pct = cmp.table.loc[cmp.table["kind"] == "pct"].dropna(subset=["ci_low"])
    assert (pct["ci_low"] >= 0).all() and (pct["ci_high"] <= 1).all()


def test_every_pair_is_compared_and_the_text_says_what_the_brackets_are() -> None:
    runs = [_three_contender_run(f"r{s}", 0.1, s) for s in (1, 2, 3)]
    cmp = compare_analyses(runs)
    assert [(p["a"], p["b"]) for p in cmp.pairs] == [("A", "B"), ("A", "C"), ("B", "C")]
    assert {(f["best"], f["other"]) for f in cmp.findings if f["metric"] == "user_ttft_p95"} == {
        ("A", "B"),
        ("A", "C"),
        ("B", "C"),
    }
    # A (~0.1 s) and C (~0.6 s) differ in every run: proven; B vs C too
    ac = next(
        f for f in cmp.findings if f["metric"] == "user_ttft_p95" and {f["best"], f["other"]} == {"A", "C"}
    )
    assert ac["proven"] and ac["best"] == "A"
    text = comparison_text(cmp)
    assert "95 % bootstrap interval" in text
    assert "A vs B:" in text and "A vs C: A better on" in text and "B vs C: B better on" in text


def test_runs_of_different_durations_or_designs_are_refused_unless_allowed(tmp_path: Path) -> None:
    short = write_synthetic_run(tmp_path / "short", n_requests=150, seed=1)
    long = write_synthetic_run(tmp_path / "long", n_requests=300, seed=2)
    with pytest.raises(ReportError) as exc:
        compare_runs([short, long])
    msg = str(exc.value)
    assert "different durations: synthetic-1 15 s, synthetic-2 30 s" in msg and "--allow-mismatch" in msg
    assert "differs from synthetic-1 in faults" in msg
    cmp = compare_runs([short, long], allow_mismatch=True)
    assert any(w.startswith("NOT COMPARABLE: runs of different durations") for w in cmp.warnings)
    assert "warning: NOT COMPARABLE" in comparison_text(cmp)
    # the command line refuses too, and says why on one line
    refused = CliRunner().invoke(cli, ["compare", str(short), str(long)])
    assert refused.exit_code == 1 and "different durations" in refused.output
    assert CliRunner().invoke(cli, ["compare", str(short), str(long), "--allow-mismatch"]).exit_code == 0


def test_different_seeds_of_one_design_are_repeats_and_said_so() -> None:
    a, b = _analysis(1), _analysis(2)
    a.meta["schedule"] = {"sha256": "aaa"}
    b.meta["schedule"] = {"sha256": "bbb"}
    cmp = compare_analyses([a, b])
    assert any("different schedules (seeds 1, 2)" in w for w in cmp.warnings)
    b.meta["seed"] = 1
    with pytest.raises(ReportError, match="same seed but different schedules"):
        compare_analyses([a, b])
