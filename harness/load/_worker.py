"""A Locust worker process for ``bakeoff run --workers N`` and ``bakeoff worker --master HOST[:PORT]``.

It connects to the master, waits for its ``RunPlan``, serves its share of the schedule for every
contender and ships records back in batches (every 0.25 s and on the master's final flush). The final
flush first ends this worker's load (``LoadExecutor.end``), so attempts cut in flight and requests never
dispatched are records shipped with it. API keys come from this process's own environment, by the
variable names in the scenario.
"""

from __future__ import annotations

import os
import time
from typing import Any

# isort: off
from harness.load import _runner  # Locust patches the process (gevent) before anything else is imported
# isort: on

import gevent
import gevent.socket
from locust.env import Environment

from harness._children import parent_gone, parent_watch_fd
from harness._errors import ConfigError
from harness.load._plan import RunPlan, api_keys_from_env
from harness.load._runner import Lane, LoadExecutor, _BakeoffUser
from harness.record import RequestRecord

__all__ = ["run_worker"]

_ = _runner
_BATCH = 2000  # records per message: a run stopped early may ship a whole schedule of not_sent records


class _WorkerState:
    def __init__(self, env: Environment, user_cls: type[_BakeoffUser]) -> None:
        self.env = env
        self.user_cls = user_cls
        self.buffer: list[dict[str, Any]] = []
        self.sent = 0
        self.executor: LoadExecutor | None = None
        self.layer: Any = None
        self.http_client: Any = None
        self.done_sent = False
        self.shipper: gevent.Greenlet | None = None
        self.t0_perf = time.perf_counter()

    def emit(self, rec: RequestRecord) -> None:
        self.buffer.append(rec.to_dict())

    def ship(self) -> None:
        runner = self.env.runner
        if runner is None:
            return
        ex = self.executor
        if self.buffer or ex is not None:
            rows, self.buffer = self.buffer, []
            in_flight: dict[str, int] = {}
            stopped: dict[str, str] = {}
            if ex is not None:
                for lane in ex.lanes:
                    in_flight[lane.contender] = in_flight.get(lane.contender, 0) + lane.in_flight
                    if lane.stopped_reason:
                        stopped[lane.contender] = lane.stopped_reason
            for k in range(0, max(1, len(rows)), _BATCH):
                batch = rows[k : k + _BATCH]
                self.sent += len(batch)  # counted before the send: a flush that follows includes it
                runner.send_message(
                    "bakeoff_records", {"records": batch, "in_flight": in_flight, "stopped": stopped}
                )
        if ex is not None and not self.done_sent and ex.finished():
            self.done_sent = True
            runner.send_message("bakeoff_done", {})

    def ship_loop(self) -> None:
        while True:
            gevent.sleep(0.25)
            self.ship()

    def on_plan(self, environment: Environment, msg: Any, **_: Any) -> None:
        from harness.client import HttpFaultLayer
        from harness.config import FaultSpec
        from harness.load._gevent_transport import make_gevent_client

        plan = RunPlan.from_message(msg.data)
        scenario = plan.scenario

        def clock() -> float:
            return round(time.perf_counter() - self.t0_perf, 6)

        self.http_client = make_gevent_client(max_connections=max(100, scenario.load.users * 4))
        self.layer = HttpFaultLayer(plan.seed)
        for f in plan.active_http_faults:
            self.layer.activate(f["fault_id"], f["keys"], FaultSpec.model_validate(f["spec"]))
        runner = environment.runner
        assert runner is not None
        try:
            api_keys = api_keys_from_env(scenario)
        except (
            ConfigError
        ) as exc:  # this machine's keys cannot be sent: say so instead of every attempt failing
            runner.send_message("bakeoff_refused", {"reason": "; ".join(exc.problems)})
            return
        routers = plan.build_routers(
            self.http_client,
            clock=clock,
            faults=self.layer,
            sleep=gevent.sleep,
            api_keys=api_keys,
        )
        share = plan.schedule
        prompts = plan.prompts
        slot = scenario.load.duration if scenario.load.mode == "sequential" else 0.0
        lanes = [
            Lane(c.name, routers[c.name], share, prompts, offset=k * slot)
            for k, c in enumerate(scenario.contenders)
        ]
        ex = LoadExecutor(
            lanes,
            scenario.load,
            run_id=plan.run_id,
            seed=plan.seed,
            clock=clock,
            emit=self.emit,
            worker=f"w{plan.index}",
        )
        ex.env = environment
        _runner._quiet_gc()
        self.executor = ex
        self.user_cls.executor = ex
        self.shipper = gevent.spawn(self.ship_loop)
        runner.send_message("bakeoff_ready", {"assigned": len(share) * len(lanes)})

    def set_t0(self, t0_epoch: float) -> None:
        self.t0_perf = time.perf_counter() - (time.time() - t0_epoch)

    def on_go(self, environment: Environment, msg: Any, **_: Any) -> None:
        """Every worker has its plan and its users: the run clock's zero (the master's) is set now, so
        validating the plan and spawning never show up as schedule lag."""
        self.set_t0(float(msg.data["t0_epoch"]))
        if self.executor is not None:
            self.executor.go.set()  # users wait for their intended times on the master's clock

    def on_fault(self, environment: Environment, msg: Any, **_: Any) -> None:
        from harness.config import FaultSpec

        if self.layer is None:
            return
        data = msg.data
        if data["action"] == "activate":
            self.layer.activate(data["fault_id"], data["keys"], FaultSpec.model_validate(data["spec"]))
        else:
            self.layer.deactivate(data["fault_id"])

    def on_stop(self, environment: Environment, msg: Any, **_: Any) -> None:
        if self.executor is not None:
            self.executor.stop()

    def on_flush(self, environment: Environment, msg: Any, **_: Any) -> None:
        reason = str((msg.data or {}).get("reason", "completed"))
        gevent.spawn(self._end_and_flush, reason)  # not in the message loop: ending takes a moment

    def _end_and_flush(self, reason: str) -> None:
        ex = self.executor
        if ex is not None:
            ex.end(reason)
            if ex.unwound_late:
                print(
                    f"{ex.unwound_late} load users did not unwind: their requests have no final record",
                    flush=True,
                )
        self.ship()
        runner = self.env.runner
        assert runner is not None
        runner.send_message("bakeoff_flushed", {"sent": self.sent})


