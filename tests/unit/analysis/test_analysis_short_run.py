"""A run shortened with --duration: faults beyond its end are reported as what happened to them."""

from __future__ import annotations

from conftest import run_info

from harness.analysis import fault_windows, measurement_window


def _fault(fid: str, at: float, duration: float) -> dict:
    return {
        "fault_id": fid,
        "name": fid,
        "kind": "outage",
        "target": "a1",
        "endpoints": ["a1"],
        "at_s": at,
        "duration_s": duration,
    }


def test_faults_planned_after_a_shortened_run_were_never_applied() -> None:
    m = run_info(
        duration_s=20.0, load={"duration": 20.0}, faults=[_fault("f1", 20, 10), _fault("f2", 40, 12)]
    )
    fw = {f.fault_id: f for f in fault_windows([], m.manifest.faults, measurement_window(m, 20.0))}
    assert (
        not fw["f1"].applied and fw["f1"].detail == "planned at 20 s, but this run lasted 20 s: never applied"
    )
    assert fw["f2"].detail == "planned at 40 s, but this run lasted 20 s: never applied"


def test_a_fault_applied_after_the_measured_window_is_not_called_unapplied() -> None:
    m = run_info(duration_s=20.0, load={"duration": 20.0}, faults=[_fault("f1", 20, 10)])
    events = [
        {"fault_id": "f1", "action": "apply", "t_applied": 20.02, "outcome": "ok", "endpoints": ["a1"]},
        {"fault_id": "f1", "action": "remove", "t_applied": 22.7, "outcome": "ok", "endpoints": ["a1"]},
    ]
    [w] = fault_windows(events, m.manifest.faults, measurement_window(m, 20.0))
    assert not w.applied  # no phase is made for it ...
    assert (
        w.detail == "applied at 20.0 s, after the measured window had ended (20.0 s)"
    )  # ... and it says why


def test_a_fault_never_reached_because_the_run_was_stopped_says_so() -> None:
    m = run_info(interrupted=True, faults=[_fault("f1", 60, 10)])
    [w] = fault_windows([], m.manifest.faults, measurement_window(m, 30.0))
    assert w.detail == "planned at 60 s, but the run was stopped first: never applied"
