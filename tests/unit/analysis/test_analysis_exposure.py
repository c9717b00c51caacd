"""Issue 13 (decision-grade verdict), the measurement side: who faced which fault (the exposure table),
requests in flight across a fault's edge kept apart, a baseline of requests that never met a fault, and
changes reported whenever they are larger than the run's noise."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import run_info
from factories import record_row, records_frame

from harness.analysis import analyse, assign_phases, fault_windows, measurement_window
from harness.analysis._noise import MIN_SAMPLES, NOISE_FLOOR_S, percentile_change, percentile_noise
from harness.analysis._phases import with_transitions

CONTENDERS = [
    {"name": "alpha", "primary": "a", "fallbacks": ["g"]},
    {"name": "beta", "primary": "b"},
    {"name": "gamma", "primary": "g"},
]


def _fault(fid: str, target: str, paths: list[str], at: float = 20.0, duration: float = 10.0) -> dict:
    endpoints = sorted({p.rpartition("@")[2] for p in paths})
    return {
        "fault_id": fid,
        "name": fid,
        "kind": "latency",
        "target": target,
        "endpoints": endpoints,
        "paths": paths,
        "at_s": at,
        "duration_s": duration,
    }


def _steady(contender: str, endpoint: str, latency: float = 0.2, every: float = 0.5) -> list[dict[str, Any]]:
    """A request every ``every`` s for 100 s, each ``latency`` long (TTFT a quarter of it)."""
    rows = []
    for i in range(int(100 / every)):
        t = i * every
        rows.append(
            record_row(
                contender=contender,
                endpoint=endpoint,
                request_id=f"{contender}-{i}",
                t_intended=t,
                t_dispatch=t,
                t_first_token=t + latency / 4,
                t_last_token=t + latency,
                t_end=t + latency,
                output_tokens=10,
            )
        )
    return rows


# ------------------------------------------------------------------------------------------ exposure


def test_exposure_each_contender_is_shared_a_contender_fault_is_not() -> None:
    faults = [
        _fault("f1", "each-contender", ["alpha@a", "beta@b", "gamma@g"]),
        _fault("f2", "gamma", ["gamma@g"], at=50.0),
        _fault("f3", "g", ["alpha@g", "gamma@g"], at=70.0),
    ]
    rows = _steady("alpha", "a") + _steady("beta", "b") + _steady("gamma", "g")
    a = analyse(records_frame(rows), [], run_info(contenders=CONTENDERS, faults=faults))
    ex = a.exposure.set_index(["fault_id", "contender"])
    assert list(a.exposure.columns[:4]) == ["contender", "fault_id", "fault", "kind"]
    # the same fault for everyone, each on its own path to its primary: comparable
    f1 = ex.loc["f1"]
    assert f1["shared"].all() and f1["exposed"].all() and f1["on_primary"].all()
    assert f1["seconds_inside"].tolist() == [10.0, 10.0, 10.0]
    # requests whose life overlaps [20, 30): asked for at 20.0 ... 29.5, and none that ended before 20
    assert f1["requests_inside"].tolist() == [20, 20, 20]
    # gamma's own path only: alpha's fallback to the same endpoint is another path, untouched
    f2 = ex.loc["f2"]
    assert not f2["shared"].any()
    assert f2["exposed"].to_dict() == {"alpha": False, "beta": False, "gamma": True}
    assert f2.loc["alpha", "seconds_inside"] == 0.0 and f2.loc["alpha", "requests_inside"] == 0
    # the vendor endpoint itself: every contender that uses it, alpha on its fallback; beta never
    f3 = ex.loc["f3"]
    assert f3["exposed"].to_dict() == {"alpha": True, "beta": False, "gamma": True}
    assert f3.loc["alpha", "endpoints"] == "g" and not f3.loc["alpha", "on_primary"]
    assert not f3["shared"].any()
    # the fault-impact rows agree on who was touched
    impact = a.fault_impact.set_index(["fault_id", "contender"])
    assert not impact.loc[("f2", "alpha"), "affected"] and impact.loc[("f2", "gamma"), "affected"]


def test_runs_without_paths_fall_back_on_the_endpoints_of_each_chain() -> None:
    old = _fault("f1", "g", [])  # an older run: one shared proxy per endpoint, no paths recorded
    old["endpoints"] = ["g"]
    rows = _steady("alpha", "a") + _steady("gamma", "g")
    a = analyse(records_frame(rows), [], run_info(contenders=CONTENDERS, faults=[old]))
    ex = a.exposure.set_index("contender")
    assert ex["exposed"].to_dict() == {"alpha": True, "beta": False, "gamma": True}


# ------------------------------------------------------------------------------- transitions, phases


def test_requests_in_flight_across_a_fault_edge_form_its_transition_group() -> None:
    m = run_info(faults=[_fault("f1", "A", ["A@a1"])])
    w = measurement_window(m, 100.0)
    fw = fault_windows([], m.manifest.faults, w)
    t = [10.0, 19.0, 25.0, 29.0, 35.0]
    end = [11.0, 21.0, 26.0, 31.0, 36.0]
    assert assign_phases(t, fw, end).tolist() == [
        "baseline",
        "transition:f1",  # asked for before the fault, answered inside it
        "fault:f1",
        "transition:f1",  # asked for inside, answered after it ended
        "recovery:f1",
    ]
    assert assign_phases(t, fw).tolist()[1] == "baseline"  # without end times: by t_intended alone
    order = with_transitions(["baseline", "fault:f1", "recovery:f1", "after"], {"transition:f1"})
    assert order == ["baseline", "fault:f1", "transition:f1", "recovery:f1", "after"]


# ------------------------------------------------------------------------------- impact and noise


def _latency_fault_run(add: float) -> tuple[Any, ...]:
    """B: a request every 0.5 s, 0.2 s TTFT (±1 ms), 0.5 s long; ``add`` seconds more for the requests asked
    for in [20, 30) s, and for the one in flight when the fault began (it met the fault)."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(200):
        t = i * 0.5
        extra = add if 19.5 <= t < 30 else 0.0
        ttft = 0.2 + rng.uniform(-0.001, 0.001) + extra
        rows.append(
            record_row(
                contender="B",
                endpoint="b1",
                request_id=f"r{i}",
                t_intended=t,
                t_dispatch=t,
                t_first_token=t + ttft,
                t_last_token=t + ttft + 0.3,
                t_end=t + ttft + 0.3,
                output_tokens=10,
            )
        )
    m = run_info(faults=[_fault("f1", "B", ["B@b1"])])
    return records_frame(rows), [], m


