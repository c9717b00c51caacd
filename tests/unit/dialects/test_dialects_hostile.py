"""Vendor documents that are valid JSON but wrong in shape: events, never exceptions."""

from __future__ import annotations

import json

import pytest

from harness.dialects import Delta, Done, Malformed, Usage, get_dialect
from harness.dialects._common import count


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, 12),
        (12.0, 12),
        (0, 0),
        (float("inf"), None),
        (float("-inf"), None),
        (float("nan"), None),
        (True, None),
        ("12", None),
        (None, None),
        (-3, None),
        (2**64, None),
    ],
)
def test_count_keeps_only_plausible_token_counts(value: object, expected: int | None) -> None:
    assert count(value) == expected


@pytest.mark.parametrize(
    ("dialect", "body", "field"),
    [
        (
            "openai-chat",
            b'{"model":"m","choices":[{"index":0,"message":{"content":"x"}}],'
            b'"usage":{"prompt_tokens":1e400,"completion_tokens":7}}',
            "input_tokens",
        ),
        (
            "openai-chat",
            b'{"model":"m","choices":[{"index":0,"message":{"content":"x"}}],'
            b'"usage":{"prompt_tokens":3,"completion_tokens":NaN}}',
            "output_tokens",
        ),
        (
            "anthropic-messages",
            b'{"content":[{"type":"text","text":"x"}],"usage":{"input_tokens":1e400,"output_tokens":7}}',
            "input_tokens",
        ),
        (
            "gemini",
            b'{"modelVersion":"g","candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],'
            b'"usageMetadata":{"promptTokenCount":-Infinity,"candidatesTokenCount":7}}',
            "input_tokens",
        ),
    ],
)
def test_non_finite_usage_counts_are_dropped_and_the_rest_kept(dialect: str, body: bytes, field: str) -> None:
    usages = [e for e in get_dialect(dialect).parse_response(body) if isinstance(e, Usage)]
    assert len(usages) == 1
    assert getattr(usages[0], field) is None
    other = "output_tokens" if field == "input_tokens" else "input_tokens"
    assert getattr(usages[0], other) in (3, 7)


@pytest.mark.parametrize("dialect", ["openai-chat", "azure-openai"])
@pytest.mark.parametrize(
    "fn",
    [{"name": 5, "arguments": "{}"}, {"name": "f", "arguments": {"a": 1}}, {"name": ["f"]}],
)
@pytest.mark.parametrize("where", ["delta", "message"])
def test_non_text_tool_call_fields_end_in_malformed(dialect: str, fn: dict[str, object], where: str) -> None:
    choice = {"index": 0, where: {"tool_calls": [{"index": 0, "function": fn}]}}
    doc = json.dumps({"model": "m", "choices": [choice]}).encode()
    d = get_dialect(dialect)
    if where == "delta":
        parser = d.stream_parser()
        events = parser.feed(b"data: " + doc + b"\n\ndata: [DONE]\n\n") + parser.close()
    else:
        events = d.parse_response(doc)
    assert isinstance(events[-1], Malformed), events
    assert "not text" in events[-1].detail
    assert not any(isinstance(e, Done) for e in events)


def test_stream_tool_call_continuation_without_name_is_fine() -> None:
    first = {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ""}}]}}
    more = {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}}
    body = b"".join(
        b"data: " + json.dumps({"model": "m", "choices": [c]}).encode() + b"\n\n" for c in (first, more)
    )
    parser = get_dialect("openai-chat").stream_parser()
    events = parser.feed(body + b"data: [DONE]\n\n")
    assert "".join(e.text for e in events if isinstance(e, Delta)) == 'f{"a":1}'
    assert isinstance(events[-1], Done)


ODD_TOOLS = [
    {"description": "no name", "input_schema": {"type": "object", "properties": {}}},
    {"type": "function", "function": {"description": "no name", "parameters": {"type": "object"}}},
    {"input_schema": "not a schema", "name": 7},
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
    {"foo": 1},
    {},
]


