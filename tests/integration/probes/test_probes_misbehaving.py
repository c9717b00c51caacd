"""Probes fail where a vendor misbehaves: any key accepted, 500 on broken JSON, no request id, no usage,
no terminal event, max_tokens ignored, slow errors, HTML error pages; and pass on a strict vendor."""

from __future__ import annotations

import json

import pytest
from probe_vendor import Behaviour, serve_vendor

from harness.client import Target, make_http_client
from harness.config import Endpoint, Price
from harness.probes import ProbeOptions, run_probes

KEY = "vendor-key-abcdef123456"
OPTS = ProbeOptions(overlong_tokens=6_000, timeout_s=3, answer_timeout_s=5, prompt_error_s=0.5)


@pytest.fixture(scope="module")
def client():
    c = make_http_client(max_connections=10)
    yield c
    c.close()


def probe(client, b: Behaviour, opts: ProbeOptions = OPTS) -> dict:
    with serve_vendor(b) as port:
        ep = Endpoint(
            name="v", dialect="openai-chat", model="m", base_url="http://127.0.0.1/v1", api_key_env="K"
        )
        t = Target(ep, f"http://127.0.0.1:{port}/v1", None, KEY, Price())
        return {r.probe: r for r in run_probes({"v": t}, client, options=opts)}


def test_strict_vendor_passes_everything_including_overlong_context(client) -> None:
    res = probe(client, Behaviour(key=KEY))
    assert {p: r.observed for p, r in res.items() if r.passed is not True} == {
        "tls": "plain HTTP on loopback (simulated or local vendor)"
    }
    assert res["overlong_context"].status == 400


@pytest.mark.parametrize(
    ("behaviour", "failing"),
    [
        (Behaviour(key=None), {"bad_key"}),
        (Behaviour(key=KEY, malformed_status=500), {"malformed_json"}),
        (Behaviour(key=KEY, request_id=False), {"request_id"}),
        (Behaviour(key=KEY, ratelimit=False), {"ratelimit_headers"}),
        (Behaviour(key=KEY, usage=False), {"usage_reported"}),
        (Behaviour(key=KEY, terminal=False), {"stream_terminal"}),
        (Behaviour(key=KEY, honour_max_tokens=False), {"max_tokens"}),
        (Behaviour(key=KEY, context_limit_chars=None), {"overlong_context"}),
    ],
    ids=[
        "any-key",
        "500-on-malformed",
        "no-request-id",
        "no-ratelimit",
        "no-usage",
        "no-done",
        "max-tokens",
        "no-context-limit",
    ],
)
def test_each_misbehaviour_fails_its_probe_and_only_it(
    client, behaviour: Behaviour, failing: set[str]
) -> None:
    res = probe(client, behaviour)
    failed = {p for p, r in res.items() if r.passed is False}
    assert failed == failing, {p: res[p].observed for p in failed}


def test_slow_errors_fail_promptness(client) -> None:
    opts = ProbeOptions(overlong_tokens=6_000, timeout_s=3, answer_timeout_s=5, prompt_error_s=0.15)
    res = probe(client, Behaviour(key=KEY, error_delay_s=0.2), opts)
    assert res["error_latency"].passed is False
    for p in ("malformed_json", "unknown_model", "invalid_params", "overlong_context"):
        assert res[p].passed is False and "slow" in res[p].observed


def test_html_error_pages_fail_parseable_bodies(client) -> None:
    res = probe(client, Behaviour(key=KEY, error_body=b"<html><h1>400 Bad Request</h1></html>"))
    assert res["error_bodies"].passed is False
    assert res["malformed_json"].passed is False and "not parseable" in res["malformed_json"].observed
    assert res["bad_key"].passed is True  # a 401 is a 401, whatever its body


def test_hostile_error_text_is_redacted_and_escaped(client) -> None:
    res = probe(client, Behaviour(key=KEY, error_message_extra=f" key={KEY} \x1b]0;pwned\x07\x1b[2J\u202e"))
    dump = json.dumps([r.to_dict() for r in res.values()], ensure_ascii=False)
    assert KEY not in dump
    assert "\x1b" not in dump and "\u202e" not in dump and "\x07" not in dump
    assert "\\x1b]0;pwned" in res["malformed_json"].observed


def test_unreachable_vendor_fails_within_its_time_limits(client) -> None:
    import socket
    import time

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    ep = Endpoint(name="v", dialect="openai-chat", model="m", base_url="http://127.0.0.1/v1", api_key_env="K")
    t = Target(ep, f"http://127.0.0.1:{port}/v1", None, KEY, Price())
    t0 = time.monotonic()
    res = {r.probe: r for r in run_probes({"v": t}, client, options=OPTS)}
    assert time.monotonic() - t0 < 5
    assert res["bad_key"].passed is False and "no answer" in res["bad_key"].observed
    assert res["error_latency"].passed is None
