"""How long the simulated model thinks, and what thinking does to the answer (sans-I/O)."""

from __future__ import annotations

import pytest

from harness.sim._answer import Prompt, make_plan, reasoning_tokens, with_reasoning
from harness.tokens import count_tokens


def _prompt(**kw: object) -> Prompt:
    return Prompt(texts=["Tell me a story"], last_user="Tell me a story", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "always", "expected"),
    [
        ({"max_tokens": 5000}, False, 0),  # not asked, not an always-reasoning model
        ({"max_tokens": 5000}, True, 400),  # an o-series-like model thinks anyway, at medium effort
        ({"max_tokens": 5000, "reasoning_asked": True}, False, 400),
        ({"max_tokens": 5000, "reasoning_asked": True, "reasoning_effort": "minimal"}, False, 100),
        ({"max_tokens": 5000, "reasoning_asked": True, "reasoning_effort": "low"}, False, 200),
        ({"max_tokens": 5000, "reasoning_asked": True, "reasoning_effort": "high"}, False, 800),
        ({"max_tokens": 5000, "reasoning_asked": True, "reasoning_budget": 150}, False, 150),
        ({"max_tokens": 101, "reasoning_asked": True}, False, 100),  # one token left for the answer
    ],
)
def test_thinking_length(kw: dict, always: bool, expected: int) -> None:
    assert reasoning_tokens(_prompt(**kw), typical=400, always=always) == expected


def test_thinking_counts_against_max_tokens_and_leaves_the_answer_text_alone() -> None:
    roomy = _prompt(max_tokens=1000)
    plan = make_plan(roomy, seed=3, tokens_per_chunk=1, output_tokens_default=60, output_tokens_jitter_frac=0)
    thought = with_reasoning(plan, roomy, 100, seed=3, tokens_per_chunk=1)
    assert thought.text == plan.text and thought.completion_tokens == 60
    assert thought.reasoning_tokens == 100 == count_tokens(thought.reasoning_text)
    assert len(thought.reasoning_pieces) == 100 and thought.finish == plan.finish
    # 100 of 120 tokens thought: 20 are left for the answer, which is cut there
    tight = _prompt(max_tokens=120)
    plan = make_plan(tight, seed=3, tokens_per_chunk=1, output_tokens_default=60, output_tokens_jitter_frac=0)
    cut = with_reasoning(plan, tight, 100, seed=3, tokens_per_chunk=1)
    assert cut.completion_tokens == 20 and cut.finish == "length"
    assert cut.text == plan.text[: len(cut.text)]
    # the same request thinks the same thoughts every time
    assert with_reasoning(plan, tight, 100, seed=3, tokens_per_chunk=1).reasoning_text == cut.reasoning_text
