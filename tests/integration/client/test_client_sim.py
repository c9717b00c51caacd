"""Every dialect against the simulator, checked against its ground-truth log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from client_loopback import PROMPT

from harness.client import HttpFaultLayer, Target, run_attempt
from harness.config import Endpoint, FaultSpec, Price
from harness.record import RequestRecord
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, read_ground_truth, serve_in_thread

FAST = SimBehaviour(ttft_ms=40, ttft_jitter_ms=0, tokens_per_s=400, output_tokens_default=12)


def endpoint(name: str, dialect: str, *, stream: bool = True) -> Endpoint:
    return Endpoint.model_validate(
        {
            "name": name,
            "dialect": dialect,
            "model": "m-sim",
            "sim": "fast",
            "stream": stream,
            "timeouts": {"connect": 2, "ttft": 3, "idle": 2, "total": 10},
        }
    )


def run(
    client, sim, name: str, dialect: str, *, stream: bool = True, faults=None, seq: int = 1
) -> RequestRecord:
    t = Target(
        endpoint=endpoint(name, dialect, stream=stream),
        base_url=sim.base_urls[name],
        connect_to=None,
        api_key="sk-sim",
        price=Price(input_per_mtok=1, output_per_mtok=4),
    )
    rec = run_attempt(
        client,
        t,
        PROMPT,
        clock=time.monotonic,
        run_id="r",
        request_id=f"c-{seq}",
        attempt=1,
        contender="c",
        t_intended=time.monotonic(),
        seq=seq,
        faults=faults,
    )
    assert rec.error_class != "client_error", rec.error_detail
    return rec


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    gt = tmp_path_factory.mktemp("gt") / "gt.jsonl"
    cfg = SimConfig(
        seed=3,
        endpoints=[
            SimEndpoint(name="oa", dialect="openai-chat", model="m-sim", behaviour=FAST),
            SimEndpoint(name="an", dialect="anthropic-messages", model="m-sim", behaviour=FAST),
            SimEndpoint(name="az", dialect="azure-openai", model="m-sim", behaviour=FAST),
            SimEndpoint(
                name="e529",
                dialect="anthropic-messages",
                model="m-sim",
                behaviour=FAST.model_copy(update={"error_rates": {529: 1.0}, "error_retry_after_ms": 1500}),
            ),
            SimEndpoint(
                name="e429",
                dialect="openai-chat",
                model="m-sim",
                behaviour=FAST.model_copy(update={"error_rates": {429: 1.0}, "error_retry_after_ms": 250}),
            ),
            SimEndpoint(
                name="cut",
                dialect="openai-chat",
                model="m-sim",
                behaviour=FAST.model_copy(update={"midstream_close_rate": 1.0}),
            ),
            SimEndpoint(
                name="rst",
                dialect="openai-chat",
                model="m-sim",
                behaviour=FAST.model_copy(
                    update={"midstream_close_rate": 1.0, "midstream_close_mode": "rst"}
                ),
            ),
            SimEndpoint(
                name="err",
                dialect="anthropic-messages",
                model="m-sim",
                behaviour=FAST.model_copy(update={"midstream_error_rate": 1.0}),
            ),
            SimEndpoint(
                name="oerr",
                dialect="openai-chat",
                model="m-sim",
                behaviour=FAST.model_copy(update={"midstream_error_rate": 1.0}),
            ),
        ],
    )
    with serve_in_thread(cfg, ground_truth=gt) as s:
        s.gt_path = gt
        yield s


def ground_truth(sim, rid: str):
    for _ in range(50):
        by_id = {g.request_id: g for g in read_ground_truth(sim.gt_path)}
        if rid in by_id:
            return by_id[rid]
        time.sleep(0.05)
    raise AssertionError(f"no ground truth for {rid}")


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    ("name", "dialect"), [("oa", "openai-chat"), ("an", "anthropic-messages"), ("az", "azure-openai")]
)
def test_dialect_against_simulator(client, sim, name, dialect, stream) -> None:
    rec = run(client, sim, name, dialect, stream=stream)
    assert rec.outcome == "ok", rec.error_detail
    assert rec.usage_source == "reported" and rec.output_tokens == 12 and rec.input_tokens
    assert rec.model_served and rec.finish_reason and rec.vendor_request_id
    assert rec.cost_usd > 0 and rec.output_excerpt
    g = ground_truth(sim, rec.vendor_request_id)
    assert g.output_tokens == rec.output_tokens and g.prompt_tokens == rec.input_tokens
    if stream:
        assert len(rec.chunk_times) == len(g.chunk_times)
        # measured TTFT vs the simulator's write time of the first chunk: same clock, loopback
        assert -0.001 <= rec.t_first_token - g.t_first_token < 0.1  # the sim stamps after its write
        assert -0.001 <= rec.t_last_token - g.t_last < 0.1
    assert abs(rec.estimated_output_tokens - rec.output_tokens) <= 2  # same tokenizer as the simulator


@pytest.mark.parametrize(
    ("name", "dialect", "error_class", "retry_after"),
    [
        ("e529", "anthropic-messages", "overloaded", 1.5),
        ("e429", "openai-chat", "http_429", 0.25),
        ("cut", "openai-chat", "stream_truncated", None),
        ("rst", "openai-chat", "conn_reset", None),
        ("err", "anthropic-messages", "stream_error_event", None),
        ("oerr", "openai-chat", "stream_error_event", None),
    ],
)
def test_simulator_failures_classify(client, sim, name, dialect, error_class, retry_after) -> None:
    rec = run(client, sim, name, dialect)
    assert rec.error_class == error_class, rec.error_detail
    assert rec.retry_after_s == retry_after


def test_fault_layer_in_front_of_the_simulator(client, sim) -> None:
    layer = HttpFaultLayer(5)
    layer.activate("cut", ["oa"], FaultSpec(kind="stream_cut", after_chunks=3))
    rec = run(client, sim, "oa", "openai-chat", faults=layer)
    assert rec.error_class == "stream_truncated" and len(rec.chunk_times) >= 3 and rec.fault_injected == "cut"


def test_ground_truth_file_exists(sim) -> None:
    assert Path(sim.gt_path).exists()
