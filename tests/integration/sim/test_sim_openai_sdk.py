"""The unmodified openai SDK against the simulator: text, usage, errors, retries, Azure."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from harness.sim import SimThread, read_ground_truth
from harness.tokens import count_tokens

MSG = [{"role": "user", "content": "What is 17 + 25?"}]


def _client(sim: SimThread, name: str = "oa", key: str = "sk-oa", retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_urls[name], api_key=key, max_retries=retries, timeout=10)


def test_non_streaming_text_usage_and_request_id(sim: SimThread) -> None:
    r = _client(sim).chat.completions.create(model="gpt-sim", messages=MSG)  # type: ignore[arg-type]
    text = r.choices[0].message.content or ""
    assert "42" in text
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.completion_tokens == count_tokens(text)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r._request_id and r._request_id.startswith("req_")


def test_streaming_role_first_usage_chunk_and_done(sim: SimThread) -> None:
    stream = _client(sim).chat.completions.create(
        model="gpt-sim",
        messages=[{"role": "user", "content": "Tell me about queues."}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=9,
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 9 == count_tokens(text)
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_wire_format_ends_with_done(sim: SimThread) -> None:
    body = {"model": "gpt-sim", "messages": MSG, "stream": True}
    with httpx.stream(
        "POST",
        sim.base_urls["oa"] + "/chat/completions",
        json=body,
        headers={"authorization": "Bearer sk-oa", "accept": "application/json"},
        timeout=10,
    ) as r:
        raw = r.read().decode()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-request-id"].startswith("req_")
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert "event:" not in raw


def test_errors_surface_as_sdk_classes(sim: SimThread) -> None:
    with pytest.raises(openai.AuthenticationError) as e401:
        _client(sim, key="wrong").chat.completions.create(model="gpt-sim", messages=MSG)  # type: ignore[arg-type]
    assert e401.value.code == "invalid_api_key" and e401.value.request_id
    assert "wrong" not in str(e401.value)
    with pytest.raises(openai.NotFoundError) as e404:
        _client(sim).chat.completions.create(model="nope", messages=MSG)  # type: ignore[arg-type]
    assert e404.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        _client(sim).chat.completions.create(model="gpt-sim", messages=[])
    with pytest.raises(openai.InternalServerError) as e500:
        _client(sim, "oa500", key="any").chat.completions.create(model="gpt-sim", messages=MSG)  # type: ignore[arg-type]
    assert e500.value.status_code == 500 and e500.value.type == "server_error"


def test_429_retry_after_ms_is_honoured_by_the_sdk(sim: SimThread, gt_path) -> None:  # type: ignore[no-untyped-def]
    c = _client(sim, "oa429", key="k", retries=3)
    c.chat.completions.create(model="gpt-sim", messages=MSG)  # type: ignore[arg-type]  # empties the bucket of 1
    t0 = time.monotonic()
    raw = c.chat.completions.with_raw_response.create(model="gpt-sim", messages=MSG)  # type: ignore[arg-type]
    elapsed = time.monotonic() - t0
    assert raw.http_response.status_code == 200
    time.sleep(0.4)
    recs = [r for r in read_ground_truth(gt_path) if r.endpoint == "oa429" and r.t_received >= t0 - 0.01]
    assert [r.status for r in recs][:2] == [429, 200]
    assert recs[1].retry_count == 1
    gap = recs[1].t_received - recs[0].t_received
    # retry-after-ms is the bucket's refill time (< 100 ms); the SDK's own backoff would be 0.375-0.5 s
    assert 0.03 <= gap <= 0.3, gap
    assert elapsed < 0.6


def test_429_headers(sim: SimThread) -> None:
    h = {"authorization": "Bearer k"}
    body = {"model": "gpt-sim", "messages": MSG}
    url = sim.base_urls["oa429"] + "/chat/completions"
    with httpx.Client(timeout=10) as c:
        rs = [c.post(url, json=body, headers=h) for _ in range(3)]
    r = next(x for x in rs if x.status_code == 429)
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(r.headers["retry-after-ms"]) > 0 and int(r.headers["retry-after"]) >= 1
    assert r.headers["x-ratelimit-limit-requests"] == "600"
    assert r.headers["x-ratelimit-reset-requests"].endswith(("ms", "s"))
    assert r.headers["x-request-id"].startswith("req_")


def test_midstream_error_event_raises_api_error(sim: SimThread) -> None:
    stream = _client(sim, "oamid", key="k").chat.completions.create(
        model="gpt-sim", messages=[{"role": "user", "content": "Tell me a story"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_midstream_reset_breaks_the_stream(sim: SimThread) -> None:
    stream = _client(sim, "oacut", key="k").chat.completions.create(
        model="gpt-sim", messages=[{"role": "user", "content": "Tell me a story"}], stream=True
    )
    with pytest.raises((httpx.HTTPError, openai.APIError)):
        for _ in stream:
            pass


def test_tool_call(sim: SimThread) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                    "required": ["city", "days"],
                },
            },
        }
    ]
    r = _client(sim).chat.completions.create(model="gpt-sim", messages=MSG, tools=tools)  # type: ignore[arg-type]
    call = (r.choices[0].message.tool_calls or [])[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    import json

    args = json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert isinstance(args["city"], str) and isinstance(args["days"], int)
    stream = _client(sim).chat.completions.create(model="gpt-sim", messages=MSG, tools=tools, stream=True)  # type: ignore[arg-type]
    frags = [tc for c in stream if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert frags[0].id and frags[0].function and frags[0].function.name == "get_weather"
    assert json.loads("".join(f.function.arguments or "" for f in frags if f.function)) == args


def test_azure_client(sim: SimThread) -> None:
    az = openai.AzureOpenAI(
        azure_endpoint=sim.base_urls["az"],
        api_key="az-key",
        api_version="2024-10-21",
        max_retries=0,
        timeout=10,
    )
    r = az.chat.completions.create(
        model="dep-1", messages=[{"role": "user", "content": "Reply with exactly: pong"}]
    )
    assert r.choices[0].message.content == "pong"
    stream = az.chat.completions.create(model="dep-1", messages=MSG, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "42" in text
    with pytest.raises(openai.NotFoundError):
        az.chat.completions.create(model="other-deployment", messages=MSG)  # type: ignore[arg-type]
    bad = openai.AzureOpenAI(
        azure_endpoint=sim.base_urls["az"],
        api_key="nope",
        api_version="2024-10-21",
        max_retries=0,
        timeout=10,
    )
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="dep-1", messages=MSG)  # type: ignore[arg-type]
    r404 = httpx.post(
        sim.base_urls["az"] + "/openai/deployments/dep-1/chat/completions",
        json={"messages": MSG},
        headers={"api-key": "az-key"},
    )
    assert r404.status_code == 404  # api-version is mandatory
