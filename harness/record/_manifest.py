"""The run manifest: what a run was asked to do (``manifest.json``, written once when the load is about to
start) and how it ended (``end.json``, written once when it ends; absent when the process was killed).

Both are frozen, versioned pydantic models and every reader goes through :func:`read_run`, so a field
that one part writes and another reads is checked by mypy and by validation, never by luck::

    run = read_run(Path("reports/20260101-120000-default"))
    run.manifest.contenders[0].primary     # 'alpha-primary'
    run.interrupted                        # True when end.json is missing or says so

Secrets never appear here: endpoints carry the *name* of their key variable, never a key.
Run folders written before the manifest had a version (one ``manifest.json`` rewritten at the end) are
read too: their end-of-run fields become the ``RunEnd``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness._errors import ReportError
from harness.config import SLO, CapacityNeed, Decision, LoadProfile, Price, Reasoning, Timeouts

__all__ = [
    "END_FILE",
    "MANIFEST_FILE",
    "MANIFEST_VERSION",
    "ContenderInfo",
    "EndReason",
    "EndpointInfo",
    "FaultInfo",
    "Manifest",
    "PromptsInfo",
    "RunEnd",
    "RunInfo",
    "ScenarioInfo",
    "ScheduleInfo",
    "ToxiproxyInfo",
    "WorkerInfo",
    "read_run",
    "write_end",
    "write_manifest",
]

MANIFEST_FILE = "manifest.json"
END_FILE = "end.json"
MANIFEST_VERSION = 3
"""1: one untyped manifest.json rewritten at the end of the run. 2: Manifest + RunEnd, each written once.
3: the scenario's ``decision`` section and each fault's network ``paths``/``scope`` (2 reads as 3 with
their defaults)."""

EndReason = Literal[
    "completed", "deadline", "incomplete", "stopped", "interrupted", "aborted", "workers_lost", "error"
]
"""Why a run ended. ``completed``: every scheduled request finished; ``deadline``: the planned end plus
grace passed with requests in flight; ``incomplete``: the load ran its course, but scheduled requests have
no record (a load worker died, records were lost; the report counts them per contender and ``bakeoff run``
exits 4); ``stopped``/``interrupted``: Ctrl-C or SIGTERM, in-flight requests given the grace period;
``aborted``: a second signal; ``workers_lost``: every load worker disappeared; ``error``: the harness
failed."""

_CLEAN_ENDS = frozenset({"completed", "deadline", "incomplete"})  # the run was not cut short


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioInfo(_Frozen):
    name: str
    description: str = ""
    path: str = ""
    duration_s: float | None = Field(
        None,
        description="the load duration the scenario file gives, when an override (--duration) changed it",
    )


class PromptsInfo(_Frozen):
    path: str = ""
    sha256: str = ""
    count: int = 0
    classes: dict[str, int] = Field(default_factory=dict)


class EndpointInfo(_Frozen):
    name: str
    dialect: str
    model: str
    base_url: str | None = None
    sim: str | None = None
    region: str | None = None
    api_key_env: str | None = Field(None, description="the variable's name; the key itself is never stored")
    stream: bool = True
    price: Price = Field(default_factory=Price)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    proxied: bool = False
    reasoning: Reasoning | None = Field(None, description="the thinking asked of the model, if any")


class ContenderInfo(_Frozen):
    name: str
    primary: str
    fallbacks: tuple[str, ...] = ()
    retries: int = 0
    deadline_s: float = 120.0
    cooldown_s: float = 5.0
    cooldown_after: int = 3

    @property
    def chain(self) -> tuple[str, ...]:
        return (self.primary, *self.fallbacks)


class FaultInfo(_Frozen):
    fault_id: str
    name: str
    description: str = ""
    kind: str
    target: str
    endpoints: tuple[str, ...] = ()
    paths: tuple[str, ...] = Field(
        (), description="network paths the fault acts on, '<contender>@<endpoint>' (empty in older runs)"
    )
    scope: str = Field("", description="what the target named: endpoint, contender or each-contender")
    at_s: float
    duration_s: float | None = None
    spec: dict[str, Any] = Field(default_factory=dict)


class ScheduleInfo(_Frozen):
    logical_requests_per_contender: int = 0
    sha256: str = ""


class ToxiproxyInfo(_Frozen):
    url: str | None = None
    embedded: bool = True


class Manifest(_Frozen):
    """What the run was asked to do, resolved: written once, before the load starts."""

    version: int = MANIFEST_VERSION
    run_id: str
    scenario: ScenarioInfo
    seed: int
    started_at: str
    duration_s: float = Field(description="planned run-clock length (sequential mode: every slot)")
    versions: dict[str, str] = Field(default_factory=dict)
    prompts: PromptsInfo = Field(default_factory=PromptsInfo)
    endpoints: tuple[EndpointInfo, ...] = ()
    contenders: tuple[ContenderInfo, ...] = ()
    load: LoadProfile = Field(default_factory=LoadProfile)
    faults: tuple[FaultInfo, ...] = ()
    slo: SLO = Field(default_factory=SLO)
    decision: Decision = Field(default_factory=Decision)
    monthly_requests: int | None = None
    capacity: CapacityNeed = Field(default_factory=CapacityNeed)
    schedule: ScheduleInfo = Field(default_factory=ScheduleInfo)
    toxiproxy: ToxiproxyInfo = Field(default_factory=ToxiproxyInfo)

    def contender(self, name: str) -> ContenderInfo | None:
        return next((c for c in self.contenders if c.name == name), None)

    def endpoint(self, name: str) -> EndpointInfo | None:
        return next((e for e in self.endpoints if e.name == name), None)


class WorkerInfo(_Frozen):
    """One load worker of a distributed run, as the master saw it at the end."""

    index: int
    id: str
    alive_at_end: bool
    assigned: int = Field(description="logical requests × contenders in its share")
    completed: int = Field(description="final attempts received from it")
    records: int = Field(description="attempt records received from it")
    lost: int = Field(description="requests of its share that never came back as records")


class RunEnd(_Frozen):
    """How the run ended: written once, when it ends (absent when the process was killed)."""

    version: int = MANIFEST_VERSION
    ended_at: str
    ended: EndReason
    elapsed_s: float = Field(description="wall-clock seconds, start-up and clean-up included")
    problems: tuple[str, ...] = ()
    workers: tuple[WorkerInfo, ...] = ()
    search: dict[str, Any] | None = Field(
        None, description="load.search: each contender's steps (run clock, offered rate) and why it ended"
    )

    @property
    def interrupted(self) -> bool:
        return self.ended not in _CLEAN_ENDS


@dataclass(frozen=True)
class RunInfo:
    """A run folder's manifest and, when the run got that far, how it ended."""

    manifest: Manifest
    end: RunEnd | None = None

    @property
    def interrupted(self) -> bool:
        """The run did not end normally (or its process was killed before it could say)."""
        return self.end is None or self.end.interrupted

    def with_manifest(self, **fields: Any) -> RunInfo:
        """A copy whose manifest has ``fields`` replaced (validated: plain dicts and lists are fine)."""
        data = {**self.manifest.model_dump(), **fields}
        return RunInfo(Manifest.model_validate(data), self.end)


