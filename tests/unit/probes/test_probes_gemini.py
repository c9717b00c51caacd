"""Probe verdicts for a Gemini endpoint: a wrong key refused with Gemini's own 400 API_KEY_INVALID passes;
any other 400 does not; missing request-id and rate-limit headers still fail, saying why."""

from __future__ import annotations

import json

from harness.probes import Exchange, evaluate

JSON = {"content-type": "application/json"}
BAD_KEY_BODY = json.dumps(
    {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
).encode()
OTHER_400 = b'{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}'
STREAM = (
    b'data: {"candidates":[{"content":{"parts":[{"text":"1"}],"role":"model"},"index":0}],'
    b'"modelVersion":"g","responseId":"r1"}\r\n\r\n',
    b'data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"MAX_TOKENS",'
    b'"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":3,"totalTokenCount":12},'
    b'"modelVersion":"g","responseId":"r1"}\r\n\r\n',
)


def run(bad_key_body: bytes, dialect: str = "gemini") -> dict:
    answer = Exchange("answer", 200, {"content-type": "text/event-stream"}, STREAM, 0.05, streamed=True)
    bad_key = Exchange("bad_key", 400, JSON, (bad_key_body,), 0.01)
    res = evaluate(
        "g",
        dialect=dialect,
        stream=True,
        base_url="http://127.0.0.1:1/g/v1beta",
        exchanges=[answer, bad_key],
        tls=None,
    )
    return {r.probe: r for r in res}


def test_gemini_key_refusal_passes_the_bad_key_probe() -> None:
    r = run(BAD_KEY_BODY)["bad_key"]
    assert r.passed is True and "API_KEY_INVALID" in r.observed


def test_other_400s_and_other_dialects_still_fail() -> None:
    assert run(OTHER_400)["bad_key"].passed is False
    assert run(b"not json")["bad_key"].passed is False
    assert run(BAD_KEY_BODY, dialect="openai-chat")["bad_key"].passed is False


def test_gemini_answer_probes_and_header_probes() -> None:
    res = run(BAD_KEY_BODY)
    assert res["stream_terminal"].passed is True and "finishReason" in res["stream_terminal"].observed
    assert res["usage_reported"].passed is True and res["max_tokens"].passed is True
    assert res["request_id"].passed is False and "responseId" in res["request_id"].observed
    assert (
        res["ratelimit_headers"].passed is False and "Gemini sends none" in res["ratelimit_headers"].observed
    )
