"""Offline token counting with OpenAI's ``o200k_base`` vocabulary (via ``bpe-openai``, no downloads).

The simulator computes exact usage with it, and the harness uses it to estimate usage when a vendor
reports none. Special-token text such as ``<|endoftext|>`` is counted as ordinary text, never refused.

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

__all__ = ["ENCODING_NAME", "count_tokens", "decode", "encode"]

ENCODING_NAME = "o200k_base"


@functools.cache
def _encoding() -> Any:
    # bpe-openai 0.1.x reads its vocabularies with importlib.resources.open_binary, deprecated since
    # Python 3.11; the warning is theirs, not ours (and pytest turns warnings into errors).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai  # loading the vocabularies takes ~0.5 s: only pay it when used

        return bpe_openai.get_encoding(ENCODING_NAME)


def encode(text: str) -> list[int]:
    """Token ids of ``text`` (special-token text is treated as plain text)."""
    if not text:
        return []
    return list(_encoding().encode_ordinary(text))


def decode(tokens: Sequence[int]) -> str:
    """Text of ``tokens``; bytes that do not form valid UTF-8 on their own are replaced."""
    if not tokens:
        return ""
    return str(_encoding().decode(list(tokens)))


def count_tokens(text: str) -> int:
    """Number of ``o200k_base`` tokens in ``text``."""
    return len(encode(text))
