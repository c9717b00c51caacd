"""The capacity analysis of stepped loads on hand-made step tables and requests: every expected number is
worked out by hand in the comments, never read back from the code."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.analysis._capacity import (
    HARNESS_LAG_S,
    capacity,
    capacity_steps,
    capacity_verdict,
    find_knee,
    is_stepped,
    step_windows,
)
from harness.analysis._scorecard import capacity_score
from harness.config import CapacityNeed, LoadProfile

SLO: dict[str, float | None] = {
    "ttft": None,
    "tpot": None,
    "e2e": 2.0,
    "max_error_rate": 0.05,
    "min_good_fraction": 0.9,
}


def step(
    rate: float,
    good: float,
    err: float = 0.0,
    *,
    n: int = 100,
    lag: float = 0.01,
    ttft: float = 0.3,
    lat: float = 1.0,
    ramp: bool = False,
    bad: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One row of a step table: offered rate, good fraction, error rate, p95 schedule lag, p50 user TTFT
    and latency, and the step's not-good requests by cause."""
    return {
        "offered_rps": rate,
        "ramp": ramp,
        "requests": n,
        "good_fraction": good,
        "error_rate": err,
        "schedule_lag_p95": lag,
        "user_ttft_p50": ttft,
        "user_latency_p50": lat,
        "bad": {"quota": 0, "overload": 0, "errors": 0, "latency": 0, **(bad or {})},
    }


def test_the_knee_is_interpolated_on_the_slack_between_the_last_pass_and_the_first_fail() -> None:
    steps = [
        step(2, 1.00),  # slack min(1.00 - 0.9, 0.05 - 0) = 0.05
        step(4, 0.98, lat=1.1, bad={"latency": 2}),  # slack min(0.08, 0.05) = 0.05
        step(6, 0.95, 0.01, lat=1.2, bad={"errors": 1, "latency": 4}),  # slack min(0.05, 0.04) = 0.04
        step(8, 0.50, ttft=0.4, lat=3.0, bad={"latency": 50}),  # slack min(-0.40, 0.05) = -0.40
    ]
    knee = find_knee(steps, SLO)
    # 6 + (8 - 6) * 0.04 / (0.04 + 0.40) = 6 + 0.08 / 0.44 = 6.1818...
    assert knee["sustainable_rps"] == pytest.approx(6 + 0.08 / 0.44)
    # the bracket is [6, 8]: the interval must cover it, so it is max(6.18 - 6, 8 - 6.18) = 1.8182
    assert knee["uncertainty_rps"] == pytest.approx(8 - (6 + 0.08 / 0.44))
    assert knee["bracket_rps"] == [6, 8]
    # the 50 bad requests at 8/s succeeded too slowly; the p50 latency grew 2.0 s over the first step's while
    # the p50 TTFT grew 0.1 s: the answers slowed down, no queue before the first token
    assert knee["limit"] == "latency"
    assert [s["passed"] for s in steps] == [True, True, True, False]
    assert steps[3]["failed_on"] == ["min_good_fraction"]
    assert steps[2]["slack"] == pytest.approx(0.04)


def test_latency_gained_before_the_first_token_is_queueing_and_reads_as_overload() -> None:
    steps = [step(2, 1.0), step(3, 0.6, ttft=1.9, lat=2.8, bad={"latency": 40})]
    # TTFT p50 +1.6 s, latency p50 +1.8 s: 1.6 >= 0.5 * 1.8, the added time is waiting for a slot
    knee = find_knee(steps, SLO)
    assert knee["limit"] == "overload"
    # 2 + 1 * 0.05 / (0.05 + 0.30) = 2.142857
    assert knee["sustainable_rps"] == pytest.approx(2 + 0.05 / 0.35)


def test_429s_at_the_failing_step_read_as_quota() -> None:
    steps = [
        step(1, 1.00),
        step(2, 0.97, 0.02, bad={"quota": 2, "latency": 1}),  # slack min(0.07, 0.03) = 0.03
        step(3, 0.85, 0.12, bad={"quota": 12, "latency": 3}),  # slack min(-0.05, -0.07) = -0.07
    ]
    knee = find_knee(steps, SLO)
    assert knee["limit"] == "quota"
    # 2 + 1 * 0.03 / (0.03 + 0.07) = 2.3; uncertainty max(0.3, 0.7) = 0.7
    assert knee["sustainable_rps"] == pytest.approx(2.3)
    assert knee["uncertainty_rps"] == pytest.approx(0.7)
    assert steps[2]["failed_on"] == ["min_good_fraction", "max_error_rate"]


