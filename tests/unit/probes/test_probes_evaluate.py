"""Verdicts from recorded exchanges, no sockets: each probe passes on good behaviour and fails on bad."""

from __future__ import annotations

import json

import pytest

from harness.probes import PROBES, Exchange, ProbeOptions, TlsInfo, error_body_ok, evaluate

KEY = "sk-secret-canary-77"
RID = {"x-request-id": "req_1"}


def oai_stream(n_tokens: int = 3, *, done: bool = True, usage: bool = True) -> tuple[bytes, ...]:
    chunks = [
        b'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
        b'"delta":{"content":"x"},"finish_reason":null}]}\n\n'
        for _ in range(n_tokens)
    ]
    chunks.append(
        b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n'
    )
    if usage:
        chunks.append(
            b'data: {"id":"c1","model":"m","choices":[],'
            b'"usage":{"prompt_tokens":9,"completion_tokens":%d}}\n\n' % n_tokens
        )
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return tuple(chunks)


def err(name: str, status: int, body: bytes | None = None, headers=None, latency: float = 0.01) -> Exchange:
    if body is None:
        body = json.dumps({"error": {"message": "nope", "type": "invalid_request_error"}}).encode()
    h = {"content-type": "application/json", **RID} if headers is None else headers
    return Exchange(name, status, h, (body,), latency)


def good_exchanges(**over: Exchange) -> list[Exchange]:
    ex = {
        "answer": Exchange(
            "answer",
            200,
            {"content-type": "text/event-stream", "x-ratelimit-remaining-requests": "9", **RID},
            oai_stream(),
            0.05,
            streamed=True,
        ),
        "bad_key": err("bad_key", 401),
        "malformed_json": err("malformed_json", 400),
        "unknown_model": err("unknown_model", 404),
        "invalid_params": err("invalid_params", 400),
        "overlong_context": err("overlong_context", 400),
    }
    ex.update(over)
    return list(ex.values())


def run(exchanges, *, base_url="https://api.vendor.test/v1", tls=None, stream=True, **opts):
    tls = tls if tls is not None else TlsInfo("TLSv1.3", True, "Jan  1 00:00:00 2030 GMT", "Test CA")
    res = evaluate(
        "v",
        dialect="openai-chat",
        stream=stream,
        base_url=base_url,
        exchanges=exchanges,
        tls=tls,
        options=ProbeOptions(max_tokens=3, **opts),
        secrets=[KEY],
        run_id="r1",
    )
    return {r.probe: r for r in res}


def test_well_behaved_vendor_passes_every_probe() -> None:
    res = run(good_exchanges())
    assert set(res) == set(PROBES)
    failed = {n: r.observed for n, r in res.items() if r.passed is not True}
    assert failed == {}
    assert all(r.run_id == "r1" and r.endpoint == "v" and r.layer == PROBES[n].layer for n, r in res.items())


@pytest.mark.parametrize(
    ("status", "word"), [(200, "ACCEPTED a wrong key"), (500, "server error"), (400, "not with 401/403")]
)
def test_bad_key_fails_unless_401_or_403(status: int, word: str) -> None:
    bad = err("bad_key", status) if status != 200 else Exchange("bad_key", 200, RID, (b"{}",), 0.01)
    res = run(good_exchanges(bad_key=bad))
    assert res["bad_key"].passed is False and word in res["bad_key"].observed
    assert run(good_exchanges(bad_key=err("bad_key", 403)))["bad_key"].passed is True


@pytest.mark.parametrize("probe", ["malformed_json", "unknown_model", "invalid_params", "overlong_context"])
def test_bad_input_needs_a_prompt_parseable_4xx(probe: str) -> None:
    assert run(good_exchanges(**{probe: err(probe, 500)}))[probe].passed is False
    html = err(probe, 400, b"<html>Bad Request</html>", {"content-type": "text/html", **RID})
    r = run(good_exchanges(**{probe: html}))[probe]
    assert r.passed is False and "not parseable" in r.observed
    slow = run(good_exchanges(**{probe: err(probe, 400, latency=9.0)}))
    assert slow[probe].passed is False and "slow" in slow[probe].observed
    assert slow["error_latency"].passed is False and slow["error_latency"].observed.startswith("slow: ")
    ok200 = Exchange(probe, 200, RID, (b'{"model":"other","choices":[]}',), 0.01)
    assert run(good_exchanges(**{probe: ok200}))[probe].observed.startswith("ACCEPTED")
    gone = Exchange(probe, None, {}, (), 10.0, error="timed out after 10 s")
    res = run(good_exchanges(**{probe: gone}))
    assert res[probe].passed is False and "timed out" in res[probe].observed
    assert res["error_latency"].passed is False and probe in res["error_latency"].observed


def test_missing_request_id_anywhere_fails() -> None:
    res = run(good_exchanges(malformed_json=err("malformed_json", 400, headers={"content-type": "x"})))
    assert res["request_id"].passed is False and "malformed_json" in res["request_id"].observed


