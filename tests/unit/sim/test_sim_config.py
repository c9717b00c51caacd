"""Simulator config: presets, validation, YAML loading with one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

import harness.behaviour
import harness.sim
from harness._errors import ConfigError
from harness.sim import PRESETS, SimBehaviour, SimConfig, SimEndpoint
from harness.sim._command import load_config


def test_public_names() -> None:
    assert set(harness.sim.__all__) == {
        "PRESETS",
        "GroundTruthRecord",
        "GroundTruthWriter",
        "SimBehaviour",
        "SimConfig",
        "SimEndpoint",
        "SimServer",
        "SimThread",
        "base_url_for",
        "read_ground_truth",
        "serve_in_thread",
    }
    assert set(PRESETS) == {"fast", "steady", "slow"}


def test_preset_by_name_and_key_not_in_repr() -> None:
    ep = SimEndpoint(name="a", dialect="openai-chat", model="m", api_key="sk-secret", behaviour="slow")  # type: ignore[arg-type]
    assert ep.behaviour == PRESETS["slow"]
    assert "sk-secret" not in repr(ep) and "sk-secret" not in str(ep)


@pytest.mark.parametrize(
    "bad",
    [
        {"error_rates": {418: 0.1}},
        {"error_rates": {500: 0.7, 503: 0.6}},
        {"midstream_error_rate": 0.6, "midstream_close_rate": 0.6},
        {"ttft_ms": -1},
        {"typo_field": 1},
        {"max_context_tokens": 0},
    ],
)
def test_bad_behaviour_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SimBehaviour.model_validate(bad)


def test_context_window_defaults_and_presets_are_realistic() -> None:
    assert SimBehaviour().max_context_tokens == 128_000
    assert SimBehaviour(max_context_tokens=None).max_context_tokens is None
    windows = {name: b.max_context_tokens for name, b in PRESETS.items()}
    assert windows == {"fast": 128_000, "steady": 200_000, "slow": 200_000}


def test_duplicate_endpoint_names_refused() -> None:
    ep = {"name": "a", "dialect": "openai-chat", "model": "m"}
    with pytest.raises(ValidationError):
        SimConfig.model_validate({"endpoints": [ep, ep]})


def test_load_config_reports_each_problem(tmp_path: Path) -> None:
    f = tmp_path / "sim.yaml"
    f.write_text("seed: x\nendpoints:\n  - {name: ok, dialect: nope, model: m, behaviour: {ttft_ms: -5}}\n")
    with pytest.raises(ConfigError) as ei:
        load_config(f)
    problems = ei.value.problems
    assert any("$.seed" in p for p in problems)
    assert any("$.endpoints[0].dialect" in p for p in problems)
    assert any("$.endpoints[0].behaviour.ttft_ms" in p for p in problems)
    f.write_text("endpoints: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)
    f.write_text("seed: 2\nendpoints:\n  - {name: a, dialect: azure-openai, model: dep, behaviour: fast}\n")
    assert load_config(f).endpoints[0].behaviour == PRESETS["fast"]


def test_the_documented_example_config_is_valid() -> None:
    doc = str(harness.behaviour.__doc__)
    example = doc.split("::", 1)[1].split("\n\n")[1]
    cfg = SimConfig.model_validate(yaml.safe_load(example))
    by = {ep.name: ep.behaviour for ep in cfg.endpoints}
    assert by["vendor-b"].max_context_tokens == 200_000
    assert not by["vendor-c"].send_ratelimit_headers and not by["vendor-c"].send_request_id
    assert by["vendor-a"] == PRESETS["fast"]
    fields = SimBehaviour.model_fields
    for name in ("max_context_tokens", "send_ratelimit_headers", "send_request_id"):
        assert fields[name].description, name