def test_503s_read_as_overload_and_other_failures_as_errors() -> None:
    over = find_knee([step(1, 1.0), step(2, 0.7, 0.3, bad={"overload": 25, "errors": 5})], SLO)
    assert over["limit"] == "overload"
    errs = find_knee([step(1, 1.0), step(2, 0.7, 0.3, bad={"overload": 5, "errors": 25})], SLO)
    assert errs["limit"] == "errors"


def test_a_saturated_load_process_claims_no_rate() -> None:
    # the harness fell behind at 4/s (p95 lag 0.8 s > 0.5 s) before the contender failed at 6/s
    steps = [step(2, 1.0), step(4, 1.0, lag=0.8), step(6, 0.5, bad={"latency": 50})]
    knee = find_knee(steps, SLO)
    assert knee["limit"] == "harness" and knee["sustainable_rps"] is None
    assert "0.80 s" in knee["note"]
    assert steps[1]["harness_saturated"] and not steps[0]["harness_saturated"]
    assert capacity_score(knee, need_rps=1.0) is None  # the scorecard says "not measured"
    assert "not measured" in (capacity_verdict({"a": knee}) or "")


def test_latency_gained_as_schedule_lag_is_the_harness_not_the_vendor() -> None:
    # p95 lag stays under the bound (0.4 s), but at 6/s the p50 latency grew 0.5 s over the first step's
    # and the p50 lag grew 0.35 s of it (≥ half): the requests were late because they were sent late
    steps = [step(2, 1.0), step(6, 0.5, ttft=0.65, lat=1.5, lag=0.4, bad={"latency": 50})]
    steps[0]["schedule_lag_p50"], steps[1]["schedule_lag_p50"] = 0.01, 0.36
    knee = find_knee(steps, SLO)
    assert knee["limit"] == "harness" and knee["sustainable_rps"] is None
    assert not steps[1]["harness_saturated"]  # the p95 bound alone would not have caught it
    # the same step with the lag gone: the 0.35 s before the first token reads as a queue at the vendor
    steps[1]["schedule_lag_p50"] = 0.01
    assert find_knee(steps, SLO)["limit"] == "overload"


def test_saturation_after_the_knee_does_not_void_it() -> None:
    lag = HARNESS_LAG_S * 3
    steps = [step(2, 1.0), step(4, 0.5, bad={"latency": 50}), step(6, 0.2, lag=lag, bad={"latency": 80})]
    knee = find_knee(steps, SLO)
    assert knee["limit"] == "latency"
    # 2 + 2 * 0.05 / (0.05 + 0.40) = 2.2222
    assert knee["sustainable_rps"] == pytest.approx(2 + 0.1 / 0.45)


def test_never_failing_sustains_at_least_the_top_step_and_failing_at_once_claims_no_rate() -> None:
    top = find_knee([step(1, 1.0), step(2, 0.99)], SLO)
    assert top["limit"] == "not_reached"
    assert top["sustainable_rps"] == 2 and top["uncertainty_rps"] is None
    low = find_knee([step(5, 0.2, 0.8, bad={"errors": 80}), step(10, 0.1, 0.9, bad={"errors": 90})], SLO)
    assert low["sustainable_rps"] is None and low["limit"] == "errors"
    assert low["bracket_rps"] == [None, 5]


def test_steps_are_read_in_order_of_rate_and_ramps_are_left_out() -> None:
    # a stage plan 8/s, ramp, 2/s, 4/s: the knee is between 4 (pass) and 8 (fail), the ramp is not judged
    steps = [
        step(8, 0.3, bad={"latency": 70}),
        step(5, 0.1, ramp=True, bad={"latency": 90}),
        step(2, 1.0),
        step(4, 1.0),
    ]
    knee = find_knee(steps, SLO)
    # slack at 4/s: min(0.1, 0.05) = 0.05; at 8/s: min(-0.6, 0.05) = -0.6; 4 + 4 * 0.05 / 0.65 = 4.3077
    assert knee["sustainable_rps"] == pytest.approx(4 + 0.2 / 0.65)
    assert knee["bracket_rps"] == [4, 8]


