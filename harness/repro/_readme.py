"""The README.md of a vendor bundle: what we saw, in numbers and times, and how to replay it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["fmt_s", "render_readme"]


def fmt_s(value: Any) -> str:
    """Seconds as ``0.123 s``; ``-`` for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.3f} s"


def _errors(errors: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none"


def render_readme(
    manifest: Mapping[str, Any], scenario: Mapping[str, Any], summary: Mapping[str, Any]
) -> bytes:
    src = manifest["source"]
    primary = manifest["primary"]
    load = scenario["load"]
    lines = [
        f"# bakeoff reproduction bundle: {manifest['contender']} in {src['scenario']}",
        "",
        f"Run `{src['run_id']}` (started {src.get('started_at') or '?'}, "
        f"bakeoff {manifest['bakeoff_version']}).",
        f"Contender **{manifest['contender']}**: primary endpoint `{primary['name']}` "
        f"({primary['dialect']}, model `{primary['model']}`"
        + (f", region {primary['region']}" if primary.get("region") else "")
        + ")"
        + (
            f", fallbacks {', '.join(manifest['chain']['endpoints'][1:])}."
            if len(manifest["chain"]["endpoints"]) > 1
            else "."
        ),
        "",
        "## What we saw",
        "",
        "| | value |",
        "|---|---|",
        f"| logical requests | {summary['requests']} ({summary['attempts']} attempts) |",
        f"| succeeded / failed | {summary['succeeded']} / {summary['failed']} |",
        f"| errors (final attempt) | {_errors(summary['errors'])} |",
        f"| attempts at the primary | {summary['primary_attempts']}; "
        f"failed: {_errors(summary['primary_errors'])} |",
        f"| served by a fallback | {summary['fallbacks']} |",
        f"| TTFT p50 / p95 | {fmt_s(summary['ttft_p50_s'])} / {fmt_s(summary['ttft_p95_s'])} |",
        f"| E2E p50 / p95 | {fmt_s(summary['e2e_p50_s'])} / {fmt_s(summary['e2e_p95_s'])} |",
        "",
        "Times are seconds on the run clock (0 = run start). TTFT = first token − dispatch; E2E = end − "
        "dispatch, over successful final attempts.",
        "",
        "## Fault timeline (as applied)",
        "",
    ]
    if summary["windows"]:
        lines += [
            "| fault | kind | applied | removed | requests in window | failed | errors | TTFT p50 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for w in summary["windows"]:
            lines.append(
                f"| {w['name']} (`{w['fault_id']}`) | {w['kind']} | "
                f"{fmt_s(w['start'])} | {fmt_s(w['end'])} | "
                f"{w['requests']} | {w['failed']} | {_errors(w['errors'])} | {fmt_s(w['ttft_p50_s'])} |"
            )
        for f in manifest["faults"]:
            lines.append(f"\n- `{f['fault_id']}`: {f['description']}")
    else:
        lines.append("No fault was applied to this contender's endpoints.")
    lines += [
        "",
        "## The workload",
        "",
        f"Seed {manifest['seed']}; {load.get('model', 'open')} model, {load.get('arrival', '')} arrivals, "
        f"{load.get('duration')} s; {manifest['schedule']['requests']} scheduled requests "
        f"(schedule sha256 `{manifest['schedule']['sha256']}`). {manifest['prompts']['count']} prompts"
        + (
            " - **redacted**: `prompts.jsonl` holds ids, classes and token counts only; a replay sends "
            "placeholder text of the same length."
            if manifest["prompts"]["redacted"]
            else " in `prompts.jsonl`."
        ),
        "",
        "## Files",
        "",
        "- `scenario.yaml`: the scenario as run, reduced to this contender; API keys appear only as "
        "variable names (`api_key_env`).",
        "- `schedule.jsonl`: `seq`, `t_intended`, `prompt_index`, `prompt_id` of every request.",
        "- `faults.jsonl`: every fault change with its requested and applied time.",
        "- `records.jsonl`: one line per attempt (the bakeoff record schema).",
        "- `manifest.json`, `SHA256SUMS`: provenance and integrity.",
        "",
        "## Replay it",
        "",
        "```",
        "pip install bakeoff",
        "bakeoff repro verify BUNDLE.tar.gz",
        "export MY_KEY=...   # your key; only its variable name is passed",
        "bakeoff replay BUNDLE.tar.gz --endpoint https://your-endpoint/v1 --api-key-env MY_KEY",
        "```",
        "",
        "The replay sends the same prompts on the same schedule to the one endpoint you name (dialect "
        f"`{primary['dialect']}`, model `{primary['model']}` unless `--model` says otherwise), applies the "
        "same faults at the same times through an embedded Toxiproxy and the HTTP fault layer, and prints "
        "observed against original side by side.",
        "",
    ]
    return "\n".join(lines).encode("utf-8")
