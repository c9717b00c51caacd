"""Metrics per contender over groups of logical requests (whole run, each phase, each prompt class).

Formulas (one name each, printed in the report's methodology):

    error rate            = failed logical requests / all logical requests
    throttle rate         = logical requests whose final attempt got HTTP 429 / all  (part of the error rate)
    good                  = succeeded AND user TTFT ≤ SLO.ttft AND user time to first output ≤ SLO.ttfot
                            AND TPOT ≤ SLO.tpot AND user latency ≤ SLO.e2e
    good fraction         = good / all logical requests (errors in the denominator)
    goodput               = good / window seconds;  throughput = succeeded / window seconds
    output tok/s (system) = Σ output_tokens of succeeded requests / window seconds
    fallback rate         = requests whose final attempt used a non-primary endpoint / all
    rescue rate           = succeeded on a fallback / requests the primary did not serve
    cost per 1k requests  = Σ cost of all attempts (wasted ones too) / all requests × 1000
    cost per good request = Σ cost of all attempts (wasted ones too) / good requests
    reasoning tokens/req  = Σ reasoning_tokens / succeeded requests
    reasoning cost share  = Σ reasoning cost of final attempts / Σ cost of all attempts
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from harness._percentile import percentiles
from harness.analysis._stats import describe
from harness.config import SLO

__all__ = [
    "FORMULAS",
    "LATENCY_METRICS",
    "PER_REQUEST_SLOS",
    "SLO_KEYS",
    "good_mask",
    "latency_rows",
    "request_metrics",
    "slo_met",
    "slo_settings",
]

LATENCY_METRICS: tuple[str, ...] = (
    "ttft",
    "user_ttft",
    "ttfot",
    "user_ttfot",
    "tpot",
    "e2e",
    "user_latency",
    "schedule_lag",
    "chunk_gap",
)
SLO_KEYS: tuple[str, ...] = ("ttft", "ttfot", "tpot", "e2e", "max_error_rate", "min_good_fraction")
PER_REQUEST_SLOS: tuple[str, ...] = ("ttft", "ttfot", "tpot", "e2e")
"""The SLOs each request is judged by (the others judge a contender's whole run)."""
_SLO_DEFAULTS: dict[str, float | None] = {
    "ttft": None,
    "ttfot": None,
    "tpot": None,
    "e2e": None,
    "max_error_rate": 0.05,
    "min_good_fraction": 0.9,
}


def slo_settings(
    slo: SLO | None = None, overrides: dict[str, float] | None = None
) -> dict[str, float | None]:
    """The scenario's SLOs (the manifest's ``slo``) with optional overrides; unknown keys are refused."""
    out = dict(_SLO_DEFAULTS)
    for k, v in (slo.model_dump() if slo is not None else {}).items():
        if k in out:
            out[k] = None if v is None else float(v)
    for k, v in (overrides or {}).items():
        if k not in out:
            from harness._errors import ConfigError

            raise ConfigError([f"--slo {k}: unknown SLO; use one of {', '.join(SLO_KEYS)}"])
        out[k] = None if v is None else float(v)
    return out


def slo_met(lg: pd.DataFrame, slo: dict[str, float | None]) -> dict[str, np.ndarray]:
    """Per set per-request SLO (ttft, ttfot, tpot, e2e): which logical requests succeeded and met that one
    threshold.

    A request without a first-token time (non-streaming) uses its user latency as TTFT, and one without a
    first-output time (non-streaming, or an answer of reasoning alone) as time to first output; one with
    fewer than two output tokens has no TPOT and cannot miss the TPOT SLO.
    """
    out: dict[str, np.ndarray] = {}
    if lg.empty:
        return {k: np.zeros(0, dtype=bool) for k in PER_REQUEST_SLOS if slo.get(k) is not None}
    ok = lg["ok"].to_numpy(dtype=bool)
    ulat = lg["user_latency"].to_numpy(dtype=float)
    if slo.get("ttft") is not None:
        uttft = lg["user_ttft"].to_numpy(dtype=float)
        uttft = np.where(np.isnan(uttft), ulat, uttft)
        out["ttft"] = ok & (uttft <= float(slo["ttft"]))  # type: ignore[arg-type]
    if slo.get("ttfot") is not None:
        uttfot = lg["user_ttfot"].to_numpy(dtype=float)
        uttfot = np.where(np.isnan(uttfot), ulat, uttfot)
        out["ttfot"] = ok & (uttfot <= float(slo["ttfot"]))  # type: ignore[arg-type]
    if slo.get("tpot") is not None:
        tpot = lg["tpot"].to_numpy(dtype=float)
        out["tpot"] = ok & (np.isnan(tpot) | (tpot <= float(slo["tpot"])))  # type: ignore[arg-type]
    if slo.get("e2e") is not None:
        out["e2e"] = ok & (ulat <= float(slo["e2e"]))  # type: ignore[arg-type]
    return out


def good_mask(lg: pd.DataFrame, slo: dict[str, float | None]) -> np.ndarray:
    """Which logical requests are good: succeeded and met every per-request SLO (user-perceived times;
    see :func:`slo_met`)."""
    good = lg["ok"].to_numpy(dtype=bool).copy()
    for met in slo_met(lg, slo).values():
        good &= met
    return good


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan  # NaN seconds (no span of time): NaN rates


def request_metrics(
    g: Mapping[str, Any],
    good: np.ndarray,
    seconds: float,
    *,
    n_chunk_gaps: int = 0,
    n_reads: int = 0,
    n_merged_reads: int = 0,
) -> dict[str, float]:
    """Counts, rates, throughput and cost over one group of logical requests covering ``seconds``
    (NaN: a group that is no span of time, such as a transition group; its rates are NaN).

    ``g`` maps column names to equal-length arrays (a DataFrame of logical requests works too).
    ``n_reads`` / ``n_merged_reads``: reads with deltas of the group's succeeded answers, and those of them
    that carried several deltas at once.
    """

    def col(name: str, dtype: Any = None) -> np.ndarray:
        return np.asarray(g[name], dtype=dtype)

    ok = col("ok", bool)
    n = int(ok.size)
    n_ok = int(ok.sum())
    n_good = int(np.asarray(good, dtype=bool).sum())
    throttled = int(col("throttled", bool).sum())
    failed = n - n_ok
    prim_failed = int(col("primary_failed", bool).sum())
    rescued = int(col("rescued", bool).sum())
    cost = float(col("cost", float).sum())
    out_tok = col("output_tokens", float)
    usage = col("usage_source")
    check = col("check_passed")
    attempts = int(col("n_attempts", float).sum())
    n_tpot = int(np.isfinite(col("tpot", float)[ok]).sum())
    reasoning = col("reasoning_tokens", float) if "reasoning_tokens" in g else np.zeros(n)
    reasoning_cost = float(np.nansum(col("reasoning_cost", float))) if "reasoning_cost" in g else 0.0
    lat: dict[str, float] = {}
    for m in ("ttft", "user_ttft", "ttfot", "user_ttfot", "tpot", "e2e", "user_latency"):
        if m not in g:  # a group built without the reasoning columns
            continue
        qs = percentiles(col(m, float)[ok], (50, 95, 99))
        for p, q in zip((50, 95, 99), qs, strict=True):
            lat[f"{m}_p{p}"] = q
    return {
        "requests": float(n),
        "succeeded": float(n_ok),
        "failed": float(failed),
        "throttled": float(throttled),
        "failed_not_throttled": float(failed - throttled),
        "error_rate": _ratio(failed, n),
        "throttle_rate": _ratio(throttled, n),
        "failure_rate_excl_throttle": _ratio(failed - throttled, n),
        "good": float(n_good),
        "good_fraction": _ratio(n_good, n),
        "seconds": float(seconds),
        "offered_rps": _ratio(n, seconds),
        "throughput_rps": _ratio(n_ok, seconds),
        "goodput_rps": _ratio(n_good, seconds),
        "output_tok_s": _ratio(float(np.nansum(out_tok[ok])), seconds),
        "fallback_rate": _ratio(int(col("fallback", bool).sum()), n),
        "primary_failures": float(prim_failed),
        "rescued": float(rescued),
        "rescue_rate": _ratio(rescued, prim_failed),
        "attempts": float(attempts),
        "attempts_per_request": _ratio(attempts, n),
        "attempts_429": float(col("attempts_429", float).sum()),
        "cost_usd": cost,
        "wasted_cost_usd": float(col("wasted_cost", float).sum()),
        "cost_per_1k_requests": _ratio(cost, n) * 1000 if n else math.nan,
        "cost_per_good_request": _ratio(cost, n_good),
        "usage_reported_share": _ratio(int((usage[ok] == "reported").sum()), n_ok),
        "usage_estimated_share": _ratio(int((usage[ok] == "estimated").sum()), n_ok),
        "usage_missing_share": _ratio(int((usage[ok] == "none").sum()), n_ok),
        "max_tokens_overruns": float(col("max_tokens_exceeded", bool).sum()),
        "check_failed": float(sum(1 for c in check[ok] if c is False or c is np.False_)),
        "unfinished": float((~col("finished", bool)).sum()),
        "chunk_gaps": float(n_chunk_gaps),
        "with_tpot": float(n_tpot),
        "tpot_share": _ratio(n_tpot, n_ok),
        "reasoning_tokens_per_request": _ratio(float(np.nansum(reasoning[ok])), n_ok),
        "reasoning_cost_usd": reasoning_cost,
        "reasoning_cost_share": _ratio(reasoning_cost, cost),
        "reads": float(n_reads),
        "merged_read_share": _ratio(n_merged_reads, n_reads),
        **lat,
    }


def latency_rows(g: Mapping[str, Any], gaps: np.ndarray) -> list[dict[str, Any]]:
    """Distribution (count, mean, min, p50 … p99.9, max) of each latency metric over succeeded requests."""
    ok = np.asarray(g["ok"], dtype=bool)
    rows: list[dict[str, Any]] = []
    for m in LATENCY_METRICS:
        if m == "chunk_gap":
            vals = gaps
        elif m == "schedule_lag":
            vals = np.asarray(g[m], dtype=float)  # every request waited, failed or not
        else:
            vals = np.asarray(g[m], dtype=float)[ok]
        rows.append({"metric": m, **describe(vals)})
    return rows


FORMULAS: tuple[tuple[str, str], ...] = (
    ("E2E latency", "t_end − t_dispatch of the final attempt (succeeded requests)"),
    ("user latency", "t_end of the final attempt − t_intended: includes schedule lag, retries and fallbacks"),
    ("schedule lag", "t_dispatch of the first attempt − t_intended (every request)"),
    ("TTFT", "t_first_token − t_dispatch of the final attempt; user TTFT counts from t_intended"),
    (
        "time to first output",
        "t_first_output − t_dispatch of the final attempt: the first token of the answer itself, after any "
        "reasoning (TTFT counts a reasoning token too); user time to first output counts from t_intended",
    ),
    (
        "reasoning",
        "reasoning tokens per request = Σ reasoning_tokens / succeeded requests (reported by the vendor, or "
        "counted from the thinking text Anthropic streams); reasoning cost = reasoning tokens × "
        "reasoning_per_mtok, else the output price (reasoning is billed as output); its share = Σ "
        "reasoning cost / Σ cost",
    ),
    (
        "TPOT",
        "(t_last_token − t_first_token) / (output_tokens − 1), only when output_tokens ≥ 2 and the output "
        "arrived in two or more reads at distinct times; a non-streamed answer (or one read in one go) has "
        "no TPOT, and the TPOT SLO does not judge it",
    ),
    (
        "chunk gap",
        "every gap between consecutive reads that carried deltas, succeeded answers, pooled; reads at the "
        "same instant make no gap. Each record keeps how many deltas each read carried (chunk_deltas): a "
        "gap before a read of k deltas covers k deltas",
    ),
    ("merged reads", "reads that carried more than one delta / reads that carried deltas (succeeded)"),
    ("output tok/s (system)", "Σ output_tokens of succeeded requests / measured seconds"),
    ("throughput", "succeeded logical requests / measured seconds"),
    (
        "good request",
        "succeeded AND user TTFT ≤ SLO ttft AND user time to first output ≤ SLO ttfot AND TPOT ≤ SLO tpot "
        "AND user latency ≤ SLO e2e (an unset SLO is not checked; a non-streamed answer uses its user "
        "latency as TTFT and as time to first output)",
    ),
    ("goodput", "good logical requests / measured seconds"),
    ("good fraction", "good / all logical requests (errors in the denominator)"),
    ("error rate", "failed logical requests / all logical requests, by error class of the final attempt"),
    ("throttle rate", "logical requests whose final attempt got HTTP 429 / all (a part of the error rate)"),
    ("fallback rate", "logical requests whose final attempt used a non-primary endpoint / all"),
    (
        "rescue rate",
        "logical requests the primary did not serve but a fallback did / those the primary did not serve",
    ),
    ("cost per 1k requests", "Σ cost of all attempts (failed ones too) / logical requests × 1000"),
    ("cost per good request", "Σ cost of all attempts (failed ones too) / good requests"),
    ("wasted cost", "Σ cost of attempts that failed"),
    ("monthly projection", "declared monthly requests × Σ cost of all attempts / logical requests"),
    (
        "time to detect",
        "first failed attempt on a faulted endpoint, or first fallback away from one, after the "
        "fault started − fault start",
    ),
    (
        "time to recover",
        "first t ≥ fault end at which requests asked for in [t, t+W) have p95 user latency ≤ "
        "max(1.5 × baseline, baseline + 0.25 s) and error rate ≤ baseline + 5 points; W ≈ 20 "
        "requests at the baseline rate, 5–30 s, stepped by 0.5 s",
    ),
    (
        "decision score",
        "weighted mean over the objectives (p95 user TTFT; p95 and p99 user latency; good fraction; cost per "
        "good request; under the faults every contender faced: share served, p95 latency added, slowest "
        "recovery) of best/value (lower is better) or value/best (higher is better); weights from the "
        "scenario's decision section",
    ),
    (
        "proven / tie",
        "a difference is proven when its bootstrap interval (each contender's logical requests resampled, "
        "seeded) excludes 0; a contender proven better on one objective and worse on none dominates; "
        "contenders no one above has proven better than share a rank (=2)",
    ),
    (
        "percentiles",
        "exact, from the raw records: linear interpolation between order statistics "
        "(numpy/pandas default); p50, p90, p95, p99, p99.9",
    ),
    (
        "phases",
        "by t_intended: baseline (before the first fault), fault window (applied → removed, from the "
        "fault events), recovery (the fault's length after it, 10–30 s), after (the rest); a request in "
        "flight across a fault window's start or end (t_intended → t_end of its final attempt) goes to "
        "that fault's transition group instead, shown apart",
    ),
    (
        "fault impact baseline",
        "the contender's requests whose whole life lies outside every window and recovery period of the "
        "faults that touched it: those before the first fault when there are at least 10, else all",
    ),
    (
        "change beyond noise",
        "window percentile − baseline percentile (user TTFT, user latency; p50, p95; succeeded requests). "
        "Noise: each group's distribution-free 95 % interval of that percentile (order statistics at "
        "n·q ± 1.96·√(n·q·(1−q))), half-widths combined in quadrature, at least 1 ms. A change larger "
        "than its noise is always reported; it is judged only with ≥ 5 requests per group for p50, "
        "≥ 20 for p95",
    ),
    (
        "measured window",
        "warm-up and cool-down cut off (manifest load.warmup/cooldown); interrupted runs end "
        "at the last record",
    ),
)
