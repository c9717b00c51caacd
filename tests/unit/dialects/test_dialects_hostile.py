"""Vendor documents that are valid JSON but wrong in shape: events, never exceptions."""

from __future__ import annotations

import pytest

from harness.dialects import Usage, get_dialect
from harness.dialects._common import count


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, 12),
        (12.0, 12),
        (0, 0),
        (float("inf"), None),
        (float("-inf"), None),
        (float("nan"), None),
        (True, None),
        ("12", None),
        (None, None),
        (-3, None),
        (2**64, None),
    ],
)
def test_count_keeps_only_plausible_token_counts(value: object, expected: int | None) -> None:
    assert count(value) == expected


@pytest.mark.parametrize(
    ("dialect", "body", "field"),
    [
        (
            "openai-chat",
            b'{"model":"m","choices":[{"index":0,"message":{"content":"x"}}],'
            b'"usage":{"prompt_tokens":1e400,"completion_tokens":7}}',
            "input_tokens",
        ),
        (
            "openai-chat",
            b'{"model":"m","choices":[{"index":0,"message":{"content":"x"}}],'
            b'"usage":{"prompt_tokens":3,"completion_tokens":NaN}}',
            "output_tokens",
        ),
        (
            "anthropic-messages",
            b'{"content":[{"type":"text","text":"x"}],"usage":{"input_tokens":1e400,"output_tokens":7}}',
            "input_tokens",
        ),
        (
            "gemini",
            b'{"modelVersion":"g","candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],'
            b'"usageMetadata":{"promptTokenCount":-Infinity,"candidatesTokenCount":7}}',
            "input_tokens",
        ),
    ],
)
def test_non_finite_usage_counts_are_dropped_and_the_rest_kept(dialect: str, body: bytes, field: str) -> None:
    usages = [e for e in get_dialect(dialect).parse_response(body) if isinstance(e, Usage)]
    assert len(usages) == 1
    assert getattr(usages[0], field) is None
    other = "output_tokens" if field == "input_tokens" else "input_tokens"
    assert getattr(usages[0], other) in (3, 7)
