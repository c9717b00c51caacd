"""Tool-calling prompts (prompts/tools.jsonl) against the simulator: every dialect, streamed or not,
gives the same answer text for the same tool call, so a prompt's check passes or fails the same way;
and a second leg (the call and its result in the conversation) is answered in text."""

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
FIRST_LEGS = [p for p in PROMPTS if not any(m.tool_calls for m in p.messages)]
SECOND_LEGS = [p for p in PROMPTS if any(m.tool_calls for m in p.messages)]


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
    assert len(FIRST_LEGS) >= 5 and len(SECOND_LEGS) >= 2
    assert all(p.tools and p.check is not None for p in PROMPTS)
    assert all(p.messages[-1].role == "tool" for p in SECOND_LEGS)


@pytest.mark.parametrize("prompt", FIRST_LEGS, ids=[p.id for p in FIRST_LEGS])
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


@pytest.mark.parametrize("prompt", SECOND_LEGS, ids=[p.id for p in SECOND_LEGS])
def test_a_second_leg_is_answered_in_text_and_its_check_passes(client, sim, prompt: PromptItem) -> None:
    tool_names = tuple(t.get("name") or t["function"]["name"] for t in prompt.tools or [])
    for name in DIALECTS:
        for stream in (True, False):
            rec = attempt(client, sim, name, prompt, stream=stream)
            key = (name, stream)
            assert rec.outcome == "ok", (key, rec.error_class, rec.error_detail)
            # the simulator saw the tool result: a text answer, not the tool call it makes on a first leg
            assert rec.finish_reason in ("stop", "end_turn"), (key, rec.finish_reason)
            assert rec.output_excerpt and not rec.output_excerpt.startswith(tool_names), key
            assert rec.check_passed is True, (key, rec.output_excerpt)


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_a_tool_result_for_a_call_never_made_is_the_vendors_400(client, sim, name: str) -> None:
    """The simulators pair results with calls as the real APIs do, so a broken round trip is refused."""
    prompt = SECOND_LEGS[0]
    messages = [m.model_dump(exclude_none=True) for m in prompt.messages]
    messages[-1]["tool_call_id"] = "call_never_made"
    broken = PromptItem.model_validate({**prompt.model_dump(by_alias=True), "messages": messages})
    rec = attempt(client, sim, name, broken, stream=True)
    assert (rec.status, rec.error_class) == (400, "http_4xx"), rec.error_detail
