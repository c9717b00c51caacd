"""Sans-I/O checks of the dialects: rate-limit header formats and error envelopes."""

from __future__ import annotations

import datetime as dt
import json

from harness.sim._limits import TokenBucket
from harness.sim.handlers import SIM_DIALECTS, SimHTTPError


def test_anthropic_ratelimit_headers_are_rfc3339() -> None:
    rpm = TokenBucket(60, 60, now=0.0)
    rpm.take(30, 0.0)
    h = dict(SIM_DIALECTS["anthropic-messages"].ratelimit_headers(rpm, None, 0.0, 1_700_000_000.0))
    assert h["anthropic-ratelimit-requests-limit"] == "60"
    assert h["anthropic-ratelimit-requests-remaining"] == "30"
    reset = dt.datetime.fromisoformat(h["anthropic-ratelimit-requests-reset"].replace("Z", "+00:00"))
    assert reset.timestamp() == 1_700_000_030.0
    assert not any(k.startswith("x-ratelimit") for k in h)


def test_openai_ratelimit_headers_are_go_durations() -> None:
    tpm = TokenBucket(6000, 60, now=0.0)
    tpm.take(6000, 0.0)
    h = dict(SIM_DIALECTS["openai-chat"].ratelimit_headers(None, tpm, 0.0, 0.0))
    assert h["x-ratelimit-remaining-tokens"] == "0"
    assert h["x-ratelimit-reset-tokens"] == "1m0s"


def test_error_envelopes() -> None:
    exc = SimHTTPError(529, "overloaded", "Overloaded")
    _, body = SIM_DIALECTS["anthropic-messages"].error(exc, "req_1")
    assert json.loads(body) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_1",
    }
    _, body = SIM_DIALECTS["openai-chat"].error(SimHTTPError(503, "unavailable", "busy"), "req_2")
    assert json.loads(body)["error"] == {
        "message": "busy",
        "type": "server_error",
        "param": None,
        "code": "service_unavailable",
    }
    _, body = SIM_DIALECTS["azure-openai"].error(SimHTTPError(401, "auth", "denied"), "req_3")
    assert json.loads(body) == {"error": {"code": "401", "message": "denied"}}
