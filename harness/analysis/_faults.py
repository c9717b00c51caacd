"""What each fault did to each contender: what changed beyond noise, time to detect and recover, losses.

Groups of logical requests, by their life (``t_intended`` → ``t_end`` of the final attempt):

    inside      the whole life lies in the fault window
    transition  in flight when the fault began or ended: met it for part of its life only; shown apart
    baseline    the whole life lies outside every window (and its recovery period) of a fault that touched
                this contender; those before the first such fault when there are enough, else all of them

    change          = window percentile − baseline percentile (user TTFT and user latency, p50 and p95,
                      succeeded requests), reported when larger than the noise (harness.analysis._noise)
    time to detect  = first reaction − fault start, a reaction being an attempt on a faulted endpoint that
                      ended in error, or an attempt that fell back away from one, whichever comes first
    time to recover = first t ≥ fault end such that the requests asked for in [t, t + W) have a p95 user
                      latency ≤ max(1.5 × baseline p95, baseline p95 + 0.25 s) and an error rate ≤ baseline
                      error rate + 5 points; W holds about 20 requests at the baseline rate (5–30 s)

A fault touches a contender when one of the contender's network paths is among the fault's (the fault
events record them); runs written before paths existed fall back on the endpoints of its chain.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness._percentile import percentile
from harness.analysis._noise import percentile_change
from harness.analysis._phases import FaultWindow, Window, crosses_edge
from harness.analysis._rows import Codes, column_at, is_in, positions

__all__ = [
    "CHANGE_METRICS",
    "NOT_RECOVERED",
    "TOLERANCE",
    "contender_endpoints",
    "fault_impact",
    "lives_overlap",
]

NOT_RECOVERED = "not recovered before the run ended"

TOLERANCE: dict[str, float] = {"p95_factor": 1.5, "p95_slack_s": 0.25, "error_rate_points": 0.05}
_MIN_REQUESTS = 5
_STEP_S = 0.5
_MIN_SPAN_S = 2.0

CHANGE_METRICS: tuple[tuple[str, str, int], ...] = (
    ("user_ttft", "user TTFT", 50),
    ("user_ttft", "user TTFT", 95),
    ("user_latency", "user latency", 50),
    ("user_latency", "user latency", 95),
)
"""(logical column, label, percentile) compared between each fault window and the baseline."""


def contender_endpoints(w: FaultWindow, contender: str, chain: tuple[str, ...]) -> tuple[str, ...]:
    """The endpoints of ``contender`` whose paths fault ``w`` touched (in chain order)."""
    if w.paths:
        mine = {k.rpartition("@")[2] for k in w.paths if k.rpartition("@")[0] == contender}
        return tuple(e for e in chain if e in mine) or tuple(sorted(mine))
    # an older run (one proxy per endpoint, shared): the endpoints of its chain the fault was on
    if w.target == contender:
        return chain
    return tuple(e for e in chain if e in set(w.endpoints))


def lives_overlap(t: np.ndarray, te: np.ndarray, start: float, end: float) -> np.ndarray:
    """Which lives [t, te] overlap [start, end)."""
    out: np.ndarray = (t < end) & ((te > start) | (t >= start))
    return out


def _clean_seconds(window: Window, spans: list[tuple[float, float]]) -> float:
    """Seconds of the measured window outside every span (spans may overlap)."""
    covered = 0.0
    cur_lo = cur_hi = -math.inf
    for lo, hi in sorted((max(a, window.start), min(b, window.end)) for a, b in spans):
        if hi <= lo:
            continue
        if lo > cur_hi:
            covered += max(cur_hi - cur_lo, 0.0) if math.isfinite(cur_lo) else 0.0
            cur_lo, cur_hi = lo, hi
        else:
            cur_hi = max(cur_hi, hi)
    covered += max(cur_hi - cur_lo, 0.0) if math.isfinite(cur_lo) else 0.0
    return max(window.length - covered, 0.0)


def _baseline_mask(
    t: np.ndarray, te: np.ndarray, mine: list[FaultWindow], window: Window
) -> tuple[np.ndarray, float]:
    """Requests whose whole life lies outside every window and recovery period in ``mine``, and the seconds
    they were asked for in: the ones before the first fault when there are enough, else every clean one."""
    clean = np.ones(t.shape, dtype=bool)
    for w in mine:
        clean &= ~lives_overlap(t, te, w.start, w.recovery_end)
    if not mine:
        return clean, window.length
    first = min(w.start for w in mine)
    before = clean & (te <= first)
    if before.sum() >= 2 * _MIN_REQUESTS and first > window.start:
        return before, first - window.start
    return clean, _clean_seconds(window, [(w.start, w.recovery_end) for w in mine])


def _baseline(
    lat: np.ndarray, ok: np.ndarray, sel: np.ndarray, seconds: float
) -> tuple[float, float, float] | None:
    """(p95 user latency, error rate, request rate) of the baseline, or None if too few requests."""
    n = int(sel.sum())
    if n < 2 * _MIN_REQUESTS or seconds <= 0:
        return None
    return percentile(lat[sel & ok], 95), float(1 - ok[sel].mean()), n / seconds


def _time_to_recover(
    t: np.ndarray,
    lat: np.ndarray,
    ok: np.ndarray,
    w: FaultWindow,
    window: Window,
    base: tuple[float, float, float],
    order: np.ndarray | None = None,
) -> tuple[float | None, bool]:
    """(seconds after the fault ended until healthy, whether any window could be judged at all)."""
    base_p95, base_err, rate = base
    span = min(max(20.0 / rate, 5.0), 30.0) if rate > 0 else 30.0
    left = window.end - w.end
    if span > left >= _MIN_SPAN_S:  # a short run: judge on what is left rather than not at all
        span = left
    lat_limit = max(TOLERANCE["p95_factor"] * base_p95, base_p95 + TOLERANCE["p95_slack_s"])
    err_limit = base_err + TOLERANCE["error_rate_points"]
    order = np.argsort(t, kind="stable") if order is None else order
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
    names: Codes | None,
) -> dict[str, Any]:
    """``endpoint``: each request's endpoint as a code of ``names``."""
    hit = {region_of[e] for e in w.endpoints if region_of.get(e)}
    other = [e for e in chain if region_of.get(e) and region_of[e] not in hit] if hit else []
    there = int((rescued & np.isin(endpoint, names.codes_of(other))).sum()) if other and names else 0
    return {"regional": bool(hit), "other_region_fallback": bool(other), "rescued_other_region": there}


