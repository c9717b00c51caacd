"""Prompt caching on the client path: breakpoints on the wire, cache usage recorded and priced.

The request bodies are captured at a loopback server; costs are worked out by hand from the price table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from client_loopback import Conn, clock, make_target

from harness.client import Target, run_attempt
from harness.config import Endpoint, Price, PromptItem
from harness.record import RequestRecord
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, serve_in_thread
from harness.tokens import count_tokens

SYSTEM = (
    "You are a careful literary assistant.\n\n"
    + (Path(__file__).parents[3] / "prompts" / "corpus" / "coriolanus-act1.txt").read_text()
)
PROMPT = PromptItem.model_validate(
    {
        "id": "p1",
        "system": SYSTEM,
        "messages": [
            {"role": "user", "content": "Who speaks first?"},
            {"role": "assistant", "content": "The First Citizen."},
            {"role": "user", "content": "And then?"},
        ],
        "max_tokens": 20,
    }
)
# Anthropic's list prices for a Sonnet-class model, USD per million tokens: reads 0.1x, 5-minute
# writes 1.25x and 1-hour writes 2x the input price.
PRICE = Price(
    input_per_mtok=3.0,
    cached_input_per_mtok=0.30,
    cache_write_per_mtok=3.75,
    cache_write_1h_per_mtok=6.0,
    output_per_mtok=15.0,
)


def _endpoint(dialect: str, cache: dict[str, str] | None, *, stream: bool = False) -> Endpoint:
    spec: dict[str, object] = {
        "name": "ep",
        "dialect": dialect,
        "model": "m-1",
        "base_url": "http://placeholder",
        "stream": stream,
        "timeouts": {"connect": 2.0, "ttft": 5.0, "idle": 5.0, "total": 10.0},
    }
    if cache is not None:
        spec["cache"] = cache
    return Endpoint.model_validate(spec)


def _attempt(client, target: Target, prompt: PromptItem = PROMPT) -> RequestRecord:
    rec = run_attempt(
        client,
        target,
        prompt,
        clock=clock,
        run_id="r",
        request_id="c-1",
        attempt=1,
        contender="c",
        t_intended=clock(),
        seq=1,
    )
    assert rec.error_class is None, rec.error_detail
    return rec


ANTHROPIC_BODY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m-1",
    "content": [{"type": "text", "text": "Hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "cache_read_input_tokens": 3000,
        "cache_creation_input_tokens": 900,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 800},
        "output_tokens": 40,
    },
}


def _capturing(bodies: list[dict], answer: dict):
    def h(c: Conn) -> None:
        while c.read_request():
            bodies.append(json.loads(c.body))
            c.respond(200, json.dumps(answer).encode())

    return h


def test_anthropic_breakpoints_on_the_wire_and_cost_by_hand(serve, client) -> None:
    bodies: list[dict] = []
    srv = serve(_capturing(bodies, ANTHROPIC_BODY))
    ep = _endpoint("anthropic-messages", {"breakpoints": "system+history", "ttl": "1h"})
    rec = _attempt(client, make_target(srv.url, ep, price=PRICE))
    body = bodies[0]
    mark = {"type": "ephemeral", "ttl": "1h"}
    assert body["system"] == [{"type": "text", "text": SYSTEM, "cache_control": mark}]
    assert body["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "And then?", "cache_control": mark}],
    }
    assert body["messages"][0] == {"role": "user", "content": "Who speaks first?"}  # earlier turns unmarked
    # recorded in the one convention: input counts every prompt token (12 + 3000 + 900)
    assert (rec.input_tokens, rec.cached_input_tokens, rec.cache_write_tokens) == (3912, 3000, 900)
    assert rec.cache_write_1h_tokens == 800
    # 12 x 3.00 + 3000 x 0.30 + 100 x 3.75 + 800 x 6.00 + 40 x 15.00
    #   = 36 + 900 + 375 + 4800 + 600 = 6711 µ$
    assert rec.cost_usd == pytest.approx(0.006711)


def test_system_only_five_minutes_and_no_cache_option(serve, client) -> None:
    bodies: list[dict] = []
    srv = serve(_capturing(bodies, ANTHROPIC_BODY))
    _attempt(client, make_target(srv.url, _endpoint("anthropic-messages", {"breakpoints": "system"})))
    _attempt(client, make_target(srv.url, _endpoint("anthropic-messages", None)))
    _attempt(client, make_target(srv.url, _endpoint("anthropic-messages", {"breakpoints": "none"})))
    marked, plain, none = bodies
    assert marked["system"] == [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    assert marked["messages"][-1] == {"role": "user", "content": "And then?"}
    assert plain["system"] == none["system"] == SYSTEM
    assert "cache_control" not in json.dumps(plain) + json.dumps(none)


def test_openai_style_endpoints_send_no_breakpoints(serve, client) -> None:
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 4000,
            "completion_tokens": 10,
            "total_tokens": 4010,
            "prompt_tokens_details": {"cached_tokens": 3840},
        },
    }
    bodies: list[dict] = []
    srv = serve(_capturing(bodies, answer))
    ep = _endpoint("openai-chat", {"breakpoints": "system+history", "ttl": "1h"})
    price = Price(input_per_mtok=2.5, cached_input_per_mtok=1.25, output_per_mtok=10.0)
    rec = _attempt(client, make_target(srv.url, ep, price=price))
    assert "cache_control" not in json.dumps(bodies[0])
    assert rec.cached_input_tokens == 3840 and rec.cache_write_tokens is None
    # (4000 - 3840) x 2.50 + 3840 x 1.25 + 10 x 10.00 = 400 + 4800 + 100 = 5300 µ$
    assert rec.cost_usd == pytest.approx(0.0053)


@pytest.mark.parametrize("stream", [False, True])
def test_against_the_simulator_first_writes_then_reads(client, stream: bool) -> None:
    sys_prefix = count_tokens(SYSTEM) + 3  # the cached prefix: the system prompt and its framing
    history = sum(count_tokens(m.content) + 3 for m in PROMPT.messages)
    prompt_tokens = sys_prefix + history + 3
    behaviour = SimBehaviour(ttft_ms=10, ttft_jitter_ms=0, tokens_per_s=4000, output_tokens_default=8)
    cfg = SimConfig(
        endpoints=[SimEndpoint(name="an", dialect="anthropic-messages", model="m-1", behaviour=behaviour)]
    )
    with serve_in_thread(cfg) as sim:
        ep = _endpoint("anthropic-messages", {"breakpoints": "system"}, stream=stream)
        target = Target(endpoint=ep, base_url=sim.base_urls["an"], connect_to=None, api_key="k", price=PRICE)
        first = _attempt(client, target)
        second = _attempt(client, target)
    assert (first.input_tokens, first.cached_input_tokens, first.cache_write_tokens) == (
        prompt_tokens,
        0,
        sys_prefix,
    )
    assert first.cache_write_1h_tokens == 0
    assert (second.input_tokens, second.cached_input_tokens, second.cache_write_tokens) == (
        prompt_tokens,
        sys_prefix,
        0,
    )
    out = second.output_tokens
    assert out is not None and out == first.output_tokens
    uncached = prompt_tokens - sys_prefix
    assert first.cost_usd == pytest.approx((uncached * 3.0 + sys_prefix * 3.75 + out * 15.0) / 1e6)
    assert second.cost_usd == pytest.approx((uncached * 3.0 + sys_prefix * 0.30 + out * 15.0) / 1e6)
