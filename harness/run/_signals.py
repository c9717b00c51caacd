"""What Ctrl-C and SIGTERM ask of a run: the first stops it gracefully, the second aborts.

Every phase answers within the scenario's ``load.grace`` plus a few seconds:

=============  ==========================================================================================
phase          first signal
=============  ==========================================================================================
start-up       stop starting children at once (``StartCancelled``), clean up, write end.json, report
preflight      stop reaching the endpoints at once, clean up, write end.json, report
probes         stop the probe in progress at once (its partial results are written), clean up, report
load           stop scheduling; in-flight requests get ``grace`` to finish; faults removed; report
report         the report gets ``grace`` more seconds, then its child is stopped (``bakeoff report``
               builds it later); a signal that came before the report phase lets it finish
=============  ==========================================================================================

A second signal aborts at once in every phase: in-flight requests are dropped (records written so far
stay readable), no report is built.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from harness.load import Execution

__all__ = ["RunPhase", "SignalState"]

RunPhase = Literal["start-up", "preflight", "probes", "load", "report"]


@dataclass
class SignalState:
    """Counts stop signals and tells the execution (once it exists) to stop scheduling."""

    grace: float
    message: Callable[[str], None]
    signals: int = 0
    stop_at: float | None = None  # perf_counter time of the first signal
    execution: Execution | None = None
    phase: RunPhase = "start-up"
    phase_at: float = 0.0  # perf_counter time the phase began

    def enter(self, phase: RunPhase) -> None:
        self.phase = phase
        self.phase_at = time.perf_counter()

    def on_signal(self) -> None:
        self.signals += 1
        ex = self.execution
        if self.signals == 1:
            self.stop_at = time.perf_counter()
            if self.phase == "report":
                self.message(
                    f"stopping: the report gets up to {self.grace:.0f} s to finish "
                    "(Ctrl-C again to stop it now; `bakeoff report RUN_DIR` builds it later)"
                )
                return
            if ex is None or self.phase != "load":
                self.message(
                    f"stopping: the run is in its {self.phase} phase and has sent no load yet; "
                    "cleaning up (Ctrl-C again to abort)"
                )
                return
            ex.stop()
            self.message(
                f"stopping: waiting up to {self.grace:.0f} s for {ex.in_flight} in-flight requests "
                "(Ctrl-C again to abort now)"
            )
        else:
            self.message("aborting now; records written so far are kept")

    @property
    def stopped(self) -> bool:
        return self.signals >= 1

    @property
    def aborted(self) -> bool:
        return self.signals >= 2

    def deadline(self, planned: float, clock: Callable[[], float]) -> float:
        """Run-clock time the load must end by: the planned end plus grace, or the first signal plus grace."""
        if self.stop_at is None:
            return planned + self.grace
        t0 = time.perf_counter() - clock()  # perf_counter time of run-clock zero
        return min(planned + self.grace, self.stop_at - t0 + self.grace)

    def report_overdue(self) -> bool:
        """The report must stop now: a second signal, or ``grace`` passed since a signal that arrived
        while the report was being built (a stop asked for earlier still wants its report)."""
        if self.aborted:
            return True
        if self.stop_at is None or self.phase != "report" or self.stop_at < self.phase_at:
            return False
        return time.perf_counter() > self.stop_at + self.grace
