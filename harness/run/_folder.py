"""The run folder: its name, the inputs it carries, and the manifest written once before the load starts."""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
import shutil
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import yaml

from harness import __version__
from harness._errors import RunError
from harness.config import ResolvedFault, ResolvedScenario
from harness.record import (
    PROMPTS_FILE,
    SCENARIO_FILE,
    ContenderInfo,
    EndpointInfo,
    FaultInfo,
    Manifest,
    PromptsInfo,
    ScenarioInfo,
    ScheduleInfo,
    ToxiproxyInfo,
)

__all__ = ["build_manifest", "new_run_dir", "now_utc", "write_inputs"]


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    out = {"bakeoff": __version__, "python": platform.python_version(), "platform": platform.platform()}
    for dist in ("locust", "httpx", "pandas", "plotly", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def new_run_dir(root: Path, name: str) -> tuple[str, Path]:
    """A new, empty ``root/<UTC stamp>-<name>[-n]`` folder and its run id."""
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


def _fault_info(f: ResolvedFault) -> FaultInfo:
    return FaultInfo(
        fault_id=f.fault_id,
        name=f.name,
        description=f.description,
        kind=f.spec.kind,
        target=f.entry.target,
        endpoints=tuple(f.endpoints),
        paths=tuple(f.path_keys),
        scope=f.scope,
        at_s=f.entry.at,
        duration_s=f.entry.duration,
        spec=f.spec.model_dump(mode="json", exclude_defaults=True),
    )


def build_manifest(
    resolved: ResolvedScenario,
    *,
    run_id: str,
    faults: Sequence[ResolvedFault],
    duration_s: float,
    logical_per_contender: int,
    schedule_sha: str,
    toxiproxy_url: str | None,
    embedded_proxy: bool,
    base_urls: Mapping[str, str],
    proxied: set[str],
) -> Manifest:
    """The scenario as resolved, without secrets: key *names* only, never values."""
    sc = resolved.scenario
    classes = resolved.prompts.classes
    return Manifest(
        run_id=run_id,
        scenario=ScenarioInfo(
            name=sc.name,
            description=sc.description,
            path=str(resolved.path),
            duration_s=resolved.scenario_duration_s,
        ),
        seed=sc.seed,
        started_at=now_utc(),
        duration_s=duration_s,
        versions=_versions(),
        prompts=PromptsInfo(
            path=str(resolved.prompts_path),
            sha256=resolved.prompts_sha256,
            count=len(resolved.prompts),
            classes=classes,
        ),
        endpoints=tuple(
            EndpointInfo(
                name=ep.name,
                dialect=ep.dialect,
                model=ep.model,
                base_url=base_urls.get(ep.name, ep.base_url),
                sim=ep.sim,
                region=ep.region,
                api_key_env=ep.api_key_env,
                stream=ep.stream,
                price=resolved.prices[ep.name].model_copy(update={"litellm": None}),
                timeouts=ep.timeouts,
                proxied=ep.name in proxied,
                reasoning=ep.reasoning,
            )
            for ep in sc.endpoints
        ),
        contenders=tuple(
            ContenderInfo(
                name=c.name,
                primary=c.primary,
                fallbacks=tuple(c.fallbacks),
                retries=c.retries,
                deadline_s=c.deadline,
                cooldown_s=c.cooldown,
                cooldown_after=c.cooldown_after,
            )
            for c in sc.contenders
        ),
        load=sc.load,
        faults=tuple(_fault_info(f) for f in faults),
        slo=sc.slo,
        decision=sc.decision,
        monthly_requests=sc.monthly_requests,
        capacity=sc.capacity,
        schedule=ScheduleInfo(logical_requests_per_contender=logical_per_contender, sha256=schedule_sha),
        toxiproxy=ToxiproxyInfo(url=toxiproxy_url, embedded=embedded_proxy),
    )


def write_inputs(resolved: ResolvedScenario, run_dir: Path) -> None:
    """The run folder carries its own inputs, so reports and vendor bundles never depend on files that may
    have moved or changed since: the resolved scenario (it names key variables, holds no key) and prompts."""
    data = resolved.scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = "# The scenario as this run resolved it (overrides applied). API keys are named, never stored.\n"
    (run_dir / SCENARIO_FILE).write_text(
        text + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    copy = run_dir / PROMPTS_FILE
    shutil.copyfile(resolved.prompts_path, copy)
    digest = hashlib.sha256()
    with copy.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != resolved.prompts_sha256:
        raise RunError(f"{resolved.prompts_path}: the prompt set changed after it was validated; run again")
    resolved.prompts.read_from(copy)  # prompts are read when sent: from the run's own copy