def test_a_latency_fault_is_measured_against_requests_that_never_met_it() -> None:
    a = analyse(*_latency_fault_run(0.3))
    f = a.fault_impact.set_index("contender").loc["B"]
    # asked for at 19.5 s: in flight when the fault began; at 29.5 s: when it ended
    assert f["transition_requests"] == 2 and f["baseline_requests"] == 39
    assert f["baseline_p50_user_ttft_s"] == pytest.approx(0.2, abs=0.002)  # no in-flight request in it
    assert f["p50_user_ttft_change_s"] == pytest.approx(0.3, abs=0.003)
    assert f["p50_user_ttft_noise_s"] < 0.01
    assert f["changed"] and f["changes"][0].startswith("p50 user TTFT rose from 200 ms to 500 ms (+300 ms")
    risk = next(r["text"] for r in a.risks if r["contender"] == "B")
    assert risk.startswith("B's p50 user TTFT rose from 200 ms to 500 ms (+300 ms)")
    assert "showed no reaction" not in risk


def test_showed_no_reaction_only_when_nothing_changed_beyond_noise() -> None:
    a = analyse(*_latency_fault_run(0.0))
    f = a.fault_impact.set_index("contender").loc["B"]
    assert f["change_judged"] and not f["changed"] and f["changes"] == []
    assert abs(f["p50_user_ttft_change_s"]) <= f["p50_user_ttft_noise_s"]
    risk = next(r["text"] for r in a.risks if r["contender"] == "B")
    assert "showed no reaction" in risk


def test_percentile_noise_is_the_order_statistic_interval() -> None:
    # n = 100, p50: ranks 50 ± 1.96·√25 → 40 and 60 (1-based) → values 40 and 60 → half-width 10
    assert percentile_noise(np.arange(1.0, 101.0), 50) == pytest.approx(10.0)
    assert math.isnan(percentile_noise([], 50))
    flat = percentile_change([0.2] * 30, [0.2] * 30, 50)
    assert flat.noise == NOISE_FLOOR_S and flat.judged and not flat.beyond_noise
    few = percentile_change([1.0] * (MIN_SAMPLES[50] - 1), [0.2] * 30, 50)
    assert few.change == pytest.approx(0.8) and not few.judged and not few.beyond_noise
    wide = percentile_change(np.linspace(0, 2, 30), np.linspace(0, 2, 30) + 0.05, 50)
    assert wide.judged and not wide.beyond_noise  # 50 ms inside a spread of 2 s
