"""Metrics by turn index of multi-turn sessions, computed by hand on a small frame of logical requests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.analysis._turns import TURN_COLUMNS, by_turn, unsent_turns, window_times

NAN = float("nan")


def _logical(rows: list[tuple[str, float, bool, str | None, float, float, float]]) -> pd.DataFrame:
    """(contender, turn, ok, error_class, ttft, input_tokens, cached_input_tokens) per logical request."""
    c, t, ok, err, ttft, inp, cached = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "contender": list(c),
            "turn": list(t),
            "ok": list(ok),
            "error_class": list(err),
            "ttft": list(ttft),
            "input_tokens": list(inp),
            "cached_input_tokens": list(cached),
        }
    )


def test_by_turn_counts_percentiles_tokens_and_cache_hit_ratio() -> None:
    lg = _logical(
        [
            ("b", 1, True, None, 0.50, 4000, 0),
            ("a", 1, True, None, 0.20, 4000, 0),
            ("a", 1, True, None, 0.40, 4000, 0),
            ("a", 2, True, None, 0.10, 4100, 4000),
            ("a", 2, True, None, 0.30, 4200, 4000),
            ("a", 2, False, "http_5xx", NAN, NAN, NAN),
            ("a", 3, False, "not_sent", NAN, NAN, NAN),
            ("a", NAN, True, None, 9.0, 10, 0),  # a single request: no turn, not counted
        ]
    )
    out = by_turn(lg, ["a", "b"])
    assert list(out.columns) == list(TURN_COLUMNS)
    assert list(zip(out.contender, out.turn, strict=True)) == [("a", 1), ("a", 2), ("a", 3), ("b", 1)]
    a1, a2, a3, b1 = (out.iloc[i] for i in range(4))
    assert (a1.requests, a1.ok, a1.not_sent) == (2, 2, 0)
    assert math.isclose(a1.ttft_p50, 0.30) and math.isclose(a1.ttft_p95, 0.20 + 0.95 * 0.20)
    assert a1.input_tokens == 4000 and a1.cache_hit_ratio == 0.0
    assert (a2.requests, a2.ok, a2.not_sent) == (3, 2, 0)
    assert math.isclose(a2.ttft_p50, 0.20)
    assert a2.input_tokens == 4150
    assert math.isclose(a2.cache_hit_ratio, 8000 / 8300)
    assert (a3.requests, a3.ok, a3.not_sent) == (1, 0, 1)
    assert math.isnan(a3.ttft_p50) and math.isnan(a3.cache_hit_ratio)
    assert (b1.requests, b1.ttft_p50) == (1, 0.5)


def test_no_sessions_no_rows() -> None:
    lg = _logical([("a", NAN, True, None, 0.1, 10, 0)])
    assert by_turn(lg).empty
    assert by_turn(lg.drop(columns="turn")).empty


def test_a_session_turn_counts_in_the_window_its_session_started_in() -> None:
    records = pd.DataFrame(
        {
            "contender": ["a", "a", "a", "b", "a"],
            "seq": [7, 7, 7, 7, 8],
            "turn": [1, 2, 3, 1, NAN],
            "t_intended": [9.5, 11.0, 12.5, 9.8, 13.0],
        }
    )
    t = window_times(records, records["t_intended"].to_numpy(dtype=float))
    # a's session 7 started at 9.5; b's session 7 is another session; seq 8 is a single request
    assert t.tolist() == [9.5, 9.5, 9.5, 9.8, 13.0]
    plain = records.drop(columns="turn")
    assert np.array_equal(window_times(plain, plain["t_intended"].to_numpy(dtype=float)), plain["t_intended"])


def test_turns_never_sent_are_counted_from_the_records_the_metrics_leave_out() -> None:
    records = pd.DataFrame(
        {
            "contender": ["a", "a", "a", "a", "a", "a"],
            "seq": [1, 1, 1, 2, 2, 3],
            "turn": [1, 2, 3, 1, 2, 1],
            "attempt": [1, 1, 1, 1, 2, 1],
            "error_class": [None, "http_5xx", "not_sent", None, "not_sent", "not_sent"],
            # session 3 starts after the window: its unsent turn is not counted
            "t_intended": [1.0, 2.0, 2.0, 3.0, 4.0, 11.0],
        }
    )
    unsent = unsent_turns(records, 0.0, 10.0)
    assert unsent == {("a", 3): 1}  # seq 2's not_sent is a retry never sent (attempt 2), not a turn
    lg = _logical([("a", 1, True, None, 0.2, 100, 0), ("a", 2, False, "http_5xx", NAN, NAN, NAN)])
    out = by_turn(lg, ["a"], unsent)
    assert out[["turn", "requests", "ok", "not_sent"]].to_numpy().tolist() == [
        [1, 1, 1, 0],
        [2, 1, 0, 0],
        [3, 1, 0, 1],
    ]
    only_unsent = by_turn(lg.iloc[0:0], ["a"], {("a", 2): 2})
    assert only_unsent[["turn", "requests", "not_sent"]].to_numpy().tolist() == [[2, 2, 2]]
