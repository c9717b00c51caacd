"""run_attempt against scripted loopback servers: timing, usage, cost, checks, every error class."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import pytest
from client_loopback import (
    PROMPT,
    Conn,
    clock,
    make_endpoint,
    make_target,
    openai_chunk,
    openai_stream,
)

from harness.client import run_attempt
from harness.record import ERROR_CLASSES


def attempt(client, target, prompt=PROMPT, **kw):
    rec = run_attempt(
        client,
        target,
        prompt,
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
    assert rec.error_class is None or rec.error_class in ERROR_CLASSES
    return rec


def stream_handler(chunks, *, gap=0.0, headers=None, end=True):
    def h(c: Conn) -> None:
        while c.read_request():
            c.start_chunked(
                200,
                {
                    "x-request-id": "req_abc",
                    "x-ratelimit-remaining-requests": "99",
                    "x-ratelimit-remaining-tokens": "5000",
                    **(headers or {}),
                },
            )
            for ch in chunks:
                c.chunk(ch)
                if gap:
                    time.sleep(gap)
            if not end:
                return
            c.end_chunked()

    return h


def test_openai_stream_ok_fills_the_record(serve, client) -> None:
    srv = serve(stream_handler(openai_stream(["Hello", " there", "!"]), gap=0.02))
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.outcome == "ok" and rec.error_class is None and rec.status == 200
    assert rec.t_intended <= rec.t_dispatch < rec.t_headers <= rec.t_first_token == rec.t_first_output
    assert rec.t_first_token < rec.t_last_token <= rec.t_end
    assert len(rec.chunk_times) == 3 and rec.chunk_times == sorted(rec.chunk_times)
    assert rec.chunk_times[-1] - rec.chunk_times[0] >= 0.035
    assert rec.usage_source == "reported" and (rec.input_tokens, rec.output_tokens) == (9, 3)
    assert rec.estimated_output_tokens == 3
    assert rec.cost_usd == pytest.approx((9 * 1.0 + 3 * 2.0) / 1e6)
    assert rec.check_passed is True and rec.output_excerpt == "Hello there!"
    assert rec.finish_reason == "stop" and rec.model_served == "m-1-served"
    assert rec.vendor_request_id == "req_abc"
    assert (rec.ratelimit_remaining_requests, rec.ratelimit_remaining_tokens) == (99, 5000)
    assert not rec.max_tokens_exceeded


def test_request_is_streaming_with_usage_and_auth(serve, client) -> None:
    seen = {}

    def h(c: Conn) -> None:
        c.read_request()
        seen["body"] = json.loads(c.body)
        seen["auth"] = c.header("authorization")
        seen["enc"] = c.header("accept-encoding")
        c.start_chunked()
        for ch in openai_stream(["Hello"]):
            c.chunk(ch)
        c.end_chunked()

    srv = serve(h)
    attempt(client, make_target(srv.url, make_endpoint()))
    assert seen["body"]["stream"] is True and seen["body"]["stream_options"] == {"include_usage": True}
    assert seen["auth"] == "Bearer sk-test-key" and seen["enc"] == "identity"


def test_connection_is_reused_across_attempts(serve, client) -> None:
    srv = serve(stream_handler(openai_stream(["Hello"])))
    target = make_target(srv.url, make_endpoint())
    for _ in range(3):
        assert attempt(client, target).outcome == "ok"
    assert srv.connections == 1


def test_no_usage_means_estimated_tokens(serve, client) -> None:
    srv = serve(stream_handler(openai_stream(["Hello", " world", " again"], usage=False)))
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.outcome == "ok" and rec.usage_source == "estimated"
    assert rec.output_tokens == rec.estimated_output_tokens == 3
    assert rec.input_tokens is not None and rec.input_tokens > 2
    assert rec.cost_usd > 0


def test_answer_longer_than_max_tokens_is_flagged(serve, client) -> None:
    chunks = openai_stream(["x"] * 3)
    chunks[-2] = openai_chunk(
        usage={"prompt_tokens": 5, "completion_tokens": 25, "total_tokens": 30}, choices=False
    )
    srv = serve(stream_handler(chunks))
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.output_tokens == 25 and rec.max_tokens == 20 and rec.max_tokens_exceeded


def test_anthropic_stream_ok(serve, client) -> None:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "model": "claude-x",
                    "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": 1},
                },
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"},
            },
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        ),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    chunks = [f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events]
    srv = serve(stream_handler(chunks, gap=0.01, headers={"request-id": "req_ant", "x-request-id": ""}))
    ep = make_endpoint("anthropic-messages")
    from harness.config import Price

    price = Price(input_per_mtok=3.0, cached_input_per_mtok=0.3, output_per_mtok=15.0)
    rec = attempt(client, make_target(srv.url, ep, price=price))
    assert rec.outcome == "ok" and rec.model_served == "claude-x" and rec.finish_reason == "end_turn"
    assert rec.t_first_token < rec.t_first_output  # reasoning came first
    assert (rec.input_tokens, rec.cached_input_tokens, rec.output_tokens) == (110, 100, 7)
    assert rec.cost_usd == pytest.approx((10 * 3.0 + 100 * 0.3 + 7 * 15.0) / 1e6)
    assert rec.vendor_request_id == "req_ant" and rec.check_passed is True


def test_nonstream_endpoint(serve, client) -> None:
    body = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 1,
        "model": "m-1-0613",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }
    seen = {}

    def h(c: Conn) -> None:
        c.read_request()
        seen["body"] = json.loads(c.body)
        c.respond(200, json.dumps(body).encode())

    srv = serve(h)
    rec = attempt(client, make_target(srv.url, make_endpoint(stream=False)))
    assert "stream" not in seen["body"]
    assert rec.outcome == "ok" and rec.t_first_token == rec.t_last_token and rec.output_tokens == 2


# --- every error class, provoked for real ------------------------------------------------------------


def test_connect_refused(client) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rec = attempt(client, make_target(f"http://127.0.0.1:{port}", make_endpoint()))
    assert rec.error_class == "connect_refused" and rec.status is None and rec.usage_source == "none"
    assert rec.cost_usd == 0.0


def test_connect_timeout(client) -> None:
    # A listener whose accept queue is full drops new SYNs: the connect hangs until our timeout.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            f = socket.socket()
            f.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                f.connect(("127.0.0.1", port))
            fillers.append(f)
        time.sleep(0.05)
        t = time.perf_counter()
        rec = attempt(client, make_target(f"http://127.0.0.1:{port}", make_endpoint(connect=0.3)))
        assert rec.error_class == "connect_timeout", rec.error_detail
        assert 0.25 < time.perf_counter() - t < 2.0
    finally:
        for f in fillers:
            f.close()
        lsock.close()


def test_ttft_timeout_after_headers(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.start_chunked()
        c.chunk(openai_chunk(""))  # role chunk: not a token
        c.hold()

    srv = serve(h)
    t = time.perf_counter()
    rec = attempt(client, make_target(srv.url, make_endpoint(ttft=0.3)))
    assert rec.error_class == "read_timeout" and "first token" in rec.error_detail
    assert rec.t_headers is not None and rec.t_first_token is None
    assert 0.25 < time.perf_counter() - t < 2.0


def test_ttft_timeout_before_headers(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.hold()

    srv = serve(h)
    rec = attempt(client, make_target(srv.url, make_endpoint(ttft=0.3)))
    assert rec.error_class == "read_timeout" and rec.t_headers is None and rec.status is None


def test_idle_timeout_between_chunks(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.start_chunked()
        c.chunk(openai_chunk("Hello"))
        c.hold()

    srv = serve(h)
    rec = attempt(client, make_target(srv.url, make_endpoint(ttft=2.0, idle=0.3)))
    assert rec.error_class == "read_timeout" and "idle" in rec.error_detail
    assert 0.28 <= rec.t_end - rec.t_first_token < 0.6
    assert rec.usage_source == "estimated" and rec.output_tokens == 1 and rec.cost_usd > 0  # wasted spend
    assert rec.check_passed is None and rec.output_excerpt == "Hello"


def test_total_timeout_with_steady_trickle(serve, client) -> None:
    srv = serve(stream_handler([openai_chunk("x")] * 40, gap=0.05))
    rec = attempt(client, make_target(srv.url, make_endpoint(idle=1.0, total=0.5)))
    assert rec.error_class == "read_timeout" and "total" in rec.error_detail
    assert 0.48 <= rec.t_end - rec.t_dispatch < 0.8


def test_logical_deadline_caps_the_attempt(serve, client) -> None:
    srv = serve(stream_handler([openai_chunk("x")] * 40, gap=0.05))
    rec = attempt(client, make_target(srv.url, make_endpoint()), deadline_at=clock() + 0.3)
    assert rec.error_class == "read_timeout" and "deadline" in rec.error_detail
    late = attempt(client, make_target(srv.url, make_endpoint()), deadline_at=clock() - 1)
    assert late.error_class == "deadline_exceeded" and late.status is None


def test_conn_reset(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.reset()

    srv = serve(h)
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.error_class == "conn_reset", rec.error_detail


def test_conn_reset_mid_stream(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.start_chunked()
        c.chunk(openai_chunk("Hello"))
        time.sleep(0.05)
        c.reset()

    srv = serve(h)
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.error_class == "conn_reset" and rec.t_first_token is not None


def test_conn_closed_early(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.sock.shutdown(socket.SHUT_RDWR)

    srv = serve(h)
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.error_class == "conn_closed_early", rec.error_detail


def test_stream_truncated_clean_end_without_done(serve, client) -> None:
    srv = serve(stream_handler([openai_chunk("Hello"), openai_chunk(" you")]))
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.error_class == "stream_truncated" and rec.output_excerpt == "Hello you"


def test_stream_truncated_by_fin_mid_body(serve, client) -> None:
    srv = serve(stream_handler([openai_chunk("Hello")], end=False))
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.error_class == "stream_truncated", rec.error_detail


@pytest.mark.parametrize(
    ("dialect", "status", "headers", "body", "error_class", "retry_after"),
    [
        (
            "openai-chat",
            429,
            {"retry-after": "3"},
            {"error": {"message": "slow down", "type": "requests"}},
            "http_429",
            3.0,
        ),
        (
            "openai-chat",
            429,
            {"retry-after-ms": "250"},
            {"error": "queue full", "error_type": "overloaded"},
            "http_429",
            0.25,
        ),
        ("openai-chat", 500, {}, {"error": {"message": "boom", "type": "server_error"}}, "http_5xx", None),
        ("azure-openai", 503, {}, {"error": {"code": "503", "message": "busy"}}, "overloaded", None),
        (
            "anthropic-messages",
            529,
            {},
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "overloaded",
            None,
        ),
        (
            "openai-chat",
            404,
            {},
            {"object": "error", "message": "no model", "type": "NotFoundError", "code": 404},
            "http_4xx",
            None,
        ),
    ],
)
def test_http_error_statuses(serve, client, dialect, status, headers, body, error_class, retry_after) -> None:
    def h(c: Conn) -> None:
        while c.read_request():
            c.respond(status, json.dumps(body).encode(), headers)

    srv = serve(h)
    rec = attempt(client, make_target(srv.url, make_endpoint(dialect)))
    assert rec.status == status and rec.error_class == error_class
    assert rec.retry_after_s == retry_after
    assert rec.cost_usd == 0.0 and rec.usage_source == "none"


def test_malformed_json_chunk(serve, client) -> None:
    srv = serve(stream_handler([openai_chunk("Hi"), b'data: {"choices": [\n\n', *openai_stream([])]))
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.error_class == "malformed_response" and "invalid JSON" in rec.error_detail


def test_in_stream_error_event(serve, client) -> None:
    err = b'data: {"error": {"message": "model crashed", "type": "server_error"}}\n\n'
    srv = serve(stream_handler([openai_chunk("Hi"), err]))
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.error_class == "stream_error_event" and "model crashed" in rec.error_detail


def test_anthropic_in_stream_error_event(serve, client) -> None:
    err = (
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Busy"}}\n\n'
    )
    srv = serve(stream_handler([err]))
    rec = attempt(client, make_target(srv.url, make_endpoint("anthropic-messages")))
    assert rec.error_class == "stream_error_event" and "overloaded_error" in rec.error_detail


def test_api_key_is_redacted_from_error_detail(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        key = c.header("authorization").split()[-1]
        c.respond(401, json.dumps({"error": {"message": f"Incorrect API key provided: {key}"}}).encode())

    srv = serve(h)
    rec = attempt(client, make_target(srv.url, make_endpoint(), api_key="sk-very-secret-123"))
    assert rec.error_class == "http_4xx"
    assert "sk-very-secret-123" not in json.dumps(rec.to_dict()) and "[redacted]" in rec.error_detail


def test_threads_keep_their_connections_across_pool_shards(serve) -> None:
    import threading

    from harness.client import make_http_client

    srv = serve(stream_handler(openai_stream(["Hello"])))
    target = make_target(srv.url, make_endpoint())
    c = make_http_client(max_connections=256)  # several pool shards
    results = []

    def user() -> None:
        for _ in range(3):
            results.append(attempt(c, target).outcome)

    threads = [threading.Thread(target=user) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    c.close()
    assert results == ["ok"] * 24
    assert srv.connections == 8  # one keep-alive connection per thread, reused 3 times


def test_html_instead_of_an_event_stream_is_malformed(serve, client) -> None:
    def h(c: Conn) -> None:
        c.read_request()
        c.respond(200, b"<html><body>Please log in</body></html>", ctype="text/html")

    srv = serve(h)
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.error_class == "malformed_response" and "not an event stream" in rec.error_detail


def test_empty_200_stream_is_truncated(serve, client) -> None:
    srv = serve(stream_handler([]))
    rec = attempt(client, make_target(srv.url, make_endpoint()))
    assert rec.error_class == "stream_truncated"
