"""Probes against the simulator: a key-checking sim passes what it implements; an accept-any-key sim
fails the bad-key probe; requests can go through the embedded Toxiproxy with Host kept."""

from __future__ import annotations

import time

import pytest

from harness.client import Target, make_http_client
from harness.config import Endpoint, Price
from harness.faults import ToxiproxyClient, serve_proxy_in_thread
from harness.probes import INVALID_KEY, ProbeOptions, run_probes
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, serve_in_thread

KEY = "sim-good-key-123"
FAST = SimBehaviour(ttft_ms=5, ttft_jitter_ms=0, tokens_per_s=4000, rpm_limit=100_000)
MODELS = {"openai-chat": "gpt-sim", "anthropic-messages": "claude-sim", "azure-openai": "dep-sim"}
OPTS = ProbeOptions(overlong_tokens=2_000, timeout_s=5, answer_timeout_s=10)


def _targets(sim, names: dict[str, str], key: str = KEY) -> dict[str, Target]:
    return {
        name: Target(
            endpoint=Endpoint(name=name, dialect=dialect, model=MODELS[dialect], sim="fast"),  # type: ignore[arg-type]
            base_url=sim.base_urls[name],
            connect_to=None,
            api_key=key,
            price=Price(),
        )
        for name, dialect in names.items()
    }


@pytest.fixture(scope="module")
def sim():
    eps = [
        SimEndpoint(name="strict-oai", dialect="openai-chat", model="gpt-sim", api_key=KEY, behaviour=FAST),
        SimEndpoint(
            name="strict-ant", dialect="anthropic-messages", model="claude-sim", api_key=KEY, behaviour=FAST
        ),
        SimEndpoint(name="strict-az", dialect="azure-openai", model="dep-sim", api_key=KEY, behaviour=FAST),
        SimEndpoint(name="any-key", dialect="openai-chat", model="gpt-sim", api_key=None, behaviour=FAST),
        SimEndpoint(
            name="no-limits",
            dialect="anthropic-messages",
            model="claude-sim",
            api_key=KEY,
            behaviour=SimBehaviour(ttft_ms=5, ttft_jitter_ms=0, tokens_per_s=4000),
        ),
        SimEndpoint(
            name="quiet",
            dialect="anthropic-messages",
            model="claude-sim",
            api_key=KEY,
            behaviour=SimBehaviour(
                ttft_ms=5,
                ttft_jitter_ms=0,
                tokens_per_s=4000,
                send_ratelimit_headers=False,
                send_request_id=False,
            ),
        ),
    ]
    with serve_in_thread(SimConfig(seed=3, endpoints=eps)) as s:
        yield s


@pytest.fixture(scope="module")
def client():
    c = make_http_client(max_connections=20)
    yield c
    c.close()


def test_key_checking_sim_passes_every_probe_it_implements(sim, client) -> None:
    names = {"strict-oai": "openai-chat", "strict-ant": "anthropic-messages", "strict-az": "azure-openai"}
    t0 = time.monotonic()
    results = run_probes(_targets(sim, names), client, run_id="r-sim", options=OPTS)
    assert time.monotonic() - t0 < 10
    by = {(r.endpoint, r.probe): r for r in results}
    for ep in names:
        verdicts = {p: r.passed for (e, p), r in by.items() if e == ep}
        # OPTS' "over-long" prompt (2,000 tokens) fits the sim's 128k window, so it is answered.
        assert verdicts.pop("overlong_context") is False
        assert verdicts.pop("tls") is None  # plain HTTP on loopback
        failed = {p: by[(ep, p)].observed for p, v in verdicts.items() if v is not True}
        assert failed == {}, ep
        assert by[(ep, "bad_key")].status == 401
        assert by[(ep, "unknown_model")].status == 404
        assert by[(ep, "malformed_json")].status == 400
        assert all(r.run_id == "r-sim" for r in results)
    assert "message_stop" in by[("strict-ant", "stream_terminal")].observed
    assert "[DONE]" in by[("strict-oai", "stream_terminal")].observed


def test_sim_accepting_any_key_fails_the_bad_key_probe(sim, client) -> None:
    results = run_probes(_targets(sim, {"any-key": "openai-chat"}), client, options=OPTS)
    bad = next(r for r in results if r.probe == "bad_key")
    assert bad.passed is False and bad.status == 200 and "ACCEPTED a wrong key" in bad.observed


