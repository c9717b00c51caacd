"""Prompt checks: does an answer meet the prompt's expectation (contains, regex, exact, JSON schema)?"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from harness.config import Check

__all__ = ["evaluate_check"]

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    import jsonschema  # type: ignore[import-untyped]

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def evaluate_check(check: Check, text: str) -> bool:
    """True when ``text`` meets ``check``.

    ``contains``: substring. ``regex``: ``re.search`` (an invalid pattern never passes). ``exact``:
    equal after stripping surrounding whitespace. ``json_schema``: the answer (optionally inside one
    Markdown ```json fence) parses as JSON and validates.

        >>> evaluate_check(Check(regex=r"\\b42\\b"), "The answer is 42.")
        True
    """
    if check.contains is not None:
        return check.contains in text
    if check.regex is not None:
        rx = _regex(check.regex)
        return rx is not None and rx.search(text) is not None
    if check.exact is not None:
        return text.strip() == check.exact.strip()
    if check.json_schema is not None:
        m = _FENCE.match(text)
        try:
            value = json.loads(m.group(1) if m else text)
        except ValueError:
            return False
        try:
            validator = _validator(json.dumps(check.json_schema, sort_keys=True))
        except Exception:  # an invalid schema is the prompt set's fault: the check cannot pass
            return False
        return bool(validator.is_valid(value))
    return False
