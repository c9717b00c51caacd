"""Pool repeated runs of one scenario: mean, spread and 95 % confidence interval per metric and contender.

Two contenders differ on a metric only when their intervals do not overlap; otherwise the comparison
says "difference not proven". One run per contender never proves a difference.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness._errors import ReportError
from harness.analysis._analyse import Analysis, analyse
from harness.analysis._stats import mean_ci

__all__ = ["COMPARE_METRICS", "Comparison", "compare_analyses", "compare_runs"]

# (key in the run metrics, label, which way is better, display kind)
COMPARE_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("good_fraction", "good fraction", "higher", "pct"),
    ("error_rate", "error rate", "lower", "pct"),
    ("throttle_rate", "throttle rate", "lower", "pct"),
    ("goodput_rps", "goodput (req/s)", "higher", "num"),
    ("user_ttft_p50", "user TTFT p50", "lower", "sec"),
    ("user_ttft_p95", "user TTFT p95", "lower", "sec"),
    ("tpot_p50", "TPOT p50", "lower", "sec"),
    ("user_latency_p95", "user latency p95", "lower", "sec"),
    ("rescue_rate", "rescue rate", "higher", "pct"),
    ("cost_per_good_request", "cost per good request", "lower", "usd"),
)


@dataclass
class Comparison:
    scenario: str
    runs: list[str]
    contenders: list[str]
    table: pd.DataFrame  # contender × metric: n, mean, std, ci_low, ci_high, values
    findings: list[dict[str, Any]]  # per metric: best, runner-up, proven?, sentence
    warnings: list[str] = field(default_factory=list)


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"])


def compare_analyses(analyses: list[Analysis]) -> Comparison:
    """Compare already analysed runs (pure)."""
    if not analyses:
        raise ReportError("compare: give at least one run folder")
    names = {a.meta["scenario"] for a in analyses}
    if len(names) > 1:
        raise ReportError(
            f"compare: runs are of different scenarios ({', '.join(sorted(map(str, names)))}); "
            "compare repeats of one scenario"
        )
    warnings: list[str] = []
    seen: set[str] = set()
    unique: list[Analysis] = []
    for a in analyses:
        rid = str(a.meta.get("run_id"))
        if rid in seen:
            warnings.append(f"run {rid} was given more than once; counted once")
            continue
        seen.add(rid)
        unique.append(a)
    analyses = unique
    shas = {a.meta.get("prompts", {}).get("sha256") for a in analyses}
    if len(shas) > 1:
        warnings.append("the runs used different prompt sets (sha256 differs)")
    if any(a.meta.get("interrupted") for a in analyses):
        warnings.append(
            "some runs were interrupted: "
            + ", ".join(a.meta["run_id"] for a in analyses if a.meta.get("interrupted"))
        )
    if len(analyses) < 2:
        warnings.append("one run only: no interval can prove a difference; repeat the run")
    contenders = list(dict.fromkeys(c for a in analyses for c in a.contenders))
    rows: list[dict[str, Any]] = []
    for c in contenders:
        for key, label, better, kind in COMPARE_METRICS:
            vals = [float(a.run_rows().get(c, {}).get(key, math.nan)) for a in analyses]
            ci = mean_ci(vals)
            if kind == "pct" and ci["n"]:  # a share cannot leave [0, 1]
                ci["ci_low"], ci["ci_high"] = max(ci["ci_low"], 0.0), min(ci["ci_high"], 1.0)
            rows.append(
                {
                    "contender": c,
                    "metric": key,
                    "label": label,
                    "better": better,
                    "kind": kind,
                    **ci,
                    "values": json.dumps([None if math.isnan(v) else v for v in vals]),
                }
            )
    table = pd.DataFrame(rows)
    findings: list[dict[str, Any]] = []
    for key, label, better, _kind in COMPARE_METRICS:
        sub = [r for r in rows if r["metric"] == key and r["n"] > 0 and math.isfinite(r["mean"])]
        if len(sub) < 2:
            continue
        sub.sort(key=lambda r: r["mean"], reverse=better == "higher")
        best, second = sub[0], sub[1]
        proven = best["n"] >= 2 and second["n"] >= 2 and not _overlap(best, second)
        who = f"{best['contender']} vs {second['contender']}"
        if proven:
            text = f"{label}: {best['contender']} is better than {second['contender']} (95 % intervals apart)"
        elif best["mean"] == second["mean"] and best["std"] in (0.0, second["std"]):
            text = f"{label}: {who}: no difference (same values)"
        else:
            text = f"{label}: {who}: difference not proven"
        findings.append(
            {
                "metric": key,
                "label": label,
                "best": best["contender"],
                "other": second["contender"],
                "proven": proven,
                "text": text,
            }
        )
    return Comparison(
        scenario=str(next(iter(names))),
        runs=[str(a.meta["run_id"]) for a in analyses],
        contenders=contenders,
        table=table,
        findings=findings,
        warnings=warnings,
    )


def compare_runs(run_dirs: list[Path]) -> Comparison:
    """Read and analyse each run folder, then compare (the only reader in this package)."""
    from harness.record import read_fault_events, read_records, read_run

    dirs = [Path(d) for d in run_dirs]
    analyses = [analyse(read_records(d), read_fault_events(d), read_run(d)) for d in dirs]
    return compare_analyses(analyses)
