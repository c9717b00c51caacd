from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import manifest, run_info
from factories import record_row, records_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analysis import analyse, good_mask, logical_requests, slo_settings
from harness.analysis._metrics import request_metrics
from harness.analysis._risks import slo_check
from harness.record import RunInfo


def _lg(rows: list[dict]) -> pd.DataFrame:
    return logical_requests(records_frame(rows), manifest())


def test_good_mask_checks_each_slo_on_user_times() -> None:
    lg = _lg(
        [
            record_row(
                request_id="fast",
                t_intended=0,
                t_dispatch=0,
                t_first_token=0.5,
                t_last_token=1.5,
                t_end=1.6,
                output_tokens=11,
            ),
            record_row(
                request_id="late-ttft",
                t_intended=0,
                t_dispatch=0.8,
                t_first_token=1.2,
                t_last_token=1.3,
                t_end=1.4,
                output_tokens=2,
            ),  # user TTFT 1.2 > 1.0 although TTFT from dispatch is 0.4
            record_row(
                request_id="slow-tpot",
                t_intended=0,
                t_dispatch=0,
                t_first_token=0.1,
                t_last_token=2.1,
                t_end=2.2,
                output_tokens=11,
            ),  # TPOT 0.2 > 0.1
            record_row(
                request_id="long",
                t_intended=0,
                t_dispatch=0,
                t_first_token=0.1,
                t_last_token=5.5,
                t_end=5.6,
                output_tokens=1000,
            ),
            record_row(request_id="failed", outcome="error", error_class="http_5xx", t_end=0.1),
            record_row(request_id="no-stream", t_intended=0, t_dispatch=0, t_end=0.9, output_tokens=1),
        ]
    ).set_index("request_id")
    slo = slo_settings(manifest().slo)
    good = dict(zip(lg.index, good_mask(lg.reset_index(), slo), strict=True))
    assert good == {
        "fast": True,
        "late-ttft": False,
        "slow-tpot": False,
        "long": False,
        "failed": False,
        "no-stream": True,
    }


def test_slo_overrides_and_unknown_key() -> None:
    s = slo_settings(manifest().slo, {"ttft": 2.0})
    assert s["ttft"] == 2.0 and s["e2e"] == 5.0
    with pytest.raises(ValueError, match="unknown SLO"):
        slo_settings(manifest().slo, {"latency": 1.0})


def test_request_metrics_hand_computed() -> None:
    rows = [
        record_row(
            request_id=f"ok{i}",
            t_intended=i,
            t_dispatch=i,
            t_first_token=i + 0.2,
            t_last_token=i + 1.1,
            t_end=i + 1.3,
            output_tokens=11,
            cost_usd=0.01,
        )
        for i in range(6)
    ]
    rows += [
        record_row(request_id="thr", outcome="error", error_class="http_429", status=429, cost_usd=0.0),
        record_row(
            request_id="fb",
            attempt=1,
            endpoint="a1",
            outcome="error",
            error_class="http_5xx",
            is_final_attempt=False,
            cost_usd=0.004,
        ),
        record_row(
            request_id="fb",
            attempt=2,
            endpoint="a2",
            fallback_from="a1",
            t_intended=0,
            t_dispatch=0,
            t_first_token=0.3,
            t_last_token=0.35,
            t_end=0.5,
            output_tokens=2,
            cost_usd=0.006,
        ),
        record_row(request_id="dead", outcome="error", error_class="conn_reset", cost_usd=0.0),
    ]
    lg = _lg(rows)
    good = good_mask(lg, slo_settings(manifest().slo))
    m = request_metrics(lg, good, 10.0)
    assert m["requests"] == 9 and m["succeeded"] == 7 and m["failed"] == 2
    assert m["error_rate"] == pytest.approx(2 / 9)
    assert m["throttle_rate"] == pytest.approx(1 / 9) and m["failure_rate_excl_throttle"] == pytest.approx(
        1 / 9
    )
    assert m["good"] == 7 and m["good_fraction"] == pytest.approx(7 / 9)
    assert m["goodput_rps"] == pytest.approx(0.7) and m["throughput_rps"] == pytest.approx(0.7)
    assert m["output_tok_s"] == pytest.approx((6 * 11 + 2) / 10)
    assert m["cost_usd"] == pytest.approx(0.07)
    assert m["wasted_cost_usd"] == pytest.approx(0.004)
    assert m["cost_per_good_request"] == pytest.approx(0.01)
    assert m["cost_per_1k_requests"] == pytest.approx(0.07 / 9 * 1000)
    assert m["fallback_rate"] == pytest.approx(1 / 9)
    # the primary did not serve: thr, fb, dead → 3; rescued: fb
    assert m["primary_failures"] == 3 and m["rescue_rate"] == pytest.approx(1 / 3)
    assert m["attempts"] == 10 and m["attempts_429"] == 1


