"""Bounds on what one attempt takes from a vendor (``Endpoint.limits``, ``timeouts.total``), on the client's
own transport (httpcore, as the probes use it): each bound crossed ends that attempt with its own class."""

from __future__ import annotations

import gzip
import json
import time

import pytest
from client_loopback import PROMPT, Conn, clock, make_endpoint, make_target, openai_chunk, openai_stream

from harness._text import REDACTED
from harness.client import Router, RunEnded, run_attempt
from harness.config import Contender
from harness.record import RequestRecord


def attempt(client, target, **kw) -> RequestRecord:
    rec = run_attempt(
        client,
        target,
        PROMPT,
        clock=clock,
        run_id="r",
        request_id="c-000001",
        attempt=1,
        contender="c",
        t_intended=clock(),
        seq=1,
        **kw,
    )
    assert rec.error_class != "client_error", rec.error_detail
    return rec


def test_gzip_sent_unasked_is_not_decoded(serve, client) -> None:
    bomb = gzip.compress(bytes(8 << 20))  # 8 MB of zeros in a few KB

    def h(c: Conn) -> None:
        c.read_request()
        c.respond(200, bomb, {"content-encoding": "gzip"}, ctype="text/event-stream")

    rec = attempt(client, make_target(serve(h).url, make_endpoint()))
    assert rec.error_class == "unrequested_encoding" and rec.status == 200
    assert "Content-Encoding: gzip" in (rec.error_detail or "")
    assert rec.t_headers is not None and rec.t_first_token is None


