"""Shared pydantic base for every user-written file (unknown keys are errors) and value types.

Durations, rates and names are read from text by one regular expression each, and the exported JSON
Schema carries the same expression, so an editor accepts exactly what the loader accepts::

    parse_duration("500ms")     # 0.5
    parse_rate("300/min")       # 5.0
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from annotated_types import Gt
from pydantic import BaseModel, BeforeValidator, ConfigDict, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = [
    "DURATION_PATTERN",
    "ENV_NAME_PATTERN",
    "NAME_PATTERN",
    "RATE_PATTERN",
    "Duration",
    "EnvName",
    "Name",
    "PositiveDuration",
    "PositiveRate",
    "Rate",
    "UserModel",
    "parse_duration",
    "parse_rate",
]


class UserModel(BaseModel):
    """Base of every model a user writes in YAML: ``extra="forbid"`` so a typo is an error, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False, validate_default=True)


# One pattern per value type, used as is by the loader (re.fullmatch) and in the JSON Schema (ECMA 262):
# ASCII digits and plain spaces only, and no line break anywhere (Python's $ also matches before a final
# newline), so the loader and every schema validator agree on every input.
DURATION_PATTERN = r"^(?!.*\n) *([0-9]+(?:\.[0-9]+)?) *(us|µs|ms|s|m|h)? *$"
"""A duration written as text: a number and an optional unit (``500ms``, ``10s``, ``2m``; none = seconds)."""
RATE_PATTERN = r"^(?!.*\n) *([0-9]+(?:\.[0-9]+)?) *(?:/ *(s|sec|second|m|min|minute|h|hour))? *$"
"""A rate written as text: ``5/s``, ``300/min``, or a number per second."""
NAME_PATTERN = r"^(?!.*\n)[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Names of endpoints, contenders, faults, prompts and scenarios."""
ENV_NAME_PATTERN = r"^(?!.*\n)[A-Za-z_][A-Za-z0-9_]*$"
"""Names of environment variables (the variable that holds an API key)."""
_NONZERO = r"(?=[^1-9]*[1-9])"  # a digit other than 0 somewhere: the value is > 0 (units have no digits)


def _body(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.removeprefix("^").removesuffix("$"))


_DURATION_RE = _body(DURATION_PATTERN)
_RATE_RE = _body(RATE_PATTERN)
_NAME_RE = _body(NAME_PATTERN)
_ENV_NAME_RE = _body(ENV_NAME_PATTERN)
_UNIT_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_RATE_PER = {
    None: 1.0,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}


def parse_duration(value: Any) -> float:
    """Parse ``"250ms"``, ``"10s"``, ``"2m"``, ``"1h"`` or a bare number of seconds into seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 10s or 2m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("duration must not be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.fullmatch(value)
        if m:
            return float(m.group(1)) * _UNIT_S[m.group(2)]
        raise ValueError(
            f"bad duration {value!r}: expected a number with unit us, ms, s, m or h (e.g. 500ms, 10s)"
        )
    raise ValueError("expected a duration such as 500ms, 10s or 2m")


def parse_rate(value: Any) -> float:
    """Parse ``"5/s"``, ``"300/min"`` or a bare number (per second) into requests per second."""
    if isinstance(value, bool):
        raise ValueError("expected a rate such as 5/s or 300/min")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("rate must not be negative")
        return float(value)
    if isinstance(value, str):
        m = _RATE_RE.fullmatch(value)
        if m:
            return float(m.group(1)) / _RATE_PER[m.group(2)]
        raise ValueError(f"bad rate {value!r}: expected e.g. 5/s, 300/min or a number per second")
    raise ValueError("expected a rate such as 5/s or 300/min")


_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


class _NumberOrText:
    """JSON Schema of a number that may also be written as text: ``anyOf`` [the number with its bounds,
    a string matching the loader's pattern]. A lower bound of > 0 makes the pattern refuse zero; any
    other bound on the text form is checked by the loader only (no field has one)."""

    def __init__(self, pattern: str, example: str) -> None:
        self.pattern = pattern
        self.example = example

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        number = dict(handler(core))
        for key, standard in _BOUNDS.items():  # pydantic leaves a bound under its own name inside unions
            if key in number:
                number[standard] = number.pop(key)
        if "minimum" not in number and "exclusiveMinimum" not in number:
            number["minimum"] = 0  # the parser refuses negative numbers
        positive = number.get("exclusiveMinimum") == 0
        pattern = "^" + _NONZERO + self.pattern.removeprefix("^") if positive else self.pattern
        return {"anyOf": [number, {"type": "string", "pattern": pattern, "examples": [self.example]}]}


Duration = Annotated[float, BeforeValidator(parse_duration), _NumberOrText(DURATION_PATTERN, "500ms")]
"""Seconds ≥ 0; YAML may say ``500ms``, ``10s``, ``2m`` (a bare number is seconds)."""
PositiveDuration = Annotated[
    float, BeforeValidator(parse_duration), Gt(0), _NumberOrText(DURATION_PATTERN, "500ms")
]
"""Seconds > 0, written as for ``Duration``."""

Rate = Annotated[float, BeforeValidator(parse_rate), _NumberOrText(RATE_PATTERN, "5/s")]
"""Requests per second ≥ 0; YAML may say ``5/s`` or ``300/min``."""
PositiveRate = Annotated[float, BeforeValidator(parse_rate), Gt(0), _NumberOrText(RATE_PATTERN, "5/s")]
"""Requests per second > 0, written as for ``Rate``."""


def _check_name(value: Any) -> Any:
    if isinstance(value, str) and not _NAME_RE.fullmatch(value):
        raise ValueError(f"bad name {value!r}: use letters, digits, '-', '_' or '.', at most 64 characters")
    return value


def _check_env_name(value: Any) -> Any:
    if isinstance(value, str) and not _ENV_NAME_RE.fullmatch(value):
        raise ValueError(f"bad variable name {value!r}: letters, digits and '_', not starting with a digit")
    return value


class _Pattern:
    """JSON Schema of a string checked by one of the patterns above."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(core), "pattern": self.pattern}


Name = Annotated[str, BeforeValidator(_check_name), _Pattern(NAME_PATTERN)]
"""Names of endpoints, contenders, faults, prompts and scenarios."""
EnvName = Annotated[str, BeforeValidator(_check_env_name), _Pattern(ENV_NAME_PATTERN)]
"""The name of an environment variable."""
