"""``bakeoff probe SCENARIO``: the conformance and security probes alone, without a load phase.

Simulated endpoints are served in this process (they check the placeholder key, as a real vendor
checks yours); real endpoints get their keys from the environment variables the scenario names.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli._main import _errors_to_exit
from harness.probes import REQUESTS, ProbeOptions, ProbeResult

if TYPE_CHECKING:
    from harness.config import Endpoint, ResolvedScenario

__all__ = ["probe"]

_DEFAULTS = ProbeOptions()


def _table(results: list[ProbeResult]) -> list[str]:
    """Aligned lines: endpoint, probe, verdict, layer, what was observed (already terminal-safe)."""
    rows = [(r.endpoint, r.probe, r.verdict, r.layer, r.observed) for r in results]
    widths = [
        max([len(h), *(len(row[i]) for row in rows)])
        for i, h in enumerate(("endpoint", "probe", "", "layer"))
    ]
    head = ("endpoint", "probe", "verdict", "layer", "observed")
    widths[2] = max(widths[2], len("verdict"))
    lines = []
    for row in [head, *rows]:
        cells = [c.ljust(widths[i]) for i, c in enumerate(row[:4])]
        lines.append("  ".join([*cells, row[4]]))
    return lines


@click.command("probe")
@click.argument("scenario")
@click.option("-e", "--endpoint", "endpoints", multiple=True, help="Probe only this endpoint (repeatable).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write probes.jsonl into this folder (a run folder, so its report shows the results).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per result instead of a table.")
@click.option(
    "--skip",
    multiple=True,
    type=click.Choice([*REQUESTS, "tls"]),
    help="Do not send this probe request (repeatable); the probes reading it show n/a.",
)
@click.option(
    "--overlong-tokens",
    type=click.IntRange(0),
    default=_DEFAULTS.overlong_tokens,
    show_default=True,
    help="Length of the over-long prompt in tokens (0 skips it). A vendor that accepts it bills it.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(0.1, 300),
    default=_DEFAULTS.timeout_s,
    show_default=True,
    help="Time limit of each error probe, seconds.",
)
@click.option("--strict", is_flag=True, help="Exit with code 3 when any probe fails.")
@_errors_to_exit
def probe(
    scenario: str,
    endpoints: tuple[str, ...],
    out: Path | None,
    as_json: bool,
    skip: tuple[str, ...],
    overlong_tokens: int,
    timeout_s: float,
    strict: bool,
) -> None:
    """Probe every endpoint once: bad key, malformed input, unknown model, over-long context, max_tokens,
    stream end, usage, request id, rate-limit headers, TLS. One request per probe; no load.

    SCENARIO is a scenario file or a built-in scenario's name.
    """
    from harness._errors import ConfigError
    from harness.config import find_scenario, load_scenario
    from harness.probes import write_probes

    resolved = load_scenario(find_scenario(scenario))
    names = [ep.name for ep in resolved.scenario.endpoints]
    unknown = [e for e in endpoints if e not in names]
    if unknown:
        raise ConfigError(
            [f"--endpoint: unknown endpoint {e!r} (scenario has: {', '.join(names)})" for e in unknown]
        )
    chosen = [ep for ep in resolved.scenario.endpoints if not endpoints or ep.name in endpoints]
    keyless = [ep for ep in chosen if ep.api_key_env is not None and ep.name not in resolved.api_keys]
    if keyless:  # an endpoint no contender uses needs no key to validate, but a probe needs one
        raise ConfigError(
            [f"endpoint {ep.name}: environment variable {ep.api_key_env} is not set" for ep in keyless]
        )
    options = ProbeOptions(timeout_s=timeout_s, overlong_tokens=overlong_tokens, skip=frozenset(skip))
    results = _run(resolved, chosen, options)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = write_probes(out, results)
    if as_json:
        for r in results:
            click.echo(json.dumps(r.to_dict(), ensure_ascii=True))
    else:
        for line in _table(results):
            click.echo(line)
    failed = sum(r.passed is False for r in results)
    passed = sum(r.passed is True for r in results)
    click.echo(
        f"{len(results)} probes on {len(chosen)} endpoints: {passed} passed, {failed} failed, "
        f"{len(results) - passed - failed} not applicable"
        + (f"; written to {path}" if out is not None else ""),
        err=True,
    )
    if strict and failed:
        sys.exit(3)


def _run(resolved: ResolvedScenario, chosen: list[Endpoint], options: ProbeOptions) -> list[ProbeResult]:
    """Serve the simulated endpoints in-thread, build Targets, run the probes."""
    import contextlib

    from harness.client import Target, make_http_client
    from harness.load._plan import SIM_API_KEY
    from harness.probes import run_probes
    from harness.sim import SimConfig, SimEndpoint, serve_in_thread

    sims = [ep for ep in chosen if ep.sim is not None]
    with contextlib.ExitStack() as stack:
        base_urls: dict[str, str] = {ep.name: ep.base_url for ep in chosen if ep.base_url is not None}
        if sims:
            config = SimConfig(
                seed=resolved.scenario.seed,
                endpoints=[
                    SimEndpoint(
                        name=ep.name,
                        dialect=ep.dialect,
                        model=ep.model,
                        api_key=SIM_API_KEY,
                        behaviour=resolved.sim_behaviours[ep.name],
                    )
                    for ep in sims
                ],
            )
            sim = stack.enter_context(serve_in_thread(config))
            base_urls.update(sim.base_urls)
        targets = {
            ep.name: Target(
                endpoint=ep,
                base_url=base_urls[ep.name],
                connect_to=None,
                api_key=SIM_API_KEY if ep.sim is not None else resolved.api_keys.get(ep.name),
                price=resolved.prices[ep.name],
            )
            for ep in chosen
        }
        client = stack.enter_context(make_http_client(max_connections=8))
        return run_probes(targets, client, options=options)
