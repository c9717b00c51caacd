from __future__ import annotations

import pytest

from harness.client import evaluate_check
from harness.config import Check

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.mark.parametrize(
    ("check", "text", "expected"),
    [
        (Check(contains="Paris"), "It is Paris.", True),
        (Check(contains="paris"), "It is Paris.", False),
        (Check(regex=r"\b4[0-9]\b"), "answer: 42", True),
        (Check(regex=r"^\d+$"), "answer: 42", False),
        (Check(regex=r"(unclosed"), "(unclosed", False),
        (Check(exact="42"), "  42\n", True),
        (Check(exact="42"), "42.", False),
        (Check(json_schema=SCHEMA), '{"city": "Paris"}', True),
        (Check(json_schema=SCHEMA), '```json\n{"city": "Paris"}\n```', True),
        (Check(json_schema=SCHEMA), '{"town": "Paris"}', False),
        (Check(json_schema=SCHEMA), '{"city": 3}', False),
        (Check(json_schema=SCHEMA), "Paris", False),
        (Check(json_schema={"type": "nonsense-type"}), "{}", False),
    ],
)
def test_checks(check: Check, text: str, expected: bool) -> None:
    assert evaluate_check(check, text) is expected
