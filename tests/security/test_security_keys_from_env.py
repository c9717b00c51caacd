"""API keys come only from environment variables: a key written in a scenario file is refused, and the
refusal does not repeat the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness import ConfigError
from harness.config import load_scenario

SECRET = "sk-written-in-the-file-123456"


def _write(tmp: Path, endpoint_extra: dict) -> Path:
    (tmp / "p.jsonl").write_text(
        json.dumps({"id": "p", "messages": [{"role": "user", "content": "hi"}]}) + "\n", encoding="utf-8"
    )
    ep = {
        "name": "a",
        "dialect": "openai-chat",
        "model": "m",
        "base_url": "https://x.test/v1",
        **endpoint_extra,
    }
    doc = {
        "name": "s",
        "prompts": "p.jsonl",
        "endpoints": [ep],
        "contenders": [{"name": "c", "primary": "a"}],
    }
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("field", ["api_key", "key"])
def test_key_in_the_file_is_refused_without_echoing_it(tmp_path: Path, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_scenario(_write(tmp_path, {field: SECRET, "api_key_env": "K"}), environ={"K": "env-key"})
    text = "\n".join(err.value.problems)
    assert "api_key_env" in text and SECRET not in text


def test_key_is_read_from_the_named_variable_and_kept_out_of_repr(tmp_path: Path) -> None:
    resolved = load_scenario(_write(tmp_path, {"api_key_env": "K"}), environ={"K": SECRET})
    assert resolved.api_keys == {"a": SECRET}
    assert SECRET not in repr(resolved)


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "api-key"])
def test_credential_headers_in_the_file_are_refused(tmp_path: Path, header: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_scenario(
            _write(tmp_path, {"api_key_env": "K", "headers": {header: f"Bearer {SECRET}"}}),
            environ={"K": "k"},
        )
    assert SECRET not in "\n".join(err.value.problems)
