"""The simulated Gemini on the wire (raw HTTP over loopback): routes, key styles, the SSE framing,
Google RPC error envelopes with RetryInfo in the body, request parsing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from harness.sim import SimBehaviour, SimConfig, SimEndpoint, SimThread, read_ground_truth, serve_in_thread
from harness.tokens import count_tokens

KEY = "gm-key"
FAST = {"ttft_ms": 5, "ttft_jitter_ms": 0, "tokens_per_s": 4000, "output_tokens_default": 16}
BODY = {"contents": [{"role": "user", "parts": [{"text": "Repeat the word zebra"}]}]}
TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}},
                    "required": ["city", "days"],
                },
            }
        ]
    }
]


def _ep(name: str, **behaviour: object) -> SimEndpoint:
    return SimEndpoint(
        name=name,
        dialect="gemini",
        model="gemini-sim",
        api_key=KEY,
        behaviour=SimBehaviour.model_validate({**FAST, **behaviour}),
    )


@pytest.fixture(scope="module")
def gt(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("gm") / "gt.jsonl"


@pytest.fixture(scope="module")
def sim(gt) -> Iterator[SimThread]:
    eps = [
        _ep("gm"),
        _ep("gm429", rpm_limit=60, rate_limit_window_s=1),
        _ep("gm503", error_rates={503: 1.0}, error_retry_after_ms=2000),
        _ep("gmmid", midstream_error_rate=1.0),
    ]
    with serve_in_thread(SimConfig(seed=4, endpoints=eps), ground_truth=gt) as s:
        yield s


def _url(sim: SimThread, verb: str, name: str = "gm", model: str = "gemini-sim") -> str:
    return f"{sim.base_urls[name]}/models/{model}:{verb}"


def _post(
    sim: SimThread, verb: str, body: object, name: str = "gm", headers: dict[str, str] | None = None
) -> httpx.Response:
    headers = {"x-goog-api-key": KEY} if headers is None else headers
    return httpx.post(_url(sim, verb, name), json=body, headers=headers, timeout=10)


def _events(raw: str) -> list[dict]:
    assert raw.endswith("\r\n\r\n")
    out = []
    for ev in raw.split("\r\n\r\n")[:-1]:
        assert ev.startswith("data: ") and "\n" not in ev  # data-only events, no event: lines
        out.append(json.loads(ev[6:]))
    return out


def test_stream_framing_usage_and_end(sim: SimThread) -> None:
    r = _post(sim, "streamGenerateContent?alt=sse", BODY)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "[DONE]" not in r.text
    evs = _events(r.text)
    text = "".join(p.get("text", "") for e in evs for p in e["candidates"][0]["content"]["parts"])
    assert text == "zebra"
    assert all(e["modelVersion"] == "gemini-sim" for e in evs)
    assert len({e["responseId"] for e in evs}) == 1
    assert all("finishReason" not in e["candidates"][0] for e in evs[:-1])
    last = evs[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    u = last["usageMetadata"]
    assert u["candidatesTokenCount"] == count_tokens("zebra") and u["promptTokenCount"] > 0
    assert u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"]
    # no request-id or rate-limit headers: Gemini sends neither
    assert not any(h in r.headers for h in ("x-request-id", "request-id", "x-ratelimit-remaining-requests"))


def test_response_id_is_the_ground_truth_request_id(sim: SimThread, gt) -> None:
    rid = _post(sim, "generateContent", BODY).json()["responseId"]
    for _ in range(50):
        if any(g.request_id == rid and g.dialect == "gemini" for g in read_ground_truth(gt)):
            return
        time.sleep(0.05)
    raise AssertionError("request not in the ground truth")


def test_generate_content_body(sim: SimThread) -> None:
    body = {**BODY, "generationConfig": {"maxOutputTokens": 3, "temperature": 0.2, "seed": 1}}
    r = _post(sim, "generateContent", {**body, "contents": [{"parts": [{"text": "Tell me a story"}]}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    data = r.json()
    cand = data["candidates"][0]
    assert cand["finishReason"] == "MAX_TOKENS" and cand["content"]["role"] == "model"
    assert (
        count_tokens(cand["content"]["parts"][0]["text"])
        == 3
        == data["usageMetadata"]["candidatesTokenCount"]
    )


def test_key_in_the_query_and_missing_or_wrong_key(sim: SimThread) -> None:
    ok = httpx.post(_url(sim, "generateContent") + f"?key={KEY}", json=BODY, timeout=10)
    assert ok.status_code == 200
    missing = _post(sim, "generateContent", BODY, headers={})
    assert missing.status_code == 403 and missing.json()["error"]["status"] == "PERMISSION_DENIED"
    wrong = _post(sim, "generateContent", BODY, headers={"x-goog-api-key": "nope"})
    err = wrong.json()["error"]
    assert wrong.status_code == 400 and err["status"] == "INVALID_ARGUMENT" and err["code"] == 400
    assert err["message"].startswith("API key not valid")
    assert err["details"][0]["reason"] == "API_KEY_INVALID"


def test_models_list_and_unknown_routes(sim: SimThread) -> None:
    r = httpx.get(sim.base_urls["gm"] + "/models", headers={"x-goog-api-key": KEY}, timeout=10)
    assert r.status_code == 200 and r.json()["models"][0]["name"] == "models/gemini-sim"
    r = httpx.post(_url(sim, "countTokens"), json=BODY, headers={"x-goog-api-key": KEY}, timeout=10)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = httpx.post(_url(sim, "generateContent", model="other"), json=BODY, headers={"x-goog-api-key": KEY})
    assert r.status_code == 404 and "models/other is not found" in r.json()["error"]["message"]


def test_stream_needs_alt_sse(sim: SimThread) -> None:
    r = _post(sim, "streamGenerateContent", BODY)
    assert r.status_code == 400 and "alt=sse" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"contents": []}, "contents is not specified"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
        ({**BODY, "generationConfig": {"maxOutputTokens": -1}}, "max_output_tokens"),
        ({**BODY, "generationConfig": {"temperature": 99}}, "temperature"),
        ({**BODY, "tools": [{"functionDeclarations": [{"description": "no name"}]}]}, "Name cannot be empty"),
    ],
)
def test_invalid_requests_are_400_invalid_argument(sim: SimThread, body: dict, word: str) -> None:
    r = _post(sim, "generateContent", body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["status"] == "INVALID_ARGUMENT" and word in err["message"]


def test_malformed_json_in_googles_words(sim: SimThread) -> None:
    r = httpx.post(
        _url(sim, "generateContent"), content=b'{"contents": [', headers={"x-goog-api-key": KEY}, timeout=10
    )
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("Invalid JSON payload")


def test_function_call_from_uppercase_schema(sim: SimThread) -> None:
    body = {**BODY, "tools": TOOLS}
    part = _post(sim, "generateContent", body).json()["candidates"][0]["content"]["parts"][0]
    call = part["functionCall"]
    assert call["name"] == "get_weather" and isinstance(call["args"]["days"], int)
    evs = _events(_post(sim, "streamGenerateContent?alt=sse", body).text)
    assert len(evs) == 2 and evs[0]["candidates"][0]["content"]["parts"][0]["functionCall"] == call
    assert evs[1]["candidates"][0]["finishReason"] == "STOP"


def test_function_response_turn_gets_text(sim: SimThread) -> None:
    contents = [
        BODY["contents"][0],
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 3}}}]},
    ]
    body = {"contents": contents, "tools": TOOLS, "systemInstruction": {"parts": [{"text": "Be brief."}]}}
    parts = _post(sim, "generateContent", body).json()["candidates"][0]["content"]["parts"]
    assert "text" in parts[0] and "functionCall" not in parts[0]


def test_tool_config_none_gives_text(sim: SimThread) -> None:
    body = {**BODY, "tools": TOOLS, "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}
    assert (
        _post(sim, "generateContent", body).json()["candidates"][0]["content"]["parts"][0]["text"] == "zebra"
    )


def test_rate_limit_429_has_retry_info_and_no_retry_after_header(sim: SimThread) -> None:
    codes = [_post(sim, "generateContent", BODY, name="gm429") for _ in range(3)]
    refused = [r for r in codes if r.status_code == 429]
    assert refused
    for r in refused:
        assert "retry-after" not in r.headers and "retry-after-ms" not in r.headers
        err = r.json()["error"]
        assert err["status"] == "RESOURCE_EXHAUSTED"
        types = [d["@type"].rsplit(".", 1)[-1] for d in err["details"]]
        assert types[0] == "QuotaFailure" and types[-1] == "RetryInfo"
        assert err["details"][-1]["retryDelay"].endswith("s")


def test_background_503_carries_its_retry_delay_in_the_body(sim: SimThread) -> None:
    r = _post(sim, "generateContent", BODY, name="gm503")
    err = r.json()["error"]
    assert r.status_code == 503 and err["status"] == "UNAVAILABLE" and "overloaded" in err["message"]
    assert err["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]
    assert "retry-after" not in r.headers


def test_midstream_error_is_a_data_event_with_an_error_object(sim: SimThread) -> None:
    body = {"contents": [{"parts": [{"text": "Tell me a story"}]}]}
    evs = _events(_post(sim, "streamGenerateContent?alt=sse", body, name="gmmid").text)
    assert evs[-1] == {"error": {"code": 500, "message": evs[-1]["error"]["message"], "status": "INTERNAL"}}
    assert all("candidates" in e for e in evs[:-1]) and len(evs) >= 2


CALL = {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]}
RESPONSE = {"functionResponse": {"name": "get_weather", "response": {"content": "3 C"}}}


@pytest.mark.parametrize(
    ("contents", "word"),
    [
        ([BODY["contents"][0], {"role": "user", "parts": [RESPONSE]}], "immediately after a function call"),
        ([BODY["contents"][0], CALL, {"role": "user", "parts": [RESPONSE, RESPONSE]}], "number of function"),
    ],
)
def test_function_responses_must_answer_the_call_turn(sim: SimThread, contents: list, word: str) -> None:
    r = _post(sim, "generateContent", {"contents": contents, "tools": TOOLS})
    assert r.status_code == 400 and word in r.json()["error"]["message"]
