"""Google Gemini Developer API: ``models/{model}:streamGenerateContent?alt=sse`` and ``:generateContent``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from harness.config import Endpoint, PromptItem
from harness.dialects._common import (
    CommonResponses,
    count,
    event_object,
    join_url,
    merge_extra_body,
    short,
)
from harness.dialects._events import (
    Delta,
    Done,
    Event,
    Finish,
    HttpRequest,
    Malformed,
    Meta,
    StreamError,
    Usage,
)
from harness.dialects._sse import MAX_EVENT_BYTES, SSEDecoder, SSEEvent, SSETooLarge

__all__ = ["GeminiStreamParser", "GeminiWire"]

_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _usage(u: Mapping[str, Any]) -> Usage:
    """``thoughtsTokenCount`` is billed as output but not part of ``candidatesTokenCount``: add it."""
    cand = count(u.get("candidatesTokenCount"))
    thoughts = count(u.get("thoughtsTokenCount"))
    out = None if cand is None and thoughts is None else (cand or 0) + (thoughts or 0)
    return Usage(
        input_tokens=count(u.get("promptTokenCount")),
        output_tokens=out,
        cached_input_tokens=count(u.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def _response_events(data: Mapping[str, Any], out: list[Event], meta_sent: bool) -> tuple[bool, bool]:
    """Events of one GenerateContentResponse; returns (meta sent, finish seen)."""
    finished = False
    if not meta_sent and isinstance(data.get("modelVersion"), str):
        out.append(
            Meta(
                data["modelVersion"],
                data.get("responseId") if isinstance(data.get("responseId"), str) else None,
            )
        )
        meta_sent = True
    cands = data.get("candidates")
    if isinstance(cands, list) and cands and isinstance(cands[0], dict):
        cand = cands[0]
        content = cand.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list):
            for part in parts:
                if not isinstance(part, dict):
                    continue
                text = part.get("text")
                if isinstance(text, str) and text:
                    out.append(Delta(text, "reasoning" if part.get("thought") is True else "output"))
                call = part.get("functionCall")
                if isinstance(call, dict):
                    out.append(Delta(str(call.get("name", "")) + json.dumps(call.get("args", {})), "tool"))
        if isinstance(cand.get("finishReason"), str):
            out.append(Finish(cand["finishReason"]))
            finished = True
    usage = data.get("usageMetadata")
    if isinstance(usage, dict):
        out.append(_usage(usage))
    return meta_sent, finished


class GeminiStreamParser:
    """``alt=sse`` stream: ``data: {GenerateContentResponse}`` events, no ``event:`` lines, no ``[DONE]``.

    The stream is complete when it ends after a chunk carrying ``finishReason``: :meth:`close` then
    emits :class:`Done`; a body that ends earlier was cut.
    """

    __slots__ = ("_done", "_finished", "_meta_sent", "_sse")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._sse = SSEDecoder(max_event_bytes)
        self._meta_sent = False
        self._finished = False
        self._done = False

    def feed(self, data: bytes) -> list[Event]:
        if self._done:  # nothing after the end counts (and a line past the bound is not read on)
            return []
        try:
            return self._events(self._sse.feed(data))
        except SSETooLarge as exc:  # a bound crossed: the stream ends here
            self._done = True
            return [StreamError("response_too_large", str(exc))]

    def close(self) -> list[Event]:
        out = self._events(self._sse.close())
        if self._finished and not self._done:
            self._done = True
            out.append(Done())
        return out

    def _events(self, sse_events: list[SSEEvent]) -> list[Event]:
        out: list[Event] = []
        for ev in sse_events:
            if self._done:
                break
            data = event_object(
                ev.data, invalid="invalid JSON in stream", not_object="stream chunk is not an object"
            )
            if isinstance(data, Malformed):
                out.append(data)
                self._done = True
                break
            err = data.get("error")
            if err:
                text = (
                    f"{err.get('status', 'error')}: {err.get('message', '')}"
                    if isinstance(err, dict)
                    else str(err)
                )
                out.append(StreamError("stream_error_event", short(text)))
                self._done = True
                break
            self._meta_sent, finished = _response_events(data, out, self._meta_sent)
            self._finished = self._finished or finished
        return out


def _contents(prompt: PromptItem, systems: list[str]) -> list[dict[str, Any]]:
    """``contents`` of the request; system messages are appended to ``systems`` instead.

    Gemini keys a ``functionResponse`` by the function's *name*, not by a call id: the name is looked up
    from the assistant tool call with that id (the id itself when no call has it). Consecutive tool
    results share one user turn, as Gemini wants as many responses there as the model turn had calls.
    """
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name
    responses: list[dict[str, Any]] | None = None  # parts of the turn the last tool result opened
    for m in prompt.messages:
        if m.role == "system":
            systems.append(m.content)
            continue
        if m.role == "tool":
            call_id = m.tool_call_id or ""
            resp = {"name": names.get(call_id, call_id), "response": {"content": m.content}}
            if responses is None:
                responses = []
                contents.append({"role": "user", "parts": responses})
            responses.append({"functionResponse": resp})
            continue
        responses = None
        if m.tool_calls:
            parts: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
            for call in m.tool_calls:
                names[call.id] = call.name
                parts.append({"functionCall": {"name": call.name, "args": call.arguments}})
            contents.append({"role": "model", "parts": parts})
        else:
            contents.append(
                {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
            )
    return contents


class GeminiWire(CommonResponses):
    """``POST {base_url}/models/{model}:streamGenerateContent?alt=sse`` with ``x-goog-api-key``.

    ``base_url`` is e.g. ``https://generativelanguage.googleapis.com/v1beta``. Token usage follows the
    OpenAI convention (``promptTokenCount`` includes cached tokens), so pricing uses that branch.
    """

    name = "gemini"

    def build_request(
        self, endpoint: Endpoint, prompt: PromptItem, *, base_url: str, api_key: str | None, stream: bool
    ) -> HttpRequest:
        systems = [prompt.system] if prompt.system is not None else []
        contents = _contents(prompt, systems)
        gen: dict[str, Any] = {"maxOutputTokens": prompt.max_tokens}
        if prompt.temperature is not None:
            gen["temperature"] = prompt.temperature
        if prompt.seed is not None:
            gen["seed"] = prompt.seed
        if endpoint.reasoning is not None:
            budget = endpoint.reasoning.budget()
            gen["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
        rf = prompt.response_format
        if rf is not None and rf.type != "text":
            gen["responseMimeType"] = "application/json"
            if rf.json_schema is not None:  # JSON Schema as written (responseSchema takes an OpenAPI subset)
                gen["responseJsonSchema"] = rf.json_schema.schema_
        body: dict[str, Any] = {"contents": contents, "generationConfig": gen}
        if systems:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(systems)}]}
        if prompt.tools:
            decls = []
            for t in prompt.tools:
                inner = t.get("function")
                fn: dict[str, Any] = inner if isinstance(inner, dict) else t
                decl = {"description": fn.get("description", "")}
                if "name" in fn:  # a missing name stays missing: the vendor refuses it (http_4xx)
                    decl = {"name": fn["name"], **decl}
                params = fn.get("parameters") or fn.get("input_schema")
                if params:
                    decl["parameters"] = params
                decls.append(decl)
            body["tools"] = [{"functionDeclarations": decls}]
        merge_extra_body(body, prompt.extra_body, prompt_id=prompt.id, dialect=self.name)
        model = quote(endpoint.model, safe="")
        method = "streamGenerateContent" if stream else "generateContent"
        url = join_url(base_url, f"/models/{model}:{method}", "alt=sse" if stream else "")
        headers = {"content-type": "application/json", **endpoint.headers}
        if api_key:
            headers["x-goog-api-key"] = api_key
        return HttpRequest("POST", url, headers, json.dumps(body, separators=(",", ":")).encode())

    def stream_parser(self, max_event_bytes: int = MAX_EVENT_BYTES) -> GeminiStreamParser:
        return GeminiStreamParser(max_event_bytes)

    def parse_response(self, body: bytes) -> list[Event]:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return [Malformed(short(f"invalid JSON body: {body[:80]!r}", 120))]
        if not isinstance(data, dict):
            return [Malformed("response body is not a JSON object")]
        if data.get("error"):
            err = data["error"]
            text = (
                f"{err.get('status', 'error')}: {err.get('message', '')}"
                if isinstance(err, dict)
                else str(err)
            )
            return [StreamError("stream_error_event", short(text))]
        if not isinstance(data.get("candidates"), list):
            return [Malformed("response has no candidates")]
        out: list[Event] = []
        _response_events(data, out, False)
        out.append(Done())
        return out

    def error_response(
        self, status: int, *, message: str, retry_after_s: float | None = None
    ) -> tuple[dict[str, str], bytes]:
        err: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
        if retry_after_s is not None:
            err["details"] = [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after_s:g}s"}
            ]
        return {"content-type": "application/json"}, json.dumps({"error": err}).encode()

    def malformed_chunk(self) -> bytes:
        return b'data: {"candidates": [{"content": {"parts": [{"text\n\n'
