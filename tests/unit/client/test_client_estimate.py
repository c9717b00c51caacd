"""The offline input-token estimate (used when a vendor reports no usage) counts what the request sends."""

from __future__ import annotations

import json

from harness.client._attempt import _prompt_tokens_estimate
from harness.config import PromptItem
from harness.tokens import count_tokens

CALL = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}


def _prompt(*, with_call: bool) -> PromptItem:
    assistant = {"role": "assistant", "content": "", "tool_calls": [CALL]} if with_call else None
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    if assistant is not None:
        messages += [assistant, {"role": "tool", "tool_call_id": "call_1", "content": "4 C, rain"}]
    return PromptItem.model_validate({"id": "p", "messages": messages})


def test_estimate_is_text_plus_openai_framing() -> None:
    assert _prompt_tokens_estimate(_prompt(with_call=False)) == count_tokens("Weather in Oslo?") + 3 + 3


def test_tool_calls_of_a_second_leg_are_counted() -> None:
    first = _prompt_tokens_estimate(_prompt(with_call=False))
    second = _prompt_tokens_estimate(_prompt(with_call=True))
    call_tokens = count_tokens("get_weather" + json.dumps(CALL["arguments"])) + 3
    assert second == first + (count_tokens("") + 3) + call_tokens + (count_tokens("4 C, rain") + 3)
