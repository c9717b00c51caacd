"""The vendors' own server metrics (``server_metrics.parquet``, harness.servermetrics): the key series per
scrape, and what the scorecard reads from them per contender (its primary endpoint, the vendor under
evaluation).

- ``key_series``: per scrape and endpoint, each key series (running, waiting, kv_cache, gpu_util, ...)
  as one value: the sum over its samples (several models or GPUs add up), the mean for kv_cache and
  gpu_util; scaled to the common unit (DCGM's percent to a fraction).
- ``server_summary``: per contender, over the measured window: scrapes and failed scrapes, the peaks of
  running, waiting, KV-cache use and GPU utilisation, the share of scrapes in which the server was
  saturated (requests waiting, or KV cache ≥ 95 %), and after each fault that hit the contender how long
  the waiting queue took to drain back to its level before the fault.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis._phases import FaultWindow, Window
from harness.servermetrics import MEAN_SERIES, SERIES_OF

__all__ = ["SATURATED_KV", "SERIES_COLUMNS", "by_contender", "key_series", "scrape_gaps", "server_summary"]

SERIES_COLUMNS = ("contender", "t", "endpoint", "series", "value")
SATURATED_KV = 0.95
"""KV-cache use at or above which a scrape counts as saturated."""
_BASELINE_S = 10.0  # the queue before a fault: the median over this many seconds before it started


def by_contender(
    raw: pd.DataFrame | None, primaries: dict[str, str], slot_s: float | None = None
) -> pd.DataFrame | None:
    """The rows of each contender's primary endpoint, with a ``contender`` column. ``slot_s``: a sequential
    run, in which contender k ran in slot k: only its slot's rows, shifted back by k × slot_s (the same
    alignment as its records, harness.analysis._sequential)."""
    if raw is None or raw.empty:
        return None
    parts = []
    for k, (c, ep) in enumerate(primaries.items()):
        mine = raw.loc[raw["endpoint"] == ep]
        if slot_s:
            t = mine["t"].to_numpy(dtype=float)
            last = k == len(primaries) - 1
            mine = mine.loc[(t >= k * slot_s) & ((t < (k + 1) * slot_s) | last)]
            mine = mine.assign(t=mine["t"].astype(float) - k * slot_s)
        parts.append(mine.assign(contender=c))
    return pd.concat(parts, ignore_index=True) if parts else None


def key_series(raw: pd.DataFrame | None) -> pd.DataFrame:
    """``contender, t, endpoint, series, value`` from :func:`by_contender` rows (empty when none)."""
    if raw is None or raw.empty or "series" not in raw.columns:
        return pd.DataFrame(columns=list(SERIES_COLUMNS))
    df = raw.loc[
        raw["series"].notna() & raw["error"].isna(),
        ["contender", "t", "endpoint", "metric", "series", "value"],
    ]
    df = df.loc[np.isfinite(pd.to_numeric(df["value"], errors="coerce").to_numpy(dtype=float))]
    if df.empty:
        return pd.DataFrame(columns=list(SERIES_COLUMNS))
    scale = df["metric"].map(lambda m: SERIES_OF[m][1] if m in SERIES_OF else 1.0).astype(float)
    df = df.assign(value=df["value"].astype(float) * scale)
    grouped = df.groupby(["contender", "t", "endpoint", "series"], sort=True)["value"]
    out = pd.concat([grouped.sum().rename("sum"), grouped.mean().rename("mean")], axis=1).reset_index()
    out["value"] = np.where(out["series"].isin(list(MEAN_SERIES)), out["mean"], out["sum"])
    result: pd.DataFrame = out[list(SERIES_COLUMNS)].reset_index(drop=True)
    return result


def scrape_gaps(raw: pd.DataFrame | None) -> dict[str, list[float]]:
    """contender → run-clock times of its primary endpoint's failed scrapes (:func:`by_contender` rows)."""
    if raw is None or raw.empty or "error" not in raw.columns:
        return {}
    failed = raw.loc[raw["error"].notna()]
    return {str(c): sorted(map(float, g["t"])) for c, g in failed.groupby("contender")}


def _peak(s: pd.DataFrame, name: str) -> float | None:
    v = s.loc[s["series"] == name, "value"]
    return round(float(v.max()), 4) if len(v) else None


def server_summary(
    series: pd.DataFrame,
    raw: pd.DataFrame | None,
    primaries: dict[str, str],
    window: Window,
    faults: list[FaultWindow],
    hit: dict[str, set[str]],
) -> dict[str, dict[str, Any]]:
    """contender → what its primary endpoint's server metrics showed in the measured window (contenders
    whose endpoint was not scraped are left out). ``series`` and ``raw`` are per contender
    (:func:`key_series`, :func:`by_contender`); ``hit``: contender → ids of the faults that hit it."""
    out: dict[str, dict[str, Any]] = {}
    if raw is None or raw.empty:
        return out
    for c, ep in primaries.items():
        mine_raw = raw.loc[raw["contender"] == c]
        if mine_raw.empty:
            continue
        t_raw = mine_raw["t"].to_numpy(dtype=float)
        in_win = (t_raw >= window.start) & (t_raw <= window.end)
        failed = int(mine_raw.loc[in_win, "error"].notna().sum())
        s = series.loc[series["contender"] == c]
        s_win = s.loc[(s["t"] >= window.start) & (s["t"] <= window.end)]
        scrapes = int(pd.Series(t_raw[in_win]).nunique())
        row: dict[str, Any] = {
            "endpoint": ep,
            "scrapes": scrapes,
            "failed_scrapes": failed,
            "peak_running": _peak(s_win, "running"),
            "peak_waiting": _peak(s_win, "waiting"),
            "peak_kv_cache": _peak(s_win, "kv_cache"),
            "peak_gpu_util": _peak(s_win, "gpu_util"),
            "saturated_share": None,
            "recoveries": [],
        }
        wide = s_win.pivot_table(index="t", columns="series", values="value", aggfunc="first")
        if "waiting" in wide or "kv_cache" in wide:
            sat = np.zeros(len(wide), dtype=bool)
            if "waiting" in wide:
                sat |= wide["waiting"].fillna(0).to_numpy(dtype=float) > 0
            if "kv_cache" in wide:
                sat |= wide["kv_cache"].fillna(0).to_numpy(dtype=float) >= SATURATED_KV
            row["saturated_share"] = round(float(sat.mean()), 4) if len(sat) else None
        waiting = s.loc[s["series"] == "waiting"].sort_values("t")
        if len(waiting):
            tw = waiting["t"].to_numpy(dtype=float)
            vw = waiting["value"].to_numpy(dtype=float)
            for w in faults:
                if not w.applied or w.ends_with_run or w.fault_id not in hit.get(c, set()):
                    continue
                before = vw[(tw >= w.start - _BASELINE_S) & (tw < w.start)]
                base = float(np.median(before)) if before.size else 0.0
                after = np.flatnonzero((tw >= w.end) & (vw <= base))
                peak_during = vw[(tw >= w.start) & (tw <= w.end)]
                row["recoveries"].append(
                    {
                        "fault_id": w.fault_id,
                        "baseline_waiting": round(base, 3),
                        "peak_waiting": round(float(peak_during.max()), 3) if peak_during.size else None,
                        "drain_s": round(float(tw[after[0]] - w.end), 3) if after.size else None,
                    }
                )
        out[c] = row
    return out
