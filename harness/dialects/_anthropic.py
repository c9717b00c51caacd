"""Anthropic Messages API: ``POST {base_url}/v1/messages`` with ``event:`` + ``data:`` SSE."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.config import Endpoint, PromptItem
from harness.dialects._common import (
    CommonResponses,
    count,
    event_object,
    join_url,
    json_instruction,
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

__all__ = ["ANTHROPIC_VERSION", "AnthropicMessagesWire", "AnthropicStreamParser"]

ANTHROPIC_VERSION = "2023-06-01"
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _usage(u: Mapping[str, Any]) -> Usage:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; :class:`Usage` counts all of them."""
    raw_in = count(u.get("input_tokens"))
    read = count(u.get("cache_read_input_tokens"))
    write = count(u.get("cache_creation_input_tokens"))
    total_in = None if raw_in is None else raw_in + (read or 0) + (write or 0)
    tiers = u.get("cache_creation")
    write_1h = count(tiers.get("ephemeral_1h_input_tokens")) if isinstance(tiers, Mapping) else None
    return Usage(
        input_tokens=total_in,
        output_tokens=count(u.get("output_tokens")),
        cached_input_tokens=read if raw_in is not None or read is not None else None,
        cache_write_tokens=write if raw_in is not None or write is not None else None,
        cache_write_1h_tokens=write_1h,
    )


def _messages(prompt: PromptItem) -> list[dict[str, Any]]:
    """Tool results become ``tool_result`` blocks of a user message; consecutive ones share one message,
    as Anthropic wants every result of an assistant turn's calls in the next user turn."""
    out: list[dict[str, Any]] = []
    results: list[dict[str, Any]] | None = None  # blocks of the user message the last tool result opened
    for m in prompt.messages:
        if m.role == "system":
            continue  # folded into the top-level ``system`` by build_request
        if m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content}
            if results is None:
                results = []
                out.append({"role": "user", "content": results})
            results.append(block)
            continue
        results = None
        if m.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
            blocks += [
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                for call in m.tool_calls
            ]
            out.append({"role": m.role, "content": blocks})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _mark_cache(body: dict[str, Any], endpoint: Endpoint) -> None:
    """Add the endpoint's ``cache_control`` breakpoints: on the system prompt (a string becomes one
    text block) and, for ``system+history``, on the last block of the last message. Two at most, within
    Anthropic's limit of four."""
    spec = endpoint.cache
    if spec is None or spec.breakpoints == "none":
        return
    mark: dict[str, Any] = {"type": "ephemeral"}
    if spec.ttl != "5m":
        mark["ttl"] = spec.ttl
    if "system" in body:
        body["system"] = [{"type": "text", "text": body["system"], "cache_control": mark}]
    if spec.breakpoints == "system+history":
        last = body["messages"][-1]
        content = last["content"]
        if isinstance(content, str):
            last["content"] = [{"type": "text", "text": content, "cache_control": mark}]
        elif content:
            last["content"] = [*content[:-1], {**content[-1], "cache_control": mark}]


