"""Tool-calling prompts (prompts/tools.jsonl) against the simulator: every dialect, streamed or not,
gives the same answer text for the same tool call, so a prompt's check passes or fails the same way."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.client import Target, run_attempt
from harness.config import Endpoint, Price, PromptItem, load_prompts
from harness.record import RequestRecord
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, serve_in_thread

TOOLS = Path(__file__).resolve().parents[3] / "prompts" / "tools.jsonl"
FAST = SimBehaviour(ttft_ms=5, ttft_jitter_ms=0, tokens_per_s=2000, output_tokens_default=12)
DIALECTS = {"oa": "openai-chat", "an": "anthropic-messages", "az": "azure-openai"}
PROMPTS, _, _ = load_prompts(TOOLS)


@pytest.fixture(scope="module")
def sim():
    cfg = SimConfig(
        seed=5,
        endpoints=[
            SimEndpoint(name=n, dialect=d, model="m-sim", behaviour=FAST) for n, d in DIALECTS.items()
        ],
    )
    with serve_in_thread(cfg) as s:
        yield s


def attempt(client, sim, name: str, prompt: PromptItem, *, stream: bool) -> RequestRecord:
    ep = Endpoint.model_validate(
        {
            "name": name,
            "dialect": DIALECTS[name],
            "model": "m-sim",
            "sim": "fast",
            "stream": stream,
            "api_version": "2024-10-21",
            "timeouts": {"connect": 2, "ttft": 3, "idle": 2, "total": 10},
        }
    )
    target = Target(ep, sim.base_urls[name], None, "sk-sim", Price(input_per_mtok=1, output_per_mtok=1))
    rec = run_attempt(
        client,
        target,
        prompt,
        clock=time.monotonic,
        run_id="r",
        request_id=f"{name}-{prompt.id}",
        attempt=1,
        contender="c",
        t_intended=time.monotonic(),
    )
    assert rec.error_class != "client_error", rec.error_detail
    return rec


def test_the_prompt_file_has_tool_prompts_with_checks() -> None:
    assert len(PROMPTS) >= 5
    assert all(p.tools and p.check is not None for p in PROMPTS)


@pytest.mark.parametrize("prompt", PROMPTS, ids=[p.id for p in PROMPTS])
def test_every_dialect_and_mode_gives_the_same_check_result(client, sim, prompt: PromptItem) -> None:
    recs = {
        (name, stream): attempt(client, sim, name, prompt, stream=stream)
        for name in DIALECTS
        for stream in (True, False)
    }
    for key, rec in recs.items():
        assert rec.outcome == "ok", (key, rec.error_class, rec.error_detail)
        assert rec.finish_reason in ("tool_calls", "tool_use"), (key, rec.finish_reason)
    excerpts = {key: rec.output_excerpt for key, rec in recs.items()}
    assert len(set(excerpts.values())) == 1, excerpts  # one answer text for one tool call
    results = {key: rec.check_passed for key, rec in recs.items()}
    assert set(results.values()) == {True}, results


@pytest.mark.parametrize("name", sorted(DIALECTS))
@pytest.mark.parametrize(
    "tool",
    [
        {"description": "no name", "input_schema": {"type": "object", "properties": {}}},
        {"type": "function", "function": {"description": "no name", "parameters": {"type": "object"}}},
    ],
)
def test_a_tool_without_a_name_is_the_vendors_400_not_a_client_error(client, sim, name: str, tool) -> None:
    prompt = PromptItem.model_validate(
        {"id": "nameless", "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    )
    rec = attempt(client, sim, name, prompt, stream=True)
    assert (rec.status, rec.error_class) == (400, "http_4xx"), rec.error_detail
