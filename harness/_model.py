"""Shared pydantic base for every user-written file (unknown keys are errors) and value types."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

__all__ = ["Duration", "Name", "Rate", "UserModel", "parse_duration", "parse_rate"]


class UserModel(BaseModel):
    """Base of every model a user writes in YAML: ``extra="forbid"`` so a typo is an error, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False, validate_default=True)


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)?\s*$")
_UNIT_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Parse ``"250ms"``, ``"10s"``, ``"2m"``, ``"1h"`` or a bare number of seconds into seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 10s or 2m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("duration must not be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return float(m.group(1)) * _UNIT_S[m.group(2)]
        raise ValueError(
            f"bad duration {value!r}: expected a number with unit us, ms, s, m or h (e.g. 500ms, 10s)"
        )
    raise ValueError("expected a duration such as 500ms, 10s or 2m")


_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$")
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


def parse_rate(value: Any) -> float:
    """Parse ``"5/s"``, ``"300/min"`` or a bare number (per second) into requests per second."""
    if isinstance(value, bool):
        raise ValueError("expected a rate such as 5/s or 300/min")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("rate must not be negative")
        return float(value)
    if isinstance(value, str):
        m = _RATE_RE.match(value)
        if m:
            return float(m.group(1)) / _RATE_PER[m.group(2)]
        raise ValueError(f"bad rate {value!r}: expected e.g. 5/s, 300/min or a number per second")
    raise ValueError("expected a rate such as 5/s or 300/min")


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds; YAML may say ``500ms``, ``10s``, ``2m``."""

Rate = Annotated[float, BeforeValidator(parse_rate)]
"""Requests per second; YAML may say ``5/s`` or ``300/min``."""

_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _check_name(value: Any) -> Any:
    if isinstance(value, str) and not re.match(_NAME_RE, value):
        raise ValueError(f"bad name {value!r}: use letters, digits, '-', '_' or '.', at most 64 characters")
    return value


Name = Annotated[str, BeforeValidator(_check_name)]
