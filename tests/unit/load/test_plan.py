"""The RunPlan a worker receives: only the prompt lines its share names, never a key."""

from __future__ import annotations

import json

import msgpack
import pytest

from harness.config import PromptItem, PromptSet, Scenario
from harness.load import RunPlan, ScheduledRequest, api_keys_from_env

KEY = "sk-plan-canary-0123456789"
SCENARIO = Scenario.model_validate(
    {
        "name": "p",
        "prompts": "p.jsonl",
        "endpoints": [
            {
                "name": "e",
                "dialect": "openai-chat",
                "model": "m",
                "base_url": "https://api.example/v1",
                "api_key_env": "VENDOR_KEY",
            }
        ],
        "contenders": [{"name": "c", "primary": "e"}],
        "load": {"model": "open", "rate": "2/s", "duration": "5s"},
    }
)
PROMPTS = PromptSet.from_items(
    PromptItem.model_validate({"id": f"p{i}", "messages": [{"role": "user", "content": f"q{i}"}]})
    for i in range(100)
)


def _plan() -> RunPlan:
    schedule = [ScheduledRequest(seq, seq * 0.5, (seq * 37) % 100) for seq in range(10)]
    return RunPlan(
        run_id="r",
        scenario=SCENARIO,
        prompts=PROMPTS,
        prices={"e": SCENARIO.endpoints[0].price},
        base_urls={"e": "https://api.example/v1"},
        connect_to={"e": ("127.0.0.1", 9)},
        schedule=schedule,
    )


def test_a_share_ships_only_the_prompts_it_names_and_round_trips() -> None:
    share = _plan().share(1, 2)
    message = share.to_message()
    wire = msgpack.packb(message, use_bin_type=True)  # Locust's message channel
    back = RunPlan.from_message(msgpack.unpackb(wire, raw=False))
    named = sorted({r.prompt_index for r in share.schedule})
    assert [i for i, _line in message["prompts"]["lines"]] == named
    assert len(back.prompts) == 100
    for r in back.schedule:
        assert back.prompts[r.prompt_index] == PROMPTS[r.prompt_index]


def test_no_key_crosses_to_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENDOR_KEY", KEY)
    assert api_keys_from_env(SCENARIO) == {"e": KEY}  # this process holds the key ...
    message = json.dumps(_plan().to_message())  # ... and the plan it sends does not
    assert "VENDOR_KEY" in message  # the variable's name, read by each worker from its own environment
    assert KEY not in message
