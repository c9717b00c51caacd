"""The verdict in words: the one sentence a VP can act on, one row per contender, and SLO failures traced to
the fault window that caused them.

The headline names the recommendation, its reason in numbers, the SLO thresholds, ties and the exposure
caveat; for example::

    Choose alpha: it passes every must-pass SLO (TTFT ≤ 1 s and latency ≤ 6 s per request; error rate ≤ 5.0 %
    and good fraction ≥ 90.0 % per contender) with p95 user TTFT 185 ms against 764 ms for gamma, at $0.00043
    per good request against $0.00056; beta met its 1 s TTFT SLO except during the brownout (20.0 % good
    inside, 100.0 % outside); resilience is not compared: the contenders faced different faults (…).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis._risks import _pct, _secs, _threshold, slo_text
from harness.analysis._rows import column_at, positions

__all__ = ["attribute_failures", "headline", "verdict_rows"]

_KIND_FMT = {"sec": _secs, "pct": _pct}
_ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}


def _usd(x: float) -> str:
    if not (isinstance(x, int | float) and math.isfinite(x)):
        return "n/a"
    digits = max(2, 2 - math.floor(math.log10(abs(x)))) if x else 2
    return f"${x:.{digits}f}"


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "n/a"
    return _usd(value) if kind == "usd" else _KIND_FMT[kind](value)


def _fault_ids(phase: str) -> list[str]:
    return phase.removeprefix("fault:").split("+") if phase.startswith("fault:") else []


# the columns attribute_failures and _dominant_miss read (phase first): taken at a contender's positions
_ATTRIBUTION_COLUMNS = ("phase", "good", "ok", "user_latency", "user_ttft", "user_ttfot", "tpot")


def attribute_failures(
    failing: Sequence[str],
    lg: pd.DataFrame,
    slo: Mapping[str, float | None],
    fault_names: Mapping[str, str],
    unshared: Mapping[str, Sequence[str]],
) -> dict[str, str]:
    """contender → the sentence that ties its SLO failure to a fault window, when one does: it met its SLOs
    outside every fault window and not inside one ("beta met its 1 s TTFT SLO except during the brownout
    (20.0 % good inside, 100.0 % outside)"); or says it failed outside the faults too."""
    out: dict[str, str] = {}
    if lg.empty:
        return out
    min_gf = slo.get("min_good_fraction")
    max_er = slo.get("max_error_rate")
    rows_of = positions(lg["contender"]) if failing else {}
    if rows_of:
        # phases through their few distinct names: a million requests name a handful of phases (a missing
        # phase reads "nan", as the string it would be)
        all_codes, all_names = pd.factorize(lg["phase"])
        names_all = np.asarray([*(str(p) for p in all_names), "nan"], dtype=str)
    for c in failing:
        pos = rows_of.get(c)
        if pos is None or not pos.size:
            continue
        own = all_codes[pos]
        own[own < 0] = len(all_names)
        phase_codes, phase_idx = pd.factorize(own)
        phase_names = names_all[phase_idx]
        columns = {
            k: column_at(lg, k, pos, bool if k in ("good", "ok") else float) for k in _ATTRIBUTION_COLUMNS[1:]
        }
        good = columns["good"]
        ok = columns["ok"]
        in_fault = np.char.startswith(phase_names, "fault:")[phase_codes]
        # in flight across a window's edge: neither inside nor outside (harness.analysis._phases)
        at_edge = np.char.startswith(phase_names, "transition:")[phase_codes]
        outside = ~in_fault & ~at_edge
        if not outside.any():
            continue
        gf_out, er_out = float(good[outside].mean()), float(1 - ok[outside].mean())
        passes_outside = (min_gf is None or gf_out >= min_gf) and (max_er is None or er_out <= max_er)
        if not passes_outside:
            out[c] = f"{c} misses its SLOs outside the fault windows too ({_pct(gf_out)} good there)"
            continue
        worst: tuple[float, str, np.ndarray] | None = None
        for fid in dict.fromkeys(f for p in set(phase_names.tolist()) for f in _fault_ids(p)):
            sel = np.array([fid in _fault_ids(p) for p in phase_names.tolist()], dtype=bool)[phase_codes]
            gf_in = float(good[sel].mean())
            if worst is None or gf_in < worst[0]:
                worst = (gf_in, fid, sel)
        if worst is None:
            continue
        gf_in, fid, sel = worst
        name = fault_names.get(fid, fid)
        only = " only it faced" if fid in (unshared.get(c) or ()) else ""
        what = _dominant_miss({k: v[sel] for k, v in columns.items()}, slo)
        numbers = f"{_pct(gf_in)} good inside, {_pct(gf_out)} outside"
        if what is None:
            out[c] = f"{c} met its SLOs except during the {name}{only}, when its requests failed ({numbers})"
        else:
            out[c] = f"{c} met its {what} SLO except during the {name}{only} ({numbers})"
    return out


def _dominant_miss(g: Mapping[str, np.ndarray], slo: Mapping[str, float | None]) -> str | None:
    """'1 s TTFT' when the TTFT threshold is what most requests inside the window missed; None when failed
    requests outnumber every threshold's misses. ``g``: the requests' columns."""
    ok = np.asarray(g["ok"], dtype=bool)
    lat = np.asarray(g["user_latency"], dtype=float)
    ttft = np.asarray(g["user_ttft"], dtype=float)
    ttfot = np.asarray(g["user_ttfot"], dtype=float)
    values = {
        "ttft": np.where(np.isnan(ttft), lat, ttft),
        "ttfot": np.where(np.isnan(ttfot), lat, ttfot),
        "tpot": np.asarray(g["tpot"], dtype=float),
        "e2e": lat,
    }
    label = {"ttft": "TTFT", "ttfot": "time to first output", "tpot": "TPOT", "e2e": "latency"}
    best, best_n = None, int((~ok).sum())
    for k, v in values.items():
        limit = slo.get(k)
        if limit is None:
            continue
        n = int((ok & ~np.isnan(v) & (v > limit)).sum())
        if n > best_n:
            best, best_n = f"{_threshold(float(limit))} {label[k]}", n
    return best


def _reason(winner: str, other: str | None, decision: Mapping[str, Any]) -> str:
    """'p95 user TTFT 185 ms against 764 ms for gamma': what the winner is proven better at, in numbers."""
    values = decision["values"]
    used = [o for o in decision["objectives"] if o["used"]]
    if other is None:
        shown = [o for o in used if o["key"] in ("ttft_p95", "latency_p95")][:2]
        return ", ".join(f"{o['label']} {_fmt(values[winner][o['key']]['value'], o['kind'])}" for o in shown)
    proven: list[str] = next(
        (b["objectives"] for b in decision["better_on"] if b["better"] == winner and b["worse"] == other), []
    )

    def gap(o: Mapping[str, Any]) -> float:
        return float(o["weight"]) * (
            (values[winner][o["key"]]["score"] or 0.0) - (values[other][o["key"]]["score"] or 0.0)
        )

    ahead = [o for o in used if o["key"] != "cost_per_good" and (o["key"] in proven or gap(o) > 0)]
    picks = sorted(ahead, key=lambda o: (o["key"] not in proven, -gap(o)))[:2]
    parts = []
    for o in picks:
        a, b = values[winner][o["key"]]["value"], values[other][o["key"]]["value"]
        parts.append(f"{o['label']} {_fmt(a, o['kind'])} against {_fmt(b, o['kind'])} for {other}")
    return " and ".join(parts)


def _cost_phrase(winner: str, other: str | None, decision: Mapping[str, Any]) -> str:
    cost = next(o for o in decision["objectives"] if o["key"] == "cost_per_good")
    if not cost["used"]:
        return ""
    mine = decision["values"][winner]["cost_per_good"]["value"]
    text = f", at {_usd(mine)} per good request" if mine is not None else ""
    if text and other is not None:
        theirs = decision["values"][other]["cost_per_good"]["value"]
        text += f" against {_usd(theirs)}" if theirs is not None else ""
    return text


def _blocks(decision: Mapping[str, Any]) -> list[list[str]]:
    out: list[list[str]] = []
    for c in decision["order"]:
        if out and c in decision["ranks"][out[-1][0]]["tied_with"]:
            out[-1].append(c)
        else:
            out.append([c])
    return out


def headline(
    decision: Mapping[str, Any],
    gates: Mapping[str, list[dict[str, Any]]],
    slo: Mapping[str, float | None],
    attributions: Mapping[str, str],
    any_requests: bool,
) -> str:
    """The verdict's first sentence: recommendation, reason in numbers, SLO thresholds, ties, caveats."""
    order: list[str] = decision["order"]
    if not order:
        return "No contenders in this run: nothing to recommend."
    if not any_requests:
        return "No requests completed in the measured window: nothing to recommend."
    thresholds = slo_text(dict(slo))
    passed = decision["passed"]
    blocks = _blocks(decision)
    top = blocks[0]
    clauses: list[str] = []
    if passed[top[0]]:
        runner = next((c for c in order if c not in top), None)
        if len(top) == 1:
            w = top[0]
            reason = _reason(w, runner, decision)
            lead = f"Choose {w}: it passes every must-pass SLO ({thresholds})"
            lead += f" with {reason}" if reason else ""
            lead += _cost_phrase(w, runner, decision)
        else:
            names = ", ".join(top[:-1]) + f" and {top[-1]}"
            a, b = top[0], top[1]
            lead = (
                f"{names} tie for first: each passes every must-pass SLO ({thresholds}) and this run cannot "
                f"prove the difference ({_reason(a, b, decision) or 'every objective within noise'}); "
                "repeat the run and use `bakeoff compare`, or decide on what the run did not measure"
            )
    else:
        best = top[0]
        failed = "; ".join(x["text"] for x in gates.get(best, []) if not x["passed"])
        lead = f"No contender passes every must-pass SLO ({thresholds}); closest is {best} ({failed})"
    clauses.append(lead)
    for c in order:
        if not passed[c] and c in attributions and len(clauses) < 3:
            clauses.append(attributions[c])
    for i, block in enumerate(blocks[1:], start=1):
        if len(block) > 1:
            pos = 1 + sum(len(b) for b in blocks[:i])
            clauses.append(f"{' and '.join(block)} tie for {_ORDINAL.get(pos, f'#{pos}')} place")
    caveat = decision["resilience"].get("text")
    if caveat:
        clauses.append(caveat)
    return "; ".join(clauses) + "."


def verdict_rows(
    contenders: Sequence[str],
    run_rows: Mapping[str, Mapping[str, Any]],
    decision: Mapping[str, Any],
    gates: Mapping[str, list[dict[str, Any]]],
    score: Mapping[str, Any],
    meta: Mapping[str, Any],
    attributions: Mapping[str, str],
) -> list[dict[str, Any]]:
    """One row per contender in rank order: gates, numbers, decision score, rank (with ties) and why."""
    overall = score.get("overall", {})
    rows: list[dict[str, Any]] = []
    for c in decision["order"] or contenders:
        row = run_rows.get(c) or {}
        checks = gates.get(c, [])
        per_req = row["cost_usd"] / row["requests"] if row.get("requests") else math.nan
        monthly = meta.get("monthly_requests")
        crit = [r for r in score.get("rows", []) if r["contender"] == c and r["score"] is not None]
        strengths = [
            f"{r['layer_title']}: {r['reason']}"
            for r in sorted(crit, key=lambda r: -r["score"])[:2]
            if r["score"] >= 4
        ]
        weaknesses = [
            f"{r['layer_title']}: {r['reason']}"
            for r in sorted(crit, key=lambda r: r["score"])[:2]
            if r["score"] <= 2
        ]
        rank = decision["ranks"][c]
        sc = decision["scores"][c]
        why = ["passes every must-pass SLO" if decision["passed"][c] else "fails a must-pass SLO"]
        why.append(f"decision score {sc['score']:.2f} [{sc['low']:.2f}, {sc['high']:.2f}]")
        beaten = list(decision["dominates"].get(c, []))
        if beaten:
            why.append(f"dominates {', '.join(beaten)} (no worse on any objective, proven better on one)")
        if rank["tied_with"]:
            why.append(f"tied with {', '.join(rank['tied_with'])} (difference not proven)")
        if c in attributions:
            why.append(attributions[c])
        rows.append(
            {
                "contender": c,
                "rank": rank["rank"],
                "rank_label": rank["label"],
                "tied_with": rank["tied_with"],
                "slo_pass": bool(decision["passed"][c]),
                "slo_reasons": [x["text"] for x in checks],
                "gates": checks,
                "decision_score": sc["score"],
                "decision_score_low": sc["low"],
                "decision_score_high": sc["high"],
                "score": overall.get(c),
                "requests": row.get("requests", 0.0),
                "good_fraction": row.get("good_fraction", math.nan),
                "error_rate": row.get("error_rate", math.nan),
                "user_ttft_p95": row.get("user_ttft_p95", math.nan),
                "user_latency_p95": row.get("user_latency_p95", math.nan),
                "user_latency_p99": row.get("user_latency_p99", math.nan),
                "cost_per_good_request": row.get("cost_per_good_request", math.nan),
                "cost_per_1k_requests": row.get("cost_per_1k_requests", math.nan),
                "monthly_cost_usd": per_req * monthly if monthly and math.isfinite(per_req) else None,
                "strengths": strengths,
                "weaknesses": weaknesses,
                "reason": ", ".join(why),
            }
        )
    return rows
