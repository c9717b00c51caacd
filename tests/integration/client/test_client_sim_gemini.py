"""The ``gemini`` dialect of harness.dialects against the simulated Gemini, over loopback sockets:
answers, refusals and stream failures are measured and classified as for the other dialects, and
what the client measured agrees with the simulator's ground truth."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from client_loopback import PROMPT

from harness.client import Target, run_attempt
from harness.config import Endpoint, Price, PromptItem, load_prompts
from harness.record import RequestRecord
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, read_ground_truth, serve_in_thread

FAST = SimBehaviour(ttft_ms=40, ttft_jitter_ms=0, tokens_per_s=400, output_tokens_default=12)
KEY = "gm-sim-key"
TOOLS, _, _ = load_prompts(Path(__file__).resolve().parents[3] / "prompts" / "tools.jsonl")
FIRST_LEGS = [p for p in TOOLS if not any(m.tool_calls for m in p.messages)]
SECOND_LEGS = [p for p in TOOLS if any(m.tool_calls for m in p.messages)]
TOOL_PROMPT = PromptItem.model_validate(
    {
        "id": "tool",
        "messages": [{"role": "user", "content": "What's the weather in Lisbon?"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            }
        ],
        "max_tokens": 64,
        "check": {"contains": "get_weather"},
    }
)


def _ep(name: str, **behaviour: object) -> SimEndpoint:
    return SimEndpoint(
        name=name,
        dialect="gemini",
        model="gemini-sim",
        api_key=KEY,
        behaviour=FAST.model_copy(update=behaviour),
    )


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    gt = tmp_path_factory.mktemp("gt") / "gt.jsonl"
    cfg = SimConfig(
        seed=3,
        endpoints=[
            _ep("gm"),
            _ep("gm429", error_rates={429: 1.0}, error_retry_after_ms=250),
            _ep("gmrpm", rpm_limit=60, rate_limit_window_s=1),
            _ep("gm503", error_rates={503: 1.0}),
            _ep("gmctx", max_context_tokens=20),
            _ep("gmerr", midstream_error_rate=1.0),
            _ep("gmcut", midstream_close_rate=1.0),
            _ep("gmrst", midstream_close_rate=1.0, midstream_close_mode="rst"),
            SimEndpoint(name="oa", dialect="openai-chat", model="gemini-sim", api_key=KEY, behaviour=FAST),
        ],
    )
    with serve_in_thread(cfg, ground_truth=gt) as s:
        s.gt_path = gt
        yield s


def run(
    client,
    sim,
    name: str,
    *,
    dialect: str = "gemini",
    stream: bool = True,
    key: str = KEY,
    model: str = "gemini-sim",
    prompt: PromptItem = PROMPT,
    seq: int = 1,
) -> RequestRecord:
    ep = Endpoint.model_validate(
        {
            "name": name,
            "dialect": dialect,
            "model": model,
            "sim": "fast",
            "stream": stream,
            "timeouts": {"connect": 2, "ttft": 3, "idle": 2, "total": 10},
        }
    )
    t = Target(ep, sim.base_urls[name], None, key, Price(input_per_mtok=1, output_per_mtok=4))
    rec = run_attempt(
        client,
        t,
        prompt,
        clock=time.monotonic,
        run_id="r",
        request_id=f"g-{seq}",
        attempt=1,
        contender="c",
        t_intended=time.monotonic(),
        seq=seq,
    )
    assert rec.error_class != "client_error", rec.error_detail
    return rec


def ground_truth(sim, rid: str):
    for _ in range(50):
        by_id = {g.request_id: g for g in read_ground_truth(sim.gt_path)}
        if rid in by_id:
            return by_id[rid]
        time.sleep(0.05)
    raise AssertionError(f"no ground truth for {rid}")


def test_base_url_is_the_v1beta_root(sim) -> None:
    assert sim.base_urls["gm"].endswith("/gm/v1beta")


@pytest.mark.parametrize("stream", [True, False])
def test_gemini_answer_is_measured_and_matches_ground_truth(client, sim, stream: bool) -> None:
    rec = run(client, sim, "gm", stream=stream)
    assert rec.outcome == "ok", rec.error_detail
    assert rec.usage_source == "reported" and rec.output_tokens == 12 and rec.input_tokens
    assert rec.model_served == "gemini-sim" and rec.finish_reason == "STOP"
    assert rec.cost_usd > 0 and rec.output_excerpt
    # no request-id header: the id the client keeps is the answer's responseId, the simulator's own id
    assert rec.vendor_request_id and rec.vendor_request_id.startswith("req_")
    g = ground_truth(sim, rec.vendor_request_id)
    assert g.dialect == "gemini" and g.stream is stream and g.outcome == "ok"
    assert g.output_tokens == rec.output_tokens and g.prompt_tokens == rec.input_tokens
    if stream:
        assert len(rec.chunk_times) == len(g.chunk_times) > 1
        assert -0.001 <= rec.t_first_token - g.t_first_token < 0.1
    assert abs(rec.estimated_output_tokens - rec.output_tokens) <= 2


def test_max_tokens_cut_reports_max_tokens(client, sim) -> None:
    short = PROMPT.model_copy(update={"max_tokens": 5})
    rec = run(client, sim, "gm", prompt=short)
    assert rec.outcome == "ok" and rec.finish_reason == "MAX_TOKENS" and rec.output_tokens == 5


def test_wrong_key_is_refused_like_gemini(client, sim) -> None:
    rec = run(client, sim, "gm", key="not-the-key")
    assert rec.outcome == "error" and rec.status == 400 and rec.error_class == "http_4xx"
    assert "INVALID_ARGUMENT" in rec.error_detail and "API key not valid" in rec.error_detail


def test_unknown_model_is_not_found(client, sim) -> None:
    rec = run(client, sim, "gm", model="gemini-nope")
    assert rec.status == 404 and rec.error_class == "http_4xx"
    assert "NOT_FOUND" in rec.error_detail and "models/gemini-nope" in rec.error_detail


@pytest.mark.parametrize("stream", [True, False])
def test_429_retry_delay_comes_from_the_body(client, sim, stream: bool) -> None:
    rec = run(client, sim, "gm429", stream=stream)
    assert rec.status == 429 and rec.error_class == "http_429"
    assert "RESOURCE_EXHAUSTED" in rec.error_detail
    assert rec.retry_after_s == 0.25  # RetryInfo.retryDelay "0.250s": Gemini sends no retry-after header


def test_rate_limit_bucket_429_carries_retry_info(client, sim) -> None:
    recs = [run(client, sim, "gmrpm", seq=i) for i in range(3)]  # a bucket one request deep
    assert recs[0].outcome == "ok"
    refused = [r for r in recs if r.status == 429]
    assert refused and all(r.error_class == "http_429" and r.retry_after_s for r in refused)
    assert all(0 < (r.retry_after_s or 0) <= 1.001 for r in refused)


def test_503_is_overloaded(client, sim) -> None:
    rec = run(client, sim, "gm503")
    assert rec.status == 503 and rec.error_class == "overloaded" and "UNAVAILABLE" in rec.error_detail


def test_context_window_refusal_is_a_400(client, sim) -> None:
    rec = run(client, sim, "gmctx")
    assert rec.status == 400 and rec.error_class == "http_4xx"
    assert (
        "INVALID_ARGUMENT" in rec.error_detail and "maximum number of tokens allowed (20)" in rec.error_detail
    )


@pytest.mark.parametrize(
    ("name", "error_class", "sim_outcome"),
    [
        ("gmerr", "stream_error_event", "error_event"),
        ("gmcut", "stream_truncated", "closed"),
        ("gmrst", "conn_reset", "reset"),
    ],
)
def test_stream_failures_classify(client, sim, name: str, error_class: str, sim_outcome: str) -> None:
    rec = run(client, sim, name)
    assert rec.outcome == "error" and rec.error_class == error_class, rec.error_detail
    if name == "gmerr":
        assert "INTERNAL" in rec.error_detail
    # the failure comes after at least one chunk, whose responseId names the request
    assert rec.vendor_request_id
    assert ground_truth(sim, rec.vendor_request_id).outcome == sim_outcome


def test_non_streamed_midstream_failure_is_a_500(client, sim) -> None:
    rec = run(client, sim, "gmerr", stream=False)
    assert rec.status == 500 and rec.error_class == "http_5xx" and "INTERNAL" in rec.error_detail


@pytest.mark.parametrize("stream", [True, False])
def test_tool_prompt_gets_a_function_call(client, sim, stream: bool) -> None:
    rec = run(client, sim, "gm", prompt=TOOL_PROMPT, stream=stream)
    assert rec.outcome == "ok", rec.error_detail
    assert rec.finish_reason == "STOP" and rec.check_passed is True
    assert rec.output_excerpt.startswith('get_weather{"city": ')
    if stream:
        assert len(rec.chunk_times) == 1  # the whole call in one chunk, as Gemini sends it


@pytest.mark.parametrize("prompt", FIRST_LEGS, ids=[p.id for p in FIRST_LEGS])
def test_tool_prompts_call_the_same_tool_as_openai(client, sim, prompt: PromptItem) -> None:
    oa = run(client, sim, "oa", dialect="openai-chat", prompt=prompt, stream=False)
    for stream in (True, False):
        rec = run(client, sim, "gm", prompt=prompt, stream=stream)
        assert rec.outcome == "ok" and rec.check_passed is oa.check_passed is True, rec.error_detail
        assert rec.output_excerpt == oa.output_excerpt  # same planned call, same answer text


@pytest.mark.parametrize("prompt", SECOND_LEGS, ids=[p.id for p in SECOND_LEGS])
def test_a_second_leg_is_answered_in_text(client, sim, prompt: PromptItem) -> None:
    names = tuple(t.get("name") or t["function"]["name"] for t in prompt.tools or [])
    for stream in (True, False):
        rec = run(client, sim, "gm", prompt=prompt, stream=stream)
        assert rec.outcome == "ok", rec.error_detail
        assert rec.output_excerpt and not rec.output_excerpt.startswith(names)
        assert rec.check_passed is True, rec.output_excerpt
