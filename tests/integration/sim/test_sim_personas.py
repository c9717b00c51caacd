"""OpenAI-compatible personas: vLLM flat errors, TGI string errors, LiteLLM headers — and the SDK copes."""

from __future__ import annotations

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
        assert r.headers["x-request-id"].startswith("req_")


def test_persona_only_for_openai_chat() -> None:
    with pytest.raises(ValidationError):
        SimEndpoint(name="a", dialect="anthropic-messages", model="c", persona="vllm")
