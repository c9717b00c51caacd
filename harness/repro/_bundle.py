"""Vendor bundles: one ``.tar.gz`` with what we saw for one contender, enough to replay it elsewhere.

Layout (inside one top folder)::

    README.md        what we saw (numbers, times) and how to replay
    scenario.yaml    the resolved scenario, reduced to the contender's chain, no secrets (key names only)
    prompts.jsonl    the prompts used (or, redacted: ids, classes and token counts only)
    schedule.jsonl   the exact open-model schedule: seq, t_intended, prompt_index, prompt_id
    faults.jsonl     the fault timeline as applied (requested and applied times)
    records.jsonl    the contender's attempt records
    manifest.json    format, source run, seed, schedule and prompt hashes, file list
    SHA256SUMS       sha256 of every other file; ``verify_bundle`` refuses a bundle that does not match

Example::

    path = export_bundle(Path("reports/2026...-default"), "alpha", fault="outage")
    bundle = verify_bundle(path)          # raises ConfigError naming a tampered file
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import math
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness import __version__
from harness._errors import ConfigError, ReportError
from harness.config import EACH_CONTENDER, PromptItem, Scenario, load_prompts, load_scenario, split_path_key
from harness.load import build_schedule, schedule_digest
from harness.record import (
    PROMPTS_FILE,
    SCENARIO_FILE,
    TIME_FIELDS,
    FaultInfo,
    Manifest,
    read_fault_events,
    read_records,
    read_run,
)
from harness.repro._stats import summarise
from harness.tokens import count_tokens

__all__ = ["BUNDLE_FILES", "BUNDLE_FORMAT", "Bundle", "export_bundle", "verify_bundle"]

BUNDLE_FORMAT = "bakeoff-repro/1"
_BUNDLED_FAULT_FIELDS = {"fault_id", "name", "kind", "target", "description", "at_s", "duration_s"}
BUNDLE_FILES = (
    "README.md",
    "scenario.yaml",
    "prompts.jsonl",
    "schedule.jsonl",
    "faults.jsonl",
    "records.jsonl",
    "manifest.json",
)
_SUMS = "SHA256SUMS"
_MAX_MEMBER_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Bundle:
    """A verified bundle held in memory: file name → bytes, plus parsed views."""

    path: Path
    files: dict[str, bytes]

    @property
    def manifest(self) -> dict[str, Any]:
        data = json.loads(self.files["manifest.json"])
        if not isinstance(data, dict):
            raise ConfigError([f"{self.path}: manifest.json is not a JSON object"])
        return data

    @property
    def scenario(self) -> dict[str, Any]:
        data = yaml.safe_load(self.files["scenario.yaml"])
        if not isinstance(data, dict):
            raise ConfigError([f"{self.path}: scenario.yaml is not a mapping"])
        return data

    def jsonl(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.files[name].decode("utf-8").splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------- export


def _clean(value: Any) -> Any:
    """pandas/numpy values → plain JSON values (NaN → None, arrays → lists)."""
    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _shift(row: dict[str, Any], offset: float) -> dict[str, Any]:
    if not offset:
        return row
    for f in TIME_FIELDS:
        if isinstance(row.get(f), int | float):
            row[f] = round(row[f] - offset, 6)
    if isinstance(row.get("chunk_times"), list):
        row["chunk_times"] = [round(t - offset, 6) for t in row["chunk_times"]]
    return row


def _dump_jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in rows).encode("utf-8")


def _used_prompts(manifest: Manifest, run_dir: Path) -> tuple[bytes, Sequence[PromptItem]]:
    """The prompt lines the run used (the first ``count`` items of the file), checked against its hash.

    Reads the run folder's own copy when there is one, else the original file."""
    info = manifest.prompts
    path = run_dir / PROMPTS_FILE
    if not path.is_file():
        path = Path(info.path)
    items, sha, problems = load_prompts(path)
    if problems:
        raise ConfigError([f"prompt set of the run: {p}" for p in problems])
    if sha != info.sha256:
        raise ConfigError(
            [f"{path}: prompt set changed since the run (sha256 {sha[:12]}…, run used {info.sha256[:12]}…)"]
        )
    count = info.count or len(items)
    if count == len(items):
        return path.read_bytes(), items
    lines = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("//")
    ]
    return ("\n".join(lines[:count]) + "\n").encode("utf-8"), items[:count]


