"""What Ctrl-C and SIGTERM ask of a run: the first stops it gracefully, the second aborts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.load import Execution

__all__ = ["SignalState"]


@dataclass
class SignalState:
    """Counts stop signals and tells the execution (once it exists) to stop scheduling."""

    grace: float
    message: Callable[[str], None]
    signals: int = 0
    stop_at: float | None = None  # perf_counter time of the first signal
    execution: Execution | None = None

    def on_signal(self) -> None:
        self.signals += 1
        ex = self.execution
        if self.signals == 1:
            self.stop_at = time.perf_counter()
            if ex is None:
                self.message(
                    "stopping: the run has not started its load yet; cleaning up (Ctrl-C again to abort)"
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
