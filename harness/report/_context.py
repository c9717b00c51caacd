"""Turn an ``Analysis`` into the template's context: plain dicts, lists and strings only."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness._text import terminal_safe
from harness.analysis import FORMULAS, LATENCY_METRICS, PERCENTILES, Analysis
from harness.analysis._capacity import HARNESS_LAG_S, capacity_verdict
from harness.analysis._faults import TOLERANCE
from harness.analysis._risks import slo_text
from harness.analysis._rows import column_at
from harness.analysis._scorecard import LAYER_TITLES, LAYERS
from harness.report._rows import contender_rows

__all__ = ["SIDE_BY_SIDE", "build_context", "plain", "shown"]

EXCERPT_CHARS = 200
WORST_N = 10

# (key in the run metrics, label, kind) for the side-by-side table
SIDE_BY_SIDE: tuple[tuple[str, str, str], ...] = (
    ("requests", "logical requests", "int"),
    ("succeeded", "succeeded", "int"),
    ("error_rate", "error rate", "pct"),
    ("throttle_rate", "  of which throttled (HTTP 429)", "pct"),
    ("failure_rate_excl_throttle", "  of which other failures", "pct"),
    ("good_fraction", "good fraction (met every SLO)", "pct"),
    ("goodput_rps", "goodput (good req/s)", "num"),
    ("throughput_rps", "throughput (succeeded req/s)", "num"),
    ("output_tok_s", "output tokens/s (system)", "num"),
    ("user_ttft_p50", "user TTFT p50", "sec"),
    ("user_ttft_p95", "user TTFT p95", "sec"),
    ("user_ttft_p99", "user TTFT p99", "sec"),
    ("ttft_p95", "TTFT p95 (final attempt)", "sec"),
    ("user_ttfot_p50", "user time to first output p50", "sec"),
    ("user_ttfot_p95", "user time to first output p95", "sec"),
    ("reasoning_tokens_per_request", "reasoning tokens per request", "num"),
    ("reasoning_cost_share", "  reasoning share of cost", "pct"),
    ("tpot_p50", "TPOT p50", "sec"),
    ("tpot_p95", "TPOT p95", "sec"),
    ("tpot_share", "  answers with a TPOT (≥ 2 reads)", "pct"),
    ("merged_read_share", "reads carrying several deltas", "pct"),
    ("e2e_p95", "E2E p95 (final attempt)", "sec"),
    ("user_latency_p50", "user latency p50", "sec"),
    ("user_latency_p95", "user latency p95", "sec"),
    ("user_latency_p99", "user latency p99", "sec"),
    ("fallback_rate", "fallback rate", "pct"),
    ("rescue_rate", "rescue rate", "pct"),
    ("attempts_per_request", "attempts per request", "num"),
    ("attempts_429", "HTTP 429 answers (all attempts)", "int"),
    ("cost_usd", "total cost", "usd"),
    ("wasted_cost_usd", "  spent on failed attempts", "usd"),
    ("cost_per_1k_requests", "cost per 1k requests", "usd"),
    ("cost_per_good_request", "cost per good request", "usd"),
    ("usage_reported_share", "token counts reported by vendor", "pct"),
    ("usage_estimated_share", "token counts estimated", "pct"),
    ("max_tokens_overruns", "max_tokens overruns", "int"),
    ("check_failed", "answers failing their check", "int"),
)

PHASE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("requests", "requests", "int"),
    ("seconds", "seconds", "num"),
    ("offered_rps", "req/s", "num"),
    ("error_rate", "error rate", "pct"),
    ("throttle_rate", "throttled", "pct"),
    ("good_fraction", "good", "pct"),
    ("user_ttft_p95", "p95 user TTFT", "sec"),
    ("user_ttfot_p95", "p95 user time to first output", "sec"),
    ("reasoning_tokens_per_request", "reasoning tokens/req", "num"),
    ("user_latency_p95", "p95 user latency", "sec"),
    ("fallback_rate", "fallback", "pct"),
    ("rescue_rate", "rescue", "pct"),
    ("cost_per_good_request", "$/good", "usd"),
)


_REASONING_ROWS = frozenset(
    {"user_ttfot_p50", "user_ttfot_p95", "reasoning_tokens_per_request", "reasoning_cost_share"}
)
"""Rows and columns shown only when some contender reasoned (or an SLO judges time to first output)."""


def _positive(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


_GATE_NAMES = {
    "max_error_rate": "error rate",
    "min_good_fraction": "good fraction",
    "ttft": "TTFT",
    "ttfot": "time to first output",
    "tpot": "TPOT",
    "e2e": "latency",
}


def plain(value: Any) -> Any:
    """JSON-safe plain data: NaN/inf → None, numpy scalars → Python, DataFrames refused."""
    if isinstance(value, pd.DataFrame):
        raise TypeError("DataFrames do not go into templates or JSON; convert them first")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [plain(r) for r in df.to_dict("records")]


def _status(x: Any) -> int | None:
    """An HTTP status as the page shows it: 429, never 429.0 (the table holds statuses as floats, NaN
    when no answer came)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _excerpt(x: Any) -> str | None:
    """Vendor or model text as the page shows it: control, escape and bidi characters made visible
    (``\\x1b``, ``\\u202e``), newlines kept, cut to :data:`EXCERPT_CHARS`. HTML escaping is the template's."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    s = terminal_safe(str(x), keep_newlines=True)
    return s if len(s) <= EXCERPT_CHARS else s[:EXCERPT_CHARS] + "…"


def shown(value: Any) -> Any:
    """``value`` (plain data) with every string, key or value, passed through :func:`terminal_safe`.

    The context carries text from outside the harness besides the excerpts: served and configured model
    names, endpoint targets, probe and fault details, risk lines quoting them. Applied once to the whole
    context, so no field can be forgotten; the same name maps to the same text everywhere, so lookups
    by contender name in the template still match.
    """
    if isinstance(value, str):
        return terminal_safe(value, keep_newlines=True)
    if isinstance(value, dict):
        return {shown(k): shown(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shown(v) for v in value]
    return value


def _slowest(latency: np.ndarray, n: int) -> np.ndarray:
    """Positions of ``pd.Series(latency).nlargest(n)`` (keep="first"), in its order: the largest values,
    descending, ties in row order, then missing values in row order while fewer than ``n``. One
    ``np.partition`` finds the n-th value instead of sorting; only the rows at or above it are ordered."""
    if n <= 0 or not latency.size:
        return np.empty(0, dtype=np.intp)
    nan = np.isnan(latency)
    valid = np.flatnonzero(~nan)
    neg = -latency[valid]  # ascending on the negated values, like pandas
    if valid.size > n:
        kth = np.partition(neg, n - 1)[n - 1]
        cand = np.flatnonzero(neg <= kth)
    else:
        cand = np.arange(valid.size)
    top = valid[cand[np.argsort(neg[cand], kind="stable")][:n]]
    return np.concatenate([top, np.flatnonzero(nan)])[:n]


def _first_per_class(lg: pd.DataFrame, rows: np.ndarray, n: int) -> np.ndarray:
    """Indices into ``rows`` of ``lg.iloc[rows].sort_values("t_intended").drop_duplicates("error_class")
    .head(n)``: each error class's earliest request (by intended start), earliest first, the same rows
    pandas picks (same sort, ties included), with only two columns read."""
    if n <= 0 or not rows.size:
        return np.empty(0, dtype=np.intp)
    # pandas's own sort of the same values (quicksort, NaN last), so equal start times tie as before
    order = pd.Series(column_at(lg, "t_intended", rows, float)).sort_values().index.to_numpy()
    codes, _ = pd.factorize(lg["error_class"].array.take(rows[order]), use_na_sentinel=False)
    _, first = np.unique(codes, return_index=True)
    return order[np.sort(first)[:n]]


def _rows_at(lg: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """The rows at ``positions`` (a few), every column with its dtype. One-row slices joined, not
    ``lg.take``: taking from an Arrow string column made of several chunks joins the whole column first."""
    if not positions.size:
        return lg.iloc[:0]
    return pd.concat([lg.iloc[p : p + 1] for p in positions.tolist()])


def _detailed(a: Analysis, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` of the per-request table with the text columns it leaves to ``a.details`` (ids, answer
    excerpt, error detail) fetched for just these rows."""
    if a.details is None or "record" not in rows.columns:
        return rows
    text = a.details(rows["record"].to_numpy())
    text.index = rows.index
    return rows.assign(**{c: text[c] for c in text.columns})


