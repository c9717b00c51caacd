"""The HTTP/SSE fault layer in the real client path: injected failures classify like the vendor's own."""

from __future__ import annotations

import time

import pytest
from client_loopback import PROMPT, Conn, clock, make_endpoint, make_target, openai_stream

from harness.client import HttpFaultLayer, Router, run_attempt
from harness.config import Contender, FaultSpec


def words_handler(c: Conn) -> None:
    while c.read_request():
        c.start_chunked()
        for ch in openai_stream(["Hello", " one", " two", " three"]):
            c.chunk(ch)
            time.sleep(0.005)
        c.end_chunked()


def attempt(client, target, layer, seq=1, n=1):
    rec = run_attempt(
        client,
        target,
        PROMPT,
        clock=clock,
        run_id="r",
        request_id=f"c-{seq}",
        attempt=n,
        contender="c",
        t_intended=clock(),
        seq=seq,
        faults=layer,
    )
    assert rec.error_class != "client_error", rec.error_detail
    return rec


@pytest.mark.parametrize(
    ("dialect", "status", "error_class"),
    [
        ("openai-chat", 429, "http_429"),
        ("openai-chat", 500, "http_5xx"),
        ("azure-openai", 503, "overloaded"),
        ("anthropic-messages", 529, "overloaded"),
    ],
)
def test_status_injection_never_reaches_the_vendor(serve, client, dialect, status, error_class) -> None:
    srv = serve(words_handler)
    layer = HttpFaultLayer(1)
    layer.activate("f-status", ["ep"], FaultSpec(kind="http_status", status=status, retry_after=1.5))
    rec = attempt(client, make_target(srv.url, make_endpoint(dialect)), layer)
    assert (rec.status, rec.error_class, rec.fault_injected) == (status, error_class, "f-status")
    assert rec.retry_after_s == 1.5 and "injected" in rec.error_detail
    assert rec.t_dispatch <= rec.t_headers <= rec.t_end and rec.cost_usd == 0.0
    assert srv.connections == 0


def test_rate_limit_rpm(serve, client) -> None:
    srv = serve(words_handler)
    layer = HttpFaultLayer(1)
    layer.activate("rl", ["ep"], FaultSpec(kind="rate_limit", rpm=2))
    target = make_target(srv.url, make_endpoint())
    recs = [attempt(client, target, layer, seq=i) for i in range(3)]
    assert [r.error_class for r in recs] == [None, None, "http_429"]
    assert recs[2].retry_after_s == pytest.approx(60.0, abs=1.0) and recs[2].fault_injected == "rl"


def test_stream_cut_after_n_chunks(serve, client) -> None:
    srv = serve(words_handler)
    layer = HttpFaultLayer(1)
    layer.activate("cut", ["ep"], FaultSpec(kind="stream_cut", after_chunks=2))
    rec = attempt(client, make_target(srv.url, make_endpoint()), layer)
    assert rec.error_class == "stream_truncated" and rec.fault_injected == "cut"
    assert rec.output_excerpt == "Hello one" and rec.status == 200
    assert rec.usage_source == "estimated" and rec.cost_usd > 0  # wasted spend of the partial answer


def test_stall_shorter_than_idle_only_delays(serve, client) -> None:
    srv = serve(words_handler)
    layer = HttpFaultLayer(1)
    layer.activate("st", ["ep"], FaultSpec(kind="stall", stall_for=0.25))
    rec = attempt(client, make_target(srv.url, make_endpoint(idle=1.0)), layer)
    assert rec.outcome == "ok" and rec.fault_injected == "st" and rec.output_excerpt == "Hello one two three"
    gaps = [b - a for a, b in zip(rec.chunk_times, rec.chunk_times[1:], strict=False)]
    assert max(gaps) >= 0.24


def test_stall_longer_than_idle_times_out(serve, client) -> None:
    srv = serve(words_handler)
    layer = HttpFaultLayer(1)
    layer.activate("st", ["ep"], FaultSpec(kind="stall", stall_for=5, after_chunks=1))
    rec = attempt(client, make_target(srv.url, make_endpoint(idle=0.3)), layer)
    assert rec.error_class == "read_timeout" and "idle" in rec.error_detail and "stall" in rec.error_detail
    assert 0.28 <= rec.t_end - rec.t_first_token < 0.6


def test_malformed_chunk(serve, client) -> None:
    srv = serve(words_handler)
    layer = HttpFaultLayer(1)
    layer.activate("mc", ["ep", "other"], FaultSpec(kind="malformed_chunk", after_chunks=1))
    rec = attempt(client, make_target(srv.url, make_endpoint("anthropic-messages")), layer)
    assert rec.error_class == "malformed_response" and rec.fault_injected == "mc"


def test_probability_zero_and_deactivated_faults_do_nothing(serve, client) -> None:
    srv = serve(words_handler)
    layer = HttpFaultLayer(1)
    layer.activate("p0", ["ep"], FaultSpec(kind="http_status", status=500, probability=0.0))
    target = make_target(srv.url, make_endpoint())
    assert attempt(client, target, layer).outcome == "ok"
    layer.activate("p1", ["ep"], FaultSpec(kind="http_status", status=500))
    layer.deactivate("p1")
    rec = attempt(client, target, layer)
    assert rec.outcome == "ok" and rec.fault_injected is None


def test_router_retries_an_injected_429_and_recovers(serve, client) -> None:
    srv = serve(words_handler)
    layer = HttpFaultLayer(3)
    # p=0.5 per attempt: find a schedule position whose first attempt is hit and second is not
    layer.activate("f", ["ep"], FaultSpec(kind="http_status", status=429, retry_after=0.05, probability=0.5))
    seq = next(
        i
        for i in range(200)
        if layer.decide("ep", seq=i, attempt=1, now=0) is not None
        and layer.decide("ep", seq=i, attempt=2, now=0) is None
    )
    target = make_target(srv.url, make_endpoint())
    records = []
    router = Router(
        Contender(name="c", primary="ep", retries=2),
        {"ep": target},
        client,
        clock=clock,
        run_id="r",
        faults=layer,
    )
    final = router.route(f"c-{seq}", PROMPT, t_intended=clock(), seq=seq, emit=records.append)
    assert [(r.error_class, r.fault_injected) for r in records] == [("http_429", "f"), (None, None)]
    assert final.outcome == "ok" and records[1].t_dispatch - records[0].t_end >= 0.05


def test_cut_before_first_chunk(serve, client) -> None:
    srv = serve(words_handler)
    layer = HttpFaultLayer(1)
    layer.activate("cut0", ["ep"], FaultSpec(kind="stream_cut", after_chunks=0))
    rec = attempt(client, make_target(srv.url, make_endpoint()), layer)
    assert rec.error_class == "stream_truncated" and rec.t_first_token is None and rec.status == 200


@pytest.mark.parametrize(
    ("spec", "error_class"),
    [
        (FaultSpec(kind="malformed_chunk", after_chunks=0), "malformed_response"),
        (FaultSpec(kind="stall", after_chunks=0, stall_for=5), "read_timeout"),
    ],
)
def test_faults_before_the_first_chunk(serve, client, spec, error_class) -> None:
    srv = serve(words_handler)
    layer = HttpFaultLayer(1)
    layer.activate("f0", ["ep"], spec)
    rec = attempt(client, make_target(srv.url, make_endpoint(ttft=0.3)), layer)
    assert rec.error_class == error_class and rec.t_first_token is None and rec.chunk_times == []
    if error_class == "read_timeout":
        assert "first token" in rec.error_detail and rec.t_end - rec.t_dispatch == pytest.approx(
            0.3, abs=0.08
        )
