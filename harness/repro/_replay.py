"""Replay a vendor bundle against one endpoint and compare what happens with what we saw.

The replay scenario has a single endpoint (the bundle's primary, re-pointed at ``--endpoint``), the
contender's routing policy without fallbacks, the same seed, prompts and load (hence the same schedule,
checked by its sha256) and the faults that hit the primary, at the same times. It runs through the
normal ``run_scenario`` path (embedded Toxiproxy + HTTP fault layer), so the process must be patched for
load generation before anything opens sockets; ``replay_bundle`` calls ``harness.load.ensure_patched`` first.

Example::

    result = replay_bundle(Path("bundle.tar.gz"), "http://127.0.0.1:9000/acme/v1", api_key_env="ACME_KEY")
    print(format_comparison(result.rows))
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from harness._errors import ConfigError, RunError
from harness._http import is_loopback
from harness.repro._bundle import Bundle, _clean, verify_bundle
from harness.repro._readme import fmt_s
from harness.repro._stats import summarise

__all__ = ["ReplayResult", "build_replay_scenario", "compare", "format_comparison", "replay_bundle"]

_FILLER = ("amber", "river", "stone", "lantern", "harbour", "meadow", "copper", "willow")


@dataclass
class ReplayResult:
    run_dir: Path
    schedule_identical: bool
    schedule_detail: str
    rows: list[tuple[str, str, str]]
    original: dict[str, Any]
    observed: dict[str, Any]
    first_attempt_agreement: tuple[int, int]  # (same outcome, compared)
    dropped_faults: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _placeholder_prompts(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Redacted bundle: placeholder text of about the same token count per prompt."""
    out = []
    for r in rows:
        n = max(1, int(r.get("input_tokens", 16)) - 8)
        words = " ".join(_FILLER[i % len(_FILLER)] for i in range(n))
        item = {
            "id": r["id"],
            "class": r.get("class", "chat"),
            "messages": [{"role": "user", "content": f"Placeholder for a redacted prompt. {words}"}],
            "max_tokens": int(r.get("max_tokens", 256)),
        }
        out.append(json.dumps(item) + "\n")
    return "".join(out).encode("utf-8")


def build_replay_scenario(
    bundle: Bundle, endpoint: str, *, api_key_env: str | None = None, model: str | None = None
) -> tuple[dict[str, Any], list[str], list[tuple[str, str]]]:
    """The single-endpoint scenario a replay runs, the faults it had to drop (they targeted fallbacks),
    and the run's (fault id, name) of each kept fault, in order.

    The original ids matter: HTTP faults decide per request from ``hash(seed, fault_id, seq, attempt)``,
    so the replay must use the same ids for the same requests to be hit.

    ``endpoint`` is a base URL (what you would give the vendor's SDK), or ``sim`` to replay against a
    simulated vendor with the behaviour the bundle recorded.
    """
    sc = bundle.scenario
    primary_name = bundle.manifest["chain"]["primary"]
    primary = dict(next(e for e in sc["endpoints"] if e["name"] == primary_name))
    contender = dict(sc["contenders"][0])
    ep: dict[str, Any] = {k: v for k, v in primary.items() if k not in ("base_url", "sim", "api_key_env")}
    profiles: dict[str, Any] = {}
    if endpoint == "sim":
        ep["sim"] = primary_name
        profiles[primary_name] = (sc.get("sim_profiles") or {}).get(primary_name, {})
    else:
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                [f"--endpoint: expected a base URL starting with http:// or https://, got {endpoint!r}"]
            )
        host = urlsplit(endpoint).hostname or ""
        if not api_key_env and not is_loopback(host):
            raise ConfigError(
                [
                    f"--endpoint: {host} is not this machine and no key was named: give --api-key-env VAR "
                    "(the variable holding your API key); without one every request would be refused "
                    "and still reach your service"
                ]
            )
        ep["base_url"] = endpoint
        if api_key_env:
            ep["api_key_env"] = api_key_env
    if model:
        ep["model"] = model
    if ep.get("dialect") == "azure-openai" and "sim" not in ep and not ep.get("api_version"):
        ep["api_version"] = "2024-10-21"
    contender["fallbacks"] = []
    kept: list[dict[str, Any]] = []
    ids: list[tuple[str, str]] = []
    dropped: list[str] = []
    listed = bundle.manifest.get("faults", [])
    for i, f in enumerate(sc.get("faults", [])):
        meta = listed[i] if i < len(listed) else {}
        fid = str(meta.get("fault_id", f"f{i + 1}-{f['fault'].get('kind', 'fault')}"))
        if f["target"] in (primary_name, contender["name"]):
            kept.append({**f, "target": primary_name})
            ids.append((fid, str(meta.get("name", f["fault"].get("kind", "fault")))))
        else:
            dropped.append(f"{fid} on {f['target']}")
    out = {
        **{k: v for k, v in sc.items() if k not in ("sim_profiles",)},
        "name": str(sc["name"]).replace("repro-", "replay-", 1)[:64],
        "endpoints": [ep],
        "contenders": [contender],
        "faults": kept,
    }
    if profiles:
        out["sim_profiles"] = profiles
    return out, dropped, ids