def _worst(a: Analysis, c: str) -> dict[str, list[dict[str, Any]]]:
    cols = [
        "request_id",
        "prompt_id",
        "prompt_class",
        "phase",
        "endpoint",
        "n_attempts",
        "outcome",
        "error_class",
        "status",
        "user_latency",
        "user_ttft",
        "error_detail",
        "output_excerpt",
        "cost",
        "vendor_request_id",
        "fault_injected",
    ]
    lg = a.logical
    mine = contender_rows(lg).get(c, np.empty(0, dtype=np.intp))
    ok = column_at(lg, "ok", mine, bool)
    slow = _detailed(
        a, _rows_at(lg, mine[ok][_slowest(column_at(lg, "user_latency", mine[ok], float), WORST_N)])
    )[cols]
    failed = _detailed(a, _rows_at(lg, mine[~ok][_first_per_class(lg, mine[~ok], WORST_N)]))[cols]
    out = {}
    for name, df in (("slowest", slow), ("failed", failed)):
        rows = _records(df)
        for r in rows:
            r["output_excerpt"] = _excerpt(r.get("output_excerpt"))
            r["error_detail"] = _excerpt(r.get("error_detail"))
            r["vendor_request_id"] = _excerpt(r.get("vendor_request_id"))
            r["status"] = _status(r.get("status"))
        out[name] = rows
    return out