def test_slo_check_lines() -> None:
    ok, why = slo_check(
        {"requests": 10, "error_rate": 0.02, "good_fraction": 0.95},
        {"max_error_rate": 0.05, "min_good_fraction": 0.9},
    )
    assert ok and why == ["error rate 2.0 % ≤ 5.0 %", "good fraction 95.0 % ≥ 90.0 %"]
    ok, why = slo_check(
        {"requests": 10, "error_rate": 0.2, "good_fraction": 0.8},
        {"max_error_rate": 0.05, "min_good_fraction": 0.9},
    )
    assert not ok and "error rate 20.0 % > 5.0 %" in why
    assert slo_check(None, {}) == (False, ["no requests completed in the measured window"])


def _fault_run() -> tuple[pd.DataFrame, list[dict], RunInfo]:
    """B: a request every 0.5 s, 1 s latency; outage of b1 in [40, 50); slow (5 s) until 56; normal after."""
    rows = []
    for i in range(200):
        t = i * 0.5
        if 40 <= t < 50:
            rows.append(
                record_row(
                    contender="B",
                    endpoint="b1",
                    request_id=f"r{i}",
                    t_intended=t,
                    t_dispatch=t,
                    t_end=t + 0.2,
                    outcome="error",
                    error_class="connect_refused",
                )
            )
        else:
            lat = 5.0 if 50 <= t < 56 else 1.0
            rows.append(
                record_row(
                    contender="B",
                    endpoint="b1",
                    request_id=f"r{i}",
                    t_intended=t,
                    t_dispatch=t,
                    t_first_token=t + 0.1,
                    t_last_token=t + lat - 0.1,
                    t_end=t + lat,
                    output_tokens=10,
                    cost_usd=0.001,
                )
            )
    m = run_info(
        faults=[
            {
                "fault_id": "f1",
                "name": "outage",
                "kind": "outage",
                "target": "b1",
                "endpoints": ["b1"],
                "at_s": 40,
                "duration_s": 10,
                "description": "outage",
            }
        ],
        slo={"ttft": None, "tpot": None, "e2e": 2.0, "max_error_rate": 0.05, "min_good_fraction": 0.9},
    )
    ev = [
        {"fault_id": "f1", "action": "apply", "t_applied": 40.0, "outcome": "ok", "endpoints": ["b1"]},
        {"fault_id": "f1", "action": "remove", "t_applied": 50.0, "outcome": "ok", "endpoints": ["b1"]},
    ]
    return records_frame(rows), ev, m


def test_time_to_detect_and_recover_hand_computed() -> None:
    a = analyse(*_fault_run())
    f = a.fault_impact.set_index("contender").loc["B"]
    assert f["affected"]
    assert f["requests"] == 20 and f["lost"] == 20 and f["loss_rate"] == 1.0
    assert f["time_to_detect_s"] == pytest.approx(0.2)  # first failed attempt ended at 40.2
    # W = 20 requests / (2 per s) = 10 s. [55, 65) holds 2 slow requests of 20: p95 (linear, rank 18.05)
    # = 5 s > 1.5 s limit. [55.5, 65.5) holds 1 slow: p95 = 1 + 0.05 × 4 = 1.2 s ≤ 1.5 s → recovered at 5.5 s.
    assert f["time_to_recover_s"] == pytest.approx(5.5)
    risk = a.risks[0]["text"]
    assert risk.startswith("B lost 100.0 % of requests (20 of 20) during the 10 s outage (f1)")
    assert "took 5.5 s to recover" in risk
    phases = a.requests.loc[a.requests["scope"] == "phase"].set_index("group")
    assert phases.loc["fault:f1", "error_rate"] == 1.0
    # the request asked for at 39.5 s was in flight when the outage began: a transition, not baseline
    assert phases.loc["baseline", "requests"] == 79 and phases.loc["baseline", "seconds"] == 40.0
    assert phases.loc["transition:f1", "requests"] == 1 and np.isnan(phases.loc["transition:f1", "seconds"])
    assert f["transition_requests"] == 1 and f["baseline_requests"] == 79  # before the fault: enough
    assert not f["change_judged"]  # no answer succeeded inside the outage: no latency to compare