def _secs(x: float) -> str:
    return f"{x * 1000:.0f} ms" if abs(x) < 1 else f"{x:.1f} s"


def _changes(
    d: dict[str, np.ndarray], inside: np.ndarray, base: np.ndarray
) -> tuple[dict[str, Any], list[str]]:
    """Columns of every CHANGE_METRICS comparison (``change_judged``: at least one had enough answers on
    both sides to be judged), and one phrase per change beyond noise."""
    cols: dict[str, Any] = {"change_judged": False}
    said: list[str] = []
    ok = d["ok"]
    for col, label, p in CHANGE_METRICS:
        ch = percentile_change(d[col][inside & ok], d[col][base & ok], p)
        cols["change_judged"] = cols["change_judged"] or ch.judged
        key = f"p{p}_{col}"
        cols[f"{key}_s"] = ch.value
        cols[f"baseline_{key}_s"] = ch.baseline
        cols[f"{key}_change_s"] = ch.change
        cols[f"{key}_noise_s"] = ch.noise
        if ch.beyond_noise:
            up = ch.change > 0
            said.append(
                f"p{p} {label} {'rose' if up else 'fell'} from {_secs(ch.baseline)} to {_secs(ch.value)} "
                f"({'+' if up else '−'}{_secs(abs(ch.change))}, noise ±{_secs(ch.noise)})"
            )
    return cols, said


_CHANGE_COLUMNS = [
    f"{prefix}p{p}_{col}{suffix}"
    for col, _label, p in CHANGE_METRICS
    for prefix, suffix in (("", "_s"), ("baseline_", "_s"), ("", "_change_s"), ("", "_noise_s"))
]

