"""Command definitions. Each command parses, calls the library and maps ``BakeoffError`` to an exit code."""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from harness import __version__
from harness._errors import BakeoffError, ConfigError
from harness._text import terminal_safe

__all__ = ["cli"]

F = TypeVar("F", bound=Callable[..., Any])


def _errors_to_exit(fn: F) -> F:
    """User mistakes print one line per problem (exit 2); other failures one line (exit 1); no tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            for line in exc.problems:
                click.echo(terminal_safe(line), err=True)
            sys.exit(2)
        except BakeoffError as exc:
            click.echo(terminal_safe(f"error: {exc}"), err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


class _LazyGroup(click.Group):
    """A group whose other commands are imported when named (click's lazy-loading recipe).

    ``bakeoff gate`` need not import the probes, the simulator and the proxy to start, and the
    simulator, proxy and worker commands stay next to the processes they run (their packages'
    ``_command`` modules, also run as ``python -m harness.sim`` etc.).
    """

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy  # command name -> "module:attribute"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, attr = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command) and command.name == cmd_name, self.lazy[cmd_name]
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_LazyGroup,
    lazy={
        "init": "harness.cli._init:init",
        "probe": "harness.cli._probe:probe",
        "prompts": "harness.cli._prompts:prompts",
        "repro": "harness.cli._repro:repro",
        "replay": "harness.cli._repro:replay",
        "sim": "harness.sim._command:sim",
        "proxy": "harness.faults._command:proxy",
        "worker": "harness.load._command:worker",
    },
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="bakeoff")
def cli() -> None:
    """Proof-of-value bake-off for AI inference vendors.

    Sends the same seeded prompt schedule to every contender under load while faults are injected,
    records every attempt and writes one comparative report.
    """


@cli.command()
@click.argument("scenario", required=False, metavar="[SCENARIO]")
@click.option("--seed", type=int, help="Override the scenario's seed.")
@click.option("--duration", help="Override the load duration (e.g. 20s, 2m).")
@click.option(
    "--toxiproxy",
    "toxiproxy_url",
    metavar="URL",
    help="Use a running Toxiproxy (e.g. http://127.0.0.1:8474) instead of the embedded one.",
)
@click.option(
    "--out",
    "out_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder in which the run writes its own folder, <out>/<run-id>/.",
)
@click.option("-q", "--quiet", is_flag=True, help="No live progress (for CI); still prints the report path.")
@click.option(
    "--no-report", is_flag=True, help="Record only; build the report later with 'bakeoff report RUN_DIR'."
)
@click.option(
    "--no-probes", is_flag=True, help="Skip the conformance probes (bad key, malformed input, ...)."
)
@click.option(
    "--billable-overlong-probe",
    is_flag=True,
    help="Send the over-long prompt probe (~2.1M tokens) to real endpoints too; a vendor may bill it. "
    "By default only simulated endpoints get it (the probe reads as not applicable elsewhere).",
)
@click.option(
    "--no-preflight",
    is_flag=True,
    help="Start the load even if an endpoint cannot be reached (by default one unreachable endpoint "
    "stops the run before the load, exit 1).",
)
@click.option(
    "--ground-truth", is_flag=True, help="Simulated vendors log what they sent, for accuracy checks."
)
@click.option(
    "--sim-processes",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Serve the simulated vendors from N processes on one port (for large simulated loads).",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Start a Locust master and N local worker processes (0: load runs in this process).",
)
@click.option(
    "--expect-workers",
    type=click.IntRange(1, 1024),
    help="Wait for this many workers in all (remote ones join with 'bakeoff worker --master').",
)
@click.option(
    "--master-bind",
    default="127.0.0.1",
    show_default=True,
    help="Address the Locust master listens on (loopback unless you say otherwise).",
)
@click.option(
    "--master-port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port the Locust master listens on (default: a free one, printed at start).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve live Prometheus metrics at http://<bind>:PORT/metrics for the whole run (0: a free "
    "port, printed at start). See docs/telemetry.md.",
)
@click.option(
    "--metrics-bind",
    default="127.0.0.1",
    show_default=True,
    help="Address the metrics server listens on (loopback unless you say otherwise).",
)
@click.option(
    "--otlp-endpoint",
    metavar="URL",
    help="Export OpenTelemetry traces (a span per request, a child per attempt) over OTLP/HTTP to URL "
    "(e.g. http://127.0.0.1:4318; /v1/traces is added when URL has no path). Needs bakeoff[otel].",
)
@_errors_to_exit
def run(
    scenario: str | None,
    seed: int | None,
    duration: str | None,
    toxiproxy_url: str | None,
    out_root: Path,
    quiet: bool,
    no_report: bool,
    ground_truth: bool,
    no_probes: bool,
    billable_overlong_probe: bool,
    no_preflight: bool,
    sim_processes: int,
    workers: int,
    expect_workers: int | None,
    master_bind: str,
    master_port: int,
    metrics_port: int | None,
    metrics_bind: str,
    otlp_endpoint: str | None,
) -> None:
    """Run a bake-off: records, report and inputs go to <out>/<run-id>/ (--out: reports/ in the current
    folder by default).

    SCENARIO is a scenario file or the name of a built-in one ("bakeoff scenarios" lists them, e.g.
    brownout or short/brownout); without it, the built-in one-minute default runs (simulated vendors:
    no keys, no Docker).

    Exit codes: 0 done; 1 the run failed; 2 invalid input; 4 scheduled requests have no record (a worker
    died, records lost); 5 no attempt reached a vendor (refused, timed out, key refused); 130 aborted.
    """
    import signal

    from harness.load import ensure_patched

    # Until the run installs its own handlers, SIGTERM stops start-up like Ctrl-C: "aborted", exit 130.
    signal.signal(signal.SIGTERM, _interrupt)
    ensure_patched()  # Locust patches the process (gevent): before anything else opens sockets
    from harness._http import is_loopback
    from harness.config import fault_fit_warnings, find_scenario, load_scenario
    from harness.run import run_scenario

    if not is_loopback(master_bind):
        click.echo(
            f"WARNING: the Locust master will listen on {master_bind}, reachable from other machines; "
            "anyone who can reach it can join as a worker.",
            err=True,
        )
    if otlp_endpoint is not None:
        from harness.run._otlp import EXTRA_MISSING, otlp_available, traces_url

        try:
            traces_url(otlp_endpoint)
        except ValueError as exc:
            raise ConfigError([str(exc)]) from None
        if not otlp_available():
            raise ConfigError([EXTRA_MISSING])
    if metrics_port is not None and not is_loopback(metrics_bind):
        click.echo(
            f"WARNING: the live metrics will be served on {metrics_bind}, reachable from other machines; "
            "anyone who can reach it can read the run's contender, endpoint and fault names and its numbers.",
            err=True,
        )
    resolved = load_scenario(find_scenario(scenario))
    resolved = _override(resolved, seed=seed, duration=duration)
    for line in (*resolved.warnings, *fault_fit_warnings(resolved)):
        click.echo(terminal_safe(line), err=True)
    result = run_scenario(
        resolved,
        out_root=out_root,
        toxiproxy_url=toxiproxy_url,
        quiet=quiet,
        report=not no_report,
        ground_truth=ground_truth,
        workers=workers,
        expect_workers=expect_workers,
        master_bind=master_bind,
        master_port=master_port,
        probes=not no_probes,
        overlong_probe=billable_overlong_probe,
        preflight=not no_preflight,
        sim_processes=sim_processes,
        metrics_port=metrics_port,
        metrics_bind=metrics_bind,
        otlp_endpoint=otlp_endpoint,
        capacity_search=_capacity_search,
    )
    for line in result.problems:
        click.echo(terminal_safe(f"warning: {line}"), err=True)
    click.echo(
        f"{result.logical_requests} logical requests, {result.records} attempts recorded in "
        f"{result.elapsed_s:.1f} s ({result.ended})",
        err=True,
    )
    click.echo(str(result.report if result.report is not None else result.run_dir))
    if result.exit_code == 4:
        click.echo(
            "error: the evidence is incomplete: scheduled requests have no record (see the report)", err=True
        )
    elif result.exit_code == 5:
        click.echo(
            "error: no attempt reached a vendor (each failed to connect, timed out or had its key refused): "
            "check the endpoints and keys (the probes say more)",
            err=True,
        )
    sys.exit(result.exit_code)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _capacity_search(manifest: Any) -> Any:
    """load.search's decisions (harness.analysis), imported only when a search runs, after the load
    process is patched."""
    from harness.analysis import CapacitySearch

    return CapacitySearch(manifest)


def _override(resolved: Any, *, seed: int | None, duration: str | None) -> Any:
    import dataclasses

    from harness._model import parse_duration

    update: dict[str, Any] = {}
    if seed is not None:
        update["seed"] = seed
    if duration is not None:
        try:
            secs = parse_duration(duration)
        except ValueError as exc:
            raise ConfigError([f"--duration: {exc}"]) from None
        if secs <= 0:
            raise ConfigError(["--duration: must be positive"])
        update["load"] = resolved.scenario.load.model_copy(update={"duration": secs})
    if not update:
        return resolved
    planned = resolved.scenario.load.duration
    return dataclasses.replace(
        resolved,
        scenario=resolved.scenario.model_copy(update=update),
        scenario_duration_s=planned if "load" in update else resolved.scenario_duration_s,
    )


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="SCENARIO...")
@click.option(
    "--lint",
    "--no-keys",
    "lint",
    is_flag=True,
    help="Check without secrets (for CI): key variables that are not set are not problems.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON on stdout (problems and warnings still go to stderr); exit codes "
    "unchanged.",
)
@_errors_to_exit
def validate(paths: tuple[str, ...], lint: bool, as_json: bool) -> None:
    """Check scenarios and everything they reference: one line per problem (exit 2 if any).

    SCENARIO is a file or a built-in scenario's name. Every problem of a file is reported in one
    pass, as file:line: field: message; warnings (file:line: warning: ...) do not fail validation.
    """
    from harness.config import fault_fit_warnings, find_scenario, load_scenario
    from harness.dialects import extra_body_problems

    problems: list[str] = []
    results: list[dict[str, object]] = []
    for arg in paths:
        entry: dict[str, object] = {"scenario": arg, "path": None, "ok": False}
        results.append(entry)
        try:
            path = find_scenario(arg)
            entry["path"] = str(path)
            resolved = load_scenario(path, lint=lint)
        except ConfigError as exc:
            for line in exc.warnings:
                click.echo(terminal_safe(line), err=True)
            problems.extend(exc.problems)
            entry.update(problems=list(exc.problems), warnings=list(exc.warnings))
            continue
        conflicts = extra_body_problems(resolved)
        if conflicts:
            problems.extend(conflicts)
            entry.update(problems=conflicts, warnings=list(resolved.warnings))
            continue
        warnings = [*resolved.warnings, *fault_fit_warnings(resolved)]
        for line in warnings:
            click.echo(terminal_safe(line), err=True)
        sc = resolved.scenario
        unused = len(resolved.unused_endpoints())
        counts = [
            _count(len(sc.endpoints), "endpoint") + (f" ({unused} unused)" if unused else ""),
            _count(len(sc.contenders), "contender"),
            _count(len(resolved.prompts), "prompt"),
            _count(len(resolved.faults), "fault"),
        ]
        entry.update(
            ok=True,
            problems=[],
            warnings=warnings,
            counts={
                "endpoints": len(sc.endpoints),
                "unused_endpoints": unused,
                "contenders": len(sc.contenders),
                "prompts": len(resolved.prompts),
                "faults": len(resolved.faults),
            },
        )
        if not as_json:
            click.echo(f"{path}: ok ({', '.join(counts)})")
    if as_json:
        _print_json({"ok": not problems, "lint": lint, "scenarios": results, "problems": problems})
    if problems:
        raise ConfigError(problems)


@cli.command()
def scenarios() -> None:
    """List the built-in scenarios: name (for "bakeoff run NAME"), planned duration, what it tests."""
    from harness.config import builtin_dir, builtin_scenarios

    found = builtin_scenarios()
    width = max((len(s.name) for s in found), default=4)
    click.echo(f"built-in scenarios in {builtin_dir('scenarios')} (run one with: bakeoff run NAME)")
    click.echo(f"{'NAME'.ljust(width)}  DURATION  WHAT IT TESTS")
    for s in found:
        click.echo(f"{s.name.ljust(width)}  {_fmt_duration(s.duration_s).ljust(8)}  {s.summary}")
    click.echo(f"built-in faults: {builtin_dir('faults')}   prompt sets: {builtin_dir('prompts')}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


_SCHEMA_KINDS = {
    "scenario": "a scenario file (scenarios/*.yaml)",
    "fault": "a fault library file (faults/<name>.yaml)",
    "prompt": "one line of a prompt set (prompts/*.jsonl)",
    "sim-profile": "one entry of a scenario's sim_profiles (simulated vendor behaviour)",
    "sim": "the file of bakeoff sim --config (seed and simulated endpoints)",
}


@cli.command()
@click.option(
    "--kind",
    type=click.Choice(list(_SCHEMA_KINDS)),
    default="scenario",
    show_default=True,
    help="Which schema: " + "; ".join(f"{k}: {v}" for k, v in _SCHEMA_KINDS.items()) + ".",
)
def schema(kind: str) -> None:
    """Print the JSON Schema of a user-written file (for editors and CI).

    It accepts what bakeoff validate accepts, durations and rates written as text (500ms, 5/s)
    included; references between names (a contender's primary, a fault's target) are checked by
    bakeoff validate only.
    """
    from pydantic import BaseModel

    from harness.behaviour import SimBehaviour, SimConfig
    from harness.config import FaultFile, PromptItem, Scenario

    models: dict[str, type[BaseModel]] = {
        "scenario": Scenario,
        "fault": FaultFile,
        "prompt": PromptItem,
        "sim-profile": SimBehaviour,
        "sim": SimConfig,
    }
    out = models[kind].model_json_schema()
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema", **out}
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--scores",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Analyst-declared scorecard scores (YAML).",
)
@_errors_to_exit
def report(run_dir: Path, scores: Path | None) -> None:
    """Rebuild report.html, summary.json and CSV tables from a run folder's records alone."""
    from harness.report import write_report

    click.echo(str(write_report(run_dir, scores_file=scores)))


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--slo",
    "slos",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override an SLO for the gate, e.g. --slo ttft=800ms --slo max_error_rate=2%. Repeatable.",
)
@click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write JUnit XML here: one testcase per contender and SLO, failures with the numbers.",
)
@click.option(
    "--github-summary",
    is_flag=True,
    help="Append a markdown table to the file named by $GITHUB_STEP_SUMMARY (GitHub Actions); a note "
    "and nothing else when it is not set.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON on stdout (the lines go to stderr); exit codes unchanged.",
)
@_errors_to_exit
def gate(
    run_dir: Path, slos: tuple[str, ...], junit: Path | None, github_summary: bool, as_json: bool
) -> None:
    """Exit 3 when a contender fails its SLOs (for pipelines); prints one line per contender.

    Exit codes: 0 every contender passed; 1 not a run folder (or unreadable); 2 invalid input (a bad
    --slo); 3 a contender failed a must-pass SLO. docs/ci.md shows a GitHub Actions job.
    """
    import os

    from harness.report import EXIT_SLO_FAILED, evaluate_gate, gate_json, junit_xml, parse_slo_overrides
    from harness.report import github_summary as summary_markdown

    overrides = parse_slo_overrides(list(slos))  # ConfigError: one line per bad --slo, exit 2
    try:
        result = evaluate_gate(run_dir, overrides or None)
    except BakeoffError as exc:
        if as_json:
            _print_json({"passed": False, "error": str(exc)})
        raise
    for line in result.lines:
        click.echo(terminal_safe(line), err=as_json)
    if junit is not None:
        _write_text(junit, junit_xml(result))
        click.echo(f"JUnit XML written to {junit}", err=True)
    if github_summary:
        target = os.environ.get("GITHUB_STEP_SUMMARY")
        if target:
            _write_text(Path(target), summary_markdown(result), append=True)
            click.echo(f"step summary appended to {target}", err=True)
        else:
            click.echo(
                "note: --github-summary: $GITHUB_STEP_SUMMARY is not set (not in GitHub Actions?); "
                "no summary written",
                err=True,
            )
    if as_json:
        _print_json(gate_json(result))
    if not result.passed:
        sys.exit(EXIT_SLO_FAILED)


