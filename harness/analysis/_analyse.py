"""``analyse()``: records + fault events + manifest → an ``Analysis`` of plain data and DataFrames (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis._faults import fault_impact
from harness.analysis._metrics import good_mask, latency_rows, request_metrics, slo_settings
from harness.analysis._phases import (
    BASELINE,
    FaultWindow,
    Window,
    assign_phases,
    fault_windows,
    measurement_window,
    phase_durations,
)
from harness.analysis._prepare import chains, chunk_gaps, logical_requests
from harness.analysis._risks import risks_and_verdict
from harness.analysis._scorecard import DeclaredScores, scorecard

__all__ = ["Analysis", "analyse", "records_of"]

_CAPACITY_CLASSES = ("http_429", "overloaded")


@dataclass
class Analysis:
    """Everything the report shows. DataFrames for tables, plain dicts/lists for the rest."""

    meta: dict[str, Any]
    slo: dict[str, float | None]
    window: Window
    faults: list[FaultWindow]
    phases: dict[str, float]  # phase → seconds in the measured window, in time order
    logical: pd.DataFrame  # one row per logical request in the window (+ phase, good)
    requests: pd.DataFrame  # contender × scope × group → counts, rates, cost, key percentiles
    latency: pd.DataFrame  # contender × scope × group × metric → full distribution
    errors: pd.DataFrame  # contender × phase × error_class → final requests and attempts
    fault_impact: pd.DataFrame  # fault × contender → detect, recover, lost
    observability: dict[str, dict[str, Any]]
    scorecard: dict[str, Any]
    verdict: list[dict[str, Any]]  # ranked, one per contender
    risks: list[dict[str, Any]]  # {"severity", "contender", "text"}, most severe first
    contenders: list[str] = field(default_factory=list)

    def run_rows(self) -> dict[str, dict[str, Any]]:
        """Whole-window request metrics per contender."""
        if self.requests.empty:
            return {}
        sel = self.requests.loc[self.requests["scope"] == "run"]
        return {str(r["contender"]): r for r in records_of(sel)}


def records_of(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a DataFrame as dicts with string keys."""
    return [{str(k): v for k, v in r.items()} for r in df.to_dict("records")]


