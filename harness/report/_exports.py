"""summary.json (verdict, risks, run metrics, faults, scorecard) and CSV exports of the report's tables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.analysis import Analysis, capacity_verdict
from harness.report._context import plain

__all__ = ["CSV_FILES", "SUMMARY_FILE", "summary", "write_exports"]

SUMMARY_FILE = "summary.json"
CSV_FILES = (
    "verdict.csv",
    "metrics.csv",
    "latency.csv",
    "errors.csv",
    "faults.csv",
    "exposure.csv",
    "scorecard.csv",
)


def summary(a: Analysis) -> dict[str, Any]:
    """Plain-data summary of a run: what a pipeline or another tool needs without parsing HTML."""
    out: dict[str, Any] = plain(
        {
            "schema": "bakeoff.summary/1",
            "meta": a.meta,
            "slo": a.slo,
            "phases": a.phases,
            "faults": [
                {
                    "fault_id": w.fault_id,
                    "name": w.name,
                    "kind": w.kind,
                    "target": w.target,
                    "endpoints": list(w.endpoints),
                    "scope": w.scope,
                    "paths": list(w.paths),
                    "start_s": w.start,
                    "end_s": w.end,
                    "applied": w.applied,
                    "detail": w.detail,
                }
                for w in a.faults
            ],
            "headline": a.decision.get("headline"),
            "exposure": a.exposure.to_dict("records"),
            "verdict": a.verdict,
            "decision": a.decision,
            "risks": a.risks,
            "contenders": {c: a.run_rows().get(c, {}) for c in a.contenders},
            "fault_impact": a.fault_impact.to_dict("records"),
            "scorecard": a.scorecard,
            "observability": a.observability,
            "server_metrics": a.server_summary,
        }
    )
    if a.caching:  # only when some attempt read from or wrote to a prompt cache
        out["caching"] = plain(a.caching)
    if a.capacity:  # a stepped load only: a plain one has no knee to report
        out["capacity"] = plain(a.capacity)
        out["capacity_verdict"] = capacity_verdict(a.capacity)
    return out


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_exports(a: Analysis, run_dir: Path) -> list[Path]:
    """Write summary.json and the CSV tables; returns the paths written."""
    import pandas as pd

    out = [run_dir / SUMMARY_FILE]
    _atomic_write(out[0], json.dumps(summary(a), indent=2, allow_nan=False) + "\n")
    verdict_cols = [
        "rank",
        "rank_label",
        "contender",
        "slo_pass",
        "decision_score",
        "decision_score_low",
        "decision_score_high",
        "score",
        "requests",
        "good_fraction",
        "error_rate",
        "user_ttft_p95",
        "user_latency_p95",
        "cost_per_good_request",
        "cost_per_1k_requests",
        "monthly_cost_usd",
        "measured_requests",
        "unequal_share",
        "reason",
    ]
    verdict = pd.DataFrame([{k: v.get(k) for k in verdict_cols} for v in a.verdict], columns=verdict_cols)
    tables = {
        "verdict.csv": verdict,
        "metrics.csv": a.requests,
        "latency.csv": a.latency,
        "errors.csv": a.errors,
        "faults.csv": a.fault_impact.assign(changes=[" | ".join(x or ()) for x in a.fault_impact["changes"]]),
        "exposure.csv": a.exposure,
        "scorecard.csv": pd.DataFrame(
            a.scorecard["rows"],
            columns=["contender", "layer", "layer_title", "criterion", "source", "score", "reason"],
        ),
    }
    for name, df in tables.items():
        path = run_dir / name
        _atomic_write(path, df.to_csv(index=False))
        out.append(path)
    return out