def test_warmup_and_cooldown_are_excluded() -> None:
    df, _ev, m = _fault_run()
    m = m.with_manifest(load={"warmup": 10.0, "cooldown": 20.0, "duration": 100.0}, faults=[])
    a = analyse(df, [], m)
    run = a.run_rows()["B"]
    assert run["requests"] == 140  # t in [10, 80)
    assert run["seconds"] == 70.0


def test_zero_records_analyse_cleanly() -> None:
    a = analyse(records_frame([]), [], run_info())
    assert a.logical.empty and a.requests.empty
    assert [v["slo_pass"] for v in a.verdict] == [False, False]
    assert any("No requests completed" in r["text"] for r in a.risks)


_attempt = st.fixed_dictionaries(
    {
        "ok": st.booleans(),
        "lat": st.floats(0.01, 20),
        "cost": st.floats(0, 0.1),
        "tokens": st.integers(0, 500),
    }
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(_attempt, min_size=1, max_size=3), min_size=1, max_size=25))
def test_properties_goodput_le_throughput_and_costs_add_up(reqs: list[list[dict]]) -> None:
    rows = []
    for i, attempts in enumerate(reqs):
        t = float(i)
        for j, a in enumerate(attempts, 1):
            last = j == len(attempts)
            rows.append(
                record_row(
                    request_id=f"q{i}",
                    attempt=j,
                    endpoint="a1" if j == 1 else "a2",
                    t_intended=t,
                    t_dispatch=t + j * 0.01,
                    t_first_token=t + 0.05,
                    t_last_token=t + a["lat"],
                    t_end=t + a["lat"] + 0.01,
                    output_tokens=a["tokens"],
                    cost_usd=a["cost"],
                    outcome="ok" if (a["ok"] or not last) and last else "error",
                    error_class=None if a["ok"] and last else "http_5xx",
                    is_final_attempt=last,
                )
            )
    df = records_frame(rows)
    a = analyse(df, [], run_info(duration_s=len(reqs) + 1.0))
    run = a.run_rows()["A"]
    assert run["goodput_rps"] <= run["throughput_rps"] <= run["offered_rps"]
    assert run["good"] <= run["succeeded"] <= run["requests"] == len(reqs)
    assert run["cost_usd"] == pytest.approx(float(df["cost_usd"].sum()))
    assert run["wasted_cost_usd"] <= run["cost_usd"] + 1e-12
    assert a.logical["cost"].sum() == pytest.approx(float(df["cost_usd"].sum()))
    by_phase = a.requests.loc[a.requests["scope"] == "phase", "cost_usd"].sum()
    assert by_phase == pytest.approx(run["cost_usd"])
    if run["good"]:
        assert run["cost_per_good_request"] == pytest.approx(run["cost_usd"] / run["good"])
    else:
        assert math.isnan(run["cost_per_good_request"])
    lat = a.latency.loc[(a.latency["scope"] == "run")]
    for _, r in lat.iterrows():
        if r["count"]:
            assert r["min"] <= r["p50"] <= r["p90"] <= r["p95"] <= r["p99"] <= r["p99.9"] <= r["max"]
    assert np.isfinite(run["error_rate"])


def test_sequential_run_is_aligned_to_each_contenders_slot() -> None:
    from harness.analysis import synthetic_run

    df, ev, m = synthetic_run(300, seed=5)
    par = analyse(df, ev, m)
    slot = m.manifest.duration_s
    seq = df.copy()
    beta = (seq["contender"] == "beta").to_numpy()
    for col in (
        "t_intended",
        "t_dispatch",
        "t_headers",
        "t_first_token",
        "t_first_output",
        "t_last_token",
        "t_end",
    ):
        vals = pd.to_numeric(seq[col], errors="coerce").to_numpy(dtype=float)
        seq[col] = np.where(beta, vals + slot, vals)
    seq_events = [
        {**e, "fault_id": f"{e['fault_id']}@{k}", "t_applied": e["t_applied"] + k * slot}
        for k in (0, 1)
        for e in ev
    ]
    seq_faults = [
        f.model_copy(update={"fault_id": f"{f.fault_id}@{k}", "at_s": f.at_s + k * slot})
        for k in (0, 1)
        for f in m.manifest.faults
    ]
    m_seq = m.with_manifest(
        duration_s=2 * slot,
        faults=seq_faults,
        load={**m.manifest.load.model_dump(), "mode": "sequential", "duration": slot},
    )
    got = analyse(seq, seq_events, m_seq)
    assert [w.fault_id for w in got.faults] == [w.fault_id for w in par.faults]
    for c in ("alpha", "beta"):
        a, b = par.run_rows()[c], got.run_rows()[c]
        for k in ("requests", "error_rate", "good_fraction", "user_ttft_p95", "cost_usd", "goodput_rps"):
            assert b[k] == pytest.approx(a[k]), (c, k)
    assert got.fault_impact["lost"].tolist() == par.fault_impact["lost"].tolist()


