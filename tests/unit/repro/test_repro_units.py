"""Sans-network checks of the bundle pieces: statistics, the replay scenario, the comparison table,
placeholder prompts and the integrity check on hand-made archives."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from factories import record_row
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.repro as repro
from harness._errors import ConfigError
from harness.config import load_prompts
from harness.repro import (
    BUNDLE_FILES,
    BUNDLE_FORMAT,
    Bundle,
    build_replay_scenario,
    compare,
    format_comparison,
    summarise,
    verify_bundle,
)
from harness.repro._replay import _placeholder_prompts, _schedule_check
from harness.tokens import count_tokens


def test_public_names() -> None:
    assert sorted(repro.__all__) == repro.__all__
    assert {"export_bundle", "verify_bundle", "replay_bundle"} <= set(repro.__all__)


def _rec(seq: int, attempt: int, endpoint: str, outcome: str, t: float, **kw: Any) -> dict[str, Any]:
    return record_row(
        seq=seq,
        attempt=attempt,
        endpoint=endpoint,
        outcome=outcome,
        error_class=None if outcome == "ok" else kw.pop("error_class", "connect_refused"),
        t_intended=t,
        t_dispatch=t + 0.01,
        t_first_token=t + 0.11 if outcome == "ok" else None,
        t_end=t + 0.51,
        is_final_attempt=kw.pop("final", True),
        **kw,
    )


RECORDS = [
    _rec(0, 1, "a", "ok", 0.0),
    _rec(1, 1, "a", "error", 1.0, final=False),
    _rec(1, 2, "b", "ok", 1.0),
    _rec(2, 1, "a", "error", 1.5, error_class="http_429"),
    _rec(3, 1, "a", "ok", 3.0),
]
EVENTS = [
    {"fault_id": "f1-outage", "action": "apply", "fault": "outage", "kind": "outage", "t_applied": 0.9},
    {"fault_id": "f1-outage", "action": "remove", "fault": "outage", "kind": "outage", "t_applied": 2.0},
]


def test_summarise_counts_logical_requests_fallbacks_and_windows() -> None:
    s = summarise(RECORDS, EVENTS, "a")
    assert (s["requests"], s["attempts"], s["succeeded"], s["failed"]) == (4, 5, 3, 1)
    assert s["errors"] == {"http_429": 1}
    assert s["primary_errors"] == {"connect_refused": 1, "http_429": 1}
    assert s["fallbacks"] == 1
    assert s["ttft_p50_s"] == pytest.approx(0.1)
    (w,) = s["windows"]
    assert (w["start"], w["end"], w["requests"], w["failed"]) == (0.9, 2.0, 2, 1)
    assert s["outcomes"] == {0: "ok", 1: "ok", 2: "error", 3: "ok"}


def test_fault_windows_without_removal_last_until_run_end_and_strip_slot_tags() -> None:
    (w,) = summarise(RECORDS, [{**EVENTS[0], "fault_id": "f1-outage@1"}], "a")["windows"]
    assert (w["fault_id"], w["start"], w["end"]) == ("f1-outage", 0.9, 3.51)  # the last record's end


def _old_repro_windows(events: list[dict[str, Any]], run_end: float) -> list[dict[str, Any]]:
    """The fault windows harness.repro computed before it used harness.analysis.fault_windows (oracle)."""
    out: dict[str, dict[str, Any]] = {}
    for ev in events:
        fid = str(ev.get("fault_id")).split("@")[0]
        if ev.get("action") == "apply" and fid not in out:
            out[fid] = {
                "fault_id": fid,
                "name": ev.get("fault", fid),
                "kind": ev.get("kind", ""),
                "start": float(ev["t_applied"]),
                "end": run_end,
            }
        elif ev.get("action") == "remove" and fid in out:
            out[fid]["end"] = float(ev["t_applied"])
    return sorted(out.values(), key=lambda w: (w["start"], w["fault_id"]))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 5.0), st.one_of(st.none(), st.floats(0, 3.0)), st.sampled_from(["", "@1", "@2"])
        ),
        max_size=4,
    ),
    st.booleans(),
)
def test_bundle_windows_and_counts_are_those_repro_computed_before(
    faults: list[tuple[float, float | None, str]], failed_apply: bool
) -> None:
    """Every window and every count are unchanged by the switch to the analysis' fault windows,
    faults removed after the last record or applied after it included."""
    events = []
    for i, (at, length, tag) in enumerate(faults):
        fid = f"f{i}-outage{tag}"
        apply = {"fault_id": fid, "action": "apply", "fault": "outage", "kind": "outage", "t_applied": at}
        events.append({**apply, "outcome": "error"} if failed_apply and i == 0 else apply)
        if length is not None:
            events.append({**apply, "action": "remove", "t_applied": at + length})
    got = summarise(RECORDS, events, "a")["windows"]
    old = _old_repro_windows(events, 3.51)
    assert [{k: w[k] for k in ("fault_id", "name", "kind", "start", "end")} for w in got] == old
    assert [w["requests"] for w in got] == [
        sum(1 for r in RECORDS if r["is_final_attempt"] and o["start"] <= r["t_intended"] < o["end"])
        for o in old
    ]


def test_comparison_table_lines_up_and_marks_missing_windows() -> None:
    original = summarise(RECORDS, EVENTS, "a")
    observed = summarise(RECORDS, [], "a")
    rows = compare(original, observed)
    assert ("[outage] requests in window", "2", "not applied") in rows
    text = format_comparison(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "original", "replay"]
    assert len({line.index(" 4 ") for line in lines if line.startswith("logical requests")}) == 1


def _bundle(scenario: dict[str, Any], faults: list[dict[str, Any]]) -> Bundle:
    manifest = {
        "format": BUNDLE_FORMAT,
        "chain": {"primary": "a", "endpoints": ["a", "b"]},
        "faults": faults,
        "prompts": {"redacted": False},
    }
    return Bundle(
        Path("x.tar.gz"),
        {"manifest.json": json.dumps(manifest).encode(), "scenario.yaml": yaml.safe_dump(scenario).encode()},
    )


SCENARIO = {
    "name": "repro-demo-c",
    "seed": 3,
    "prompts": "prompts.jsonl",
    "endpoints": [
        {"name": "a", "dialect": "openai-chat", "model": "m-a", "sim": "a", "region": "eu"},
        {"name": "b", "dialect": "anthropic-messages", "model": "m-b", "base_url": "https://b.example/v1"},
    ],
    "contenders": [{"name": "c", "primary": "a", "fallbacks": ["b"], "retries": 1}],
    "faults": [
        {
            "at": 1.0,
            "duration": 2.0,
            "target": "b",
            "fault": {"kind": "latency", "attributes": {"latency": 5}},
        },
        {"at": 2.0, "target": "c", "fault": {"kind": "http_status", "status": 503}},
    ],
    "sim_profiles": {"a": {"ttft_ms": 50}},
}


def test_replay_scenario_has_one_endpoint_and_keeps_the_original_fault_ids() -> None:
    b = _bundle(
        SCENARIO,
        [{"fault_id": "f4-latency", "name": "latency"}, {"fault_id": "f7-http-503", "name": "http-503"}],
    )
    sc, dropped, ids = build_replay_scenario(b, "https://vendor.example/v1", api_key_env="K", model="m-x")
    (ep,) = sc["endpoints"]
    assert ep == {
        "name": "a",
        "dialect": "openai-chat",
        "model": "m-x",
        "region": "eu",
        "base_url": "https://vendor.example/v1",
        "api_key_env": "K",
    }
    assert sc["contenders"][0]["fallbacks"] == [] and sc["contenders"][0]["retries"] == 1
    assert [f["target"] for f in sc["faults"]] == ["a"]
    assert dropped == ["f4-latency on b"] and ids == [("f7-http-503", "http-503")]
    assert "sim_profiles" not in sc
    sim_sc, _, _ = build_replay_scenario(b, "sim")
    assert sim_sc["endpoints"][0]["sim"] == "a" and sim_sc["sim_profiles"] == {"a": {"ttft_ms": 50}}
    with pytest.raises(ConfigError, match="--endpoint"):
        build_replay_scenario(b, "vendor.example")


def test_placeholder_prompts_keep_ids_classes_and_about_the_token_count(tmp_path: Path) -> None:
    rows = [
        {"id": "p1", "class": "long", "input_tokens": 900, "max_tokens": 64},
        {"id": "p2", "input_tokens": 3},
    ]
    path = tmp_path / "p.jsonl"
    path.write_bytes(_placeholder_prompts(rows))
    items, _, problems = load_prompts(path)
    assert not problems and [i.id for i in items] == ["p1", "p2"] and items[0].prompt_class == "long"
    assert abs(count_tokens(items[0].messages[0].content) - 900) < 60


def test_schedule_check_names_the_first_difference() -> None:
    sched = [{"seq": 0, "t_intended": 0.5, "prompt_id": "a"}, {"seq": 1, "t_intended": 1.0, "prompt_id": "b"}]
    same = [
        {"seq": s["seq"], "attempt": 1, "t_intended": s["t_intended"], "prompt_id": s["prompt_id"]}
        for s in sched
    ]
    assert _schedule_check(sched, same)[0]
    moved = [same[0], {**same[1], "t_intended": 1.1}]
    ok, detail = _schedule_check(sched, moved)
    assert not ok and "seq 1" in detail
    assert not _schedule_check(sched, same[:1])[0]


def _archive(path: Path, files: dict[str, bytes], sums: dict[str, bytes] | None = None) -> None:
    listed = files if sums is None else sums
    body = "".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in listed.items()).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {**files, "SHA256SUMS": body}.items():
            info = tarfile.TarInfo(f"top/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _files() -> dict[str, bytes]:
    files = dict.fromkeys(BUNDLE_FILES, b"{}\n")
    files["manifest.json"] = json.dumps({"format": BUNDLE_FORMAT}).encode()
    return files


def test_verify_accepts_a_consistent_archive(tmp_path: Path) -> None:
    _archive(tmp_path / "ok.tar.gz", _files())
    assert verify_bundle(tmp_path / "ok.tar.gz").manifest["format"] == BUNDLE_FORMAT


def test_verify_rejects_altered_extra_and_foreign_archives(tmp_path: Path) -> None:
    files = _files()
    _archive(tmp_path / "alt.tar.gz", {**files, "records.jsonl": b"changed\n"}, sums=files)
    with pytest.raises(ConfigError, match=r"records\.jsonl: sha256 mismatch"):
        verify_bundle(tmp_path / "alt.tar.gz")
    _archive(tmp_path / "extra.tar.gz", {**files, "evil.sh": b"rm -rf /\n"}, sums=files)
    with pytest.raises(ConfigError, match=r"evil\.sh: file not listed"):
        verify_bundle(tmp_path / "extra.tar.gz")
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(ConfigError, match="not a readable"):
        verify_bundle(tmp_path / "junk.tar.gz")
    with pytest.raises(ConfigError, match="no such bundle"):
        verify_bundle(tmp_path / "absent.tar.gz")
    other = {**files, "manifest.json": json.dumps({"format": "other/9"}).encode()}
    _archive(tmp_path / "fmt.tar.gz", other)
    with pytest.raises(ConfigError, match="bundle format"):
        verify_bundle(tmp_path / "fmt.tar.gz")


def test_records_are_shifted_to_the_contenders_own_clock_and_cleaned() -> None:
    from harness.repro._bundle import _clean, _shift

    row = {"t_intended": 61.5, "t_dispatch": 61.6, "t_headers": None, "chunk_times": [61.7, 61.8], "seq": 3}
    out = _shift(dict(row), 60.0)
    assert out["t_intended"] == pytest.approx(1.5) and out["t_headers"] is None
    assert out["chunk_times"] == [pytest.approx(1.7), pytest.approx(1.8)] and out["seq"] == 3
    assert _shift(dict(row), 0.0) == row
    assert _clean(float("nan")) is None
    assert _clean(np.array([1.0, 2.0])) == [1.0, 2.0]
    assert _clean(np.int64(4)) == 4 and isinstance(_clean(np.int64(4)), int)
