"""Gateway conventions read without sockets (issue 17, part 5): the request-id headers vendors and
gateways document, LiteLLM's routing headers, OpenRouter's provider in the body. Header names and values
as docs.litellm.ai (proxy/response_headers) and OpenRouter's API reference document them."""

from __future__ import annotations

import json

import pytest

from harness.dialects import Meta, get_dialect


@pytest.mark.parametrize(
    ("header", "who"),
    [
        ("x-request-id", "OpenAI, Azure, vLLM"),
        ("request-id", "Anthropic"),
        ("apim-request-id", "Azure API Management"),
        ("x-amzn-requestid", "AWS"),
        ("x-litellm-call-id", "LiteLLM proxy"),
        ("x-generation-id", "OpenRouter"),
    ],
)
def test_every_documented_request_id_header_is_read(header: str, who: str) -> None:
    for dialect in ("openai-chat", "anthropic-messages", "azure-openai", "gemini"):
        assert get_dialect(dialect).read_headers({header: "id-1"}).vendor_request_id == "id-1", (who, dialect)


def test_the_vendors_own_id_wins_over_the_gateways() -> None:
    h = get_dialect("openai-chat").read_headers({"x-litellm-call-id": "call-1", "x-request-id": "req_1"})
    assert h.vendor_request_id == "req_1"


def test_litellm_routing_headers() -> None:
    h = get_dialect("openai-chat").read_headers(
        {
            "x-litellm-attempted-fallbacks": "1",
            "x-litellm-attempted-retries": "0",
            "x-litellm-model-api-base": "https://api.openai.com/v1",
        }
    )
    assert (h.gateway_fallbacks, h.gateway_retries, h.gateway_api_base) == (1, 0, "https://api.openai.com/v1")
    none = get_dialect("openai-chat").read_headers({})
    assert (none.gateway_fallbacks, none.gateway_retries, none.gateway_api_base) == (None, None, None)


@pytest.mark.parametrize("value", ["-1", "one", "1.5", "", "9" * 40])
def test_a_count_that_is_no_count_is_not_kept(value: str) -> None:
    h = get_dialect("openai-chat").read_headers({"x-litellm-attempted-fallbacks": value})
    assert h.gateway_fallbacks is None


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("https://api.anthropic.com", "https://api.anthropic.com"),
        (
            "https://user:sk-secret@res.openai.azure.com/openai?api-key=sk-secret#x",
            "https://res.openai.azure.com/openai",
        ),
        ("http://10.0.0.5:8000/v1", "http://10.0.0.5:8000/v1"),
        ("http://[::1]:4000/v1?k=v", "http://[::1]:4000/v1"),
        ("bedrock", "bedrock"),
        ("not a url?token=abc", "not a url"),
    ],
)
def test_the_api_base_is_kept_without_credentials(sent: str, kept: str) -> None:
    assert (
        get_dialect("openai-chat").read_headers({"x-litellm-model-api-base": sent}).gateway_api_base == kept
    )


def test_openrouter_provider_in_a_body_and_a_stream() -> None:
    d = get_dialect("openai-chat")
    body = {
        "id": "gen-1",
        "provider": "Fireworks",
        "model": "qwen/qwen3-32b",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    }
    metas = [e for e in d.parse_response(json.dumps(body).encode()) if isinstance(e, Meta)]
    assert metas == [Meta("qwen/qwen3-32b", "gen-1", "Fireworks")]
    chunk = {**body, "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    events = d.stream_parser().feed(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    assert [e for e in events if isinstance(e, Meta)] == [Meta("qwen/qwen3-32b", "gen-1", "Fireworks")]
    for provider in (None, 7, "", ["x"]):  # not a name: no provider
        metas = [
            e
            for e in d.parse_response(json.dumps({**body, "provider": provider}).encode())
            if isinstance(e, Meta)
        ]
        assert metas == [Meta("qwen/qwen3-32b", "gen-1", None)]
