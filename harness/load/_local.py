"""Single-process execution: one Locust LocalRunner runs every contender's lane in this process."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import gevent

from harness.config import LoadProfile
from harness.load._execution import ExecutionEnd
from harness.load._plan import RunPlan
from harness.load._runner import Lane, LoadExecutor
from harness.load._schedule import ScheduledRequest
from harness.record import RequestRecord, WorkerInfo

__all__ = ["LocalExecution"]


class LocalExecution:
    """Runs a plan in this process. ``clock`` is the run clock (zero at ``start()``)."""

    def __init__(
        self,
        plan: RunPlan,
        *,
        emit: Callable[[RequestRecord], None],
        api_keys: dict[str, str],
        max_connections: int = 1000,
    ) -> None:
        from harness.client import HttpFaultLayer
        from harness.load._gevent_transport import make_gevent_client

        self.plan = plan
        self.scenario = plan.scenario
        self.load: LoadProfile = self.scenario.load
        self.emit = emit
        self.api_keys = api_keys
        self._t0 = time.perf_counter()
        # geventhttpclient under httpx's API: 3x less CPU per request (python -m harness.bench.load)
        self.http_client = make_gevent_client(max_connections=max_connections)
        self.http_layer = HttpFaultLayer(plan.seed)
        self.executor: LoadExecutor | None = None
        self.lanes: list[Lane] = []

    def clock(self) -> float:
        return round(time.perf_counter() - self._t0, 6)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        routers = self.plan.build_routers(
            self.http_client,
            clock=self.clock,
            faults=self.http_layer,
            sleep=gevent.sleep,
            api_keys=self.api_keys,
        )
        share = self.plan.schedule
        prompts = self.plan.prompts
        slot = self.load.duration if self.load.mode == "sequential" else 0.0
        search = self.load.search is not None  # each lane gets its own list, fed step by step: feed()
        self.lanes = [
            Lane(c.name, routers[c.name], [] if search else share, prompts, offset=k * slot, feeding=search)
            for k, c in enumerate(self.scenario.contenders)
        ]
        self.executor = LoadExecutor(
            self.lanes,
            self.load,
            run_id=self.plan.run_id,
            seed=self.plan.seed,
            clock=self.clock,
            emit=self.emit,
        )

    def run(
        self,
        *,
        deadline: Callable[[], float],
        aborted: Callable[[], bool],
        on_tick: Callable[[], None] | None = None,
    ) -> ExecutionEnd:
        assert self.executor is not None, "start() first"
        return self.executor.run(
            deadline=deadline, aborted=aborted, on_tick=on_tick, on_ready=self._reset_clock
        )

    def feed(self, contender: str, items: Sequence[ScheduledRequest]) -> None:
        """load.search: append ``items`` (run-clock times) to ``contender``'s lane; its users take them."""
        lane = next(lane for lane in self.lanes if lane.contender == contender)
        assert isinstance(lane.schedule, list), "only a search's lanes are fed"
        lane.schedule.extend(items)
        if self.executor is not None:
            self.executor.fed()

    def end_feeding(self) -> None:
        """load.search is over: lanes drain what they hold, their users leave, the load completes."""
        for lane in self.lanes:
            lane.feeding = False
        if self.executor is not None:
            self.executor.fed()

    def _reset_clock(self) -> None:
        self._t0 = time.perf_counter()

    @property
    def stopping(self) -> bool:
        return self.executor.stopping if self.executor is not None else False

    def stop(self) -> None:
        if self.executor is not None:
            self.executor.stop()

    @property
    def in_flight(self) -> int:
        return sum(lane.in_flight for lane in self.lanes)

    def in_flight_of(self, contender: str) -> int:
        return sum(lane.in_flight for lane in self.lanes if lane.contender == contender)

    def stopped_reasons(self) -> dict[str, str]:
        return {lane.contender: lane.stopped_reason for lane in self.lanes if lane.stopped_reason}

    def workers_report(self) -> list[WorkerInfo]:
        return []

    def close(self) -> list[str]:
        self.http_client.close()
        late = self.executor.unwound_late if self.executor is not None else 0
        if late:
            return [
                f"{late} load users did not unwind when the run ended: their requests have no final record"
            ]
        return []
