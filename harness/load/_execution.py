"""The one interface the run orchestrator drives, for local and distributed load alike.

Nothing here imports Locust or gevent: ``harness.run`` types against it, ``harness.load.open_execution``
builds the implementation (``LocalExecution`` in this process, ``DistributedExecution`` over Locust's
master/worker mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal, Protocol

from harness.config import FaultSpec
from harness.load._plan import RunPlan
from harness.record import RequestRecord, WorkerInfo

__all__ = ["Execution", "ExecutionEnd", "HttpFaultSwitch", "open_execution"]

ExecutionEnd = Literal["completed", "stopped", "deadline", "aborted", "workers_lost"]


class HttpFaultSwitch(Protocol):
    """Where the fault timeline switches HTTP-level faults on and off (every load process's client path)."""

    def activate(self, fault_id: str, keys: Iterable[str], spec: FaultSpec) -> None: ...
    def deactivate(self, fault_id: str) -> None: ...


class Execution(Protocol):
    """Executes one ``RunPlan``: ``start()``, then ``run()`` until it drains, its deadline or an abort;
    ``stop()`` stops scheduling (in-flight requests go on); ``close()`` releases everything (never raises).
    ``clock()`` is the run clock (zero when the load starts)."""

    @property
    def http_layer(self) -> HttpFaultSwitch: ...
    @property
    def stopping(self) -> bool: ...
    @property
    def in_flight(self) -> int: ...

    def clock(self) -> float: ...
    def start(self) -> None: ...
    def run(
        self,
        *,
        deadline: Callable[[], float],
        aborted: Callable[[], bool],
        on_tick: Callable[[], None] | None = None,
    ) -> ExecutionEnd: ...
    def stop(self) -> None: ...
    def in_flight_of(self, contender: str) -> int: ...
    def stopped_reasons(self) -> dict[str, str]: ...
    def workers_report(self) -> list[WorkerInfo]: ...
    def close(self) -> list[str]: ...


def open_execution(
    plan: RunPlan,
    *,
    emit: Callable[[RequestRecord], None],
    run_dir: Path,
    api_keys: dict[str, str],
    warn: Callable[[str], None],
    workers: int = 0,
    expect_workers: int | None = None,
    bind_host: str = "127.0.0.1",
    bind_port: int = 0,
) -> Execution:
    """``workers=0`` and no ``expect_workers``: load in this process. Otherwise a Locust master here,
    ``workers`` local worker processes, and room for remote ``bakeoff worker`` processes up to
    ``expect_workers``. Imports Locust (the caller's process must be patched: ``ensure_patched()``)."""
    if workers or expect_workers:
        from harness.load._distributed import DistributedExecution

        return DistributedExecution(
            plan,
            emit=emit,
            run_dir=run_dir,
            local_workers=workers,
            expect_workers=expect_workers,
            bind_host=bind_host,
            bind_port=bind_port,
            warn=warn,
        )
    from harness.load._local import LocalExecution

    n_lanes = len(plan.scenario.contenders)
    return LocalExecution(
        plan,
        emit=emit,
        api_keys=api_keys,
        max_connections=max(100, plan.scenario.load.users * n_lanes * 2),
    )
