"""probes.jsonl round trip, the public surface, and scorecard scores derived from results."""

from __future__ import annotations

import json

import harness.probes as probes
from harness.probes import PROBES, PROBES_FILE, ProbeResult, probe_scores, read_probes, write_probes


def r(probe: str, passed: bool | None, endpoint: str = "a", observed: str = "x") -> ProbeResult:
    spec = PROBES[probe]
    return ProbeResult(endpoint, probe, passed, spec.expected, observed, 401, 0.01, spec.layer, "", "run-1")


def test_public_names_are_pinned() -> None:
    assert sorted(probes.__all__) == sorted(
        [
            "INVALID_KEY",
            "PROBE_LAYERS",
            "PROBES",
            "PROBES_FILE",
            "REQUESTS",
            "UNKNOWN_MODEL",
            "Exchange",
            "ProbeOptions",
            "ProbeRequest",
            "ProbeResult",
            "ProbeSpec",
            "TlsInfo",
            "build_probe_requests",
            "build_targets",
            "check_tls",
            "error_body_ok",
            "evaluate",
            "has_ratelimit_headers",
            "probe_scores",
            "read_probes",
            "run_probes",
            "write_probes",
        ]
    )


def test_every_probe_has_a_scorecard_layer() -> None:
    assert {p.layer for p in PROBES.values()} <= {"Security", "Observability", "Model Serving"}


def test_write_and_read_round_trip(tmp_path) -> None:
    results = [r("bad_key", True), r("tls", None), r("malformed_json", False, observed="é ünïcode")]
    path = write_probes(tmp_path, results)
    assert path == tmp_path / PROBES_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert set(first) == {
        "endpoint",
        "probe",
        "passed",
        "expected",
        "observed",
        "status",
        "latency_s",
        "layer",
        "detail",
        "run_id",
        "dialect",
        "t_s",
    }
    assert read_probes(tmp_path) == results
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"torn": ')
    assert read_probes(tmp_path) == results
    assert read_probes(tmp_path / "missing") == []


def test_scores_count_only_applicable_probes_and_name_failures() -> None:
    results = [
        r("bad_key", True),
        r("malformed_json", True),
        r("invalid_params", False, observed="expected 4xx, got 500"),
        r("overlong_context", None),
        r("error_latency", True),
        r("tls", None),
        r("bad_key", False, endpoint="b", observed="ACCEPTED a wrong key"),
    ]
    scores = probe_scores(results)
    assert scores["a"]["bad_key_rejection"][:2] == ("security", 5.0)
    layer, score, reason = scores["a"]["malformed_input_handling"]
    assert (layer, score) == ("security", round(5 * 2 / 3, 1))
    assert "invalid_params: expected 4xx, got 500" in reason
    assert "tls" not in scores["a"]
    assert scores["b"]["bad_key_rejection"][1] == 0.0


def test_verdict_words() -> None:
    assert [r("bad_key", v).verdict for v in (True, False, None)] == ["pass", "FAIL", "n/a"]
