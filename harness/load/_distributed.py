"""Distributed execution on Locust's own master/worker mode.

The master (the ``bakeoff run`` process) owns the stack, the schedule and the fault timeline. Workers —
local processes started with ``--workers N`` and/or remote ``bakeoff worker --master HOST:PORT`` — get a
``RunPlan`` over Locust's message channel, serve their share of the schedule (``seq % N == index``) for
every contender, and ship records back in batches. The run ends with an explicit flush that every live
worker acknowledges with the number of records it sent, because Locust's own stop events fire before the
last batches arrive; the flush carries how the load ended, and each worker first ends its own load
(``LoadExecutor.end``: in-flight attempts cut as ``run_ended``, requests never dispatched recorded as
``not_sent``), so those records are in the flush. A worker that disappears is reported with the number of
requests it lost.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment

from harness._children import ChildProcess, StartCancelled
from harness._errors import RunError
from harness.config import FaultSpec
from harness.load._execution import ExecutionEnd
from harness.load._plan import RunPlan
from harness.load._runner import _BakeoffUser
from harness.record import RequestRecord, WorkerInfo

__all__ = ["DistributedExecution", "free_port"]


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _BroadcastLayer:
    """The fault timeline's HTTP layer on the master: tells every worker; remembers for late joiners."""

    def __init__(self, owner: DistributedExecution) -> None:
        self.owner = owner
        self.active: dict[str, dict[str, Any]] = {}

    def activate(self, fault_id: str, keys: Any, spec: FaultSpec) -> None:
        data = {
            "action": "activate",
            "fault_id": fault_id,
            "keys": list(keys),
            "spec": spec.model_dump(mode="json"),
        }
        self.active[fault_id] = data
        self.owner.broadcast("bakeoff_fault", data)

    def deactivate(self, fault_id: str) -> None:
        self.active.pop(fault_id, None)
        self.owner.broadcast("bakeoff_fault", {"action": "deactivate", "fault_id": fault_id})


class _Worker:
    def __init__(self, client_id: str, index: int) -> None:
        self.client_id = client_id
        self.index = index
        self.ready = False
        self.done = False
        self.flushed_sent: int | None = None
        self.received = 0
        self.final_received = 0
        self.in_flight: dict[str, int] = {}
        self.assigned = 0
        self.lost: int | None = None
        self.stopped: dict[str, str] = {}
        self.refused: str | None = None  # why it refused its plan (its API keys cannot be sent)


