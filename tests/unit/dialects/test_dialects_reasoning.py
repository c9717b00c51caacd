"""An endpoint's ``reasoning`` option: validated with one-line errors naming the field, converted to each
dialect's own request field (sans-I/O), and checked against every prompt's max_tokens for Anthropic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from harness.config import Endpoint, PromptItem
from harness.dialects import get_dialect
from harness.dialects._anthropic import AnthropicStreamParser
from harness.dialects._events import Delta


def _endpoint(dialect: str, reasoning: Any) -> Endpoint:
    return Endpoint.model_validate(
        {"name": "e", "dialect": dialect, "model": "m", "sim": "fast", "reasoning": reasoning}
    )


def _body(dialect: str, reasoning: Any, **prompt: Any) -> dict[str, Any]:
    item = PromptItem.model_validate(
        {"id": "p", "messages": [{"role": "user", "content": "Why?"}], "max_tokens": 3000, **prompt}
    )
    req = get_dialect(dialect).build_request(
        _endpoint(dialect, reasoning), item, base_url="http://h/v1", api_key="k", stream=True
    )
    return dict(json.loads(req.body))


@pytest.mark.parametrize(
    ("reasoning", "message"),
    [
        ({}, "give effort"),
        ({"effort": "huge"}, "effort"),
        ({"budget_tokens": -1}, "budget_tokens"),
        ({"effort": "low", "thinking": True}, "thinking"),  # unknown keys are refused
    ],
)
def test_bad_reasoning_options_are_refused(reasoning: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _endpoint("gemini", reasoning)


def test_openai_needs_an_effort_and_anthropic_a_budget_of_1024() -> None:
    with pytest.raises(ValidationError, match=r"reasoning\.effort: openai-chat takes reasoning_effort"):
        _endpoint("openai-chat", {"budget_tokens": 4000})
    with pytest.raises(ValidationError, match=r"reasoning\.budget_tokens: .* at least 1024, got 500"):
        _endpoint("anthropic-messages", {"budget_tokens": 500})
    with pytest.raises(ValidationError, match="at least 1024, got 0"):
        _endpoint("anthropic-messages", {"budget_tokens": 0})


def test_each_dialect_sends_its_own_field() -> None:
    assert _body("openai-chat", {"effort": "minimal"})["reasoning_effort"] == "minimal"
    assert _body("azure-openai", {"effort": "high"})["reasoning_effort"] == "high"
    an = _body("anthropic-messages", {"effort": "high", "budget_tokens": 2500}, temperature=0.7)
    assert an["thinking"] == {"type": "enabled", "budget_tokens": 2500} and "temperature" not in an
    assert _body("anthropic-messages", None, temperature=0.7)["temperature"] == 0.7
    gen = _body("gemini", {"effort": "low"})["generationConfig"]
    assert gen["thinkingConfig"] == {"thinkingBudget": 2048, "includeThoughts": True}
    for dialect in ("openai-chat", "anthropic-messages", "gemini"):
        plain = _body(dialect, None)
        assert not {"reasoning_effort", "thinking"} & set(plain)
        assert "thinkingConfig" not in plain.get("generationConfig", {})


def test_anthropic_thinking_stream_is_reasoning_then_output() -> None:
    """Thinking deltas are reasoning, the signature carries no text, the text block is the output."""
    thinking_block = {"type": "thinking", "thinking": "", "signature": ""}
    events = [
        ("message_start", {"message": {"usage": {"input_tokens": 5}}}),
        ("content_block_start", {"index": 0, "content_block": thinking_block}),
        ("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}}),
        ("content_block_stop", {"index": 0}),
        ("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "Yes."}}),
    ]
    raw = b"".join(f"event: {n}\ndata: {json.dumps({'type': n, **d})}\n\n".encode() for n, d in events)
    deltas = [e for e in AnthropicStreamParser().feed(raw) if isinstance(e, Delta)]
    assert deltas == [Delta("Hmm.", "reasoning"), Delta("Yes.", "output")]


def test_validate_refuses_prompts_whose_max_tokens_do_not_exceed_the_thinking_budget(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from harness.cli import cli

    rows = [
        {"id": "roomy", "messages": [{"role": "user", "content": "x"}], "max_tokens": 4096},
        {"id": "tight", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2048},
    ]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: s\nseed: 1\nprompts: p.jsonl\nendpoints:\n"
        "  - {name: t, dialect: anthropic-messages, sim: fast, model: m, reasoning: {budget_tokens: 2048}}\n"
        "  - {name: g, dialect: gemini, sim: fast, model: m, reasoning: {budget_tokens: 8192}}\n"
        "contenders:\n  - {name: a, primary: t}\n  - {name: b, primary: g}\n",
        encoding="utf-8",
    )
    res = CliRunner().invoke(cli, ["validate", str(scenario)])
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        f"{tmp_path / 'p.jsonl'}:2: max_tokens: endpoint t: 2048 must exceed reasoning.budget_tokens 2048 "
        "(Anthropic counts thinking in max_tokens)"
    ]