_PRICE_KEYS = (
    "input_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "output_per_mtok",
    "reasoning_per_mtok",
    "per_request",
)


def _endpoints(manifest_endpoints: Any) -> list[dict[str, Any]]:
    """Endpoints in one fixed shape, whatever the manifest left out."""
    out = []
    for e in manifest_endpoints or []:
        if not isinstance(e, dict):
            continue
        raw = e.get("price")
        price: dict[str, Any] = raw if isinstance(raw, dict) else {}
        tiers = [
            {
                "above": t.get("above_input_tokens"),
                "input": t.get("input_per_mtok"),
                "output": t.get("output_per_mtok"),
            }
            for t in price.get("tiers") or []
            if isinstance(t, dict)
        ]
        target = f"sim: {e['sim']}" if e.get("sim") else str(e.get("base_url") or "")
        r = e.get("reasoning")
        asked = [
            f"{k.replace('_', ' ')} {v}"
            for k, v in (r.items() if isinstance(r, dict) else ())
            if v is not None
        ]
        out.append(
            {
                "name": str(e.get("name", "")),
                "dialect": str(e.get("dialect", "")),
                "model": str(e.get("model", "")),
                "region": str(e.get("region") or ""),
                "target": target,
                "price": {k: price.get(k) for k in _PRICE_KEYS},
                "tiers": tiers,
                "reasoning": ", ".join(asked),
            }
        )
    return out


def _routes(manifest_contenders: Any) -> dict[str, str]:
    out = {}
    for c in manifest_contenders or []:
        if isinstance(c, dict) and c.get("name"):
            chain = [str(c.get("primary") or "?"), *(str(f) for f in c.get("fallbacks") or [])]
            out[str(c["name"])] = " → ".join(chain)
    return out


