"""Server metrics in the analysis: the key series per scrape, the per-contender summary (peaks,
saturation, queue drain after a fault) and the scores read from it. Expectations worked out by hand."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.analysis import FaultWindow, Window
from harness.analysis._scorecard import server_scores
from harness.analysis._server import by_contender, key_series, scrape_gaps, server_summary

COLS = ["t", "endpoint", "metric", "labels", "value", "series", "error"]


def _row(
    t: float,
    metric: str | None,
    value: float | None,
    series: str | None,
    ep: str = "e",
    err: str | None = None,
) -> list[Any]:
    return [t, ep, metric, '{model_name="m"}' if metric else None, value, series, err]


def _raw(rows: list[list[Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLS)


WIN = Window(start=0.0, end=100.0, warmup=0.0, cooldown=0.0, planned_duration=100.0, interrupted=False)


def _fault(start: float, end: float, fid: str = "f1", ends_with_run: bool = False) -> FaultWindow:
    return FaultWindow(
        fault_id=fid,
        name="outage",
        kind="outage",
        target="e",
        endpoints=("e",),
        description="",
        start=start,
        end=end,
        recovery_end=end + 5,
        applied=True,
        ends_with_run=ends_with_run,
        source="events",
    )


def test_key_series_sums_engines_means_fractions_and_scales_dcgm() -> None:
    raw = _raw(
        [
            _row(1.0, "vllm:num_requests_waiting", 2.0, "waiting"),
            _row(1.0, "vllm:num_requests_waiting", 3.0, "waiting"),  # a second model on the server: adds up
            _row(1.0, "vllm:gpu_cache_usage_perc", 0.2, "kv_cache"),
            _row(1.0, "vllm:gpu_cache_usage_perc", 0.6, "kv_cache"),  # fractions average
            _row(1.0, "DCGM_FI_DEV_GPU_UTIL", 80.0, "gpu_util"),  # percent → 0.8
            _row(1.0, "DCGM_FI_DEV_GPU_UTIL", 40.0, "gpu_util"),
            _row(1.0, "vllm:time_to_first_token_seconds_sum", 9.0, None),  # not a key series
            _row(2.0, None, None, None, err="timeout"),
        ]
    )
    mine = by_contender(raw, {"A": "e"})
    got = {(r.t, r.series): r.value for r in key_series(mine).itertuples()}
    assert got.keys() == {(1.0, "waiting"), (1.0, "kv_cache"), (1.0, "gpu_util")}
    assert got[(1.0, "waiting")] == 5.0
    assert math.isclose(got[(1.0, "kv_cache")], 0.4)
    assert math.isclose(got[(1.0, "gpu_util")], 0.6)
    assert scrape_gaps(mine) == {"A": [2.0]}
    assert key_series(None).empty and key_series(_raw([])).empty


def test_summary_peaks_saturation_and_queue_drain_after_a_fault() -> None:
    rows = []
    # waiting: 1 before the fault (t 0..8), 6 during (10..20), draining 4, 2, 1 after it ended at 20
    waits = {
        0: 1,
        2: 1,
        4: 1,
        6: 1,
        8: 1,
        10: 3,
        12: 6,
        14: 6,
        16: 5,
        18: 5,
        20: 4,
        22: 4,
        24: 2,
        26: 1,
        28: 0,
    }
    for t, w in waits.items():
        rows.append(_row(float(t), "vllm:num_requests_waiting", float(w), "waiting"))
        rows.append(_row(float(t), "vllm:num_requests_running", 4.0, "running"))
        rows.append(_row(float(t), "vllm:gpu_cache_usage_perc", 0.5, "kv_cache"))
    rows.append(_row(30.0, None, None, None, err="HTTP 503"))
    prim = {"A": "e", "B": "other"}
    raw = by_contender(_raw(rows), prim)
    s = server_summary(key_series(raw), raw, prim, WIN, [_fault(10.0, 20.0)], {"A": {"f1"}})
    assert set(s) == {"A"}  # B's endpoint was never scraped
    a = s["A"]
    assert a["scrapes"] == 16 and a["failed_scrapes"] == 1
    assert a["peak_waiting"] == 6.0 and a["peak_running"] == 4.0 and a["peak_kv_cache"] == 0.5
    assert a["peak_gpu_util"] is None
    assert a["saturated_share"] == round(14 / 15, 4)  # waiting > 0 in 14 of the 15 good scrapes
    # baseline: median waiting over the 10 s before the fault = 1; first scrape ≥ 20 with ≤ 1 is t = 26
    assert a["recoveries"] == [
        {"fault_id": "f1", "baseline_waiting": 1.0, "peak_waiting": 6.0, "drain_s": 6.0}
    ]


def test_a_fault_that_lasts_to_the_end_or_hit_another_contender_is_not_a_recovery() -> None:
    raw = by_contender(
        _raw([_row(float(t), "vllm:num_requests_waiting", 0.0, "waiting") for t in range(0, 30, 2)]),
        {"A": "e"},
    )
    s = server_summary(
        key_series(raw),
        raw,
        {"A": "e"},
        WIN,
        [_fault(10, 20, "f1"), _fault(22, 100, "f2", ends_with_run=True)],
        {"A": {"f2"}, "B": {"f1"}},
    )
    assert s["A"]["recoveries"] == []


def test_a_sequential_run_gives_each_contender_its_own_slot_on_its_own_clock() -> None:
    # slots of 10 s: A ran 0-10, B 10-20 on the same endpoint; each sees only its slot, shifted to 0
    raw = _raw([_row(float(t), "vllm:num_requests_waiting", float(t), "waiting") for t in (2, 8, 12, 18, 25)])
    both = by_contender(raw, {"A": "e", "B": "e"}, slot_s=10.0)
    assert both is not None
    got = {c: list(zip(g["t"], g["value"], strict=True)) for c, g in both.groupby("contender")}
    assert got == {
        "A": [(2.0, 2.0), (8.0, 8.0)],
        "B": [(2.0, 12.0), (8.0, 18.0), (15.0, 25.0)],
    }  # the last slot keeps its tail


def _summary(**kw: Any) -> dict[str, Any]:
    base = {
        "endpoint": "e",
        "scrapes": 20,
        "failed_scrapes": 0,
        "peak_running": 4.0,
        "peak_waiting": 0.0,
        "peak_kv_cache": 0.5,
        "peak_gpu_util": None,
        "saturated_share": 0.0,
        "recoveries": [],
    }
    return {**base, **kw}


def test_scores_from_the_summary() -> None:
    why: dict[str, str] = {}
    out = server_scores(_summary(), why)
    assert out["server_saturation"] is not None and out["server_saturation"][0] == 5.0
    assert out["queueing_under_spike"] == (5.0, "longest queue 0 waiting behind 4 running (0.00 batches)")
    assert out["server_recovery"] is None and why["server_recovery"] == "no fault hit it in this run"
    # saturated 20 % of scrapes: ≤ 30 % → 2; 6 waiting behind 4 running = 1.5 batches: ≤ 2 → 1
    out = server_scores(_summary(saturated_share=0.2, peak_waiting=6.0), {})
    assert out["server_saturation"] is not None and out["server_saturation"][0] == 2.0
    assert "20.0 % of 20 scrapes" in out["server_saturation"][1]
    assert out["queueing_under_spike"] is not None and out["queueing_under_spike"][0] == 1.0
    # slowest drain 12 s: ≤ 15 → 4; one never drained → 0
    rec = [{"fault_id": "f1", "drain_s": 3.0}, {"fault_id": "f2", "drain_s": 12.0}]
    assert server_scores(_summary(recoveries=rec), {})["server_recovery"] == (
        4.0,
        "waiting queue back to its level before the fault 12.0 s after it ended",
    )
    never = server_scores(_summary(recoveries=[*rec, {"fault_id": "f3", "drain_s": None}]), {})
    assert never["server_recovery"] is not None and never["server_recovery"][0] == 0.0


def test_absent_or_failed_metrics_are_not_measured_with_a_reason() -> None:
    why: dict[str, str] = {}
    assert set(server_scores(None, why).values()) == {None}
    assert why["server_saturation"].startswith("no server metrics")
    why = {}
    assert set(server_scores(_summary(scrapes=5, failed_scrapes=5), why).values()) == {None}
    assert why["queueing_under_spike"] == "every scrape of its server metrics failed (5)"
    out = server_scores(_summary(peak_kv_cache=None), {})  # TGI: a queue, no KV-cache gauge
    assert out["server_saturation"] == (
        5.0,
        "saturated in 0.0 % of 20 scrapes (requests waiting or KV cache ≥ 95 %)",
    )