def test_time_to_detect_ignores_errors_elsewhere_and_counts_fallbacks_away() -> None:
    df, ev, m = _fault_run()
    noise = record_row(
        contender="B",
        endpoint="b9",
        request_id="noise",
        t_intended=39.9,
        t_dispatch=39.95,
        t_end=40.05,
        outcome="error",
        error_class="http_5xx",
    )
    a = analyse(records_frame([*df.to_dict("records"), noise]), ev, m)
    assert a.fault_impact.set_index("contender").loc["B", "time_to_detect_s"] == pytest.approx(0.2)
    # a fallback away from the faulted endpoint is a reaction too, even before any error is seen
    fb = record_row(
        contender="B",
        endpoint="b2",
        request_id="fb",
        attempt=2,
        fallback_from="b1",
        t_intended=39.9,
        t_dispatch=40.1,
        t_first_token=40.2,
        t_last_token=40.3,
        t_end=40.4,
        output_tokens=3,
    )
    a = analyse(records_frame([*df.to_dict("records"), fb]), ev, m)
    assert a.fault_impact.set_index("contender").loc["B", "time_to_detect_s"] == pytest.approx(0.1)


def test_a_latency_fault_is_reported_as_slowdown_with_numbers() -> None:
    df, ev, m = _fault_run()
    t = df["t_intended"].to_numpy(dtype=float)
    slow = (t >= 40) & (t < 50)
    df.loc[slow, "outcome"] = "ok"
    df.loc[slow, "error_class"] = None
    df.loc[slow, "t_first_token"] = t[slow] + 0.1
    df.loc[slow, "t_last_token"] = t[slow] + 4.9
    df.loc[slow, "t_end"] = t[slow] + 5.0
    df.loc[slow, "output_tokens"] = 10
    a = analyse(df, ev, m)
    text = next(r["text"] for r in a.risks if "latency rose" in r["text"])
    # requests asked for in [45, 50) s were still in flight when the fault ended: transitions, not inside;
    # the 10 inside are too few to judge a p95 (20 needed), enough for the p50
    assert text.startswith(
        "B's p50 user latency rose from 1.0 s to 5.0 s (+4.0 s) during the 10 s outage (f1), beyond the "
        "run's noise"
    )
    [row] = a.fault_impact.to_dict("records")
    assert row["changes"] == ["p50 user latency rose from 1.0 s to 5.0 s (+4.0 s, noise ±1 ms)"]
    assert "lost 0.0 % of requests" in text


