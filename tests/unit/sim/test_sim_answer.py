"""Deterministic answers: simple tasks solved, lengths capped by max_tokens, usage exact."""

from __future__ import annotations

import json

import jsonschema
import pytest

from harness.sim._answer import Prompt, ToolSpec, make_plan
from harness.tokens import count_tokens


def _plan(text: str, *, seed: int = 1, max_tokens: int | None = None, per_chunk: int = 1, **kw):  # type: ignore[no-untyped-def]
    prompt = Prompt(texts=[text], last_user=text, max_tokens=max_tokens, **kw)
    return make_plan(
        prompt, seed=seed, tokens_per_chunk=per_chunk, output_tokens_default=40, output_tokens_jitter_frac=0.0
    )


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("What is 17 + 25?", "42"),
        ("What is 9 - 20?", "-11"),
        ("Compute 12 * 12.", "144"),
        ("what is 7 times 6", "42"),
    ],
)
def test_arithmetic_is_answered(prompt: str, expected: str) -> None:
    plan = _plan(prompt)
    assert f"= {expected}." in plan.text
    assert plan.finish == "stop"


def test_repeat_exact_and_json() -> None:
    assert _plan("Repeat the word pineapple").text == "pineapple"
    assert _plan('Please repeat this word: "kiwi" 3 times').text == "kiwi kiwi kiwi"
    assert _plan("Reply with exactly: All systems nominal.").text == "All systems nominal."
    obj = json.loads(_plan('Answer in JSON with keys "city" and "country".').text)
    assert set(obj) == {"city", "country"}
    assert isinstance(json.loads(_plan("Summarise this.", json_mode=True).text), dict)


def test_same_seed_same_answer_and_other_seed_differs() -> None:
    a = _plan("Tell me about queues.", seed=5)
    b = _plan("Tell me about queues.", seed=5)
    c = _plan("Tell me about queues.", seed=6)
    assert a.text == b.text and a.completion_tokens == b.completion_tokens == 40
    assert a.text != c.text


def test_usage_is_exact_and_pieces_rebuild_the_text() -> None:
    plan = _plan("Tell me a story.", per_chunk=3)
    assert "".join(plan.pieces) == plan.text
    assert plan.completion_tokens == count_tokens(plan.text)
    assert len(plan.pieces) == -(-plan.completion_tokens // 3)


def test_max_tokens_truncates_with_length_finish() -> None:
    plan = _plan("Tell me a story.", max_tokens=7)
    assert plan.finish == "length"
    assert plan.completion_tokens == 7 == count_tokens(plan.text)


def test_tool_call_arguments_follow_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city", "days", "unit", "tags"],
    }
    plan = _plan("Weather in Paris?", tools=[ToolSpec("get_weather", schema)])
    assert plan.kind == "tool" and plan.finish == "tool" and plan.tool_name == "get_weather"
    jsonschema.validate(json.loads(plan.tool_args), schema)
    assert "".join(plan.pieces) == plan.tool_args
    # after a tool result the model answers in text; tool_choice none never calls
    assert _plan("ok", tools=[ToolSpec("f", schema)], after_tool_result=True).kind == "text"
    assert _plan("ok", tools=[ToolSpec("f", schema)], tool_choice="none").kind == "text"


def test_stop_sequence_cuts_the_answer() -> None:
    full = _plan("What is 17 + 25?").text
    plan = _plan("What is 17 + 25?", stop=(" = ", "zzz"))
    assert plan.text == full[: full.index(" = ")] and plan.stop_sequence == " = "
    assert plan.finish == "stop"