def test_an_error_body_in_gzip_keeps_its_status_class(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.respond(503, gzip.compress(b'{"error": {"message": "busy"}}'), {"content-encoding": "gzip"})

    rec = attempt(client, make_target(serve(h).url, make_endpoint()))
    assert rec.error_class == "overloaded" and rec.status == 503
    assert "not decoded" in (rec.error_detail or "")


def test_a_json_body_past_body_bytes_is_too_large(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        body = b'{"choices": [{"message": {"content": "' + b"x" * (1 << 20) + b'"}}]}'
        c.respond(200, body)

    ep = make_endpoint(stream=False, limits={"body_bytes": "64KiB"})
    rec = attempt(client, make_target(serve(h).url, ep))
    assert rec.error_class == "response_too_large"
    assert "over 65536 bytes (limits.body_bytes)" in (rec.error_detail or "")


def test_a_stream_past_body_bytes_is_too_large_and_keeps_its_timings(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.start_chunked()
        for _ in range(200):
            c.chunk(openai_chunk("x" * 1000))

    ep = make_endpoint(limits={"body_bytes": "32KiB"})
    rec = attempt(client, make_target(serve(h).url, ep))
    assert rec.error_class == "response_too_large" and "limits.body_bytes" in (rec.error_detail or "")
    assert rec.t_first_token is not None and rec.chunk_times  # what arrived before the bound is kept


def test_a_stream_past_its_event_count_is_too_large(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.start_chunked()
        for _ in range(100):
            c.chunk(openai_chunk("y"))

    rec = attempt(client, make_target(serve(h).url, make_endpoint(limits={"chunks": 40})))
    assert rec.error_class == "response_too_large" and "over 40 events" in (rec.error_detail or "")
    assert len(rec.chunk_times) <= 40


def test_one_sse_line_past_event_bytes_is_too_large(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.start_chunked()
        c.chunk(b'data: {"choices": [{"delta": {"content": "')
        for _ in range(64):
            c.chunk(b"z" * 4096)
        c.hold(2)

    rec = attempt(client, make_target(serve(h).url, make_endpoint(limits={"event_bytes": "64KiB"})))
    assert rec.error_class == "response_too_large" and "one SSE line over 65536" in (rec.error_detail or "")


def test_a_flood_of_text_is_counted_not_kept(serve, client) -> None:
    from harness.client import TEXT_KEEP_CHARS
    from harness.tokens import count_tokens

    word = "lorem ipsum dolor sit amet " * 400  # 10,800 characters a delta

    def h(c: Conn) -> None:
        c.read_request()
        c.start_chunked()
        for ch in openai_stream([word] * 200, usage=False):
            c.chunk(ch)
        c.end_chunked()

    rec = attempt(client, make_target(serve(h).url, make_endpoint(total=20)))
    assert rec.outcome == "ok" and len(rec.chunk_times) == 200
    kept = (TEXT_KEEP_CHARS // len(word)) * word
    expected = count_tokens(kept) * (200 * len(word)) / len(kept)  # extrapolated past the text kept
    assert rec.estimated_output_tokens == pytest.approx(expected, rel=1e-6)


def test_too_many_header_fields_is_too_large(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.respond(200, b"", {f"x-h{i}": "v" for i in range(40)}, ctype="text/event-stream")

    rec = attempt(client, make_target(serve(h).url, make_endpoint(limits={"headers": 20})))
    assert rec.error_class == "response_too_large" and "20 fields" in (rec.error_detail or "")


def test_a_head_past_h11s_buffer_is_too_large(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.send(b"HTTP/1.1 200 OK\r\nx-pad: " + b"p" * 200_000 + b"\r\n\r\n")
        c.hold(2)

    rec = attempt(client, make_target(serve(h).url, make_endpoint()))
    assert rec.error_class == "response_too_large", rec.error_detail


def test_vendor_text_fields_are_bounded_after_redaction(serve, client) -> None:
    key = "sk-test-key"

    def h(c: Conn) -> None:
        c.read_request()
        c.start_chunked(200, {"x-request-id": "r" * 250 + key + "r" * 20_000})
        for ch in openai_stream(["Hello"]):
            c.chunk(ch)
        c.end_chunked()

    ep = make_endpoint(limits={"field_chars": 300})
    rec = attempt(client, make_target(serve(h).url, ep, api_key=key))
    assert rec.outcome == "ok"
    rid = rec.vendor_request_id or ""
    assert len(rid) == 300 and rid.endswith("…") and key not in rid and REDACTED in rid


def test_a_head_trickled_byte_by_byte_cannot_extend_the_deadline(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        for byte in b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n":
            c.send(bytes([byte]))
            time.sleep(0.05)

    t0 = time.monotonic()
    rec = attempt(client, make_target(serve(h).url, make_endpoint(ttft=0.5, total=1.0)))
    assert rec.error_class == "read_timeout" and "no first token within 0.5 s" in (rec.error_detail or "")
    assert time.monotonic() - t0 < 1.0  # a read timeout restarted per byte would wait ~2.6 s


def test_endless_interim_responses_end_at_the_deadline(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        for _ in range(200):
            c.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            time.sleep(0.02)

    t0 = time.monotonic()
    rec = attempt(client, make_target(serve(h).url, make_endpoint(ttft=0.5)))
    assert rec.error_class == "read_timeout" and time.monotonic() - t0 < 1.5


def test_a_stop_during_the_backoff_records_the_retry_as_not_sent(serve, client) -> None:
    def h(c: Conn) -> None:
        while c.read_request():
            c.respond(503, json.dumps({"error": {"message": "busy"}}).encode())

    target = make_target(serve(h).url, make_endpoint(name="a"))
    contender = Contender.model_validate({"name": "c", "primary": "a", "retries": 2, "backoff_base": 0.05})

    def sleep(_s: float) -> None:
        raise RunEnded("the run was stopped")

    records: list[RequestRecord] = []
    router = Router(contender, {"a": target}, client, clock=clock, run_id="r", sleep=sleep)
    final = router.route("c-000001", PROMPT, t_intended=clock(), seq=1, emit=records.append)
    assert [(r.attempt, r.error_class, r.is_final_attempt) for r in records] == [
        (1, "overloaded", False),
        (2, "not_sent", True),
    ]
    assert final is records[-1] and final.t_dispatch == final.t_end
    assert "the run was stopped" in (final.error_detail or "")


@pytest.mark.parametrize("cls", ["run_ended", "not_sent"])
def test_run_classes_are_never_retried_nor_cool_an_endpoint(cls: str) -> None:
    from harness.client._router import _NEVER_REROUTE, _NO_COOLDOWN_CLASSES

    assert cls in _NEVER_REROUTE and cls in _NO_COOLDOWN_CLASSES
