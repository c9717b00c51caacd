"""The timeline never applies a fault at or after the end of the load (e.g. after --duration)."""

from __future__ import annotations

from harness.config import FaultEntry, FaultSpec, ResolvedFault
from harness.faults import FaultTimeline
from harness.record import FaultEvent


def _fault(fid: str, at: float, duration: float | None) -> ResolvedFault:
    spec = FaultSpec(kind="http_status", status=503)
    return ResolvedFault(
        fid, "storm", FaultEntry(at=at, duration=duration, target="a", fault=spec), spec, "", ("a",)
    )


class _Layer:
    def __init__(self) -> None:
        self.active: list[str] = []

    def activate(self, fault_id: str, endpoints: object, spec: FaultSpec) -> None:
        self.active.append(fault_id)

    def deactivate(self, fault_id: str) -> None:
        self.active.remove(fault_id)


def test_faults_from_the_run_end_on_are_not_applied_and_longer_ones_end_with_the_run() -> None:
    events: list[FaultEvent] = []
    now = [0.0]
    layer = _Layer()
    tl = FaultTimeline(
        [_fault("f1", 20.0, 10.0), _fault("f2", 40.0, 12.0), _fault("f3", 15.0, 10.0)],
        run_id="r",
        proxy=None,
        proxy_names={},
        http_layer=layer,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        emit=events.append,
        run_end=20.0,
    )
    assert [(a.t, a.action, a.fault.fault_id) for a in tl.actions] == [(15.0, "apply", "f3")]
    tl.run(lambda: False)
    assert layer.active == ["f3"]  # applied, and still on when the load ends ...
    assert tl.cleanup() == [] and layer.active == []  # ... until cleanup
    assert [(e.fault_id, e.action) for e in events] == [("f3", "apply"), ("f3", "remove")]
