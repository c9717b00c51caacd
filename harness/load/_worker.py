"""A Locust worker process for ``bakeoff run --workers N`` and ``bakeoff worker --master HOST[:PORT]``.

It connects to the master, waits for its ``RunPlan``, serves its share of the schedule for every
contender and ships records back in batches (every 0.25 s and on the master's final flush). The final
flush first ends this worker's load (``LoadExecutor.end``), so attempts cut in flight and requests never
dispatched are records shipped with it. API keys come from this process's own environment, by the
variable names in the scenario.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

# isort: off
from harness.load import _runner  # Locust patches the process (gevent) before anything else is imported
# isort: on

import gevent
from locust.env import Environment

from harness.load._plan import RunPlan, api_keys_from_env
from harness.load._runner import Lane, LoadExecutor, _BakeoffUser
from harness.record import RequestRecord

__all__ = ["main"]

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
        offset = time.perf_counter() - (time.time() - plan.t0_epoch)

        def clock() -> float:
            return round(time.perf_counter() - offset, 6)

        self.http_client = make_gevent_client(max_connections=max(100, scenario.load.users * 4))
        self.layer = HttpFaultLayer(plan.seed)
        for f in plan.active_http_faults:
            self.layer.activate(f["fault_id"], f["endpoints"], FaultSpec.model_validate(f["spec"]))
        routers = plan.build_routers(
            self.http_client,
            clock=clock,
            faults=self.layer,
            sleep=gevent.sleep,
            api_keys=api_keys_from_env(scenario),
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
        ex.go.set()  # the run clock is the master's: users wait for their intended times
        self.executor = ex
        self.user_cls.executor = ex
        self.shipper = gevent.spawn(self.ship_loop)
        runner = environment.runner
        assert runner is not None
        runner.send_message("bakeoff_ready", {"assigned": len(share) * len(lanes)})

    def on_fault(self, environment: Environment, msg: Any, **_: Any) -> None:
        from harness.config import FaultSpec

        if self.layer is None:
            return
        data = msg.data
        if data["action"] == "activate":
            self.layer.activate(data["fault_id"], data["endpoints"], FaultSpec.model_validate(data["spec"]))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bakeoff worker", description=__doc__.splitlines()[0])
    parser.add_argument("--master", default="127.0.0.1:5557", help="master HOST[:PORT] (default port 5557)")
    args = parser.parse_args(argv)
    host, _, port = args.master.rpartition(":") if ":" in args.master else (args.master, "", "5557")
    user_cls = type("BakeoffUser", (_BakeoffUser,), {"executor": None})
    env = Environment(user_classes=[user_cls], catch_exceptions=True)
    state = _WorkerState(env, user_cls)
    runner = env.create_worker_runner(host or "127.0.0.1", int(port))
    runner.register_message("bakeoff_plan", state.on_plan)
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


if __name__ == "__main__":
    sys.exit(main())
