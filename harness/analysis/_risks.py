"""The verdict (ranking, SLO pass/fail, cost per good request) and the risks found, in plain sentences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.analysis._faults import CHANGE_METRICS, NOT_RECOVERED
from harness.analysis._phases import FaultWindow

__all__ = ["DEFAULT_GATES", "find_risks", "gate_checks", "slo_check", "slo_text"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if _finite(x) else "n/a"


def _secs(x: float) -> str:
    if not _finite(x):
        return "n/a"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.1f} s"


def _threshold(x: float) -> str:
    """An SLO threshold as people write it: 800 ms, 1 s, 2.5 s."""
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:g} s"


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


DEFAULT_GATES: tuple[str, ...] = ("max_error_rate", "min_good_fraction")
_PER_REQUEST = {"ttft": "TTFT", "ttfot": "time to first output", "tpot": "TPOT", "e2e": "latency"}


def gate_checks(
    row: dict[str, Any] | None, slo: dict[str, float | None], gates: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One check per must-pass gate: ``{"gate", "passed", "text", "measured", "target", "op"}``: the text
    with the number and its threshold, and the numbers themselves (``measured op target`` passes; fractions
    0–1; ``threshold_s`` too for a per-request gate, the latency each request had to meet).

    ``max_error_rate`` / ``min_good_fraction`` compare the contender's error rate and good fraction with the
    SLO; ``ttft`` / ``ttfot`` / ``tpot`` / ``e2e`` ask that at least ``min_good_fraction`` of its requests
    met that one threshold (``<gate>_met`` of the run row). A gate whose threshold is unset is left out.
    """
    if not row or not row.get("requests"):
        return [
            {
                "gate": "requests",
                "passed": False,
                "text": "no requests completed in the measured window",
                "measured": 0,
                "target": 1,
                "op": "≥",
            }
        ]
    out: list[dict[str, Any]] = []
    min_gf = slo.get("min_good_fraction")
    for gate in gates if gates is not None else DEFAULT_GATES:
        if gate == "max_error_rate":
            limit, er = slo.get("max_error_rate"), row.get("error_rate", math.nan)
            if limit is None:
                continue
            ok = _finite(er) and er <= limit
            text = f"error rate {_pct(er)} {'≤' if ok else '>'} {_pct(limit)}"
            nums: dict[str, Any] = {"measured": _number(er), "target": limit, "op": "≤"}
        elif gate == "min_good_fraction":
            gf = row.get("good_fraction", math.nan)
            if min_gf is None:
                continue
            ok = _finite(gf) and gf >= min_gf
            text = f"good fraction {_pct(gf)} {'≥' if ok else '<'} {_pct(min_gf)}"
            nums = {"measured": _number(gf), "target": min_gf, "op": "≥"}
        elif gate in _PER_REQUEST:
            limit, met = slo.get(gate), row.get(f"{gate}_met", math.nan)
            if limit is None:
                continue
            need = min_gf if min_gf is not None else 1.0
            ok = _finite(met) and met >= need
            sign = "≥" if ok else "<"
            text = f"{_PER_REQUEST[gate]} ≤ {_threshold(limit)} met by {_pct(met)} {sign} {_pct(need)}"
            nums = {"measured": _number(met), "target": need, "op": "≥", "threshold_s": limit}
        else:
            continue
        out.append({"gate": gate, "passed": bool(ok), "text": text, **nums})
    return out


def slo_check(
    row: dict[str, Any] | None, slo: dict[str, float | None], gates: Sequence[str] | None = None
) -> tuple[bool, list[str]]:
    """Does a contender pass its must-pass SLO gates? (pass, reasons with the numbers and thresholds).

    ``gates`` defaults to the run-level limits: ``max_error_rate`` and ``min_good_fraction``.
    """
    checks = gate_checks(row, slo, gates)
    return all(c["passed"] for c in checks), [c["text"] for c in checks]


