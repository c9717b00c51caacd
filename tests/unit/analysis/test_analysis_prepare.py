from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import manifest
from factories import record_row, records_frame

from harness.analysis import chunk_gaps, good_mask, logical_requests, slo_settings
from harness.analysis._metrics import request_metrics
from harness.analysis._prepare import read_counts


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


def test_tpot_needs_two_reads_at_distinct_times() -> None:
    """Issue 13, observation 5: an answer that arrived in one read (non-streamed, or a stream read in one
    go) has first and last token at the same instant; its TPOT is missing, never 0."""
    one_read = {"t_first_token": 1.0, "t_last_token": 1.0, "t_end": 1.0, "output_tokens": 40}
    df = records_frame(
        [
            record_row(request_id="non-streamed", chunk_times=[1.0], chunk_deltas=[1], **one_read),
            record_row(request_id="one-read", chunk_times=[1.0], chunk_deltas=[40], **one_read),
            record_row(
                request_id="streamed",
                t_first_token=1.0,
                t_last_token=1.39,
                t_end=1.4,
                output_tokens=40,
                chunk_times=[1.0, 1.2, 1.39],
                chunk_deltas=[1, 20, 19],
            ),
        ]
    )
    lg = logical_requests(df, manifest()).set_index("request_id")
    assert math.isnan(lg.loc["non-streamed", "tpot"]) and math.isnan(lg.loc["one-read", "tpot"])
    assert lg.loc["streamed", "tpot"] == pytest.approx(0.01)  # 0.39 s over 39 tokens


def test_a_tpot_slo_does_not_judge_answers_without_a_tpot() -> None:
    rows = [
        record_row(
            request_id="non-streamed",
            t_intended=1.0,
            t_dispatch=1.0,
            t_first_token=1.5,
            t_last_token=1.5,
            t_end=1.5,
            output_tokens=40,
        ),
        record_row(
            request_id="slow-stream",
            t_intended=1.0,
            t_dispatch=1.0,
            t_first_token=1.1,
            t_last_token=2.0,
            t_end=2.0,
            output_tokens=10,  # 100 ms per token
        ),
    ]
    lg = logical_requests(records_frame(rows), manifest())
    slo = slo_settings(overrides={"tpot": 0.015})
    good = dict(zip(lg["request_id"], good_mask(lg, slo), strict=True))
    # the non-streamed answer is not judged on TPOT (it has none), the slow stream fails it
    assert good == {"non-streamed": True, "slow-stream": False}
    m = request_metrics(lg, good_mask(lg, slo), 10.0)
    assert m["with_tpot"] == 1 and m["tpot_share"] == 0.5
    assert m["tpot_p50"] == pytest.approx(0.1)  # the one answer that has a TPOT; no 0 pulls it down


def test_chunk_gaps_only_between_reads_at_distinct_times_and_merged_reads_are_counted() -> None:
    times = pd.Series([[1.0, 1.0, 1.5], [2.0], [], None], dtype=object)
    gaps, owner = chunk_gaps(times)
    assert gaps.tolist() == [0.5] and owner.tolist() == [0]  # the two reads stamped 1.0 arrived together
    reads, merged = read_counts(pd.Series([[1, 3, 1], [12], [], None], dtype=object))
    assert reads.tolist() == [3, 1, 0, 0] and merged.tolist() == [1, 1, 0, 0]


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


def test_a_subset_of_rows_numbers_requests_as_that_subset_alone_would() -> None:
    """The request codes are computed once for all records (factorizing ten million ids is slow); the
    per-request table of a subset of rows must still come out as if built from those rows alone: same
    rows, same order (later steps resample it with a seed), same values."""
    from harness.analysis._prepare import LEAN_OMITS, RequestKeys, logical_requests_indexed

    rng = np.random.default_rng(5)
    rows = []
    for i in range(300):
        c = "AB"[int(rng.integers(2))]
        for attempt in range(1, int(rng.integers(1, 4)) + 1):
            rows.append(
                record_row(
                    contender=c,
                    request_id=None if i % 97 == 5 else f"{c}-{i:04d}",
                    attempt=attempt,
                    t_intended=float(i),
                    outcome="ok" if rng.random() < 0.7 else "error",
                    error_class=None,
                )
            )
    order = rng.permutation(len(rows))  # attempts of one request far apart, contenders interleaved
    df = records_frame([rows[k] for k in order])
    subset = np.flatnonzero(rng.random(len(df)) < 0.6)
    for frame in (df, df.astype({"contender": "category"})):
        keys = RequestKeys(frame)
        got, owner = logical_requests_indexed(frame, manifest(), subset, keys=keys)
        want = logical_requests(frame.iloc[subset].reset_index(drop=True), manifest())
        pd.testing.assert_frame_equal(got, want, check_dtype=False, check_categorical=False)
        assert owner.size == subset.size and owner.max() == len(got) - 1
        lean, _ = logical_requests_indexed(frame, manifest(), subset, keys=keys, lean=True)
        assert set(got.columns) - set(lean.columns) == set(LEAN_OMITS)
