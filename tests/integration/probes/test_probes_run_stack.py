"""The probes as `bakeoff run` will call them: the run's stack (simulated vendors and the embedded
Toxiproxy as child processes, one proxy per contender and endpoint), Targets built like the load's."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.client import make_http_client
from harness.config import load_scenario
from harness.load._plan import SIM_API_KEY
from harness.probes import ProbeOptions, build_targets, read_probes, run_probes, write_probes
from harness.run import Stack


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("stack")
    (tmp / "p.jsonl").write_text(
        json.dumps({"id": "p", "messages": [{"role": "user", "content": "hi"}]}) + "\n", encoding="utf-8"
    )
    doc = {
        "name": "stack",
        "prompts": "p.jsonl",
        "endpoints": [
            {"name": "oai", "dialect": "openai-chat", "model": "gpt-sim", "sim": "fast"},
            {"name": "ant", "dialect": "anthropic-messages", "model": "claude-sim", "sim": "fast"},
        ],
        "contenders": [{"name": "c", "primary": "oai", "fallbacks": ["ant"]}],
    }
    (tmp / "s.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    resolved = load_scenario(tmp / "s.yaml")
    run_dir = tmp / "run"
    run_dir.mkdir()
    stack = Stack(resolved, run_dir)
    try:
        stack.start()
        targets = build_targets(
            resolved.scenario.endpoints,
            base_urls=stack.base_urls,
            connect_to=stack.endpoint_connect_to(),
            api_keys=resolved.api_keys,
            prices=resolved.prices,
            sim_api_key=SIM_API_KEY,
        )
        with make_http_client(max_connections=8) as client:
            results = run_probes(targets, client, run_id="run-1", options=ProbeOptions(overlong_tokens=0))
        write_probes(run_dir, results)
    finally:
        problems = stack.stop()
    assert problems == []
    return targets, {(r.endpoint, r.probe): r for r in read_probes(run_dir)}


def test_probes_dial_the_proxies_and_record_every_endpoint(probed) -> None:
    targets, by = probed
    assert all(t.connect_to is not None for t in targets.values())
    assert {e for e, _ in by} == {"oai", "ant"}
    for ep in ("oai", "ant"):
        for probe in (
            "malformed_json",
            "unknown_model",
            "invalid_params",
            "stream_terminal",
            "usage_reported",
        ):
            assert by[(ep, probe)].passed is True, (ep, probe, by[(ep, probe)].observed)
        assert by[(ep, "bad_key")].run_id == "run-1"


def test_simulated_vendors_in_a_run_refuse_a_wrong_key(probed) -> None:
    _targets, by = probed
    assert by[("oai", "bad_key")].passed is True
    assert by[("ant", "bad_key")].passed is True
