"""Reasoning on the simulator, read by the official SDKs: OpenAI counts it (and vLLM streams it as
reasoning_content), Anthropic streams thinking blocks with a signature, Gemini sends thought parts."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from harness.sim import SimBehaviour, SimConfig, SimEndpoint, SimThread, serve_in_thread
from harness.tokens import count_tokens

THINK = 40  # reasoning_tokens of every endpoint: medium effort thinks 40 tokens, low 20, high 80
B = SimBehaviour(
    ttft_ms=5, ttft_jitter_ms=0, tokens_per_s=5000, output_tokens_default=16, reasoning_tokens=THINK
)
STORY = [{"role": "user", "content": "Tell me a story"}]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    cfg = SimConfig(
        seed=5,
        endpoints=[
            SimEndpoint(name="oa", dialect="openai-chat", model="o-sim", api_key="k", behaviour=B),
            SimEndpoint(name="vl", dialect="openai-chat", model="r1", persona="vllm", behaviour=B),
            SimEndpoint(
                name="oaon",
                dialect="openai-chat",
                model="o-sim",
                behaviour=B.model_copy(update={"always_reason": True, "reasoning_text": "streamed"}),
            ),
            SimEndpoint(name="an", dialect="anthropic-messages", model="claude-sim", behaviour=B),
            SimEndpoint(name="ge", dialect="gemini", model="gemini-sim", behaviour=B),
        ],
    )
    with serve_in_thread(cfg) as s:
        yield s


def _oa(sim: SimThread, name: str, key: str = "k") -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_urls[name], api_key=key, max_retries=0, timeout=10)


def test_openai_counts_reasoning_and_sends_none_of_its_text(sim: SimThread) -> None:
    kw = {"model": "o-sim", "messages": STORY, "max_completion_tokens": 500}
    r = _oa(sim, "oa").chat.completions.create(**kw, reasoning_effort="low")  # type: ignore[call-overload]
    text = r.choices[0].message.content or ""
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens == THINK // 2  # low: half of medium
    assert r.usage.completion_tokens == count_tokens(text) + THINK // 2  # reasoning is inside
    assert "reasoning_content" not in (r.choices[0].message.model_extra or {})
    plain = _oa(sim, "oa").chat.completions.create(**kw)  # type: ignore[call-overload]
    assert plain.usage is not None and plain.usage.completion_tokens_details is not None
    assert plain.usage.completion_tokens_details.reasoning_tokens == 0
    assert plain.choices[0].message.content == text  # the same answer, thought about or not
    chunks = list(
        _oa(sim, "oa").chat.completions.create(
            **kw, reasoning_effort="high", stream=True, stream_options={"include_usage": True}
        )  # type: ignore[call-overload]
    )
    assert not any(
        (c.choices and (c.choices[0].delta.model_extra or {}).get("reasoning_content")) for c in chunks
    )
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 2 * THINK
    with pytest.raises(openai.BadRequestError, match="Supported values"):
        _oa(sim, "oa").chat.completions.create(**kw, reasoning_effort="huge")  # type: ignore[call-overload]


def test_vllm_and_a_streamed_endpoint_send_reasoning_content_first(sim: SimThread) -> None:
    for name, model, extra in (("vl", "r1", {"reasoning_effort": "medium"}), ("oaon", "o-sim", {})):
        stream = _oa(sim, name).chat.completions.create(
            model=model,
            messages=STORY,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            **extra,  # type: ignore[arg-type]
        )
        kinds, thinking, text = [], "", ""
        usage = None
        for c in stream:
            if c.usage is not None:
                usage = c.usage
            if not c.choices:
                continue
            d = c.choices[0].delta
            r = (d.model_extra or {}).get("reasoning_content")
            if r:
                kinds.append("r")
                thinking += r
            if d.content:
                kinds.append("c")
                text += d.content
        assert kinds == ["r"] * THINK + ["c"] * len(kinds[THINK:]) and "c" in kinds, name
        assert count_tokens(thinking) == THINK
        assert usage is not None and usage.completion_tokens_details is not None
        assert usage.completion_tokens_details.reasoning_tokens == THINK
        assert usage.completion_tokens == THINK + count_tokens(text)


def _an(sim: SimThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base_urls["an"], api_key="x", max_retries=0, timeout=10)


def test_anthropic_thinking_block_and_signature_streamed_and_not(sim: SimThread) -> None:
    kw = {
        "model": "claude-sim",
        "max_tokens": 2000,
        "messages": STORY,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    m = _an(sim).messages.create(**kw)  # type: ignore[call-overload]
    assert [b.type for b in m.content] == ["thinking", "text"]
    thinking, text = m.content[0], m.content[1]
    assert thinking.type == "thinking" and thinking.signature and count_tokens(thinking.thinking) == THINK
    assert text.type == "text"
    assert m.usage.output_tokens == THINK + count_tokens(text.text)  # thinking billed inside output
    with _an(sim).messages.stream(**kw) as stream:  # type: ignore[call-overload]
        events = [e.type for e in stream]
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].type == "thinking" and final.content[1].type == "text"
    assert final.content[0].thinking == thinking.thinking
    assert final.content[0].signature == thinking.signature
    assert final.content[1].text == text.text
    assert final.usage.output_tokens == m.usage.output_tokens
    assert "thinking" in events and "signature" in events and "text" in events
    assert events.index("signature") < events.index("text")
    plain = _an(sim).messages.create(model="claude-sim", max_tokens=2000, messages=STORY)  # type: ignore[arg-type]
    assert [b.type for b in plain.content] == ["text"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 500}}, "budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 1024}, "max_tokens"),
        # this SDK takes no temperature argument any more: sent as an extra body field
        (
            {"thinking": {"type": "enabled", "budget_tokens": 1024}, "extra_body": {"temperature": 0.2}},
            "temperature",
        ),
    ],
)
def test_anthropic_refuses_thinking_it_would_refuse(sim: SimThread, change: dict, field: str) -> None:
    kw = {"model": "claude-sim", "max_tokens": 2000, "messages": STORY, **change}
    with pytest.raises(anthropic.BadRequestError, match=field):
        _an(sim).messages.create(**kw)  # type: ignore[call-overload]


def test_gemini_thought_parts_and_thoughts_token_count(sim: SimThread) -> None:
    url = sim.base_urls["ge"] + "/models/gemini-sim:"
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Tell me a story"}]}],
        "generationConfig": {
            "maxOutputTokens": 500,
            "thinkingConfig": {"thinkingBudget": 30, "includeThoughts": True},
        },
    }
    h = {"x-goog-api-key": "x"}
    r = httpx.post(url + "generateContent", json=body, headers=h, timeout=10).json()
    parts = r["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and "thought" not in parts[1]
    u = r["usageMetadata"]
    assert u["thoughtsTokenCount"] == 30 == count_tokens(parts[0]["text"])  # the budget caps 40
    assert u["candidatesTokenCount"] == count_tokens(parts[1]["text"])  # thoughts are not candidates
    assert u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"] + 30
    with httpx.stream("POST", url + "streamGenerateContent?alt=sse", json=body, headers=h, timeout=10) as s:
        raw = s.read().decode()
    assert raw.count('"thought":true') == 30
    hidden = {**body, "generationConfig": {"thinkingConfig": {"thinkingBudget": 30}}}
    r = httpx.post(url + "generateContent", json=hidden, headers=h, timeout=10).json()
    assert len(r["candidates"][0]["content"]["parts"]) == 1 and r["usageMetadata"]["thoughtsTokenCount"] == 30
    off = {**body, "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}
    r = httpx.post(url + "generateContent", json=off, headers=h, timeout=10).json()
    assert "thoughtsTokenCount" not in r["usageMetadata"]
