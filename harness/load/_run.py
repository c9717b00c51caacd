"""``bakeoff run``: one bake-off from a resolved scenario to a report.

Order of work: run folder + manifest → stack (simulated vendors, proxy per endpoint) → one seeded
schedule → Locust executes it for every contender while the fault timeline runs → records stream into
the run folder → on every exit path: faults removed, stack stopped, records compacted, report written.

Ctrl-C (or SIGTERM) once: stop scheduling, give in-flight requests ``load.grace`` to finish, then report.
Ctrl-C twice: abort in-flight requests at once; everything already written stays readable.
"""

from __future__ import annotations

import datetime as dt
import platform
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import gevent

from harness import __version__
from harness._errors import RunError
from harness.config import ResolvedFault, ResolvedScenario
from harness.faults import FaultTimeline
from harness.load._plan import RunPlan
from harness.load._progress import Progress
from harness.load._schedule import build_schedule, schedule_digest
from harness.load._stack import Stack
from harness.record import (
    FAULTS_FILE,
    PROMPTS_FILE,
    RECORDS_FILE,
    SCENARIO_FILE,
    FaultEvent,
    JsonlWriter,
    RequestRecord,
    compact_records,
    write_manifest,
)

__all__ = ["RunResult", "run_scenario"]


class _Interrupted(Exception):
    """Ctrl-C arrived before the load phase started: skip to cleanup."""


@dataclass
class _SignalState:
    """What Ctrl-C / SIGTERM asked for: the first stops the run gracefully, the second aborts."""

    grace: float
    message: Callable[[str], None]
    signals: int = 0
    stop_at: float | None = None  # perf_counter time of the first signal
    execution: Any = None

    def on_signal(self, *_: Any) -> None:
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

    @staticmethod
    def t0_offset(clock: Callable[[], float]) -> float:
        """perf_counter time of run-clock zero."""
        return time.perf_counter() - clock()


@dataclass
class RunResult:
    run_dir: Path
    report: Path | None
    records: int
    logical_requests: int
    elapsed_s: float
    ended: str
    problems: list[str] = field(default_factory=list)


