"""harness.tokens: offline o200k_base counting shared by the simulator and the client."""

from __future__ import annotations

from harness.tokens import count_tokens, decode, encode


def test_known_counts_and_roundtrip() -> None:
    assert encode("hello world, The answer is 42.") == [24912, 2375, 11, 623, 6052, 382, 220, 4689, 13]
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    text = "Ünïcödé text — with dashes and 数字 123"
    assert decode(encode(text)) == text


def test_special_token_text_is_plain_text() -> None:
    assert count_tokens("a <|endoftext|> b") > 3