def _print_json(data: object) -> None:
    """Machine-readable output: one JSON document on stdout, ASCII only (every character a vendor or a
    file could send, control characters and bidi overrides included, arrives as an escape)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False))


def _write_text(path: Path, text: str, *, append: bool = False) -> None:
    """Write (or append) ``text``; the folder is made when missing (``--junit test-results/gate.xml``)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if append else "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise BakeoffError(f"{path}: cannot write: {exc.strerror or exc}") from None


@cli.command()
@click.argument(
    "run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the comparison here (.html for a page, anything else for text); default: print it.",
)
@click.option(
    "--allow-mismatch",
    is_flag=True,
    help="Compare runs of different designs or durations anyway; each mismatch is printed as a warning.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the comparison as JSON on stdout (not with --out)."
)
@_errors_to_exit
def compare(run_dirs: tuple[Path, ...], out: Path | None, allow_mismatch: bool, as_json: bool) -> None:
    """Pool repeated runs of one scenario: mean and 95 % bootstrap interval per metric, every pair compared.

    Runs of different scenarios, designs or durations are refused unless --allow-mismatch.
    Exit codes: 0 compared; 1 a folder is no run folder, or the runs differ (without --allow-mismatch);
    2 invalid input.
    """
    from harness.analysis import compare_runs
    from harness.report import comparison_json, comparison_text, write_comparison

    if as_json and out is not None:
        raise click.UsageError("--json prints the comparison; it does not go with --out")
    if as_json:
        try:
            cmp = compare_runs(list(run_dirs), allow_mismatch=allow_mismatch)
        except BakeoffError as exc:
            _print_json({"error": str(exc)})
            raise
        _print_json(comparison_json(cmp))
    elif out is not None:
        click.echo(str(write_comparison(list(run_dirs), out, allow_mismatch=allow_mismatch)))
    else:
        click.echo(comparison_text(compare_runs(list(run_dirs), allow_mismatch=allow_mismatch)), nl=False)