def _anthropic_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accept Anthropic tools as written, and convert OpenAI ``{type: function, function: {...}}`` ones.

    Never raises; a missing ``name`` stays missing (not ``""``), so the vendor refuses the request with
    its own reason (``http_4xx``), as the OpenAI dialect does (see ``_openai._openai_tools``).
    """
    out = []
    for t in tools:
        fn = t.get("function")
        if isinstance(fn, dict):
            tool: dict[str, Any] = {}
            if "name" in fn:
                tool["name"] = fn["name"]
            tool["description"] = fn.get("description", "")
            tool["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
            out.append(tool)
        else:
            out.append(t)
    return out


def _error_text(data: Mapping[str, Any]) -> str:
    err = data.get("error")
    if isinstance(err, dict):
        return short(f"{err.get('type', 'error')}: {err.get('message', '')}")
    return short(f"error: {err}")


class AnthropicStreamParser:
    """Messages SSE: ``message_start`` → content blocks → ``message_delta`` → ``message_stop``.

    Events are dispatched on the ``event:`` name, or on the JSON ``type`` when the name is missing.
    ``message_delta.usage.output_tokens`` is cumulative, so it replaces (never adds to) earlier counts.
    A ``tool_use`` block's name (in its ``content_block_start``) is a tool :class:`Delta` followed by
    its ``input_json_delta`` fragments, so a tool call reads ``name{arguments}`` as in every other dialect.
    """

    __slots__ = ("_done", "_sse")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._sse = SSEDecoder(max_event_bytes)
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
        return self._events(self._sse.close())

    def _events(self, sse_events: list[SSEEvent]) -> list[Event]:
        out: list[Event] = []
        for ev in sse_events:
            if self._done:
                break
            data = event_object(
                ev.data,
                invalid=f"invalid JSON in {ev.event or 'event'}",
                not_object="event data is not an object",
            )
            if isinstance(data, Malformed):
                out.append(data)
                self._done = True
                break
            kind = ev.event or data.get("type")
            if kind == "content_block_delta":
                delta = data.get("delta")
                if not isinstance(delta, dict):
                    out.append(Malformed("content_block_delta without delta"))
                    self._done = True
                    break
                dtype = delta.get("type")
                if dtype == "text_delta" and delta.get("text"):
                    out.append(Delta(str(delta["text"]), "output"))
                elif dtype == "thinking_delta" and delta.get("thinking"):
                    out.append(Delta(str(delta["thinking"]), "reasoning"))
                elif dtype == "input_json_delta" and delta.get("partial_json"):
                    out.append(Delta(str(delta["partial_json"]), "tool"))
            elif kind == "content_block_start":
                block = data.get("content_block")
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    name = block.get("name")
                    if not isinstance(name, str | None):
                        out.append(Malformed(_non_text_name(name)))
                        self._done = True
                        break
                    if name:  # as the OpenAI stream and every non-streamed body do: name, then arguments
                        out.append(Delta(name, "tool"))
            elif kind == "message_start":
                msg = data.get("message")
                if isinstance(msg, dict):
                    out.append(Meta(_str(msg.get("model")), _str(msg.get("id"))))
                    if isinstance(msg.get("usage"), dict):
                        out.append(_usage(msg["usage"]))
            elif kind == "message_delta":
                delta = data.get("delta")
                if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                    out.append(Finish(delta["stop_reason"]))
                if isinstance(data.get("usage"), dict):
                    out.append(_usage(data["usage"]))
            elif kind == "message_stop":
                out.append(Done())
                self._done = True
                break
            elif kind == "error":
                out.append(StreamError("stream_error_event", _error_text(data)))
                self._done = True
                break
            # ping, content_block_stop, other content_block_start and unknown events carry nothing we measure
        return out


def _non_text_name(name: object) -> str:
    return short(f"tool_use name is not text: {json.dumps(name)[:60]}", 120)


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


class AnthropicMessagesWire(CommonResponses):
    """``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``."""

    name = "anthropic-messages"

    def build_request(
        self, endpoint: Endpoint, prompt: PromptItem, *, base_url: str, api_key: str | None, stream: bool
    ) -> HttpRequest:
        systems = [m.content for m in prompt.messages if m.role == "system"]
        if prompt.system is not None:
            systems.insert(0, prompt.system)
        instruction = json_instruction(prompt.response_format)  # no JSON mode: asked for in the system
        if instruction is not None:
            systems.append(instruction)
        body: dict[str, Any] = {
            "model": endpoint.model,
            "max_tokens": prompt.max_tokens,
            "messages": _messages(prompt),
        }
        if systems:
            body["system"] = "\n\n".join(systems)
        thinking = endpoint.reasoning
        if thinking is not None:
            # max_tokens counts the thinking too and must exceed the budget: checked per prompt when the
            # scenario is validated (harness.dialects.extra_body_problems)
            body["thinking"] = {"type": "enabled", "budget_tokens": thinking.budget()}
        elif prompt.temperature is not None:  # Anthropic refuses temperature with thinking: not sent then
            body["temperature"] = min(prompt.temperature, 1.0)  # Anthropic's range is 0..1
        if prompt.tools:
            body["tools"] = _anthropic_tools(prompt.tools)
        if stream:
            body["stream"] = True
        _mark_cache(body, endpoint)
        # Anthropic has no ``seed``: the prompt's seed is not sent.
        merge_extra_body(body, prompt.extra_body, prompt_id=prompt.id, dialect=self.name)
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            **endpoint.headers,
        }
        if api_key:
            headers["x-api-key"] = api_key
        url = join_url(base_url, "/v1/messages")
        return HttpRequest("POST", url, headers, json.dumps(body, separators=(",", ":")).encode())

    def stream_parser(self, max_event_bytes: int = MAX_EVENT_BYTES) -> AnthropicStreamParser:
        return AnthropicStreamParser(max_event_bytes)

    def parse_response(self, body: bytes) -> list[Event]:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return [Malformed(short(f"invalid JSON body: {body[:80]!r}", 120))]
        if not isinstance(data, dict):
            return [Malformed("response body is not a JSON object")]
        if data.get("type") == "error":
            return [StreamError("stream_error_event", _error_text(data))]
        content = data.get("content")
        if not isinstance(content, list):
            return [Malformed("response has no content list")]
        out: list[Event] = [Meta(_str(data.get("model")), _str(data.get("id")))]
        for block in content:
            if not isinstance(block, dict):
                continue
            btype = block.get("type")
            if btype == "text" and block.get("text"):
                out.append(Delta(str(block["text"]), "output"))
            elif btype == "thinking" and block.get("thinking"):
                out.append(Delta(str(block["thinking"]), "reasoning"))
            elif btype == "tool_use":
                name = block.get("name")
                if not isinstance(name, str | None):
                    return [
                        *out,
                        Malformed(_non_text_name(name)),
                    ]
                out.append(Delta((name or "") + json.dumps(block.get("input", {})), "tool"))
        if isinstance(data.get("stop_reason"), str):
            out.append(Finish(data["stop_reason"]))
        if isinstance(data.get("usage"), dict):
            out.append(_usage(data["usage"]))
        out.append(Done())
        return out

    def error_response(
        self, status: int, *, message: str, retry_after_s: float | None = None
    ) -> tuple[dict[str, str], bytes]:
        etype = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        if status == 503:
            etype = "overloaded_error"
        headers = {"content-type": "application/json"}
        if retry_after_s is not None:
            headers["retry-after"] = f"{retry_after_s:g}"
        body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": None}
        return headers, json.dumps(body).encode()

    def malformed_chunk(self) -> bytes:
        return (
            b"event: content_block_delta\n"
            b'data: {"type":"content_block_delta","index":0,"delta":{"type":"te\n\n'
        )
