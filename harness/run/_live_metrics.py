"""The live metrics of a run (``bakeoff run --metrics-port``), fed with the records and fault events the
run sees, without I/O: :mod:`harness.run._metrics_server` serves ``render()``.

The run process sees every record (with ``--workers N`` the workers send theirs to the master), so the
numbers are the whole run's. Times follow DESIGN.md: TTFT = t_first_token − t_dispatch (per attempt),
user latency = t_end of the final attempt − t_intended, schedule lag = t_dispatch of the first attempt −
t_intended. Records of requests that were never sent (``not_sent``, ``run_ended``) are counted, not timed.
The buckets are fixed (docs/telemetry.md lists them), so dashboards of two runs compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness._vocab import RUN_CLASSES
from harness.record import FaultEvent, RequestRecord
from harness.run._exposition import Registry

__all__ = ["LIVE_LAG_BUCKETS", "LIVE_LATENCY_BUCKETS", "LIVE_TTFT_BUCKETS", "RunMetrics"]

LIVE_TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0)
LIVE_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0)
LIVE_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RunMetrics:
    """The registry of one run and what feeds it. ``in_flight(contender)`` and ``clock()`` are read at
    each scrape (they change as the run moves from start-up to load)."""

    def __init__(self, scenario: str, contenders: Sequence[str], run_id: str = "") -> None:
        self.contenders = list(contenders)
        self.run_id = run_id  # set once the run has its folder
        self.in_flight: Callable[[str], int] = lambda _c: 0
        self.clock: Callable[[], float] = lambda: 0.0
        reg = self.registry = Registry()
        reg.gauge(
            "bakeoff_run_info",
            "The run this process serves (always 1).",
            ("run_id", "scenario"),
            read=lambda: {(self.run_id, scenario): 1.0},
        )
        reg.gauge(
            "bakeoff_run_elapsed_seconds",
            "Run-clock time of the load (0 before it starts).",
            read=lambda: {(): float(self.clock())},
        )
        self.requests = reg.counter(
            "bakeoff_requests_total",
            "Attempts recorded, by contender, endpoint, outcome (ok, error) and error class (none when ok).",
            ("contender", "endpoint", "outcome", "error_class"),
        )
        self.logical = reg.counter(
            "bakeoff_logical_requests_total",
            "Logical requests ended (their final attempt recorded), by contender and final outcome.",
            ("contender", "outcome"),
        )
        self.ttft = reg.histogram(
            "bakeoff_ttft_seconds",
            "Time to first token of each attempt that got one (t_first_token - t_dispatch).",
            LIVE_TTFT_BUCKETS,
            ("contender",),
        )
        self.latency = reg.histogram(
            "bakeoff_user_latency_seconds",
            "What the user waited for each logical request: t_end of the final attempt - t_intended "
            "(schedule lag, retries and fallbacks included).",
            LIVE_LATENCY_BUCKETS,
            ("contender",),
        )
        self.lag = reg.histogram(
            "bakeoff_schedule_lag_seconds",
            "How late each logical request's first attempt left: t_dispatch - t_intended.",
            LIVE_LAG_BUCKETS,
            ("contender",),
        )
        reg.gauge(
            "bakeoff_in_flight",
            "Requests in flight now, by contender (all workers).",
            ("contender",),
            read=lambda: {(c,): float(self.in_flight(c)) for c in self.contenders},
        )
        self.faults = reg.gauge(
            "bakeoff_fault_active",
            "1 while a fault of the timeline is applied, 0 once removed, by fault id and target.",
            ("fault", "target"),
        )

    def add(self, rec: RequestRecord) -> None:
        """One attempt's record."""
        self.requests.inc(rec.contender, rec.endpoint, rec.outcome, rec.error_class or "none")
        timed = rec.error_class not in RUN_CLASSES
        if timed and rec.t_first_token is not None:
            self.ttft.observe(rec.contender, value=rec.t_first_token - rec.t_dispatch)
        if timed and rec.attempt == 1:
            self.lag.observe(rec.contender, value=max(0.0, rec.t_dispatch - rec.t_intended))
        if rec.is_final_attempt:
            self.logical.inc(rec.contender, rec.outcome)
            if timed:
                self.latency.observe(rec.contender, value=max(0.0, rec.t_end - rec.t_intended))

    def faults_planned(self, planned: Sequence[tuple[str, str]]) -> None:
        """Every (fault id, target) of the timeline at 0, so a dashboard sees them before they apply."""
        for fault_id, target in planned:
            self.faults.set(fault_id, target, value=0)

    def fault(self, ev: FaultEvent) -> None:
        """A fault applied (1) or removed (0); one that failed to apply stays as it was."""
        if ev.action == "apply" and ev.outcome == "ok":
            self.faults.set(ev.fault_id, ev.target, value=1)
        elif ev.action == "remove":
            self.faults.set(ev.fault_id, ev.target, value=0)

    def render(self) -> str:
        return self.registry.render()
