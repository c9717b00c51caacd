"""The simulator's prompt cache, read by the unmodified openai and anthropic SDKs into their typed fields.

Expected token counts are worked out here from the tokenizer and each API's documented rule, not read
from the simulator: a prompt's tokens are its texts' tokens plus 3 framing tokens per message plus 3
for the reply primer; a cached prefix ends after the system prompt (its tokens + 3).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from harness.servermetrics import parse_text
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, SimThread, serve_in_thread
from harness.tokens import count_tokens

CORPUS = Path(__file__).parents[3] / "prompts" / "corpus" / "coriolanus-act1.txt"
SYSTEM = "You are a careful literary assistant. Answer from this play.\n\n" + CORPUS.read_text()
SYS_PREFIX = count_tokens(SYSTEM) + 3  # the system message with its framing: what a hit reads
FAST = {"ttft_ms": 20, "ttft_jitter_ms": 0, "tokens_per_s": 4000, "output_tokens_default": 8}
SHORT_TTL_S = 0.6


def _ep(name: str, dialect: str, model: str, **behaviour: object) -> SimEndpoint:
    return SimEndpoint(
        name=name,
        dialect=dialect,  # type: ignore[arg-type]
        model=model,
        behaviour=SimBehaviour.model_validate({**FAST, **behaviour}),
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    endpoints = [
        _ep("oa", "openai-chat", "gpt-sim"),
        _ep("oa-stream", "openai-chat", "gpt-sim"),
        _ep("oa-metrics", "openai-chat", "gpt-sim"),
        _ep("oa-off", "openai-chat", "gpt-sim", prompt_cache=False),
        _ep("an", "anthropic-messages", "claude-sim"),
        _ep("an-stream", "anthropic-messages", "claude-sim"),
        _ep("an-1h", "anthropic-messages", "claude-sim"),
        _ep("an-ttl", "anthropic-messages", "claude-sim", cache_ttl_s=SHORT_TTL_S),
        _ep("oa-ttl", "openai-chat", "gpt-sim", cache_ttl_s=SHORT_TTL_S),
        _ep("gm", "gemini", "gemini-sim"),
        _ep("an-prefill", "anthropic-messages", "claude-sim", prefill_ms_per_1k_tokens=150),
    ]
    assert SYS_PREFIX > 3000  # a ~4k-token shared system prompt
    with serve_in_thread(SimConfig(seed=3, endpoints=endpoints)) as s:
        yield s


def _oa(sim: SimThread, name: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_urls[name], api_key="k", max_retries=0, timeout=10)


def _an(sim: SimThread, name: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base_urls[name], api_key="k", max_retries=0, timeout=10)


def _oa_messages(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def _openai_cached(n: int) -> int:
    """OpenAI's rule: cached tokens come in increments of 128 from the 1,024 minimum."""
    return 1024 + (n - 1024) // 128 * 128


def _marked_system(ttl: str | None = None) -> list[dict[str, object]]:
    cc: dict[str, str] = {"type": "ephemeral"}
    if ttl:
        cc["ttl"] = ttl
    return [{"type": "text", "text": SYSTEM, "cache_control": cc}]


def test_openai_sdk_reads_cached_tokens_not_streamed(sim: SimThread) -> None:
    c = _oa(sim, "oa")
    first = c.chat.completions.create(model="gpt-sim", messages=_oa_messages("Who speaks first?"))  # type: ignore[arg-type]
    second = c.chat.completions.create(model="gpt-sim", messages=_oa_messages("Who is Menenius?"))  # type: ignore[arg-type]
    assert first.usage is not None and second.usage is not None
    assert first.usage.prompt_tokens_details is not None and second.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0  # nothing cached yet
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached == _openai_cached(SYS_PREFIX)
    assert cached % 128 == 0 and SYS_PREFIX - 128 < cached <= SYS_PREFIX
    # prompt_tokens still counts every prompt token, the cached ones included
    assert second.usage.prompt_tokens == SYS_PREFIX + count_tokens("Who is Menenius?") + 3 + 3


