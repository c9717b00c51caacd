"""Retry hints in every form vendors and gateways send them, one pure parser per form (no I/O, no clock:
"now" is passed in).

==============================================  ==========================================================
where                                           form
==============================================  ==========================================================
``retry-after-ms``                              milliseconds (OpenAI, Azure; read first by the SDKs)
``retry-after``                                 seconds, or an HTTP date (RFC 9110 10.2.3)
``llm_provider-retry-after(-ms)``               the backend's header as a LiteLLM proxy passes it on
``x-ratelimit-reset-requests`` / ``-tokens``    Go-style duration when the limit resets: ``6m0s``, ``1s``,
                                                ``20ms`` (OpenAI; LiteLLM normalises other backends to it)
``anthropic-ratelimit-*-reset``                 RFC 3339 timestamp when the limit resets (Anthropic)
``error.details[].retryDelay`` in the body      protobuf Duration, ``"30s"`` (Gemini's ``RetryInfo``)
==============================================  ==========================================================

:func:`retry_hint` picks one in the order the official SDKs read the explicit ones (``retry-after-ms``,
then ``retry-after`` as seconds, then as a date), then the gateway's pass-through, then the body's
``RetryInfo``, then, on a 429 only, the reset of a rate limit that ran out (a reset time says when a
limit refills, which is a wait hint only once a request was refused, and only for the limit that
refused it). The hint says which of them it came from
(``source``), and is bounded: negative waits are 0, waits over :data:`MAX_HINT_S` are cut to it,
non-finite values are no hint.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = [
    "MAX_HINT_S",
    "RetryHint",
    "parse_go_duration",
    "parse_http_date",
    "parse_proto_duration",
    "parse_rfc3339",
    "parse_seconds",
    "retry_hint",
]

MAX_HINT_S = 86_400.0
"""The longest wait a hint may ask for (a day); longer ones are cut to it (the router caps far lower)."""

BODY_RETRY_DELAY = "body:RetryInfo.retryDelay"
"""``source`` of a hint read from a Google RPC error body."""

_DATE_SUFFIX = " (date)"  # source of a retry-after sent as an HTTP date: "retry-after (date)"


@dataclass(frozen=True, slots=True)
class RetryHint:
    """Seconds to wait before the next attempt, and where the vendor said so (a header name, or
    ``body:RetryInfo.retryDelay``; ``retry-after (date)`` for an HTTP date)."""

    seconds: float
    source: str


def _bounded(seconds: float) -> float | None:
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_HINT_S)


def parse_seconds(text: str, *, scale: float = 1.0) -> float | None:
    """A plain number of seconds (``"3"``, ``"1.5"``) times ``scale`` (``0.001`` for milliseconds)."""
    text = text.strip()
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text):
        return None  # "inf", "nan", "1_000" and words are no hint
    return _bounded(float(text) * scale)


def parse_http_date(text: str, *, now: float) -> float | None:
    """Seconds from ``now`` (Unix time) until an HTTP date (``Wed, 21 Oct 2015 07:28:00 GMT``); a date in
    the past is 0."""
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110: HTTP dates are GMT ("-0000" parses without a zone)
        when = when.replace(tzinfo=UTC)
    try:
        return _bounded(when.timestamp() - now)
    except (OverflowError, ValueError, OSError):
        return None


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float | None:
    """A Go ``time.Duration`` string, as OpenAI's ``x-ratelimit-reset-*`` headers send it: ``"6m0s"``,
    ``"1s"``, ``"20ms"``, ``"1h2m3.5s"``, ``"0s"``; ``None`` for anything else (a bare number has no unit)."""
    text = text.strip()
    if text in ("0", "+0", "-0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if not body or len(text) - len(body) > 1:
        return None
    total, pos = 0.0, 0
    for m in _GO_PART.finditer(body):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(body) or pos == 0:
        return None
    return _bounded(sign * total)


_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_rfc3339(text: str, *, now: float) -> float | None:
    """Seconds from ``now`` until an RFC 3339 timestamp (``2025-06-01T12:00:30Z``, offsets and fractions
    allowed), as Anthropic's ``anthropic-ratelimit-*-reset`` headers send it; a time in the past is 0."""
    m = _RFC3339.fullmatch(text.strip())
    if m is None:
        return None
    day, clock, frac, zone = m.groups()
    try:
        when = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone in ('Z', 'z') else zone}")
    except ValueError:  # month 13, hour 25
        return None
    return _bounded(when.timestamp() + (float(frac) if frac else 0.0) - now)


