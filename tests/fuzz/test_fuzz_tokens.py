"""Token counting on any text: a number, never an exception (the simulator and the client's usage
estimate both count untrusted text)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.tokens import count_tokens


@settings(max_examples=100, deadline=2000)
@given(st.text(max_size=300))
def test_count_tokens_of_any_text(text: str) -> None:
    n = count_tokens(text)
    assert n >= 0 and (n > 0) == bool(text)


@pytest.mark.xfail(
    strict=True,
    raises=ValueError,
    reason="bug in harness/tokens.py::encode: bpe-openai refuses texts of 1,000,000+ characters "
    "('Input too long to encode safely'); long-context prompts make the simulator answer a bare 500 and "
    "the client's usage estimate a client_error. Encode in pieces (split at whitespace) or estimate",
)
def test_count_tokens_of_a_long_context_prompt() -> None:
    assert count_tokens("a " * 600_000) >= 500_000