def test_a_rate_passes_only_when_every_step_at_it_passed() -> None:
    # stages 2/s, 4/s, 8/s, 4/s: the second 4/s step (after the 8/s one) fails, so 4/s fails and the
    # bracket is [2, 4]; slack at 2/s min(0.1, 0.05) = 0.05, at the failing 4/s step min(-0.3, 0.05) = -0.3
    steps = [step(2, 1.0), step(4, 1.0), step(8, 0.1, bad={"latency": 90}), step(4, 0.6, bad={"latency": 40})]
    knee = find_knee(steps, SLO)
    assert knee["bracket_rps"] == [2, 4]
    assert knee["sustainable_rps"] == pytest.approx(2 + 2 * 0.05 / 0.35)


def _lg(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {
        "contender": "a",
        "ok": True,
        "error_class": None,
        "status": 200,
        "throttled": False,
        "attempts_429": 0,
        "user_ttft": 0.2,
        "schedule_lag": 0.01,
    }
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["user_latency"] = df["t_end"] - df["t_intended"]
    return df


THROTTLED = {"ok": False, "error_class": "http_429", "status": 429, "throttled": True}


def test_step_table_from_requests() -> None:
    load = LoadProfile.model_validate(
        {"sweep": {"start": "1/s", "end": "2/s", "steps": 2, "step_duration": "4s"}}
    )
    assert is_stepped(load)
    windows = step_windows(load, 0.0, 8.0)
    assert [(w["t_start_s"], w["t_end_s"], w["offered_rps"]) for w in windows] == [(0, 4, 1), (4, 8, 2)]
    rows = [
        # step 1 (t_intended in [0, 4)): 4 requests; the last ends in step 2
        {"t_intended": 0.5, "t_end": 1.0},
        {"t_intended": 1.5, "t_end": 2.0},
        {"t_intended": 2.5, "t_end": 3.0},
        {"t_intended": 3.5, "t_end": 4.5},
        # step 2: 8 requests, two refused with 429, one with 503, one too slow (3 s > e2e 2 s)
        {"t_intended": 4.0, "t_end": 4.5},
        {"t_intended": 4.5, "t_end": 7.5},
        {"t_intended": 5.0, "t_end": 5.1, **THROTTLED},
        {"t_intended": 5.5, "t_end": 5.6, **THROTTLED},
        {"t_intended": 6.0, "t_end": 6.1, "ok": False, "error_class": "http_5xx", "status": 503},
        {"t_intended": 6.5, "t_end": 7.0},
        {"t_intended": 7.0, "t_end": 7.5, "schedule_lag": 0.4},
        {"t_intended": 7.5, "t_end": 9.0},  # ends after the step: not in its throughput
        {"contender": "b", "t_intended": 1.0, "t_end": 1.5},
    ]
    lg = _lg(rows)
    good = lg["ok"].to_numpy(dtype=bool) & (lg["user_latency"].to_numpy(dtype=float) <= 2.0)
    s1, s2 = capacity_steps(lg, good, windows, "a")
    assert (s1["requests"], s1["good"]) == (4, 4)
    assert s1["throughput_rps"] == pytest.approx(3 / 4)  # 3 ended before 4.0 s
    assert s1["good_fraction"] == 1.0 and s1["error_rate"] == 0.0
    assert (s2["requests"], s2["succeeded"], s2["good"]) == (8, 5, 4)
    # ended in [4, 8) and ok: the one from step 1 (4.5) + 4.5, 7.5, 7.0, 7.5 = 5 → 5 / 4 s
    assert s2["throughput_rps"] == pytest.approx(5 / 4)
    # good and ended in the step: 4.5 (step 1's), 4.5, 7.0, 7.5 = 4 (7.5 from 4.5 took 3 s > 2 s)
    assert s2["goodput_rps"] == pytest.approx(4 / 4)
    assert s2["good_fraction"] == pytest.approx(4 / 8)
    assert s2["error_rate"] == pytest.approx(3 / 8)
    assert s2["throttle_rate"] == pytest.approx(2 / 8)
    assert s2["overload_rate"] == pytest.approx(1 / 8)
    assert s2["bad"] == {"quota": 2, "overload": 1, "errors": 0, "latency": 1}
    assert s2["schedule_lag_max"] == pytest.approx(0.4)
    # succeeded latencies 0.5, 3.0, 0.5, 0.5, 1.5 → sorted 0.5 0.5 0.5 1.5 3.0, p50 = 0.5
    assert s2["user_latency_p50"] == pytest.approx(0.5)
    knees = capacity(lg, good, load, SLO, ["a", "b"], (0.0, 8.0))
    assert knees["a"]["limit"] == "quota"  # 2 of the 4 bad ones were throttled
    # slack: step 1 min(0.1, 0.05) = 0.05, step 2 min(0.5 - 0.9, 0.05 - 0.375) = -0.4 → 1 + 0.05 / 0.45
    assert knees["a"]["sustainable_rps"] == pytest.approx(1 + 0.05 / 0.45)
    assert knees["b"]["steps"][1]["requests"] == 0 and knees["b"]["limit"] == "not_reached"


def test_plain_loads_have_no_capacity_and_a_cut_window_trims_the_steps() -> None:
    plain = LoadProfile.model_validate({"rate": "3/s", "duration": "10s"})
    assert not is_stepped(plain)
    assert capacity(_lg([{"t_intended": 1, "t_end": 2}]), np.ones(1, bool), plain, SLO, ["a"], (0, 10)) == {}
    one_rate = LoadProfile.model_validate({"stages": [{"duration": "5s", "rate": "2/s"}] * 2})
    assert not is_stepped(one_rate)
    stages = LoadProfile.model_validate(
        {
            "stages": [
                {"duration": "5s", "rate": "2/s"},
                {"duration": "5s", "rate": "4/s", "ramp": True},
                {"duration": "5s", "rate": "4/s"},
            ],
            "warmup": "2s",
        }
    )
    assert is_stepped(stages)
    w = step_windows(stages, 2.0, 15.0)
    assert [(x["t_start_s"], x["seconds"], x["offered_rps"], x["ramp"]) for x in w] == [
        (2.0, 3.0, 2.0, False),
        (5.0, 5.0, 3.0, True),  # a ramp from 2 to 4: its mean
        (10.0, 5.0, 4.0, False),
    ]


def test_capacity_score_against_the_declared_need() -> None:
    knee = {"sustainable_rps": 6.0, "uncertainty_rps": 0.5, "limit": "overload", "bracket_rps": [5.5, 6.5]}
    # 6 / 4 = 1.5 → 4; 6 / 8 = 0.75 → 2; 6 / 13 = 0.46 → 0
    assert capacity_score(knee, 4.0)[0] == 4.0  # type: ignore[index]
    assert capacity_score(knee, 8.0)[0] == 2.0  # type: ignore[index]
    score, reason = capacity_score(knee, 13.0)  # type: ignore[misc]
    assert score == 0.0 and "0.46×" in reason and "overload" in reason
    # no need declared: relative to the best contender, 5 × 6 / 8 = 3.75 → 3.8
    assert capacity_score(knee, None, 8.0)[0] == 3.8  # type: ignore[index]
    # failed at its lowest step (5/s): 0 only when that is at most half the need
    low = {"sustainable_rps": None, "limit": "quota", "bracket_rps": [None, 5.0]}
    assert capacity_score(low, 10.0)[0] == 0.0  # type: ignore[index]
    assert capacity_score(low, 6.0) is None


def test_need_from_monthly_volume_or_explicit_peak() -> None:
    # 2,592,000 requests a 30-day month = 1 req/s on average; × 3 (the default peak factor) = 3 req/s
    assert CapacityNeed().need_rps(2_592_000) == pytest.approx(3.0)
    assert CapacityNeed(peak_factor=5).need_rps(2_592_000) == pytest.approx(5.0)
    assert CapacityNeed.model_validate({"peak_rps": "20/s"}).need_rps(2_592_000) == 20.0
    assert CapacityNeed().need_rps(None) is None


def test_verdict_sentence_best_first_with_the_limit() -> None:
    cap = {
        "alpha": {"sustainable_rps": 4.7, "uncertainty_rps": 0.3, "limit": "quota"},
        "beta": {"sustainable_rps": 9.12, "uncertainty_rps": 0.5, "limit": "overload"},
    }
    assert capacity_verdict(cap) == (
        "beta sustains 9.1 req/s (± 0.5) at your SLOs, limited by overload (queueing or 503/529); "
        "alpha sustains 4.7 req/s (± 0.3), limited by its 429 quota."
    )
    assert capacity_verdict({}) is None


def test_a_search_reads_each_contenders_own_steps_in_order_of_rate_and_skips_superseded_ones() -> None:
    load = LoadProfile.model_validate({"search": {"start": "1/s", "max": "4/s", "step_duration": "2s"}})
    assert is_stepped(load)
    # the same round times for both; a ran 1, 2 (marginal, superseded), 2 again, then 1.5; b ran 1 then 2
    steps = {
        "a": [
            {"step": 1, "t_start_s": 0.0, "t_end_s": 2.0, "seconds": 2.0, "offered_rps": 1.0, "ramp": False},
            {
                "step": 2,
                "t_start_s": 3.0,
                "t_end_s": 5.0,
                "seconds": 2.0,
                "offered_rps": 2.0,
                "ramp": False,
                "superseded": True,
            },
            {"step": 3, "t_start_s": 6.0, "t_end_s": 8.0, "seconds": 2.0, "offered_rps": 2.0, "ramp": False},
            {"step": 4, "t_start_s": 9.0, "t_end_s": 11.0, "seconds": 2.0, "offered_rps": 1.5, "ramp": False},
        ],
        "b": [
            {"step": 1, "t_start_s": 0.0, "t_end_s": 2.0, "seconds": 2.0, "offered_rps": 1.0, "ramp": False},
            {"step": 2, "t_start_s": 3.0, "t_end_s": 5.0, "seconds": 2.0, "offered_rps": 2.0, "ramp": False},
        ],
    }
    slow = {"t_end": 99.0}  # user latency far past the 2 s e2e below: not good
    rows = [
        {"t_intended": 0.5, "t_end": 1.0},
        {"t_intended": 1.5, "t_end": 2.0},
        {"t_intended": 3.0, **slow},  # the superseded step: 1 of 4 slow, ignored
        {"t_intended": 3.5, "t_end": 4.0},
        {"t_intended": 4.0, "t_end": 4.5},
        {"t_intended": 4.5, "t_end": 5.0},
        *({"t_intended": 6.0 + 0.5 * k, **slow} for k in range(4)),  # the repeat at 2/s: all slow
        *({"t_intended": 9.0 + k / 1.5, "t_end": 9.5 + k / 1.5} for k in range(3)),  # 1.5/s: all good
        *({"contender": "b", "t_intended": t, "t_end": t + 0.5} for t in (0.5, 1.5, 3.0, 3.5, 4.0, 4.5)),
    ]
    lg = _lg(rows)
    good = lg["ok"].to_numpy(dtype=bool) & (lg["user_latency"].to_numpy(dtype=float) <= 2.0)
    knees = capacity(lg, good, load, SLO, ["a", "b"], (0.0, 20.0), steps)
    # a: 1/s and 1.5/s pass (slack 0.05), 2/s fails with no good request: slack min(0 - 0.9, 0.05 - 0)
    assert [(s["offered_rps"], s["requests"], s["passed"]) for s in knees["a"]["steps"]] == [
        (1.0, 2, True),
        (1.5, 3, True),
        (2.0, 4, False),
    ]
    assert knees["a"]["bracket_rps"] == [1.5, 2.0]
    assert knees["a"]["sustainable_rps"] == pytest.approx(1.5 + 0.5 * 0.05 / 0.95)
    assert knees["b"]["limit"] == "not_reached" and knees["b"]["sustainable_rps"] == 2.0
