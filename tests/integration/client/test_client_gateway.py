"""Gateway and vendor conventions through the real attempt and router on loopback (issue 17, part 5): a
LiteLLM-style proxy's routing evidence and call id, OpenRouter's provider, and retry hints in every form
honoured by the router (capped as before). The servers answer with the headers and bodies the gateways
document (docs.litellm.ai proxy/response_headers; OpenRouter's chat completion body); they are stand-ins,
not the gateways themselves."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from client_loopback import Conn, make_endpoint, make_target, openai_stream
from test_client_attempt import attempt
from test_client_router import Env, ok_handler, status_handler

KEY = "sk-test-key"  # what make_target sends; a gateway that echoes it must not get it stored


def litellm_fallback_handler(c: Conn) -> None:
    """LiteLLM 1.108 after a fallback: 200 with the evidence in headers and another model in the body."""
    while c.read_request():
        c.start_chunked(
            200,
            {
                "x-litellm-call-id": "2b4c1e9a-6d1f-4f7e-9a55-0c3b1d0e8f21",
                "x-litellm-attempted-fallbacks": "1",
                "x-litellm-attempted-retries": "2",
                "x-litellm-model-api-base": f"https://user:{KEY}@api.anthropic.com/v1?key={KEY}",
                "x-litellm-model-id": "deployment-7",
            },
        )
        for ch in openai_stream(["Hello"]):
            c.chunk(ch.replace(b'"m-1-served"', b'"claude-3-5-haiku-20241022"'))
        c.end_chunked()


def test_litellm_routing_evidence_is_kept_in_the_record(serve, client) -> None:
    rec = attempt(client, make_target(serve(litellm_fallback_handler).url, make_endpoint()))
    assert rec.outcome == "ok" and rec.output_excerpt == "Hello"
    assert rec.vendor_request_id == "2b4c1e9a-6d1f-4f7e-9a55-0c3b1d0e8f21"  # the call id is the request id
    assert (rec.gateway_fallbacks, rec.gateway_retries) == (1, 2)
    assert rec.gateway_api_base == "https://api.anthropic.com/v1"  # no user info, no query: no key
    assert rec.model_requested == "m-1" and rec.model_served == "claude-3-5-haiku-20241022"
    assert KEY not in json.dumps(rec.to_dict())


def test_openrouter_provider_from_the_body(serve, client) -> None:
    body = {
        "id": "gen-1738-abc",
        "provider": "DeepInfra",
        "model": "meta-llama/llama-3.1-8b-instruct",
        "object": "chat.completion",
        "created": 1,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    }

    def h(c: Conn) -> None:
        while c.read_request():
            c.respond(200, json.dumps(body).encode(), {"x-generation-id": "gen-1738-abc"})

    rec = attempt(client, make_target(serve(h).url, make_endpoint(stream=False)))
    assert rec.outcome == "ok" and rec.gateway_provider == "DeepInfra"
    assert rec.vendor_request_id == "gen-1738-abc"
    assert rec.gateway_fallbacks is None and rec.gateway_api_base is None


def test_openrouter_provider_from_a_stream(serve, client) -> None:
    def h(c: Conn) -> None:
        while c.read_request():
            c.start_chunked(200, {})
            for ch in openai_stream(["Hello"]):
                c.chunk(ch.replace(b'"object"', b'"provider": "Together", "object"'))
            c.end_chunked()

    rec = attempt(client, make_target(serve(h).url, make_endpoint()))
    assert rec.outcome == "ok" and rec.gateway_provider == "Together"


def test_a_hostile_provider_name_is_bounded(serve, client) -> None:
    def h(c: Conn) -> None:
        while c.read_request():
            c.start_chunked(200, {"x-litellm-model-api-base": "https://h.example/" + "p" * 5000})
            for ch in openai_stream(["Hello"]):
                c.chunk(ch.replace(b'"object"', b'"provider": "' + b"x" * 5000 + b'", "object"'))
            c.end_chunked()

    limit = 64
    rec = attempt(client, make_target(serve(h).url, make_endpoint(limits={"field_chars": limit})))
    assert rec.outcome == "ok"
    assert rec.gateway_provider is not None and len(rec.gateway_provider) == limit
    assert rec.gateway_api_base is not None and len(rec.gateway_api_base) == limit


def test_router_honours_the_litellm_pass_through_hint_capped_as_before(serve, client) -> None:
    # the LiteLLM 429 carried only llm_provider-retry-after: 60; bakeoff retried after 0.5 s and 1 s
    handler = status_handler(429, {"llm_provider-retry-after": "60"}, then_ok_after=1)
    env = Env(serve, client, {"a": handler}, retries=2, backoff_cap=0.2)
    final = env.route()
    assert env.sleeps == [0.2]  # the hint (60 s) capped at backoff_cap, not the 0.05 s backoff
    assert env.records[0].retry_after_s == 60.0
    assert env.records[0].retry_after_source == "llm_provider-retry-after"
    assert final.outcome == "ok" and final.attempt == 2


def test_router_honours_an_openai_reset_duration_on_a_429(serve, client) -> None:
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "150ms"}
    env = Env(serve, client, {"a": status_handler(429, headers, then_ok_after=1)}, retries=2)
    env.route()
    assert env.sleeps == [0.15]
    assert env.records[0].retry_after_source == "x-ratelimit-reset-requests"


def test_router_honours_an_anthropic_reset_time_on_a_429(serve, client) -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=0.4)).isoformat().replace("+00:00", "Z")
    headers = {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": reset}
    env = Env(serve, client, {"a": status_handler(429, headers, then_ok_after=1)}, retries=2, backoff_cap=2.0)
    env.route()
    assert env.records[0].retry_after_source == "anthropic-ratelimit-requests-reset"
    # the wait is what was left of 0.4 s when the answer came: more than the 0.05 s backoff, at most 0.4 s
    assert len(env.sleeps) == 1 and 0.05 < env.sleeps[0] <= 0.4


def test_no_hint_means_the_backoff_as_before(serve, client) -> None:
    env = Env(serve, client, {"a": status_handler(429, {}, then_ok_after=1), "b": ok_handler}, retries=1)
    env.route()
    assert env.sleeps == [0.05] and env.records[0].retry_after_source is None


def test_request_id_on_a_litellm_429(serve, client) -> None:
    def h(c: Conn) -> None:
        while c.read_request():
            c.respond(
                429,
                json.dumps({"error": {"message": "rate limited", "type": "None", "code": "429"}}).encode(),
                {"x-litellm-call-id": "call-429", "llm_provider-retry-after": "60"},
            )

    rec = attempt(client, make_target(serve(h).url, make_endpoint()))
    assert rec.error_class == "http_429" and rec.vendor_request_id == "call-429"
    assert (rec.retry_after_s, rec.retry_after_source) == (60.0, "llm_provider-retry-after")
