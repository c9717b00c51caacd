"""Capacity of a stepped load (``load.sweep``, ``load.stages`` or ``load.search``): a table per step and
contender, the knee (the highest offered rate at which the contender meets every SLO) and what limited it.
Pure. A search's steps are each contender's own (the step log the run keeps in end.json,
harness.analysis._search); a sweep's and stages' are the load's stage list, shared by every contender.

Per step (the schedule's constant-rate stages, cut to the measured window; a request belongs to the step
in which it was asked for, by ``t_intended``):

    offered rate     = the rate the schedule asked for in that step (requests/s per contender)
    throughput       = requests that succeeded with their final attempt ending inside the step / step seconds
    goodput          = good requests ending inside the step / step seconds  (what the vendor delivered
                       while that rate was offered: it levels off at the vendor's capacity)
    good fraction    = good / requests asked for in the step (errors in the denominator)
    error rate       = failed / requests asked for in the step; throttle rate: final 429s; overload rate:
                       503/529 answers and ``overloaded``
    percentiles      = user TTFT and user latency of the step's succeeded requests; schedule lag of all
    slack            = min(good fraction − slo.min_good_fraction, slo.max_error_rate − error rate)

A step **passes** when its slack is ≥ 0 (the per-request SLOs ttft, ttfot, tpot and e2e are in "good").
The knee is found on the constant-rate steps in order of offered rate: the last passing step ``p`` before
the first failing one ``f``; the sustainable rate is the linear interpolation of the slack to 0 between them,
``r = r_p + (r_f − r_p) · s_p / (s_p − s_f)``, and its uncertainty ``max(r − r_p, r_f − r)``: never less
than half the bracket, and ``r ± uncertainty`` always covers the whole bracket, since the knee can lie
anywhere in it.

The limit is read at the first failing step (``f``), from its requests that were not good:

- ``harness``: the load process could not keep the schedule at or before ``f`` (p95 schedule lag above
  :data:`HARNESS_LAG_S`), or ``f``'s slow requests gained their latency mostly as schedule lag (p50 lag
  grew by at least half the p50 latency's growth over the first step): the rate it offered was not the
  rate asked for, so no sustainable rate is claimed;
- ``quota``: most of them were refused with 429 (or retried through one);
- ``overload``: most were refused with 503/529 (``overloaded``), or they were slow and the latency they
  gained over the first step is mostly time before the first token (queueing for a slot);
- ``errors``: most failed otherwise;
- ``latency``: most succeeded too slowly, the answer itself slowing down (not queueing);
- ``not_reached``: no step failed: it sustains at least the highest step (then no uncertainty).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness._percentile import percentiles
from harness.analysis._rows import positions

__all__ = [
    "CAPACITY_LIMITS",
    "HARNESS_LAG_S",
    "capacity",
    "capacity_steps",
    "capacity_verdict",
    "find_knee",
    "is_stepped",
    "step_windows",
]

HARNESS_LAG_S = 0.5
"""Above this p95 schedule lag in a step, the load process was saturated and the step proves nothing."""

CAPACITY_LIMITS: tuple[str, ...] = ("latency", "errors", "quota", "overload", "harness", "not_reached")

_OVERLOAD_STATUS = (503.0, 529.0)


def is_stepped(load: Any) -> bool:
    """A load the capacity analysis reads: open model, with a sweep or at least two constant-rate stages of
    different rates."""
    if getattr(load, "model", "open") != "open":
        return False
    if getattr(load, "sweep", None) is not None or getattr(load, "search", None) is not None:
        return True
    rates = {float(st.rate) for st in getattr(load, "stages", ()) or () if not st.ramp}
    return len(rates) >= 2


def step_windows(load: Any, start: float, end: float) -> list[dict[str, Any]]:
    """The steps of ``load`` (``effective_stages()``) cut to the measured window [start, end): index,
    times, offered rate (a ramp's mean), ramp flag. Steps wholly outside the window are left out."""
    out: list[dict[str, Any]] = []
    t = 0.0
    prev: float | None = None
    for i, st in enumerate(load.effective_stages()):
        a, b = t, t + float(st.duration)
        t = b
        r1 = float(st.rate)
        r0 = (prev if prev is not None else 0.0) if st.ramp else r1
        prev = r1
        lo, hi = max(a, start), min(b, end)
        if hi - lo <= 1e-9:
            continue
        out.append(
            {
                "step": i + 1,
                "t_start_s": lo,
                "t_end_s": hi,
                "seconds": hi - lo,
                "offered_rps": (r0 + r1) / 2 if st.ramp else r1,
                "ramp": bool(st.ramp and r0 != r1),
            }
        )
    return out


def _rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else math.nan


def capacity_steps(
    lg: pd.DataFrame,
    good: np.ndarray,
    steps: Sequence[Mapping[str, Any]],
    contender: str,
    rows: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The step table of one contender from its logical requests (``lg`` rows of every contender, ``good``
    aligned with them; ``rows``: the contender's positions in ``lg``, when the caller has them)."""
    if rows is not None:
        sel = rows
    elif len(lg):
        sel = np.flatnonzero((lg["contender"] == contender).to_numpy(dtype=bool))
    else:
        sel = np.empty(0, dtype=np.int64)

    def col(name: str, dtype: Any = float) -> np.ndarray:
        # only the contender's rows are converted (an object column's values too)
        return np.asarray(lg[name].take(sel).to_numpy(), dtype=dtype) if len(lg) else np.empty(0, dtype=dtype)

    t_int, t_end = col("t_intended"), col("t_end")
    ok, gd = col("ok", bool), np.asarray(good, dtype=bool)[sel] if len(lg) else np.zeros(0, dtype=bool)
    err = col("error_class", object)
    status = pd.to_numeric(pd.Series(col("status", object)), errors="coerce").to_numpy(dtype=float)
    throttled = col("throttled", bool)
    retried_429 = col("attempts_429") > 0
    overloaded = ~ok & ((err == "overloaded") | np.isin(status, _OVERLOAD_STATUS))
    uttft, ulat, lag = col("user_ttft"), col("user_latency"), col("schedule_lag")
    out: list[dict[str, Any]] = []
    for s in steps:
        a, b, sec = float(s["t_start_s"]), float(s["t_end_s"]), float(s["seconds"])
        ins = (t_int >= a) & (t_int < b)
        ends = (t_end >= a) & (t_end < b)
        n = int(ins.sum())
        bad = ins & ~gd
        quota = bad & (throttled | retried_429)
        over = bad & overloaded & ~quota
        errs = bad & ~ok & ~quota & ~over
        slow = bad & ok & ~quota
        n_ok, n_good = int((ins & ok).sum()), int((ins & gd).sum())
        tt = percentiles(uttft[ins & ok], (50, 95, 99))
        ll = percentiles(ulat[ins & ok], (50, 95, 99))
        lg_p = percentiles(lag[ins], (50, 95))
        row: dict[str, Any] = {
            **dict(s),
            "requests": n,
            "succeeded": n_ok,
            "good": n_good,
            "scheduled_rps": _rate(n, sec),
            "throughput_rps": _rate(int((ends & ok).sum()), sec),
            "goodput_rps": _rate(int((ends & gd).sum()), sec),
            "good_fraction": n_good / n if n else math.nan,
            "error_rate": (n - n_ok) / n if n else math.nan,
            "throttle_rate": int((ins & throttled).sum()) / n if n else math.nan,
            "overload_rate": int((ins & overloaded).sum()) / n if n else math.nan,
            "user_ttft_p50": tt[0],
            "user_ttft_p95": tt[1],
            "user_ttft_p99": tt[2],
            "user_latency_p50": ll[0],
            "user_latency_p95": ll[1],
            "user_latency_p99": ll[2],
            "schedule_lag_p50": lg_p[0],
            "schedule_lag_p95": lg_p[1],
            "schedule_lag_max": float(np.nanmax(lag[ins])) if n and np.isfinite(lag[ins]).any() else math.nan,
            "bad": {
                "quota": int(quota.sum()),
                "overload": int(over.sum()),
                "errors": int(errs.sum()),
                "latency": int(slow.sum()),
            },
        }
        out.append(row)
    return out


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _judge(step: dict[str, Any], slo: Mapping[str, float | None]) -> None:
    """Add ``slack``, ``passed``, ``failed_on`` and ``harness_saturated`` to a step row."""
    min_good = float(slo.get("min_good_fraction") or 0.0)
    max_err_set = slo.get("max_error_rate")
    max_err = 1.0 if max_err_set is None else float(max_err_set)
    gf, er = step.get("good_fraction", math.nan), step.get("error_rate", math.nan)
    lag = step.get("schedule_lag_p95", math.nan)
    step["harness_saturated"] = _finite(lag) and lag > HARNESS_LAG_S
    if not step.get("requests") or not _finite(gf) or not _finite(er):
        step["slack"], step["passed"], step["failed_on"] = math.nan, None, []
        return
    failed_on = []
    if gf < min_good:
        failed_on.append("min_good_fraction")
    if er > max_err:
        failed_on.append("max_error_rate")
    step["slack"] = min(gf - min_good, max_err - er)
    step["passed"] = not failed_on
    step["failed_on"] = failed_on


def _limit(fail: dict[str, Any], base: dict[str, Any] | None) -> str:
    """What limited the contender at its first failing step (see the module's docstring)."""
    bad = fail.get("bad") or {}
    order = ("quota", "overload", "errors", "latency")  # ties go to the more specific cause
    top = max(order, key=lambda k: (int(bad.get(k, 0)), -order.index(k)))
    if top != "latency" or not bad.get("latency"):
        return top if bad.get(top) else "latency"
    if base is not None:
        d_lat = fail.get("user_latency_p50", math.nan) - base.get("user_latency_p50", math.nan)
        d_ttft = fail.get("user_ttft_p50", math.nan) - base.get("user_ttft_p50", math.nan)
        d_lag = fail.get("schedule_lag_p50", 0.0) - base.get("schedule_lag_p50", 0.0)
        if _finite(d_lat) and d_lat > 0 and _finite(d_lag) and d_lag >= 0.5 * d_lat:
            return "harness"  # the time added is mostly the load process sending late
        if _finite(d_lat) and _finite(d_ttft) and d_lat > 0 and d_ttft >= 0.5 * d_lat:
            return "overload"  # the time added is mostly waiting before the first token: a queue
    return "latency"


def find_knee(steps: list[dict[str, Any]], slo: Mapping[str, float | None]) -> dict[str, Any]:
    """The knee of one contender's step table (rows as :func:`capacity_steps` makes them; a hand-made
    table needs ``offered_rps``, ``requests``, ``good_fraction``, ``error_rate``, ``schedule_lag_p95`` and
    ``bad``, plus ``user_latency_p50`` / ``user_ttft_p50`` / ``schedule_lag_p50`` to tell queueing and a
    late load process from slow answers).

    Returns ``{sustainable_rps, uncertainty_rps, limit, bracket_rps, note, steps}``; the rows are
    judged in place (``slack``, ``passed``, ``failed_on``, ``harness_saturated``).
    """
    for s in steps:
        _judge(s, slo)
    judged = sorted(
        (s for s in steps if not s.get("ramp") and s.get("passed") is not None),
        key=lambda s: float(s["offered_rps"]),
    )
    out: dict[str, Any] = {
        "sustainable_rps": None,
        "uncertainty_rps": None,
        "limit": None,
        "bracket_rps": None,
        "note": "",
        "steps": steps,
    }
    if not judged:
        out["note"] = "no constant-rate step has requests in the measured window"
        return out
    passes: list[dict[str, Any]] = []
    for s in judged:
        if s["harness_saturated"]:
            out["limit"] = "harness"
            out["note"] = (
                f"the load process fell behind the schedule at {s['offered_rps']:g} req/s "
                f"(p95 schedule lag {s['schedule_lag_p95']:.2f} s > {HARNESS_LAG_S:g} s): no rate is "
                "claimed; run fewer contenders at once, more users, or distributed load"
            )
            return out
        if not s["passed"]:
            out["limit"] = _limit(s, judged[0] if judged[0] is not s else None)
            r_f, s_f = float(s["offered_rps"]), float(s["slack"])
            if out["limit"] == "harness":
                out["note"] = (
                    f"at {r_f:g} req/s the requests were late mostly because the load process sent them "
                    "late (schedule lag), not because the vendor answered slowly: no rate is claimed; "
                    "raise load.users, run fewer contenders at once, or use distributed load"
                )
                return out
            # a rate passes only when every step at it passed (stages may repeat a rate)
            lower = [p for p in passes if float(p["offered_rps"]) < r_f]
            if not lower:
                out["bracket_rps"] = [None, r_f]
                out["note"] = f"fails its SLOs already at the lowest rate, {r_f:g} req/s"
                return out
            r_p = max(float(p["offered_rps"]) for p in lower)
            s_p = min(float(p["slack"]) for p in lower if float(p["offered_rps"]) == r_p)
            frac = s_p / (s_p - s_f) if s_p - s_f > 0 else 0.5
            r = r_p + (r_f - r_p) * frac
            out["sustainable_rps"] = r
            out["uncertainty_rps"] = max(r - r_p, r_f - r)
            out["bracket_rps"] = [r_p, r_f]
            out["note"] = f"passes at {r_p:g} req/s, fails at {r_f:g} req/s"
            return out
        passes.append(s)
    top = max(float(p["offered_rps"]) for p in passes)
    out["sustainable_rps"] = top
    out["limit"] = "not_reached"
    out["bracket_rps"] = [top, None]
    out["note"] = f"met every SLO up to the highest step, {top:g} req/s: at least that much"
    return out


def capacity(
    lg: pd.DataFrame,
    good: np.ndarray,
    load: Any,
    slo: Mapping[str, float | None],
    contenders: Sequence[str],
    window: tuple[float, float],
    search_steps: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{contender: {sustainable_rps, uncertainty_rps, limit, bracket_rps, note, steps}}`` for a stepped
    load; ``{}`` for any other load (nothing to read a knee from). A search run's steps are
    ``search_steps`` (per contender, from end.json), listed here in order of offered rate."""
    if not is_stepped(load):
        return {}
    rows_of = positions(lg["contender"]) if len(lg) else {}
    none = np.empty(0, dtype=np.int64)
    if getattr(load, "search", None) is not None:
        out = {}
        for c in contenders:
            own = [_cut(s, *window) for s in (search_steps or {}).get(c, ()) if not s.get("superseded")]
            steps = sorted((s for s in own if s is not None), key=lambda s: (s["offered_rps"], s["step"]))
            out[c] = find_knee(capacity_steps(lg, good, steps, c, rows_of.get(c, none)), slo)
        return out
    windows = step_windows(load, *window)
    return {c: find_knee(capacity_steps(lg, good, windows, c, rows_of.get(c, none)), slo) for c in contenders}


def _cut(step: Mapping[str, Any], start: float, end: float) -> dict[str, Any] | None:
    """A search step cut to the measured window (None when wholly outside it)."""
    lo, hi = max(float(step["t_start_s"]), start), min(float(step["t_end_s"]), end)
    if hi - lo <= 1e-9:
        return None
    return {**dict(step), "t_start_s": lo, "t_end_s": hi, "seconds": hi - lo}


_LIMIT_WORDS = {
    "latency": "limited by latency",
    "errors": "limited by errors",
    "quota": "limited by its 429 quota",
    "overload": "limited by overload (queueing or 503/529)",
}


def capacity_verdict(cap: Mapping[str, Mapping[str, Any]]) -> str | None:
    """One sentence: each contender's sustainable rate, best first, with its limit.

    >>> capacity_verdict({"a": {"sustainable_rps": 4.7, "uncertainty_rps": 0.5, "limit": "quota"}})
    'a sustains 4.7 req/s (± 0.5) at your SLOs, limited by its 429 quota.'
    """
    if not cap:
        return None

    def key(item: tuple[str, Mapping[str, Any]]) -> float:
        r = item[1].get("sustainable_rps")
        return -float(r) if isinstance(r, int | float) and math.isfinite(r) else math.inf

    parts: list[str] = []
    for i, (c, k) in enumerate(sorted(cap.items(), key=key)):
        r, u, lim = k.get("sustainable_rps"), k.get("uncertainty_rps"), k.get("limit")
        if lim == "harness":
            parts.append(f"{c}: not measured (the load process could not keep the schedule)")
            continue
        if not _finite(r):
            low = (k.get("bracket_rps") or [None, None])[1]
            parts.append(
                f"{c} misses them even at the lowest rate"
                + (f" ({low:g} req/s)" if _finite(low) else "")
                + (f", {_LIMIT_WORDS[lim]}" if lim in _LIMIT_WORDS else "")
            )
            continue
        if lim == "not_reached":
            num = f"at least {r:.1f} req/s (never failed)"
        else:
            num = f"{r:.1f} req/s" + (f" (± {u:.1f})" if _finite(u) else "")
        head = f"{c} sustains {num}" + (" at your SLOs" if i == 0 else "")
        parts.append(head + (f", {_LIMIT_WORDS[lim]}" if lim in _LIMIT_WORDS else ""))
    return "; ".join(parts) + "."