def test_openai_sdk_reads_cached_tokens_streamed(sim: SimThread) -> None:
    c = _oa(sim, "oa-stream")
    usages = []
    for q in ("Who speaks first?", "Who speaks first?"):
        stream = c.chat.completions.create(
            model="gpt-sim",
            messages=_oa_messages(q),  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        usages.append([ch.usage for ch in stream if ch.usage is not None][-1])
    assert usages[0].prompt_tokens_details is not None and usages[1].prompt_tokens_details is not None
    assert usages[0].prompt_tokens_details.cached_tokens == 0
    # the same prompt twice: the whole prompt minus the reply primer is a cached prefix
    whole = SYS_PREFIX + count_tokens("Who speaks first?") + 3
    assert usages[1].prompt_tokens_details.cached_tokens == _openai_cached(whole)


def test_vllm_prefix_cache_counters_follow_the_reads(sim: SimThread) -> None:
    """vLLM v1's prefix-cache counters (tokens): every prompt is a query, cached tokens are hits."""
    c = _oa(sim, "oa-metrics")
    usages = [
        c.chat.completions.create(model="gpt-sim", messages=_oa_messages(q)).usage  # type: ignore[arg-type]
        for q in ("One?", "Two?", "Three?")
    ]
    root = sim.base_urls["oa-metrics"].rsplit("/", 2)[0]  # http://127.0.0.1:PORT
    text = httpx.get(f"{root}/oa-metrics/metrics", timeout=10).text
    values = {s.name: s.value for s in parse_text(text).samples}
    assert all(u is not None and u.prompt_tokens_details is not None for u in usages)
    queries = sum(u.prompt_tokens for u in usages)  # type: ignore[union-attr]
    assert values["vllm:prefix_cache_queries_total"] == queries
    hits = sum(u.prompt_tokens_details.cached_tokens for u in usages)  # type: ignore[union-attr]
    assert hits > 0 and values["vllm:prefix_cache_hits_total"] == hits


def test_short_prompts_and_caching_off_never_hit(sim: SimThread) -> None:
    short = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    long = _oa_messages("Q")
    for name, messages in (("oa", short), ("oa", short), ("oa-off", long), ("oa-off", long)):
        r = _oa(sim, name).chat.completions.create(model="gpt-sim", messages=messages)  # type: ignore[arg-type]
        assert r.usage is not None and r.usage.prompt_tokens_details is not None
        assert r.usage.prompt_tokens_details.cached_tokens == 0, name


def test_anthropic_sdk_reads_writes_then_reads_not_streamed(sim: SimThread) -> None:
    c = _an(sim, "an")
    msgs = [
        c.messages.create(
            model="claude-sim",
            max_tokens=16,
            system=_marked_system(),  # type: ignore[arg-type]
            messages=[{"role": "user", "content": q}],
        )
        for q in ("Who speaks first?", "Who is Menenius?")
    ]
    first, second = (m.usage for m in msgs)
    assert first.cache_creation_input_tokens == SYS_PREFIX and first.cache_read_input_tokens == 0
    # input_tokens excludes the cache write: only the user turn and the reply primer are left
    assert first.input_tokens == count_tokens("Who speaks first?") + 3 + 3
    assert first.cache_creation is not None
    assert first.cache_creation.ephemeral_5m_input_tokens == SYS_PREFIX
    assert first.cache_creation.ephemeral_1h_input_tokens == 0
    assert second.cache_read_input_tokens == SYS_PREFIX and second.cache_creation_input_tokens == 0
    assert second.input_tokens == count_tokens("Who is Menenius?") + 3 + 3


def test_anthropic_sdk_streamed_usage_and_one_hour_writes(sim: SimThread) -> None:
    finals = []
    for name, ttl in (("an-stream", None), ("an-stream", None), ("an-1h", "1h")):
        with _an(sim, name).messages.stream(
            model="claude-sim",
            max_tokens=16,
            system=_marked_system(ttl),  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Who speaks first?"}],
        ) as stream:
            finals.append(stream.get_final_message().usage)
    assert finals[0].cache_creation_input_tokens == SYS_PREFIX and finals[0].cache_read_input_tokens == 0
    assert finals[1].cache_read_input_tokens == SYS_PREFIX and finals[1].cache_creation_input_tokens == 0
    one_hour = finals[2]
    assert one_hour.cache_creation is not None
    assert one_hour.cache_creation.ephemeral_1h_input_tokens == SYS_PREFIX
    assert one_hour.cache_creation.ephemeral_5m_input_tokens == 0


def test_anthropic_caches_nothing_without_breakpoints_and_refuses_five(sim: SimThread) -> None:
    c = _an(sim, "an")
    for _ in range(2):
        m = c.messages.create(
            model="claude-sim",
            max_tokens=8,
            system="Unmarked. " + SYSTEM,
            messages=[{"role": "user", "content": "Hello"}],
        )
        assert m.usage.cache_read_input_tokens == 0 and m.usage.cache_creation_input_tokens == 0
    block = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
        c.messages.create(
            model="claude-sim",
            max_tokens=8,
            system=[block, block],  # type: ignore[list-item]
            messages=[{"role": "user", "content": [block, block, block]}],  # type: ignore[list-item]
        )


def test_lifetime_first_writes_next_hit_then_expire(sim: SimThread) -> None:
    """With a 0.6 s lifetime: write, hit (refreshing), hit, then after the lifetime a miss that writes."""
    c = _an(sim, "an-ttl")

    def usage() -> anthropic.types.Usage:
        return c.messages.create(
            model="claude-sim",
            max_tokens=8,
            system=_marked_system(),  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Hello"}],
        ).usage

    seen = [usage(), usage(), usage()]
    time.sleep(SHORT_TTL_S + 0.3)  # outlive the entry's lifetime
    seen.append(usage())
    reads = [u.cache_read_input_tokens for u in seen]
    writes = [u.cache_creation_input_tokens for u in seen]
    assert reads == [0, SYS_PREFIX, SYS_PREFIX, 0]
    assert writes == [SYS_PREFIX, 0, 0, SYS_PREFIX]
    # OpenAI's automatic cache expires the same way
    oa = _oa(sim, "oa-ttl")
    got = []
    for pause in (0.0, 0.0, SHORT_TTL_S + 0.3, 0.0):
        time.sleep(pause)
        r = oa.chat.completions.create(model="gpt-sim", messages=_oa_messages("Hello"))  # type: ignore[arg-type]
        assert r.usage is not None and r.usage.prompt_tokens_details is not None
        got.append(r.usage.prompt_tokens_details.cached_tokens > 0)
    assert got == [False, True, False, True]


def test_gemini_reports_implicit_cache_hits(sim: SimThread) -> None:
    url = sim.base_urls["gm"] + "/models/gemini-sim:generateContent"
    body = {
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": [{"role": "user", "parts": [{"text": "Who speaks first?"}]}],
    }
    first = httpx.post(url, json=body, headers={"x-goog-api-key": "k"}, timeout=10).json()["usageMetadata"]
    second = httpx.post(url, json=body, headers={"x-goog-api-key": "k"}, timeout=10).json()["usageMetadata"]
    assert "cachedContentTokenCount" not in first  # Gemini leaves the field out when nothing was cached
    whole = SYS_PREFIX + count_tokens("Who speaks first?") + 3
    assert second["cachedContentTokenCount"] == whole  # implicit caching counts to the token
    assert second["promptTokenCount"] == whole + 3  # and the cached tokens are part of the prompt count
    # streamed: the last chunk carries the same usage
    stream_url = sim.base_urls["gm"] + "/models/gemini-sim:streamGenerateContent?alt=sse"
    with httpx.stream("POST", stream_url, json=body, headers={"x-goog-api-key": "k"}, timeout=10) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1]["usageMetadata"]["cachedContentTokenCount"] == whole


def test_a_hit_prefills_faster(sim: SimThread) -> None:
    """150 ms per 1k prompt tokens: a miss on ~3.8k tokens prefills ~0.57 s, a hit ~0.06 s."""
    c = _an(sim, "an-prefill")
    took = []
    for q in ("First question?", "Second question?"):
        t0 = time.monotonic()
        with c.messages.stream(
            model="claude-sim",
            max_tokens=4,
            system=_marked_system(),  # type: ignore[arg-type]
            messages=[{"role": "user", "content": q}],
        ) as stream:
            next(iter(stream.text_stream))
        took.append(time.monotonic() - t0)
    miss_prefill = 0.150 * SYS_PREFIX / 1000
    assert took[0] >= miss_prefill
    assert took[1] < took[0] - miss_prefill / 2
