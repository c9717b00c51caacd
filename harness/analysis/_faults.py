"""What each fault did to each contender: time to detect, time to recover, requests lost.

    time to detect  = first reaction − fault start, a reaction being an attempt on a faulted endpoint that
                      ended in error, or an attempt that fell back away from one, whichever comes first
    time to recover = first t ≥ fault end such that the requests asked for in [t, t + W) have a p95 user
                      latency ≤ max(1.5 × baseline p95, baseline p95 + 0.25 s) and an error rate ≤ baseline
                      error rate + 5 points; W holds about 20 requests at the baseline rate (5–30 s)

The baseline is the contender's 'baseline' phase (before the first fault); when it is too small,
the 60 s before the fault.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness._percentile import percentile
from harness.analysis._phases import FaultWindow, Window

__all__ = ["NOT_RECOVERED", "TOLERANCE", "fault_impact"]

NOT_RECOVERED = "not recovered before the run ended"

TOLERANCE: dict[str, float] = {"p95_factor": 1.5, "p95_slack_s": 0.25, "error_rate_points": 0.05}
_MIN_REQUESTS = 5
_STEP_S = 0.5
_MIN_SPAN_S = 2.0


def _baseline(
    t: np.ndarray, lat: np.ndarray, ok: np.ndarray, start: float, first_fault: float, window: Window
) -> tuple[float, float, float] | None:
    """(p95 user latency, error rate, request rate) before the fault, or None if too few requests."""
    for lo, hi in ((window.start, first_fault), (max(window.start, start - 60.0), start)):
        sel = (t >= lo) & (t < hi)
        if sel.sum() >= 2 * _MIN_REQUESTS and hi > lo:
            return percentile(lat[sel & ok], 95), float(1 - ok[sel].mean()), float(sel.sum() / (hi - lo))
    return None


def _time_to_recover(
    t: np.ndarray,
    lat: np.ndarray,
    ok: np.ndarray,
    w: FaultWindow,
    window: Window,
    base: tuple[float, float, float],
) -> tuple[float | None, bool]:
    """(seconds after the fault ended until healthy, whether any window could be judged at all)."""
    base_p95, base_err, rate = base
    span = min(max(20.0 / rate, 5.0), 30.0) if rate > 0 else 30.0
    left = window.end - w.end
    if span > left >= _MIN_SPAN_S:  # a short run: judge on what is left rather than not at all
        span = left
    lat_limit = max(TOLERANCE["p95_factor"] * base_p95, base_p95 + TOLERANCE["p95_slack_s"])
    err_limit = base_err + TOLERANCE["error_rate_points"]
    order = np.argsort(t, kind="stable")
    ts, ls, oks = t[order], lat[order], ok[order]
    x = w.end
    judged = False
    while x + span <= window.end + 1e-9:
        lo, hi = np.searchsorted(ts, x, "left"), np.searchsorted(ts, x + span, "left")
        if hi - lo >= _MIN_REQUESTS:
            judged = True
            err = 1 - float(oks[lo:hi].mean())
            p95 = percentile(ls[lo:hi][oks[lo:hi]], 95)
            if err <= err_limit and (math.isnan(p95) or math.isnan(base_p95) or p95 <= lat_limit):
                return x - w.end, True
        x += _STEP_S
    return None, judged


def _regional(
    w: FaultWindow,
    chain: tuple[str, ...],
    region_of: dict[str, str],
    rescued: np.ndarray,
    endpoint: np.ndarray,
) -> dict[str, Any]:
    hit = {region_of[e] for e in w.endpoints if region_of.get(e)}
    other = [e for e in chain if region_of.get(e) and region_of[e] not in hit] if hit else []
    return {
        "regional": bool(hit),
        "other_region_fallback": bool(other),
        "rescued_other_region": int((rescued & np.isin(endpoint, other)).sum()) if other else 0,
    }


def fault_impact(
    lg: pd.DataFrame,
    attempts: dict[str, np.ndarray],
    windows: list[FaultWindow],
    chain_of: dict[str, tuple[str, ...]],
    window: Window,
    region_of: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per (fault, contender): affected?, detect/recover times, requests and losses in the window.

    With endpoint regions known, a fault on endpoints of one region is ``regional``: the row then says
    whether the contender's route had an endpoint in another region and how many requests it served there.
    """
    region_of = region_of or {}
    rows: list[dict[str, Any]] = []
    applied = [w for w in windows if w.applied]
    first_fault = min((w.start for w in applied), default=window.end)
    lg_c = lg["contender"].to_numpy(dtype=object) if len(lg) else np.empty(0, dtype=object)
    contenders = sorted(set(lg_c.tolist()) | set(attempts["contender"].tolist())) if len(lg) else []
    per: dict[str, dict[str, np.ndarray]] = {}
    for c in contenders if applied else []:
        sel = lg_c == c
        asel = attempts["contender"] == c
        per[c] = {
            "t": lg["t_intended"].to_numpy(dtype=float)[sel],
            "ok": lg["ok"].to_numpy(dtype=bool)[sel],
            "lat": lg["user_latency"].to_numpy(dtype=float)[sel],
            "pf": lg["primary_failed"].to_numpy(dtype=bool)[sel],
            "resc": lg["rescued"].to_numpy(dtype=bool)[sel],
            "ep": lg["endpoint"].to_numpy(dtype=object)[sel],
            **{
                f"a_{k}": attempts[k][asel]
                for k in ("t_end", "t_dispatch", "ok", "endpoint", "fallback_from")
            },
        }
    for w in applied:
        for c in contenders:
            chain = chain_of.get(c, ())
            affected = not w.endpoints or not chain or bool(set(w.endpoints) & set(chain)) or w.target == c
            d = per[c]
            t, ok, lat = d["t"], d["ok"], d["lat"]
            inside = (t >= w.start) & (t < w.end)
            n_in = int(inside.sum())
            lost = int((inside & ~ok).sum())
            primary = chain[0] if chain else None
            a_end, a_disp = d["a_t_end"], d["a_t_dispatch"]
            horizon = w.recovery_end
            err_sel = ~d["a_ok"] & (a_end >= w.start) & (a_end <= horizon)
            fb_sel = (a_disp >= w.start) & (a_disp <= horizon)
            if w.endpoints:  # react to this fault: errors on its endpoints, fallbacks away from them
                targets = list(w.endpoints)
                err_sel &= np.isin(d["a_endpoint"], targets)
                away = np.isin(d["a_fallback_from"], targets)
                if primary in targets:  # a cooled-down primary is skipped without a fallback_from
                    away |= d["a_endpoint"] != primary
                fb_sel &= away
            elif primary:
                fb_sel &= d["a_endpoint"] != primary
            else:
                fb_sel &= pd.notna(d["a_fallback_from"])
            err_t = a_end[err_sel]
            reactions = np.concatenate([err_t, a_disp[fb_sel]])
            ttd = float(reactions.min() - w.start) if reactions.size and affected else None
            base = _baseline(t, lat, ok, w.start, first_fault, window)
            ttr: float | None = None
            status = "recovered"
            if not affected:
                status = "not targeted"
            elif w.ends_with_run:
                status = "fault lasted until the end"
            elif base is None:
                status = "no baseline to compare with"
            else:
                ttr, judged = _time_to_recover(t, lat, ok, w, window, base)
                if ttr is None:
                    status = (
                        NOT_RECOVERED if judged else "too little of the run left after the fault to judge"
                    )
            rows.append(
                {
                    "fault_id": w.fault_id,
                    "fault": w.name,
                    "kind": w.kind,
                    "description": w.description,
                    "contender": c,
                    "affected": affected,
                    "start_s": w.start,
                    "end_s": w.end,
                    "duration_s": w.duration,
                    "requests": n_in,
                    "lost": lost,
                    "loss_rate": lost / n_in if n_in else math.nan,
                    "p95_user_latency_s": percentile(lat[inside & ok], 95),
                    "baseline_p95_user_latency_s": base[0] if base else math.nan,
                    "baseline_error_rate": base[1] if base else math.nan,
                    "time_to_detect_s": ttd,
                    "time_to_recover_s": ttr,
                    "recovery": status,
                    "primary_failures": int((inside & d["pf"]).sum()),
                    "rescued": int((inside & d["resc"]).sum()),
                    **_regional(w, chain, region_of, inside & d["resc"], d["ep"]),
                }
            )
    cols = [
        "fault_id",
        "fault",
        "kind",
        "description",
        "contender",
        "affected",
        "start_s",
        "end_s",
        "duration_s",
        "requests",
        "lost",
        "loss_rate",
        "p95_user_latency_s",
        "baseline_p95_user_latency_s",
        "baseline_error_rate",
        "time_to_detect_s",
        "time_to_recover_s",
        "recovery",
        "primary_failures",
        "rescued",
        "regional",
        "other_region_fallback",
        "rescued_other_region",
    ]
    df = pd.DataFrame(rows, columns=cols)
    for col in ("time_to_detect_s", "time_to_recover_s"):  # keep None ("no reaction") apart from numbers
        df[col] = pd.Series([r[col] for r in rows], index=df.index, dtype=object)
    return df
