"""The offline input-token estimate (used when a vendor reports no usage) counts what the request sends.

Expectations are written down, not recomputed with the code under test: o200k_base counts of the fixed
texts (token ids listed, so anyone can check them with ``tiktoken.get_encoding("o200k_base")``) and
OpenAI's documented chat framing (the cookbook's ``num_tokens_from_messages``: 3 tokens per message, 3 to
prime the reply; a tool call costs its name and JSON arguments plus 3).
"""

from __future__ import annotations

from harness.client._attempt import _prompt_tokens_estimate
from harness.config import PromptItem
from harness.tokens import encode

CALL = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}

# o200k_base, written down once
O200K = {
    "Weather in Oslo?": [29602, 306, 44865, 30],
    "4 C, rain": [19, 363, 11, 13873],
    'get_weather{"city": "Oslo", "unit": "celsius"}': [
        522, 170154, 10848, 17500, 1243, 392, 15097, 746, 672, 392, 5400, 1243, 392, 66, 63110, 18583,
    ],
}  # fmt: skip


def _prompt(*, with_call: bool) -> PromptItem:
    assistant = {"role": "assistant", "content": "", "tool_calls": [CALL]} if with_call else None
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    if assistant is not None:
        messages += [assistant, {"role": "tool", "tool_call_id": "call_1", "content": "4 C, rain"}]
    return PromptItem.model_validate({"id": "p", "messages": messages})


def test_the_tokenizer_agrees_with_the_written_down_o200k_ids() -> None:
    for text, ids in O200K.items():
        assert encode(text) == ids, text


def test_estimate_is_text_plus_openai_framing() -> None:
    # "Weather in Oslo?" 4 tokens + 3 for its message + 3 to prime the reply
    assert _prompt_tokens_estimate(_prompt(with_call=False)) == 4 + 3 + 3


def test_tool_calls_of_a_second_leg_are_counted() -> None:
    # user 4+3; assistant "" 0+3 and its call 16+3; tool "4 C, rain" 4+3; reply priming 3
    assert _prompt_tokens_estimate(_prompt(with_call=True)) == (4 + 3) + (0 + 3) + (16 + 3) + (4 + 3) + 3
