"""Reasoning through the client path: an endpoint's ``reasoning`` reaches the vendor in each dialect's own
fields (captured at a loopback server), and on the simulator the first output token comes after the first
token of any kind by about the thinking time, with the reasoning tokens recorded and priced as output."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from client_loopback import PROMPT, make_target

from harness.client import Target, run_attempt
from harness.config import Endpoint, Price, PromptItem
from harness.record import RequestRecord
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, serve_in_thread
from harness.tokens import count_tokens

KEY = "rs-sim-key"


def _endpoint(dialect: str, reasoning: dict[str, Any] | None, *, stream: bool = True) -> Endpoint:
    return Endpoint.model_validate(
        {
            "name": "ep",
            "dialect": dialect,
            "model": "m-1",
            "base_url": "http://placeholder",
            "api_version": "2024-10-21",
            "stream": stream,
            "reasoning": reasoning,
            "timeouts": {"connect": 2, "ttft": 5, "idle": 5, "total": 10},
        }
    )


def _attempt(client, target: Target, prompt: PromptItem) -> RequestRecord:
    return run_attempt(
        client,
        target,
        prompt,
        clock=time.monotonic,
        run_id="r",
        request_id="q",
        attempt=1,
        contender="c",
        t_intended=time.monotonic(),
        seq=1,
    )


@pytest.mark.parametrize(
    ("dialect", "reasoning", "expected"),
    [
        ("openai-chat", {"effort": "high"}, {"reasoning_effort": "high"}),
        ("azure-openai", {"effort": "low", "budget_tokens": 9000}, {"reasoning_effort": "low"}),
        (
            "anthropic-messages",
            {"budget_tokens": 2048},
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
        ),
        ("anthropic-messages", {"effort": "low"}, {"thinking": {"type": "enabled", "budget_tokens": 2048}}),
        (
            "gemini",
            {"budget_tokens": 0},
            {
                "generationConfig": {
                    "maxOutputTokens": 4000,
                    "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": False},
                }
            },
        ),
        (
            "gemini",
            {"effort": "medium"},
            {
                "generationConfig": {
                    "maxOutputTokens": 4000,
                    "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
                }
            },
        ),
    ],
)
def test_the_request_carries_reasoning_in_the_dialects_own_fields(
    client, serve, dialect: str, reasoning: dict, expected: dict
) -> None:
    bodies: list[dict] = []

    def handler(c) -> None:
        while c.read_request():  # the client may send its next request on this kept-alive connection
            bodies.append(json.loads(c.body))
            c.respond(500, b'{"error": {"message": "captured", "type": "server_error"}}')

    srv = serve(handler)
    prompt = PROMPT.model_copy(update={"max_tokens": 4000, "temperature": 0.3})
    _attempt(client, make_target(srv.url, _endpoint(dialect, reasoning)), prompt)
    (body,) = bodies
    for key, value in expected.items():
        if key == "generationConfig":
            assert {k: body[key][k] for k in value} == value
        else:
            assert body[key] == value
    if dialect == "anthropic-messages":
        assert "temperature" not in body  # Anthropic refuses it with thinking
    # without the option, none of these fields is sent
    bodies.clear()
    _attempt(client, make_target(srv.url, _endpoint(dialect, None)), prompt)
    (plain,) = bodies
    assert not {"reasoning_effort", "thinking"} & set(plain)
    assert "thinkingConfig" not in plain.get("generationConfig", {})


THINK = 120  # tokens of thinking at medium effort
SPEED = 400  # tokens/s, thinking and answer alike: 120 tokens of thinking take 0.3 s
B = SimBehaviour(
    ttft_ms=20,
    ttft_jitter_ms=0,
    tokens_per_s=SPEED,
    token_jitter_frac=0,
    output_tokens_default=20,
    reasoning_tokens=THINK,
)


@pytest.fixture(scope="module")
def sim():
    dialects = {"oa": "openai-chat", "an": "anthropic-messages", "gm": "gemini"}
    cfg = SimConfig(
        seed=5,
        endpoints=[
            SimEndpoint(name=n, dialect=d, model="m-1", api_key=KEY, behaviour=B) for n, d in dialects.items()
        ],
    )
    with serve_in_thread(cfg) as s:
        s.dialects = dialects
        yield s


def _sim_run(
    client, sim, name: str, reasoning: dict | None, price: Price, *, stream: bool = True
) -> RequestRecord:
    ep = _endpoint(sim.dialects[name], reasoning, stream=stream)
    ep = ep.model_copy(update={"sim": "fast", "base_url": None})
    t = Target(ep, sim.base_urls[name], None, KEY, price)
    prompt = PROMPT.model_copy(update={"max_tokens": 4000, "check": None})
    rec = _attempt(client, t, prompt)
    assert (rec.status, rec.error_class) == (200, None), rec.error_detail
    return rec


@pytest.mark.parametrize(
    ("name", "reasoning"),
    [("oa", {"effort": "medium"}), ("an", {"budget_tokens": 1024}), ("gm", {"budget_tokens": 1024})],
)
def test_time_to_first_output_comes_after_the_thinking(client, sim, name: str, reasoning: dict) -> None:
    price = Price(input_per_mtok=1.0, output_per_mtok=10.0)
    rec = _sim_run(client, sim, name, reasoning, price)
    think_s = THINK / SPEED
    ttft = rec.t_first_token - rec.t_dispatch
    ttfot = rec.t_first_output - rec.t_dispatch
    if name == "oa":  # native OpenAI sends no reasoning text: its first token of any kind is the output's
        assert rec.t_first_output == rec.t_first_token
        assert ttft >= think_s
    else:  # the thinking streams first: the output starts about think_s later (generous bound: busy CI)
        assert think_s * 0.9 <= ttfot - ttft <= think_s * 3 + 1.0
    assert rec.reasoning_tokens == THINK  # reported (OpenAI, Gemini) or counted from the thinking text
    assert rec.output_tokens == THINK + count_tokens(rec.output_excerpt or "")
    # reasoning priced as output: hand calculation
    expected = (rec.input_tokens * 1.0 + rec.output_tokens * 10.0) / 1e6
    assert rec.cost_usd == pytest.approx(expected, abs=1e-9)
    apart = _sim_run(client, sim, name, reasoning, price.model_copy(update={"reasoning_per_mtok": 2.0}))
    visible = apart.output_tokens - THINK
    assert apart.cost_usd == pytest.approx(
        (apart.input_tokens * 1.0 + visible * 10.0 + THINK * 2.0) / 1e6, abs=1e-9
    )


def test_no_reasoning_asked_no_thinking(client, sim) -> None:
    rec = _sim_run(client, sim, "an", None, Price())
    assert rec.t_first_output == rec.t_first_token and not rec.reasoning_tokens


@pytest.mark.parametrize("name", ["oa", "an", "gm"])
def test_a_non_streamed_answer_counts_its_reasoning_too(client, sim, name: str) -> None:
    reasoning = {"effort": "medium"} if name == "oa" else {"budget_tokens": 1024}
    rec = _sim_run(client, sim, name, reasoning, Price(output_per_mtok=10.0), stream=False)
    assert rec.reasoning_tokens == THINK
    assert rec.output_tokens == THINK + count_tokens(rec.output_excerpt or "")
    assert rec.t_end - rec.t_dispatch >= THINK / SPEED  # the thinking took its time before the body came