_PROTO_DURATION = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))s\s*")


def parse_proto_duration(text: str) -> float | None:
    """A protobuf ``Duration`` in its JSON form, as Gemini's ``RetryInfo.retryDelay`` sends it: ``"30s"``,
    ``"0.250s"``, ``"1.5s"``."""
    m = _PROTO_DURATION.fullmatch(text)
    return _bounded(float(m.group(1))) if m else None


_EXPLICIT = (
    ("retry-after-ms", 0.001),
    ("retry-after", 1.0),
    ("llm_provider-retry-after-ms", 0.001),
    ("llm_provider-retry-after", 1.0),
)
_OPENAI_RESETS = (
    ("x-ratelimit-reset-requests", "x-ratelimit-remaining-requests"),
    ("x-ratelimit-reset-tokens", "x-ratelimit-remaining-tokens"),
)
_ANTHROPIC_RESETS = tuple(
    (f"anthropic-ratelimit-{kind}-reset", f"anthropic-ratelimit-{kind}-remaining")
    for kind in ("requests", "tokens", "input-tokens", "output-tokens")
)


def _remaining(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def _reset_hint(headers: Mapping[str, str], now: float) -> RetryHint | None:
    """The wait until the refused limit refills. A limit whose remaining count is 0 was refused; without
    one, a limit whose remaining count is not sent may have been; a limit with requests or tokens left was
    not (its reset says nothing about this 429). Of the candidates, the longest wait: every exhausted
    limit must have refilled before a request can pass."""
    exhausted: list[tuple[float, str]] = []
    unknown: list[tuple[float, str]] = []
    for resets, parse in (
        (_OPENAI_RESETS, parse_go_duration),
        (_ANTHROPIC_RESETS, lambda v: parse_rfc3339(v, now=now)),
    ):
        for reset, remaining in resets:
            value = headers.get(reset)
            seconds = parse(value) if value is not None else None
            if seconds is None:
                continue
            left = _remaining(headers, remaining)
            if left is None:
                unknown.append((seconds, reset))
            elif left <= 0:
                exhausted.append((seconds, reset))
    pick = exhausted or unknown
    if not pick:
        return None
    seconds, source = max(pick)
    return RetryHint(seconds, source)


def retry_hint(
    headers: Mapping[str, str],
    *,
    now: float,
    status: int | None = None,
    body_delay: float | None = None,
) -> RetryHint | None:
    """The vendor's retry hint from response headers (lower-case names), or ``None``.

    ``status`` is the HTTP status (the rate-limit resets count only on a 429); ``body_delay`` the delay a
    Google RPC error body gave (:func:`parse_proto_duration` of its ``retryDelay``). ``now`` is Unix time.
    """
    for name, scale in _EXPLICIT:
        value = headers.get(name)
        if value is None:
            continue
        seconds = parse_seconds(value, scale=scale)
        if seconds is not None:
            return RetryHint(seconds, name)
        if scale == 1.0:
            seconds = parse_http_date(value, now=now)
            if seconds is not None:
                return RetryHint(seconds, name + _DATE_SUFFIX)
    if body_delay is not None and math.isfinite(body_delay):
        return RetryHint(min(max(0.0, body_delay), MAX_HINT_S), BODY_RETRY_DELAY)
    if status == 429:
        return _reset_hint(headers, now)
    return None
