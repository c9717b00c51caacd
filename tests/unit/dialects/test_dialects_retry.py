"""Retry hints, one parser per form (issue 17, part 5). Expected values come from the formats' documents
(Go's time.ParseDuration, RFC 3339, RFC 9110's HTTP date, protobuf's Duration JSON form) worked out by
hand, and, for the forms the official SDKs read (retry-after-ms, retry-after as seconds or a date), from
what the installed ``openai`` and ``anthropic`` SDKs compute from the same headers."""

from __future__ import annotations

import calendar
import json
import time
from email.utils import formatdate

import pytest

from harness.dialects import (
    MAX_HINT_S,
    get_dialect,
    parse_go_duration,
    parse_http_date,
    parse_proto_duration,
    parse_rfc3339,
    parse_seconds,
    retry_hint,
)

# 2025-06-01T12:00:00Z in Unix time, from the calendar, not from the parser under test
NOON = float(calendar.timegm((2025, 6, 1, 12, 0, 0)))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),  # OpenAI's documented examples
        ("1s", 1.0),
        ("20ms", 0.02),
        ("12ms", 0.012),
        ("9ms", 0.009),
        ("0s", 0.0),
        ("0", 0.0),  # Go prints a zero duration as "0s" but parses "0"
        ("7.66s", 7.66),
        ("1h2m3.5s", 3723.5),
        ("2h45m", 9900.0),  # time.ParseDuration's own examples
        ("300ms", 0.3),
        ("1.5h", 5400.0),
        ("1m30s", 90.0),
        ("500us", 0.0005),
        ("500µs", 0.0005),
        ("100ns", 1e-7),
        ("-1.5h", 0.0),  # a negative wait is no wait
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize("text", ["5", "", "s", "1x", "1s2", "m1s", "1 s", "--1s", "1.2.3s", "abc"])
def test_go_duration_refuses_what_go_refuses(text: str) -> None:
    assert parse_go_duration(text) is None


def test_rfc3339_resets() -> None:
    assert parse_rfc3339("2025-06-01T12:00:30Z", now=NOON) == 30.0
    assert parse_rfc3339("2025-06-01T12:00:30.25Z", now=NOON) == pytest.approx(30.25)
    assert parse_rfc3339("2025-06-01T14:00:30+02:00", now=NOON) == 30.0  # same instant, another zone
    assert parse_rfc3339("2025-06-01T11:59:00Z", now=NOON) == 0.0  # already reset
    assert parse_rfc3339("2025-06-02T12:00:00Z", now=NOON) == MAX_HINT_S  # one day: the bound
    assert parse_rfc3339("2025-06-03T12:00:00Z", now=NOON) == MAX_HINT_S  # past it: cut to it
    for bad in ("2025-06-01T12:00:30", "2025-13-01T12:00:30Z", "tomorrow", "1748779230", ""):
        assert parse_rfc3339(bad, now=NOON) is None, bad


