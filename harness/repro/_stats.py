"""Plain-Python summaries of one contender's records, used by the bundle README and by replay's
side-by-side comparison (no pandas: a bundle is small and these numbers must be easy to audit)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["fault_windows", "percentile", "summarise"]


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default); NaN for no values."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def fault_windows(events: Iterable[Mapping[str, Any]], run_end: float) -> list[dict[str, Any]]:
    """``[{fault_id, name, kind, start, end}]`` from applied fault events (end = removal or run end)."""
    out: dict[str, dict[str, Any]] = {}
    for ev in events:
        fid = str(ev.get("fault_id")).split("@")[0]  # sequential runs tag slots
        if ev.get("action") == "apply" and fid not in out:
            out[fid] = {
                "fault_id": fid,
                "name": ev.get("fault", fid),
                "kind": ev.get("kind", ""),
                "start": float(ev["t_applied"]),
                "end": run_end,
            }
        elif ev.get("action") == "remove" and fid in out:
            out[fid]["end"] = float(ev["t_applied"])
    return sorted(out.values(), key=lambda w: (w["start"], w["fault_id"]))


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
    for w in fault_windows(events, run_end):
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
