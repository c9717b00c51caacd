"""Summaries of one contender's records, used by the bundle README and by replay's side-by-side
comparison. Plain Python over the record dicts (a bundle is small and these numbers must be easy to
audit), with the report's own percentile and fault windows, so a bundle and a report agree."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness._percentile import percentile
from harness.analysis import Window, fault_windows

__all__ = ["summarise"]


def _seconds(value: Any) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        return 0.0
    return t if math.isfinite(t) else 0.0


def _windows(events: Iterable[Mapping[str, Any]], run_end: float) -> list[dict[str, Any]]:
    """``[{fault_id, name, kind, start, end}]`` of the faults applied in these events, by start:
    :func:`harness.analysis.fault_windows`, ending at the fault's removal, or at ``run_end`` (the
    contender's last record's end) for a fault never removed."""
    # sequential runs tag each contender's slot of a fault ("f1-outage@2"): one contender, one slot
    untagged = [{**ev, "fault_id": str(ev.get("fault_id")).split("@")[0]} for ev in events]
    # a span that holds every event, so a removal after the last record keeps its own time
    last = max([run_end, *(_seconds(ev.get("t_applied")) for ev in untagged)])
    span = Window(start=0.0, end=last, warmup=0.0, cooldown=0.0, planned_duration=last, interrupted=False)
    out = [
        {
            "fault_id": w.fault_id,
            "name": w.name,
            "kind": w.kind,
            "start": w.start,
            "end": run_end if w.ends_with_run else w.end,
        }
        for w in fault_windows(untagged, (), span)
        if w.source == "events"  # a removal without its application is not a window
    ]
    return sorted(out, key=lambda w: (w["start"], w["fault_id"]))


def _latencies(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    ttft = [r["t_first_token"] - r["t_dispatch"] for r in rows if r.get("t_first_token") is not None]
    e2e = [r["t_end"] - r["t_dispatch"] for r in rows if r.get("t_end") is not None]
    return {
        "ttft_p50_s": percentile(ttft, 50),
        "ttft_p95_s": percentile(ttft, 95),
        "e2e_p50_s": percentile(e2e, 50),
        "e2e_p95_s": percentile(e2e, 95),
    }


def summarise(
    records: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]], primary: str
) -> dict[str, Any]:
    """Numbers for one contender: logical requests, errors by class (final attempts), latency
    percentiles of successful final attempts, primary-endpoint attempts, and per fault window."""
    finals = [r for r in records if r.get("is_final_attempt")]
    ok = [r for r in finals if r.get("outcome") == "ok"]
    run_end = max((float(r.get("t_end") or 0.0) for r in records), default=0.0)
    at_primary = [r for r in records if r.get("endpoint") == primary]
    windows = []
    for w in _windows(events, run_end):
        inside = [r for r in finals if w["start"] <= float(r.get("t_intended", 0.0)) < w["end"]]
        inside_ok = [r for r in inside if r.get("outcome") == "ok"]
        prim = [r for r in at_primary if w["start"] <= float(r.get("t_dispatch", 0.0)) < w["end"]]
        windows.append(
            {
                **w,
                "requests": len(inside),
                "failed": len(inside) - len(inside_ok),
                "errors": dict(
                    Counter(str(r.get("error_class")) for r in inside if r.get("outcome") != "ok")
                ),
                "primary_attempts": len(prim),
                "primary_errors": dict(
                    Counter(str(r.get("error_class")) for r in prim if r.get("outcome") != "ok")
                ),
                **_latencies(inside_ok),
            }
        )
    return {
        "requests": len(finals),
        "attempts": len(records),
        "succeeded": len(ok),
        "failed": len(finals) - len(ok),
        "errors": dict(Counter(str(r.get("error_class")) for r in finals if r.get("outcome") != "ok")),
        "fallbacks": sum(1 for r in finals if r.get("endpoint") != primary),
        "primary_attempts": len(at_primary),
        "primary_errors": dict(
            Counter(str(r.get("error_class")) for r in at_primary if r.get("outcome") != "ok")
        ),
        **_latencies(ok),
        "first_request_s": min((float(r.get("t_intended", 0.0)) for r in finals), default=0.0),
        "last_end_s": run_end,
        "windows": windows,
        "outcomes": {int(r.get("seq", 0)): str(r.get("outcome")) for r in finals},
    }