def _redacted(items: Sequence[PromptItem]) -> bytes:
    rows = []
    for p in items:
        calls = [c.name + json.dumps(c.arguments) for m in p.messages for c in m.tool_calls or ()]
        text = "\n".join([p.system or "", *(m.content for m in p.messages), *calls])
        rows.append(
            {
                "id": p.id,
                "class": p.prompt_class,
                "redacted": True,
                "input_tokens": count_tokens(text),
                "messages": len(p.messages),
                "max_tokens": p.max_tokens,
                "tools": len(p.tools or []),
            }
        )
    return _dump_jsonl(rows)


def _run_scenario(manifest: Manifest, run_dir: Path) -> Scenario | None:
    """The scenario the run used: the run folder's resolved copy, else the original file when it still
    matches the run's prompts; None when neither is available."""
    copy = run_dir / SCENARIO_FILE
    if copy.is_file():
        with contextlib.suppress(Exception):  # an edited copy: fall through to the original file
            return Scenario.model_validate(yaml.safe_load(copy.read_text(encoding="utf-8")))
    path = Path(manifest.scenario.path)
    try:
        resolved = load_scenario(path, require_keys=False)
    except Exception:  # moved, edited or invalid since the run
        return None
    if resolved.prompts_sha256 == manifest.prompts.sha256:
        return resolved.scenario
    return None