@pytest.mark.parametrize("dialect", ["openai-chat", "azure-openai", "anthropic-messages", "gemini"])
@pytest.mark.parametrize("tool", ODD_TOOLS)
def test_tools_the_dialect_cannot_convert_are_sent_for_the_vendor_to_judge(dialect: str, tool: dict) -> None:
    from harness.config import Endpoint, PromptItem

    ep = Endpoint.model_validate(
        {"name": "e", "dialect": dialect, "model": "m", "base_url": "http://x", "api_version": "2024-10-21"}
    )
    prompt = PromptItem.model_validate(
        {"id": "p", "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    )
    req = get_dialect(dialect).build_request(ep, prompt, base_url="http://x", api_key="k", stream=True)
    body = json.loads(req.body)
    sent = json.dumps(body.get("tools"))
    assert sent != "null"
    assert '"name": ""' not in sent  # a missing name is never invented


@pytest.mark.parametrize("dialect", ["openai-chat", "anthropic-messages", "gemini"])
def test_nameless_tool_converts_without_a_name(dialect: str) -> None:
    from harness.config import Endpoint, PromptItem

    anthropic_style = {"description": "d", "input_schema": {"type": "object", "properties": {}}}
    openai_style = {"type": "function", "function": {"description": "d", "parameters": {"type": "object"}}}
    ep = Endpoint.model_validate({"name": "e", "dialect": dialect, "model": "m", "base_url": "http://x"})
    prompt = PromptItem.model_validate(
        {"id": "p", "messages": [{"role": "user", "content": "hi"}], "tools": [anthropic_style, openai_style]}
    )
    body = json.loads(
        get_dialect(dialect).build_request(ep, prompt, base_url="http://x", api_key="k", stream=False).body
    )
    if dialect == "openai-chat":
        fns = [t["function"] for t in body["tools"]]
    elif dialect == "anthropic-messages":
        fns = body["tools"]
    else:
        fns = body["tools"][0]["functionDeclarations"]
    assert all("name" not in f for f in fns), fns
    assert all(f.get("description") == "d" for f in fns), fns


# One tool call, get_weather({"city": "Lisbon"}), as each dialect's wire carries it.
_ARGS = '{"city": "Lisbon"}'


def _sse(*docs: dict, events: bool = False) -> bytes:
    out = b""
    for d in docs:
        head = f"event: {d['type']}\n".encode() if events else b""
        out += head + b"data: " + json.dumps(d).encode() + b"\n\n"
    return out


_WIRE = {
    ("openai-chat", True): _sse(
        {"model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]},
        {
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ]
                    },
                }
            ],
        },
        {
            "model": "m",
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": _ARGS[:9]}}]}}
            ],
        },
        {
            "model": "m",
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": _ARGS[9:]}}]}}
            ],
        },
        {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    )
    + b"data: [DONE]\n\n",
    ("openai-chat", False): json.dumps(
        {
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": _ARGS},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
        }
    ).encode(),
    ("anthropic-messages", True): _sse(
        {
            "type": "message_start",
            "message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 5, "output_tokens": 1}},
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": _ARGS[:9]},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": _ARGS[9:]},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
        events=True,
    ),
    ("anthropic-messages", False): json.dumps(
        {
            "id": "msg_1",
            "model": "m",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Lisbon"}}
            ],
            "stop_reason": "tool_use",
        }
    ).encode(),
    ("gemini", False): json.dumps(
        {
            "modelVersion": "g",
            "candidates": [
                {
                    "content": {
                        "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Lisbon"}}}]
                    },
                    "finishReason": "STOP",
                }
            ],
        }
    ).encode(),
}


@pytest.mark.parametrize(("dialect", "stream"), sorted(_WIRE))
def test_one_tool_call_reads_the_same_in_every_dialect_and_mode(dialect: str, stream: bool) -> None:
    d = get_dialect(dialect)
    if stream:
        p = d.stream_parser()
        events = p.feed(_WIRE[(dialect, stream)]) + p.close()
    else:
        events = d.parse_response(_WIRE[(dialect, stream)])
    assert not any(isinstance(e, Malformed) for e in events), events
    tool = "".join(e.text for e in events if isinstance(e, Delta) and e.kind == "tool")
    assert tool == "get_weather" + _ARGS


@pytest.mark.parametrize("stream", [True, False])
def test_anthropic_tool_use_name_that_is_not_text_is_malformed(stream: bool) -> None:
    block = {"type": "tool_use", "id": "t", "name": ["get_weather"], "input": {}}
    d = get_dialect("anthropic-messages")
    if stream:
        events = d.stream_parser().feed(
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": block},
                {"type": "message_stop"},
                events=True,
            )
        )
    else:
        events = d.parse_response(json.dumps({"model": "m", "content": [block]}).encode())
    assert isinstance(events[-1], Malformed) and "not text" in events[-1].detail
