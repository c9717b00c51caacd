"""Observability knobs over real sockets: by default every answer carries the dialect's rate-limit
headers (nominal limits when none is enforced, counting down within the window) and its request id;
``send_ratelimit_headers`` / ``send_request_id`` off play a vendor that tells the client less."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import httpx
import pytest

from harness.sim import SimBehaviour, SimConfig, SimEndpoint, SimThread, serve_in_thread
from harness.sim._engine import NOMINAL_RPM, NOMINAL_TPM

FAST = {"ttft_ms": 1, "ttft_jitter_ms": 0, "tokens_per_s": 5000, "output_tokens_default": 8}
OA = {"authorization": "Bearer k"}
AN = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
GO_DURATION = re.compile(r"^(\d+ms|(\d+h)?(\d+m)?\d+(\.\d+)?s)$")
ID_HEADERS = ("x-request-id", "request-id", "apim-request-id")


def _ep(name: str, dialect: str, model: str, **b: object) -> SimEndpoint:
    return SimEndpoint(
        name=name,
        dialect=dialect,  # type: ignore[arg-type]
        model=model,
        api_key="k",
        behaviour=SimBehaviour.model_validate({**FAST, **b}),
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    eps = [
        _ep("oa", "openai-chat", "m"),
        _ep("an", "anthropic-messages", "c"),
        _ep("az", "azure-openai", "dep"),
        _ep("oarpm", "openai-chat", "m", rpm_limit=600, rate_limit_window_s=0.1),
        _ep("oaquiet", "openai-chat", "m", send_ratelimit_headers=False, send_request_id=False),
        _ep("anquiet", "anthropic-messages", "c", send_ratelimit_headers=False, send_request_id=False),
        _ep("azquiet", "azure-openai", "dep", send_ratelimit_headers=False, send_request_id=False),
        _ep(
            "rpmquiet",
            "openai-chat",
            "m",
            rpm_limit=600,
            rate_limit_window_s=0.1,
            send_ratelimit_headers=False,
        ),
    ]
    with serve_in_thread(SimConfig(seed=9, endpoints=eps)) as s:
        yield s


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def _post(
    sim: SimThread, http: httpx.Client, name: str, *, stream: bool = False, **over: object
) -> httpx.Response:
    url = sim.base_urls[name]
    if name.startswith("an"):
        body: dict[str, object] = {
            "model": "c",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}],
        }
        return http.post(url + "/v1/messages", json={**body, "stream": stream, **over}, headers=AN)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if name.startswith("az"):
        body.pop("model")
        url += "/openai/deployments/dep/chat/completions?api-version=2024-06-01"
        return http.post(url, json={**body, **over}, headers={"api-key": "k"})
    return http.post(url + "/chat/completions", json={**body, **over}, headers=OA)


def _rl(r: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if "ratelimit" in k}


@pytest.mark.parametrize("name", ["oa", "az"])
def test_openai_answers_carry_nominal_limits_counting_down(
    sim: SimThread, http: httpx.Client, name: str
) -> None:
    first, second = _post(sim, http, name), _post(sim, http, name, stream=True)
    assert first.status_code == second.status_code == 200
    h1, h2 = _rl(first), _rl(second)
    assert h1["x-ratelimit-limit-requests"] == str(NOMINAL_RPM)
    assert h1["x-ratelimit-limit-tokens"] == str(NOMINAL_TPM)
    assert int(h2["x-ratelimit-remaining-requests"]) == int(h1["x-ratelimit-remaining-requests"]) - 1
    used = first.json()["usage"]["total_tokens"]
    assert (
        int(h2["x-ratelimit-remaining-tokens"])
        < int(h1["x-ratelimit-remaining-tokens"])
        <= NOMINAL_TPM - used
    )
    for key in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        assert GO_DURATION.match(h1[key]), h1[key]
    assert first.headers["x-request-id"].startswith("req_")
    if name == "az":
        assert first.headers["apim-request-id"] == first.headers["x-request-id"]


def test_anthropic_answers_carry_nominal_limits_with_rfc3339_resets(
    sim: SimThread, http: httpx.Client
) -> None:
    first, second = _post(sim, http, "an"), _post(sim, http, "an", stream=True)
    assert first.status_code == second.status_code == 200
    h1, h2 = _rl(first), _rl(second)
    assert h1["anthropic-ratelimit-requests-limit"] == str(NOMINAL_RPM)
    assert h1["anthropic-ratelimit-tokens-limit"] == str(NOMINAL_TPM)
    assert (
        int(h2["anthropic-ratelimit-requests-remaining"])
        == int(h1["anthropic-ratelimit-requests-remaining"]) - 1
    )
    assert int(h2["anthropic-ratelimit-tokens-remaining"]) < int(h1["anthropic-ratelimit-tokens-remaining"])
    now = dt.datetime.now(dt.UTC)
    for key in ("anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset"):
        assert h1[key].endswith("Z")
        reset = dt.datetime.fromisoformat(h1[key].replace("Z", "+00:00"))
        assert now - dt.timedelta(seconds=2) <= reset <= now + dt.timedelta(seconds=62)
    assert not any(k.startswith("x-ratelimit") for k in h1)
    assert first.headers["request-id"].startswith("req_")


def test_refusals_past_the_key_check_carry_them_too(sim: SimThread, http: httpx.Client) -> None:
    bad_model = _post(sim, http, "oa", model="nope")
    assert bad_model.status_code == 404 and "x-ratelimit-remaining-requests" in bad_model.headers
    bad_body = _post(sim, http, "an", max_tokens=0)
    assert bad_body.status_code == 400 and "anthropic-ratelimit-requests-remaining" in bad_body.headers
    wrong_key = http.post(
        sim.base_urls["oa"] + "/chat/completions", json={}, headers={"authorization": "Bearer x"}
    )
    assert wrong_key.status_code == 401 and not _rl(wrong_key)  # who is asking is unknown: no limits to tell
    assert wrong_key.headers["x-request-id"].startswith("req_")


def test_an_enforced_limit_is_what_the_headers_report(sim: SimThread, http: httpx.Client) -> None:
    r = _post(sim, http, "oarpm")
    assert r.headers["x-ratelimit-limit-requests"] == "600"  # the real bucket, not the nominal one
    assert r.headers["x-ratelimit-limit-tokens"] == str(NOMINAL_TPM)  # no tpm_limit: nominal


@pytest.mark.parametrize("name", ["oaquiet", "anquiet", "azquiet"])
def test_knobs_off_send_neither_header(sim: SimThread, http: httpx.Client, name: str) -> None:
    answers = [
        _post(sim, http, name),
        _post(sim, http, name, stream=True),
        _post(sim, http, name, messages=[]),
    ]
    assert [r.status_code for r in answers] == [200, 200, 400]
    for r in answers:
        assert not _rl(r), r.headers
        assert not any(h in r.headers for h in ID_HEADERS), r.headers


def test_rate_limited_without_headers_still_says_when_to_retry(sim: SimThread, http: httpx.Client) -> None:
    statuses = []
    for _ in range(20):  # the bucket holds one request (600/min over 0.1 s)
        r = _post(sim, http, "rpmquiet")
        statuses.append(r.status_code)
        assert not _rl(r)
        if r.status_code == 429:
            assert int(r.headers["retry-after-ms"]) > 0
    assert 429 in statuses
