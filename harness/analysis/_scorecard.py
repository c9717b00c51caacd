"""The six-layer vendor scorecard: measured criteria from the run, declared ones from the analyst's YAML.

Every criterion scores 0–5. A layer's score is the mean of its scored criteria; the overall score is
the weighted mean of the layers that have a score (weights from the scores file, default 1 each).
Criteria the run cannot measure and nobody declared are shown as "not measured", never invented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from harness._errors import ConfigError
from harness._model import UserModel
from harness.analysis._faults import NOT_RECOVERED

__all__ = [
    "LAYERS",
    "LAYER_TITLES",
    "DeclaredScore",
    "DeclaredScores",
    "LayerWeights",
    "capacity_score",
    "load_declared",
    "scorecard",
]

Layer = Literal["compute", "orchestration", "model_serving", "observability", "security", "data_center"]
LAYERS: tuple[str, ...] = Layer.__args__  # type: ignore[attr-defined]
LAYER_TITLES: dict[str, str] = {
    "compute": "Compute",
    "orchestration": "Orchestration",
    "model_serving": "Model Serving",
    "observability": "Observability",
    "security": "Security",
    "data_center": "Data Center Strategy",
}


class DeclaredScore(UserModel):
    """One analyst judgement the run cannot measure."""

    score: float = Field(ge=0, le=5, description="0 (absent/poor) … 5 (excellent)")
    note: str = Field("", description="evidence or source, shown next to the score")


class LayerWeights(UserModel):
    """Relative weight of each layer in the overall score (0 leaves a layer out)."""

    compute: float = Field(1.0, ge=0)
    orchestration: float = Field(1.0, ge=0)
    model_serving: float = Field(1.0, ge=0)
    observability: float = Field(1.0, ge=0)
    security: float = Field(1.0, ge=0)
    data_center: float = Field(1.0, ge=0)


class DeclaredScores(UserModel):
    """The ``--scores`` file::

    weights: {model_serving: 2, data_center: 0.5}
    contenders:
      vendor-a:
        compute:
          capacity_commitments: {score: 4, note: "200 H100 reserved, 12-month contract"}
        data_center:
          regions: {score: 3, note: "EU + US-East"}
    """

    weights: LayerWeights = Field(default_factory=LayerWeights)
    contenders: dict[str, dict[Layer, dict[str, DeclaredScore]]] = Field(default_factory=dict)


def load_declared(path: Path) -> DeclaredScores:
    """Read and validate a scores file; problems come back as ``ConfigError`` lines with file:line."""
    from harness.config._yaml import load_yaml_located, validate_located

    located = load_yaml_located(path)
    model, problems = validate_located(DeclaredScores, located)
    if problems:
        raise ConfigError(problems)
    assert isinstance(model, DeclaredScores)
    return model


# ---- measured criteria -------------------------------------------------------------------------------


def _steps(value: float, limits: tuple[float, ...], higher_is_better: bool = False) -> float:
    """5 when within the first limit, 4 within the second … 0 beyond the last."""
    for i, lim in enumerate(limits):
        if (value >= lim) if higher_is_better else (value <= lim):
            return float(5 - i)
    return 0.0


def _share_score(share: float) -> float:
    return round(5.0 * share, 1)


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _fmt_pct(x: float) -> str:
    return f"{100 * x:.1f} %"


_EXPECTED: dict[str, list[tuple[str, str]]] = {
    # criteria (name, what) per layer; measured ones are computed below, the rest can be declared
    "compute": [
        ("capacity_under_load", "measured"),
        ("server_saturation", "measured"),
        ("capacity_commitments", "declared"),
        ("burst_capacity", "declared"),
    ],
    "orchestration": [
        ("latency_stability", "measured"),
        ("recovery_after_faults", "measured"),
        ("queueing_under_spike", "measured"),
        ("server_recovery", "measured"),
        ("autoscaling", "declared"),
    ],
    "model_serving": [
        ("latency_vs_slo", "measured"),
        ("slo_attainment", "measured"),
        ("reliability_under_faults", "measured"),
        ("fallback_rescue", "measured"),
        ("cost_per_good_request", "measured"),
        ("model_pinning", "measured"),
        ("stream_conformance", "probe"),
    ],
    "observability": [
        ("request_ids", "measured"),
        ("usage_reported", "measured"),
        ("ratelimit_headers", "measured"),
        ("error_bodies", "probe"),
    ],
    "security": [
        ("bad_key_rejection", "probe"),
        ("malformed_input_handling", "probe"),
        ("tls", "probe"),
        ("private_networking_rbac_audit", "declared"),
    ],
    "data_center": [("regional_failover", "probe"), ("regions", "declared"), ("power_cooling", "declared")],
}


_MIN_FOR_P99 = 20
# (SLO key, run-row percentile, what it is)
_SLO_METRICS: dict[str, tuple[str, str]] = {
    "ttft": ("user_ttft_p95", "p95 user TTFT"),
    "ttfot": ("user_ttfot_p95", "p95 user time to first output"),
    "tpot": ("tpot_p95", "p95 TPOT"),
    "e2e": ("user_latency_p95", "p95 user latency"),
}


def _latency_vs_slo(run: dict[str, Any], slo: dict[str, float | None]) -> tuple[float, str] | None:
    """Absolute latency against the SLO thresholds: the worst p95 / threshold ratio decides
    (≤ 0.5 → 5, ≤ 0.75 → 4, ≤ 1 → 3, ≤ 1.25 → 2, ≤ 1.5 → 1, beyond → 0)."""
    parts: list[tuple[float, str]] = []
    for key, (col, label) in _SLO_METRICS.items():
        limit, value = slo.get(key), run.get(col, math.nan)
        if limit and _finite(value):
            parts.append((value / limit, f"{label} {_fmt_s(value)} vs SLO {_fmt_s(limit)}"))
    if not parts:
        return None
    worst = max(r for r, _ in parts)
    return _steps(worst, (0.5, 0.75, 1.0, 1.25, 1.5)), "; ".join(t for _, t in parts)


def _fmt_s(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def capacity_score(
    knee: Mapping[str, Any] | None, need_rps: float | None, best_rps: float | None = None
) -> tuple[float, str] | None:
    """The capacity criterion from the sustainable rate a stepped load measured (harness.analysis._capacity),
    or None (not measured: no stepped load, or the load process could not keep the schedule).

    Against the need the scenario declares (``capacity.peak_rps``, or ``monthly_requests`` × peak factor):
    sustainable / need ≥ 2 → 5, ≥ 1.5 → 4, ≥ 1 → 3, ≥ 0.75 → 2, ≥ 0.5 → 1, below → 0. Without a declared
    need, relative to the best contender: 5 × sustainable / best. A contender that never failed sustains
    at least the highest step: its score is a lower bound, and says so. Throttling at one steady rate
    proves nothing about capacity, so a plain load is never scored."""
    if not knee or knee.get("limit") in (None, "harness"):
        return None
    found = knee.get("sustainable_rps")
    if not isinstance(found, int | float) or not math.isfinite(found):
        # failed at the lowest step: it sustains less than that, how much is unknown
        low = (knee.get("bracket_rps") or [None, None])[1]
        if need_rps and _finite(low) and low <= 0.5 * need_rps:
            return 0.0, (
                f"misses the SLOs already at {low:g} req/s, limited by {knee.get('limit')}: under half the "
                f"declared peak of {need_rps:.2f} req/s"
            )
        return None
    rate = float(found)
    u = knee.get("uncertainty_rps")
    at_least = knee.get("limit") == "not_reached"
    shown = ("at least " if at_least else "") + f"{rate:.1f} req/s" + (f" (± {u:.1f})" if _finite(u) else "")
    limit = "" if at_least else f", limited by {knee.get('limit')}"
    if need_rps:
        ratio = rate / need_rps
        return (
            _steps(ratio, (2.0, 1.5, 1.0, 0.75, 0.5), higher_is_better=True),
            f"sustains {shown} at the SLOs{limit}: {ratio:.2f}× the declared peak of {need_rps:.2f} req/s",
        )
    if best_rps:
        return (
            round(5.0 * min(rate / best_rps, 1.0), 1),
            f"sustains {shown} at the SLOs{limit}: {rate / best_rps:.2f}× the best contender (no need "
            "declared: capacity.peak_rps, or monthly_requests)",
        )
    return None


def _capacity_unmeasured(load: Any, knee: Mapping[str, Any] | None) -> str:
    if knee and knee.get("limit") == "harness":
        return f"stepped load, but no rate claimed: {knee.get('note')}"
    if knee and knee.get("limit") and knee.get("sustainable_rps") is None:
        return f"{knee.get('note')}, limited by {knee.get('limit')}: start the sweep lower to measure it"
    stepped = isinstance(load, dict) and bool(load.get("sweep") or load.get("stages") or load.get("search"))
    if stepped:
        return "stepped load without two constant-rate steps of different rates in the measured window"
    return "needs a stepped load (load.sweep, load.stages or load.search); this run held one rate"


def _measured(
    c: str,
    probes: dict[str, Any] | None,
    run: dict[str, Any],
    faults: list[dict[str, Any]],
    obs: dict[str, Any],
    cheapest: float,
    unmeasured: dict[str, str],
    *,
    slo: dict[str, float | None] | None = None,
    load: Any = None,
    knee: Mapping[str, Any] | None = None,
    need_rps: float | None = None,
    best_rps: float | None = None,
    server: Mapping[str, Any] | None = None,
) -> dict[str, tuple[float, str] | None]:
    """criterion → (score, reason with the number) or None when the run does not measure it
    (``unmeasured`` then says why, when there is more to say than "no data")."""
    out: dict[str, tuple[float, str] | None] = {}
    n = run.get("requests", 0.0) or 0.0
    out["capacity_under_load"] = capacity_score(knee, need_rps, best_rps)
    if out["capacity_under_load"] is None:
        unmeasured["capacity_under_load"] = _capacity_unmeasured(load, knee)
    p50, p99 = run.get("user_latency_p50", math.nan), run.get("user_latency_p99", math.nan)
    if (run.get("succeeded") or 0.0) < _MIN_FOR_P99:
        out["latency_stability"] = None
        if n:
            unmeasured["latency_stability"] = (
                f"{int(run.get('succeeded') or 0)} answers: too few to judge a p99 (needs {_MIN_FOR_P99})"
            )
    else:
        out["latency_stability"] = (
            (_steps(p99 / p50, (2, 3, 5, 8, 15)), f"p99/p50 user latency = {p99 / p50:.1f}")
            if p50 and math.isfinite(p50) and math.isfinite(p99)
            else None
        )
    out["latency_vs_slo"] = _latency_vs_slo(run, slo or {})
    if out["latency_vs_slo"] is None and n:
        unmeasured["latency_vs_slo"] = (
            "no latency SLO (slo.ttft, slo.tpot, slo.e2e) in the scenario"
            if not any((slo or {}).get(k) for k in _SLO_METRICS)
            else "no answer to measure"
        )
    mine = [f for f in faults if f["contender"] == c and f["affected"]]
    if mine:
        never = [f for f in mine if f["recovery"] == NOT_RECOVERED]
        ttrs = [float(f["time_to_recover_s"]) for f in mine if _finite(f["time_to_recover_s"])]
        if never:
            out["recovery_after_faults"] = (0.0, f"{never[0]['fault']}: {never[0]['recovery']}")
        elif ttrs:
            worst = max(ttrs)
            out["recovery_after_faults"] = (
                _steps(worst, (5, 15, 30, 60, 120)),
                f"slowest recovery {worst:.1f} s after a fault ended",
            )
        else:  # faults that lasted to the end, or too little run after them: nothing to judge
            out["recovery_after_faults"] = None
        n_in = sum(f["requests"] for f in mine)
        lost = sum(f["lost"] for f in mine)
        out["reliability_under_faults"] = (
            (
                _steps(lost / n_in, (0.001, 0.01, 0.05, 0.1, 0.25)),
                f"{_fmt_pct(lost / n_in)} of requests failed during fault windows",
            )
            if n_in
            else None
        )
    else:  # no fault hit it: the run says nothing about how it behaves under one
        out["recovery_after_faults"] = None
        out["reliability_under_faults"] = None
        if n:
            unmeasured["recovery_after_faults"] = "no fault hit it in this run"
            unmeasured["reliability_under_faults"] = "no fault hit it in this run"
    gf = run.get("good_fraction", math.nan)
    out["slo_attainment"] = (
        (_steps(gf, (0.99, 0.95, 0.9, 0.8, 0.5), True), f"good fraction {_fmt_pct(gf)}")
        if n and math.isfinite(gf)
        else None
    )
    pf, rr = run.get("primary_failures", 0.0), run.get("rescue_rate", math.nan)
    out["fallback_rescue"] = (
        (_share_score(rr), f"{_fmt_pct(rr)} of {int(pf)} primary failures rescued")
        if pf and math.isfinite(rr)
        else None
    )
    cpg = run.get("cost_per_good_request", math.nan)
    if math.isfinite(cpg) and cpg > 0 and math.isfinite(cheapest) and cheapest > 0:
        out["cost_per_good_request"] = (
            round(5.0 * cheapest / cpg, 1),
            f"${cpg:.5f} per good request ({cpg / cheapest:.2f}× the cheapest)",
        )
    elif _finite(run.get("cost_usd")) and run["cost_usd"] > 0 and not run.get("good"):
        out["cost_per_good_request"] = (0.0, f"spent ${run['cost_usd']:.4f} without a single good request")
    else:
        out["cost_per_good_request"] = None
        if n and not _finite(run.get("cost_usd")):
            unmeasured["cost_per_good_request"] = "no price table for its endpoints: cost unknown"
        elif n and not run.get("cost_usd"):
            unmeasured["cost_per_good_request"] = "no prices in the scenario: every attempt cost $0"
    for key, label in (
        ("model_pinning", "answers from the requested model"),
        ("request_ids", "attempts with a vendor request id"),
        ("usage_reported", "answers with vendor-reported usage"),
        ("ratelimit_headers", "attempts with rate-limit headers"),
    ):
        share = obs.get(key)
        out[key] = (_share_score(share), f"{_fmt_pct(share)} of {label}") if share is not None else None
    for key in PROBE_CRITERIA:
        out[key] = _probe(probes.get(key)) if probes else None
    out.update(server_scores(server, unmeasured, bool(mine)))
    # a fault on one region while the route has an endpoint in another: the run measured failover itself.
    # (A route within one region says nothing about failover: its cost already shows under reliability.)
    regional = [f for f in mine if f.get("regional") and f.get("other_region_fallback")]
    if regional:
        pf = sum(f["primary_failures"] for f in regional)
        other = sum(f["rescued_other_region"] for f in regional)
        out["regional_failover"] = (
            (
                _share_score(other / pf),
                f"{_fmt_pct(other / pf)} of {pf} requests the failed region could not "
                "serve were served from another region",
            )
            if pf
            else (5.0, "the regional fault cost it no request")
        )
    return out


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


_NO_SERVER = "no server metrics for its primary endpoint (metrics_url; simulated vendors are scraped)"


def server_scores(
    server: Mapping[str, Any] | None, unmeasured: dict[str, str], fault_hit: bool = False
) -> dict[str, tuple[float, str] | None]:
    """The criteria scored from the vendor's own server metrics (harness.analysis._server), or None each.

    - ``server_saturation`` (compute): share of scrapes in which requests waited or the KV cache was
      ≥ 95 % full: ≤ 1 % → 5, ≤ 5 % → 4, ≤ 15 % → 3, ≤ 30 % → 2, ≤ 50 % → 1, beyond → 0;
    - ``queueing_under_spike`` (orchestration): the longest queue, in batches of the most requests it
      ran at once (peak waiting / peak running): 0 → 5, ≤ 0.25 → 4, ≤ 0.5 → 3, ≤ 1 → 2, ≤ 2 → 1, beyond → 0;
    - ``server_recovery`` (orchestration): after each fault that hit it, seconds until the waiting queue
      was back to its level before the fault; the slowest decides as for ``recovery_after_faults``
      (≤ 5 s → 5 … ≤ 120 s → 1), never drained before the run ended → 0.
    """
    out: dict[str, tuple[float, str] | None] = {
        "server_saturation": None,
        "queueing_under_spike": None,
        "server_recovery": None,
    }
    if not server or not server.get("scrapes"):
        for k in out:
            unmeasured[k] = _NO_SERVER
        return out
    n = int(server["scrapes"])
    gaps = int(server.get("failed_scrapes") or 0)
    if gaps >= n:
        for k in out:
            unmeasured[k] = f"every scrape of its server metrics failed ({gaps})"
        return out
    seen = f"{n} scrapes" + (f", {gaps} failed" if gaps else "")
    share = _num(server.get("saturated_share"))
    if share is not None:
        kv = _num(server.get("peak_kv_cache"))
        out["server_saturation"] = (
            _steps(share, (0.01, 0.05, 0.15, 0.3, 0.5)),
            f"saturated in {_fmt_pct(share)} of {seen} (requests waiting or KV cache ≥ 95 %)"
            + (f"; peak KV cache {_fmt_pct(kv)}" if kv is not None else ""),
        )
    else:
        unmeasured["server_saturation"] = f"its server metrics have no waiting queue or KV-cache use ({seen})"
    wait, run = _num(server.get("peak_waiting")), _num(server.get("peak_running"))
    if wait is not None:
        batches = wait / max(run or 0.0, 1.0)
        out["queueing_under_spike"] = (
            5.0 if wait <= 0 else _steps(batches, (0.0, 0.25, 0.5, 1.0, 2.0)),
            f"longest queue {wait:g} waiting"
            + (f" behind {run:g} running ({batches:.2f} batches)" if run is not None else ""),
        )
    else:
        unmeasured["queueing_under_spike"] = f"its server metrics have no waiting queue ({seen})"
    recs = server.get("recoveries") or []
    if recs:
        never = [r for r in recs if r.get("drain_s") is None]
        if never:
            out["server_recovery"] = (
                0.0,
                f"queue not back to its level before {never[0]['fault_id']} by the end",
            )
        else:
            worst = max(float(r["drain_s"]) for r in recs)
            out["server_recovery"] = (
                _steps(worst, (5, 15, 30, 60, 120)),
                f"waiting queue back to its level before the fault {worst:.1f} s after it ended",
            )
    else:
        unmeasured["server_recovery"] = (
            "a fault hit it but its server metrics have no waiting queue"
            if fault_hit
            else "no fault hit it in this run"
        )
    return out


PROBE_CRITERIA: tuple[str, ...] = (
    "bad_key_rejection",
    "malformed_input_handling",
    "tls",
    "error_bodies",
    "stream_conformance",
    "regional_failover",
)


def _probe(result: Any) -> tuple[float, str] | None:
    """A probe result ``{"passed": bool, "score": 0-5 (optional), "detail": str}`` as (score, reason)."""
    if not isinstance(result, dict) or ("passed" not in result and "score" not in result):
        return None
    score = result.get("score")
    if not isinstance(score, int | float) or not 0 <= score <= 5:
        score = 5.0 if result.get("passed") else 0.0
    detail = str(result.get("detail") or ("passed" if result.get("passed") else "failed"))
    return float(score), f"probe: {detail}"


def scorecard(
    run_rows: dict[str, dict[str, Any]],
    faults: list[dict[str, Any]],
    observability: dict[str, dict[str, Any]],
    declared: DeclaredScores | None,
    probes: dict[str, dict[str, Any]] | None = None,
    *,
    slo: dict[str, float | None] | None = None,
    load: dict[str, Any] | None = None,
    capacity: Mapping[str, Mapping[str, Any]] | None = None,
    need_rps: float | None = None,
    server: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Scorecard rows, per-layer and overall scores, and the ranking with reasons (plain data).

    ``probes`` (contender → criterion → {"passed", "score", "detail"}) fills the probe criteria
    (bad keys, malformed input, regional failover) once a probe run has produced them. ``capacity`` (the
    knees of a stepped load, harness.analysis._capacity) and ``need_rps`` (the declared peak) score the
    capacity criterion; ``server`` (contender → server-metrics summary, harness.analysis._server) the
    saturation, queueing and queue-recovery criteria.
    """
    weights = (declared.weights if declared else LayerWeights()).model_dump()
    contenders = list(run_rows)
    if declared:
        unknown = sorted(set(declared.contenders) - set(contenders))
        if unknown and contenders:
            raise ConfigError(
                [
                    f"scores file: contender {u!r} is not in this run (run has: {', '.join(contenders)})"
                    for u in unknown
                ]
            )
    costs = [r.get("cost_per_good_request", math.nan) for r in run_rows.values()]
    finite = [x for x in costs if isinstance(x, float) and math.isfinite(x) and x > 0]
    cheapest = min(finite) if finite else math.nan
    knees = capacity or {}
    rates = [
        float(k["sustainable_rps"])
        for k in knees.values()
        if k.get("limit") != "harness" and _finite(k.get("sustainable_rps"))
    ]
    best_rps = max(rates) if rates else None
    rows: list[dict[str, Any]] = []
    layer_scores: dict[str, dict[str, float | None]] = {}
    overall: dict[str, float | None] = {}
    for c in contenders:
        unmeasured: dict[str, str] = {}
        meas = _measured(
            c,
            (probes or {}).get(c),
            run_rows[c],
            faults,
            observability.get(c, {}),
            cheapest,
            unmeasured,
            slo=slo,
            load=load,
            knee=knees.get(c),
            need_rps=need_rps,
            best_rps=best_rps,
            server=(server or {}).get(c),
        )
        decl = declared.contenders.get(c, {}) if declared else {}
        layer_scores[c] = {}
        for layer in LAYERS:
            scored: list[float] = []
            names = [n for n, _ in _EXPECTED[layer]]
            names += [n for n in decl.get(layer, {}) if n not in names]  # type: ignore[call-overload]
            for name in names:
                d = decl.get(layer, {}).get(name)  # type: ignore[call-overload]
                m = meas.get(name)
                if m is not None and d is not None:
                    raise ConfigError(
                        [f"scores file: {c}.{layer}.{name} is measured by the run; remove the declared score"]
                    )
                if m is not None:
                    row = {"source": "measured", "score": m[0], "reason": m[1], "label": "measured"}
                elif d is not None:
                    row = {
                        "source": "declared",
                        "score": float(d.score),
                        "reason": d.note or "declared",
                        "label": "declared",
                    }
                else:
                    kind = dict(_EXPECTED[layer]).get(name, "declared")
                    why = unmeasured.get(name) or (
                        "no probe results in this run"
                        if kind == "probe"
                        else "the run gave no data for it"
                        if kind == "measured"
                        else "no analyst score in the scores file"
                    )
                    row = {
                        "source": "none",
                        "score": None,
                        "reason": why,
                        "label": "not declared" if kind == "declared" else "not measured",
                    }
                sc = row["score"]
                if isinstance(sc, int | float):
                    scored.append(float(sc))
                rows.append(
                    {
                        "contender": c,
                        "layer": layer,
                        "layer_title": LAYER_TITLES[layer],
                        "criterion": name,
                        **row,
                    }
                )
            layer_scores[c][layer] = sum(scored) / len(scored) if scored else None
        num = sum(weights[lay] * s for lay, s in layer_scores[c].items() if s is not None)
        den = sum(weights[lay] for lay, s in layer_scores[c].items() if s is not None)
        overall[c] = num / den if den > 0 else None
    return {"rows": rows, "layers": layer_scores, "overall": overall, "weights": weights}
