"""`bakeoff schema` accepts what the loader accepts: every shipped scenario, fault, prompt line and
simulator file validates against it with a standard validator (jsonschema), and invalid examples are
refused by both, durations and rates written as text included."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from harness.behaviour import SimBehaviour, SimConfig
from harness.cli import cli
from harness.cli._init import STARTER_FILES
from harness.config import FaultFile, LoadProfile, PromptItem, Scenario

ROOT = Path(__file__).resolve().parents[3]
MODELS: dict[str, type[BaseModel]] = {
    "scenario": Scenario,
    "fault": FaultFile,
    "prompt": PromptItem,
    "sim-profile": SimBehaviour,
    "sim": SimConfig,
}


def _schema(kind: str) -> dict[str, Any]:
    res = CliRunner().invoke(cli, ["schema", "--kind", kind])
    assert res.exit_code == 0, res.output
    schema = json.loads(res.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


VALIDATORS = {kind: jsonschema.Draft202012Validator(_schema(kind)) for kind in MODELS}


def schema_accepts(kind: str, data: Any) -> bool:
    return VALIDATORS[kind].is_valid(data)


def loader_accepts(kind: str, data: Any) -> bool:
    try:
        MODELS[kind].model_validate(data)
    except ValidationError:
        return False
    return True


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


SIM_FILES = [ROOT / "scenarios" / "compose" / "sim.yaml"]
SCENARIOS = [p for p in sorted((ROOT / "scenarios").glob("**/*.yaml")) if p not in SIM_FILES]
FAULTS = sorted((ROOT / "faults").glob("*.yaml"))
PROMPT_SETS = sorted((ROOT / "prompts").glob("*.jsonl"))


def _errors(kind: str, data: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATORS[kind].iter_errors(data)]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_scenario_and_its_sim_profiles_match_the_schema(path: Path) -> None:
    data = _yaml(path)
    assert _errors("scenario", data) == []
    for name, profile in (data.get("sim_profiles") or {}).items():
        assert _errors("sim-profile", profile) == [], name


@pytest.mark.parametrize("path", FAULTS, ids=lambda p: p.name)
def test_every_shipped_fault_matches_the_schema(path: Path) -> None:
    assert _errors("fault", _yaml(path)) == []


@pytest.mark.parametrize("path", PROMPT_SETS, ids=lambda p: p.name)
def test_every_shipped_prompt_line_matches_the_schema(path: Path) -> None:
    lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("//")]
    assert lines
    for no, line in enumerate(lines, 1):
        assert _errors("prompt", json.loads(line)) == [], f"{path.name}:{no}"


@pytest.mark.parametrize("path", SIM_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_simulator_file_matches_the_schema(path: Path) -> None:
    assert _errors("sim", _yaml(path)) == []


def test_the_starter_project_matches_the_schema() -> None:
    assert _errors("scenario", yaml.safe_load(STARTER_FILES["scenario.yaml"])) == []
    assert _errors("fault", yaml.safe_load(STARTER_FILES["faults/slow-network.yaml"])) == []
    for line in STARTER_FILES["prompts.jsonl"].splitlines():
        assert _errors("prompt", json.loads(line)) == []


BASE: dict[str, Any] = {
    "scenario": _yaml(ROOT / "scenarios" / "short" / "default.yaml"),
    "fault": _yaml(ROOT / "faults" / "stream-cut.yaml"),
    "prompt": {"id": "p", "messages": [{"role": "user", "content": "hi"}]},
    "sim-profile": {"ttft_ms": 100},
    "sim": _yaml(ROOT / "scenarios" / "compose" / "sim.yaml"),
}


def _with(kind: str, path: tuple[str | int, ...], value: Any) -> Any:
    """A copy of the base document of ``kind`` with ``value`` at ``path`` (``...`` deletes the key)."""
    data = copy.deepcopy(BASE[kind])
    cur = data
    for part in path[:-1]:
        cur = cur[part]
    if value is ...:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return data


INVALID = [
    ("scenario", ("load", "rate"), "3 per second"),
    ("scenario", ("load", "rate"), "0/s"),  # must be > 0
    ("scenario", ("load", "duration"), "0s"),
    ("scenario", ("load", "duration"), "-5s"),
    ("scenario", ("load", "duration"), "10 sec"),
    ("scenario", ("load", "duration"), "10s\n"),
    ("scenario", ("load", "duration"), -5),
    ("scenario", ("load", "duration"), True),
    ("scenario", ("slo", "ttft"), "0ms"),
    ("scenario", ("slo", "ttft"), "٣s"),  # not an ASCII digit
    ("scenario", ("faults", 0, "at"), "soon"),
    ("scenario", ("contenders", 0, "retires"), 1),
    ("scenario", ("contenders", 0, "name"), "has space"),
    ("scenario", ("contenders", 0, "name"), "alpha\n"),
    ("scenario", ("endpoints", 0, "api_key_env"), "1KEY"),
    ("scenario", ("endpoints", 0, "api_key_env"), "KEY\n"),
    ("scenario", ("endpoints", 0, "base_url"), "https://api.example.com/v1"),  # and sim: both targets
    ("scenario", ("endpoints", 0, "sim"), ...),  # neither target
    ("scenario", ("endpoints", 0, "headers"), {"Authorization": "Bearer x"}),
    ("scenario", ("load", "stages"), [{"duration": "1s", "rate": "1/s"}]),  # with a sweep below
    ("scenario", ("load", "search"), {"start": "1/s", "max": "8/s", "step_duration": "2s"}),  # and a sweep
    ("scenario", ("load", "search"), {"start": "1/s", "max": "8/s", "step_duration": "2s", "steps": 3}),
    ("scenario", ("load", "search"), {"start": "1/s", "max": "8/s", "step_duration": "2s", "factor": 1}),
    ("scenario", ("faults", 0, "name"), "named"),  # with fault: outage below, named by its file
    ("fault", ("after_tokens",), 3),  # beside after_chunks
    ("fault", ("kind",), "http_status"),  # without status
    ("fault", ("description",), ""),
    ("prompt", ("messages",), []),
    ("prompt", ("messages", 0, "role"), "tool"),  # without tool_call_id
    ("prompt", ("check",), {"contains": "a", "regex": "b"}),
    ("sim-profile", ("ttft_ms",), -1),
    ("sim", ("endpoints", 0, "behaviour"), "warp"),
    ("sim", ("endpoints",), []),
]


@pytest.mark.parametrize(("kind", "path", "value"), INVALID, ids=[f"{k}:{p}={v!r}" for k, p, v in INVALID])
def test_invalid_examples_are_refused_by_both(kind: str, path: tuple[str | int, ...], value: Any) -> None:
    data = _with(kind, path, value)
    if path == ("load", "stages") or (path == ("load", "search") and len(value) == 3):
        data["load"]["sweep"] = {"start": "1/s", "end": "2/s", "steps": 2, "step_duration": "1s"}
    if path == ("faults", 0, "name"):
        data["faults"][0]["fault"] = "outage"
    assert not loader_accepts(kind, data)
    assert not schema_accepts(kind, data)


VALID = [
    ("scenario", ("load", "duration"), "1.5m"),
    ("scenario", ("load", "duration"), " 10 s "),
    ("scenario", ("load", "duration"), 10),
    ("scenario", ("load", "rate"), "300/min"),
    ("scenario", ("load", "rate"), "0.5 / s"),
    ("scenario", ("load", "rate"), 2),
    ("scenario", ("load", "search"), {"start": "1/s", "max": "8/s", "step_duration": "2s", "precision": 0.2}),
    ("scenario", ("slo", "ttft"), "800ms"),
    ("scenario", ("slo", "ttft"), None),
    ("scenario", ("faults", 0, "at"), "0s"),
    ("scenario", ("endpoints", 0, "headers"), {"X-Team": "eval"}),
    ("fault", ("after_chunks",), ...),
    ("prompt", ("check",), {"json_schema": {"type": "object"}}),
    ("sim", ("endpoints", 0, "behaviour"), {"ttft_ms": 10}),
]


@pytest.mark.parametrize(("kind", "path", "value"), VALID, ids=[f"{k}:{p}={v!r}" for k, p, v in VALID])
def test_valid_examples_are_accepted_by_both(kind: str, path: tuple[str | int, ...], value: Any) -> None:
    data = _with(kind, path, value)
    assert loader_accepts(kind, data)
    assert _errors(kind, data) == []


def test_the_former_after_tokens_is_accepted_by_both() -> None:
    data = _with("fault", ("after_chunks",), ...)
    data["after_tokens"] = 3
    assert loader_accepts("fault", data) and schema_accepts("fault", data)


_TEXT = st.text(alphabet="0123456789 ./-msuhµecinort\t\n٣", max_size=12)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
@example("1000h")  # as long as the duration the warmup case starts from
def test_durations_and_rates_as_text_agree(text: str) -> None:
    for path in (("load", "duration"), ("load", "warmup"), ("faults", 0, "at"), ("load", "rate")):
        data = _with("scenario", path, text)
        if path == ("load", "warmup"):
            # the loader's warmup < duration rule is not the point here: the warmup gets a duration longer
            # than itself whenever the text is a duration at all
            data["load"]["duration"] = "1000h"
            warmup = _duration_of(text)
            if warmup is not None and warmup >= 1000 * 3600:
                data["load"]["duration"] = f"{warmup * 2}s"
        assert loader_accepts("scenario", data) == schema_accepts("scenario", data), (path, text)


def _duration_of(text: str) -> float | None:
    """What the loader reads ``text`` as, in seconds, or None if it is no duration."""
    try:
        return float(LoadProfile.model_validate({"warmup": text, "duration": 1e300}).warmup)
    except (ValidationError, OverflowError):
        return None
