"""Offline token counting with OpenAI's ``o200k_base`` vocabulary (via ``bpe-openai``, no downloads).

The simulator computes exact usage with it, and the harness uses it to estimate usage when a vendor
reports none. Special-token text such as ``<|endoftext|>`` is counted as ordinary text, never refused.
Texts of any length are counted: ``bpe-openai`` refuses 1,000,000+ characters (and 200,000+ tokens) in
one call, so long texts are encoded in pieces of at most ``_PIECE_CHARS`` characters, cut just before a
space that follows a non-space character. o200k's pre-tokeniser never joins such a space to the text
before it, so the pieces give exactly the tokens of the whole text. A piece with no such space is cut
after a newline (also exact), and a run with neither (``_PIECE_CHARS`` characters without a space or a
line break) is cut where it must be: that count can differ from the whole text's by a token or two per cut.

    >>> count_tokens("hello world")
    2
    >>> decode(encode("The answer is 42."))
    'The answer is 42.'
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any

__all__ = ["ENCODING_NAME", "count_tokens", "decode", "encode", "split_for_encoding"]

ENCODING_NAME = "o200k_base"

_PIECE_CHARS = 32_768
"""Longest text handed to bpe-openai at once: far below its 1,000,000-character limit, and even at 4
tokens per character (one token per UTF-8 byte) below its 200,000-token limit."""


@functools.cache
def _encoding() -> Any:
    # bpe-openai 0.1.x reads its vocabularies with importlib.resources.open_binary, deprecated since
    # Python 3.11; the warning is theirs, not ours (and pytest turns warnings into errors).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai  # loading the vocabularies takes ~0.5 s: only pay it when used

        return bpe_openai.get_encoding(ENCODING_NAME)


def _cut(text: str, start: int, end: int) -> int:
    """Where to end the piece that starts at ``start`` and may not pass ``end`` (``start < end``)."""
    lo = start + (end - start) // 2  # a piece keeps at least half its allowed length
    p = text.rfind(" ", lo, end)
    while p > lo:
        if not text[p - 1].isspace():
            return p  # just before " word": the space always starts a pre-token of its own
        p = text.rfind(" ", lo, p)
    p = text.rfind("\n", lo, end - 1)
    while p >= lo:
        nxt = text[p + 1]
        if not nxt.isspace() and nxt != "/":
            return p + 1  # just after a line break that a word follows ("/" could join ".\n/")
        p = text.rfind("\n", lo, p)
    return end  # no clean place: cut inside a long run (approximate at this one cut)


def split_for_encoding(text: str, piece_chars: int = _PIECE_CHARS) -> list[str]:
    """``text`` cut into pieces of at most ``piece_chars`` characters whose encodings add up to the
    whole text's (see the module docstring); ``"".join(split_for_encoding(t)) == t``."""
    if len(text) <= piece_chars:
        return [text]
    out: list[str] = []
    start = 0
    n = len(text)
    while n - start > piece_chars:
        cut = _cut(text, start, start + piece_chars)
        out.append(text[start:cut])
        start = cut
    out.append(text[start:])
    return out


def encode(text: str) -> list[int]:
    """Token ids of ``text`` (special-token text is treated as plain text), of any length."""
    if not text:
        return []
    enc = _encoding()
    if len(text) <= _PIECE_CHARS:
        return list(enc.encode_ordinary(text))
    out: list[int] = []
    for piece in split_for_encoding(text):
        out.extend(enc.encode_ordinary(piece))
    return out


def decode(tokens: Sequence[int]) -> str:
    """Text of ``tokens``; bytes that do not form valid UTF-8 on their own are replaced."""
    if not tokens:
        return ""
    return str(_encoding().decode(list(tokens)))


def count_tokens(text: str) -> int:
    """Number of ``o200k_base`` tokens in ``text``."""
    return len(encode(text))
