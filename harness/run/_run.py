"""``bakeoff run``: one bake-off from a resolved scenario to a report.

The phases, in order (each is one call below, so this function reads as the run does)::

    folder     reports/<run-id>/, the schedule built once (the same for every contender)
    stack      simulated vendors and one proxy per (contender, endpoint) path         harness.run._stack
    manifest   manifest.json, scenario.yaml, prompts.jsonl: written once              harness.run._folder
    preflight  every endpoint reached once (TCP, TLS, HTTP); one that is not stops   harness.run._preflight
    probes     conformance probes before the load                                     harness.run._probes
    load       an Execution (local or distributed) runs the plan while the fault
               timeline applies and removes faults; records stream into the folder   harness.load
               and each endpoint's server metrics are scraped       harness.servermetrics
    cleanup    faults removed, execution closed, stack stopped, writers closed (every exit path)
    end        end.json: how it ended, the problems met
    report     records compacted and report.html built in a child process           harness.run._report

Ctrl-C (or SIGTERM) once: stop scheduling, give in-flight requests ``load.grace`` to finish, then report.
Ctrl-C twice: abort in-flight requests at once; everything already written stays readable. Every phase
answers within the grace period plus a few seconds (:mod:`harness.run._signals`).

How it ended (end.json): ``completed``/``deadline`` when every scheduled request has its record,
``incomplete`` when the load ran its course but some have none (a worker died, records were lost),
``interrupted``/``aborted`` on a signal, ``workers_lost``, ``error``. ``RunResult.exit_code`` maps that
(and a run in which no attempt succeeded) to the command's exit code.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness._children import StartCancelled
from harness._errors import ConfigError
from harness.config import ResolvedFault, ResolvedScenario, Scenario
from harness.dialects import extra_body_problems
from harness.faults import FaultTimeline
from harness.load import (
    RunPlan,
    build_schedule,
    ensure_patched,
    open_execution,
    requests_per_contender,
    schedule_digest,
)
from harness.record import (
    FAULTS_FILE,
    EndReason,
    FaultEvent,
    JsonlWriter,
    RecordWriter,
    RequestRecord,
    RunEnd,
    WorkerInfo,
    write_end,
    write_manifest,
)
from harness.run._folder import build_manifest, new_run_dir, now_utc, write_inputs
from harness.run._live_metrics import RunMetrics
from harness.run._metrics_server import MetricsServer
from harness.run._search import SearchLoop, SearchMaker
from harness.run._signals import SignalState
from harness.run._stack import Stack
from harness.servermetrics import Scraper, ScrapeTarget

if TYPE_CHECKING:
    from harness.run._otlp import OtlpExporter
    from harness.run._progress import Progress

__all__ = ["EXIT_ABORTED", "EXIT_INCOMPLETE", "EXIT_NOTHING_SUCCEEDED", "RunResult", "run_scenario"]

EXIT_INCOMPLETE = 4
"""``bakeoff run``: scheduled requests have no record (a worker died, records were lost)."""
EXIT_NOTHING_SUCCEEDED = 5
"""``bakeoff run``: attempts were recorded but none succeeded and none reached a vendor: each failed to
connect, timed out or had its key refused (401/403). A vendor that answers every request with another
error (a malformed-input scenario expects 4xx answers) is a finding, not a broken run."""
EXIT_ABORTED = 130


@dataclass
class RunResult:
    run_dir: Path
    report: Path | None
    records: int
    logical_requests: int
    elapsed_s: float
    ended: EndReason
    problems: list[str] = field(default_factory=list)
    succeeded: int = 0  # attempts that succeeded
    reached: int = 0  # attempts a vendor answered with a status other than 401/403 (injected faults aside)
    unrecorded: dict[str, int] = field(default_factory=dict)  # contender -> scheduled requests with no record
    workers_died: int = 0

    @property
    def incomplete(self) -> bool:
        """Scheduled requests are missing from the records (or a load worker died)."""
        return bool(self.workers_died or self.ended in ("incomplete", "workers_lost") or self.unrecorded)

    @property
    def exit_code(self) -> int:
        """0 ok; 4 incomplete; 5 nothing reached a vendor; 130 aborted (a stop asked for is not a failure)."""
        if self.ended == "aborted":
            return EXIT_ABORTED
        if self.incomplete:
            return EXIT_INCOMPLETE
        if self.records and not self.succeeded and not self.reached and self.ended != "interrupted":
            return EXIT_NOTHING_SUCCEEDED
        return 0


class _Interrupted(Exception):
    """A stop signal arrived before the load phase started: skip to cleanup."""


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
    preflight: bool = True,
    overlong_probe: bool = False,
    metrics_port: int | None = None,
    metrics_bind: str = "127.0.0.1",
    otlp_endpoint: str | None = None,
    capacity_search: SearchMaker | None = None,
) -> RunResult:
    """Run one bake-off. Seed and duration overrides are applied to ``resolved`` by the caller.

    ``workers=0`` runs load in this process; ``workers=N`` starts a Locust master here and N local
    worker processes; ``expect_workers`` waits for more (remote ``bakeoff worker`` processes).
    ``probes`` runs the conformance probes (bad key, malformed input, headers, TLS) before the load;
    their over-long prompt (~2.1M tokens, billed by a vendor that accepts it) goes to simulated
    endpoints only, and to real ones too with ``overlong_probe=True`` (``--billable-overlong-probe``).
    ``sim_processes`` serves the simulated vendors from that many processes (SO_REUSEPORT), for
    scenarios one simulator process cannot keep up with (about 30,000 SSE chunks/s each).
    ``preflight`` reaches every endpoint once before the load and raises ``RunError`` (after writing
    end.json) when one cannot be reached. Endpoints no contender uses are left out of the run.
    ``metrics_port`` serves live Prometheus metrics at ``http://<metrics_bind>:<port>/metrics`` for the
    whole run (0: a free port; the address is printed); a port that cannot be bound raises ``RunError``
    before anything starts. ``otlp_endpoint`` exports a span per logical request and per attempt over
    OTLP/HTTP (needs the ``otel`` extra; a failed export is a warning in the run's problems).
    ``capacity_search`` makes the search a ``load.search`` scenario needs (``bakeoff run`` passes
    ``harness.analysis.CapacitySearch``; the run never imports the analysis itself).
    """
    ensure_patched()
    from harness.load import _runtime as rt

    resolved = resolved.without_unused_endpoints()
    conflicts = extra_body_problems(resolved)
    if conflicts:
        raise ConfigError(conflicts)
    if resolved.scenario.load.search is not None:
        if workers or expect_workers:
            raise ConfigError(
                [
                    "load.search: the adaptive search feeds its steps from this process; "
                    "run it without --workers/--expect-workers (or use load.sweep)"
                ]
            )
        if capacity_search is None:
            raise ConfigError(["load.search: this caller does not run adaptive searches (use bakeoff run)"])
    live: RunMetrics | None = None
    server: MetricsServer | None = None
    if metrics_port is not None:
        from harness._errors import RunError

        live = RunMetrics(resolved.scenario.name, [c.name for c in resolved.scenario.contenders])
        try:
            server = MetricsServer(metrics_bind, metrics_port, live.render, rt.spawn)
        except OSError as exc:
            raise RunError(
                f"--metrics-port {metrics_port}: cannot listen on {metrics_bind}: {exc.strerror or exc}"
            ) from None
        print(f"live metrics: {server.url} (Prometheus text format)", file=sys.stderr, flush=True)
    serving = rt.spawn(server.serve) if server is not None else None
    try:
        return _run_scenario(
            resolved,
            live,
            out_root=out_root,
            toxiproxy_url=toxiproxy_url,
            quiet=quiet,
            report=report,
            ground_truth=ground_truth,
            workers=workers,
            expect_workers=expect_workers,
            master_bind=master_bind,
            master_port=master_port,
            probes=probes,
            sim_processes=sim_processes,
            preflight=preflight,
            overlong_probe=overlong_probe,
            otlp_endpoint=otlp_endpoint,
            capacity_search=capacity_search,
        )
    finally:
        if server is not None and serving is not None:
            server.close()
            serving.stop()


def _run_scenario(
    resolved: ResolvedScenario,
    live: RunMetrics | None,
    *,
    out_root: Path,
    toxiproxy_url: str | None,
    quiet: bool,
    report: bool,
    ground_truth: bool,
    workers: int,
    expect_workers: int | None,
    master_bind: str,
    master_port: int,
    probes: bool,
    sim_processes: int,
    preflight: bool,
    overlong_probe: bool,
    otlp_endpoint: str | None,
    capacity_search: SearchMaker | None = None,
) -> RunResult:
    from harness.load import _runtime as rt
    from harness.run._progress import Progress

    sc = resolved.scenario
    load = sc.load
    shown: list[Progress] = []  # the live progress, once it exists

    def say(text: str) -> None:
        if shown:
            shown[0].message(text, always=True)
        else:
            print(text, file=sys.stderr, flush=True)

    state = SignalState(grace=load.grace, message=say)
    # From here on Ctrl-C and SIGTERM never raise: the first stops the run (start-up included) and lets
    # in-flight requests finish; the second drops them. Cleanup and the records always complete.
    cancel_signals = rt.on_signals(state.on_signal)
    # --- folder and the one schedule ---------------------------------------------------------------------
    run_id, run_dir = new_run_dir(out_root, sc.name)
    if live is not None:
        live.run_id = run_id
    otlp: OtlpExporter | None = None
    otlp_task = None
    if otlp_endpoint is not None:
        from harness.run._otlp import OtlpExporter

        otlp = OtlpExporter(otlp_endpoint, scenario=sc.name, warn=say, sleep=rt.sleep)
        otlp.start(run_id)
        otlp_task = rt.spawn(otlp.run)
    schedule = build_schedule(load, len(resolved.prompts), sc.seed) if load.model == "open" else []
    logical = requests_per_contender(schedule, resolved.prompts)  # a session's turns are a request each
    n_lanes = len(sc.contenders)
    slot = load.duration if load.mode == "sequential" else 0.0
    faults = list(resolved.faults)
    if load.mode == "sequential":  # every contender meets the same faults in its own slot
        faults = [_shift(f, k * slot, k) for k in range(n_lanes) for f in resolved.faults]
    run_end = load.duration + slot * (n_lanes - 1)
    if live is not None:
        live.faults_planned([(f.fault_id, f.entry.target) for f in faults])

    records = RecordWriter(run_dir)  # records.jsonl, and Parquet parts as records arrive
    fault_log = JsonlWriter(run_dir / FAULTS_FILE)
    progress = Progress(
        [c.name for c in sc.contenders],
        duration=run_end,
        clock=lambda: 0.0,
        active_faults=list,
        in_flight=lambda _c: 0,
        quiet=quiet,
    )
    shown.append(progress)
    problems: list[str] = []
    finals: Counter[str] = Counter()  # final attempts (= logical requests) per contender
    succeeded = reached = 0
    stack = Stack(
        resolved, run_dir, toxiproxy_url=toxiproxy_url, ground_truth=ground_truth, sim_processes=sim_processes
    )
    t_start = time.perf_counter()
    ended: EndReason = "error"
    manifest_written = False
    timeline: FaultTimeline | None = None
    scraper: Scraper | None = None
    scrape_tasks: list[Any] = []
    worker_rows: list[WorkerInfo] = []
    failure: Exception | None = None
    load_ran_its_course = False
    search: SearchLoop | None = None
    search_log: dict[str, Any] | None = None
    try:
        # --- stack and manifest ----------------------------------------------------------------------------
        progress.message(f"bakeoff run {run_id}: {_starting(resolved, toxiproxy_url)}")
        stack.start(cancelled=lambda: state.stopped)
        manifest = build_manifest(
            resolved,
            run_id=run_id,
            faults=faults,
            duration_s=run_end,
            logical_per_contender=logical,
            schedule_sha=schedule_digest(schedule),
            toxiproxy_url=stack.toxiproxy_url,
            embedded_proxy=toxiproxy_url is None,
            base_urls=stack.base_urls,
            proxied=set(stack.endpoint_connect_to()),
        )
        write_manifest(run_dir, manifest)
        manifest_written = True
        write_inputs(resolved, run_dir)
        # --- preflight ---------------------------------------------------------------------------------
        if preflight and not state.stopped:
            state.enter("preflight")
            _preflight(resolved, stack, progress, spawn=rt.spawn, sleep=rt.sleep, stop=lambda: state.stopped)
        # --- probes ----------------------------------------------------------------------------------------
        if probes and not state.stopped:
            from harness.run._probes import probe_endpoints

            state.enter("probes")
            progress.message("probing every endpoint (bad key, malformed input, headers, TLS)")
            probe_endpoints(
                resolved,
                stack,
                run_id,
                run_dir,
                spawn=rt.spawn,
                sleep=rt.sleep,
                stop=lambda: state.stopped,
                overlong=overlong_probe,
            )
        if state.stopped:
            raise _Interrupted

        # --- load ------------------------------------------------------------------------------------------
        def emit(rec: RequestRecord) -> None:
            nonlocal succeeded, reached
            records.write(rec.to_dict())
            if rec.is_final_attempt:
                finals[rec.contender] += 1
            succeeded += rec.outcome == "ok"
            reached += rec.status is not None and rec.status not in (401, 403) and rec.fault_injected is None
            progress.add(rec)
            if live is not None:
                live.add(rec)
            if otlp is not None:
                otlp.add(rec)
            if search is not None:
                search.add(rec)

        plan = RunPlan(
            run_id=run_id,
            scenario=sc,
            prompts=resolved.prompts,
            prices=resolved.prices,
            base_urls=stack.base_urls,
            connect_to=stack.connect_to,
            schedule=schedule,
        )
        state.enter("load")
        execution = open_execution(
            plan,
            emit=emit,
            run_dir=run_dir,
            api_keys=dict(resolved.api_keys),
            warn=lambda text: progress.message(text, always=True),
            workers=workers,
            expect_workers=expect_workers,
            bind_host=master_bind,
            bind_port=master_port,
        )

        def emit_fault(ev: FaultEvent) -> None:
            fault_log.write(ev.to_dict())
            if live is not None:
                live.fault(ev)
            if otlp is not None:
                otlp.fault(ev)
            progress.message(
                f"[{ev.t_applied:6.1f} s] fault {ev.action} {ev.fault_id} on "
                f"{', '.join(ev.endpoints) or ev.target}: {ev.outcome}"
                + (f" ({ev.detail})" if ev.detail else "")
            )

        try:
            timeline = FaultTimeline(
                faults,
                run_id=run_id,
                proxy=stack.proxy_api,
                proxy_names=stack.proxy_names,
                http_layer=execution.http_layer,
                clock=execution.clock,
                sleep=rt.sleep,
                emit=emit_fault,
                run_end=run_end,
            )
            progress.clock = execution.clock
            progress.active_faults = timeline.active
            progress.in_flight = execution.in_flight_of
            if otlp is not None:
                otlp.clock = execution.clock
            if live is not None:
                live.clock = execution.clock
                live.in_flight = execution.in_flight_of
            progress.set_primaries({c.name: c.primary for c in sc.contenders})
            state.execution = execution
            if state.stopped:
                raise _Interrupted
            execution.start()
            if sc.load.search is not None and capacity_search is not None:
                search = SearchLoop(
                    capacity_search(manifest),
                    execution,  # type: ignore[arg-type]  # a local execution: refused with workers
                    sc.load,
                    n_prompts=len(resolved.prompts),
                    seed=sc.seed,
                    clock=execution.clock,
                )
                search.start(0.0)
            tl_task = rt.spawn(timeline.run, lambda: execution.stopping)
            scraper = _scraper(sc, stack, execution.clock, rt.sleep)
            scrape_tasks += [
                rt.spawn(scraper.run_target, t, lambda: execution.stopping) for t in scraper.targets
            ]
            ended = execution.run(
                deadline=lambda: state.deadline(run_end, execution.clock),
                aborted=lambda: state.aborted,
                on_tick=progress.tick if search is None else _both(progress.tick, search.tick),
            )
            _stop_all(scrape_tasks)
            load_ran_its_course = ended in ("completed", "deadline") and not state.stopped
            if state.stopped:
                ended = "interrupted" if ended != "aborted" else "aborted"
            execution.stop()
            tl_task.stop()
            for contender, reason in execution.stopped_reasons().items():
                problems.append(f"contender {contender} stopped early: {reason}")
            worker_rows = execution.workers_report()
            for row in worker_rows:
                if row.lost or not row.alive_at_end:
                    problems.append(f"worker {row.index} died: {row.lost} logical requests lost")
        finally:
            if timeline is not None:
                problems.extend(timeline.cleanup())
            if live is not None:  # the execution closes: its last clock reading stays, nothing is in flight
                elapsed_at_end = execution.clock()
                live.clock = lambda: elapsed_at_end
                live.in_flight = lambda _c: 0
            problems.extend(execution.close())
            if search is not None:  # every request has its record now: judge a round left open
                search_log = search.finish()
    except (_Interrupted, StartCancelled):
        ended = "interrupted" if not state.aborted else "aborted"
    except KeyboardInterrupt:
        ended = "aborted"
    except Exception as exc:  # a RunError (or a harness bug): the end says so, then it propagates
        failure = exc
        problems.append(f"run failed: {exc}")
    finally:
        # --- cleanup (every exit path) ---------------------------------------------------------------------
        progress.close()
        if otlp is not None and otlp_task is not None:  # the spans of every record, before the stack goes
            problems.extend(otlp.close())
            otlp_task.stop()
        _stop_all(scrape_tasks)  # already stopped unless the load phase failed
        if scraper is not None and scraper.targets:
            problems.extend(_write_server_metrics(scraper, run_dir))
        problems.extend(stack.stop())
        records.close()
        fault_log.close()
    elapsed = time.perf_counter() - t_start
    # --- accounting: every scheduled request should have its record ----------------------------------------
    unrecorded: dict[str, int] = {}
    scheduled = {c.name: logical for c in sc.contenders}
    if search is not None:
        scheduled = {c.name: search.scheduled[c.name] for c in sc.contenders}
    if load_ran_its_course and any(scheduled.values()):
        unrecorded = {c: n - finals[c] for c, n in scheduled.items() if finals[c] < n}
    died = sum(1 for w in worker_rows if w.lost or not w.alive_at_end)
    if unrecorded:
        problems.append(
            f"{sum(unrecorded.values())} scheduled requests have no record ("
            + ", ".join(f"{c} {n} of {scheduled[c]}" for c, n in unrecorded.items())
            + ")"
        )
    if (unrecorded or died) and ended in ("completed", "deadline"):
        ended = "incomplete"
    # --- end and report ------------------------------------------------------------------------------------
    report_path: Path | None = None
    if manifest_written:
        write_end(
            run_dir,
            RunEnd(
                ended_at=now_utc(),
                ended=ended,
                elapsed_s=round(elapsed, 3),
                problems=tuple(problems),
                workers=tuple(worker_rows),
                search=search_log,
            ),
        )
        if (
            report and failure is None and not state.aborted
        ):  # aborted at once: `bakeoff report RUN_DIR` builds it later
            from harness.run._report import build_report

            state.enter("report")
            report_path, problem = build_report(run_dir, sleep=rt.sleep, abort=state.report_overdue)
            if problem:
                problems.append(problem)
    cancel_signals()
    if failure is not None:
        raise failure
    return RunResult(
        run_dir,
        report_path,
        records.count,
        sum(finals.values()),
        elapsed,
        ended,
        problems,
        succeeded=succeeded,
        reached=reached,
        unrecorded=unrecorded,
        workers_died=died,
    )


def _both(a: Callable[[], None], b: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        a()
        b()

    return both


def _starting(resolved: ResolvedScenario, toxiproxy_url: str | None) -> str:
    """What the stack phase really starts, in words."""
    sims = sum(ep.sim is not None for ep in resolved.scenario.endpoints)
    proxy = (
        "the embedded Toxiproxy-compatible proxy"
        if toxiproxy_url is None
        else f"proxies on the Toxiproxy at {toxiproxy_url}"
    )
    if sims:
        return f"starting {sims} simulated vendor{'s' if sims > 1 else ''} and {proxy}"
    return f"starting {proxy} (no simulated vendors: every endpoint is a real one)"


def _preflight(
    resolved: ResolvedScenario,
    stack: Stack,
    progress: Progress,
    *,
    spawn: Callable[..., Any],
    sleep: Callable[[float], None],
    stop: Callable[[], bool],
) -> None:
    from harness._errors import RunError
    from harness.run._preflight import check_reachable, preflight

    eps = resolved.scenario.endpoints
    progress.message(f"preflight: reaching {len(eps)} endpoint{'s' if len(eps) > 1 else ''} (TCP, TLS, HTTP)")
    results = preflight(
        {ep.name: stack.base_urls[ep.name] for ep in eps},
        stack.endpoint_connect_to(),
        {ep.name: ep.timeouts.connect for ep in eps},
        spawn=spawn,
        sleep=sleep,
        stop=stop,
    )
    if results is None:  # stopped: the caller sees state.stopped
        return
    message = check_reachable(results)
    if message is not None:
        raise RunError(message)


def _scraper(
    sc: Scenario, stack: Stack, clock: Callable[[], float], sleep: Callable[[float], None]
) -> Scraper:
    """The server-metrics scraper of the run: every endpoint with a ``metrics_url``, every simulated one."""
    targets = [ScrapeTarget(name, url) for name, url in stack.metrics_urls().items()]
    return Scraper(targets, interval=sc.metrics_interval, clock=clock, sleep=sleep)


def _stop_all(tasks: list[Any]) -> None:
    while tasks:
        tasks.pop().stop()


def _write_server_metrics(scraper: Scraper, run_dir: Path) -> list[str]:
    """server_metrics.parquet; a failed write is a problem of the run, never its end."""
    try:
        scraper.write(run_dir)
    except Exception as exc:
        return [f"could not write server metrics: {exc}"]
    return [
        f"every scrape of {ep}'s server metrics failed ({scraper.failures[ep]}): see server_metrics.parquet"
        for ep in scraper.all_failed()
    ]


def _shift(f: ResolvedFault, offset: float, slot: int) -> ResolvedFault:
    entry = f.entry.model_copy(update={"at": f.entry.at + offset})
    return dataclasses.replace(f, fault_id=f"{f.fault_id}@{slot}", entry=entry)