def _write_once(path: Path, model: BaseModel) -> None:
    if path.exists():
        raise FileExistsError(f"{path} is written once per run and already exists")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(model.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    _write_once(run_dir / MANIFEST_FILE, manifest)


def write_end(run_dir: Path, end: RunEnd) -> None:
    _write_once(run_dir / END_FILE, end)


_V1_END_KEYS = ("ended_at", "interrupted", "ended", "elapsed_s", "problems", "workers")


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: not a JSON object")
    return data


def _from_v1(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Split a version-1 manifest (end-of-run fields inside) into a manifest and an end."""
    end_fields = {k: data.pop(k) for k in _V1_END_KEYS if k in data}
    for c in data.get("contenders") or []:
        c.pop("retry_on", None)
    end: dict[str, Any] | None = None
    if end_fields.get("ended_at"):
        ended = end_fields.get("ended") or ("interrupted" if end_fields.get("interrupted") else "completed")
        end = {
            "ended_at": end_fields["ended_at"],
            "ended": ended,
            "elapsed_s": end_fields.get("elapsed_s") or 0.0,
            "problems": end_fields.get("problems") or [],
            "workers": end_fields.get("workers") or [],
        }
    return data, end


def _problem(path: Path, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{path}: {where}: {first['msg']}"


def read_run(run_dir: Path) -> RunInfo:
    """The manifest and end of a run folder (``ReportError`` naming the file and field if unreadable)."""
    path = run_dir / MANIFEST_FILE
    data = _json_object(path)
    if data is None:
        raise ReportError(f"{path}: not a run folder (no {MANIFEST_FILE})")
    end_data = _json_object(run_dir / END_FILE)
    version = data.get("version", 1)
    if not isinstance(version, int) or version > MANIFEST_VERSION:
        raise ReportError(
            f"{path}: manifest version {version!r} is newer than this bakeoff understands "
            f"({MANIFEST_VERSION}); upgrade bakeoff to read this run"
        )
    if version == 1:
        data, end_data = _from_v1(dict(data))
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ReportError(_problem(path, exc)) from None
    try:
        end = RunEnd.model_validate(end_data) if end_data is not None else None
    except ValidationError as exc:
        raise ReportError(_problem(run_dir / END_FILE, exc)) from None
    return RunInfo(manifest, end)