def test_sim_without_rate_limits_still_advertises_them_like_the_real_api(sim, client) -> None:
    results = run_probes(_targets(sim, {"no-limits": "anthropic-messages"}), client, options=OPTS)
    rl = next(r for r in results if r.probe == "ratelimit_headers")
    assert rl.passed is True and "anthropic-ratelimit-requests-remaining" in rl.observed


def test_sim_with_observability_knobs_off_fails_those_probes(sim, client) -> None:
    opts = ProbeOptions(overlong_tokens=0, timeout_s=5, answer_timeout_s=10)
    results = run_probes(_targets(sim, {"quiet": "anthropic-messages"}), client, options=opts)
    failed = {r.probe for r in results if r.passed is False}
    assert failed == {"ratelimit_headers", "request_id"}
    assert all(r.layer == "Observability" for r in results if r.probe in failed)


def test_probes_go_through_the_proxy_address(sim, client) -> None:
    with serve_proxy_in_thread() as srv, ToxiproxyClient(srv.url) as api:
        port = sim.port
        created = api.create_proxy("probe-sim", upstream=f"127.0.0.1:{port}", listen="127.0.0.1:0")
        listen_port = int(str(created["listen"]).rpartition(":")[2])
        before = sim.stats()["strict-oai"]["requests"]
        targets = _targets(sim, {"strict-oai": "openai-chat"})
        t = targets["strict-oai"]
        routed = Target(t.endpoint, t.base_url, ("127.0.0.1", listen_port), t.api_key, t.price)
        api.update_proxy("probe-sim", enabled=False)  # an outage on the proxy: nothing gets through
        down = run_probes(
            {"strict-oai": routed}, client, options=ProbeOptions(overlong_tokens=0, timeout_s=2)
        )
        assert sim.stats()["strict-oai"]["requests"] == before
        assert next(r for r in down if r.probe == "bad_key").passed is False
        api.update_proxy("probe-sim", enabled=True)
        up = run_probes({"strict-oai": routed}, client, options=ProbeOptions(overlong_tokens=0, timeout_s=5))
        assert next(r for r in up if r.probe == "bad_key").passed is True
        assert sim.stats()["strict-oai"]["requests"] == before + 5  # one request per probe, no retries


def test_the_wrong_key_is_never_the_real_one(sim, client) -> None:
    from probe_vendor import Behaviour, serve_vendor

    b = Behaviour(key=KEY)
    with serve_vendor(b) as port:
        ep = Endpoint(
            name="v", dialect="openai-chat", model="m", base_url="http://127.0.0.1/v1", api_key_env="X"
        )
        t = Target(ep, f"http://127.0.0.1:{port}/v1", None, KEY, Price())
        run_probes({"v": t}, client, options=ProbeOptions(overlong_tokens=0))
    assert b.seen_keys.count(INVALID_KEY) == 1
    assert b.seen_keys.count(KEY) == len(b.seen_keys) - 1


def test_sim_answers_a_long_context_prompt_with_its_own_error_envelope(sim, client) -> None:
    opts = ProbeOptions(overlong_tokens=600_000, timeout_s=10, skip=frozenset({"answer", "bad_key"}))
    results = run_probes(_targets(sim, {"strict-oai": "openai-chat"}), client, options=opts)
    by = {r.probe: r for r in results}
    assert by["request_id"].passed is True, by["request_id"].observed
    assert by["error_bodies"].passed is True, by["error_bodies"].observed


@pytest.mark.parametrize(
    ("persona", "failing"),
    [
        ("native", set()),
        # LiteLLM 1.108 without a database: a wrong key is a 400 "No connected db." with no call id (so
        # not every answer has a request id); the backend's rate-limit counts come through
        ("litellm", {"bad_key", "request_id"}),
        ("vllm", {"request_id", "ratelimit_headers"}),  # vLLM sends neither header
        ("tgi", {"request_id", "ratelimit_headers", "unknown_model"}),  # TGI ignores the model name too
    ],
)
def test_sim_personas_misbehave_where_their_servers_do(persona: str, failing: set[str]) -> None:
    ep = SimEndpoint(
        name=persona, dialect="openai-chat", model="gpt-sim", api_key=KEY, behaviour=FAST, persona=persona
    )
    opts = ProbeOptions(overlong_tokens=0, timeout_s=5)
    with serve_in_thread(SimConfig(endpoints=[ep])) as s:
        c = make_http_client(max_connections=4)
        try:
            results = run_probes(_targets(s, {persona: "openai-chat"}), c, options=opts)
        finally:
            c.close()
    assert {r.probe for r in results if r.passed is False} == failing
