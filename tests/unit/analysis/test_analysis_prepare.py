from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import manifest
from factories import record_row, records_frame

from harness.analysis import chunk_gaps, logical_requests


def test_per_request_metrics_hand_computed() -> None:
    df = records_frame(
        [
            record_row(
                t_intended=10.0,
                t_dispatch=10.5,
                t_first_token=11.0,
                t_last_token=12.0,
                t_end=12.25,
                output_tokens=11,
                cost_usd=0.01,
            )
        ]
    )
    lg = logical_requests(df, manifest())
    r = lg.iloc[0]
    assert r["e2e"] == pytest.approx(1.75)
    assert r["user_latency"] == pytest.approx(2.25)
    assert r["ttft"] == pytest.approx(0.5)
    assert r["user_ttft"] == pytest.approx(1.0)
    assert r["tpot"] == pytest.approx(0.1)  # (12 - 11) / (11 - 1)
    assert r["schedule_lag"] == pytest.approx(0.5)
    assert r["ok"] and not r["fallback"] and not r["primary_failed"]


def test_tpot_needs_two_tokens() -> None:
    df = records_frame([record_row(t_first_token=1.0, t_last_token=1.0, t_end=1.1, output_tokens=1)])
    assert math.isnan(logical_requests(df, manifest()).iloc[0]["tpot"])


def test_attempts_fold_into_one_logical_request_with_all_costs() -> None:
    df = records_frame(
        [
            record_row(
                request_id="q1",
                attempt=2,
                endpoint="a2",
                fallback_from="a1",
                t_intended=0.0,
                t_dispatch=1.2,
                t_first_token=1.5,
                t_last_token=2.0,
                t_end=2.1,
                output_tokens=5,
                cost_usd=0.002,
            ),
            record_row(
                request_id="q1",
                attempt=1,
                endpoint="a1",
                outcome="error",
                error_class="http_5xx",
                is_final_attempt=False,
                t_intended=0.0,
                t_dispatch=0.1,
                t_end=1.1,
                cost_usd=0.0005,
            ),
            record_row(
                request_id="q2",
                attempt=1,
                endpoint="a1",
                outcome="error",
                error_class="http_429",
                t_intended=1.0,
                t_dispatch=1.0,
                t_end=1.05,
            ),
        ]
    )
    lg = logical_requests(df, manifest()).set_index("request_id")
    q1 = lg.loc["q1"]
    assert q1["n_attempts"] == 2 and q1["endpoint"] == "a2"
    assert q1["cost"] == pytest.approx(0.0025) and q1["wasted_cost"] == pytest.approx(0.0005)
    assert q1["schedule_lag"] == pytest.approx(0.1)  # first attempt
    assert q1["e2e"] == pytest.approx(0.9)  # final attempt
    assert q1["user_latency"] == pytest.approx(2.1)
    assert q1["fallback"] and q1["rescued"] and q1["primary_failed"]
    q2 = lg.loc["q2"]
    assert not q2["ok"] and q2["throttled"] and q2["attempts_429"] == 1 and q2["primary_failed"]
    assert not q2["rescued"]


def test_same_request_id_in_two_contenders_stays_apart() -> None:
    df = records_frame(
        [
            record_row(contender="A", endpoint="a1"),
            record_row(contender="B", endpoint="b1", outcome="error", error_class="conn_reset"),
        ]
    )
    lg = logical_requests(df, manifest())
    assert len(lg) == 2
    assert set(lg["contender"]) == {"A", "B"}


def test_unfinished_last_attempt_counts_with_its_outcome() -> None:
    df = records_frame([record_row(outcome="error", error_class="read_timeout", is_final_attempt=False)])
    r = logical_requests(df, manifest()).iloc[0]
    assert not r["ok"] and not r["finished"]


def test_chunk_gaps_pooled_per_answer() -> None:
    s = records_frame(
        [
            record_row(chunk_times=[1.0, 1.5, 1.75]),
            record_row(chunk_times=[]),
            record_row(chunk_times=[5.0, 5.25]),
        ]
    )["chunk_times"]
    gaps, owner = chunk_gaps(s)
    np.testing.assert_allclose(gaps, [0.5, 0.25, 0.25])
    assert owner.tolist() == [0, 0, 2]


def test_empty_records_give_empty_frame() -> None:
    assert logical_requests(records_frame([]), manifest()).empty
