"""Seeded synthetic runs (records, fault events, manifest and end) for tests, demos and the 1M-record bench.

Two contenders share one schedule: ``alpha`` (no fallback) and ``beta`` (falls back to ``beta-small``).
An outage hits ``alpha-ep`` and a 429 storm hits ``beta-ep``, so every part of the report has data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.config import SLO, LoadProfile, Price
from harness.record import (
    FAULTS_FILE,
    RECORD_FIELDS,
    RECORDS_FILE,
    RECORDS_PARQUET,
    ContenderInfo,
    EndpointInfo,
    FaultInfo,
    Manifest,
    PromptsInfo,
    RunEnd,
    RunInfo,
    ScenarioInfo,
    ScheduleInfo,
    ToxiproxyInfo,
    record_schema,
    write_end,
    write_manifest,
)

__all__ = ["synthetic_run", "write_synthetic_run"]

_PRICES = {"alpha-ep": (2.5, 10.0), "beta-ep": (1.0, 4.0), "beta-small": (0.15, 0.6)}
_SPEED = {"alpha-ep": (0.25, 0.012), "beta-ep": (0.35, 0.02), "beta-small": (0.2, 0.01)}  # ttft, tpot
_CLASSES = ("chat", "summarise", "code")


def _run_info(
    duration: float,
    rate: float,
    seed: int,
    faults: list[dict[str, Any]],
    monthly: int | None,
    warmup: float,
    cooldown: float,
) -> RunInfo:
    endpoints = tuple(
        EndpointInfo(
            name=n,
            dialect="openai-chat" if n.startswith("alpha") else "anthropic-messages",
            model=f"model-{n}",
            sim="default",
            region="eu-west",
            price=Price(input_per_mtok=p[0], output_per_mtok=p[1]),
            proxied=True,
        )
        for n, p in _PRICES.items()
    )
    manifest = Manifest(
        run_id=f"synthetic-{seed}",
        scenario=ScenarioInfo(
            name="synthetic", description="generated records", path="scenarios/synthetic.yaml"
        ),
        seed=seed,
        started_at="2026-01-01T00:00:00Z",
        duration_s=duration,
        versions={
            "bakeoff": "0.1.0",
            "python": "3.11",
            "locust": "-",
            "httpx": "-",
            "pandas": pd.__version__,
            "platform": "synthetic",
        },
        prompts=PromptsInfo(
            path="prompts/synthetic.jsonl",
            sha256="0" * 64,
            count=30,
            classes=dict.fromkeys(_CLASSES, 10),
        ),
        endpoints=endpoints,
        contenders=(
            ContenderInfo(name="alpha", primary="alpha-ep", deadline_s=60),
            ContenderInfo(name="beta", primary="beta-ep", fallbacks=("beta-small",), deadline_s=60),
        ),
        load=LoadProfile(
            model="open",
            arrival="poisson",
            rate=rate,
            users=64,
            duration=duration,
            warmup=warmup,
            cooldown=cooldown,
        ),
        faults=tuple(FaultInfo.model_validate(f) for f in faults),
        slo=SLO(ttft=1.0, tpot=0.05, e2e=6.0, max_error_rate=0.05, min_good_fraction=0.9),
        monthly_requests=monthly,
        schedule=ScheduleInfo(logical_requests_per_contender=int(duration * rate)),
        toxiproxy=ToxiproxyInfo(url="http://127.0.0.1:0", embedded=True),
    )
    end = RunEnd(ended_at="2026-01-01T00:10:00Z", ended="completed", elapsed_s=duration)
    return RunInfo(manifest, end)


def synthetic_run(
    n_requests: int = 600,
    *,
    seed: int = 7,
    rate: float = 10.0,
    chunks: int = 6,
    payload: str | None = None,
    monthly_requests: int | None = 1_000_000,
    warmup: float = 0.0,
    cooldown: float = 0.0,
    faults: bool = True,
    slice_requests: int | None = None,
) -> tuple[Any, list[dict[str, Any]], RunInfo]:
    """``n_requests`` logical requests per contender at ``rate``/s; returns (records, fault events, run).

    ``payload`` replaces one answer excerpt (to test escaping of untrusted model text).
    ``slice_requests`` makes the records an iterator of frames of that many logical requests each (the
    same run, drawn slice by slice: a 10M-record run without a 10M-row frame in memory).
    """
    rng = np.random.default_rng(seed)
    duration = n_requests / rate
    out_at, out_len = 0.4 * duration, max(0.1 * duration, 1.0)
    thr_at, thr_len = 0.7 * duration, max(0.08 * duration, 1.0)
    fault_plan: list[dict[str, Any]] = (
        [
            {
                "fault_id": "f1-outage",
                "name": "outage",
                "description": "outage of alpha-ep",
                "kind": "outage",
                "target": "alpha-ep",
                "endpoints": ["alpha-ep"],
                "at_s": out_at,
                "duration_s": out_len,
                "spec": {},
            },
            {
                "fault_id": "f2-429",
                "name": "rate-limit-storm",
                "description": "429 storm on beta-ep",
                "kind": "http_status",
                "target": "beta-ep",
                "endpoints": ["beta-ep"],
                "at_s": thr_at,
                "duration_s": thr_len,
                "spec": {"status": 429, "probability": 0.6},
            },
        ]
        if faults
        else []
    )
    run = _run_info(duration, rate, seed, fault_plan, monthly_requests, warmup, cooldown)
    events: list[dict[str, Any]] = []
    for f in fault_plan:
        for action, t in (("apply", f["at_s"] + 0.003), ("remove", f["at_s"] + f["duration_s"] + 0.004)):
            events.append(
                {
                    "run_id": f"synthetic-{seed}",
                    "fault_id": f["fault_id"],
                    "action": action,
                    "fault": f["name"],
                    "kind": f["kind"],
                    "target": f["target"],
                    "endpoints": f["endpoints"],
                    "t_requested": t - 0.003,
                    "t_applied": t,
                    "outcome": "ok",
                    "detail": None,
                    "spec": f["spec"],
                    "description": f["description"],
                }
            )
    t_int = np.sort(rng.uniform(0, duration, n_requests))
    prompt_idx = rng.integers(0, 30, n_requests)
    windows = (faults, out_at, out_len, thr_at, thr_len)
    if slice_requests is not None:
        return _sliced(rng, t_int, prompt_idx, windows, chunks, seed, slice_requests), events, run
    df = _records(rng, t_int, prompt_idx, windows, chunks, seed, 0)
    if payload is not None and len(df):
        i = int(np.flatnonzero((df["outcome"] == "ok").to_numpy())[0])
        df.loc[i, "output_excerpt"] = payload
        df.loc[i, "t_end"] = (
            float(df["t_end"].to_numpy()[i]) + 30.0
        )  # make it the slowest, so the drill-down shows it
    return df[list(RECORD_FIELDS)], events, run


def _records(
    rng: np.random.Generator,
    t_int: np.ndarray,
    prompt_idx: np.ndarray,
    windows: tuple[bool, float, float, float, float],
    chunks: int,
    seed: int,
    id_base: int,
) -> pd.DataFrame:
    """The attempts of the logical requests asked for at ``t_int``; request numbers start at ``id_base``."""
    faults, out_at, out_len, thr_at, thr_len = windows
    n_requests = t_int.size
    frames: list[pd.DataFrame] = []
    for cname, primary, fallback in (("alpha", "alpha-ep", None), ("beta", "beta-ep", "beta-small")):
        lag = rng.exponential(0.002, n_requests)
        disp1 = t_int + lag
        in_outage = faults & (t_int >= out_at) & (t_int < out_at + out_len) & (primary == "alpha-ep")
        storm = faults & (t_int >= thr_at) & (t_int < thr_at + thr_len) & (primary == "beta-ep")
        fail1 = in_outage | (storm & (rng.random(n_requests) < 0.6)) | (rng.random(n_requests) < 0.005)
        rows1 = _attempts(rng, cname, primary, 1, t_int, disp1, prompt_idx, ~fail1, chunks, id_base)
        cls1 = np.where(in_outage, "connect_refused", np.where(storm, "http_429", "http_5xx"))
        rows1 = _fail(rows1, fail1, cls1)
        parts = [rows1]
        if fallback is not None and fail1.any():
            idx = np.flatnonzero(fail1)
            disp2 = rows1["t_end"].to_numpy()[idx] + 0.001
            rows2 = _attempts(
                rng,
                cname,
                fallback,
                2,
                t_int[idx],
                disp2,
                prompt_idx[idx],
                np.ones(idx.size, dtype=bool),
                chunks,
            )
            rows2["fallback_from"] = primary
            rows2["request_id"] = rows1["request_id"].to_numpy()[idx]
            rows1.loc[fail1, "is_final_attempt"] = False
            parts.append(rows2)
        frames.append(pd.concat(parts, ignore_index=True))
    df = pd.concat(frames, ignore_index=True)
    df["run_id"] = f"synthetic-{seed}"
    return df


def _sliced(
    rng: np.random.Generator,
    t_int: np.ndarray,
    prompt_idx: np.ndarray,
    windows: tuple[bool, float, float, float, float],
    chunks: int,
    seed: int,
    size: int,
) -> Iterator[pd.DataFrame]:
    for start in range(0, t_int.size, max(size, 1)):
        stop = start + max(size, 1)
        df = _records(rng, t_int[start:stop], prompt_idx[start:stop], windows, chunks, seed, start)
        yield df[list(RECORD_FIELDS)]


def _attempts(
    rng: np.random.Generator,
    contender: str,
    endpoint: str,
    attempt: int,
    t_int: np.ndarray,
    disp: np.ndarray,
    prompt_idx: np.ndarray,
    ok: np.ndarray,
    chunks: int,
    id_base: int = 0,
) -> pd.DataFrame:
    n = t_int.size
    ttft0, tpot0 = _SPEED[endpoint]
    ttft = ttft0 * rng.lognormal(0.0, 0.35, n)
    tpot = tpot0 * rng.lognormal(0.0, 0.2, n)
    out_tok = rng.integers(8, 200, n)
    in_tok = rng.integers(50, 800, n)
    first = disp + ttft
    last = first + tpot * (out_tok - 1)
    end = last + 0.002
    pin, pout = _PRICES[endpoint]
    cost = (in_tok * pin + out_tok * pout) / 1e6
    frac = np.linspace(0.0, 1.0, chunks)
    chunk_arr = first[:, None] + (last - first)[:, None] * frac[None, :]
    chunk_arr = np.round(chunk_arr, 6)
    cls = _CLASSES
    return pd.DataFrame(
        {
            "request_id": [f"{contender}-{id_base + i:07d}" for i in range(n)] if attempt == 1 else [""] * n,
            "attempt": attempt,
            "contender": contender,
            "endpoint": endpoint,
            "dialect": "openai-chat" if endpoint.startswith("alpha") else "anthropic-messages",
            "model_requested": f"model-{endpoint}",
            "model_served": f"model-{endpoint}-2026",
            "prompt_id": [f"p{i:02d}" for i in prompt_idx],
            "prompt_class": [cls[i % 3] for i in prompt_idx],
            "worker": "local",
            "user": 0,
            "seq": id_base + np.arange(n),
            "session_id": None,
            "turn": None,
            "t_intended": np.round(t_int, 6),
            "t_dispatch": np.round(disp, 6),
            "t_headers": np.round(disp + ttft * 0.8, 6),
            "t_first_token": np.round(first, 6),
            "t_first_output": np.round(first, 6),
            "t_last_token": np.round(last, 6),
            "t_end": np.round(end, 6),
            "chunk_times": list(chunk_arr),
            "chunk_deltas": [[1] * chunks] * n,  # one delta per read (the same list object: read-only)
            "status": 200,
            "outcome": "ok",
            "error_class": None,
            "error_detail": None,
            "finish_reason": "stop",
            "input_tokens": in_tok,
            "cached_input_tokens": 0,
            "cache_write_tokens": 0,
            "cache_write_1h_tokens": 0,
            "output_tokens": out_tok,
            "reasoning_tokens": 0,
            "usage_source": "reported",
            "estimated_output_tokens": None,
            "max_tokens": 256,
            "max_tokens_exceeded": False,
            "cost_usd": cost,
            "retry_after_s": None,
            "retry_after_source": None,
            "ratelimit_remaining_requests": 100 if endpoint.startswith("beta") else None,
            "ratelimit_remaining_tokens": None,
            "vendor_request_id": [f"req_{endpoint}_{id_base + i}" for i in range(n)],
            "gateway_fallbacks": None,
            "gateway_retries": None,
            "gateway_api_base": None,
            "gateway_provider": None,
            "fallback_from": None,
            "is_final_attempt": True,
            "fault_injected": None,
            "check_passed": True,
            "output_excerpt": "The answer is 42.",
        }
    )


def _fail(df: pd.DataFrame, mask: np.ndarray, cls: np.ndarray) -> pd.DataFrame:
    if not mask.any():
        return df
    df = df.copy()
    disp = df["t_dispatch"].to_numpy()
    df.loc[mask, "t_end"] = np.round(disp[mask] + 0.01, 6)
    for col in (
        "t_headers",
        "t_first_token",
        "t_first_output",
        "t_last_token",
        "output_tokens",
        "input_tokens",
        "finish_reason",
        "model_served",
        "check_passed",
        "output_excerpt",
    ):
        df[col] = df[col].astype(object)
        df.loc[mask, col] = None
    for col in ("chunk_times", "chunk_deltas"):
        df.loc[mask, col] = pd.Series([[] for _ in range(int(mask.sum()))], index=df.index[mask])
    df.loc[mask, "outcome"] = "error"
    df.loc[mask, "error_class"] = cls[mask]
    df["status"] = df["status"].astype(object)
    df.loc[mask, "status"] = [429 if c == "http_429" else 500 if c == "http_5xx" else None for c in cls[mask]]
    df.loc[mask, "error_detail"] = [f"{c} (synthetic)" for c in cls[mask]]
    df.loc[mask, "cost_usd"] = 0.0
    df.loc[mask, "usage_source"] = "none"
    df.loc[mask, "vendor_request_id"] = None
    return df


def write_synthetic_run(
    run_dir: Path, *, parquet: bool = False, slice_requests: int | None = None, **kwargs: Any
) -> Path:
    """Write a synthetic run folder (manifest, end, faults.jsonl, records .jsonl or .parquet); returns it.

    With ``parquet`` and ``slice_requests``, the records are drawn and written a slice at a time (one row
    group each), so a run of millions of records never sits in memory whole."""
    df, events, run = synthetic_run(slice_requests=slice_requests if parquet else None, **kwargs)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(run_dir, run.manifest)
    if run.end is not None:
        write_end(run_dir, run.end)
    (run_dir / FAULTS_FILE).write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    if parquet and slice_requests is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = record_schema()
        with pq.ParquetWriter(run_dir / RECORDS_PARQUET, schema) as writer:
            for part in df:
                writer.write_table(pa.Table.from_pandas(part, preserve_index=False).cast(schema))
    elif parquet:
        df.to_parquet(run_dir / RECORDS_PARQUET, index=False)
    else:
        df.to_json(run_dir / RECORDS_FILE, orient="records", lines=True)
    return run_dir
