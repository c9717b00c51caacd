"""Every probe against a simulated Gemini endpoint: what Gemini implements passes; the two headers
Gemini never sends (request id, rate limits) fail, as they would against the real API."""

from __future__ import annotations

import pytest

from harness.client import Target, make_http_client
from harness.config import Endpoint, Price
from harness.probes import ProbeOptions, run_probes
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, serve_in_thread

KEY = "sim-good-key-123"
FAST = SimBehaviour(ttft_ms=5, ttft_jitter_ms=0, tokens_per_s=4000, max_context_tokens=50_000)


@pytest.fixture(scope="module")
def sim():
    ep = SimEndpoint(name="gm", dialect="gemini", model="gemini-sim", api_key=KEY, behaviour=FAST)
    with serve_in_thread(SimConfig(seed=3, endpoints=[ep])) as s:
        yield s


@pytest.mark.parametrize("stream", [True, False])
def test_gemini_sim_probes(sim, stream: bool) -> None:
    ep = Endpoint(name="gm", dialect="gemini", model="gemini-sim", sim="fast", stream=stream)
    target = Target(ep, sim.base_urls["gm"], None, KEY, Price())
    client = make_http_client(max_connections=4)
    try:
        opts = ProbeOptions(overlong_tokens=60_000, timeout_s=10, answer_timeout_s=10)
        results = run_probes({"gm": target}, client, run_id="r", options=opts)
    finally:
        client.close()
    by = {r.probe: r for r in results}
    assert by["tls"].passed is None
    failed = {p: r.observed for p, r in by.items() if r.passed is False}
    assert set(failed) == {"request_id", "ratelimit_headers"}, failed
    assert by["bad_key"].status == 400 and "API_KEY_INVALID" in by["bad_key"].observed
    assert by["unknown_model"].status == 404 and by["malformed_json"].status == 400
    assert by["invalid_params"].status == 400 and by["overlong_context"].status == 400
    if stream:
        assert "finishReason" in by["stream_terminal"].observed
    else:
        assert by["stream_terminal"].passed is None
