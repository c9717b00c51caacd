"""Gemini (streamGenerateContent with alt=sse) against its wire fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import Endpoint, PromptItem
from harness.dialects import Delta, Done, Finish, Malformed, Meta, StreamError, Usage, get_dialect

WIRE = Path(__file__).resolve().parents[2] / "fixtures" / "wire"


def parse(name: str, split: int | None = None) -> list[object]:
    body = (WIRE / name).read_bytes()
    p = get_dialect("gemini").stream_parser()
    step = split or len(body)
    out: list[object] = []
    for i in range(0, len(body), step):
        out += p.feed(body[i : i + step])
    return out + p.close()


@pytest.mark.parametrize("split", [None, 1, 5, 33])
def test_stream_ends_done_after_finish_reason(split: int | None) -> None:
    ev = parse("gemini_stream_basic.sse", split)
    assert "".join(e.text for e in ev if isinstance(e, Delta)) == "The sky is blue."
    assert Finish("STOP") in ev and Meta("gemini-2.5-flash", "resp-G1") in ev
    assert Usage(input_tokens=8, output_tokens=5) in ev
    assert isinstance(ev[-1], Done)


def test_thoughts_are_reasoning_and_billed_as_output() -> None:
    ev = parse("gemini_stream_thinking.sse")
    kinds = [(e.kind, e.text) for e in ev if isinstance(e, Delta)]
    assert kinds == [("reasoning", "Considering..."), ("output", "42")]
    assert Usage(input_tokens=1100, output_tokens=31, cached_input_tokens=1024, reasoning_tokens=30) in ev


def test_stream_without_finish_reason_is_truncated() -> None:
    assert not any(isinstance(e, Done) for e in parse("gemini_stream_cut.sse"))


def test_midstream_error_and_malformed() -> None:
    p = get_dialect("gemini").stream_parser()
    ev = p.feed(b'data: {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}\n\n')
    assert ev == [StreamError("stream_error_event", "INTERNAL: boom")]
    p = get_dialect("gemini").stream_parser()
    assert isinstance(p.feed(get_dialect("gemini").malformed_chunk())[0], Malformed)


def test_nonstream_response() -> None:
    ev = get_dialect("gemini").parse_response((WIRE / "gemini_response.json").read_bytes())
    assert [e.text for e in ev if isinstance(e, Delta)] == ["Paris.", 'f{"a": 1}']
    assert isinstance(ev[-1], Done)


def test_build_request() -> None:
    ep = Endpoint(name="g", dialect="openai-chat", model="gemini-2.5-flash", base_url="https://x")
    prompt = PromptItem.model_validate(
        {
            "id": "p",
            "system": "Be brief.",
            "max_tokens": 64,
            "seed": 3,
            "temperature": 0.2,
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
        }
    )
    d = get_dialect("gemini")
    req = d.build_request(
        ep, prompt, base_url="https://generativelanguage.googleapis.com/v1beta/", api_key="g-key", stream=True
    )
    assert req.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:"
        "streamGenerateContent?alt=sse"
    )
    assert req.headers["x-goog-api-key"] == "g-key"
    body = json.loads(req.body)
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Yo"}]},
    ]
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"] == {"maxOutputTokens": 64, "temperature": 0.2, "seed": 3}
    assert d.build_request(ep, prompt, base_url="https://h/v1beta", api_key=None, stream=False).url.endswith(
        ":generateContent"
    )


@pytest.mark.parametrize(
    ("status", "error_class", "retry"),
    [(429, "http_429", 2.5), (503, "overloaded", None), (500, "http_5xx", None)],
)
def test_injected_errors_classify(status: int, error_class: str, retry: float | None) -> None:
    d = get_dialect("gemini")
    headers, body = d.error_response(status, message="injected", retry_after_s=retry)
    info = d.classify(status, headers, body)
    assert (info.error_class, info.retry_after_s) == (error_class, retry)