class DistributedExecution:
    """Locust MasterRunner in this process plus ``local_workers`` worker processes."""

    def __init__(
        self,
        plan: RunPlan,
        *,
        emit: Callable[[RequestRecord], None],
        run_dir: Path,
        local_workers: int,
        expect_workers: int | None = None,
        bind_host: str = "127.0.0.1",
        bind_port: int = 0,
        connect_timeout: float = 60.0,
        warn: Callable[[str], None] = print,
    ) -> None:
        self.plan = plan
        self.scenario = plan.scenario
        self.load = self.scenario.load
        self.emit = emit
        self.run_dir = run_dir
        self.local_workers = local_workers
        self.expect = expect_workers if expect_workers is not None else local_workers
        if self.expect < 1:
            raise RunError("distributed mode needs at least one worker")
        self.connect_timeout = connect_timeout
        self.warn = warn
        self.bind_host = bind_host
        self.port = bind_port or free_port(bind_host if bind_host not in ("*", "0.0.0.0") else "127.0.0.1")
        user_cls = type("BakeoffUser", (_BakeoffUser,), {"executor": None})
        self.env = Environment(user_classes=[user_cls], catch_exceptions=True)
        self.master = self.env.create_master_runner(master_bind_host=bind_host, master_bind_port=self.port)
        for name, handler in (
            ("bakeoff_records", self._on_records),
            ("bakeoff_ready", self._on_ready),
            ("bakeoff_flushed", self._on_flushed),
            ("bakeoff_done", self._on_done),
            ("bakeoff_refused", self._on_refused),
        ):
            self.master.register_message(name, handler)
        self.http_layer = _BroadcastLayer(self)
        self.children: list[ChildProcess] = []
        self.workers: dict[str, _Worker] = {}
        self._t0_perf = time.perf_counter()
        self.stopping = False

    # -- messages from workers (run in the master's receive loop: keep them short) --
    def _worker(self, msg: Any) -> _Worker | None:
        return self.workers.get(msg.node_id)

    def _on_records(self, environment: Any, msg: Any, **_: Any) -> None:
        w = self._worker(msg)
        data = msg.data
        for row in data["records"]:
            rec = RequestRecord.from_dict(row)
            self.emit(rec)
            if w is not None:
                w.received += 1
                w.final_received += int(rec.is_final_attempt)
        if w is not None:
            w.in_flight = dict(data.get("in_flight", {}))
            w.stopped = dict(data.get("stopped", {}))

    def _on_ready(self, environment: Any, msg: Any, **_: Any) -> None:
        w = self._worker(msg)
        if w is not None:
            w.ready = True
            w.assigned = int(msg.data.get("assigned", 0))

    def _on_flushed(self, environment: Any, msg: Any, **_: Any) -> None:
        w = self._worker(msg)
        if w is not None:
            w.flushed_sent = int(msg.data["sent"])

    def _on_refused(self, environment: Any, msg: Any, **_: Any) -> None:
        w = self._worker(msg)
        if w is not None:
            w.refused = str(msg.data.get("reason") or "no reason given")

    def _on_done(self, environment: Any, msg: Any, **_: Any) -> None:
        w = self._worker(msg)
        if w is not None:
            w.done = True

    def broadcast(self, msg_type: str, data: dict[str, Any]) -> None:
        for w in self._alive():
            self.master.send_message(msg_type, data, client_id=w.client_id)

    def _alive(self) -> list[_Worker]:
        missing = {c.id for c in self.master.clients.missing}
        known = {c.id for c in self.master.clients.all}
        return [w for w in self.workers.values() if w.client_id in known and w.client_id not in missing]

    # -- lifecycle --
    def clock(self) -> float:
        return round(time.perf_counter() - self._t0_perf, 6)

    def _check_stop(self) -> None:
        if self.stopping:
            raise StartCancelled("stopped while the workers were starting")

    def start(self) -> None:
        """Start local workers, wait for every worker, hand out the plans, spawn the users, then set
        the run clock's zero for everyone (``bakeoff_go``): set-up never runs on the run clock.
        ``StartCancelled`` once ``stop()`` was called."""
        self.warn(f"Locust master on {self.bind_host}:{self.port}; waiting for {self.expect} worker(s)")
        for k in range(self.local_workers):
            child = ChildProcess(
                f"worker {k}",
                ["harness.load._worker", "--master", f"127.0.0.1:{self.port}"],
                self.run_dir / f"worker-{k}.log",
            )
            # prints one line once connected
            child.start(expect_lines=1, timeout=self.connect_timeout, cancelled=lambda: self.stopping)
            self.children.append(child)
        deadline = time.monotonic() + self.connect_timeout
        while self.master.worker_count < self.expect:
            self._check_stop()
            if time.monotonic() > deadline:
                raise RunError(
                    f"only {self.master.worker_count} of {self.expect} workers connected to the master "
                    f"on port {self.port} within {self.connect_timeout:.0f} s"
                )
            gevent.sleep(0.1)
        ids = sorted(c.id for c in self.master.clients.all)
        self.workers = {cid: _Worker(cid, k) for k, cid in enumerate(ids)}
        active = tuple(self.http_layer.active.values())
        for w in self.workers.values():
            plan = self.plan.share(w.index, len(ids), active_http_faults=active)
            self.master.send_message("bakeoff_plan", plan.to_message(), client_id=w.client_id)
        deadline = time.monotonic() + self.connect_timeout
        while not all(w.ready for w in self.workers.values()):
            self._check_stop()
            for w in self.workers.values():
                if w.refused is not None:
                    raise RunError(f"worker {w.index} refused its plan: {w.refused}")
            if time.monotonic() > deadline:
                raise RunError("workers did not acknowledge the plan in time")
            gevent.sleep(0.05)
        users = self.load.users * len(self.scenario.contenders)
        self.master.start(users, spawn_rate=100 * len(self.workers))  # Locust warns above 100/s per worker
        deadline = time.monotonic() + self.connect_timeout
        while not self.master.spawning_completed:  # every worker reported its users
            self._check_stop()
            if time.monotonic() > deadline:
                raise RunError("workers did not spawn their users in time")
            gevent.sleep(0.05)
        lead = 0.5  # run clock zero a moment in the future so every worker starts on the same beat
        t0_epoch = time.time() + lead
        self._t0_perf = time.perf_counter() + lead
        self.broadcast("bakeoff_go", {"t0_epoch": t0_epoch})

    def run(
        self,
        *,
        deadline: Callable[[], float],
        aborted: Callable[[], bool],
        on_tick: Callable[[], None] | None = None,
    ) -> ExecutionEnd:
        reason: ExecutionEnd = "completed"
        reported_missing: set[str] = set()
        while True:
            gevent.sleep(0.25)
            if on_tick is not None:
                on_tick()
            if aborted():
                reason = "aborted"
                break
            missing = {c.id for c in self.master.clients.missing}
            for w in self.workers.values():
                if w.client_id in missing and w.client_id not in reported_missing:
                    reported_missing.add(w.client_id)
                    self.warn(f"worker {w.index} stopped answering; its remaining requests are lost")
            alive = self._alive()
            if not alive:
                reason = "workers_lost"
                break
            if all(w.done for w in alive):
                break
            if self.stopping and self.in_flight == 0:
                reason = "stopped"
                break
            if self.clock() >= deadline():
                reason = "deadline"
                break
        self._flush(reason)
        return reason

    def _flush(self, reason: ExecutionEnd, timeout: float = 15.0) -> None:
        """Ask every live worker to end its load (``reason``: how it ended) and ship what it holds; wait
        until each acknowledged and all arrived."""
        alive = self._alive()
        for w in alive:  # each worker stops scheduling, ends its load and ships the rest
            self.master.send_message("bakeoff_flush", {"reason": reason}, client_id=w.client_id)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(w.flushed_sent is not None and w.received >= w.flushed_sent for w in alive):
                break
            gevent.sleep(0.05)
        for w in alive:
            if w.flushed_sent is None:
                self.warn(f"worker {w.index} did not acknowledge the final flush")
            elif w.received < w.flushed_sent:
                self.warn(f"worker {w.index}: {w.flushed_sent - w.received} records sent but not received")

    def stop(self) -> None:
        self.stopping = True
        self.broadcast("bakeoff_stop", {})

    @property
    def in_flight(self) -> int:
        return sum(sum(w.in_flight.values()) for w in self._alive())

    def in_flight_of(self, contender: str) -> int:
        return sum(w.in_flight.get(contender, 0) for w in self._alive())

    def stopped_reasons(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for w in self.workers.values():
            out.update(w.stopped)
        return out

    def workers_report(self) -> list[WorkerInfo]:
        alive = {w.client_id for w in self._alive()}
        return [
            WorkerInfo(
                index=w.index,
                id=w.client_id,
                alive_at_end=w.client_id in alive,
                assigned=w.assigned,
                completed=w.final_received,
                records=w.received,
                lost=0 if w.client_id in alive else max(0, w.assigned - w.final_received),
            )
            for w in sorted(self.workers.values(), key=lambda x: x.index)
        ]

    def close(self) -> list[str]:
        problems: list[str] = []
        try:
            self.master.quit()
        except Exception as exc:
            problems.append(f"master quit: {exc}")
        for child in self.children:
            child.stop()
        return problems
