"""The second leg of a tool round trip (assistant tool calls → tool results) in every dialect's request body.

Expected bodies are written out by hand from the vendors' documented shapes (reference/vendor-apis.md),
not derived from the code under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.config import Endpoint, PromptItem
from harness.dialects import get_dialect

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]

# Two parallel calls (one with text said alongside), both answered, then a follow-up question.
ROUND_TRIP = PromptItem.model_validate(
    {
        "id": "rt",
        "system": "Be brief.",
        "max_tokens": 64,
        "messages": [
            {"role": "user", "content": "Weather in Lisbon and Zürich?"},
            {
                "role": "assistant",
                "content": "Checking both.",
                "tool_calls": [
                    {"id": "call_a", "name": "get_weather", "arguments": {"city": "Lisbon"}},
                    {"id": "call_b", "name": "get_weather", "arguments": {"city": "Zürich", "days": 1}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": "21 C"},
            {"role": "tool", "tool_call_id": "call_b", "content": "9 C"},
            {"role": "user", "content": "Which is warmer?"},
        ],
        "tools": TOOLS,
    }
)

# A call-only assistant turn (no content) and one result.
CALL_ONLY = PromptItem.model_validate(
    {
        "id": "co",
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "call_o", "name": "get_weather", "arguments": {"city": "Oslo"}}],
            },
            {"role": "tool", "tool_call_id": "call_o", "content": "-3 C"},
        ],
        "tools": TOOLS,
    }
)


def _body(dialect: str, prompt: PromptItem) -> dict[str, Any]:
    ep = Endpoint.model_validate(
        {"name": "e", "dialect": dialect, "model": "m", "base_url": "https://h", "api_version": "2024-10-21"}
    )
    req = get_dialect(dialect).build_request(ep, prompt, base_url="https://h/v1", api_key="k", stream=True)
    body: dict[str, Any] = json.loads(req.body)
    return body


@pytest.mark.parametrize("dialect", ["openai-chat", "azure-openai"])
def test_openai_and_azure_send_tool_calls_with_json_text_arguments(dialect: str) -> None:
    assert _body(dialect, ROUND_TRIP)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Lisbon and Zürich?"},
        {
            "role": "assistant",
            "content": "Checking both.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Lisbon"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Zürich","days":1}'},
                },
            ],
        },
        {"role": "tool", "content": "21 C", "tool_call_id": "call_a"},
        {"role": "tool", "content": "9 C", "tool_call_id": "call_b"},
        {"role": "user", "content": "Which is warmer?"},
    ]


@pytest.mark.parametrize("dialect", ["openai-chat", "azure-openai"])
def test_openai_call_only_turn_has_null_content(dialect: str) -> None:
    assert _body(dialect, CALL_ONLY)["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_o",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "content": "-3 C", "tool_call_id": "call_o"},
    ]


def test_anthropic_sends_tool_use_blocks_and_merges_consecutive_results() -> None:
    body = _body("anthropic-messages", ROUND_TRIP)
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Lisbon and Zürich?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Lisbon"}},
                {
                    "type": "tool_use",
                    "id": "call_b",
                    "name": "get_weather",
                    "input": {"city": "Zürich", "days": 1},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "21 C"},
                {"type": "tool_result", "tool_use_id": "call_b", "content": "9 C"},
            ],
        },
        {"role": "user", "content": "Which is warmer?"},
    ]


def test_anthropic_call_only_turn_has_no_text_block() -> None:
    assert _body("anthropic-messages", CALL_ONLY)["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_o", "name": "get_weather", "input": {"city": "Oslo"}}
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_o", "content": "-3 C"}]},
    ]


def test_gemini_sends_function_calls_and_names_responses_after_the_function() -> None:
    body = _body("gemini", ROUND_TRIP)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Lisbon and Zürich?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking both."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Lisbon"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Zürich", "days": 1}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"content": "21 C"}}},
                {"functionResponse": {"name": "get_weather", "response": {"content": "9 C"}}},
            ],
        },
        {"role": "user", "parts": [{"text": "Which is warmer?"}]},
    ]


def test_gemini_call_only_turn_and_a_result_for_an_unknown_call_falls_back_to_the_id() -> None:
    assert _body("gemini", CALL_ONLY)["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"content": "-3 C"}}}],
        },
    ]
    orphan = PromptItem.model_validate(
        {
            "id": "o",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "lookup_stock", "content": "12"},
            ],
        }
    )
    assert _body("gemini", orphan)["contents"][1] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "lookup_stock", "response": {"content": "12"}}}],
    }


@pytest.mark.parametrize("dialect", ["openai-chat", "azure-openai", "anthropic-messages", "gemini"])
def test_plain_conversations_are_unchanged(dialect: str) -> None:
    plain = PromptItem.model_validate(
        {
            "id": "p",
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Yo"},
                {"role": "user", "content": "Bye"},
            ],
        }
    )
    body = _body(dialect, plain)
    if dialect == "gemini":
        assert body["contents"] == [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Yo"}]},
            {"role": "user", "parts": [{"text": "Bye"}]},
        ]
    else:
        assert body["messages"] == [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Yo"},
            {"role": "user", "content": "Bye"},
        ]