def _scenario_policy(
    manifest: Manifest, contender: str, run_dir: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(contender policy, endpoint extras) from the run's scenario, else from the manifest (which lacks
    retry_on/fallback_on/backoff and headers: defaults are used)."""
    scenario = _run_scenario(manifest, run_dir)
    if scenario is not None:
        for c in scenario.contenders:
            if c.name == contender:
                extras = {
                    ep.name: {
                        "headers": dict(ep.headers),
                        "api_version": ep.api_version,
                        "max_tokens_field": ep.max_tokens_field,
                    }
                    for ep in scenario.endpoints
                }
                return c.model_dump(mode="json", exclude_defaults=True), extras
    row = manifest.contender(contender)
    assert row is not None  # the caller checked the name
    policy = {
        "name": row.name,
        "primary": row.primary,
        "fallbacks": list(row.fallbacks),
        "retries": row.retries,
        "deadline": row.deadline_s,
        "cooldown": row.cooldown_s,
        "cooldown_after": row.cooldown_after,
    }
    return policy, {}


def _endpoints(
    manifest: Manifest, chain: list[str], run_dir: Path, extras: Mapping[str, Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    sims: dict[str, Any] = {}
    sim_file = run_dir / "sim.yaml"
    if sim_file.exists():
        data = yaml.safe_load(sim_file.read_text(encoding="utf-8")) or {}
        sims = {e["name"]: e.get("behaviour", {}) for e in data.get("endpoints", [])}
    out: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    for name in chain:
        e = manifest.endpoint(name)
        if e is None:
            raise ReportError(f"manifest: the chain names endpoint {name!r}, which the run does not list")
        ep: dict[str, Any] = {"name": name, "dialect": e.dialect, "model": e.model}
        if e.sim:
            ep["sim"] = name  # profile keyed by endpoint: the behaviour the run's simulator had
            profiles[name] = sims.get(name, {})
        else:
            ep["base_url"] = e.base_url
        if e.api_key_env:
            ep["api_key_env"] = e.api_key_env
        if e.region:
            ep["region"] = e.region
        for key, value in (extras.get(name) or {}).items():
            if value:
                ep[key] = value
        if not e.stream:
            ep["stream"] = False
        ep["price"] = e.price.model_dump(mode="json", exclude={"litellm"})
        ep["timeouts"] = e.timeouts.model_dump(mode="json")
        out.append(ep)
    return out, profiles


def export_bundle(
    run_dir: Path,
    contender: str,
    *,
    fault: str | None = None,
    redact_prompts: bool = False,
    out: Path | None = None,
) -> Path:
    """Write a vendor bundle for ``contender`` of the run in ``run_dir``; returns the archive path.

    ``fault`` keeps only that fault (by fault id or name); ``redact_prompts`` ships prompt ids, classes
    and token counts instead of their text (and drops answer excerpts from the records).
    """
    run_dir = Path(run_dir)
    manifest = read_run(run_dir).manifest
    names = [c.name for c in manifest.contenders]
    if contender not in names:
        raise ConfigError(
            [f"--contender: no contender {contender!r} in this run (run has: {', '.join(names)})"]
        )
    lanes = names.index(contender)
    load = manifest.load.model_dump(mode="json")
    sequential = manifest.load.mode == "sequential"
    offset = lanes * manifest.load.duration if sequential else 0.0
    policy, extras = _scenario_policy(manifest, contender, run_dir)
    chain = [policy["primary"], *policy.get("fallbacks", [])]

    # faults on this contender's own network paths (runs before paths: on its chain's endpoints) and,
    # sequential runs, of its own slot
    faults: list[FaultInfo] = []
    for f in manifest.faults:
        if sequential and not f.fault_id.endswith(f"@{lanes}"):
            continue
        mine = (
            any(split_path_key(k)[0] == contender for k in f.paths)
            if f.paths
            else bool(set(f.endpoints) & set(chain))
        )
        if not mine:
            continue
        faults.append(f)
    if fault is not None:
        picked = [f for f in faults if fault in (f.fault_id, f.fault_id.split("@")[0], f.name)]
        if not picked:
            known = ", ".join(sorted({f.fault_id.split("@")[0] for f in faults} | {f.name for f in faults}))
            raise ConfigError(
                [f"--fault: no fault {fault!r} touches contender {contender} (known: {known or 'none'})"]
            )
        faults = picked
    keep = {f.fault_id for f in faults}

    # prompts and the exact schedule
    raw_prompts, items = _used_prompts(manifest, run_dir)
    load_model = manifest.load
    if load_model.search is not None:
        raise ReportError(
            "a load.search run has no fixed schedule to replay (its steps were chosen as it ran): "
            "bundle a run with load.sweep or load.stages"
        )
    schedule = build_schedule(load_model, len(items), manifest.seed) if load_model.model == "open" else []
    expected = manifest.schedule.sha256
    if schedule and expected and schedule_digest(schedule) != expected:
        raise ReportError("cannot rebuild the run's schedule (this bakeoff version builds a different one)")
    schedule_rows = [
        {
            "seq": r.seq,
            "t_intended": r.t_intended,
            "prompt_index": r.prompt_index,
            "prompt_id": items[r.prompt_index].id,
        }
        for r in schedule
    ]

    # records and fault events of this contender, on its own clock
    df = read_records(run_dir)
    df = df[df["contender"] == contender]
    records = [_shift({str(k): _clean(v) for k, v in row.items()}, offset) for row in df.to_dict("records")]
    records.sort(key=lambda r: (r.get("seq", 0), r.get("attempt", 1)))
    if redact_prompts:
        for r in records:
            r["output_excerpt"] = None
    events = []
    for raw in read_fault_events(run_dir):
        if raw.get("fault_id") in keep:
            ev = dict(raw)
            for key in ("t_requested", "t_applied"):
                ev[key] = round(float(ev[key]) - offset, 6)
            ev["fault_id"] = str(ev["fault_id"]).split("@")[0]
            events.append(ev)

    endpoints, profiles = _endpoints(manifest, chain, run_dir, extras)
    load["mode"] = "parallel"
    scenario: dict[str, Any] = {
        "name": f"repro-{manifest.scenario.name}-{contender}"[:64],
        "description": f"Replay of contender {contender} from run {manifest.run_id}.",
        "seed": manifest.seed,
        "prompts": "prompts.jsonl",
        "endpoints": endpoints,
        "contenders": [policy],
        "load": {k: v for k, v in load.items() if v is not None},
        "faults": [
            {
                "at": round(f.at_s - offset, 6),
                **({"duration": f.duration_s} if f.duration_s is not None else {}),
                "target": f.target
                if f.target in chain or f.target in (contender, EACH_CONTENDER)
                else next(e for e in f.endpoints if e in chain),
                "fault": {**f.spec, "description": f.description or f.spec.get("kind") or f.kind},
            }
            for f in faults
        ],
        "slo": manifest.slo.model_dump(mode="json", exclude_none=True),
    }
    if profiles:
        scenario["sim_profiles"] = profiles

    prompts_bytes = _redacted(items) if redact_prompts else raw_prompts
    ok_chain = {"endpoints": chain, "primary": policy["primary"]}
    bundle_manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "bakeoff_version": __version__,
        "source": {
            "run_id": manifest.run_id,
            "scenario": manifest.scenario.name,
            "started_at": manifest.started_at,
            "versions": dict(manifest.versions),
        },
        "contender": contender,
        "chain": ok_chain,
        "primary": next(e for e in endpoints if e["name"] == policy["primary"]),
        "seed": manifest.seed,
        "clock_offset_s": offset,
        "schedule": {"requests": len(schedule_rows), "sha256": schedule_digest(schedule)},
        "prompts": {
            "count": len(items),
            "sha256_of_run": manifest.prompts.sha256,
            "redacted": redact_prompts,
        },
        "faults": [f.model_dump(mode="json", include=_BUNDLED_FAULT_FIELDS) for f in faults],
        "files": list(BUNDLE_FILES),
    }
    files: dict[str, bytes] = {
        "scenario.yaml": yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True).encode("utf-8"),
        "prompts.jsonl": prompts_bytes,
        "schedule.jsonl": _dump_jsonl(schedule_rows),
        "faults.jsonl": _dump_jsonl(events),
        "records.jsonl": _dump_jsonl(records),
        "manifest.json": (json.dumps(bundle_manifest, indent=2) + "\n").encode("utf-8"),
    }
    from harness.repro._readme import render_readme

    files["README.md"] = render_readme(
        bundle_manifest, scenario, summarise(records, events, policy["primary"])
    )
    sums = "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n" for n in BUNDLE_FILES)
    files[_SUMS] = sums.encode("ascii")

    top = f"bakeoff-repro-{manifest.run_id}-{contender}"
    target = Path(out) if out is not None else run_dir / f"{top}.tar.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for name in (*BUNDLE_FILES, _SUMS):
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(files[name])
            info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return target


# ----------------------------------------------------------------------------------------------- verify


def _read_archive(path: Path) -> dict[str, bytes]:
    if not path.is_file():
        raise ConfigError([f"{path}: no such bundle"])
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name = member.name.split("/", 1)[-1] if "/" in member.name else member.name
                if "/" in name or name.startswith(".") or member.size > _MAX_MEMBER_BYTES:
                    raise ConfigError([f"{path}: unexpected member {member.name!r}: not a bakeoff bundle"])
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                files[name] = fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ConfigError([f"{path}: not a readable .tar.gz bundle: {exc}"]) from None
    return files


def verify_bundle(path: Path) -> Bundle:
    """Read a bundle and check every file against SHA256SUMS; a mismatch names the file."""
    path = Path(path)
    files = _read_archive(path)
    if _SUMS not in files:
        raise ConfigError([f"{path}: {_SUMS} missing: not a bakeoff bundle, or it was altered"])
    listed: dict[str, str] = {}
    for line in files[_SUMS].decode("ascii", errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        if name:
            listed[name.strip()] = digest.strip()
    problems: list[str] = []
    for name in BUNDLE_FILES:
        if name not in listed:
            problems.append(f"{path}: {name}: not listed in {_SUMS}")
    for name, digest in listed.items():
        if name not in files:
            problems.append(f"{path}: {name}: listed in {_SUMS} but missing from the bundle")
            continue
        got = hashlib.sha256(files[name]).hexdigest()
        if got != digest:
            problems.append(
                f"{path}: {name}: sha256 mismatch (manifest says {digest[:12]}…, file has {got[:12]}…): "
                "the bundle was modified after export"
            )
    for name in sorted(set(files) - set(listed) - {_SUMS}):
        problems.append(f"{path}: {name}: file not listed in {_SUMS}")
    if problems:
        raise ConfigError(problems)
    bundle = Bundle(path, files)
    fmt = bundle.manifest.get("format")
    if fmt != BUNDLE_FORMAT:
        raise ConfigError([f"{path}: bundle format {fmt!r} is not {BUNDLE_FORMAT!r}"])
    return bundle