def slo_text(slo: dict[str, float | None]) -> str:
    """The SLO thresholds in a few words: 'TTFT ≤ 1 s and latency ≤ 6 s per request; error rate ≤ 5.0 %
    and good fraction ≥ 90.0 % per contender'."""
    set_ = {k: float(v) for k, v in slo.items() if v is not None}
    per_request = [f"{label} ≤ {_threshold(set_[k])}" for k, label in _PER_REQUEST.items() if k in set_]
    per_run = []
    if "max_error_rate" in set_:
        per_run.append(f"error rate ≤ {_pct(set_['max_error_rate'])}")
    if "min_good_fraction" in set_:
        per_run.append(f"good fraction ≥ {_pct(set_['min_good_fraction'])}")

    def joined(items: list[str]) -> str:
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]

    parts = []
    if per_request:
        parts.append(joined(per_request) + " per request")
    if per_run:
        parts.append(joined(per_run) + " per contender")
    return "; ".join(parts) if parts else "no SLOs set"


def _slowdown(f: dict[str, Any]) -> float:
    """Severity of a fault row's slow-down: the largest window/baseline ratio of a change beyond noise."""
    worst = 1.0
    for col, label, p in CHANGE_METRICS:
        key = f"p{p}_{col}"
        value, base = _number(f.get(f"{key}_s")), _number(f.get(f"baseline_{key}_s"))
        if _beyond(f, p, label) and value is not None and base is not None and base > 0:
            worst = max(worst, value / base)
    return min((worst - 1.0) / 20.0, 0.5)


def _number(x: Any) -> float | None:
    return float(x) if _finite(x) else None


def _beyond(f: dict[str, Any], p: int, label: str) -> bool:
    """Did the fault row judge this percentile's change beyond noise (its ``changes`` list says so)?"""
    return any(str(x).startswith(f"p{p} {label} ") for x in f.get("changes") or ())


def _changed(f: dict[str, Any]) -> str:
    """The largest change beyond noise of user TTFT and of user latency in a fault row, in words
    ("p50 user TTFT rose from 205 ms to 505 ms (+300 ms)"); "" when nothing changed beyond noise."""
    said: list[str] = []
    for metric, label in (("user_ttft", "user TTFT"), ("user_latency", "user latency")):
        best: tuple[float, str] | None = None
        for col, _label, p in CHANGE_METRICS:
            if col != metric:
                continue
            key = f"p{p}_{col}"
            value, base = _number(f.get(f"{key}_s")), _number(f.get(f"baseline_{key}_s"))
            change = _number(f.get(f"{key}_change_s"))
            if not _beyond(f, p, label) or value is None or base is None or change is None:
                continue
            if best is None or abs(change) > best[0]:
                verb = "rose" if change > 0 else "fell"
                sign = "+" if change > 0 else "−"
                best = (
                    abs(change),
                    f"p{p} {label} {verb} from {_secs(base)} to {_secs(value)} ({sign}{_secs(abs(change))})",
                )
        if best is not None:
            said.append(best[1])
    return " and its ".join(said)


def _fault_phrase(f: dict[str, Any]) -> str:
    what = f.get("fault") or f.get("kind") or "fault"
    return f"the {f['duration_s']:.0f} s {what} ({f['fault_id']})"


