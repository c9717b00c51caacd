"""OpenAI-compatible personas: vLLM flat errors, TGI string errors, LiteLLM headers — and the SDK copes."""

from __future__ import annotations

import re

import httpx
import openai
import pytest
from pydantic import ValidationError

from harness.sim import SimBehaviour, SimConfig, SimEndpoint, serve_in_thread

B = SimBehaviour(ttft_ms=0, ttft_jitter_ms=0, tokens_per_s=1e5)
MSG = [{"role": "user", "content": "What is 1 + 1?"}]


def _cfg() -> SimConfig:
    return SimConfig(
        endpoints=[
            SimEndpoint(name="vl", dialect="openai-chat", model="llama", persona="vllm", behaviour=B),
            SimEndpoint(
                name="tg",
                dialect="openai-chat",
                model="tgi",
                persona="tgi",
                behaviour=B.model_copy(update={"error_rates": {503: 1.0}}),
            ),
            SimEndpoint(name="ll", dialect="openai-chat", model="gpt-sim", persona="litellm", behaviour=B),
        ]
    )


def test_personas_on_the_wire_and_through_the_sdk() -> None:
    with serve_in_thread(_cfg()) as sim:
        u = sim.base_urls
        r = httpx.post(u["vl"] + "/chat/completions", json={"model": "other", "messages": MSG})
        assert r.status_code == 404
        assert r.json() == {
            "object": "error",
            "message": r.json()["message"],
            "type": "NotFoundError",
            "param": None,
            "code": 404,
        }
        assert "x-request-id" not in r.headers
        ok = openai.OpenAI(base_url=u["vl"], api_key="EMPTY", max_retries=0).chat.completions.create(
            model="llama",
            messages=MSG,  # type: ignore[arg-type]
        )
        assert "2" in (ok.choices[0].message.content or "")
        r = httpx.post(u["tg"] + "/chat/completions", json={"model": "whatever", "messages": MSG})
        assert r.status_code == 503 and r.json()["error_type"] == "overloaded"
        assert isinstance(r.json()["error"], str)
        with pytest.raises(openai.InternalServerError):
            openai.OpenAI(base_url=u["tg"], api_key="x", max_retries=0).chat.completions.create(
                model="tgi",
                messages=MSG,  # type: ignore[arg-type]
            )
        r = httpx.post(
            u["ll"] + "/chat/completions",
            json={"model": "gpt-sim", "messages": MSG},
            headers={"authorization": "Bearer sk-1"},
        )
        assert r.status_code == 200 and r.headers["x-litellm-attempted-fallbacks"] == "0"
        assert "x-request-id" not in r.headers  # LiteLLM's ids: its call id (a UUID) and request-id
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r.headers["x-litellm-call-id"]
        )


def test_litellm_persona_answers_keys_and_limits_as_the_real_proxy() -> None:
    """What LiteLLM 1.108.7 (master key, no database) answered in front of this simulator: a wrong key 400
    "No connected db.", no key a plain-text 500, neither with an id; an unknown model 400; the backend's
    id as request-id beside the call id; rate-limit counts without resets; a 429 whose retry hint is only in
    llm_provider-retry-after(-ms); and what bakeoff reads from that."""
    from harness.dialects import get_dialect

    limited = B.model_copy(update={"error_rates": {429: 1.0}, "error_retry_after_ms": 2500})
    cfg = SimConfig(
        endpoints=[
            SimEndpoint(
                name="ll",
                dialect="openai-chat",
                model="gpt-sim",
                persona="litellm",
                api_key="sk-m",
                behaviour=B,
            ),
            SimEndpoint(
                name="rl", dialect="openai-chat", model="gpt-sim", persona="litellm", behaviour=limited
            ),
        ]
    )
    body = {"model": "gpt-sim", "messages": MSG}
    auth = {"authorization": "Bearer sk-m"}
    with serve_in_thread(cfg) as sim:
        url = sim.base_urls["ll"] + "/chat/completions"
        wrong = httpx.post(url, json=body, headers={"authorization": "Bearer sk-wrong"})
        assert wrong.status_code == 400
        assert wrong.json() == {
            "error": {"message": "No connected db.", "type": "no_db_connection", "param": None, "code": "400"}
        }
        missing = httpx.post(url, json=body)
        assert (missing.status_code, missing.text) == (500, "Internal Server Error")
        assert missing.headers["content-type"].startswith("text/plain")
        for r in (wrong, missing):
            assert not {"x-litellm-call-id", "x-request-id", "request-id"} & set(r.headers)
        unknown = httpx.post(url, json={**body, "model": "nope"}, headers=auth)
        assert unknown.status_code == 400 and "Invalid model name passed in model=nope" in unknown.text
        ok = httpx.post(url, json=body, headers=auth)
        assert ok.status_code == 200 and "x-request-id" not in ok.headers
        assert ok.headers["request-id"] == ok.headers["llm_provider-x-request-id"]
        assert (
            "x-ratelimit-remaining-requests" in ok.headers and "x-ratelimit-reset-requests" not in ok.headers
        )
        assert "llm_provider-x-ratelimit-reset-requests" in ok.headers
        h = get_dialect("openai-chat").read_headers(ok.headers)
        assert h.vendor_request_id == ok.headers["request-id"] and h.gateway_fallbacks == 0
        r = httpx.post(
            sim.base_urls["rl"] + "/chat/completions", json=body, headers={"authorization": "Bearer x"}
        )
        assert (
            r.status_code == 429 and r.headers["llm_provider-retry-after"] == "3"
        )  # 2.5 s, in whole seconds
        assert r.headers["llm_provider-retry-after-ms"] == "2500"
        assert "retry-after" not in r.headers and "retry-after-ms" not in r.headers
        assert r.json()["error"]["type"] == "throttling_error" and r.json()["error"]["code"] == "429"
        info = get_dialect("openai-chat").classify(r.status_code, r.headers, r.content)
        assert (info.retry_after_s, info.retry_after_source) == (2.5, "llm_provider-retry-after-ms")
        # the official SDK reads none of it: it would retry after its own backoff
        with pytest.raises(openai.RateLimitError) as exc:
            openai.OpenAI(base_url=sim.base_urls["rl"], api_key="x", max_retries=0).chat.completions.create(
                model="gpt-sim",
                messages=MSG,  # type: ignore[arg-type]
            )
        assert exc.value.status_code == 429


def test_persona_only_for_openai_chat() -> None:
    with pytest.raises(ValidationError):
        SimEndpoint(name="a", dialect="anthropic-messages", model="c", persona="vllm")