def test_answer_probes_fail_on_missing_usage_terminal_event_and_headers() -> None:
    answer = Exchange(
        "answer",
        200,
        {"content-type": "text/event-stream", **RID},
        oai_stream(done=False, usage=False),
        0.05,
        streamed=True,
    )
    res = run(good_exchanges(answer=answer))
    assert res["stream_terminal"].passed is False and "[DONE]" in res["stream_terminal"].observed
    assert res["usage_reported"].passed is False
    assert res["ratelimit_headers"].passed is False
    assert res["max_tokens"].passed is True and "estimated" in res["max_tokens"].observed


def test_max_tokens_over_the_limit_fails() -> None:
    answer = Exchange(
        "answer", 200, {"content-type": "text/event-stream"}, oai_stream(9), 0.05, streamed=True
    )
    res = run(good_exchanges(answer=answer))
    assert res["max_tokens"].passed is False and "9 output tokens (reported)" in res["max_tokens"].observed


def test_json_answer_to_a_stream_request_fails_and_non_streamed_endpoint_is_not_applicable() -> None:
    body = b'{"id":"c","model":"m","choices":[{"index":0,"message":{"content":"ok"},"finish_reason":"stop"}],'
    body += b'"usage":{"prompt_tokens":3,"completion_tokens":1}}'
    answer = Exchange(
        "answer", 200, {"content-type": "application/json", **RID}, (body,), 0.02, streamed=True
    )
    assert run(good_exchanges(answer=answer))["stream_terminal"].passed is False
    plain = Exchange("answer", 200, {"content-type": "application/json", **RID}, (body,), 0.02)
    res = run(good_exchanges(answer=plain), stream=False)
    assert res["stream_terminal"].passed is None
    assert res["usage_reported"].passed is True


def test_failed_answer_fails_what_it_should_have_shown() -> None:
    res = run(good_exchanges(answer=err("answer", 500)))
    for probe in ("max_tokens", "stream_terminal", "usage_reported"):
        assert res[probe].passed is False and "no valid answer" in res[probe].observed


def test_tls_verdicts() -> None:
    assert run(good_exchanges(), tls=TlsInfo("TLSv1.1", True, "x"))["tls"].passed is False
    bad = TlsInfo("TLSv1.3", False, error="certificate not valid for api.vendor.test: self-signed")
    r = run(good_exchanges(), tls=bad)["tls"]
    assert r.passed is False and "self-signed" in r.observed
    assert run(good_exchanges(), base_url="http://127.0.0.1:9/v1")["tls"].passed is None
    plain = run(good_exchanges(), base_url="http://api.vendor.test/v1")["tls"]
    assert plain.passed is False and "unencrypted" in plain.observed


def test_vendor_text_is_redacted_and_terminal_safe() -> None:
    body = json.dumps({"error": {"message": f"Incorrect API key {KEY}\x1b]0;pwn\x07\x1b[2J"}}).encode()
    res = run(good_exchanges(bad_key=err("bad_key", 401, body)))
    text = json.dumps([r.to_dict() for r in res.values()])
    assert (
        KEY not in text and "\x1b" not in res["bad_key"].observed and "[redacted]" in res["bad_key"].observed
    )


def test_skipped_requests_give_not_applicable() -> None:
    res = evaluate(
        "v", dialect="anthropic-messages", stream=True, base_url="https://x", exchanges=[], tls=None
    )
    assert {r.probe for r in res} == set(PROBES)
    assert all(r.passed is None for r in res)


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        (b'{"error":{"message":"m","type":"t"}}', True),
        (b'{"type":"error","error":{"type":"invalid_request_error","message":"m"}}', True),
        (b'{"error":"text","error_type":"validation"}', True),
        (b'{"object":"error","message":"m"}', True),
        (b'{"error":{}}', False),
        (b"[]", False),
        (b"<html>", False),
        (b"\xff\xfe", False),
    ],
)
def test_error_body_shapes(body: bytes, ok: bool) -> None:
    assert error_body_ok(body) is ok


def test_an_answer_the_parser_chokes_on_fails_its_probes_without_hiding_the_rest() -> None:
    # a tool call with a numeric name: the OpenAI parser reports it as malformed
    chunk = (
        b'data: {"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"function":{"name":5}}]}}]}\n\n'
    )
    answer = Exchange(
        "answer", 200, {"content-type": "text/event-stream", **RID}, (chunk,), 0.01, streamed=True
    )
    res = run(good_exchanges(answer=answer))
    assert res["stream_terminal"].passed is False
    assert "tool call name is not text" in res["stream_terminal"].observed
    assert res["bad_key"].passed is True


def test_certificate_expiring_soon_passes_with_a_warning() -> None:
    soon = TlsInfo("TLSv1.3", True, "Dec  1 00:00:00 2026 GMT", "CA", days_left=3.2)
    r = run(good_exchanges(), tls=soon)["tls"]
    assert r.passed is True and "expires in 3.2 days" in r.detail