def _gateway_sentence(c: str, gw: dict[str, Any]) -> str:
    """The risk a gateway hid: it fell back (LiteLLM's ``x-litellm-attempted-fallbacks``), another model than
    the one requested answered, or it retried before answering (``x-litellm-attempted-retries``: latency
    the vendor's own numbers do not show); "" when none of these happened."""
    fell, other, answers = gw.get("gateway_fallbacks", 0), gw.get("served_other", 0), gw.get("answers", 0)
    retried = gw.get("gateway_retries", 0)
    if not fell and not other and not retried:
        return ""
    parts = []
    if fell:
        parts.append(
            f"its gateway fell back to another deployment on {fell} of {answers} answers "
            "(x-litellm-attempted-fallbacks)"
        )
    if other:
        asked, served = gw.get("served_other_example") or ("?", "?")
        parts.append(
            f"{other} of {gw.get('served_checked', answers)} answers came from another model than the one "
            f"requested (asked for {asked}, served by {served})"
        )
    if retried:
        parts.append(
            f"its gateway retried {retried} of {answers} answers before answering "
            "(x-litellm-attempted-retries; their time is in the latency)"
        )
    tail = (
        "its numbers partly measure what the gateway routed to, not only the model under evaluation."
        if fell or other
        else "the gateway's own retries are part of what was measured."
    )
    return f"{c}: " + " and ".join(parts) + ": " + tail


def find_risks(
    contenders: list[str],
    run_rows: dict[str, dict[str, Any]],
    impact: list[dict[str, Any]],
    obs: dict[str, dict[str, Any]],
    slo: dict[str, float | None],
    meta: dict[str, Any],
    windows: list[FaultWindow],
    *,
    gates: Sequence[str] | None = None,
    attributions: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The risks found, most severe first: ``{"severity", "contender", "text"}``.

    ``attributions`` (contender → sentence) says which fault window an SLO failure came from.
    """
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
        if not f["affected"] or not (f["requests"] or f.get("transition_requests")):
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
        changed = _changed(f)  # TTFT and latency changes beyond the run's noise (all of them: the table)
        lr = lr if _finite(lr) else 0.0
        if lr >= 0.01 or extra >= 0.1:
            lost = (
                f"lost {_pct(lr)} of requests ({f['lost']} of {f['requests']})" if lr else "lost no requests"
            )
            also = f" Its {changed} (beyond the run's noise)." if changed else ""
            add(2 * lr + extra + _slowdown(f), c, f"{c} {lost} during {_fault_phrase(f)} and {tail}.{also}")
        elif changed:  # a change larger than the noise is always reported, however small the loss
            add(
                _slowdown(f) + extra + 0.01,
                c,
                f"{c}'s {changed} during {_fault_phrase(f)}, beyond the run's noise; it lost {_pct(lr)} of "
                f"requests and {tail}.",
            )
        else:  # nothing changed beyond noise (or too few answers to tell): evidence worth a line, last
            ttd = f["time_to_detect_s"]
            if _finite(ttd):
                react = f"reacted after {ttd:.2f} s, "
            elif f.get("change_judged", True):
                react = "showed no reaction, "
            else:
                react = "had too few answers in the window to judge a change, "
            add(0.001, c, f"{c} lost {_pct(lr)} of requests during {_fault_phrase(f)}: it {react}{tail}.")
    for c in contenders:
        row = run_rows.get(c)
        checks = gate_checks(row, slo, gates)
        if not all(x["passed"] for x in checks) and row and row.get("requests"):
            failed = "; ".join(x["text"] for x in checks if not x["passed"])
            why = (attributions or {}).get(c)
            add(1.5, c, f"{c} fails its must-pass SLOs ({failed})" + (f": {why}." if why else "."))
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
        gw = o.get("gateway") or {}
        said = _gateway_sentence(c, gw)
        if said:
            routed = max(gw["gateway_fallbacks"], gw["served_other"]) / max(gw["answers"], 1)
            retried = gw.get("gateway_retries", 0) / max(gw["answers"], 1)
            add((0.2 + routed) if routed else 0.05 + retried / 4, c, said)
        if row.get("max_tokens_overruns"):
            add(0.03, c, f"{c} exceeded max_tokens on {int(row['max_tokens_overruns'])} answers.")
        if row.get("check_failed"):
            add(
                0.2 * row["check_failed"] / max(row["succeeded"], 1) + 0.05,
                c,
                f"{c} gave {int(row['check_failed'])} answers that failed the prompt's check.",
            )
    risks.sort(key=lambda r: -r["severity"])
    return risks
