"""The decision (issue 13, observations 2 and 3): gates, objectives with their noise, dominance, ties,
weights and their robustness, the exposure caveat, SLO failures traced to a fault window, and a scorecard
that scores only what the run measured."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from conftest import run_info
from factories import record_row, records_frame

from harness._percentile import percentiles, row_percentiles
from harness.analysis import analyse, synthetic_run
from harness.analysis._decision import order_of
from harness.config import Price
from harness.record import RunInfo


def _requests(
    contender: str,
    endpoint: str,
    ttft: np.ndarray,
    latency: np.ndarray,
    *,
    cost: float = 0.0005,
    failed: np.ndarray | None = None,
    every: float = 0.25,
) -> list[dict[str, Any]]:
    """One logical request every ``every`` s with the given user TTFT and latency (seconds)."""
    rows = []
    for i, (tt, lat) in enumerate(zip(ttft, latency, strict=True)):
        t = i * every
        if failed is not None and failed[i]:
            rows.append(
                record_row(
                    contender=contender,
                    endpoint=endpoint,
                    request_id=f"{contender}{i}",
                    t_intended=t,
                    t_dispatch=t,
                    t_end=t + 0.05,
                    outcome="error",
                    error_class="connect_refused",
                )
            )
            continue
        rows.append(
            record_row(
                contender=contender,
                endpoint=endpoint,
                request_id=f"{contender}{i}",
                t_intended=t,
                t_dispatch=t,
                t_first_token=t + tt,
                t_last_token=t + lat - 0.01,
                t_end=t + lat,
                output_tokens=40,
                cost_usd=cost,
            )
        )
    return rows


def _two(
    a: tuple[np.ndarray, np.ndarray, float], b: tuple[np.ndarray, np.ndarray, float], **manifest: Any
) -> tuple[Any, RunInfo]:
    rows = _requests("A", "a1", a[0], a[1], cost=a[2]) + _requests("B", "b1", b[0], b[1], cost=b[2])
    slo = {"ttft": 1.0, "tpot": None, "e2e": 5.0, "max_error_rate": 0.05, "min_good_fraction": 0.9}
    info = run_info(slo=slo, **manifest)
    return records_frame(rows), info


N = 240


def _fast_with_a_tail(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Observation 2's alpha: p95 TTFT ≈ 185 ms, p95 latency ≈ 685 ms, but p99/p50 ≈ 5.8 (a slow tail)."""
    ttft = rng.uniform(0.10, 0.19, N)
    lat = rng.uniform(0.15, 0.25, N)
    tail = rng.choice(N, size=N // 20, replace=False)
    lat[tail] = rng.uniform(0.6, 1.4, tail.size)
    return ttft, lat


def _slow_and_steady(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Observation 2's gamma: p95 TTFT ≈ 764 ms, p95 latency ≈ 2.48 s, p99/p50 ≈ 2.0."""
    return rng.uniform(0.5, 0.78, N), rng.uniform(1.2, 2.5, N)


def test_a_dominated_contender_never_ranks_above_its_dominator() -> None:
    """Observation 2: gamma (slow, steady, dearer) used to rank above alpha (fast, cheaper) on p99/p50."""
    rng = np.random.default_rng(1)
    df, info = _two((*_fast_with_a_tail(rng), 0.000403), (*_slow_and_steady(rng), 0.000570))
    a = analyse(df, [], info)
    d = a.decision
    assert d["order"] == ["A", "B"]
    assert [v["rank_label"] for v in a.verdict] == ["1", "2"]
    assert d["dominates"]["A"] == ["B"]
    better = next(b for b in d["better_on"] if b["better"] == "A")["objectives"]
    assert {"ttft_p95", "latency_p95", "latency_p99", "cost_per_good"} <= set(better)
    # the stability criterion still prefers B, and no longer decides anything
    card = {(r["contender"], r["criterion"]): r["score"] for r in a.scorecard["rows"]}
    assert card[("B", "latency_stability")] > card[("A", "latency_stability")]
    assert a.decision["headline"].startswith("Choose A: it passes every must-pass SLO (TTFT ≤ 1 s")
    # whatever the declared weights, the dominated contender stays below
    for weights in ({"ttft": 0, "latency": 0, "good_fraction": 1, "cost": 0.01}, {"good_fraction": 5}):
        info2 = info.with_manifest(decision={"weights": weights})
        assert analyse(df, [], info2).decision["order"] == ["A", "B"]


def test_order_respects_dominance_even_against_the_score() -> None:
    dominates = {"A": {"B"}, "B": set(), "C": set()}
    passed = {"A": True, "B": True, "C": True}
    assert order_of(["A", "B", "C"], {"A": 0.5, "B": 0.9, "C": 0.7}, dominates, passed) == ["C", "A", "B"]
    # gates come first, whatever the score
    passed["C"] = False
    assert order_of(["A", "B", "C"], {"A": 0.5, "B": 0.9, "C": 0.95}, dominates, passed) == ["A", "B", "C"]


def test_differences_the_run_cannot_prove_are_ties() -> None:
    """Observation 2: 4.643 vs 4.640 was shown as ranks 1 and 2. Two draws from one distribution tie."""
    rng = np.random.default_rng(2)
    a_ttft, a_lat = rng.uniform(0.2, 0.6, N), rng.uniform(0.8, 2.0, N)
    b_ttft, b_lat = rng.uniform(0.2, 0.6, N), rng.uniform(0.8, 2.0, N)
    df, info = _two((a_ttft, a_lat, 0.0005), (b_ttft, b_lat, 0.0005))
    a = analyse(df, [], info)
    assert [v["rank_label"] for v in a.verdict] == ["=1", "=1"]
    assert a.verdict[0]["tied_with"] == [a.verdict[1]["contender"]]
    assert "tie for first" in a.decision["headline"] and "bakeoff compare" in a.decision["headline"]
    s = a.decision["scores"]
    assert s["A"]["low"] <= s["B"]["score"] <= s["A"]["high"] or s["B"]["low"] <= s["A"]["score"]


def test_weights_come_from_the_scenario_and_their_robustness_is_stated() -> None:
    """A is much faster, B ten times cheaper: with equal weights A wins, and the report says which
    weight change would flip it."""
    rng = np.random.default_rng(3)
    fast = (rng.uniform(0.08, 0.12, N), rng.uniform(0.4, 0.6, N), 0.001)
    cheap = (rng.uniform(0.4, 0.6, N), rng.uniform(2.0, 3.0, N), 0.0001)
    df, info = _two(fast, cheap)
    a = analyse(df, [], info)
    d = a.decision
    assert d["order"] == ["A", "B"] and not d["dominates"]["A"]
    r = d["robustness"]
    assert not r["holds"]
    assert r["flips"][0] == {"weight": "cost", "factor": 2.0, "above": "B", "below": "A"}
    assert r["text"] == "The order depends on the weights: weighting cost 2× puts B above A."
    flipped = analyse(df, [], info.with_manifest(decision={"weights": {"cost": 4}}))
    assert flipped.decision["order"] == ["B", "A"]
    # a clear winner on the objectives that matter holds for any weights within ±50 %
    held = analyse(df, [], info.with_manifest(decision={"weights": {"cost": 0.2}}))
    assert held.decision["robustness"]["holds"]
    assert held.decision["robustness"]["text"].startswith("The order holds for any weights within ±50 %")


def test_gates_rank_every_passer_above_every_failer_and_can_name_per_request_slos() -> None:
    rng = np.random.default_rng(4)
    # B is faster and cheaper but 8 % of its requests fail: error rate 8 % > 5 %
    df_rows = _requests("A", "a1", rng.uniform(0.5, 0.7, N), rng.uniform(2, 3, N), cost=0.001)
    failed = np.zeros(N, dtype=bool)
    failed[::12] = True
    df_rows += _requests(
        "B", "b1", rng.uniform(0.1, 0.2, N), rng.uniform(0.5, 1, N), cost=0.0001, failed=failed
    )
    slo = {"ttft": 0.6, "tpot": None, "e2e": 5.0, "max_error_rate": 0.05, "min_good_fraction": 0.4}
    info = run_info(slo=slo)
    a = analyse(records_frame(df_rows), [], info)
    assert [v["contender"] for v in a.verdict] == ["A", "B"]
    assert a.verdict[1]["slo_reasons"][0].startswith("error rate 8.") and not a.verdict[1]["slo_pass"]
    # declared gates: TTFT must be met by min_good_fraction of requests; A meets 600 ms on about half
    a = analyse(records_frame(df_rows), [], info.with_manifest(decision={"gates": ["ttft"]}))
    checks = a.decision["gate_checks"]
    assert re.fullmatch(r"TTFT ≤ 600 ms met by \d+\.\d % ≥ 40\.0 %", checks["A"][0]["text"])
    assert checks["A"][0]["passed"] and checks["B"][0]["passed"]
    assert a.decision["gates"] == ["ttft"]


def test_an_slo_failure_is_traced_to_the_fault_window_only_it_faced() -> None:
    """Deliverable 7: 'beta met its 1 s TTFT SLO except during the brownout (…good inside, … outside)'."""
    rng = np.random.default_rng(5)
    a_t, a_l = rng.uniform(0.2, 0.4, N), rng.uniform(1, 2, N)
    b_t, b_l = rng.uniform(0.2, 0.4, N), rng.uniform(1, 2, N)
    inside = (np.arange(N) * 0.25 >= 20) & (np.arange(N) * 0.25 < 32)
    b_t[inside] += 0.9  # a brownout on B only: +900 ms
    b_l[inside] += 0.9
    df, info = _two((a_t, a_l, 0.0005), (b_t, b_l, 0.0005))
    fault = {
        "fault_id": "f2-brownout",
        "name": "brownout",
        "kind": "latency",
        "target": "B",
        "endpoints": ["b1"],
        "at_s": 20,
        "duration_s": 12,
    }
    info = info.with_manifest(faults=[fault])
    ev = [
        {
            "fault_id": "f2-brownout",
            "action": "apply",
            "t_applied": 20.0,
            "outcome": "ok",
            "endpoints": ["b1"],
        },
        {
            "fault_id": "f2-brownout",
            "action": "remove",
            "t_applied": 32.0,
            "outcome": "ok",
            "endpoints": ["b1"],
        },
    ]
    a = analyse(df, ev, info)
    why = a.decision["attributions"]["B"]
    assert why.startswith("B met its 1 s TTFT SLO except during the brownout only it faced (")
    assert why.endswith("good inside, 100.0 % outside)")
    head = a.decision["headline"]
    assert head.startswith(
        "Choose A: it passes every must-pass SLO (TTFT ≤ 1 s and latency ≤ 5 s per request"
    )
    assert why in head
    assert "resilience is not compared: the contenders faced different faults (A: none; B: brownout)" in head
    assert any(why in r["text"] for r in a.risks)


def test_resilience_is_compared_only_on_faults_every_contender_faced() -> None:
    rng = np.random.default_rng(6)
    base = (rng.uniform(0.2, 0.3, N), rng.uniform(1, 1.5, N))
    t = np.arange(N) * 0.25
    inside = (t >= 20) & (t < 30)
    a_rows = _requests("A", "a1", *base, failed=inside & (np.arange(N) % 2 == 0))  # loses half inside
    b_rows = _requests("B", "b1", *base)
    slo = {"ttft": 1.0, "tpot": None, "e2e": 5.0, "max_error_rate": 0.5, "min_good_fraction": 0.5}
    shared = {
        "fault_id": "f1-outage",
        "name": "outage",
        "kind": "outage",
        "target": "each-contender",
        "scope": "each-contender",
        "endpoints": ["a1", "b1"],
        "paths": ["A@a1", "B@b1"],
        "at_s": 20,
        "duration_s": 10,
    }
    info = run_info(slo=slo, faults=[shared])
    eps = ["a1", "b1"]
    ev = [
        {"fault_id": "f1-outage", "action": "apply", "t_applied": 20.0, "outcome": "ok", "endpoints": eps},
        {"fault_id": "f1-outage", "action": "remove", "t_applied": 30.0, "outcome": "ok", "endpoints": eps},
    ]
    a = analyse(records_frame(a_rows + b_rows), ev, info)
    res = a.decision["resilience"]
    assert res["compared"] and res["shared"] == ["f1-outage"] and res["text"] is None
    used = {o["key"] for o in a.decision["objectives"] if o["used"]}
    assert "fault_served" in used
    served = a.decision["values"]
    assert served["A"]["fault_served"]["value"] == pytest.approx(0.5)
    assert served["B"]["fault_served"]["value"] == 1.0
    assert any(b["better"] == "B" and "fault_served" in b["objectives"] for b in a.decision["better_on"])


def test_no_full_marks_without_evidence() -> None:
    """Observation 3: 'reliability under faults 5.0 — no fault hit it'; 'capacity under load 5.0' from 0 %
    throttling at 3 req/s. Neither is measured by such a run."""
    rng = np.random.default_rng(7)
    df, info = _two(
        (rng.uniform(0.1, 0.2, N), rng.uniform(0.5, 0.8, N), 0.0005),
        (rng.uniform(1.5, 2.5, N), rng.uniform(8, 12, N), 0.0005),
    )
    a = analyse(df, [], info)
    rows = {(r["contender"], r["criterion"]): r for r in a.scorecard["rows"]}
    for c in ("A", "B"):
        for crit in ("reliability_under_faults", "recovery_after_faults", "capacity_under_load"):
            r = rows[(c, crit)]
            assert r["score"] is None and r["label"] == "not measured", (c, crit, r)
        assert "no fault hit it" in rows[(c, "reliability_under_faults")]["reason"]
        assert "stepped load" in rows[(c, "capacity_under_load")]["reason"]
    # latency is scored in absolute terms against the SLOs: A well inside, B at twice the limits
    assert rows[("A", "latency_vs_slo")]["score"] == 5.0
    assert rows[("B", "latency_vs_slo")]["score"] == 0.0
    assert (
        "p95 user TTFT" in rows[("B", "latency_vs_slo")]["reason"]
        and "vs SLO 1.00 s" in rows[("B", "latency_vs_slo")]["reason"]
    )
    # no score anywhere is a 5 that rests on nothing: every scored cell gives its number
    assert all(r["reason"] for r in a.scorecard["rows"] if r["score"] is not None)


def test_a_stepped_load_is_measured_by_the_capacity_analysis() -> None:
    df, ev, m = synthetic_run(200, seed=1)
    m = m.with_manifest(
        load={"duration": 20.0, "stages": [{"duration": 10, "rate": 5}, {"duration": 10, "rate": 10}]}
    )
    a = analyse(df, ev, m)
    rows = {(r["contender"], r["criterion"]): r for r in a.scorecard["rows"]}
    assert set(a.capacity) == {"alpha", "beta"}
    assert [s["offered_rps"] for s in a.capacity["alpha"]["steps"]] == [5.0, 10.0]
    row = rows[("beta", "capacity_under_load")]
    assert row["label"] == "measured" and "req/s" in row["reason"]


def test_an_unpriced_contender_has_an_unknown_cost_not_zero() -> None:
    df, ev, m = synthetic_run(200, seed=1)
    zero = Price()
    m = m.with_manifest(
        endpoints=[
            e.model_copy(update={"price": zero}) if e.name == "alpha-ep" else e for e in m.manifest.endpoints
        ]
    )
    df.loc[df["contender"] == "alpha", "cost_usd"] = 0.0
    a = analyse(df, ev, m)
    alpha = a.run_rows()["alpha"]
    assert np.isnan(alpha["cost_per_good_request"]) and np.isnan(alpha["cost_usd"])
    assert not np.isnan(a.run_rows()["beta"]["cost_per_good_request"])
    assert "cost not compared: no price table for alpha" in a.decision["notes"]
    assert not next(o for o in a.decision["objectives"] if o["key"] == "cost_per_good")["used"]
    v = next(v for v in a.verdict if v["contender"] == "alpha")
    assert v["monthly_cost_usd"] is None


def test_decision_is_reproducible_from_the_run_seed() -> None:
    df, ev, m = synthetic_run(300, seed=5)
    one, two = analyse(df, ev, m).decision, analyse(df, ev, m).decision
    assert one["scores"] == two["scores"] and one["headline"] == two["headline"]


@pytest.mark.parametrize("ps", [(95,), (95, 99), (50, 95), (0, 100)])
def test_row_percentiles_partial_sort_gives_the_one_percentile_to_the_last_bit(
    ps: tuple[int, ...],
) -> None:
    rng = np.random.default_rng(7)
    for width in (1, 2, 3, 10, 1000):
        m = rng.lognormal(0.0, 1.0, size=(40, width))
        m[rng.random(m.shape) < rng.choice([0.0, 0.1, 0.9], size=(40, 1))] = np.nan
        m[rng.random(m.shape) < 0.01] = np.inf
        m[0] = np.nan  # a row without a finite value
        m[1, 1:] = np.nan  # a row with one
        m[2] = 1.0  # ties
        want = np.array([percentiles(row, ps) for row in m])  # one full sort per row
        assert row_percentiles(m, ps).tobytes() == want.tobytes()