def _versions() -> dict[str, str]:
    out = {"bakeoff": __version__, "python": platform.python_version(), "platform": platform.platform()}
    for dist in ("locust", "httpx", "pandas", "plotly", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _new_run_dir(root: Path, name: str) -> tuple[str, Path]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        run_id = f"{stamp}-{name}" + (f"-{n}" if n > 1 else "")
        path = root / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return run_id, path
    raise RunError(f"cannot create a run folder under {root}")


def _fault_manifest(f: ResolvedFault, offset: float = 0.0) -> dict[str, Any]:
    return {
        "fault_id": f.fault_id,
        "name": f.name,
        "description": f.description,
        "kind": f.spec.kind,
        "target": f.entry.target,
        "endpoints": list(f.endpoints),
        "at_s": f.entry.at + offset,
        "duration_s": f.entry.duration,
        "spec": f.spec.model_dump(mode="json", exclude_defaults=True),
    }


def build_manifest(
    resolved: ResolvedScenario,
    *,
    run_id: str,
    faults: list[ResolvedFault],
    logical_per_contender: int,
    schedule_sha: str,
    toxiproxy_url: str | None,
    embedded_proxy: bool,
    base_urls: dict[str, str],
    proxied: set[str],
) -> dict[str, Any]:
    """The scenario as resolved, without secrets: key *names* only, never values."""
    sc = resolved.scenario
    classes: dict[str, int] = {}
    for p in resolved.prompts:
        classes[p.prompt_class] = classes.get(p.prompt_class, 0) + 1
    return {
        "run_id": run_id,
        "scenario": {"name": sc.name, "description": sc.description, "path": str(resolved.path)},
        "seed": sc.seed,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ended_at": None,
        "interrupted": True,  # set to false when the run ends normally
        "duration_s": sc.load.duration,
        "elapsed_s": None,
        "versions": _versions(),
        "prompts": {
            "path": str(resolved.prompts_path),
            "sha256": resolved.prompts_sha256,
            "count": len(resolved.prompts),
            "classes": classes,
        },
        "endpoints": [
            {
                "name": ep.name,
                "dialect": ep.dialect,
                "model": ep.model,
                "base_url": base_urls.get(ep.name, ep.base_url),
                "sim": ep.sim,
                "region": ep.region,
                "api_key_env": ep.api_key_env,
                "stream": ep.stream,
                "price": resolved.prices[ep.name].model_dump(mode="json", exclude={"litellm"}),
                "timeouts": ep.timeouts.model_dump(mode="json"),
                "proxied": ep.name in proxied,
            }
            for ep in sc.endpoints
        ],
        "contenders": [
            {
                "name": c.name,
                "primary": c.primary,
                "fallbacks": list(c.fallbacks),
                "retries": c.retries,
                "deadline_s": c.deadline,
                "cooldown_s": c.cooldown,
                "cooldown_after": c.cooldown_after,
            }
            for c in sc.contenders
        ],
        "load": sc.load.model_dump(mode="json"),
        "faults": [_fault_manifest(f) for f in faults],
        "slo": sc.slo.model_dump(mode="json"),
        "monthly_requests": sc.monthly_requests,
        "schedule": {"logical_requests_per_contender": logical_per_contender, "sha256": schedule_sha},
        "toxiproxy": {"url": toxiproxy_url, "embedded": embedded_proxy},
    }


def run_scenario(
    resolved: ResolvedScenario,
    *,
    out_root: Path = Path("reports"),
    toxiproxy_url: str | None = None,
    quiet: bool = False,
    report: bool = True,
    ground_truth: bool = False,
    workers: int = 0,
    expect_workers: int | None = None,
    master_bind: str = "127.0.0.1",
    master_port: int = 0,
    probes: bool = True,
    sim_processes: int = 1,
) -> RunResult:
    """Run one bake-off. Seed and duration overrides are applied to ``resolved`` by the caller.

    ``workers=0`` runs load in this process; ``workers=N`` starts a Locust master here and N local
    worker processes; ``expect_workers`` waits for more (remote ``bakeoff worker`` processes).
    ``probes`` runs the conformance probes (bad key, malformed input, headers, TLS) before the load.
    ``sim_processes`` serves the simulated vendors from that many processes (SO_REUSEPORT), for
    scenarios one simulator process cannot keep up with (about 30,000 SSE chunks/s each).
    """
    sc = resolved.scenario
    load = sc.load
    run_id, run_dir = _new_run_dir(out_root, sc.name)
    schedule = build_schedule(load, len(resolved.prompts), sc.seed) if load.model == "open" else []
    records = JsonlWriter(run_dir / RECORDS_FILE)
    fault_log = JsonlWriter(run_dir / FAULTS_FILE)
    problems: list[str] = []
    stack = Stack(
        resolved, run_dir, toxiproxy_url=toxiproxy_url, ground_truth=ground_truth, sim_processes=sim_processes
    )
    n_lanes = len(sc.contenders)
    slot = load.duration if load.mode == "sequential" else 0.0
    faults = list(resolved.faults)
    if load.mode == "sequential":  # every contender meets the same faults in its own slot
        faults = [_shift(f, k * slot, k) for k in range(n_lanes) for f in resolved.faults]
    run_end = load.duration + slot * (n_lanes - 1)
    progress = Progress(
        [c.name for c in sc.contenders],
        duration=run_end,
        clock=lambda: 0.0,
        active_faults=list,
        in_flight=lambda _c: 0,
        quiet=quiet,
    )
    manifest: dict[str, Any] = {}
    t_start = time.perf_counter()
    ended = "error"
    timeline: FaultTimeline | None = None
    execution: Any = None
    state = _SignalState(grace=load.grace, message=lambda text: progress.message(text, always=True))
    # From here on Ctrl-C and SIGTERM never raise: the first stops the run (start-up included) and lets
    # in-flight requests finish; the second drops them. Cleanup and the records always complete.
    handlers = [
        gevent.signal_handler(signal.SIGINT, state.on_signal),
        gevent.signal_handler(signal.SIGTERM, state.on_signal),
    ]
    try:
        progress.message(f"bakeoff run {run_id}: starting simulated vendors and proxies")
        stack.start()
        manifest = build_manifest(
            resolved,
            run_id=run_id,
            faults=faults,
            logical_per_contender=len(schedule),
            schedule_sha=schedule_digest(schedule),
            toxiproxy_url=stack.toxiproxy_url,
            embedded_proxy=toxiproxy_url is None,
            base_urls=stack.base_urls,
            proxied=set(stack.connect_to),
        )
        manifest["duration_s"] = run_end
        write_manifest(run_dir, manifest)
        _write_inputs(resolved, run_dir)
        if probes and not state.signals:
            progress.message("probing every endpoint (bad key, malformed input, headers, TLS)")
            _probe(resolved, stack, run_id, run_dir)

        def emit(rec: RequestRecord) -> None:
            records.write(rec.to_dict())
            progress.add(rec)

        plan = RunPlan.from_resolved(
            resolved, run_id=run_id, base_urls=stack.base_urls, connect_to=stack.connect_to
        )
        if workers or expect_workers:
            from harness.load._distributed import DistributedExecution

            execution = DistributedExecution(
                plan,
                emit=emit,
                run_dir=run_dir,
                local_workers=workers,
                expect_workers=expect_workers,
                bind_host=master_bind,
                bind_port=master_port,
                warn=lambda text: progress.message(text, always=True),
            )
            progress.message(
                f"Locust master on {master_bind}:{execution.port}; waiting for {execution.expect} worker(s)"
            )
        else:
            from harness.load._local import LocalExecution

            execution = LocalExecution(
                plan,
                emit=emit,
                api_keys=dict(resolved.api_keys),
                max_connections=max(100, load.users * n_lanes * 2),
            )
        clock = execution.clock

        def emit_fault(ev: FaultEvent) -> None:
            fault_log.write(ev.to_dict())
            progress.message(
                f"[{ev.t_applied:6.1f} s] fault {ev.action} {ev.fault_id} on "
                f"{', '.join(ev.endpoints) or ev.target}: {ev.outcome}"
                + (f" ({ev.detail})" if ev.detail else "")
            )

        timeline = FaultTimeline(
            faults,
            run_id=run_id,
            proxy=stack.proxy_api,
            proxy_names=stack.proxy_names,
            http_layer=execution.http_layer,
            clock=clock,
            sleep=gevent.sleep,
            emit=emit_fault,
            run_end=run_end,
        )
        progress.clock = clock
        progress.active_faults = timeline.active
        progress.in_flight = execution.in_flight_of
        progress.set_primaries({c.name: c.primary for c in sc.contenders})
        state.execution = execution
        if state.signals:
            raise _Interrupted
        execution.start()
        tl = gevent.spawn(timeline.run, lambda: execution.stopping)
        run_clock = clock

        def deadline() -> float:
            planned = run_end + load.grace
            if state.stop_at is None:
                return planned
            return min(planned, state.stop_at - state.t0_offset(run_clock) + load.grace)

        ended = execution.run(deadline=deadline, aborted=lambda: state.signals >= 2, on_tick=progress.tick)
        if state.signals:
            ended = "interrupted" if ended != "aborted" else "aborted"
        execution.stop()
        tl.kill(block=True, timeout=5)
        for contender, reason in execution.stopped_reasons().items():
            problems.append(f"contender {contender} stopped early: {reason}")
        worker_rows = execution.workers_report()
        if worker_rows:
            manifest["workers"] = worker_rows
            for row in worker_rows:
                if row["lost"]:
                    problems.append(f"worker {row['index']} died: {row['lost']} logical requests lost")
    except _Interrupted:
        ended = "interrupted" if state.signals < 2 else "aborted"
    except KeyboardInterrupt:
        ended = "aborted"
    finally:
        progress.close()
        if timeline is not None:
            problems.extend(timeline.cleanup())
        if execution is not None:
            problems.extend(execution.close())
        problems.extend(stack.stop())
        records.close()
        fault_log.close()
    elapsed = time.perf_counter() - t_start
    report_path: Path | None = None
    if manifest:
        manifest["ended_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        manifest["interrupted"] = ended not in ("completed", "deadline")
        manifest["ended"] = ended
        manifest["elapsed_s"] = round(elapsed, 3)
        manifest["problems"] = problems
        write_manifest(run_dir, manifest)
        compact_records(run_dir)
        if report and state.signals < 2:  # aborted at once: `bakeoff report RUN_DIR` builds it later
            from harness.report import write_report

            report_path = write_report(run_dir)
    for h in handlers:
        h.cancel()
    logical = _count_logical(run_dir)
    return RunResult(run_dir, report_path, records.count, logical, elapsed, ended, problems)


def _write_inputs(resolved: ResolvedScenario, run_dir: Path) -> None:
    """The run folder carries its own inputs, so reports and vendor bundles never depend on files that may
    have moved or changed since: the resolved scenario (it names key variables, holds no key) and prompts."""
    import shutil

    import yaml

    data = resolved.scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = "# The scenario as this run resolved it (overrides applied). API keys are named, never stored.\n"
    (run_dir / SCENARIO_FILE).write_text(
        text + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    shutil.copyfile(resolved.prompts_path, run_dir / PROMPTS_FILE)


def _probe(resolved: ResolvedScenario, stack: Stack, run_id: str, run_dir: Path) -> None:
    """Conformance probes before the load phase; results go to probes.jsonl for the scorecard."""
    from harness.client import make_http_client
    from harness.load._plan import SIM_API_KEY
    from harness.probes import build_targets, run_probes, write_probes

    targets = build_targets(
        resolved.scenario.endpoints,
        base_urls=stack.base_urls,
        connect_to=stack.connect_to,
        api_keys=resolved.api_keys,
        prices=resolved.prices,
        sim_api_key=SIM_API_KEY,
    )
    with make_http_client(max_connections=8) as client:
        write_probes(run_dir, run_probes(targets, client, run_id=run_id))


def _count_logical(run_dir: Path) -> int:
    from harness.record import read_records

    df = read_records(run_dir)
    return int(df["request_id"].nunique()) if len(df) else 0


def _shift(f: ResolvedFault, offset: float, slot: int) -> ResolvedFault:
    entry = f.entry.model_copy(update={"at": f.entry.at + offset})
    return ResolvedFault(f"{f.fault_id}@{slot}", f.name, entry, f.spec, f.description, f.endpoints)
