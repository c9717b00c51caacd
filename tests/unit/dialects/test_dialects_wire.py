"""Every dialect against the recorded wire fixtures, fed whole, byte by byte and in odd splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness._errors import ConfigError
from harness.config import Endpoint, PromptItem
from harness.dialects import (
    Delta,
    Done,
    Finish,
    Malformed,
    Meta,
    StreamError,
    Usage,
    get_dialect,
)

WIRE = Path(__file__).resolve().parents[2] / "fixtures" / "wire"


def _read(name: str) -> bytes:
    return (WIRE / name).read_bytes()


def _parse(dialect: str, body: bytes, split: int | None = None) -> list[object]:
    p = get_dialect(dialect).stream_parser()
    events: list[object] = []
    if split is None:
        events += p.feed(body)
    else:
        for i in range(0, len(body), split):
            events += p.feed(body[i : i + split])
    events += p.close()
    return events


def _summary(events: list[object]) -> dict[str, object]:
    usage = Usage()
    out = {
        "output": "",
        "reasoning": "",
        "tool": "",
        "finish": None,
        "model": None,
        "done": False,
        "error": None,
        "malformed": None,
    }
    for ev in events:
        if isinstance(ev, Delta):
            out[ev.kind] += ev.text
        elif isinstance(ev, Usage):
            usage = usage.merged(ev)
        elif isinstance(ev, Finish):
            out["finish"] = ev.reason
        elif isinstance(ev, Meta):
            out["model"] = ev.model
        elif isinstance(ev, Done):
            out["done"] = True
        elif isinstance(ev, StreamError):
            out["error"] = (ev.error_class, ev.detail)
        elif isinstance(ev, Malformed):
            out["malformed"] = ev.detail
    out["usage"] = usage
    return out


SPLITS = [None, 1, 3, 7, 64]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("fixture", ["openai_stream_basic.sse", "openai_stream_crlf.sse"])
def test_openai_basic_stream(fixture: str, split: int | None) -> None:
    s = _summary(_parse("openai-chat", _read(fixture), split))
    assert s["output"] == "Tea began in China."
    assert s["finish"] == "stop"
    assert s["model"] == "gpt-4o-2024-08-06"
    assert s["done"] is True
    assert s["usage"] == Usage(25, 5, 0, None, 0)


def test_empty_role_chunk_is_not_a_delta() -> None:
    events = _parse("openai-chat", _read("openai_stream_basic.sse"))
    deltas = [e for e in events if isinstance(e, Delta)]
    assert [d.text for d in deltas] == ["Tea", " began", " in", " China."]


def test_comments_are_keepalives() -> None:
    s = _summary(_parse("openai-chat", _read("openai_stream_comments.sse"), 5))
    assert s["output"] == "Hi" and s["done"]


@pytest.mark.parametrize("split", SPLITS)
def test_vllm_usage_chunk_with_null_choices(split: int | None) -> None:
    s = _summary(_parse("openai-chat", _read("vllm_stream_usage_choices_null.sse"), split))
    assert s["output"] == "One two three"
    assert s["finish"] == "length"
    assert s["usage"] == Usage(input_tokens=12, output_tokens=3)
    assert s["model"] == "meta-llama/Llama-3.1-8B-Instruct"


@pytest.mark.parametrize("split", SPLITS)
def test_azure_empty_choices_chunks(split: int | None) -> None:
    s = _summary(_parse("azure-openai", _read("azure_stream_prompt_filter.sse"), split))
    assert s["output"] == "Bees dance."
    assert s["model"] == "gpt-4o-2024-11-20"  # the prompt-filter chunk's empty model is skipped
    assert s["usage"] == Usage(input_tokens=20, output_tokens=3)
    assert s["done"]


def test_openai_midstream_error() -> None:
    s = _summary(_parse("openai-chat", _read("openai_stream_error_event.sse")))
    assert s["output"] == "Par"
    assert s["error"][0] == "stream_error_event"
    assert "server_error" in s["error"][1]
    assert not s["done"]


def test_tgi_string_error_midstream() -> None:
    s = _summary(_parse("openai-chat", _read("tgi_stream_error_string.sse")))
    assert s["error"][0] == "stream_error_event"
    assert "CUDA out of memory" in s["error"][1]


def test_stream_without_done_has_no_terminal_event() -> None:
    s = _summary(_parse("openai-chat", _read("openai_stream_no_done.sse")))
    assert s["output"] == "ab" and not s["done"] and s["error"] is None


def test_reasoning_is_separated_and_cached_tokens_read() -> None:
    events = _parse("openai-chat", _read("openai_stream_reasoning.sse"), 11)
    s = _summary(events)
    assert s["reasoning"] == "Let me think"
    assert s["output"] == "42"
    assert s["usage"] == Usage(input_tokens=10, output_tokens=9, cached_input_tokens=4, reasoning_tokens=6)
    kinds = [e.kind for e in events if isinstance(e, Delta)]
    assert kinds == ["reasoning", "reasoning", "output"]


def test_tool_call_fragments_are_tool_deltas() -> None:
    s = _summary(_parse("openai-chat", _read("openai_stream_tool_calls.sse")))
    assert s["tool"] == 'get_weather{"city":"Paris"}'
    assert s["finish"] == "tool_calls"
    assert s["output"] == ""


def test_malformed_chunk_is_reported_once() -> None:
    d = get_dialect("openai-chat")
    body = _read("openai_stream_basic.sse")
    cut = body.index(b"data:", 200)
    events = _parse("openai-chat", body[:cut] + d.malformed_chunk() + body[cut:])
    assert sum(isinstance(e, Malformed) for e in events) == 1
    assert not any(isinstance(e, Done) for e in events)


def test_unterminated_last_line_is_a_cut_not_an_event() -> None:
    body = _read("openai_stream_basic.sse")
    events = _parse("openai-chat", body[: body.index(b"[DONE]") + 3])
    assert not any(isinstance(e, Done | Malformed) for e in events)


def test_done_without_blank_line_still_ends() -> None:
    body = _read("openai_stream_basic.sse").rstrip(b"\n") + b"\n"
    assert any(isinstance(e, Done) for e in _parse("openai-chat", body))


@pytest.mark.parametrize("split", SPLITS)
def test_anthropic_stream(split: int | None) -> None:
    s = _summary(_parse("anthropic-messages", _read("anthropic_stream_basic.sse"), split))
    assert s["output"] == "Hello world"
    assert s["finish"] == "end_turn"
    assert s["model"] == "claude-sonnet-4-5-20250929"
    assert s["done"]
    # input_tokens 21 excludes the cache: normalised input = 21 + 2000 read + 100 written
    assert s["usage"] == Usage(
        input_tokens=2121, output_tokens=3, cached_input_tokens=2000, cache_write_tokens=100
    )


def test_anthropic_output_tokens_are_cumulative_not_added() -> None:
    s = _summary(_parse("anthropic-messages", _read("anthropic_stream_thinking.sse")))
    assert s["usage"].output_tokens == 8  # message_start said 1, message_delta says 8 in total
    assert s["reasoning"] == "Hmm." and s["output"] == "Yes." and s["finish"] == "max_tokens"


def test_anthropic_error_event() -> None:
    s = _summary(_parse("anthropic-messages", _read("anthropic_stream_error_event.sse"), 9))
    assert s["error"] == ("stream_error_event", "overloaded_error: Overloaded")
    assert s["output"] == "Hel" and not s["done"]


def test_anthropic_without_message_stop_is_not_done() -> None:
    s = _summary(_parse("anthropic-messages", _read("anthropic_stream_no_stop.sse")))
    assert s["output"] == "Hello world" and not s["done"]


def test_anthropic_without_event_lines_uses_json_type() -> None:
    body = b"".join(
        line + b"\n"
        for line in _read("anthropic_stream_basic.sse").split(b"\n")
        if not line.startswith(b"event:")
    )
    s = _summary(_parse("anthropic-messages", body))
    assert s["output"] == "Hello world" and s["done"]


def test_anthropic_malformed_chunk() -> None:
    d = get_dialect("anthropic-messages")
    events = _parse(
        "anthropic-messages", _read("anthropic_stream_basic.sse")[:400] + b"\n\n" + d.malformed_chunk()
    )
    assert any(isinstance(e, Malformed) for e in events)


def test_openai_nonstream_response() -> None:
    s = _summary(get_dialect("openai-chat").parse_response(_read("openai_response.json")))
    assert s["output"] == "Hello there." and s["finish"] == "stop" and s["done"]
    assert s["usage"] == Usage(input_tokens=1200, output_tokens=3, cached_input_tokens=1024)
    assert s["model"] == "gpt-4o-mini-2024-07-18"


def test_anthropic_nonstream_response() -> None:
    s = _summary(get_dialect("anthropic-messages").parse_response(_read("anthropic_response.json")))
    assert s["output"] == "Paris." and s["finish"] == "end_turn" and s["done"]
    assert s["usage"] == Usage(
        input_tokens=1015, output_tokens=4, cached_input_tokens=1000, cache_write_tokens=0
    )


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"id":"x","choices":[]}'])
def test_nonstream_malformed(body: bytes) -> None:
    events = get_dialect("openai-chat").parse_response(body)
    assert isinstance(events[-1], Malformed)


@pytest.mark.parametrize(
    ("dialect", "fixture", "status", "headers", "error_class", "retry_after", "needle"),
    [
        (
            "openai-chat",
            "openai_error_429.json",
            429,
            {"retry-after": "2"},
            "http_429",
            2.0,
            "rate_limit_exceeded",
        ),
        (
            "openai-chat",
            "openai_error_429.json",
            429,
            {"retry-after-ms": "300", "retry-after": "1"},
            "http_429",
            0.3,
            "Rate limit",
        ),
        ("openai-chat", "vllm_error_flat.json", 404, {}, "http_4xx", None, "NotFoundError"),
        ("openai-chat", "tgi_error_string.json", 429, {}, "http_429", None, "overloaded"),
        ("openai-chat", "tgi_error_string.json", 503, {}, "overloaded", None, "Model is overloaded"),
        ("anthropic-messages", "anthropic_error_529.json", 529, {}, "overloaded", None, "overloaded_error"),
        ("anthropic-messages", "anthropic_error_500.json", 500, {}, "http_5xx", None, "api_error"),
        ("openai-chat", "gemini_error_429.json", 429, {}, "http_429", 22.0, "RESOURCE_EXHAUSTED"),
        ("azure-openai", "openai_error_401.json", 401, {}, "http_4xx", None, "invalid_api_key"),
    ],
)
def test_classify_error_bodies(
    dialect: str,
    fixture: str,
    status: int,
    headers: dict[str, str],
    error_class: str,
    retry_after: float | None,
    needle: str,
) -> None:
    info = get_dialect(dialect).classify(status, headers, _read(fixture))
    assert info.error_class == error_class
    assert info.retry_after_s == retry_after
    assert needle in info.detail
    assert len(info.detail) <= 200


def test_classify_plain_text_and_empty_bodies() -> None:
    d = get_dialect("openai-chat")
    assert d.classify(502, {}, b"<html>Bad Gateway</html>").error_class == "http_5xx"
    assert d.classify(500, {}, b"").detail == "HTTP 500"
    assert d.classify(302, {}, b"").error_class == "malformed_response"


@pytest.mark.parametrize("dialect", ["openai-chat", "azure-openai", "anthropic-messages"])
@pytest.mark.parametrize(
    ("status", "error_class"),
    [(429, "http_429"), (500, "http_5xx"), (503, "overloaded"), (529, "overloaded"), (400, "http_4xx")],
)
def test_injected_error_bodies_classify_like_real_ones(dialect: str, status: int, error_class: str) -> None:
    d = get_dialect(dialect)
    headers, body = d.error_response(status, message="injected", retry_after_s=1.5 if status == 429 else None)
    info = d.classify(status, headers, body)
    assert info.error_class == error_class
    assert "injected" in info.detail
    assert info.retry_after_s == (1.5 if status == 429 else None)


def test_read_headers() -> None:
    d = get_dialect("openai-chat")
    h = d.read_headers(
        {
            "x-request-id": "req_1",
            "x-ratelimit-remaining-requests": "4999",
            "x-ratelimit-remaining-tokens": "159976",
            "x-ratelimit-reset-requests": "12ms",
        }
    )
    assert (h.vendor_request_id, h.ratelimit_remaining_requests, h.ratelimit_remaining_tokens) == (
        "req_1",
        4999,
        159976,
    )
    a = get_dialect("anthropic-messages").read_headers(
        {
            "request-id": "req_011",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-tokens-remaining": "7000",
            "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT",
        }
    )
    assert (a.vendor_request_id, a.ratelimit_remaining_requests, a.ratelimit_remaining_tokens) == (
        "req_011",
        49,
        7000,
    )
    assert a.retry_after_s == 0.0  # a date in the past means "now"
    assert get_dialect("azure-openai").read_headers({"apim-request-id": "abc"}).vendor_request_id == "abc"


def _endpoint(dialect: str, **kw: object) -> Endpoint:
    return Endpoint.model_validate({"name": "e1", "dialect": dialect, "model": "m-1", "sim": "fast", **kw})


PROMPT = PromptItem.model_validate(
    {
        "id": "p1",
        "system": "Be brief.",
        "max_tokens": 50,
        "temperature": 1.5,
        "seed": 7,
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
            }
        ],
    }
)


def test_build_openai_request() -> None:
    ep = _endpoint("openai-chat", max_tokens_field="max_completion_tokens", headers={"x-extra": "1"})
    req = get_dialect("openai-chat").build_request(
        ep, PROMPT, base_url="https://api.example.com/v1/", api_key="sk-secret", stream=True
    )
    assert req.url == "https://api.example.com/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-secret"
    assert req.headers["x-extra"] == "1"
    body = json.loads(req.body)
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["seed"] == 7 and body["temperature"] == 1.5
    assert body["tools"][0]["function"]["name"] == "f"


def test_build_openai_nonstream_has_no_stream_options() -> None:
    req = get_dialect("openai-chat").build_request(
        _endpoint("openai-chat"), PROMPT, base_url="http://h/v1", api_key=None, stream=False
    )
    body = json.loads(req.body)
    assert "stream" not in body and "stream_options" not in body and body["max_tokens"] == 50
    assert "authorization" not in req.headers


def test_build_azure_request() -> None:
    ep = _endpoint("azure-openai", api_version="2024-10-21")
    req = get_dialect("azure-openai").build_request(
        ep, PROMPT, base_url="https://r.openai.azure.com", api_key="k", stream=True
    )
    assert (
        req.url == "https://r.openai.azure.com/openai/deployments/m-1/chat/completions?api-version=2024-10-21"
    )
    assert req.headers["api-key"] == "k" and "authorization" not in req.headers


def test_build_anthropic_request() -> None:
    req = get_dialect("anthropic-messages").build_request(
        _endpoint("anthropic-messages"),
        PROMPT,
        base_url="https://api.anthropic.com",
        api_key="ak",
        stream=True,
    )
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.headers["x-api-key"] == "ak" and req.headers["anthropic-version"] == "2023-06-01"
    body = json.loads(req.body)
    assert body["system"] == "Be brief." and body["max_tokens"] == 50 and body["stream"] is True
    assert body["temperature"] == 1.0  # clamped to Anthropic's range
    assert "seed" not in body
    assert body["tools"] == [{"name": "f", "description": "d", "input_schema": {"type": "object"}}]
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


def test_unknown_dialect_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="valid: anthropic-messages"):
        get_dialect("gemini-xyz")