def test_http_dates() -> None:
    # RFC 9110's example date; 2015-10-21T07:28:00Z is 1445412480
    assert parse_http_date("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_http_date("Wednesday, 21-Oct-15 07:28:10 GMT", now=1445412480.0) == 10.0  # RFC 850 form
    assert parse_http_date("soon", now=0.0) is None


def test_seconds_and_proto_durations_are_bounded() -> None:
    assert parse_seconds("3") == 3.0 and parse_seconds("1.5") == 1.5
    assert parse_seconds("250", scale=0.001) == 0.25
    assert parse_seconds("-5") == 0.0
    assert parse_seconds("1e9") == MAX_HINT_S
    for bad in ("inf", "nan", "1e400", "1_000", "", "3s"):
        assert parse_seconds(bad) is None, bad
    assert parse_proto_duration("30s") == 30.0 and parse_proto_duration("0.250s") == 0.25
    assert parse_proto_duration("30") is None and parse_proto_duration("1m") is None


def test_retry_hint_order_and_source() -> None:
    h = {"retry-after-ms": "300", "retry-after": "9", "llm_provider-retry-after": "60"}
    hint = retry_hint(h, now=0.0)
    assert hint is not None and (hint.seconds, hint.source) == (0.3, "retry-after-ms")
    hint = retry_hint({"retry-after-ms": "soon", "retry-after": "9"}, now=0.0)
    assert hint is not None and (hint.seconds, hint.source) == (9.0, "retry-after")
    hint = retry_hint({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0)
    assert hint is not None and (hint.seconds, hint.source) == (10.0, "retry-after (date)")
    # the LiteLLM 1.108 proxy's 429 carried only this
    hint = retry_hint({"llm_provider-retry-after": "60"}, now=0.0, status=429)
    assert hint is not None and (hint.seconds, hint.source) == (60.0, "llm_provider-retry-after")
    hint = retry_hint({"llm_provider-retry-after-ms": "1500"}, now=0.0, status=429)
    assert hint is not None and (hint.seconds, hint.source) == (1.5, "llm_provider-retry-after-ms")
    assert retry_hint({}, now=0.0) is None


def test_rate_limit_resets_are_a_hint_on_a_429_only() -> None:
    h = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "1200",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert retry_hint(h, now=0.0, status=200) is None  # a reset on a success is no request to wait
    hint = retry_hint(h, now=0.0, status=429)
    assert hint is not None and (hint.seconds, hint.source) == (1.0, "x-ratelimit-reset-requests")
    # both limits ran out: wait until both have refilled (the longer)
    hint = retry_hint({**h, "x-ratelimit-remaining-tokens": "0"}, now=0.0, status=429)
    assert hint is not None and (hint.seconds, hint.source) == (360.0, "x-ratelimit-reset-tokens")
    # requests and tokens left on every limit: the 429 was not theirs, their resets are no hint
    assert retry_hint({**h, "x-ratelimit-remaining-requests": "12"}, now=0.0, status=429) is None
    # a limit whose remaining count is not sent may have refused it; one with tokens left did not
    h.pop("x-ratelimit-remaining-requests")
    hint = retry_hint(h, now=0.0, status=429)
    assert hint is not None and (hint.seconds, hint.source) == (1.0, "x-ratelimit-reset-requests")
    resets_only = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}
    hint = retry_hint(resets_only, now=0.0, status=429)  # nothing known: the longest
    assert hint is not None and (hint.seconds, hint.source) == (360.0, "x-ratelimit-reset-tokens")
    a = {
        "anthropic-ratelimit-requests-remaining": "40",
        "anthropic-ratelimit-requests-reset": "2025-06-01T12:00:05Z",
        "anthropic-ratelimit-output-tokens-remaining": "0",
        "anthropic-ratelimit-output-tokens-reset": "2025-06-01T12:00:42Z",
    }
    hint = retry_hint(a, now=NOON, status=429)
    assert hint is not None
    assert (hint.seconds, hint.source) == (42.0, "anthropic-ratelimit-output-tokens-reset")
    hint = retry_hint({**a, "retry-after": "7"}, now=NOON, status=429)  # an explicit hint comes first
    assert hint is not None and (hint.seconds, hint.source) == (7.0, "retry-after")


def test_gemini_retry_info_in_the_error_body_through_classify() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"},
            ],
        }
    }
    info = get_dialect("gemini").classify(429, {}, json.dumps(body).encode())
    assert (info.error_class, info.retry_after_s, info.retry_after_source) == (
        "http_429",
        30.0,
        "body:RetryInfo.retryDelay",
    )


def test_classify_and_read_headers_carry_the_source() -> None:
    d = get_dialect("openai-chat")
    info = d.classify(429, {"llm_provider-retry-after": "60"}, b'{"error": {"message": "rate limited"}}')
    assert (info.retry_after_s, info.retry_after_source) == (60.0, "llm_provider-retry-after")
    h = d.read_headers({"retry-after-ms": "250"})
    assert (h.retry_after_s, h.retry_after_source) == (0.25, "retry-after-ms")
    assert d.read_headers({"x-ratelimit-reset-requests": "1s"}).retry_after_s is None  # no status: no reset


# --- against the official SDKs: the forms they read, the same headers -----------------------------------


def _sdk_parsers() -> list[object]:
    openai = pytest.importorskip("openai")
    anthropic = pytest.importorskip("anthropic")
    return [
        openai.OpenAI(api_key="sk-test", max_retries=0)._parse_retry_after_header,
        anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)._parse_retry_after_header,
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after-ms": "250"},
        {"retry-after-ms": "300", "retry-after": "9"},
        {"retry-after": "3"},
        {"retry-after": "1.5"},
        {"retry-after-ms": "soon", "retry-after": "2"},
        {"retry-after": "45"},
    ],
)
def test_same_seconds_as_the_official_sdks(headers: dict[str, str]) -> None:
    ours = retry_hint(headers, now=time.time())
    for sdk in _sdk_parsers():
        assert ours is not None and sdk(headers) == pytest.approx(ours.seconds), sdk  # type: ignore[operator]


def test_same_http_date_wait_as_the_official_sdks() -> None:
    headers = {"retry-after": formatdate(time.time() + 30, usegmt=True)}
    now = time.time()
    ours = retry_hint(headers, now=now)
    assert ours is not None and ours.source == "retry-after (date)"
    for sdk in _sdk_parsers():
        theirs = sdk(headers)  # type: ignore[operator]
        assert theirs == pytest.approx(ours.seconds, abs=1.0)  # both from the clock, a moment apart
        assert 28.0 < theirs <= 30.0
