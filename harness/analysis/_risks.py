"""The verdict (ranking, SLO pass/fail, cost per good request) and the risks found, in plain sentences."""

from __future__ import annotations

import math
from typing import Any

from harness.analysis._faults import NOT_RECOVERED
from harness.analysis._phases import FaultWindow

__all__ = ["risks_and_verdict", "slo_check"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if _finite(x) else "n/a"


def _secs(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.1f} s"


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def slo_check(row: dict[str, Any] | None, slo: dict[str, float | None]) -> tuple[bool, list[str]]:
    """Does a contender pass its run-level SLOs? (pass, reasons with the numbers)."""
    if not row or not row.get("requests"):
        return False, ["no requests completed in the measured window"]
    reasons: list[str] = []
    er, gf = row.get("error_rate", math.nan), row.get("good_fraction", math.nan)
    max_er, min_gf = slo.get("max_error_rate"), slo.get("min_good_fraction")
    ok = True
    if max_er is not None:
        if _finite(er) and er <= max_er:
            reasons.append(f"error rate {_pct(er)} ≤ {_pct(max_er)}")
        else:
            ok = False
            reasons.append(f"error rate {_pct(er)} > {_pct(max_er)}")
    if min_gf is not None:
        if _finite(gf) and gf >= min_gf:
            reasons.append(f"good fraction {_pct(gf)} ≥ {_pct(min_gf)}")
        else:
            ok = False
            reasons.append(f"good fraction {_pct(gf)} < {_pct(min_gf)}")
    return ok, reasons


def _fault_phrase(f: dict[str, Any]) -> str:
    what = f.get("fault") or f.get("kind") or "fault"
    return f"the {f['duration_s']:.0f} s {what} ({f['fault_id']})"


def risks_and_verdict(
    contenders: list[str],
    run_rows: dict[str, dict[str, Any]],
    impact: list[dict[str, Any]],
    obs: dict[str, dict[str, Any]],
    score: dict[str, Any],
    slo: dict[str, float | None],
    meta: dict[str, Any],
    windows: list[FaultWindow],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    risks: list[dict[str, Any]] = []

    def add(sev: float, who: str | None, text: str) -> None:
        risks.append({"severity": round(sev, 4), "contender": who, "text": text})

    if meta.get("interrupted"):
        reached = float(meta.get("window", {}).get("end_s") or 0.0)
        planned = float(meta.get("planned_duration_s") or 0.0)
        add(
            10,
            None,
            f"The run was interrupted {reached:.0f} s into its {planned:.0f} s schedule: "
            "results cover only that part.",
        )
    if not any(r.get("requests") for r in run_rows.values()):
        add(10, None, "No requests completed in the measured window: there is nothing to compare.")
    for w in windows:
        if not w.applied:
            add(3, None, f"Fault {w.fault_id} ({w.name}) was not measured: {w.detail}.")
    for f in impact:
        if not f["affected"] or not f["requests"]:
            continue
        c, lr = f["contender"], f["loss_rate"]
        ttr = f["time_to_recover_s"] if _finite(f["time_to_recover_s"]) else None
        if ttr is None and f["recovery"] == NOT_RECOVERED:
            tail, extra = "did not recover before the run ended", 1.0
        elif ttr is None:
            tail, extra = f"recovery unknown ({f['recovery']})", 0.0
        else:
            if ttr < 0.5:
                tail = "recovered as soon as the fault ended"
            else:
                tail = f"took {ttr:.0f} s to recover" if ttr >= 10 else f"took {ttr:.1f} s to recover"
            extra = min(ttr / 120.0, 1.0)
        p95, base = f["p95_user_latency_s"], f["baseline_p95_user_latency_s"]
        slow = p95 / base if _finite(p95) and _finite(base) and base > 0 else 1.0
        lr = lr if _finite(lr) else 0.0
        if lr >= 0.01 or extra >= 0.1:
            lost = (
                f"lost {_pct(lr)} of requests ({f['lost']} of {f['requests']})" if lr else "lost no requests"
            )
            add(2 * lr + extra, c, f"{c} {lost} during {_fault_phrase(f)} and {tail}.")
        elif slow >= 1.5:
            add(
                min(slow / 20.0, 0.5) + extra,
                c,
                f"{c}'s p95 user latency rose from {_secs(base)} to {_secs(p95)} ({slow:.1f}×) during "
                f"{_fault_phrase(f)}; it lost {_pct(lr)} of requests and {tail}.",
            )
        else:  # handled well: still evidence worth a line, ranked last
            ttd = f["time_to_detect_s"]
            react = f"reacted after {ttd:.2f} s, " if _finite(ttd) else "showed no reaction, "
            add(0.001, c, f"{c} lost {_pct(lr)} of requests during {_fault_phrase(f)}: it {react}{tail}.")
    for c in contenders:
        row = run_rows.get(c)
        ok, reasons = slo_check(row, slo)
        if not ok and row and row.get("requests"):
            add(
                1.5,
                c,
                f"{c} fails its SLOs: "
                + "; ".join(r for r in reasons if "≤" not in r and "≥" not in r)
                + ".",
            )
        if not row or not row.get("requests"):
            continue
        o = obs.get(c, {})
        if o.get("client_errors"):
            add(
                5,
                c,
                f"{c}: {int(o['client_errors'])} attempts failed with client_error (a harness bug); "
                "its numbers are suspect.",
            )
        tr = row.get("throttle_rate", 0.0)
        if _finite(tr) and tr >= 0.01:
            add(
                tr,
                c,
                f"{c} was throttled (HTTP 429) on {_pct(tr)} of requests "
                f"({int(row['attempts_429'])} 429 answers in all, retried ones included).",
            )
        elif row.get("attempts_429"):
            add(
                0.01,
                c,
                f"{c} received {int(row['attempts_429'])} HTTP 429 answers; retries or fallbacks "
                "absorbed them.",
            )
        ws = row["wasted_cost_usd"] / row["cost_usd"] if row.get("cost_usd") else 0.0
        if ws >= 0.05:
            add(
                ws / 2,
                c,
                f"{c} spent {_pct(ws)} of its cost (${row['wasted_cost_usd']:.4f}) on attempts that failed.",
            )
        est = row.get("usage_estimated_share", 0.0)
        if _finite(est) and est > 0:
            add(
                0.02,
                c,
                f"{c}: token counts were estimated (no usage from the vendor) for {_pct(est)} of answers.",
            )
        if row.get("max_tokens_overruns"):
            add(0.03, c, f"{c} exceeded max_tokens on {int(row['max_tokens_overruns'])} answers.")
        if row.get("check_failed"):
            add(
                0.2 * row["check_failed"] / max(row["succeeded"], 1) + 0.05,
                c,
                f"{c} gave {int(row['check_failed'])} answers that failed the prompt's check.",
            )
    risks.sort(key=lambda r: -r["severity"])

    overall = score.get("overall", {})
    verdict: list[dict[str, Any]] = []
    for c in contenders:
        row = run_rows.get(c) or {}
        ok, reasons = slo_check(row, slo)
        cpg = row.get("cost_per_good_request", math.nan)
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
        verdict.append(
            {
                "contender": c,
                "slo_pass": ok,
                "slo_reasons": reasons,
                "score": overall.get(c),
                "requests": row.get("requests", 0.0),
                "good_fraction": row.get("good_fraction", math.nan),
                "error_rate": row.get("error_rate", math.nan),
                "user_ttft_p95": row.get("user_ttft_p95", math.nan),
                "user_latency_p95": row.get("user_latency_p95", math.nan),
                "cost_per_good_request": cpg,
                "cost_per_1k_requests": row.get("cost_per_1k_requests", math.nan),
                "monthly_cost_usd": per_req * monthly if monthly and _finite(per_req) else None,
                "strengths": strengths,
                "weaknesses": weaknesses,
            }
        )

    def key(v: dict[str, Any]) -> tuple[int, float, float]:
        s = v["score"]
        cpg = v["cost_per_good_request"]
        return (0 if v["slo_pass"] else 1, -(s if _finite(s) else -1.0), cpg if _finite(cpg) else math.inf)

    verdict.sort(key=key)
    for i, v in enumerate(verdict, 1):
        v["rank"] = i
        why = ["passes its SLOs" if v["slo_pass"] else "fails its SLOs"]
        if _finite(v["score"]):
            why.append(f"scorecard {v['score']:.2f}/5")
        if _finite(v["cost_per_good_request"]) and v["cost_per_good_request"] > 0:
            why.append(f"${v['cost_per_good_request']:.5f} per good request")
        v["reason"] = ", ".join(why)
    return verdict, risks