def _observability(att: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c, a in att.groupby("contender", sort=True):
        answered = a["status"].notna().to_numpy()
        ok = (a["outcome"] == "ok").to_numpy()
        cls = a["error_class"].astype(object).to_numpy()
        status = pd.to_numeric(a["status"], errors="coerce").to_numpy(dtype=float)
        cap = np.isin(cls, _CAPACITY_CLASSES) | np.isin(status, (503.0, 529.0))
        n_ans = int(answered.sum())
        rl = (a["ratelimit_remaining_requests"].notna() | a["ratelimit_remaining_tokens"].notna()).to_numpy()
        served = a.loc[ok & a["model_served"].notna().to_numpy()]
        pinned = None
        if len(served):
            req = served["model_requested"].astype(str).to_numpy()
            got = served["model_served"].astype(str).to_numpy()
            pinned = float(np.mean([g == r or g.startswith(r) for g, r in zip(got, req, strict=True)]))
        n_ok = int(ok.sum())
        out[str(c)] = {
            "attempts": float(len(a)),
            "capacity_errors": float(cap.sum()),
            "client_errors": float((cls == "client_error").sum()),
            "request_ids": float(a["vendor_request_id"].notna().to_numpy()[answered].mean())
            if n_ans
            else None,
            "ratelimit_headers": float(rl[answered].mean()) if n_ans else None,
            "usage_reported": float((a["usage_source"].to_numpy()[ok] == "reported").mean())
            if n_ok
            else None,
            "model_pinning": pinned,
        }
    return out


def _groups(lg: pd.DataFrame, phase_order: list[str]) -> list[tuple[str, str, str, np.ndarray]]:
    out: list[tuple[str, str, str, np.ndarray]] = []
    for c, raw in sorted(lg.groupby("contender", sort=False).indices.items()):
        idx = np.asarray(raw)
        out.append((str(c), "run", "all", idx))
        sub = lg.iloc[idx]
        ph = sub.groupby("phase", sort=False).indices
        for p in phase_order:
            if p in ph:
                out.append((str(c), "phase", p, idx[np.asarray(ph[p])]))
        for k, cidx in sorted(sub.groupby("prompt_class", sort=False).indices.items()):
            out.append((str(c), "class", str(k), idx[np.asarray(cidx)]))
    return out


def analyse(
    records: pd.DataFrame,
    fault_events: list[dict[str, Any]],
    manifest: dict[str, Any],
    *,
    declared: DeclaredScores | None = None,
    slo_overrides: dict[str, float] | None = None,
) -> Analysis:
    """Analyse one run. Pure: reads nothing, writes nothing.

    >>> a = analyse(read_records(run_dir), read_fault_events(run_dir), read_manifest(run_dir))
    >>> a.run_rows()["vendor-a"]["good_fraction"]
    """
    slo = slo_settings(manifest, slo_overrides)
    t_max = None
    if len(records):
        t_end = pd.to_numeric(records["t_end"], errors="coerce")
        t_max = float(t_end.max()) if t_end.notna().any() else None
    window = measurement_window(manifest, t_max)
    windows = fault_windows(fault_events, manifest, window)
    phases = phase_durations(window, windows)

    t_int = (
        pd.to_numeric(records["t_intended"], errors="coerce").to_numpy(dtype=float)
        if len(records)
        else np.empty(0)
    )
    in_win = (t_int >= window.start) & (t_int < window.end)
    att = records.loc[in_win].reset_index(drop=True) if len(records) else records
    lg = logical_requests(att, manifest)
    lg["phase"] = assign_phases(lg["t_intended"].to_numpy(dtype=float), windows) if len(lg) else []
    good = good_mask(lg, slo)
    lg["good"] = good
    att = (
        att.assign(
            phase=assign_phases(
                pd.to_numeric(att["t_intended"], errors="coerce").to_numpy(dtype=float), windows
            )
        )
        if len(att)
        else att.assign(phase=[])
    )

    # chunk gaps of succeeded final attempts, tagged with their logical row
    fin_ok = att.loc[
        (att["outcome"] == "ok").to_numpy() & att["is_final_attempt"].fillna(False).astype(bool).to_numpy()
    ]
    gaps, owner = chunk_gaps(fin_ok["chunk_times"]) if len(fin_ok) else (np.empty(0), np.empty(0, dtype=int))
    gap_keys = fin_ok["contender"].astype(str).to_numpy()[owner] if len(fin_ok) else np.empty(0, dtype=object)
    gap_phase = fin_ok["phase"].to_numpy()[owner] if len(fin_ok) else np.empty(0, dtype=object)
    gap_class = (
        fin_ok["prompt_class"].fillna("").astype(str).to_numpy()[owner]
        if len(fin_ok)
        else np.empty(0, dtype=object)
    )

    phase_order = list(phases)
    req_rows: list[dict[str, Any]] = []
    lat_rows: list[dict[str, Any]] = []
    for c, scope, grp, idx in _groups(lg, phase_order):
        sub = lg.iloc[idx]
        gsel = gap_keys == c
        if scope == "phase":
            gsel = gsel & (gap_phase == grp)
        elif scope == "class":
            gsel = gsel & (gap_class == grp)
        seconds = phases.get(grp, 0.0) if scope == "phase" else window.length
        key = {"contender": c, "scope": scope, "group": grp}
        req_rows.append({**key, **request_metrics(sub, good[idx], seconds, n_chunk_gaps=int(gsel.sum()))})
        lat_rows.extend({**key, **r} for r in latency_rows(sub, gaps[gsel]))
    requests = pd.DataFrame(req_rows)
    latency = pd.DataFrame(lat_rows)

    if len(att):
        err = att.loc[(att["outcome"] != "ok").to_numpy()]
        a_counts = err.groupby(["contender", "phase", "error_class"], dropna=False).size().rename("attempts")
        lerr = lg.loc[~lg["ok"].to_numpy(dtype=bool)]
        f_counts = (
            lerr.groupby(["contender", "phase", "error_class"], dropna=False).size().rename("final_requests")
        )
        errors = pd.concat([f_counts, a_counts], axis=1).fillna(0).astype(int).reset_index()
        errors["error_class"] = errors["error_class"].fillna("unknown")
    else:
        errors = pd.DataFrame(columns=["contender", "phase", "error_class", "final_requests", "attempts"])

    chain_of = chains(manifest)
    impact = (
        fault_impact(lg, att, windows, chain_of, window)
        if len(lg)
        else fault_impact(lg, att, [], chain_of, window)
    )
    obs = _observability(att) if len(att) else {}
    contenders = [str(c["name"]) for c in manifest.get("contenders") or [] if "name" in c]
    contenders += sorted(set(map(str, lg["contender"].unique())) - set(contenders)) if len(lg) else []
    meta = _meta(manifest, records, window)
    run_rows = {str(r["contender"]): r for r in req_rows if r["scope"] == "run"}
    score = scorecard(run_rows, records_of(impact), obs, declared)
    verdict, risks = risks_and_verdict(
        contenders, run_rows, records_of(impact), obs, score, slo, meta, windows
    )
    return Analysis(
        meta=meta,
        slo=slo,
        window=window,
        faults=windows,
        phases=phases,
        logical=lg,
        requests=requests,
        latency=latency,
        errors=errors,
        fault_impact=impact,
        observability=obs,
        scorecard=score,
        verdict=verdict,
        risks=risks,
        contenders=contenders,
    )


def _meta(manifest: dict[str, Any], records: pd.DataFrame, window: Window) -> dict[str, Any]:
    scen = manifest.get("scenario") or {}
    monthly = manifest.get("monthly_requests")
    return {
        "run_id": str(manifest.get("run_id", "")),
        "scenario": scen.get("name", "") if isinstance(scen, dict) else str(scen),
        "scenario_description": scen.get("description", "") if isinstance(scen, dict) else "",
        "scenario_path": scen.get("path", "") if isinstance(scen, dict) else "",
        "seed": manifest.get("seed"),
        "started_at": manifest.get("started_at"),
        "ended_at": manifest.get("ended_at"),
        "interrupted": bool(manifest.get("interrupted", False)),
        "planned_duration_s": window.planned_duration,
        "elapsed_s": manifest.get("elapsed_s"),
        "versions": manifest.get("versions") or {},
        "prompts": manifest.get("prompts") or {},
        "endpoints": manifest.get("endpoints") or [],
        "contenders": manifest.get("contenders") or [],
        "load": manifest.get("load") or {},
        "monthly_requests": int(monthly) if monthly else None,
        "attempt_records": len(records),
        "skipped_lines": int(records.attrs.get("skipped_lines", 0) or 0),
        "window": {
            "start_s": window.start,
            "end_s": window.end,
            "length_s": window.length,
            "warmup_s": window.warmup,
            "cooldown_s": window.cooldown,
        },
        "baseline_phase": BASELINE,
    }