COLUMNS = [
    "fault_id",
    "fault",
    "kind",
    "description",
    "contender",
    "affected",
    "endpoints",
    "start_s",
    "end_s",
    "duration_s",
    "requests",
    "lost",
    "loss_rate",
    "transition_requests",
    "transition_lost",
    "baseline_requests",
    *_CHANGE_COLUMNS,
    "change_judged",
    "changed",
    "changes",
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


def fault_impact(
    lg: pd.DataFrame,
    attempts: dict[str, np.ndarray],
    windows: list[FaultWindow],
    chain_of: dict[str, tuple[str, ...]],
    window: Window,
    region_of: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per (fault, contender): affected?, what changed beyond noise, detect/recover times, requests
    and losses inside the window and in its transition group.

    With endpoint regions known, a fault on endpoints of one region is ``regional``: the row then says
    whether the contender's route had an endpoint in another region and how many requests it served there.
    """
    region_of = region_of or {}
    applied = [w for w in windows if w.applied]
    # each contender's rows through positions: one factorize of the column, no object comparisons per name
    if not (applied and len(lg)):
        return _impact_frame([])
    lg_rows = positions(lg["contender"])
    a_codes = Codes(attempts["contender"])
    contenders = sorted(set(lg_rows) | {str(n) for n in a_codes.names})
    lg_cols = {  # name → (column, dtype): each read at one contender's rows at a time
        "t": ("t_intended", float),
        "te": ("t_end", float),
        "ok": ("ok", bool),
        "user_latency": ("user_latency", float),
        "user_ttft": ("user_ttft", float),
        "pf": ("primary_failed", bool),
        "resc": ("rescued", bool),
    }
    endpoint = Codes(lg["endpoint"]) if region_of else None

    def arrays(c: str) -> dict[str, np.ndarray]:
        """The contender's requests and attempts (held for one contender at a time)."""
        pos = lg_rows.get(c, np.empty(0, dtype=np.int64))
        apos = np.flatnonzero(a_codes.codes == a_codes.code(c))
        d = {k: column_at(lg, col, pos, dtype) for k, (col, dtype) in lg_cols.items()}
        d["te"] = np.where(np.isfinite(d["te"]), d["te"], d["t"])
        return {
            **d,
            "ep": endpoint.codes[pos] if endpoint is not None else np.empty(0, dtype=np.int64),
            **{f"a_{k}": attempts[k][apos] for k in ("t_end", "t_dispatch", "ok")},
            "a_rows": apos,
        }

    touched = {
        c: [w for w in applied if not chain_of.get(c) or contender_endpoints(w, c, chain_of.get(c, ()))]
        for c in contenders
    }
    # contender by contender (one contender's arrays held at a time), rows in (fault, contender) order
    row_of: dict[tuple[int, int], dict[str, Any]] = {}
    for ci, c in enumerate(contenders):
        d = arrays(c)
        t, te, ok, lat = d["t"], d["te"], d["ok"], d["user_latency"]
        base_sel, base_s = _baseline_mask(t, te, touched[c], window)  # the contender's, whatever the fault
        base = _baseline(lat, ok, base_sel, base_s)
        t_order: np.ndarray | None = None
        for wi, w in enumerate(applied):
            chain = chain_of.get(c, ())
            mine = contender_endpoints(w, c, chain) if chain else tuple(w.endpoints)
            affected = bool(mine) or not chain or not (w.endpoints or w.paths)
            trans = crosses_edge(t, te, w)
            inside = (t >= w.start) & (t < w.end) & ~trans
            n_in = int(inside.sum())
            lost = int((inside & ~ok).sum())
            changes, said = _changes(d, inside, base_sel) if affected else ({"change_judged": False}, [])
            primary = chain[0] if chain else None
            a_end, a_disp = d["a_t_end"], d["a_t_dispatch"]
            horizon = w.recovery_end
            # the attempts of the fault's span, by position: only their endpoint names are read
            err_at = np.flatnonzero(~d["a_ok"] & (a_end >= w.start) & (a_end <= horizon))
            fb_at = np.flatnonzero((a_disp >= w.start) & (a_disp <= horizon))
            apos = d["a_rows"]
            if mine:  # react to this fault: errors on its endpoints, fallbacks away from them
                targets = list(mine)
                err_at = err_at[is_in(attempts["endpoint"][apos[err_at]], targets)]
                fb_endpoint = attempts["endpoint"][apos[fb_at]]
                away = is_in(attempts["fallback_from"][apos[fb_at]], targets)
                if primary in targets:  # a cooled-down primary is skipped without a fallback_from
                    away |= np.asarray(fb_endpoint != primary, dtype=bool)
                fb_at = fb_at[away]
            elif primary:
                fb_at = fb_at[np.asarray(attempts["endpoint"][apos[fb_at]] != primary, dtype=bool)]
            else:
                fb_at = fb_at[np.asarray(pd.notna(attempts["fallback_from"][apos[fb_at]]), dtype=bool)]
            reactions = np.concatenate([a_end[err_at], a_disp[fb_at]])
            ttd = float(reactions.min() - w.start) if reactions.size and affected else None
            ttr: float | None = None
            status = "recovered"
            if not affected:
                status = "not targeted"
            elif w.ends_with_run:
                status = "fault lasted until the end"
            elif base is None:
                status = "no baseline to compare with"
            else:
                if t_order is None:
                    t_order = np.argsort(t, kind="stable")
                ttr, judged = _time_to_recover(t, lat, ok, w, window, base, t_order)
                if ttr is None:
                    status = (
                        NOT_RECOVERED if judged else "too little of the run left after the fault to judge"
                    )
            row_of[(wi, ci)] = {
                "fault_id": w.fault_id,
                "fault": w.name,
                "kind": w.kind,
                "description": w.description,
                "contender": c,
                "affected": affected,
                "endpoints": ", ".join(mine),
                "start_s": w.start,
                "end_s": w.end,
                "duration_s": w.duration,
                "requests": n_in,
                "lost": lost,
                "loss_rate": lost / n_in if n_in else math.nan,
                "transition_requests": int(trans.sum()),
                "transition_lost": int((trans & ~ok).sum()),
                "baseline_requests": int(base_sel.sum()),
                **changes,
                "changed": bool(said),
                "changes": said,
                "baseline_error_rate": base[1] if base else math.nan,
                "time_to_detect_s": ttd,
                "time_to_recover_s": ttr,
                "recovery": status,
                "primary_failures": int((inside & d["pf"]).sum()),
                "rescued": int((inside & d["resc"]).sum()),
                **_regional(w, chain, region_of, inside & d["resc"], d["ep"], endpoint),
            }
    return _impact_frame([row_of[(wi, ci)] for wi in range(len(applied)) for ci in range(len(contenders))])


def _impact_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("time_to_detect_s", "time_to_recover_s", "changes"):  # keep None / lists as they are
        df[col] = pd.Series([r.get(col) for r in rows], index=df.index, dtype=object)
    return df
