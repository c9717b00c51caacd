"""Per-prompt response_format and extra_body, in the request body each dialect builds (sans-I/O).

OpenAI and Azure send ``response_format`` as written; Anthropic has no JSON mode, so the request asks
for JSON in its system prompt (the schema in the text); Gemini sets ``responseMimeType`` and, for a
schema, ``responseJsonSchema``. ``extra_body`` adds fields and merges objects, and is refused where it
would overwrite what bakeoff sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.config import Endpoint, PromptItem, load_prompts
from harness.dialects import ExtraBodyConflict, get_dialect

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "count", "schema": SCHEMA, "strict": True}}


def _body(dialect: str, **fields: Any) -> dict[str, Any]:
    version = {"api_version": "2024-10-21"} if dialect == "azure-openai" else {}
    ep = Endpoint(name="e", dialect=dialect, model="m", base_url="https://x", api_key_env="K", **version)
    prompt = PromptItem.model_validate(
        {"id": "p", "system": "Be exact.", "messages": [{"role": "user", "content": "How many?"}], **fields}
    )
    req = get_dialect(dialect).build_request(ep, prompt, base_url="https://x", api_key="k", stream=True)
    return dict(json.loads(req.body))


@pytest.mark.parametrize("dialect", ["openai-chat", "azure-openai"])
@pytest.mark.parametrize("fmt", [{"type": "json_object"}, JSON_SCHEMA, {"type": "text"}])
def test_openai_sends_response_format_as_written(dialect: str, fmt: dict[str, Any]) -> None:
    assert _body(dialect, response_format=fmt)["response_format"] == fmt


def test_anthropic_asks_for_json_in_the_system_prompt() -> None:
    body = _body("anthropic-messages", response_format=JSON_SCHEMA)
    assert "response_format" not in body and "tools" not in body
    assert body["system"] == (
        "Be exact.\n\nAnswer with one JSON object only: no text before or after it and no code fence. "
        'The object must follow this JSON Schema:\n{"type":"object","properties":{"n":{"type":"integer"}},'
        '"required":["n"]}'
    )
    body = _body("anthropic-messages", response_format={"type": "json_object"})
    assert body["system"] == (
        "Be exact.\n\nAnswer with one JSON object only: no text before or after it and no code fence."
    )
    assert _body("anthropic-messages", response_format={"type": "text"})["system"] == "Be exact."


def test_gemini_uses_its_json_mime_type_and_json_schema() -> None:
    gen = _body("gemini", response_format=JSON_SCHEMA, max_tokens=64)["generationConfig"]
    assert gen == {
        "maxOutputTokens": 64,
        "responseMimeType": "application/json",
        "responseJsonSchema": SCHEMA,
    }
    gen = _body("gemini", response_format={"type": "json_object"}, max_tokens=64)["generationConfig"]
    assert gen == {"maxOutputTokens": 64, "responseMimeType": "application/json"}
    assert _body("gemini", max_tokens=64)["generationConfig"] == {"maxOutputTokens": 64}


def test_extra_body_adds_fields_and_merges_objects() -> None:
    body = _body("openai-chat", extra_body={"top_p": 0.5, "logit_bias": {"50256": -100}})
    assert (body["top_p"], body["logit_bias"]) == (0.5, {"50256": -100})
    assert body["model"] == "m" and body["stream"] is True
    gen = _body("gemini", max_tokens=64, extra_body={"generationConfig": {"topK": 5}})["generationConfig"]
    assert gen == {"maxOutputTokens": 64, "topK": 5}
    body = _body("anthropic-messages", extra_body={"metadata": {"user_id": "u1"}, "top_k": 3})
    assert (body["metadata"], body["top_k"], body["max_tokens"]) == ({"user_id": "u1"}, 3, 256)


@pytest.mark.parametrize(
    ("dialect", "extra", "field"),
    [
        ("openai-chat", {"max_tokens": 5}, "extra_body.max_tokens"),
        ("openai-chat", {"response_format": {"type": "text"}}, "extra_body.response_format.type"),
        ("anthropic-messages", {"max_tokens": 5}, "extra_body.max_tokens"),
        (
            "gemini",
            {"generationConfig": {"maxOutputTokens": 5}},
            "extra_body.generationConfig.maxOutputTokens",
        ),
    ],
)
def test_extra_body_never_overwrites_what_bakeoff_sets(
    dialect: str, extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(ExtraBodyConflict) as caught:
        _body(dialect, response_format={"type": "json_object"}, extra_body=extra)
    assert str(caught.value).startswith(f"prompt 'p': {field}: the {dialect} request already sets")


def test_the_loader_refuses_model_messages_and_stream_in_extra_body(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    rows = [
        {
            "id": "a",
            "messages": [{"role": "user", "content": "x"}],
            "extra_body": {"stream": False, "model": "y"},
        },
        {
            "id": "b",
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema"},
        },
        {"id": "c", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _prompts, _sha, problems = load_prompts(path)
    assert len(problems) == 3
    assert (
        problems[0].startswith(f"{path}:1: extra_body: ")
        and "model, stream: bakeoff sets these itself" in problems[0]
    )
    assert (
        problems[1].startswith(f"{path}:2: response_format: ")
        and "json_schema is given with type json_schema" in problems[1]
    )
    assert problems[2].startswith(f"{path}:3: response_format.type: ")


def test_validate_names_a_conflicting_extra_body_per_endpoint(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from harness.cli import cli

    rows = [
        {"id": "ok", "messages": [{"role": "user", "content": "x"}], "extra_body": {"top_p": 0.5}},
        {"id": "clash", "messages": [{"role": "user", "content": "x"}], "extra_body": {"max_tokens": 9}},
    ]
    lines = [json.dumps(rows[0]), "// the next prompt clashes on OpenAI endpoints", json.dumps(rows[1])]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: s\nseed: 1\nprompts: p.jsonl\nendpoints:\n"
        "  - {name: g, dialect: gemini, sim: fast, model: m}\n"
        "  - {name: o, dialect: openai-chat, sim: fast, model: m}\n"
        "contenders:\n  - {name: a, primary: g}\n  - {name: b, primary: o}\n",
        encoding="utf-8",
    )
    res = CliRunner().invoke(cli, ["validate", str(scenario)])
    assert res.exit_code == 2
    # gemini names its budget maxOutputTokens: only the OpenAI endpoint clashes
    assert res.stderr.splitlines() == [
        f"{tmp_path / 'p.jsonl'}:3: extra_body.max_tokens: endpoint o: the openai-chat request already sets "
        "max_tokens from the prompt or the endpoint; extra_body may only add fields"
    ]
