"""The simulated OpenAI and Anthropic APIs read the second leg of a tool round trip as the harness's dialects
write it: the answer is text, the question is still the last thing the user said, and a tool result that
answers no call (or a call left unanswered) is refused with 400, as the real APIs do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.config import Endpoint, PromptItem
from harness.dialects import get_dialect
from harness.sim._answer import make_plan
from harness.sim.config import SimEndpoint
from harness.sim.handlers import AnthropicSim, Parsed, SimHTTPError
from harness.sim.handlers._openai import parse_chat

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "calculate",
            "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
        },
    }
]
SECOND_LEG = PromptItem.model_validate(
    {
        "id": "calc",
        "messages": [
            {"role": "user", "content": "What is 6 * 7? Use the calculator."},
            {
                "role": "assistant",
                "tool_calls": [{"id": "call_1", "name": "calculate", "arguments": {"expression": "6 * 7"}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ],
        "tools": TOOLS,
    }
)
FIRST_LEG = PromptItem.model_validate(
    {**SECOND_LEG.model_dump(by_alias=True), "messages": [SECOND_LEG.messages[0]]}
)


def _wire(dialect: str, prompt: PromptItem) -> dict[str, Any]:
    ep = Endpoint(name="e", dialect=dialect, model="m", sim="fast")  # type: ignore[arg-type]
    req = get_dialect(dialect).build_request(ep, prompt, base_url="http://h/v1", api_key="k", stream=True)
    body: dict[str, Any] = json.loads(req.body)
    return body


def _parse(dialect: str, body: dict[str, Any]) -> Parsed:
    if dialect == "openai-chat":
        return parse_chat(body, model_check="m")
    ep = SimEndpoint(name="e", dialect="anthropic-messages", model="m")
    return AnthropicSim().parse(ep, None, body, "")  # type: ignore[arg-type]  # parse reads no request


def _plan(parsed: Parsed) -> Any:
    return make_plan(
        parsed.prompt, seed=1, tokens_per_chunk=2, output_tokens_default=8, output_tokens_jitter_frac=0
    )


@pytest.mark.parametrize("dialect", ["openai-chat", "anthropic-messages"])
def test_after_a_tool_result_the_answer_is_text_to_the_users_question(dialect: str) -> None:
    first = _parse(dialect, _wire(dialect, FIRST_LEG))
    second = _parse(dialect, _wire(dialect, SECOND_LEG))
    assert _plan(first).kind == "tool"
    assert second.prompt.after_tool_result
    assert second.prompt.last_user == "What is 6 * 7? Use the calculator."
    plan = _plan(second)
    assert (plan.kind, plan.finish) == ("text", "stop")
    assert "42" in plan.text
    # the call and its result count as input
    assert plan.prompt_tokens > _plan(first).prompt_tokens + 5


def test_openai_refuses_a_tool_result_that_answers_no_call() -> None:
    body = _wire("openai-chat", SECOND_LEG)
    orphan = {**body, "messages": [body["messages"][0], body["messages"][2]]}
    with pytest.raises(SimHTTPError, match="must be a response to a preceeding message with 'tool_calls'"):
        _parse("openai-chat", orphan)
    wrong = json.loads(json.dumps(body))
    wrong["messages"][2]["tool_call_id"] = "call_x"
    with pytest.raises(SimHTTPError, match="'call_x' not found in 'tool_calls'"):
        _parse("openai-chat", wrong)
    del wrong["messages"][2]["tool_call_id"]
    with pytest.raises(SimHTTPError, match="Missing parameter 'tool_call_id'"):
        _parse("openai-chat", wrong)


def test_openai_refuses_a_call_left_without_a_result_and_bad_call_shapes() -> None:
    body = _wire("openai-chat", SECOND_LEG)
    unanswered = {**body, "messages": [*body["messages"][:2], {"role": "user", "content": "and?"}]}
    with pytest.raises(SimHTTPError, match="did not have response messages: call_1") as info:
        _parse("openai-chat", unanswered)
    assert info.value.status == 400
    as_object = json.loads(json.dumps(body))
    as_object["messages"][1]["tool_calls"][0]["function"]["arguments"] = {"expression": "6 * 7"}
    with pytest.raises(SimHTTPError, match=r"function.arguments': expected a string"):
        _parse("openai-chat", as_object)


def test_anthropic_refuses_unmatched_tool_results_and_unanswered_tool_uses() -> None:
    body = _wire("anthropic-messages", SECOND_LEG)
    wrong = json.loads(json.dumps(body))
    wrong["messages"][2]["content"][0]["tool_use_id"] = "toolu_x"
    with pytest.raises(SimHTTPError, match="unexpected `tool_use_id` found in `tool_result` blocks: toolu_x"):
        _parse("anthropic-messages", wrong)
    unanswered = {**body, "messages": [*body["messages"][:2], {"role": "user", "content": "and?"}]}
    with pytest.raises(SimHTTPError, match=r"messages\.1: `tool_use` ids were found without `tool_result`"):
        _parse("anthropic-messages", unanswered)
