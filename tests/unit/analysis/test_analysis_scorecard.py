from __future__ import annotations

from pathlib import Path

import pytest

from harness._errors import ConfigError
from harness.analysis import DeclaredScores, analyse, load_declared, synthetic_run


def _analysis(declared: DeclaredScores | None = None):
    df, ev, m = synthetic_run(300, seed=3)
    return analyse(df, ev, m, declared=declared)


def test_every_layer_present_and_unmeasured_rows_say_so() -> None:
    a = _analysis()
    rows = a.scorecard["rows"]
    layers = {r["layer"] for r in rows}
    assert layers == {"compute", "orchestration", "model_serving", "observability", "security", "data_center"}
    probe = [r for r in rows if r["criterion"] == "bad_key_rejection"]
    assert probe and all(r["score"] is None and r["label"] == "not measured" for r in probe)
    assert all(r["source"] in ("measured", "declared", "none") for r in rows)
    # security and data centre have no measured criteria yet: no layer score rather than an invented one
    assert a.scorecard["layers"]["alpha"]["security"] is None


def test_declared_scores_fill_rows_and_weights_change_the_overall(tmp_path: Path) -> None:
    f = tmp_path / "scores.yaml"
    f.write_text(
        "weights: {model_serving: 3, security: 1}\n"
        "contenders:\n"
        "  alpha:\n"
        "    security:\n"
        "      private_networking_rbac_audit: {score: 5, note: 'PrivateLink, SSO, audit log export'}\n"
        "  beta:\n"
        "    data_center:\n"
        "      regions: {score: 1, note: 'one region'}\n",
        encoding="utf-8",
    )
    declared = load_declared(f)
    a = _analysis(declared)
    rows = {(r["contender"], r["criterion"]): r for r in a.scorecard["rows"]}
    r = rows[("alpha", "private_networking_rbac_audit")]
    assert (r["source"], r["score"], r["reason"]) == ("declared", 5.0, "PrivateLink, SSO, audit log export")
    assert a.scorecard["layers"]["alpha"]["security"] == 5.0
    assert a.scorecard["weights"]["model_serving"] == 3.0
    # the overall is the weighted mean of the layers that have a score, recomputed here from the rows:
    # a layer's score is the mean of its scored criteria; model_serving counts 3 times, others once
    weights = {"model_serving": 3.0, "security": 1.0}
    by_layer: dict[str, list[float]] = {}
    for row in a.scorecard["rows"]:
        if row["contender"] == "alpha" and row["score"] is not None:
            by_layer.setdefault(row["layer"], []).append(row["score"])
    means = {layer: sum(v) / len(v) for layer, v in by_layer.items()}
    expected = sum(weights.get(k, 1.0) * m for k, m in means.items()) / sum(
        weights.get(k, 1.0) for k in means
    )
    assert a.scorecard["overall"]["alpha"] == pytest.approx(expected)
    base = _analysis()
    assert "security" not in {r["layer"] for r in base.scorecard["rows"] if r["score"] is not None}
    assert a.scorecard["overall"]["alpha"] != pytest.approx(base.scorecard["overall"]["alpha"])


def test_scores_file_errors_are_one_line_each(tmp_path: Path) -> None:
    f = tmp_path / "scores.yaml"
    f.write_text(
        "contenders:\n  alpha:\n    compute:\n      capacity_commitments: {score: 9, nite: x}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc:
        load_declared(f)
    text = str(exc.value)
    assert "scores.yaml:4" in text and "nite" in text and "less than or equal to 5" in text


def test_declaring_a_measured_criterion_or_unknown_contender_is_refused() -> None:
    d = DeclaredScores.model_validate(
        {"contenders": {"alpha": {"model_serving": {"slo_attainment": {"score": 5}}}}}
    )
    with pytest.raises(ConfigError, match="measured by the run"):
        _analysis(d)
    d = DeclaredScores.model_validate({"contenders": {"gamma": {"compute": {"x": {"score": 1}}}}})
    with pytest.raises(ConfigError, match="not in this run"):
        _analysis(d)


def test_ranking_puts_slo_passers_first_with_reasons() -> None:
    a = _analysis()
    ranks = [(v["rank"], v["contender"], v["slo_pass"]) for v in a.verdict]
    assert ranks[0][2] or not any(p for _, _, p in ranks)
    assert all(v["reason"] for v in a.verdict)
    passes = [v["slo_pass"] for v in a.verdict]
    assert passes == sorted(passes, reverse=True)


def test_a_contender_that_never_answered_earns_no_capacity_or_latency_credit() -> None:
    from conftest import run_info
    from factories import record_row, records_frame

    rows = [
        record_row(
            contender="B",
            endpoint="b1",
            request_id=f"r{i}",
            t_intended=i,
            t_dispatch=i,
            t_end=i + 0.1,
            outcome="error",
            error_class="connect_refused",
        )
        for i in range(50)
    ]
    rows += [
        record_row(
            contender="A",
            endpoint="a1",
            request_id=f"r{i}",
            t_intended=i,
            t_dispatch=i,
            t_first_token=i + 0.2,
            t_last_token=i + 0.5,
            t_end=i + 0.6,
            output_tokens=5,
            cost_usd=0.001,
        )
        for i in range(50)
    ]
    a = analyse(records_frame(rows), [], run_info())
    b = {r["criterion"]: r for r in a.scorecard["rows"] if r["contender"] == "B"}
    assert b["capacity_under_load"]["score"] is None and b["latency_stability"]["score"] is None
    assert b["slo_attainment"]["score"] == 0.0
    assert a.scorecard["overall"]["B"] < 1.0 < a.scorecard["overall"]["A"]
    assert [v["contender"] for v in a.verdict] == ["A", "B"]


def test_regional_failover_is_measured_when_a_fault_takes_a_region_down() -> None:
    df, ev, m = synthetic_run(400, seed=4)
    m = m.with_manifest(
        endpoints=[
            e.model_copy(update={"region": "us-east" if e.name == "beta-small" else "eu-west"})
            for e in m.manifest.endpoints
        ]
    )
    a = analyse(df, ev, m)
    rows = {(r["contender"], r["criterion"]): r for r in a.scorecard["rows"]}
    alpha, beta = rows[("alpha", "regional_failover")], rows[("beta", "regional_failover")]
    # alpha's route stays in one region: failover is not measured (its outage shows under reliability)
    assert alpha["source"] == "none" and alpha["score"] is None
    impact = a.fault_impact.set_index(["fault_id", "contender"]).loc[("f2-429", "beta")]
    assert impact["regional"] and impact["other_region_fallback"]
    assert impact["rescued_other_region"] == impact["rescued"] == impact["primary_failures"] > 0
    assert beta["source"] == "measured" and beta["score"] == 5.0
    # without regions in the manifest nothing is claimed
    df, ev, m = synthetic_run(200, seed=4)
    m = m.with_manifest(endpoints=[e.model_copy(update={"region": None}) for e in m.manifest.endpoints])
    rows = {(r["contender"], r["criterion"]): r for r in analyse(df, ev, m).scorecard["rows"]}
    assert rows[("alpha", "regional_failover")]["score"] is None