def run_worker(host: str, port: int) -> int:
    """Connect to the master at host:port and serve plans until it quits. Returns the exit code."""
    user_cls = type("BakeoffUser", (_BakeoffUser,), {"executor": None})
    env = Environment(user_classes=[user_cls], catch_exceptions=True)
    state = _WorkerState(env, user_cls)
    runner = env.create_worker_runner(host, port)
    runner.register_message("bakeoff_plan", state.on_plan)
    runner.register_message("bakeoff_go", state.on_go)
    runner.register_message("bakeoff_fault", state.on_fault)
    runner.register_message("bakeoff_stop", state.on_stop)
    runner.register_message("bakeoff_flush", state.on_flush)
    print(f"worker connected to {host}:{port}", flush=True)
    try:
        runner.greenlet.join()
    except KeyboardInterrupt:
        runner.quit()
    finally:
        if state.http_client is not None:
            state.http_client.close()
    return 0


def _watch_parent() -> None:
    """A run's local worker stops when the run dies, however it dies (see ``harness._children``): a
    greenlet waits for end-of-file on the watch pipe (a real thread would deadlock gevent's patch)."""
    fd = parent_watch_fd()
    if fd is not None:

        def wait() -> None:
            while True:
                gevent.socket.wait_read(fd)
                try:
                    if not os.read(fd, 1):  # readable and empty: end-of-file, the run is gone
                        break
                except OSError:
                    break
            parent_gone(gevent.sleep)

        gevent.spawn(wait)


if __name__ == "__main__":  # how ``bakeoff run --workers N`` starts its local workers
    # The same command as ``bakeoff worker``; it imports this module again by name to run it (this
    # __main__ copy only hands over argv).
    from harness.load._command import worker

    _watch_parent()

    worker.main(prog_name="bakeoff worker")
