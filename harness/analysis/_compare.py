"""Pool repeated runs of one scenario: per metric and contender, the mean over the runs and a 95 % bootstrap
interval; for every pair of contenders, whether the run-to-run data prove a difference.

    interval  two-level bootstrap: the runs are resampled with replacement, then each chosen run's logical
              requests (per contender, up to 10,000 at a time with the spread scaled by √(m/n)); the metric
              is averaged over the chosen runs. 2.5th and 97.5th percentiles of 2,000 such draws (seeded).
              A latency interval never goes below 0 and a share never leaves [0, 1]: the bounds are values
              the metric took
    proven    the interval of the difference between two contenders (same runs drawn for both: they ran
              side by side) excludes 0, and there are at least two runs: one run says nothing about how the
              next would go

Runs of different scenarios, designs (contenders, endpoints, prices, load, faults, SLOs, prompt set) or
durations are refused unless ``allow_mismatch``, which turns each refusal into a warning; different
schedules (seeds) of one design are independent repeats and only noted.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness._errors import ReportError
from harness._percentile import percentiles, row_percentiles
from harness.analysis._analyse import Analysis, analyse
from harness.analysis._rows import column_at, positions

__all__ = ["COMPARE_METRICS", "Comparison", "compare_analyses", "compare_runs"]

# (key in the run metrics, label, which way is better, display kind)
COMPARE_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("good_fraction", "good fraction", "higher", "pct"),
    ("error_rate", "error rate", "lower", "pct"),
    ("throttle_rate", "throttle rate", "lower", "pct"),
    ("goodput_rps", "goodput (req/s)", "higher", "num"),
    ("user_ttft_p50", "user TTFT p50", "lower", "sec"),
    ("user_ttft_p95", "user TTFT p95", "lower", "sec"),
    ("tpot_p50", "TPOT p50", "lower", "sec"),
    ("user_latency_p95", "user latency p95", "lower", "sec"),
    ("rescue_rate", "rescue rate", "higher", "pct"),
    ("cost_per_good_request", "cost per good request", "lower", "usd"),
)
_KEYS = [m[0] for m in COMPARE_METRICS]
N_DRAWS = 2000
RESAMPLE_CAP = 10_000
_CHUNK_CELLS = 2_000_000


@dataclass
class Comparison:
    scenario: str
    runs: list[str]
    contenders: list[str]
    table: pd.DataFrame  # contender × metric: n, mean, std, ci_low, ci_high, values
    findings: list[dict[str, Any]]  # per metric and pair of contenders: better, other, proven?, sentence
    warnings: list[str] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)  # per pair: who is better on what


# ---- refusing runs that are not repeats of one design ----------------------------------------------------


def _design(meta: dict[str, Any]) -> dict[str, Any]:
    """What must be equal for two runs to be repeats: everything the scenario decides except the seed."""
    endpoints = [
        {k: e.get(k) for k in ("name", "dialect", "model", "sim", "region", "stream", "price")}
        for e in meta.get("endpoints") or []
    ]
    load = {k: v for k, v in (meta.get("load") or {}).items() if k != "duration"}
    return {
        "contenders": meta.get("contenders"),
        "endpoints": endpoints,
        "load": load,
        "faults": meta.get("faults_planned"),
        "slo": meta.get("slo"),
        "prompt set": (meta.get("prompts") or {}).get("sha256"),
    }


def _mismatches(analyses: list[Analysis]) -> tuple[list[str], list[str]]:
    """(problems that make the runs incomparable, notes)."""
    problems: list[str] = []
    notes: list[str] = []
    first = analyses[0].meta
    rid0 = first.get("run_id")
    names = {a.meta["scenario"] for a in analyses}
    if len(names) > 1:
        problems.append(
            f"runs are of different scenarios ({', '.join(sorted(map(str, names)))}); "
            "compare repeats of one scenario"
        )
    d0 = _design(first)
    for a in analyses[1:]:
        d = _design(a.meta)
        differ = [k for k in d0 if d0[k] != d[k]]
        if differ:
            problems.append(
                f"run {a.meta.get('run_id')} differs from {rid0} in {', '.join(differ)}: not a repeat"
            )
    durations = {a.meta.get("run_id"): a.meta.get("planned_duration_s") for a in analyses}
    if len(set(durations.values())) > 1:
        problems.append(
            "runs of different durations: "
            + ", ".join(
                f"{r} {d:g} s" if isinstance(d, int | float) else f"{r} ?" for r, d in durations.items()
            )
        )
    shas = {a.meta.get("schedule", {}).get("sha256") or None for a in analyses}
    seeds = sorted({a.meta.get("seed") for a in analyses}, key=str)
    if len(shas) > 1:
        if len(seeds) > 1:
            notes.append(
                f"the runs used different schedules (seeds {', '.join(map(str, seeds))}): independent "
                "draws of the same design"
            )
        else:
            problems.append("the runs have the same seed but different schedules (manifest schedule.sha256)")
    return problems, notes


# ---- per-run bootstrap -------------------------------------------------------------------------------


def _metrics(g: dict[str, np.ndarray], idx: np.ndarray, seconds: float) -> np.ndarray:
    """Rows of idx → the COMPARE_METRICS over those requests (one column each)."""
    nan = math.nan
    ok = g["ok"][idx]
    n = idx.shape[1]
    good = g["good"][idx].sum(axis=1)
    out = np.full((idx.shape[0], len(_KEYS)), nan)
    col = {k: i for i, k in enumerate(_KEYS)}
    out[:, col["good_fraction"]] = good / n
    out[:, col["error_rate"]] = 1 - ok.sum(axis=1) / n
    out[:, col["throttle_rate"]] = g["throttled"][idx].sum(axis=1) / n
    out[:, col["goodput_rps"]] = good / seconds if seconds > 0 else nan
    out[:, [col["user_ttft_p50"], col["user_ttft_p95"]]] = row_percentiles(
        np.where(ok, g["user_ttft"][idx], nan), (50, 95)
    )
    out[:, col["tpot_p50"]] = row_percentiles(np.where(ok, g["tpot"][idx], nan), (50,))[:, 0]
    out[:, col["user_latency_p95"]] = row_percentiles(np.where(ok, g["user_latency"][idx], nan), (95,))[:, 0]
    pf = g["primary_failed"][idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, col["rescue_rate"]] = np.where(pf > 0, g["rescued"][idx].sum(axis=1) / pf, nan)
        cost = g["cost"][idx].sum(axis=1)
        out[:, col["cost_per_good_request"]] = np.where(good > 0, cost / good, nan)
    return out


def _replicates(a: Analysis, c: str, n_draws: int, rng: np.random.Generator) -> np.ndarray | None:
    """n_draws × metrics for one run and contender (None when it has no requests)."""
    lg = a.logical
    sel = positions(lg["contender"]).get(c) if len(lg) else None  # the contender's rows, ascending
    n = 0 if sel is None else int(sel.size)
    if sel is None or n == 0:
        return None
    g = {k: column_at(lg, k, sel, bool) for k in ("ok", "good", "throttled", "primary_failed", "rescued")}
    g |= {k: column_at(lg, k, sel, float) for k in ("user_ttft", "tpot", "user_latency")}
    g["cost"] = np.nan_to_num(column_at(lg, "cost", sel, float))
    seconds = float(a.window.length)
    point = _metrics(g, np.arange(n)[None, :], seconds)[0]
    run = a.run_rows().get(c, {})
    for i, k in enumerate(_KEYS):  # the report's own numbers (an unpriced contender's cost is unknown)
        v = run.get(k, math.nan)
        point[i] = float(v) if isinstance(v, int | float) else math.nan
    m = min(n, RESAMPLE_CAP)
    chunk = max(1, _CHUNK_CELLS // m)
    reps = np.concatenate(
        [
            _metrics(g, rng.integers(0, n, size=(min(chunk, n_draws - b), m)), seconds)
            for b in range(0, n_draws, chunk)
        ]
    )
    if m < n:
        reps = point + (reps - point) * math.sqrt(m / n)
    reps[:, np.isnan(point)] = math.nan
    return reps


# ---- the comparison ----------------------------------------------------------------------------------


def _pair_text(label: str, a: str, b: str, proven: bool, same: bool) -> str:
    if proven:
        return f"{label}: {a} is better than {b} (95 % interval of the difference excludes 0)"
    if same:
        return f"{label}: {a} vs {b}: no difference (same values)"
    return f"{label}: {a} vs {b}: difference not proven"


def compare_analyses(
    analyses: list[Analysis], *, allow_mismatch: bool = False, seed: int = 0, n_draws: int = N_DRAWS
) -> Comparison:
    """Compare already analysed runs (pure). Refuses runs that are not repeats of one design unless
    ``allow_mismatch`` (then every mismatch is a warning)."""
    if not analyses:
        raise ReportError("compare: give at least one run folder")
    warnings: list[str] = []
    seen: set[str] = set()
    unique: list[Analysis] = []
    for a in analyses:
        rid = str(a.meta.get("run_id"))
        if rid in seen:
            warnings.append(f"run {rid} was given more than once; counted once")
            continue
        seen.add(rid)
        unique.append(a)
    analyses = unique
    problems, notes = _mismatches(analyses)
    if problems and not allow_mismatch:
        raise ReportError(
            "compare: " + "; ".join(problems) + " (--allow-mismatch compares them anyway, flagged)"
        )
    warnings += [f"NOT COMPARABLE: {p}" for p in problems] + notes
    if any(a.meta.get("interrupted") for a in analyses):
        warnings.append(
            "some runs were interrupted: "
            + ", ".join(a.meta["run_id"] for a in analyses if a.meta.get("interrupted"))
        )
    if len(analyses) < 2:
        warnings.append(
            "one run only: its intervals show this run's own noise; no difference is called proven "
            "until the run is repeated"
        )
    contenders = list(dict.fromkeys(c for a in analyses for c in a.contenders))
    rng = np.random.default_rng(seed)
    k = len(analyses)
    reps = {(j, c): _replicates(a, c, n_draws, rng) for j, a in enumerate(analyses) for c in contenders}
    # two-level draws: the same runs for every contender (they ran side by side), then a resample each
    run_draw = rng.integers(0, k, size=(n_draws, k))
    rep_draw = rng.integers(0, n_draws, size=(n_draws, k))
    pooled: dict[str, np.ndarray] = {}
    for c in contenders:
        stack = np.full((n_draws, k, len(_KEYS)), math.nan)
        for pos in range(k):
            for j in range(k):
                r = reps[(j, c)]
                rows = run_draw[:, pos] == j
                if r is not None and rows.any():
                    stack[rows, pos] = r[rep_draw[rows, pos]]
        with _warnings.catch_warnings():  # a draw of runs without data is NaN, as wanted
            _warnings.simplefilter("ignore", RuntimeWarning)
            pooled[c] = np.nanmean(stack, axis=1)
    table_rows: list[dict[str, Any]] = []
    for c in contenders:
        for i, (key, label, better, kind) in enumerate(COMPARE_METRICS):
            vals = [float(a.run_rows().get(c, {}).get(key, math.nan)) for a in analyses]
            finite = [v for v in vals if math.isfinite(v)]
            lo, hi = percentiles(pooled[c][:, i], (2.5, 97.5)) if finite else (math.nan, math.nan)
            table_rows.append(
                {
                    "contender": c,
                    "metric": key,
                    "label": label,
                    "better": better,
                    "kind": kind,
                    "n": float(len(finite)),
                    "mean": float(np.mean(finite)) if finite else math.nan,
                    "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan,
                    "ci_low": lo,
                    "ci_high": hi,
                    "values": json.dumps([None if math.isnan(v) else v for v in vals]),
                }
            )
    table = pd.DataFrame(table_rows)
    by = {(r["contender"], r["metric"]): r for r in table_rows}
    findings: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    for a_name, b_name in itertools.combinations(contenders, 2):
        summary: dict[str, Any] = {"a": a_name, "b": b_name, "a_better": [], "b_better": [], "not_proven": []}
        for i, (key, label, better, _kind) in enumerate(COMPARE_METRICS):
            ra, rb = by[(a_name, key)], by[(b_name, key)]
            if not (ra["n"] and rb["n"] and math.isfinite(ra["mean"]) and math.isfinite(rb["mean"])):
                continue
            sign = 1.0 if better == "higher" else -1.0
            first, second = (a_name, b_name) if sign * (ra["mean"] - rb["mean"]) >= 0 else (b_name, a_name)
            d = sign * (pooled[first][:, i] - pooled[second][:, i])
            lo, _hi = percentiles(d, (2.5, 97.5))
            proven = k >= 2 and ra["n"] >= 2 and rb["n"] >= 2 and lo > 0
            same = ra["mean"] == rb["mean"]
            findings.append(
                {
                    "metric": key,
                    "label": label,
                    "best": first,
                    "other": second,
                    "proven": bool(proven),
                    "text": _pair_text(label, first, second, proven, same),
                }
            )
            if proven:
                summary["a_better" if first == a_name else "b_better"].append(label)
            else:
                summary["not_proven"].append(label)
        pairs.append(summary)
    return Comparison(
        scenario=str(analyses[0].meta["scenario"]),
        runs=[str(a.meta["run_id"]) for a in analyses],
        contenders=contenders,
        table=table,
        findings=findings,
        warnings=warnings,
        pairs=pairs,
    )


def compare_runs(run_dirs: list[Path], *, allow_mismatch: bool = False) -> Comparison:
    """Read and analyse each run folder, then compare (the only reader in this package)."""
    from harness.record import read_fault_events, read_records, read_run

    dirs = [Path(d) for d in run_dirs]
    analyses = [analyse(read_records(d), read_fault_events(d), read_run(d)) for d in dirs]
    return compare_analyses(analyses, allow_mismatch=allow_mismatch)