def _records_of(run_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from harness.record import read_fault_events, read_records

    df = read_records(run_dir)
    rows = [{str(k): _clean(v) for k, v in r.items()} for r in df.to_dict("records")]
    return rows, read_fault_events(run_dir)


def _schedule_check(
    schedule: Sequence[Mapping[str, Any]], observed: Sequence[Mapping[str, Any]]
) -> tuple[bool, str]:
    firsts = sorted(  # a multi-turn session is one scheduled request: its first turn stands for it
        (r for r in observed if r.get("attempt") == 1 and (r.get("turn") or 1) == 1),
        key=lambda r: int(r["seq"]),
    )
    if len(firsts) != len(schedule):
        return False, f"{len(firsts)} requests sent, schedule has {len(schedule)}"
    for want, got in zip(schedule, firsts, strict=True):
        if (
            int(want["seq"]) != int(got["seq"])
            or want["prompt_id"] != got["prompt_id"]
            or abs(float(want["t_intended"]) - float(got["t_intended"])) > 1e-6
        ):
            return False, f"differs at seq {want['seq']}: {want['prompt_id']}@{want['t_intended']} vs " + (
                f"{got['prompt_id']}@{got['t_intended']}"
            )
    return True, f"identical: {len(schedule)} requests, same seq, prompt and intended time"


def _first_outcomes(records: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    return {int(r["seq"]): str(r.get("error_class") or "ok") for r in records if r.get("attempt") == 1}


def _errs(errors: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none"


def compare(original: Mapping[str, Any], observed: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Rows ``(metric, original, replay)`` for the side-by-side table."""
    rows: list[tuple[str, str, str]] = []

    def add(label: str, key: str, fmt: Callable[[Any], str] = str) -> None:
        rows.append((label, fmt(original[key]), fmt(observed[key])))

    add("logical requests", "requests")
    add("attempts", "attempts")
    add("succeeded", "succeeded")
    add("failed", "failed")
    add("errors (final attempt)", "errors", _errs)
    add("attempts at the primary", "primary_attempts")
    add("primary attempt errors", "primary_errors", _errs)
    add("served by a fallback", "fallbacks")
    for key, label in (
        ("ttft_p50_s", "TTFT p50"),
        ("ttft_p95_s", "TTFT p95"),
        ("e2e_p50_s", "E2E p50"),
        ("e2e_p95_s", "E2E p95"),
    ):
        add(label, key, fmt_s)
    obs_windows = {w["fault_id"]: w for w in observed["windows"]}
    for w in original["windows"]:
        o = obs_windows.get(w["fault_id"])
        tag = f"[{w['name']}]"

        def side(win: Mapping[str, Any] | None, key: str, fmt: Any = str) -> str:
            return fmt(win[key]) if win is not None else "not applied"

        rows.append(
            (
                f"{tag} applied / removed",
                f"{fmt_s(w['start'])} / {fmt_s(w['end'])}",
                f"{fmt_s(o['start'])} / {fmt_s(o['end'])}" if o else "not applied",
            )
        )
        rows.append((f"{tag} requests in window", str(w["requests"]), side(o, "requests")))
        rows.append(
            (f"{tag} primary attempt errors", _errs(w["primary_errors"]), side(o, "primary_errors", _errs))
        )
        rows.append((f"{tag} failed (final)", str(w["failed"]), side(o, "failed")))
        rows.append((f"{tag} TTFT p50", fmt_s(w["ttft_p50_s"]), side(o, "ttft_p50_s", fmt_s)))
    return rows


def format_comparison(rows: Sequence[tuple[str, str, str]]) -> str:
    """A plain-text table: metric | original | replay."""
    head = ("metric", "original", "replay")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def replay_bundle(
    bundle_path: Path,
    endpoint: str,
    *,
    api_key_env: str | None = None,
    model: str | None = None,
    out_root: Path = Path("reports"),
    toxiproxy_url: str | None = None,
    quiet: bool = True,
    report: bool = False,
    environ: Mapping[str, str] | None = None,
    probes: bool = False,
    overlong_probe: bool = False,
) -> ReplayResult:
    """Verify the bundle, run its schedule and faults against ``endpoint``, compare with the original.

    A replay sends the bundle's schedule and nothing else unless asked: ``probes`` adds the conformance
    probes (one request each), ``overlong_probe`` also their over-long prompt (about 2.1M tokens, which a
    vendor that accepts it bills). A non-loopback ``endpoint`` needs ``api_key_env``.
    """
    from harness.load import ensure_patched

    ensure_patched()  # Locust patches the process (gevent): before anything else opens sockets
    from harness.config import load_scenario
    from harness.load import build_schedule, schedule_digest
    from harness.run import run_scenario

    bundle = verify_bundle(bundle_path)
    env = dict(os.environ if environ is None else environ)
    if api_key_env and not env.get(api_key_env):
        raise ConfigError([f"--api-key-env: environment variable {api_key_env} is not set"])
    scenario, dropped, fault_ids = build_replay_scenario(
        bundle, endpoint, api_key_env=api_key_env, model=model
    )
    manifest = bundle.manifest
    with tempfile.TemporaryDirectory(prefix="bakeoff-replay-") as tmp:
        work = Path(tmp)
        (work / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
        prompts = bundle.files["prompts.jsonl"]
        if manifest["prompts"]["redacted"]:
            prompts = _placeholder_prompts(bundle.jsonl("prompts.jsonl"))
        (work / "prompts.jsonl").write_bytes(prompts)
        resolved = load_scenario(work / "scenario.yaml", environ=env, require_keys=api_key_env is not None)
        resolved = dataclasses.replace(
            resolved,
            faults=[
                dataclasses.replace(f, fault_id=fid, name=name)
                for f, (fid, name) in zip(resolved.faults, fault_ids, strict=True)
            ],
        )
        sc = resolved.scenario
        if sc.load.model == "open":
            digest = schedule_digest(build_schedule(sc.load, len(resolved.prompts), sc.seed))
            if digest != manifest["schedule"]["sha256"]:
                raise RunError(
                    "this bakeoff builds a different schedule from the bundle's seed and load "
                    f"({digest[:12]}… vs {manifest['schedule']['sha256'][:12]}…); "
                    "use the version in the bundle: "
                    f"bakeoff {manifest['bakeoff_version']}"
                )
        result = run_scenario(
            resolved,
            out_root=out_root,
            toxiproxy_url=toxiproxy_url,
            quiet=quiet,
            report=report,
            probes=probes or overlong_probe,
            overlong_probe=overlong_probe,
        )
        shutil.copy(work / "scenario.yaml", result.run_dir / "replay-scenario.yaml")
        shutil.copy(work / "prompts.jsonl", result.run_dir / "replay-prompts.jsonl")
    observed_rows, observed_events = _records_of(result.run_dir)
    primary = manifest["chain"]["primary"]
    original = summarise(bundle.jsonl("records.jsonl"), bundle.jsonl("faults.jsonl"), primary)
    observed = summarise(observed_rows, observed_events, primary)
    same, detail = _schedule_check(bundle.jsonl("schedule.jsonl"), observed_rows)
    a, b = _first_outcomes(bundle.jsonl("records.jsonl")), _first_outcomes(observed_rows)
    common = sorted(set(a) & set(b))
    agree = sum(1 for s in common if a[s] == b[s])
    rows = [
        ("schedule", manifest["schedule"]["sha256"][:16] + "…", "identical" if same else "DIFFERENT"),
        *compare(original, observed),
    ]
    rows.append(("first-attempt outcome per seq", "", f"{agree}/{len(common)} the same"))
    out = ReplayResult(
        run_dir=result.run_dir,
        schedule_identical=same,
        schedule_detail=detail,
        rows=rows,
        original=original,
        observed=observed,
        first_attempt_agreement=(agree, len(common)),
        dropped_faults=dropped,
        problems=list(result.problems),
    )
    (result.run_dir / "replay-comparison.json").write_text(
        json.dumps(
            {
                "bundle": str(bundle_path),
                "endpoint": endpoint,
                "schedule_identical": same,
                "schedule_detail": detail,
                "first_attempt_agreement": list(out.first_attempt_agreement),
                "dropped_faults": dropped,
                "rows": rows,
                "original": {k: v for k, v in original.items() if k != "outcomes"},
                "observed": {k: v for k, v in observed.items() if k != "outcomes"},
            },
            indent=2,
            default=str,
        )
        + "\n",
        encoding="utf-8",
    )
    return out
