"""Token counting on any text: a number, never an exception (the simulator and the client's usage
estimate both count untrusted text). Long texts are encoded in pieces whose tokens are exactly the
whole text's wherever the cut is clean (before a space, or after a line break)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.tokens import _encoding, count_tokens, encode, split_for_encoding

# pieces that exercise o200k's pre-tokeniser: spaces before words, runs of whitespace, line breaks
# after punctuation (".\n/" is one pre-token), contractions, digit runs, non-Latin and astral text
_ATOMS = [
    " ",
    "  ",
    "\n",
    "\n\n",
    "\r\n",
    "\t",
    " \n",
    "a",
    "Z",
    "word",
    " the",
    "9",
    "123456",
    ".",
    ",",
    "!?",
    "/",
    ".\n/",
    "'s",
    "'LL",
    "-",
    "ü",
    "é",
    "\u0301",
    "日本",
    "😀",
    "\u00a0",
    "\u3000",
    "\u2028",
    "\x85",
    "\x1c",
]
_TEXTS = st.lists(st.sampled_from(_ATOMS), max_size=80).map("".join)


def _clean(left: str, right: str) -> bool:
    """A cut the module promises is exact: before a space after a non-space, or after a line break
    that a non-space other than "/" follows."""
    before_space = right[:1] == " " and not left[-1:].isspace()
    after_newline = left[-1:] == "\n" and right[:1] != "" and not right[0].isspace() and right[0] != "/"
    return before_space or after_newline


@settings(max_examples=100, deadline=2000)
@given(st.text(max_size=300))
def test_count_tokens_of_any_text(text: str) -> None:
    n = count_tokens(text)
    assert n >= 0 and (n > 0) == bool(text)


@settings(max_examples=300, deadline=2000)
@given(_TEXTS, st.integers(min_value=1, max_value=24))
def test_pieces_encode_exactly_like_the_whole_text(text: str, piece_chars: int) -> None:
    parts = split_for_encoding(text, piece_chars)
    assert "".join(parts) == text
    assert all(0 < len(p) <= piece_chars for p in parts) or parts == [""]
    whole = list(_encoding().encode_ordinary(text)) if text else []
    if all(_clean(a, b) for a, b in itertools.pairwise(parts)):
        assert [t for p in parts for t in (_encoding().encode_ordinary(p) if p else [])] == whole


def test_prose_is_cut_cleanly_and_counted_exactly() -> None:
    text = "The quick brown fox, it's said, jumps over 1234 lazy dogs.\nNew line: /path\n" * 40
    parts = split_for_encoding(text, 97)
    assert len(parts) > 20
    assert all(_clean(a, b) for a, b in itertools.pairwise(parts))
    assert sum(len(_encoding().encode_ordinary(p)) for p in parts) == len(_encoding().encode_ordinary(text))


def test_count_tokens_of_a_long_context_prompt() -> None:
    assert count_tokens("a " * 600_000) >= 500_000


def test_long_texts_count_exactly_and_texts_without_breaks_still_count() -> None:
    # "a " * n is n + 1 tokens as one text ("a", then " a" n - 1 times, then the trailing " ")
    assert count_tokens("a " * 2_100_000) == 2_100_001
    line = "Summarise the following report, section by section.\n"
    assert count_tokens(line * 40_000) == count_tokens(line * 20_000) * 2  # ~2 MB, cut at clean places
    assert len(encode(line * 40_000)) == count_tokens(line * 40_000)
    n = count_tokens("x" * 1_500_000)  # one 1.5 MB word: cut where it must be, still a number
    assert 1_500_000 / 16 < n < 1_500_000
