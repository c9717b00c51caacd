from __future__ import annotations

import pytest
from conftest import run_info

from harness.analysis import assign_phases, fault_windows, measurement_window
from harness.analysis._phases import phase_durations


def test_window_cuts_warmup_and_cooldown() -> None:
    w = measurement_window(run_info(load={"warmup": 10, "cooldown": 5, "duration": 100}), t_max=99.0)
    assert (w.start, w.end, w.length) == (10.0, 95.0, 85.0)


def test_interrupted_window_ends_at_elapsed_or_last_record() -> None:
    m = run_info(interrupted=True, elapsed_s=None, ended_at=None)
    assert measurement_window(m, t_max=42.0).end == 42.0
    # elapsed_s is wall clock (stack start-up included), not the run clock: the last record decides
    assert measurement_window(run_info(interrupted=True, elapsed_s=50.0), t_max=42.0).end == 42.0
    assert measurement_window(run_info(elapsed_s=50.0), t_max=42.0).end == 100.0  # completed: as planned
    w = measurement_window(run_info(interrupted=True, load={"warmup": 10.0}), t_max=3.0)
    assert (w.start, w.end) == (0.0, 3.0)  # cut before the warm-up ended: measure what there is


def _events() -> list[dict]:
    return [
        {
            "fault_id": "f1",
            "action": "apply",
            "t_applied": 20.5,
            "outcome": "ok",
            "endpoints": ["a1"],
            "fault": "outage",
            "kind": "outage",
            "target": "a1",
        },
        {"fault_id": "f1", "action": "remove", "t_applied": 30.5, "outcome": "ok", "endpoints": ["a1"]},
    ]


def test_fault_windows_from_events_then_manifest_fallback() -> None:
    m = run_info(
        faults=[
            {
                "fault_id": "f1",
                "name": "outage",
                "kind": "outage",
                "target": "a1",
                "endpoints": ["a1"],
                "at_s": 20,
                "duration_s": 10,
            },
            {
                "fault_id": "f2",
                "name": "lat",
                "kind": "latency",
                "target": "b1",
                "endpoints": ["b1"],
                "at_s": 60,
                "duration_s": None,
            },
        ]
    )
    w = measurement_window(m, 100.0)
    fw = {f.fault_id: f for f in fault_windows(_events(), m.manifest.faults, w)}
    assert (fw["f1"].start, fw["f1"].end, fw["f1"].source) == (20.5, 30.5, "events")
    assert fw["f1"].recovery_end == pytest.approx(40.5)  # recovery lasts the fault's length (10 s)
    assert (fw["f2"].start, fw["f2"].end, fw["f2"].ends_with_run, fw["f2"].source) == (
        60.0,
        100.0,
        True,
        "manifest",
    )


def test_failed_apply_makes_no_phase() -> None:
    ev = [{**_events()[0], "outcome": "error", "detail": "proxy refused"}]
    m = run_info()
    fw = fault_windows(ev, m.manifest.faults, measurement_window(m, 100.0))
    assert not fw[0].applied and "proxy refused" in (fw[0].detail or "")
    assert set(assign_phases([5.0, 25.0], fw)) == {"baseline"}


def test_assign_phases_and_durations() -> None:
    m = run_info()
    w = measurement_window(m, 100.0)
    fw = fault_windows(_events(), m.manifest.faults, w)
    got = assign_phases([0.0, 20.4, 20.5, 30.4, 30.5, 40.4, 40.5, 99.0], fw).tolist()
    assert got == [
        "baseline",
        "baseline",
        "fault:f1",
        "fault:f1",
        "recovery:f1",
        "recovery:f1",
        "after",
        "after",
    ]
    d = phase_durations(w, fw)
    assert d == pytest.approx({"baseline": 20.5, "fault:f1": 10.0, "recovery:f1": 10.0, "after": 59.5})
    assert list(d) == ["baseline", "fault:f1", "recovery:f1", "after"]


def test_overlapping_faults_share_a_phase() -> None:
    ev = [
        *_events(),
        {"fault_id": "f2", "action": "apply", "t_applied": 25.5, "outcome": "ok", "endpoints": ["b1"]},
        {"fault_id": "f2", "action": "remove", "t_applied": 35.5, "outcome": "ok", "endpoints": ["b1"]},
    ]
    m = run_info()
    w = measurement_window(m, 100.0)
    fw = fault_windows(ev, m.manifest.faults, w)
    got = assign_phases([21.0, 26.0, 31.0, 36.0, 41.0, 46.0], fw).tolist()
    assert got == ["fault:f1", "fault:f1+f2", "fault:f2", "recovery:f1+f2", "recovery:f2", "after"]
    d = phase_durations(w, fw)
    assert d["fault:f1+f2"] == pytest.approx(5.0) and sum(d.values()) == pytest.approx(100.0)


def test_faults_applied_milliseconds_apart_make_no_sliver_phases() -> None:
    from harness.analysis._phases import snap_windows

    ev = [
        *_events(),
        {"fault_id": "f2", "action": "apply", "t_applied": 20.503, "outcome": "ok", "endpoints": ["b1"]},
        {"fault_id": "f2", "action": "remove", "t_applied": 30.502, "outcome": "ok", "endpoints": ["b1"]},
    ]
    m = run_info()
    w = measurement_window(m, 100.0)
    fw = fault_windows(ev, m.manifest.faults, w)
    d = phase_durations(w, snap_windows(fw))
    assert list(d) == ["baseline", "fault:f1+f2", "recovery:f1+f2", "after"]
    assert d["fault:f1+f2"] == pytest.approx(10.0)
    assert {f.fault_id: f.start for f in fw} == {"f1": 20.5, "f2": 20.503}  # exact times kept for TTD


def test_boundaries_next_to_the_window_end_snap_to_it() -> None:
    from harness.analysis._phases import snap_windows

    ev = [
        {"fault_id": "f1", "action": "apply", "t_applied": 70.0, "outcome": "ok", "endpoints": ["a1"]},
        {"fault_id": "f1", "action": "remove", "t_applied": 79.7, "outcome": "ok", "endpoints": ["a1"]},
    ]
    m = run_info(duration_s=100.0, load={"duration": 100.0, "cooldown": 10.0})
    w = measurement_window(m, 100.0)  # ends at 90
    fw = fault_windows(ev, m.manifest.faults, w)
    assert fw[0].recovery_end == pytest.approx(89.7)  # 0.3 s short of the window's end
    assert phase_durations(w, fw)["after"] == pytest.approx(0.3)
    d = phase_durations(w, snap_windows(fw, window=w))
    assert "after" not in d and d["recovery:f1"] == pytest.approx(10.3)