def _columns(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ttft = rng.lognormal(-1, 1, n)
    ttft[rng.random(n) < 0.1] = np.nan
    cols: dict[str, np.ndarray] = {
        k: rng.random(n) < p
        for k, p in (
            ("ok", 0.9),
            ("throttled", 0.05),
            ("primary_failed", 0.1),
            ("rescued", 0.05),
            ("fallback", 0.1),
            ("max_tokens_exceeded", 0.01),
            ("finished", 0.95),
        )
    }
    cols |= {
        "cost": rng.random(n) / 100,
        "wasted_cost": rng.random(n) / 1000,
        "output_tokens": rng.integers(1, 500, n).astype(float),
        "usage_source": np.array(["reported", "estimated", "none", None], dtype=object)[
            rng.integers(0, 4, n)
        ],
        "check_passed": np.array([True, False, None, np.False_], dtype=object)[rng.integers(0, 4, n)],
        "n_attempts": rng.integers(1, 4, n),
        "attempts_429": rng.integers(0, 2, n),
        "ttft": ttft,
        "user_ttft": ttft + rng.random(n) / 100,
        "ttfot": ttft.copy(),  # no reasoning: the same numbers
        "user_ttfot": ttft + rng.random(n),
        "reasoning_tokens": rng.integers(0, 50, n).astype(float),
        "reasoning_cost": rng.random(n) / 1e4,
        "tpot": np.where(rng.random(n) < 0.2, np.nan, rng.random(n) / 50),
        "e2e": rng.lognormal(0, 1, n),
        "user_latency": rng.lognormal(0, 1, n),
        "schedule_lag": rng.random(n) / 100,
    }
    return cols


def test_group_columns_give_the_numbers_of_the_sliced_columns() -> None:
    """analyse() hands each group as RequestColumns(lg).group(rows): the same numbers, to the bit, as the
    group's columns sliced out; a check counts as failed only when it is the boolean False."""
    from harness.analysis._metrics import RequestColumns, latency_rows

    cols = _columns(5000)
    good = np.random.default_rng(1).random(5000) < 0.5
    gaps = np.random.default_rng(2).random(777)
    base = RequestColumns(cols)
    for idx in (np.arange(5000), np.flatnonzero(cols["fallback"]), np.arange(0, 5000, 7), np.arange(0)):
        sub = {k: v[idx] for k, v in cols.items()}
        want = request_metrics(sub, good[idx], 10.0, n_chunk_gaps=3, n_reads=4, n_merged_reads=1)
        group = base.group(idx)
        got = request_metrics(group, good[idx], 10.0, n_chunk_gaps=3, n_reads=4, n_merged_reads=1)
        assert repr(got) == repr(want)
        assert repr(latency_rows(group, gaps)) == repr(latency_rows(sub, gaps))
        ok = sub["ok"]
        assert want["check_failed"] == sum(1 for c in sub["check_passed"][ok] if c is False or c is np.False_)
        assert want["usage_reported_share"] == pytest.approx(
            (sub["usage_source"][ok] == "reported").sum() / ok.sum() if ok.sum() else math.nan, nan_ok=True
        )
        for m in ("ttft", "ttfot", "tpot", "e2e"):
            vals = sub[m][ok]
            vals = vals[np.isfinite(vals)]
            qs = [float(q) for q in np.percentile(vals, (50, 95, 99))] if vals.size else [math.nan] * 3
            assert [want[f"{m}_p{p}"] for p in (50, 95, 99)] == pytest.approx(qs, nan_ok=True, rel=0, abs=0)


def test_request_columns_read_compact_frames() -> None:
    """Categorical strings, a nullable boolean check and int32 counts give the numbers plain arrays give."""
    from harness.analysis._metrics import RequestColumns

    cols = _columns(3000, seed=5)
    good = cols["ok"].copy()
    want = request_metrics(cols, good, 7.0)
    frame = pd.DataFrame(cols)
    frame["usage_source"] = frame["usage_source"].astype("category")
    frame["check_passed"] = pd.array(
        [None if c is None else bool(c) for c in cols["check_passed"]], dtype="boolean"
    )
    frame["n_attempts"] = frame["n_attempts"].astype("int32")
    frame["attempts_429"] = frame["attempts_429"].astype("int32")
    got = request_metrics(RequestColumns(frame).group(np.arange(3000)), good, 7.0)
    assert repr(got) == repr(want)
    compact = ("usage_source", "check_passed")
    arrays = {k: frame[k].array if k in compact else frame[k].to_numpy() for k in frame}
    got = request_metrics(RequestColumns(arrays).group(np.arange(3000)), good, 7.0)
    assert repr(got) == repr(want)


def test_large_groups_on_two_threads_give_the_one_thread_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.analysis import _metrics
    from harness.analysis._metrics import RequestColumns, latency_rows

    cols = _columns(30_000, seed=9)
    gaps = np.random.default_rng(4).lognormal(0, 1, 25_000)
    monkeypatch.setattr(_metrics, "PARALLEL_MIN", 10**12)
    one = RequestColumns(cols).group()
    want = (request_metrics(one, cols["ok"], 5.0), latency_rows(one, gaps))
    monkeypatch.setattr(_metrics, "PARALLEL_MIN", 1000)
    two = RequestColumns(cols).group()
    got = (request_metrics(two, cols["ok"], 5.0), latency_rows(two, gaps))
    assert repr(got) == repr(want)
