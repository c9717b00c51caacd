"""From attempt records to one row per logical request, with every per-request metric of DESIGN.md.

Per-request metrics (seconds; the final attempt unless said otherwise):

    e2e           = t_end − t_dispatch
    user_latency  = t_end − t_intended            (retries, fallbacks and schedule lag included)
    ttft          = t_first_token − t_dispatch
    user_ttft     = t_first_token − t_intended
    tpot          = (t_last_token − t_first_token) / (output_tokens − 1), only when output_tokens ≥ 2
    schedule_lag  = t_dispatch(first attempt) − t_intended
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LOGICAL_COLUMNS", "chains", "chunk_gaps", "logical_requests", "primaries"]

LOGICAL_COLUMNS: tuple[str, ...] = (
    "contender",
    "request_id",
    "prompt_id",
    "prompt_class",
    "endpoint",
    "primary",
    "model_served",
    "t_intended",
    "t_first_dispatch",
    "t_dispatch",
    "t_first_token",
    "t_last_token",
    "t_end",
    "ok",
    "outcome",
    "error_class",
    "error_detail",
    "status",
    "finished",
    "output_tokens",
    "input_tokens",
    "usage_source",
    "max_tokens_exceeded",
    "check_passed",
    "n_attempts",
    "attempts_429",
    "cost",
    "wasted_cost",
    "fallback",
    "primary_failed",
    "rescued",
    "throttled",
    "e2e",
    "user_latency",
    "ttft",
    "user_ttft",
    "tpot",
    "schedule_lag",
    "output_excerpt",
)

_FLOAT_COLS = (
    "t_intended",
    "t_dispatch",
    "t_first_token",
    "t_last_token",
    "t_end",
    "output_tokens",
    "input_tokens",
    "cost_usd",
)


def primaries(manifest: dict[str, Any]) -> dict[str, str]:
    """Contender name → its primary endpoint, from the manifest."""
    return {
        str(c["name"]): str(c.get("primary", "")) for c in manifest.get("contenders") or [] if "name" in c
    }


def chains(manifest: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Contender name → primary followed by its fallbacks."""
    return {
        str(c["name"]): (str(c.get("primary", "")), *(str(f) for f in c.get("fallbacks") or []))
        for c in manifest.get("contenders") or []
        if "name" in c
    }


def _float(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in LOGICAL_COLUMNS})


def logical_requests(records: pd.DataFrame, manifest: dict[str, Any]) -> pd.DataFrame:
    """One row per (contender, request_id): the final attempt's result plus aggregates over all attempts.

    The final attempt is the highest ``attempt``; when a run was interrupted it may not be marked
    ``is_final_attempt`` (``finished`` is False then) and still counts with its recorded outcome.
    """
    if records.empty:
        return _empty()
    df = records.sort_values(["contender", "request_id", "attempt"], kind="stable").reset_index(drop=True)
    keys = ["contender", "request_id"]
    first_mask = ~df.duplicated(keys, keep="first").to_numpy()
    last_mask = ~df.duplicated(keys, keep="last").to_numpy()
    gid = np.cumsum(first_mask) - 1
    n = int(first_mask.sum())
    cost_all = np.nan_to_num(_float(df["cost_usd"]))
    att_ok = (df["outcome"] == "ok").to_numpy()
    err_cls = df["error_class"].astype(object).to_numpy()
    cost = np.bincount(gid, weights=cost_all, minlength=n)
    wasted = np.bincount(gid, weights=np.where(att_ok, 0.0, cost_all), minlength=n)
    n_att = np.bincount(gid, minlength=n)
    n429 = np.bincount(gid, weights=(err_cls == "http_429").astype(float), minlength=n).astype(int)
    over = (
        np.bincount(
            gid,
            weights=df["max_tokens_exceeded"].fillna(False).astype(bool).to_numpy().astype(float),
            minlength=n,
        )
        > 0
    )

    fin = df.loc[last_mask].reset_index(drop=True)
    first = df.loc[first_mask].reset_index(drop=True)
    f = {c: _float(fin[c]) for c in _FLOAT_COLS}
    t_intended = _float(first["t_intended"])
    ok = (fin["outcome"] == "ok").to_numpy()
    out_tok = f["output_tokens"]
    prim_map = primaries(manifest)
    endpoint = fin["endpoint"].astype(str).to_numpy()
    first_ep = first["endpoint"].astype(str).to_numpy()
    contender = fin["contender"].astype(str).to_numpy()
    primary = np.array([prim_map.get(c) or e for c, e in zip(contender, first_ep, strict=True)], dtype=object)
    fallback = endpoint != primary
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(out_tok >= 2, (f["t_last_token"] - f["t_first_token"]) / (out_tok - 1), np.nan)
    ttft = f["t_first_token"] - f["t_dispatch"]
    user_ttft = f["t_first_token"] - t_intended
    user_latency = f["t_end"] - t_intended
    error_class = err_cls[last_mask].copy()
    error_class[ok] = None
    return pd.DataFrame(
        {
            "contender": contender,
            "request_id": fin["request_id"].astype(str).to_numpy(),
            "prompt_id": fin["prompt_id"].astype(str).to_numpy(),
            "prompt_class": fin["prompt_class"].fillna("").astype(str).to_numpy(),
            "endpoint": endpoint,
            "primary": primary,
            "model_served": fin["model_served"].to_numpy(),
            "t_intended": t_intended,
            "t_first_dispatch": _float(first["t_dispatch"]),
            "t_dispatch": f["t_dispatch"],
            "t_first_token": f["t_first_token"],
            "t_last_token": f["t_last_token"],
            "t_end": f["t_end"],
            "ok": ok,
            "outcome": fin["outcome"].astype(str).to_numpy(),
            "error_class": error_class,
            "error_detail": fin["error_detail"].to_numpy(),
            "status": fin["status"].to_numpy(),
            "finished": fin["is_final_attempt"].fillna(False).astype(bool).to_numpy(),
            "output_tokens": out_tok,
            "input_tokens": f["input_tokens"],
            "usage_source": fin["usage_source"].fillna("none").astype(str).to_numpy(),
            "max_tokens_exceeded": over,
            "check_passed": fin["check_passed"].to_numpy(),
            "n_attempts": n_att,
            "attempts_429": n429,
            "cost": cost,
            "wasted_cost": wasted,
            "fallback": fallback,
            "primary_failed": ~(ok & ~fallback),
            "rescued": ok & fallback,
            "throttled": ~ok & np.equal(error_class, "http_429"),
            "e2e": f["t_end"] - f["t_dispatch"],
            "user_latency": user_latency,
            "ttft": ttft,
            "user_ttft": user_ttft,
            "tpot": tpot,
            "schedule_lag": _float(first["t_dispatch"]) - t_intended,
            "output_excerpt": fin["output_excerpt"].to_numpy(),
        }
    )


def chunk_gaps(chunk_times: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Every gap between consecutive deltas, pooled, and the position (in ``chunk_times``) each came from."""
    lists = [
        np.asarray(x, dtype=float) if x is not None and not isinstance(x, float) else np.empty(0)
        for x in chunk_times.tolist()
    ]
    if not lists:
        return np.empty(0), np.empty(0, dtype=int)
    lengths = np.fromiter((a.size for a in lists), dtype=int, count=len(lists))
    if lengths.sum() < 2:
        return np.empty(0), np.empty(0, dtype=int)
    flat = np.concatenate(lists)
    owner = np.repeat(np.arange(len(lists)), lengths)
    gaps = np.diff(flat)
    same = owner[1:] == owner[:-1]
    return gaps[same], owner[1:][same]
