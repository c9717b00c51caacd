"""The unmodified anthropic SDK against the simulator: events, usage, errors, 529, auth styles."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from harness.sim import SimThread
from harness.tokens import count_tokens

MSG = [{"role": "user", "content": "Repeat the word zebra"}]


def _client(sim: SimThread, name: str = "an", key: str = "sk-an", retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base_urls[name], api_key=key, max_retries=retries, timeout=10)


def test_non_streaming(sim: SimThread) -> None:
    m = _client(sim).messages.create(model="claude-sim", max_tokens=50, messages=MSG)  # type: ignore[arg-type]
    assert m.content[0].type == "text" and m.content[0].text == "zebra"
    assert m.stop_reason == "end_turn"
    assert m.usage.output_tokens == count_tokens("zebra") and m.usage.input_tokens > 0
    assert m._request_id and m._request_id.startswith("req_")


def test_streaming_helper_text_and_cumulative_usage(sim: SimThread) -> None:
    with _client(sim).messages.stream(
        model="claude-sim", max_tokens=12, messages=[{"role": "user", "content": "Tell me a story"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 12 == count_tokens(text)


def test_event_order_on_the_wire(sim: SimThread) -> None:
    body = {"model": "claude-sim", "max_tokens": 30, "messages": MSG, "stream": True}
    headers = {"x-api-key": "sk-an", "anthropic-version": "2023-06-01"}
    with httpx.stream(
        "POST", sim.base_urls["an"] + "/v1/messages", json=body, headers=headers, timeout=10
    ) as r:
        raw = r.read().decode()
        assert r.headers["request-id"].startswith("req_")
    names = []
    for ev in filter(None, raw.split("\n\n")):
        lines = ev.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: ")
        name = lines[0][7:]
        assert json.loads(lines[1][6:])["type"] == name
        names.append(name)
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


@pytest.mark.parametrize("style", ["x-api-key", "bearer"])
def test_both_sdk_auth_styles_and_401_body(sim: SimThread, style: str) -> None:
    def hdr(key: str) -> dict[str, str]:
        if style == "x-api-key":
            return {"x-api-key": key, "anthropic-version": "2023-06-01"}
        return {"authorization": f"Bearer {key}", "anthropic-version": "2026-10-21"}

    body = {"model": "claude-sim", "max_tokens": 5, "messages": MSG}
    url = sim.base_urls["an"] + "/v1/messages"
    assert httpx.post(url, json=body, headers=hdr("sk-an"), timeout=10).status_code == 200
    bad = httpx.post(url, json=body, headers=hdr("wrong"), timeout=10)
    assert bad.status_code == 401
    assert bad.json()["type"] == "error" and bad.json()["error"]["type"] == "authentication_error"
    assert bad.json()["request_id"] == bad.headers["request-id"]


def test_missing_max_tokens_is_400(sim: SimThread) -> None:
    r = httpx.post(
        sim.base_urls["an"] + "/v1/messages",
        json={"model": "claude-sim", "messages": MSG},
        headers={"x-api-key": "sk-an", "anthropic-version": "2023-06-01"},
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json()["error"] == {"type": "invalid_request_error", "message": "max_tokens: Field required"}


def test_errors_as_sdk_classes(sim: SimThread) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        _client(sim, key="nope").messages.create(model="claude-sim", max_tokens=5, messages=MSG)  # type: ignore[arg-type]
    with pytest.raises(anthropic.NotFoundError):
        _client(sim).messages.create(model="claude-other", max_tokens=5, messages=MSG)  # type: ignore[arg-type]
    with pytest.raises(anthropic.OverloadedError) as e529:
        _client(sim, "an529", key="k").messages.create(model="claude-sim", max_tokens=5, messages=MSG)  # type: ignore[arg-type]
    assert e529.value.status_code == 529


def test_midstream_error_event(sim: SimThread) -> None:
    with (
        pytest.raises(anthropic.APIStatusError),
        _client(sim, "anmid", key="k").messages.stream(
            model="claude-sim", max_tokens=50, messages=[{"role": "user", "content": "Tell me a story"}]
        ) as stream,
    ):
        for _ in stream:
            pass


def test_tool_use(sim: SimThread) -> None:
    tools = [
        {
            "name": "lookup",
            "description": "look up an order",
            "input_schema": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "qty": {"type": "number"}},
                "required": ["order_id", "qty"],
            },
        }
    ]
    m = _client(sim).messages.create(model="claude-sim", max_tokens=200, messages=MSG, tools=tools)  # type: ignore[arg-type]
    block = m.content[0]
    assert m.stop_reason == "tool_use" and block.type == "tool_use"
    assert isinstance(block.input, dict) and set(block.input) == {"order_id", "qty"}
    with _client(sim).messages.stream(model="claude-sim", max_tokens=200, messages=MSG, tools=tools) as s:  # type: ignore[arg-type]
        final = s.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == block.input


def test_count_tokens_matches_usage(sim: SimThread) -> None:
    c = _client(sim)
    counted = c.messages.count_tokens(model="claude-sim", messages=MSG)  # type: ignore[arg-type]
    used = c.messages.create(model="claude-sim", max_tokens=20, messages=MSG)  # type: ignore[arg-type]
    assert counted.input_tokens == used.usage.input_tokens > 0
