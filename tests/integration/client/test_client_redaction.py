"""A vendor that echoes the API key into any field the record keeps: the key is never stored, whole or cut."""

from __future__ import annotations

import json

import pytest
from client_loopback import Conn, clock, make_endpoint, make_target

from harness.client import run_attempt
from harness.record import RequestRecord

KEY = "sk-echo-canary-abcdefghijklmnopqrstuvwxyz012345"


def attempt(client, url: str, *, stream: bool) -> RequestRecord:
    rec = run_attempt(
        client,
        make_target(url, make_endpoint(stream=stream), api_key=KEY),
        _prompt(),
        clock=clock,
        run_id="r",
        request_id="c-1",
        attempt=1,
        contender="c",
        t_intended=clock(),
    )
    assert rec.error_class != "client_error", rec.error_detail
    return rec


def _prompt():
    from harness.config import PromptItem

    return PromptItem.model_validate({"id": "p", "messages": [{"role": "user", "content": "hi"}]})


def _leaks(rec: RequestRecord) -> list[str]:
    """Fields holding the key or any 8+ character piece of its start (a cut-off key)."""
    row = rec.to_dict()
    return [k for k, v in row.items() if isinstance(v, str) and KEY[:8] in v]


def _answer_doc(*, model: str, text: str, finish: str, rid: str) -> dict:
    return {
        "id": rid,
        "model": model,
        "choices": [{"index": 0, "message": {"content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }


# the key placed so that a plain cut (answer excerpt at 300 chars, error detail at 200) splits it
CASES = {
    "request_id_header": {"header_rid": f"req-{KEY}"},
    "response_id": {"rid": f"chatcmpl-{KEY}"},
    "model": {"model": f"gpt-{KEY}"},
    "finish_reason": {"finish": f"stop-{KEY}"},
    "answer": {"text": f"your key is {KEY}"},
    "answer_cut_at_excerpt": {"text": "x" * 280 + KEY},
    "answer_json_escaped": {"text": json.dumps({"key": KEY})},
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_key_echoed_in_a_2xx_answer_is_not_stored(serve, client, case: str, stream: bool) -> None:
    spec = CASES[case]
    doc = _answer_doc(
        model=spec.get("model", "m"),
        text=spec.get("text", "ok"),
        finish=spec.get("finish", "stop"),
        rid=spec.get("rid", "c"),
    )
    headers = {"x-request-id": spec["header_rid"]} if "header_rid" in spec else {}

    def h(c: Conn) -> None:
        while c.read_request():
            if not stream:
                c.respond(200, json.dumps(doc).encode(), headers)
                continue
            c.start_chunked(200, headers)
            msg = doc["choices"][0]["message"]
            chunk = {**doc, "choices": [{"index": 0, "delta": msg, "finish_reason": None}], "usage": None}
            end = {
                **doc,
                "choices": [{"index": 0, "delta": {}, "finish_reason": doc["choices"][0]["finish_reason"]}],
            }
            for part in (chunk, end):
                c.chunk(b"data: " + json.dumps(part).encode() + b"\n\n")
            c.chunk(b"data: [DONE]\n\n")
            c.end_chunked()

    rec = attempt(client, serve(h).url, stream=stream)
    assert rec.outcome == "ok", rec.error_detail
    assert _leaks(rec) == []
    assert "[redacted]" in json.dumps(rec.to_dict())


@pytest.mark.parametrize("pad", [0, 150, 180, 195])
def test_key_in_an_error_body_is_not_stored_even_where_the_detail_is_cut(serve, client, pad: int) -> None:
    body = json.dumps({"error": {"type": "invalid_request_error", "message": "y" * pad + f" key {KEY} bad"}})

    def h(c: Conn) -> None:
        while c.read_request():
            c.respond(401, body.encode())

    rec = attempt(client, serve(h).url, stream=False)
    assert rec.error_class == "http_4xx"
    assert _leaks(rec) == []


def test_key_in_a_stream_error_event_is_not_stored(serve, client) -> None:
    err = {"error": {"type": "server_error", "message": "z" * 170 + f" {KEY}"}}

    def h(c: Conn) -> None:
        while c.read_request():
            c.start_chunked(200)
            c.chunk(b"data: " + json.dumps(err).encode() + b"\n\n")
            c.end_chunked()

    rec = attempt(client, serve(h).url, stream=True)
    assert rec.error_class == "stream_error_event"
    assert _leaks(rec) == []
