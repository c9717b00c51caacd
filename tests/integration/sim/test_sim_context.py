"""The context window (``max_context_tokens``) and unexpected handler errors, over real sockets: every
refusal is the dialect's own envelope with its request id, and comes at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

import harness.sim._engine as engine
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, SimThread, serve_in_thread
from harness.tokens import count_tokens

FAST = {"ttft_ms": 1, "ttft_jitter_ms": 0, "tokens_per_s": 5000, "output_tokens_default": 8}
OA = {"authorization": "Bearer k"}
AN = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
PROMPT = "word " * 900  # 900 tokens of text, plus the message framing


def _ep(name: str, dialect: str, model: str, persona: str = "native", **b: object) -> SimEndpoint:
    return SimEndpoint(
        name=name,
        dialect=dialect,  # type: ignore[arg-type]
        model=model,
        persona=persona,  # type: ignore[arg-type]
        behaviour=SimBehaviour.model_validate({**FAST, **b}),
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    eps = [
        _ep("oa", "openai-chat", "m", max_context_tokens=1_000),
        _ep("an", "anthropic-messages", "c", max_context_tokens=1_000),
        _ep("az", "azure-openai", "dep", max_context_tokens=1_000),
        _ep("tgi", "openai-chat", "m", persona="tgi", max_context_tokens=1_000),
        _ep("nowin", "openai-chat", "m", max_context_tokens=None),
        _ep("dflt", "openai-chat", "m"),
        _ep("andflt", "anthropic-messages", "c"),
    ]
    with serve_in_thread(SimConfig(seed=5, endpoints=eps)) as s:
        yield s


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as c:
        yield c


def _oa(sim: SimThread, http: httpx.Client, name: str, text: str, max_tokens: int | None) -> httpx.Response:
    body: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": text}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return http.post(sim.base_urls[name] + "/chat/completions", json=body, headers=OA)


def _an(sim: SimThread, http: httpx.Client, name: str, text: str, max_tokens: int) -> httpx.Response:
    body = {"model": "c", "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]}
    return http.post(sim.base_urls[name] + "/v1/messages", json=body, headers=AN)


def test_openai_refuses_prompt_plus_max_tokens_over_the_window(sim: SimThread, http: httpx.Client) -> None:
    ok = _oa(sim, http, "oa", PROMPT, 5)
    assert ok.status_code == 200
    n = ok.json()["usage"]["prompt_tokens"]
    assert 900 < n < 1_000
    r = _oa(sim, http, "oa", PROMPT, 1_000 - n + 1)  # one token too many
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"].startswith("req_")
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["code"] == "context_length_exceeded"
    assert err["param"] == "messages"
    assert "maximum context length is 1000 tokens" in err["message"]
    assert (
        f"you requested 1001 tokens ({n} in the messages, {1_000 - n + 1} in the completion)"
        in err["message"]
    )
    assert _oa(sim, http, "oa", PROMPT, 1_000 - n).status_code == 200  # exactly the window fits


def test_openai_without_max_tokens_counts_the_prompt_alone(sim: SimThread, http: httpx.Client) -> None:
    assert _oa(sim, http, "oa", PROMPT, None).status_code == 200
    r = _oa(sim, http, "oa", PROMPT * 2, None)
    assert r.status_code == 400
    assert "your messages resulted in" in r.json()["error"]["message"]
    az = http.post(
        sim.base_urls["az"] + "/openai/deployments/dep/chat/completions?api-version=2024-06-01",
        json={"messages": [{"role": "user", "content": PROMPT * 2}]},
        headers={"api-key": "k"},
    )
    assert az.status_code == 400 and az.json()["error"]["code"] == "context_length_exceeded"


def test_anthropic_says_prompt_is_too_long_with_its_count(sim: SimThread, http: httpx.Client) -> None:
    count = http.post(
        sim.base_urls["an"] + "/v1/messages/count_tokens",
        json={"model": "c", "messages": [{"role": "user", "content": PROMPT * 2}]},
        headers=AN,
    )
    assert count.status_code == 200  # counting is not generating: no window applies
    n = count.json()["input_tokens"]
    r = _an(sim, http, "an", PROMPT * 2, 10)
    assert r.status_code == 400
    assert r.headers["request-id"] == r.json()["request_id"]
    assert r.json()["type"] == "error"
    assert r.json()["error"] == {
        "type": "invalid_request_error",
        "message": f"prompt is too long: {n} tokens > 1000 maximum",
    }
    r = _an(sim, http, "an", PROMPT, 500)
    assert r.status_code == 400
    assert "input length and `max_tokens` exceed context limit" in r.json()["error"]["message"]
    assert _an(sim, http, "an", PROMPT, 10).status_code == 200


def test_tgi_persona_refuses_with_its_422(sim: SimThread, http: httpx.Client) -> None:
    r = _oa(sim, http, "tgi", PROMPT * 2, 10)
    assert r.status_code == 422
    assert r.json()["error_type"] == "validation" and "must be <= 1000" in r.json()["error"]


def test_no_window_answers_any_length(sim: SimThread, http: httpx.Client) -> None:
    r = _oa(sim, http, "nowin", PROMPT * 200, 100_000)
    assert r.status_code == 200 and r.json()["usage"]["prompt_tokens"] > 180_000


@pytest.mark.parametrize(("name", "send"), [("dflt", _oa), ("andflt", _an)])
def test_a_long_context_prompt_is_refused_promptly_by_default(
    sim: SimThread, http: httpx.Client, name: str, send: object
) -> None:
    text = "a " * 600_000  # 1.2 MB, beyond bpe-openai's one-call limit and the default 128k window
    t0 = time.monotonic()
    r = send(sim, http, name, text, 16)  # type: ignore[operator]
    assert time.monotonic() - t0 < 5
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert r.headers.get("x-request-id") or r.headers.get("request-id")
    assert str(count_tokens(text) + 3 + 3) in r.text  # the exact count, framing included
    assert "128000" in r.text


def test_an_unexpected_error_answers_the_dialects_500_envelope(
    sim: SimThread, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(engine, "make_plan", broken)  # a bug anywhere in the answer path
    oa = _oa(sim, http, "dflt", "hi", 5)
    assert oa.status_code == 500 and oa.headers["content-type"] == "application/json"
    assert oa.headers["x-request-id"].startswith("req_")
    assert oa.json()["error"]["type"] == "server_error"
    an = _an(sim, http, "andflt", "hi", 5)
    assert an.status_code == 500 and an.headers["content-type"] == "application/json"
    assert an.json()["type"] == "error" and an.json()["error"]["type"] == "api_error"
    assert an.headers["request-id"] == an.json()["request_id"]
    monkeypatch.undo()
    assert _oa(sim, http, "dflt", "hi", 5).status_code == 200  # the connection and server live on


def test_the_sdks_raise_their_bad_request_errors(sim: SimThread) -> None:
    oa = openai.OpenAI(base_url=sim.base_urls["oa"], api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as oe:
        oa.chat.completions.create(model="m", messages=[{"role": "user", "content": PROMPT * 2}])
    assert oe.value.code == "context_length_exceeded" and oe.value.request_id
    an = anthropic.Anthropic(base_url=sim.base_urls["an"], api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as ae:
        an.messages.create(model="c", max_tokens=10, messages=[{"role": "user", "content": PROMPT * 2}])
    assert "prompt is too long" in str(ae.value) and ae.value.request_id
    oa.close()
    an.close()
