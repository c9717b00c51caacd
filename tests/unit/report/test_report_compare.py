from __future__ import annotations

from pathlib import Path

import pytest

from harness._errors import ConfigError, ReportError
from harness.analysis import analyse, compare_analyses, synthetic_run, write_synthetic_run
from harness.report import parse_slo_overrides, write_comparison


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
