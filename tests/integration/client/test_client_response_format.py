"""Per-prompt response_format and extra_body reach a vendor over loopback: the simulated OpenAI and
Gemini vendors answer JSON following the schema when, and only when, the request asks for it in their
own form, and every dialect's request with extra fields is accepted."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.client import Target, run_attempt
from harness.config import Endpoint, Price, PromptItem
from harness.record import RequestRecord
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, serve_in_thread

KEY = "rf-sim-key"
FAST = SimBehaviour(ttft_ms=5, ttft_jitter_ms=0, tokens_per_s=2000, output_tokens_default=40)
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
}


def _prompt(**fields: Any) -> PromptItem:
    return PromptItem.model_validate(
        {
            "id": "rf",
            "messages": [
                {"role": "user", "content": "Give the largest city of Portugal and its population."}
            ],
            "max_tokens": 120,
            "check": {"json_schema": SCHEMA},
            **fields,
        }
    )


@pytest.fixture(scope="module")
def sim():
    dialects = {"oa": "openai-chat", "an": "anthropic-messages", "gm": "gemini"}
    cfg = SimConfig(
        seed=5,
        endpoints=[
            SimEndpoint(name=n, dialect=d, model="sim", api_key=KEY, behaviour=FAST)
            for n, d in dialects.items()
        ],
    )
    with serve_in_thread(cfg) as s:
        s.dialects = dialects
        yield s


def _run(client, sim, name: str, prompt: PromptItem, stream: bool) -> RequestRecord:
    ep = Endpoint.model_validate(
        {"name": name, "dialect": sim.dialects[name], "model": "sim", "sim": "fast", "stream": stream}
    )
    t = Target(ep, sim.base_urls[name], None, KEY, Price(input_per_mtok=1, output_per_mtok=4))
    return run_attempt(
        client,
        t,
        prompt,
        clock=time.monotonic,
        run_id="r",
        request_id=f"{name}-{stream}",
        attempt=1,
        contender="c",
        t_intended=time.monotonic(),
        seq=1,
    )


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("name", ["oa", "gm"])
def test_json_schema_output_is_asked_for_in_each_dialects_form(client, sim, name: str, stream: bool) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}
    asked = _run(client, sim, name, _prompt(response_format=fmt), stream)
    assert (asked.status, asked.error_class, asked.check_passed) == (200, None, True)
    plain = _run(client, sim, name, _prompt(), stream)
    assert (plain.status, plain.check_passed) == (200, False)  # the same prompt without it: prose


@pytest.mark.parametrize("name", ["oa", "an", "gm"])
def test_requests_with_extra_fields_are_accepted(client, sim, name: str) -> None:
    extra = {"oa": {"top_p": 0.9}, "an": {"top_k": 5}, "gm": {"generationConfig": {"topK": 5}}}[name]
    rec = _run(client, sim, name, _prompt(response_format={"type": "json_object"}, extra_body=extra), True)
    assert (rec.status, rec.error_class) == (200, None)