def build_context(a: Analysis, figures: dict[str, Any], *, scores_declared: bool) -> dict[str, Any]:
    run = a.run_rows()
    req = a.requests
    phases = [{"name": p, "seconds": s} for p, s in a.phases.items()]
    by_phase: dict[str, list[dict[str, Any]]] = {}
    by_class: dict[str, list[dict[str, Any]]] = {}
    if not req.empty:
        for c in a.contenders:
            by_phase[c] = _records(req.loc[(req["contender"] == c) & (req["scope"] == "phase")])
            by_class[c] = _records(req.loc[(req["contender"] == c) & (req["scope"] == "class")])
    lat = a.latency
    latency: list[dict[str, Any]] = []
    if not lat.empty:
        sel = lat.loc[lat["scope"] == "run"]
        for m in LATENCY_METRICS:
            latency.append({"metric": m, "rows": _records(sel.loc[sel["metric"] == m])})
    score = a.scorecard
    score_rows: list[dict[str, Any]] = []
    for layer in LAYERS:
        crits = list(dict.fromkeys(r["criterion"] for r in score["rows"] if r["layer"] == layer))
        for crit in crits:
            cells = {
                r["contender"]: r for r in score["rows"] if r["layer"] == layer and r["criterion"] == crit
            }
            score_rows.append(
                {
                    "layer": LAYER_TITLES[layer],
                    "criterion": crit.replace("_", " "),
                    "cells": [plain(cells.get(c)) for c in a.contenders],
                }
            )
    meta = a.meta
    endpoints = _endpoints(meta.get("endpoints"))
    reasoned = (
        any(_positive(run.get(c, {}).get("reasoning_tokens_per_request")) for c in a.contenders)
        or a.slo.get("ttfot") is not None
    )
    ctx: dict[str, Any] = plain(
        {
            "meta": meta,
            "slo": a.slo,
            "window": meta["window"],
            "contenders": a.contenders,
            "verdict": a.verdict,
            "decision": a.decision,
            "slo_text": slo_text(a.slo),
            "gate_names": [_GATE_NAMES.get(g, g) for g in a.decision.get("gates", [])],
            "ties": any(v.get("tied_with") for v in a.verdict),
            "risks": a.risks,
            "top_risks": a.risks[:5],
            "run": {c: run.get(c, {}) for c in a.contenders},
            "side_by_side": [
                {"key": k, "label": label, "kind": kind}
                for k, label, kind in SIDE_BY_SIDE
                if k not in _REASONING_ROWS or reasoned
            ],
            "phase_columns": [
                {"key": k, "label": label, "kind": kind}
                for k, label, kind in PHASE_COLUMNS
                if k not in _REASONING_ROWS or reasoned
            ],
            "phases": phases,
            "by_phase": by_phase,
            "by_class": by_class,
            "by_turn": {c: _records(a.turns.loc[a.turns["contender"] == c]) for c in a.contenders}
            if len(a.turns)
            else {},
            "latency": latency,
            "percentiles": [f"p{p:g}" for p in PERCENTILES],
            "faults": [
                {
                    "fault_id": w.fault_id,
                    "name": w.name,
                    "kind": w.kind,
                    "target": w.target,
                    "endpoints": list(w.endpoints),
                    "description": w.description,
                    "start": w.start,
                    "end": w.end,
                    "recovery_end": w.recovery_end,
                    "applied": w.applied,
                    "ends_with_run": w.ends_with_run,
                    "source": w.source,
                    "detail": w.detail,
                }
                for w in a.faults
            ],
            "fault_impact": _records(a.fault_impact),
            "exposure": _records(a.exposure),
            "errors": _records(a.errors),
            "scorecard": {
                "rows": score_rows,
                "layers": score["layers"],
                "overall": score["overall"],
                "weights": score["weights"],
                "layer_titles": LAYER_TITLES,
                "declared": scores_declared,
            },
            "worst": {c: _worst(a, c) for c in a.contenders} if not a.logical.empty else {},
            "formulas": [{"name": n, "formula": f} for n, f in FORMULAS],
            "tolerance": TOLERANCE,
            "endpoints": endpoints,
            "routes": _routes(meta.get("contenders")),
            "observability": a.observability,
            "figures": list(figures),
            "timeline_ids": {
                c: f"fig-timeline-{i}" for i, c in enumerate(a.contenders) if f"fig-timeline-{i}" in figures
            },
            "server_ids": {
                c: f"fig-server-{i}" for i, c in enumerate(a.contenders) if f"fig-server-{i}" in figures
            },
            "has_records": not a.logical.empty,
            "capacity": a.capacity,
            "capacity_verdict": capacity_verdict(a.capacity),
            "capacity_ids": {
                c: (f"fig-capacity-load-{i}", f"fig-capacity-latency-{i}")
                for i, c in enumerate(a.contenders)
                if f"fig-capacity-load-{i}" in figures
            },
            "harness_lag_s": HARNESS_LAG_S,
            "caching": a.caching,
        }
    )
    return dict(shown(ctx))
